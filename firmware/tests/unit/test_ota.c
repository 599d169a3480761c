/* OTA through AWS IoT Jobs: download, digest and signature checks, self-test and rollback. */
#include <stdio.h>
#include <string.h>

#include "fakes.h"
#include "sh_storage_keys.h"
#include "sign_util.h"
#include "smarthome/sh_ota.h"

#define THING "sh-SERIAL-1"
#define NOTIFY_TOPIC "$aws/things/" THING "/jobs/notify-next"
#define START_NEXT_TOPIC "$aws/things/" THING "/jobs/start-next"
#define UPDATE_TOPIC "$aws/things/" THING "/jobs/job-1/update"

typedef struct {
    fake_platform_t *platform;
    test_signer_t signer;
    sh_ota_t ota;
    unsigned char image[1000];
} fixture_t;

static int setup(void **state)
{
    fixture_t *fixture = calloc(1, sizeof(*fixture));
    fixture->platform = fake_platform_create();
    test_signer_init(&fixture->signer);
    for (size_t i = 0; i < sizeof(fixture->image); i++) {
        fixture->image[i] = (unsigned char)(i * 7);
    }
    fixture->platform->http.body = fixture->image;
    fixture->platform->http.length = sizeof(fixture->image);
    fixture->platform->http.chunk = 128;
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fixture = *state;
    test_signer_free(&fixture->signer);
    fake_platform_destroy(fixture->platform);
    free(fixture);
    return 0;
}

static void start(fixture_t *fixture, const char *running_version, const char *public_key)
{
    assert_int_equal(sh_ota_init(&fixture->ota, &fixture->platform->ports, running_version, public_key), SH_OK);
    assert_int_equal(sh_ota_set_thing_name(&fixture->ota, THING), SH_OK);
}

/* Sends a notify-next message with a job document for image[0..signed_length) declaring size. */
static void notify(fixture_t *fixture, size_t signed_length, size_t declared_size, const char *version)
{
    char digest[65];
    char signature[200];
    test_signer_sign(&fixture->signer, fixture->image, signed_length, digest, signature, sizeof(signature));
    char payload[2048];
    snprintf(payload, sizeof(payload),
             "{\"timestamp\":1,\"execution\":{\"jobId\":\"job-1\",\"status\":\"QUEUED\",\"jobDocument\":{\"operation\":"
             "\"ota\",\"version\":\"%s\",\"size\":%zu,\"sha256\":\"%s\",\"signature\":\"%s\",\"url\":"
             "\"https://127.0.0.1/fw.bin\"}}}",
             version, declared_size, digest, signature);
    assert_true(sh_ota_on_message(&fixture->ota, NOTIFY_TOPIC, payload, strlen(payload)));
}

static const char *last_update(fixture_t *fixture)
{
    const fake_message_t *message = fake_transport_last(&fixture->platform->transport, UPDATE_TOPIC);
    assert_non_null(message);
    return message->payload;
}

static void test_OtaUpdate_VerifiedImageSelectedAndRestarts(void **state)
{
    fixture_t *fixture = *state;
    start(fixture, "1.0.0", fixture->signer.public_key_pem);
    notify(fixture, sizeof(fixture->image), sizeof(fixture->image), "1.1.0");

    fake_ota_t *slots = &fixture->platform->ota;
    assert_true(slots->finished);
    assert_false(slots->aborted);
    assert_int_equal(slots->written, sizeof(fixture->image));
    assert_memory_equal(slots->image, fixture->image, sizeof(fixture->image));
    assert_int_equal(fixture->platform->system.restart_count, 1);
    assert_int_equal(fake_transport_count(&fixture->platform->transport, UPDATE_TOPIC), 2);
    assert_non_null(strstr(last_update(fixture), "\"step\":\"rebooting\""));
    assert_true(fake_storage_has(&fixture->platform->storage, SH_KEY_OTA_RECORD));
}

static void test_OtaUpdate_WrongKeySignatureFails(void **state)
{
    fixture_t *fixture = *state;
    test_signer_t other;
    test_signer_init(&other);
    start(fixture, "1.0.0", other.public_key_pem);
    notify(fixture, sizeof(fixture->image), sizeof(fixture->image), "1.1.0");
    assert_true(fixture->platform->ota.aborted);
    assert_false(fixture->platform->ota.finished);
    assert_int_equal(fixture->platform->system.restart_count, 0);
    assert_non_null(strstr(last_update(fixture), "\"status\":\"FAILED\""));
    assert_non_null(strstr(last_update(fixture), "signature verification failed"));
    assert_false(fake_storage_has(&fixture->platform->storage, SH_KEY_OTA_RECORD));
    test_signer_free(&other);
}

