/* prom_poll: the controller's queries of the Promotion's metrics (spec.canary.analysis.metrics)
 * to Prometheus, never waiting on it: prom_poll_step, called once per pass, sends the queries
 * that are due and collects the replies, all through one libcurl multi handle that each pass
 * drives for at most 50 ms (a Prometheus on the LAN answers within it; a slower one's reply is
 * collected by a later pass, the loop running one every second while a rollout is under way,
 * until the provider's timeout ends the query). Each metric is asked once per window
 * (its interval, else the Promotion's analysisInterval), the canary pool's value and, with
 * compare stable, the stable pool's at the same instant; each request goes through httpc's
 * policy (base/httpc.h: no proxy, no redirect) with the provider's timeout and a reply capped
 * at PROMQL_MAX_REPLY. A Prometheus that is down, slow, or answers without a number gives a
 * sample without a value and the reason (metric_sample.h): no data, never an error of the
 * pass. The provider is the Promotion's analysis.provider, else the controller's prometheus.url;
 * with neither, every metric has no data and says so.
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

/* The latest sample of each metric that has one, in the Promotion's order; borrowed until the
 * next step. */
const struct metric_sample *prom_poll_samples(const struct prom_poll *pp, size_t *n);

#endif
