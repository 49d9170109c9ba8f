#include "record/status.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timeparse.h"
#include "record/status_analysis.h"

#define JSON_PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define METRICS_MAX (64u << 20)

const double status_duration_bounds[STATUS_DURATION_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

static const char *const node_statuses[] = {"green", "degraded", "red", "unreachable"};
static const char *const action_kinds[STATUS_ACTION_KINDS] = {
	[ACTION_NODE_TARGET] = "node_target",
	[ACTION_SET_WEIGHTS] = "set_weights",
	[ACTION_ROUTE_TENANT] = "route_tenant",
	[ACTION_AUDIT] = "audit",
	[ACTION_BROADCAST] = "broadcast",
	[ACTION_DRAIN_NODE] = "drain_node",
	[ACTION_READY_NODE] = "ready_node",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

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

/* ---- since when ---- */

static bool same_entry(const struct status_since_entry *e, const struct status_node *n)
{
	return strcmp(e->name, n->name) == 0;
}

void status_since_track(struct status_since *t, struct status_node *nodes, size_t n,
			int64_t now_ms)
{
	struct status_since_entry *v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		status_since_free(t);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct status_node *node = &nodes[i];
		/* The desired state's order rarely changes: the same index first. */
		const struct status_since_entry *old = i < t->n && same_entry(&t->v[i], node)
							       ? &t->v[i]
							       : NULL;
		for (size_t k = 0; !old && k < t->n; k++)
			if (same_entry(&t->v[k], node))
				old = &t->v[k];
		snprintf(v[i].name, sizeof(v[i].name), "%s", node->name);
		snprintf(v[i].status, sizeof(v[i].status), "%s", node->status);
		v[i].since_ms = old && strcmp(old->status, node->status) == 0 ? old->since_ms : now_ms;
		node->since_ms = v[i].since_ms;
	}
	free(t->v);
	t->v = v;
	t->n = n;
}

void status_since_free(struct status_since *t)
{
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* ---- /status ---- */

/* RFC 3339 UTC with milliseconds; 0 stands for "never" and renders as null. */
static struct json_object *time_json(int64_t ms)
{
	char out[RFC3339_MS_MAX];
	if (ms <= 0)
		return NULL;
	rfc3339_format_ms(ms, out, sizeof(out));
	return json_object_new_string(out);
}

static struct json_object *str_or_null(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

static struct json_object *version_json(const struct rollout_version *v)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "tag", str_or_null(v->tag));
	json_object_object_add(o, "commit", str_or_null(v->commit));
	json_object_object_add(o, "skillSemver", str_or_null(v->semver));
	return o;
}

static struct json_object *promotion_json(const struct status_view *v)
{
	if (!v->promotion_name)
		return NULL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(v->promotion_name));
	json_object_object_add(o, "tag", str_or_null(v->promotion_tag));
	json_object_object_add(o, "skillSemver", str_or_null(v->promotion_semver));
	return o;
}

static struct json_object *weights_json(const struct weight_map *m)
{
	if (!m)
		return NULL;
	struct json_object *o = json_object_new_object();
	for (size_t i = 0; i < m->n; i++)
		json_object_object_add(o, m->v[i].server, json_object_new_int(m->v[i].weight));
	return o;
}

/* {code, message} of a node's first reason; null when it has none. */
static struct json_object *reason_json(const struct status_node *n)
{
	if (!n->reason_code)
		return NULL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "code", json_object_new_string(n->reason_code));
	json_object_object_add(o, "message", str_or_null(n->reason_message));
	return o;
}

/* The finding as /readyz names it (doctor.firstBad); null when there is none. */
static struct json_object *finding_json(const struct readyz_finding *f)
{
	if (!f->check_id)
		return NULL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "checkId", json_object_new_string(f->check_id));
	json_object_object_add(o, "severity", str_or_null(f->severity));
	json_object_object_add(o, "message", str_or_null(f->message));
	json_object_object_add(o, "path", str_or_null(f->path));
	json_object_object_add(o, "line", f->line > 0 ? json_object_new_int64(f->line) : NULL);
	json_object_object_add(o, "column",
			       f->column > 0 ? json_object_new_int64(f->column) : NULL);
	json_object_object_add(o, "fixHint", str_or_null(f->fix_hint));
	json_object_object_add(o, "tenant", str_or_null(f->tenant));
	return o;
}

