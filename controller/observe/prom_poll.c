#include "observe/prom_poll.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/httpc.h"
#include "base/weightmap.h"
#include "observe/prom_query.h"
#include "observe/promql.h"

#define DEFAULT_TIMEOUT_MS 5000
/* libcurl's own timeouts only free a transfer nobody ends: it measures them when it is driven,
 * and would fail a reply that came in time but was read at a later pass. */
#define BACKSTOP_MS 60000
#define BASE_MAX 2048		/* the provider's address, as the CRD bounds it */
#define QUERY_PATH "/api/v1/query"
#define USER_AGENT "clawfleet-controller"

enum side { SIDE_CANARY, SIDE_STABLE, SIDES };

struct query {
	CURL *easy; /* NULL: not sent, or collected */
	int64_t deadline_ms; /* monotonic: still running then, the query has no answer */
	long timeout_ms;
	char *url;
	struct httpc_reply reply;
	bool has_value;
	double value;
	char why[METRIC_WHY_MAX];
};

/* One metric of the Promotion, by name: the window in flight and the last one measured. */
struct slot {
	char name[DESIRED_METRIC_NAME_MAX];
	bool used;
	int64_t due_ms; /* the next window's query goes out at or after this */
	bool busy;
	size_t sides; /* 1, or 2 with compare stable */
	int64_t taken_ms, interval_ms;
	char shown[BASE_MAX + 32];	       /* "Prometheus at <base>" */
	char url_shown[BASE_MAX + sizeof(QUERY_PATH)]; /* <base>/api/v1/query, for httpc */
	struct query q[SIDES];
	bool has_last;
	struct metric_sample last;
};

/* The load-balancer server names of the two pools, as the planner splits them. */
struct pools {
	const char *names[2][WEIGHTS_MAX_SERVERS];
	size_t n[2];
};

struct prom_poll {
	CURLM *multi;
	struct slot slots[DESIRED_MAX_METRICS];
	struct metric_sample samples[DESIRED_MAX_METRICS];
	size_t nsamples;
	char rendered[SIDES][PROM_QUERY_MAX];
	struct pools pools;
};

/* Why a window has no value; cut at the buffer's end. */
__attribute__((format(printf, 3, 4))) static void set_why(char *dst, size_t size,
							  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, size, fmt, ap);
	va_end(ap);
}

int prom_poll_new(struct prom_poll **out, struct cf_err *err)
{
	struct prom_poll *pp = calloc(1, sizeof(*pp));
	*out = NULL;
	if (!pp)
		return cf_err_set(err, "out of memory");
	pp->multi = curl_multi_init();
	if (!pp->multi) {
		free(pp);
		return cf_err_set(err, "curl_multi_init failed");
	}
	*out = pp;
	return 0;
}

static void query_drop(struct prom_poll *pp, struct query *q)
{
	if (q->easy) {
		curl_multi_remove_handle(pp->multi, q->easy);
		httpc_easy_free(q->easy);
	}
	q->easy = NULL;
	free(q->url);
	q->url = NULL;
	httpc_reply_free(&q->reply);
}

static void slot_drop(struct prom_poll *pp, struct slot *s)
{
	for (int k = 0; k < SIDES; k++)
		query_drop(pp, &s->q[k]);
	s->busy = false;
}

void prom_poll_free(struct prom_poll *pp)
{
	if (!pp)
		return;
	for (size_t i = 0; i < DESIRED_MAX_METRICS; i++)
		slot_drop(pp, &pp->slots[i]);
	curl_multi_cleanup(pp->multi);
	free(pp);
}

/* A window is measured once every side answered: its sample has a value when each did. */
static void slot_settle(struct prom_poll *pp, struct slot *s)
{
	for (size_t k = 0; k < s->sides; k++)
		if (s->q[k].easy)
			return;
	struct metric_sample *m = &s->last;
	memset(m, 0, sizeof(*m));
	snprintf(m->metric, sizeof(m->metric), "%s", s->name);
	m->taken_ms = s->taken_ms;
	m->interval_ms = s->interval_ms;
	m->has_value = true;
	for (size_t k = 0; k < s->sides && m->has_value; k++)
		if (!s->q[k].has_value) {
			m->has_value = false;
			set_why(m->why, sizeof(m->why), "%s%s", k ? "the stable pool: " : "",
				s->q[k].why);
		}
	m->value = s->q[SIDE_CANARY].value;
	m->stable = s->sides > 1 ? s->q[SIDE_STABLE].value : 0;
	s->has_last = true;
	slot_drop(pp, s);
}

/* Moves the transfers on as far as they go without waiting, takes in the finished ones, then
 * ends those past their deadline. */