static void test_OtaUpdate_DigestMismatchFails(void **state)
{
    fixture_t *fixture = *state;
    start(fixture, "1.0.0", fixture->signer.public_key_pem);
    /* The job covers the first 999 bytes, but the server serves 1000 bytes with size 1000. */
    notify(fixture, sizeof(fixture->image) - 1, sizeof(fixture->image), "1.1.0");
    assert_non_null(strstr(last_update(fixture), "SHA-256 digest"));
    assert_true(fixture->platform->ota.aborted);
}

static void test_OtaUpdate_OversizedImageFails(void **state)
{
    fixture_t *fixture = *state;
    start(fixture, "1.0.0", fixture->signer.public_key_pem);
    notify(fixture, 500, 500, "1.1.0"); /* the server sends 1000 bytes */
    assert_non_null(strstr(last_update(fixture), "larger than the size"));
    assert_true(fixture->platform->ota.written <= 500);
    assert_int_equal(fixture->platform->system.restart_count, 0);
}

static void test_OtaUpdate_ShortImageFails(void **state)
{
    fixture_t *fixture = *state;
    start(fixture, "1.0.0", fixture->signer.public_key_pem);
    notify(fixture, sizeof(fixture->image), sizeof(fixture->image) + 1, "1.1.0");
    assert_non_null(strstr(last_update(fixture), "smaller than the size"));
}

static void test_OtaUpdate_DownloadFailureFails(void **state)
{
    fixture_t *fixture = *state;
    fixture->platform->http.result = SH_ERR_OTA;
    start(fixture, "1.0.0", fixture->signer.public_key_pem);
    notify(fixture, sizeof(fixture->image), sizeof(fixture->image), "1.1.0");
    assert_non_null(strstr(last_update(fixture), "download failed"));
}

static void test_OtaUpdate_InvalidDocumentReportsFailed(void **state)
{
    fixture_t *fixture = *state;
    start(fixture, "1.0.0", fixture->signer.public_key_pem);
    const char *payload = "{\"execution\":{\"jobId\":\"job-1\",\"jobDocument\":{\"operation\":\"ota\",\"version\":"
                          "\"1.1.0\",\"size\":1,\"sha256\":\"00\",\"signature\":\"TODO\",\"url\":\"u\"}}}";
    assert_true(sh_ota_on_message(&fixture->ota, NOTIFY_TOPIC, payload, strlen(payload)));
    assert_non_null(strstr(last_update(fixture), "\"status\":\"FAILED\""));
    assert_false(fixture->platform->ota.begun);
}

static void test_OtaUpdate_WithoutPublicKeyFails(void **state)
{
    fixture_t *fixture = *state;
    start(fixture, "1.0.0", NULL);
    notify(fixture, sizeof(fixture->image), sizeof(fixture->image), "1.1.0");
    assert_non_null(strstr(last_update(fixture), "no OTA public key"));
    assert_false(fixture->platform->ota.begun);
}

static void test_OtaUpdate_SameVersionSucceedsWithoutDownload(void **state)
{
    fixture_t *fixture = *state;
    start(fixture, "1.1.0", fixture->signer.public_key_pem);
    notify(fixture, sizeof(fixture->image), sizeof(fixture->image), "1.1.0");
    assert_non_null(strstr(last_update(fixture), "\"status\":\"SUCCEEDED\""));
    assert_false(fixture->platform->ota.begun);
}

static void test_OtaOnline_RequestsNextPendingJob(void **state)
{
    fixture_t *fixture = *state;
    start(fixture, "1.0.0", fixture->signer.public_key_pem);
    sh_ota_on_online(&fixture->ota);
    const fake_message_t *request = fake_transport_last(&fixture->platform->transport, START_NEXT_TOPIC);
    assert_non_null(request);
    assert_string_equal(request->payload, "{}");
    const char *none = "{\"timestamp\":1}";
    assert_true(sh_ota_on_message(&fixture->ota, START_NEXT_TOPIC "/accepted", none, strlen(none)));
    assert_false(fixture->platform->ota.begun);
}

