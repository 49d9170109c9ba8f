#include "record/leader.h"

/* While renewals fail the leader asks again this often (a timeout inside the request spaces them
 * out further), until its deadline. */
#define RETRY_MS 200

int64_t leader_deadline_ms(int64_t sent_ms, int64_t ttl_ms)
{
	return sent_ms + ttl_ms * 2 / 3;
}

int64_t leader_poll_ms(int64_t ttl_ms)
{
	int64_t poll = ttl_ms / 3;
	return poll < LEADER_POLL_MIN_MS   ? LEADER_POLL_MIN_MS
	       : poll > LEADER_POLL_MAX_MS ? LEADER_POLL_MAX_MS
					   : poll;
}

enum leader_step leader_next(const struct leader_timing *t, int64_t now, int64_t *at)
{
	if (!t->leading) {
		*at = t->tried_ms ? t->tried_ms + leader_poll_ms(t->ttl_ms) : now;
		return now >= *at ? LEADER_CAMPAIGN : LEADER_WAIT;
	}
	if (now >= leader_deadline_ms(t->sent_ms, t->ttl_ms))
		return LEADER_STEP_DOWN;
	/* The renewal is due a third of the lease after the last one that succeeded; one that
	 * failed is tried again soon, never past the deadline. */
	*at = t->sent_ms + t->ttl_ms / 3;
	if (t->tried_ms > t->sent_ms && t->tried_ms + RETRY_MS > *at)
		*at = t->tried_ms + RETRY_MS;
	int64_t deadline = leader_deadline_ms(t->sent_ms, t->ttl_ms);
	if (*at > deadline)
		*at = deadline;
	return now >= *at ? LEADER_RENEW : LEADER_WAIT;
}

bool leader_may_act(const struct leader_timing *t, int64_t now)
{
	return t->leading && now < leader_deadline_ms(t->sent_ms, t->ttl_ms);
}
