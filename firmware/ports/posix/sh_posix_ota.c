#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cJSON.h"
#include "sh_posix.h"
#include "smarthome/sh_log.h"
#include "smarthome/sh_messages.h"

static const char *TAG = "ota";

/* Slot states, named after esp_ota_img_states_t. */
#define STATE_NEW "new"
#define STATE_PENDING_VERIFY "pending_verify"
#define STATE_VALID "valid"
#define STATE_INVALID "invalid"
#define STATE_ABORTED "aborted"

typedef struct {
    char flashed_version[SH_VERSION_MAX_LENGTH + 1];
    int boot_slot;
    char versions[2][SH_VERSION_MAX_LENGTH + 1];
    char states[2][16];
} otadata_t;

static void otadata_path(const sh_posix_ota_t *ota, char *path, size_t capacity)
{
    snprintf(path, capacity, "%s/otadata.json", ota->directory);
}

static bool read_otadata(const sh_posix_ota_t *ota, otadata_t *data)
{
    char path[PATH_MAX];
    otadata_path(ota, path, sizeof(path));
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return false;
    }
    char text[1024];
    size_t length = fread(text, 1, sizeof(text) - 1, file);
    fclose(file);
    text[length] = '\0';

    cJSON *root = cJSON_Parse(text);
    const cJSON *slots = cJSON_GetObjectItemCaseSensitive(root, "slots");
    const cJSON *boot = cJSON_GetObjectItemCaseSensitive(root, "boot");
    const cJSON *flashed = cJSON_GetObjectItemCaseSensitive(root, "flashedVersion");
    bool valid = cJSON_IsArray(slots) && cJSON_GetArraySize(slots) == 2 && cJSON_IsNumber(boot) &&
                 (boot->valueint == 0 || boot->valueint == 1) && cJSON_IsString(flashed);
    memset(data, 0, sizeof(*data));
    if (valid) {
        data->boot_slot = boot->valueint;
        strncpy(data->flashed_version, flashed->valuestring, SH_VERSION_MAX_LENGTH);
        for (int i = 0; i < 2; i++) {
            const cJSON *slot = cJSON_GetArrayItem(slots, i);
            const cJSON *version = cJSON_GetObjectItemCaseSensitive(slot, "version");
            const cJSON *state = cJSON_GetObjectItemCaseSensitive(slot, "state");
            if (cJSON_IsString(version) && cJSON_IsString(state)) {
                strncpy(data->versions[i], version->valuestring, SH_VERSION_MAX_LENGTH);
                strncpy(data->states[i], state->valuestring, sizeof(data->states[i]) - 1);
            }
        }
    }
    cJSON_Delete(root);
    return valid;
}

static sh_status_t write_otadata(const sh_posix_ota_t *ota, const otadata_t *data)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *slots = cJSON_AddArrayToObject(root, "slots");
    cJSON_AddStringToObject(root, "flashedVersion", data->flashed_version);
    cJSON_AddNumberToObject(root, "boot", data->boot_slot);
    for (int i = 0; i < 2; i++) {
        cJSON *slot = cJSON_CreateObject();
        cJSON_AddStringToObject(slot, "version", data->versions[i]);
        cJSON_AddStringToObject(slot, "state", data->states[i]);
        cJSON_AddItemToArray(slots, slot);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL) {
        return SH_ERR_NO_MEMORY;
    }

    char path[PATH_MAX];
    char temporary[PATH_MAX + 8];
    otadata_path(ota, path, sizeof(path));
    snprintf(temporary, sizeof(temporary), "%s.tmp", path);
    FILE *file = fopen(temporary, "wb");
    sh_status_t status = SH_ERR_STORAGE;
    if (file != NULL) {
        bool written = fputs(text, file) >= 0 && fflush(file) == 0 && fsync(fileno(file)) == 0;
        written = fclose(file) == 0 && written;
        if (written && rename(temporary, path) == 0) {
            status = SH_OK;
        }
    }
    cJSON_free(text);
    return status;
}

sh_status_t sh_posix_ota_boot(sh_posix_ota_t *ota, const char *directory, const char *flashed_version)
{
    memset(ota, 0, sizeof(*ota));
    if (snprintf(ota->directory, sizeof(ota->directory), "%s/ota", directory) >= (int)sizeof(ota->directory)) {
        return SH_ERR_INVALID_ARG;
    }
    if (mkdir(ota->directory, 0700) != 0 && errno != EEXIST) {
        SH_LOGE(TAG, "failed to create %s: %s", ota->directory, strerror(errno));
        return SH_ERR_STORAGE;
    }

    otadata_t data;
    if (!read_otadata(ota, &data) || strcmp(data.flashed_version, flashed_version) != 0) {
        /* First start, or a different --firmware-version: the image was flashed to slot 0. */
        memset(&data, 0, sizeof(data));
        strncpy(data.flashed_version, flashed_version, SH_VERSION_MAX_LENGTH);
        strncpy(data.versions[0], flashed_version, SH_VERSION_MAX_LENGTH);
        strcpy(data.states[0], STATE_VALID);
        strcpy(data.states[1], STATE_INVALID);
        data.boot_slot = 0;
    }

    int slot = data.boot_slot;
    if (strcmp(data.states[slot], STATE_NEW) == 0) {
        strcpy(data.states[slot], STATE_PENDING_VERIFY);
    } else if (strcmp(data.states[slot], STATE_PENDING_VERIFY) == 0 || strcmp(data.states[slot], STATE_INVALID) == 0 ||
               strcmp(data.states[slot], STATE_ABORTED) == 0) {
        /* The image restarted without confirming itself: boot the other slot again. */
        strcpy(data.states[slot], STATE_ABORTED);
        slot = 1 - slot;
        data.boot_slot = slot;
        SH_LOGW(TAG, "bootloader rolled back to slot %d version=%s", slot, data.versions[slot]);
    }
    sh_status_t status = write_otadata(ota, &data);
    if (status != SH_OK) {
        return status;
    }
    ota->running_slot = slot;
    strncpy(ota->running_version, data.versions[slot], SH_VERSION_MAX_LENGTH);
    return SH_OK;
}

