/* The rollout state as canonical JSON (rollout_state_to_json, rollout.h): every field present,
 * enums by their names; rollout_json_read.c takes back exactly this. */
#include "plan/rollout.h"

#include <json-c/json.h>

#include "base/canon.h"
#include "plan/rollout_internal.h"

/* json-c reports allocation failures as NULL; the builder remembers any. */
struct builder {
	bool oom;
};

static void put(struct builder *b, struct json_object *obj, const char *key, struct json_object *v)
{
	if (!obj || !v || json_object_object_add(obj, key, v) < 0) {
		json_object_put(v);
		b->oom = true;
	}
}

static void push(struct builder *b, struct json_object *arr, struct json_object *v)
{
	if (!arr || !v || json_object_array_add(arr, v) < 0) {
		json_object_put(v);
		b->oom = true;
	}
}

static struct json_object *version_json(struct builder *b, const struct rollout_version *v)
{
	struct json_object *o = json_object_new_object();
	put(b, o, "tag", json_object_new_string(v->tag));
	put(b, o, "commit", json_object_new_string(v->commit));
	put(b, o, "semver", json_object_new_string(v->semver));
	return o;
}

static struct json_object *audit_json(struct builder *b, const struct rollout_audit *a)
{
	struct json_object *o = json_object_new_object();
	put(b, o, "event", json_object_new_string(audit_event_name(a->event)));
	put(b, o, "tsMs", json_object_new_int64(a->ts_ms));
	put(b, o, "promotion", json_object_new_string(a->promotion));
	put(b, o, "revision", json_object_new_string(a->revision));
	put(b, o, "actor", json_object_new_string(a->actor));
	put(b, o, "ticket", json_object_new_string(a->ticket));
	put(b, o, "from", version_json(b, &a->from));
	put(b, o, "to", version_json(b, &a->to));
	put(b, o, "phase", json_object_new_string(rollout_phase_name(a->phase)));
	put(b, o, "step", json_object_new_int(a->step));
	put(b, o, "percent", json_object_new_int(a->percent));
	put(b, o, "weights", weights_to_json(&a->weights));
	put(b, o, "probeSha256", json_object_new_string(a->probe_sha256));
	put(b, o, "reason", json_object_new_string(a->reason));
	put(b, o, "node", json_object_new_string(a->node));
	return o;
}

static struct json_object *pending_json(struct builder *b, const struct rollout_action *a)
{
	struct json_object *o = json_object_new_object();
	struct json_object *v = json_object_new_object();
	put(b, o, "id", json_object_new_int64((int64_t)a->id));
	put(b, o, "kind", json_object_new_string(name_of(kind_names, COUNT(kind_names),
							 (int)a->kind)));
	switch (a->kind) {
	case ACTION_ROUTE_TENANT:
		put(b, v, "tenant", json_object_new_string(a->u.route.tenant));
		put(b, v, "pool", json_object_new_string(a->u.route.canary ? "canary" : "stable"));
		put(b, o, "route", v);
		break;
	case ACTION_BROADCAST:
		put(b, v, "verdict",
		    json_object_new_string(broadcast_verdict_name(a->u.broadcast.verdict)));
		put(b, v, "node", json_object_new_string(a->u.broadcast.node));
		put(b, v, "reason", json_object_new_string(a->u.broadcast.reason));
		put(b, v, "message", json_object_new_string(a->u.broadcast.message));
		put(b, o, "broadcast", v);
		break;
	case ACTION_AUDIT:
		json_object_put(v);
		put(b, o, "audit", audit_json(b, a->u.audit));
		break;
	case ACTION_NODE_TARGET:
	case ACTION_SET_WEIGHTS:
	case ACTION_DRAIN_NODE:
	case ACTION_READY_NODE:
		/* never pending: rollout_state_to_json refuses them first */
		json_object_put(v);
		break;
	}
	return o;
}

