#include "fakes.h"

#include <stdio.h>
#include <string.h>

/* Storage */

void fake_storage_init(fake_storage_t *storage)
{
    memset(storage, 0, sizeof(*storage));
    storage->operations_before_power_loss = -1;
}

static int find_key(const fake_storage_t *storage, const char *key)
{
    for (int i = 0; i < FAKE_STORAGE_KEYS; i++) {
        if (storage->used[i] && strcmp(storage->keys[i], key) == 0) {
            return i;
        }
    }
    return -1;
}

bool fake_storage_has(const fake_storage_t *storage, const char *key)
{
    return find_key(storage, key) >= 0;
}

/* Counts one write or erase; returns false once power is lost. */
static bool consume_operation(fake_storage_t *storage)
{
    if (storage->power_lost) {
        return false;
    }
    if (storage->operations_before_power_loss == 0) {
        storage->power_lost = true;
        return false;
    }
    if (storage->operations_before_power_loss > 0) {
        storage->operations_before_power_loss--;
    }
    storage->operation_count++;
    return true;
}

static sh_status_t storage_read(void *ctx, const char *key, void *buffer, size_t capacity, size_t *length)
{
    fake_storage_t *storage = ctx;
    int index = find_key(storage, key);
    if (index < 0) {
        return SH_ERR_NOT_FOUND;
    }
    if (storage->lengths[index] > capacity) {
        return SH_ERR_BUFFER_TOO_SMALL;
    }
    memcpy(buffer, storage->values[index], storage->lengths[index]);
    *length = storage->lengths[index];
    return SH_OK;
}

static sh_status_t storage_write(void *ctx, const char *key, const void *data, size_t length)
{
    fake_storage_t *storage = ctx;
    if (strlen(key) > 15 || length > FAKE_STORAGE_VALUE_MAX) {
        return SH_ERR_INVALID_ARG;
    }
    if (!consume_operation(storage)) {
        return SH_ERR_STORAGE;
    }
    int index = find_key(storage, key);
    for (int i = 0; index < 0 && i < FAKE_STORAGE_KEYS; i++) {
        if (!storage->used[i]) {
            index = i;
        }
    }
    if (index < 0) {
        return SH_ERR_STORAGE;
    }
    storage->used[index] = true;
    strcpy(storage->keys[index], key);
    memcpy(storage->values[index], data, length);
    storage->lengths[index] = length;
    return SH_OK;
}

static sh_status_t storage_erase(void *ctx, const char *key)
{
    fake_storage_t *storage = ctx;
    if (!consume_operation(storage)) {
        return SH_ERR_STORAGE;
    }
    int index = find_key(storage, key);
    if (index >= 0) {
        storage->used[index] = false;
    }
    return SH_OK;
}

/* Clock */

static uint64_t clock_monotonic(void *ctx)
{
    return ((fake_clock_t *)ctx)->monotonic_ms;
}

static sh_status_t clock_epoch(void *ctx, uint64_t *now)
{
    fake_clock_t *clock = ctx;
    if (!clock->epoch_set) {
        return SH_ERR_CLOCK_NOT_SET;
    }
    *now = clock->epoch_ms;
    return SH_OK;
}

/* Transport */

static sh_status_t transport_connect(void *ctx, const sh_mqtt_credentials_t *credentials)
{
    fake_transport_t *transport = ctx;
    transport->connect_count++;
    if (transport->fail_connect) {
        return SH_ERR_TRANSPORT;
    }
    snprintf(transport->client_id, sizeof(transport->client_id), "%s", credentials->client_id);
    snprintf(transport->certificate_pem, sizeof(transport->certificate_pem), "%s", credentials->certificate_pem);
    transport->subscription_count = 0;
    return SH_OK;
}

static void transport_disconnect(void *ctx)
{
    fake_transport_t *transport = ctx;
    transport->disconnect_count++;
    transport->connected = false;
}

static sh_status_t transport_subscribe(void *ctx, const char *topic, int qos, int *message_id)
{
    (void)qos;
    fake_transport_t *transport = ctx;
    if (transport->fail_subscribe || transport->subscription_count >= 32) {
        return SH_ERR_TRANSPORT;
    }
    *message_id = ++transport->next_message_id;
    snprintf(transport->subscriptions[transport->subscription_count], 256, "%s", topic);
    transport->subscription_ids[transport->subscription_count++] = *message_id;
    return SH_OK;
}

static sh_status_t transport_publish(void *ctx, const char *topic, const void *payload, size_t length, int qos)
{
    fake_transport_t *transport = ctx;
    if (transport->fail_publish || length >= FAKE_PAYLOAD_MAX) {
        return SH_ERR_TRANSPORT;
    }
    if (transport->published_count == FAKE_MESSAGES_MAX) {
        memmove(&transport->published[0], &transport->published[1], sizeof(fake_message_t) * (FAKE_MESSAGES_MAX - 1));
        transport->published_count--;
    }
    fake_message_t *message = &transport->published[transport->published_count++];
    snprintf(message->topic, sizeof(message->topic), "%s", topic);
    memcpy(message->payload, payload, length);
    message->payload[length] = '\0';
    message->length = length;
    message->qos = qos;
    return SH_OK;
}

const fake_message_t *fake_transport_last(const fake_transport_t *transport, const char *topic)
{
    for (size_t i = transport->published_count; i > 0; i--) {
        if (strcmp(transport->published[i - 1].topic, topic) == 0) {
            return &transport->published[i - 1];
        }
    }
    return NULL;
}

size_t fake_transport_count(const fake_transport_t *transport, const char *topic)
{
    size_t count = 0;
    for (size_t i = 0; i < transport->published_count; i++) {
        count += strcmp(transport->published[i].topic, topic) == 0;
    }
    return count;
}