static void collect(struct prom_poll *pp)
{
	CURLMsg *msg;
	int running, queued;
	curl_multi_perform(pp->multi, &running);
	while ((msg = curl_multi_info_read(pp->multi, &queued))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct slot *s = httpc_easy_private(msg->easy_handle);
		struct query *q = NULL;
		for (size_t k = 0; s && k < s->sides; k++)
			if (s->q[k].easy == msg->easy_handle)
				q = &s->q[k];
		if (!q)
			continue;
		struct cf_err err;
		const char *body = q->reply.body.p ? q->reply.body.p : "";
		/* httpc's message names the request; the reply's, only what is wrong in it. */
		if (httpc_easy_finish(q->easy, msg->data.result, &err) < 0)
			set_why(q->why, sizeof(q->why), "%s", err.msg);
		else if (promql_value(q->reply.status, body, q->reply.body.len, &q->value, &err) < 0)
			set_why(q->why, sizeof(q->why), "%s: %s", s->shown, err.msg);
		else
			q->has_value = true;
		curl_multi_remove_handle(pp->multi, q->easy);
		httpc_easy_free(q->easy);
		q->easy = NULL;
		slot_settle(pp, s);
	}
	/* Only now, every reply already received taken in, is a query past its deadline ended. */
	int64_t now = clock_mono_ms();
	for (size_t i = 0; i < DESIRED_MAX_METRICS; i++) {
		struct slot *s = &pp->slots[i];
		bool ended = false;
		for (size_t k = 0; s->busy && k < s->sides; k++) {
			struct query *q = &s->q[k];
			if (!q->easy || now < q->deadline_ms)
				continue;
			curl_multi_remove_handle(pp->multi, q->easy);
			httpc_easy_free(q->easy);
			q->easy = NULL;
			set_why(q->why, sizeof(q->why), "GET %s: no answer within %ld ms", s->url_shown,
				q->timeout_ms);
			ended = true;
		}
		if (ended)
			slot_settle(pp, s);
	}
}

void prom_poll_drive(struct prom_poll *pp)
{
	collect(pp);
}

static struct slot *slot_for(struct prom_poll *pp, const char *name)
{
	struct slot *free_slot = NULL;
	for (size_t i = 0; i < DESIRED_MAX_METRICS; i++) {
		struct slot *s = &pp->slots[i];
		if (s->used && strcmp(s->name, name) == 0)
			return s;
		if (!s->used && !free_slot)
			free_slot = s;
	}
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->used = true;
		snprintf(free_slot->name, sizeof(free_slot->name), "%s", name);
	}
	return free_slot;
}

static void pools_of(const struct desired_state *ds, struct pools *p)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < ds->nnodes; i++) {
		const struct mac_node *m = &ds->nodes[i];
		int side = m->role == NODE_GATEWAY && m->canary ? SIDE_CANARY : SIDE_STABLE;
		if (m->lb_server && p->n[side] < WEIGHTS_MAX_SERVERS)
			p->names[side][p->n[side]++] = m->lb_server;
	}
}

/* A window without a query sent: its sample says why at once. */
static void no_query(struct slot *s, int64_t now, int64_t interval, const char *why)
{
	memset(&s->last, 0, sizeof(s->last));
	snprintf(s->last.metric, sizeof(s->last.metric), "%s", s->name);
	s->last.taken_ms = now;
	s->last.interval_ms = interval;
	set_why(s->last.why, sizeof(s->last.why), "%s", why);
	s->has_last = true;
}

static int send_side(struct prom_poll *pp, struct slot *s, enum side side, const char *base,
		     const char *query, long timeout_ms, struct cf_err *err)
{
	struct query *q = &s->q[side];
	char *escaped = curl_easy_escape(NULL, query, 0);
	if (!escaped)
		return cf_err_set(err, "out of memory");
	size_t len = strlen(base) + sizeof(QUERY_PATH "?query=") + strlen(escaped);
	q->url = malloc(len);
	if (!q->url) {
		curl_free(escaped);
		return cf_err_set(err, "out of memory");
	}
	snprintf(q->url, len, "%s" QUERY_PATH "?query=%s", base, escaped);
	curl_free(escaped);
	q->has_value = false;
	q->why[0] = '\0';
	q->timeout_ms = timeout_ms;
	q->deadline_ms = clock_mono_ms() + timeout_ms;
	struct httpc_request req = {
		.url = q->url,
		.url_shown = s->url_shown,
		.connect_timeout_ms = timeout_ms + BACKSTOP_MS,
		.timeout_ms = timeout_ms + BACKSTOP_MS,
		.max_reply = PROMQL_MAX_REPLY,
		.user_agent = USER_AGENT,
	};
	struct cf_err why;
	if (httpc_easy_new(&q->easy, &req, &q->reply, s, &why) < 0) {
		/* Not sent: this side has no data this window, and says why. */
		q->easy = NULL;
		set_why(q->why, sizeof(q->why), "%s", why.msg);
	} else if (curl_multi_add_handle(pp->multi, q->easy) != CURLM_OK) {
		httpc_easy_free(q->easy);
		q->easy = NULL;
		set_why(q->why, sizeof(q->why), "%s: curl_multi_add_handle failed", s->shown);
	}
	return 0;
}

