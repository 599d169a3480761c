/* Test helper: signs images the way `openssl dgst -sha256 -sign` does (DER ECDSA over SHA-256). */
#ifndef SH_TEST_SIGN_UTIL_H
#define SH_TEST_SIGN_UTIL_H

#include <string.h>

#include "mbedtls/base64.h"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecp.h"
#include "mbedtls/entropy.h"
#include "mbedtls/pk.h"
#include "mbedtls/sha256.h"

typedef struct {
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    char public_key_pem[512];
} test_signer_t;

static inline void test_signer_init(test_signer_t *signer)
{
    mbedtls_pk_init(&signer->key);
    mbedtls_entropy_init(&signer->entropy);
    mbedtls_ctr_drbg_init(&signer->drbg);
    mbedtls_ctr_drbg_seed(&signer->drbg, mbedtls_entropy_func, &signer->entropy, NULL, 0);
    mbedtls_pk_setup(&signer->key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(signer->key), mbedtls_ctr_drbg_random, &signer->drbg);
    mbedtls_pk_write_pubkey_pem(&signer->key, (unsigned char *)signer->public_key_pem, sizeof(signer->public_key_pem));
}

static inline void test_signer_free(test_signer_t *signer)
{
    mbedtls_pk_free(&signer->key);
    mbedtls_ctr_drbg_free(&signer->drbg);
    mbedtls_entropy_free(&signer->entropy);
}

/* Writes the lower-case hex SHA-256 of data and its base64 DER signature. */
static inline void test_signer_sign(test_signer_t *signer, const void *data, size_t length, char digest_hex[65],
                                    char *signature_base64, size_t capacity)
{
    unsigned char digest[32];
    mbedtls_sha256_ret(data, length, digest, 0);
    for (int i = 0; i < 32; i++) {
        static const char hex[] = "0123456789abcdef";
        digest_hex[2 * i] = hex[digest[i] >> 4];
        digest_hex[2 * i + 1] = hex[digest[i] & 15];
    }
    digest_hex[64] = '\0';
    unsigned char signature[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t signature_length = 0;
    mbedtls_pk_sign(&signer->key, MBEDTLS_MD_SHA256, digest, 32, signature, &signature_length, mbedtls_ctr_drbg_random,
                    &signer->drbg);
    size_t written = 0;
    mbedtls_base64_encode((unsigned char *)signature_base64, capacity, &written, signature, signature_length);
}

#endif /* SH_TEST_SIGN_UTIL_H */
