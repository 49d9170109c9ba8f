#include "base/clock.h"

static struct timespec now(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return ts;
}

int64_t clock_mono_ms(void)
{
	struct timespec ts = now(CLOCK_MONOTONIC);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_epoch_ms(void)
{
	struct timespec ts = now(CLOCK_REALTIME);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_us(void)
{
	struct timespec ts = now(CLOCK_MONOTONIC);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec clock_timespec(int64_t ms)
{
	/* floor, so that a negative deadline still has 0 <= tv_nsec < 1e9 */
	int64_t frac = ms % 1000;
	if (frac < 0)
		frac += 1000;
	return (struct timespec){.tv_sec = (time_t)((ms - frac) / 1000),
				 .tv_nsec = (long)(frac * 1000000)};
}
