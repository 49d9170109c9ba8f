/* The rollout state back from its JSON (rollout_state_from_json, rollout.h): only what
 * rollout_json_write.c writes, every field checked, unknown and missing ones refused, each message
 * naming the field's path. */
#include "plan/rollout.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonparse.h"
#include "base/names.h"
#include "base/semver.h"
#include "desired/desired.h"
#include "plan/rollout_internal.h"

/* Far deeper than rollout_json_write.c nests; a deeper file is refused before it is read. */
#define STATE_JSON_DEPTH 32

/* Every object must hold exactly the keys rollout_json_write.c writes. where is the field path
 * so far ("" at the root), for messages like "history[2].to.semver: ...". */
static void join(char *out, size_t size, const char *where, const char *key)
{
	snprintf(out, size, "%s%s%s", where, *where ? "." : "", key);
}

static bool listed(const char *key, const char *const *keys, size_t nkeys)
{
	for (size_t i = 0; i < nkeys; i++)
		if (strcmp(keys[i], key) == 0)
			return true;
	return false;
}

/* keys[0..nrequired) must be there, the rest may be: fields added since the format began,
 * which a state file written before them lacks (their defaults are the empty state's). */
static int expect_some_keys(struct json_object *o, const char *where, const char *const *keys,
			    size_t nkeys, size_t nrequired, struct cf_err *err)
{
	char path[256];
	if (!json_object_is_type(o, json_type_object))
		return cf_err_set(err, "%s: must be an object", *where ? where : "state");
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		if (!listed(key, keys, nkeys)) {
			join(path, sizeof(path), where, key);
			return cf_err_set(err, "%.200s: unknown field", path);
		}
	}
	for (size_t i = 0; i < nrequired; i++) {
		if (!json_object_object_get_ex(o, keys[i], NULL)) {
			join(path, sizeof(path), where, keys[i]);
			return cf_err_set(err, "%s: required", path);
		}
	}
	return 0;
}

static int expect_keys(struct json_object *o, const char *where, const char *const *keys,
		       size_t nkeys, struct cf_err *err)
{
	return expect_some_keys(o, where, keys, nkeys, nkeys, err);
}

static struct json_object *member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	json_object_object_get_ex(o, key, &v);
	return v;
}

enum text_rule {
	TEXT_ANY,
	TEXT_CODE,    /* "" or [A-Za-z0-9._-]+ */
	TEXT_TAG,     /* "" or a git tag */
	TEXT_COMMIT,  /* "" or 40 lower-case hex */
	TEXT_SHA256,  /* "" or 64 lower-case hex */
	TEXT_SEMVER,  /* "" or SemVer 2.0 */
	TEXT_LABEL,   /* a DNS label, never "" */
	TEXT_LABEL0,  /* "" or a DNS label */
	TEXT_OBJECT,  /* "" or a Kubernetes object name */
};

static bool all_of(const char *s, const char *set, size_t want_len)
{
	size_t n = strspn(s, set);
	return s[n] == '\0' && (want_len == 0 || n == want_len);
}

static int check_text(const char *s, enum text_rule rule, struct cf_err *err)
{
	if (!*s && rule != TEXT_LABEL)
		return 0;
	switch (rule) {
	case TEXT_ANY:
		return 0;
	case TEXT_CODE:
		return all_of(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			      0)
			       ? 0
			       : cf_err_set(err, "want letters, digits, \".\", \"_\" or \"-\"");
	case TEXT_TAG:
		return name_check_git_tag(s, err);
	case TEXT_COMMIT:
		return all_of(s, "0123456789abcdef", 40)
			       ? 0
			       : cf_err_set(err, "want 40 lower-case hex digits");
	case TEXT_SHA256:
		return all_of(s, "0123456789abcdef", 64)
			       ? 0
			       : cf_err_set(err, "want 64 lower-case hex digits");
	case TEXT_SEMVER: {
		struct semver v;
		return semver_parse(s, &v, err);
	}
	case TEXT_LABEL:
	case TEXT_LABEL0:
		return name_check_dns_label(s, err);
	case TEXT_OBJECT:
		return name_check_dns_subdomain(s, err);
	}
	return cf_err_set(err, "unknown rule");
}

