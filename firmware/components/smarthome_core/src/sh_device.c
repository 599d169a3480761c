#include "smarthome/sh_device.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sh_storage_keys.h"
#include "smarthome/sh_log.h"

static const char *TAG = "device";
static const char *MQTT_TAG = "mqtt";

#define SH_CONNECT_TIMEOUT_MS 30000u
/* Clock warnings are logged for the first few periods only. */
#define SH_CLOCK_WARNING_LIMIT 3u

static uint64_t now_monotonic(const sh_device_t *device)
{
    return device->ports->clock.monotonic_ms(device->ports->clock.ctx);
}

/* Stores the wall clock in *now, or returns false when it is not synchronized. */
static bool get_epoch(const sh_device_t *device, uint64_t *now)
{
    return device->ports->clock.epoch_ms(device->ports->clock.ctx, now) == SH_OK && *now >= SH_MIN_VALID_EPOCH_MS;
}

static bool ports_are_complete(const sh_ports_t *ports)
{
    return ports->transport.connect && ports->transport.disconnect && ports->transport.subscribe &&
           ports->transport.publish && ports->storage.read && ports->storage.write && ports->storage.erase &&
           ports->clock.monotonic_ms && ports->clock.epoch_ms && ports->random.fill && ports->crypto.generate_key_pem &&
           ports->crypto.create_csr_pem && ports->crypto.sha256_begin && ports->crypto.sha256_update &&
           ports->crypto.sha256_finish && ports->crypto.verify_signature && ports->ota.begin && ports->ota.write &&
           ports->ota.abort && ports->ota.finish_and_set_boot && ports->ota.get_image_state && ports->ota.mark_valid &&
           ports->ota.rollback_and_restart && ports->http.download && ports->relays.set && ports->sensors.read &&
           ports->system.restart && ports->system.self_test;
}

sh_status_t sh_device_init(sh_device_t *device, const sh_device_config_t *config, const sh_ports_t *ports)
{
    if (device == NULL || config == NULL || ports == NULL || !ports_are_complete(ports) ||
        config->claim_certificate_pem == NULL || config->claim_private_key_pem == NULL ||
        config->sensor_count > SH_MAX_SENSORS || (config->sensor_count > 0 && config->sensors == NULL)) {
        return SH_ERR_INVALID_ARG;
    }
    memset(device, 0, sizeof(*device));
    device->config = *config;
    device->ports = ports;
    if (device->config.telemetry_period_ms < SH_TELEMETRY_MIN_PERIOD_MS) {
        device->config.telemetry_period_ms = SH_TELEMETRY_MIN_PERIOD_MS;
    }
    sh_backoff_init(&device->connection_backoff, SH_BACKOFF_BASE_MS, SH_BACKOFF_MAX_MS);

    sh_provisioning_config_t provisioning = {
        .serial = config->serial,
        .model = config->model,
        .firmware_version = config->firmware_version,
        .thing_name_prefix = config->thing_name_prefix,
        .template_name = config->template_name,
        .method = config->provisioning_method,
    };
    sh_status_t status = sh_provisioning_init(&device->provisioning, ports, &provisioning);
    if (status != SH_OK) {
        SH_LOGE(TAG, "invalid provisioning settings: serial, model, version, prefix or template");
        return status;
    }
    status = sh_relay_controller_init(&device->relays, config->relays, config->relay_count, &ports->relays);
    if (status != SH_OK) {
        return status;
    }
    return sh_ota_init(&device->ota, ports, config->firmware_version, config->ota_public_key_pem);
}

static void connect_with(sh_device_t *device, sh_device_phase_t phase)
{
    sh_mqtt_credentials_t credentials;
    if (phase == SH_DEVICE_PHASE_CONNECTING_CLAIM) {
        credentials.client_id = device->provisioning.expected_thing_name;
        credentials.certificate_pem = device->config.claim_certificate_pem;
        credentials.private_key_pem = device->config.claim_private_key_pem;
    } else {
        credentials.client_id = device->provisioning.thing_name;
        credentials.certificate_pem = device->provisioning.certificate_pem;
        credentials.private_key_pem = device->provisioning.private_key_pem;
    }
    device->phase = phase;
    device->deadline_ms = now_monotonic(device) + SH_CONNECT_TIMEOUT_MS;
    SH_LOGI(MQTT_TAG, "connecting client=%s identity=%s", credentials.client_id,
            phase == SH_DEVICE_PHASE_CONNECTING_CLAIM ? "claim" : "device");
    sh_status_t status = device->ports->transport.connect(device->ports->transport.ctx, &credentials);
    if (status != SH_OK) {
        SH_LOGW(MQTT_TAG, "connect failed: %s", sh_status_name(status));
        sh_device_on_disconnected(device);
    }
}

