/*
 * Interfaces that a port implements for the core: MQTT transport, persistent storage, clocks,
 * randomness, cryptography, OTA slots, HTTP download, relay outputs, sensors and system control.
 * Each interface is a table of functions with a context pointer, so tests can substitute fakes.
 * The core calls them from a single task and never concurrently.
 */
#ifndef SH_PORTS_H
#define SH_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smarthome/sh_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Credentials for one MQTT-over-TLS connection. Strings stay valid until the next connect. */
typedef struct {
    const char *client_id;
    const char *certificate_pem;
    const char *private_key_pem;
} sh_mqtt_credentials_t;

/**
 * MQTT transport. connect() starts a connection and returns at once; the port then reports
 * sh_device_on_connected() or sh_device_on_disconnected(), SUBACKs with sh_device_on_subscribed()
 * and messages with sh_device_on_message().
 */
typedef struct {
    void *ctx;
    sh_status_t (*connect)(void *ctx, const sh_mqtt_credentials_t *credentials);
    void (*disconnect)(void *ctx);
    /** Sends SUBSCRIBE and stores its packet id in message_id, for matching the SUBACK. */
    sh_status_t (*subscribe)(void *ctx, const char *topic, int qos, int *message_id);
    sh_status_t (*publish)(void *ctx, const char *topic, const void *payload, size_t length, int qos);
} sh_transport_t;

/**
 * Key-value storage that survives power loss. Keys are at most 15 characters (the NVS limit).
 * A write replaces a value atomically: after power loss the key contains the old or the new value.
 */
typedef struct {
    void *ctx;
    /** Returns SH_ERR_NOT_FOUND for an absent key and SH_ERR_BUFFER_TOO_SMALL if capacity is short. */
    sh_status_t (*read)(void *ctx, const char *key, void *buffer, size_t capacity, size_t *length);
    sh_status_t (*write)(void *ctx, const char *key, const void *data, size_t length);
    /** Returns SH_OK when the key is absent. */
    sh_status_t (*erase)(void *ctx, const char *key);
} sh_storage_t;

/** Clocks. The monotonic clock never goes back; the wall clock may be unset after boot. */
typedef struct {
    void *ctx;
    uint64_t (*monotonic_ms)(void *ctx);
    /** Stores UTC epoch milliseconds, or returns SH_ERR_CLOCK_NOT_SET before time sync. */
    sh_status_t (*epoch_ms)(void *ctx, uint64_t *now);
} sh_clock_t;

/** Cryptographically secure random bytes. */
typedef struct {
    void *ctx;
    sh_status_t (*fill)(void *ctx, void *buffer, size_t length);
} sh_random_t;

/** Cryptography. One SHA-256 computation runs at a time. */
typedef struct {
    void *ctx;
    /** Generates an EC P-256 key pair and writes the private key as a NUL-terminated PEM. */
    sh_status_t (*generate_key_pem)(void *ctx, char *key_pem, size_t capacity);
    /** Writes a PKCS#10 CSR in PEM, signed with key_pem, with subject CN=common_name. */
    sh_status_t (*create_csr_pem)(void *ctx, const char *key_pem, const char *common_name, char *csr_pem,
                                  size_t capacity);
    sh_status_t (*sha256_begin)(void *ctx);
    sh_status_t (*sha256_update)(void *ctx, const void *data, size_t length);
    sh_status_t (*sha256_finish)(void *ctx, uint8_t digest[32]);
    /**
     * Verifies a DER-encoded ECDSA P-256 signature over a SHA-256 digest with a PEM public key.
     * Returns SH_ERR_VERIFICATION when the signature does not match.
     */
    sh_status_t (*verify_signature)(void *ctx, const char *public_key_pem, const uint8_t digest[32],
                                    const uint8_t *signature_der, size_t signature_length);
} sh_crypto_t;

/** State of the running firmware image, as recorded by the bootloader. */
typedef enum {
    /** The image is confirmed, so the bootloader keeps booting it. */
    SH_IMAGE_VALID = 0,
    /** The image booted for the first time after an update and is not confirmed yet. */
    SH_IMAGE_PENDING_VERIFY,
} sh_image_state_t;

/** OTA slots: two application slots and the record of which one boots. */
typedef struct {
    void *ctx;
    /** Prepares the inactive slot for an image of image_size bytes. */
    sh_status_t (*begin)(void *ctx, const char *version, size_t image_size);
    sh_status_t (*write)(void *ctx, const void *data, size_t length);
    /** Discards a partly written image. */
    void (*abort)(void *ctx);
    /** Closes the written slot and selects it for the next boot. */
    sh_status_t (*finish_and_set_boot)(void *ctx);
    sh_status_t (*get_image_state)(void *ctx, sh_image_state_t *state);
    /** Confirms the running image, which cancels the rollback. */
    sh_status_t (*mark_valid)(void *ctx);
    /** Marks the running image invalid and restarts into the previous one. Returns only on failure. */
    sh_status_t (*rollback_and_restart)(void *ctx);
} sh_ota_port_t;

/** Receives one chunk of a download. A non-SH_OK return stops the download with that status. */
typedef sh_status_t (*sh_download_sink_t)(void *sink_ctx, const void *data, size_t length);

/** HTTP(S) client. download() blocks until the body was streamed to the sink or failed. */
typedef struct {
    void *ctx;
    sh_status_t (*download)(void *ctx, const char *url, sh_download_sink_t sink, void *sink_ctx);
} sh_http_t;

/** Relay outputs, addressed by their index in the device configuration. */
typedef struct {
    void *ctx;
    sh_status_t (*set)(void *ctx, size_t index, bool on);
} sh_relay_port_t;

/** Sensor readings, addressed by their index in the device configuration. */
typedef struct {
    void *ctx;
    /** Returns SH_ERR_UNAVAILABLE when the sensor has no value; the core then publishes null. */
    sh_status_t (*read)(void *ctx, size_t index, double *value);
} sh_sensor_port_t;

/** System control. */
typedef struct {
    void *ctx;
    /** Restarts the device. Returns only when the port cannot restart. */
    void (*restart)(void *ctx);
    /** Checks the hardware after an update, before the new image is confirmed. */
    sh_status_t (*self_test)(void *ctx);
} sh_system_t;

/** All ports of one device. */
typedef struct {
    sh_transport_t transport;
    sh_storage_t storage;
    sh_clock_t clock;
    sh_random_t random;
    sh_crypto_t crypto;
    sh_ota_port_t ota;
    sh_http_t http;
    sh_relay_port_t relays;
    sh_sensor_port_t sensors;
    sh_system_t system;
} sh_ports_t;

#ifdef __cplusplus
}
#endif

#endif /* SH_PORTS_H */
