/*
 * Crypto and random ports on mbedTLS, shared by the ESP32 port (mbedTLS 3.x in ESP-IDF v5) and
 * the POSIX port (Debian's mbedTLS 2.28). Version differences are handled with
 * MBEDTLS_VERSION_NUMBER.
 */
#ifndef SH_CRYPTO_MBEDTLS_H
#define SH_CRYPTO_MBEDTLS_H

#include <stdbool.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/sha256.h"
#include "smarthome/sh_ports.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Random generator and the running SHA-256 computation. */
typedef struct {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_sha256_context sha256;
    bool sha256_active;
} sh_mbedtls_t;

/** Seeds the CTR-DRBG from the platform entropy source. */
sh_status_t sh_mbedtls_init(sh_mbedtls_t *context);
void sh_mbedtls_free(sh_mbedtls_t *context);
/** Fills the crypto and random port tables with functions bound to context. */
void sh_mbedtls_bind(sh_mbedtls_t *context, sh_crypto_t *crypto, sh_random_t *random);

#ifdef __cplusplus
}
#endif

#endif /* SH_CRYPTO_MBEDTLS_H */
