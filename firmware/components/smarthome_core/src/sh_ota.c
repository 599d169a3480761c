#include "smarthome/sh_ota.h"

#include <stdio.h>
#include <string.h>

#include "cJSON.h"
#include "sh_json_util.h"
#include "sh_storage_keys.h"
#include "smarthome/sh_log.h"

static const char *TAG = "ota";

static uint64_t now_monotonic(const sh_ota_t *ota)
{
    return ota->ports->clock.monotonic_ms(ota->ports->clock.ctx);
}

static void load_record(sh_ota_t *ota)
{
    char text[256];
    ota->has_record = false;
    if (sh_storage_read_string(&ota->ports->storage, SH_KEY_OTA_RECORD, text, sizeof(text)) != SH_OK) {
        return;
    }
    sh_status_t status;
    cJSON *root = sh_json_parse(text, strlen(text), sizeof(text), &status);
    if (root == NULL) {
        SH_LOGW(TAG, "stored update record is unreadable, discarding it");
        (void)ota->ports->storage.erase(ota->ports->storage.ctx, SH_KEY_OTA_RECORD);
        return;
    }
    if (sh_json_copy_string(cJSON_GetObjectItemCaseSensitive(root, "jobId"), ota->record_job_id,
                            sizeof(ota->record_job_id)) &&
        sh_json_copy_string(cJSON_GetObjectItemCaseSensitive(root, "version"), ota->record_version,
                            sizeof(ota->record_version))) {
        ota->has_record = true;
    }
    cJSON_Delete(root);
}

static sh_status_t store_record(sh_ota_t *ota, const char *job_id, const char *version)
{
    cJSON *root = cJSON_CreateObject();
    char text[256];
    sh_status_t status = SH_ERR_NO_MEMORY;
    if (root != NULL && cJSON_AddStringToObject(root, "jobId", job_id) != NULL &&
        cJSON_AddStringToObject(root, "version", version) != NULL) {
        status = sh_json_print(root, text, sizeof(text), NULL);
    }
    cJSON_Delete(root);
    if (status == SH_OK) {
        status = sh_storage_write_string(&ota->ports->storage, SH_KEY_OTA_RECORD, text);
    }
    return status;
}

sh_status_t sh_ota_init(sh_ota_t *ota, const sh_ports_t *ports, const char *running_version,
                        const char *public_key_pem)
{
    if (ota == NULL || ports == NULL || !sh_is_valid_version(running_version)) {
        return SH_ERR_INVALID_ARG;
    }
    memset(ota, 0, sizeof(*ota));
    ota->ports = ports;
    ota->running_version = running_version;
    ota->public_key_pem = public_key_pem;
    ota->boot_monotonic_ms = now_monotonic(ota);

    sh_status_t status = ports->ota.get_image_state(ports->ota.ctx, &ota->image_state);
    if (status != SH_OK) {
        SH_LOGW(TAG, "failed to read the image state, assuming a confirmed image: %s", sh_status_name(status));
        ota->image_state = SH_IMAGE_VALID;
    }
    load_record(ota);
    if (ota->image_state == SH_IMAGE_PENDING_VERIFY) {
        SH_LOGI(TAG, "running new image version=%s, self-test pending", running_version);
    }
    return SH_OK;
}

sh_status_t sh_ota_set_thing_name(sh_ota_t *ota, const char *thing_name)
{
    if (!sh_is_valid_id(thing_name, 1, SH_THING_NAME_MAX_LENGTH)) {
        return SH_ERR_INVALID_ARG;
    }
    strcpy(ota->thing_name, thing_name);
    snprintf(ota->topic_notify_next, SH_TOPIC_MAX_LENGTH, "$aws/things/%s/jobs/notify-next", thing_name);
    snprintf(ota->topic_start_next, SH_TOPIC_MAX_LENGTH, "$aws/things/%s/jobs/start-next", thing_name);
    snprintf(ota->topic_start_next_accepted, SH_TOPIC_MAX_LENGTH, "$aws/things/%s/jobs/start-next/accepted",
             thing_name);
    snprintf(ota->topic_start_next_rejected, SH_TOPIC_MAX_LENGTH, "$aws/things/%s/jobs/start-next/rejected",
             thing_name);
    snprintf(ota->topic_update_rejected, SH_TOPIC_MAX_LENGTH, "$aws/things/%s/jobs/+/update/rejected", thing_name);
    return SH_OK;
}

