/* Fuzz targets discard log lines, so the run measures parsing only. */
#include "smarthome/sh_log.h"

void sh_log_write(sh_log_level_t level, const char *tag, const char *format, ...)
{
    (void)level;
    (void)tag;
    (void)format;
}
