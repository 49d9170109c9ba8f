/* The verdict on what the nodes report: the worst probe among the nodes the rollout moved, the
 * canary gateways also judged by the controller against their stable peers and the Promotion's
 * thresholds, failureLimit's tolerance of red, the peers that keep the canary from widening, and
 * lock parity. */
#include "plan/plan_internal.h"

#include <stdlib.h>

/* A peers' median p95 under this counts as this much: on loopback, sub-millisecond p95s would
 * make any ratio noise (the agent floors its own baseline alike). */
#define PEER_P95_FLOOR_MS 50.0
/* Synthetic checks behind a p95 before it is compared: the first few after a kickstart are the
 * gateway warming up. */
#define LATENCY_MIN_SAMPLES 10
/* maxP95Ratio when a Promotion carries none (the CRD's default). */
#define DEFAULT_P95_RATIO 5.0

struct peers {
	bool known;
	double median;
};

static bool has_p95(const struct node_observation *o)
{
	return o && o->reachable && o->latency_samples >= LATENCY_MIN_SAMPLES;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median p95 of the stable gateways in this pass: gateways that are not canaries, that the
 * rollout has not moved (they run the build before) and that report a p95 of enough samples.
 * Unknown when there is none: then only maxP95 bounds the canary. The p95s are sorted in the
 * pass's scratch array (one slot per node, on the heap: 10,000 would not fit a stack array). */
static struct peers stable_peers(const struct pass *p)
{
	struct peers peers = {false, 0};
	double *v = p->p95_scratch;
	size_t n = 0;
	for (size_t i = 0; i < p->d->nnodes; i++) {
		const struct mac_node *m = &p->d->nodes[i];
		if (m->role == NODE_GATEWAY && !m->canary && !p->entry[i]->touched &&
		    has_p95(p->seen[i]))
			v[n++] = p->seen[i]->p95_ms;
	}
	if (!n)
		return peers;
	qsort(v, n, sizeof(v[0]), cmp_double);
	peers.known = true;
	peers.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return peers;
}

/* What the controller adds to a canary gateway's own probe: red when its p95 is over maxP95Ratio
 * times its peers' median (latency.peers) or over maxP95 (latency.max_p95), yellow when the
 * notifier's window holds more failures than maxDigestFailures (digest.failures). A worse status
 * the agent reported keeps its reason. */
static void judge_canary(const struct pass *p, const struct node_observation *o,
			 const struct peers *peers, enum probe_status *status, const char **reason)
{
	const struct promotion_analysis *a = &p->promo->analysis;
	double ratio = a->max_p95_ratio > 0 ? a->max_p95_ratio : DEFAULT_P95_RATIO;
	const char *code = NULL;
	if (has_p95(o) && peers->known &&
	    o->p95_ms > ratio * (peers->median > PEER_P95_FLOOR_MS ? peers->median
								  : PEER_P95_FLOOR_MS))
		code = "latency.peers";
	else if (has_p95(o) && a->max_p95_ms > 0 && o->p95_ms > (double)a->max_p95_ms)
		code = "latency.max_p95";
	if (code && *status < PROBE_RED) {
		*status = PROBE_RED;
		*reason = code;
	}
	if (a->has_max_digest_failures && o->digest_known &&
	    o->digest_failures > a->max_digest_failures && *status < PROBE_DEGRADED) {
		*status = PROBE_DEGRADED;
		*reason = "digest.failures";
	}
}

/* Every node the rollout moved and that reports its target: the worst probe among them, the
 * first in rollout order on a tie. A node that does not answer is degraded; one that has not
 * applied its target yet still describes the build before it, so it is not judged. */
struct verdict plan_judge(const struct pass *p)
{
	struct verdict v = {PROBE_GREEN, NO_NODE, NULL};
	struct peers peers = p->promo ? stable_peers(p) : (struct peers){false, 0};
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		const struct rollout_node *e = p->entry[i];
		const struct node_observation *o = p->seen[i];
		const struct mac_node *m = &p->d->nodes[i];
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
			if (p->promo && m->role == NODE_GATEWAY && m->canary)
				judge_canary(p, o, &peers, &status, &reason);
		}
		if (status > v.status)
			v = (struct verdict){status, i, reason};
	}
	return v;
}

int plan_failure_limit(const struct pass *p)
{
	return p->promo && p->promo->analysis.failure_limit > 1 ? p->promo->analysis.failure_limit
								 : 1;
}

/* failureLimit: the rollout fails on the failureLimit-th red verdict in a row; the ones before
 * are tolerated (the caller waits, and does not count them green). Every verdict of the canary
 * phases comes here once per pass: anything but red ends the streak, and a streak from before
 * this rollout began does not count. True when v is red and tolerated. */
bool plan_red_tolerated(struct pass *p, const struct verdict *v)
{
	struct rollout_state *s = p->s;
	if (v->status != PROBE_RED) {
		s->red_observations = 0;
		return false;
	}
	if (s->red_observed_ms < s->started_ms)
		s->red_observations = 0;
	if (!s->red_observations || s->red_observed_ms != p->now) {
		s->red_observations++;
		s->red_observed_ms = p->now;
	}
	return s->red_observations < plan_failure_limit(p);
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
		if (m->role != NODE_GATEWAY || !m->lb_server || !m->lb_weight)
			continue;
		/* A drained canary carries nothing until it is restored: the next step would judge
		 * a step no traffic went through. */
		if (p->entry[i]->touched && p->entry[i]->drained) {
			*reason = "drained";
			return i;
		}
		if (p->entry[i]->touched)
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
