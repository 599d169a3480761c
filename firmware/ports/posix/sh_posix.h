/*
 * POSIX port: file-backed storage and OTA slots in a directory, libmosquitto over TLS, libcurl
 * downloads, and stdout logging. Used by the virtual-esp32 binary and by the host tests.
 */
#ifndef SH_POSIX_H
#define SH_POSIX_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "smarthome/sh_device.h"
#include "smarthome/sh_log.h"
#include "smarthome/sh_ports.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/** Sets the lowest level printed by sh_log_write(); SH_LOG_INFO by default. */
void sh_posix_log_set_level(sh_log_level_t level);

/** Storage with one file per key under directory/nvs, replaced atomically with rename(2). */
typedef struct {
    char directory[PATH_MAX];
} sh_posix_storage_t;

sh_status_t sh_posix_storage_init(sh_posix_storage_t *storage, const char *directory);
void sh_posix_storage_bind(sh_posix_storage_t *storage, sh_storage_t *port);

void sh_posix_clock_bind(sh_clock_t *port);

/**
 * Two OTA slots (slot0.bin, slot1.bin) and otadata.json under directory/ota. boot() plays the
 * bootloader: a new image boots once in PENDING_VERIFY state, and if it restarts without being
 * confirmed the previous slot boots again, as with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE.
 */
typedef struct {
    char directory[PATH_MAX];
    int running_slot;
    int target_slot;
    char target_version[SH_VERSION_MAX_LENGTH + 1];
    char running_version[SH_VERSION_MAX_LENGTH + 1];
    void *image_file;
    sh_system_t *system;
} sh_posix_ota_t;

/**
 * Runs the emulated bootloader. flashed_version is the version of the image on slot 0; a change
 * of it resets the slots, like flashing over the serial port.
 */
sh_status_t sh_posix_ota_boot(sh_posix_ota_t *ota, const char *directory, const char *flashed_version);
/** Version of the image that runs after boot(). */
const char *sh_posix_ota_running_version(const sh_posix_ota_t *ota);
/** Binds the port; rollback_and_restart() restarts through system. */
void sh_posix_ota_bind(sh_posix_ota_t *ota, sh_system_t *system, sh_ota_port_t *port);

/** HTTP, HTTPS and file URLs through libcurl. */
void sh_posix_http_bind(sh_http_t *port);

/** MQTT over TLS with client certificates through libmosquitto. */
typedef struct {
    struct mosquitto *client;
    char host[256];
    int port;
    char ca_file[PATH_MAX];
    /** Directory where the PEMs of the current identity are written for libmosquitto (mode 0600). */
    char credentials_directory[PATH_MAX];
    sh_device_t *device;
    bool connected;
    bool down_reported;
    /** Set while mosquitto_loop() runs, when the client must not be destroyed. */
    bool in_loop;
    bool destroy_pending;
} sh_posix_mqtt_t;

sh_status_t sh_posix_mqtt_init(sh_posix_mqtt_t *mqtt, const char *host, int port, const char *ca_file,
                               const char *credentials_directory);
void sh_posix_mqtt_bind(sh_posix_mqtt_t *mqtt, sh_transport_t *port);
/** Forwards transport events to device. */
void sh_posix_mqtt_set_device(sh_posix_mqtt_t *mqtt, sh_device_t *device);
/** Runs the network loop for up to timeout_ms and forwards events. */
void sh_posix_mqtt_poll(sh_posix_mqtt_t *mqtt, int timeout_ms);
void sh_posix_mqtt_free(sh_posix_mqtt_t *mqtt);

#ifdef __cplusplus
}
#endif

#endif /* SH_POSIX_H */
