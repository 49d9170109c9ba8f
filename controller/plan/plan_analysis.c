/* The Promotion's metrics from Prometheus (spec.canary.analysis.metrics), as the controller
 * measured them (fleet_observation.metrics): each window judged once, at the first pass that
 * sees it Analysing or held at the gate after the step, and only a window wholly inside the
 * current step counts (a window that began before the step's weights read back measured
 * another split of the traffic).
 *
 * A window's value (with compare stable, the ratio canary/stable) passes within thresholdRange
 * and fails outside it; a window without a value is judged by noData: hold (the window does
 * not count: the step waits, and /status says why), fail, or ignore (a pass). failureLimit
 * failed windows in a row roll the rollout back, the reason naming the metric
 * ("metric.request-success-rate") and /status the value ("request-success-rate 91.2 % < 99 %
 * (canary-gw, 5m)"); the ones before hold the step. A step advances only once each metric's
 * latest window in it passed. */
#include "plan/plan_internal.h"

#include <stdio.h>
#include <string.h>

#include "observe/prom_query.h"

static const struct metric_sample *sample_of(const struct pass *p, const char *name)
{
	for (size_t i = 0; i < p->obs->nmetrics; i++)
		if (strcmp(p->obs->metrics[i].metric, name) == 0)
			return &p->obs->metrics[i];
	return NULL;
}

/* The unit a value is shown in: the ratio's with compare stable, the built-ins' own. */
static const char *unit_of(const struct promotion_metric *m)
{
	if (m->compare == METRIC_COMPARE_STABLE)
		return " x";
	if (!m->query && strcmp(m->name, METRIC_SUCCESS_RATE) == 0)
		return " %";
	if (!m->query && strcmp(m->name, METRIC_DURATION) == 0)
		return " ms";
	return "";
}

/* "(canary-gw, 5m)": where and over what the value was measured. */
static void scope_of(const struct pass *p, int64_t interval, char *out, size_t size)
{
	char window[32];
	prom_query_duration(interval, window, sizeof(window));
	if (!p->ncanary)
		plan_format(out, size, "(no canary, %s)", window);
	else if (p->ncanary == 1)
		plan_format(out, size, "(%s, %s)", plan_node_name(p, p->order[0]), window);
	else
		plan_format(out, size, "(%s +%zu, %s)", plan_node_name(p, p->order[0]),
			    p->ncanary - 1, window);
}

static void no_data(const struct promotion_metric *m, struct rollout_metric *r, const char *why,
		    const char *scope)
{
	switch (m->no_data) {
	case METRIC_NO_DATA_FAIL:
		r->verdict = METRIC_VERDICT_FAIL;
		r->failures++;
		plan_format(r->why, sizeof(r->why), "%s: no data, counted as failed %s: %s",
			    m->name, scope, why);
		break;
	case METRIC_NO_DATA_IGNORE:
		r->verdict = METRIC_VERDICT_IGNORED;
		r->failures = 0;
		plan_format(r->why, sizeof(r->why), "%s: no data, ignored %s: %s", m->name, scope,
			    why);
		break;
	case METRIC_NO_DATA_HOLD:
		r->verdict = METRIC_VERDICT_NO_DATA;
		plan_format(r->why, sizeof(r->why), "%s: no data, the window does not count %s: %s",
			    m->name, scope, why);
		break;
	}
}

static void judge(const struct pass *p, const struct promotion_metric *m,
		  const struct metric_sample *x, struct rollout_metric *r)
{
	char scope[ROLLOUT_NODE_NAME_MAX + 48];
	const char *unit = unit_of(m);
	scope_of(p, x->interval_ms, scope, sizeof(scope));
	r->taken_ms = x->taken_ms;
	r->interval_ms = x->interval_ms;
	r->has_value = x->has_value;
	r->value = x->has_value ? x->value : 0;
	r->has_stable = x->has_value && m->compare == METRIC_COMPARE_STABLE;
	r->stable = r->has_stable ? x->stable : 0;
	if (!x->has_value) {
		no_data(m, r, x->why, scope);
		return;
	}
	double v = x->value;
	if (m->compare == METRIC_COMPARE_STABLE) {
		if (x->stable == 0) {
			no_data(m, r, "the stable pool's value is 0: no ratio", scope);
			return;
		}
		v = x->value / x->stable;
	}
	if (m->has_min && v < m->min) {
		r->verdict = METRIC_VERDICT_FAIL;
		r->failures++;
		plan_format(r->why, sizeof(r->why), "%s %.4g%s < %g%s%s %s", m->name, v, unit,
			    m->min, unit, r->has_stable ? " of stable" : "", scope);
	} else if (m->has_max && v > m->max) {
		r->verdict = METRIC_VERDICT_FAIL;
		r->failures++;
		plan_format(r->why, sizeof(r->why), "%s %.4g%s > %g%s%s %s", m->name, v, unit,
			    m->max, unit, r->has_stable ? " of stable" : "", scope);
	} else {
		r->verdict = METRIC_VERDICT_PASS;
		r->failures = 0;
		plan_format(r->why, sizeof(r->why), "%s %.4g%s%s within its range %s", m->name, v,
			    unit, r->has_stable ? " of stable" : "", scope);
	}
}