static struct json_object *servers_json(const struct lb_servers *l)
{
	if (!l)
		return NULL;
	struct json_object *o = json_object_new_object();
	for (size_t i = 0; i < l->n; i++) {
		const struct lb_server *s = &l->v[i];
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "health", json_object_new_string(lb_health_name(s->health)));
		json_object_object_add(e, "draining", json_object_new_boolean(s->draining));
		json_object_object_add(e, "sessions",
				       s->sessions < 0 ? NULL : json_object_new_int(s->sessions));
		json_object_object_add(o, s->server, e);
	}
	return o;
}

/* url without the "user:secret@" of scheme://user:secret@host/: what `clawfleet rollout` pushes
 * to, never a credential. */
static struct json_object *source_url_json(const char *url)
{
	if (!url)
		return NULL;
	const char *auth = strstr(url, "://"), *at = NULL;
	if (auth)
		for (const char *p = auth + 3; *p && !strchr("/?#", *p); p++)
			if (*p == '@')
				at = p;
	if (!at)
		return json_object_new_string(url);
	char shown[4096];
	snprintf(shown, sizeof(shown), "%.*s%s", (int)(auth + 3 - url), url, at + 1);
	return json_object_new_string(shown);
}

/* How fresh the desired state can be: null for a source read live. */
static struct json_object *source_json(const struct status_source *src)
{
	if (!src)
		return NULL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "fetched", json_object_new_boolean(src->fetched));
	json_object_object_add(o, "revision", str_or_null(src->revision));
	json_object_object_add(o, "fetching", json_object_new_boolean(src->fetching));
	json_object_object_add(o, "lastFetchAt", time_json(src->last_fetch_ms));
	json_object_object_add(o, "lastFetchOk", src->last_fetch_ms
							 ? json_object_new_boolean(src->last_fetch_ok)
							 : NULL);
	json_object_object_add(o, "staleSeconds",
			       json_object_new_int64(src->stale_ms > 0 ? src->stale_ms / 1000 : 0));
	json_object_object_add(o, "nextFetchAt", time_json(src->next_fetch_ms));
	json_object_object_add(o, "consecutiveFailures", json_object_new_int64(src->failures));
	json_object_object_add(o, "error", str_or_null(src->error));
	return o;
}

static struct json_object *nodes_json(const struct status_view *v)
{
	struct json_object *o = json_object_new_object();
	for (size_t i = 0; i < v->nnodes; i++) {
		const struct status_node *n = &v->nodes[i];
		struct json_object *node = json_object_new_object(),
				   *reasons = json_object_new_array();
		for (size_t r = 0; r < n->nreasons; r++)
			json_object_array_add(reasons, json_object_new_string(n->reasons[r]));
		json_object_object_add(node, "status", json_object_new_string(n->status));
		json_object_object_add(node, "statusSince", time_json(n->since_ms));
		json_object_object_add(node, "tag", str_or_null(n->tag));
		json_object_object_add(node, "skills", str_or_null(n->skills));
		json_object_object_add(node, "observedGeneration",
				       json_object_new_int64(n->observed_generation));
		json_object_object_add(node, "reasons", reasons);
		json_object_object_add(node, "reason", reason_json(n));
		json_object_object_add(node, "doctorFirstBad", finding_json(&n->doctor_first_bad));
		json_object_object_add(o, n->name, node);
	}
	return o;
}

/* Held: whom the rollout waits for, and when maxHold ends the wait. No clock runs while the
 * planner says a person must decide (Stalled) or a gate waits for an approval (approval: the
 * percent and the command that writes it); a suspension stops the clock, so the deadline moves
 * with it. The hold is measured on the rollout clock (plan/rollout.h), shown as wall time. */
