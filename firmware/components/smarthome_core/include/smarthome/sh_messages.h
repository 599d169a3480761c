/*
 * Parsers for the messages the device receives and builders for the documents it publishes.
 * Each one follows a schema in contract/schemas: parsers reject anything the schema rejects
 * (including unknown properties and duplicate keys), and builders refuse inputs that would
 * produce a document the schema rejects.
 */
#ifndef SH_MESSAGES_H
#define SH_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smarthome/sh_config.h"
#include "smarthome/sh_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Relay output state. */
typedef enum {
    SH_RELAY_OFF = 0,
    SH_RELAY_ON = 1,
} sh_relay_state_t;

/** Outcome of a relay command, as reported in relay-status.result. */
typedef enum {
    /** The command switched the relay (or confirmed its state). */
    SH_RELAY_RESULT_APPLIED = 0,
    /** The commandId was applied before, so the command was not executed again. */
    SH_RELAY_RESULT_DUPLICATE,
    /** expiresAt has passed, so the command was not executed. */
    SH_RELAY_RESULT_EXPIRED,
    /** The command is invalid or cannot be executed; reason says why. */
    SH_RELAY_RESULT_REJECTED,
} sh_relay_result_t;

/** A parsed relay-command message. */
typedef struct {
    char command_id[SH_COMMAND_ID_MAX_LENGTH + 1];
    char relay[SH_ID_MAX_LENGTH + 1];
    sh_relay_state_t state;
    uint64_t expires_at_ms;
    bool has_issued_at;
    uint64_t issued_at_ms;
    /** Set even when parsing fails, if commandId alone was valid, so a rejection can be acknowledged. */
    bool has_command_id;
    /** Set even when parsing fails, if relay alone was valid. */
    bool has_relay;
} sh_relay_command_t;

/** A parsed reset message. */
typedef struct {
    char command_id[SH_COMMAND_ID_MAX_LENGTH + 1];
    uint64_t issued_at_ms;
} sh_reset_command_t;

/** A parsed OTA job document. */
typedef struct {
    char version[SH_VERSION_MAX_LENGTH + 1];
    bool has_rollout_id;
    char rollout_id[65];
    uint32_t size;
    uint8_t sha256[32];
    /** DER ECDSA signature decoded from base64. A P-256 signature is at most 72 bytes. */
    uint8_t signature_der[150];
    size_t signature_length;
    char url[SH_OTA_URL_MAX_LENGTH + 1];
} sh_ota_job_document_t;

/** A job execution from notify-next or start-next/accepted. */
typedef struct {
    /** False when the message says that no job is pending. */
    bool has_execution;
    char job_id[SH_JOB_ID_MAX_LENGTH + 1];
    char status[24];
    /** Result of parsing jobDocument; the job id is usable even when the document is invalid. */
    sh_status_t document_status;
    const char *document_error;
    sh_ota_job_document_t document;
} sh_job_execution_t;

/** Error reply of AWS IoT Jobs ({"code", "message"}). */
typedef struct {
    char code[64];
    char message[256];
} sh_jobs_error_t;

/** Accepted reply of CreateCertificateFromCsr or CreateKeysAndCertificate. */
typedef struct {
    char certificate_id[SH_CERTIFICATE_ID_MAX_LENGTH + 1];
    char certificate_pem[SH_CERTIFICATE_PEM_MAX_LENGTH + 1];
    bool has_private_key;
    char private_key_pem[SH_PRIVATE_KEY_PEM_MAX_LENGTH + 1];
    char ownership_token[SH_OWNERSHIP_TOKEN_MAX_LENGTH + 1];
} sh_certificate_reply_t;

/** Accepted reply of RegisterThing. deviceConfiguration is accepted and ignored. */
typedef struct {
    char thing_name[SH_THING_NAME_MAX_LENGTH + 1];
} sh_register_reply_t;

/** Rejected reply of the fleet provisioning APIs ({"statusCode", "errorCode", "errorMessage"}). */
typedef struct {
    int status_code;
    char error_code[64];
    char error_message[256];
} sh_provisioning_error_t;

/* Parsers. On failure *error (if not NULL) points to a static English description. */

/** Parses a relay-command message (contract/schemas/relay-command.schema.json). */
sh_status_t sh_relay_command_parse(const char *payload, size_t length, sh_relay_command_t *command,
                                   const char **error);
/** Parses a reset message (contract/schemas/reset.schema.json). */
sh_status_t sh_reset_command_parse(const char *payload, size_t length, sh_reset_command_t *command,
                                   const char **error);
/** Parses an OTA job document (contract/schemas/ota-job.schema.json). */
sh_status_t sh_ota_job_document_parse(const char *payload, size_t length, sh_ota_job_document_t *document,
                                      const char **error);
/** Parses a notify-next or start-next/accepted message of AWS IoT Jobs. */
sh_status_t sh_jobs_execution_parse(const char *payload, size_t length, sh_job_execution_t *execution,
                                    const char **error);
/** Parses a rejected reply of AWS IoT Jobs. */
sh_status_t sh_jobs_error_parse(const char *payload, size_t length, sh_jobs_error_t *reply, const char **error);
/** Parses an accepted certificate reply; expect_private_key is true for CreateKeysAndCertificate. */
sh_status_t sh_certificate_reply_parse(const char *payload, size_t length, bool expect_private_key,
                                       sh_certificate_reply_t *reply, const char **error);
/** Parses an accepted RegisterThing reply. */
sh_status_t sh_register_reply_parse(const char *payload, size_t length, sh_register_reply_t *reply,
                                    const char **error);
