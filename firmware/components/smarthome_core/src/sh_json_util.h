/* Private JSON helpers shared by the parsers and builders. */
#ifndef SH_JSON_UTIL_H
#define SH_JSON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cJSON.h"
#include "smarthome/sh_status.h"

/**
 * Parses payload as one JSON value. Rejects payloads longer than max_length before parsing,
 * and anything but whitespace after the value.
 */
cJSON *sh_json_parse(const char *payload, size_t length, size_t max_length, sh_status_t *status);

/** Checks that every key of object is in allowed and that no key appears twice. */
bool sh_json_has_only_keys(const cJSON *object, const char *const *allowed, size_t allowed_count);

/** Reads a JSON number that is an integer in [0, max]. */
bool sh_json_get_uint(const cJSON *item, uint64_t max, uint64_t *value);

/** Reads an integer epoch in milliseconds within the contract's range [0, SH_EPOCH_MS_MAX]. */
bool sh_json_get_epoch_ms(const cJSON *item, uint64_t *value);

/** Copies a string value of at most capacity - 1 bytes. Fails for other types or longer strings. */
bool sh_json_copy_string(const cJSON *item, char *buffer, size_t capacity);

/** Prints object into buffer without formatting and stores the length. */
sh_status_t sh_json_print(const cJSON *object, char *buffer, size_t capacity, size_t *length);

/** Adds an integer that cJSON stores as a double, exact up to 2^53. */
bool sh_json_add_uint(cJSON *object, const char *key, uint64_t value);

#endif /* SH_JSON_UTIL_H */