static struct json_object *hold_json(const struct status_view *v)
{
	const struct rollout_state *s = v->state;
	if (s->phase != ROLLOUT_HELD)
		return NULL;
	struct json_object *o = json_object_new_object();
	char waiting[ROLLOUT_NODE_NAME_MAX + ROLLOUT_REASON_MAX + 64], hold[32];
	bool timed = v->max_hold_ms > 0 && s->hold_started_ms > 0 && !s->gate_percent &&
		     s->conditions[COND_STALLED].status != COND_TRUE;
	struct json_object *approval = NULL;
	int64_t deadline = rollout_clock_wall(s, s->hold_started_ms + v->max_hold_ms);
	if (timed && s->suspended_since_ms > 0) /* what was left when the suspension began */
		deadline = v->now_ms + (s->hold_started_ms + v->max_hold_ms - s->suspended_since_ms);
	if (s->gate_percent) {
		snprintf(waiting, sizeof(waiting),
			 "approval of %d %% (clawfleet rollout promote)", s->gate_percent);
		approval = json_object_new_object();
		json_object_object_add(approval, "percent", json_object_new_int(s->gate_percent));
		json_object_object_add(approval, "command",
				       json_object_new_string("clawfleet rollout promote"));
	} else if (s->held_node[0])
		snprintf(waiting, sizeof(waiting), "%s to report green (it reports %s)",
			 s->held_node, s->held_reason[0] ? s->held_reason : "not green");
	else
		snprintf(waiting, sizeof(waiting), "the canaries to report green");
	json_object_object_add(o, "node", str_or_null(s->held_node));
	json_object_object_add(o, "reason", str_or_null(s->held_reason));
	json_object_object_add(o, "since", time_json(rollout_clock_wall(s, s->hold_started_ms)));
	json_object_object_add(o, "waitingFor", json_object_new_string(waiting));
	json_object_object_add(o, "approval", approval);
	if (v->max_hold_ms > 0)
		duration_format(v->max_hold_ms, hold, sizeof(hold));
	json_object_object_add(o, "maxHold", v->max_hold_ms > 0 ? json_object_new_string(hold)
								: NULL);
	json_object_object_add(o, "deadline", timed ? time_json(deadline) : NULL);
	return o;
}

static struct json_object *condition_json(const char *type, const char *status,
					  const char *reason, const char *message, int64_t at_ms)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	json_object_object_add(o, "message", json_object_new_string(message));
	json_object_object_add(o, "lastTransitionTime", time_json(at_ms));
	return o;
}

/* The planner's conditions; a sealed audit log, and then a desired state that cannot be
 * refreshed, stall the controller whatever the rollout says: it takes no action on an audit
 * record it cannot trust, and acts on a revision that may be out of date. A rollout state that
 * cannot be saved adds StateUnwritable while it lasts. */
static struct json_object *conditions_json(const struct status_view *v)
{
	struct json_object *arr = json_object_new_array();
	for (int t = 0; t < COND_COUNT; t++) {
		const struct rollout_condition *c = &v->state->conditions[t];
		if (t == COND_STALLED && v->audit_broken)
			json_object_array_add(arr, condition_json("Stalled", "True",
								  "AuditChainBroken",
								  v->audit_broken,
								  v->audit_broken_since_ms));
		else if (t == COND_STALLED && v->source_error)
			json_object_array_add(arr, condition_json("Stalled", "True", "SourceFailed",
								  v->source_error,
								  v->source_error_since_ms));
		else
			json_object_array_add(
				arr, condition_json(condition_type_name((enum condition_type)t),
						    condition_status_name(c->status),
						    c->reason[0] ? c->reason : "Unknown",
						    c->message, c->last_transition_ms));
	}
	if (v->state_unwritable)
		json_object_array_add(arr, condition_json("StateUnwritable", "True",
							  v->state_unwritable_reason
								  ? v->state_unwritable_reason
								  : "SaveFailed",
							  v->state_unwritable,
							  v->state_unwritable_since_ms));
	return arr;
}

/* Each quarantined build, and how a person lifts it: `clawfleet rollout retry TAG` commits
 * spec.retry with quarantinedAt as shown here; a new tag is never quarantined. */