void fake_transport_clear(fake_transport_t *transport)
{
    transport->published_count = 0;
}

/* OTA slots */

static sh_status_t ota_begin(void *ctx, const char *version, size_t image_size)
{
    fake_ota_t *ota = ctx;
    if (image_size > sizeof(ota->image)) {
        return SH_ERR_OTA;
    }
    ota->begun = true;
    ota->aborted = false;
    ota->written = 0;
    snprintf(ota->version, sizeof(ota->version), "%s", version);
    return SH_OK;
}

static sh_status_t ota_write(void *ctx, const void *data, size_t length)
{
    fake_ota_t *ota = ctx;
    if (ota->written + length > sizeof(ota->image)) {
        return SH_ERR_OTA;
    }
    memcpy(ota->image + ota->written, data, length);
    ota->written += length;
    return SH_OK;
}

static void ota_abort(void *ctx)
{
    ((fake_ota_t *)ctx)->aborted = true;
}

static sh_status_t ota_finish(void *ctx)
{
    ((fake_ota_t *)ctx)->finished = true;
    return SH_OK;
}

static sh_status_t ota_get_state(void *ctx, sh_image_state_t *state)
{
    *state = ((fake_ota_t *)ctx)->state;
    return SH_OK;
}

static sh_status_t ota_mark_valid(void *ctx)
{
    fake_ota_t *ota = ctx;
    ota->marked_valid = true;
    ota->state = SH_IMAGE_VALID;
    return SH_OK;
}

/* Records the rollback; a real port restarts here and never returns. */
static sh_status_t ota_rollback(void *ctx)
{
    ((fake_ota_t *)ctx)->rolled_back = true;
    return SH_ERR_NOT_SUPPORTED;
}

/* HTTP */

static sh_status_t http_download(void *ctx, const char *url, sh_download_sink_t sink, void *sink_ctx)
{
    (void)url;
    fake_http_t *http = ctx;
    if (http->result != SH_OK) {
        return http->result;
    }
    size_t chunk = http->chunk == 0 ? 100 : http->chunk;
    for (size_t offset = 0; offset < http->length; offset += chunk) {
        size_t length = http->length - offset < chunk ? http->length - offset : chunk;
        sh_status_t status = sink(sink_ctx, http->body + offset, length);
        if (status != SH_OK) {
            return status;
        }
    }
    return SH_OK;
}

/* Relays, sensors, system */

static sh_status_t relays_set(void *ctx, size_t index, bool on)
{
    fake_relays_t *relays = ctx;
    if (relays->fail || index >= 16) {
        return SH_ERR_INVALID_STATE;
    }
    relays->states[index] = on;
    relays->set_count++;
    return SH_OK;
}

static sh_status_t sensors_read(void *ctx, size_t index, double *value)
{
    fake_sensors_t *sensors = ctx;
    if (index >= 32 || !sensors->available[index]) {
        return SH_ERR_UNAVAILABLE;
    }
    *value = sensors->values[index];
    return SH_OK;
}

static void system_restart(void *ctx)
{
    ((fake_system_t *)ctx)->restart_count++;
}

static sh_status_t system_self_test(void *ctx)
{
    return ((fake_system_t *)ctx)->self_test_result;
}

void fake_platform_restart(fake_platform_t *platform)
{
    sh_ports_t *ports = &platform->ports;
    ports->storage = (sh_storage_t){&platform->storage, storage_read, storage_write, storage_erase};
    ports->clock = (sh_clock_t){&platform->clock, clock_monotonic, clock_epoch};
    ports->transport = (sh_transport_t){&platform->transport, transport_connect, transport_disconnect,
                                        transport_subscribe, transport_publish};
    ports->ota = (sh_ota_port_t){&platform->ota, ota_begin, ota_write, ota_abort, ota_finish,
                                 ota_get_state, ota_mark_valid, ota_rollback};
    ports->http = (sh_http_t){&platform->http, http_download};
    ports->relays = (sh_relay_port_t){&platform->relays, relays_set};
    ports->sensors = (sh_sensor_port_t){&platform->sensors, sensors_read};
    ports->system = (sh_system_t){&platform->system, system_restart, system_self_test};
    sh_mbedtls_bind(&platform->crypto, &ports->crypto, &ports->random);
    memset(&platform->transport, 0, sizeof(platform->transport));
    platform->storage.power_lost = false;
    platform->storage.operations_before_power_loss = -1;
}

fake_platform_t *fake_platform_create(void)
{
    fake_platform_t *platform = calloc(1, sizeof(*platform));
    if (platform == NULL) {
        return NULL;
    }
    fake_storage_init(&platform->storage);
    platform->clock.monotonic_ms = 1000;
    platform->clock.epoch_ms = FAKE_EPOCH_START_MS;
    platform->clock.epoch_set = true;
    platform->system.self_test_result = SH_OK;
    if (sh_mbedtls_init(&platform->crypto) != SH_OK) {
        free(platform);
        return NULL;
    }
    fake_platform_restart(platform);
    return platform;
}

void fake_platform_destroy(fake_platform_t *platform)
{
    if (platform != NULL) {
        sh_mbedtls_free(&platform->crypto);
        free(platform);
    }
}

char *read_contract_file(const char *relative_path, size_t *length)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", SH_CONTRACT_DIR, relative_path);
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return NULL;
    }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (text != NULL && fread(text, 1, (size_t)size, file) == (size_t)size) {
        text[size] = '\0';
        *length = (size_t)size;
    } else {
        free(text);
        text = NULL;
    }
    fclose(file);
    return text;
}
