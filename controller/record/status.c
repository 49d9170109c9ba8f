#include "record/status.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/nameindex.h"
#include "base/timeparse.h"
#include "record/status_parity.h"
#include "record/status_tokens.h"
#include "record/status_webhooks.h"
#include "record/status_analysis.h"

#define JSON_PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

const char *const status_node_statuses[STATUS_NODE_STATUSES] = {"green", "degraded", "red",
								  "unreachable"};

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
	/* Found by name (the entries begin with it) once the order changed. */
	struct name_index by_name = {0};
	bool indexed = false;
	for (size_t i = 0; i < n; i++) {
		struct status_node *node = &nodes[i];
		/* The desired state's order rarely changes: the same index first. */
		const struct status_since_entry *old = i < t->n && same_entry(&t->v[i], node)
							       ? &t->v[i]
							       : NULL;
		if (!old && !indexed) {
			for (size_t k = 0; k < t->n; k++)
				name_index_added(&by_name, t->v, k + 1, sizeof(*t->v));
			indexed = true;
		}
		if (!old) {
			size_t k = name_index_find(&by_name, t->v, t->n, sizeof(*t->v), node->name);
			old = k == NAME_INDEX_NONE ? NULL : &t->v[k];
		}
		snprintf(v[i].name, sizeof(v[i].name), "%s", node->name);
		snprintf(v[i].status, sizeof(v[i].status), "%s", node->status);
		v[i].since_ms = old && strcmp(old->status, node->status) == 0 ? old->since_ms : now_ms;
		node->since_ms = v[i].since_ms;
	}
	name_index_free(&by_name);
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

/* One node's member of "nodes", as a one-member object. */
static struct json_object *node_json(const struct status_node *n)
{
	struct json_object *o = json_object_new_object(), *node = json_object_new_object(),
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
	return o;
}

/* Each node's `"name":{...}` one after the other in d->nodes, where d->node_at says. */
static int render_nodes(const struct status_view *v, struct status_doc *d)
{
	size_t cap = 256 * (v->nnodes ? v->nnodes : 1);
	d->nodes = malloc(cap);
	d->node_at = calloc(v->nnodes + 1, sizeof(*d->node_at));
	if (!d->nodes || !d->node_at)
		return -1;
	size_t len = 0;
	for (size_t i = 0; i < v->nnodes; i++) {
		struct json_object *o = node_json(&v->nodes[i]);
		size_t n = 0;
		const char *text = o ? json_object_to_json_string_length(o, JSON_PLAIN, &n) : NULL;
		if (!text || n < 2) {
			json_object_put(o);
			return -1;
		}
		if (len + n > cap) {
			size_t want = cap * 2 > len + n ? cap * 2 : len + n;
			char *p = realloc(d->nodes, want);
			if (!p) {
				json_object_put(o);
				return -1;
			}
			d->nodes = p;
			cap = want;
		}
		memcpy(d->nodes + len, text + 1, n - 2); /* without the braces */
		len += n - 2;
		d->node_at[i + 1] = len;
		for (size_t k = 0; k < STATUS_NODE_STATUSES; k++)
			d->counts[k] += strcmp(v->nodes[i].status, status_node_statuses[k]) == 0;
		json_object_put(o);
	}
	/* Kept until the next pass: only what it holds (its capacity doubled as it grew). */
	char *fit = len ? realloc(d->nodes, len) : NULL;
	if (fit)
		d->nodes = fit;
	d->nnodes = v->nnodes;
	return 0;
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
	char waiting[ROLLOUT_NODE_NAME_MAX + ROLLOUT_REASON_MAX + HOOK_ERROR_MAX + 64], hold[32];
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
	else if (!status_webhooks_waiting(v, waiting, sizeof(waiting)))
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

/* Stands for the nodes in the document json-c renders: a control character no name holds. */
#define NODES_MARK "\"nodes\":\"\\u0001nodes\""

int status_doc_render(const struct status_view *v, struct status_doc *out, struct cf_err *err)
{
	const struct rollout_state *s = v->state;
	struct json_object *o = json_object_new_object(), *q = json_object_new_array();
	struct status_doc d = {0};
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
	json_object_object_add(o, "nodes", json_object_new_string("\001nodes"));
	json_object_object_add(o, "parity", status_parity_json(v->parity));
	json_object_object_add(o, "tokens", status_tokens_json(v->tokens));
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
	json_object_object_add(o, "leader", status_leader_json(v->leader));
	status_webhooks_add(o, v);
	size_t n = 0;
	const char *text = json_object_to_json_string_length(o, JSON_PLAIN, &n);
	const char *mark = text ? strstr(text, NODES_MARK) : NULL;
	if (!mark)
		goto done;
	d.head_len = (size_t)(mark - text) + strlen("\"nodes\":");
	d.tail_len = n - (size_t)(mark - text) - strlen(NODES_MARK);
	d.head = strndup(text, d.head_len);
	d.tail = strndup(mark + strlen(NODES_MARK), d.tail_len);
	if (!d.head || !d.tail || render_nodes(v, &d) < 0)
		goto done;
	*out = d;
	d = (struct status_doc){0};
	rc = 0;
done:
	json_object_put(o);
	status_doc_free(&d);
	return rc < 0 ? cf_err_set(err, "rendering /status: out of memory") : 0;
}

int status_render_json(const struct status_view *v, char **out, size_t *len, struct cf_err *err)
{
	struct status_doc d;
	struct status_nodes_query all = {false, 0, STATUS_NODES_ALL};
	if (status_doc_render(v, &d, err) < 0)
		return -1;
	int rc = status_doc_page(&d, &all, out, len, err);
	status_doc_free(&d);
	return rc;
}