static struct json_object *quarantine_json(const struct rollout_state *s)
{
	struct json_object *arr = json_object_new_array();
	char lift[ROLLOUT_TEXT_MAX + 64];
	for (size_t i = 0; i < s->nquarantined; i++) {
		const struct rollout_quarantine *q = &s->quarantined[i];
		struct json_object *o = json_object_new_object();
		snprintf(lift, sizeof(lift), "clawfleet rollout retry %s, or promote a new tag", q->tag);
		json_object_object_add(o, "tag", json_object_new_string(q->tag));
		json_object_object_add(o, "commit", json_object_new_string(q->commit));
		json_object_object_add(o, "reason", json_object_new_string(q->reason));
		json_object_object_add(o, "quarantinedAt", time_json(q->at_ms));
		json_object_object_add(o, "lift", json_object_new_string(lift));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* After an automatic rollback Git still names the build it left (nothing wrote Git back): the
 * next person to read the Promotion should know, and know the command that makes Git agree. */
static const struct rollout_quarantine *git_names_quarantined(const struct status_view *v)
{
	const struct rollout_state *s = v->state;
	if (s->phase != ROLLOUT_ROLLED_BACK || !s->has_last_good || !v->promotion_tag ||
	    strcmp(v->promotion_tag, s->promotion.tag) != 0)
		return NULL;
	for (size_t i = 0; i < s->nquarantined; i++)
		if (strcmp(s->quarantined[i].tag, s->promotion.tag) == 0 &&
		    strcmp(s->quarantined[i].commit, s->promotion.commit) == 0)
			return &s->quarantined[i];
	return NULL;
}

static struct json_object *git_names_message(const struct status_view *v)
{
	const struct rollout_state *s = v->state;
	char message[2 * ROLLOUT_TEXT_MAX + 128];
	if (!git_names_quarantined(v))
		return NULL;
	snprintf(message, sizeof(message),
		 "Git still names %s, which was rolled back; `clawfleet rollout undo` points it at %s",
		 s->promotion.tag, s->last_good.tag);
	return json_object_new_string(message);
}

/* The commit that makes Git agree with an automatic rollback (source.writeBack); null when
 * none was wanted. */
static struct json_object *writeback_json(const struct rollout_state *s)
{
	const struct rollout_writeback *wb = &s->writeback;
	if (wb->state == WRITEBACK_NONE)
		return NULL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "state",
			       json_object_new_string(rollout_writeback_state_name(wb->state)));
	json_object_object_add(o, "rollbackOf", json_object_new_string(wb->tag));
	json_object_object_add(o, "to", json_object_new_string(wb->to));
	json_object_object_add(o, "commit", str_or_null(wb->commit));
	json_object_object_add(o, "error", str_or_null(wb->error));
	json_object_object_add(o, "attempts", json_object_new_int(wb->attempts));
	return o;
}

static struct json_object *history_json(const struct rollout_state *s)
{
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; i < s->nhistory; i++) {
		const struct rollout_record *r = &s->history[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "promotion", json_object_new_string(r->promotion));
		json_object_object_add(o, "from", version_json(&r->from));
		json_object_object_add(o, "to", version_json(&r->to));
		json_object_object_add(o, "outcome",
				       json_object_new_string(rollout_outcome_name(r->outcome)));
		json_object_object_add(o, "reason", json_object_new_string(r->reason));
		json_object_object_add(o, "startedAt", time_json(r->started_ms));
		json_object_object_add(o, "finishedAt", time_json(r->finished_ms));
		json_object_object_add(o, "durationSeconds",
				       r->started_ms > 0 && r->finished_ms >= r->started_ms
					       ? json_object_new_int64((r->finished_ms - r->started_ms) /
								       1000)
					       : NULL);
		json_object_object_add(o, "actor", str_or_null(r->actor));
		json_object_object_add(o, "ticket", str_or_null(r->ticket));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* tokenRotation: the progress document as the command wrote it, {"error": why} when it cannot
 * be read (which never costs /status), null when there is none. */
static struct json_object *token_rotation_status_json(const struct status_view *v)
{
	if (v->token_rotation_error) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string(v->token_rotation_error));
		return o;
	}
	return v->token_rotation ? token_rotation_json(v->token_rotation) : NULL;
}

