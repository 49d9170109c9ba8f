/* The verdict on what the nodes report: the worst probe among the nodes the rollout moved, the
 * peers that keep the canary from widening, and lock parity. */
#include "plan/plan_internal.h"

/* Every node the rollout moved and that reports its target: the worst probe among them, the
 * first in rollout order on a tie. A node that does not answer is degraded; one that has not
 * applied its target yet still describes the build before it, so it is not judged. */
struct verdict plan_judge(const struct pass *p)
{
	struct verdict v = {PROBE_GREEN, NO_NODE, NULL};
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		const struct rollout_node *e = p->entry[i];
		const struct node_observation *o = p->seen[i];
		enum probe_status status;
		const char *reason;
		if (!e->touched || !e->generation)
			continue;
		if (!plan_reachable(p, i)) {
			status = PROBE_DEGRADED;
			reason = "node.unreachable";
		} else if (o->observed_generation < e->generation) {
			continue;
		} else {
			status = o->status;
			reason = o->nreasons && o->reasons[0]	? o->reasons[0]
				 : status == PROBE_RED		? "probe.red"
								: "probe.degraded";
		}
		if (status > v.status)
			v = (struct verdict){status, i, reason};
	}
	return v;
}

/* Never widen while a peer is not green: a gateway still on the build before, that takes traffic
 * and does not answer green, keeps the canary at its step. It is not the canary's doing, so it
 * neither holds nor rolls the rollout back. Returns the first such gateway, or NO_NODE. */
size_t plan_peer_not_green(const struct pass *p, const char **reason)
{
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		const struct mac_node *m = &p->d->nodes[i];
		const struct node_observation *o = p->seen[i];
		if (m->role != NODE_GATEWAY || !m->lb_server || !m->lb_weight ||
		    p->entry[i]->touched)
			continue;
		if (!plan_reachable(p, i)) {
			*reason = "node.unreachable";
			return i;
		}
		if (o->status != PROBE_GREEN) {
			*reason = o->nreasons && o->reasons[0] ? o->reasons[0]
							       : probe_status_name(o->status);
			return i;
		}
	}
	return NO_NODE;
}

/* Lock parity: a node about to take traffic on the new build reports the promotion's
 * openclaw.lock sha256 and a version matching it. */
bool plan_parity_ok(const struct pass *p, size_t i)
{
	const struct node_observation *o = p->seen[i];
	return plan_reachable(p, i) && o->version_match && p->lock_sha256[0] &&
	       plan_same_str(o->lock_sha256, p->lock_sha256);
}
