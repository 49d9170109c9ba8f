#include "observe/node_observe_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/compat.h"
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "base/log.h"
#include "observe/doctor.h"

#define GATEWAY_TIMEOUT_MS 2000
#define GATEWAY_BODY_MAX (64 * 1024)
#define FEED_CONNECT_MS 1000
#define FEED_TIMEOUT_MS 3000
#define FEED_BODY_MAX (256 * 1024)
#define EXCERPT_CHARS 60
#define SYNTHETIC_CHECKS 5
#define SAMPLE_WINDOW_MS (15 * 60 * 1000)
#define BASELINE_MIN_SAMPLES 10
#define BASELINE_FILE_MAX 4096
#define KICKSTART_NOTES_MAX 4

struct latency {
	int64_t samples;
	double p95_ms, failure_percent;
};

/* ---- HTTP: the gateway, the queue and the digest ---- */

struct http_limits {
	long connect_ms, total_ms;
	size_t body_max;
};

/* GET url into r on the observer's kept handle (no proxy: these are loopback calls); 0 when an
 * answer came (any status), else -1 with why. */
static int http_get(struct node_observer *obs, const char *url, const struct http_limits *lim,
		    struct httpc_reply *r, char why[ERROR_MAX])
{
	struct httpc_request req = {.url = url,
				    .connect_timeout_ms = lim->connect_ms,
				    .timeout_ms = lim->total_ms,
				    .max_reply = lim->body_max,
				    .user_agent = "clawfleet-agent"};
	struct cf_err err;

	if (httpc_do(obs->http, &req, r, &err) < 0) {
		errorf(why, "%s", err.msg);
		return -1;
	}
	return 0;
}

/* One JSON object filling the whole text, or NULL. */
static struct json_object *parse_object(const char *text, size_t len)
{
	struct json_object *doc = NULL;
	struct cf_err err;

	jsonparse_object(text, len, JSONPARSE_DEPTH, &doc, &err);
	return doc;
}

/* The start of a body that was not what we asked for, printable in a message. */
static const char *excerpt(char *buf, size_t size, const struct httpc_reply *r)
{
	const struct buf *body = &r->body;
	if (!body->len)
		return "an empty body";
	size_t taken =
		doctor_escape_text(buf + 1, size - 5, buf_str(body), body->len, EXCERPT_CHARS);
	buf[0] = '"';
	strcat(buf, taken < body->len ? "...\"" : "\"");
	return buf;
}

static const struct http_limits gateway_limits = {GATEWAY_TIMEOUT_MS, GATEWAY_TIMEOUT_MS,
						  GATEWAY_BODY_MAX};

/* GETs a gateway endpoint, judged by its JSON body's boolean key: 0 with *value, or -1 with
 * why. A 503 {"ready":false} is an answer; a page that is not that JSON is not. */
static int gateway_flag(struct node_observer *obs, const char *path, const char *key, bool *value,
			char why[ERROR_MAX])
{
	char url[64], text[EXCERPT_CHARS * 4 + 8];
	struct httpc_reply r = {0};
	struct json_object *doc = NULL, *v;
	int rc = -1;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", (int)obs->cfg->gateway_port, path);
	if (http_get(obs, url, &gateway_limits, &r, why) < 0)
		goto done;
	doc = parse_object(buf_str(&r.body), r.body.len);
	if (!doc || !json_object_object_get_ex(doc, key, &v) ||
	    !json_object_is_type(v, json_type_boolean)) {
		errorf(why,
		       "%s answered HTTP %ld with %s, not OpenClaw's {\"%s\": ...} JSON: something "
		       "other than the gateway answers on port %d (the Control UI answers paths it "
		       "does not know with a 200 HTML page), so the gateway is not ready",
		       path, r.status, excerpt(text, sizeof(text), &r), key,
		       (int)obs->cfg->gateway_port);
		goto done;
	}
	*value = json_object_get_boolean(v);
	rc = 0;
done:
	json_object_put(doc);
	httpc_reply_free(&r);
	return rc;
}

void observe_gateway(struct node_observer *obs, struct observation *o)
{
	bool ok = false, ready = false;
	if (gateway_flag(obs, "/healthz", "ok", &ok, o->gateway_error) < 0 ||
	    gateway_flag(obs, "/readyz", "ready", &ready, o->gateway_error) < 0) {
		o->in.gateway.error = o->gateway_error;
		return;
	}
	o->in.gateway.healthz_ok = ok;
	o->in.gateway.ready = ready;
}

