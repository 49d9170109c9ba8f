/* fleet_act: the controller's act step. fleet_act carries out one plan (planner.h) against the
 * world through a table of operations: the agents (PUT /v1/target), the load balancer, the audit
 * log, the notifier and the rollout store. The controller's loop passes the real ones; the tests
 * pass a recording fake and assert the exact calls a plan makes.
 *
 * Intent before, done after: the plan's next state, which files every one-shot action (AUDIT,
 * ROUTE_TENANT, BROADCAST) in its pending list, is saved before the first action and only then
 * becomes the caller's state; each one-shot action is reported done (rollout_pending_done) and
 * the state saved again as soon as it succeeds, before the next action starts. NODE_TARGET and
 * SET_WEIGHTS need no record: their generation and map are in the saved state and the next
 * observation shows whether they took; neither do DRAIN_NODE, READY_NODE and a ROUTE_TENANT the
 * planner re-asserts from what it read (id 0), which it plans again while the load balancer
 * reports otherwise. A controller killed anywhere therefore finds the one-shot actions it had not
 * finished still pending, and the planner hands them out again.
 *
 * Actions run in the planner's order; a run of consecutive NODE_TARGETs goes out as one batch.
 * A failed audit line stops the pass before anything after it, since the planner lists a step's
 * record before the motion it records; so does a state that cannot be saved. Any other failure
 * is counted (status_metrics), logged (a failure of weights, a route or an audit line only when
 * its message changes) and left to the next pass, whose plan asks again (level-triggered):
 *   - a node whose target was refused or not answered backs off on its own, between half and all
 *     of FLEET_BACKOFF_FIRST_MS doubled per failure up to FLEET_BACKOFF_MAX_MS, so one
 *     unreachable Mac never holds back the others (a rollback of the rest goes on); a batch that
 *     cannot be sent at all (the token file) counts a failure for each node and backs none off;
 *   - SET_WEIGHTS counts only once the load balancer has read back every weight asked for
 *     (apply_weights); a server whose weight differs fails the action, and the planner moves on
 *     to what depends on it only when an observation reports the map;
 *   - a broadcast the notifier keeps refusing is given up (reported done) on its
 *     FLEET_BROADCAST_ATTEMPTS-th try, so a notifier outage never fills the pending list.
 * When ops->stopping says so (SIGTERM), the pass ends after the action under way. */
#ifndef CLAWFLEET_FLEET_ACT_H
#define CLAWFLEET_FLEET_ACT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "act/target_client.h"
#include "base/err.h"
#include "base/weightmap.h"
#include "desired/desired.h"
#include "plan/planner.h"
#include "plan/rollout.h"
#include "record/status.h"

/* The bounds of backoff_ms (base/backoff.h) for a node's targets and the controller's passes. */
#define FLEET_BACKOFF_FIRST_MS 1000
#define FLEET_BACKOFF_MAX_MS 300000
#define FLEET_BROADCAST_ATTEMPTS 5
#define FLEET_BROADCASTS_TRACKED 16

/* The world the act step changes. Every operation returns 0 or -1 with err saying what to do;
 * each one logs what it did when it succeeds. ctx is passed back to each. */
struct fleet_world_ops {
	/* Persists the rollout state (intent before, done after); may skip a state equal to the
	 * last one it saved. */
	int (*save_state)(void *ctx, const struct rollout_state *s, struct cf_err *err);
	/* Sends every put, filling each one's result (target_client_put); -1 only when none
	 * could be sent. */
	int (*put_targets)(void *ctx, struct agent_put *puts, size_t n, struct cf_err *err);
	/* Sets the load balancer's weights, then reads them back: -1 when any server reports a
	 * weight other than the one asked for (weights_apply). */
	int (*apply_weights)(void *ctx, const struct weight_map *want, struct cf_err *err);
	int (*route_tenant)(void *ctx, const struct rollout_route *r, struct cf_err *err);
	/* Puts d's server into the load balancer's own drain state (drain: no new sessions, the
	 * weight kept) or back to ready, and reads it back (weights_drain); nothing to do for a
	 * load balancer whose drain is weight 0. */
	int (*drain)(void *ctx, const struct rollout_drain *d, bool drain, struct cf_err *err);
	/* Appends the line and makes it durable before returning 0 (audit_append). */
	int (*append_audit)(void *ctx, const struct rollout_audit *au, struct cf_err *err);
	/* Tells the notifier; id names the action (its correlation id). */
	int (*broadcast)(void *ctx, uint64_t id, const struct rollout_broadcast *b,
			 struct cf_err *err);
	/* The monotonic clock in milliseconds (clock_mono_ms), read as each batch of targets goes
	 * out, for the nodes' backoff. */
	int64_t (*mono_ms)(void *ctx);
	/* True when the pass must end before the next action; NULL: never. */
	bool (*stopping)(void *ctx);
	/* Called once the intent is saved and s, the plan's state, is the caller's, before the
	 * first action, with the phase s replaced (the loop logs the plan's progress there); NULL:
	 * nothing to do. */
	void (*intended)(void *ctx, enum rollout_phase was, const struct rollout_state *s);
	void *ctx;
};

/* A node whose target could not be sent waits until retry_mono_ms. */
struct fleet_node_backoff {
	char name[ROLLOUT_NODE_NAME_MAX];
	unsigned int failures;
	int64_t retry_mono_ms;
	int64_t sent_generation; /* the last generation logged as accepted */
};

/* A pending broadcast the notifier refused, and how often. */
struct fleet_broadcast_retry {
	uint64_t id; /* 0: a free slot */
	unsigned int attempts;
};

/* What the act step remembers between passes; zero it, then fleet_act_init. */
struct fleet_act {
	const struct fleet_world_ops *ops;
	struct status_metrics *metrics; /* counted into */
	struct fleet_node_backoff *backoff;
	size_t nbackoff;
	struct fleet_broadcast_retry retries[FLEET_BROADCASTS_TRACKED];
	char *last_weights;			   /* the last weight map logged as read back */
	char *warning[STATUS_ACTION_KINDS];	   /* the last failure of each kind, as logged */
	unsigned int seed;			   /* for the backoff's spread */
};

void fleet_act_init(struct fleet_act *fa, const struct fleet_world_ops *ops,
		    struct status_metrics *metrics, unsigned int seed);
void fleet_act_free(struct fleet_act *fa);

/* Forgets the backoff of nodes that left the fleet, so the table stays as large as the fleet. */
void fleet_act_prune(struct fleet_act *fa, const struct desired_state *ds);

/* One pass's act step: saves out->next (the intent), moves it into *state (the caller's state,
 * freed first), then performs out's actions as the top comment says; ds gives the nodes'
 * addresses. 0 when the pass went to the end (or stopped on ops->stopping), its failures
 * counted, logged and left to the next pass; -1 when a failure stopped it (the intent or a done
 * not saved, an audit line not written), already logged, with err saying why. *state is
 * unchanged when the intent could not be saved. */
int fleet_act(struct fleet_act *fa, const struct desired_state *ds, struct plan_output *out,
	      struct rollout_state *state, struct cf_err *err);

#endif
