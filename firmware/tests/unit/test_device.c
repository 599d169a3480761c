/* The device end to end over fake ports: identity switch, capabilities, commands, telemetry, reset. */
#include <stdio.h>
#include <string.h>

#include "cJSON.h"
#include "fakes.h"
#include "sh_storage_keys.h"
#include "smarthome/sh_device.h"

#define THING "sh-SERIAL-1"
#define CLAIM_TOKEN "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLWEifQ.c2lnbmF0dXJl"

static const sh_relay_descriptor_t RELAYS[] = {{.id = "relay1", .name = "Heater"}, {.id = "relay2"}};
static const sh_sensor_descriptor_t SENSORS[] = {
    {.id = "temperature", .type = "temperature", .unit = "°C"},
    {.id = "power", .type = "power", .unit = "W"},
    {.id = "energy", .type = "energy", .unit = "kWh", .cumulative = true},
};

typedef struct {
    fake_platform_t *platform;
    sh_device_t device;
    size_t acknowledged;
} fixture_t;

static sh_device_config_t config(void)
{
    return (sh_device_config_t){
        .serial = "SERIAL-1",
        .model = "esp32-relay-2",
        .firmware_version = "1.0.0",
        .thing_name_prefix = "sh-",
        .template_name = "FleetTemplate",
        .claim_certificate_pem = "-----BEGIN CERTIFICATE-----\nclaim\n",
        .claim_private_key_pem = "-----BEGIN EC PRIVATE KEY-----\nclaim\n",
        .relays = RELAYS,
        .relay_count = 2,
        .sensors = SENSORS,
        .sensor_count = 3,
        .telemetry_period_ms = 10000,
    };
}

/* Stores a completed provisioning, as left by an earlier boot. */
static void store_identity(fake_platform_t *platform)
{
    const sh_storage_t *storage = &platform->ports.storage;
    uint8_t state = SH_PROVISIONING_STATE_PROVISIONED;
    storage->write(storage->ctx, SH_KEY_PROVISIONING_STATE, &state, 1);
    sh_storage_write_string(storage, SH_KEY_THING_NAME, THING);
    sh_storage_write_string(storage, SH_KEY_CERTIFICATE, "-----BEGIN CERTIFICATE-----\ndevice\n");
    sh_storage_write_string(storage, SH_KEY_PRIVATE_KEY, "-----BEGIN EC PRIVATE KEY-----\ndevice\n");
}

static void acknowledge_subscriptions(fixture_t *fixture)
{
    fake_transport_t *transport = &fixture->platform->transport;
    while (fixture->acknowledged < transport->subscription_count) {
        sh_device_on_subscribed(&fixture->device, transport->subscription_ids[fixture->acknowledged++]);
    }
}

static void bring_online(fixture_t *fixture)
{
    assert_int_equal(sh_device_start(&fixture->device), SH_OK);
    assert_string_equal(fixture->platform->transport.client_id, THING);
    sh_device_on_connected(&fixture->device);
    acknowledge_subscriptions(fixture);
    assert_int_equal(fixture->device.phase, SH_DEVICE_PHASE_ONLINE);
}

static int setup(void **state)
{
    fixture_t *fixture = calloc(1, sizeof(*fixture));
    fixture->platform = fake_platform_create();
    sh_device_config_t settings = config();
    assert_int_equal(sh_device_init(&fixture->device, &settings, &fixture->platform->ports), SH_OK);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fixture = *state;
    fake_platform_destroy(fixture->platform);
    free(fixture);
    return 0;
}

static void send(fixture_t *fixture, const char *topic, const char *payload)
{
    sh_device_on_message(&fixture->device, topic, payload, strlen(payload));
}

static cJSON *last_json(fixture_t *fixture, const char *topic)
{
    const fake_message_t *message = fake_transport_last(&fixture->platform->transport, topic);
    assert_non_null(message);
    cJSON *root = cJSON_Parse(message->payload);
    assert_non_null(root);
    return root;
}

static void test_DeviceStart_ProvisionsThenUsesOwnIdentity(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(sh_device_start(&fixture->device), SH_OK);
    fake_transport_t *transport = &fixture->platform->transport;
    assert_string_equal(transport->client_id, THING); /* the claim connection uses the future thing name */
    assert_non_null(strstr(transport->certificate_pem, "claim"));
    sh_device_on_connected(&fixture->device);
    acknowledge_subscriptions(fixture);

    const fake_message_t *csr = fake_transport_last(transport, "$aws/certificates/create-from-csr/json");
    assert_non_null(csr);
    send(fixture, "$aws/certificates/create-from-csr/json/accepted",
         "{\"certificateId\":\"c1\",\"certificatePem\":\"-----BEGIN CERTIFICATE-----\\nissued\\n\","
         "\"certificateOwnershipToken\":\"token\"}");
    send(fixture, "$aws/provisioning-templates/FleetTemplate/provision/json/accepted",
         "{\"deviceConfiguration\":{},\"thingName\":\"" THING "\"}");
    sh_device_tick(&fixture->device);

    assert_int_equal(transport->disconnect_count, 1);
    assert_int_equal(transport->connect_count, 2);
    assert_non_null(strstr(transport->certificate_pem, "issued"));
    assert_int_equal(fixture->device.phase, SH_DEVICE_PHASE_CONNECTING);
    fixture->acknowledged = 0;
    sh_device_on_connected(&fixture->device);
    acknowledge_subscriptions(fixture);
    assert_int_equal(fixture->device.phase, SH_DEVICE_PHASE_ONLINE);
    assert_non_null(fake_transport_last(transport, "iot/capabilities/" THING));
}

