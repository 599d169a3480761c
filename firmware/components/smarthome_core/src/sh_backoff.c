#include "smarthome/sh_backoff.h"

#include <stddef.h>

void sh_backoff_init(sh_backoff_t *backoff, uint32_t base_ms, uint32_t max_ms)
{
    if (backoff == NULL) {
        return;
    }
    backoff->base_ms = base_ms == 0 ? 1 : base_ms;
    backoff->max_ms = max_ms < backoff->base_ms ? backoff->base_ms : max_ms;
    backoff->attempt = 0;
}

uint32_t sh_backoff_next_delay_ms(sh_backoff_t *backoff, uint32_t random_value)
{
    if (backoff == NULL) {
        return 0;
    }
    uint64_t ceiling = backoff->base_ms;
    for (uint32_t i = 0; i < backoff->attempt && ceiling < backoff->max_ms; i++) {
        ceiling *= 2;
    }
    if (ceiling > backoff->max_ms) {
        ceiling = backoff->max_ms;
    }
    /* Saturate the counter so it cannot wrap to zero after a very long outage. */
    if (backoff->attempt < UINT32_MAX) {
        backoff->attempt++;
    }
    uint64_t half = ceiling / 2;
    uint64_t jitter = (uint64_t)random_value % (ceiling - half + 1);
    uint64_t delay = half + jitter;
    return (uint32_t)(delay == 0 ? 1 : delay);
}

void sh_backoff_reset(sh_backoff_t *backoff)
{
    if (backoff != NULL) {
        backoff->attempt = 0;
    }
}