size_t sh_ota_get_topics(const sh_ota_t *ota, const char *topics[SH_OTA_TOPIC_COUNT])
{
    topics[0] = ota->topic_notify_next;
    topics[1] = ota->topic_start_next_accepted;
    topics[2] = ota->topic_start_next_rejected;
    topics[3] = ota->topic_update_rejected;
    return SH_OTA_TOPIC_COUNT;
}

sh_image_state_t sh_ota_image_state(const sh_ota_t *ota)
{
    return ota->image_state;
}

/* Publishes a job execution update; returns SH_OK when the transport accepted it. */
static sh_status_t report(sh_ota_t *ota, const char *job_id, const char *status, const char *step, const char *reason)
{
    char topic[SH_TOPIC_MAX_LENGTH];
    size_t length = 0;
    int written = snprintf(topic, sizeof(topic), "$aws/things/%s/jobs/%s/update", ota->thing_name, job_id);
    if (written <= 0 || (size_t)written >= sizeof(topic)) {
        return SH_ERR_BUFFER_TOO_SMALL;
    }
    sh_status_t result = sh_jobs_update_build(status, step, reason, ota->payload, sizeof(ota->payload), &length);
    if (result == SH_OK) {
        const sh_transport_t *transport = &ota->ports->transport;
        result = transport->publish(transport->ctx, topic, ota->payload, length, 1);
    }
    if (result != SH_OK) {
        SH_LOGE(TAG, "failed to report job=%s status=%s: %s", job_id, status, sh_status_name(result));
        return result;
    }
    SH_LOGI(TAG, "job=%s status=%s%s%s", job_id, status, reason != NULL ? " reason=" : "", reason != NULL ? reason : "");
    if (strcmp(status, "FAILED") == 0) {
        strncpy(ota->failed_job_id, job_id, SH_JOB_ID_MAX_LENGTH);
    }
    return SH_OK;
}

static void request_next_job(sh_ota_t *ota)
{
    const sh_transport_t *transport = &ota->ports->transport;
    static const char request[] = "{}";
    sh_status_t status = transport->publish(transport->ctx, ota->topic_start_next, request, sizeof(request) - 1, 1);
    if (status != SH_OK) {
        SH_LOGE(TAG, "failed to request the next pending job: %s", sh_status_name(status));
    }
}

static void finish_record(sh_ota_t *ota, const char *status, const char *reason)
{
    if (report(ota, ota->record_job_id, status, NULL, reason) == SH_OK) {
        (void)ota->ports->storage.erase(ota->ports->storage.ctx, SH_KEY_OTA_RECORD);
        ota->has_record = false;
    }
}

static void roll_back(sh_ota_t *ota, const char *reason)
{
    SH_LOGE(TAG, "self-test failed (%s), rolling back version=%s", reason, ota->running_version);
    sh_status_t status = ota->ports->ota.rollback_and_restart(ota->ports->ota.ctx);
    SH_LOGE(TAG, "rollback failed: %s", sh_status_name(status));
}

void sh_ota_on_online(sh_ota_t *ota)
{
    if (ota->image_state == SH_IMAGE_PENDING_VERIFY && !ota->self_test_passed) {
        sh_status_t status = ota->ports->system.self_test(ota->ports->system.ctx);
        if (status != SH_OK) {
            roll_back(ota, sh_status_name(status));
            return;
        }
        status = ota->ports->ota.mark_valid(ota->ports->ota.ctx);
        if (status != SH_OK) {
            SH_LOGE(TAG, "failed to confirm the new image: %s", sh_status_name(status));
            return;
        }
        ota->self_test_passed = true;
        ota->image_state = SH_IMAGE_VALID;
        SH_LOGI(TAG, "self-test passed, image confirmed version=%s", ota->running_version);
    }

    if (ota->has_record) {
        if (strcmp(ota->record_version, ota->running_version) == 0) {
            finish_record(ota, "SUCCEEDED", NULL);
        } else {
            char reason[SH_REASON_MAX_LENGTH + 1];
            snprintf(reason, sizeof(reason), "version %s failed its self-test; rolled back to %s", ota->record_version,
                     ota->running_version);
            finish_record(ota, "FAILED", reason);
        }
    }
    request_next_job(ota);
}