static int get_text(struct json_object *o, const char *where, const char *key, char *out,
		    size_t size, enum text_rule rule, struct cf_err *err)
{
	char path[256];
	join(path, sizeof(path), where, key);
	struct json_object *v = member(o, key);
	if (!json_object_is_type(v, json_type_string))
		return cf_err_set(err, "%s: must be a string", path);
	const char *s = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len)
		return cf_err_set(err, "%s: holds a NUL character", path);
	if (len >= size)
		return cf_err_set(err, "%s: longer than %zu bytes", path, size - 1);
	if (check_text(s, rule, err) < 0)
		return cf_err_prefix(err, "%s", path);
	memcpy(out, s, len + 1);
	return 0;
}

static int get_int(struct json_object *o, const char *where, const char *key, int64_t min,
		   int64_t max, int64_t *out, struct cf_err *err)
{
	char path[256];
	join(path, sizeof(path), where, key);
	struct json_object *v = member(o, key);
	if (!json_object_is_type(v, json_type_int))
		return cf_err_set(err, "%s: must be an integer", path);
	errno = 0;
	int64_t n = json_object_get_int64(v);
	if (errno || n < min || n > max)
		return cf_err_set(err, "%s: must be between %lld and %lld", path, (long long)min,
				  (long long)max);
	*out = n;
	return 0;
}

static int get_small(struct json_object *o, const char *where, const char *key, int min, int max,
		     int *out, struct cf_err *err)
{
	int64_t n;
	if (get_int(o, where, key, min, max, &n, err) < 0)
		return -1;
	*out = (int)n;
	return 0;
}

static int get_time(struct json_object *o, const char *where, const char *key, int64_t *out,
		    struct cf_err *err)
{
	return get_int(o, where, key, 0, INT64_MAX, out, err);
}

static int get_bool(struct json_object *o, const char *where, const char *key, bool *out,
		    struct cf_err *err)
{
	char path[256];
	join(path, sizeof(path), where, key);
	struct json_object *v = member(o, key);
	if (!json_object_is_type(v, json_type_boolean))
		return cf_err_set(err, "%s: must be true or false", path);
	*out = json_object_get_boolean(v);
	return 0;
}

static int get_enum(struct json_object *o, const char *where, const char *key,
		    const char *const *names, size_t n, int *out, struct cf_err *err)
{
	char path[256];
	join(path, sizeof(path), where, key);
	struct json_object *v = member(o, key);
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	return cf_err_set(err, "%s: \"%.64s\" is not one of %s, ...", path, s, names[0]);
}

static int get_weights(struct json_object *o, const char *where, const char *key,
		       struct weight_map *out, struct cf_err *err)
{
	char path[256];
	join(path, sizeof(path), where, key);
	struct json_object *v = member(o, key);
	if (!json_object_is_type(v, json_type_object))
		return cf_err_set(err, "%s: must be an object of server names to weights", path);
	weight_map_clear(out);
	json_object_object_foreach(v, server, w)
	{
		if (!json_object_is_type(w, json_type_int))
			return cf_err_set(err, "%s.%.80s: must be an integer", path, server);
		int64_t n = json_object_get_int64(w);
		if (n < 0 || n > WEIGHT_MAX)
			return cf_err_set(err, "%s.%.80s: must be between 0 and %d", path, server,
					  WEIGHT_MAX);
		if (weight_map_set(out, server, (int)n, err) < 0)
			return cf_err_prefix(err, "%s", path);
	}
	return 0;
}

static const char *const version_keys[] = {"tag", "commit", "semver"};

/* The fields of a version; the caller has checked the object's keys. */
static int get_version_fields(struct json_object *v, const char *where,
			      struct rollout_version *out, struct cf_err *err)
{
	if (get_text(v, where, "tag", out->tag, sizeof(out->tag), TEXT_TAG, err) < 0 ||
	    get_text(v, where, "commit", out->commit, sizeof(out->commit), TEXT_COMMIT, err) < 0 ||
	    get_text(v, where, "semver", out->semver, sizeof(out->semver), TEXT_SEMVER, err) < 0)
		return -1;
	return 0;
}

