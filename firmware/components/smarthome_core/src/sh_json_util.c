#include "sh_json_util.h"

#include <math.h>
#include <string.h>

#include "smarthome/sh_config.h"

cJSON *sh_json_parse(const char *payload, size_t length, size_t max_length, sh_status_t *status)
{
    if (payload == NULL || length == 0) {
        *status = SH_ERR_INVALID_MESSAGE;
        return NULL;
    }
    if (length > max_length) {
        *status = SH_ERR_TOO_LARGE;
        return NULL;
    }

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(payload, length, &end, false);
    if (root == NULL) {
        *status = SH_ERR_INVALID_MESSAGE;
        return NULL;
    }
    /* cJSON stops after the first value; anything but whitespace after it is an error. */
    for (const char *cursor = end; cursor != NULL && cursor < payload + length; cursor++) {
        if (*cursor != ' ' && *cursor != '\t' && *cursor != '\r' && *cursor != '\n') {
            cJSON_Delete(root);
            *status = SH_ERR_INVALID_MESSAGE;
            return NULL;
        }
    }
    *status = SH_OK;
    return root;
}

bool sh_json_has_only_keys(const cJSON *object, const char *const *allowed, size_t allowed_count)
{
    for (const cJSON *item = object->child; item != NULL; item = item->next) {
        bool known = false;
        for (size_t i = 0; i < allowed_count; i++) {
            if (item->string != NULL && strcmp(item->string, allowed[i]) == 0) {
                known = true;
                break;
            }
        }
        if (!known) {
            return false;
        }
        for (const cJSON *other = item->next; other != NULL; other = other->next) {
            if (strcmp(item->string, other->string) == 0) {
                return false;
            }
        }
    }
    return true;
}

bool sh_json_get_uint(const cJSON *item, uint64_t max, uint64_t *value)
{
    if (!cJSON_IsNumber(item)) {
        return false;
    }
    double number = item->valuedouble;
    if (!isfinite(number) || number < 0.0 || number > (double)max || floor(number) != number) {
        return false;
    }
    *value = (uint64_t)number;
    return true;
}

bool sh_json_get_epoch_ms(const cJSON *item, uint64_t *value)
{
    return sh_json_get_uint(item, SH_EPOCH_MS_MAX, value);
}

bool sh_json_copy_string(const cJSON *item, char *buffer, size_t capacity)
{
    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        return false;
    }
    size_t length = strlen(item->valuestring);
    if (length >= capacity) {
        return false;
    }
    memcpy(buffer, item->valuestring, length + 1);
    return true;
}

sh_status_t sh_json_print(const cJSON *object, char *buffer, size_t capacity, size_t *length)
{
    if (buffer == NULL || capacity == 0 || capacity > (size_t)INT32_MAX) {
        return SH_ERR_INVALID_ARG;
    }
    /* cJSON_PrintPreallocated needs a few bytes of slack beyond the printed text. */
    if (!cJSON_PrintPreallocated((cJSON *)object, buffer, (int)capacity, false)) {
        return SH_ERR_BUFFER_TOO_SMALL;
    }
    if (length != NULL) {
        *length = strlen(buffer);
    }
    return SH_OK;
}

bool sh_json_add_uint(cJSON *object, const char *key, uint64_t value)
{
    return cJSON_AddNumberToObject(object, key, (double)value) != NULL;
}
