/* Parsers and builders against the contract examples and hostile inputs. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cJSON.h"
#include "fakes.h"
#include "sh_encoding.h"
#include "smarthome/sh_messages.h"

typedef sh_status_t (*parse_function_t)(const char *payload, size_t length, const char **error);

static sh_status_t parse_relay_command(const char *payload, size_t length, const char **error)
{
    sh_relay_command_t command;
    return sh_relay_command_parse(payload, length, &command, error);
}

static sh_status_t parse_reset(const char *payload, size_t length, const char **error)
{
    sh_reset_command_t command;
    return sh_reset_command_parse(payload, length, &command, error);
}

static sh_status_t parse_ota_job(const char *payload, size_t length, const char **error)
{
    static sh_ota_job_document_t document;
    return sh_ota_job_document_parse(payload, length, &document, error);
}

/* Runs parse on every file of contract/examples/<schema>/<kind> and checks the expected outcome. */
static void check_examples(const char *schema, const char *kind, parse_function_t parse, bool expect_valid)
{
    char directory_path[512];
    snprintf(directory_path, sizeof(directory_path), "%s/examples/%s/%s", SH_CONTRACT_DIR, schema, kind);
    DIR *directory = opendir(directory_path);
    assert_non_null(directory);

    unsigned count = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (strstr(entry->d_name, ".json") == NULL) {
            continue;
        }
        char relative[512];
        snprintf(relative, sizeof(relative), "examples/%s/%s/%s", schema, kind, entry->d_name);
        size_t length = 0;
        char *payload = read_contract_file(relative, &length);
        assert_non_null(payload);
        const char *error = NULL;
        sh_status_t status = parse(payload, length, &error);
        if (expect_valid && status != SH_OK) {
            fail_msg("%s was rejected: %s", relative, error != NULL ? error : sh_status_name(status));
        }
        if (!expect_valid && status == SH_OK) {
            fail_msg("%s was accepted but the contract marks it invalid", relative);
        }
        free(payload);
        count++;
    }
    closedir(directory);
    assert_true(count > 0);
}

static void test_RelayCommandParse_ContractValidExamples(void **state)
{
    (void)state;
    check_examples("relay-command", "valid", parse_relay_command, true);
}

static void test_RelayCommandParse_ContractInvalidExamples(void **state)
{
    (void)state;
    check_examples("relay-command", "invalid", parse_relay_command, false);
}

static void test_ResetCommandParse_ContractExamples(void **state)
{
    (void)state;
    check_examples("reset", "valid", parse_reset, true);
    check_examples("reset", "invalid", parse_reset, false);
}

static void test_OtaJobDocumentParse_ContractExamples(void **state)
{
    (void)state;
    check_examples("ota-job", "valid", parse_ota_job, true);
    check_examples("ota-job", "invalid", parse_ota_job, false);
}

static void test_RelayCommandParse_ReadsAllFields(void **state)
{
    (void)state;
    size_t length = 0;
    char *payload = read_contract_file("examples/relay-command/valid/switch-on.json", &length);
    assert_non_null(payload);
    sh_relay_command_t command;
    assert_int_equal(sh_relay_command_parse(payload, length, &command, NULL), SH_OK);
    assert_string_equal(command.command_id, "cmd-6f1c2b7e-0001");
    assert_string_equal(command.relay, "relay1");
    assert_int_equal(command.state, SH_RELAY_ON);
    assert_true(command.expires_at_ms == 1764892870000ULL);
    assert_true(command.has_issued_at);
    assert_true(command.issued_at_ms == 1764892860000ULL);
    free(payload);
}

