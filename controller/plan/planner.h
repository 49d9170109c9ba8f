/* planner: the fleet's rollout as one pure function. plan() takes the desired state, what the
 * fleet reports, the persisted rollout state and the time on the rollout clock (rollout.h: no
 * step of the wall clock reaches what it measures), and returns the ordered actions to take now,
 * the next rollout state (a full copy for the caller to persist before it acts) and the status
 * conditions (Ready, Reconciling, Stalled, Degraded, in the next state).
 * No I/O, no clock, no randomness, no globals: the same inputs give the same outputs.
 *
 * The caller's pass: observe; plan; persist out.next; perform the actions in order (stop at the
 * first failure and back off); report each one-shot action done (rollout.h) and persist again.
 * Actions are idempotent: a NODE_TARGET is repeated with the same generation until the node
 * reports it as observedGeneration, a SET_WEIGHTS until the load balancer reports the map.
 *
 * The rules (Idle, Shadow, Promoting <-> Analysing, Mirroring, Finalising, Succeeded; Held;
 * RollingBack, RolledBack; and in every phase, after it, the drain of red gateways) are stated
 * where they are applied, in planner.c and the plan_*.c files beside it (plan_internal.h lists
 * them), and checked case by case in tests/unit/test_planner.c. */
#ifndef CLAWFLEET_PLANNER_H
#define CLAWFLEET_PLANNER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/lbstate.h"
#include "base/weightmap.h"
#include "contracts/readyz.h"
#include "desired/desired.h"
#include "plan/hooks.h"
#include "observe/metric_sample.h"
#include "plan/rollout.h"


struct fleet_observation {
	const struct node_observation *nodes;
	size_t nnodes;
	struct weight_map weights; /* borrowed: what the load balancer reports */
	bool weights_ok;	   /* false: the weights could not be read this pass */
	/* Beyond the weights (base/lbstate.h), borrowed: each server's health, drain state and
	 * sessions (servers_ok false: not read this pass, or the driver reports none); lb_drain:
	 * the load balancer has a drain state of its own, which DRAIN_NODE and READY_NODE set and
	 * servers reports; the tenant routes with the pools named "canary" and "stable" (routes_ok
	 * false: not read, or the driver cannot read them back). */
	struct lb_servers servers;
	bool servers_ok;
	bool lb_drain;
	struct lb_routes routes;
	bool routes_ok;
	/* What Git says about the Promotion: the commit its tag names (NULL: not resolved), the
	 * sha256 of openclaw.lock in that commit (NULL: the desired state's lock), and the
	 * promotion commit's author and Ticket: trailer (either may be NULL). */
	const char *promotion_commit;
	const char *promotion_lock_sha256;
	const char *actor;
	const char *ticket;
	/* The controller's run: any number that changes when the controller restarts (the daemon
	 * gives its start time); 0 when unknown (a dry run). An analysis window begun in another
	 * run starts anew: nobody watched the fleet in between. */
	int64_t run_id;
	/* The wall clock at this pass, for the times only people read (rollout.h); 0: now_ms is
	 * the wall clock too (a dry run of a state without a rollout clock, a test). */
	int64_t wall_ms;
	/* The webhooks' last answers (plan/hooks.h), borrowed; none: every question unanswered. */
	const struct hook_result *hooks;
	size_t nhooks;
	/* The Promotion's metrics as the controller last measured them in Prometheus, borrowed
	 * (observe/metric_sample.h); none: the metrics have no window yet (plan_analysis.c). */
	const struct metric_sample *metrics;
	size_t nmetrics;
};

struct plan_output {
	struct rollout_action *actions;
	size_t nactions, cap;
	struct rollout_state next;
	/* The webhook calls this pass wants made (plan/hooks.h), in the order asked. */
	struct hook_call *hook_calls;
	size_t nhook_calls, hook_calls_cap;
};

/* Fills *out (plan_output_free it whether or not plan succeeds). Fails only when out of memory
 * or past a limit of rollout.h; a desired state the rollout cannot follow is reported in the
 * Stalled condition instead. */
int plan(const struct desired_state *desired, const struct fleet_observation *observed,
	 const struct rollout_state *state, int64_t now_ms, struct plan_output *out,
	 struct cf_err *err);
void plan_output_free(struct plan_output *out);
/* An empty plan_output on the heap, for a caller that would otherwise hold its ~100 KB (the
 * state it carries) on a stack that keeps every page it touches; NULL when out of memory.
 * plan_output_delete frees what it holds, then it (NULL: nothing). */
struct plan_output *plan_output_new(void);
void plan_output_delete(struct plan_output *out);

/* The weight map that sends percent % (0..100) of new sessions to the canary pool (canary
 * gateways with a load-balancer server) and the rest to the stable pool (every other node with
 * one), each pool split in proportion to the MacNodes' base weights; servers in name order.
 *
 * The pool with the larger share per unit of base weight keeps its base weights times m and the
 * other pool's total is round(m * B_kept * share_other / share_kept), shared out by largest
 * remainder (ties to the earlier name). m is the smallest integer that makes the total at least
 * 100 (1 for base weights of 100), lowered while any weight would pass 256; so no weight exceeds
 * 256 and the canary share is within one point of percent. A fleet without stable servers gives
 * the canary pool everything; a canary pool without weight cannot take a share (an error). */
int weights_for_percent(const struct desired_state *desired, int percent, struct weight_map *out,
			struct cf_err *err);
/* Every load-balancer server at its declared base weight, in name order. */
int weights_declared(const struct desired_state *desired, struct weight_map *out,
		     struct cf_err *err);

#endif
