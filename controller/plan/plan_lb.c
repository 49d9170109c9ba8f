/* What a pass keeps at the load balancer beyond the weights: the drain before a restart and the
 * tenant routes.
 *
 * Drain before restart. A gateway that takes traffic through the LoadBalancer is drained before
 * a target restarts it (the canary in Shadow and Finalising, each stable in Mirroring): it stops
 * taking new sessions (its weight 0 in every map the pass plans, and DRAIN_NODE for a load
 * balancer with a drain state of its own, HAProxy's `state drain`), then the rollout waits until
 * the weight reads back 0 and its live sessions are 0, or until the LoadBalancer's drainTimeout
 * has passed since the drain began (a load balancer that cannot count sessions always waits
 * that long); only then does the target go out. The gateway comes back (its weight, and
 * READY_NODE until the load balancer reports it ready) once it reports a generation sent after
 * the drain began and is green. One gateway at a time; a rollback, an abort or steady state ends
 * a drain at once: the build is bad or the rollout over, and the phase's weights apply. A fleet
 * without a LoadBalancer has nothing to drain through.
 *
 * Tenant routes, level-triggered like the weights: when the load balancer's routes were read,
 * every TenantSlice whose route differs from the rollout's (canary-channel tenants on the canary
 * pool while canary_routed, every other tenant on the stable pool, which an absent entry also
 * means) gets a ROUTE_TENANT, unless the pass already routes it. */
#include "plan/plan_internal.h"

#include <string.h>

#include "base/timeparse.h"

#define POOL_CANARY "canary"
#define POOL_STABLE "stable"

static size_t node_index(const struct pass *p, const char *name)
{
	for (size_t i = 0; i < p->d->nnodes; i++)
		if (strcmp(p->d->nodes[i].name, name) == 0)
			return i;
	return NO_NODE;
}

static const struct lb_server *lb_server_of(const struct pass *p, const char *server)
{
	return p->obs->servers_ok ? lb_servers_find(&p->obs->servers, server) : NULL;
}

static void end_drain(struct rollout_state *s)
{
	s->drain_node[0] = '\0';
	s->drain_started_ms = 0;
	s->drain_generation = 0;
	s->drain_released = false;
}

/* The phases that restart gateways drained; any other ends a drain. */
static bool phase_drains(enum rollout_phase phase)
{
	return phase == ROLLOUT_SHADOW || phase == ROLLOUT_MIRRORING ||
	       phase == ROLLOUT_FINALISING || phase == ROLLOUT_HELD;
}

bool plan_drain_applies(const struct pass *p, size_t i)
{
	const struct mac_node *m = &p->d->nodes[i];
	return p->d->nlbs && m->role == NODE_GATEWAY && m->lb_server;
}

/* The node drained for its restart, while it is still out of service; NO_NODE when none. */
static size_t drained_node(const struct pass *p)
{
	const struct rollout_state *s = p->s;
	if (!s->drain_node[0] || s->drain_released || !phase_drains(s->phase))
		return NO_NODE;
	return node_index(p, s->drain_node);
}

int plan_drained_weights(struct pass *p, struct weight_map *m)
{
	size_t i = drained_node(p);
	if (i == NO_NODE || !plan_drain_applies(p, i))
		return 0;
	return weight_map_set(m, p->d->nodes[i].lb_server, 0, p->err);
}

void plan_settle_drain(struct pass *p)
{
	struct rollout_state *s = p->s;
	if (!s->drain_node[0] || s->drain_released)
		return;
	size_t i = node_index(p, s->drain_node);
	if (i == NO_NODE) {
		end_drain(s); /* the node left the fleet */
		return;
	}
	const struct rollout_node *e = p->entry[i];
	if (plan_reachable(p, i) && e->generation > s->drain_generation &&
	    p->seen[i]->observed_generation >= e->generation && p->seen[i]->status == PROBE_GREEN)
		s->drain_released = true;
}

/* Starts the drain of node i: its weight 0 at once in the pass's weights. */
static int begin_drain(struct pass *p, size_t i)
{
	struct rollout_state *s = p->s;
	struct weight_map m = {0};
	bool matched;
	int64_t reported = plan_reachable(p, i) ? p->seen[i]->observed_generation : 0;
	plan_copy_str(s->drain_node, sizeof(s->drain_node), plan_node_name(p, i));
	s->drain_started_ms = p->now;
	s->drain_generation = p->entry[i]->generation > reported ? p->entry[i]->generation
								  : reported;
	s->drain_released = false;
	int rc = rollout_weights_copy(&m, &s->planned_weights, p->err) < 0 ||
			 plan_ensure_weights(p, &m, &matched) < 0
		 ? -1
		 : 0;
	weight_map_free(&m);
	return rc;
}