static void test_RelayCommandParse_RejectsHostileInputs(void **state)
{
    (void)state;
    static const struct {
        const char *payload;
        sh_status_t expected;
    } cases[] = {
        {"", SH_ERR_INVALID_MESSAGE},
        {"null", SH_ERR_INVALID_MESSAGE},
        {"[]", SH_ERR_INVALID_MESSAGE},
        {"\"text\"", SH_ERR_INVALID_MESSAGE},
        {"{\"commandId\":\"cmd-00000001\",\"relay\":\"relay1\",\"state\":\"ON\",\"expiresAt\":1} trailing",
         SH_ERR_INVALID_MESSAGE},
        {"{\"commandId\":\"cmd-00000001\",\"relay\":\"relay1\",\"state\":\"ON\",\"expiresAt\":1,\"extra\":1}",
         SH_ERR_INVALID_MESSAGE},
        {"{\"commandId\":\"cmd-00000001\",\"commandId\":\"cmd-00000002\",\"relay\":\"relay1\",\"state\":\"ON\","
         "\"expiresAt\":1}",
         SH_ERR_INVALID_MESSAGE},
        {"{\"commandId\":\"cmd-00000001\",\"relay\":\"relay1\",\"state\":\"ON\",\"expiresAt\":1.5}",
         SH_ERR_INVALID_MESSAGE},
        {"{\"commandId\":\"cmd-00000001\",\"relay\":\"relay1\",\"state\":\"ON\",\"expiresAt\":-1}",
         SH_ERR_INVALID_MESSAGE},
        {"{\"commandId\":\"cmd-00000001\",\"relay\":\"relay1\",\"state\":\"ON\",\"expiresAt\":1e300}",
         SH_ERR_INVALID_MESSAGE},
        {"{\"commandId\":\"cmd-00000001\",\"relay\":\"relay1\",\"state\":\"on\",\"expiresAt\":1}",
         SH_ERR_INVALID_MESSAGE},
        {"{\"commandId\":\"short\",\"relay\":\"relay1\",\"state\":\"ON\",\"expiresAt\":1}", SH_ERR_INVALID_MESSAGE},
        {"{\"commandId\":\"cmd 00000001\",\"relay\":\"relay1\",\"state\":\"ON\",\"expiresAt\":1}",
         SH_ERR_INVALID_MESSAGE},
        {"{\"commandId\":\"cmd-00000001\",\"relay\":\"relay/1\",\"state\":\"ON\",\"expiresAt\":1}",
         SH_ERR_INVALID_MESSAGE},
        {"{\"commandId\":\"cmd-00000001\",\"relay\":\"relay1\",\"state\":\"ON\",\"expiresAt\":\"1\"}",
         SH_ERR_INVALID_MESSAGE},
        {"{\"commandId\":\"cmd-00000001\",\"relay\":\"relay1\",\"state\":\"ON\",\"expiresAt\":1,\"issuedAt\":null}",
         SH_ERR_INVALID_MESSAGE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sh_relay_command_t command;
        sh_status_t status = sh_relay_command_parse(cases[i].payload, strlen(cases[i].payload), &command, NULL);
        if (status != cases[i].expected) {
            fail_msg("case %zu %s: got %s", i, cases[i].payload, sh_status_name(status));
        }
    }
}

static void test_RelayCommandParse_OversizedPayload(void **state)
{
    (void)state;
    char payload[SH_RELAY_COMMAND_MAX_BYTES + 64];
    memset(payload, ' ', sizeof(payload));
    const char *body = "{\"commandId\":\"cmd-00000001\",\"relay\":\"relay1\",\"state\":\"ON\",\"expiresAt\":1}";
    memcpy(payload, body, strlen(body));
    sh_relay_command_t command;
    assert_int_equal(sh_relay_command_parse(payload, SH_RELAY_COMMAND_MAX_BYTES + 1, &command, NULL),
                     SH_ERR_TOO_LARGE);
    assert_int_equal(sh_relay_command_parse(payload, SH_RELAY_COMMAND_MAX_BYTES, &command, NULL), SH_OK);
}

static void test_RelayCommandParse_NotNulTerminated(void **state)
{
    (void)state;
    const char *body = "{\"commandId\":\"cmd-00000001\",\"relay\":\"relay1\",\"state\":\"ON\",\"expiresAt\":1}";
    size_t length = strlen(body);
    char *copy = malloc(length);
    assert_non_null(copy);
    memcpy(copy, body, length); /* no NUL: the parser must stay inside length */
    sh_relay_command_t command;
    assert_int_equal(sh_relay_command_parse(copy, length, &command, NULL), SH_OK);
    assert_int_equal(sh_relay_command_parse(copy, length - 1, &command, NULL), SH_ERR_INVALID_MESSAGE);
    free(copy);
}

static void test_RelayCommandParse_KeepsIdsWhenInvalid(void **state)
{
    (void)state;
    size_t length = 0;
    char *payload = read_contract_file("examples/relay-command/invalid/state-is-boolean.json", &length);
    assert_non_null(payload);
    sh_relay_command_t command;
    const char *error = NULL;
    assert_int_equal(sh_relay_command_parse(payload, length, &command, &error), SH_ERR_INVALID_MESSAGE);
    assert_true(command.has_command_id);
    assert_string_equal(command.command_id, "cmd-6f1c2b7e-0004");
    assert_true(command.has_relay);
    assert_non_null(strstr(error, "state"));
    free(payload);
}

static void test_OtaJobDocumentParse_DecodesDigestAndSignature(void **state)
{
    (void)state;
    size_t length = 0;
    char *payload = read_contract_file("examples/ota-job/valid/signed-image.json", &length);
    assert_non_null(payload);
    static sh_ota_job_document_t document;
    assert_int_equal(sh_ota_job_document_parse(payload, length, &document, NULL), SH_OK);
    assert_string_equal(document.version, "1.1.0");
    assert_int_equal(document.size, 1048576);
    assert_int_equal(document.sha256[0], 0x9f);
    assert_int_equal(document.sha256[31], 0x08);
    assert_int_equal(document.signature_length, 71);
    assert_int_equal(document.signature_der[0], 0x30);
    assert_true(document.has_rollout_id);
    free(payload);
}

static void test_OtaJobDocumentParse_RejectsBadFields(void **state)
{
    (void)state;
    static const char *const cases[] = {
        /* size 0 and above 16 MiB */
        "{\"operation\":\"ota\",\"version\":\"1.1.0\",\"size\":0,\"sha256\":\"%s\",\"signature\":\"%s\",\"url\":\"u\"}",
        "{\"operation\":\"ota\",\"version\":\"1.1.0\",\"size\":16777217,\"sha256\":\"%s\",\"signature\":\"%s\",\"url\":\"u\"}",
        /* wrong operation, version, empty url */
        "{\"operation\":\"update\",\"version\":\"1.1.0\",\"size\":1,\"sha256\":\"%s\",\"signature\":\"%s\",\"url\":\"u\"}",
        "{\"operation\":\"ota\",\"version\":\"1.1\",\"size\":1,\"sha256\":\"%s\",\"signature\":\"%s\",\"url\":\"u\"}",
        "{\"operation\":\"ota\",\"version\":\"1.1.0\",\"size\":1,\"sha256\":\"%s\",\"signature\":\"%s\",\"url\":\"\"}",
    };
    const char *digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const char *signature = "MEUCIQDf3Hx8ZK1vG0mN5cC0p2n4hB3O6XkqJ0Yt7b7S3aF9LgIgQ2c5mJd0h8T5k2nXyB9r7Zq4wP1sD6vE3uA8fH2gK0o=";
    static sh_ota_job_document_t document;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char payload[1024];
        snprintf(payload, sizeof(payload), cases[i], digest, signature);
        if (sh_ota_job_document_parse(payload, strlen(payload), &document, NULL) == SH_OK) {
            fail_msg("case %zu was accepted: %s", i, payload);
        }
    }
    /* Valid base64 whose bytes are not a DER ECDSA signature. */
    char payload[1024];
    snprintf(payload, sizeof(payload),
             "{\"operation\":\"ota\",\"version\":\"1.1.0\",\"size\":1,\"sha256\":\"%s\",\"signature\":\"QUJDREVGR0g=\","
             "\"url\":\"u\"}",
             digest);
    assert_int_equal(sh_ota_job_document_parse(payload, strlen(payload), &document, NULL), SH_ERR_INVALID_MESSAGE);
}