static struct json_object *nodes_json(struct builder *b, const struct rollout_state *s)
{
	struct json_object *arr = json_object_new_array_ext((int)s->nnodes);
	for (size_t i = 0; i < s->nnodes; i++) {
		const struct rollout_node *n = &s->nodes[i];
		struct json_object *o = json_object_new_object();
		put(b, o, "name", json_object_new_string(n->name));
		put(b, o, "generation", json_object_new_int64(n->generation));
		put(b, o, "digest", json_object_new_string(n->digest));
		put(b, o, "touched", json_object_new_boolean(n->touched));
		put(b, o, "sentMs", json_object_new_int64(n->sent_ms));
		put(b, o, "drained", json_object_new_boolean(n->drained));
		put(b, o, "drainReason", json_object_new_string(n->drain_reason));
		put(b, o, "greenPasses", json_object_new_int(n->green_passes));
		put(b, o, "greenAtMs", json_object_new_int64(n->green_at_ms));
		put(b, o, "keptServing", json_object_new_boolean(n->kept_serving));
		push(b, arr, o);
	}
	return arr;
}

static struct json_object *quarantine_json(struct builder *b, const struct rollout_state *s)
{
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; i < s->nquarantined; i++) {
		const struct rollout_quarantine *q = &s->quarantined[i];
		struct json_object *o = json_object_new_object();
		put(b, o, "tag", json_object_new_string(q->tag));
		put(b, o, "commit", json_object_new_string(q->commit));
		put(b, o, "reason", json_object_new_string(q->reason));
		put(b, o, "atMs", json_object_new_int64(q->at_ms));
		push(b, arr, o);
	}
	return arr;
}

static struct json_object *conditions_json(struct builder *b, const struct rollout_state *s)
{
	struct json_object *o = json_object_new_object();
	for (int t = 0; t < COND_COUNT; t++) {
		const struct rollout_condition *c = &s->conditions[t];
		struct json_object *v = json_object_new_object();
		put(b, v, "status", json_object_new_string(condition_status_name(c->status)));
		put(b, v, "reason", json_object_new_string(c->reason));
		put(b, v, "message", json_object_new_string(c->message));
		put(b, v, "lastTransitionMs", json_object_new_int64(c->last_transition_ms));
		put(b, o, condition_type_name((enum condition_type)t), v);
	}
	return o;
}

static struct json_object *history_json(struct builder *b, const struct rollout_state *s)
{
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; i < s->nhistory; i++) {
		const struct rollout_record *r = &s->history[i];
		struct json_object *o = json_object_new_object();
		put(b, o, "promotion", json_object_new_string(r->promotion));
		put(b, o, "from", version_json(b, &r->from));
		put(b, o, "to", version_json(b, &r->to));
		put(b, o, "outcome", json_object_new_string(rollout_outcome_name(r->outcome)));
		put(b, o, "reason", json_object_new_string(r->reason));
		put(b, o, "startedMs", json_object_new_int64(r->started_ms));
		put(b, o, "finishedMs", json_object_new_int64(r->finished_ms));
		put(b, o, "actor", json_object_new_string(r->actor));
		put(b, o, "ticket", json_object_new_string(r->ticket));
		push(b, arr, o);
	}
	return arr;
}

