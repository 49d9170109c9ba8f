/* The way forward: Shadow on the canary gateways, the canary steps (Promoting <-> Analysing),
 * Mirroring the stable nodes one at a time (or a bring-up without an earlier version), and
 * Finalising into Succeeded. */
#include "plan/plan_internal.h"

#include <string.h>

#define BRING_UP_NOTE "no earlier version to compare a canary with: bringing nodes up one at a time"

static int min_samples(const struct pass *p)
{
	return p->promo->analysis.min_samples > 0 ? p->promo->analysis.min_samples : 1;
}

/* The current window starts at this pass, which saw the canary green: its first part is seen. */
static void window_restart(struct pass *p)
{
	struct rollout_state *s = p->s;
	s->window_started_ms = s->window_sampled_ms = p->now;
	if (p->obs->run_id)
		s->window_run = p->obs->run_id;
}

/* The part of the current window (0 .. parts - 1) that time t falls in. */
static int64_t part_of(const struct rollout_state *s, int64_t t, int64_t interval, int64_t parts)
{
	return (t - s->window_started_ms) * parts / interval;
}

/* Windows are observed, not elapsed: a window is analysisInterval long, cut into minSamples
 * equal parts, and counts green only when the controller saw the canary green in every part of
 * it, all in one run. A part without a green pass (the controller was down or stalled) or a
 * controller that started since the window began (fleet_observation.run_id) starts the window
 * anew at this pass; a full window counts at the first pass after its end. The caller judged
 * the canary green in this pass. Returns why the window started anew, or NULL. */
static const char *observe_window(struct pass *p, int64_t interval, int need)
{
	struct rollout_state *s = p->s;
	int64_t parts = min_samples(p);
	if (p->obs->run_id && s->window_run != p->obs->run_id) {
		window_restart(p);
		return "the controller started since it began";
	}
	int64_t seen = s->window_sampled_ms >= s->window_started_ms
			       ? part_of(s, s->window_sampled_ms, interval, parts)
			       : -1;
	if (p->now - s->window_started_ms >= interval) {
		if (seen != parts - 1) {
			window_restart(p);
			return "a part of it passed without a green observation";
		}
		if (s->green_windows < need)
			s->green_windows++;
		s->window_started_ms += interval;
		seen = -1;
	}
	int64_t part = part_of(s, p->now, interval, parts);
	if (part == seen + 1)
		s->window_sampled_ms = p->now;
	else if (part != seen) {
		window_restart(p);
		return "a part of it passed without a green observation";
	}
	return NULL;
}

/* failureLimit tolerates this red verdict: the step waits where it is, and an Analysing step
 * starts its windows again (a window with a red observation in it is not green). */
static int wait_out_red(struct pass *p, const struct verdict *v)
{
	struct rollout_state *s = p->s;
	char where[64];
	if (s->phase == ROLLOUT_SHADOW)
		plan_format(where, sizeof(where), "Shadow");
	else
		plan_format(where, sizeof(where), "step %d (%d %%)", s->step, s->percent);
	if (s->phase == ROLLOUT_ANALYSING) {
		s->window_started_ms = p->now;
		s->window_sampled_ms = 0;
		s->green_windows = 0;
	}
	plan_waiting(p, "%s: %s is red (%s), %d of %d red observations before a rollback", where,
		plan_node_name(p, v->node), v->reason, s->red_observations, plan_failure_limit(p));
	return 0;
}

/* The canary's verdict in a step phase: a red that failureLimit tolerates waits, red fails,
 * yellow holds, and so do peers on one build that disagree (plan_parity.c). 1 when that decided
 * the pass (its result in *rc), 0 when the canary is green and the peers agree. */
static int react_to_canary(struct pass *p, int *rc)
{
	struct verdict v = plan_judge(p);
	if (plan_red_tolerated(p, &v))
		*rc = wait_out_red(p, &v);
	else if (v.status == PROBE_RED)
		*rc = plan_fail(p, v.reason, v.node);
	else if (v.status == PROBE_DEGRADED)
		*rc = plan_hold(p, v.reason, v.node);
	else
		return plan_parity_hold(p, rc);
	return 1;
}

