/* webhook_runner: makes the webhook calls the planner asks for (plan/hooks.h) without ever
 * waiting on one: each call is a POST through a libcurl multi handle that the controller's pass
 * drives (webhook_runner_tend does what is ready and returns at once), so a hook that hangs
 * costs the loop nothing; its answer counts at the first pass after it arrives.
 *
 * Promises: the payload is Flagger's ({"name", "namespace", "phase", "checksum", "metadata"},
 * events with eventMessage, eventType and timestamp in the metadata); one call is one question
 * under a key and is made once per key; an attempt that got no answer or a 5xx is retried, at
 * most WEBHOOK_ATTEMPTS attempts with backoff between; each attempt has the hook's timeout and a
 * WEBHOOK_REPLY_MAX reply cap; a gate that said no (confirm-*) or any rollback hook is asked again
 * WEBHOOK_REASK_MS after its last answer, the old answer counting until the new one arrives; at
 * most WEBHOOK_RESULTS_MAX answers are kept (the oldest final ones go first), in memory only. */
#ifndef CLAWFLEET_WEBHOOK_RUNNER_H
#define CLAWFLEET_WEBHOOK_RUNNER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "desired/desired.h"
#include "plan/hooks.h"

#define WEBHOOK_ATTEMPTS 3
#define WEBHOOK_REPLY_MAX (64 * 1024)
#define WEBHOOK_REASK_MS 3000
#define WEBHOOK_RESULTS_MAX 128
#define WEBHOOK_CALLS_MAX 32 /* in flight or waiting to retry; more wait for a later pass */
#define WEBHOOK_NAMESPACE "clawfleet" /* the payload's namespace: one fleet per controller */

struct webhook_runner;

int webhook_runner_new(struct webhook_runner **out, struct cf_err *err);
void webhook_runner_free(struct webhook_runner *r);
/* Takes in the attempts that ended, starts the retries that are due; never blocks. */
void webhook_runner_tend(struct webhook_runner *r, int64_t wall_ms);
/* Starts the calls of promo's webhooks among calls[0..n) that need making (see above). */
void webhook_runner_ask(struct webhook_runner *r, const struct promotion *promo,
			const struct hook_call *calls, size_t n, int64_t wall_ms);
/* The answers kept, for the planner's observation and /status; valid until the next call. */
const struct hook_result *webhook_runner_results(const struct webhook_runner *r, size_t *n);
const struct hook_count *webhook_runner_counts(const struct webhook_runner *r, size_t *n);
/* True while a call is in flight or waits to retry: the next pass should come soon. */
bool webhook_runner_busy(const struct webhook_runner *r);

#endif