static int get_version_at(struct json_object *o, const char *where, const char *key,
			  struct rollout_version *out, struct cf_err *err)
{
	char path[256];
	join(path, sizeof(path), where, key);
	struct json_object *v = member(o, key);
	if (expect_keys(v, path, version_keys, COUNT(version_keys), err) < 0)
		return -1;
	return get_version_fields(v, path, out, err);
}

static struct json_object *get_array(struct json_object *o, const char *key, size_t max,
				     struct cf_err *err)
{
	struct json_object *v = member(o, key);
	if (!json_object_is_type(v, json_type_array)) {
		cf_err_set(err, "%s: must be an array", key);
		return NULL;
	}
	if (json_object_array_length(v) > max) {
		cf_err_set(err, "%s: more than %zu entries", key, max);
		return NULL;
	}
	return v;
}

/* The safety rule's fields came later: a node without them is not drained. */
static const char *const node_keys[] = {"name",	      "generation",  "digest",	  "touched",
					"drained",    "drainReason", "greenPasses", "greenAtMs",
					"keptServing", "sentMs"};
#define NODE_KEYS_REQUIRED 4

static int read_node_safety(struct json_object *o, const char *where, struct rollout_node *nd,
			    struct cf_err *err)
{
	if (!member(o, "drained"))
		return 0;
	if (get_bool(o, where, "drained", &nd->drained, err) < 0 ||
	    get_text(o, where, "drainReason", nd->drain_reason, sizeof(nd->drain_reason), TEXT_CODE,
		     err) < 0 ||
	    get_small(o, where, "greenPasses", 0, INT32_MAX, &nd->green_passes, err) < 0 ||
	    get_time(o, where, "greenAtMs", &nd->green_at_ms, err) < 0 ||
	    get_bool(o, where, "keptServing", &nd->kept_serving, err) < 0)
		return -1;
	if (member(o, "sentMs") && get_time(o, where, "sentMs", &nd->sent_ms, err) < 0)
		return -1;
	return 0;
}

static int read_nodes(struct json_object *root, struct rollout_state *s, struct cf_err *err)
{
	struct json_object *arr = get_array(root, "nodes", ROLLOUT_MAX_NODES, err);
	if (!arr)
		return -1;
	size_t n = json_object_array_length(arr);
	if (n && !(s->nodes = calloc(n, sizeof(*s->nodes))))
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char where[64];
		snprintf(where, sizeof(where), "nodes[%zu]", i);
		struct json_object *o = json_object_array_get_idx(arr, i);
		struct rollout_node *nd = &s->nodes[i];
		if (expect_some_keys(o, where, node_keys, COUNT(node_keys), NODE_KEYS_REQUIRED,
				     err) < 0 ||
		    get_text(o, where, "name", nd->name, sizeof(nd->name), TEXT_LABEL, err) < 0 ||
		    get_int(o, where, "generation", 0, INT64_MAX, &nd->generation, err) < 0 ||
		    get_text(o, where, "digest", nd->digest, sizeof(nd->digest), TEXT_SHA256,
			     err) < 0 ||
		    get_bool(o, where, "touched", &nd->touched, err) < 0 ||
		    read_node_safety(o, where, nd, err) < 0)
			return -1;
		if (i && strcmp(s->nodes[i - 1].name, nd->name) >= 0)
			return cf_err_set(err, "%s.name: \"%s\" is out of order or repeated", where,
					  nd->name);
		s->nnodes = i + 1;
	}
	return 0;
}

static const char *const quarantine_keys[] = {"tag", "commit", "reason", "atMs"};

