/* Parsers of cloud-to-device messages. Every rule mirrors a constraint of contract/schemas. */
#include <string.h>

#include "sh_encoding.h"
#include "sh_json_util.h"
#include "smarthome/sh_messages.h"

#define ARRAY_LENGTH(array) (sizeof(array) / sizeof((array)[0]))

static sh_status_t fail(const char **error, const char *message)
{
    if (error != NULL) {
        *error = message;
    }
    return SH_ERR_INVALID_MESSAGE;
}

static sh_status_t parse_failure(sh_status_t status, const char **error)
{
    if (error != NULL) {
        *error = status == SH_ERR_TOO_LARGE ? "message is larger than the limit" : "message is not valid JSON";
    }
    return status;
}

static bool copy_id(const cJSON *item, char *buffer, size_t capacity, size_t min_length, size_t max_length)
{
    return sh_json_copy_string(item, buffer, capacity) && sh_is_valid_id(buffer, min_length, max_length);
}

sh_status_t sh_relay_command_parse(const char *payload, size_t length, sh_relay_command_t *command,
                                   const char **error)
{
    static const char *const keys[] = {"commandId", "relay", "state", "expiresAt", "issuedAt"};
    if (command == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    memset(command, 0, sizeof(*command));

    sh_status_t status;
    cJSON *root = sh_json_parse(payload, length, SH_RELAY_COMMAND_MAX_BYTES, &status);
    if (root == NULL) {
        return parse_failure(status, error);
    }
    if (!cJSON_IsObject(root)) {
        status = fail(error, "message is not a JSON object");
        goto done;
    }

    /* commandId and relay are read first so that a rejection can still be acknowledged. */
    command->has_command_id = copy_id(cJSON_GetObjectItemCaseSensitive(root, "commandId"), command->command_id,
                                      sizeof(command->command_id), SH_COMMAND_ID_MIN_LENGTH,
                                      SH_COMMAND_ID_MAX_LENGTH);
    command->has_relay = copy_id(cJSON_GetObjectItemCaseSensitive(root, "relay"), command->relay,
                                 sizeof(command->relay), 1, SH_ID_MAX_LENGTH);
    if (!command->has_command_id) {
        command->command_id[0] = '\0';
    }
    if (!command->has_relay) {
        command->relay[0] = '\0';
    }

    if (!sh_json_has_only_keys(root, keys, ARRAY_LENGTH(keys))) {
        status = fail(error, "message has an unknown or repeated property");
    } else if (!command->has_command_id) {
        status = fail(error, "commandId is missing or does not match ^[A-Za-z0-9_-]{8,64}$");
    } else if (!command->has_relay) {
        status = fail(error, "relay is missing or does not match ^[A-Za-z0-9_-]{1,32}$");
    } else {
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(root, "state");
        const cJSON *issued_at = cJSON_GetObjectItemCaseSensitive(root, "issuedAt");
        if (!cJSON_IsString(state) || (strcmp(state->valuestring, "ON") != 0 && strcmp(state->valuestring, "OFF") != 0)) {
            status = fail(error, "state must be \"ON\" or \"OFF\"");
        } else if (!sh_json_get_epoch_ms(cJSON_GetObjectItemCaseSensitive(root, "expiresAt"), &command->expires_at_ms)) {
            status = fail(error, "expiresAt is missing or not an epoch in milliseconds");
        } else if (issued_at != NULL && !sh_json_get_epoch_ms(issued_at, &command->issued_at_ms)) {
            status = fail(error, "issuedAt is not an epoch in milliseconds");
        } else {
            command->state = strcmp(state->valuestring, "ON") == 0 ? SH_RELAY_ON : SH_RELAY_OFF;
            command->has_issued_at = issued_at != NULL;
            status = SH_OK;
        }
    }

done:
    cJSON_Delete(root);
    return status;
}

sh_status_t sh_reset_command_parse(const char *payload, size_t length, sh_reset_command_t *command,
                                   const char **error)
{
    static const char *const keys[] = {"commandId", "reason", "issuedAt"};
    if (command == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    memset(command, 0, sizeof(*command));

    sh_status_t status;
    cJSON *root = sh_json_parse(payload, length, SH_RESET_MAX_BYTES, &status);
    if (root == NULL) {
        return parse_failure(status, error);
    }

    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(root, "reason");
    if (!cJSON_IsObject(root)) {
        status = fail(error, "message is not a JSON object");
    } else if (!sh_json_has_only_keys(root, keys, ARRAY_LENGTH(keys))) {
        status = fail(error, "message has an unknown or repeated property");
    } else if (!copy_id(cJSON_GetObjectItemCaseSensitive(root, "commandId"), command->command_id,
                        sizeof(command->command_id), SH_COMMAND_ID_MIN_LENGTH, SH_COMMAND_ID_MAX_LENGTH)) {
        status = fail(error, "commandId is missing or does not match ^[A-Za-z0-9_-]{8,64}$");
    } else if (!cJSON_IsString(reason) || strcmp(reason->valuestring, "UNLINKED") != 0) {
        status = fail(error, "reason must be \"UNLINKED\"");
    } else if (!sh_json_get_epoch_ms(cJSON_GetObjectItemCaseSensitive(root, "issuedAt"), &command->issued_at_ms)) {
        status = fail(error, "issuedAt is missing or not an epoch in milliseconds");
    } else {
        status = SH_OK;
    }

    cJSON_Delete(root);
    return status;
}

static sh_status_t parse_ota_document(const cJSON *root, sh_ota_job_document_t *document, const char **error)
{
    static const char *const keys[] = {"operation", "rolloutId", "version", "size", "sha256", "signature", "url"};
    memset(document, 0, sizeof(*document));

    if (!cJSON_IsObject(root)) {
        return fail(error, "job document is not a JSON object");
    }
    if (!sh_json_has_only_keys(root, keys, ARRAY_LENGTH(keys))) {
        return fail(error, "job document has an unknown or repeated property");
    }

    const cJSON *operation = cJSON_GetObjectItemCaseSensitive(root, "operation");
    if (!cJSON_IsString(operation) || strcmp(operation->valuestring, "ota") != 0) {
        return fail(error, "operation must be \"ota\"");
    }

    const cJSON *rollout_id = cJSON_GetObjectItemCaseSensitive(root, "rolloutId");
    if (rollout_id != NULL) {
        if (!copy_id(rollout_id, document->rollout_id, sizeof(document->rollout_id), 1, 64)) {
            return fail(error, "rolloutId does not match ^[A-Za-z0-9_-]{1,64}$");
        }
        document->has_rollout_id = true;
    }

    if (!sh_json_copy_string(cJSON_GetObjectItemCaseSensitive(root, "version"), document->version,
                             sizeof(document->version)) ||
        !sh_is_valid_version(document->version)) {
        return fail(error, "version is missing or not a semantic version");
    }

    uint64_t size = 0;
    if (!sh_json_get_uint(cJSON_GetObjectItemCaseSensitive(root, "size"), SH_OTA_MAX_IMAGE_SIZE, &size) ||
        size < 1) {
        return fail(error, "size must be an integer from 1 to 16777216");
    }
    document->size = (uint32_t)size;

    char hex[65];
    if (!sh_json_copy_string(cJSON_GetObjectItemCaseSensitive(root, "sha256"), hex, sizeof(hex)) ||
        !sh_hex_decode_lower(hex, document->sha256, sizeof(document->sha256))) {
        return fail(error, "sha256 must be 64 lower-case hexadecimal characters");
    }

    char signature[SH_OTA_SIGNATURE_BASE64_MAX_LENGTH + 1];
    if (!sh_json_copy_string(cJSON_GetObjectItemCaseSensitive(root, "signature"), signature, sizeof(signature)) ||
        strlen(signature) < 8 ||
        !sh_base64_decode(signature, document->signature_der, sizeof(document->signature_der),
                          &document->signature_length) ||
        !sh_der_is_ecdsa_signature(document->signature_der, document->signature_length)) {
        return fail(error, "signature must be a base64 DER ECDSA signature");
    }

    if (!sh_json_copy_string(cJSON_GetObjectItemCaseSensitive(root, "url"), document->url, sizeof(document->url)) ||
        document->url[0] == '\0') {
        return fail(error, "url is missing, empty or longer than 2048 characters");
    }
    return SH_OK;
}

sh_status_t sh_ota_job_document_parse(const char *payload, size_t length, sh_ota_job_document_t *document,
                                      const char **error)
{
    if (document == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    sh_status_t status;
    cJSON *root = sh_json_parse(payload, length, SH_JOBS_MESSAGE_MAX_BYTES, &status);
    if (root == NULL) {
        memset(document, 0, sizeof(*document));
        return parse_failure(status, error);
    }
    status = parse_ota_document(root, document, error);
    cJSON_Delete(root);
    return status;
}

sh_status_t sh_jobs_execution_parse(const char *payload, size_t length, sh_job_execution_t *execution,
                                    const char **error)
{
    if (execution == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    memset(execution, 0, sizeof(*execution));

    sh_status_t status;
    cJSON *root = sh_json_parse(payload, length, SH_JOBS_MESSAGE_MAX_BYTES, &status);
    if (root == NULL) {
        return parse_failure(status, error);
    }

    status = SH_OK;
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(root, "execution");
    if (!cJSON_IsObject(root)) {
        status = fail(error, "message is not a JSON object");
    } else if (job == NULL || cJSON_IsNull(job)) {
        execution->has_execution = false;
    } else if (!cJSON_IsObject(job)) {
        status = fail(error, "execution is not an object");
    } else if (!copy_id(cJSON_GetObjectItemCaseSensitive(job, "jobId"), execution->job_id,
                        sizeof(execution->job_id), 1, SH_JOB_ID_MAX_LENGTH)) {
        status = fail(error, "execution.jobId is missing or invalid");
    } else {
        execution->has_execution = true;
        const cJSON *job_status = cJSON_GetObjectItemCaseSensitive(job, "status");
        if (job_status != NULL && !sh_json_copy_string(job_status, execution->status, sizeof(execution->status))) {
            status = fail(error, "execution.status is not a short string");
        } else {
            const cJSON *document = cJSON_GetObjectItemCaseSensitive(job, "jobDocument");
            if (document == NULL) {
                execution->document_status = fail(&execution->document_error, "jobDocument is missing");
            } else {
                execution->document_status =
                    parse_ota_document(document, &execution->document, &execution->document_error);
            }
        }
    }

    cJSON_Delete(root);
    return status;
}

sh_status_t sh_jobs_error_parse(const char *payload, size_t length, sh_jobs_error_t *reply, const char **error)
{
    if (reply == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    memset(reply, 0, sizeof(*reply));

    sh_status_t status;
    cJSON *root = sh_json_parse(payload, length, SH_JOBS_MESSAGE_MAX_BYTES, &status);
    if (root == NULL) {
        return parse_failure(status, error);
    }
    status = SH_OK;
    if (!cJSON_IsObject(root)) {
        status = fail(error, "message is not a JSON object");
    } else if (!sh_json_copy_string(cJSON_GetObjectItemCaseSensitive(root, "code"), reply->code,
                                    sizeof(reply->code))) {
        status = fail(error, "code is missing or too long");
    } else {
        const cJSON *message = cJSON_GetObjectItemCaseSensitive(root, "message");
        if (message != NULL && !sh_json_copy_string(message, reply->message, sizeof(reply->message))) {
            /* A long message is cut rather than dropped, because it explains the rejection. */
            if (cJSON_IsString(message)) {
                strncpy(reply->message, message->valuestring, sizeof(reply->message) - 1);
            } else {
                status = fail(error, "message is not a string");
            }
        }
    }
    cJSON_Delete(root);
    return status;
}

static bool is_pem(const char *text, const char *label_begin)
{
    return strncmp(text, label_begin, strlen(label_begin)) == 0;
}

sh_status_t sh_certificate_reply_parse(const char *payload, size_t length, bool expect_private_key,
                                       sh_certificate_reply_t *reply, const char **error)
{
    if (reply == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    memset(reply, 0, sizeof(*reply));

    sh_status_t status;
    cJSON *root = sh_json_parse(payload, length, SH_PROVISIONING_REPLY_MAX_BYTES, &status);
    if (root == NULL) {
        return parse_failure(status, error);
    }

    status = SH_OK;
    if (!cJSON_IsObject(root)) {
        status = fail(error, "reply is not a JSON object");
    } else if (!copy_id(cJSON_GetObjectItemCaseSensitive(root, "certificateId"), reply->certificate_id,
                        sizeof(reply->certificate_id), 1, SH_CERTIFICATE_ID_MAX_LENGTH)) {
        status = fail(error, "certificateId is missing or invalid");
    } else if (!sh_json_copy_string(cJSON_GetObjectItemCaseSensitive(root, "certificatePem"),
                                    reply->certificate_pem, sizeof(reply->certificate_pem)) ||
               !is_pem(reply->certificate_pem, "-----BEGIN CERTIFICATE-----")) {
        status = fail(error, "certificatePem is missing, too long or not a PEM certificate");
    } else if (!sh_json_copy_string(cJSON_GetObjectItemCaseSensitive(root, "certificateOwnershipToken"),
                                    reply->ownership_token, sizeof(reply->ownership_token)) ||
               reply->ownership_token[0] == '\0') {
        status = fail(error, "certificateOwnershipToken is missing, empty or too long");
    } else if (expect_private_key) {
        if (!sh_json_copy_string(cJSON_GetObjectItemCaseSensitive(root, "privateKey"), reply->private_key_pem,
                                 sizeof(reply->private_key_pem)) ||
            !is_pem(reply->private_key_pem, "-----BEGIN ")) {
            status = fail(error, "privateKey is missing, too long or not a PEM key");
        } else {
            reply->has_private_key = true;
        }
    }

    cJSON_Delete(root);
    return status;
}

sh_status_t sh_register_reply_parse(const char *payload, size_t length, sh_register_reply_t *reply,
                                    const char **error)
{
    if (reply == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    memset(reply, 0, sizeof(*reply));

    sh_status_t status;
    cJSON *root = sh_json_parse(payload, length, SH_PROVISIONING_REPLY_MAX_BYTES, &status);
    if (root == NULL) {
        return parse_failure(status, error);
    }

    /* AWS IoT thing names match ^[a-zA-Z0-9:_-]+$; this device only accepts names it can use
     * in its own topics, so ':' is rejected as well. */
    const cJSON *configuration = cJSON_GetObjectItemCaseSensitive(root, "deviceConfiguration");
    status = SH_OK;
    if (!cJSON_IsObject(root)) {
        status = fail(error, "reply is not a JSON object");
    } else if (!copy_id(cJSON_GetObjectItemCaseSensitive(root, "thingName"), reply->thing_name,
                        sizeof(reply->thing_name), 1, SH_THING_NAME_MAX_LENGTH)) {
        status = fail(error, "thingName is missing or invalid");
    } else if (configuration != NULL && !cJSON_IsObject(configuration)) {
        status = fail(error, "deviceConfiguration is not an object");
    }

    cJSON_Delete(root);
    return status;
}

sh_status_t sh_provisioning_error_parse(const char *payload, size_t length, sh_provisioning_error_t *reply,
                                        const char **error)
{
    if (reply == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    memset(reply, 0, sizeof(*reply));

    sh_status_t status;
    cJSON *root = sh_json_parse(payload, length, SH_PROVISIONING_REPLY_MAX_BYTES, &status);
    if (root == NULL) {
        return parse_failure(status, error);
    }

    const cJSON *status_code = cJSON_GetObjectItemCaseSensitive(root, "statusCode");
    const cJSON *error_code = cJSON_GetObjectItemCaseSensitive(root, "errorCode");
    const cJSON *error_message = cJSON_GetObjectItemCaseSensitive(root, "errorMessage");
    status = SH_OK;
    if (!cJSON_IsObject(root)) {
        status = fail(error, "reply is not a JSON object");
    } else if (!cJSON_IsNumber(status_code) || status_code->valuedouble < 100 || status_code->valuedouble > 599) {
        status = fail(error, "statusCode is missing or not an HTTP status");
    } else if (!cJSON_IsString(error_code) || (error_message != NULL && !cJSON_IsString(error_message))) {
        status = fail(error, "errorCode or errorMessage is not a string");
    } else {
        reply->status_code = (int)status_code->valuedouble;
        /* Long texts are cut, not rejected, because they only go to the log. */
        strncpy(reply->error_code, error_code->valuestring, sizeof(reply->error_code) - 1);
        if (error_message != NULL) {
            strncpy(reply->error_message, error_message->valuestring, sizeof(reply->error_message) - 1);
        }
    }

    cJSON_Delete(root);
    return status;
}
