/* leader: the timing of one replica's lease on the leader key (README "High availability"),
 * pure: the daemon's renew thread asks what to do next and when, the pass asks whether it may
 * act. Times are CLOCK_MONOTONIC milliseconds (base/clock), never the wall clock, which may step.
 *
 * What it promises:
 *   - a lease granted or renewed by a request sent at `sent` lives in etcd until at least
 *     sent + ttl (etcd counts from when it handles the request, which is later), so the
 *     leader's own deadline, sent + ttl*2/3, falls a third of the lease before anyone else can
 *     win the key: past it the leader takes no action (no weight, no target) until it renews;
 *   - the leader renews at sent + ttl/3, so two renewals can fail before the deadline;
 *   - a follower asks for the key every ttl/3 (at least LEADER_POLL_MIN_MS, at most
 *     LEADER_POLL_MAX_MS): once the leader's lease expires a follower takes over within that. */
#ifndef CLAWFLEET_LEADER_H
#define CLAWFLEET_LEADER_H
#include <stdbool.h>
#include <stdint.h>

#define LEADER_POLL_MIN_MS 200
#define LEADER_POLL_MAX_MS 2000

struct leader_timing {
	int64_t ttl_ms;	 /* the lease's */
	bool leading;	 /* this replica holds the key */
	int64_t sent_ms; /* leading: when the last grant or renewal that succeeded was sent */
	int64_t tried_ms; /* when the last request (campaign, renewal) was sent; 0: none yet */
};

enum leader_step {
	LEADER_WAIT,	  /* nothing to do before *at */
	LEADER_CAMPAIGN,  /* a follower asks for the key (and takes it when it is free) */
	LEADER_RENEW,	  /* the leader renews its lease */
	LEADER_STEP_DOWN, /* the deadline passed without a renewal: the leader is one no more */
};

/* The leader's deadline: it may act while now < leader_deadline_ms. */
int64_t leader_deadline_ms(int64_t sent_ms, int64_t ttl_ms);
/* How long a follower waits between two looks at the key. */
int64_t leader_poll_ms(int64_t ttl_ms);
/* What the renew thread does at now; LEADER_WAIT sets *at, when to ask again. */
enum leader_step leader_next(const struct leader_timing *t, int64_t now, int64_t *at);
/* Whether a replica may act at now: it leads and its deadline has not passed. */
bool leader_may_act(const struct leader_timing *t, int64_t now);

#endif
