/* prom_query: the PromQL a Promotion's metric sends to Prometheus, from its query (or the
 * built-in one its name stands for) with the placeholders filled (the list is
 * desired/promql_template.h's, which validate checks queries against too). Pure: no I/O.
 *
 *   {{canary}}    the canary pool's load-balancer server names as a regular expression
 *                 alternation ("canary-gw|canary-gw-2"), each name escaped for RE2 and for the
 *                 PromQL string it sits in; a pool without servers gives a pattern that
 *                 matches no name, so its query has no data rather than every server's
 *   {{stable}}    the same for the stable pool (every other gateway with a server)
 *   {{backend}}   the LoadBalancer's HAProxy backend, escaped the same way ("" when none)
 *   {{interval}}  the window as a Prometheus duration (5m, 30s, 1500ms)
 *
 * compare: stable runs the query a second time for the stable pool: there {{canary}} names
 * the stable servers, so one query describes both sides.
 *
 * The built-ins read HAProxy's own exporter (HAProxy 2.6 has no response-time histogram; its
 * per-server average over the last 1024 requests is what there is):
 *   request-success-rate  percent of responses that were not 5xx over the window, from
 *                         haproxy_server_http_responses_total (no responses: no data)
 *   request-duration      average response time in milliseconds over the window, from
 *                         haproxy_server_response_time_average_seconds (a sliding average that
 *                         starts at 0 with HAProxy: it under-reads a server with little traffic
 *                         since, which README's "Metric analysis from Prometheus" works around)
 * Both count the servers' traffic in every backend (the canary's tenants reach it through a
 * backend of their own). */
#ifndef CLAWFLEET_PROM_QUERY_H
#define CLAWFLEET_PROM_QUERY_H
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "desired/desired.h"

#define PROM_QUERY_MAX 8192 /* a rendered query, NUL included */

struct prom_query_vars {
	const char *const *canary; /* server names */
	size_t ncanary;
	const char *const *stable;
	size_t nstable;
	const char *backend; /* NULL: "" */
	int64_t interval_ms; /* > 0 */
};

/* The query metric m stands for: its own, else the built-in of its name; NULL for neither. */
const char *prom_query_template(const struct promotion_metric *m);

/* tmpl with the placeholders of v into out (cap bytes); -1 when it does not fit or names an
 * unknown placeholder ("{{canry}}"), with the reason in err. */
int prom_query_render(const char *tmpl, const struct prom_query_vars *v, char *out, size_t cap,
		      struct cf_err *err);

/* ms as a Prometheus duration: the largest of h, m, s, ms that divides it ("90s", "1500ms"). */
void prom_query_duration(int64_t ms, char *out, size_t cap);

#endif