static void test_DeviceOnline_AnnouncesCapabilitiesAndStates(void **state)
{
    fixture_t *fixture = *state;
    store_identity(fixture->platform);
    bring_online(fixture);

    fake_transport_t *transport = &fixture->platform->transport;
    assert_int_equal(transport->subscription_count, SH_DEVICE_SUBSCRIPTION_COUNT);
    assert_string_equal(transport->subscriptions[0], "iot/control/" THING "/relay");
    assert_string_equal(transport->subscriptions[1], "iot/control/" THING "/reset");

    cJSON *capabilities = last_json(fixture, "iot/capabilities/" THING);
    assert_int_equal(cJSON_GetObjectItem(capabilities, "schemaVersion")->valueint, 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(capabilities, "relays")), 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(capabilities, "sensors")), 3);
    assert_null(cJSON_GetObjectItem(capabilities, "claimToken"));
    assert_true(cJSON_GetObjectItem(capabilities, "timestamp")->valuedouble == (double)FAKE_EPOCH_START_MS);
    cJSON_Delete(capabilities);

    assert_int_equal(fake_transport_count(transport, "iot/status/" THING "/relay"), 2);
    assert_non_null(fake_transport_last(transport, "$aws/things/" THING "/jobs/start-next"));
}

static void test_DeviceMessage_RelayCommandsAcknowledged(void **state)
{
    fixture_t *fixture = *state;
    store_identity(fixture->platform);
    bring_online(fixture);
    const char *topic = "iot/control/" THING "/relay";
    const char *status_topic = "iot/status/" THING "/relay";
    char command[256];
    snprintf(command, sizeof(command),
             "{\"commandId\":\"cmd-00000001\",\"relay\":\"relay1\",\"state\":\"ON\",\"expiresAt\":%llu}",
             (unsigned long long)(FAKE_EPOCH_START_MS + 5000));

    send(fixture, topic, command);
    cJSON *ack = last_json(fixture, status_topic);
    assert_string_equal(cJSON_GetObjectItem(ack, "result")->valuestring, "APPLIED");
    assert_string_equal(cJSON_GetObjectItem(ack, "state")->valuestring, "ON");
    assert_string_equal(cJSON_GetObjectItem(ack, "commandId")->valuestring, "cmd-00000001");
    cJSON_Delete(ack);
    assert_true(fixture->platform->relays.states[0]);

    send(fixture, topic, command);
    ack = last_json(fixture, status_topic);
    assert_string_equal(cJSON_GetObjectItem(ack, "result")->valuestring, "DUPLICATE");
    cJSON_Delete(ack);

    send(fixture, topic, "{\"commandId\":\"cmd-00000002\",\"relay\":\"relay2\",\"state\":\"ON\",\"expiresAt\":1}");
    ack = last_json(fixture, status_topic);
    assert_string_equal(cJSON_GetObjectItem(ack, "result")->valuestring, "EXPIRED");
    assert_string_equal(cJSON_GetObjectItem(ack, "state")->valuestring, "OFF");
    cJSON_Delete(ack);
    assert_false(fixture->platform->relays.states[1]);

    size_t before = fake_transport_count(&fixture->platform->transport, status_topic);
    send(fixture, topic, "{\"commandId\":\"cmd-000");
    assert_int_equal(fake_transport_count(&fixture->platform->transport, status_topic), before);
}

