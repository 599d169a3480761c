#include <curl/curl.h>

#include "sh_posix.h"
#include "smarthome/sh_log.h"

static const char *TAG = "http";

typedef struct {
    sh_download_sink_t sink;
    void *sink_ctx;
    sh_status_t status;
} transfer_t;

static size_t on_data(char *data, size_t size, size_t count, void *user)
{
    transfer_t *transfer = user;
    size_t length = size * count;
    transfer->status = transfer->sink(transfer->sink_ctx, data, length);
    /* Returning a different count makes libcurl stop with CURLE_WRITE_ERROR. */
    return transfer->status == SH_OK ? length : 0;
}

static sh_status_t download(void *ctx, const char *url, sh_download_sink_t sink, void *sink_ctx)
{
    (void)ctx;
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        return SH_ERR_NO_MEMORY;
    }
    transfer_t transfer = {.sink = sink, .sink_ctx = sink_ctx, .status = SH_OK};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    /* Abort when less than 1 byte per second arrives for 60 s. */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
    CURLcode result = curl_easy_perform(curl);
    curl_easy_cleanup(curl);

    if (transfer.status != SH_OK) {
        return transfer.status;
    }
    if (result != CURLE_OK) {
        /* The URL is not logged because a pre-signed URL carries credentials. */
        SH_LOGE(TAG, "download failed: %s", curl_easy_strerror(result));
        return SH_ERR_OTA;
    }
    return SH_OK;
}

void sh_posix_http_bind(sh_http_t *port)
{
    port->ctx = NULL;
    port->download = download;
}
