/* Safety, in every phase: no red Mac keeps traffic. At the end of each pass, whatever the phase
 * decided, a gateway that answers red or does not answer is drained (its server at weight 0,
 * applied and read back with the pass's SET_WEIGHTS) and comes back to the weight its phase
 * gives it after greenWindows consecutive passes that saw it green; LoadBalancer.spec.minServing
 * is the floor: a drain that would leave fewer gateways with traffic is not made, the Degraded
 * condition says so and one broadcast tells people. Every drain and restore is an audit line and
 * a broadcast, once per transition, naming the node and the first bad reason.
 *
 * Some gateways are not drained: one the phase already gives weight 0 (being mirrored, or a
 * stable at a 100 % step); one still applying a target the controller sent, which describes a
 * build in between (judged, as plan_judge does, once it reports that generation; one that never
 * does stalls the rollout past maxHold); one a rollback under way is returning to the last good
 * build (the rollback is its remedy; it is judged again once back); and any during a bring-up
 * (no build anywhere, nothing to keep serving). A drained gateway that is no longer a gateway
 * with a weight leaves the drained set without a record. */
#include "plan/plan_internal.h"

#include <stdlib.h>
#include <string.h>

/* A gateway the load balancer sends sessions to when all is well. */
static bool serves(const struct pass *p, size_t i)
{
	const struct mac_node *m = &p->d->nodes[i];
	return m->role == NODE_GATEWAY && m->lb_server && m->lb_weight > 0;
}

/* The weight the phase gives node i's server: the planned map, else its declared weight. */
static int base_weight(const struct pass *p, size_t i)
{
	const struct mac_node *m = &p->d->nodes[i];
	const struct weight_entry *w = weight_map_find(&p->s->planned_weights, m->lb_server);
	return w ? w->weight : m->lb_weight;
}

static const char *first_reason(const struct pass *p, size_t i)
{
	const struct node_observation *o = p->seen[i];
	if (!plan_reachable(p, i))
		return "node.unreachable";
	return o->nreasons && o->reasons[0] ? o->reasons[0] : "probe.red";
}

static bool is_bad(const struct pass *p, size_t i)
{
	return !plan_reachable(p, i) || p->seen[i]->status == PROBE_RED;
}

static bool is_green(const struct pass *p, size_t i)
{
	return plan_reachable(p, i) && p->seen[i]->status == PROBE_GREEN;
}

int plan_green_passes_needed(const struct pass *p)
{
	return p->promo && p->promo->green_windows > 0 ? p->promo->green_windows : 2;
}

static size_t gateways(const struct pass *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->d->nnodes; i++)
		n += serves(p, i);
	return n;
}

static size_t min_serving(const struct pass *p)
{
	return min_serving_count(p->d->nlbs ? &p->d->lbs[0].min_serving : NULL, gateways(p));
}

/* Gateways with traffic: a weight from their phase and not drained. */
static size_t serving(const struct pass *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->d->nnodes; i++)
		n += serves(p, i) && !p->entry[i]->drained && base_weight(p, i) > 0;
	return n;
}

int plan_overlay_drains(const struct pass *p, struct weight_map *m, struct cf_err *err)
{
	for (size_t i = 0; i < p->d->nnodes; i++) {
		const struct mac_node *node = &p->d->nodes[i];
		if (p->entry[i]->drained && node->lb_server && weight_map_find(m, node->lb_server) &&
		    weight_map_set(m, node->lb_server, 0, err) < 0)
			return -1;
	}
	return 0;
}

int plan_observed_weights(struct pass *p, struct weight_map *out)
{
	if (rollout_weights_copy(out, &p->obs->weights, p->err) < 0)
		return -1;
	for (size_t i = 0; i < p->d->nnodes; i++)
		if (p->entry[i]->drained && p->d->nodes[i].lb_server &&
		    weight_map_set(out, p->d->nodes[i].lb_server, base_weight(p, i), p->err) < 0)
			return -1;
	return 0;
}

