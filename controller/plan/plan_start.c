/* Idle, Succeeded and RolledBack: keep what was reached, or start the Promotion: adopt a fleet
 * already on its build, bring up a fleet with none, or take a baseline and begin with Shadow. */
#include "plan/plan_internal.h"

#include <string.h>

#include "base/names.h"
#include "desired/imageref.h"

static void begin_rollout(struct pass *p)
{
	struct rollout_state *s = p->s;
	plan_copy_str(s->promotion_name, sizeof(s->promotion_name), p->promo->name);
	s->promotion = p->want;
	s->started_ms = p->now;
	s->step = s->percent = 0;
	s->step_started_ms = s->window_started_ms = s->hold_started_ms = 0;
	s->green_windows = 0;
	s->held_from = ROLLOUT_IDLE;
	s->held_node[0] = s->held_reason[0] = '\0';
	s->gate_percent = 0;
	s->mirror_index = 0;
	s->mirror_stage = MIRROR_DRAIN;
	s->mirror_node[0] = '\0';
	s->bring_up = false;
	s->rollback_reason[0] = '\0';
	s->broadcast_key[0] = '\0';
	for (size_t i = 0; i < s->nnodes; i++)
		s->nodes[i].touched = false;
}

int plan_start_bring_up(struct pass *p)
{
	struct rollout_state *s = p->s;
	begin_rollout(p);
	s->bring_up = true;
	plan_enter(p, ROLLOUT_MIRRORING);
	s->mirror_stage = MIRROR_UPGRADE;
	if (plan_emit_audit(p, AUDIT_STEP, ROLLOUT_MIRRORING, "bring-up") < 0)
		return -1;
	return plan_step_bring_up(p);
}

/* A new Promotion starts with Shadow on the canary gateways, or with Mirroring when the
 * rollback window lets it skip the canary; the weights it finds are the snapshot a rollback
 * returns to. */
static int start_promotion(struct pass *p)
{
	struct rollout_state *s = p->s;
	char note[ROLLOUT_MESSAGE_MAX];
	if (!p->obs->weights_ok) {
		plan_waiting(p, "waiting to read the load balancer's weights before starting %s",
			p->want.tag);
		return 0;
	}
	begin_rollout(p);
	if (plan_observed_weights(p, &s->pre_canary_weights) < 0 ||
	    rollout_weights_copy(&s->planned_weights, &s->pre_canary_weights, p->err) < 0)
		return -1;
	bool confirmed;
	char confirms[ROLLOUT_MESSAGE_MAX] = "";
	if (plan_hook_gate(p, WEBHOOK_CONFIRM_ROLLOUT, "confirm-rollout", &confirmed, confirms,
			   sizeof(confirms)) < 0)
		return -1;
	if (!confirmed)
		return 0;
	if (plan_rollback_window(p, note, sizeof(note)))
		return plan_skip_canary(p, note);
	plan_enter(p, ROLLOUT_SHADOW);
	if (plan_emit_audit_note(p, AUDIT_STEP, ROLLOUT_SHADOW, confirms) < 0)
		return -1;
	return plan_step_shadow(p);
}

/* A fleet already on the Promotion's build is recorded as Succeeded, moving nothing. */
static int adopt(struct pass *p)
{
	struct rollout_state *s = p->s;
	if (!p->obs->weights_ok) {
		plan_waiting(p, "waiting to read the load balancer's weights before adopting %s",
			p->want.tag);
		return 0;
	}
	begin_rollout(p);
	s->has_last_good = true;
	s->last_good = p->want;
	if (plan_observed_weights(p, &s->last_good_weights) < 0 ||
	    rollout_weights_copy(&s->planned_weights, &s->last_good_weights, p->err) < 0)
		return -1;
	plan_enter(p, ROLLOUT_SUCCEEDED);
	plan_progress(p, "adopted: every node already runs %s (skills %s)", p->want.tag,
		 p->want.semver);
	if (plan_emit_audit(p, AUDIT_ADOPTED, ROLLOUT_SUCCEEDED, "") < 0)
		return -1;
	plan_add_history(p, OUTCOME_ADOPTED, "");
	return 0;
}

