/* The notifier's HTTP API, served on the HTTP server's threads: the digest document, the health
 * counters, and the controller's events, broadcast once per window when they are news. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/clock.h"
#include "base/log.h"
#include "daemon/notifier_daemon_internal.h"

#define EVENT_BODY_MAX 65536

static int digest_handler(void *ctx, const struct httpd_request *req,
			  struct httpd_response *resp)
{
	struct notifier *n = ctx;
	char *body = NULL;
	size_t len = 0;
	struct cf_err err;
	(void)req;

	pthread_mutex_lock(&n->mu);
	int rc = nf_digest_render(n->digest, clock_epoch_ms(), &body, &len, &err);
	pthread_mutex_unlock(&n->mu);
	if (rc < 0)
		return -1;
	httpd_response_take_body(resp, body, len);
	return 0;
}

static int healthz_handler(void *ctx, const struct httpd_request *req,
			   struct httpd_response *resp)
{
	struct notifier *n = ctx;
	char body[512];
	(void)req;

	pthread_mutex_lock(&n->mu);
	uint64_t failures = n->failures, malformed = n->malformed, evicted = n->evicted;
	size_t clients = n->nclients;
	pthread_mutex_unlock(&n->mu);
	pthread_mutex_lock(&n->out_mu);
	size_t queued = n->out_n;
	uint64_t dropped = n->out_dropped;
	pthread_mutex_unlock(&n->out_mu);
	int len = snprintf(body, sizeof(body),
			   "{\"ok\":true,\"clients\":%zu,\"failures\":%" PRIu64
			   ",\"malformed\":%" PRIu64 ",\"evicted\":%" PRIu64
			   ",\"queued\":%zu,\"dropped\":%" PRIu64 "}",
			   clients, failures, malformed, evicted, queued, dropped);
	return httpd_response_set_body(resp, body, (size_t)len);
}

static int events_handler(void *ctx, const struct httpd_request *req,
			  struct httpd_response *resp)
{
	struct notifier *n = ctx;
	struct nf_event ev;
	struct cf_err err;
	const char *reason = NULL;
	char *body = NULL;
	size_t len = 0;

	if (n->tokens &&
	    !tokens_check_bearer(n->tokens, httpd_request_header(req, "Authorization"))) {
		resp->status = 401;
		return httpd_response_set_body(resp, TOKENS_UNAUTHORIZED_BODY,
					       strlen(TOKENS_UNAUTHORIZED_BODY));
	}
	if (nf_event_parse(req->body, req->body_len, &ev, &err) < 0)
		return httpd_json_error(resp, 400, err.msg);
	bool news = nf_event_broadcasts(&ev);
	/* The digest URL is known once the server is bound, a moment after it first answers. */
	pthread_mutex_lock(&n->mu);
	const char *digest_url = n->digest_url;
	bool fresh = digest_url && news && nf_digest_claim_event(n->digest, &ev);
	pthread_mutex_unlock(&n->mu);
	if (!digest_url)
		return httpd_json_error(resp, 503, "the notifier is starting");
	if (!news)
		reason = "not news: a promote verdict or a 2xx reply";
	else if (!fresh)
		reason = "already broadcast in this window";
	if (!reason) {
		char what[WHAT_MAX];
		snprintf(what, sizeof(what), "event %s", ev.correlation_id);
		if (nf_render_event(&ev, n->cfg.channel_format, digest_url, &body, &len, &err) < 0)
			return -1;
		if (!notifier_outbox_push(n, body, len, what))
			reason = "the outbox is full";
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "broadcast", json_object_new_boolean(!reason));
	json_object_object_add(o, "correlationId", json_object_new_string(ev.correlation_id));
	if (reason)
		json_object_object_add(o, "reason", json_object_new_string(reason));
	return httpd_json_reply(resp, 202, o);
}

/* With tokens configured, a request without a good bearer is refused before its body is read. */
static enum httpd_auth events_auth(void *ctx, const struct httpd_request *req)
{
	struct notifier *n = ctx;
	if (!n->tokens ||
	    tokens_check_bearer(n->tokens, httpd_request_header(req, "Authorization")))
		return HTTPD_AUTH_PASSED;
	return HTTPD_AUTH_REFUSED;
}

int notifier_api_start(struct notifier *n, struct cf_err *err)
{
	static const char digest_path[] = "/v1/webhook-digest";
	const struct httpd_route routes[] = {
		{"GET", digest_path, digest_handler, n, 0, NULL},
		{"GET", "/healthz", healthz_handler, n, 0, NULL},
		{"POST", "/v1/events", events_handler, n, EVENT_BODY_MAX, events_auth},
	};
	const struct httpd_config hc = {
		.listen = n->cfg.listen,
		.routes = routes,
		.n_routes = sizeof(routes) / sizeof(routes[0]),
	};
	if (httpd_start(&n->http, &hc, err) < 0)
		return cf_err_prefix(err, "digest API on %s", n->cfg.listen);
	const char *colon = strrchr(n->cfg.listen, ':');
	int host_len = colon ? (int)(colon - n->cfg.listen) : (int)strlen(n->cfg.listen);
	char *url = NULL;
	if (n->cfg.digest_url)
		url = strdup(n->cfg.digest_url);
	else if (asprintf(&url, "http://%.*s:%u%s", host_len, n->cfg.listen, httpd_port(n->http),
			  digest_path) < 0)
		url = NULL;
	if (!url)
		return cf_err_set(err, "out of memory");
	pthread_mutex_lock(&n->mu);
	n->digest_url = url;
	pthread_mutex_unlock(&n->mu);
	log_info("digest API listening on http://%.*s:%u", host_len, n->cfg.listen,
		 httpd_port(n->http));
	return 0;
}
