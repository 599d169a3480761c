/*
 * Reference firmware: Wi-Fi onboarding, SNTP, then the smart-home core on the main task with
 * the ESP32 port. Settings come from menuconfig ("Smart home device").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif_sntp.h"
#include "nvs.h"
#include "nvs_flash.h"
#include "sdkconfig.h"
#include "sh_crypto_mbedtls.h"
#include "sh_esp32.h"
#include "smarthome/sh_device.h"

static const char *TAG = "app";

extern const char root_ca_pem_start[] asm("_binary_root_ca_pem_start");
extern const char claim_cert_pem_start[] asm("_binary_claim_cert_pem_start");
extern const char claim_key_pem_start[] asm("_binary_claim_key_pem_start");
extern const char ota_public_key_pem_start[] asm("_binary_ota_public_key_pem_start");

static const sh_relay_descriptor_t RELAYS[] = {
    {.id = "relay1", .name = "Relay 1", .max_current_a = 10},
    {.id = "relay2", .name = "Relay 2", .max_current_a = 10},
};

static void init_nvs(void)
{
    esp_err_t error = nvs_flash_init();
    if (error == ESP_ERR_NVS_NO_FREE_PAGES || error == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        /* Only after a partition layout change; the device identity is lost and provisioning reruns. */
        ESP_LOGW(TAG, "NVS partition is unusable (%s), erasing it", esp_err_to_name(error));
        ESP_ERROR_CHECK(nvs_flash_erase());
        error = nvs_flash_init();
    }
    ESP_ERROR_CHECK(error);
}

static bool read_serial(char *serial, size_t capacity)
{
#if CONFIG_SH_SERIAL_FROM_NVS
    nvs_handle_t handle;
    size_t length = capacity;
    bool found = nvs_open("factory", NVS_READONLY, &handle) == ESP_OK &&
                 nvs_get_str(handle, "serial", serial, &length) == ESP_OK;
    if (found) {
        nvs_close(handle);
    }
    return found;
#else
    uint8_t mac[6];
    if (esp_efuse_mac_get_default(mac) != ESP_OK) {
        return false;
    }
    snprintf(serial, capacity, "%s%02X%02X%02X%02X%02X%02X", CONFIG_SH_SERIAL_PREFIX, mac[0], mac[1], mac[2], mac[3],
             mac[4], mac[5]);
    return true;
#endif
}

static bool check_credentials(void)
{
    const struct {
        const char *pem;
        const char *file;
    } files[] = {
        {root_ca_pem_start, "root-ca.pem"},
        {claim_cert_pem_start, "claim-cert.pem"},
        {claim_key_pem_start, "claim-key.pem"},
    };
    bool complete = true;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (files[i].pem[0] == '\0') {
            ESP_LOGE(TAG, "main/certs/%s was missing at build time; rebuild with it (see firmware/README.md)",
                     files[i].file);
            complete = false;
        }
    }
    if (CONFIG_SH_IOT_ENDPOINT[0] == '\0') {
        ESP_LOGE(TAG, "CONFIG_SH_IOT_ENDPOINT is empty; set it with idf.py menuconfig");
        complete = false;
    }
    return complete;
}

