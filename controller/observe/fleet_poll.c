#include "observe/fleet_poll.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/compat.h"
#include "base/httpc.h"
#include "base/jsonparse.h"
#include "base/log.h"
#include "observe/doctor.h"

#define DEFAULT_MAX_PARALLEL 64
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_TIMEOUT_MS 3000
#define DEFAULT_MAX_BODY (256u << 10)
/* Descriptors the controller keeps for all but its kept connections to the agents: its HTTP
 * server's connections (1,024 at most), state files, the Git fetch, the load balancer. */
#define FD_RESERVE 1200
/* Nodes a multi handle polls; see struct fleet_poll. */
#define SHARD_NODES 512
/* Threads a pass runs on at most, one per core: each polls its own shards. */
#define MAX_LANES 8
#define MAX_TIMEOUT_MS 600000	  /* a probe slower than ten minutes is no probe */
#define MAX_BODY (64u << 20)
#define URL_MAX 2048
#define NAME_SHOWN_CHARS 64	  /* of a foreign node name quoted in an error */
#define POLL_WAIT_MS 1000	  /* libcurl wakes sooner when one of its timers is due */
#define READYZ_PATH "/readyz"
#define RECV_BUFFER_BYTES 4096L
#define USER_AGENT "clawfleet-controller"

/* One transfer slot: the easy handle of its requests, the URL and the reply of the one in
 * flight. The connections live in the shards' caches, sized to the fleet, so a request to an
 * agent asked on the previous pass finds its connection still open. */
struct slot {
	CURL *easy; /* kept from one transfer to the next: a new handle per request costs more */
	CURLM *multi; /* the shard the transfer in flight is in; NULL when the slot is free */
	size_t node; /* index into the desired state while busy */
	char url[URL_MAX];
	struct httpc_reply reply;
};

/* libcurl 7.88's curl_multi_remove_handle walks its multi's whole connection cache after every
 * transfer (looking for connect-only connections; later versions look the one connection up):
 * one cache holding the fleet's connections would make a pass quadratic. So the fleet is polled
 * in shards of SHARD_NODES nodes (more when max_parallel is larger), one multi handle and one
 * connection cache each: no walk is longer than a shard, and a pass grows linearly with the
 * fleet. Node i is in shard i / shard_nodes, so next pass finds its connection in the same cache.
 *
 * A pass is CPU-bound once the connections are open (the request, the reply, the document), so
 * the shards are shared among lanes, a thread each, one per core (MAX_LANES at most, never more
 * than shards): lane k polls shards k, k + lanes, ... one after the other, with its share of the
 * slots (max_parallel stays the bound on transfers in flight), its own document reader and its
 * own arena for the strings it hands out. A node is written by the one lane that polls it. */
struct lane {
	struct fleet_poll *fp;
	struct jsonparse *parser; /* kept across bodies: no tokener allocated per document */
	/* One pass: */
	const struct desired_state *ds;
	struct fleet_poll_result *r;
	struct arena *arena;
	struct slot *slots; /* this lane's share of fp's slots */
	size_t nslots;
	size_t shard, step; /* the first shard it polls, then every step-th */
	size_t nodes, shards; /* how many it polls */
	CURLM *multi;	    /* the shard being polled */
	size_t next;	    /* the next node to start */
	size_t end;	    /* past the last node of the shard being polled */
	size_t in_flight;
	int64_t deadline;
	bool gave_up;	    /* the deadline passed: every node left is marked, not asked */
	int rc;
	struct cf_err err;
};

struct fleet_poll {
	CURLM **shards;
	size_t nshards, shard_nodes;
	struct lane lanes[MAX_LANES];
	size_t nlanes;	     /* lanes made: one per core, at most MAX_LANES and nslots */
	struct slot *slots;
	size_t nslots;
	int connect_timeout_ms, timeout_ms;
	size_t max_body;
	size_t warned_nodes; /* the fleet size the descriptor limit was last reported for */
};

unsigned int fleet_poll_threads(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	return ncpu < 1 ? 1 : ncpu > MAX_LANES ? MAX_LANES : (unsigned int)ncpu;
}

int fleet_poll_new(struct fleet_poll **out, const struct fleet_poll_config *cfg,
		    struct cf_err *err)
{
	static const struct fleet_poll_config defaults = {0};
	struct fleet_poll *fp = NULL;

