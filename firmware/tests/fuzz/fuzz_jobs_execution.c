/* libFuzzer target: AWS IoT Jobs notify-next and start-next/accepted messages. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "smarthome/sh_messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sh_job_execution_t execution;
    (void)sh_jobs_execution_parse((const char *)data, size, &execution, NULL);
    return 0;
}
