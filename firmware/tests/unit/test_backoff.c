/* Exponential backoff with jitter. */
#include "fakes.h"
#include "smarthome/sh_backoff.h"

static void test_BackoffNextDelay_DoublesWithinJitterBounds(void **state)
{
    (void)state;
    sh_backoff_t backoff;
    sh_backoff_init(&backoff, 1000, 300000);
    uint32_t ceilings[] = {1000, 2000, 4000, 8000, 16000};
    for (size_t i = 0; i < 5; i++) {
        uint32_t low = sh_backoff_next_delay_ms(&(sh_backoff_t){1000, 300000, (uint32_t)i}, 0);
        uint32_t high = sh_backoff_next_delay_ms(&(sh_backoff_t){1000, 300000, (uint32_t)i}, UINT32_MAX);
        assert_int_equal(low, ceilings[i] / 2);
        assert_true(high <= ceilings[i]);
        assert_true(high >= ceilings[i] / 2);
    }
}

static void test_BackoffNextDelay_CapsAtMaximum(void **state)
{
    (void)state;
    sh_backoff_t backoff;
    sh_backoff_init(&backoff, 1000, 300000);
    uint32_t delay = 0;
    for (int i = 0; i < 200; i++) {
        delay = sh_backoff_next_delay_ms(&backoff, 12345u * (uint32_t)i);
        assert_true(delay <= 300000);
        assert_true(delay >= 500);
    }
    assert_true(delay >= 150000);
    assert_int_equal(backoff.attempt, 200);
}

static void test_BackoffNextDelay_NeverZero(void **state)
{
    (void)state;
    sh_backoff_t backoff;
    sh_backoff_init(&backoff, 0, 0);
    assert_true(sh_backoff_next_delay_ms(&backoff, 0) >= 1);
    sh_backoff_t saturated = {.base_ms = 1000, .max_ms = 5000, .attempt = UINT32_MAX};
    assert_true(sh_backoff_next_delay_ms(&saturated, 7) >= 2500);
    assert_int_equal(saturated.attempt, UINT32_MAX);
}

static void test_BackoffReset_StartsOver(void **state)
{
    (void)state;
    sh_backoff_t backoff;
    sh_backoff_init(&backoff, 1000, 300000);
    for (int i = 0; i < 6; i++) {
        (void)sh_backoff_next_delay_ms(&backoff, 0);
    }
    sh_backoff_reset(&backoff);
    assert_int_equal(sh_backoff_next_delay_ms(&backoff, 0), 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_BackoffNextDelay_DoublesWithinJitterBounds),
        cmocka_unit_test(test_BackoffNextDelay_CapsAtMaximum),
        cmocka_unit_test(test_BackoffNextDelay_NeverZero),
        cmocka_unit_test(test_BackoffReset_StartsOver),
    };
    SH_RUN_TESTS(tests);
}
