/* promql_template: the placeholders a Promotion metric's query may name, read the one way by
 * both sides of it: `clawfleet validate` (desired_metrics.c) refuses a query that names any
 * other with its file:line:col, so a typo ("{{canaries}}") is found before the rollout rather
 * than as a window without data at a canary step; the controller (observe/prom_query.c) fills
 * them, and a query it cannot fill has no data, naming the placeholder the same way.
 *
 *   {{canary}}    the canary pool's load-balancer server names (prom_query.h says how)
 *   {{stable}}    the stable pool's
 *   {{backend}}   the LoadBalancer's HAProxy backend
 *   {{interval}}  the window as a Prometheus duration
 *
 * Each is written exactly so ("{{ canary }}" is unknown); a "{{" without a "}}" after it is an
 * unknown placeholder too. Pure: no allocation, no I/O. */
#ifndef CLAWFLEET_PROMQL_TEMPLATE_H
#define CLAWFLEET_PROMQL_TEMPLATE_H
#include <stdbool.h>
#include <stddef.h>

enum promql_var { PROMQL_CANARY, PROMQL_STABLE, PROMQL_BACKEND, PROMQL_INTERVAL, PROMQL_UNKNOWN };

struct promql_placeholder {
	const char *open;    /* its "{{" */
	const char *end;     /* just past its "}}"; the end of the text when unclosed */
	bool closed;
	enum promql_var var; /* PROMQL_UNKNOWN: none of the four, or unclosed */
};

/* The first placeholder of text: true with *ph filled, false when text holds no "{{". */
bool promql_next_placeholder(const char *text, struct promql_placeholder *ph);

/* What is wrong with an unknown placeholder, into msg: "unknown placeholder {{canaries}}: the
 * query may use {{canary}}, {{stable}}, {{backend}} and {{interval}}"; a word over 32
 * characters, and an unclosed one's text, is cut to its first 32 and "...". */
void promql_unknown_message(const struct promql_placeholder *ph, char *msg, size_t size);

/* The first unknown placeholder of text into *ph: false when every one is known. */
bool promql_find_unknown(const char *text, struct promql_placeholder *ph);

#endif
