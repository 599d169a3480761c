/* libFuzzer target: OTA job documents. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "smarthome/sh_messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sh_ota_job_document_t document;
    (void)sh_ota_job_document_parse((const char *)data, size, &document, NULL);
    return 0;
}