/* GET url for one JSON object with status 200: 0 with *doc (the caller puts it), else -1. */
static int fetch_object(struct node_observer *obs, const char *url, struct json_object **doc,
			char why[ERROR_MAX])
{
	static const struct http_limits limits = {FEED_CONNECT_MS, FEED_TIMEOUT_MS, FEED_BODY_MAX};
	char text[EXCERPT_CHARS * 4 + 8];
	struct httpc_reply r = {0};
	int rc = -1;

	*doc = NULL;
	if (http_get(obs, url, &limits, &r, why) < 0)
		goto done;
	if (r.status != 200) {
		errorf(why, "GET %s answered HTTP %ld", url, r.status);
		goto done;
	}
	*doc = parse_object(buf_str(&r.body), r.body.len);
	if (!*doc) {
		errorf(why, "GET %s answered %s, not a JSON object", url,
		       excerpt(text, sizeof(text), &r));
		goto done;
	}
	rc = 0;
done:
	httpc_reply_free(&r);
	return rc;
}

/* A count the feed reports: a non-negative integer (a whole double is taken too). */
static bool count_field(struct json_object *doc, const char *key, int64_t *out)
{
	struct json_object *v;
	double d;

	if (!json_object_object_get_ex(doc, key, &v))
		return false;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return *out >= 0;
	}
	if (!json_object_is_type(v, json_type_double))
		return false;
	d = json_object_get_double(v);
	if (!isfinite(d) || d < 0 || d >= 9.2e18)
		return false;
	*out = (int64_t)d;
	return true;
}

void observe_queue(struct node_observer *obs, struct observation *o)
{
	const char *url = obs->cfg->queue;
	struct json_object *doc;

	o->in.queue.configured = true;
	if (fetch_object(obs, url, &doc, o->queue_error) < 0)
		o->in.queue.error = o->queue_error;
	else if (!count_field(doc, "depth", &o->in.queue.depth) ||
		 !count_field(doc, "limit", &o->in.queue.limit))
		o->in.queue.error = errorf(o->queue_error,
					   "GET %s: the snapshot needs \"depth\" and \"limit\" as "
					   "non-negative integers ({\"depth\": N, \"limit\": M})",
					   url);
	json_object_put(doc);
}

/* Failures in the notifier's current window: its "total", else (a notifier that does not say)
 * the sum of the rows' counts. */
static int64_t digest_total(struct json_object *doc, struct json_object *top)
{
	int64_t total = 0, count;
	if (count_field(doc, "total", &total))
		return total;
	for (size_t i = 0; i < json_object_array_length(top); i++) {
		struct json_object *row = json_object_array_get_idx(top, i);
		if (json_object_is_type(row, json_type_object) && count_field(row, "count", &count))
			total = count > INT64_MAX - total ? INT64_MAX : total + count;
	}
	return total;
}

void observe_digest(struct node_observer *obs, struct observation *o)
{
	const char *url = obs->cfg->digest;
	struct json_object *doc, *top;

	o->in.digest.configured = true;
	if (fetch_object(obs, url, &doc, o->digest_error) < 0) {
		o->in.digest.error = o->digest_error;
	} else if (!count_field(doc, "age_sec", &o->in.digest.age_sec)) {
		o->in.digest.error = errorf(o->digest_error,
					    "GET %s: the digest has no \"age_sec\" as a "
					    "non-negative integer",
					    url);
	} else if (!json_object_object_get_ex(doc, "top", &top) ||
		   !json_object_is_type(top, json_type_array)) {
		o->in.digest.error = errorf(o->digest_error,
					    "GET %s: the digest has no \"top\" list", url);
	} else {
		o->digest_top = json_object_get(top);
		o->in.digest.top = o->digest_top;
		o->in.digest.total = digest_total(doc, top);
	}
	json_object_put(doc);
}

/* ---- TCP and latency ---- */

