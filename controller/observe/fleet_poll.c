#include "observe/fleet_poll.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/httpc.h"
#include "base/jsonparse.h"
#include "observe/doctor.h"

#define DEFAULT_MAX_PARALLEL 64
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_TIMEOUT_MS 3000
#define DEFAULT_MAX_BODY (256u << 10)
#define MAX_PARALLEL 1024	  /* file descriptors: one connection per transfer in flight */
#define MAX_TIMEOUT_MS 600000	  /* a probe slower than ten minutes is no probe */
#define MAX_BODY (64u << 20)
#define URL_MAX 2048
#define NAME_SHOWN_CHARS 64	  /* of a foreign node name quoted in an error */
#define POLL_WAIT_MS 1000	  /* libcurl wakes sooner when one of its timers is due */
#define READYZ_PATH "/readyz"
#define USER_AGENT "clawfleet-controller"

/* One transfer slot: the easy handle of the request in flight (NULL when the slot is free), its
 * URL and its reply. The connections live in the multi handle's cache, so a request to a host
 * asked on the previous pass finds its connection still open. */
struct slot {
	CURL *easy;
	size_t node; /* index into the desired state while busy */
	char url[URL_MAX];
	struct httpc_reply reply;
};

struct fleet_poll {
	CURLM *multi;
	struct jsonparse *parser; /* kept across bodies: no tokener allocated per document */
	struct slot *slots;
	size_t nslots;
	int connect_timeout_ms, timeout_ms;
	size_t max_body;
};

int fleet_poll_new(struct fleet_poll **out, const struct fleet_poll_config *cfg,
		    struct cf_err *err)
{
	static const struct fleet_poll_config defaults = {0};
	struct fleet_poll *fp = NULL;