void sh_ota_tick(sh_ota_t *ota)
{
    if (ota->image_state == SH_IMAGE_PENDING_VERIFY && !ota->self_test_passed &&
        now_monotonic(ota) - ota->boot_monotonic_ms >= SH_OTA_SELF_TEST_TIMEOUT_MS) {
        roll_back(ota, "not connected before the self-test timeout");
    }
}

static sh_status_t download_sink(void *sink_ctx, const void *data, size_t length)
{
    sh_ota_t *ota = sink_ctx;
    if (length > ota->expected_size - ota->received) {
        return SH_ERR_TOO_LARGE;
    }
    sh_status_t status = ota->ports->crypto.sha256_update(ota->ports->crypto.ctx, data, length);
    if (status == SH_OK) {
        status = ota->ports->ota.write(ota->ports->ota.ctx, data, length);
    }
    if (status == SH_OK) {
        ota->received += length;
    }
    return status;
}

/* Downloads and verifies the image; returns NULL on success or the reason of the failure. */
static const char *download_and_verify(sh_ota_t *ota, const sh_ota_job_document_t *document)
{
    const sh_ports_t *ports = ota->ports;
    ota->received = 0;
    ota->expected_size = document->size;

    sh_status_t status = ports->ota.begin(ports->ota.ctx, document->version, document->size);
    if (status != SH_OK) {
        SH_LOGE(TAG, "failed to prepare the update slot: %s", sh_status_name(status));
        return "failed to prepare the update slot";
    }
    status = ports->crypto.sha256_begin(ports->crypto.ctx);
    if (status == SH_OK) {
        status = ports->http.download(ports->http.ctx, document->url, download_sink, ota);
    }
    uint8_t digest[32];
    if (status == SH_OK) {
        status = ports->crypto.sha256_finish(ports->crypto.ctx, digest);
    }

    const char *failure = NULL;
    if (status == SH_ERR_TOO_LARGE) {
        failure = "image is larger than the size in the job document";
    } else if (status != SH_OK) {
        SH_LOGE(TAG, "download failed: %s", sh_status_name(status));
        failure = "download failed";
    } else if (ota->received != document->size) {
        failure = "image is smaller than the size in the job document";
    } else if (memcmp(digest, document->sha256, sizeof(digest)) != 0) {
        failure = "SHA-256 digest of the image does not match the job document";
    } else {
        status = ports->crypto.verify_signature(ports->crypto.ctx, ota->public_key_pem, digest, document->signature_der,
                                                document->signature_length);
        if (status != SH_OK) {
            failure = "signature verification failed";
        }
    }
    if (failure != NULL) {
        ports->ota.abort(ports->ota.ctx);
    }
    return failure;
}

