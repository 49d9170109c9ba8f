/* The Flux receiver's request path: the order of checks fluxhook.h states (size,
 * authentication, x-flux-event, the event), the reply cache that answers redeliveries byte for
 * byte, and the receiver's life cycle. Reading the event is fluxhook_event.c's, the verdict and
 * envelope fluxhook_verdict.c's. */
#include "serve/fluxhook.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/canon.h"
#include "base/clock.h"
#include "serve/fluxhook_internal.h"

#define NONE UINT32_MAX

static const char EVENT_HEADER[] = "x-flux-event";

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
	struct fluxhook_accept *accept; /* copies, strings owned */
	size_t naccept;
	int64_t ttl_ms;
	int64_t (*clock_ms)(void *ctx);
	void *clock_ctx;
	pthread_mutex_t lock;
	bool locked; /* lock is initialised */
	struct remembered *slots;
	size_t capacity;
	uint32_t *buckets;
	size_t nbuckets; /* a power of two */
	uint32_t newest, oldest, free_head;
};

static int64_t monotonic_ms(void *ctx)
{
	(void)ctx;
	return clock_mono_ms();
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

void fluxhook_describe(struct fluxhook_outcome *out, const char *fmt, ...)
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
	fluxhook_describe(out, "%s", reason);
	return httpd_json_error(resp, status, reason);
}

static void describe_unauthorized(struct fluxhook *h, const struct httpd_request *req,
				  struct fluxhook_outcome *out)
{
	struct cf_err problem = { { 0 } };
	bool offered = httpd_request_header(req, "Authorization") ||
		       httpd_request_header(req, "X-Signature");
	bool refused_file = tokens_status(h->tokens, &problem) < 0;

	memset(out, 0, sizeof(*out));
	out->status = 401;
	/* For the operator's log: whether a credential came at all, and a token file that was
	 * refused, which would explain a 401 to a correct client (tokens.h never puts a token in
	 * a message). */
	fluxhook_describe(out, "unauthorized: %s%s%s",
		 offered ? "no accepted bearer token or X-Signature"
			 : "neither Authorization nor X-Signature given",
		 refused_file ? "; " : "", refused_file ? problem.msg : "");
}

static int unauthorized(struct fluxhook *h, const struct httpd_request *req,
			struct httpd_response *resp, struct fluxhook_outcome *out)
{
	describe_unauthorized(h, req, out);
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

enum httpd_auth fluxhook_check_head(struct fluxhook *h, const struct httpd_request *req,
				    struct fluxhook_outcome *out)
{
	if (tokens_check_bearer(h->tokens, httpd_request_header(req, "Authorization")))
		return HTTPD_AUTH_PASSED;
	if (httpd_request_header(req, "X-Signature"))
		return HTTPD_AUTH_BY_BODY;
	describe_unauthorized(h, req, out);
	return HTTPD_AUTH_REFUSED;
}

static bool field_matches(const char *want, const char *have)
{
	return !want || (have && strcmp(want, have) == 0);
}

static bool accepted(const struct fluxhook *h, const struct flux_event *ev)
{
	for (size_t i = 0; i < h->naccept; i++)
		if (field_matches(h->accept[i].kind, ev->kind) &&
		    field_matches(h->accept[i].namespace, ev->namespace) &&
		    field_matches(h->accept[i].name, ev->name))
			return true;
	return h->naccept == 0;
}

/* An object the configuration does not name: acknowledged, so Flux does not retry it, and
 * nothing else. */
static int ignore(const struct flux_event *ev, struct httpd_response *resp,
		  struct fluxhook_outcome *out, struct cf_err *err)
{
	static const char reason[] = "no webhook.accept entry names this object";
	struct json_object *body = json_object_new_object();
	char *reply = NULL;
	size_t len = 0;
	int rc;

