#include <time.h>

#include "sh_posix.h"

static uint64_t monotonic_ms(void *ctx)
{
    (void)ctx;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

static sh_status_t epoch_ms(void *ctx, uint64_t *now)
{
    (void)ctx;
    struct timespec wall;
    if (clock_gettime(CLOCK_REALTIME, &wall) != 0 || wall.tv_sec < 0) {
        return SH_ERR_CLOCK_NOT_SET;
    }
    *now = (uint64_t)wall.tv_sec * 1000u + (uint64_t)wall.tv_nsec / 1000000u;
    return SH_OK;
}

void sh_posix_clock_bind(sh_clock_t *port)
{
    port->ctx = NULL;
    port->monotonic_ms = monotonic_ms;
    port->epoch_ms = epoch_ms;
}