static void run_update(sh_ota_t *ota, const char *job_id, const sh_ota_job_document_t *document)
{
    SH_LOGI(TAG, "job=%s update to version=%s size=%lu", job_id, document->version, (unsigned long)document->size);
    if (report(ota, job_id, "IN_PROGRESS", "downloading", NULL) != SH_OK) {
        return;
    }

    const char *failure = download_and_verify(ota, document);
    if (failure != NULL) {
        SH_LOGE(TAG, "job=%s verification failed: %s", job_id, failure);
        (void)report(ota, job_id, "FAILED", NULL, failure);
        return;
    }
    SH_LOGI(TAG, "job=%s image verified sha256 and signature", job_id);

    /* The record lets the image that boots next report the result of this job. */
    sh_status_t status = store_record(ota, job_id, document->version);
    if (status == SH_OK) {
        status = ota->ports->ota.finish_and_set_boot(ota->ports->ota.ctx);
    }
    if (status != SH_OK) {
        SH_LOGE(TAG, "job=%s failed to select the new image: %s", job_id, sh_status_name(status));
        (void)ota->ports->storage.erase(ota->ports->storage.ctx, SH_KEY_OTA_RECORD);
        ota->ports->ota.abort(ota->ports->ota.ctx);
        (void)report(ota, job_id, "FAILED", NULL, "failed to select the new image");
        return;
    }
    (void)report(ota, job_id, "IN_PROGRESS", "rebooting", NULL);
    SH_LOGI(TAG, "job=%s restarting into version=%s", job_id, document->version);
    ota->ports->system.restart(ota->ports->system.ctx);
    SH_LOGE(TAG, "restart returned; the new image runs after the next reset");
}

static void handle_execution(sh_ota_t *ota, const char *payload, size_t length)
{
    const char *error = NULL;
    sh_job_execution_t *execution = &ota->execution;
    if (sh_jobs_execution_parse(payload, length, execution, &error) != SH_OK) {
        SH_LOGW(TAG, "ignoring an invalid Jobs message: %s", error);
        return;
    }
    if (!execution->has_execution) {
        SH_LOGI(TAG, "no pending job");
        return;
    }
    const char *job_id = execution->job_id;
    if (ota->has_record && strcmp(job_id, ota->record_job_id) == 0) {
        return; /* the result of this job is reported by sh_ota_on_online() */
    }
    if (strcmp(job_id, ota->failed_job_id) == 0) {
        SH_LOGW(TAG, "job=%s already failed on this device, reporting FAILED again", job_id);
        (void)report(ota, job_id, "FAILED", NULL, "update already failed on this device");
        return;
    }
    if (execution->document_status != SH_OK) {
        SH_LOGW(TAG, "job=%s rejected: %s", job_id, execution->document_error);
        (void)report(ota, job_id, "FAILED", NULL, execution->document_error);
        return;
    }
    if (ota->public_key_pem == NULL || ota->public_key_pem[0] == '\0') {
        (void)report(ota, job_id, "FAILED", NULL, "no OTA public key is configured");
        return;
    }
    if (strcmp(execution->document.version, ota->running_version) == 0) {
        (void)report(ota, job_id, "SUCCEEDED", NULL, "version is already running");
        return;
    }
    run_update(ota, job_id, &execution->document);
}

bool sh_ota_on_message(sh_ota_t *ota, const char *topic, const char *payload, size_t length)
{
    if (ota->thing_name[0] == '\0') {
        return false;
    }
    if (strcmp(topic, ota->topic_notify_next) == 0 || strcmp(topic, ota->topic_start_next_accepted) == 0) {
        handle_execution(ota, payload, length);
        return true;
    }

    char prefix[SH_TOPIC_MAX_LENGTH];
    snprintf(prefix, sizeof(prefix), "$aws/things/%s/jobs/", ota->thing_name);
    bool start_next_rejected = strcmp(topic, ota->topic_start_next_rejected) == 0;
    size_t prefix_length = strlen(prefix);
    size_t topic_length = strlen(topic);
    static const char update_rejected[] = "/update/rejected";
    bool is_update_rejected = strncmp(topic, prefix, prefix_length) == 0 &&
                              topic_length > prefix_length + sizeof(update_rejected) - 1 &&
                              strcmp(topic + topic_length - (sizeof(update_rejected) - 1), update_rejected) == 0;
    if (!start_next_rejected && !is_update_rejected) {
        return false;
    }
    sh_jobs_error_t reply;
    const char *error = NULL;
    if (sh_jobs_error_parse(payload, length, &reply, &error) == SH_OK) {
        SH_LOGW(TAG, "%s rejected code=%s message=%s", start_next_rejected ? "start-next" : "job update", reply.code,
                reply.message);
    } else {
        SH_LOGW(TAG, "%s rejected with an unreadable reply: %s", start_next_rejected ? "start-next" : "job update",
                error);
    }
    return true;
}