	*out = NULL;
	if (!cfg)
		cfg = &defaults;
	if (cfg->max_parallel > FLEET_POLL_MAX_PARALLEL)
		return cf_err_set(err, "probe parallelism %u: at most %d transfers at once",
				  cfg->max_parallel, FLEET_POLL_MAX_PARALLEL);
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
	unsigned int threads = fleet_poll_threads();
	fp->nlanes = threads < fp->nslots ? threads : fp->nslots;
	for (size_t k = 0; k < fp->nlanes; k++) {
		fp->lanes[k].fp = fp;
		if (jsonparse_new(&fp->lanes[k].parser, READYZ_DEPTH, err) < 0) {
			fleet_poll_free(fp);
			return -1;
		}
	}
	fp->slots = calloc(fp->nslots, sizeof(*fp->slots));
	fp->shard_nodes = fp->nslots > SHARD_NODES ? fp->nslots : SHARD_NODES;
	fp->shards = calloc(1, sizeof(*fp->shards));
	if (fp->shards && (fp->shards[0] = curl_multi_init()))
		fp->nshards = 1;
	if (!fp->slots || !fp->nshards) {
		fleet_poll_free(fp);
		return cf_err_set(err, "out of memory starting the fleet probe (was "
				       "httpc_global_init called?)");
	}
	*out = fp;
	return 0;
}

/* One kept connection per agent: the shards' caches hold the whole fleet, and the file
 * descriptor limit is raised to fit it. A cache smaller than its shard makes libcurl close its
 * oldest connection for every new one, a walk of the whole cache each time, and every pass
 * reconnect to the shard's agents. Where the hard limit is too low, the connections that fit
 * are kept (the first shards'), and the error says what the fleet needs. */
static void size_pool(struct fleet_poll *fp, size_t nnodes)
{
	size_t keep = nnodes > fp->nslots ? nnodes : fp->nslots;
	uint64_t have = 0;
	if (compat_raise_fd_limit((uint64_t)keep + FD_RESERVE, &have) < 0) {
		size_t fit = have > (uint64_t)fp->nslots + FD_RESERVE ? (size_t)have - FD_RESERVE
								      : fp->nslots;
		if (fp->warned_nodes != nnodes)
			log_error("file descriptors: %zu nodes need %zu open files (a kept "
				  "connection to each agent, %d for the rest) and the limit is %llu: "
				  "%zu connections are kept between passes, the other agents are "
				  "reconnected every pass; raise the limit (ulimit -n, launchd's "
				  "NumberOfFiles, systemd's LimitNOFILE)",
				  nnodes, keep + FD_RESERVE, FD_RESERVE, (unsigned long long)have,
				  fit);
		fp->warned_nodes = nnodes;
		keep = fit < keep ? fit : keep;
	}
	/* A shard keeps a connection for each of its nodes while they fit; the shards that come
	 * after reconnect. A cache even one short of its shard keeps nothing: a pass asks the
	 * nodes in the same order, so the connection dropped to make room is always the one the
	 * next request needs. */
	for (size_t k = 0; k < fp->nshards; k++) {
		size_t first = k * fp->shard_nodes;
		size_t nodes = nnodes - first < fp->shard_nodes ? nnodes - first : fp->shard_nodes;
		size_t kept = keep > first ? keep - first : 0;
		if (kept > nodes)
			kept = nodes;
		/* Idle after its turn: the connections kept (libcurl reads 0 as no limit). Open
		 * during its turn: those, or its transfers' own where more (the oldest idle one is
		 * closed to make room), so the descriptors in use stay within what fits. */
		curl_multi_setopt(fp->shards[k], CURLMOPT_MAXCONNECTS, (long)(kept ? kept : 1));
		curl_multi_setopt(fp->shards[k], CURLMOPT_MAX_TOTAL_CONNECTIONS,
				  (long)(kept > fp->nslots ? kept : fp->nslots));
	}
}

/* A multi handle per shard of the fleet: new ones for a larger fleet, the last ones (and their
 * connections) closed for a smaller one. */
