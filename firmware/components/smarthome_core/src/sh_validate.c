#include <string.h>

#include "smarthome/sh_messages.h"

static bool is_id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool sh_is_valid_id(const char *value, size_t min_length, size_t max_length)
{
    if (value == NULL) {
        return false;
    }
    size_t length = strlen(value);
    if (length < min_length || length > max_length) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        if (!is_id_char(value[i])) {
            return false;
        }
    }
    return true;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Consumes one or more digits. */
static bool skip_digits(const char **cursor)
{
    const char *start = *cursor;
    while (is_digit(**cursor)) {
        (*cursor)++;
    }
    return *cursor != start;
}

bool sh_is_valid_version(const char *value)
{
    /* ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]{1,32})?$ */
    if (value == NULL || strlen(value) > SH_VERSION_MAX_LENGTH) {
        return false;
    }
    const char *cursor = value;
    for (int part = 0; part < 3; part++) {
        if (!skip_digits(&cursor)) {
            return false;
        }
        if (part < 2) {
            if (*cursor != '.') {
                return false;
            }
            cursor++;
        }
    }
    if (*cursor == '\0') {
        return true;
    }
    if (*cursor != '-' && *cursor != '+') {
        return false;
    }
    cursor++;
    size_t suffix_length = strlen(cursor);
    if (suffix_length < 1 || suffix_length > 32) {
        return false;
    }
    for (size_t i = 0; i < suffix_length; i++) {
        char c = cursor[i];
        if (!(is_id_char(c) && c != '_') && c != '.') {
            return false;
        }
    }
    return true;
}

bool sh_is_valid_model(const char *value)
{
    if (value == NULL) {
        return false;
    }
    size_t length = strlen(value);
    if (length < 1 || length > SH_MODEL_MAX_LENGTH) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        if (!is_id_char(value[i]) && value[i] != '.') {
            return false;
        }
    }
    return true;
}

bool sh_is_valid_claim_token(const char *value)
{
    if (value == NULL) {
        return false;
    }
    size_t length = strlen(value);
    if (length < SH_CLAIM_TOKEN_MIN_LENGTH || length > SH_CLAIM_TOKEN_MAX_LENGTH) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        if (!is_id_char(value[i]) && value[i] != '.') {
            return false;
        }
    }
    return true;
}

bool sh_is_valid_type(const char *value)
{
    if (value == NULL) {
        return false;
    }
    size_t length = strlen(value);
    if (length < 1 || length > 32 || !(value[0] >= 'a' && value[0] <= 'z')) {
        return false;
    }
    for (size_t i = 1; i < length; i++) {
        char c = value[i];
        if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '_')) {
            return false;
        }
    }
    return true;
}

const char *sh_relay_state_name(sh_relay_state_t state)
{
    return state == SH_RELAY_ON ? "ON" : "OFF";
}

const char *sh_relay_result_name(sh_relay_result_t result)
{
    switch (result) {
    case SH_RELAY_RESULT_APPLIED: return "APPLIED";
    case SH_RELAY_RESULT_DUPLICATE: return "DUPLICATE";
    case SH_RELAY_RESULT_EXPIRED: return "EXPIRED";
    case SH_RELAY_RESULT_REJECTED: return "REJECTED";
    }
    return "REJECTED";
}
