/*
 * Downloads OTA images with esp_http_client rather than esp_https_ota, because the core must
 * hash and verify the signature of the stream before the slot is selected.
 */
#include <stdlib.h>

#include "esp_crt_bundle.h"
#include "esp_http_client.h"
#include "esp_log.h"
#include "sh_esp32.h"

static const char *TAG = "http";

#define CHUNK_SIZE 4096

static sh_status_t download(void *ctx, const char *url, sh_download_sink_t sink, void *sink_ctx)
{
    (void)ctx;
    esp_http_client_config_t config = {
        .url = url,
        .crt_bundle_attach = esp_crt_bundle_attach,
        .timeout_ms = 30000,
        .buffer_size = CHUNK_SIZE,
        .keep_alive_enable = false,
    };
    esp_http_client_handle_t client = esp_http_client_init(&config);
    char *chunk = malloc(CHUNK_SIZE);
    if (client == NULL || chunk == NULL) {
        free(chunk);
        if (client != NULL) {
            esp_http_client_cleanup(client);
        }
        return SH_ERR_NO_MEMORY;
    }

    sh_status_t status = SH_ERR_OTA;
    esp_err_t error = esp_http_client_open(client, 0);
    if (error == ESP_OK && esp_http_client_fetch_headers(client) >= 0) {
        int code = esp_http_client_get_status_code(client);
        if (code != 200) {
            /* The URL is not logged because a pre-signed URL carries credentials. */
            ESP_LOGE(TAG, "download failed with HTTP status %d", code);
        } else {
            status = SH_OK;
            int read;
            while (status == SH_OK && (read = esp_http_client_read(client, chunk, CHUNK_SIZE)) > 0) {
                status = sink(sink_ctx, chunk, (size_t)read);
            }
            if (status == SH_OK && !esp_http_client_is_complete_data_received(client)) {
                ESP_LOGE(TAG, "download ended before the end of the body");
                status = SH_ERR_OTA;
            }
        }
    } else {
        ESP_LOGE(TAG, "download failed: %s", esp_err_to_name(error));
    }
    free(chunk);
    esp_http_client_close(client);
    esp_http_client_cleanup(client);
    return status;
}

void sh_esp32_http_bind(sh_http_t *http)
{
    *http = (sh_http_t){.ctx = NULL, .download = download};
}