bool plan_mirror_blocked(const struct pass *p, size_t i, char *why, size_t size)
{
	const struct mac_node *m = &p->d->nodes[i];
	if (p->entry[i]->drained)
		return false;
	for (size_t j = 0; m->zone && j < p->d->nnodes; j++) {
		const struct mac_node *peer = &p->d->nodes[j];
		if (j != i && serves(p, j) && p->entry[j]->drained && peer->zone &&
		    strcmp(peer->zone, m->zone) == 0) {
			plan_format(why, size, "%s, in its zone %s, is drained (%s): never both "
					       "gateways of a zone out at once",
				    peer->name, m->zone, p->entry[j]->drain_reason);
			return true;
		}
	}
	size_t left = 0, floor = min_serving(p);
	for (size_t j = 0; j < p->d->nnodes; j++)
		left += j != i && serves(p, j) && !p->entry[j]->drained;
	if (left < floor) {
		plan_format(why, size, "taking it out would leave %zu of %zu gateways serving, below "
				       "minServing %zu", left, gateways(p), floor);
		return true;
	}
	return false;
}

/* The load balancer's map while nothing was planned yet (Idle): what it reports, with the
 * servers the safety rule drains or drained at the last pass at their declared weight. */
static int unplanned_base(struct pass *p, struct weight_map *out)
{
	if (!p->obs->weights_ok)
		return weights_declared(p->d, out, p->err);
	if (rollout_weights_copy(out, &p->obs->weights, p->err) < 0)
		return -1;
	for (size_t i = 0; i < p->d->nnodes; i++) {
		const struct mac_node *m = &p->d->nodes[i];
		const struct rollout_node *was = rollout_node_find(p->prev, m->name);
		if (m->lb_server && (p->entry[i]->drained || (was && was->drained)) &&
		    weight_map_set(out, m->lb_server, m->lb_weight, p->err) < 0)
			return -1;
	}
	return 0;
}

enum transition { NONE, DRAINED, RESTORED, KEPT };

/* How many gateways there are, how many keep traffic after the pass, and the floor. */
struct count {
	size_t gateways, left, floor;
};

static int record(struct pass *p, size_t i, enum transition t, const struct count *c)
{
	const struct rollout_node *e = p->entry[i];
	const char *name = plan_node_name(p, i);
	char message[ROLLOUT_MESSAGE_MAX];
	size_t n = c->gateways, left = c->left;
	int need = plan_green_passes_needed(p);
	switch (t) {
	case DRAINED:
		plan_format(message, sizeof(message), "drained %s (%s): weight 0 until %d consecutive "
						      "green passes; %zu of %zu gateways serve",
			    name, e->drain_reason, need, left, n);
		break;
	case RESTORED:
		plan_format(message, sizeof(message), "restored %s after %d consecutive green passes "
						      "(drained for %s); %zu of %zu gateways serve",
			    name, need, e->drain_reason, left, n);
		break;
	case KEPT:
		plan_format(message, sizeof(message), "%s is red (%s) but keeps its traffic: draining "
						      "it would leave %zu of %zu gateways serving, "
						      "below minServing %zu",
			    name, first_reason(p, i), left - 1, n, c->floor);
		return plan_emit_broadcast_now(p, VERDICT_HOLD, i, first_reason(p, i), message);
	case NONE:
		return 0;
	}
	enum audit_event event = t == DRAINED ? AUDIT_DRAINED : AUDIT_RESTORED;
	enum broadcast_verdict verdict = t == DRAINED ? VERDICT_DRAIN : VERDICT_RESTORE;
	if (plan_emit_node_audit(p, event, i, e->drain_reason) < 0)
		return -1;
	return plan_emit_broadcast_now(p, verdict, i, e->drain_reason, message);
}

/* Counts node i's green passes while drained; true when it has enough to come back. */
static bool restorable(struct pass *p, size_t i)
{
	struct rollout_node *e = p->entry[i];
	if (!is_green(p, i)) {
		e->green_passes = 0;
		return false;
	}
	if (p->now > e->green_at_ms) {
		e->green_passes++;
		e->green_at_ms = p->now;
	}
	return e->green_passes >= plan_green_passes_needed(p);
}

/* Node i is still applying the target the controller sent, and has had less than
 * PLAN_APPLY_GRACE_MS for it: a build in between is not judged yet. Past that, a node that does
 * not take its target is judged as it is, so a red Mac never keeps its traffic for good. */
