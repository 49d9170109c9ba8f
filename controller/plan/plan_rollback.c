/* The way back: Held (yellow), a failure that rolls back or waits for a person, RollingBack,
 * RolledBack, and the quarantine that keeps a rolled-back build from starting again. */
#include "plan/plan_internal.h"

#include <string.h>

const struct rollout_quarantine *plan_quarantined(const struct rollout_state *s,
					     const struct rollout_version *v)
{
	for (size_t i = 0; i < s->nquarantined; i++)
		if (strcmp(s->quarantined[i].tag, v->tag) == 0 &&
		    strcmp(s->quarantined[i].commit, v->commit) == 0)
			return &s->quarantined[i];
	return NULL;
}

static void quarantine(struct pass *p, const char *reason)
{
	struct rollout_state *s = p->s;
	if (plan_quarantined(s, &s->promotion))
		return;
	if (s->nquarantined == ROLLOUT_QUARANTINE_MAX) {
		memmove(&s->quarantined[0], &s->quarantined[1],
			(s->nquarantined - 1) * sizeof(s->quarantined[0]));
		s->nquarantined--;
	}
	struct rollout_quarantine *q = &s->quarantined[s->nquarantined++];
	memset(q, 0, sizeof(*q));
	plan_copy_str(q->tag, sizeof(q->tag), s->promotion.tag);
	plan_copy_str(q->commit, sizeof(q->commit), s->promotion.commit);
	plan_copy_code(q->reason, sizeof(q->reason), reason);
	q->at_ms = p->wall;
}

int plan_hold(struct pass *p, const char *reason, size_t node)
{
	struct rollout_state *s = p->s;
	if (s->phase != ROLLOUT_HELD) {
		s->held_from = s->phase;
		s->hold_started_ms = p->now;
		plan_enter(p, ROLLOUT_HELD);
		if (plan_emit_audit(p, AUDIT_HELD, ROLLOUT_HELD, reason) < 0)
			return -1;
	} else if (s->gate_percent) {
		/* maxHold measures the fleet from here, never the time a person took. */
		s->hold_started_ms = p->now;
		if (plan_emit_audit(p, AUDIT_HELD, ROLLOUT_HELD, reason) < 0)
			return -1;
	}
	s->gate_percent = 0;
	plan_copy_code(s->held_reason, sizeof(s->held_reason), reason);
	plan_copy_str(s->held_node, sizeof(s->held_node), plan_node_name(p, node));
	char key[ROLLOUT_MESSAGE_MAX], message[ROLLOUT_MESSAGE_MAX];
	plan_format(key, sizeof(key), "hold/%s/%s", s->held_node, s->held_reason);
	plan_format(message, sizeof(message), "holding %s (skills %s) at %d %%: %s reports %s%s%s",
		    s->promotion.tag, s->promotion.semver, s->percent, s->held_node, s->held_reason,
		    p->hold_detail[0] ? ": " : "", p->hold_detail);
	p->hold_detail[0] = '\0';
	plan_progress(p, "%s", message);
	return plan_emit_broadcast(p, VERDICT_HOLD, key, node, s->held_reason, message);
}

/* A red verdict, a lock parity failure or a hold past maxHold: roll back when the Promotion lets
 * the controller, else hold and say that a person has to decide. */
int plan_fail(struct pass *p, const char *reason, size_t node)
{
	if (p->promo && !p->promo->rollback_automatic) {
		if (plan_hold(p, reason, node) < 0)
			return -1;
		plan_stall(p, "RollbackRequired",
		      "%s%s%s; spec.rollback.automatic is false: set spec.abort to roll back",
		      plan_node_name(p, node), node == NO_NODE ? "" : ": ", p->s->held_reason);
		return 0;
	}
	return plan_start_rollback(p, reason, node, true);
}

/* RollingBack: the weights to the pre-canary snapshot and every node the rollout touched to the
 * last good build on skills/current, in the same pass, one kickstart each; RolledBack once they
 * all report it and the load balancer reports the snapshot. */
static int rollback_progress(struct pass *p, bool *done)
{
	struct rollout_state *s = p->s;
	bool matched, acked;
	size_t first = NO_NODE;
	if (plan_ensure_weights(p, &s->pre_canary_weights, &matched) < 0)
		return -1;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		if (!p->entry[i]->touched)
			continue;
		if (plan_ensure_target(p, i, TARGET_ROLLBACK, &acked) < 0)
			return -1;
		if ((!acked || !plan_runs_version(p, i, &s->last_good)) && first == NO_NODE)
			first = i;
	}
	*done = matched && first == NO_NODE;
	if (first != NO_NODE)
		plan_waiting(p, "rolling back %s to %s (%s): waiting for %s to return to %s with skills "
			   "%s", s->promotion.tag, s->last_good.tag, s->rollback_reason,
			plan_node_name(p, first), s->last_good.tag, s->last_good.semver);
	else if (!matched)
		plan_waiting(p, "rolling back %s to %s (%s): waiting for the load balancer to report the "
			   "pre-canary weights", s->promotion.tag, s->last_good.tag,
			s->rollback_reason);
	return 0;
}