static void connect_next(sh_device_t *device)
{
    connect_with(device, sh_provisioning_is_complete(&device->provisioning) ? SH_DEVICE_PHASE_CONNECTING
                                                                             : SH_DEVICE_PHASE_CONNECTING_CLAIM);
}

static bool fits(int written)
{
    return written > 0 && written < SH_TOPIC_MAX_LENGTH;
}

static bool build_topics(sh_device_t *device)
{
    const char *thing = device->provisioning.thing_name;
    bool fit = fits(snprintf(device->topic_relay_command, SH_TOPIC_MAX_LENGTH, "iot/control/%s/relay", thing)) &&
               fits(snprintf(device->topic_reset, SH_TOPIC_MAX_LENGTH, "iot/control/%s/reset", thing)) &&
               fits(snprintf(device->topic_capabilities, SH_TOPIC_MAX_LENGTH, "iot/capabilities/%s", thing)) &&
               fits(snprintf(device->topic_telemetry, SH_TOPIC_MAX_LENGTH, "iot/telemetry/%s", thing)) &&
               fits(snprintf(device->topic_energy, SH_TOPIC_MAX_LENGTH, "iot/status/%s/energy", thing)) &&
               fits(snprintf(device->topic_relay_status, SH_TOPIC_MAX_LENGTH, "iot/status/%s/relay", thing));
    return fit && sh_ota_set_thing_name(&device->ota, thing) == SH_OK;
}

