#include <string.h>

#include "sh_storage_keys.h"

sh_status_t sh_storage_read_string(const sh_storage_t *storage, const char *key, char *buffer, size_t capacity)
{
    if (capacity == 0) {
        return SH_ERR_INVALID_ARG;
    }
    size_t length = 0;
    sh_status_t status = storage->read(storage->ctx, key, buffer, capacity - 1, &length);
    if (status != SH_OK) {
        buffer[0] = '\0';
        return status;
    }
    buffer[length] = '\0';
    /* A value with an embedded NUL was not written by this module. */
    if (strlen(buffer) != length) {
        buffer[0] = '\0';
        return SH_ERR_STORAGE;
    }
    return SH_OK;
}

sh_status_t sh_storage_write_string(const sh_storage_t *storage, const char *key, const char *value)
{
    return storage->write(storage->ctx, key, value, strlen(value));
}

sh_status_t sh_storage_read_u64(const sh_storage_t *storage, const char *key, uint64_t *value)
{
    uint8_t bytes[8];
    size_t length = 0;
    sh_status_t status = storage->read(storage->ctx, key, bytes, sizeof(bytes), &length);
    if (status != SH_OK) {
        return status;
    }
    if (length != sizeof(bytes)) {
        return SH_ERR_STORAGE;
    }
    uint64_t result = 0;
    for (int i = 7; i >= 0; i--) {
        result = (result << 8) | bytes[i];
    }
    *value = result;
    return SH_OK;
}

sh_status_t sh_storage_write_u64(const sh_storage_t *storage, const char *key, uint64_t value)
{
    uint8_t bytes[8];
    for (int i = 0; i < 8; i++) {
        bytes[i] = (uint8_t)(value >> (8 * i));
    }
    return storage->write(storage->ctx, key, bytes, sizeof(bytes));
}