static void test_Base64Decode_StrictAlphabetAndPadding(void **state)
{
    (void)state;
    uint8_t output[16];
    size_t length = 0;
    assert_true(sh_base64_decode("QUJD", output, sizeof(output), &length));
    assert_int_equal(length, 3);
    assert_memory_equal(output, "ABC", 3);
    assert_true(sh_base64_decode("QUI=", output, sizeof(output), &length));
    assert_int_equal(length, 2);
    assert_true(sh_base64_decode("QUI", output, sizeof(output), &length)); /* unpadded, as the schema allows */
    assert_false(sh_base64_decode("QUJ=", output, sizeof(output), &length)); /* non-zero trailing bits */
    assert_false(sh_base64_decode("Q", output, sizeof(output), &length));
    assert_false(sh_base64_decode("QU=I", output, sizeof(output), &length));
    assert_false(sh_base64_decode("QU-I", output, sizeof(output), &length));
    assert_false(sh_base64_decode("QUJDREVGR0hJSktMTU5PUFFS", output, 4, &length)); /* output too small */
}

static void test_JobsExecutionParse_NotifyNextAndEmpty(void **state)
{
    (void)state;
    static sh_job_execution_t execution;
    const char *notify = "{\"timestamp\":1764892800,\"execution\":{\"jobId\":\"ota-1_1_0\",\"status\":\"QUEUED\","
                         "\"queuedAt\":1764892790,\"versionNumber\":1,\"executionNumber\":1,\"jobDocument\":"
                         "{\"operation\":\"ota\",\"version\":\"1.1.0\",\"size\":4,\"sha256\":"
                         "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\",\"signature\":"
                         "\"MEUCIQDf3Hx8ZK1vG0mN5cC0p2n4hB3O6XkqJ0Yt7b7S3aF9LgIgQ2c5mJd0h8T5k2nXyB9r7Zq4wP1sD6vE3uA8fH2gK0o=\","
                         "\"url\":\"http://127.0.0.1/fw.bin\"}}}";
    assert_int_equal(sh_jobs_execution_parse(notify, strlen(notify), &execution, NULL), SH_OK);
    assert_true(execution.has_execution);
    assert_string_equal(execution.job_id, "ota-1_1_0");
    assert_string_equal(execution.status, "QUEUED");
    assert_int_equal(execution.document_status, SH_OK);
    assert_int_equal(execution.document.size, 4);

    const char *empty = "{\"timestamp\":1764892800}";
    assert_int_equal(sh_jobs_execution_parse(empty, strlen(empty), &execution, NULL), SH_OK);
    assert_false(execution.has_execution);
}

