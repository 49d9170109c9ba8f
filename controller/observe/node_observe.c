#include "observe/node_observe.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "base/log.h"
#include "base/proc.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "observe/doctor.h"
#include "reconcilers/lockcheck.h"
#include "reconcilers/pull.h"
#include "reconcilers/service.h"
#include "reconcilers/skills.h"
#include "source/gitsource.h"
#include "source/treefiles.h"

#define ERROR_MAX 512
#define VERSION_TIMEOUT_MS 5000
#define SERVICE_STATUS_TIMEOUT_MS 10000
#define DOCTOR_THREADS_MAX 8
#define GATEWAY_TIMEOUT_MS 2000
#define GATEWAY_BODY_MAX (64 * 1024)
#define FEED_CONNECT_MS 1000
#define FEED_TIMEOUT_MS 3000
#define FEED_BODY_MAX (256 * 1024)
#define FEED_JSON_DEPTH 32
#define EXCERPT_CHARS 60
#define SYNTHETIC_CHECKS 5
#define SAMPLES_MAX 2048
#define SAMPLE_WINDOW_MS (15 * 60 * 1000)
#define BASELINE_MIN_SAMPLES 10
#define BASELINE_FILE "/latency-baseline.json"
#define BASELINE_FILE_MAX 4096
#define RESTARTS_MAX 16
#define RESTART_WINDOW_MS (5 * 60 * 1000)
#define KICKSTART_NOTES_MAX 4
/* A kickstart the agent announced excuses the next start seen within this many refresh periods
 * (at least KICKSTART_GRACE_MIN_MS): the restart may land after the observation that follows
 * the note, but a note must not excuse a crash long after. */
#define KICKSTART_GRACE_PERIODS 3
#define KICKSTART_GRACE_MIN_MS 60000

/* The desired state of one infra HEAD, shared by the node_observer's cache and the observations
 * that borrow tenant names and the lock from it. */
struct infra_snapshot {
	atomic_int refs;
	char commit[41];
	bool clean;		  /* loaded from a clean tree, so HEAD names its content */
	struct desired_state *ds; /* NULL when the tree did not load */
	char error[ERROR_MAX];
};

struct sample {
	int64_t at_ms; /* monotonic */
	double ms;
	bool ok;
};

struct node_observer {
	const struct agent_config *cfg;
	char *infra_path, *skills_root, *state_dir, *baseline_path;
	char *openclaw, *launchctl, *systemctl;
	struct service_config svc;
	struct schema_set *schemas;
	struct infra_snapshot *infra;
	CURL *curl; /* one handle, so the gateway connection is kept alive */
	bool git_ready;
	bool status_seen;
	bool last_running;
	int last_pid;
	int64_t restarts[RESTARTS_MAX]; /* monotonic ms, oldest first */
	size_t nrestarts;

	pthread_mutex_t lock; /* what node_observer_note_kickstart touches, below */
	unsigned kickstarts; /* announced so far */
	int kickstart_notes; /* announced, their start not seen yet */
	int64_t kickstart_note_ms;
	struct sample samples[SAMPLES_MAX]; /* a ring, oldest at first */
	size_t first, nsamples;
	double scratch[SAMPLES_MAX];
	double baseline_p95_ms;
};

struct observation {
	struct probe_inputs in;
	struct infra_snapshot *snap;
	char *node;
	char infra_tag[PULL_TAG_MAX], infra_commit[41];
	struct openclaw_version cli;
	char skills_current[SEMVER_MAX], skills_next[SEMVER_MAX];
	struct probe_doctor *doctor;
	struct json_object *digest_top;
	char infra_error[ERROR_MAX], lock_error[ERROR_MAX], cli_error[ERROR_MAX];
	char current_error[ERROR_MAX], next_error[ERROR_MAX];
	char queue_error[ERROR_MAX], digest_error[ERROR_MAX], disk_error[ERROR_MAX];
	char service_error[ERROR_MAX], gateway_error[ERROR_MAX], tcp_error[ERROR_MAX];
};

