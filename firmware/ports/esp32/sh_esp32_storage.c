#include "nvs.h"
#include "sh_esp32.h"

#define NAMESPACE "smarthome"

static nvs_handle_t handle;

static sh_status_t map_error(esp_err_t error)
{
    switch (error) {
    case ESP_OK: return SH_OK;
    case ESP_ERR_NVS_NOT_FOUND: return SH_ERR_NOT_FOUND;
    case ESP_ERR_NVS_INVALID_LENGTH: return SH_ERR_BUFFER_TOO_SMALL;
    case ESP_ERR_NVS_INVALID_NAME:
    case ESP_ERR_NVS_KEY_TOO_LONG: return SH_ERR_INVALID_ARG;
    default: return SH_ERR_STORAGE;
    }
}

static sh_status_t storage_read(void *ctx, const char *key, void *buffer, size_t capacity, size_t *length)
{
    (void)ctx;
    size_t size = capacity;
    sh_status_t status = map_error(nvs_get_blob(handle, key, buffer, &size));
    if (status == SH_OK) {
        *length = size;
    }
    return status;
}

/* nvs_set_blob followed by nvs_commit replaces the value atomically: NVS keeps the old entry
 * until the new one is written completely. */
static sh_status_t storage_write(void *ctx, const char *key, const void *data, size_t length)
{
    (void)ctx;
    esp_err_t error = nvs_set_blob(handle, key, data, length);
    if (error == ESP_OK) {
        error = nvs_commit(handle);
    }
    return map_error(error);
}

static sh_status_t storage_erase(void *ctx, const char *key)
{
    (void)ctx;
    esp_err_t error = nvs_erase_key(handle, key);
    if (error == ESP_ERR_NVS_NOT_FOUND) {
        return SH_OK;
    }
    if (error == ESP_OK) {
        error = nvs_commit(handle);
    }
    return map_error(error);
}

sh_status_t sh_esp32_storage_init(sh_storage_t *storage)
{
    sh_status_t status = map_error(nvs_open(NAMESPACE, NVS_READWRITE, &handle));
    if (status == SH_OK) {
        *storage = (sh_storage_t){.ctx = NULL, .read = storage_read, .write = storage_write, .erase = storage_erase};
    }
    return status;
}