static void test_JobsExecutionParse_InvalidDocumentKeepsJobId(void **state)
{
    (void)state;
    static sh_job_execution_t execution;
    const char *payload = "{\"execution\":{\"jobId\":\"job-7\",\"status\":\"IN_PROGRESS\",\"jobDocument\":"
                          "{\"operation\":\"ota\",\"version\":\"1.1.0\"}}}";
    assert_int_equal(sh_jobs_execution_parse(payload, strlen(payload), &execution, NULL), SH_OK);
    assert_true(execution.has_execution);
    assert_string_equal(execution.job_id, "job-7");
    assert_int_equal(execution.document_status, SH_ERR_INVALID_MESSAGE);
    assert_non_null(execution.document_error);

    const char *bad_id = "{\"execution\":{\"jobId\":\"job/7\"}}";
    assert_int_equal(sh_jobs_execution_parse(bad_id, strlen(bad_id), &execution, NULL), SH_ERR_INVALID_MESSAGE);
}

static void test_JobsErrorParse_CodeAndMessage(void **state)
{
    (void)state;
    sh_jobs_error_t reply;
    const char *payload = "{\"code\":\"VersionMismatch\",\"message\":\"expected version 2\",\"timestamp\":1}";
    assert_int_equal(sh_jobs_error_parse(payload, strlen(payload), &reply, NULL), SH_OK);
    assert_string_equal(reply.code, "VersionMismatch");
    assert_string_equal(reply.message, "expected version 2");
    const char *missing = "{\"message\":\"no code\"}";
    assert_int_equal(sh_jobs_error_parse(missing, strlen(missing), &reply, NULL), SH_ERR_INVALID_MESSAGE);
}

static void test_CertificateReplyParse_CsrAndKeys(void **state)
{
    (void)state;
    static sh_certificate_reply_t reply;
    const char *csr_reply = "{\"certificateId\":\"abc123\",\"certificatePem\":\"-----BEGIN CERTIFICATE-----\\nMIIB\\n"
                            "-----END CERTIFICATE-----\\n\",\"certificateOwnershipToken\":\"token-1\"}";
    assert_int_equal(sh_certificate_reply_parse(csr_reply, strlen(csr_reply), false, &reply, NULL), SH_OK);
    assert_string_equal(reply.certificate_id, "abc123");
    assert_string_equal(reply.ownership_token, "token-1");
    assert_false(reply.has_private_key);
    /* CreateKeysAndCertificate must carry the key. */
    assert_int_equal(sh_certificate_reply_parse(csr_reply, strlen(csr_reply), true, &reply, NULL),
                     SH_ERR_INVALID_MESSAGE);

    const char *keys_reply = "{\"certificateId\":\"abc123\",\"certificatePem\":\"-----BEGIN CERTIFICATE-----\\n\","
                             "\"privateKey\":\"-----BEGIN RSA PRIVATE KEY-----\\n\",\"certificateOwnershipToken\":\"t\"}";
    assert_int_equal(sh_certificate_reply_parse(keys_reply, strlen(keys_reply), true, &reply, NULL), SH_OK);
    assert_true(reply.has_private_key);

    const char *not_pem = "{\"certificateId\":\"abc\",\"certificatePem\":\"MIIB\",\"certificateOwnershipToken\":\"t\"}";
    assert_int_equal(sh_certificate_reply_parse(not_pem, strlen(not_pem), false, &reply, NULL), SH_ERR_INVALID_MESSAGE);
    const char *no_token = "{\"certificateId\":\"abc\",\"certificatePem\":\"-----BEGIN CERTIFICATE-----\"}";
    assert_int_equal(sh_certificate_reply_parse(no_token, strlen(no_token), false, &reply, NULL),
                     SH_ERR_INVALID_MESSAGE);
}