static int shard_fleet(struct fleet_poll *fp, size_t nnodes, struct cf_err *err)
{
	size_t want = nnodes ? (nnodes + fp->shard_nodes - 1) / fp->shard_nodes : 1;
	if (want > fp->nshards) {
		CURLM **more = realloc(fp->shards, want * sizeof(*more));
		if (!more)
			return cf_err_set(err, "out of memory");
		fp->shards = more;
	}
	while (fp->nshards < want) {
		if (!(fp->shards[fp->nshards] = curl_multi_init()))
			return cf_err_set(err, "out of memory");
		fp->nshards++;
	}
	while (fp->nshards > want)
		curl_multi_cleanup(fp->shards[--fp->nshards]);
	return 0;
}

/* Takes the slot's transfer out of its multi handle; the slot is free, its handle kept. */
static void slot_end(struct slot *s)
{
	if (!s->multi)
		return;
	curl_multi_remove_handle(s->multi, s->easy);
	s->multi = NULL;
}

void fleet_poll_free(struct fleet_poll *fp)
{
	if (!fp)
		return;
	for (size_t i = 0; fp->slots && i < fp->nslots; i++) {
		slot_end(&fp->slots[i]);
		httpc_easy_free(fp->slots[i].easy);
		httpc_reply_free(&fp->slots[i].reply);
	}
	for (size_t k = 0; k < fp->nshards; k++)
		curl_multi_cleanup(fp->shards[k]);
	free(fp->shards);
	for (size_t k = 0; k < fp->nlanes; k++)
		jsonparse_free(fp->lanes[k].parser);
	free(fp->slots);
	free(fp);
}

