/* backoff: a table of bounds and failure counts with the range each delay must fall in (between
 * half and all of the first delay doubled per failure, capped), with the controller's and the
 * agent's numbers; and the spread: delays drawn for the same failure count differ. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/backoff.h"

struct row {
	int64_t first_ms, max_ms;
	unsigned int failures;
	int64_t lo, hi;
};

static const struct row rows[] = {
	/* the controller's nodes and passes: 1 s doubled up to 5 min */
	{1000, 300000, 1, 500, 1000},
	{1000, 300000, 2, 1000, 2000},
	{1000, 300000, 3, 2000, 4000},
	{1000, 300000, 9, 128000, 256000},
	{1000, 300000, 10, 150000, 300000},
	{1000, 300000, 40, 150000, 300000},
	{1000, 300000, 4000000000u, 150000, 300000},
	/* the agent: 1 s doubled up to 1 min */
	{1000, 60000, 1, 500, 1000},
	{1000, 60000, 6, 16000, 32000},
	{1000, 60000, 7, 30000, 60000},
	{1000, 60000, 100, 30000, 60000},
	/* a first delay that is the cap; the smallest first delay */
	{5000, 5000, 3, 2500, 5000},
	{1, 1, 1, 0, 1},
};

static void test_bounds(void **state)
{
	(void)state;
	unsigned int seed = 7;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		for (int k = 0; k < 200; k++) {
			int64_t d = backoff_ms(r->first_ms, r->max_ms, r->failures, &seed);
			if (d < r->lo || d > r->hi)
				fail_msg("row %zu: %lld ms, want %lld..%lld", i, (long long)d,
					 (long long)r->lo, (long long)r->hi);
		}
	}
}

static void test_spread(void **state)
{
	(void)state;
	unsigned int seed = 1;
	int64_t first = backoff_ms(1000, 300000, 5, &seed), low = first, high = first;
	for (int k = 0; k < 100; k++) {
		int64_t d = backoff_ms(1000, 300000, 5, &seed);
		low = d < low ? d : low;
		high = d > high ? d : high;
	}
	/* 100 draws from 8000..16000 spread over more than a quarter of the range. */
	assert_true(high - low > 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_spread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
