#include "record/status_analysis.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/timeparse.h"
#include "observe/prom_query.h"

#define METRICS_TEXT_MAX (1u << 20)

static const struct rollout_metric *record_of(const struct rollout_state *s, const char *name)
{
	for (size_t i = 0; i < s->nmetrics; i++)
		if (strcmp(s->metrics[i].name, name) == 0)
			return &s->metrics[i];
	return NULL;
}

static struct json_object *number_or_null(bool has, double v)
{
	return has ? json_object_new_double(v) : NULL;
}

static struct json_object *metric_json(const struct rollout_state *s,
				       const struct promotion_metric *m,
				       const struct rollout_metric *r)
{
	struct json_object *o = json_object_new_object(), *t = json_object_new_object();
	char window[32], end[RFC3339_MS_MAX];
	if (!o || !t) {
		json_object_put(o);
		json_object_put(t);
		return NULL;
	}
	bool has_value = r && r->has_value, has_stable = r && r->has_stable;
	int64_t interval = r && r->interval_ms ? r->interval_ms : m->interval_ms;
	json_object_object_add(o, "name", json_object_new_string(m->name));
	json_object_object_add(o, "verdict", json_object_new_string(rollout_metric_verdict_name(
						     r ? r->verdict : METRIC_VERDICT_NONE)));
	json_object_object_add(o, "value", number_or_null(has_value, has_value ? r->value : 0));
	json_object_object_add(o, "stable", number_or_null(has_stable, has_stable ? r->stable : 0));
	json_object_object_add(o, "ratio", number_or_null(has_stable && r->stable != 0,
							  has_stable && r->stable != 0
								  ? r->value / r->stable
								  : 0));
	json_object_object_add(t, "min", number_or_null(m->has_min, m->min));
	json_object_object_add(t, "max", number_or_null(m->has_max, m->max));
	json_object_object_add(o, "threshold", t);
	json_object_object_add(o, "compare", json_object_new_string(
						     m->compare == METRIC_COMPARE_STABLE ? "stable"
											  : "none"));
	if (interval > 0) {
		prom_query_duration(interval, window, sizeof(window));
		json_object_object_add(o, "window", json_object_new_string(window));
	} else {
		json_object_object_add(o, "window", NULL);
	}
	int64_t wall = r && r->taken_ms ? rollout_clock_wall(s, r->taken_ms) : 0;
	if (wall > 0) {
		rfc3339_format_ms(wall, end, sizeof(end));
		json_object_object_add(o, "windowEnd", json_object_new_string(end));
	} else {
		json_object_object_add(o, "windowEnd", NULL);
	}
	json_object_object_add(o, "failures", json_object_new_int(r ? r->failures : 0));
	json_object_object_add(o, "failureLimit", json_object_new_int(m->failure_limit));
	json_object_object_add(o, "message", r && r->why[0] ? json_object_new_string(r->why) : NULL);
	return o;
}

struct json_object *status_analysis_json(const struct rollout_state *s,
					 const struct promotion_analysis *a)
{
	if (!a || !a->nmetrics)
		return NULL;
	struct json_object *o = json_object_new_object(), *list = json_object_new_array();
	if (!o || !list) {
		json_object_put(o);
		json_object_put(list);
		return NULL;
	}
	for (size_t i = 0; i < a->nmetrics; i++)
		json_object_array_add(list, metric_json(s, &a->metrics[i],
							record_of(s, a->metrics[i].name)));
	json_object_object_add(o, "metrics", list);
	return o;
}

/* The text so far; a failure to grow it (past METRICS_TEXT_MAX, or out of memory) sticks. */
struct text {
	struct buf b;
	bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	char line[512];
	struct cf_err err;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) || buf_appends(&t->b, line, &err) < 0)
		t->failed = true;
}

/* family{promotion="...",metric="..." with each value quoted as the exposition format does
 * (backslash, quote and newline escaped); the caller closes the braces. */
static void put_labels(struct text *t, const char *family, const char *promotion,
		       const char *metric)
{
	const char *values[2] = {promotion, metric};
	put(t, "%s{promotion=\"", family);
	for (int k = 0; k < 2; k++) {
		if (k)
			put(t, "\",metric=\"");
		for (const char *c = values[k]; *c; c++) {
			if (*c == '\\' || *c == '"')
				put(t, "\\%c", *c);
			else if (*c == '\n')
				put(t, "\\n");
			else
				put(t, "%c", *c);
		}
	}
	put(t, "\"");
}

char *status_analysis_metrics(const struct rollout_state *s, const struct promotion_analysis *a,
			      const char *promotion)
{
	struct text t = {BUF_INIT(METRICS_TEXT_MAX), false};
	size_t n = a ? a->nmetrics : 0;
	/* The families are declared whether or not a Promotion has metrics, as every other. */
	put(&t, "# HELP clawfleet_analysis_metric The last window's value of each Promotion "
		"metric: the ratio canary/stable with compare stable.\n"
		"# TYPE clawfleet_analysis_metric gauge\n");
	for (size_t i = 0; i < n; i++) {
		const struct rollout_metric *r = record_of(s, a->metrics[i].name);
		if (!r || !r->has_value || (r->has_stable && r->stable == 0))
			continue;
		put_labels(&t, "clawfleet_analysis_metric", promotion, r->name);
		put(&t, "} %.9g\n", r->has_stable ? r->value / r->stable : r->value);
	}
	put(&t, "# HELP clawfleet_analysis_metric_verdict Each Promotion metric's last verdict: 1 "
		"for it, 0 for the others.\n"
		"# TYPE clawfleet_analysis_metric_verdict gauge\n");
	for (size_t i = 0; i < n; i++) {
		const struct rollout_metric *r = record_of(s, a->metrics[i].name);
		enum rollout_metric_verdict now = r ? r->verdict : METRIC_VERDICT_NONE;
		for (int v = METRIC_VERDICT_NONE; v <= METRIC_VERDICT_IGNORED; v++) {
			put_labels(&t, "clawfleet_analysis_metric_verdict", promotion,
				   a->metrics[i].name);
			put(&t, ",verdict=\"%s\"} %d\n",
			    rollout_metric_verdict_name((enum rollout_metric_verdict)v),
			    (int)now == v);
		}
	}
	put(&t, "# HELP clawfleet_analysis_metric_failures Each Promotion metric's failed windows "
		"in a row.\n"
		"# TYPE clawfleet_analysis_metric_failures gauge\n");
	for (size_t i = 0; i < n; i++) {
		const struct rollout_metric *r = record_of(s, a->metrics[i].name);
		put_labels(&t, "clawfleet_analysis_metric_failures", promotion, a->metrics[i].name);
		put(&t, "} %d\n", r ? r->failures : 0);
	}
	if (t.failed) {
		buf_free(&t.b);
		return NULL;
	}
	return buf_take(&t.b, NULL);
}