static int start_analysis(struct pass *p)
{
	struct rollout_state *s = p->s;
	plan_enter(p, ROLLOUT_ANALYSING);
	s->step_started_ms = p->now;
	window_restart(p);
	s->green_windows = 0;
	plan_progress(p, "step %d (%d %%): analysing, 0 of %d green windows", s->step, s->percent,
		 p->promo->green_windows);
	return 0;
}

/* Moves the canary to canary.steps[idx]: lock parity on every canary gateway first, then the
 * audit line (with note, when a person let the step go), the weights and the canary tenants'
 * route (the first time the canary takes traffic). */
static int advance(struct pass *p, size_t idx, const char *note)
{
	struct rollout_state *s = p->s;
	struct weight_map m = {0};
	struct cf_err why;
	bool matched;
	int rc = -1;
	for (size_t k = 0; k < p->ncanary; k++)
		if (!plan_parity_ok(p, p->order[k]))
			return plan_fail(p, "lock.parity", p->order[k]);
	int percent = p->promo->steps[idx];
	if (weights_for_percent(p->d, percent, &m, &why) < 0) {
		plan_stall(p, "WeightsUnavailable", "step %zu (%d %%): %s", idx + 1, percent, why.msg);
		rc = 0;
		goto done;
	}
	s->step = (int)idx + 1;
	s->percent = percent;
	plan_enter(p, ROLLOUT_PROMOTING);
	if (rollout_weights_copy(&s->planned_weights, &m, p->err) < 0 ||
	    plan_emit_audit_note(p, AUDIT_STEP, ROLLOUT_PROMOTING, note) < 0 ||
	    plan_ensure_weights(p, &m, &matched) < 0 ||
	    (!s->canary_routed && plan_route_canary_tenants(p, true) < 0))
		goto done;
	if (matched)
		rc = start_analysis(p);
	else {
		plan_waiting(p, "step %d (%d %%): waiting for the load balancer to report the planned "
			   "weights", s->step, s->percent);
		rc = 0;
	}
done:
	weight_map_free(&m);
	return rc;
}

static size_t next_step(const struct promotion *promo, int percent)
{
	for (size_t i = 0; i < promo->nsteps; i++)
		if (promo->steps[i] > percent)
			return i;
	return NO_NODE;
}

static int gate_then(struct pass *p, size_t next);

/* With a LoadBalancer, Shadow keeps the weights the rollout found, but for a canary drained for
 * its restart (plan_lb.c), until the first step moves them. */
static int shadow_weights(struct pass *p)
{
	bool matched;
	return p->d->nlbs ? plan_ensure_weights(p, &p->s->pre_canary_weights, &matched) : 0;
}

/* Shadow: the canary gateways get the new build beside the old one (skills/next, canary tenants
 * on next) and a kickstart, each drained first; no other weight moves. Once every canary reports
 * it and is green, the first step. */
int plan_step_shadow(struct pass *p)
{
	int decided;
	if (react_to_canary(p, &decided))
		return decided;
	size_t first = NO_NODE;
	for (size_t k = 0; k < p->ncanary; k++) {
		bool acked;
		int rc = plan_restart_drained(p, p->order[k], TARGET_SHADOW, "Shadow", &acked);
		if (rc != 0)
			return rc < 0 ? -1 : shadow_weights(p);
		if (!acked && first == NO_NODE)
			first = p->order[k];
	}
	if (first != NO_NODE) {
		plan_waiting(p, "Shadow: waiting for %s to apply generation %lld", plan_node_name(p, first),
			(long long)p->entry[first]->generation);
		return shadow_weights(p);
	}
	if (!p->ncanary) {
		plan_stall(p, "NoCanary", "no MacNode is a canary gateway (role gateway, canary: true)");
		return 0;
	}
	const char *why;
	size_t peer = plan_peer_not_green(p, &why);
	if (peer != NO_NODE) {
		plan_waiting(p, "Shadow: green; waiting for %s (%s) before the first step: never widen "
			   "while a peer is not green", plan_node_name(p, peer), why);
		return shadow_weights(p);
	}
	if (plan_hooks_pre_rollout(p, &decided))
		return decided < 0 || p->s->phase != ROLLOUT_SHADOW ? decided : shadow_weights(p);
	return gate_then(p, 0);
}

