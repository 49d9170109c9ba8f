/* The way back: Held (yellow), a failure that rolls back or waits for a person, RollingBack,
 * RolledBack, and the quarantine that keeps a rolled-back build from starting again. */
#include "plan/plan_internal.h"

#include <string.h>

const struct rollout_quarantine *quarantined(const struct rollout_state *s,
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
	if (quarantined(s, &s->promotion))
		return;
	if (s->nquarantined == ROLLOUT_QUARANTINE_MAX) {
		memmove(&s->quarantined[0], &s->quarantined[1],
			(s->nquarantined - 1) * sizeof(s->quarantined[0]));
		s->nquarantined--;
	}
	struct rollout_quarantine *q = &s->quarantined[s->nquarantined++];
	memset(q, 0, sizeof(*q));
	copy_str(q->tag, sizeof(q->tag), s->promotion.tag);
	copy_str(q->commit, sizeof(q->commit), s->promotion.commit);
	copy_code(q->reason, sizeof(q->reason), reason);
	q->at_ms = p->now;
}

int hold(struct pass *p, const char *reason, size_t node)
{
	struct rollout_state *s = p->s;
	if (s->phase != ROLLOUT_HELD) {
		s->held_from = s->phase;
		s->hold_started_ms = p->now;
		enter(p, ROLLOUT_HELD);
		if (emit_audit(p, AUDIT_HELD, ROLLOUT_HELD, reason) < 0)
			return -1;
	}
	copy_code(s->held_reason, sizeof(s->held_reason), reason);
	copy_str(s->held_node, sizeof(s->held_node), node_name(p, node));
	char key[ROLLOUT_MESSAGE_MAX], message[ROLLOUT_MESSAGE_MAX];
	format(key, sizeof(key), "hold/%s/%s", s->held_node, s->held_reason);
	format(message, sizeof(message), "holding %s (skills %s) at %d %%: %s reports %s",
		 s->promotion.tag, s->promotion.semver, s->percent, s->held_node, s->held_reason);
	progress(p, "%s", message);
	return emit_broadcast(p, VERDICT_HOLD, key, node, s->held_reason, message);
}

/* A red verdict, a lock parity failure or a hold past maxHold: roll back when the Promotion lets
 * the controller, else hold and say that a person has to decide. */
int fail(struct pass *p, const char *reason, size_t node)
{
	if (p->promo && !p->promo->rollback_automatic) {
		if (hold(p, reason, node) < 0)
			return -1;
		stall(p, "RollbackRequired",
		      "%s%s%s; spec.rollback.automatic is false: set spec.abort to roll back",
		      node_name(p, node), node == NO_NODE ? "" : ": ", p->s->held_reason);
		return 0;
	}
	return start_rollback(p, reason, node, true);
}

/* RollingBack: the weights to the pre-canary snapshot and every node the rollout touched to the
 * last good build on skills/current, in the same pass, one kickstart each; RolledBack once they
 * all report it and the load balancer reports the snapshot. */
static int rollback_progress(struct pass *p, bool *done)
{
	struct rollout_state *s = p->s;
	bool matched, acked;
	size_t first = NO_NODE;
	if (ensure_weights(p, &s->pre_canary_weights, &matched) < 0)
		return -1;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		if (!p->entry[i]->touched)
			continue;
		if (ensure_target(p, i, TARGET_ROLLBACK, &acked) < 0)
			return -1;
		if ((!acked || !runs_version(p, i, &s->last_good)) && first == NO_NODE)
			first = i;
	}
	*done = matched && first == NO_NODE;
	if (first != NO_NODE)
		waiting(p, "rolling back %s to %s (%s): waiting for %s to return to %s with skills "
			   "%s", s->promotion.tag, s->last_good.tag, s->rollback_reason,
			node_name(p, first), s->last_good.tag, s->last_good.semver);
	else if (!matched)
		waiting(p, "rolling back %s to %s (%s): waiting for the load balancer to report the "
			   "pre-canary weights", s->promotion.tag, s->last_good.tag,
			s->rollback_reason);
	return 0;
}

