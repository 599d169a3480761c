#include "sh_crypto_mbedtls.h"

#include <string.h>

#include "mbedtls/base64.h"
#include "mbedtls/ecp.h"
#include "mbedtls/md.h"
#include "mbedtls/pk.h"
#include "mbedtls/version.h"
#include "mbedtls/x509_csr.h"

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define SH_MBEDTLS_3 1
#else
#define SH_MBEDTLS_3 0
#endif

static const char PERSONALIZATION[] = "cdk-smart-home";

sh_status_t sh_mbedtls_init(sh_mbedtls_t *context)
{
    memset(context, 0, sizeof(*context));
    mbedtls_entropy_init(&context->entropy);
    mbedtls_ctr_drbg_init(&context->drbg);
    mbedtls_sha256_init(&context->sha256);
    int result = mbedtls_ctr_drbg_seed(&context->drbg, mbedtls_entropy_func, &context->entropy,
                                       (const unsigned char *)PERSONALIZATION, sizeof(PERSONALIZATION) - 1);
    return result == 0 ? SH_OK : SH_ERR_CRYPTO;
}

void sh_mbedtls_free(sh_mbedtls_t *context)
{
    mbedtls_sha256_free(&context->sha256);
    mbedtls_ctr_drbg_free(&context->drbg);
    mbedtls_entropy_free(&context->entropy);
}

static sh_status_t fill_random(void *ctx, void *buffer, size_t length)
{
    sh_mbedtls_t *context = ctx;
    return mbedtls_ctr_drbg_random(&context->drbg, buffer, length) == 0 ? SH_OK : SH_ERR_CRYPTO;
}

static int parse_private_key(sh_mbedtls_t *context, mbedtls_pk_context *key, const char *pem)
{
#if SH_MBEDTLS_3
    return mbedtls_pk_parse_key(key, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0, mbedtls_ctr_drbg_random,
                                &context->drbg);
#else
    (void)context;
    return mbedtls_pk_parse_key(key, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0);
#endif
}

static sh_status_t generate_key_pem(void *ctx, char *key_pem, size_t capacity)
{
    sh_mbedtls_t *context = ctx;
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    int result = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (result == 0) {
        result = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random,
                                     &context->drbg);
    }
    if (result == 0) {
        result = mbedtls_pk_write_key_pem(&key, (unsigned char *)key_pem, capacity);
    }
    mbedtls_pk_free(&key);
    if (result == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL) {
        return SH_ERR_BUFFER_TOO_SMALL;
    }
    return result == 0 ? SH_OK : SH_ERR_CRYPTO;
}

static sh_status_t create_csr_pem(void *ctx, const char *key_pem, const char *common_name, char *csr_pem,
                                  size_t capacity)
{
    sh_mbedtls_t *context = ctx;
    char subject[160];
    if (strlen(common_name) + 4 > sizeof(subject)) {
        return SH_ERR_INVALID_ARG;
    }
    /* Thing names contain only [A-Za-z0-9_-], so no character needs escaping in the subject. */
    strcpy(subject, "CN=");
    strcat(subject, common_name);

    mbedtls_pk_context key;
    mbedtls_x509write_csr request;
    mbedtls_pk_init(&key);
    mbedtls_x509write_csr_init(&request);
    int result = parse_private_key(context, &key, key_pem);
    if (result == 0) {
        mbedtls_x509write_csr_set_md_alg(&request, MBEDTLS_MD_SHA256);
        mbedtls_x509write_csr_set_key(&request, &key);
        result = mbedtls_x509write_csr_set_subject_name(&request, subject);
    }
    if (result == 0) {
        result = mbedtls_x509write_csr_pem(&request, (unsigned char *)csr_pem, capacity, mbedtls_ctr_drbg_random,
                                           &context->drbg);
    }
    mbedtls_x509write_csr_free(&request);
    mbedtls_pk_free(&key);
    return result == 0 ? SH_OK : SH_ERR_CRYPTO;
}

static sh_status_t sha256_begin(void *ctx)
{
    sh_mbedtls_t *context = ctx;
    mbedtls_sha256_free(&context->sha256);
    mbedtls_sha256_init(&context->sha256);
#if SH_MBEDTLS_3
    int result = mbedtls_sha256_starts(&context->sha256, 0);
#else
    int result = mbedtls_sha256_starts_ret(&context->sha256, 0);
#endif
    context->sha256_active = result == 0;
    return result == 0 ? SH_OK : SH_ERR_CRYPTO;
}

static sh_status_t sha256_update(void *ctx, const void *data, size_t length)
{
    sh_mbedtls_t *context = ctx;
    if (!context->sha256_active) {
        return SH_ERR_INVALID_STATE;
    }
#if SH_MBEDTLS_3
    int result = mbedtls_sha256_update(&context->sha256, data, length);
#else
    int result = mbedtls_sha256_update_ret(&context->sha256, data, length);
#endif
    return result == 0 ? SH_OK : SH_ERR_CRYPTO;
}

static sh_status_t sha256_finish(void *ctx, uint8_t digest[32])
{
    sh_mbedtls_t *context = ctx;
    if (!context->sha256_active) {
        return SH_ERR_INVALID_STATE;
    }
    context->sha256_active = false;
#if SH_MBEDTLS_3
    int result = mbedtls_sha256_finish(&context->sha256, digest);
#else
    int result = mbedtls_sha256_finish_ret(&context->sha256, digest);
#endif
    return result == 0 ? SH_OK : SH_ERR_CRYPTO;
}

static sh_status_t verify_signature(void *ctx, const char *public_key_pem, const uint8_t digest[32],
                                    const uint8_t *signature_der, size_t signature_length)
{
    (void)ctx;
    if (public_key_pem == NULL || signature_der == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    int result = mbedtls_pk_parse_public_key(&key, (const unsigned char *)public_key_pem, strlen(public_key_pem) + 1);
    sh_status_t status;
    if (result != 0) {
        status = SH_ERR_INVALID_ARG;
    } else if (!mbedtls_pk_can_do(&key, MBEDTLS_PK_ECDSA) || mbedtls_pk_get_bitlen(&key) != 256) {
        /* Only P-256 keys are accepted; a 256-bit length excludes P-384 and RSA keys. */
        status = SH_ERR_INVALID_ARG;
    } else {
        result = mbedtls_pk_verify(&key, MBEDTLS_MD_SHA256, digest, 32, signature_der, signature_length);
        status = result == 0 ? SH_OK : SH_ERR_VERIFICATION;
    }
    mbedtls_pk_free(&key);
    return status;
}

void sh_mbedtls_bind(sh_mbedtls_t *context, sh_crypto_t *crypto, sh_random_t *random)
{
    crypto->ctx = context;
    crypto->generate_key_pem = generate_key_pem;
    crypto->create_csr_pem = create_csr_pem;
    crypto->sha256_begin = sha256_begin;
    crypto->sha256_update = sha256_update;
    crypto->sha256_finish = sha256_finish;
    crypto->verify_signature = verify_signature;
    random->ctx = context;
    random->fill = fill_random;
}
