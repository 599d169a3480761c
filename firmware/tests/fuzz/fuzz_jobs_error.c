/* libFuzzer target: AWS IoT Jobs rejected replies. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "smarthome/sh_messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_jobs_error_t reply;
    (void)sh_jobs_error_parse((const char *)data, size, &reply, NULL);
    return 0;
}
