/* Private encoders and decoders: base64, hexadecimal and the DER shape of ECDSA signatures. */
#ifndef SH_ENCODING_H
#define SH_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Decodes standard base64 (RFC 4648 section 4) with optional padding. Rejects other characters,
 * misplaced padding and non-zero trailing bits.
 */
bool sh_base64_decode(const char *text, uint8_t *output, size_t capacity, size_t *length);

/** Decodes exactly 2 * length lower-case hexadecimal characters. */
bool sh_hex_decode_lower(const char *text, uint8_t *output, size_t length);

/** Checks that der is SEQUENCE { INTEGER r, INTEGER s } with r and s of at most 33 bytes. */
bool sh_der_is_ecdsa_signature(const uint8_t *der, size_t length);

#endif /* SH_ENCODING_H */
