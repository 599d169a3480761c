/*
 * Fleet provisioning against a scripted cloud: the happy path, rejections, throttling, timeouts,
 * ownership token age and a power loss at every storage operation.
 */
#include <stdio.h>
#include <string.h>

#include "fakes.h"
#include "mbedtls/pk.h"
#include "mbedtls/x509_csr.h"
#include "sh_storage_keys.h"
#include "smarthome/sh_provisioning.h"

#define CSR_TOPIC "$aws/certificates/create-from-csr/json"
#define KEYS_TOPIC "$aws/certificates/create/json"
#define REGISTER_TOPIC "$aws/provisioning-templates/FleetTemplate/provision/json"

typedef struct {
    int certificate_rejections; /* rejections before the certificate request succeeds */
    int register_rejections;
    bool throttle;
    bool silent;                /* never answer */
    bool silent_register;       /* never answer RegisterThing */
    unsigned certificate_requests;
    unsigned register_requests;
    char issued_public_key[512];
    char last_token[64];
    char registered_token[64];
    size_t handled;
    size_t acknowledged;
} cloud_t;

static const sh_provisioning_config_t CONFIG = {
    .serial = "SH-ESP32-000123",
    .model = "esp32-relay-2",
    .firmware_version = "1.0.0",
    .thing_name_prefix = "sh-",
    .template_name = "FleetTemplate",
    .method = SH_PROVISIONING_METHOD_CSR,
};

/* Extracts the public key of a CSR request payload as PEM. */
static void public_key_of_csr(const char *payload, char *pem, size_t capacity)
{
    const char *start = strstr(payload, "-----BEGIN CERTIFICATE REQUEST-----");
    assert_non_null(start);
    char csr[1024];
    size_t length = 0;
    for (const char *cursor = start; *cursor != '\0' && *cursor != '"' && length < sizeof(csr) - 1; cursor++) {
        if (cursor[0] == '\\' && cursor[1] == 'n') {
            csr[length++] = '\n';
            cursor++;
        } else {
            csr[length++] = *cursor;
        }
    }
    csr[length] = '\0';
    mbedtls_x509_csr request;
    mbedtls_x509_csr_init(&request);
    assert_int_equal(mbedtls_x509_csr_parse(&request, (const unsigned char *)csr, length + 1), 0);
    assert_int_equal(mbedtls_pk_write_pubkey_pem(&request.pk, (unsigned char *)pem, capacity), 0);
    mbedtls_x509_csr_free(&request);
}