/* The build a node runs, as the baseline a rollback would return to. */
static int take_baseline(struct pass *p, size_t i)
{
	struct rollout_state *s = p->s;
	const struct node_observation *o = p->seen[i];
	struct cf_err why;
	struct rollout_version v = {0};
	const char *problem = NULL;
	if (!o->tag || !*o->tag || strlen(o->tag) >= sizeof(v.tag))
		problem = "no infra tag names its commit";
	else if (name_check_git_tag(o->tag, &why) < 0)
		problem = why.msg;
	else if (!o->skills_current || !*o->skills_current ||
		 strlen(o->skills_current) >= sizeof(v.semver))
		problem = "it reports no skills/current";
	if (problem) {
		plan_stall(p, "NoBaseline", "cannot take the build %s runs (commit %.12s) as the version "
				       "to roll back to: %s", plan_node_name(p, i), o->commit, problem);
		return 0;
	}
	if (!p->obs->weights_ok) {
		plan_waiting(p, "waiting to read the load balancer's weights before starting %s",
			p->want.tag);
		return 0;
	}
	plan_copy_str(v.tag, sizeof(v.tag), o->tag);
	plan_copy_str(v.commit, sizeof(v.commit), o->commit);
	plan_copy_str(v.semver, sizeof(v.semver), o->skills_current);
	s->has_last_good = true;
	s->last_good = v;
	if (plan_observed_weights(p, &s->last_good_weights) < 0)
		return -1;
	return start_promotion(p);
}

/* The first pass with a Promotion and no history: adopt a fleet already on its build, bring up
 * a fleet with no build at all, else take what the stable nodes run as the baseline. Every node
 * has to answer first: a guess could roll a fleet back to the wrong build. */
static int first_start(struct pass *p)
{
	bool all_on_want = true, none_built = true;
	size_t baseline = NO_NODE;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		if (!plan_reachable(p, i)) {
			plan_waiting(p, "waiting for every node to report before choosing a baseline: %s "
				   "does not answer", plan_node_name(p, i));
			return 0;
		}
		const char *commit = p->seen[i]->commit;
		bool built = plan_hex_of_len(commit, 40);
		all_on_want = all_on_want && plan_runs_version(p, i, &p->want);
		none_built = none_built && !built;
		if (built && !plan_same_str(commit, p->want.commit) && k >= p->ncanary &&
		    baseline == NO_NODE)
			baseline = i;
	}
	if (all_on_want)
		return adopt(p);
	if (none_built)
		return plan_start_bring_up(p);
	for (size_t k = 0; baseline == NO_NODE && k < p->d->nnodes; k++)
		if (plan_hex_of_len(p->seen[p->order[k]]->commit, 40) &&
		    !plan_same_str(p->seen[p->order[k]]->commit, p->want.commit))
			baseline = p->order[k];
	for (size_t k = 0; baseline == NO_NODE && k < p->d->nnodes; k++)
		if (plan_hex_of_len(p->seen[p->order[k]]->commit, 40))
			baseline = p->order[k];
	return take_baseline(p, baseline);
}

/* Succeeded: weights declared in Git since the rollout finished become what it keeps (planned
 * and the last-good snapshot a later rollback returns to). A fleet adopted as it was keeps the
 * weights it was found with until its first rollout, as adoption promises to move nothing. No
 * audit line: the commit that changed them is their record, and the rollout history is about
 * builds. A drained or red gateway stays at 0 (plan_ensure_weights, plan_safety), whatever its
 * declared weight. */
static int follow_declared_weights(struct pass *p)
{
	struct rollout_state *s = p->s;
	struct weight_map declared = {0};
	int rc = -1;
	if (s->nhistory && s->history[s->nhistory - 1].outcome == OUTCOME_ADOPTED)
		return 0;
	if (weights_declared(p->d, &declared, p->err) < 0)
		goto done;
	/* Against the snapshot: the planned weights hold a drained gateway at 0. */
	bool same = s->last_good_weights.n == declared.n &&
		    plan_weights_match(&s->last_good_weights, &declared);
	if (!same &&
	    (rollout_weights_copy(&s->planned_weights, &declared, p->err) < 0 ||
	     rollout_weights_copy(&s->last_good_weights, &declared, p->err) < 0))
		goto done;
	rc = 0;
done:
	weight_map_free(&declared);
	return rc;
}