static void test_RegisterReplyParse_ThingName(void **state)
{
    (void)state;
    sh_register_reply_t reply;
    const char *accepted = "{\"deviceConfiguration\":{\"fallback\":\"none\"},\"thingName\":\"sh-SERIAL-1\"}";
    assert_int_equal(sh_register_reply_parse(accepted, strlen(accepted), &reply, NULL), SH_OK);
    assert_string_equal(reply.thing_name, "sh-SERIAL-1");
    const char *bad = "{\"deviceConfiguration\":{},\"thingName\":\"sh/../x\"}";
    assert_int_equal(sh_register_reply_parse(bad, strlen(bad), &reply, NULL), SH_ERR_INVALID_MESSAGE);
    const char *bad_configuration = "{\"deviceConfiguration\":[],\"thingName\":\"sh-1\"}";
    assert_int_equal(sh_register_reply_parse(bad_configuration, strlen(bad_configuration), &reply, NULL),
                     SH_ERR_INVALID_MESSAGE);
}

static void test_ProvisioningErrorParse_RejectedReply(void **state)
{
    (void)state;
    sh_provisioning_error_t reply;
    const char *rejected = "{\"statusCode\":403,\"errorCode\":\"AccessDeniedException\",\"errorMessage\":\"denied\"}";
    assert_int_equal(sh_provisioning_error_parse(rejected, strlen(rejected), &reply, NULL), SH_OK);
    assert_int_equal(reply.status_code, 403);
    assert_string_equal(reply.error_code, "AccessDeniedException");
    assert_string_equal(reply.error_message, "denied");
    const char *bad_status = "{\"statusCode\":\"403\",\"errorCode\":\"X\"}";
    assert_int_equal(sh_provisioning_error_parse(bad_status, strlen(bad_status), &reply, NULL), SH_ERR_INVALID_MESSAGE);
}

/* Parses the built document and a contract example and compares them as JSON values. */
static void assert_json_equals_example(const char *built, const char *example_path)
{
    size_t length = 0;
    char *example = read_contract_file(example_path, &length);
    assert_non_null(example);
    cJSON *expected = cJSON_Parse(example);
    cJSON *actual = cJSON_Parse(built);
    assert_non_null(expected);
    assert_non_null(actual);
    if (!cJSON_Compare(expected, actual, true)) {
        fail_msg("built %s\ndiffers from %s:\n%s", built, example_path, example);
    }
    cJSON_Delete(expected);
    cJSON_Delete(actual);
    free(example);
}

static const sh_relay_descriptor_t EXAMPLE_RELAYS[] = {
    {.id = "relay1", .name = "Heater", .max_current_a = 10},
    {.id = "relay2", .name = "Lamp"},
};
static const sh_sensor_descriptor_t EXAMPLE_SENSORS[] = {
    {.id = "temperature", .type = "temperature", .unit = "°C", .has_range = true, .min = -40, .max = 125},
    {.id = "energy", .type = "energy", .unit = "kWh", .cumulative = true},
    {.id = "current", .type = "current", .unit = "A", .has_range = true, .min = 0, .max = 16},
};
static const sh_setting_descriptor_t EXAMPLE_SETTINGS[] = {
    {.id = "brightness", .type = "number", .unit = "%", .has_range = true, .min = 0, .max = 100, .step = 5},
};

static sh_capabilities_t example_capabilities(void)
{
    return (sh_capabilities_t){
        .model = "esp32-relay-2",
        .firmware_version = "1.0.0",
        .timestamp_ms = 1764892800000ULL,
        .relays = EXAMPLE_RELAYS,
        .relay_count = 2,
        .sensors = EXAMPLE_SENSORS,
        .sensor_count = 3,
        .settings = EXAMPLE_SETTINGS,
        .setting_count = 1,
    };
}

