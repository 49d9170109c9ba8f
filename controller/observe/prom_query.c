#include "observe/prom_query.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "desired/promql_template.h"

/* {{canary}} is bound to the pool being asked about: prom_query.h. */
static const char SUCCESS_RATE[] =
	"100 * (1 - sum(rate(haproxy_server_http_responses_total{server=~\"{{canary}}\","
	"code=\"5xx\"}[{{interval}}])) / sum(rate(haproxy_server_http_responses_total{server=~"
	"\"{{canary}}\"}[{{interval}}])))";
static const char DURATION[] = "1000 * avg(avg_over_time(haproxy_server_response_time_average_"
			       "seconds{server=~\"{{canary}}\"}[{{interval}}]))";
/* A pool without servers: matches no server name (names are never empty). */
static const char NO_SERVER[] = "^$";

const char *prom_query_template(const struct promotion_metric *m)
{
	if (m->query)
		return m->query;
	if (strcmp(m->name, METRIC_SUCCESS_RATE) == 0)
		return SUCCESS_RATE;
	if (strcmp(m->name, METRIC_DURATION) == 0)
		return DURATION;
	return NULL;
}

void prom_query_duration(int64_t ms, char *out, size_t cap)
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms > 0 && ms % units[i].ms == 0) {
			snprintf(out, cap, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	snprintf(out, cap, "%lldms", (long long)(ms > 0 ? ms : 1));
}

struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* One name as a literal inside an RE2 pattern inside a PromQL double-quoted string: an RE2
 * metacharacter gets a backslash, and every backslash is doubled for the string. */
static void put_literal(struct out *o, const char *name)
{
	for (const char *c = name; *c; c++) {
		if (strchr("\\.+*?()|[]{}^$", *c))
			put(o, "\\\\", 2);
		else if (*c == '"')
			put(o, "\\", 1);
		put(o, c, 1);
	}
}

static void put_pool(struct out *o, const char *const *names, size_t n)
{
	if (!n) {
		put(o, NO_SERVER, strlen(NO_SERVER));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (i)
			put(o, "|", 1);
		put_literal(o, names[i]);
	}
}

int prom_query_render(const char *tmpl, const struct prom_query_vars *v, char *out, size_t cap,
		      struct cf_err *err)
{
	struct out o = {out, 0, cap, cap == 0};
	if (cap)
		out[0] = '\0';
	const char *c = tmpl;
	struct promql_placeholder ph;
	while (promql_next_placeholder(c, &ph)) {
		put(&o, c, (size_t)(ph.open - c));
		char d[32], why[160];
		switch (ph.var) {
		case PROMQL_CANARY:
			put_pool(&o, v->canary, v->ncanary);
			break;
		case PROMQL_STABLE:
			put_pool(&o, v->stable, v->nstable);
			break;
		case PROMQL_BACKEND:
			put_literal(&o, v->backend ? v->backend : "");
			break;
		case PROMQL_INTERVAL:
			prom_query_duration(v->interval_ms, d, sizeof(d));
			put(&o, d, strlen(d));
			break;
		case PROMQL_UNKNOWN:
			promql_unknown_message(&ph, why, sizeof(why));
			return cf_err_set(err, "%s", why);
		}
		c = ph.end;
	}
	put(&o, c, strlen(c));
	if (o.full)
		return cf_err_set(err, "the query is longer than %zu bytes once its placeholders "
				       "are filled", cap ? cap - 1 : 0);
	return 0;
}
