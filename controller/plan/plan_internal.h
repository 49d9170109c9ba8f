/* plan_internal: private to plan/, the planner's own files; nothing outside plan/ includes it.
 * planner.h is the contract; this is how the planner's chapters keep it together. One plan()
 * call is one pass: struct pass carries its inputs, the state it builds (out->next) and what it
 * found out on the way; each chapter below is a file and lists what the others call in it:
 *
 *   planner.c        the pass: setup, the controls (suspend, abort, supersede), the phase
 *                    dispatch, the conditions, and the helpers every chapter uses
 *   plan_emit.c      what a pass sends: actions, node targets, weights, routes, audit lines,
 *                    broadcasts
 *   plan_judge.c     the verdict on what the nodes report: worst probe, the canary against its
 *                    peers and the Promotion's thresholds, failureLimit, lock parity
 *   plan_start.c     Idle, Succeeded and RolledBack: adopting, bringing up, or starting a rollout
 *   plan_steps.c     the way forward: Shadow, Promoting, Analysing, Mirroring, Finalising
 *   plan_rollback.c  the way back: Held, RollingBack, RolledBack and the quarantine
 *   plan_gates.c     what people say through the Promotion: gates and approvals, the retry
 *                    that lifts a quarantine, the rollback window
 *   plan_safety.c    in every phase, after it: red gateways drained, restored when green,
 *                    never below minServing
 *   plan_weights.c   weights_for_percent and weights_declared (planner.h; no pass)
 *   plan_lb.c        what the pass keeps at the load balancer beyond weights: the drain
 *                    before a restart and the tenant routes
 *   plan_parity.c    the hold while two Macs on the same build disagree on what must be
 *                    identical (contracts/parity_peers.h)
 *   plan_hooks.c     the Promotion's webhooks (hooks.h): the gates they hold, the checks they
 *                    fail, what they are told
 *   plan_analysis.c  the Promotion's metrics from Prometheus: each window judged, the
 *                    failures counted, what a step waits for */
#ifndef CLAWFLEET_PLAN_INTERNAL_H
#define CLAWFLEET_PLAN_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contracts/parity_peers.h"
#include "plan/planner.h"

enum target_kind {
	TARGET_SHADOW,	 /* the canary: the new build, skills/next, canary tenants on next */
	TARGET_FINAL,	 /* the new build, skills/current, every tenant on current */
	TARGET_ROLLBACK, /* the last good build, skills/current */
};

#define NO_NODE SIZE_MAX

struct verdict {
	enum probe_status status;
	size_t node; /* desired node index; NO_NODE when green */
	const char *reason;
};

struct pass {
	const struct desired_state *d;
	const struct promotion *promo; /* NULL: no Promotion in the repository */
	const struct fleet_observation *obs;
	const struct rollout_state *prev;
	int64_t now;  /* the rollout clock: every measurement */
	int64_t wall; /* the wall clock: only the times people read (rollout.h) */
	struct plan_output *out;
	struct rollout_state *s; /* &out->next */
	struct cf_err *err;

	size_t *order; /* desired node indexes in rollout order */
	size_t ncanary; /* order[0..ncanary) are the canary gateways */
	const struct node_observation **seen; /* per desired node; NULL when not reported */
	struct rollout_node **entry;	      /* per desired node, in s->nodes */
	size_t *target_action;		      /* per desired node: its NODE_TARGET this pass */
	size_t weights_action;		      /* the SET_WEIGHTS of this pass */
	double *p95_scratch;		      /* per desired node: plan_judge sorts peers' p95s */
	bool weights_ensured;		      /* a phase said what the weights are this pass */

	bool want_known; /* the Promotion's build, with the commit its tag names */
	struct rollout_version want;
	const char *lock_sha256; /* what every node on the new build must report */
	char actor[ROLLOUT_TEXT_MAX];
	char ticket[AUDIT_TICKET_MAX];
	char revision[ROLLOUT_REVISION_MAX];

	bool suspended;
	bool busy;  /* the pass waits for the fleet to catch up */
	bool moved; /* the pass changes a node, a weight or a route */
	char progress[ROLLOUT_MESSAGE_MAX];
	char stall_reason[ROLLOUT_REASON_MAX];
	char stall_message[ROLLOUT_MESSAGE_MAX];
	bool degraded; /* plan_safety: a gateway is drained, or red and kept for minServing */
	char degraded_reason[ROLLOUT_REASON_MAX];
	char degraded_message[ROLLOUT_MESSAGE_MAX];
	char hold_detail[ROLLOUT_MESSAGE_MAX]; /* what the next plan_hold's message adds */
};

