#include "serve/fluxhook.h"

#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/canon.h"
#include "base/jsonparse.h"
#include "base/names.h"

/* A Flux event is three levels deep; anything far deeper is not one. */
#define JSON_DEPTH 16
#define KIND_MAX 63
#define REVISION_MAX (ROLLOUT_REVISION_MAX - 1)
#define NONE UINT32_MAX

static const char EVENT_HEADER[] = "x-flux-event";
static const char CANARY_HEADER[] = "x-canary-header";

/* The fields of one event this module reads, borrowed from the parsed document. */
struct flux_event {
	const char *kind, *namespace, *name, *uid;
	struct json_object *reason, *message, *timestamp; /* NULL when absent */
	const char *revision, *image_ref, *canary_header;  /* NULL when absent */
};

/* One remembered reply, in a hash bucket chain and in the LRU list. */
struct remembered {
	char event_id[65];
	int64_t stored_ms;
	char *reply;
	size_t reply_len;
	struct fluxhook_outcome outcome;
	uint32_t newer, older; /* NONE at the list's ends */
	uint32_t chain;	       /* the next slot in this bucket, or in the free list */
};

struct fluxhook {
	struct tokens *tokens;
	bool require_event_header;
	int64_t ttl_ms;
	int64_t (*clock_ms)(void *ctx);
	void *clock_ctx;
	pthread_mutex_t lock;
	struct remembered *slots;
	size_t capacity;
	uint32_t *buckets;
	size_t nbuckets; /* a power of two */
	uint32_t newest, oldest, free_head;
};

/* What decided the verdict. */
struct decision {
	enum broadcast_verdict verdict;
	char probe_key[ROLLOUT_REASON_MAX];
	char why[2 * FLUXHOOK_IMAGE_REF_MAX + 64];
};

