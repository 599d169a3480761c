/*
 * Compile-time limits and defaults of the core, all in one place. Each value can be overridden
 * with a -D compiler flag. Limits that mirror the device contract (contract/schemas) must not be
 * raised above the schema's bound, because the cloud rejects larger values.
 */
#ifndef SH_CONFIG_H
#define SH_CONFIG_H

/* Contract limits, from the JSON schemas in contract/schemas. */
#ifndef SH_MAX_RELAYS
#define SH_MAX_RELAYS 16 /* capabilities.relays maxItems */
#endif
#ifndef SH_MAX_SENSORS
#define SH_MAX_SENSORS 32 /* capabilities.sensors maxItems, telemetry.readings maxProperties */
#endif
#ifndef SH_MAX_SETTINGS
#define SH_MAX_SETTINGS 16 /* capabilities.settings maxItems */
#endif
#define SH_ID_MAX_LENGTH 32         /* relay, sensor and setting ids */
#define SH_COMMAND_ID_MIN_LENGTH 8  /* commandId pattern ^[A-Za-z0-9_-]{8,64}$ */
#define SH_COMMAND_ID_MAX_LENGTH 64
#define SH_SERIAL_MAX_LENGTH 64
#define SH_MODEL_MAX_LENGTH 64
#define SH_NAME_MAX_LENGTH 64       /* display names of relays, sensors and settings */
#define SH_UNIT_MAX_LENGTH 16
#define SH_VERSION_MAX_LENGTH 64    /* semantic version with a suffix of up to 32 characters */
#define SH_CLAIM_TOKEN_MIN_LENGTH 16
#define SH_CLAIM_TOKEN_MAX_LENGTH 1024
#define SH_REASON_MAX_LENGTH 128    /* relay-status.reason maxLength */
#define SH_OTA_MAX_IMAGE_SIZE 16777216u
#define SH_OTA_URL_MAX_LENGTH 2048
#define SH_OTA_SIGNATURE_BASE64_MAX_LENGTH 200
#define SH_EPOCH_MS_MAX 253402300799999ULL /* 9999-12-31T23:59:59.999Z */

/* AWS IoT limits. */
#define SH_THING_NAME_MAX_LENGTH 128 /* AWS IoT thing names are at most 128 characters */
#define SH_JOB_ID_MAX_LENGTH 64      /* AWS IoT job ids are at most 64 characters */
#ifndef SH_TOPIC_MAX_LENGTH
#define SH_TOPIC_MAX_LENGTH 256      /* AWS IoT accepts topics of up to 256 bytes */
#endif

/* Buffer sizes of the device. */
#ifndef SH_CERTIFICATE_PEM_MAX_LENGTH
#define SH_CERTIFICATE_PEM_MAX_LENGTH 4096
#endif
#ifndef SH_PRIVATE_KEY_PEM_MAX_LENGTH
/* CreateKeysAndCertificate returns an RSA 2048 key, whose PEM is about 1.7 KB. */
#define SH_PRIVATE_KEY_PEM_MAX_LENGTH 3072
#endif
#ifndef SH_CSR_PEM_MAX_LENGTH
#define SH_CSR_PEM_MAX_LENGTH 1024
#endif
#ifndef SH_OWNERSHIP_TOKEN_MAX_LENGTH
#define SH_OWNERSHIP_TOKEN_MAX_LENGTH 2048
#endif
#ifndef SH_CERTIFICATE_ID_MAX_LENGTH
#define SH_CERTIFICATE_ID_MAX_LENGTH 128
#endif
#ifndef SH_PAYLOAD_MAX_LENGTH
/* Largest document the device publishes: a capability document with a 1024-character claim token. */
#define SH_PAYLOAD_MAX_LENGTH 6144
#endif

/* Size limits of received messages, checked before parsing. */
#ifndef SH_RELAY_COMMAND_MAX_BYTES
#define SH_RELAY_COMMAND_MAX_BYTES 512
#endif
#ifndef SH_RESET_MAX_BYTES
#define SH_RESET_MAX_BYTES 512
#endif
#ifndef SH_JOBS_MESSAGE_MAX_BYTES
#define SH_JOBS_MESSAGE_MAX_BYTES 8192
#endif
#ifndef SH_PROVISIONING_REPLY_MAX_BYTES
#define SH_PROVISIONING_REPLY_MAX_BYTES 12288
#endif

/* Behaviour. */
#ifndef SH_DEDUP_CAPACITY
#define SH_DEDUP_CAPACITY 32 /* recent command ids kept to drop redeliveries */
#endif
#ifndef SH_OWNERSHIP_TOKEN_MAX_AGE_MS
/* AWS IoT accepts an ownership token for one hour. Five minutes of margin cover clock drift and
 * the time the RegisterThing request spends in transit. */
#define SH_OWNERSHIP_TOKEN_MAX_AGE_MS (55ULL * 60ULL * 1000ULL)
#endif
#ifndef SH_REPLY_TIMEOUT_MS
#define SH_REPLY_TIMEOUT_MS 30000u /* wait for an accepted or rejected reply */
#endif
#ifndef SH_SUBSCRIBE_TIMEOUT_MS
#define SH_SUBSCRIBE_TIMEOUT_MS 30000u
#endif
#ifndef SH_BACKOFF_BASE_MS
#define SH_BACKOFF_BASE_MS 1000u
#endif
#ifndef SH_BACKOFF_MAX_MS
#define SH_BACKOFF_MAX_MS 300000u /* five minutes */
#endif
#ifndef SH_MIN_VALID_EPOCH_MS
/* A wall clock before 2024-01-01T00:00:00Z is treated as not synchronized. */
#define SH_MIN_VALID_EPOCH_MS 1704067200000ULL
#endif
#ifndef SH_OTA_SELF_TEST_TIMEOUT_MS
/* A new image that has not passed its self-test this long after boot is rolled back. */
#define SH_OTA_SELF_TEST_TIMEOUT_MS 300000u
#endif
#ifndef SH_TELEMETRY_PERIOD_MS
#define SH_TELEMETRY_PERIOD_MS 60000u
#endif
#ifndef SH_TELEMETRY_MIN_PERIOD_MS
#define SH_TELEMETRY_MIN_PERIOD_MS 100u
#endif

#endif /* SH_CONFIG_H */