int rollout_state_to_json(const struct rollout_state *s, char **out, size_t *len,
			  struct cf_err *err)
{
	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < s->npending; i++)
		if (s->pending[i].kind != ACTION_ROUTE_TENANT && s->pending[i].kind != ACTION_AUDIT &&
		    s->pending[i].kind != ACTION_BROADCAST)
			return cf_err_set(err, "pending action %llu: a %s is never pending",
					  (unsigned long long)s->pending[i].id,
					  kind_names[s->pending[i].kind]);
	struct builder b = {0};
	struct json_object *root = json_object_new_object();
	put(&b, root, "version", json_object_new_int(STATE_FORMAT));
	put(&b, root, "phase", json_object_new_string(rollout_phase_name(s->phase)));
	put(&b, root, "promotionName", json_object_new_string(s->promotion_name));
	put(&b, root, "promotion", version_json(&b, &s->promotion));
	if (s->has_last_good) {
		struct json_object *lg = version_json(&b, &s->last_good);
		put(&b, lg, "weights", weights_to_json(&s->last_good_weights));
		put(&b, root, "lastGood", lg);
	} else {
		json_object_object_add(root, "lastGood", NULL);
	}
	put(&b, root, "preCanaryWeights", weights_to_json(&s->pre_canary_weights));
	put(&b, root, "plannedWeights", weights_to_json(&s->planned_weights));
	put(&b, root, "step", json_object_new_int(s->step));
	put(&b, root, "percent", json_object_new_int(s->percent));
	put(&b, root, "startedMs", json_object_new_int64(s->started_ms));
	put(&b, root, "stageStartedMs", json_object_new_int64(s->stage_started_ms));
	put(&b, root, "stepStartedMs", json_object_new_int64(s->step_started_ms));
	put(&b, root, "windowStartedMs", json_object_new_int64(s->window_started_ms));
	put(&b, root, "greenWindows", json_object_new_int(s->green_windows));
	struct json_object *analysis = json_object_new_object();
	put(&b, analysis, "windowSampledMs", json_object_new_int64(s->window_sampled_ms));
	put(&b, analysis, "windowRun", json_object_new_int64(s->window_run));
	put(&b, analysis, "redObservations", json_object_new_int(s->red_observations));
	put(&b, analysis, "redObservedMs", json_object_new_int64(s->red_observed_ms));
	put(&b, root, "analysis", analysis);
	put(&b, root, "heldFrom", json_object_new_string(rollout_phase_name(s->held_from)));
	put(&b, root, "holdStartedMs", json_object_new_int64(s->hold_started_ms));
	put(&b, root, "heldNode", json_object_new_string(s->held_node));
	put(&b, root, "heldReason", json_object_new_string(s->held_reason));
	if (s->gate_percent) /* absent: no gate holds, as in files written before gates were */
		put(&b, root, "gate", json_object_new_int(s->gate_percent));
	struct json_object *mirror = json_object_new_object();
	put(&b, mirror, "index", json_object_new_int64((int64_t)s->mirror_index));
	put(&b, mirror, "stage", json_object_new_string(stage_names[s->mirror_stage]));
	put(&b, mirror, "node", json_object_new_string(s->mirror_node));
	put(&b, root, "mirror", mirror);
	put(&b, root, "bringUp", json_object_new_boolean(s->bring_up));
	put(&b, root, "canaryRouted", json_object_new_boolean(s->canary_routed));
	if (s->drain_node[0]) { /* absent: no drain, as in files written before drains were */
		struct json_object *drain = json_object_new_object();
		put(&b, drain, "node", json_object_new_string(s->drain_node));
		put(&b, drain, "startedMs", json_object_new_int64(s->drain_started_ms));
		put(&b, drain, "generation", json_object_new_int64(s->drain_generation));
		put(&b, drain, "released", json_object_new_boolean(s->drain_released));
		put(&b, root, "drain", drain);
	}
	put(&b, root, "suspendedSinceMs", json_object_new_int64(s->suspended_since_ms));
	put(&b, root, "rollbackReason", json_object_new_string(s->rollback_reason));
	put(&b, root, "broadcastKey", json_object_new_string(s->broadcast_key));
	put(&b, root, "nodes", nodes_json(&b, s));
	put(&b, root, "quarantined", quarantine_json(&b, s));
	put(&b, root, "conditions", conditions_json(&b, s));
	put(&b, root, "history", history_json(&b, s));
	put(&b, root, "nextActionId", json_object_new_int64((int64_t)s->next_action_id));
	struct json_object *pending = json_object_new_array();
	for (size_t i = 0; i < s->npending; i++)
		push(&b, pending, pending_json(&b, &s->pending[i]));
	put(&b, root, "pending", pending);
	if (s->clock_ms) { /* absent: not started, as in files written before the clock was kept */
		struct json_object *clock = json_object_new_object();
		put(&b, clock, "ms", json_object_new_int64(s->clock_ms));
		put(&b, clock, "wallMs", json_object_new_int64(s->clock_wall_ms));
		put(&b, root, "clock", clock);
	}
	if (s->writeback.state != WRITEBACK_NONE) /* absent: none, as before write-back was */
		put(&b, root, "writeBack", rollout_writeback_to_json(&s->writeback));
	if (s->hooks.nmarks || s->hooks.nowed) /* absent: nothing kept, as before webhooks were */
		put(&b, root, "hooks", rollout_hooks_to_json(&s->hooks));
	if (s->nmetrics) /* absent: none, as before metrics were judged */
		put(&b, root, "metrics", rollout_metrics_to_json(s));

	int rc = b.oom ? cf_err_set(err, "out of memory") : canon_json(root, out, len, err);
	json_object_put(root);
	return rc;
}