static int rolled_back(struct pass *p)
{
	struct rollout_state *s = p->s;
	plan_enter(p, ROLLOUT_ROLLED_BACK);
	plan_progress(p, "rolled back %s (skills %s) to %s (skills %s): %s", s->promotion.tag,
		 s->promotion.semver, s->last_good.tag, s->last_good.semver, s->rollback_reason);
	if (plan_emit_audit(p, AUDIT_ROLLED_BACK, ROLLOUT_ROLLED_BACK, s->rollback_reason) < 0)
		return -1;
	plan_add_history(p, OUTCOME_ROLLED_BACK, s->rollback_reason);
	return 0;
}

int plan_step_rolling_back(struct pass *p)
{
	bool done;
	if (rollback_progress(p, &done) < 0)
		return -1;
	return done ? rolled_back(p) : 0;
}

/* A rollback quarantines the build it leaves unless a person asked for it (abort) or a newer
 * Promotion replaced it (superseded). Without an earlier version there is nowhere to go: the
 * rollout holds and says so. */
int plan_start_rollback(struct pass *p, const char *reason, size_t node, bool quarantine_it)
{
	struct rollout_state *s = p->s;
	char code[ROLLOUT_REASON_MAX], key[ROLLOUT_MESSAGE_MAX], message[ROLLOUT_MESSAGE_MAX];
	bool matched, done;
	plan_copy_code(code, sizeof(code), reason);
	if (s->bring_up || !s->has_last_good) {
		if (s->phase != ROLLOUT_HELD) {
			s->held_from = s->phase;
			s->hold_started_ms = p->now;
			plan_enter(p, ROLLOUT_HELD);
		}
		plan_copy_str(s->held_reason, sizeof(s->held_reason), code);
		plan_copy_str(s->held_node, sizeof(s->held_node), plan_node_name(p, node));
		s->gate_percent = 0;
		plan_progress(p, "holding %s: %s", s->promotion.tag, code);
		plan_stall(p, "NoBaseline",
		      "%s: there is no earlier version to roll back to; fix the nodes or name "
		      "another tag", code);
		return 0;
	}
	plan_enter(p, ROLLOUT_ROLLING_BACK);
	plan_copy_str(s->rollback_reason, sizeof(s->rollback_reason), code);
	s->held_node[0] = s->held_reason[0] = '\0';
	s->gate_percent = 0;
	s->hold_started_ms = 0;
	if (quarantine_it)
		quarantine(p, code);
	if (plan_ensure_weights(p, &s->pre_canary_weights, &matched) < 0 ||
	    (s->canary_routed && plan_route_canary_tenants(p, false) < 0) ||
	    rollback_progress(p, &done) < 0 ||
	    plan_emit_audit(p, AUDIT_ROLLBACK, ROLLOUT_ROLLING_BACK, code) < 0 ||
	    (quarantine_it && plan_emit_audit(p, AUDIT_QUARANTINED, ROLLOUT_ROLLING_BACK, code) < 0))
		return -1;
	plan_format(key, sizeof(key), "rollback/%s@%s/%lld", s->promotion.tag, s->promotion.commit,
		 (long long)s->started_ms);
	plan_format(message, sizeof(message), "rolling back %s (skills %s) to %s (skills %s): %s%s%s",
		 s->promotion.tag, s->promotion.semver, s->last_good.tag, s->last_good.semver,
		 plan_node_name(p, node), node == NO_NODE ? "" : " reports ", code);
	return plan_emit_broadcast(p, VERDICT_ROLLBACK, key, node, code, message);
}

/* Held: yellow, or peers on one build that disagree (plan_parity.c), hold at the current percent
 * (broadcast once); red or a hold longer than maxHold fails; green and agreeing again resumes
 * where the hold began. A hold at a gate waits for a person
 * (plan_step_gate). */
int plan_step_held(struct pass *p)
{
	struct rollout_state *s = p->s;
	if (s->gate_percent)
		return plan_step_gate(p);
	if (plan_hooks_holding(s))
		return plan_hooks_held(p);
	struct verdict v = plan_judge(p);
	if (v.status == PROBE_RED)
		return plan_fail(p, v.reason, v.node);
	if (v.status == PROBE_DEGRADED && plan_max_hold(p) > 0 &&
	    p->now - s->hold_started_ms >= plan_max_hold(p))
		return plan_fail(p, "hold.timeout", v.node);
	if (plan_keep_targets(p, NULL, NULL) < 0)
		return -1;
	if (v.status == PROBE_DEGRADED)
		return plan_hold(p, v.reason, v.node);
	int rc;
	if (plan_parity_hold(p, &rc))
		return rc;
	plan_enter(p, s->held_from);
	s->held_node[0] = s->held_reason[0] = '\0';
	s->hold_started_ms = 0;
	s->broadcast_key[0] = '\0';
	if (s->phase == ROLLOUT_ANALYSING) {
		s->window_started_ms = p->now;
		s->green_windows = 0;
	}
	return s->phase == ROLLOUT_HELD ? 0 : plan_dispatch(p);
}