int plan_step_promoting(struct pass *p)
{
	struct rollout_state *s = p->s;
	struct weight_map m = {0};
	struct cf_err why;
	bool matched;
	int rc = -1;
	int decided;
	if (react_to_canary(p, &decided))
		return decided;
	if (plan_keep_targets(p, NULL, NULL) < 0)
		return -1;
	if (weights_for_percent(p->d, s->percent, &m, &why) < 0) {
		plan_stall(p, "WeightsUnavailable", "step %d (%d %%): %s", s->step, s->percent, why.msg);
		rc = 0;
		goto done;
	}
	if (plan_ensure_weights(p, &m, &matched) < 0)
		goto done;
	if (matched)
		rc = start_analysis(p);
	else {
		plan_waiting(p, "step %d (%d %%): waiting for the load balancer to report the planned "
			   "weights", s->step, s->percent);
		rc = 0;
	}
done:
	weight_map_free(&m);
	return rc;
}

static int begin_mirroring(struct pass *p, const char *note)
{
	struct rollout_state *s = p->s;
	plan_enter(p, ROLLOUT_MIRRORING);
	s->mirror_index = 0;
	s->mirror_stage = MIRROR_DRAIN;
	s->mirror_node[0] = '\0';
	if (plan_emit_audit_note(p, AUDIT_STEP, ROLLOUT_MIRRORING, note) < 0)
		return -1;
	return plan_step_mirroring(p);
}

/* The move to canary.steps[next] (NO_NODE: Mirroring), unless a gate holds it for a person. */
static int gate_then(struct pass *p, size_t next)
{
	bool mirroring = next == NO_NODE;
	int percent = mirroring ? 100 : p->promo->steps[next];
	char note[ROLLOUT_MESSAGE_MAX] = "", question[64];
	bool confirmed;
	if (plan_gated(p, percent, mirroring)) {
		if (!plan_approved(p, percent))
			return plan_hold_for_approval(p, percent);
		plan_format(note, sizeof(note), "approved: %d %% (spec.approval of %s)", percent,
			    p->s->promotion.tag);
	} else {
		plan_metrics_note(p, note, sizeof(note)); /* the metric values that let it go */
	}
	plan_format(question, sizeof(question), mirroring ? "confirm-promotion"
							  : "confirm-traffic-increase/%d",
		    percent);
	if (plan_hook_gate(p, mirroring ? WEBHOOK_CONFIRM_PROMOTION
					: WEBHOOK_CONFIRM_TRAFFIC_INCREASE,
			   question, &confirmed, note, sizeof(note)) < 0)
		return -1;
	if (!confirmed)
		return 0;
	return mirroring ? begin_mirroring(p, note) : advance(p, next, note);
}

int plan_skip_canary(struct pass *p, const char *note)
{
	return begin_mirroring(p, note);
}

/* Held at a gate: the canary is judged as in any phase (red fails, a red failureLimit tolerates
 * waits, yellow becomes a hold that maxHold measures and that returns to the step when green),
 * and so are the metrics of a gate after a step (the canary keeps its traffic while a person
 * decides: failureLimit failed windows roll back as in Analysing); nothing moves until the
 * approval counts, and then only when the peers are green and each metric's latest window
 * passed. */
