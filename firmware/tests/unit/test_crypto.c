/* The mbedTLS crypto port, including signatures made with the OpenSSL command line. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fakes.h"
#include "mbedtls/x509_csr.h"
#include "sh_encoding.h"

static void test_CryptoGenerateKey_CsrCarriesThingName(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    sh_crypto_t *crypto = &platform->ports.crypto;
    char key[512];
    char csr[1024];
    assert_int_equal(crypto->generate_key_pem(crypto->ctx, key, sizeof(key)), SH_OK);
    assert_non_null(strstr(key, "-----BEGIN EC PRIVATE KEY-----"));
    assert_int_equal(crypto->create_csr_pem(crypto->ctx, key, "sh-SERIAL-1", csr, sizeof(csr)), SH_OK);

    mbedtls_x509_csr request;
    mbedtls_x509_csr_init(&request);
    assert_int_equal(mbedtls_x509_csr_parse(&request, (const unsigned char *)csr, strlen(csr) + 1), 0);
    char subject[128];
    assert_true(mbedtls_x509_dn_gets(subject, sizeof(subject), &request.subject) > 0);
    assert_string_equal(subject, "CN=sh-SERIAL-1");
    assert_int_equal(mbedtls_pk_get_bitlen(&request.pk), 256);
    mbedtls_x509_csr_free(&request);

    assert_int_equal(crypto->generate_key_pem(crypto->ctx, key, 16), SH_ERR_BUFFER_TOO_SMALL);
    fake_platform_destroy(platform);
}

static void run(const char *command)
{
    if (system(command) != 0) {
        fail_msg("command failed: %s", command);
    }
}

static size_t read_file(const char *path, void *buffer, size_t capacity)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    size_t length = fread(buffer, 1, capacity, file);
    fclose(file);
    return length;
}

/* The documented signing command, `openssl dgst -sha256 -sign`, must produce what the port verifies. */
static void test_CryptoVerifySignature_AcceptsOpensslSignature(void **state)
{
    (void)state;
    char directory[] = "/tmp/sh-crypto-XXXXXX";
    assert_non_null(mkdtemp(directory));
    char command[1024];
    snprintf(command, sizeof(command),
             "cd %s && openssl ecparam -name prime256v1 -genkey -noout -out key.pem 2>/dev/null && "
             "openssl ec -in key.pem -pubout -out public.pem 2>/dev/null && head -c 5000 /dev/urandom > image.bin && "
             "openssl dgst -sha256 -sign key.pem -out image.sig image.bin && "
             "openssl ecparam -name secp384r1 -genkey -noout -out other.pem 2>/dev/null && "
             "openssl ec -in other.pem -pubout -out other-public.pem 2>/dev/null",
             directory);
    run(command);

    char path[512];
    char public_key[512] = {0};
    char other_key[512] = {0};
    static unsigned char image[5000];
    unsigned char signature[128];
    snprintf(path, sizeof(path), "%s/public.pem", directory);
    read_file(path, public_key, sizeof(public_key) - 1);
    snprintf(path, sizeof(path), "%s/other-public.pem", directory);
    read_file(path, other_key, sizeof(other_key) - 1);
    snprintf(path, sizeof(path), "%s/image.bin", directory);
    assert_int_equal(read_file(path, image, sizeof(image)), sizeof(image));
    snprintf(path, sizeof(path), "%s/image.sig", directory);
    size_t signature_length = read_file(path, signature, sizeof(signature));
    assert_true(sh_der_is_ecdsa_signature(signature, signature_length));

    fake_platform_t *platform = fake_platform_create();
    sh_crypto_t *crypto = &platform->ports.crypto;
    uint8_t digest[32];
    assert_int_equal(crypto->sha256_begin(crypto->ctx), SH_OK);
    assert_int_equal(crypto->sha256_update(crypto->ctx, image, 1234), SH_OK);
    assert_int_equal(crypto->sha256_update(crypto->ctx, image + 1234, sizeof(image) - 1234), SH_OK);
    assert_int_equal(crypto->sha256_finish(crypto->ctx, digest), SH_OK);
    assert_int_equal(crypto->verify_signature(crypto->ctx, public_key, digest, signature, signature_length), SH_OK);

    digest[0] ^= 1;
    assert_int_equal(crypto->verify_signature(crypto->ctx, public_key, digest, signature, signature_length),
                     SH_ERR_VERIFICATION);
    digest[0] ^= 1;
    signature[signature_length - 1] ^= 1;
    assert_int_equal(crypto->verify_signature(crypto->ctx, public_key, digest, signature, signature_length),
                     SH_ERR_VERIFICATION);
    signature[signature_length - 1] ^= 1;
    /* A P-384 key is refused even before verification. */
    assert_int_equal(crypto->verify_signature(crypto->ctx, other_key, digest, signature, signature_length),
                     SH_ERR_INVALID_ARG);
    assert_int_equal(crypto->verify_signature(crypto->ctx, "not a key", digest, signature, signature_length),
                     SH_ERR_INVALID_ARG);
    assert_int_equal(crypto->sha256_update(crypto->ctx, image, 1), SH_ERR_INVALID_STATE);

    fake_platform_destroy(platform);
    snprintf(command, sizeof(command), "rm -rf %s", directory);
    run(command);
}

static void test_RandomFill_ProducesDistinctValues(void **state)
{
    (void)state;
    fake_platform_t *platform = fake_platform_create();
    uint8_t first[32];
    uint8_t second[32];
    assert_int_equal(platform->ports.random.fill(platform->ports.random.ctx, first, sizeof(first)), SH_OK);
    assert_int_equal(platform->ports.random.fill(platform->ports.random.ctx, second, sizeof(second)), SH_OK);
    assert_memory_not_equal(first, second, sizeof(first));
    fake_platform_destroy(platform);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_CryptoGenerateKey_CsrCarriesThingName),
        cmocka_unit_test(test_CryptoVerifySignature_AcceptsOpensslSignature),
        cmocka_unit_test(test_RandomFill_ProducesDistinctValues),
    };
    SH_RUN_TESTS(tests);
}
