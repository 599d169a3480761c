# Registers every cmocka case as its own ctest test, named like the C function (test_<Api>_<Scenario>).
# Each test executable runs only the case named by SH_TEST_FILTER (see SH_RUN_TESTS in fakes.h).
function(sh_register_cmocka_tests executable source)
    file(STRINGS ${source} lines REGEX "^static void (test_[A-Za-z0-9_]+)\\(void \\*\\*state\\)")
    foreach(line ${lines})
        string(REGEX REPLACE "^static void (test_[A-Za-z0-9_]+)\\(.*" "\\1" name "${line}")
        add_test(NAME ${name} COMMAND ${executable})
        set_tests_properties(${name} PROPERTIES ENVIRONMENT "SH_TEST_FILTER=${name}" TIMEOUT 60)
    endforeach()
endfunction()

foreach(module messages backoff relay provisioning ota device crypto posix_ports)
    sh_register_cmocka_tests(test_${module} ${FIRMWARE_DIR}/tests/unit/test_${module}.c)
endforeach()
