#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "sh_posix.h"
#include "smarthome/sh_log.h"

static sh_log_level_t minimum_level = SH_LOG_INFO;

void sh_posix_log_set_level(sh_log_level_t level)
{
    minimum_level = level;
}

/* Lines follow the ESP-IDF format "I (<ms since start>) <tag>: <message>", so the same
 * patterns match a real device's serial output. */
void sh_log_write(sh_log_level_t level, const char *tag, const char *format, ...)
{
    if (level > minimum_level) {
        return;
    }
    static const char letters[] = {'?', 'E', 'W', 'I', 'D'};
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    static long long start_ms = -1;
    long long now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (start_ms < 0) {
        start_ms = now_ms;
    }

    char message[1024];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof(message), format, arguments);
    va_end(arguments);
    printf("%c (%lld) %s: %s\n", letters[level <= SH_LOG_DEBUG ? level : 0], now_ms - start_ms, tag, message);
    fflush(stdout);
}