static void test_DeviceTick_PublishesTelemetryWithNull(void **state)
{
    fixture_t *fixture = *state;
    store_identity(fixture->platform);
    fixture->platform->sensors.available[0] = false; /* temperature has no value */
    fixture->platform->sensors.available[1] = true;
    fixture->platform->sensors.values[1] = 0.0;
    fixture->platform->sensors.available[2] = true;
    fixture->platform->sensors.values[2] = 12.5;
    bring_online(fixture);
    sh_device_tick(&fixture->device);

    cJSON *telemetry = last_json(fixture, "iot/telemetry/" THING);
    cJSON *readings = cJSON_GetObjectItem(telemetry, "readings");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(readings, "temperature")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(readings, "power")));
    assert_int_equal(cJSON_GetObjectItem(telemetry, "seq")->valueint, 0);
    cJSON_Delete(telemetry);

    cJSON *energy = last_json(fixture, "iot/status/" THING "/energy");
    assert_true(cJSON_GetObjectItem(energy, "energyKwh")->valuedouble == 12.5);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(energy, "powerW")));
    assert_null(cJSON_GetObjectItem(energy, "voltageV"));
    cJSON_Delete(energy);

    /* The next message waits for the period. */
    size_t count = fake_transport_count(&fixture->platform->transport, "iot/telemetry/" THING);
    fixture->platform->clock.monotonic_ms += 9999;
    sh_device_tick(&fixture->device);
    assert_int_equal(fake_transport_count(&fixture->platform->transport, "iot/telemetry/" THING), count);
    fixture->platform->clock.monotonic_ms += 1;
    sh_device_tick(&fixture->device);
    assert_int_equal(fake_transport_count(&fixture->platform->transport, "iot/telemetry/" THING), count + 1);
}

static void test_DeviceMessage_ResetForgetsOwnerKeepsIdentity(void **state)
{
    fixture_t *fixture = *state;
    store_identity(fixture->platform);
    bring_online(fixture);
    assert_int_equal(sh_device_set_claim_token(&fixture->device, CLAIM_TOKEN), SH_OK);
    cJSON *capabilities = last_json(fixture, "iot/capabilities/" THING);
    assert_string_equal(cJSON_GetObjectItem(capabilities, "claimToken")->valuestring, CLAIM_TOKEN);
    cJSON_Delete(capabilities);

    send(fixture, "iot/control/" THING "/reset", "{\"commandId\":\"reset-0001\",\"reason\":\"FACTORY\",\"issuedAt\":1}");
    assert_true(fake_storage_has(&fixture->platform->storage, SH_KEY_CLAIM_TOKEN));

    send(fixture, "iot/control/" THING "/reset", "{\"commandId\":\"reset-0001\",\"reason\":\"UNLINKED\",\"issuedAt\":1}");
    assert_false(fake_storage_has(&fixture->platform->storage, SH_KEY_CLAIM_TOKEN));
    assert_true(fake_storage_has(&fixture->platform->storage, SH_KEY_CERTIFICATE));
    assert_true(fake_storage_has(&fixture->platform->storage, SH_KEY_THING_NAME));
    capabilities = last_json(fixture, "iot/capabilities/" THING);
    assert_null(cJSON_GetObjectItem(capabilities, "claimToken"));
    cJSON_Delete(capabilities);
}

static void test_DeviceDisconnect_ReconnectsAfterBackoff(void **state)
{
    fixture_t *fixture = *state;
    store_identity(fixture->platform);
    bring_online(fixture);
    unsigned connects = fixture->platform->transport.connect_count;
    sh_device_on_disconnected(&fixture->device);
    assert_int_equal(fixture->device.phase, SH_DEVICE_PHASE_WAITING_TO_RECONNECT);
    sh_device_tick(&fixture->device);
    assert_int_equal(fixture->platform->transport.connect_count, connects);
    fixture->platform->clock.monotonic_ms += SH_BACKOFF_BASE_MS;
    sh_device_tick(&fixture->device);
    assert_int_equal(fixture->platform->transport.connect_count, connects + 1);

    /* A failing connect backs off further instead of looping. */
    fixture->platform->transport.fail_connect = true;
    for (int i = 0; i < 5; i++) {
        fixture->platform->clock.monotonic_ms += 31000;
        sh_device_tick(&fixture->device);
    }
    assert_true(fixture->platform->transport.connect_count <= connects + 6);
    assert_true(fixture->device.connection_backoff.attempt >= 2);
}

static void test_DeviceInit_RejectsIncompleteSettings(void **state)
{
    fixture_t *fixture = *state;
    sh_device_config_t settings = config();
    settings.claim_certificate_pem = NULL;
    assert_int_equal(sh_device_init(&fixture->device, &settings, &fixture->platform->ports), SH_ERR_INVALID_ARG);
    settings = config();
    settings.firmware_version = "one";
    assert_int_equal(sh_device_init(&fixture->device, &settings, &fixture->platform->ports), SH_ERR_INVALID_ARG);
    sh_ports_t ports = fixture->platform->ports;
    ports.http.download = NULL;
    settings = config();
    assert_int_equal(sh_device_init(&fixture->device, &settings, &ports), SH_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_DeviceStart_ProvisionsThenUsesOwnIdentity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_DeviceOnline_AnnouncesCapabilitiesAndStates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_DeviceMessage_RelayCommandsAcknowledged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_DeviceTick_PublishesTelemetryWithNull, setup, teardown),
        cmocka_unit_test_setup_teardown(test_DeviceMessage_ResetForgetsOwnerKeepsIdentity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_DeviceDisconnect_ReconnectsAfterBackoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_DeviceInit_RejectsIncompleteSettings, setup, teardown),
    };
    SH_RUN_TESTS(tests);
}
