# Sources of the portable core, shared by the ESP-IDF component and the host build.
set(SH_CORE_SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/src/sh_backoff.c
    ${CMAKE_CURRENT_LIST_DIR}/src/sh_build.c
    ${CMAKE_CURRENT_LIST_DIR}/src/sh_device.c
    ${CMAKE_CURRENT_LIST_DIR}/src/sh_encoding.c
    ${CMAKE_CURRENT_LIST_DIR}/src/sh_json_util.c
    ${CMAKE_CURRENT_LIST_DIR}/src/sh_ota.c
    ${CMAKE_CURRENT_LIST_DIR}/src/sh_parse.c
    ${CMAKE_CURRENT_LIST_DIR}/src/sh_provisioning.c
    ${CMAKE_CURRENT_LIST_DIR}/src/sh_relay.c
    ${CMAKE_CURRENT_LIST_DIR}/src/sh_status.c
    ${CMAKE_CURRENT_LIST_DIR}/src/sh_storage_util.c
    ${CMAKE_CURRENT_LIST_DIR}/src/sh_validate.c
)
set(SH_CORE_PUBLIC_INCLUDE_DIR ${CMAKE_CURRENT_LIST_DIR}/include)
set(SH_CORE_PRIVATE_INCLUDE_DIR ${CMAKE_CURRENT_LIST_DIR}/src)
