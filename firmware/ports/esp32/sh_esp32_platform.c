/* Clock, logging, relay GPIOs, sensors and system control of the ESP32 port. */
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>

#include "driver/gpio.h"
#include "esp_log.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "sh_esp32.h"
#include "smarthome/sh_log.h"
#include "soc/soc_caps.h"
#if SOC_TEMP_SENSOR_SUPPORTED
#include "driver/temperature_sensor.h"
#endif

void sh_log_write(sh_log_level_t level, const char *tag, const char *format, ...)
{
    static const esp_log_level_t levels[] = {ESP_LOG_NONE, ESP_LOG_ERROR, ESP_LOG_WARN, ESP_LOG_INFO, ESP_LOG_DEBUG};
    esp_log_level_t esp_level = level <= SH_LOG_DEBUG ? levels[level] : ESP_LOG_INFO;
    char message[256];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof(message), format, arguments);
    va_end(arguments);
    ESP_LOG_LEVEL_LOCAL(esp_level, tag, "%s", message);
}

static uint64_t monotonic_ms(void *ctx)
{
    (void)ctx;
    return (uint64_t)esp_timer_get_time() / 1000u;
}

/* Before SNTP sets the clock, gettimeofday() counts from 1970 and the core treats it as unset. */
static sh_status_t epoch_ms(void *ctx, uint64_t *now)
{
    (void)ctx;
    struct timeval time;
    if (gettimeofday(&time, NULL) != 0 || time.tv_sec < 0) {
        return SH_ERR_CLOCK_NOT_SET;
    }
    *now = (uint64_t)time.tv_sec * 1000u + (uint64_t)time.tv_usec / 1000u;
    return SH_OK;
}

void sh_esp32_clock_bind(sh_clock_t *clock)
{
    *clock = (sh_clock_t){.ctx = NULL, .monotonic_ms = monotonic_ms, .epoch_ms = epoch_ms};
}

#define MAX_RELAYS 16
static int relay_gpios[MAX_RELAYS];
static size_t relay_count;

static sh_status_t relay_set(void *ctx, size_t index, bool on)
{
    (void)ctx;
    if (index >= relay_count) {
        return SH_ERR_INVALID_ARG;
    }
    return gpio_set_level(relay_gpios[index], on ? 1 : 0) == ESP_OK ? SH_OK : SH_ERR_INVALID_STATE;
}

sh_status_t sh_esp32_relays_init(const int *gpios, size_t count, sh_relay_port_t *relays)
{
    if (count > MAX_RELAYS) {
        return SH_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < count; i++) {
        relay_gpios[i] = gpios[i];
        if (gpio_reset_pin(gpios[i]) != ESP_OK || gpio_set_direction(gpios[i], GPIO_MODE_OUTPUT) != ESP_OK ||
            gpio_set_level(gpios[i], 0) != ESP_OK) {
            return SH_ERR_INVALID_ARG;
        }
    }
    relay_count = count;
    *relays = (sh_relay_port_t){.ctx = NULL, .set = relay_set};
    return SH_OK;
}

#if SOC_TEMP_SENSOR_SUPPORTED
static temperature_sensor_handle_t temperature_sensor;
static const sh_sensor_descriptor_t SENSORS[] = {
    {.id = "chip_temperature", .type = "temperature", .name = "Chip temperature", .unit = "°C", .has_range = true,
     .min = -10, .max = 80},
};
#endif

static sh_status_t sensor_read(void *ctx, size_t index, double *value)
{
    (void)ctx;
#if SOC_TEMP_SENSOR_SUPPORTED
    float celsius = 0;
    if (index == 0 && temperature_sensor != NULL && temperature_sensor_get_celsius(temperature_sensor, &celsius) == ESP_OK) {
        *value = celsius;
        return SH_OK;
    }
#else
    (void)index;
    (void)value;
#endif
    return SH_ERR_UNAVAILABLE;
}

size_t sh_esp32_sensors_init(sh_sensor_port_t *sensors, const sh_sensor_descriptor_t **descriptors)
{
    *sensors = (sh_sensor_port_t){.ctx = NULL, .read = sensor_read};
#if SOC_TEMP_SENSOR_SUPPORTED
    temperature_sensor_config_t config = TEMPERATURE_SENSOR_CONFIG_DEFAULT(-10, 80);
    if (temperature_sensor_install(&config, &temperature_sensor) == ESP_OK) {
        (void)temperature_sensor_enable(temperature_sensor);
    }
    *descriptors = SENSORS;
    return sizeof(SENSORS) / sizeof(SENSORS[0]);
#else
    *descriptors = NULL;
    return 0;
#endif
}

static void system_restart(void *ctx)
{
    (void)ctx;
    esp_restart();
}

/* The image has already connected to AWS IoT with its own certificate when this runs, which is
 * the main check. Hardware checks of a product go here. */
static sh_status_t system_self_test(void *ctx)
{
    (void)ctx;
    return esp_get_free_heap_size() > 16 * 1024 ? SH_OK : SH_ERR_NO_MEMORY;
}

void sh_esp32_system_bind(sh_system_t *system)
{
    *system = (sh_system_t){.ctx = NULL, .restart = system_restart, .self_test = system_self_test};
}