static bool applying(const struct pass *p, size_t i)
{
	const struct rollout_node *e = p->entry[i];
	return plan_reachable(p, i) && p->seen[i]->observed_generation < e->generation &&
	       p->now - e->sent_ms < PLAN_APPLY_GRACE_MS;
}

static bool exempt(const struct pass *p, size_t i)
{
	return p->s->bring_up || base_weight(p, i) == 0 || applying(p, i) ||
	       (p->s->phase == ROLLOUT_ROLLING_BACK && p->entry[i]->touched);
}

static void forget(struct rollout_node *e)
{
	e->drained = e->kept_serving = false;
	e->drain_reason[0] = '\0';
	e->green_passes = 0;
	e->green_at_ms = 0;
}

/* Decides this pass's transitions into t[] (restores first, so that a gateway coming back
 * counts for the floor) and counts the gateways left with traffic; true when any transition
 * changes the weights. */
static bool decide(struct pass *p, enum transition *t, struct count *c)
{
	bool moved = false;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		struct rollout_node *e = p->entry[i];
		t[i] = NONE;
		if (!serves(p, i)) {
			forget(e);
		} else if (e->drained && restorable(p, i)) {
			e->drained = false;
			e->green_passes = 0;
			t[i] = RESTORED;
			moved = true;
		}
	}
	c->left = serving(p);
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		struct rollout_node *e = p->entry[i];
		if (!serves(p, i) || e->drained || t[i] == RESTORED)
			continue;
		if (!is_bad(p, i) || exempt(p, i)) {
			e->kept_serving = false;
			continue;
		}
		if (c->left < c->floor + 1) {
			t[i] = e->kept_serving ? NONE : KEPT;
			e->kept_serving = true;
			continue;
		}
		e->drained = true;
		e->kept_serving = false;
		e->green_passes = 0;
		e->green_at_ms = p->now;
		plan_copy_code(e->drain_reason, sizeof(e->drain_reason), first_reason(p, i));
		t[i] = DRAINED;
		c->left--;
		moved = true;
	}
	return moved;
}

/* The Degraded condition's words for set_conditions. */
static void describe(struct pass *p, const struct count *c)
{
	size_t n = 0;
	p->degraded = false;
	p->degraded_message[0] = '\0';
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		const struct rollout_node *e = p->entry[i];
		if (e->kept_serving) {
			plan_copy_str(p->degraded_reason, sizeof(p->degraded_reason), "MinServing");
			plan_format(p->degraded_message, sizeof(p->degraded_message),
				    "%s is red (%s) and keeps its traffic: %zu of %zu gateways serve "
				    "and minServing is %zu",
				    plan_node_name(p, i), first_reason(p, i), c->left, c->gateways,
				    c->floor);
			p->degraded = true;
			return;
		}
		if (!e->drained)
			continue;
		size_t used = strlen(p->degraded_message);
		plan_format(p->degraded_message + used, sizeof(p->degraded_message) - used, "%s%s (%s)",
			    n++ ? ", " : "drained: ", plan_node_name(p, i), e->drain_reason);
	}
	plan_copy_str(p->degraded_reason, sizeof(p->degraded_reason), n ? "Drained" : "AllServing");
	p->degraded = n > 0;
}

int plan_safety(struct pass *p)
{
	struct rollout_state *s = p->s;
	struct weight_map base = {0};
	enum transition *t = calloc(p->d->nnodes ? p->d->nnodes : 1, sizeof(*t));
	struct count c = {gateways(p), 0, 0};
	bool any = false, matched;
	int rc = -1;
	if (!t)
		return cf_err_set(p->err, "out of memory");
	c.floor = min_serving(p);
	bool moved = decide(p, t, &c);
	for (size_t i = 0; i < p->d->nnodes; i++)
		any = any || p->entry[i]->drained;
	if (moved || (any && !p->weights_ensured)) {
		if (s->planned_weights.n ? rollout_weights_copy(&base, &s->planned_weights, p->err) < 0
					 : unplanned_base(p, &base) < 0)
			goto done;
		if (plan_ensure_weights(p, &base, &matched) < 0)
			goto done;
	}
	for (size_t k = 0; k < p->d->nnodes; k++)
		if (record(p, p->order[k], t[p->order[k]], &c) < 0)
			goto done;
	describe(p, &c);
	rc = 0;
done:
	weight_map_free(&base);
	free(t);
	return rc;
}