void observe_tcp(const struct node_observer *obs, struct observation *o)
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_port = htons((uint16_t)obs->cfg->gateway_port)};
	int64_t start = clock_mono_ms(), deadline = start + PROBE_TCP_LIMIT_MS;
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	int fd = compat_socket(AF_INET, SOCK_STREAM, 0, O_NONBLOCK | O_CLOEXEC);

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0) {
		o->in.tcp.error = errorf(o->tcp_error, "socket: %s", strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		soerr = errno;
		while (soerr == EINPROGRESS) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int64_t left = deadline - clock_mono_ms();
			int n = left > 0 ? poll(&p, 1, (int)left) : 0;
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				soerr = errno;
			else if (n == 0)
				soerr = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
				soerr = errno;
		}
	}
	close(fd);
	o->in.tcp.ms = clock_mono_ms() - start;
	if (soerr == ETIMEDOUT)
		o->in.tcp.error = errorf(o->tcp_error, "127.0.0.1:%d did not accept within %d ms",
					 (int)obs->cfg->gateway_port, PROBE_TCP_LIMIT_MS);
	else if (soerr)
		o->in.tcp.error = errorf(o->tcp_error, "127.0.0.1:%d: %s",
					 (int)obs->cfg->gateway_port, strerror(soerr));
	else
		o->in.tcp.ok = true;
}

/* Callers hold obs->lock. */
static void samples_prune(struct node_observer *obs, int64_t now)
{
	while (obs->nsamples && now - obs->samples[obs->first].at_ms > SAMPLE_WINDOW_MS) {
		obs->first = (obs->first + 1) % SAMPLES_MAX;
		obs->nsamples--;
	}
}

static void samples_add(struct node_observer *obs, const struct sample *s)
{
	if (obs->nsamples == SAMPLES_MAX) {
		obs->first = (obs->first + 1) % SAMPLES_MAX;
		obs->nsamples--;
	}
	obs->samples[(obs->first + obs->nsamples) % SAMPLES_MAX] = *s;
	obs->nsamples++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank p95 and the failure share over the window; callers hold obs->lock. */
static void latency_summary(struct node_observer *obs, struct latency *out)
{
	size_t n = obs->nsamples, failed = 0;

	memset(out, 0, sizeof(*out));
	if (!n)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct sample *s = &obs->samples[(obs->first + i) % SAMPLES_MAX];
		obs->scratch[i] = s->ms;
		failed += !s->ok;
	}
	qsort(obs->scratch, n, sizeof(obs->scratch[0]), cmp_double);
	out->samples = (int64_t)n;
	out->p95_ms = obs->scratch[(n * 95 + 99) / 100 - 1];
	out->failure_percent = (double)failed * 100.0 / (double)n;
}

/* Synthetic checks: the same /healthz a user's client would hit, timed end to end. They judge
 * a gateway that says it is ready: one that is starting or down is judged by the gateway
 * reasons, and its refusals must not stay in the window after it recovers. Checks that overlap
 * a kickstart the agent announced measure neither build and are dropped. */
void observe_latency(struct node_observer *obs, struct observation *o, unsigned kickstarts)
{
	char why[ERROR_MAX];
	struct sample batch[SYNTHETIC_CHECKS];
	struct latency lat;
	size_t n = 0;

	while (o->in.gateway.ready && n < SYNTHETIC_CHECKS) {
		bool ok = false;
		double start = (clock_mono_us() / 1000.0);
		int rc = gateway_flag(obs, "/healthz", "ok", &ok, why);
		batch[n++] = (struct sample){clock_mono_ms(), (clock_mono_us() / 1000.0) - start,
					     rc == 0 && ok};
	}
	pthread_mutex_lock(&obs->lock);
	for (size_t i = 0; i < n && obs->kickstarts == kickstarts; i++)
		samples_add(obs, &batch[i]);
	samples_prune(obs, clock_mono_ms());
	latency_summary(obs, &lat);
	o->in.latency.baseline_p95_ms = obs->baseline_p95_ms;
	obs->thresholds = o->thresholds;
	if (!obs->running_commit[0] && o->in.infra.commit)
		snprintf(obs->running_commit, sizeof(obs->running_commit), "%s", o->in.infra.commit);
	pthread_mutex_unlock(&obs->lock);
	o->in.latency.samples = lat.samples;
	o->in.latency.p95_ms = lat.p95_ms;
	o->in.latency.synthetic_failure_percent = lat.failure_percent;
}

/* ---- the baseline file ---- */