static void test_CapabilitiesBuild_MatchesContractExamples(void **state)
{
    (void)state;
    char buffer[SH_PAYLOAD_MAX_LENGTH];
    size_t length = 0;
    sh_capabilities_t capabilities = example_capabilities();
    assert_int_equal(sh_capabilities_build(&capabilities, buffer, sizeof(buffer), &length), SH_OK);
    assert_int_equal(length, strlen(buffer));
    assert_json_equals_example(buffer, "examples/capabilities/valid/two-relays.json");

    capabilities.claim_token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLWEifQ.c2lnbmF0dXJl";
    assert_int_equal(sh_capabilities_build(&capabilities, buffer, sizeof(buffer), &length), SH_OK);
    assert_json_equals_example(buffer, "examples/capabilities/valid/with-claim-token.json");

    static const sh_sensor_descriptor_t co2[] = {{.id = "co2", .type = "air_quality_index", .unit = "ppm"}};
    sh_capabilities_t air = {.model = "esp32-air", .firmware_version = "2.1.0-rc.1", .timestamp_ms = 1764892800000ULL,
                             .sensors = co2, .sensor_count = 1};
    assert_int_equal(sh_capabilities_build(&air, buffer, sizeof(buffer), &length), SH_OK);
    assert_json_equals_example(buffer, "examples/capabilities/valid/unknown-sensor-type.json");
}

static void test_CapabilitiesBuild_RejectsSchemaViolations(void **state)
{
    (void)state;
    char buffer[SH_PAYLOAD_MAX_LENGTH];
    sh_relay_descriptor_t relays[SH_MAX_RELAYS + 1];
    for (size_t i = 0; i < SH_MAX_RELAYS + 1; i++) {
        relays[i] = (sh_relay_descriptor_t){.id = "r"};
    }
    sh_relay_descriptor_t slash = {.id = "relay/1"};
    sh_relay_descriptor_t current = {.id = "relay1", .max_current_a = 101};

    sh_capabilities_t cases[6];
    for (size_t i = 0; i < 6; i++) {
        cases[i] = example_capabilities();
    }
    cases[0].relays = relays;
    cases[0].relay_count = SH_MAX_RELAYS + 1;
    cases[1].relays = &slash;
    cases[1].relay_count = 1;
    cases[2].firmware_version = "latest";
    cases[3].model = NULL;
    cases[4].claim_token = "short";
    cases[5].relays = &current;
    cases[5].relay_count = 1;
    for (size_t i = 0; i < 6; i++) {
        if (sh_capabilities_build(&cases[i], buffer, sizeof(buffer), NULL) != SH_ERR_INVALID_ARG) {
            fail_msg("case %zu was built", i);
        }
    }
    sh_capabilities_t capabilities = example_capabilities();
    assert_int_equal(sh_capabilities_build(&capabilities, buffer, 64, NULL), SH_ERR_BUFFER_TOO_SMALL);
}

static void test_RelayStatusBuild_MatchesContractExamples(void **state)
{
    (void)state;
    char buffer[512];
    sh_relay_status_t acknowledgement = {.relay = "relay1", .state = SH_RELAY_ON, .timestamp_ms = 1764892861000ULL,
                                         .command_id = "cmd-6f1c2b7e-0001", .result = SH_RELAY_RESULT_APPLIED};
    assert_int_equal(sh_relay_status_build(&acknowledgement, buffer, sizeof(buffer), NULL), SH_OK);
    assert_json_equals_example(buffer, "examples/relay-status/valid/acknowledgement.json");

    sh_relay_status_t expired = {.relay = "relay1", .state = SH_RELAY_OFF, .timestamp_ms = 1764892881000ULL,
                                 .command_id = "cmd-6f1c2b7e-0006", .result = SH_RELAY_RESULT_EXPIRED,
                                 .reason = "expiresAt 1764892870000 is in the past"};
    assert_int_equal(sh_relay_status_build(&expired, buffer, sizeof(buffer), NULL), SH_OK);
    assert_json_equals_example(buffer, "examples/relay-status/valid/expired-command.json");

    sh_relay_status_t local = {.relay = "relay2", .state = SH_RELAY_OFF, .timestamp_ms = 1764892900000ULL,
                               .result = SH_RELAY_RESULT_APPLIED, .reason = "ignored without a commandId"};
    assert_int_equal(sh_relay_status_build(&local, buffer, sizeof(buffer), NULL), SH_OK);
    assert_json_equals_example(buffer, "examples/relay-status/valid/local-change.json");

    char long_reason[300];
    memset(long_reason, 'x', sizeof(long_reason) - 1);
    long_reason[sizeof(long_reason) - 1] = '\0';
    expired.reason = long_reason;
    assert_int_equal(sh_relay_status_build(&expired, buffer, sizeof(buffer), NULL), SH_OK);
    cJSON *root = cJSON_Parse(buffer);
    assert_int_equal(strlen(cJSON_GetObjectItem(root, "reason")->valuestring), SH_REASON_MAX_LENGTH);
    cJSON_Delete(root);

    sh_relay_status_t bad = {.relay = "relay1", .command_id = "short"};
    assert_int_equal(sh_relay_status_build(&bad, buffer, sizeof(buffer), NULL), SH_ERR_INVALID_ARG);
}