static int read_quarantine(struct json_object *root, struct rollout_state *s, struct cf_err *err)
{
	struct json_object *arr = get_array(root, "quarantined", ROLLOUT_QUARANTINE_MAX, err);
	if (!arr)
		return -1;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		char where[64];
		snprintf(where, sizeof(where), "quarantined[%zu]", i);
		struct json_object *o = json_object_array_get_idx(arr, i);
		struct rollout_quarantine *q = &s->quarantined[i];
		if (expect_keys(o, where, quarantine_keys, COUNT(quarantine_keys), err) < 0 ||
		    get_text(o, where, "tag", q->tag, sizeof(q->tag), TEXT_TAG, err) < 0 ||
		    get_text(o, where, "commit", q->commit, sizeof(q->commit), TEXT_COMMIT, err) < 0 ||
		    get_text(o, where, "reason", q->reason, sizeof(q->reason), TEXT_CODE, err) < 0 ||
		    get_time(o, where, "atMs", &q->at_ms, err) < 0)
			return -1;
		s->nquarantined = i + 1;
	}
	return 0;
}

static const char *const condition_keys[] = {"status", "reason", "message", "lastTransitionMs"};

static int read_conditions(struct json_object *root, struct rollout_state *s, struct cf_err *err)
{
	struct json_object *o = member(root, "conditions");
	/* Degraded came later: a state without it has it Unknown. */
	if (expect_some_keys(o, "conditions", condition_names, COUNT(condition_names), COND_DEGRADED,
			     err) < 0)
		return -1;
	for (int t = 0; t < COND_COUNT; t++) {
		char where[64];
		snprintf(where, sizeof(where), "conditions.%s", condition_names[t]);
		struct json_object *c = member(o, condition_names[t]);
		if (!c)
			continue;
		struct rollout_condition *rc = &s->conditions[t];
		int status;
		if (expect_keys(c, where, condition_keys, COUNT(condition_keys), err) < 0 ||
		    get_enum(c, where, "status", status_names, COUNT(status_names), &status, err) <
			    0 ||
		    get_text(c, where, "reason", rc->reason, sizeof(rc->reason), TEXT_CODE, err) < 0 ||
		    get_text(c, where, "message", rc->message, sizeof(rc->message), TEXT_ANY, err) <
			    0 ||
		    get_time(c, where, "lastTransitionMs", &rc->last_transition_ms, err) < 0)
			return -1;
		rc->status = (enum condition_status)status;
	}
	return 0;
}

/* actor and ticket came later: a record from before them names nobody. */
static const char *const history_keys[] = {"promotion", "from",	      "to",	    "outcome",
					   "reason",	"startedMs", "finishedMs", "actor",
					   "ticket"};
#define HISTORY_KEYS_REQUIRED 7

static int read_history(struct json_object *root, struct rollout_state *s, struct cf_err *err)
{
	struct json_object *arr = get_array(root, "history", ROLLOUT_HISTORY_MAX, err);
	if (!arr)
		return -1;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		char where[64];
		snprintf(where, sizeof(where), "history[%zu]", i);
		struct json_object *o = json_object_array_get_idx(arr, i);
		struct rollout_record *r = &s->history[i];
		int outcome;
		if (expect_some_keys(o, where, history_keys, COUNT(history_keys),
				     HISTORY_KEYS_REQUIRED, err) < 0 ||
		    get_text(o, where, "promotion", r->promotion, sizeof(r->promotion), TEXT_OBJECT,
			     err) < 0 ||
		    get_version_at(o, where, "from", &r->from, err) < 0 ||
		    get_version_at(o, where, "to", &r->to, err) < 0 ||
		    get_enum(o, where, "outcome", outcome_names, COUNT(outcome_names), &outcome,
			     err) < 0 ||
		    get_text(o, where, "reason", r->reason, sizeof(r->reason), TEXT_CODE, err) < 0 ||
		    get_time(o, where, "startedMs", &r->started_ms, err) < 0 ||
		    get_time(o, where, "finishedMs", &r->finished_ms, err) < 0 ||
		    (member(o, "actor") && get_text(o, where, "actor", r->actor, sizeof(r->actor),
						    TEXT_ANY, err) < 0) ||
		    (member(o, "ticket") && get_text(o, where, "ticket", r->ticket,
						     sizeof(r->ticket), TEXT_ANY, err) < 0))
			return -1;
		r->outcome = (enum rollout_outcome)outcome;
		s->nhistory = i + 1;
	}
	return 0;
}