static bool is_commit(const char *s)
{
	return strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

void observe_baseline_load(struct node_observer *obs)
{
	char *text = NULL;
	size_t len;
	struct cf_err err;
	struct json_object *doc = NULL, *v;

	if (access(obs->baseline_path, F_OK) < 0 && errno == ENOENT)
		return;
	if (fsutil_read_file(obs->baseline_path, BASELINE_FILE_MAX, &text, &len, &err) < 0) {
		log_warn("latency baseline not loaded: %s", err.msg);
		return;
	}
	doc = parse_object(text, len);
	if (doc && json_object_object_get_ex(doc, "p95Ms", &v) &&
	    (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) &&
	    isfinite(json_object_get_double(v)) && json_object_get_double(v) > 0)
		obs->baseline_p95_ms = json_object_get_double(v);
	else
		log_warn("latency baseline not loaded: %s is not {\"p95Ms\": <positive number>}",
			 obs->baseline_path);
	/* Files written before the build was recorded have no "commit". */
	if (obs->baseline_p95_ms > 0 && json_object_object_get_ex(doc, "commit", &v) &&
	    json_object_is_type(v, json_type_string) && is_commit(json_object_get_string(v)))
		snprintf(obs->baseline_commit, sizeof(obs->baseline_commit), "%s",
			 json_object_get_string(v));
	json_object_put(doc);
	free(text);
}

/* Callers hold obs->lock. */
static void baseline_save(const struct node_observer *obs)
{
	char text[192];
	struct cf_err err;
	int n = snprintf(text, sizeof(text),
			 "{\"p95Ms\":%.3f,\"recordedAtMs\":%lld,\"commit\":\"%s\"}\n",
			 obs->baseline_p95_ms, (long long)clock_epoch_ms(), obs->baseline_commit);

	if (fsutil_mkdir_p(obs->state_dir, 0755, &err) < 0 ||
	    fsutil_write_atomic(obs->baseline_path, text, (size_t)n, 0644, &err) < 0)
		log_warn("latency baseline %.1f ms not saved: %s", obs->baseline_p95_ms, err.msg);
}

/* Why the samples of the build the gateway runs must not become the baseline, or NULL when they
 * may; next is the build the kickstart starts (NULL: unknown). Callers hold obs->lock. */
static const char *baseline_refused(const struct node_observer *obs, const struct latency *lat,
				    const char *next, char why[ERROR_MAX])
{
	const struct probe_thresholds *t = &obs->thresholds;
	double baseline = obs->baseline_p95_ms;
	if (baseline > 0 && baseline < PROBE_LATENCY_BASELINE_FLOOR_MS)
		baseline = PROBE_LATENCY_BASELINE_FLOOR_MS;
	if (lat->samples < BASELINE_MIN_SAMPLES)
		return errorf(why, "%lld samples are too few", (long long)lat->samples);
	if (next && obs->baseline_commit[0] && strcmp(next, obs->baseline_commit) == 0 &&
	    strcmp(next, obs->running_commit) != 0)
		return errorf(why, "the node goes back to %.12s, the build the baseline was measured "
				   "on: the build it leaves was rolled back", next);
	if (lat->failure_percent > t->max_synthetic_failure_percent)
		return errorf(why, "%.1f%% of the build's synthetic checks failed (limit %g%%)",
			      lat->failure_percent, t->max_synthetic_failure_percent);
	if (baseline > 0 && lat->p95_ms > t->max_p95_ratio * baseline)
		return errorf(why, "the build's p95 %.1f ms is over %gx the baseline %.1f ms",
			      lat->p95_ms, t->max_p95_ratio, obs->baseline_p95_ms);
	return NULL;
}

void node_observer_note_kickstart(struct node_observer *obs)
{
	struct latency lat;
	struct pull_state head;
	struct cf_err err;
	char why[ERROR_MAX];
	/* The target's tree is checked out before its kickstart: HEAD is the build that starts. */
	const char *next = pull_observe(obs->infra_path, NULL, &head, &err) == 0 && head.head[0]
				   ? head.head
				   : NULL;
	int64_t now = clock_mono_ms();

	pthread_mutex_lock(&obs->lock);
	samples_prune(obs, now);
	latency_summary(obs, &lat);
	const char *refused = baseline_refused(obs, &lat, next, why);
	if (!refused) {
		obs->baseline_p95_ms = lat.p95_ms;
		snprintf(obs->baseline_commit, sizeof(obs->baseline_commit), "%s",
			 obs->running_commit);
		baseline_save(obs);
	} else if (lat.samples >= BASELINE_MIN_SAMPLES) {
		log_info("latency baseline kept at %.1f ms: %s", obs->baseline_p95_ms, refused);
	}
	if (next)
		snprintf(obs->running_commit, sizeof(obs->running_commit), "%s", next);
	obs->nsamples = 0;
	if (obs->kickstart_notes < KICKSTART_NOTES_MAX)
		obs->kickstart_notes++;
	obs->kickstart_note_ms = now;
	obs->kickstarts++;
	pthread_mutex_unlock(&obs->lock);
}