struct latency {
	int64_t samples;
	double p95_ms, failure_percent;
};

static const char *errorf(char buf[ERROR_MAX], const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Formats into buf; a message cut at the end loses its last character whole, not half of it. */
static const char *errorf(char buf[ERROR_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, ERROR_MAX, fmt, ap);
	va_end(ap);
	if (n >= ERROR_MAX) {
		size_t len = ERROR_MAX - 1;
		while (len && ((unsigned char)buf[len - 1] & 0xC0) == 0x80)
			len--;
		if (len && (unsigned char)buf[len - 1] >= 0xC0)
			len--;
		buf[len] = '\0';
	}
	return buf;
}

static int64_t clock_ms(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_ms_precise(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- the infra tree and its desired state ---- */

static struct infra_snapshot *snapshot_get(struct infra_snapshot *s)
{
	atomic_fetch_add(&s->refs, 1);
	return s;
}

/* Observations are freed by whichever thread serves them last, hence the atomic count. */
static void snapshot_put(struct infra_snapshot *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	desired_free(s->ds);
	free(s);
}

static void describe_diags(char buf[ERROR_MAX], const char *commit, struct diag_list *dl)
{
	char more[48] = "";

	if (!dl->n) {
		errorf(buf, "the infra tree at %.12s does not load", commit);
		return;
	}
	diag_list_sort(dl);
	const struct diag *d = &dl->v[0];
	if (dl->n + dl->dropped > 1)
		snprintf(more, sizeof(more), " (and %zu more)", dl->n + dl->dropped - 1);
	errorf(buf, "the infra tree at %.12s does not load (run clawfleet validate on it): "
		    "%s:%d:%d: %s: %s%s",
	       commit, d->file ? d->file : "-", d->line, d->col, d->field ? d->field : "-",
	       d->msg, more);
}

static struct infra_snapshot *snapshot_load(const struct node_observer *obs, const char *commit,
					    bool clean)
{
	struct treefiles files = {0};
	struct diag_list diags = {0};
	struct cf_err err;
	struct infra_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	snprintf(s->commit, sizeof(s->commit), "%s", commit);
	s->clean = clean;
	if (treefiles_from_dir(obs->infra_path, &files, &err) < 0)
		errorf(s->error, "reading the infra tree %s: %s", obs->infra_path, err.msg);
	else if (desired_load(&files, obs->schemas, NULL, &s->ds, &diags) < 0)
		describe_diags(s->error, commit, &diags);
	treefiles_free(&files);
	diag_list_free(&diags);
	return s;
}

/* The cached state while HEAD is the same clean commit; a dirty tree is read every time,
 * because its files are not what HEAD names. */
static struct infra_snapshot *snapshot_for(struct node_observer *obs, const char *commit, bool clean)
{
	struct infra_snapshot *s = obs->infra;
	if (s && s->clean && clean && strcmp(s->commit, commit) == 0)
		return snapshot_get(s);
	s = snapshot_load(obs, commit, clean);
	if (!s)
		return NULL;
	snapshot_put(obs->infra);
	obs->infra = s;
	return snapshot_get(s);
}

/* 0, or -1 when out of memory. */
static int observe_infra(struct node_observer *obs, const char *tag, struct observation *o)
{
	struct pull_state st;
	struct cf_err err;
	struct probe_inputs *in = &o->in;
	const char *why = NULL;

	if (pull_observe(obs->infra_path, tag, &st, &err) < 0) {
		why = errorf(o->infra_error, "%s", err.msg);
	} else if (!st.repo) {
		why = errorf(o->infra_error,
			     "infra tree not checked out yet: %s holds no repository",
			     obs->infra_path);
	} else if (!st.head[0]) {
		why = errorf(o->infra_error, "infra tree %s has no commit checked out",
			     obs->infra_path);
	} else if (st.interrupted) {
		why = errorf(o->infra_error,
			     "a checkout of the infra tree %s was cut short; the agent's next pull "
			     "finishes it",
			     obs->infra_path);
	}
	if (st.repo && st.head[0]) {
		snprintf(o->infra_commit, sizeof(o->infra_commit), "%s", st.head);
		in->infra.commit = o->infra_commit;
	}
	if (st.repo && st.tag[0]) {
		snprintf(o->infra_tag, sizeof(o->infra_tag), "%s", st.tag);
		in->infra.tag = o->infra_tag;
	}
	if (why) {
		in->infra.error = why;
		in->lock_error = errorf(o->lock_error, "%s", why);
		return 0;
	}
	in->infra.dirty = st.dirty;
	o->snap = snapshot_for(obs, st.head, !st.dirty);
	if (!o->snap)
		return -1;
	if (!o->snap->ds) {
		in->lock_error = errorf(o->lock_error, "%s", o->snap->error);
		return 0;
	}
	in->lock = &o->snap->ds->lock;
	if (!in->lock->present)
		in->lock_error = errorf(o->lock_error, "openclaw.lock missing in the infra tree");
	return 0;
}

static const char *lock_semver(const struct observation *o)
{
	return o->in.lock && o->in.lock->present ? o->in.lock->skills_semver : NULL;
}

/* ---- commands: the CLI's version, doctor, the service manager ---- */

static void observe_cli(const struct node_observer *obs, struct observation *o)
{
	char *argv[] = {obs->openclaw, "--version", NULL};
	struct proc_spec spec = {.argv = argv,
				 .timeout_ms = VERSION_TIMEOUT_MS,
				 .output_max = LOCKCHECK_OUTPUT_MAX};
	struct proc_result res;
	struct cf_err err;

	if (proc_run(&spec, &res, &err) < 0 || proc_check(&spec, &res, &err) < 0)
		o->in.cli_error = errorf(o->cli_error, "%s", err.msg);
	else if (res.out_truncated)
		o->in.cli_error = errorf(o->cli_error, "`%s --version` printed more than %d bytes",
					 obs->openclaw, LOCKCHECK_OUTPUT_MAX);
	else if (lockcheck_parse_version(res.out, res.out_len, &o->cli, &err) < 0)
		o->in.cli_error = errorf(o->cli_error, "%s", err.msg);
	else
		o->in.cli = &o->cli;
	proc_result_free(&res);
}

struct doctor_job {
	const struct node_observer *obs;
	struct probe_doctor *runs;
	size_t n;
	atomic_size_t next;
};

static void doctor_run(const struct node_observer *obs, struct probe_doctor *d)
{
	/* Profiles are DNS labels (the TenantSlice schema checks them), so this always fits. */
	char profile[sizeof("OPENCLAW_PROFILE=") + DESIRED_NAME_MAX];
	char *env[] = {profile, NULL};
	char *argv[] = {obs->openclaw, "doctor", "--json", "--non-interactive",
			obs->cfg->doctor_deep ? "--deep" : NULL, NULL};
	struct proc_spec spec = {.argv = argv,
				 .env = d->profile ? env : NULL,
				 .timeout_ms = (int)obs->cfg->doctor_timeout_ms,
				 .output_max = DOCTOR_OUTPUT_MAX};
	struct proc_result res;

	if (d->profile)
		snprintf(profile, sizeof(profile), "OPENCLAW_PROFILE=%s", d->profile);
	/* A CLI that cannot start still fills res (exit 127), which doctor_judge explains. */
	proc_run(&spec, &res, NULL);
	doctor_judge(&res, spec.timeout_ms, &d->result);
	proc_result_free(&res);
}

static void *doctor_worker(void *arg)
{
	struct doctor_job *job = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&job->next, 1);
		if (i >= job->n)
			return NULL;
		doctor_run(job->obs, &job->runs[i]);
	}
}

/* The node's own run first, then one per tenant that names a profile. -1: out of memory. */
static int doctor_prepare(const struct observation *o, struct probe_doctor **out, size_t *n)
{
	const struct desired_state *ds = o->snap ? o->snap->ds : NULL;
	size_t count = 1;
	for (size_t i = 0; ds && i < ds->ntenants; i++)
		count += ds->tenants[i].profile != NULL;
	struct probe_doctor *runs = calloc(count, sizeof(*runs));
	if (!runs)
		return -1;
	*n = 1;
	for (size_t i = 0; ds && i < ds->ntenants; i++) {
		const struct tenant_slice *t = &ds->tenants[i];
		if (!t->profile)
			continue;
		runs[*n].tenant = t->name;
		runs[*n].profile = t->profile;
		runs[*n].maintenance_until = t->maintenance_until;
		(*n)++;
	}
	*out = runs;
	return 0;
}

/* Starts up to DOCTOR_THREADS_MAX workers; the caller's thread joins in later, so a failed
 * pthread_create only costs parallelism. */
static size_t doctor_start(struct doctor_job *job, pthread_t *threads)
{
	size_t want = job->n < DOCTOR_THREADS_MAX ? job->n : DOCTOR_THREADS_MAX, started = 0;
	while (started < want && pthread_create(&threads[started], NULL, doctor_worker, job) == 0)
		started++;
	return started;
}

/* A start is a pid that differs from the last one seen, or a running service that was stopped;
 * the first answer only sets the scene. A start the agent announced is not counted. */
static void note_status(struct node_observer *obs, const struct service_status *st, int64_t now)
{
	bool started = obs->status_seen && st->running &&
		       (!obs->last_running || (st->pid > 0 && st->pid != obs->last_pid));
	int64_t grace = KICKSTART_GRACE_PERIODS * obs->cfg->refresh_ms;
	if (grace < KICKSTART_GRACE_MIN_MS)
		grace = KICKSTART_GRACE_MIN_MS;

	pthread_mutex_lock(&obs->lock);
	if (obs->kickstart_notes > 0 && now - obs->kickstart_note_ms > grace)
		obs->kickstart_notes = 0;
	if (started && obs->kickstart_notes > 0) {
		obs->kickstart_notes--;
	} else if (started) {
		if (obs->nrestarts == RESTARTS_MAX) {
			memmove(obs->restarts, obs->restarts + 1,
				(RESTARTS_MAX - 1) * sizeof(obs->restarts[0]));
			obs->nrestarts--;
		}
		obs->restarts[obs->nrestarts++] = now;
	}
	pthread_mutex_unlock(&obs->lock);
	obs->status_seen = true;
	obs->last_running = st->running;
	obs->last_pid = st->pid;
}

static int restarts_within_window(const struct node_observer *obs, int64_t now)
{
	int n = 0;
	for (size_t i = 0; i < obs->nrestarts; i++)
		n += now - obs->restarts[i] <= RESTART_WINDOW_MS;
	return n;
}

static void observe_service(struct node_observer *obs, struct observation *o)
{
	struct service_status st;
	struct cf_err err = {{0}};
	int64_t now = clock_ms(CLOCK_MONOTONIC);

	if (service_status(&obs->svc, &st, &err) < 0) {
		o->in.service.error =
			errorf(o->service_error, "%s", st.error[0] ? st.error : err.msg);
	} else {
		o->in.service.running = st.running;
		o->in.service.has_last_exit = st.has_last_exit;
		o->in.service.last_exit = st.last_exit;
		note_status(obs, &st, now);
	}
	o->in.service.restarts_5m = restarts_within_window(obs, now);
}

/* ---- files: skills links, disk ---- */

static const char *link_problem(char buf[ERROR_MAX], const char *root, enum skills_link l,
				const struct skills_link_state *ls)
{
	const char *name = skills_link_name(l);
	switch (ls->status) {
	case SKILLS_LINK_OK:
		return NULL;
	case SKILLS_LINK_ABSENT:
		return errorf(buf, "%s/%s does not exist", root, name);
	case SKILLS_LINK_MISSING:
		return errorf(buf, "%s/%s -> %s, which does not exist", root, name, ls->target);
	case SKILLS_LINK_INCOMPLETE:
		return errorf(buf,
			      "%s/%s -> %s, an incomplete pack (no %s; an install was cut short)",
			      root, name, ls->target, SKILLS_MARKER);
	case SKILLS_LINK_FOREIGN:
		return errorf(buf, "%s/%s does not name a <semver> directory of the skills root",
			      root, name);
	case SKILLS_LINK_NOT_LINK:
		break;
	}
	return errorf(buf, "%s/%s is not a symbolic link", root, name);
}

static void observe_skills(const struct node_observer *obs, struct observation *o)
{
	struct skills_state st;
	struct cf_err err;
	const char *why;

	if (skills_observe(obs->skills_root, lock_semver(o), &st, &err) < 0) {
		o->in.skills.current_error = errorf(o->current_error, "%s", err.msg);
		o->in.skills.next_error = errorf(o->next_error, "%s", err.msg);
		return;
	}
	why = link_problem(o->current_error, obs->skills_root, SKILLS_CURRENT,
			   &st.links[SKILLS_CURRENT]);
	if (why) {
		o->in.skills.current_error = why;
	} else {
		snprintf(o->skills_current, sizeof(o->skills_current), "%s",
			 st.links[SKILLS_CURRENT].target);
		o->in.skills.current = o->skills_current;
	}
	/* next exists only while a canary runs: its absence is no problem. */
	if (st.links[SKILLS_NEXT].status == SKILLS_LINK_ABSENT)
		return;
	why = link_problem(o->next_error, obs->skills_root, SKILLS_NEXT, &st.links[SKILLS_NEXT]);
	if (why) {
		o->in.skills.next_error = why;
	} else {
		snprintf(o->skills_next, sizeof(o->skills_next), "%s",
			 st.links[SKILLS_NEXT].target);
		o->in.skills.next = o->skills_next;
	}
}

/* The data volume is the state directory's; before the agent has made it, the root's. */
static void observe_disk(const struct node_observer *obs, struct observation *o)
{
	struct statvfs vfs;
	const char *path = obs->state_dir;

	if (statvfs(path, &vfs) < 0) {
		path = obs->cfg->root && *obs->cfg->root ? obs->cfg->root : "/";
		if (statvfs(path, &vfs) < 0) {
			o->in.disk.error = errorf(o->disk_error, "statvfs %s: %s", path,
						  strerror(errno));
			return;
		}
	}
	if (vfs.f_blocks == 0) {
		o->in.disk.error = errorf(o->disk_error, "%s: the filesystem reports no blocks",
					  path);
		return;
	}
	o->in.disk.free_percent = (double)vfs.f_bavail * 100.0 / (double)vfs.f_blocks;
}

/* ---- HTTP: the gateway, the queue and the digest ---- */

struct http_reply {
	char *body;
	size_t len, max;
	bool over;
	long status;
};

static size_t reply_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_reply *r = userdata;
	size_t n = size * nmemb;
	if (n > r->max - r->len) {
		r->over = true;
		return 0;
	}
	char *grown = realloc(r->body, r->len + n + 1);
	if (!grown)
		return 0;
	memcpy(grown + r->len, data, n);
	r->body = grown;
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

struct http_limits {
	long connect_ms, total_ms;
	size_t body_max;
	bool direct; /* loopback: never through a proxy the environment names */
};

/* GET url into r; 0 when an answer came (any status), else -1 with why. */
static int http_get(CURL *curl, const char *url, const struct http_limits *lim,
		    struct http_reply *r, char why[ERROR_MAX])
{
	char curl_err[CURL_ERROR_SIZE] = "";

	memset(r, 0, sizeof(*r));
	r->max = lim->body_max;
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, lim->connect_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, lim->total_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "clawfleet-agent");
	if (lim->direct)
		curl_easy_setopt(curl, CURLOPT_PROXY, "");
	CURLcode rc = curl_easy_perform(curl);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
	if (r->over) {
		errorf(why, "GET %s: the answer is over %zu bytes", url, lim->body_max);
		return -1;
	}
	if (rc != CURLE_OK) {
		errorf(why, "GET %s: %s", url, curl_err[0] ? curl_err : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	return 0;
}

/* One JSON object filling the whole body, or NULL. */
static struct json_object *parse_object(const char *body, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(FEED_JSON_DEPTH);
	struct json_object *v = NULL;

	if (!tok || !body || len > INT32_MAX)
		goto done;
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	v = json_tokener_parse_ex(tok, body, (int)len);
	if (v && (json_tokener_get_error(tok) != json_tokener_success ||
		  strspn(body + json_tokener_get_parse_end(tok), " \t\r\n") !=
			  len - json_tokener_get_parse_end(tok) ||
		  !json_object_is_type(v, json_type_object))) {
		json_object_put(v);
		v = NULL;
	}
done:
	json_tokener_free(tok);
	return v;
}

/* The start of a body that was not what we asked for, printable in a message. */
static const char *excerpt(char *buf, size_t size, const struct http_reply *r)
{
	if (!r->len)
		return "an empty body";
	size_t taken = doctor_escape_text(buf + 1, size - 5, r->body, r->len, EXCERPT_CHARS);
	buf[0] = '"';
	strcat(buf, taken < r->len ? "...\"" : "\"");
	return buf;
}

static const struct http_limits gateway_limits = {GATEWAY_TIMEOUT_MS, GATEWAY_TIMEOUT_MS,
						  GATEWAY_BODY_MAX, true};

/* GETs a gateway endpoint, judged by its JSON body's boolean key: 0 with *value, or -1 with
 * why. A 503 {"ready":false} is an answer; a page that is not that JSON is not. */
static int gateway_flag(struct node_observer *obs, const char *path, const char *key, bool *value,
			char why[ERROR_MAX])
{
	char url[64], text[EXCERPT_CHARS * 4 + 8];
	struct http_reply r;
	struct json_object *doc = NULL, *v;
	int rc = -1;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", (int)obs->cfg->gateway_port, path);
	if (http_get(obs->curl, url, &gateway_limits, &r, why) < 0)
		goto done;
	doc = parse_object(r.body, r.len);
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
	free(r.body);
	return rc;
}

static void observe_gateway(struct node_observer *obs, struct observation *o)
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
	static const struct http_limits limits = {FEED_CONNECT_MS, FEED_TIMEOUT_MS, FEED_BODY_MAX,
						  false};
	char text[EXCERPT_CHARS * 4 + 8];
	struct http_reply r;
	int rc = -1;

	*doc = NULL;
	if (http_get(obs->curl, url, &limits, &r, why) < 0)
		goto done;
	if (r.status != 200) {
		errorf(why, "GET %s answered HTTP %ld", url, r.status);
		goto done;
	}
	*doc = parse_object(r.body, r.len);
	if (!*doc) {
		errorf(why, "GET %s answered %s, not a JSON object", url,
		       excerpt(text, sizeof(text), &r));
		goto done;
	}
	rc = 0;
done:
	free(r.body);
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

static void observe_queue(struct node_observer *obs, struct observation *o)
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

static void observe_digest(struct node_observer *obs, struct observation *o)
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
	}
	json_object_put(doc);
}