static int64_t monotonic_ms(void *ctx)
{
	struct timespec ts;
	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the reply cache ---- */

/* eventIds are sha256 hex: their first eight digits are already evenly spread. */
static size_t bucket_of(const struct fluxhook *h, const char *event_id)
{
	size_t v = 0;
	for (int i = 0; i < 8; i++) {
		char c = event_id[i];
		v = v << 4 | (size_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	return v & (h->nbuckets - 1);
}

static uint32_t cache_find(const struct fluxhook *h, const char *event_id)
{
	uint32_t i = h->buckets[bucket_of(h, event_id)];
	while (i != NONE && strcmp(h->slots[i].event_id, event_id) != 0)
		i = h->slots[i].chain;
	return i;
}

static void lru_unlink(struct fluxhook *h, uint32_t i)
{
	struct remembered *r = &h->slots[i];
	if (r->newer != NONE)
		h->slots[r->newer].older = r->older;
	else
		h->newest = r->older;
	if (r->older != NONE)
		h->slots[r->older].newer = r->newer;
	else
		h->oldest = r->newer;
}

static void lru_push_newest(struct fluxhook *h, uint32_t i)
{
	struct remembered *r = &h->slots[i];
	r->newer = NONE;
	r->older = h->newest;
	if (h->newest != NONE)
		h->slots[h->newest].newer = i;
	h->newest = i;
	if (h->oldest == NONE)
		h->oldest = i;
}

static void cache_remove(struct fluxhook *h, uint32_t i)
{
	struct remembered *r = &h->slots[i];
	uint32_t *link = &h->buckets[bucket_of(h, r->event_id)];
	while (*link != i)
		link = &h->slots[*link].chain;
	*link = r->chain;
	lru_unlink(h, i);
	free(r->reply);
	r->reply = NULL;
	r->event_id[0] = '\0';
	r->chain = h->free_head;
	h->free_head = i;
}

/* Takes ownership of reply; the oldest reply makes room when the cache is full. */
static void cache_insert(struct fluxhook *h, const char *event_id, char *reply, size_t len,
			 const struct fluxhook_outcome *outcome, int64_t now_ms)
{
	if (h->free_head == NONE)
		cache_remove(h, h->oldest);
	uint32_t i = h->free_head;
	struct remembered *r = &h->slots[i];
	h->free_head = r->chain;
	memcpy(r->event_id, event_id, sizeof(r->event_id));
	r->stored_ms = now_ms;
	r->reply = reply;
	r->reply_len = len;
	r->outcome = *outcome;
	size_t b = bucket_of(h, event_id);
	r->chain = h->buckets[b];
	h->buckets[b] = i;
	lru_push_newest(h, i);
}

/* ---- the request ---- */

static void describe(struct fluxhook_outcome *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void describe(struct fluxhook_outcome *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
}

static int refuse(struct httpd_response *resp, struct fluxhook_outcome *out, unsigned int status,
		  const char *reason)
{
	out->status = status;
	describe(out, "%s", reason);
	return httpd_json_error(resp, status, reason);
}

static int unauthorized(struct fluxhook *h, const struct httpd_request *req,
			struct httpd_response *resp, struct fluxhook_outcome *out)
{
	struct cf_err problem = { { 0 } };
	bool offered = httpd_request_header(req, "Authorization") ||
		       httpd_request_header(req, "X-Signature");
	bool refused_file = tokens_status(h->tokens, &problem) < 0;

	out->status = 401;
	/* For the operator's log: whether a credential came at all, and a token file that was
	 * refused, which would explain a 401 to a correct client (tokens.h never puts a token in
	 * a message). */
	describe(out, "unauthorized: %s%s%s",
		 offered ? "no accepted bearer token or X-Signature"
			 : "neither Authorization nor X-Signature given",
		 refused_file ? "; " : "", refused_file ? problem.msg : "");
	resp->status = 401;
	return httpd_response_set_body(resp, TOKENS_UNAUTHORIZED_BODY,
				       strlen(TOKENS_UNAUTHORIZED_BODY));
}

static bool authenticated(struct fluxhook *h, const struct httpd_request *req)
{
	if (tokens_check_bearer(h->tokens, httpd_request_header(req, "Authorization")))
		return true;
	return tokens_check_hmac(h->tokens, httpd_request_header(req, "X-Signature"), req->body,
				 req->body_len);
}

/* Identifiers, refs and header lines: printable ASCII (spaces only where allowed), at most max
 * bytes; "" counts as absent (*out NULL). */
static int check_text(const char *field, const char *s, size_t len, size_t max, bool spaces,
		      const char **out, struct cf_err *err)
{
	*out = NULL;
	if (len > max)
		return cf_err_set(err, "%s is longer than %zu bytes", field, max);
	for (size_t i = 0; i < len; i++)
		if (s[i] < (spaces ? ' ' : '!') || s[i] > '~')
			return cf_err_set(err, "%s must be printable ASCII%s", field,
					  spaces ? "" : " without spaces");
	if (len)
		*out = s;
	return 0;
}

static int json_text(const char *field, struct json_object *v, size_t max, bool spaces,
		     const char **out, struct cf_err *err)
{
	*out = NULL;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return cf_err_set(err, "%s must be a string", field);
	return check_text(field, json_object_get_string(v), (size_t)json_object_get_string_len(v),
			  max, spaces, out, err);
}

/* o[key], NULL when absent or null; -1 when it is not a string. */
static int optional_string(struct json_object *o, const char *field, const char *key,
			   struct json_object **out, struct cf_err *err)
{
	struct json_object *v = NULL;
	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return cf_err_set(err, "%s must be a string", field);
	*out = v;
	return 0;
}

/* metadata[key], or else the first "<group>/key", as notification-controllers before the
 * prefix was stripped sent it; NULL when neither is there. */
static struct json_object *metadata_get(struct json_object *meta, const char *key)
{
	struct json_object *prefixed = NULL;
	json_object_object_foreach(meta, mkey, mval) {
		const char *slash = strchr(mkey, '/');
		if (strcmp(mkey, key) == 0)
			return mval;
		if (!prefixed && slash && slash != mkey && strcmp(slash + 1, key) == 0)
			prefixed = mval;
	}
	return prefixed;
}

/* A JSON string may carry \u0000, which C strings would silently cut short. */
static bool holds_nul(struct json_object *v)
{
	return strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v);
}

/* An object kind is a Go type name: a letter, then letters and digits. */
static int check_kind(const char *kind, struct cf_err *err)
{
	size_t len = strlen(kind);
	bool ok = len > 0 && len <= KIND_MAX &&
		  ((kind[0] >= 'A' && kind[0] <= 'Z') || (kind[0] >= 'a' && kind[0] <= 'z'));
	for (size_t i = 1; ok && i < len; i++)
		ok = (kind[i] >= 'A' && kind[i] <= 'Z') || (kind[i] >= 'a' && kind[i] <= 'z') ||
		     (kind[i] >= '0' && kind[i] <= '9');
	if (!ok)
		return cf_err_set(err, "involvedObject.kind must be a letter and up to %d more "
				  "letters or digits", KIND_MAX - 1);
	return 0;
}

static int parse_object(const char *body, size_t len, struct json_object **out,
			struct cf_err *err)
{
	return jsonparse_object(body, len, JSON_DEPTH, out, err) < 0
		       ? cf_err_prefix(err, "the body")
		       : 0;
}

static int parse_involved(struct json_object *doc, struct flux_event *ev, struct cf_err *err)
{
	struct json_object *obj = NULL, *kind, *name, *ns, *uid;
	struct cf_err why;

	if (!json_object_object_get_ex(doc, "involvedObject", &obj) || !obj)
		return cf_err_set(err, "involvedObject is missing");
	if (!json_object_is_type(obj, json_type_object))
		return cf_err_set(err, "involvedObject must be an object");
	if (optional_string(obj, "involvedObject.kind", "kind", &kind, err) < 0 ||
	    optional_string(obj, "involvedObject.name", "name", &name, err) < 0 ||
	    optional_string(obj, "involvedObject.namespace", "namespace", &ns, err) < 0 ||
	    optional_string(obj, "involvedObject.uid", "uid", &uid, err) < 0)
		return -1;
	if (!kind)
		return cf_err_set(err, "involvedObject.kind is missing");
	if (!name)
		return cf_err_set(err, "involvedObject.name is missing");
	if (holds_nul(kind) || holds_nul(name) || (ns && holds_nul(ns)))
		return cf_err_set(err, "involvedObject's kind, name and namespace may not hold "
				  "NUL characters");
	ev->kind = json_object_get_string(kind);
	ev->name = json_object_get_string(name);
	if (check_kind(ev->kind, err) < 0)
		return -1;
	if (name_check_dns_subdomain(ev->name, &why) < 0)
		return cf_err_set(err, "involvedObject.name: %s", why.msg);
	if (ns) {
		ev->namespace = json_object_get_string(ns);
		if (name_check_dns_label(ev->namespace, &why) < 0)
			return cf_err_set(err, "involvedObject.namespace: %s", why.msg);
	}
	return json_text("involvedObject.uid", uid, NF_ID_MAX - 1, false, &ev->uid, err);
}

static int parse_metadata(struct json_object *doc, struct flux_event *ev, struct cf_err *err)
{
	struct json_object *meta = NULL;

	if (!json_object_object_get_ex(doc, "metadata", &meta) || !meta)
		return 0;
	if (!json_object_is_type(meta, json_type_object))
		return cf_err_set(err, "metadata must be an object");
	if (json_text("metadata.revision", metadata_get(meta, "revision"), REVISION_MAX, false,
		      &ev->revision, err) < 0 ||
	    json_text("metadata.imageRef", metadata_get(meta, "imageRef"),
		      FLUXHOOK_IMAGE_REF_MAX - 1, false, &ev->image_ref, err) < 0 ||
	    json_text("metadata.canaryHeader", metadata_get(meta, "canaryHeader"),
		      FLUXHOOK_HEADER_MAX - 1, true, &ev->canary_header, err) < 0)
		return -1;
	return 0;
}

/* Reads the event in doc (owned by the caller, which keeps it while ev is used). */
static int parse_event(struct json_object *doc, struct flux_event *ev, struct cf_err *err)
{
	memset(ev, 0, sizeof(*ev));
	if (parse_involved(doc, ev, err) < 0 ||
	    optional_string(doc, "reason", "reason", &ev->reason, err) < 0 ||
	    optional_string(doc, "message", "message", &ev->message, err) < 0 ||
	    optional_string(doc, "timestamp", "timestamp", &ev->timestamp, err) < 0 ||
	    parse_metadata(doc, ev, err) < 0)
		return -1;
	return 0;
}

static int add_text(struct json_object *array, const char *s)
{
	struct json_object *v = NULL;
	if (s && !(v = json_object_new_string(s)))
		return -1;
	return json_object_array_add(array, v);
}

static int compute_event_id(const struct flux_event *ev, char out[65], struct cf_err *err)
{
	struct json_object *a = json_object_new_array_ext(7);
	int rc = -1;

	if (!a)
		return cf_err_set(err, "out of memory");
	if (add_text(a, ev->kind) < 0 || add_text(a, ev->namespace) < 0 ||
	    add_text(a, ev->name) < 0 ||
	    json_object_array_add(a, json_object_get(ev->reason)) < 0 ||
	    json_object_array_add(a, json_object_get(ev->message)) < 0 ||
	    add_text(a, ev->revision) < 0 ||
	    json_object_array_add(a, json_object_get(ev->timestamp)) < 0) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	rc = canon_json_sha256(a, out, err);
done:
	json_object_put(a);
	return rc;
}

/* ---- the verdict ---- */

struct image_ref {
	const char *repo, *tag, *digest; /* tag and digest NULL when absent */
	size_t repo_len, tag_len;
};

/* [registry[:port]/]path[:tag][@digest]: the tag's colon comes after the last slash. */
static void image_ref_split(const char *ref, struct image_ref *out)
{
	const char *at = strchr(ref, '@');
	size_t name_len = at ? (size_t)(at - ref) : strlen(ref);
	const char *slash = memrchr(ref, '/', name_len);
	const char *last = slash ? slash + 1 : ref;
	const char *colon = memchr(last, ':', name_len - (size_t)(last - ref));

	out->repo = ref;
	out->digest = at ? at + 1 : NULL;
	out->repo_len = colon ? (size_t)(colon - ref) : name_len;
	out->tag = colon ? colon + 1 : NULL;
	out->tag_len = colon ? name_len - out->repo_len - 1 : 0;
}

static bool image_refs_match(const char *event_ref, const char *promotion_ref)
{
	struct image_ref a, b;
	image_ref_split(event_ref, &a);
	image_ref_split(promotion_ref, &b);
	if (a.repo_len != b.repo_len || memcmp(a.repo, b.repo, a.repo_len) != 0)
		return false;
	if (!a.tag != !b.tag ||
	    (a.tag && (a.tag_len != b.tag_len || memcmp(a.tag, b.tag, a.tag_len) != 0)))
		return false;
	return !a.digest || !b.digest || strcmp(a.digest, b.digest) == 0;
}

/* Red, unreachable, degraded, green: higher is worse. */
static int canary_rank(const struct fluxhook_canary *c)
{
	if (!c->reachable)
		return 2;
	return c->status == PROBE_RED ? 3 : c->status == PROBE_DEGRADED ? 1 : 0;
}

static size_t canary_count(const struct fluxhook_snapshot *snap)
{
	if (!snap->observed)
		return 0;
	return snap->ncanaries < FLUXHOOK_CANARIES_MAX ? snap->ncanaries : FLUXHOOK_CANARIES_MAX;
}

static const struct fluxhook_canary *worst_canary(const struct fluxhook_snapshot *snap)
{
	const struct fluxhook_canary *worst = NULL;
	for (size_t i = 0; i < canary_count(snap); i++)
		if (!worst || canary_rank(&snap->canaries[i]) > canary_rank(worst))
			worst = &snap->canaries[i];
	return worst;
}

/* p95 over the baseline, floored as node_probe.h judges latency.p95; negative when unknown. */
static double latency_ratio(const struct fluxhook_canary *c)
{
	if (!c->reachable || !(c->p95_ms > 0) || !(c->baseline_p95_ms > 0))
		return -1;
	double baseline = c->baseline_p95_ms < PROBE_LATENCY_BASELINE_FLOOR_MS
				  ? PROBE_LATENCY_BASELINE_FLOOR_MS
				  : c->baseline_p95_ms;
	return c->p95_ms / baseline;
}

static const struct fluxhook_canary *slowest_canary(const struct fluxhook_snapshot *snap)
{
	const struct fluxhook_canary *slowest = NULL;
	for (size_t i = 0; i < canary_count(snap); i++)
		if (latency_ratio(&snap->canaries[i]) >= 0 &&
		    (!slowest || latency_ratio(&snap->canaries[i]) > latency_ratio(slowest)))
			slowest = &snap->canaries[i];
	return slowest;
}

static void decide_as(struct decision *d, enum broadcast_verdict verdict, const char *key,
		      const char *fallback_key)
{
	d->verdict = verdict;
	snprintf(d->probe_key, sizeof(d->probe_key), "%s", key && key[0] ? key : fallback_key);
}

static void decide(const struct fluxhook_snapshot *snap, const char *image_ref, bool image_match,
		   struct decision *d)
{
	const struct fluxhook_canary *c = worst_canary(snap);
	bool observed = snap->observed;
	const char *phase = rollout_phase_name(snap->phase);

	if (observed &&
	    (snap->phase == ROLLOUT_ROLLING_BACK || snap->phase == ROLLOUT_ROLLED_BACK)) {
		decide_as(d, VERDICT_ROLLBACK, snap->phase_reason, "rollout.phase");
		snprintf(d->why, sizeof(d->why), "the rollout is %s", phase);
	} else if (c && c->reachable && c->status == PROBE_RED) {
		decide_as(d, VERDICT_ROLLBACK, c->reason, "canary.health");
		snprintf(d->why, sizeof(d->why), "canary %s is red", c->node);
	} else if (observed && snap->phase == ROLLOUT_HELD) {
		decide_as(d, VERDICT_HOLD, snap->phase_reason, "rollout.phase");
		snprintf(d->why, sizeof(d->why), "the rollout is Held");
	} else if (observed && snap->suspended) {
		decide_as(d, VERDICT_HOLD, NULL, "rollout.suspended");
		snprintf(d->why, sizeof(d->why), "the Promotion is suspended");
	} else if (!c) {
		decide_as(d, VERDICT_HOLD, NULL, "canary.unobserved");
		snprintf(d->why, sizeof(d->why), "no canary has been observed yet");
	} else if (!c->reachable) {
		decide_as(d, VERDICT_HOLD, NULL, "canary.unreachable");
		snprintf(d->why, sizeof(d->why), "canary %s did not answer its probe", c->node);
	} else if (c->status == PROBE_DEGRADED) {
		decide_as(d, VERDICT_HOLD, c->reason, "canary.health");
		snprintf(d->why, sizeof(d->why), "canary %s is degraded", c->node);
	} else if (!image_match) {
		decide_as(d, VERDICT_HOLD, NULL, "image.match");
		snprintf(d->why, sizeof(d->why), "image %s is not the Promotion's %s yet",
			 image_ref, snap->image_ref[0] ? snap->image_ref : "(none)");
	} else {
		decide_as(d, VERDICT_PROMOTE, NULL, "canary.health");
		snprintf(d->why, sizeof(d->why), "canary %s is green", c->node);
	}
}

/* ---- the envelope ---- */

/* A snapshot string; null when empty. */
static struct json_object *text_or_null(const char *s, size_t size)
{
	size_t len = strnlen(s, size);
	return len ? json_object_new_string_len(s, (int)len) : NULL;
}

static struct json_object *rounded(double v, double unit)
{
	return json_object_new_double(round(v / unit) * unit);
}

static struct json_object *child(struct json_object *parent, const char *key)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(parent, key, o);
	return o;
}

static void render_probes(struct json_object *env, const struct fluxhook_snapshot *snap,
			  const char *image_ref, bool image_match)
{
	struct json_object *probes = child(env, "probes"), *o;
	const struct fluxhook_canary *worst = worst_canary(snap);
	const struct fluxhook_canary *slowest = slowest_canary(snap);
	const char *health = !worst		? NULL
			     : !worst->reachable ? "unreachable"
						 : probe_status_name(worst->status);

	o = child(probes, "canary.health");
	json_object_object_add(o, "node", worst ? text_or_null(worst->node, sizeof(worst->node))
						: NULL);
	json_object_object_add(o, "status", health ? json_object_new_string(health) : NULL);
	json_object_object_add(o, "reason", worst ? text_or_null(worst->reason,
								 sizeof(worst->reason))
						  : NULL);

	o = child(probes, "canary.latency");
	json_object_object_add(o, "node", slowest ? text_or_null(slowest->node,
								 sizeof(slowest->node))
						  : NULL);
	json_object_object_add(o, "p95ms", slowest ? rounded(slowest->p95_ms, 0.1) : NULL);
	json_object_object_add(o, "baselineP95ms",
			       slowest ? rounded(slowest->baseline_p95_ms, 0.1) : NULL);
	json_object_object_add(o, "ratio", slowest ? rounded(latency_ratio(slowest), 0.01) : NULL);
	json_object_object_add(o, "maxRatio", json_object_new_double(PROBE_LATENCY_MAX_FACTOR));

	const char *gateways = snap->observed ? probe_status_name(snap->gateways) : NULL;
	o = child(probes, "gateway.health");
	json_object_object_add(o, "status", gateways ? json_object_new_string(gateways) : NULL);

	struct image_ref split;
	o = child(probes, "image.match");
	json_object_object_add(o, "imageRef", image_ref ? json_object_new_string(image_ref) : NULL);
	if (image_ref)
		image_ref_split(image_ref, &split);
	json_object_object_add(o, "policyTag",
			       image_ref && split.tag
				       ? json_object_new_string_len(split.tag, (int)split.tag_len)
				       : NULL);
	json_object_object_add(o, "promotionImageRef",
			       text_or_null(snap->image_ref, sizeof(snap->image_ref)));
	json_object_object_add(o, "match", json_object_new_boolean(image_match));
}

/* The 202 body, canonical JSON, into a malloc'd *reply. */
static int render_envelope(const struct flux_event *ev, const char *canary_header,
			   const struct fluxhook_snapshot *snap, const struct decision *d,
			   const struct fluxhook_outcome *out, const char *image_ref,
			   bool image_match, char **reply, size_t *len, struct cf_err *err)
{
	struct json_object *env = json_object_new_object(), *o;
	bool observed = snap->observed;
	int rc;

	if (!env)
		return cf_err_set(err, "out of memory");
	json_object_object_add(env, "eventId", json_object_new_string(out->event_id));
	json_object_object_add(env, "fluxUid", ev->uid ? json_object_new_string(ev->uid) : NULL);
	json_object_object_add(env, "revision",
			       ev->revision ? json_object_new_string(ev->revision) : NULL);
	json_object_object_add(env, "imageRef",
			       image_ref ? json_object_new_string(image_ref) : NULL);
	json_object_object_add(env, "canaryHeader",
			       canary_header ? json_object_new_string(canary_header) : NULL);
	json_object_object_add(env, "verdict",
			       json_object_new_string(broadcast_verdict_name(d->verdict)));
	json_object_object_add(env, "probeKey", json_object_new_string(d->probe_key));
	json_object_object_add(env, "phase", observed ? json_object_new_string(
								rollout_phase_name(snap->phase))
						      : NULL);
	json_object_object_add(env, "step", observed ? json_object_new_int(snap->step) : NULL);
	json_object_object_add(env, "percent",
			       observed ? json_object_new_int(snap->percent) : NULL);
	json_object_object_add(env, "correlationId", json_object_new_string(out->correlation_id));
	o = child(env, "promotion");
	json_object_object_add(o, "name", text_or_null(snap->promotion, sizeof(snap->promotion)));
	json_object_object_add(o, "tag", text_or_null(snap->tag, sizeof(snap->tag)));
	json_object_object_add(o, "skillSemver",
			       text_or_null(snap->skill_semver, sizeof(snap->skill_semver)));
	json_object_object_add(o, "revision", text_or_null(snap->revision, sizeof(snap->revision)));
	render_probes(env, snap, image_ref, image_match);
	rc = canon_json(env, reply, len, err);
	json_object_put(env);
	return rc;
}

/* Builds the reply for a new event. */
static int answer_new(const struct flux_event *ev, const char *canary_header,
		      const struct fluxhook_snapshot *snap, struct fluxhook_outcome *out,
		      char **reply, size_t *len, struct cf_err *err)
{
	const char *image_ref = ev->image_ref;
	bool image_match = true;
	struct decision d;

	if (image_ref)
		image_match = snap->image_ref[0] && image_refs_match(image_ref, snap->image_ref);
	else if (snap->image_ref[0])
		image_ref = snap->image_ref;
	decide(snap, image_ref, image_match, &d);

	out->status = 202;
	out->trigger = true;
	out->verdict = d.verdict;
	snprintf(out->flux_uid, sizeof(out->flux_uid), "%s", ev->uid ? ev->uid : "");
	nf_correlation_id(out->event_id, out->correlation_id);
	snprintf(out->probe_key, sizeof(out->probe_key), "%s", d.probe_key);
	describe(out, "Flux %s %s%s%s: %s by %s: %s", ev->kind, ev->namespace ? ev->namespace : "",
		 ev->namespace ? "/" : "", ev->name, broadcast_verdict_name(d.verdict),
		 d.probe_key, d.why);
	return render_envelope(ev, canary_header, snap, &d, out, image_ref, image_match, reply,
			       len, err);
}

int fluxhook_handle(struct fluxhook *h, const struct httpd_request *req,
		    const struct fluxhook_snapshot *snap, struct httpd_response *resp,
		    struct fluxhook_outcome *out)
{
	struct json_object *doc = NULL;
	struct flux_event ev;
	struct cf_err err = { { 0 } };
	const char *canary_header;
	char reason[CF_ERR_MSG + 32];
	char *reply = NULL;
	size_t len = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	/* httpd refuses these first; this holds should a route be given a larger cap. */
	if (req->body_len > FLUXHOOK_MAX_BODY) {
		snprintf(reason, sizeof(reason), "request body is larger than the %u byte limit",
			 FLUXHOOK_MAX_BODY);
		return refuse(resp, out, 413, reason);
	}
	if (!authenticated(h, req))
		return unauthorized(h, req, resp, out);
	const char *event_header = httpd_request_header(req, EVENT_HEADER);
	if (h->require_event_header && (!event_header || !event_header[0]))
		return refuse(resp, out, 400, "missing header x-flux-event");

	if (parse_object(req->body, req->body_len, &doc, &err) < 0 ||
	    parse_event(doc, &ev, &err) < 0) {
		snprintf(reason, sizeof(reason), "invalid Flux event: %s", err.msg);
		rc = refuse(resp, out, 400, reason);
		goto done;
	}
	canary_header = ev.canary_header;
	if (!canary_header) {
		const char *v = httpd_request_header(req, CANARY_HEADER);
		if (v && check_text("header x-canary-header", v, strlen(v),
				    FLUXHOOK_HEADER_MAX - 1, true, &canary_header, &err) < 0) {
			rc = refuse(resp, out, 400, err.msg);
			goto done;
		}
	}
	if (compute_event_id(&ev, out->event_id, &err) < 0)
		goto failed;

	pthread_mutex_lock(&h->lock);
	int64_t now_ms = h->clock_ms(h->clock_ctx);
	uint32_t seen = cache_find(h, out->event_id);
	if (seen != NONE && now_ms - h->slots[seen].stored_ms >= h->ttl_ms) {
		cache_remove(h, seen);
		seen = NONE;
	}
	if (seen != NONE) {
		struct remembered *r = &h->slots[seen];
		lru_unlink(h, seen);
		lru_push_newest(h, seen);
		*out = r->outcome;
		out->trigger = false;
		out->redelivery = true;
		rc = httpd_response_set_body(resp, r->reply, r->reply_len);
	} else {
		/* Remembered only once answered, so that a failed answer is not replayed. */
		rc = answer_new(&ev, canary_header, snap, out, &reply, &len, &err);
		if (rc == 0)
			rc = httpd_response_set_body(resp, reply, len);
		if (rc == 0) {
			cache_insert(h, out->event_id, reply, len, out, now_ms);
			reply = NULL;
		}
	}
	pthread_mutex_unlock(&h->lock);
	if (rc < 0)
		goto failed;
	resp->status = 202;
	goto done;
failed:
	out->status = 500;
	out->trigger = false;
	describe(out, "internal error: %s", err.msg[0] ? err.msg : "out of memory");
	rc = -1;
done:
	free(reply);
	json_object_put(doc);
	return rc;
}

/* ---- life cycle ---- */

int fluxhook_new(struct fluxhook **out, const struct fluxhook_config *cfg, struct cf_err *err)
{
	size_t capacity = cfg->dedupe_capacity ? cfg->dedupe_capacity : FLUXHOOK_DEFAULT_CAPACITY;
	int64_t ttl_ms = cfg->dedupe_ttl_ms ? cfg->dedupe_ttl_ms : FLUXHOOK_DEFAULT_TTL_MS;

	*out = NULL;
	if (!cfg->tokens)
		return cf_err_set(err, "Flux webhook: no token set to authenticate requests with");
	if (capacity > FLUXHOOK_MAX_CAPACITY)
		return cf_err_set(err, "Flux webhook: dedupe capacity %zu is over %d", capacity,
				  FLUXHOOK_MAX_CAPACITY);
	if (ttl_ms < 0 || ttl_ms > FLUXHOOK_MAX_TTL_MS)
		return cf_err_set(err, "Flux webhook: dedupe TTL must be positive and at most "
				  "7 days");

	struct fluxhook *h = calloc(1, sizeof(*h));
	if (!h)
		return cf_err_set(err, "out of memory");
	h->tokens = cfg->tokens;
	h->require_event_header = cfg->require_event_header;
	h->ttl_ms = ttl_ms;
	h->clock_ms = cfg->clock_ms ? cfg->clock_ms : monotonic_ms;
	h->clock_ctx = cfg->clock_ctx;
	h->capacity = capacity;
	h->nbuckets = 1;
	while (h->nbuckets < capacity)
		h->nbuckets *= 2;
	h->slots = calloc(capacity, sizeof(*h->slots));
	h->buckets = malloc(h->nbuckets * sizeof(*h->buckets));
	if (!h->slots || !h->buckets || pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h->slots);
		free(h->buckets);
		free(h);
		return cf_err_set(err, "out of memory");
	}
	for (size_t i = 0; i < h->nbuckets; i++)
		h->buckets[i] = NONE;
	for (size_t i = 0; i < capacity; i++)
		h->slots[i].chain = i + 1 < capacity ? (uint32_t)(i + 1) : NONE;
	h->free_head = 0;
	h->newest = h->oldest = NONE;
	*out = h;
	return 0;
}

void fluxhook_free(struct fluxhook *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->capacity; i++)
		free(h->slots[i].reply);
	pthread_mutex_destroy(&h->lock);
	free(h->slots);
	free(h->buckets);
	free(h);
}