void app_main(void)
{
    init_nvs();
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    ESP_ERROR_CHECK(sh_esp32_events_init() == SH_OK ? ESP_OK : ESP_ERR_NO_MEM);

    static char serial[SH_SERIAL_MAX_LENGTH + 1];
    if (!read_serial(serial, sizeof(serial)) || !check_credentials()) {
        ESP_LOGE(TAG, "cannot start: serial or credentials missing");
        return;
    }

    char service_name[32];
    snprintf(service_name, sizeof(service_name), "SH_%s", serial + (strlen(serial) > 6 ? strlen(serial) - 6 : 0));
    ESP_ERROR_CHECK(sh_esp32_button_start(CONFIG_SH_RESET_BUTTON_GPIO, CONFIG_SH_RESET_BUTTON_HOLD_MS) == SH_OK
                        ? ESP_OK
                        : ESP_FAIL);
    sh_esp32_wifi_connect(service_name, CONFIG_SH_ONBOARDING_POP);

    /* Commands carry expiresAt, so the wall clock must be right before the device goes online. */
    esp_sntp_config_t sntp = ESP_NETIF_SNTP_DEFAULT_CONFIG("pool.ntp.org");
    esp_netif_sntp_init(&sntp);
    if (esp_netif_sntp_sync_wait(pdMS_TO_TICKS(15000)) != ESP_OK) {
        ESP_LOGW(TAG, "SNTP did not answer within 15 s; commands are rejected until the clock is set");
    }

    static sh_ports_t ports;
    static sh_mbedtls_t crypto;
    ESP_ERROR_CHECK(sh_mbedtls_init(&crypto) == SH_OK ? ESP_OK : ESP_FAIL);
    sh_mbedtls_bind(&crypto, &ports.crypto, &ports.random);
    ESP_ERROR_CHECK(sh_esp32_storage_init(&ports.storage) == SH_OK ? ESP_OK : ESP_FAIL);
    ESP_ERROR_CHECK(sh_esp32_mqtt_init(CONFIG_SH_IOT_ENDPOINT, CONFIG_SH_IOT_PORT, root_ca_pem_start, &ports.transport) ==
                            SH_OK
                        ? ESP_OK
                        : ESP_FAIL);
    sh_esp32_clock_bind(&ports.clock);
    sh_esp32_ota_bind(&ports.ota);
    sh_esp32_http_bind(&ports.http);
    sh_esp32_system_bind(&ports.system);
    int gpios[] = {
#if CONFIG_SH_RELAY_COUNT >= 1
        CONFIG_SH_RELAY1_GPIO,
#endif
#if CONFIG_SH_RELAY_COUNT >= 2
        CONFIG_SH_RELAY2_GPIO,
#endif
    };
    ESP_ERROR_CHECK(sh_esp32_relays_init(gpios, CONFIG_SH_RELAY_COUNT, &ports.relays) == SH_OK ? ESP_OK : ESP_FAIL);
    const sh_sensor_descriptor_t *sensors = NULL;
    size_t sensor_count = sh_esp32_sensors_init(&ports.sensors, &sensors);

    sh_device_config_t config = {
        .serial = serial,
        .model = CONFIG_SH_MODEL,
        .firmware_version = sh_esp32_running_version(),
        .thing_name_prefix = CONFIG_SH_THING_NAME_PREFIX,
        .template_name = CONFIG_SH_PROVISIONING_TEMPLATE,
#if CONFIG_SH_PROVISIONING_KEYS_AND_CERTIFICATE
        .provisioning_method = SH_PROVISIONING_METHOD_KEYS_AND_CERTIFICATE,
#else
        .provisioning_method = SH_PROVISIONING_METHOD_CSR,
#endif
        .claim_certificate_pem = claim_cert_pem_start,
        .claim_private_key_pem = claim_key_pem_start,
        .ota_public_key_pem = ota_public_key_pem_start[0] != '\0' ? ota_public_key_pem_start : NULL,
        .relays = RELAYS,
        .relay_count = CONFIG_SH_RELAY_COUNT,
        .sensors = sensors,
        .sensor_count = sensor_count,
        .telemetry_period_ms = CONFIG_SH_TELEMETRY_PERIOD_MS,
    };
    sh_device_t *device = calloc(1, sizeof(*device));
    if (device == NULL || sh_device_init(device, &config, &ports) != SH_OK || sh_device_start(device) != SH_OK) {
        ESP_LOGE(TAG, "device start failed; check the serial and menuconfig settings");
        return;
    }
    for (;;) {
        sh_esp32_events_dispatch(device, 50);
        sh_device_tick(device);
    }
}
