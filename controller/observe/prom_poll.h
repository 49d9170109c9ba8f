/* prom_poll: the controller's queries of the Promotion's metrics (spec.canary.analysis.metrics)
 * to Prometheus, never waiting on it: prom_poll_step, called at the start of a pass, takes in
 * the replies that came since the last pass and sends the queries that are due;
 * prom_poll_drive, at the pass's end, moves them on again. Both only do what libcurl can do at
 * once (one multi handle, never polled with a wait), so a pass takes no longer for a Prometheus
 * that is slow or stopped. A query's timeout is its deadline in time, measured by the poller
 * from when it was sent: a reply that arrived between two passes is read by the next one and
 * counts, even when that pass comes after the deadline; a query with no reply yet once its
 * deadline is past is ended with no data. Each metric is asked once per window (its interval,
 * else the Promotion's analysisInterval), the canary pool's value and, with compare stable, the
 * stable pool's at the same instant; each request goes through httpc's policy (base/httpc.h: no
 * proxy, no redirect) with a reply capped at PROMQL_MAX_REPLY. A Prometheus that is down, slow,
 * or answers without a number gives a sample without a value and the reason (metric_sample.h):
 * no data, never an error of the pass. The provider is the Promotion's analysis.provider, else
 * the controller's prometheus.url; with neither, every metric has no data and says so.
 * Not thread-safe: one poller per loop. httpc_global_init must have been called. */
#ifndef CLAWFLEET_PROM_POLL_H
#define CLAWFLEET_PROM_POLL_H
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "desired/desired.h"
#include "observe/metric_sample.h"

struct prom_poll;

/* Where the metrics are asked when a Promotion names no provider; url NULL: nowhere. */
struct prom_poll_defaults {
	const char *url;
	int64_t timeout_ms; /* 0: 5 s */
};

int prom_poll_new(struct prom_poll **out, struct cf_err *err);
void prom_poll_free(struct prom_poll *pp);

/* One pass at now_ms (the rollout clock): collects, then, while active, sends what is due for
 * ds's Promotion (the first; none: every query is dropped). Inactive (no rollout at a canary
 * step), nothing new is sent and the samples stay. Fails only when out of memory. */
int prom_poll_step(struct prom_poll *pp, const struct desired_state *ds,
		   const struct prom_poll_defaults *defaults, bool active, int64_t now_ms,
		   struct cf_err *err);

/* Between steps (the pass's end): takes in what came, ends what is past its deadline, never
 * waits. The samples borrowed from the last step stay as they are until the next one. */
void prom_poll_drive(struct prom_poll *pp);

/* The latest sample of each metric that has one, in the Promotion's order; borrowed until the
 * next step. */
const struct metric_sample *prom_poll_samples(const struct prom_poll *pp, size_t *n);

#endif
