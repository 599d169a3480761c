#include "esp_app_desc.h"
#include "esp_log.h"
#include "esp_ota_ops.h"
#include "esp_system.h"
#include "sh_esp32.h"

static const char *TAG = "ota";

static esp_ota_handle_t update_handle;
static const esp_partition_t *update_partition;

static sh_status_t ota_begin(void *ctx, const char *version, size_t image_size)
{
    (void)ctx;
    update_partition = esp_ota_get_next_update_partition(NULL);
    if (update_partition == NULL) {
        ESP_LOGE(TAG, "no OTA slot to write; check partitions.csv");
        return SH_ERR_OTA;
    }
    if (image_size > update_partition->size) {
        ESP_LOGE(TAG, "image of %u bytes does not fit the %u-byte slot", (unsigned)image_size,
                 (unsigned)update_partition->size);
        return SH_ERR_OTA;
    }
    ESP_LOGI(TAG, "writing version %s to %s", version, update_partition->label);
    return esp_ota_begin(update_partition, image_size, &update_handle) == ESP_OK ? SH_OK : SH_ERR_OTA;
}

static sh_status_t ota_write(void *ctx, const void *data, size_t length)
{
    (void)ctx;
    return esp_ota_write(update_handle, data, length) == ESP_OK ? SH_OK : SH_ERR_OTA;
}

static void ota_abort(void *ctx)
{
    (void)ctx;
    if (update_handle != 0) {
        esp_ota_abort(update_handle);
        update_handle = 0;
    }
}

static sh_status_t ota_finish_and_set_boot(void *ctx)
{
    (void)ctx;
    /* esp_ota_end also validates the image header and its appended SHA-256. */
    esp_err_t error = esp_ota_end(update_handle);
    update_handle = 0;
    if (error == ESP_OK) {
        error = esp_ota_set_boot_partition(update_partition);
    }
    if (error != ESP_OK) {
        ESP_LOGE(TAG, "failed to select the new image: %s", esp_err_to_name(error));
        return SH_ERR_OTA;
    }
    return SH_OK;
}

static sh_status_t ota_get_image_state(void *ctx, sh_image_state_t *state)
{
    (void)ctx;
    esp_ota_img_states_t image_state;
    if (esp_ota_get_state_partition(esp_ota_get_running_partition(), &image_state) != ESP_OK) {
        /* A factory image or a build without rollback has no state: it counts as confirmed. */
        *state = SH_IMAGE_VALID;
        return SH_OK;
    }
    *state = image_state == ESP_OTA_IMG_PENDING_VERIFY ? SH_IMAGE_PENDING_VERIFY : SH_IMAGE_VALID;
    return SH_OK;
}

static sh_status_t ota_mark_valid(void *ctx)
{
    (void)ctx;
    return esp_ota_mark_app_valid_cancel_rollback() == ESP_OK ? SH_OK : SH_ERR_OTA;
}

static sh_status_t ota_rollback_and_restart(void *ctx)
{
    (void)ctx;
    esp_err_t error = esp_ota_mark_app_invalid_rollback_and_reboot();
    ESP_LOGE(TAG, "rollback failed: %s", esp_err_to_name(error));
    return SH_ERR_OTA;
}

void sh_esp32_ota_bind(sh_ota_port_t *ota)
{
    *ota = (sh_ota_port_t){
        .ctx = NULL,
        .begin = ota_begin,
        .write = ota_write,
        .abort = ota_abort,
        .finish_and_set_boot = ota_finish_and_set_boot,
        .get_image_state = ota_get_image_state,
        .mark_valid = ota_mark_valid,
        .rollback_and_restart = ota_rollback_and_restart,
    };
}

const char *sh_esp32_running_version(void)
{
    return esp_app_get_description()->version;
}
