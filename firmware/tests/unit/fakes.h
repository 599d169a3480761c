/*
 * Test doubles for the ports: in-memory storage with power-loss injection, a settable clock,
 * a recording MQTT transport, OTA slots in memory, an HTTP server of one buffer, and simulated
 * relays and sensors. Crypto and random use the real mbedTLS port.
 */
#ifndef SH_TEST_FAKES_H
#define SH_TEST_FAKES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "sh_crypto_mbedtls.h"
#include "smarthome/sh_ports.h"

/* Runs the group, or only the case named by the SH_TEST_FILTER environment variable. */
#define SH_RUN_TESTS(tests)                                   \
    do {                                                      \
        const char *filter = getenv("SH_TEST_FILTER");        \
        if (filter != NULL) {                                 \
            cmocka_set_test_filter(filter);                   \
        }                                                     \
        return cmocka_run_group_tests(tests, NULL, NULL);     \
    } while (0)

#define FAKE_STORAGE_KEYS 32
#define FAKE_STORAGE_VALUE_MAX 8192
#define FAKE_MESSAGES_MAX 64
#define FAKE_PAYLOAD_MAX 8192

typedef struct {
    char keys[FAKE_STORAGE_KEYS][16];
    unsigned char values[FAKE_STORAGE_KEYS][FAKE_STORAGE_VALUE_MAX];
    size_t lengths[FAKE_STORAGE_KEYS];
    bool used[FAKE_STORAGE_KEYS];
    /** Writes and erases left before power is lost; negative means never. */
    int operations_before_power_loss;
    bool power_lost;
    unsigned operation_count;
} fake_storage_t;

typedef struct {
    uint64_t monotonic_ms;
    uint64_t epoch_ms;
    bool epoch_set;
} fake_clock_t;

typedef struct {
    char topic[256];
    char payload[FAKE_PAYLOAD_MAX];
    size_t length;
    int qos;
} fake_message_t;

typedef struct {
    unsigned connect_count;
    unsigned disconnect_count;
    char client_id[160];
    char certificate_pem[4200];
    bool connected;
    bool fail_connect;
    bool fail_publish;
    bool fail_subscribe;
    int next_message_id;
    char subscriptions[32][256];
    int subscription_ids[32];
    size_t subscription_count;
    fake_message_t published[FAKE_MESSAGES_MAX];
    size_t published_count;
} fake_transport_t;

typedef struct {
    sh_image_state_t state;
    bool begun;
    bool finished;
    bool aborted;
    bool marked_valid;
    bool rolled_back;
    char version[70];
    unsigned char image[4096];
    size_t written;
} fake_ota_t;

typedef struct {
    const unsigned char *body;
    size_t length;
    size_t chunk;
    sh_status_t result;
} fake_http_t;

typedef struct {
    bool states[16];
    unsigned set_count;
    bool fail;
} fake_relays_t;

typedef struct {
    double values[32];
    bool available[32];
} fake_sensors_t;

typedef struct {
    unsigned restart_count;
    sh_status_t self_test_result;
} fake_system_t;

typedef struct {
    sh_ports_t ports;
    fake_storage_t storage;
    fake_clock_t clock;
    fake_transport_t transport;
    fake_ota_t ota;
    fake_http_t http;
    fake_relays_t relays;
    fake_sensors_t sensors;
    fake_system_t system;
    sh_mbedtls_t crypto;
} fake_platform_t;

/** Allocates a platform with every port bound; the clock starts set to 2026-12-05T00:00:00Z. */
fake_platform_t *fake_platform_create(void);
void fake_platform_destroy(fake_platform_t *platform);
/** Rebinds the ports after a simulated restart, keeping storage and OTA slots. */
void fake_platform_restart(fake_platform_t *platform);

void fake_storage_init(fake_storage_t *storage);
bool fake_storage_has(const fake_storage_t *storage, const char *key);

/** Returns the last message published on topic, or NULL. */
const fake_message_t *fake_transport_last(const fake_transport_t *transport, const char *topic);
/** Counts messages published on topic. */
size_t fake_transport_count(const fake_transport_t *transport, const char *topic);
void fake_transport_clear(fake_transport_t *transport);

/** Reads a file under the contract directory into a malloc'd NUL-terminated buffer. */
char *read_contract_file(const char *relative_path, size_t *length);

#define FAKE_EPOCH_START_MS 1796428800000ULL /* 2026-12-05T00:00:00Z */

#endif /* SH_TEST_FAKES_H */
