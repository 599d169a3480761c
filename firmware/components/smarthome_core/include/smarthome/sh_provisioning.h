/*
 * Fleet provisioning by claim (AWS IoT). A persisted state machine that survives power loss at
 * any step:
 *
 *   NONE --key stored--> KEY_READY --certificate stored--> CERTIFICATE_STORED --registered--> PROVISIONED
 *
 * Each step writes its data first and the state key last, so after power loss the device resumes
 * from the last completed step. An ownership token older than SH_OWNERSHIP_TOKEN_MAX_AGE_MS is
 * never reused: the device then requests a new certificate.
 */
#ifndef SH_PROVISIONING_H
#define SH_PROVISIONING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smarthome/sh_backoff.h"
#include "smarthome/sh_config.h"
#include "smarthome/sh_messages.h"
#include "smarthome/sh_ports.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Persisted provisioning state. The numeric values are stored and must not change. */
typedef enum {
    /** No identity: the device requests a certificate (after generating a key, for CSR). */
    SH_PROVISIONING_STATE_NONE = 0,
    /** A private key for the CSR is stored; the certificate request is next. */
    SH_PROVISIONING_STATE_KEY_READY = 1,
    /** Certificate, key and ownership token are stored; RegisterThing is next. */
    SH_PROVISIONING_STATE_CERTIFICATE_STORED = 2,
    /** The thing is registered and the device uses its own identity. */
    SH_PROVISIONING_STATE_PROVISIONED = 3,
} sh_provisioning_state_t;

/** How the device obtains its certificate. */
typedef enum {
    /** CreateCertificateFromCsr: the private key is generated on the device and never leaves it. */
    SH_PROVISIONING_METHOD_CSR = 0,
    /** CreateKeysAndCertificate: AWS IoT generates the key and sends it to the device. */
    SH_PROVISIONING_METHOD_KEYS_AND_CERTIFICATE = 1,
} sh_provisioning_method_t;

/** Session phase while connected with the claim certificate (not persisted). */
typedef enum {
    SH_PROVISIONING_PHASE_DISCONNECTED = 0,
    SH_PROVISIONING_PHASE_SUBSCRIBING,
    SH_PROVISIONING_PHASE_AWAIT_CERTIFICATE,
    SH_PROVISIONING_PHASE_AWAIT_REGISTRATION,
    SH_PROVISIONING_PHASE_BACKOFF,
    SH_PROVISIONING_PHASE_DONE,
} sh_provisioning_phase_t;

/** Provisioning settings. Strings must outlive the provisioning object. */
typedef struct {
    const char *serial;
    const char *model;
    const char *firmware_version;
    const char *thing_name_prefix;
    const char *template_name;
    sh_provisioning_method_t method;
} sh_provisioning_config_t;

#define SH_PROVISIONING_TOPIC_COUNT 4

/** Provisioning state machine. Large: allocate it statically or on the heap. */
typedef struct {
    const sh_ports_t *ports;
    sh_provisioning_config_t config;
    sh_provisioning_state_t state;
    sh_provisioning_phase_t phase;
    sh_backoff_t backoff;
    uint64_t deadline_ms;  /* monotonic: reply timeout or end of backoff */
    bool subscribed;
    int pending_subscriptions[SH_PROVISIONING_TOPIC_COUNT];
    size_t pending_count;

    char expected_thing_name[SH_THING_NAME_MAX_LENGTH + 1];
    char thing_name[SH_THING_NAME_MAX_LENGTH + 1];
    char topic_certificate_request[SH_TOPIC_MAX_LENGTH];
    char topic_certificate_accepted[SH_TOPIC_MAX_LENGTH];
    char topic_certificate_rejected[SH_TOPIC_MAX_LENGTH];
    char topic_register_request[SH_TOPIC_MAX_LENGTH];
    char topic_register_accepted[SH_TOPIC_MAX_LENGTH];
    char topic_register_rejected[SH_TOPIC_MAX_LENGTH];

    char private_key_pem[SH_PRIVATE_KEY_PEM_MAX_LENGTH + 1];
    char certificate_pem[SH_CERTIFICATE_PEM_MAX_LENGTH + 1];
    char ownership_token[SH_OWNERSHIP_TOKEN_MAX_LENGTH + 1];
    /** Monotonic time the token arrived in this boot, valid when token_from_this_boot is true. */
    uint64_t token_received_monotonic_ms;
    bool token_from_this_boot;

    sh_certificate_reply_t reply;
    char payload[SH_OWNERSHIP_TOKEN_MAX_LENGTH + 512];
} sh_provisioning_t;

/** Checks the settings and builds the topics. Does not touch storage. */
sh_status_t sh_provisioning_init(sh_provisioning_t *provisioning, const sh_ports_t *ports,
                                 const sh_provisioning_config_t *config);

/** Loads the persisted state, certificate, key and token, and the persisted failure count. */
sh_status_t sh_provisioning_load(sh_provisioning_t *provisioning);

/** True once the thing is registered; then thing_name, certificate_pem and private_key_pem hold the identity. */
bool sh_provisioning_is_complete(const sh_provisioning_t *provisioning);

/** Starts a session after the claim connection came up: subscribes, then sends the next request. */
void sh_provisioning_on_connected(sh_provisioning_t *provisioning);
void sh_provisioning_on_disconnected(sh_provisioning_t *provisioning);
void sh_provisioning_on_subscribed(sh_provisioning_t *provisioning, int message_id);
/** Handles a message; returns false when the topic is not a provisioning topic. */
bool sh_provisioning_on_message(sh_provisioning_t *provisioning, const char *topic, const char *payload,
                                size_t length);
/** Runs timers: reply timeouts and the end of a backoff. */
void sh_provisioning_tick(sh_provisioning_t *provisioning);

/** Returns the state's name, for example "CERTIFICATE_STORED". */
const char *sh_provisioning_state_name(sh_provisioning_state_t state);

#ifdef __cplusplus
}
#endif

#endif /* SH_PROVISIONING_H */
