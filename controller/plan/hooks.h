/* hooks: the Promotion's webhooks (spec.canary.analysis.webhooks, Flagger's types) as the pure
 * planner sees them. The planner never calls a webhook: each pass it lists the calls it wants
 * (plan_output.hook_calls: a question, such as "may the canary go to 20 %?", under a key) and
 * reads the answers the caller collected since (fleet_observation.hooks), so a slow or dead
 * webhook never holds up a pass. The caller (act/webhook_runner.h) asks each question once per
 * key: it retries a call that got no answer or a 5xx a bounded number of times, asks a gate
 * (confirm-*, rollback) again a few seconds after its last answer, and keeps the answers in
 * memory. What must outlive that memory the planner keeps in the rollout state (struct
 * hook_memory): a pre-rollout hook that passed for this build is not asked again after a
 * restart, a rollout hook's last judged window and its failures in a row still count, and an
 * event or post-rollout call not yet answered is made again (at least once). A restarted
 * controller asks its confirm-* gates again: a gate is a question about now.
 *
 * A key is "<checksum>/<question>": the checksum (HOOK_CHECKSUM_LEN hex digits of the sha256 of
 * the rollout's tag and commit, the payload's "checksum") makes an answer about one build count
 * for no other. What each type means (Flagger's meaning) is stated in plan/plan_hooks.c. */
#ifndef CLAWFLEET_HOOKS_H
#define CLAWFLEET_HOOKS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desired/desired.h"

#define HOOK_NAME_MAX 64
#define HOOK_KEY_MAX 128
#define HOOK_CHECKSUM_LEN 16
#define HOOK_ERROR_MAX 256
#define HOOK_EVENT_MAX 512
#define HOOK_PHASE_MAX 16

enum hook_verdict {
	HOOK_PENDING, /* asked, no final answer yet */
	HOOK_PASSED,  /* a 2xx */
	HOOK_FAILED,  /* a non-2xx or no answer, after the retries */
};

/* The last answer to one question of one webhook. */
struct hook_result {
	char name[HOOK_NAME_MAX];
	enum webhook_type type;
	char key[HOOK_KEY_MAX];
	enum hook_verdict verdict;
	long status;		    /* the last HTTP status; 0: none arrived */
	char error[HOOK_ERROR_MAX]; /* why the last attempt got no answer; "" */
	int attempts;		    /* of the last call */
	int64_t at_ms;		    /* wall clock: the last attempt ended; 0: none has */
};

/* A call the planner wants made: webhook name (of the Promotion being rolled out), the key of
 * its question, Flagger's phase and checksum for the payload, and for event hooks the event. */
struct hook_call {
	char name[HOOK_NAME_MAX];
	enum webhook_type type;
	char key[HOOK_KEY_MAX];
	char phase[HOOK_PHASE_MAX];
	char checksum[HOOK_CHECKSUM_LEN + 1];
	char event_message[HOOK_EVENT_MAX]; /* event hooks: eventMessage; "" otherwise */
	const char *event_type;		    /* event hooks: "Normal" or "Warning"; NULL otherwise */
};

#define HOOK_MARKS_MAX 20 /* one per webhook: a Promotion has at most 20 */
#define HOOK_OWED_MAX 16

/* A pre-rollout or rollout hook's judged answer, kept in the rollout state. */
struct hook_mark {
	char name[HOOK_NAME_MAX];
	char key[HOOK_KEY_MAX]; /* the last question judged: this build's pre-rollout, a window */
	bool passed;		/* its answer was a 2xx */
	int failures;		/* rollout hooks: windows failed in a row, up to key's */
};

/* The webhooks' part of the rollout state: the marks of this build's rollout (none outside
 * one) and the notifications (event, post-rollout) asked for and not yet answered, oldest
 * first; when more are owed than fit, the oldest is given up. */
struct hook_memory {
	struct hook_mark marks[HOOK_MARKS_MAX];
	size_t nmarks;
	struct hook_call owed[HOOK_OWED_MAX];
	size_t nowed;
};

/* Calls made by one webhook, by result: ok (2xx), rejected (another status), error (none). */
struct hook_count {
	char name[HOOK_NAME_MAX];
	unsigned long long ok, rejected, error;
};

/* A result's answer in words: "HTTP 503", "HTTP 200", or the error ("no answer yet"). */
void hook_result_describe(const struct hook_result *r, char *dst, size_t size);
const char *hook_verdict_name(enum hook_verdict v); /* "pending", "passed", "failed" */

#endif