static bool in_step(const struct rollout_state *s, int64_t taken_ms, int64_t interval_ms)
{
	return taken_ms - interval_ms >= s->step_started_ms;
}

int plan_metrics_judge(struct pass *p, char *code, size_t size)
{
	struct rollout_state *s = p->s;
	struct rollout_metric was[ROLLOUT_METRICS_MAX];
	size_t nwas = s->nmetrics;
	const struct promotion_analysis *a = p->promo ? &p->promo->analysis : NULL;
	int failed = -1;
	memcpy(was, s->metrics, nwas * sizeof(was[0]));
	s->nmetrics = 0;
	/* The records follow the Promotion: its order, its metrics only, a new rollout's afresh. */
	for (size_t k = 0; a && k < a->nmetrics && k < ROLLOUT_METRICS_MAX; k++) {
		const struct promotion_metric *m = &a->metrics[k];
		struct rollout_metric *r = &s->metrics[s->nmetrics++];
		memset(r, 0, sizeof(*r));
		for (size_t i = 0; i < nwas; i++)
			if (strcmp(was[i].name, m->name) == 0 && was[i].taken_ms >= s->started_ms)
				*r = was[i];
		plan_copy_str(r->name, sizeof(r->name), m->name);
		const struct metric_sample *x = sample_of(p, m->name);
		if (x && x->taken_ms > r->taken_ms && x->taken_ms >= s->started_ms &&
		    in_step(s, x->taken_ms, x->interval_ms))
			judge(p, m, x, r);
		if (failed < 0 && r->failures >= (m->failure_limit > 0 ? m->failure_limit : 1)) {
			failed = (int)k;
			plan_format(code, size, "metric.%s", m->name);
		}
	}
	return failed;
}

bool plan_metrics_waiting(const struct pass *p, char *why, size_t size)
{
	const struct rollout_state *s = p->s;
	for (size_t k = 0; k < s->nmetrics; k++) {
		const struct rollout_metric *r = &s->metrics[k];
		bool counted = r->verdict != METRIC_VERDICT_NONE && r->taken_ms >= s->started_ms &&
			       in_step(s, r->taken_ms, r->interval_ms);
		if (counted && (r->verdict == METRIC_VERDICT_PASS ||
				r->verdict == METRIC_VERDICT_IGNORED))
			continue;
		if (counted)
			plan_format(why, size, "%s", r->why);
		else
			plan_format(why, size, "%s: no window of this step measured yet", r->name);
		return true;
	}
	return false;
}

void plan_metrics_note(const struct pass *p, char *note, size_t size)
{
	const struct promotion_analysis *a = p->promo ? &p->promo->analysis : NULL;
	size_t used = 0;
	note[0] = '\0';
	for (size_t k = 0; a && k < p->s->nmetrics && k < a->nmetrics && used < size; k++) {
		const struct rollout_metric *r = &p->s->metrics[k];
		const struct promotion_metric *m = &a->metrics[k];
		double v = r->has_stable && r->stable != 0 ? r->value / r->stable : r->value;
		int n = r->has_value ? snprintf(note + used, size - used, "%s%s %.4g%s", used ? ", " : "",
						r->name, v, unit_of(m))
				     : snprintf(note + used, size - used, "%s%s %s", used ? ", " : "",
						r->name, rollout_metric_verdict_name(r->verdict));
		if (n < 0)
			break;
		used += (size_t)n;
	}
}