/* Succeeded and RolledBack keep what they reached: the weights recorded then (a load balancer
 * restart that forgot them gets them again; after a Succeeded rollout, base weights edited in
 * Git apply at once, RolledBack keeps the snapshot it returned to), and the build on every node the rollout left there (sent again to a
 * node that lost it; a node new to the fleet gets the Succeeded build). */
int plan_keep_steady(struct pass *p)
{
	struct rollout_state *s = p->s;
	bool matched, acked;
	if (s->phase == ROLLOUT_IDLE)
		return 0;
	if (s->phase == ROLLOUT_SUCCEEDED && follow_declared_weights(p) < 0)
		return -1;
	if (plan_ensure_weights(p, &s->planned_weights, &matched) < 0)
		return -1;
	bool succeeded = s->phase == ROLLOUT_SUCCEEDED;
	const struct rollout_version *v = succeeded ? &s->promotion : &s->last_good;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		const struct rollout_node *e = p->entry[i];
		if (!plan_reachable(p, i) || (!succeeded && !e->touched))
			continue;
		if (plan_runs_version(p, i, v) && e->generation <= p->seen[i]->observed_generation)
			continue;
		if (plan_ensure_target(p, i, succeeded ? TARGET_FINAL : TARGET_ROLLBACK, &acked) < 0)
			return -1;
	}
	if (!p->progress[0] && succeeded)
		plan_progress(p, "every node runs %s (skills %s)", v->tag, v->semver);
	else if (!p->progress[0])
		plan_progress(p, "rolled back %s (skills %s) to %s (skills %s): %s", s->promotion.tag,
			 s->promotion.semver, v->tag, v->semver, s->rollback_reason);
	return 0;
}

/* The image Flux wrote into imageRef is a build only when openclaw.lock pins its version: the
 * Macs install what the lock says. A Promotion naming another image moves nothing until a
 * person's commit brings tag, skillSemver and the lock to it. */
static bool image_not_pinned(struct pass *p)
{
	const struct openclaw_lock *lock = &p->d->lock;
	const char *image = p->promo ? p->promo->image_ref : NULL;
	if (!image || !lock->present || !lock->version || image_ref_tag_is(image, lock->version))
		return false;
	struct image_ref split;
	image_ref_split(image, &split);
	plan_stall(p, "ImageNotPinned", "imageRef %s names version %.*s, but openclaw.lock pins %s: "
					"commit tag, skillSemver and openclaw.lock for it, or set "
					"imageRef back", image, split.tag ? (int)split.tag_len : 6,
		   split.tag ? split.tag : "(none)", lock->version);
	return true;
}

/* Idle, Succeeded, RolledBack: start the Promotion when it names a build other than the last
 * good one, unless its image is not the pinned build, or it is aborted or quarantined. */
int plan_settle(struct pass *p)
{
	struct rollout_state *s = p->s;
	if (image_not_pinned(p))
		return plan_keep_steady(p);
	if (!p->want_known || (s->has_last_good && plan_same_version(&s->last_good, &p->want)))
		return plan_keep_steady(p);
	if (p->promo->abort) {
		plan_progress(p, "spec.abort is true: %s is not promoted", p->want.tag);
		return plan_keep_steady(p);
	}
	const struct rollout_quarantine *q = plan_quarantined(s, &p->want);
	bool lifted = false;
	if (q && plan_lift_quarantine(p, q, &lifted) < 0)
		return -1;
	if (q && !lifted) {
		plan_stall(p, "Quarantined", "%s (commit %.12s) is quarantined after a rollback (%s): "
					"`clawfleet rollout retry %s` lifts it, or name a new tag",
		      q->tag, q->commit, q->reason, q->tag);
		return plan_keep_steady(p);
	}
	if (s->phase == ROLLOUT_IDLE && !s->has_last_good)
		return first_start(p);
	return start_promotion(p);
}