int plan_drain(struct pass *p, size_t i, const char *what, bool *drained)
{
	struct rollout_state *s = p->s;
	const char *name = plan_node_name(p, i);
	const char *server = p->d->nodes[i].lb_server;
	*drained = false;
	if (s->drain_node[0] && strcmp(s->drain_node, name) != 0) {
		plan_waiting(p, "%s: waiting for %s to return to service before draining %s", what,
			     s->drain_node, name);
		return 0;
	}
	if (!s->drain_node[0] || s->drain_released) {
		if (begin_drain(p, i) < 0)
			return -1;
	}
	const struct weight_entry *w = p->obs->weights_ok ? weight_map_find(&p->obs->weights, server)
							  : NULL;
	const struct lb_server *o = lb_server_of(p, server);
	bool zero = w && w->weight == 0;
	bool stopped = zero && (!p->obs->lb_drain || (o && o->draining));
	int sessions = o ? o->sessions : -1;
	int64_t timeout = p->d->lbs[0].drain_timeout_ms;
	int64_t left = s->drain_started_ms + timeout - p->now;
	*drained = zero && (left <= 0 || (stopped && sessions == 0));
	if (*drained)
		return 0;
	char d[32];
	duration_format(left > 0 ? (left + 999) / 1000 * 1000 : 0, d, sizeof(d));
	if (!stopped)
		plan_waiting(p, "%s: draining %s, waiting for the load balancer to report its %s", what,
			     name, zero ? "drain state" : "weight 0");
	else if (sessions > 0)
		plan_waiting(p, "%s: draining %s, %d live session%s left (restarting it in %s at the "
			     "latest)", what, name, sessions, sessions == 1 ? "" : "s", d);
	else
		plan_waiting(p, "%s: draining %s, its sessions are not known (restarting it in %s)",
			     what, name, d);
	return 0;
}

int plan_drain_before(struct pass *p, size_t i, enum target_kind kind, const char *what,
		      bool *ready)
{
	bool restarts;
	*ready = true;
	if (!plan_drain_applies(p, i))
		return 0;
	if (plan_target_restarts(p, i, kind, &restarts) < 0)
		return -1;
	return restarts ? plan_drain(p, i, what, ready) : 0;
}

int plan_restart_drained(struct pass *p, size_t i, enum target_kind kind, const char *what,
			 bool *acked)
{
	bool ready;
	*acked = false;
	if (plan_drain_before(p, i, kind, what, &ready) < 0)
		return -1;
	if (!ready)
		return 1;
	return plan_ensure_target(p, i, kind, acked);
}

static int emit_drain(struct pass *p, enum rollout_action_kind kind, size_t i)
{
	struct rollout_action *a = plan_new_action(p, kind);
	if (!a)
		return -1;
	plan_copy_str(a->u.drain.node, sizeof(a->u.drain.node), plan_node_name(p, i));
	plan_copy_str(a->u.drain.server, sizeof(a->u.drain.server), p->d->nodes[i].lb_server);
	p->moved = true;
	return 0;
}

int plan_keep_drain(struct pass *p)
{
	struct rollout_state *s = p->s;
	if (!s->drain_node[0])
		return 0;
	size_t i = node_index(p, s->drain_node);
	if (i == NO_NODE || !plan_drain_applies(p, i)) {
		end_drain(s);
		return 0;
	}
	if (!phase_drains(s->phase))
		s->drain_released = true;
	const struct lb_server *o = lb_server_of(p, p->d->nodes[i].lb_server);
	if (!s->drain_released)
		return p->obs->lb_drain && !(o && o->draining) ? emit_drain(p, ACTION_DRAIN_NODE, i)
							       : 0;
	if (!p->obs->lb_drain || (o && !o->draining)) {
		end_drain(s);
		return 0;
	}
	return emit_drain(p, ACTION_READY_NODE, i);
}

/* ---- tenant routes ---- */

static bool routed_this_pass(const struct pass *p, const char *tenant)
{
	for (size_t k = 0; k < p->out->nactions; k++) {
		const struct rollout_action *a = &p->out->actions[k];
		if (a->kind == ACTION_ROUTE_TENANT && strcmp(a->u.route.tenant, tenant) == 0)
			return true;
	}
	return false;
}

int plan_keep_routes(struct pass *p)
{
	if (!p->obs->routes_ok)
		return 0;
	for (size_t i = 0; i < p->d->ntenants; i++) {
		const struct tenant_slice *ts = &p->d->tenants[i];
		bool canary = ts->channel == CHANNEL_CANARY && p->s->canary_routed;
		const struct lb_route *r = lb_routes_find(&p->obs->routes, ts->name);
		const char *pool = r ? r->pool : POOL_STABLE;
		if (strcmp(pool, canary ? POOL_CANARY : POOL_STABLE) == 0 ||
		    routed_this_pass(p, ts->name))
			continue;
		struct rollout_action *a = plan_new_action(p, ACTION_ROUTE_TENANT);
		if (!a)
			return -1;
		plan_copy_str(a->u.route.tenant, sizeof(a->u.route.tenant), ts->name);
		a->u.route.canary = canary;
		p->moved = true;
	}
	return 0;
}
