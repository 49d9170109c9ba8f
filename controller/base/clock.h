/* clock: the two clocks every module reads, and the only place that reads them. Deadlines,
 * timeouts and intervals use the monotonic one (never jumps); timestamps people and peers read
 * use the wall clock. Milliseconds, or microseconds where a latency needs them. */
#ifndef CLAWFLEET_CLOCK_H
#define CLAWFLEET_CLOCK_H
#include <stdint.h>
#include <time.h>

int64_t clock_mono_ms(void);
int64_t clock_epoch_ms(void);
/* The monotonic clock in microseconds: for latencies measured finer than a millisecond. */
int64_t clock_mono_us(void);
/* A deadline in milliseconds on either clock as the struct timespec pthread_cond_timedwait
 * takes: from clock_mono_ms for a condition variable set to CLOCK_MONOTONIC, from
 * clock_epoch_ms for one left on the default CLOCK_REALTIME. */
struct timespec clock_timespec(int64_t ms);

#endif
