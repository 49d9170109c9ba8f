#include "observe/fleet_poll.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "observe/doctor.h"

#define DEFAULT_MAX_PARALLEL 64
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_TIMEOUT_MS 3000
#define DEFAULT_MAX_BODY (256u << 10)
#define MAX_PARALLEL 1024	  /* file descriptors: one connection per transfer in flight */
#define MAX_TIMEOUT_MS 600000	  /* a probe slower than ten minutes is no probe */
#define MAX_BODY (64u << 20)
#define JSON_DEPTH 32		  /* the probe document nests about a dozen levels */
#define URL_MAX 2048
#define NAME_SHOWN_CHARS 64	  /* of a foreign node name quoted in an error */
#define POLL_WAIT_MS 1000	  /* libcurl wakes sooner when one of its timers is due */
#define ARENA_BLOCK (16u << 10)
#define READYZ_PATH "/readyz"

/* One transfer slot: an easy handle kept across passes and its reply buffer. The connections
 * themselves live in the multi handle's cache, so a reused handle finds its host's connection
 * still open. */
struct slot {
	CURL *easy;
	size_t node; /* index into the desired state while busy */
	bool busy;
	char *body;
	size_t len, cap, max;
	bool over, out_of_memory;
	char errbuf[CURL_ERROR_SIZE];
};

struct fleet_poll {
	CURLM *multi;
	struct json_tokener *tok;
	struct slot *slots;
	size_t nslots, slots_made;
	int connect_timeout_ms, timeout_ms;
	size_t max_body;
};

/* Strings and arrays of one result, freed together. */
struct arena_block {
	struct arena_block *next;
	size_t used, size;
	alignas(max_align_t) unsigned char data[];
};

struct arena {
	struct arena_block *head;
};

static void *arena_alloc(struct arena *a, size_t n)
{
	size_t align = alignof(max_align_t);
	size_t need = (n + align - 1) / align * align;
	struct arena_block *b = a->head;
	if (!b || b->size - b->used < need) {
		size_t size = need > ARENA_BLOCK ? need : ARENA_BLOCK;
		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->next = a->head;
		b->used = 0;
		b->size = size;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += need;
	return p;
}

static char *arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(a, n);
	if (p)
		memcpy(p, s, n);
	return p;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_block *next = a->head->next;
		free(a->head);
		a->head = next;
	}
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct slot *s = userdata;
	size_t n = size * nmemb;
	if (n > s->max - s->len) {
		s->over = true;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n + 1)
			cap *= 2;
		if (cap > s->max + 1)
			cap = s->max + 1;
		char *grown = realloc(s->body, cap);
		if (!grown) {
			s->out_of_memory = true;
			return 0;
		}
		s->body = grown;
		s->cap = cap;
	}
	memcpy(s->body + s->len, data, n);
	s->len += n;
	s->body[s->len] = '\0';
	return n;
}

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
	fp->slots = calloc(fp->nslots, sizeof(*fp->slots));
	fp->tok = json_tokener_new_ex(JSON_DEPTH);
	fp->multi = curl_multi_init();
	if (!fp->slots || !fp->tok || !fp->multi) {
		fleet_poll_free(fp);
		return cf_err_set(err, "out of memory starting the fleet probe (was "
				       "curl_global_init called?)");
	}
	json_tokener_set_flags(fp->tok, JSON_TOKENER_VALIDATE_UTF8);
	/* Idle connections kept for the next pass are bounded like the open ones, so a fleet
	 * larger than max_parallel never holds more sockets than transfers could use. */
	long conns = (long)fp->nslots;
	curl_multi_setopt(fp->multi, CURLMOPT_MAXCONNECTS, conns);
	curl_multi_setopt(fp->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
	*out = fp;
	return 0;
}

void fleet_poll_free(struct fleet_poll *fp)
{
	if (!fp)
		return;
	for (size_t i = 0; i < fp->slots_made; i++) {
		if (fp->slots[i].busy)
			curl_multi_remove_handle(fp->multi, fp->slots[i].easy);
		curl_easy_cleanup(fp->slots[i].easy);
		free(fp->slots[i].body);
	}
	if (fp->multi)
		curl_multi_cleanup(fp->multi);
	if (fp->tok)
		json_tokener_free(fp->tok);
	free(fp->slots);
	free(fp);
}