/* node came later: an audit line pending from before it names none. */
static const char *const audit_keys[] = {"event",  "tsMs",   "promotion", "revision", "actor",
					 "ticket", "from",   "to",	  "phase",    "step",
					 "percent", "weights", "probeSha256", "reason", "node"};
#define AUDIT_KEYS_REQUIRED 14

static int read_audit(struct json_object *o, const char *where, struct rollout_audit *a,
		      struct cf_err *err)
{
	int event, phase;
	if (expect_some_keys(o, where, audit_keys, COUNT(audit_keys), AUDIT_KEYS_REQUIRED, err) < 0 ||
	    get_enum(o, where, "event", event_names, COUNT(event_names), &event, err) < 0 ||
	    get_time(o, where, "tsMs", &a->ts_ms, err) < 0 ||
	    get_text(o, where, "promotion", a->promotion, sizeof(a->promotion), TEXT_OBJECT, err) <
		    0 ||
	    get_text(o, where, "revision", a->revision, sizeof(a->revision), TEXT_ANY, err) < 0 ||
	    get_text(o, where, "actor", a->actor, sizeof(a->actor), TEXT_ANY, err) < 0 ||
	    get_text(o, where, "ticket", a->ticket, sizeof(a->ticket), TEXT_ANY, err) < 0 ||
	    get_version_at(o, where, "from", &a->from, err) < 0 ||
	    get_version_at(o, where, "to", &a->to, err) < 0 ||
	    get_enum(o, where, "phase", phase_names, COUNT(phase_names), &phase, err) < 0 ||
	    get_small(o, where, "step", 0, DESIRED_MAX_STEPS, &a->step, err) < 0 ||
	    get_small(o, where, "percent", 0, 100, &a->percent, err) < 0 ||
	    get_weights(o, where, "weights", &a->weights, err) < 0 ||
	    get_text(o, where, "probeSha256", a->probe_sha256, sizeof(a->probe_sha256), TEXT_SHA256,
		     err) < 0 ||
	    get_text(o, where, "reason", a->reason, sizeof(a->reason), TEXT_ANY, err) < 0 ||
	    (member(o, "node") &&
	     get_text(o, where, "node", a->node, sizeof(a->node), TEXT_LABEL0, err) < 0))
		return -1;
	a->event = (enum audit_event)event;
	a->phase = (enum rollout_phase)phase;
	return 0;
}

static const char *const route_keys[] = {"tenant", "pool"};
static const char *const pool_names[] = {"stable", "canary"};
static const char *const broadcast_keys[] = {"verdict", "node", "reason", "message"};

