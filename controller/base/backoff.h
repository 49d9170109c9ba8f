/* backoff: the one retry delay. After the n-th failure in a row a retry waits the first delay
 * doubled n - 1 times, capped, and then a random part of it: between half and all, so that what
 * failed together (a fleet, a batch of nodes) does not retry together. Each caller keeps its own
 * bounds (the controller's nodes and passes: 1 s to 5 min; the agent: 1 s to 1 min) and its own
 * seed for rand_r, so the function is pure apart from that seed. */
#ifndef CLAWFLEET_BACKOFF_H
#define CLAWFLEET_BACKOFF_H
#include <stdint.h>

/* Milliseconds to wait after failures (>= 1) failures in a row; 0 < first_ms <= max_ms. */
int64_t backoff_ms(int64_t first_ms, int64_t max_ms, unsigned int failures, unsigned int *seed);

#endif