/* The options every transfer shares, set once per handle. */
static int slot_make(struct fleet_poll *fp, struct slot *s, struct cf_err *err)
{
	s->easy = curl_easy_init();
	if (!s->easy)
		return cf_err_set(err, "out of memory making a libcurl handle");
	s->max = fp->max_body;
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(s->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(s->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)fp->connect_timeout_ms);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)fp->timeout_ms);
	curl_easy_setopt(s->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)fp->max_body);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(s->easy, CURLOPT_USERAGENT, "clawfleet-controller");
	return 0;
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

/* Starts node p->next on a free slot; a node that cannot be asked is marked at once. */
static int start_next(struct pass *p, struct slot *s)
{
	size_t i = p->next++;
	const struct mac_node *node = &p->ds->nodes[i];
	char url[URL_MAX];

	if (!url_of(node, url, sizeof(url)))
		return unreachable(p, i, "address is longer than %d characters", URL_MAX - 1);
	s->node = i;
	s->len = 0;
	s->over = false;
	s->out_of_memory = false;
	s->errbuf[0] = '\0';
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	if (curl_multi_add_handle(p->fp->multi, s->easy) != CURLM_OK)
		return cf_err_set(p->err, "GET %s: libcurl could not start the transfer", url);
	s->busy = true;
	p->in_flight++;
	return 0;
}

/* Fills every free slot while nodes remain. */
static int start_more(struct pass *p)
{
	struct fleet_poll *fp = p->fp;
	for (size_t k = 0; k < fp->nslots && p->next < p->ds->nnodes; k++) {
		struct slot *s = &fp->slots[k];
		if (s->busy)
			continue;
		if (k == fp->slots_made) {
			if (slot_make(fp, s, p->err) < 0)
				return -1;
			fp->slots_made++;
		}
		/* A node that could not be started leaves the slot free for the next one. */
		while (!s->busy && p->next < p->ds->nnodes)
			if (start_next(p, s) < 0)
				return -1;
	}
	return 0;
}

/* A string field of obj: *out NULL when absent or null; false when of another type. */
static bool get_str(struct json_object *obj, const char *key, const char **out)
{
	struct json_object *v = NULL;
	*out = NULL;
	if (!obj || !json_object_object_get_ex(obj, key, &v) || !v)
		return true;
	if (!json_object_is_type(v, json_type_string))
		return false;
	*out = json_object_get_string(v);
	return true;
}

/* An object field of doc: *out NULL when absent or null; false when of another type. */
static bool get_obj(struct json_object *doc, const char *key, struct json_object **out)
{
	*out = NULL;
	if (!json_object_object_get_ex(doc, key, out) || !*out)
		return true;
	return json_object_is_type(*out, json_type_object);
}

static bool copy_field(struct arena *a, const char *v, const char **out)
{
	*out = v ? arena_strdup(a, v) : NULL;
	return !v || *out;
}

/* The document's reason codes, in its order: 1 when read, 0 when the list is not a probe's (*why
 * says why), -1 when out of memory. */
static int read_reasons(struct arena *a, struct json_object *doc, struct node_observation *o,
			const char **why)
{
	struct json_object *list = NULL;
	if (!json_object_object_get_ex(doc, "reasons", &list) || !list)
		return 1;
	if (!json_object_is_type(list, json_type_array)) {
		*why = "\"reasons\" is not a list";
		return 0;
	}
	size_t n = json_object_array_length(list);
	const char **codes = arena_alloc(a, (n ? n : 1) * sizeof(*codes));
	if (!codes)
		return -1;
	for (size_t k = 0; k < n; k++) {
		struct json_object *r = json_object_array_get_idx(list, k);
		const char *code = NULL;
		if (!json_object_is_type(r, json_type_object) || !get_str(r, "code", &code) ||
		    !code) {
			*why = "a reason has no \"code\"";
			return 0;
		}
		if (!(codes[k] = arena_strdup(a, code)))
			return -1;
	}
	o->reasons = codes;
	o->nreasons = n;
	return 1;
}