static void test_TelemetryBuild_MissingReadingIsNull(void **state)
{
    (void)state;
    char buffer[512];
    static const sh_sensor_descriptor_t sensors[] = {{.id = "temperature", .type = "temperature"},
                                                     {.id = "current", .type = "current"}};
    sh_reading_t readings[] = {{.present = true, .value = 21.5}, {.present = true, .value = 0.42}};
    assert_int_equal(sh_telemetry_build(1764892860000ULL, 42, sensors, readings, 2, buffer, sizeof(buffer), NULL), SH_OK);
    assert_json_equals_example(buffer, "examples/telemetry/valid/readings.json");

    readings[0].present = false;
    readings[0].value = 0.0;
    readings[1].value = 0.4;
    assert_int_equal(sh_telemetry_build(1764892860000ULL, 0, sensors, readings, 2, buffer, sizeof(buffer), NULL), SH_OK);
    cJSON *root = cJSON_Parse(buffer);
    cJSON *values = cJSON_GetObjectItem(root, "readings");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(values, "temperature")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(values, "current")));
    cJSON_Delete(root);

    /* A NaN reading is no value either, and must not become 0. */
    readings[0] = (sh_reading_t){.present = true, .value = NAN};
    assert_int_equal(sh_telemetry_build(1764892860000ULL, 0, sensors, readings, 2, buffer, sizeof(buffer), NULL), SH_OK);
    assert_non_null(strstr(buffer, "\"temperature\":null"));
}

static void test_TelemetryBuild_RejectsEmptyOrDuplicate(void **state)
{
    (void)state;
    char buffer[512];
    static const sh_sensor_descriptor_t twice[] = {{.id = "t", .type = "temperature"}, {.id = "t", .type = "temperature"}};
    sh_reading_t readings[] = {{.present = true, .value = 1}, {.present = true, .value = 2}};
    assert_int_equal(sh_telemetry_build(1, 0, twice, readings, 0, buffer, sizeof(buffer), NULL), SH_ERR_INVALID_ARG);
    assert_int_equal(sh_telemetry_build(1, 0, twice, readings, 2, buffer, sizeof(buffer), NULL), SH_ERR_INVALID_ARG);
}

static void test_EnergyStatusBuild_MatchesContractExamples(void **state)
{
    (void)state;
    char buffer[512];
    sh_reading_t power = {true, 230.5};
    sh_reading_t voltage = {true, 229.8};
    sh_reading_t current = {true, 1.0};
    sh_energy_status_t meter = {.timestamp_ms = 1764892860000ULL, .energy_kwh = {true, 1520.4}, .power_w = &power,
                                .voltage_v = &voltage, .current_a = &current, .relay = "relay1"};
    assert_int_equal(sh_energy_status_build(&meter, buffer, sizeof(buffer), NULL), SH_OK);
    assert_json_equals_example(buffer, "examples/energy-status/valid/meter.json");

    sh_energy_status_t missing = {.timestamp_ms = 1764892920000ULL, .energy_kwh = {false, 0}};
    assert_int_equal(sh_energy_status_build(&missing, buffer, sizeof(buffer), NULL), SH_OK);
    assert_json_equals_example(buffer, "examples/energy-status/valid/missing-meter-reading.json");

    sh_energy_status_t negative = {.timestamp_ms = 1, .energy_kwh = {true, -4}};
    assert_int_equal(sh_energy_status_build(&negative, buffer, sizeof(buffer), NULL), SH_ERR_INVALID_ARG);
}

