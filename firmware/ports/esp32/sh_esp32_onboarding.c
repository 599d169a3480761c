/*
 * Wi-Fi onboarding with the network_provisioning component (BLE, or SoftAP per Kconfig), plus a
 * custom endpoint "claim-token" through which the owner's app hands over its auto-discovery
 * claim token, and the long-press button that clears Wi-Fi and owner.
 */
#include <string.h>

#include "driver/gpio.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/task.h"
#include "network_provisioning/manager.h"
#include "sdkconfig.h"
#include "sh_esp32.h"
#include "smarthome/sh_messages.h"
#if CONFIG_SH_ONBOARDING_BLE
#include "network_provisioning/scheme_ble.h"
#else
#include "network_provisioning/scheme_softap.h"
#endif

static const char *TAG = "onboarding";

#define CONNECTED_BIT BIT0
#define CLAIM_ENDPOINT "claim-token"

static EventGroupHandle_t wifi_events;

static void on_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    (void)data;
    if (base == WIFI_EVENT && id == WIFI_EVENT_STA_START) {
        esp_wifi_connect();
    } else if (base == WIFI_EVENT && id == WIFI_EVENT_STA_DISCONNECTED) {
        xEventGroupClearBits(wifi_events, CONNECTED_BIT);
        ESP_LOGW(TAG, "Wi-Fi disconnected, reconnecting");
        esp_wifi_connect();
    } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
        xEventGroupSetBits(wifi_events, CONNECTED_BIT);
    } else if (base == NETWORK_PROV_EVENT && id == NETWORK_PROV_END) {
        network_prov_mgr_deinit();
    }
}

/* Receives the claim token as plain text and replies "OK" or "INVALID". */
static esp_err_t claim_token_handler(uint32_t session_id, const uint8_t *input, ssize_t input_length,
                                     uint8_t **output, ssize_t *output_length, void *context)
{
    (void)session_id;
    (void)context;
    char token[SH_CLAIM_TOKEN_MAX_LENGTH + 1];
    bool valid = input != NULL && input_length > 0 && (size_t)input_length <= SH_CLAIM_TOKEN_MAX_LENGTH;
    if (valid) {
        memcpy(token, input, (size_t)input_length);
        token[input_length] = '\0';
        valid = sh_is_valid_claim_token(token);
    }
    if (valid) {
        sh_esp32_events_post_claim_token(token);
    }
    const char *answer = valid ? "OK" : "INVALID";
    *output = (uint8_t *)strdup(answer);
    if (*output == NULL) {
        return ESP_ERR_NO_MEM;
    }
    *output_length = (ssize_t)strlen(answer) + 1;
    return ESP_OK;
}

static sh_status_t connect_station(void)
{
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_start());
    xEventGroupWaitBits(wifi_events, CONNECTED_BIT, pdFALSE, pdTRUE, portMAX_DELAY);
    ESP_LOGI(TAG, "Wi-Fi connected");
    return SH_OK;
}

sh_status_t sh_esp32_wifi_connect(const char *service_name, const char *pop)
{
    wifi_events = xEventGroupCreate();
    ESP_ERROR_CHECK(esp_netif_init());
    esp_netif_create_default_wifi_sta();
#if !CONFIG_SH_ONBOARDING_BLE
    esp_netif_create_default_wifi_ap();
#endif
    wifi_init_config_t wifi_config = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&wifi_config));
    ESP_ERROR_CHECK(esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_event, NULL));
    ESP_ERROR_CHECK(esp_event_handler_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_event, NULL));
    ESP_ERROR_CHECK(esp_event_handler_register(NETWORK_PROV_EVENT, ESP_EVENT_ANY_ID, on_event, NULL));

#if CONFIG_SH_DEV_WIFI_CREDENTIALS
    /* Development builds only: fixed credentials from menuconfig, no onboarding. */
    wifi_config_t station = {0};
    strncpy((char *)station.sta.ssid, CONFIG_SH_DEV_WIFI_SSID, sizeof(station.sta.ssid) - 1);
    strncpy((char *)station.sta.password, CONFIG_SH_DEV_WIFI_PASSWORD, sizeof(station.sta.password) - 1);
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_set_config(WIFI_IF_STA, &station));
    (void)service_name;
    (void)pop;
    return connect_station();
#else
    network_prov_mgr_config_t config = {
#if CONFIG_SH_ONBOARDING_BLE
        .scheme = network_prov_scheme_ble,
        .scheme_event_handler = NETWORK_PROV_SCHEME_BLE_EVENT_HANDLER_FREE_BTDM,
#else
        .scheme = network_prov_scheme_softap,
        .scheme_event_handler = NETWORK_PROV_EVENT_HANDLER_NONE,
#endif
    };
    ESP_ERROR_CHECK(network_prov_mgr_init(config));
    bool provisioned = false;
    ESP_ERROR_CHECK(network_prov_mgr_is_wifi_provisioned(&provisioned));
    if (provisioned) {
        network_prov_mgr_deinit();
        return connect_station();
    }

    ESP_LOGI(TAG, "starting Wi-Fi onboarding service=%s", service_name);
    ESP_ERROR_CHECK(network_prov_mgr_endpoint_create(CLAIM_ENDPOINT));
    ESP_ERROR_CHECK(network_prov_mgr_start_provisioning(NETWORK_PROV_SECURITY_1, pop, service_name, NULL));
    ESP_ERROR_CHECK(network_prov_mgr_endpoint_register(CLAIM_ENDPOINT, claim_token_handler, NULL));
    xEventGroupWaitBits(wifi_events, CONNECTED_BIT, pdFALSE, pdTRUE, portMAX_DELAY);
    ESP_LOGI(TAG, "Wi-Fi connected after onboarding");
    return SH_OK;
#endif
}

typedef struct {
    int gpio;
    uint32_t hold_ms;
} button_t;

static button_t button;

static void watch_button(void *arg)
{
    const button_t *config = arg;
    uint32_t held_ms = 0;
    for (;;) {
        vTaskDelay(pdMS_TO_TICKS(50));
        /* The boot button pulls the pin low while pressed. */
        held_ms = gpio_get_level(config->gpio) == 0 ? held_ms + 50 : 0;
        if (held_ms >= config->hold_ms) {
            ESP_LOGW(TAG, "button held for %u ms: clearing Wi-Fi and owner", (unsigned)held_ms);
            /* Clears the Wi-Fi configuration; the device identity in namespace "smarthome" stays. */
            esp_wifi_restore();
            sh_esp32_events_post_factory_reset();
            vTaskDelete(NULL);
        }
    }
}

sh_status_t sh_esp32_button_start(int gpio, uint32_t hold_ms)
{
    button = (button_t){.gpio = gpio, .hold_ms = hold_ms};
    gpio_config_t config = {
        .pin_bit_mask = 1ULL << gpio,
        .mode = GPIO_MODE_INPUT,
        .pull_up_en = GPIO_PULLUP_ENABLE,
    };
    if (gpio_config(&config) != ESP_OK) {
        return SH_ERR_INVALID_ARG;
    }
    return xTaskCreate(watch_button, "sh_button", 3072, &button, 5, NULL) == pdPASS ? SH_OK : SH_ERR_NO_MEMORY;
}
