#include "sh_encoding.h"

#include <string.h>

static int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

bool sh_base64_decode(const char *text, uint8_t *output, size_t capacity, size_t *length)
{
    size_t text_length = strlen(text);
    size_t padding = 0;
    while (padding < 2 && text_length > padding && text[text_length - 1 - padding] == '=') {
        padding++;
    }
    size_t data_length = text_length - padding;
    if (data_length == 0 || data_length % 4 == 1) {
        return false;
    }
    if (padding > 0 && text_length % 4 != 0) {
        return false;
    }

    size_t written = 0;
    uint32_t accumulator = 0;
    int bits = 0;
    for (size_t i = 0; i < data_length; i++) {
        int value = base64_value(text[i]);
        if (value < 0) {
            return false;
        }
        accumulator = (accumulator << 6) | (uint32_t)value;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (written >= capacity) {
                return false;
            }
            output[written++] = (uint8_t)(accumulator >> bits);
            accumulator &= (1u << bits) - 1u;
        }
    }
    /* The unused low bits of the last character must be zero (canonical encoding). */
    if (accumulator != 0) {
        return false;
    }
    *length = written;
    return true;
}

bool sh_hex_decode_lower(const char *text, uint8_t *output, size_t length)
{
    if (strlen(text) != length * 2) {
        return false;
    }
    for (size_t i = 0; i < length * 2; i++) {
        char c = text[i];
        int nibble;
        if (c >= '0' && c <= '9') {
            nibble = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            nibble = c - 'a' + 10;
        } else {
            return false;
        }
        if (i % 2 == 0) {
            output[i / 2] = (uint8_t)(nibble << 4);
        } else {
            output[i / 2] |= (uint8_t)nibble;
        }
    }
    return true;
}

static bool der_read_integer(const uint8_t *der, size_t length, size_t *offset)
{
    if (*offset + 2 > length || der[*offset] != 0x02) {
        return false;
    }
    size_t integer_length = der[*offset + 1];
    if (integer_length == 0 || integer_length > 33 || *offset + 2 + integer_length > length) {
        return false;
    }
    *offset += 2 + integer_length;
    return true;
}

bool sh_der_is_ecdsa_signature(const uint8_t *der, size_t length)
{
    /* A P-256 signature is at most 2 + 2 * (2 + 33) = 72 bytes, so short-form lengths suffice. */
    if (length < 8 || length > 72 || der[0] != 0x30 || der[1] != length - 2) {
        return false;
    }
    size_t offset = 2;
    if (!der_read_integer(der, length, &offset) || !der_read_integer(der, length, &offset)) {
        return false;
    }
    return offset == length;
}