	if (!body)
		return cf_err_set(err, "out of memory");
	json_object_object_add(body, "eventId", json_object_new_string(out->event_id));
	json_object_object_add(body, "verdict", json_object_new_string("ignored"));
	json_object_object_add(body, "reason", json_object_new_string(reason));
	rc = canon_json(body, &reply, &len, err);
	json_object_put(body);
	if (rc == 0)
		rc = httpd_response_set_body(resp, reply, len);
	free(reply);
	if (rc < 0)
		return -1;
	resp->status = 202;
	out->status = 202;
	out->ignored = true;
	fluxhook_describe(out, "Flux %s %s%s%s: ignored: %s", ev->kind,
			  ev->namespace ? ev->namespace : "", ev->namespace ? "/" : "", ev->name,
			  reason);
	return 0;
}

int fluxhook_handle(struct fluxhook *h, const struct httpd_request *req,
		    const struct fluxhook_snapshot *snap, struct httpd_response *resp,
		    struct fluxhook_outcome *out)
{
	struct json_object *doc = NULL;
	struct flux_event ev;
	struct cf_err err = { { 0 } };
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

	if (fluxhook_event_parse(req->body, req->body_len, &doc, &ev, &err) < 0) {
		snprintf(reason, sizeof(reason), "invalid Flux event: %s", err.msg);
		rc = refuse(resp, out, 400, reason);
		goto done;
	}
	if (fluxhook_event_id(&ev, out->event_id, &err) < 0)
		goto failed;
	if (!accepted(h, &ev)) {
		rc = ignore(&ev, resp, out, &err);
		if (rc < 0)
			goto failed;
		goto done;
	}

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
		rc = fluxhook_answer(&ev, snap, out, &reply, &len, &err);
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
	fluxhook_describe(out, "internal error: %s", err.msg[0] ? err.msg : "out of memory");
	rc = -1;
done:
	free(reply);
	json_object_put(doc);
	return rc;
}

/* ---- life cycle ---- */

static char *copy_field(const char *s, bool *failed)
{
	char *copy = s ? strdup(s) : NULL;
	*failed = *failed || (s && !copy);
	return copy;
}

static int copy_accept(struct fluxhook *h, const struct fluxhook_config *cfg)
{
	bool failed = false;
	if (!cfg->naccept)
		return 0;
	h->accept = calloc(cfg->naccept, sizeof(*h->accept));
	if (!h->accept)
		return -1;
	h->naccept = cfg->naccept;
	for (size_t i = 0; i < cfg->naccept; i++) {
		h->accept[i].kind = copy_field(cfg->accept[i].kind, &failed);
		h->accept[i].namespace = copy_field(cfg->accept[i].namespace, &failed);
		h->accept[i].name = copy_field(cfg->accept[i].name, &failed);
	}
	return failed ? -1 : 0;
}

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

	if (cfg->naccept > FLUXHOOK_ACCEPT_MAX)
		return cf_err_set(err, "Flux webhook: %zu accept entries, more than %d",
				  cfg->naccept, FLUXHOOK_ACCEPT_MAX);

	struct fluxhook *h = calloc(1, sizeof(*h));
	if (!h)
		return cf_err_set(err, "out of memory");
	if (copy_accept(h, cfg) < 0) {
		fluxhook_free(h);
		return cf_err_set(err, "out of memory");
	}
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
	h->locked = h->slots && h->buckets && pthread_mutex_init(&h->lock, NULL) == 0;
	if (!h->locked) {
		fluxhook_free(h);
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
	for (size_t i = 0; h->slots && i < h->capacity; i++)
		free(h->slots[i].reply);
	for (size_t i = 0; i < h->naccept; i++) {
		free((char *)h->accept[i].kind);
		free((char *)h->accept[i].namespace);
		free((char *)h->accept[i].name);
	}
	free(h->accept);
	if (h->locked)
		pthread_mutex_destroy(&h->lock);
	free(h->slots);
	free(h->buckets);
	free(h);
}