static int unreachable(struct lane *p, size_t i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Marks node i unreachable with why; -1 only when the arena is out of memory. */
static int unreachable(struct lane *p, size_t i, const char *fmt, ...)
{
	char why[CF_ERR_MSG];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	struct fleet_poll_node *n = &p->r->nodes[i];
	struct node_observation *o = &p->r->obs[i];
	*o = (struct node_observation){.name = o->name};
	n->error = arena_strdup(p->arena, why);
	return n->error ? 0 : cf_err_set(&p->err, "out of memory");
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
static int start_next(struct lane *p, struct slot *s)
{
	struct fleet_poll *fp = p->fp;
	size_t i = p->next++;

	if (!url_of(&p->ds->nodes[i], s->url, sizeof(s->url)))
		return unreachable(p, i, "address is longer than %d characters", URL_MAX - 1);
	s->node = i;
	if (s->easy) {
		if (httpc_easy_again(s->easy, s->url, &p->err) < 0)
			return -1;
	} else {
		struct httpc_request req = {
			.url = s->url,
			.connect_timeout_ms = fp->connect_timeout_ms,
			.timeout_ms = fp->timeout_ms,
			.max_reply = fp->max_body,
			.user_agent = USER_AGENT,
		};
		if (httpc_easy_new(&s->easy, &req, &s->reply, s, &p->err) < 0)
			return -1;
		/* No DNS cache: libcurl walks all of it before every transfer, a walk as long as
		 * the fleet. A kept connection needs no lookup; a new one to a literal address
		 * needs none either, and a host name is asked of the system's resolver, which
		 * caches. A /readyz answer is ~1.2 KiB: libcurl's 16 KiB receive buffer a slot
		 * would sit unused. The handle keeps both for every request it makes. */
		curl_easy_setopt(s->easy, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
		curl_easy_setopt(s->easy, CURLOPT_BUFFERSIZE, RECV_BUFFER_BYTES);
	}
	if (curl_multi_add_handle(p->multi, s->easy) != CURLM_OK)
		return cf_err_set(&p->err, "GET %s: libcurl could not start the transfer", s->url);
	s->multi = p->multi;
	p->in_flight++;
	return 0;
}

/* Fills every free slot while nodes remain. */
static int start_more(struct lane *p)
{
	for (size_t k = 0; k < p->nslots && p->next < p->end; k++) {
		struct slot *s = &p->slots[k];
		/* A node that could not be started leaves the slot free for the next one. */
		while (!s->multi && p->next < p->end)
			if (start_next(p, s) < 0)
				return -1;
	}
	return 0;
}

/* The reply of a transfer that completed: read into the node, or the node unreachable. */
static int read_reply(struct lane *p, struct slot *s)
{
	struct fleet_poll_node *n = &p->r->nodes[s->node];
	const char *name = p->ds->nodes[s->node].name;
	struct node_observation o = {0};
	struct cf_err why;

	if (n->http_status != 200 && n->http_status != 503)
		return unreachable(p, s->node, "GET %s: HTTP %d, expected 200 or 503 with a probe "
					       "document", s->url, n->http_status);
	int rc = readyz_parse(p->parser, buf_str(&s->reply.body), s->reply.body.len, name,
			      p->arena, &o, &why);
	if (rc == READYZ_OUT_OF_MEMORY)
		return cf_err_set(&p->err, "out of memory");
	if (rc == READYZ_OTHER_NODE) {
		char shown[NAME_SHOWN_CHARS * 4 + 1];
		doctor_escape_text(shown, sizeof(shown), o.name, strlen(o.name), NAME_SHOWN_CHARS);
		return unreachable(p, s->node, "GET %s: answered as %s, not %s (the MacNode's "
					       "address reaches another node)", s->url, shown, name);
	}
	if (rc < 0)
		return unreachable(p, s->node, "GET %s: HTTP %d, %s", s->url, n->http_status,
				   why.msg);
	p->r->obs[s->node] = o;
	return 0;
}

/* One finished transfer: the slot is freed and the node's result filled. */
static int finish(struct lane *p, CURL *easy, CURLcode result)
{
	struct slot *s = httpc_easy_private(easy);
	curl_off_t total_us = 0;
	struct cf_err why;

	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
	int rc = httpc_easy_finish(easy, result, &why);
	slot_end(s);
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

/* Ends the transfers still running at the poll's deadline; the nodes left in the shard are
 * marked, and so are those of the lane's shards after it (run_lane). */
static int give_up(struct lane *p)
{
	for (size_t k = 0; k < p->nslots; k++) {
		struct slot *s = &p->slots[k];
		if (!s->multi)
			continue;
		slot_end(s);
		p->in_flight--;
		if (unreachable(p, s->node, "GET %s: timed out (the poll's deadline passed)",
				s->url) < 0)
			return -1;
	}
	p->gave_up = true;
	while (p->next < p->end)
		if (unreachable(p, p->next++, "not asked: the poll's deadline passed") < 0)
			return -1;
	return 0;
}

/* The nodes of the shard whose multi handle is p->multi, up to p->end. */
static int run_shard(struct lane *p)
{
	if (p->gave_up)
		return give_up(p);
	if (start_more(p) < 0)
		return -1;
	while (p->in_flight) {
		int running = 0, queued = 0;
		CURLMcode mc = curl_multi_perform(p->multi, &running);
		if (mc != CURLM_OK)
			return cf_err_set(&p->err, "polling the fleet: %s", curl_multi_strerror(mc));
		CURLMsg *msg;
		while ((msg = curl_multi_info_read(p->multi, &queued)))
			if (msg->msg == CURLMSG_DONE &&
			    finish(p, msg->easy_handle, msg->data.result) < 0)
				return -1;
		if (start_more(p) < 0)
			return -1;
		if (!p->in_flight)
			break;
		int64_t left_ms = (p->deadline - clock_mono_us()) / 1000;
		if (left_ms <= 0)
			return give_up(p);
		mc = curl_multi_poll(p->multi, NULL, 0,
				     left_ms < POLL_WAIT_MS ? (int)left_ms : POLL_WAIT_MS, NULL);
		if (mc != CURLM_OK)
			return cf_err_set(&p->err, "polling the fleet: %s", curl_multi_strerror(mc));
	}
	return 0;
}

/* A lane's shards in turn. On failure its transfers are ended, so the poller stays reusable. */
static void *run_lane(void *arg)
{
	struct lane *p = arg;
	struct fleet_poll *fp = p->fp;
	size_t n = p->ds->nnodes;

	/* Each transfer ends by its own timeout; the deadline only bounds the loop should libcurl
	 * ever fail to. A wave of the lane's transfers takes at most one timeout, and each shard
	 * ends with a wave of its own. Counted from the lane's start: a lane whose thread did not
	 * start runs after another. */
	size_t waves = (p->nodes + p->nslots - 1) / p->nslots + p->shards;
	p->deadline = clock_mono_us() + ((int64_t)waves + 1) * fp->timeout_ms * 1000;
	p->rc = 0;
	for (size_t k = p->shard; k < fp->nshards && k * fp->shard_nodes < n; k += p->step) {
		p->multi = fp->shards[k];
		p->next = k * fp->shard_nodes;
		p->end = p->next + fp->shard_nodes < n ? p->next + fp->shard_nodes : n;
		if (run_shard(p) < 0) {
			p->rc = -1;
			break;
		}
	}
	for (size_t k = 0; k < p->nslots; k++)
		slot_end(&p->slots[k]);
	return NULL;
}

/* The pass on nlanes lanes, lane 0 on the calling thread; a lane whose thread cannot start runs
 * here after lane 0. The shards are dealt out in turn, so the lanes' shares of the fleet can
 * differ (600 nodes on two lanes: 512 and 88): the slots are split in proportion to the nodes,
 * one at least each (nlanes is never above the slots). */
static int run(struct fleet_poll *fp, const struct desired_state *ds,
	       struct fleet_poll_result *r, struct arena *arenas, size_t nlanes,
	       struct cf_err *err)
{
	size_t n = ds->nnodes, before = 0, spare = fp->nslots - nlanes;
	pthread_t threads[MAX_LANES];
	bool started[MAX_LANES] = {false};

	for (size_t k = 0; k < fp->nlanes; k++) {
		struct lane *p = &fp->lanes[k];
		*p = (struct lane){.fp = fp, .parser = p->parser};
		if (k >= nlanes)
			continue;
		for (size_t s = k; s < fp->nshards && s * fp->shard_nodes < n; s += nlanes) {
			size_t left = n - s * fp->shard_nodes;
			p->nodes += left < fp->shard_nodes ? left : fp->shard_nodes;
			p->shards++;
		}
		size_t first = k + (n ? spare * before / n : 0);
		before += p->nodes;
		size_t last = k + 1 + (n ? spare * before / n : 0);
		p->ds = ds;
		p->r = r;
		p->arena = &arenas[k];
		p->slots = &fp->slots[first];
		p->nslots = last - first;
		p->shard = k;
		p->step = nlanes;
	}
	for (size_t k = 1; k < nlanes; k++)
		started[k] = pthread_create(&threads[k], NULL, run_lane, &fp->lanes[k]) == 0;
	run_lane(&fp->lanes[0]);
	for (size_t k = 1; k < nlanes; k++) {
		if (started[k])
			pthread_join(threads[k], NULL);
		else
			run_lane(&fp->lanes[k]);
	}
	for (size_t k = 0; k < nlanes; k++)
		if (fp->lanes[k].rc < 0) {
			*err = fp->lanes[k].err;
			return -1;
		}
	return 0;
}

/* What the result owns besides its arrays: an arena of strings per lane. */
struct result_strings {
	size_t n;
	struct arena arenas[MAX_LANES];
};

void fleet_poll_result_free(struct fleet_poll_result *r)
{
	if (!r)
		return;
	struct result_strings *strings = r->priv;
	for (size_t k = 0; strings && k < strings->n; k++)
		arena_free(&strings->arenas[k]);
	free(strings);
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
	struct result_strings *strings = NULL;
	int rc = -1;

	*out = NULL;
	if (!r || !(r->nodes = calloc(n, sizeof(*r->nodes))) ||
	    !(r->obs = calloc(n, sizeof(*r->obs))) ||
	    !(r->priv = strings = calloc(1, sizeof(*strings)))) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	r->nnodes = ds->nnodes;
	if (shard_fleet(fp, ds->nnodes, err) < 0)
		goto done;
	strings->n = fp->nlanes < fp->nshards ? fp->nlanes : fp->nshards;
	for (size_t i = 0; i < ds->nnodes; i++) {
		r->obs[i].name = arena_strdup(&strings->arenas[0], ds->nodes[i].name);
		if (!r->obs[i].name) {
			cf_err_set(err, "out of memory");
			goto done;
		}
	}
	size_pool(fp, ds->nnodes);
	if (run(fp, ds, r, strings->arenas, strings->n, err) < 0)
		goto done;
	r->elapsed_us = clock_mono_us() - started;
	*out = r;
	r = NULL;
	rc = 0;
done:
	fleet_poll_result_free(r);
	return rc;
}
