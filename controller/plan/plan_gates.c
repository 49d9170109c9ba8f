/* What people say through the Promotion beyond suspend and abort: the gates of
 * spec.canary.gates that hold the rollout until spec.approval approves them, the quarantine that
 * spec.retry lifts, and the rollback window (spec.rollback.window) that lets a build this fleet
 * ran well not go through the canary again. */
#include "plan/plan_internal.h"

#include <string.h>

#include "base/timeparse.h"

/* The gate before a move: to a step of percent, or to Mirroring (mirroring true), which is gated
 * by 100 only when 100 is not a step (a gate of 100 that is a step holds before that step). */
bool plan_gated(const struct pass *p, int percent, bool mirroring)
{
	const struct promotion *promo = p->promo;
	if (mirroring) {
		if (promo->nsteps && promo->steps[promo->nsteps - 1] == 100)
			return false;
		percent = 100;
	}
	for (size_t i = 0; i < promo->ngates; i++)
		if (promo->gates[i] == percent)
			return true;
	return false;
}

/* An approval counts only for the tag being rolled out: one written for an earlier tag, left in
 * Git, never opens a gate of the next. */
bool plan_approved(const struct pass *p, int percent)
{
	const struct promotion *promo = p->promo;
	if (!plan_same_str(promo->approval_tag, p->s->promotion.tag))
		return false;
	return promo->approval_full || promo->approval_through >= percent;
}

void plan_gate_message(const struct rollout_state *s, char *dst, size_t size)
{
	plan_format(dst, size, "waiting for approval of %d %% (clawfleet rollout promote)",
		    s->gate_percent);
}

/* Held for a person at the gate of percent: recorded and broadcast once, and measured by no
 * clock (maxHold is for a fleet that does not turn green, not for a person who decides). */
int plan_hold_for_approval(struct pass *p, int percent)
{
	struct rollout_state *s = p->s;
	char note[ROLLOUT_MESSAGE_MAX], key[ROLLOUT_MESSAGE_MAX], message[ROLLOUT_MESSAGE_MAX];
	bool entering = s->phase != ROLLOUT_HELD;
	if (entering) {
		s->held_from = s->phase;
		s->hold_started_ms = p->now;
		plan_enter(p, ROLLOUT_HELD);
	}
	s->gate_percent = percent;
	plan_copy_str(s->held_reason, sizeof(s->held_reason), ROLLOUT_HOLD_APPROVAL);
	s->held_node[0] = '\0';
	plan_gate_message(s, note, sizeof(note));
	plan_progress(p, "%s", note);
	if (entering && plan_emit_audit_note(p, AUDIT_HELD, ROLLOUT_HELD, note) < 0)
		return -1;
	plan_format(key, sizeof(key), "gate/%s@%s/%d", s->promotion.tag, s->promotion.commit,
		    percent);
	plan_format(message, sizeof(message), "holding %s (skills %s) at %d %%: %s", s->promotion.tag,
		    s->promotion.semver, s->percent, note);
	return plan_emit_broadcast(p, VERDICT_HOLD, key, NO_NODE, ROLLOUT_HOLD_APPROVAL, message);
}

/* A quarantine is lifted by spec.retry naming its tag and the time it was recorded (what
 * /status shows, to the millisecond): a retry left in Git lifts that quarantine once, never a
 * later one of the same build. The lift is recorded; *lifted says whether q was lifted (q is then
 * gone). */
int plan_lift_quarantine(struct pass *p, const struct rollout_quarantine *q, bool *lifted)
{
	struct rollout_state *s = p->s;
	const struct promotion *promo = p->promo;
	char at[RFC3339_MS_MAX], note[ROLLOUT_MESSAGE_MAX];
	*lifted = false;
	if (!plan_same_str(promo->retry_tag, q->tag) || promo->retry_at_ms != q->at_ms)
		return 0;
	rfc3339_format_ms(q->at_ms, at, sizeof(at));
	plan_format(note, sizeof(note), "retry: lifted the quarantine of %s recorded at %s (%s)",
		    q->tag, at, q->reason);
	size_t i = (size_t)(q - s->quarantined);
	memmove(&s->quarantined[i], &s->quarantined[i + 1],
		(s->nquarantined - i - 1) * sizeof(s->quarantined[0]));
	s->nquarantined--;
	*lifted = true;
	return plan_emit_audit_note(p, AUDIT_LIFTED, s->phase, note);
}

/* The Promotion's build is one of the last spec.rollback.window builds that Succeeded here
 * (tag and commit; the history is newest last): note says which rollout that was. */
bool plan_rollback_window(const struct pass *p, char *note, size_t size)
{
	const struct rollout_state *s = p->s;
	int window = p->promo->rollback_window, seen = 0;
	for (size_t k = s->nhistory; k > 0 && seen < window; k--) {
		const struct rollout_record *r = &s->history[k - 1];
		if (r->outcome != OUTCOME_SUCCEEDED)
			continue;
		seen++;
		if (strcmp(r->to.tag, p->want.tag) == 0 && strcmp(r->to.commit, p->want.commit) == 0) {
			size_t ago = s->nhistory - k + 1;
			plan_format(note, size, "rollback window: %s succeeded here %zu rollout%s ago",
				    p->want.tag, ago, ago == 1 ? "" : "s");
			return true;
		}
	}
	return false;
}