static void test_OtaOnline_SelfTestPassConfirmsImage(void **state)
{
    fixture_t *fixture = *state;
    start(fixture, "1.0.0", fixture->signer.public_key_pem);
    notify(fixture, sizeof(fixture->image), sizeof(fixture->image), "1.1.0");

    /* The new image boots once in PENDING_VERIFY state. */
    fake_platform_restart(fixture->platform);
    fixture->platform->ota.state = SH_IMAGE_PENDING_VERIFY;
    start(fixture, "1.1.0", fixture->signer.public_key_pem);
    sh_ota_on_online(&fixture->ota);
    assert_true(fixture->platform->ota.marked_valid);
    assert_non_null(strstr(last_update(fixture), "\"status\":\"SUCCEEDED\""));
    assert_false(fake_storage_has(&fixture->platform->storage, SH_KEY_OTA_RECORD));
    assert_non_null(fake_transport_last(&fixture->platform->transport, START_NEXT_TOPIC));
}

static void test_OtaOnline_SelfTestFailRollsBackAndReportsFailed(void **state)
{
    fixture_t *fixture = *state;
    start(fixture, "1.0.0", fixture->signer.public_key_pem);
    notify(fixture, sizeof(fixture->image), sizeof(fixture->image), "1.1.0");

    fake_platform_restart(fixture->platform);
    fixture->platform->ota.state = SH_IMAGE_PENDING_VERIFY;
    fixture->platform->system.self_test_result = SH_ERR_INVALID_STATE;
    start(fixture, "1.1.0", fixture->signer.public_key_pem);
    sh_ota_on_online(&fixture->ota);
    assert_true(fixture->platform->ota.rolled_back);
    assert_false(fixture->platform->ota.marked_valid);
    assert_null(fake_transport_last(&fixture->platform->transport, UPDATE_TOPIC));

    /* The bootloader starts the previous image, which reports the failure. */
    fake_platform_restart(fixture->platform);
    fixture->platform->ota.state = SH_IMAGE_VALID;
    start(fixture, "1.0.0", fixture->signer.public_key_pem);
    sh_ota_on_online(&fixture->ota);
    assert_non_null(strstr(last_update(fixture), "\"status\":\"FAILED\""));
    assert_non_null(strstr(last_update(fixture), "rolled back to 1.0.0"));
    assert_false(fake_storage_has(&fixture->platform->storage, SH_KEY_OTA_RECORD));

    /* A redelivery of the failed job is not attempted again. */
    fixture->platform->ota.begun = false;
    notify(fixture, sizeof(fixture->image), sizeof(fixture->image), "1.1.0");
    assert_false(fixture->platform->ota.begun);
    assert_non_null(strstr(last_update(fixture), "already failed"));
}

static void test_OtaTick_SelfTestTimeoutRollsBack(void **state)
{
    fixture_t *fixture = *state;
    fixture->platform->ota.state = SH_IMAGE_PENDING_VERIFY;
    start(fixture, "1.1.0", fixture->signer.public_key_pem);
    fixture->platform->clock.monotonic_ms += SH_OTA_SELF_TEST_TIMEOUT_MS - 1;
    sh_ota_tick(&fixture->ota);
    assert_false(fixture->platform->ota.rolled_back);
    fixture->platform->clock.monotonic_ms += 1;
    sh_ota_tick(&fixture->ota);
    assert_true(fixture->platform->ota.rolled_back);
}

static void test_OtaOnMessage_LogsRejectedUpdate(void **state)
{
    fixture_t *fixture = *state;
    start(fixture, "1.0.0", fixture->signer.public_key_pem);
    const char *rejected = "{\"code\":\"InvalidStateTransition\",\"message\":\"job is terminal\"}";
    assert_true(sh_ota_on_message(&fixture->ota, "$aws/things/" THING "/jobs/job-1/update/rejected", rejected,
                                  strlen(rejected)));
    assert_false(sh_ota_on_message(&fixture->ota, "$aws/things/other/jobs/job-1/update/rejected", rejected,
                                   strlen(rejected)));
    assert_false(sh_ota_on_message(&fixture->ota, "iot/control/" THING "/relay", "{}", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_OtaUpdate_VerifiedImageSelectedAndRestarts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaUpdate_WrongKeySignatureFails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaUpdate_DigestMismatchFails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaUpdate_OversizedImageFails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaUpdate_ShortImageFails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaUpdate_DownloadFailureFails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaUpdate_InvalidDocumentReportsFailed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaUpdate_WithoutPublicKeyFails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaUpdate_SameVersionSucceedsWithoutDownload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaOnline_RequestsNextPendingJob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaOnline_SelfTestPassConfirmsImage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaOnline_SelfTestFailRollsBackAndReportsFailed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaTick_SelfTestTimeoutRollsBack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_OtaOnMessage_LogsRejectedUpdate, setup, teardown),
    };
    SH_RUN_TESTS(tests);
}