/* planner.c: text, comparisons, what a node reports, and the pass's own record. */
void plan_copy_str(char *dst, size_t size, const char *src);
void plan_copy_code(char *dst, size_t size, const char *src);
/* A sentence of the planner's own (an audit note): control characters become "_". */
void plan_copy_note(char *dst, size_t size, const char *src);
bool plan_hex_of_len(const char *s, size_t len);
bool plan_same_str(const char *a, const char *b);
bool plan_same_version(const struct rollout_version *a, const struct rollout_version *b);
const char *plan_node_name(const struct pass *p, size_t i);
bool plan_reachable(const struct pass *p, size_t i);
bool plan_runs_version(const struct pass *p, size_t i, const struct rollout_version *v);
int64_t plan_max_hold(const struct pass *p);
/* The rollout went straight to Mirroring (the rollback window): the canary gateways are
 * mirrored as the others, to the final build. */
bool plan_skipped_canary(const struct rollout_state *s);
void plan_progress(struct pass *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void plan_format(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void plan_stall(struct pass *p, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void plan_waiting(struct pass *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void plan_enter(struct pass *p, enum rollout_phase phase);
void plan_add_history(struct pass *p, enum rollout_outcome outcome, const char *reason);

/* Phases. Each handler judges the nodes first (so a red verdict never follows a re-sent target
 * in the same pass), then keeps or moves the fleet, then says what it waits for. A step forward
 * lists its audit line before the motion it records, so a controller that stops at a failed
 * action never moves a build it could not record; a rollback moves first and records after, so
 * a log that cannot be written never keeps a bad build in service. */
int plan_dispatch(struct pass *p);

/* plan_emit.c */
struct rollout_action *plan_new_action(struct pass *p, enum rollout_action_kind kind);
int plan_emit_audit(struct pass *p, enum audit_event event, enum rollout_phase phase,
	       const char *reason);
/* The same line with a sentence for its reason ("rollback window: v2 succeeded here 2 rollouts
 * ago"). */
int plan_emit_audit_note(struct pass *p, enum audit_event event, enum rollout_phase phase,
			 const char *note);
int plan_emit_broadcast(struct pass *p, enum broadcast_verdict verdict, const char *key, size_t node,
		   const char *reason, const char *message);
/* How long a node applying a target is not drained for a red probe (plan_safety.c). */
#define PLAN_APPLY_GRACE_MS (5 * 60 * 1000)

/* A gateway's drain or restore: the pass's phase, the node named. */
int plan_emit_node_audit(struct pass *p, enum audit_event event, size_t node, const char *reason);
/* Without the key: the caller emits once per transition it records in the state. */
int plan_emit_broadcast_now(struct pass *p, enum broadcast_verdict verdict, size_t node,
			    const char *reason, const char *message);
int plan_target_restarts(struct pass *p, size_t i, enum target_kind kind, bool *restarts);
int plan_ensure_target(struct pass *p, size_t i, enum target_kind kind, bool *acked);
int plan_keep_targets(struct pass *p, bool *all_acked, size_t *first);
bool plan_weights_match(const struct weight_map *seen, const struct weight_map *want);
/* The load balancer reports want with the drained servers at 0 (false when unread or out of
 * memory: the caller sets the weights again). */
bool plan_weights_reached(const struct pass *p, const struct weight_map *want);
int plan_ensure_weights(struct pass *p, const struct weight_map *want, bool *matched);
int plan_route_canary_tenants(struct pass *p, bool canary);

/* plan_lb.c. Drain before restart: plan_drain_applies says whether node i is drained before a
 * restart; plan_drain drains it (what begins the waiting message) and sets *drained once the
 * restart may go out; plan_drain_before does so when the target of kind restarts node i (else
 * *ready at once); plan_restart_drained is plan_ensure_target after plan_drain_before, 1 while
 * the node drains (the pass's progress says so). The pass calls
 * plan_settle_drain before the phase (a drained node restarted and green is back) and
 * plan_keep_drain and plan_keep_routes after it; plan_ensure_weights plans the drained node's
 * weight 0 through plan_drained_weights. */
bool plan_drain_applies(const struct pass *p, size_t i);
int plan_drain(struct pass *p, size_t i, const char *what, bool *drained);
int plan_drain_before(struct pass *p, size_t i, enum target_kind kind, const char *what,
		      bool *ready);
int plan_restart_drained(struct pass *p, size_t i, enum target_kind kind, const char *what,
			 bool *acked);
int plan_drained_weights(struct pass *p, struct weight_map *m);
void plan_settle_drain(struct pass *p);
int plan_keep_drain(struct pass *p);
int plan_keep_routes(struct pass *p);

/* plan_judge.c */
struct verdict plan_judge(const struct pass *p);
int plan_failure_limit(const struct pass *p);
bool plan_red_tolerated(struct pass *p, const struct verdict *v);
size_t plan_peer_not_green(const struct pass *p, const char **reason);
bool plan_parity_ok(const struct pass *p, size_t i);

/* plan_analysis.c: the Promotion's metrics (spec.canary.analysis.metrics), judged once per pass
 * of a step. plan_metrics_judge takes each new window into s->metrics and returns the index of
 * a metric at its failureLimit (its reason code in code, "metric.<name>"), else -1;
 * plan_metrics_waiting says why the step may not advance yet (a metric without a passing
 * window in this step) into why, false when it may; plan_metrics_note is what an advancing
 * step's audit line records of them ("" without metrics). */
int plan_metrics_judge(struct pass *p, char *code, size_t size);
bool plan_metrics_waiting(const struct pass *p, char *why, size_t size);
void plan_metrics_note(const struct pass *p, char *note, size_t size);

/* plan_start.c */
int plan_settle(struct pass *p);
int plan_keep_steady(struct pass *p);
int plan_start_bring_up(struct pass *p);

/* plan_steps.c */
int plan_step_shadow(struct pass *p);
int plan_step_promoting(struct pass *p);
int plan_step_analysing(struct pass *p);
int plan_step_mirroring(struct pass *p);
int plan_step_bring_up(struct pass *p);
int plan_step_finalising(struct pass *p, bool entering);
/* Held at a gate (rollout_state.gate_percent): red still fails, and so do the metrics of a gate
 * after a step; yellow becomes a hold of its own, an approval moves on. */
int plan_step_gate(struct pass *p);
/* Straight to Mirroring from the first node on (the rollback window), the note in the audit. */
int plan_skip_canary(struct pass *p, const char *note);

/* plan_safety.c */
int plan_safety(struct pass *p);
int plan_green_passes_needed(const struct pass *p); /* greenWindows, 2 without a Promotion */
/* Drained servers of m to 0. */
int plan_overlay_drains(const struct pass *p, struct weight_map *m, struct cf_err *err);
/* What the load balancer reports, each drained server at the weight its phase gave it: the
 * snapshot a rollout starts from, never a drain taken for a wish. */
int plan_observed_weights(struct pass *p, struct weight_map *out);
/* True, with why, when the mirror may not take node i out: another gateway of its zone is
 * drained, or fewer than minServing gateways would keep traffic. */
bool plan_mirror_blocked(const struct pass *p, size_t i, char *why, size_t size);

/* plan_rollback.c */
int plan_hold(struct pass *p, const char *reason, size_t node);
int plan_fail(struct pass *p, const char *reason, size_t node);
int plan_start_rollback(struct pass *p, const char *reason, size_t node, bool quarantine_it);
int plan_step_rolling_back(struct pass *p);
int plan_step_held(struct pass *p);
const struct rollout_quarantine *plan_quarantined(const struct rollout_state *s,
					     const struct rollout_version *v);

/* plan_parity.c: 1 when peers on one build disagree and the pass held (or, past maxHold,
 * failed) for it, its result in *rc; 0 when they agree. */
int plan_parity_hold(struct pass *p, int *rc);

/* plan_gates.c */
bool plan_gated(const struct pass *p, int percent, bool mirroring);
bool plan_approved(const struct pass *p, int percent);
int plan_hold_for_approval(struct pass *p, int percent);
/* "waiting for approval of 50 % (clawfleet rollout promote)" for s's gate. */
void plan_gate_message(const struct rollout_state *s, char *dst, size_t size);
int plan_lift_quarantine(struct pass *p, const struct rollout_quarantine *q, bool *lifted);
bool plan_rollback_window(const struct pass *p, char *note, size_t size);

/* plan_hooks.c. Each returns -1 only when out of memory. plan_hook_gate asks the hooks of type
 * (a confirm-* gate) question and sets *open once all of them answered 2xx (at once when there
 * are none), with what they answered appended to note (the audit line of the move); while one
 * answered otherwise the rollout is Held (reason webhook.<type>, the message names the hook),
 * while one has not answered the pass waits. plan_hooks_rollback (every pass of a rollout under
 * way), plan_hooks_pre_rollout (Shadow, before the first step) and plan_hooks_window
 * (Analysing) ask rollback, pre-rollout and rollout hooks and return 1 when that decided the
 * pass (a wait, or a failed check that fails the rollout), its result in *rc;
 * plan_hooks_step_passed says whether every rollout hook's last judged window is in this step
 * and answered 2xx (why names the first that did not). plan_hooks_held resumes a hold of
 * plan_hook_gate's; plan_hooks_notify (the end of every pass) keeps the state's hook memory,
 * asks again for the notifications owed, tells event hooks of a phase change and post-rollout
 * hooks of an end. */
int plan_hook_gate(struct pass *p, enum webhook_type type, const char *question, bool *open,
		   char *note, size_t size);
int plan_hooks_rollback(struct pass *p, int *rc);
int plan_hooks_pre_rollout(struct pass *p, int *rc);
int plan_hooks_window(struct pass *p, int *rc);
bool plan_hooks_step_passed(struct pass *p, char *why, size_t size);
bool plan_hooks_holding(const struct rollout_state *s);
int plan_hooks_held(struct pass *p);
int plan_hooks_notify(struct pass *p);

#endif