	*out = NULL;
	if (!cfg)
		cfg = &defaults;
	if (cfg->max_parallel > MAX_PARALLEL)
		return cf_err_set(err, "probe parallelism %u: at most %d transfers at once",
				  cfg->max_parallel, MAX_PARALLEL);
	if (cfg->connect_timeout_ms < 0 || cfg->connect_timeout_ms > MAX_TIMEOUT_MS ||
	    cfg->timeout_ms < 0 || cfg->timeout_ms > MAX_TIMEOUT_MS)
		return cf_err_set(err, "probe timeouts %d ms (connect) and %d ms (request): each "
				       "must be between 1 and %d ms, or 0 for the default",
				  cfg->connect_timeout_ms, cfg->timeout_ms, MAX_TIMEOUT_MS);
	if (cfg->max_body > MAX_BODY)
		return cf_err_set(err, "probe body limit %zu bytes: at most %u", cfg->max_body,
				  MAX_BODY);
	fp = calloc(1, sizeof(*fp));
	if (!fp)
		return cf_err_set(err, "out of memory");
	fp->nslots = cfg->max_parallel ? cfg->max_parallel : DEFAULT_MAX_PARALLEL;
	fp->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms
							  : DEFAULT_CONNECT_TIMEOUT_MS;
	fp->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	fp->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
	if (jsonparse_new(&fp->parser, READYZ_DEPTH, err) < 0) {
		fleet_poll_free(fp);
		return -1;
	}
	fp->slots = calloc(fp->nslots, sizeof(*fp->slots));
	fp->multi = curl_multi_init();
	if (!fp->slots || !fp->multi) {
		fleet_poll_free(fp);
		return cf_err_set(err, "out of memory starting the fleet probe (was "
				       "httpc_global_init called?)");
	}
	/* Idle connections kept for the next pass are bounded like the open ones, so a fleet
	 * larger than max_parallel never holds more sockets than transfers could use. */
	long conns = (long)fp->nslots;
	curl_multi_setopt(fp->multi, CURLMOPT_MAXCONNECTS, conns);
	curl_multi_setopt(fp->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
	*out = fp;
	return 0;
}

/* Takes the slot's transfer out of the multi handle and frees it; the slot is free. */
static void slot_end(struct fleet_poll *fp, struct slot *s)
{
	if (!s->easy)
		return;
	curl_multi_remove_handle(fp->multi, s->easy);
	httpc_easy_free(s->easy);
	s->easy = NULL;
}

void fleet_poll_free(struct fleet_poll *fp)
{
	if (!fp)
		return;
	for (size_t i = 0; fp->slots && i < fp->nslots; i++) {
		slot_end(fp, &fp->slots[i]);
		httpc_reply_free(&fp->slots[i].reply);
	}
	if (fp->multi)
		curl_multi_cleanup(fp->multi);
	jsonparse_free(fp->parser);
	free(fp->slots);
	free(fp);
}

/* One poll in progress. */
struct pass {
	struct fleet_poll *fp;
	const struct desired_state *ds;
	struct fleet_poll_result *r;
	struct arena *arena;
	size_t next;	  /* the next node to start */
	size_t in_flight;
	struct cf_err *err;
};

static int unreachable(struct pass *p, size_t i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Marks node i unreachable with why; -1 only when the arena is out of memory. */
static int unreachable(struct pass *p, size_t i, const char *fmt, ...)
{
	char why[CF_ERR_MSG];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	struct fleet_poll_node *n = &p->r->nodes[i];
	n->obs = (struct node_observation){.name = n->obs.name};
	n->error = arena_strdup(p->arena, why);
	return n->error ? 0 : cf_err_set(p->err, "out of memory");
}

/* <address>/readyz; false when it does not fit. */
static bool url_of(const struct mac_node *node, char *url, size_t size)
{
	size_t len = strlen(node->address);
	while (len && node->address[len - 1] == '/')
		len--;
	int n = snprintf(url, size, "%.*s%s", (int)len, node->address, READYZ_PATH);
	return n >= 0 && (size_t)n < size;
}

/* Starts node p->next on the free slot s; a node that cannot be asked is marked at once. */
static int start_next(struct pass *p, struct slot *s)
{
	struct fleet_poll *fp = p->fp;
	size_t i = p->next++;

	if (!url_of(&p->ds->nodes[i], s->url, sizeof(s->url)))
		return unreachable(p, i, "address is longer than %d characters", URL_MAX - 1);
	struct httpc_request req = {
		.url = s->url,
		.connect_timeout_ms = fp->connect_timeout_ms,
		.timeout_ms = fp->timeout_ms,
		.max_reply = fp->max_body,
		.user_agent = USER_AGENT,
	};
	s->node = i;
	if (httpc_easy_new(&s->easy, &req, &s->reply, s, p->err) < 0)
		return -1;
	if (curl_multi_add_handle(fp->multi, s->easy) != CURLM_OK) {
		httpc_easy_free(s->easy);
		s->easy = NULL;
		return cf_err_set(p->err, "GET %s: libcurl could not start the transfer", s->url);
	}
	p->in_flight++;
	return 0;
}

/* Fills every free slot while nodes remain. */
static int start_more(struct pass *p)
{
	struct fleet_poll *fp = p->fp;
	for (size_t k = 0; k < fp->nslots && p->next < p->ds->nnodes; k++) {
		struct slot *s = &fp->slots[k];
		/* A node that could not be started leaves the slot free for the next one. */
		while (!s->easy && p->next < p->ds->nnodes)
			if (start_next(p, s) < 0)
				return -1;
	}
	return 0;
}

/* The reply of a transfer that completed: read into the node, or the node unreachable. */
static int read_reply(struct pass *p, struct slot *s)
{
	struct fleet_poll_node *n = &p->r->nodes[s->node];
	const char *name = p->ds->nodes[s->node].name;
	struct node_observation o = {0};
	struct cf_err why;

	if (n->http_status != 200 && n->http_status != 503)
		return unreachable(p, s->node, "GET %s: HTTP %d, expected 200 or 503 with a probe "
					       "document", s->url, n->http_status);
	int rc = readyz_parse(p->fp->parser, buf_str(&s->reply.body), s->reply.body.len, name,
			      p->arena, &o, &why);
	if (rc == READYZ_OUT_OF_MEMORY)
		return cf_err_set(p->err, "out of memory");
	if (rc == READYZ_OTHER_NODE) {
		char shown[NAME_SHOWN_CHARS * 4 + 1];
		doctor_escape_text(shown, sizeof(shown), o.name, strlen(o.name), NAME_SHOWN_CHARS);
		return unreachable(p, s->node, "GET %s: answered as %s, not %s (the MacNode's "
					       "address reaches another node)", s->url, shown, name);
	}
	if (rc < 0)
		return unreachable(p, s->node, "GET %s: HTTP %d, %s", s->url, n->http_status,
				   why.msg);
	n->obs = o;
	return 0;
}

/* One finished transfer: the slot is freed and the node's result filled. */
static int finish(struct pass *p, CURL *easy, CURLcode result)
{
	struct slot *s = httpc_easy_private(easy);
	curl_off_t total_us = 0;
	struct cf_err why;

	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
	int rc = httpc_easy_finish(easy, result, &why);
	slot_end(p->fp, s);
	p->in_flight--;

	struct fleet_poll_node *n = &p->r->nodes[s->node];
	n->latency_us = (int64_t)total_us;
	n->http_status = rc == 0 ? (int)s->reply.status : 0;
	/* Only httpc's body callback stops a transfer with a write error: the cap was reached. */
	if (result == CURLE_WRITE_ERROR || result == CURLE_FILESIZE_EXCEEDED)
		return unreachable(p, s->node, "GET %s: the answer is over %zu bytes", s->url,
				   p->fp->max_body);
	if (rc < 0)
		return unreachable(p, s->node, "%s", why.msg);
	return read_reply(p, s);
}

/* Ends the transfers still running at the poll's deadline. */
static int give_up(struct pass *p)
{
	struct fleet_poll *fp = p->fp;
	for (size_t k = 0; k < fp->nslots; k++) {
		struct slot *s = &fp->slots[k];
		if (!s->easy)
			continue;
		slot_end(fp, s);
		p->in_flight--;
		if (unreachable(p, s->node, "GET %s: timed out (the poll's deadline passed)",
				s->url) < 0)
			return -1;
	}
	while (p->next < p->ds->nnodes)
		if (unreachable(p, p->next++, "not asked: the poll's deadline passed") < 0)
			return -1;
	return 0;
}

/* Ends every transfer, so a failed poll leaves the poller reusable. */
static void abandon(struct fleet_poll *fp)
{
	for (size_t k = 0; k < fp->nslots; k++)
		slot_end(fp, &fp->slots[k]);
}

static int run(struct pass *p)
{
	struct fleet_poll *fp = p->fp;
	size_t waves = (p->ds->nnodes + fp->nslots - 1) / fp->nslots;
	/* Each transfer ends by its own timeout; the deadline only bounds the loop should
	 * libcurl ever fail to. A wave of transfers takes at most one timeout. */
	int64_t deadline = clock_mono_us() + ((int64_t)waves + 1) * fp->timeout_ms * 1000;

	if (start_more(p) < 0)
		return -1;
	while (p->in_flight) {
		int running = 0, queued = 0;
		CURLMcode mc = curl_multi_perform(fp->multi, &running);
		if (mc != CURLM_OK)
			return cf_err_set(p->err, "polling the fleet: %s", curl_multi_strerror(mc));
		CURLMsg *msg;
		while ((msg = curl_multi_info_read(fp->multi, &queued)))
			if (msg->msg == CURLMSG_DONE &&
			    finish(p, msg->easy_handle, msg->data.result) < 0)
				return -1;
		if (start_more(p) < 0)
			return -1;
		if (!p->in_flight)
			break;
		int64_t left_ms = (deadline - clock_mono_us()) / 1000;
		if (left_ms <= 0)
			return give_up(p);
		mc = curl_multi_poll(fp->multi, NULL, 0,
				     left_ms < POLL_WAIT_MS ? (int)left_ms : POLL_WAIT_MS, NULL);
		if (mc != CURLM_OK)
			return cf_err_set(p->err, "polling the fleet: %s", curl_multi_strerror(mc));
	}
	return 0;
}

void fleet_poll_result_free(struct fleet_poll_result *r)
{
	if (!r)
		return;
	if (r->priv) {
		arena_free(r->priv);
		free(r->priv);
	}
	free(r->nodes);
	free(r->obs);
	free(r);
}

int fleet_poll_poll(struct fleet_poll *fp, const struct desired_state *ds,
		     struct fleet_poll_result **out, struct cf_err *err)
{
	int64_t started = clock_mono_us();
	size_t n = ds->nnodes ? ds->nnodes : 1;
	struct fleet_poll_result *r = calloc(1, sizeof(*r));
	struct pass p = {.fp = fp, .ds = ds, .r = r, .err = err};
	int rc = -1;

	*out = NULL;
	if (!r || !(r->nodes = calloc(n, sizeof(*r->nodes))) ||
	    !(r->obs = calloc(n, sizeof(*r->obs))) || !(r->priv = calloc(1, sizeof(*p.arena)))) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	r->nnodes = ds->nnodes;
	p.arena = r->priv;
	for (size_t i = 0; i < ds->nnodes; i++) {
		r->nodes[i].obs.name = arena_strdup(p.arena, ds->nodes[i].name);
		if (!r->nodes[i].obs.name) {
			cf_err_set(err, "out of memory");
			goto done;
		}
	}
	if (run(&p) < 0)
		goto done;
	for (size_t i = 0; i < ds->nnodes; i++)
		r->obs[i] = r->nodes[i].obs;
	r->elapsed_us = clock_mono_us() - started;
	*out = r;
	r = NULL;
	rc = 0;
done:
	abandon(fp);
	fleet_poll_result_free(r);
	return rc;
}
