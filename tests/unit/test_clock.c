/* clock: the clocks agree with each other and with what pthread_cond_timedwait takes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>

#include "base/clock.h"
#include "base/compat.h"

static void test_monotonic_readings(void **state)
{
	(void)state;
	int64_t ms = clock_mono_ms(), us = clock_mono_us();
	/* Both read one clock: microseconds are the same instant, a little later. */
	assert_true(us / 1000 >= ms);
	assert_true(us / 1000 - ms < 1000);
	assert_true(clock_mono_ms() >= ms);
	assert_true(clock_mono_us() >= us);
}

static void test_epoch_is_recent(void **state)
{
	(void)state;
	/* After 2024-01-01 and before 2200: milliseconds, not seconds or microseconds. */
	int64_t ms = clock_epoch_ms();
	assert_true(ms > INT64_C(1704067200000));
	assert_true(ms < INT64_C(7258118400000));
}

static void test_timespec(void **state)
{
	(void)state;
	static const struct {
		int64_t ms;
		long long sec;
		long nsec;
	} cases[] = {
		{0, 0, 0},
		{1, 0, 1000000},
		{999, 0, 999000000},
		{1000, 1, 0},
		{1795232400123LL, 1795232400LL, 123000000},
		{-1, -1, 999000000},
		{-1000, -1, 0},
		{-1001, -2, 999000000},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct timespec ts = clock_timespec(cases[i].ms);
		assert_int_equal(ts.tv_sec, cases[i].sec);
		assert_int_equal(ts.tv_nsec, cases[i].nsec);
	}
}

/* A wait on a monotonic condition variable until a clock_mono_ms deadline ends near it. */
static void test_timespec_deadline_on_a_monotonic_condvar(void **state)
{
	(void)state;
	pthread_cond_t cond;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	assert_int_equal(compat_cond_init_monotonic(&cond), 0);

	int64_t start = clock_mono_ms();
	struct timespec deadline = clock_timespec(start + 50);
	pthread_mutex_lock(&mu);
	int rc = 0;
	while (rc == 0)
		rc = compat_cond_timedwait_monotonic(&cond, &mu, &deadline);
	pthread_mutex_unlock(&mu);
	int64_t waited = clock_mono_ms() - start;
	assert_true(waited >= 49);
	assert_true(waited < 5000);
	pthread_cond_destroy(&cond);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_monotonic_readings),
		cmocka_unit_test(test_epoch_is_recent),
		cmocka_unit_test(test_timespec),
		cmocka_unit_test(test_timespec_deadline_on_a_monotonic_condvar),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