static void test_ProvisioningRequestsBuild_Shapes(void **state)
{
    (void)state;
    char buffer[1024];
    assert_int_equal(sh_register_request_build("token-1", "SH-ESP32-000123", "esp32-relay-2", "1.0.0", buffer,
                                               sizeof(buffer), NULL),
                     SH_OK);
    assert_string_equal(buffer, "{\"certificateOwnershipToken\":\"token-1\",\"parameters\":{\"SerialNumber\":"
                                "\"SH-ESP32-000123\",\"Model\":\"esp32-relay-2\",\"FirmwareVersion\":\"1.0.0\"}}");
    assert_int_equal(sh_csr_request_build("-----BEGIN CERTIFICATE REQUEST-----\nX\n", buffer, sizeof(buffer), NULL),
                     SH_OK);
    assert_int_equal(sh_csr_request_build("not a csr", buffer, sizeof(buffer), NULL), SH_ERR_INVALID_ARG);
    assert_int_equal(sh_jobs_update_build("DONE", NULL, NULL, buffer, sizeof(buffer), NULL), SH_ERR_INVALID_ARG);
    assert_int_equal(sh_jobs_update_build("FAILED", NULL, "bad signature", buffer, sizeof(buffer), NULL), SH_OK);
    assert_string_equal(buffer, "{\"status\":\"FAILED\",\"statusDetails\":{\"reason\":\"bad signature\"}}");
}

static void test_Validators_ContractPatterns(void **state)
{
    (void)state;
    assert_true(sh_is_valid_version("1.0.0"));
    assert_true(sh_is_valid_version("2.1.0-rc.1"));
    assert_true(sh_is_valid_version("10.20.30+build.5"));
    assert_false(sh_is_valid_version("1.0"));
    assert_false(sh_is_valid_version("1.0.0-"));
    assert_false(sh_is_valid_version("1.0.0-rc_1"));
    assert_false(sh_is_valid_version("v1.0.0"));
    assert_true(sh_is_valid_id("relay1", 1, 32));
    assert_false(sh_is_valid_id("", 1, 32));
    assert_false(sh_is_valid_id("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1, 32));
    assert_true(sh_is_valid_type("air_quality_index"));
    assert_false(sh_is_valid_type("Temperature"));
    assert_true(sh_is_valid_model("esp32-relay-2.v1"));
    assert_false(sh_is_valid_model("esp32 relay"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_RelayCommandParse_ContractValidExamples),
        cmocka_unit_test(test_RelayCommandParse_ContractInvalidExamples),
        cmocka_unit_test(test_ResetCommandParse_ContractExamples),
        cmocka_unit_test(test_OtaJobDocumentParse_ContractExamples),
        cmocka_unit_test(test_RelayCommandParse_ReadsAllFields),
        cmocka_unit_test(test_RelayCommandParse_RejectsHostileInputs),
        cmocka_unit_test(test_RelayCommandParse_OversizedPayload),
        cmocka_unit_test(test_RelayCommandParse_NotNulTerminated),
        cmocka_unit_test(test_RelayCommandParse_KeepsIdsWhenInvalid),
        cmocka_unit_test(test_OtaJobDocumentParse_DecodesDigestAndSignature),
        cmocka_unit_test(test_OtaJobDocumentParse_RejectsBadFields),
        cmocka_unit_test(test_Base64Decode_StrictAlphabetAndPadding),
        cmocka_unit_test(test_JobsExecutionParse_NotifyNextAndEmpty),
        cmocka_unit_test(test_JobsExecutionParse_InvalidDocumentKeepsJobId),
        cmocka_unit_test(test_JobsErrorParse_CodeAndMessage),
        cmocka_unit_test(test_CertificateReplyParse_CsrAndKeys),
        cmocka_unit_test(test_RegisterReplyParse_ThingName),
        cmocka_unit_test(test_ProvisioningErrorParse_RejectedReply),
        cmocka_unit_test(test_CapabilitiesBuild_MatchesContractExamples),
        cmocka_unit_test(test_CapabilitiesBuild_RejectsSchemaViolations),
        cmocka_unit_test(test_RelayStatusBuild_MatchesContractExamples),
        cmocka_unit_test(test_TelemetryBuild_MissingReadingIsNull),
        cmocka_unit_test(test_TelemetryBuild_RejectsEmptyOrDuplicate),
        cmocka_unit_test(test_EnergyStatusBuild_MatchesContractExamples),
        cmocka_unit_test(test_ProvisioningRequestsBuild_Shapes),
        cmocka_unit_test(test_Validators_ContractPatterns),
    };
    SH_RUN_TESTS(tests);
}