static void public_key_of_private_key(const char *private_key, char *pem, size_t capacity)
{
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    assert_int_equal(mbedtls_pk_parse_key(&key, (const unsigned char *)private_key, strlen(private_key) + 1, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_write_pubkey_pem(&key, (unsigned char *)pem, capacity), 0);
    mbedtls_pk_free(&key);
}

static void reply(sh_provisioning_t *provisioning, const char *topic, const char *payload)
{
    assert_true(sh_provisioning_on_message(provisioning, topic, payload, strlen(payload)));
}

static void answer(fake_platform_t *platform, sh_provisioning_t *provisioning, cloud_t *cloud, const fake_message_t *request)
{
    char payload[4096];
    char topic[300];
    if (cloud->silent) {
        return;
    }
    if (strcmp(request->topic, CSR_TOPIC) == 0 || strcmp(request->topic, KEYS_TOPIC) == 0) {
        cloud->certificate_requests++;
        if (cloud->certificate_rejections > 0 || cloud->throttle) {
            cloud->certificate_rejections--;
            snprintf(topic, sizeof(topic), "%s/rejected", request->topic);
            reply(provisioning, topic,
                  cloud->throttle ? "{\"statusCode\":429,\"errorCode\":\"ThrottlingException\",\"errorMessage\":\"Rate exceeded\"}"
                                  : "{\"statusCode\":400,\"errorCode\":\"InvalidPayload\",\"errorMessage\":\"bad CSR\"}");
            return;
        }
        snprintf(cloud->last_token, sizeof(cloud->last_token), "token-%u", cloud->certificate_requests);
        snprintf(topic, sizeof(topic), "%s/accepted", request->topic);
        if (strcmp(request->topic, CSR_TOPIC) == 0) {
            public_key_of_csr(request->payload, cloud->issued_public_key, sizeof(cloud->issued_public_key));
            snprintf(payload, sizeof(payload),
                     "{\"certificateId\":\"cert%u\",\"certificatePem\":\"-----BEGIN CERTIFICATE-----\\nfor-key-%zu\\n"
                     "-----END CERTIFICATE-----\\n\",\"certificateOwnershipToken\":\"%s\"}",
                     cloud->certificate_requests, strlen(cloud->issued_public_key), cloud->last_token);
        } else {
            snprintf(payload, sizeof(payload),
                     "{\"certificateId\":\"cert%u\",\"certificatePem\":\"-----BEGIN CERTIFICATE-----\\nX\\n\","
                     "\"privateKey\":\"-----BEGIN RSA PRIVATE KEY-----\\nkey-%u\\n\",\"certificateOwnershipToken\":\"%s\"}",
                     cloud->certificate_requests, cloud->certificate_requests, cloud->last_token);
        }
        reply(provisioning, topic, payload);
        return;
    }
    if (strcmp(request->topic, REGISTER_TOPIC) == 0) {
        cloud->register_requests++;
        if (cloud->silent_register) {
            return;
        }
        if (cloud->register_rejections > 0) {
            cloud->register_rejections--;
            reply(provisioning, REGISTER_TOPIC "/rejected",
                  "{\"statusCode\":400,\"errorCode\":\"InvalidParameters\",\"errorMessage\":\"hook denied serial\"}");
            return;
        }
        const char *token = strstr(request->payload, "\"certificateOwnershipToken\":\"");
        assert_non_null(token);
        sscanf(token + strlen("\"certificateOwnershipToken\":\""), "%63[^\"]", cloud->registered_token);
        assert_non_null(strstr(request->payload, "\"SerialNumber\":\"SH-ESP32-000123\""));
        reply(provisioning, REGISTER_TOPIC "/accepted",
              "{\"deviceConfiguration\":{},\"thingName\":\"sh-SH-ESP32-000123\"}");
        return;
    }
    (void)platform;
}

/* Runs the session for up to steps seconds of simulated time, or until done or power is lost. */
static void drive(fake_platform_t *platform, sh_provisioning_t *provisioning, cloud_t *cloud, unsigned steps)
{
    for (unsigned i = 0; i < steps; i++) {
        if (sh_provisioning_is_complete(provisioning) || platform->storage.power_lost) {
            return;
        }
        fake_transport_t *transport = &platform->transport;
        while (cloud->acknowledged < transport->subscription_count) {
            sh_provisioning_on_subscribed(provisioning, transport->subscription_ids[cloud->acknowledged++]);
        }
        while (cloud->handled < transport->published_count && !platform->storage.power_lost) {
            answer(platform, provisioning, cloud, &transport->published[cloud->handled++]);
        }
        platform->clock.monotonic_ms += 1000;
        platform->clock.epoch_ms += 1000;
        sh_provisioning_tick(provisioning);
    }
}

/* Simulates a restart: a fresh state machine over the same storage, connected again. */
static sh_provisioning_t *restart(fake_platform_t *platform, sh_provisioning_t *old, cloud_t *cloud)
{
    free(old);
    fake_platform_restart(platform);
    cloud->handled = 0;
    cloud->acknowledged = 0;
    sh_provisioning_t *provisioning = malloc(sizeof(*provisioning));
    assert_int_equal(sh_provisioning_init(provisioning, &platform->ports, &CONFIG), SH_OK);
    assert_int_equal(sh_provisioning_load(provisioning), SH_OK);
    sh_provisioning_on_connected(provisioning);
    return provisioning;
}

static void assert_identity_matches(fake_platform_t *platform, sh_provisioning_t *provisioning, cloud_t *cloud)
{
    assert_true(sh_provisioning_is_complete(provisioning));
    assert_string_equal(provisioning->thing_name, "sh-SH-ESP32-000123");
    char stored_key[4096];
    assert_int_equal(sh_storage_read_string(&platform->ports.storage, SH_KEY_PRIVATE_KEY, stored_key, sizeof(stored_key)),
                     SH_OK);
    char public_key[512];
    public_key_of_private_key(stored_key, public_key, sizeof(public_key));
    assert_string_equal(public_key, cloud->issued_public_key);
    assert_string_equal(cloud->registered_token, cloud->last_token);
}

static void test_ProvisioningRun_CsrHappyPath(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    cloud_t cloud = {0};
    sh_provisioning_t *provisioning = restart(platform, NULL, &cloud);
    assert_int_equal(platform->transport.subscription_count, 4);
    assert_int_equal(platform->transport.published_count, 0); /* nothing is requested before the SUBACKs */
    drive(platform, provisioning, &cloud, 5);
    assert_identity_matches(platform, provisioning, &cloud);
    assert_int_equal(cloud.certificate_requests, 1);
    assert_int_equal(cloud.register_requests, 1);
    assert_false(fake_storage_has(&platform->storage, SH_KEY_OWNERSHIP_TOKEN));

    /* After a restart the identity loads from storage with no request. */
    provisioning = restart(platform, provisioning, &cloud);
    assert_true(sh_provisioning_is_complete(provisioning));
    assert_int_equal(platform->transport.subscription_count, 0);
    assert_non_null(strstr(provisioning->certificate_pem, "for-key-"));
    free(provisioning);
    fake_platform_destroy(platform);
}

static void test_ProvisioningRun_KeysAndCertificateStoresKey(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    cloud_t cloud = {0};
    sh_provisioning_config_t config = CONFIG;
    config.method = SH_PROVISIONING_METHOD_KEYS_AND_CERTIFICATE;
    sh_provisioning_t *provisioning = malloc(sizeof(*provisioning));
    assert_int_equal(sh_provisioning_init(provisioning, &platform->ports, &config), SH_OK);
    assert_int_equal(sh_provisioning_load(provisioning), SH_OK);
    sh_provisioning_on_connected(provisioning);
    drive(platform, provisioning, &cloud, 5);
    assert_true(sh_provisioning_is_complete(provisioning));
    assert_non_null(fake_transport_last(&platform->transport, KEYS_TOPIC));
    assert_string_equal(provisioning->private_key_pem, "-----BEGIN RSA PRIVATE KEY-----\nkey-1\n");
    char stored[256];
    assert_int_equal(sh_storage_read_string(&platform->ports.storage, SH_KEY_PRIVATE_KEY, stored, sizeof(stored)), SH_OK);
    assert_string_equal(stored, provisioning->private_key_pem);
    free(provisioning);
    fake_platform_destroy(platform);
}

static void test_ProvisioningRun_PowerLossAtEveryStep(void **state)
{
    (void)state;
    /* Count the storage operations of a clean run. */
    fake_platform_t *reference = fake_platform_create();
    cloud_t reference_cloud = {0};
    sh_provisioning_t *provisioning = restart(reference, NULL, &reference_cloud);
    drive(reference, provisioning, &reference_cloud, 5);
    assert_true(sh_provisioning_is_complete(provisioning));
    unsigned operations = reference->storage.operation_count;
    free(provisioning);
    fake_platform_destroy(reference);
    assert_true(operations >= 8);

    for (unsigned lost_at = 0; lost_at <= operations; lost_at++) {
        fake_platform_t *platform = fake_platform_create();
        cloud_t cloud = {0};
        provisioning = restart(platform, NULL, &cloud);
        platform->storage.operations_before_power_loss = (int)lost_at;
        drive(platform, provisioning, &cloud, 5);

        provisioning = restart(platform, provisioning, &cloud);
        drive(platform, provisioning, &cloud, 400);
        if (!sh_provisioning_is_complete(provisioning)) {
            fail_msg("power loss after %u operations: provisioning did not complete, state %s", lost_at,
                     sh_provisioning_state_name(provisioning->state));
        }
        assert_identity_matches(platform, provisioning, &cloud);
        /* A restart never needs more than one extra certificate. */
        assert_true(cloud.certificate_requests <= 2);
        free(provisioning);
        fake_platform_destroy(platform);
    }
}

static void test_ProvisioningRun_FreshTokenReusedAfterRestart(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    cloud_t cloud = {0};
    sh_provisioning_t *provisioning = restart(platform, NULL, &cloud);
    /* Stop right after the certificate is stored: the register request gets no answer. */
    cloud.silent_register = true;
    drive(platform, provisioning, &cloud, 2);
    assert_int_equal(provisioning->state, SH_PROVISIONING_STATE_CERTIFICATE_STORED);

    platform->clock.epoch_ms += 30ULL * 60ULL * 1000ULL; /* 30 minutes later */
    provisioning = restart(platform, provisioning, &cloud);
    cloud.silent_register = false;
    drive(platform, provisioning, &cloud, 5);
    assert_true(sh_provisioning_is_complete(provisioning));
    assert_int_equal(cloud.certificate_requests, 1);
    free(provisioning);
    fake_platform_destroy(platform);
}

static void test_ProvisioningRun_TokenOlderThanHourNotReused(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    cloud_t cloud = {0};
    sh_provisioning_t *provisioning = restart(platform, NULL, &cloud);
    cloud.silent_register = true;
    drive(platform, provisioning, &cloud, 2);
    assert_int_equal(provisioning->state, SH_PROVISIONING_STATE_CERTIFICATE_STORED);

    platform->clock.epoch_ms += 61ULL * 60ULL * 1000ULL;
    provisioning = restart(platform, provisioning, &cloud);
    cloud.silent_register = false;
    drive(platform, provisioning, &cloud, 5);
    assert_true(sh_provisioning_is_complete(provisioning));
    assert_int_equal(cloud.certificate_requests, 2);
    assert_string_equal(cloud.registered_token, "token-2");
    assert_identity_matches(platform, provisioning, &cloud);
    free(provisioning);
    fake_platform_destroy(platform);
}

static void test_ProvisioningRun_TokenAgeUnknownWithoutClock(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    cloud_t cloud = {0};
    sh_provisioning_t *provisioning = restart(platform, NULL, &cloud);
    cloud.silent_register = true;
    drive(platform, provisioning, &cloud, 2);
    assert_int_equal(provisioning->state, SH_PROVISIONING_STATE_CERTIFICATE_STORED);

    platform->clock.epoch_set = false; /* no time sync after the restart */
    provisioning = restart(platform, provisioning, &cloud);
    cloud.silent_register = false;
    drive(platform, provisioning, &cloud, 5);
    assert_true(sh_provisioning_is_complete(provisioning));
    assert_int_equal(cloud.certificate_requests, 2);
    free(provisioning);
    fake_platform_destroy(platform);
}

static void test_ProvisioningRun_TokenExpiresDuringRetries(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    cloud_t cloud = {.register_rejections = 1000};
    sh_provisioning_t *provisioning = restart(platform, NULL, &cloud);
    drive(platform, provisioning, &cloud, 70 * 60); /* 70 minutes of rejected registrations */
    assert_false(sh_provisioning_is_complete(provisioning));
    assert_true(cloud.certificate_requests >= 2);
    cloud.register_rejections = 0;
    drive(platform, provisioning, &cloud, 400);
    assert_true(sh_provisioning_is_complete(provisioning));
    assert_string_equal(cloud.registered_token, cloud.last_token);
    free(provisioning);
    fake_platform_destroy(platform);
}

static void test_ProvisioningRun_ThrottlingBacksOffExponentially(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    cloud_t cloud = {.throttle = true};
    sh_provisioning_t *provisioning = restart(platform, NULL, &cloud);
    drive(platform, provisioning, &cloud, 600);
    /* Delays of at least 0.5, 1, 2, 4, 8 ... s (capped at 300 s) allow few requests in 10 minutes. */
    assert_true(cloud.certificate_requests >= 4);
    assert_true(cloud.certificate_requests <= 12);
    assert_true(provisioning->backoff.attempt == cloud.certificate_requests);
    uint64_t attempt = 0;
    assert_int_equal(sh_storage_read_u64(&platform->ports.storage, SH_KEY_PROVISIONING_ATTEMPT, &attempt), SH_OK);
    assert_int_equal(attempt, cloud.certificate_requests);
    free(provisioning);
    fake_platform_destroy(platform);
}

static void test_ProvisioningRun_BackoffSurvivesRestart(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    cloud_t cloud = {.certificate_rejections = 5};
    sh_provisioning_t *provisioning = restart(platform, NULL, &cloud);
    drive(platform, provisioning, &cloud, 20);
    unsigned before = cloud.certificate_requests;
    assert_true(before >= 3);

    provisioning = restart(platform, provisioning, &cloud);
    /* The restarted device waits instead of sending at once. */
    assert_int_equal(provisioning->phase, SH_PROVISIONING_PHASE_BACKOFF);
    assert_int_equal(platform->transport.published_count, 0);
    drive(platform, provisioning, &cloud, 600);
    assert_true(sh_provisioning_is_complete(provisioning));
    assert_false(fake_storage_has(&platform->storage, SH_KEY_PROVISIONING_ATTEMPT));
    free(provisioning);
    fake_platform_destroy(platform);
}

static void test_ProvisioningRun_TimeoutRetries(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    cloud_t cloud = {.silent = true};
    sh_provisioning_t *provisioning = restart(platform, NULL, &cloud);
    drive(platform, provisioning, &cloud, SH_REPLY_TIMEOUT_MS / 1000 + 5);
    /* One timeout, one backoff of at most 1 s, then the request goes out again. */
    assert_int_equal(provisioning->phase, SH_PROVISIONING_PHASE_AWAIT_CERTIFICATE);
    assert_int_equal(fake_transport_count(&platform->transport, CSR_TOPIC), 2);
    assert_int_equal(provisioning->backoff.attempt, 1);
    cloud.silent = false;
    drive(platform, provisioning, &cloud, SH_REPLY_TIMEOUT_MS / 1000 + 10);
    assert_true(sh_provisioning_is_complete(provisioning));
    free(provisioning);
    fake_platform_destroy(platform);
}

static void test_ProvisioningOnMessage_IgnoresUnexpectedReply(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    cloud_t cloud = {0};
    sh_provisioning_t *provisioning = restart(platform, NULL, &cloud);
    /* A reply before any request (a stale retained or duplicated message) changes nothing. */
    reply(provisioning, REGISTER_TOPIC "/accepted", "{\"deviceConfiguration\":{},\"thingName\":\"sh-evil\"}");
    assert_int_equal(provisioning->state, SH_PROVISIONING_STATE_NONE);
    assert_false(sh_provisioning_on_message(provisioning, "iot/other", "{}", 2));
    free(provisioning);
    fake_platform_destroy(platform);
}

static void test_ProvisioningInit_RejectsBadSettings(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    sh_provisioning_t *provisioning = malloc(sizeof(*provisioning));
    sh_provisioning_config_t config = CONFIG;
    config.serial = "bad serial";
    assert_int_equal(sh_provisioning_init(provisioning, &platform->ports, &config), SH_ERR_INVALID_ARG);
    config = CONFIG;
    config.thing_name_prefix = "sh/";
    assert_int_equal(sh_provisioning_init(provisioning, &platform->ports, &config), SH_ERR_INVALID_ARG);
    config = CONFIG;
    config.template_name = "a/b";
    assert_int_equal(sh_provisioning_init(provisioning, &platform->ports, &config), SH_ERR_INVALID_ARG);
    free(provisioning);
    fake_platform_destroy(platform);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ProvisioningRun_CsrHappyPath),
        cmocka_unit_test(test_ProvisioningRun_KeysAndCertificateStoresKey),
        cmocka_unit_test(test_ProvisioningRun_PowerLossAtEveryStep),
        cmocka_unit_test(test_ProvisioningRun_FreshTokenReusedAfterRestart),
        cmocka_unit_test(test_ProvisioningRun_TokenOlderThanHourNotReused),
        cmocka_unit_test(test_ProvisioningRun_TokenAgeUnknownWithoutClock),
        cmocka_unit_test(test_ProvisioningRun_TokenExpiresDuringRetries),
        cmocka_unit_test(test_ProvisioningRun_ThrottlingBacksOffExponentially),
        cmocka_unit_test(test_ProvisioningRun_BackoffSurvivesRestart),
        cmocka_unit_test(test_ProvisioningRun_TimeoutRetries),
        cmocka_unit_test(test_ProvisioningOnMessage_IgnoresUnexpectedReply),
        cmocka_unit_test(test_ProvisioningInit_RejectsBadSettings),
    };
    SH_RUN_TESTS(tests);
}