/** Parses a rejected reply of the fleet provisioning APIs. */
sh_status_t sh_provisioning_error_parse(const char *payload, size_t length, sh_provisioning_error_t *reply,
                                        const char **error);

/* Builders. Each writes a NUL-terminated JSON document and stores its length without the NUL. */

/** Relay declared in the capability document. */
typedef struct {
    const char *id;
    /** Display name, or NULL. */
    const char *name;
    /** Rated contact current in amperes, or 0 to omit it. */
    double max_current_a;
} sh_relay_descriptor_t;

/** Sensor declared in the capability document. */
typedef struct {
    const char *id;
    /** Sensor type such as "temperature", "energy" or "power". */
    const char *type;
    const char *name;
    const char *unit;
    bool has_range;
    double min;
    double max;
    /** True for running totals such as an energy meter. */
    bool cumulative;
} sh_sensor_descriptor_t;

/** Setting declared in the capability document. */
typedef struct {
    const char *id;
    const char *type;
    const char *name;
    const char *unit;
    bool has_range;
    double min;
    double max;
    /** Increment, or 0 to omit it. */
    double step;
} sh_setting_descriptor_t;

/** Input of the capability document. */
typedef struct {
    const char *model;
    const char *firmware_version;
    uint64_t timestamp_ms;
    const sh_relay_descriptor_t *relays;
    size_t relay_count;
    const sh_sensor_descriptor_t *sensors;
    size_t sensor_count;
    const sh_setting_descriptor_t *settings;
    size_t setting_count;
    /** Owner's auto-discovery claim token, or NULL. */
    const char *claim_token;
} sh_capabilities_t;

/** One sensor value; present is false when the sensor produced no value. */
typedef struct {
    bool present;
    double value;
} sh_reading_t;

/** Input of a relay-status document. */
typedef struct {
    const char *relay;
    sh_relay_state_t state;
    uint64_t timestamp_ms;
    /** Acknowledged command, or NULL for a local change (then result and reason are ignored). */
    const char *command_id;
    sh_relay_result_t result;
    /** Explanation, or NULL. Longer text is cut to SH_REASON_MAX_LENGTH characters. */
    const char *reason;
} sh_relay_status_t;

/** Input of an energy-status document. A NULL optional reading omits the property. */
typedef struct {
    uint64_t timestamp_ms;
    /** Meter total; published as null when not present. */
    sh_reading_t energy_kwh;
    const sh_reading_t *power_w;
    const sh_reading_t *voltage_v;
    const sh_reading_t *current_a;
    /** Relay the meter measures, or NULL. */
    const char *relay;
} sh_energy_status_t;

/** Builds a capability document (contract/schemas/capabilities.schema.json). */
sh_status_t sh_capabilities_build(const sh_capabilities_t *capabilities, char *buffer, size_t capacity,
                                  size_t *length);
/** Builds a relay-status document (contract/schemas/relay-status.schema.json). */
sh_status_t sh_relay_status_build(const sh_relay_status_t *status, char *buffer, size_t capacity, size_t *length);
/**
 * Builds a telemetry document (contract/schemas/telemetry.schema.json) with one reading per
 * sensor; a reading that is not present or not finite becomes null.
 */
sh_status_t sh_telemetry_build(uint64_t timestamp_ms, uint32_t seq, const sh_sensor_descriptor_t *sensors,
                               const sh_reading_t *readings, size_t count, char *buffer, size_t capacity,
                               size_t *length);
/** Builds an energy-status document (contract/schemas/energy-status.schema.json). */
sh_status_t sh_energy_status_build(const sh_energy_status_t *energy, char *buffer, size_t capacity, size_t *length);
/** Builds the CreateCertificateFromCsr request {"certificateSigningRequest": csr}. */
sh_status_t sh_csr_request_build(const char *csr_pem, char *buffer, size_t capacity, size_t *length);
/** Builds the RegisterThing request with parameters SerialNumber, Model and FirmwareVersion. */
sh_status_t sh_register_request_build(const char *ownership_token, const char *serial, const char *model,
                                      const char *firmware_version, char *buffer, size_t capacity,
                                      size_t *length);
/**
 * Builds a job execution update {"status", "statusDetails"}. step and reason are optional
 * statusDetails entries; NULL omits them.
 */
sh_status_t sh_jobs_update_build(const char *status, const char *step, const char *reason, char *buffer,
                                 size_t capacity, size_t *length);

/** Returns "ON" or "OFF". */
const char *sh_relay_state_name(sh_relay_state_t state);
/** Returns "APPLIED", "DUPLICATE", "EXPIRED" or "REJECTED". */
const char *sh_relay_result_name(sh_relay_result_t result);

/* Validators of the contract's string patterns, shared by parsers, builders and ports. */

/** Checks ^[A-Za-z0-9_-]{min_length,max_length}$. */
bool sh_is_valid_id(const char *value, size_t min_length, size_t max_length);
/** Checks the semantic version pattern of capabilities.firmwareVersion. */
bool sh_is_valid_version(const char *value);
/** Checks ^[A-Za-z0-9._-]{1,64}$ (capabilities.model). */
bool sh_is_valid_model(const char *value);
/** Checks capabilities.claimToken: ^[A-Za-z0-9._-]+$ with 16 to 1024 characters. */
bool sh_is_valid_claim_token(const char *value);
/** Checks ^[a-z][a-z0-9_]{0,31}$ (sensor and setting types). */
bool sh_is_valid_type(const char *value);

#ifdef __cplusplus
}
#endif

#endif /* SH_MESSAGES_H */
