/*
 * The device: connects with the claim certificate until fleet provisioning completes, then with
 * its own identity (client id = thing name), announces its capabilities, handles relay, reset and
 * Jobs messages and publishes telemetry on a period. All entry points run on one task; the port
 * calls sh_device_tick() at least every 100 ms and forwards transport events.
 */
#ifndef SH_DEVICE_H
#define SH_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smarthome/sh_backoff.h"
#include "smarthome/sh_config.h"
#include "smarthome/sh_messages.h"
#include "smarthome/sh_ota.h"
#include "smarthome/sh_ports.h"
#include "smarthome/sh_provisioning.h"
#include "smarthome/sh_relay.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Device settings. Strings and arrays must outlive the device. */
typedef struct {
    const char *serial;
    const char *model;
    const char *firmware_version;
    const char *thing_name_prefix;
    const char *template_name;
    sh_provisioning_method_t provisioning_method;
    const char *claim_certificate_pem;
    const char *claim_private_key_pem;
    /** PEM public key that signs OTA images, or NULL to reject updates. */
    const char *ota_public_key_pem;
    const sh_relay_descriptor_t *relays;
    size_t relay_count;
    const sh_sensor_descriptor_t *sensors;
    size_t sensor_count;
    const sh_setting_descriptor_t *settings;
    size_t setting_count;
    uint32_t telemetry_period_ms;
} sh_device_config_t;

/** Connection phase of the device. */
typedef enum {
    SH_DEVICE_PHASE_IDLE = 0,
    /** Waiting for the claim connection. */
    SH_DEVICE_PHASE_CONNECTING_CLAIM,
    /** Connected with the claim certificate; fleet provisioning runs. */
    SH_DEVICE_PHASE_PROVISIONING,
    /** Waiting for the connection with the device identity. */
    SH_DEVICE_PHASE_CONNECTING,
    /** Connected with the device identity, waiting for SUBACKs. */
    SH_DEVICE_PHASE_SUBSCRIBING,
    /** Subscribed; commands are handled and telemetry is published. */
    SH_DEVICE_PHASE_ONLINE,
    /** Disconnected, waiting for the reconnect backoff to end. */
    SH_DEVICE_PHASE_WAITING_TO_RECONNECT,
} sh_device_phase_t;

#define SH_DEVICE_SUBSCRIPTION_COUNT (2 + SH_OTA_TOPIC_COUNT)

/** Device state. Large (about 30 KB): allocate it statically or on the heap. */
typedef struct {
    sh_device_config_t config;
    const sh_ports_t *ports;
    sh_device_phase_t phase;
    sh_backoff_t connection_backoff;
    uint64_t deadline_ms; /* monotonic: connect or subscribe timeout, or end of the reconnect backoff */
    int pending_subscriptions[SH_DEVICE_SUBSCRIPTION_COUNT];
    size_t pending_count;

    sh_provisioning_t provisioning;
    sh_relay_controller_t relays;
    sh_ota_t ota;

    char topic_relay_command[SH_TOPIC_MAX_LENGTH];
    char topic_reset[SH_TOPIC_MAX_LENGTH];
    char topic_capabilities[SH_TOPIC_MAX_LENGTH];
    char topic_telemetry[SH_TOPIC_MAX_LENGTH];
    char topic_energy[SH_TOPIC_MAX_LENGTH];
    char topic_relay_status[SH_TOPIC_MAX_LENGTH];

    bool has_claim_token;
    char claim_token[SH_CLAIM_TOKEN_MAX_LENGTH + 1];
    uint64_t next_telemetry_ms;
    uint32_t telemetry_seq;
    uint32_t clock_warnings;
    char payload[SH_PAYLOAD_MAX_LENGTH];
} sh_device_t;

/** Checks the settings and initializes every module; switches all relays off. */
sh_status_t sh_device_init(sh_device_t *device, const sh_device_config_t *config, const sh_ports_t *ports);
/** Loads persisted state and starts connecting. */
sh_status_t sh_device_start(sh_device_t *device);
/** Disconnects; the device can be started again. */
void sh_device_stop(sh_device_t *device);

void sh_device_on_connected(sh_device_t *device);
/** Reports a connection that failed or dropped. Not called for a disconnect the core requested. */
void sh_device_on_disconnected(sh_device_t *device);
void sh_device_on_subscribed(sh_device_t *device, int message_id);
void sh_device_on_message(sh_device_t *device, const char *topic, const void *payload, size_t length);
/** Runs timers: timeouts, backoffs, telemetry and the OTA self-test deadline. */
void sh_device_tick(sh_device_t *device);

/** Stores the owner's claim token (from Wi-Fi provisioning) and announces it when online. */
sh_status_t sh_device_set_claim_token(sh_device_t *device, const char *claim_token);
/** Forgets the owner's claim token; keeps the certificate and thing identity. */
sh_status_t sh_device_forget_owner(sh_device_t *device);

/** Returns the thing name once provisioned, or NULL. */
const char *sh_device_thing_name(const sh_device_t *device);

#ifdef __cplusplus
}
#endif

#endif /* SH_DEVICE_H */