static int rolled_back(struct pass *p)
{
	struct rollout_state *s = p->s;
	enter(p, ROLLOUT_ROLLED_BACK);
	progress(p, "rolled back %s (skills %s) to %s (skills %s): %s", s->promotion.tag,
		 s->promotion.semver, s->last_good.tag, s->last_good.semver, s->rollback_reason);
	if (emit_audit(p, AUDIT_ROLLED_BACK, ROLLOUT_ROLLED_BACK, s->rollback_reason) < 0)
		return -1;
	add_history(p, OUTCOME_ROLLED_BACK, s->rollback_reason);
	return 0;
}

int step_rolling_back(struct pass *p)
{
	bool done;
	if (rollback_progress(p, &done) < 0)
		return -1;
	return done ? rolled_back(p) : 0;
}

/* A rollback quarantines the build it leaves unless a person asked for it (abort) or a newer
 * Promotion replaced it (superseded). Without an earlier version there is nowhere to go: the
 * rollout holds and says so. */
int start_rollback(struct pass *p, const char *reason, size_t node, bool quarantine_it)
{
	struct rollout_state *s = p->s;
	char code[ROLLOUT_REASON_MAX], key[ROLLOUT_MESSAGE_MAX], message[ROLLOUT_MESSAGE_MAX];
	bool matched, done;
	copy_code(code, sizeof(code), reason);
	if (s->bring_up || !s->has_last_good) {
		if (s->phase != ROLLOUT_HELD) {
			s->held_from = s->phase;
			s->hold_started_ms = p->now;
			enter(p, ROLLOUT_HELD);
		}
		copy_str(s->held_reason, sizeof(s->held_reason), code);
		copy_str(s->held_node, sizeof(s->held_node), node_name(p, node));
		progress(p, "holding %s: %s", s->promotion.tag, code);
		stall(p, "NoBaseline",
		      "%s: there is no earlier version to roll back to; fix the nodes or name "
		      "another tag", code);
		return 0;
	}
	enter(p, ROLLOUT_ROLLING_BACK);
	copy_str(s->rollback_reason, sizeof(s->rollback_reason), code);
	s->held_node[0] = s->held_reason[0] = '\0';
	s->hold_started_ms = 0;
	if (quarantine_it)
		quarantine(p, code);
	if (ensure_weights(p, &s->pre_canary_weights, &matched) < 0 ||
	    (s->canary_routed && route_canary_tenants(p, false) < 0) ||
	    rollback_progress(p, &done) < 0 ||
	    emit_audit(p, AUDIT_ROLLBACK, ROLLOUT_ROLLING_BACK, code) < 0 ||
	    (quarantine_it && emit_audit(p, AUDIT_QUARANTINED, ROLLOUT_ROLLING_BACK, code) < 0))
		return -1;
	format(key, sizeof(key), "rollback/%s@%s/%lld", s->promotion.tag, s->promotion.commit,
		 (long long)s->started_ms);
	format(message, sizeof(message), "rolling back %s (skills %s) to %s (skills %s): %s%s%s",
		 s->promotion.tag, s->promotion.semver, s->last_good.tag, s->last_good.semver,
		 node_name(p, node), node == NO_NODE ? "" : " reports ", code);
	return emit_broadcast(p, VERDICT_ROLLBACK, key, node, code, message);
}

/* Held: yellow holds at the current percent (broadcast once); red or a hold longer than maxHold
 * fails; green again resumes where the hold began. */
int step_held(struct pass *p)
{
	struct rollout_state *s = p->s;
	struct verdict v = judge(p);
	if (v.status == PROBE_RED)
		return fail(p, v.reason, v.node);
	if (v.status == PROBE_DEGRADED && max_hold(p) > 0 &&
	    p->now - s->hold_started_ms >= max_hold(p))
		return fail(p, "hold.timeout", v.node);
	if (keep_targets(p, NULL, NULL) < 0)
		return -1;
	if (v.status == PROBE_DEGRADED)
		return hold(p, v.reason, v.node);
	enter(p, s->held_from);
	s->held_node[0] = s->held_reason[0] = '\0';
	s->hold_started_ms = 0;
	s->broadcast_key[0] = '\0';
	if (s->phase == ROLLOUT_ANALYSING) {
		s->window_started_ms = p->now;
		s->green_windows = 0;
	}
	return s->phase == ROLLOUT_HELD ? 0 : dispatch(p);
}