static int send_metric(struct prom_poll *pp, struct slot *s, const struct promotion_metric *m,
		       const struct desired_state *ds, const char *base, long timeout_ms,
		       int64_t now, int64_t interval, struct cf_err *err)
{
	char (*rendered)[PROM_QUERY_MAX] = pp->rendered;
	struct pools *pools = &pp->pools;
	struct cf_err why;
	const char *backend = NULL;
	pools_of(ds, pools);
	for (size_t i = 0; i < ds->nlbs && !backend; i++)
		if (ds->lbs[i].driver == LB_HAPROXY)
			backend = ds->lbs[i].haproxy.backend;
	s->sides = m->compare == METRIC_COMPARE_STABLE ? 2 : 1;
	for (size_t k = 0; k < s->sides; k++) {
		/* The stable side asks the same question of the stable pool (prom_query.h). */
		struct prom_query_vars v = {
			.canary = pools->names[k], .ncanary = pools->n[k],
			.stable = pools->names[SIDE_STABLE], .nstable = pools->n[SIDE_STABLE],
			.backend = backend, .interval_ms = interval,
		};
		if (prom_query_render(prom_query_template(m), &v, rendered[k], PROM_QUERY_MAX,
				      &why) < 0) {
			no_query(s, now, interval, why.msg);
			return 0;
		}
	}
	s->busy = true;
	s->taken_ms = now;
	s->interval_ms = interval;
	for (size_t k = 0; k < s->sides; k++)
		if (send_side(pp, s, (enum side)k, base, rendered[k], timeout_ms, err) < 0) {
			slot_drop(pp, s);
			return -1;
		}
	slot_settle(pp, s); /* a side that could not be sent */
	return 0;
}

int prom_poll_step(struct prom_poll *pp, const struct desired_state *ds,
		   const struct prom_poll_defaults *defaults, bool active, int64_t now_ms,
		   struct cf_err *err)
{
	const struct promotion *promo = ds && ds->npromotions ? &ds->promotions[0] : NULL;
	const struct promotion_analysis *a = promo ? &promo->analysis : NULL;
	collect(pp);
	/* A metric no longer in the Promotion is forgotten, its query dropped. */
	for (size_t i = 0; i < DESIRED_MAX_METRICS; i++) {
		struct slot *s = &pp->slots[i];
		bool wanted = false;
		for (size_t k = 0; a && s->used && k < a->nmetrics && !wanted; k++)
			wanted = strcmp(a->metrics[k].name, s->name) == 0;
		if (s->used && !wanted) {
			slot_drop(pp, s);
			s->used = false;
		}
	}
	char base[BASE_MAX + 1] = "";
	const char *addr = a && a->provider_address ? a->provider_address : defaults->url;
	int64_t timeout = a && a->provider_address && a->provider_timeout_ms
				  ? a->provider_timeout_ms
			  : defaults->timeout_ms ? defaults->timeout_ms
						 : DEFAULT_TIMEOUT_MS;
	if (addr) {
		snprintf(base, sizeof(base), "%s", addr);
		for (size_t n = strlen(base); n && base[n - 1] == '/'; n--)
			base[n - 1] = '\0';
	}
	for (size_t k = 0; a && active && k < a->nmetrics; k++) {
		const struct promotion_metric *m = &a->metrics[k];
		struct slot *s = slot_for(pp, m->name);
		int64_t interval = m->interval_ms > 0		    ? m->interval_ms
				   : promo->analysis_interval_ms > 0 ? promo->analysis_interval_ms
								     : 1;
		if (!s || s->busy || now_ms < s->due_ms)
			continue;
		s->due_ms = now_ms + interval;
		snprintf(s->shown, sizeof(s->shown), "Prometheus at %s", base);
		snprintf(s->url_shown, sizeof(s->url_shown), "%s" QUERY_PATH, base);
		if (!base[0])
			no_query(s, now_ms, interval,
				 "no Prometheus to ask: set the Promotion's analysis.provider or "
				 "the controller's prometheus.url");
		else if (send_metric(pp, s, m, ds, base, (long)timeout, now_ms, interval, err) < 0)
			return -1;
	}
	/* Started, not waited on: the connections open and the queries go out as far as they can
	 * now; prom_poll_drive at the pass's end, or the next step, reads the replies. */
	collect(pp);
	pp->nsamples = 0;
	for (size_t k = 0; a && k < a->nmetrics; k++) {
		const struct slot *s = NULL;
		for (size_t i = 0; i < DESIRED_MAX_METRICS && !s; i++)
			if (pp->slots[i].used && strcmp(pp->slots[i].name, a->metrics[k].name) == 0)
				s = &pp->slots[i];
		if (s && s->has_last)
			pp->samples[pp->nsamples++] = s->last;
	}
	return 0;
}

const struct metric_sample *prom_poll_samples(const struct prom_poll *pp, size_t *n)
{
	*n = pp->nsamples;
	return pp->samples;
}