static int read_pending_one(struct json_object *o, const char *where, uint64_t next_id,
			    struct rollout_action *a, struct cf_err *err)
{
	char path[96];
	int kind;
	int64_t id;
	if (get_enum(o, where, "kind", kind_names, COUNT(kind_names), &kind, err) < 0)
		return -1;
	const char *member_name = kind == ACTION_ROUTE_TENANT ? "route"
				  : kind == ACTION_AUDIT      ? "audit"
				  : kind == ACTION_BROADCAST  ? "broadcast"
							      : NULL;
	if (!member_name)
		return cf_err_set(err, "%s.kind: a %s is never pending", where, kind_names[kind]);
	const char *keys[] = {"id", "kind", member_name};
	if (expect_keys(o, where, keys, COUNT(keys), err) < 0 ||
	    get_int(o, where, "id", 1, (int64_t)next_id - 1, &id, err) < 0)
		return -1;
	a->kind = (enum rollout_action_kind)kind;
	a->id = (uint64_t)id;
	join(path, sizeof(path), where, member_name);
	struct json_object *v = member(o, member_name);
	switch (a->kind) {
	case ACTION_ROUTE_TENANT: {
		int pool;
		if (expect_keys(v, path, route_keys, COUNT(route_keys), err) < 0 ||
		    get_text(v, path, "tenant", a->u.route.tenant, sizeof(a->u.route.tenant),
			     TEXT_LABEL, err) < 0 ||
		    get_enum(v, path, "pool", pool_names, COUNT(pool_names), &pool, err) < 0)
			return -1;
		a->u.route.canary = pool == 1;
		return 0;
	}
	case ACTION_BROADCAST: {
		struct rollout_broadcast *b = &a->u.broadcast;
		int verdict;
		if (expect_keys(v, path, broadcast_keys, COUNT(broadcast_keys), err) < 0 ||
		    get_enum(v, path, "verdict", verdict_names, COUNT(verdict_names), &verdict,
			     err) < 0 ||
		    get_text(v, path, "node", b->node, sizeof(b->node), TEXT_LABEL0, err) < 0 ||
		    get_text(v, path, "reason", b->reason, sizeof(b->reason), TEXT_CODE, err) < 0 ||
		    get_text(v, path, "message", b->message, sizeof(b->message), TEXT_ANY, err) < 0)
			return -1;
		b->verdict = (enum broadcast_verdict)verdict;
		return 0;
	}
	case ACTION_AUDIT:
		a->u.audit = calloc(1, sizeof(*a->u.audit));
		if (!a->u.audit)
			return cf_err_set(err, "out of memory");
		return read_audit(v, path, a->u.audit, err);
	case ACTION_NODE_TARGET:
	case ACTION_SET_WEIGHTS:
	case ACTION_DRAIN_NODE:
	case ACTION_READY_NODE:
		break;
	}
	return cf_err_set(err, "%s.kind: a %s is never pending", where, kind_names[kind]);
}

static int read_pending(struct json_object *root, struct rollout_state *s, struct cf_err *err)
{
	struct json_object *arr = get_array(root, "pending", ROLLOUT_PENDING_MAX, err);
	if (!arr)
		return -1;
	size_t n = json_object_array_length(arr);
	if (n && !(s->pending = calloc(n, sizeof(*s->pending))))
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char where[64];
		snprintf(where, sizeof(where), "pending[%zu]", i);
		struct json_object *o = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(o, json_type_object))
			return cf_err_set(err, "%s: must be an object", where);
		int rc = read_pending_one(o, where, s->next_action_id, &s->pending[i], err);
		s->npending = i + 1; /* so that rollout_state_free releases what was read */
		if (rc < 0)
			return -1;
		if (i && s->pending[i - 1].id >= s->pending[i].id)
			return cf_err_set(err, "%s.id: %llu is out of order or repeated", where,
					  (unsigned long long)s->pending[i].id);
	}
	return 0;
}

static const char *const root_keys[] = {
	"version",	   "phase",	      "promotionName",	  "promotion",
	"lastGood",	   "preCanaryWeights", "plannedWeights",   "step",
	"percent",	   "startedMs",	      "stageStartedMs",	  "stepStartedMs",
	"windowStartedMs", "greenWindows",     "heldFrom",	  "holdStartedMs",
	"heldNode",	   "heldReason",       "mirror",	  "bringUp",
	"canaryRouted",	   "suspendedSinceMs", "rollbackReason",  "broadcastKey",
	"nodes",	   "quarantined",      "conditions",	  "history",
	"nextActionId",	   "pending",
	/* optional: added since the format began */
	"analysis",	   "drain",	       "clock",		  "gate",	"writeBack",
	"hooks",	   "metrics",
};
#define ROOT_KEYS_REQUIRED (COUNT(root_keys) - 7)
static const char *const clock_keys[] = {"ms", "wallMs"};
static const char *const drain_keys[] = {"node", "startedMs", "generation", "released"};
static const char *const last_good_keys[] = {"tag", "commit", "semver", "weights"};
static const char *const analysis_keys[] = {"windowSampledMs", "windowRun", "redObservations",
					    "redObservedMs"};

/* The analysis window's samples and the canary's red streak; absent from files written before
 * they were kept, which then start a new window and a new streak. */
