#include "act/webhook_runner.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/backoff.h"
#include "base/httpc.h"
#include "base/log.h"

#define CONNECT_TIMEOUT_MS 3000
#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 2000

/* One call: its question, what it sends, and its attempt in flight (easy) or waiting (due_ms). */
struct call {
	bool used;
	char name[HOOK_NAME_MAX];
	char key[HOOK_KEY_MAX];
	char *url, *body;
	long timeout_ms;
	CURL *easy;
	struct httpc_reply reply;
	int attempts;
	int64_t started_ms; /* wall clock: the attempt in flight, or the last, started */
	int64_t due_ms;	    /* wall clock: the next attempt starts; 0 while one is in flight */
};

struct webhook_runner {
	CURLM *multi;
	struct call calls[WEBHOOK_CALLS_MAX];
	struct hook_result results[WEBHOOK_RESULTS_MAX];
	size_t nresults;
	struct hook_count counts[WEBHOOK_RESULTS_MAX];
	size_t ncounts;
	unsigned int seed;
};

static const char *const json_headers[] = {"Content-Type: application/json", NULL};

int webhook_runner_new(struct webhook_runner **out, struct cf_err *err)
{
	struct webhook_runner *r = calloc(1, sizeof(*r));
	if (!r)
		return cf_err_set(err, "webhooks: out of memory");
	r->multi = curl_multi_init();
	if (!r->multi) {
		free(r);
		return cf_err_set(err, "webhooks: curl_multi_init failed");
	}
	r->seed = 0x5eed;
	*out = r;
	return 0;
}

static void call_end(struct webhook_runner *r, struct call *c)
{
	if (c->easy) {
		curl_multi_remove_handle(r->multi, c->easy);
		httpc_easy_free(c->easy);
	}
	httpc_reply_free(&c->reply);
	free(c->url);
	free(c->body);
	memset(c, 0, sizeof(*c));
}

void webhook_runner_free(struct webhook_runner *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < WEBHOOK_CALLS_MAX; i++)
		if (r->calls[i].used)
			call_end(r, &r->calls[i]);
	curl_multi_cleanup(r->multi);
	free(r);
}

static struct hook_result *result_of(struct webhook_runner *r, const char *name, const char *key)
{
	for (size_t i = 0; i < r->nresults; i++)
		if (strcmp(r->results[i].name, name) == 0 && strcmp(r->results[i].key, key) == 0)
			return &r->results[i];
	return NULL;
}

static struct call *call_of(struct webhook_runner *r, const char *name, const char *key)
{
	for (size_t i = 0; i < WEBHOOK_CALLS_MAX; i++)
		if (r->calls[i].used && strcmp(r->calls[i].name, name) == 0 &&
		    strcmp(r->calls[i].key, key) == 0)
			return &r->calls[i];
	return NULL;
}

static void count(struct webhook_runner *r, const char *name, long status, bool answered)
{
	struct hook_count *c = NULL;
	for (size_t i = 0; i < r->ncounts && !c; i++)
		if (strcmp(r->counts[i].name, name) == 0)
			c = &r->counts[i];
	if (!c && r->ncounts == WEBHOOK_RESULTS_MAX)
		return;
	if (!c) {
		c = &r->counts[r->ncounts++];
		snprintf(c->name, sizeof(c->name), "%s", name);
	}
	if (!answered)
		c->error++;
	else if (status >= 200 && status < 300)
		c->ok++;
	else
		c->rejected++;
}

static void start_attempt(struct webhook_runner *r, struct call *c, int64_t wall_ms)
{
	struct cf_err err;
	struct httpc_request req = {
		.method = "POST",
		.url = c->url,
		.headers = json_headers,
		.body = c->body,
		.body_len = strlen(c->body),
		.connect_timeout_ms = c->timeout_ms < CONNECT_TIMEOUT_MS ? c->timeout_ms
									 : CONNECT_TIMEOUT_MS,
		.timeout_ms = c->timeout_ms,
		.max_reply = WEBHOOK_REPLY_MAX,
	};
	c->attempts++;
	c->started_ms = wall_ms;
	c->due_ms = 0;
	httpc_reply_free(&c->reply);
	if (httpc_easy_new(&c->easy, &req, &c->reply, c, &err) < 0 ||
	    curl_multi_add_handle(r->multi, c->easy) != CURLM_OK) {
		/* Cannot even start: counts as an attempt without an answer, tried again later. */
		log_warn("webhook %s: %s", c->name, c->easy ? "adding the call failed" : err.msg);
		httpc_easy_free(c->easy);
		c->easy = NULL;
		c->due_ms = wall_ms + RETRY_FIRST_MS;
	}
}