const char *sh_posix_ota_running_version(const sh_posix_ota_t *ota)
{
    return ota->running_version;
}

static void slot_path(const sh_posix_ota_t *ota, int slot, char *path, size_t capacity)
{
    snprintf(path, capacity, "%s/slot%d.bin", ota->directory, slot);
}

static sh_status_t ota_begin(void *ctx, const char *version, size_t image_size)
{
    sh_posix_ota_t *ota = ctx;
    (void)image_size;
    if (ota->image_file != NULL || !sh_is_valid_version(version)) {
        return SH_ERR_INVALID_STATE;
    }
    ota->target_slot = 1 - ota->running_slot;
    strncpy(ota->target_version, version, SH_VERSION_MAX_LENGTH);
    char path[PATH_MAX];
    slot_path(ota, ota->target_slot, path, sizeof(path));
    ota->image_file = fopen(path, "wb");
    return ota->image_file != NULL ? SH_OK : SH_ERR_OTA;
}

static sh_status_t ota_write(void *ctx, const void *data, size_t length)
{
    sh_posix_ota_t *ota = ctx;
    if (ota->image_file == NULL) {
        return SH_ERR_INVALID_STATE;
    }
    return fwrite(data, 1, length, ota->image_file) == length ? SH_OK : SH_ERR_OTA;
}

static void ota_abort(void *ctx)
{
    sh_posix_ota_t *ota = ctx;
    if (ota->image_file != NULL) {
        fclose(ota->image_file);
        ota->image_file = NULL;
        char path[PATH_MAX];
        slot_path(ota, ota->target_slot, path, sizeof(path));
        unlink(path);
    }
}

static sh_status_t ota_finish_and_set_boot(void *ctx)
{
    sh_posix_ota_t *ota = ctx;
    if (ota->image_file == NULL) {
        return SH_ERR_INVALID_STATE;
    }
    bool written = fflush(ota->image_file) == 0 && fsync(fileno(ota->image_file)) == 0;
    written = fclose(ota->image_file) == 0 && written;
    ota->image_file = NULL;
    otadata_t data;
    if (!written || !read_otadata(ota, &data)) {
        return SH_ERR_OTA;
    }
    strncpy(data.versions[ota->target_slot], ota->target_version, SH_VERSION_MAX_LENGTH);
    strcpy(data.states[ota->target_slot], STATE_NEW);
    data.boot_slot = ota->target_slot;
    return write_otadata(ota, &data);
}

static sh_status_t ota_get_image_state(void *ctx, sh_image_state_t *state)
{
    sh_posix_ota_t *ota = ctx;
    otadata_t data;
    if (!read_otadata(ota, &data)) {
        return SH_ERR_OTA;
    }
    *state = strcmp(data.states[ota->running_slot], STATE_PENDING_VERIFY) == 0 ? SH_IMAGE_PENDING_VERIFY : SH_IMAGE_VALID;
    return SH_OK;
}

static sh_status_t ota_mark_valid(void *ctx)
{
    sh_posix_ota_t *ota = ctx;
    otadata_t data;
    if (!read_otadata(ota, &data)) {
        return SH_ERR_OTA;
    }
    strcpy(data.states[ota->running_slot], STATE_VALID);
    return write_otadata(ota, &data);
}

static sh_status_t ota_rollback_and_restart(void *ctx)
{
    sh_posix_ota_t *ota = ctx;
    otadata_t data;
    if (!read_otadata(ota, &data)) {
        return SH_ERR_OTA;
    }
    strcpy(data.states[ota->running_slot], STATE_INVALID);
    data.boot_slot = 1 - ota->running_slot;
    sh_status_t status = write_otadata(ota, &data);
    if (status != SH_OK) {
        return status;
    }
    ota->system->restart(ota->system->ctx);
    return SH_ERR_INVALID_STATE;
}

void sh_posix_ota_bind(sh_posix_ota_t *ota, sh_system_t *system, sh_ota_port_t *port)
{
    ota->system = system;
    port->ctx = ota;
    port->begin = ota_begin;
    port->write = ota_write;
    port->abort = ota_abort;
    port->finish_and_set_boot = ota_finish_and_set_boot;
    port->get_image_state = ota_get_image_state;
    port->mark_valid = ota_mark_valid;
    port->rollback_and_restart = ota_rollback_and_restart;
}