/* ---- TCP and latency ---- */

static void observe_tcp(const struct node_observer *obs, struct observation *o)
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_port = htons((uint16_t)obs->cfg->gateway_port)};
	int64_t start = clock_ms(CLOCK_MONOTONIC), deadline = start + PROBE_TCP_LIMIT_MS;
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0) {
		o->in.tcp.error = errorf(o->tcp_error, "socket: %s", strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		soerr = errno;
		while (soerr == EINPROGRESS) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int64_t left = deadline - clock_ms(CLOCK_MONOTONIC);
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
	o->in.tcp.ms = clock_ms(CLOCK_MONOTONIC) - start;
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
static void observe_latency(struct node_observer *obs, struct observation *o, unsigned kickstarts)
{
	char why[ERROR_MAX];
	struct sample batch[SYNTHETIC_CHECKS];
	struct latency lat;
	size_t n = 0;

	while (o->in.gateway.ready && n < SYNTHETIC_CHECKS) {
		bool ok = false;
		double start = mono_ms_precise();
		int rc = gateway_flag(obs, "/healthz", "ok", &ok, why);
		batch[n++] = (struct sample){clock_ms(CLOCK_MONOTONIC), mono_ms_precise() - start,
					     rc == 0 && ok};
	}
	pthread_mutex_lock(&obs->lock);
	for (size_t i = 0; i < n && obs->kickstarts == kickstarts; i++)
		samples_add(obs, &batch[i]);
	samples_prune(obs, clock_ms(CLOCK_MONOTONIC));
	latency_summary(obs, &lat);
	o->in.latency.baseline_p95_ms = obs->baseline_p95_ms;
	pthread_mutex_unlock(&obs->lock);
	o->in.latency.samples = lat.samples;
	o->in.latency.p95_ms = lat.p95_ms;
	o->in.latency.synthetic_failure_percent = lat.failure_percent;
}

/* ---- the baseline file ---- */

static void baseline_load(struct node_observer *obs)
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
	json_object_put(doc);
	free(text);
}

/* Callers hold obs->lock. */
static void baseline_save(const struct node_observer *obs)
{
	char text[128];
	struct cf_err err;
	int n = snprintf(text, sizeof(text), "{\"p95Ms\":%.3f,\"recordedAtMs\":%lld}\n",
			 obs->baseline_p95_ms, (long long)clock_ms(CLOCK_REALTIME));

	if (fsutil_mkdir_p(obs->state_dir, 0755, &err) < 0 ||
	    fsutil_write_atomic(obs->baseline_path, text, (size_t)n, 0644, &err) < 0)
		log_warn("latency baseline %.1f ms not saved: %s", obs->baseline_p95_ms, err.msg);
}

void node_observer_note_kickstart(struct node_observer *obs)
{
	struct latency lat;
	int64_t now = clock_ms(CLOCK_MONOTONIC);

	pthread_mutex_lock(&obs->lock);
	samples_prune(obs, now);
	latency_summary(obs, &lat);
	if (lat.samples >= BASELINE_MIN_SAMPLES) {
		obs->baseline_p95_ms = lat.p95_ms;
		baseline_save(obs);
	}
	obs->nsamples = 0;
	if (obs->kickstart_notes < KICKSTART_NOTES_MAX)
		obs->kickstart_notes++;
	obs->kickstart_note_ms = now;
	obs->kickstarts++;
	pthread_mutex_unlock(&obs->lock);
}

/* ---- the node_observer and its observations ---- */

int node_observer_new(struct node_observer **out, const struct agent_config *cfg, struct cf_err *err)
{
	struct node_observer *obs = calloc(1, sizeof(*obs));

	*out = NULL;
	if (!obs)
		return cf_err_set(err, "out of memory");
	obs->cfg = cfg;
	pthread_mutex_init(&obs->lock, NULL);
	obs->infra_path = agentcfg_path(cfg, cfg->infra_path);
	obs->skills_root = agentcfg_path(cfg, cfg->skills);
	obs->state_dir = agentcfg_path(cfg, cfg->state);
	if (asprintf(&obs->baseline_path, "%s%s", obs->state_dir, BASELINE_FILE) < 0) {
		obs->baseline_path = NULL;
		cf_err_set(err, "out of memory");
		goto fail;
	}
	obs->openclaw = agentcfg_path(cfg, cfg->openclaw);
	obs->launchctl = cfg->service_launchctl ? agentcfg_path(cfg, cfg->service_launchctl) : NULL;
	obs->systemctl = cfg->service_systemctl ? agentcfg_path(cfg, cfg->service_systemctl) : NULL;
	obs->svc = (struct service_config){.manager = cfg->service_manager,
					   .label = cfg->service_label,
					   .launchctl = obs->launchctl,
					   .systemctl = obs->systemctl,
					   .openclaw = obs->openclaw,
					   .restart_argv = cfg->service_restart,
					   .status_argv = cfg->service_status,
					   .timeout_ms = SERVICE_STATUS_TIMEOUT_MS};
	if (schema_set_load_embedded(&obs->schemas, err) < 0) {
		cf_err_prefix(err, "loading the compiled CRDs");
		goto fail;
	}
	obs->curl = curl_easy_init();
	if (!obs->curl) {
		cf_err_set(err, "libcurl could not make a handle (was curl_global_init called?)");
		goto fail;
	}
	/* Held for the node_observer's life, so each pull_observe does not start libgit2 afresh. */
	gitsource_global_init();
	obs->git_ready = true;
	baseline_load(obs);
	*out = obs;
	return 0;
fail:
	node_observer_free(obs);
	return -1;
}

void node_observer_free(struct node_observer *obs)
{
	if (!obs)
		return;
	if (obs->git_ready)
		gitsource_global_shutdown();
	if (obs->curl)
		curl_easy_cleanup(obs->curl);
	snapshot_put(obs->infra);
	schema_set_free(obs->schemas);
	free(obs->infra_path);
	free(obs->skills_root);
	free(obs->state_dir);
	free(obs->baseline_path);
	free(obs->openclaw);
	free(obs->launchctl);
	free(obs->systemctl);
	pthread_mutex_destroy(&obs->lock);
	free(obs);
}

int node_observe_run(struct node_observer *obs, int64_t applied_generation, const char *tag,
		struct observation **out, struct cf_err *err)
{
	struct observation *o = calloc(1, sizeof(*o));
	struct doctor_job job = {.obs = obs};
	pthread_t threads[DOCTOR_THREADS_MAX];
	size_t started;
	unsigned kickstarts;

	*out = NULL;
	pthread_mutex_lock(&obs->lock);
	kickstarts = obs->kickstarts;
	pthread_mutex_unlock(&obs->lock);
	if (!o || !(o->node = strdup(obs->cfg->node)))
		goto oom;
	o->in.node = o->node;
	o->in.observed_generation = applied_generation;
	o->in.refresh_ms = obs->cfg->refresh_ms;
	if (observe_infra(obs, tag, o) < 0 || doctor_prepare(o, &o->doctor, &job.n) < 0)
		goto oom;
	job.runs = o->doctor;
	atomic_init(&job.next, 0);
	/* Doctor is the slow source: it runs while this thread reads the others. */
	started = doctor_start(&job, threads);
	observe_cli(obs, o);
	observe_skills(obs, o);
	if (obs->cfg->queue)
		observe_queue(obs, o);
	if (obs->cfg->digest)
		observe_digest(obs, o);
	observe_disk(obs, o);
	observe_service(obs, o);
	observe_gateway(obs, o);
	observe_tcp(obs, o);
	observe_latency(obs, o, kickstarts);
	doctor_worker(&job);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	o->in.doctor = o->doctor;
	o->in.ndoctor = job.n;
	o->in.checked_at_ms = clock_ms(CLOCK_REALTIME);
	*out = o;
	return 0;
oom:
	observation_free(o);
	return cf_err_set(err, "out of memory gathering the probe's inputs");
}

void observation_set_generation(struct observation *o, int64_t generation)
{
	o->in.observed_generation = generation;
}

void observation_set_judge_next(struct observation *o, bool judge_next)
{
	o->in.skills.judge_next = judge_next;
}

const struct probe_inputs *observation_inputs(struct observation *o, int64_t now_ms)
{
	o->in.now_ms = now_ms;
	return &o->in;
}

void observation_free(struct observation *o)
{
	if (!o)
		return;
	json_object_put(o->digest_top);
	snapshot_put(o->snap);
	free(o->doctor);
	free(o->node);
	free(o);
}
