/* clock: the two clocks every module reads. Deadlines, timeouts and intervals use the monotonic
 * one (never jumps); timestamps people and peers read use the wall clock. Milliseconds. */
#ifndef CLAWFLEET_CLOCK_H
#define CLAWFLEET_CLOCK_H
#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_epoch_ms(void);

#endif
