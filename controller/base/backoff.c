#include "base/backoff.h"

#include <stdlib.h>

int64_t backoff_ms(int64_t first_ms, int64_t max_ms, unsigned int failures, unsigned int *seed)
{
	int64_t full = first_ms;
	for (unsigned int i = 1; i < failures && full < max_ms; i++)
		full *= 2;
	if (full > max_ms)
		full = max_ms;
	return full / 2 + rand_r(seed) % (full / 2 + 1);
}
