/*
 * Firmware updates through AWS IoT Jobs. The device asks for the next pending job after every
 * connect (start-next, which also returns a job that was queued while it was offline) and
 * listens on notify-next. It downloads the image through the HTTP port into the inactive slot,
 * checks its size, SHA-256 digest and ECDSA P-256 signature, and only then selects the slot and
 * restarts. The new image is confirmed only after its self-test passes once it is connected;
 * otherwise it rolls back and the previous image reports the job FAILED.
 */
#ifndef SH_OTA_H
#define SH_OTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smarthome/sh_config.h"
#include "smarthome/sh_messages.h"
#include "smarthome/sh_ports.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SH_OTA_TOPIC_COUNT 4

/** OTA state. Large: allocate it statically or on the heap. */
typedef struct {
    const sh_ports_t *ports;
    const char *running_version;
    /** PEM public key that signs images, or NULL to reject every update. */
    const char *public_key_pem;
    char thing_name[SH_THING_NAME_MAX_LENGTH + 1];

    sh_image_state_t image_state;
    uint64_t boot_monotonic_ms;
    bool self_test_passed;
    bool has_record;
    char record_job_id[SH_JOB_ID_MAX_LENGTH + 1];
    char record_version[SH_VERSION_MAX_LENGTH + 1];
    /** Last job this boot reported as FAILED, so a redelivery is not attempted again. */
    char failed_job_id[SH_JOB_ID_MAX_LENGTH + 1];

    char topic_notify_next[SH_TOPIC_MAX_LENGTH];
    char topic_start_next[SH_TOPIC_MAX_LENGTH];
    char topic_start_next_accepted[SH_TOPIC_MAX_LENGTH];
    char topic_start_next_rejected[SH_TOPIC_MAX_LENGTH];
    char topic_update_rejected[SH_TOPIC_MAX_LENGTH];

    sh_job_execution_t execution;
    /** Download progress, used by the sink. */
    size_t received;
    size_t expected_size;
    sh_status_t sink_status;
    char payload[512];
} sh_ota_t;

/** Initializes OTA and reads the image state and any update record left before a restart. */
sh_status_t sh_ota_init(sh_ota_t *ota, const sh_ports_t *ports, const char *running_version,
                        const char *public_key_pem);

/** Sets the thing name and builds the Jobs topics. */
sh_status_t sh_ota_set_thing_name(sh_ota_t *ota, const char *thing_name);

/** Topics to subscribe to after connecting with the device identity. */
size_t sh_ota_get_topics(const sh_ota_t *ota, const char *topics[SH_OTA_TOPIC_COUNT]);

/**
 * Runs after the identity connection is up and subscribed: confirms a new image after its
 * self-test (or rolls it back), reports the result of an update started before the restart,
 * then asks for the next pending job.
 */
void sh_ota_on_online(sh_ota_t *ota);

/** Handles a Jobs message; returns false when the topic is not an OTA topic. */
bool sh_ota_on_message(sh_ota_t *ota, const char *topic, const char *payload, size_t length);

/** Rolls back a new image that has not passed its self-test within SH_OTA_SELF_TEST_TIMEOUT_MS. */
void sh_ota_tick(sh_ota_t *ota);

/** Returns the running image state read at init. */
sh_image_state_t sh_ota_image_state(const sh_ota_t *ota);

#ifdef __cplusplus
}
#endif

#endif /* SH_OTA_H */
