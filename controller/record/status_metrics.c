/* /metrics (record/status.h): the counters the loop updates and the text it renders from them
 * and the view of the last pass. */
#include "record/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/status_analysis.h"
#include "record/status_webhooks.h"

#define METRICS_MAX (64u << 20)

const double status_duration_bounds[STATUS_DURATION_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

static const char *const action_kinds[STATUS_ACTION_KINDS] = {
	[ACTION_NODE_TARGET] = "node_target",
	[ACTION_SET_WEIGHTS] = "set_weights",
	[ACTION_ROUTE_TENANT] = "route_tenant",
	[ACTION_AUDIT] = "audit",
	[ACTION_BROADCAST] = "broadcast",
	[ACTION_DRAIN_NODE] = "drain_node",
	[ACTION_READY_NODE] = "ready_node",
};

void status_metrics_observe_pass(struct status_metrics *m, double seconds)
{
	size_t i = 0;
	while (i < STATUS_DURATION_BUCKETS && seconds > status_duration_bounds[i])
		i++;
	m->duration_counts[i]++;
	m->duration_sum += seconds;
	m->reconcile_total++;
}

void status_metrics_count_action(struct status_metrics *m, enum rollout_action_kind kind, bool ok)
{
	if ((size_t)kind < STATUS_ACTION_KINDS)
		m->actions[kind][ok ? 0 : 1]++;
}

void status_metrics_count_rollback(struct status_metrics *m, const char *reason)
{
	const char *r = reason && *reason ? reason : "unknown";
	for (size_t i = 0; i < m->nrollbacks; i++)
		if (strcmp(m->rollbacks[i].reason, r) == 0) {
			m->rollbacks[i].count++;
			return;
		}
	if (m->nrollbacks == STATUS_ROLLBACK_REASONS) {
		r = "other";
		size_t last = m->nrollbacks - 1;
		snprintf(m->rollbacks[last].reason, sizeof(m->rollbacks[last].reason), "%s", r);
		m->rollbacks[last].count++;
		return;
	}
	snprintf(m->rollbacks[m->nrollbacks].reason, sizeof(m->rollbacks[0].reason), "%s", r);
	m->rollbacks[m->nrollbacks++].count = 1;
}

/* ---- /metrics ---- */

struct text {
	char *p;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	for (int attempt = 0; attempt < 2 && !t->failed; attempt++) {
		size_t room = t->cap - t->len;
		va_start(ap, fmt);
		int n = vsnprintf(t->p ? t->p + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap : 4096;
		while (cap - t->len <= (size_t)n)
			cap *= 2;
		char *p = cap <= METRICS_MAX ? realloc(t->p, cap) : NULL;
		if (!p) {
			t->failed = true;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
}

/* A label value as the exposition format quotes it: backslash, quote and newline escaped. */
static void put_label(struct text *t, const char *value)
{
	for (const char *c = value; *c; c++) {
		if (*c == '\\')
			put(t, "\\\\");
		else if (*c == '"')
			put(t, "\\\"");
		else if (*c == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *c);
	}
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void node_metrics(struct text *t, const struct status_view *v)
{
	family(t, "clawfleet_node_status", "gauge",
	       "Each node's probe as the last pass read it: 1 for its status, 0 for the others.");
	for (size_t i = 0; i < v->nnodes; i++)
		for (size_t s = 0; s < STATUS_NODE_STATUSES; s++) {
			put(t, "clawfleet_node_status{node=\"");
			put_label(t, v->nodes[i].name);
			put(t, "\",status=\"%s\"} %d\n", status_node_statuses[s],
			    strcmp(v->nodes[i].status, status_node_statuses[s]) == 0);
		}
}

static void since_metrics(struct text *t, const struct status_view *v)
{
	family(t, "clawfleet_node_status_since_timestamp_seconds", "gauge",
	       "When each node entered the status it has, as the controller saw it.");
	for (size_t i = 0; i < v->nnodes; i++) {
		if (v->nodes[i].since_ms <= 0)
			continue;
		put(t, "clawfleet_node_status_since_timestamp_seconds{node=\"");
		put_label(t, v->nodes[i].name);
		put(t, "\"} %.3f\n", (double)v->nodes[i].since_ms / 1000.0);
	}
}

static void duration_metrics(struct text *t, const struct status_metrics *m)
{
	uint64_t cumulative = 0;
	family(t, "clawfleet_reconcile_duration_seconds", "histogram",
	       "How long a reconcile pass took: refresh, observe, plan, act, record.");
	for (size_t i = 0; i < STATUS_DURATION_BUCKETS; i++) {
		cumulative += m->duration_counts[i];
		put(t, "clawfleet_reconcile_duration_seconds_bucket{le=\"%g\"} %llu\n",
		    status_duration_bounds[i], (unsigned long long)cumulative);
	}
	cumulative += m->duration_counts[STATUS_DURATION_BUCKETS];
	put(t, "clawfleet_reconcile_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)cumulative);
	put(t, "clawfleet_reconcile_duration_seconds_sum %.9g\n", m->duration_sum);
	put(t, "clawfleet_reconcile_duration_seconds_count %llu\n", (unsigned long long)cumulative);
}

int status_render_metrics(const struct status_view *v, char **out, size_t *len,
			  struct cf_err *err)
{
	const struct status_metrics *m = v->metrics;
	const struct rollout_state *s = v->state;
	struct text t = {0};

	family(&t, "clawfleet_rollout_phase", "gauge",
	       "The rollout's phase: 1 for the current one, 0 for the others.");
	for (int p = ROLLOUT_IDLE; p <= ROLLOUT_ROLLED_BACK; p++)
		put(&t, "clawfleet_rollout_phase{phase=\"%s\"} %d\n",
		    rollout_phase_name((enum rollout_phase)p), (int)s->phase == p);
	family(&t, "clawfleet_canary_weight", "gauge",
	       "The load-balancer weight of the canary servers, summed, as last read.");
	put(&t, "clawfleet_canary_weight %d\n", v->canary_weight);
	family(&t, "clawfleet_canary_percent", "gauge",
	       "The percent of new sessions the rollout's step sends to the canary pool.");
	put(&t, "clawfleet_canary_percent %d\n", s->percent);
	node_metrics(&t, v);
	since_metrics(&t, v);
	family(&t, "clawfleet_reconcile_total", "counter", "Reconcile passes run.");
	put(&t, "clawfleet_reconcile_total %llu\n", (unsigned long long)m->reconcile_total);
	duration_metrics(&t, m);
	family(&t, "clawfleet_actions_total", "counter", "Actions performed, by kind and result.");
	for (size_t k = 0; k < STATUS_ACTION_KINDS; k++)
		for (int r = 0; r < 2; r++)
			put(&t, "clawfleet_actions_total{kind=\"%s\",result=\"%s\"} %llu\n",
			    action_kinds[k], r ? "error" : "ok",
			    (unsigned long long)m->actions[k][r]);
	family(&t, "clawfleet_git_fetch_duration_seconds", "gauge",
	       "How long the last fetch and resolve of the source's ref took.");
	put(&t, "clawfleet_git_fetch_duration_seconds %.9g\n", m->git_fetch_seconds);
	family(&t, "clawfleet_source_stale_seconds", "gauge",
	       "Seconds since the Git source was last fetched well; 0 for a source read live.");
	put(&t, "clawfleet_source_stale_seconds %.3f\n",
	    v->source && v->source->stale_ms > 0 ? (double)v->source->stale_ms / 1000.0 : 0.0);
	family(&t, "clawfleet_rollbacks_total", "counter", "Rollbacks started, by reason.");
	for (size_t i = 0; i < m->nrollbacks; i++) {
		put(&t, "clawfleet_rollbacks_total{reason=\"");
		put_label(&t, m->rollbacks[i].reason);
		put(&t, "\"} %llu\n", (unsigned long long)m->rollbacks[i].count);
	}
	char *analysis = status_analysis_metrics(s, v->analysis,
						 v->promotion_name ? v->promotion_name : "");
	t.failed |= !analysis;
	put(&t, "%s", analysis ? analysis : "");
	free(analysis);
	char *webhooks = status_webhooks_metrics(v);
	put(&t, "%s", webhooks ? webhooks : "");
	t.failed = t.failed || !webhooks;
	free(webhooks);
	char leader[STATUS_LEADER_METRICS_MAX];
	t.failed = t.failed || !status_leader_metrics(v->leader, leader, sizeof(leader));
	put(&t, "%s", leader);
	family(&t, "clawfleet_build_info", "gauge", "The clawfleet build: always 1.");
	put(&t, "clawfleet_build_info{version=\"");
	put_label(&t, v->version ? v->version : "unknown");
	put(&t, "\"} 1\n");
	if (t.failed) {
		free(t.p);
		return cf_err_set(err, "rendering /metrics: out of memory");
	}
	/* Served until the next pass: only what it holds (its capacity doubled as it grew). */
	char *fit = realloc(t.p, t.len + 1);
	*out = fit ? fit : t.p;
	*len = t.len;
	return 0;
}