int plan_step_gate(struct pass *p)
{
	struct rollout_state *s = p->s;
	char note[ROLLOUT_MESSAGE_MAX], metric[ROLLOUT_MESSAGE_MAX];
	bool at_step = s->held_from == ROLLOUT_ANALYSING;
	int decided;
	if (react_to_canary(p, &decided))
		return decided;
	if (at_step && plan_metrics_judge(p, metric, sizeof(metric)) >= 0)
		return plan_fail(p, metric, p->ncanary ? p->order[0] : NO_NODE);
	if (plan_keep_targets(p, NULL, NULL) < 0)
		return -1;
	plan_gate_message(s, note, sizeof(note));
	if (!plan_approved(p, s->gate_percent)) {
		plan_progress(p, "%s", note);
		return 0;
	}
	const char *why;
	size_t peer = plan_peer_not_green(p, &why);
	if (peer != NO_NODE || !p->obs->weights_ok) {
		plan_waiting(p, "%d %% approved; waiting for %s before moving on: never widen while a "
			     "peer is not green", s->gate_percent,
			     peer != NO_NODE ? plan_node_name(p, peer) : "the load balancer's weights");
		return 0;
	}
	if (at_step && plan_metrics_waiting(p, metric, sizeof(metric))) {
		plan_waiting(p, "%d %% approved; waiting for the metrics: %s", s->gate_percent,
			     metric);
		return 0;
	}
	s->phase = s->held_from;
	s->held_node[0] = s->held_reason[0] = '\0';
	s->hold_started_ms = 0;
	s->gate_percent = 0;
	s->broadcast_key[0] = '\0';
	return gate_then(p, s->phase == ROLLOUT_SHADOW ? 0 : next_step(p->promo, s->percent));
}

/* Analysing: each step holds for at least analysisInterval after its weights were read back and
 * needs greenWindows consecutive green windows, each observed through (observe_window); anything
 * but green holds, rolls back or (a red failureLimit tolerates) starts the windows again, and the
 * count starts again when the rollout resumes. */
int plan_step_analysing(struct pass *p)
{
	struct rollout_state *s = p->s;
	const struct promotion *promo = p->promo;
	struct weight_map m = {0};
	struct cf_err why;
	int rc = -1;
	bool acked;
	size_t first = NO_NODE;
	int decided;
	char metric[ROLLOUT_MESSAGE_MAX];
	if (react_to_canary(p, &decided))
		return decided;
	if (plan_metrics_judge(p, metric, sizeof(metric)) >= 0)
		return plan_fail(p, metric, p->ncanary ? p->order[0] : NO_NODE);
	if (plan_keep_targets(p, &acked, &first) < 0)
		return -1;
	if (weights_for_percent(p->d, s->percent, &m, &why) < 0) {
		plan_stall(p, "WeightsUnavailable", "step %d (%d %%): %s", s->step, s->percent, why.msg);
		rc = 0;
		goto done;
	}
	if (p->obs->weights_ok && !plan_weights_reached(p, &m)) {
		/* The load balancer lost the step's weights (a restart): set them again and
		 * count the step's time from when they read back. */
		bool matched;
		plan_enter(p, ROLLOUT_PROMOTING);
		if (plan_ensure_weights(p, &m, &matched) < 0)
			goto done;
		plan_waiting(p, "step %d (%d %%): the load balancer lost the planned weights; setting "
			   "them again", s->step, s->percent);
		rc = 0;
		goto done;
	}
	if (!acked) {
		s->window_started_ms = p->now;
		s->green_windows = 0;
		plan_waiting(p, "step %d (%d %%): waiting for %s to apply generation %lld", s->step,
			s->percent, plan_node_name(p, first), (long long)p->entry[first]->generation);
		rc = 0;
		goto done;
	}
	int64_t interval = promo->analysis_interval_ms > 0 ? promo->analysis_interval_ms : 1;
	int need = promo->green_windows > 0 ? promo->green_windows : 1;
	const char *anew = observe_window(p, interval, need);
	if (plan_hooks_window(p, &decided)) { /* asked in the window the pass is in */
		rc = decided;
		goto done;
	}
	if (anew) {
		plan_progress(p, "step %d (%d %%): analysing, %d of %d green windows; the window "
			    "started anew: %s", s->step, s->percent, s->green_windows, need, anew);
		rc = 0;
		goto done;
	}
	if (s->green_windows < need || p->now - s->step_started_ms < interval) {
		plan_progress(p, "step %d (%d %%): analysing, %d of %d green windows", s->step, s->percent,
			 s->green_windows, need);
		rc = 0;
		goto done;
	}
	if (!p->obs->weights_ok) {
		plan_waiting(p, "step %d (%d %%): green; waiting to read the load balancer's weights "
			   "before the next step", s->step, s->percent);
		rc = 0;
		goto done;
	}
	if (plan_metrics_waiting(p, metric, sizeof(metric))) {
		plan_waiting(p, "step %d (%d %%): green; waiting for the metrics: %s", s->step,
			     s->percent, metric);
		rc = 0;
		goto done;
	}
	const char *peer_reason;
	size_t peer = plan_peer_not_green(p, &peer_reason);
	if (peer != NO_NODE) {
		plan_waiting(p, "step %d (%d %%): green; waiting for %s (%s) before the next step: never "
			   "widen while a peer is not green", s->step, s->percent,
			plan_node_name(p, peer), peer_reason);
		rc = 0;
		goto done;
	}
	char hooks_why[ROLLOUT_MESSAGE_MAX];
	if (!plan_hooks_step_passed(p, hooks_why, sizeof(hooks_why))) {
		plan_waiting(p, "step %d (%d %%): green; waiting for %s", s->step, s->percent,
			     hooks_why);
		rc = 0;
		goto done;
	}
	size_t next = next_step(promo, s->percent);
	rc = gate_then(p, next);
done:
	weight_map_free(&m);
	return rc;
}