sh_status_t sh_device_start(sh_device_t *device)
{
    if (device == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    sh_status_t status = sh_provisioning_load(&device->provisioning);
    if (status != SH_OK) {
        return status;
    }
    status = sh_storage_read_string(&device->ports->storage, SH_KEY_CLAIM_TOKEN, device->claim_token,
                                    sizeof(device->claim_token));
    device->has_claim_token = status == SH_OK && sh_is_valid_claim_token(device->claim_token);
    if (status == SH_OK && !device->has_claim_token) {
        SH_LOGW(TAG, "stored claim token is invalid, ignoring it");
    }
    if (sh_provisioning_is_complete(&device->provisioning) && !build_topics(device)) {
        return SH_ERR_INVALID_STATE;
    }
    SH_LOGI(TAG, "starting serial=%s model=%s version=%s", device->config.serial, device->config.model,
            device->config.firmware_version);
    connect_next(device);
    return SH_OK;
}

void sh_device_stop(sh_device_t *device)
{
    if (device != NULL && device->phase != SH_DEVICE_PHASE_IDLE) {
        device->ports->transport.disconnect(device->ports->transport.ctx);
        device->phase = SH_DEVICE_PHASE_IDLE;
        SH_LOGI(TAG, "stopped");
    }
}

static void subscribe_operational(sh_device_t *device)
{
    const char *topics[SH_DEVICE_SUBSCRIPTION_COUNT];
    topics[0] = device->topic_relay_command;
    topics[1] = device->topic_reset;
    size_t count = 2 + sh_ota_get_topics(&device->ota, &topics[2]);

    device->phase = SH_DEVICE_PHASE_SUBSCRIBING;
    device->pending_count = 0;
    device->deadline_ms = now_monotonic(device) + SH_SUBSCRIBE_TIMEOUT_MS;
    for (size_t i = 0; i < count; i++) {
        int message_id = -1;
        sh_status_t status = device->ports->transport.subscribe(device->ports->transport.ctx, topics[i], 1, &message_id);
        if (status != SH_OK) {
            SH_LOGE(MQTT_TAG, "failed to subscribe to %s: %s", topics[i], sh_status_name(status));
            device->ports->transport.disconnect(device->ports->transport.ctx);
            sh_device_on_disconnected(device);
            return;
        }
        device->pending_subscriptions[device->pending_count++] = message_id;
    }
}

void sh_device_on_connected(sh_device_t *device)
{
    if (device->phase == SH_DEVICE_PHASE_CONNECTING_CLAIM) {
        device->phase = SH_DEVICE_PHASE_PROVISIONING;
        sh_backoff_reset(&device->connection_backoff);
        sh_provisioning_on_connected(&device->provisioning);
    } else if (device->phase == SH_DEVICE_PHASE_CONNECTING) {
        SH_LOGI(MQTT_TAG, "connected thing=%s", device->provisioning.thing_name);
        sh_backoff_reset(&device->connection_backoff);
        subscribe_operational(device);
    }
}

void sh_device_on_disconnected(sh_device_t *device)
{
    if (device->phase == SH_DEVICE_PHASE_IDLE || device->phase == SH_DEVICE_PHASE_WAITING_TO_RECONNECT) {
        return;
    }
    if (device->phase == SH_DEVICE_PHASE_PROVISIONING || device->phase == SH_DEVICE_PHASE_CONNECTING_CLAIM) {
        sh_provisioning_on_disconnected(&device->provisioning);
    }
    uint32_t random_value = 0;
    if (device->ports->random.fill(device->ports->random.ctx, &random_value, sizeof(random_value)) != SH_OK) {
        random_value = (uint32_t)now_monotonic(device);
    }
    uint32_t delay = sh_backoff_next_delay_ms(&device->connection_backoff, random_value);
    device->phase = SH_DEVICE_PHASE_WAITING_TO_RECONNECT;
    device->deadline_ms = now_monotonic(device) + delay;
    SH_LOGW(MQTT_TAG, "disconnected, reconnecting in %" PRIu32 " ms", delay);
}

static void publish_document(sh_device_t *device, const char *topic, size_t length, int qos, const char *what)
{
    sh_status_t status = device->ports->transport.publish(device->ports->transport.ctx, topic, device->payload, length, qos);
    if (status != SH_OK) {
        SH_LOGE(TAG, "failed to publish %s to %s: %s", what, topic, sh_status_name(status));
    }
}

static void publish_capabilities(sh_device_t *device)
{
    uint64_t now = 0;
    if (!get_epoch(device, &now)) {
        SH_LOGW("capabilities", "clock not set, publishing timestamp 0");
        now = 0;
    }
    sh_capabilities_t capabilities = {
        .model = device->config.model,
        .firmware_version = device->config.firmware_version,
        .timestamp_ms = now,
        .relays = device->config.relays,
        .relay_count = device->config.relay_count,
        .sensors = device->config.sensors,
        .sensor_count = device->config.sensor_count,
        .settings = device->config.settings,
        .setting_count = device->config.setting_count,
        .claim_token = device->has_claim_token ? device->claim_token : NULL,
    };
    size_t length = 0;
    sh_status_t status = sh_capabilities_build(&capabilities, device->payload, sizeof(device->payload), &length);
    if (status != SH_OK) {
        SH_LOGE("capabilities", "failed to build the capability document: %s", sh_status_name(status));
        return;
    }
    publish_document(device, device->topic_capabilities, length, 1, "capabilities");
    SH_LOGI("capabilities", "published relays=%u sensors=%u claimToken=%s", (unsigned)device->config.relay_count,
            (unsigned)device->config.sensor_count, device->has_claim_token ? "yes" : "no");
}

static void publish_relay_status(sh_device_t *device, const sh_relay_status_t *status)
{
    size_t length = 0;
    sh_status_t result = sh_relay_status_build(status, device->payload, sizeof(device->payload), &length);
    if (result != SH_OK) {
        SH_LOGE("relay", "failed to build the relay status: %s", sh_status_name(result));
        return;
    }
    publish_document(device, device->topic_relay_status, length, 1, "relay status");
}

static void publish_all_relay_states(sh_device_t *device)
{
    uint64_t now = 0;
    if (!get_epoch(device, &now)) {
        now = 0;
    }
    for (size_t i = 0; i < device->relays.relay_count; i++) {
        sh_relay_status_t status = {
            .relay = device->relays.relays[i].id,
            .state = device->relays.states[i],
            .timestamp_ms = now,
        };
        publish_relay_status(device, &status);
    }
}

static void go_online(sh_device_t *device)
{
    device->phase = SH_DEVICE_PHASE_ONLINE;
    SH_LOGI(MQTT_TAG, "online thing=%s", device->provisioning.thing_name);
    publish_capabilities(device);
    publish_all_relay_states(device);
    device->next_telemetry_ms = now_monotonic(device);
    sh_ota_on_online(&device->ota);
}

void sh_device_on_subscribed(sh_device_t *device, int message_id)
{
    if (device->phase == SH_DEVICE_PHASE_PROVISIONING) {
        sh_provisioning_on_subscribed(&device->provisioning, message_id);
        return;
    }
    if (device->phase != SH_DEVICE_PHASE_SUBSCRIBING) {
        return;
    }
    for (size_t i = 0; i < device->pending_count; i++) {
        if (device->pending_subscriptions[i] == message_id) {
            device->pending_subscriptions[i] = device->pending_subscriptions[--device->pending_count];
            break;
        }
    }
    if (device->pending_count == 0) {
        go_online(device);
    }
}

static void handle_relay_command(sh_device_t *device, const char *payload, size_t length)
{
    uint64_t now = 0;
    bool clock_set = get_epoch(device, &now);
    sh_relay_outcome_t outcome;
    sh_status_t status =
        sh_relay_controller_handle_command(&device->relays, payload, length, clock_set ? &now : NULL, &outcome);
    if (status != SH_OK || !outcome.acknowledge) {
        return;
    }
    sh_relay_status_t acknowledgement = {
        .relay = outcome.relay,
        .state = outcome.state,
        .timestamp_ms = clock_set ? now : 0,
        .command_id = outcome.command_id,
        .result = outcome.result,
        .reason = outcome.reason[0] != '\0' ? outcome.reason : NULL,
    };
    publish_relay_status(device, &acknowledgement);
}

static void handle_reset(sh_device_t *device, const char *payload, size_t length)
{
    sh_reset_command_t command;
    const char *error = NULL;
    if (sh_reset_command_parse(payload, length, &command, &error) != SH_OK) {
        SH_LOGW("reset", "command rejected reason=%s", error);
        return;
    }
    sh_status_t status = sh_device_forget_owner(device);
    if (status != SH_OK) {
        SH_LOGE("reset", "failed to clear the owner command=%s: %s", command.command_id, sh_status_name(status));
        return;
    }
    SH_LOGI("reset", "owner and claim token cleared command=%s reason=UNLINKED", command.command_id);
}

void sh_device_on_message(sh_device_t *device, const char *topic, const void *payload, size_t length)
{
    if (device == NULL || topic == NULL || (payload == NULL && length > 0)) {
        return;
    }
    const char *text = payload;
    if (device->phase == SH_DEVICE_PHASE_PROVISIONING) {
        if (!sh_provisioning_on_message(&device->provisioning, topic, text, length)) {
            SH_LOGD(TAG, "ignoring a message on %s during provisioning", topic);
        }
        return;
    }
    if (device->phase != SH_DEVICE_PHASE_ONLINE) {
        return;
    }
    if (strcmp(topic, device->topic_relay_command) == 0) {
        handle_relay_command(device, text, length);
    } else if (strcmp(topic, device->topic_reset) == 0) {
        handle_reset(device, text, length);
    } else if (!sh_ota_on_message(&device->ota, topic, text, length)) {
        SH_LOGD(TAG, "ignoring a message on %s", topic);
    }
}

static void publish_telemetry(sh_device_t *device)
{
    uint64_t now = 0;
    if (!get_epoch(device, &now)) {
        if (device->clock_warnings < SH_CLOCK_WARNING_LIMIT) {
            device->clock_warnings++;
            SH_LOGW("telemetry", "clock not set, skipping this period");
        }
        return;
    }
    if (device->config.sensor_count == 0) {
        return;
    }

    sh_reading_t readings[SH_MAX_SENSORS];
    sh_energy_status_t energy = {.timestamp_ms = now};
    bool has_energy_meter = false;
    unsigned missing = 0;
    for (size_t i = 0; i < device->config.sensor_count; i++) {
        double value = 0.0;
        sh_status_t status = device->ports->sensors.read(device->ports->sensors.ctx, i, &value);
        readings[i].present = status == SH_OK;
        readings[i].value = value;
        if (status != SH_OK) {
            missing++;
        }
        const char *type = device->config.sensors[i].type;
        /* The first sensor of each electrical type feeds the energy status. */
        if (strcmp(type, "energy") == 0 && !has_energy_meter) {
            energy.energy_kwh = readings[i];
            has_energy_meter = true;
        } else if (strcmp(type, "power") == 0 && energy.power_w == NULL) {
            energy.power_w = &readings[i];
        } else if (strcmp(type, "voltage") == 0 && energy.voltage_v == NULL) {
            energy.voltage_v = &readings[i];
        } else if (strcmp(type, "current") == 0 && energy.current_a == NULL) {
            energy.current_a = &readings[i];
        }
    }

    size_t length = 0;
    sh_status_t status = sh_telemetry_build(now, device->telemetry_seq, device->config.sensors, readings,
                                            device->config.sensor_count, device->payload, sizeof(device->payload),
                                            &length);
    if (status != SH_OK) {
        SH_LOGE("telemetry", "failed to build telemetry: %s", sh_status_name(status));
        return;
    }
    publish_document(device, device->topic_telemetry, length, 0, "telemetry");
    SH_LOGI("telemetry", "published seq=%" PRIu32 " readings=%u missing=%u", device->telemetry_seq,
            (unsigned)device->config.sensor_count, missing);
    device->telemetry_seq++;

    if (has_energy_meter) {
        status = sh_energy_status_build(&energy, device->payload, sizeof(device->payload), &length);
        if (status == SH_OK) {
            publish_document(device, device->topic_energy, length, 1, "energy status");
        } else {
            SH_LOGE("telemetry", "failed to build the energy status: %s", sh_status_name(status));
        }
    }
}

static void finish_provisioning(sh_device_t *device)
{
    if (!build_topics(device)) {
        SH_LOGE(TAG, "thing name %s does not fit in the topics", device->provisioning.thing_name);
        return;
    }
    /* The claim connection is closed before the identity connection opens, because both use the
     * same client id and the broker would drop one of them. */
    device->ports->transport.disconnect(device->ports->transport.ctx);
    connect_with(device, SH_DEVICE_PHASE_CONNECTING);
}

void sh_device_tick(sh_device_t *device)
{
    if (device == NULL) {
        return;
    }
    uint64_t now = now_monotonic(device);
    switch (device->phase) {
    case SH_DEVICE_PHASE_CONNECTING_CLAIM:
    case SH_DEVICE_PHASE_CONNECTING:
    case SH_DEVICE_PHASE_SUBSCRIBING:
        if (now >= device->deadline_ms) {
            SH_LOGW(MQTT_TAG, "timed out waiting for the %s", device->phase == SH_DEVICE_PHASE_SUBSCRIBING ? "SUBACKs"
                                                                                                      : "connection");
            device->ports->transport.disconnect(device->ports->transport.ctx);
            sh_device_on_disconnected(device);
        }
        break;
    case SH_DEVICE_PHASE_PROVISIONING:
        sh_provisioning_tick(&device->provisioning);
        if (sh_provisioning_is_complete(&device->provisioning)) {
            finish_provisioning(device);
        }
        break;
    case SH_DEVICE_PHASE_WAITING_TO_RECONNECT:
        if (now >= device->deadline_ms) {
            connect_next(device);
        }
        break;
    case SH_DEVICE_PHASE_ONLINE:
        if (now >= device->next_telemetry_ms) {
            device->next_telemetry_ms = now + device->config.telemetry_period_ms;
            publish_telemetry(device);
        }
        break;
    case SH_DEVICE_PHASE_IDLE:
        break;
    }
    sh_ota_tick(&device->ota);
}

sh_status_t sh_device_set_claim_token(sh_device_t *device, const char *claim_token)
{
    if (device == NULL || !sh_is_valid_claim_token(claim_token)) {
        return SH_ERR_INVALID_ARG;
    }
    sh_status_t status = sh_storage_write_string(&device->ports->storage, SH_KEY_CLAIM_TOKEN, claim_token);
    if (status != SH_OK) {
        return status;
    }
    strcpy(device->claim_token, claim_token);
    device->has_claim_token = true;
    SH_LOGI(TAG, "claim token stored");
    if (device->phase == SH_DEVICE_PHASE_ONLINE) {
        publish_capabilities(device);
    }
    return SH_OK;
}

sh_status_t sh_device_forget_owner(sh_device_t *device)
{
    if (device == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    /* The claim token is the only owner data on the device. */
    sh_status_t status = device->ports->storage.erase(device->ports->storage.ctx, SH_KEY_CLAIM_TOKEN);
    if (status != SH_OK) {
        return status;
    }
    memset(device->claim_token, 0, sizeof(device->claim_token));
    device->has_claim_token = false;
    if (device->phase == SH_DEVICE_PHASE_ONLINE) {
        publish_capabilities(device);
    }
    return SH_OK;
}

const char *sh_device_thing_name(const sh_device_t *device)
{
    if (device == NULL || !sh_provisioning_is_complete(&device->provisioning)) {
        return NULL;
    }
    return device->provisioning.thing_name;
}
