/* What a pass sends: the actions it lists, the node targets and their generations, the weights
 * the load balancer is to report, the canary tenants' route, audit lines and broadcasts. */
#include "plan/plan_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/canon.h"

struct rollout_action *plan_new_action(struct pass *p, enum rollout_action_kind kind)
{
	struct plan_output *o = p->out;
	if (o->nactions == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct rollout_action *v = realloc(o->actions, cap * sizeof(*v));
		if (!v) {
			cf_err_set(p->err, "out of memory");
			return NULL;
		}
		o->actions = v;
		o->cap = cap;
	}
	struct rollout_action *a = &o->actions[o->nactions++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

/* One NODE_TARGET per node per pass: a later one in the same pass replaces the earlier. */
static int emit_target(struct pass *p, size_t i, const struct target *t)
{
	struct rollout_action *a;
	if (p->target_action[i] != NO_NODE) {
		a = &p->out->actions[p->target_action[i]];
	} else {
		a = plan_new_action(p, ACTION_NODE_TARGET);
		if (!a)
			return -1;
		a->u.node_target.target = malloc(sizeof(struct target));
		if (!a->u.node_target.target) {
			p->out->nactions--;
			return cf_err_set(p->err, "out of memory");
		}
		plan_copy_str(a->u.node_target.node, sizeof(a->u.node_target.node), plan_node_name(p, i));
		p->target_action[i] = p->out->nactions - 1;
	}
	*a->u.node_target.target = *t;
	p->moved = true;
	return 0;
}

static int emit_weights(struct pass *p, const struct weight_map *m)
{
	struct rollout_action *a;
	if (p->weights_action != NO_NODE) {
		a = &p->out->actions[p->weights_action];
	} else {
		a = plan_new_action(p, ACTION_SET_WEIGHTS);
		if (!a)
			return -1;
		p->weights_action = p->out->nactions - 1;
	}
	p->moved = true;
	return rollout_weights_copy(&a->u.weights, m, p->err);
}

/* A one-shot action goes out now and waits in the state's pending list until reported done. */
static int emit_once(struct pass *p, struct rollout_action *a)
{
	struct rollout_state *s = p->s;
	if (s->npending == ROLLOUT_PENDING_MAX)
		return cf_err_set(p->err, "%d one-shot actions are pending: the controller must "
				  "report each one done (rollout_pending_done)",
				  ROLLOUT_PENDING_MAX);
	struct rollout_action *v = realloc(s->pending, (s->npending + 1) * sizeof(*v));
	if (!v)
		return cf_err_set(p->err, "out of memory");
	s->pending = v;
	a->id = s->next_action_id++;
	if (rollout_action_copy(&s->pending[s->npending], a, p->err) < 0)
		return -1;
	s->npending++;
	return 0;
}

static int emit_route(struct pass *p, const char *tenant, bool canary)
{
	struct rollout_action *a = plan_new_action(p, ACTION_ROUTE_TENANT);
	if (!a)
		return -1;
	plan_copy_str(a->u.route.tenant, sizeof(a->u.route.tenant), tenant);
	a->u.route.canary = canary;
	p->moved = true;
	return emit_once(p, a);
}

static const char *canary_probe(const struct pass *p)
{
	if (!p->ncanary || !plan_reachable(p, p->order[0]))
		return "";
	const char *sha = p->seen[p->order[0]]->probe_sha256;
	return plan_hex_of_len(sha, 64) ? sha : "";
}

/* from and to: a rollback goes from the build being rolled out to the last good one, a lifted
 * quarantine from the last good build to the Promotion's; anything else from the last good
 * build (none before a bring-up) to the one being rolled out. The weights are what the load
 * balancer is to report: the planned map with drained servers at 0. A reason is a code (what
 * agents send is kept to its alphabet); the planner's own notes are sentences. */
static int emit_audit(struct pass *p, enum audit_event event, enum rollout_phase phase,
		      const char *reason, size_t node, bool note)
{
	const struct rollout_state *s = p->s;
	struct rollout_action *a = plan_new_action(p, ACTION_AUDIT);
	if (!a)
		return -1;
	struct rollout_audit *au = calloc(1, sizeof(*au));
	if (!au) {
		p->out->nactions--;
		return cf_err_set(p->err, "out of memory");
	}
	a->u.audit = au;
	au->event = event;
	au->ts_ms = p->wall;
	plan_copy_str(au->promotion, sizeof(au->promotion), s->promotion_name);
	plan_copy_str(au->revision, sizeof(au->revision), p->revision);
	plan_copy_str(au->actor, sizeof(au->actor), p->actor);
	plan_copy_str(au->ticket, sizeof(au->ticket), p->ticket);
	struct rollout_version none = {0};
	const struct rollout_version *good = s->has_last_good ? &s->last_good : &none;
	bool backwards = event == AUDIT_ROLLBACK || event == AUDIT_ROLLED_BACK ||
			 event == AUDIT_QUARANTINED;
	au->from = backwards ? s->promotion : *good;
	au->to = backwards ? *good : event == AUDIT_LIFTED ? p->want : s->promotion;
	au->phase = phase;
	au->step = s->step;
	au->percent = s->percent;
	plan_copy_str(au->probe_sha256, sizeof(au->probe_sha256), canary_probe(p));
	if (note)
		plan_copy_note(au->reason, sizeof(au->reason), reason);
	else
		plan_copy_code(au->reason, sizeof(au->reason), reason);
	plan_copy_str(au->node, sizeof(au->node), plan_node_name(p, node));
	if (rollout_weights_copy(&au->weights, &s->planned_weights, p->err) < 0 ||
	    plan_overlay_drains(p, &au->weights, p->err) < 0)
		return -1;
	return emit_once(p, a);
}

int plan_emit_audit(struct pass *p, enum audit_event event, enum rollout_phase phase,
	       const char *reason)
{
	return emit_audit(p, event, phase, reason, NO_NODE, false);
}

int plan_emit_audit_note(struct pass *p, enum audit_event event, enum rollout_phase phase,
			 const char *note)
{
	return emit_audit(p, event, phase, note, NO_NODE, true);
}

int plan_emit_node_audit(struct pass *p, enum audit_event event, size_t node, const char *reason)
{
	return emit_audit(p, event, p->s->phase, reason, node, false);
}

/* Broadcast once per situation: an equal key to the last broadcast is not repeated. */
int plan_emit_broadcast(struct pass *p, enum broadcast_verdict verdict, const char *key,
		   size_t node, const char *reason, const char *message)
{
	struct rollout_state *s = p->s;
	if (strcmp(s->broadcast_key, key) == 0)
		return 0;
	plan_copy_str(s->broadcast_key, sizeof(s->broadcast_key), key);
	return plan_emit_broadcast_now(p, verdict, node, reason, message);
}

int plan_emit_broadcast_now(struct pass *p, enum broadcast_verdict verdict, size_t node,
			    const char *reason, const char *message)
{
	struct rollout_action *a = plan_new_action(p, ACTION_BROADCAST);
	if (!a)
		return -1;
	a->u.broadcast.verdict = verdict;
	plan_copy_str(a->u.broadcast.node, sizeof(a->u.broadcast.node), plan_node_name(p, node));
	plan_copy_code(a->u.broadcast.reason, sizeof(a->u.broadcast.reason), reason);
	plan_copy_str(a->u.broadcast.message, sizeof(a->u.broadcast.message), message);
	return emit_once(p, a);
}

/* Targets. */

static int build_target(struct pass *p, enum target_kind kind, struct target *t)
{
	const struct rollout_state *s = p->s;
	const struct rollout_version *v = kind == TARGET_ROLLBACK ? &s->last_good : &s->promotion;
	memset(t, 0, sizeof(*t));
	plan_copy_str(t->tag, sizeof(t->tag), v->tag);
	plan_copy_str(t->commit, sizeof(t->commit), v->commit);
	plan_copy_str(t->skills_semver, sizeof(t->skills_semver), v->semver);
	t->skills_link = kind == TARGET_SHADOW ? TARGET_LINK_NEXT : TARGET_LINK_CURRENT;
	if (p->d->ntenants > TARGET_MAX_TENANTS)
		return cf_err_set(p->err, "%zu TenantSlices: a node target holds at most %d",
				  p->d->ntenants, TARGET_MAX_TENANTS);
	for (size_t i = 0; i < p->d->ntenants; i++) {
		const struct tenant_slice *ts = &p->d->tenants[i];
		if (strlen(ts->name) >= sizeof(t->tenants[0].name))
			return cf_err_set(p->err, "TenantSlice/%.80s: name longer than %zu", ts->name,
					  sizeof(t->tenants[0].name) - 1);
		plan_copy_str(t->tenants[i].name, sizeof(t->tenants[i].name), ts->name);
		t->tenants[i].canary = kind == TARGET_SHADOW && ts->channel == CHANNEL_CANARY;
	}
	t->ntenants = p->d->ntenants;
	t->restart = true;
	t->rollback = kind == TARGET_ROLLBACK;
	return 0;
}

static int target_digest(struct pass *p, const struct target *t, char out[65])
{
	char *json = NULL;
	size_t len = 0;
	struct target content = *t;
	content.generation = 0;
	/* A node already running the last good build as its final target has nothing to redo when
	 * the same build comes back as a rollback. */
	content.rollback = false;
	if (target_render(&content, &json, &len, p->err) < 0)
		return -1;
	canon_sha256_hex(json, len, out);
	free(json);
	return 0;
}

/* *restarts: node i does not have the target of kind yet, so ensuring it sends a new generation
 * (the agent kickstarts the gateway for it). */
int plan_target_restarts(struct pass *p, size_t i, enum target_kind kind, bool *restarts)
{
	struct target t;
	char digest[65];
	if (build_target(p, kind, &t) < 0 || target_digest(p, &t, digest) < 0)
		return -1;
	*restarts = strcmp(p->entry[i]->digest, digest) != 0;
	return 0;
}

/* Node i is to run the target of kind: a new generation when what it says changed, the same one
 * again while the node does not report it (the agent applies a generation once, so one kickstart
 * per generation). *acked: the node reports it as observedGeneration. */
int plan_ensure_target(struct pass *p, size_t i, enum target_kind kind, bool *acked)
{
	struct target t;
	char digest[65];
	if (build_target(p, kind, &t) < 0 || target_digest(p, &t, digest) < 0)
		return -1;
	struct rollout_node *e = p->entry[i];
	int64_t reported = plan_reachable(p, i) ? p->seen[i]->observed_generation : 0;
	if (strcmp(e->digest, digest) != 0) {
		e->generation = (e->generation > reported ? e->generation : reported) + 1;
		e->sent_ms = p->now;
		memcpy(e->digest, digest, sizeof(e->digest));
	}
	e->touched = true;
	*acked = plan_reachable(p, i) && reported >= e->generation;
	if (*acked)
		return 0;
	t.generation = e->generation;
	return emit_target(p, i, &t);
}

static bool is_canary(const struct pass *p, size_t i)
{
	const struct mac_node *m = &p->d->nodes[i];
	return m->canary && m->role == NODE_GATEWAY;
}

static enum target_kind kind_for(const struct pass *p, size_t i)
{
	const struct rollout_state *s = p->s;
	if (s->phase == ROLLOUT_ROLLING_BACK || s->phase == ROLLOUT_ROLLED_BACK)
		return TARGET_ROLLBACK;
	if (is_canary(p, i) && !s->bring_up && !plan_skipped_canary(s) &&
	    s->phase != ROLLOUT_FINALISING && s->phase != ROLLOUT_SUCCEEDED)
		return TARGET_SHADOW;
	return TARGET_FINAL;
}

/* Nodes the rollout moved keep their target (sent again if they lost it). *all_acked may be
 * NULL; *first is the first that does not report it. */
int plan_keep_targets(struct pass *p, bool *all_acked, size_t *first)
{
	if (all_acked)
		*all_acked = true;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		bool acked;
		if (!p->entry[i]->touched)
			continue;
		if (plan_ensure_target(p, i, kind_for(p, i), &acked) < 0)
			return -1;
		if (!acked && all_acked && *all_acked) {
			*all_acked = false;
			*first = i;
		}
	}
	return 0;
}

/* Weights. */

bool plan_weights_match(const struct weight_map *seen, const struct weight_map *want)
{
	for (size_t i = 0; i < want->n; i++) {
		const struct weight_entry *w = &want->v[i];
		const struct weight_entry *g =
			i < seen->n && strcmp(seen->v[i].server, w->server) == 0
				? &seen->v[i]
				: weight_map_find(seen, w->server);
		if (!g || g->weight != w->weight)
			return false;
	}
	return true;
}

bool plan_weights_reached(const struct pass *p, const struct weight_map *want)
{
	struct weight_map serving = {0};
	bool reached = p->obs->weights_ok && rollout_weights_copy(&serving, want, NULL) == 0 &&
		       plan_overlay_drains(p, &serving, NULL) == 0 &&
		       plan_weights_match(&p->obs->weights, &serving);
	weight_map_free(&serving);
	return reached;
}

/* The phase gives the servers want, with the gateway drained for its restart at 0 (plan_lb.c);
 * the load balancer is to report it with every red-drained server at 0 too (plan_safety.c):
 * SET_WEIGHTS until it does (a map that cannot be read counts as not matching). A later call in
 * the same pass replaces the map of an earlier one. */
int plan_ensure_weights(struct pass *p, const struct weight_map *want, bool *matched)
{
	struct weight_map serving = {0};
	int rc = -1;
	if (rollout_weights_copy(&p->s->planned_weights, want, p->err) < 0 ||
	    plan_drained_weights(p, &p->s->planned_weights) < 0 ||
	    rollout_weights_copy(&serving, &p->s->planned_weights, p->err) < 0 ||
	    plan_overlay_drains(p, &serving, p->err) < 0)
		goto done;
	p->weights_ensured = true;
	*matched = p->obs->weights_ok && plan_weights_match(&p->obs->weights, &serving);
	rc = *matched && p->weights_action == NO_NODE ? 0 : emit_weights(p, &serving);
done:
	weight_map_free(&serving);
	return rc;
}

int plan_route_canary_tenants(struct pass *p, bool canary)
{
	for (size_t i = 0; i < p->d->ntenants; i++) {
		const struct tenant_slice *ts = &p->d->tenants[i];
		if (ts->channel == CHANNEL_CANARY && emit_route(p, ts->name, canary) < 0)
			return -1;
	}
	p->s->canary_routed = canary;
	return 0;
}