/* An attempt ended (rc 0: an answer with status arrived): retried, or the answer kept. */
static void attempt_ended(struct webhook_runner *r, struct call *c, int rc, const char *error,
			  int64_t now)
{
	long status = rc == 0 ? c->reply.status : 0;
	count(r, c->name, status, rc == 0);
	struct hook_result *res = result_of(r, c->name, c->key);
	bool retry = (rc < 0 || status >= 500) && c->attempts < WEBHOOK_ATTEMPTS;
	if (res) {
		res->status = status;
		snprintf(res->error, sizeof(res->error), "%.*s", (int)sizeof(res->error) - 1,
			 rc < 0 ? error : "");
		res->attempts = c->attempts;
	}
	if (retry) {
		/* The backoff counts from when the attempt ended, which may be well before this
		 * tend (the pass that tends comes once a second): a retry already due starts in
		 * this tend. */
		double took_s = 0;
		curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME, &took_s);
		int64_t ended = c->started_ms + (int64_t)(took_s * 1000);
		curl_multi_remove_handle(r->multi, c->easy);
		httpc_easy_free(c->easy);
		c->easy = NULL;
		c->due_ms = (ended < now ? ended : now) +
			    backoff_ms(RETRY_FIRST_MS, RETRY_MAX_MS, (unsigned)c->attempts, &r->seed);
		return;
	}
	if (res) {
		res->verdict = status >= 200 && status < 300 ? HOOK_PASSED : HOOK_FAILED;
		res->at_ms = now;
	}
	if (!res || res->verdict == HOOK_FAILED)
		log_warn("webhook %s (%s): %s after %d attempt%s", c->name, c->key,
			 rc < 0 ? error : "not 2xx", c->attempts, c->attempts == 1 ? "" : "s");
	call_end(r, c);
}

void webhook_runner_tend(struct webhook_runner *r, int64_t wall_ms)
{
	int running = 0, queued = 0;
	CURLMsg *msg;
	curl_multi_perform(r->multi, &running);
	while ((msg = curl_multi_info_read(r->multi, &queued))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct call *c = httpc_easy_private(msg->easy_handle);
		struct cf_err err = {0};
		int rc = httpc_easy_finish(msg->easy_handle, msg->data.result, &err);
		attempt_ended(r, c, rc, err.msg, wall_ms);
	}
	for (size_t i = 0; i < WEBHOOK_CALLS_MAX; i++) {
		struct call *c = &r->calls[i];
		if (c->used && !c->easy && c->due_ms && c->due_ms <= wall_ms)
			start_attempt(r, c, wall_ms);
	}
	curl_multi_perform(r->multi, &running);
}

/* Flagger's payload; event hooks carry the event in the metadata, the hook's own metadata
 * after it (never in place of it). */
static char *payload(const struct promotion *promo, const struct promotion_webhook *w,
		     const struct hook_call *hc, int64_t wall_ms)
{
	struct json_object *o = json_object_new_object(), *meta = json_object_new_object();
	char *text = NULL, ts[24];
	if (!o || !meta) {
		json_object_put(meta);
		goto done;
	}
	json_object_object_add(o, "name", json_object_new_string(promo->name));
	json_object_object_add(o, "namespace", json_object_new_string(WEBHOOK_NAMESPACE));
	json_object_object_add(o, "phase", json_object_new_string(hc->phase));
	json_object_object_add(o, "checksum", json_object_new_string(hc->checksum));
	if (hc->event_type) {
		snprintf(ts, sizeof(ts), "%lld", (long long)wall_ms);
		json_object_object_add(meta, "eventMessage",
				       json_object_new_string(hc->event_message));
		json_object_object_add(meta, "eventType", json_object_new_string(hc->event_type));
		json_object_object_add(meta, "timestamp", json_object_new_string(ts));
	}
	for (size_t i = 0; i < w->nmetadata; i++)
		if (!json_object_object_get_ex(meta, w->metadata[i].name, NULL))
			json_object_object_add(meta, w->metadata[i].name,
					       json_object_new_string(w->metadata[i].value));
	json_object_object_add(o, "metadata", meta);
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	text = s ? strdup(s) : NULL;
done:
	json_object_put(o);
	return text;
}