static bool read_status(struct json_object *doc, enum probe_status *out)
{
	const char *s = NULL;
	if (!get_str(doc, "status", &s) || !s)
		return false;
	if (strcmp(s, "green") == 0)
		*out = PROBE_GREEN;
	else if (strcmp(s, "degraded") == 0)
		*out = PROBE_DEGRADED;
	else if (strcmp(s, "red") == 0)
		*out = PROBE_RED;
	else
		return false;
	return true;
}

static bool read_generation(struct json_object *doc, int64_t *out)
{
	struct json_object *v = NULL;
	*out = 0;
	if (!json_object_object_get_ex(doc, "observedGeneration", &v) || !v)
		return true;
	if (!json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return *out >= 0;
}

/* The parts of the document the planner reads, copied into the arena. Returns 1 when the
 * document is read, 0 when it is not a probe document (*why says why), -1 when out of memory. */
static int read_fields(struct arena *a, struct json_object *doc, struct node_observation *o,
		       const char **why)
{
	struct json_object *infra, *lock, *skills, *match = NULL;
	const char *tag, *commit, *cur, *next, *lock_sha, *probe_sha;

	if (!read_status(doc, &o->status)) {
		*why = "\"status\" is not green, degraded or red";
		return 0;
	}
	if (!read_generation(doc, &o->observed_generation)) {
		*why = "\"observedGeneration\" is not a whole number >= 0";
		return 0;
	}
	if (!get_obj(doc, "infra", &infra) || !get_obj(doc, "lock", &lock) ||
	    !get_obj(doc, "skills", &skills)) {
		*why = "\"infra\", \"lock\" or \"skills\" is not an object";
		return 0;
	}
	if (!get_str(infra, "tag", &tag) || !get_str(infra, "commit", &commit) ||
	    !get_str(skills, "current", &cur) || !get_str(skills, "next", &next) ||
	    !get_str(lock, "sha256", &lock_sha) || !get_str(doc, "probeSha256", &probe_sha)) {
		*why = "a tag, commit, skills, sha256 or probeSha256 field is not a string";
		return 0;
	}
	if (lock && json_object_object_get_ex(lock, "versionMatch", &match) && match &&
	    !json_object_is_type(match, json_type_boolean)) {
		*why = "\"lock.versionMatch\" is not true or false";
		return 0;
	}
	o->version_match = match && json_object_get_boolean(match);
	int rc = read_reasons(a, doc, o, why);
	if (rc <= 0)
		return rc;
	if (!copy_field(a, tag, &o->tag) || !copy_field(a, commit, &o->commit) ||
	    !copy_field(a, cur, &o->skills_current) || !copy_field(a, next, &o->skills_next) ||
	    !copy_field(a, lock_sha, &o->lock_sha256) ||
	    !copy_field(a, probe_sha, &o->probe_sha256))
		return -1;
	return 1;
}

/* The body as one JSON object, or NULL with *why. */
static struct json_object *parse_body(struct json_tokener *tok, const struct slot *s,
				      const char **why)
{
	const char *body = s->body ? s->body : "";
	if (!s->len) {
		*why = "the body is empty";
		return NULL;
	}
	json_tokener_reset(tok);
	struct json_object *doc = json_tokener_parse_ex(tok, body, (int)s->len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	if (!doc || je != json_tokener_success) {
		*why = je == json_tokener_continue ? "the JSON ends early"
						   : json_tokener_error_desc(je);
	} else if (strspn(body + end, " \t\r\n") != s->len - end) {
		*why = "data after the JSON value";
	} else if (!json_object_is_type(doc, json_type_object)) {
		*why = "not a JSON object";
	} else {
		return doc;
	}
	json_object_put(doc);
	return NULL;
}

/* The reply of a transfer that completed: parsed into the node, or the node unreachable. */
static int read_reply(struct pass *p, struct slot *s, const char *url)
{
	struct fleet_poll_node *n = &p->r->nodes[s->node];
	const char *name = p->ds->nodes[s->node].name;
	struct json_object *doc = NULL;
	const char *why = NULL, *answered = NULL;
	int rc = 0;

	if (n->http_status != 200 && n->http_status != 503)
		return unreachable(p, s->node, "GET %s: HTTP %d, expected 200 or 503 with a probe "
					       "document", url, n->http_status);
	doc = parse_body(p->fp->tok, s, &why);
	if (doc && (!get_str(doc, "node", &answered) || !answered))
		why = "no \"node\" name";
	if (!why && strcmp(answered, name) != 0) {
		char shown[NAME_SHOWN_CHARS * 4 + 1];
		doctor_escape_text(shown, sizeof(shown), answered, strlen(answered),
				   NAME_SHOWN_CHARS);
		rc = unreachable(p, s->node, "GET %s: answered as %s, not %s (the MacNode's address "
					     "reaches another node)", url, shown, name);
		goto done;
	}
	if (!why && read_fields(p->arena, doc, &n->obs, &why) < 0) {
		rc = cf_err_set(p->err, "out of memory");
		goto done;
	}
	if (why) {
		rc = unreachable(p, s->node, "GET %s: HTTP %d, not a probe document: %s", url,
				 n->http_status, why);
		goto done;
	}
	n->obs.reachable = true;
done:
	json_object_put(doc);
	return rc;
}

/* One finished transfer: the slot is freed and the node's result filled. */
static int finish(struct pass *p, CURL *easy, CURLcode result)
{
	char *priv = NULL, *effective = NULL, url[URL_MAX];
	long status = 0;
	curl_off_t total_us = 0;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	struct slot *s = (struct slot *)priv;
	curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective);
	snprintf(url, sizeof(url), "%s", effective ? effective : "");
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
	curl_multi_remove_handle(p->fp->multi, easy);
	s->busy = false;
	p->in_flight--;

	struct fleet_poll_node *n = &p->r->nodes[s->node];
	n->latency_us = (int64_t)total_us;
	n->http_status = result == CURLE_OK ? (int)status : 0;
	if (s->out_of_memory)
		return cf_err_set(p->err, "out of memory reading %s", url);
	if (s->over || result == CURLE_FILESIZE_EXCEEDED)
		return unreachable(p, s->node, "GET %s: the answer is over %zu bytes", url,
				   p->fp->max_body);
	if (result == CURLE_OPERATION_TIMEDOUT)
		return unreachable(p, s->node, "GET %s: timed out (%s)", url,
				   s->errbuf[0] ? s->errbuf : curl_easy_strerror(result));
	if (result != CURLE_OK)
		return unreachable(p, s->node, "GET %s: %s", url,
				   s->errbuf[0] ? s->errbuf : curl_easy_strerror(result));
	return read_reply(p, s, url);
}

/* Ends the transfers still running at the poll's deadline. */
static int give_up(struct pass *p)
{
	struct fleet_poll *fp = p->fp;
	for (size_t k = 0; k < fp->slots_made; k++) {
		struct slot *s = &fp->slots[k];
		if (!s->busy)
			continue;
		curl_multi_remove_handle(fp->multi, s->easy);
		s->busy = false;
		p->in_flight--;
		char url[URL_MAX];
		url_of(&p->ds->nodes[s->node], url, sizeof(url));
		if (unreachable(p, s->node, "GET %s: timed out (the poll's deadline passed)", url) < 0)
			return -1;
	}
	while (p->next < p->ds->nnodes)
		if (unreachable(p, p->next++, "not asked: the poll's deadline passed") < 0)
			return -1;
	return 0;
}

/* Removes every transfer from the multi handle, so a failed poll leaves the poller reusable. */
static void abandon(struct fleet_poll *fp)
{
	for (size_t k = 0; k < fp->slots_made; k++) {
		if (fp->slots[k].busy)
			curl_multi_remove_handle(fp->multi, fp->slots[k].easy);
		fp->slots[k].busy = false;
	}
}

static int run(struct pass *p)
{
	struct fleet_poll *fp = p->fp;
	size_t waves = (p->ds->nnodes + fp->nslots - 1) / fp->nslots;
	/* Each transfer ends by its own timeout; the deadline only bounds the loop should
	 * libcurl ever fail to. A wave of transfers takes at most one timeout. */
	int64_t deadline = mono_us() + ((int64_t)waves + 1) * fp->timeout_ms * 1000;

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
		int64_t left_ms = (deadline - mono_us()) / 1000;
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
	int64_t started = mono_us();
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
	r->elapsed_us = mono_us() - started;
	*out = r;
	r = NULL;
	rc = 0;
done:
	abandon(fp);
	fleet_poll_result_free(r);
	return rc;
}
