/* libFuzzer target: CreateCertificateFromCsr and CreateKeysAndCertificate accepted replies. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "smarthome/sh_messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sh_certificate_reply_t reply;
    /* The parity of the input length selects the API, so both reply shapes are explored. */
    (void)sh_certificate_reply_parse((const char *)data, size, size % 2 == 0, &reply, NULL);
    return 0;
}