static bool reasked(const struct hook_result *res, int64_t wall_ms)
{
	bool gate = res->type == WEBHOOK_CONFIRM_ROLLOUT ||
		    res->type == WEBHOOK_CONFIRM_TRAFFIC_INCREASE ||
		    res->type == WEBHOOK_CONFIRM_PROMOTION;
	if (res->verdict == HOOK_PENDING)
		return true; /* asked, but no call carries it (out of room then) */
	if (!(gate && res->verdict == HOOK_FAILED) && res->type != WEBHOOK_ROLLBACK)
		return false;
	return wall_ms - res->at_ms >= WEBHOOK_REASK_MS;
}

/* A slot for the answer to hc: its own, else a new one (the oldest final answer goes when the
 * table is full); NULL when every slot waits for an answer. */
static struct hook_result *result_slot(struct webhook_runner *r, const struct hook_call *hc)
{
	struct hook_result *res = result_of(r, hc->name, hc->key);
	if (res)
		return res;
	if (r->nresults == WEBHOOK_RESULTS_MAX) {
		size_t oldest = WEBHOOK_RESULTS_MAX;
		for (size_t i = 0; i < r->nresults; i++)
			if (r->results[i].verdict != HOOK_PENDING &&
			    (oldest == WEBHOOK_RESULTS_MAX ||
			     r->results[i].at_ms < r->results[oldest].at_ms))
				oldest = i;
		if (oldest == WEBHOOK_RESULTS_MAX)
			return NULL;
		memmove(&r->results[oldest], &r->results[oldest + 1],
			(r->nresults - oldest - 1) * sizeof(r->results[0]));
		r->nresults--;
	}
	res = &r->results[r->nresults++];
	memset(res, 0, sizeof(*res));
	snprintf(res->name, sizeof(res->name), "%s", hc->name);
	snprintf(res->key, sizeof(res->key), "%s", hc->key);
	res->type = hc->type;
	res->verdict = HOOK_PENDING;
	return res;
}

static struct call *free_call(struct webhook_runner *r)
{
	for (size_t i = 0; i < WEBHOOK_CALLS_MAX; i++)
		if (!r->calls[i].used)
			return &r->calls[i];
	return NULL;
}

void webhook_runner_ask(struct webhook_runner *r, const struct promotion *promo,
			const struct hook_call *calls, size_t n, int64_t wall_ms)
{
	for (size_t i = 0; promo && i < n; i++) {
		const struct hook_call *hc = &calls[i];
		const struct promotion_webhook *w = NULL;
		for (size_t k = 0; k < promo->nwebhooks && !w; k++)
			if (strcmp(promo->webhooks[k].name, hc->name) == 0)
				w = &promo->webhooks[k];
		const struct hook_result *known = result_of(r, hc->name, hc->key);
		if (!w || call_of(r, hc->name, hc->key) || (known && !reasked(known, wall_ms)))
			continue;
		struct call *c = free_call(r);
		struct hook_result *res = c ? result_slot(r, hc) : NULL;
		if (!res)
			continue; /* asked again at a later pass */
		memset(c, 0, sizeof(*c));
		c->url = strdup(w->url);
		c->body = payload(promo, w, hc, wall_ms);
		if (!c->url || !c->body) {
			log_error("webhook %s: out of memory", hc->name);
			free(c->url);
			free(c->body);
			memset(c, 0, sizeof(*c));
			continue;
		}
		c->used = true;
		snprintf(c->name, sizeof(c->name), "%s", hc->name);
		snprintf(c->key, sizeof(c->key), "%s", hc->key);
		c->timeout_ms = (long)w->timeout_ms;
		start_attempt(r, c, wall_ms);
	}
	int running;
	curl_multi_perform(r->multi, &running);
}

const struct hook_result *webhook_runner_results(const struct webhook_runner *r, size_t *n)
{
	*n = r->nresults;
	return r->results;
}

const struct hook_count *webhook_runner_counts(const struct webhook_runner *r, size_t *n)
{
	*n = r->ncounts;
	return r->counts;
}

bool webhook_runner_busy(const struct webhook_runner *r)
{
	for (size_t i = 0; i < WEBHOOK_CALLS_MAX; i++)
		if (r->calls[i].used)
			return true;
	return false;
}