static int enter_finalising(struct pass *p);

static bool takes_traffic(const struct pass *p, size_t i)
{
	const struct mac_node *m = &p->d->nodes[i];
	return m->role == NODE_GATEWAY && m->lb_server;
}

/* The stable node i, out of traffic, is drained of its live sessions before its restart
 * (plan_lb.c); *drained once its target may go out. */
static int mirror_drained(struct pass *p, size_t i, size_t n, bool *drained)
{
	char what[ROLLOUT_MESSAGE_MAX];
	plan_format(what, sizeof(what), "mirroring %s (%zu of %zu)", plan_node_name(p, i),
		    p->s->mirror_index + 1, n);
	return plan_drain_before(p, i, TARGET_FINAL, what, drained);
}

/* Mirroring: the stable gateways one at a time, in zone then name order. From its first pass
 * every gateway keeps its declared weight but the one being changed: drain its weight (not while
 * another gateway of its zone is drained, nor when fewer than minServing would keep traffic),
 * let its live sessions end (plan_lb.c), give it the new build on skills/current with every
 * tenant on current and a kickstart, wait until it reports the target and is green, check its
 * lock, restore its weight and wait until it serves again before the next one goes. Workers and
 * notifiers follow in the same way without the weights. */
int plan_step_mirroring(struct pass *p)
{
	struct rollout_state *s = p->s;
	struct weight_map declared = {0}, m = {0};
	char why[ROLLOUT_MESSAGE_MAX];
	int rc = -1;
	bool matched, acked, drained;
	/* The canary gateways ran the build through the steps; a rollout that skipped them (the
	 * rollback window: no step taken) mirrors them first. */
	size_t first = plan_skipped_canary(s) ? 0 : p->ncanary;
	size_t n = p->d->nnodes - first;
	struct verdict v = plan_judge(p);
	if (v.status == PROBE_RED)
		return plan_fail(p, v.reason, v.node);
	if (v.status == PROBE_DEGRADED)
		return plan_hold(p, v.reason, v.node);
	if (plan_parity_hold(p, &rc))
		return rc;
	if (plan_keep_targets(p, NULL, NULL) < 0 || weights_declared(p->d, &declared, p->err) < 0)
		goto done;
	/* Each node passes through three stages at most; the bound is a guard. */
	for (size_t guard = 0; guard <= 3 * n && s->mirror_index < n; guard++) {
		size_t i = p->order[first + s->mirror_index];
		const char *name = plan_node_name(p, i);
		const char *server = p->d->nodes[i].lb_server;
		if (strcmp(s->mirror_node, name) != 0) {
			plan_copy_str(s->mirror_node, sizeof(s->mirror_node), name);
			s->mirror_stage = MIRROR_DRAIN;
		}
		switch (s->mirror_stage) {
		case MIRROR_DRAIN:
			if (takes_traffic(p, i) && plan_mirror_blocked(p, i, why, sizeof(why))) {
				if (plan_ensure_weights(p, &declared, &matched) < 0)
					goto done;
				plan_waiting(p, "mirroring %s (%zu of %zu): waiting: %s", name,
					     s->mirror_index + 1, n, why);
				rc = 0;
				goto done;
			}
			if (mirror_drained(p, i, n, &drained) < 0)
				goto done;
			if (takes_traffic(p, i)) {
				if (rollout_weights_copy(&m, &declared, p->err) < 0 ||
				    weight_map_set(&m, server, 0, p->err) < 0 ||
				    plan_ensure_weights(p, &m, &matched) < 0)
					goto done;
				if (!matched) {
					plan_waiting(p, "mirroring %s (%zu of %zu): draining its weight",
						name, s->mirror_index + 1, n);
					rc = 0;
					goto done;
				}
			}
			if (!drained) {
				rc = 0;
				goto done;
			}
			s->mirror_stage = MIRROR_UPGRADE;
			s->stage_started_ms = p->now;
			break;
		case MIRROR_UPGRADE:
			if (plan_ensure_target(p, i, TARGET_FINAL, &acked) < 0)
				goto done;
			if (!acked) {
				plan_waiting(p, "mirroring %s (%zu of %zu): waiting for it to apply "
					   "generation %lld",
					name, s->mirror_index + 1, n,
					(long long)p->entry[i]->generation);
				rc = 0;
				goto done;
			}
			if (takes_traffic(p, i) && !plan_parity_ok(p, i)) {
				rc = plan_fail(p, "lock.parity", i);
				goto done;
			}
			s->mirror_stage = MIRROR_RESTORE;
			s->stage_started_ms = p->now;
			break;
		case MIRROR_RESTORE:
			if (takes_traffic(p, i)) {
				if (plan_ensure_weights(p, &declared, &matched) < 0)
					goto done;
				if (!matched) {
					plan_waiting(p, "mirroring %s (%zu of %zu): restoring its weight",
						name, s->mirror_index + 1, n);
					rc = 0;
					goto done;
				}
				if (p->entry[i]->drained) {
					plan_waiting(p, "mirroring %s (%zu of %zu): drained (%s) until %d "
							"consecutive green passes",
						     name, s->mirror_index + 1, n,
						     p->entry[i]->drain_reason,
						     plan_green_passes_needed(p));
					rc = 0;
					goto done;
				}
			}
			s->mirror_index++;
			s->mirror_stage = MIRROR_DRAIN;
			s->mirror_node[0] = '\0';
			s->stage_started_ms = p->now;
			break;
		}
	}
	rc = s->mirror_index < n ? 0 : enter_finalising(p);
done:
	weight_map_free(&declared);
	weight_map_free(&m);
	return rc;
}

