/* libFuzzer target: reset messages from iot/control/<thing>/reset. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "smarthome/sh_messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_reset_command_t command;
    (void)sh_reset_command_parse((const char *)data, size, &command, NULL);
    return 0;
}
