/*
 * ESP32 port (ESP-IDF v5.1 or later): esp-mqtt over TLS, NVS, esp_ota_ops with esp_http_client,
 * mbedTLS, GPIO relays, the chip's temperature sensor where the SoC has one, and Wi-Fi onboarding
 * with the network_provisioning component.
 *
 * NOTE: this port is not compiled by the repository's host tests; firmware/ci/esp-idf-build.yml
 * builds it in the espressif/idf container.
 */
#ifndef SH_ESP32_H
#define SH_ESP32_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smarthome/sh_device.h"
#include "smarthome/sh_ports.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Starts the event queue that carries esp-mqtt events, the claim token from onboarding and
 * button presses to the task that owns the device, since the core runs on one task.
 */
sh_status_t sh_esp32_events_init(void);

/** esp-mqtt transport; the endpoint and root CA must outlive the transport. */
sh_status_t sh_esp32_mqtt_init(const char *host, int port, const char *root_ca_pem, sh_transport_t *transport);

/**
 * Waits up to timeout_ms for one queued event and hands it to device. Call in a loop from the
 * task that owns the device, together with sh_device_tick().
 */
void sh_esp32_events_dispatch(sh_device_t *device, uint32_t timeout_ms);

/** Queues a claim token received during onboarding; the device task stores it. */
void sh_esp32_events_post_claim_token(const char *claim_token);

/** Queues "forget the owner and restart", sent by a long press of the button. */
void sh_esp32_events_post_factory_reset(void);

/** NVS storage in namespace "smarthome"; nvs_flash_init() must have run. */
sh_status_t sh_esp32_storage_init(sh_storage_t *storage);

void sh_esp32_clock_bind(sh_clock_t *clock);
void sh_esp32_ota_bind(sh_ota_port_t *ota);
void sh_esp32_http_bind(sh_http_t *http);
void sh_esp32_system_bind(sh_system_t *system);

/** Configures relay outputs on the given GPIOs, initially off. */
sh_status_t sh_esp32_relays_init(const int *gpios, size_t count, sh_relay_port_t *relays);

/** Binds the sensors: the on-chip temperature sensor on SoCs that have one. Returns their count. */
size_t sh_esp32_sensors_init(sh_sensor_port_t *sensors, const sh_sensor_descriptor_t **descriptors);

/** Version string of the running image (esp_app_desc_t.version). */
const char *sh_esp32_running_version(void);

/**
 * Connects to Wi-Fi: with stored credentials, or after onboarding over BLE or SoftAP with
 * proof of possession pop. Blocks until the station has an IP address.
 */
sh_status_t sh_esp32_wifi_connect(const char *service_name, const char *pop);

/** Watches the button; holding it for hold_ms clears Wi-Fi and posts a factory reset. */
sh_status_t sh_esp32_button_start(int gpio, uint32_t hold_ms);

#ifdef __cplusplus
}
#endif

#endif /* SH_ESP32_H */