/* No earlier version anywhere: nothing to compare a canary with and nothing to roll back to, so
 * the nodes come up one at a time (canary gateways, stable gateways, workers, notifiers), each
 * waiting until it is green; no weights move until Finalising sets the declared map. */
int plan_step_bring_up(struct pass *p)
{
	struct rollout_state *s = p->s;
	size_t n = p->d->nnodes;
	bool acked;
	if (plan_keep_targets(p, NULL, NULL) < 0)
		return -1;
	for (; s->mirror_index < n; s->mirror_index++) {
		size_t i = p->order[s->mirror_index];
		const char *name = plan_node_name(p, i);
		plan_copy_str(s->mirror_node, sizeof(s->mirror_node), name);
		if (plan_ensure_target(p, i, TARGET_FINAL, &acked) < 0)
			return -1;
		if (!acked) {
			plan_waiting(p, BRING_UP_NOTE " (%s, %zu of %zu: waiting for generation %lld)",
				name, s->mirror_index + 1, n, (long long)p->entry[i]->generation);
			return 0;
		}
		const struct node_observation *o = p->seen[i];
		const char *reason = o->nreasons && o->reasons[0] ? o->reasons[0] : "";
		if (o->status == PROBE_RED) {
			plan_progress(p, BRING_UP_NOTE " (%s, %zu of %zu: red)", name, s->mirror_index + 1,
				 n);
			plan_stall(p, "NoBaseline",
			      "%s is red (%s) and there is no earlier version to roll back to: fix "
			      "the node or name another tag", name, reason);
			return 0;
		}
		if (o->status != PROBE_GREEN) {
			plan_waiting(p, BRING_UP_NOTE " (%s, %zu of %zu: waiting for green, %s)", name,
				s->mirror_index + 1, n, reason);
			return 0;
		}
		s->stage_started_ms = p->now;
	}
	s->mirror_node[0] = '\0';
	return enter_finalising(p);
}