static int read_analysis(struct json_object *root, struct rollout_state *s, struct cf_err *err)
{
	struct json_object *a = member(root, "analysis");
	if (!a)
		return 0;
	if (expect_keys(a, "analysis", analysis_keys, COUNT(analysis_keys), err) < 0 ||
	    get_time(a, "analysis", "windowSampledMs", &s->window_sampled_ms, err) < 0 ||
	    get_int(a, "analysis", "windowRun", INT64_MIN, INT64_MAX, &s->window_run, err) < 0 ||
	    get_small(a, "analysis", "redObservations", 0, INT32_MAX, &s->red_observations, err) <
		    0 ||
	    get_time(a, "analysis", "redObservedMs", &s->red_observed_ms, err) < 0)
		return -1;
	return 0;
}
static const char *const mirror_keys[] = {"index", "stage", "node"};

static int read_state(struct json_object *root, struct rollout_state *s, struct cf_err *err)
{
	int64_t format, next_id, index;
	int phase, held_from, stage;
	if (expect_some_keys(root, "", root_keys, COUNT(root_keys), ROOT_KEYS_REQUIRED, err) < 0 ||
	    get_int(root, "", "version", 0, INT64_MAX, &format, err) < 0)
		return -1;
	if (format != STATE_FORMAT)
		return cf_err_set(err, "version: %lld is not a format this controller reads (%d)",
				  (long long)format, STATE_FORMAT);
	if (get_enum(root, "", "phase", phase_names, COUNT(phase_names), &phase, err) < 0 ||
	    get_text(root, "", "promotionName", s->promotion_name, sizeof(s->promotion_name),
		     TEXT_OBJECT, err) < 0 ||
	    get_version_at(root, "", "promotion", &s->promotion, err) < 0)
		return -1;
	s->phase = (enum rollout_phase)phase;

	struct json_object *lg = member(root, "lastGood");
	if (lg) {
		if (expect_keys(lg, "lastGood", last_good_keys, COUNT(last_good_keys), err) < 0 ||
		    get_version_fields(lg, "lastGood", &s->last_good, err) < 0 ||
		    get_weights(lg, "lastGood", "weights", &s->last_good_weights, err) < 0)
			return -1;
		s->has_last_good = true;
	}
	struct json_object *mirror = member(root, "mirror");
	if (get_weights(root, "", "preCanaryWeights", &s->pre_canary_weights, err) < 0 ||
	    get_weights(root, "", "plannedWeights", &s->planned_weights, err) < 0 ||
	    get_small(root, "", "step", 0, DESIRED_MAX_STEPS, &s->step, err) < 0 ||
	    get_small(root, "", "percent", 0, 100, &s->percent, err) < 0 ||
	    get_time(root, "", "startedMs", &s->started_ms, err) < 0 ||
	    get_time(root, "", "stageStartedMs", &s->stage_started_ms, err) < 0 ||
	    get_time(root, "", "stepStartedMs", &s->step_started_ms, err) < 0 ||
	    get_time(root, "", "windowStartedMs", &s->window_started_ms, err) < 0 ||
	    get_small(root, "", "greenWindows", 0, INT32_MAX, &s->green_windows, err) < 0 ||
	    get_enum(root, "", "heldFrom", phase_names, COUNT(phase_names), &held_from, err) < 0 ||
	    get_time(root, "", "holdStartedMs", &s->hold_started_ms, err) < 0 ||
	    get_text(root, "", "heldNode", s->held_node, sizeof(s->held_node), TEXT_LABEL0, err) <
		    0 ||
	    get_text(root, "", "heldReason", s->held_reason, sizeof(s->held_reason), TEXT_CODE,
		     err) < 0 ||
	    expect_keys(mirror, "mirror", mirror_keys, COUNT(mirror_keys), err) < 0 ||
	    get_int(mirror, "mirror", "index", 0, ROLLOUT_MAX_NODES, &index, err) < 0 ||
	    get_enum(mirror, "mirror", "stage", stage_names, COUNT(stage_names), &stage, err) < 0 ||
	    get_text(mirror, "mirror", "node", s->mirror_node, sizeof(s->mirror_node), TEXT_LABEL0,
		     err) < 0 ||
	    get_bool(root, "", "bringUp", &s->bring_up, err) < 0 ||
	    get_bool(root, "", "canaryRouted", &s->canary_routed, err) < 0 ||
	    get_time(root, "", "suspendedSinceMs", &s->suspended_since_ms, err) < 0 ||
	    get_text(root, "", "rollbackReason", s->rollback_reason, sizeof(s->rollback_reason),
		     TEXT_CODE, err) < 0 ||
	    get_text(root, "", "broadcastKey", s->broadcast_key, sizeof(s->broadcast_key), TEXT_ANY,
		     err) < 0 ||
	    get_int(root, "", "nextActionId", 1, INT64_MAX, &next_id, err) < 0)
		return -1;
	s->held_from = (enum rollout_phase)held_from;
	if (s->held_from != ROLLOUT_IDLE && s->held_from != ROLLOUT_SHADOW &&
	    s->held_from != ROLLOUT_PROMOTING && s->held_from != ROLLOUT_ANALYSING &&
	    s->held_from != ROLLOUT_MIRRORING)
		return cf_err_set(err, "heldFrom: a rollout holds only in Shadow, Promoting, "
				  "Analysing or Mirroring, not %s", phase_names[held_from]);
	if (!s->has_last_good && (s->phase == ROLLOUT_SUCCEEDED ||
				  s->phase == ROLLOUT_ROLLING_BACK ||
				  s->phase == ROLLOUT_ROLLED_BACK))
		return cf_err_set(err, "lastGood: required in phase %s", phase_names[phase]);
	struct json_object *drain = member(root, "drain");
	if (drain && (expect_keys(drain, "drain", drain_keys, COUNT(drain_keys), err) < 0 ||
		      get_text(drain, "drain", "node", s->drain_node, sizeof(s->drain_node),
			       TEXT_LABEL, err) < 0 ||
		      get_time(drain, "drain", "startedMs", &s->drain_started_ms, err) < 0 ||
		      get_int(drain, "drain", "generation", 0, INT64_MAX, &s->drain_generation,
			      err) < 0 ||
		      get_bool(drain, "drain", "released", &s->drain_released, err) < 0))
		return -1;
	if (member(root, "gate") && get_small(root, "", "gate", 1, 100, &s->gate_percent, err) < 0)
		return -1;
	struct json_object *clock = member(root, "clock");
	if (clock && (expect_keys(clock, "clock", clock_keys, COUNT(clock_keys), err) < 0 ||
		      get_int(clock, "clock", "ms", 1, INT64_MAX, &s->clock_ms, err) < 0 ||
		      get_time(clock, "clock", "wallMs", &s->clock_wall_ms, err) < 0))
		return -1;
	s->mirror_index = (size_t)index;
	s->mirror_stage = (enum mirror_stage)stage;
	s->next_action_id = (uint64_t)next_id;
	if (read_analysis(root, s, err) < 0 || read_nodes(root, s, err) < 0 ||
	    read_quarantine(root, s, err) < 0 ||
	    read_conditions(root, s, err) < 0 || read_history(root, s, err) < 0 ||
	    read_pending(root, s, err) < 0 ||
	    rollout_writeback_from_json(member(root, "writeBack"), &s->writeback, err) < 0 ||
	    rollout_hooks_from_json(member(root, "hooks"), &s->hooks, err) < 0 ||
	    rollout_metrics_from_json(member(root, "metrics"), s, err) < 0)
		return -1;
	return 0;
}

int rollout_state_from_json(const char *text, size_t len, struct rollout_state *out,
			    struct cf_err *err)
{
	int rc = -1;
	struct json_object *root = NULL;
	rollout_state_init(out);
	if (len > ROLLOUT_STATE_MAX_BYTES)
		return cf_err_set(err, "%zu bytes, over the %u byte limit", len,
				  ROLLOUT_STATE_MAX_BYTES);
	/* Any value at the top: read_state says "state: must be an object" of one that is not. */
	if (jsonparse_value(text, len, STATE_JSON_DEPTH, &root, err) < 0 ||
	    read_state(root, out, err) < 0)
		goto done;
	rc = 0;
done:
	if (rc < 0)
		rollout_state_free(out);
	json_object_put(root);
	return rc;
}
