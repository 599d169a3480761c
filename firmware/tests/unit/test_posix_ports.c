/* The POSIX port: file-backed storage and the emulated OTA bootloader. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fakes.h"
#include "sh_posix.h"

static char directory[64];

static int setup(void **state)
{
    (void)state;
    strcpy(directory, "/tmp/sh-posix-XXXXXX");
    assert_non_null(mkdtemp(directory));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char command[128];
    snprintf(command, sizeof(command), "rm -rf %s", directory);
    return system(command);
}

static void test_PosixStorage_WriteReadErase(void **state)
{
    (void)state;
    sh_posix_storage_t storage;
    sh_storage_t port;
    assert_int_equal(sh_posix_storage_init(&storage, directory), SH_OK);
    sh_posix_storage_bind(&storage, &port);

    char buffer[16];
    size_t length = 0;
    assert_int_equal(port.read(port.ctx, "prov_state", buffer, sizeof(buffer), &length), SH_ERR_NOT_FOUND);
    assert_int_equal(port.write(port.ctx, "prov_state", "abc", 3), SH_OK);
    assert_int_equal(port.read(port.ctx, "prov_state", buffer, sizeof(buffer), &length), SH_OK);
    assert_int_equal(length, 3);
    assert_memory_equal(buffer, "abc", 3);
    assert_int_equal(port.read(port.ctx, "prov_state", buffer, 2, &length), SH_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(port.write(port.ctx, "prov_state", "", 0), SH_OK);
    assert_int_equal(port.read(port.ctx, "prov_state", buffer, sizeof(buffer), &length), SH_OK);
    assert_int_equal(length, 0);
    assert_int_equal(port.erase(port.ctx, "prov_state"), SH_OK);
    assert_int_equal(port.erase(port.ctx, "prov_state"), SH_OK);
    assert_int_equal(port.read(port.ctx, "prov_state", buffer, sizeof(buffer), &length), SH_ERR_NOT_FOUND);
    /* Keys become file names, so path characters and over-long keys are refused. */
    assert_int_equal(port.write(port.ctx, "../escape", "x", 1), SH_ERR_INVALID_ARG);
    assert_int_equal(port.write(port.ctx, "a_key_longer_than_15", "x", 1), SH_ERR_INVALID_ARG);
}

static void test_PosixOtaBoot_RollsBackUnconfirmedImage(void **state)
{
    (void)state;
    sh_posix_ota_t ota;
    sh_system_t system_port = {0};
    sh_ota_port_t port;
    sh_image_state_t image_state;

    assert_int_equal(sh_posix_ota_boot(&ota, directory, "1.0.0"), SH_OK);
    assert_string_equal(sh_posix_ota_running_version(&ota), "1.0.0");
    sh_posix_ota_bind(&ota, &system_port, &port);
    assert_int_equal(port.get_image_state(port.ctx, &image_state), SH_OK);
    assert_int_equal(image_state, SH_IMAGE_VALID);

    assert_int_equal(port.begin(port.ctx, "1.1.0", 4), SH_OK);
    assert_int_equal(port.write(port.ctx, "ABCD", 4), SH_OK);
    assert_int_equal(port.finish_and_set_boot(port.ctx), SH_OK);

    /* First boot of the new image: pending verification. */
    assert_int_equal(sh_posix_ota_boot(&ota, directory, "1.0.0"), SH_OK);
    sh_posix_ota_bind(&ota, &system_port, &port);
    assert_string_equal(sh_posix_ota_running_version(&ota), "1.1.0");
    assert_int_equal(port.get_image_state(port.ctx, &image_state), SH_OK);
    assert_int_equal(image_state, SH_IMAGE_PENDING_VERIFY);

    /* A second boot without confirmation returns to the previous image. */
    assert_int_equal(sh_posix_ota_boot(&ota, directory, "1.0.0"), SH_OK);
    assert_string_equal(sh_posix_ota_running_version(&ota), "1.0.0");
}

static void test_PosixOtaBoot_ConfirmedImageStays(void **state)
{
    (void)state;
    sh_posix_ota_t ota;
    sh_system_t system_port = {0};
    sh_ota_port_t port;
    assert_int_equal(sh_posix_ota_boot(&ota, directory, "1.0.0"), SH_OK);
    sh_posix_ota_bind(&ota, &system_port, &port);
    assert_int_equal(port.begin(port.ctx, "1.2.0", 2), SH_OK);
    assert_int_equal(port.write(port.ctx, "AB", 2), SH_OK);
    assert_int_equal(port.finish_and_set_boot(port.ctx), SH_OK);
    assert_int_equal(sh_posix_ota_boot(&ota, directory, "1.0.0"), SH_OK);
    sh_posix_ota_bind(&ota, &system_port, &port);
    assert_int_equal(port.mark_valid(port.ctx), SH_OK);
    assert_int_equal(sh_posix_ota_boot(&ota, directory, "1.0.0"), SH_OK);
    assert_string_equal(sh_posix_ota_running_version(&ota), "1.2.0");

    /* A different flashed version resets the slots, like flashing over serial. */
    assert_int_equal(sh_posix_ota_boot(&ota, directory, "2.0.0"), SH_OK);
    assert_string_equal(sh_posix_ota_running_version(&ota), "2.0.0");
}

static void test_PosixClock_EpochIsMilliseconds(void **state)
{
    (void)state;
    sh_clock_t clock;
    sh_posix_clock_bind(&clock);
    uint64_t now = 0;
    assert_int_equal(clock.epoch_ms(clock.ctx, &now), SH_OK);
    assert_true(now > 1700000000000ULL);
    uint64_t first = clock.monotonic_ms(clock.ctx);
    assert_true(clock.monotonic_ms(clock.ctx) >= first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_PosixStorage_WriteReadErase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_PosixOtaBoot_RollsBackUnconfirmedImage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_PosixOtaBoot_ConfirmedImageStays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_PosixClock_EpochIsMilliseconds, setup, teardown),
    };
    SH_RUN_TESTS(tests);
}