static int succeed(struct pass *p, const struct weight_map *declared)
{
	struct rollout_state *s = p->s;
	char key[ROLLOUT_MESSAGE_MAX], message[ROLLOUT_MESSAGE_MAX];
	plan_enter(p, ROLLOUT_SUCCEEDED);
	if (plan_emit_audit(p, AUDIT_SUCCEEDED, ROLLOUT_SUCCEEDED, "") < 0)
		return -1;
	plan_add_history(p, OUTCOME_SUCCEEDED, "");
	s->has_last_good = true;
	s->last_good = s->promotion;
	if (rollout_weights_copy(&s->last_good_weights, declared, p->err) < 0)
		return -1;
	s->bring_up = false;
	plan_format(key, sizeof(key), "promote/%s@%s/%lld", s->promotion.tag, s->promotion.commit,
		 (long long)s->started_ms);
	plan_format(message, sizeof(message), "%s (skills %s) runs on every node", s->promotion.tag,
		 s->promotion.semver);
	plan_progress(p, "%s", message);
	return plan_emit_broadcast(p, VERDICT_PROMOTE, key, NO_NODE, "succeeded", message);
}

/* Finalising: every node on the new build with skills/current (the canary, drained first, moves
 * off next, its canary tenants onto current and back to the stable pool), the declared weights;
 * done when
 * every node reports its target, runs the build and is green: then the last-good snapshot. */
int plan_step_finalising(struct pass *p, bool entering)
{
	struct rollout_state *s = p->s;
	struct weight_map declared = {0};
	bool matched, acked, draining = false;
	size_t first = NO_NODE;
	int rc = -1;
	if (weights_declared(p->d, &declared, p->err) < 0 ||
	    plan_ensure_weights(p, &declared, &matched) < 0)
		goto done;
	if (entering && s->canary_routed && plan_route_canary_tenants(p, false) < 0)
		goto done;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		int drain = plan_restart_drained(p, i, TARGET_FINAL, "finalising", &acked);
		if (drain < 0)
			goto done;
		draining = draining || drain == 1;
		if ((!acked || !plan_runs_version(p, i, &s->promotion)) && first == NO_NODE)
			first = i;
	}
	struct verdict v = plan_judge(p);
	if (draining) {
		rc = 0; /* the progress names the gateway draining */
	} else if (first != NO_NODE) {
		plan_waiting(p, "finalising: waiting for %s to run %s with skills/current at %s",
			plan_node_name(p, first), s->promotion.tag, s->promotion.semver);
		rc = 0;
	} else if (v.status != PROBE_GREEN) {
		plan_waiting(p, "finalising: waiting for %s to turn green (%s)", plan_node_name(p, v.node),
			v.reason);
		rc = 0;
	} else if (!matched) {
		plan_waiting(p, "finalising: waiting for the load balancer to report the declared "
			   "weights");
		rc = 0;
	} else {
		rc = succeed(p, &declared);
	}
done:
	weight_map_free(&declared);
	return rc;
}

static int enter_finalising(struct pass *p)
{
	plan_enter(p, ROLLOUT_FINALISING);
	return plan_step_finalising(p, true);
}