static struct json_object *passes_json(const struct status_view *v)
{
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; i < v->npasses; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "at", time_json(v->passes[i].at_ms));
		json_object_object_add(o, "green", json_object_new_boolean(v->passes[i].green));
		json_object_array_add(arr, o);
	}
	return arr;
}

int status_render_json(const struct status_view *v, char **out, size_t *len, struct cf_err *err)
{
	const struct rollout_state *s = v->state;
	struct json_object *o = json_object_new_object(), *q = json_object_new_array();
	int rc = -1;
	if (!o || !q) {
		json_object_put(q);
		goto done;
	}
	for (size_t i = 0; i < s->nquarantined; i++)
		json_object_array_add(q, json_object_new_string(s->quarantined[i].tag));
	json_object_object_add(o, "revision", str_or_null(v->revision));
	json_object_object_add(o, "sourceError", str_or_null(v->source_error));
	json_object_object_add(o, "sourceUrl", source_url_json(v->source_url));
	json_object_object_add(o, "source", source_json(v->source));
	json_object_object_add(o, "promotion", promotion_json(v));
	json_object_object_add(o, "phase", json_object_new_string(rollout_phase_name(s->phase)));
	/* spec.suspend holds the rollout in its phase: progress is frozen there (never safety). */
	json_object_object_add(o, "suspended", json_object_new_boolean(s->suspended_since_ms != 0));
	json_object_object_add(o, "step", json_object_new_int(s->step));
	json_object_object_add(o, "percent", json_object_new_int(s->percent));
	json_object_object_add(o, "rollout", version_json(&s->promotion));
	json_object_object_add(o, "lastGood", s->has_last_good ? version_json(&s->last_good) : NULL);
	json_object_object_add(o, "weights", weights_json(v->weights));
	json_object_object_add(o, "hold", hold_json(v));
	json_object_object_add(o, "analysis", status_analysis_json(s, v->analysis));
	json_object_object_add(o, "servers", servers_json(v->servers));
	json_object_object_add(o, "nodes", nodes_json(v));
	json_object_object_add(o, "conditions", conditions_json(v));
	json_object_object_add(o, "quarantined", q);
	json_object_object_add(o, "quarantine", quarantine_json(s));
	json_object_object_add(o, "gitNamesQuarantinedTag",
			       json_object_new_boolean(git_names_quarantined(v) != NULL));
	json_object_object_add(o, "gitNamesMessage", git_names_message(v));
	json_object_object_add(o, "writeBack", writeback_json(s));
	json_object_object_add(o, "history", history_json(s));
	json_object_object_add(o, "passes", passes_json(v));
	json_object_object_add(o, "tokenRotation", token_rotation_status_json(v));
	size_t n = 0;
	const char *text = json_object_to_json_string_length(o, JSON_PLAIN, &n);
	if (!text)
		goto done;
	*out = malloc(n + 1);
	if (!*out)
		goto done;
	memcpy(*out, text, n + 1);
	*len = n;
	rc = 0;
done:
	json_object_put(o);
	return rc < 0 ? cf_err_set(err, "rendering /status: out of memory") : 0;
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
		for (size_t s = 0; s < COUNT(node_statuses); s++) {
			put(t, "clawfleet_node_status{node=\"");
			put_label(t, v->nodes[i].name);
			put(t, "\",status=\"%s\"} %d\n", node_statuses[s],
			    strcmp(v->nodes[i].status, node_statuses[s]) == 0);
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
	family(&t, "clawfleet_build_info", "gauge", "The clawfleet build: always 1.");
	put(&t, "clawfleet_build_info{version=\"");
	put_label(&t, v->version ? v->version : "unknown");
	put(&t, "\"} 1\n");
	if (t.failed) {
		free(t.p);
		return cf_err_set(err, "rendering /metrics: out of memory");
	}
	*out = t.p;
	*len = t.len;
	return 0;
}
