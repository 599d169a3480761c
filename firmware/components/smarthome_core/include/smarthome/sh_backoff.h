/*
 * Exponential backoff with jitter for retries after throttling, rejections, timeouts and failed
 * connections. The delay of attempt n is drawn from [d/2, d] with d = min(max, base * 2^n), so
 * it is never zero and devices that fail together spread their retries.
 */
#ifndef SH_BACKOFF_H
#define SH_BACKOFF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Retry state. */
typedef struct {
    uint32_t base_ms;
    uint32_t max_ms;
    /** Number of failures since the last success. */
    uint32_t attempt;
} sh_backoff_t;

/** Initializes a backoff with base and max delays in milliseconds (base >= 1, max >= base). */
void sh_backoff_init(sh_backoff_t *backoff, uint32_t base_ms, uint32_t max_ms);

/** Counts one failure and returns the delay before the next try, using random_value as jitter. */
uint32_t sh_backoff_next_delay_ms(sh_backoff_t *backoff, uint32_t random_value);

/** Forgets past failures after a success. */
void sh_backoff_reset(sh_backoff_t *backoff);

#ifdef __cplusplus
}
#endif

#endif /* SH_BACKOFF_H */
