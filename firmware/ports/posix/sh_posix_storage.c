#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sh_posix.h"
#include "smarthome/sh_log.h"
#include "smarthome/sh_messages.h"

static const char *TAG = "storage";

static bool is_valid_key(const char *key)
{
    /* Keys become file names, so only the NVS-compatible id characters are allowed. */
    return sh_is_valid_id(key, 1, 15);
}

static bool make_path(const sh_posix_storage_t *storage, const char *key, const char *suffix, char *path,
                      size_t capacity)
{
    int written = snprintf(path, capacity, "%s/nvs/%s%s", storage->directory, key, suffix);
    return written > 0 && (size_t)written < capacity;
}

static int make_directory(const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

sh_status_t sh_posix_storage_init(sh_posix_storage_t *storage, const char *directory)
{
    if (strlen(directory) + 16 >= sizeof(storage->directory)) {
        return SH_ERR_INVALID_ARG;
    }
    strcpy(storage->directory, directory);
    char path[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/nvs", directory);
    if (make_directory(directory) != 0 || make_directory(path) != 0) {
        SH_LOGE(TAG, "failed to create %s: %s", path, strerror(errno));
        return SH_ERR_STORAGE;
    }
    return SH_OK;
}

static sh_status_t storage_read(void *ctx, const char *key, void *buffer, size_t capacity, size_t *length)
{
    char path[PATH_MAX];
    if (!is_valid_key(key) || !make_path(ctx, key, "", path, sizeof(path))) {
        return SH_ERR_INVALID_ARG;
    }
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return errno == ENOENT ? SH_ERR_NOT_FOUND : SH_ERR_STORAGE;
    }
    size_t read = fread(buffer, 1, capacity, file);
    bool more = fgetc(file) != EOF;
    bool failed = ferror(file) != 0;
    fclose(file);
    if (failed) {
        return SH_ERR_STORAGE;
    }
    if (more) {
        return SH_ERR_BUFFER_TOO_SMALL;
    }
    *length = read;
    return SH_OK;
}

static sh_status_t storage_write(void *ctx, const char *key, const void *data, size_t length)
{
    const sh_posix_storage_t *storage = ctx;
    char path[PATH_MAX];
    char temporary[PATH_MAX];
    if (!is_valid_key(key) || !make_path(storage, key, "", path, sizeof(path)) ||
        !make_path(storage, key, ".tmp", temporary, sizeof(temporary))) {
        return SH_ERR_INVALID_ARG;
    }
    /* Write, fsync and rename, so a power loss leaves either the old or the new value. */
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        SH_LOGE(TAG, "failed to open %s: %s", temporary, strerror(errno));
        return SH_ERR_STORAGE;
    }
    const unsigned char *bytes = data;
    size_t written = 0;
    while (written < length) {
        ssize_t result = write(fd, bytes + written, length - written);
        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result <= 0) {
            close(fd);
            unlink(temporary);
            return SH_ERR_STORAGE;
        }
        written += (size_t)result;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(temporary, path) != 0) {
        SH_LOGE(TAG, "failed to write key %s: %s", key, strerror(errno));
        unlink(temporary);
        return SH_ERR_STORAGE;
    }
    char directory[PATH_MAX + 8];
    snprintf(directory, sizeof(directory), "%s/nvs", storage->directory);
    int directory_fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory_fd >= 0) {
        (void)fsync(directory_fd);
        close(directory_fd);
    }
    return SH_OK;
}

static sh_status_t storage_erase(void *ctx, const char *key)
{
    char path[PATH_MAX];
    if (!is_valid_key(key) || !make_path(ctx, key, "", path, sizeof(path))) {
        return SH_ERR_INVALID_ARG;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        return SH_ERR_STORAGE;
    }
    return SH_OK;
}

void sh_posix_storage_bind(sh_posix_storage_t *storage, sh_storage_t *port)
{
    port->ctx = storage;
    port->read = storage_read;
    port->write = storage_write;
    port->erase = storage_erase;
}
