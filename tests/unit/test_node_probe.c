#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "base/canon.h"
#include "base/jsonparse.h"
#include "observe/node_probe.h"

#define CHECKED_AT 1785585600123LL /* 2026-08-01T12:00:00.123Z */
#define NOW (CHECKED_AT + 1000)

static char lock_version[] = "2026.7.1";
static char lock_commit[] = "3f9c2ab41d07e5c2b1a9f0e8d7c6b5a493827160";
static char lock_semver[] = "1.4.2";

/* One healthy canary gateway: everything the observation step gathers, all green. */
struct fixture {
	struct openclaw_lock lock;
	struct openclaw_version cli;
	struct probe_doctor doctor[48];
	struct probe_inputs in;
	struct json_object *top;
	struct probe_result res;
};

static void set_doctor(struct doctor_result *r, enum doctor_verdict v)
{
	memset(r, 0, sizeof(*r));
	r->outcome = DOCTOR_JUDGED;
	r->verdict = v;
	r->ok = v != DOCTOR_RED;
	if (v == DOCTOR_GREEN)
		return;
	r->has_first_bad = true;
	strcpy(r->first_bad.check_id, v == DOCTOR_RED ? "skills.semver" : "gateway.latency");
	strcpy(r->first_bad.severity, v == DOCTOR_RED ? "error" : "warning");
	strcpy(r->first_bad.message, v == DOCTOR_RED ? "skill pack 1.4.3 does not match 1.4.2"
						     : "p95 above target");
	if (v == DOCTOR_RED) {
		strcpy(r->first_bad.path, "/var/db/openclaw/skills/current/openclaw.lock");
		r->first_bad.line = 3;
		r->first_bad.column = 12;
	}
}

static void set_failed(struct doctor_result *r, enum doctor_outcome outcome, const char *reason)
{
	memset(r, 0, sizeof(*r));
	r->outcome = outcome;
	r->verdict = DOCTOR_RED;
	strcpy(r->reason, reason);
}

/* text as JSON, through the one reader; the test fails when it is not. */
static struct json_object *json_of(const char *text)
{
	struct json_object *v = NULL;
	struct cf_err err;
	if (jsonparse_value(text, strlen(text), JSONPARSE_DEPTH, &v, &err) < 0)
		fail_msg("%s: %s", err.msg, text);
	return v;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct probe_inputs *in = &f->in;

	assert_non_null(f);
	f->lock.present = true;
	f->lock.version = lock_version;
	f->lock.commit = lock_commit;
	f->lock.skills_semver = lock_semver;
	memset(f->lock.file_sha256, 'a', 64);
	strcpy(f->cli.version, "2026.7.1");
	strcpy(f->cli.commit, "3f9c2ab");
	f->doctor[0].tenant = "acme";
	f->doctor[0].profile = "acme";
	set_doctor(&f->doctor[0].result, DOCTOR_GREEN);
	f->doctor[1].tenant = "globex";
	set_doctor(&f->doctor[1].result, DOCTOR_GREEN);
	f->top = json_of("[{\"family\":\"5xx\",\"count\":4,\"target\":\"hooks.example\"}]");
	assert_non_null(f->top);

	in->node = "canary-gw";
	in->observed_generation = 7;
	in->refresh_ms = 30000;
	in->checked_at_ms = CHECKED_AT;
	in->now_ms = NOW;
	in->checked_age_ms = NOW - CHECKED_AT;
	in->infra.tag = "oc-2026.7.1";
	in->infra.commit = "0123456789abcdef0123456789abcdef01234567";
	in->lock = &f->lock;
	in->cli = &f->cli;
	in->skills.current = "1.4.2";
	in->skills.next = "1.4.3";
	in->doctor = f->doctor;
	in->ndoctor = 2;
	in->queue.configured = true;
	in->queue.depth = 3;
	in->queue.limit = 100;
	in->digest.configured = true;
	in->digest.age_sec = 30;
	in->digest.total = 4;
	in->digest.top = f->top;
	in->disk.free_percent = 55.5;
	in->service.running = true;
	in->service.has_last_exit = true;
	in->service.last_exit = 0;
	in->service.restarts_5m = 1;
	in->gateway.healthz_ok = true;
	in->gateway.ready = true;
	in->tcp.ok = true;
	in->tcp.ms = 2;
	in->latency.samples = 20;
	in->latency.p95_ms = 120;
	in->latency.baseline_p95_ms = 100;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	json_object_put(f->top);
	free(f);
	return 0;
}

static const char *codes(const struct probe_result *res)
{
	static char buf[1024];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < res->nreasons && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "",
				      res->reasons[i].code);
	return buf;
}

static void expect(struct fixture *f, enum probe_status status, const char *want_codes)
{
	probe_merge(&f->in, &f->res);
	assert_string_equal(codes(&f->res), want_codes);
	assert_int_equal(f->res.status, status);
}

/* The /readyz document, parsed back as a strict, UTF-8-validating peer would. */
static struct json_object *render(struct fixture *f, int *http_status)
{
	struct cf_err err = { { 0 } };
	char *json = NULL;
	size_t len = 0;

	probe_merge(&f->in, &f->res);
	assert_int_equal(probe_render_json(&f->in, &f->res, &json, &len, http_status, &err), 0);
	assert_int_equal(len, strlen(json));
	struct json_object *doc = NULL;
	if (jsonparse_object(json, len, JSONPARSE_DEPTH, &doc, &err) < 0)
		fail_msg("%s: %s", err.msg, json);
	free(json);
	return doc;
}

static struct json_object *at(struct json_object *o, const char *path)
{
	char key[64];
	const char *p = path;

	while (*p) {
		size_t n = strcspn(p, ".");
		struct json_object *v = NULL;
		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		if (!json_object_object_get_ex(o, key, &v))
			fail_msg("no %s in the document", path);
		o = v;
		p += n + (p[n] == '.');
	}
	return o;
}

static void expect_str(struct json_object *doc, const char *path, const char *want)
{
	struct json_object *v = at(doc, path);
	if (!json_object_is_type(v, json_type_string))
		fail_msg("%s is not a string", path);
	assert_string_equal(json_object_get_string(v), want);
}

static void expect_type(struct json_object *doc, const char *path, enum json_type type)
{
	enum json_type got = json_object_get_type(at(doc, path));

	if (got != type)
		fail_msg("%s is a %s, not a %s", path, json_type_to_name(got),
			 json_type_to_name(type));
}

static const char *sha_of(struct fixture *f)
{
	static char sha[2][65];
	static int which;
	int status;
	struct json_object *doc = render(f, &status);

	which ^= 1;
	snprintf(sha[which], sizeof(sha[which]), "%s",
		 json_object_get_string(at(doc, "probeSha256")));
	json_object_put(doc);
	return sha[which];
}

static void test_all_green(void **state)
{
	struct fixture *f = *state;

	expect(f, PROBE_GREEN, "");
	assert_true(f->res.version_match);
	assert_true(f->res.skills_match);
	assert_int_equal(f->res.doctor_verdict, DOCTOR_GREEN);
	assert_int_equal(f->res.doctor_first_bad, f->in.ndoctor);
}

/* Each red trigger alone, on an otherwise green node: red, and exactly that reason. */
struct rule_case {
	const char *name;
	void (*apply)(struct fixture *f);
	const char *code;
};

static void semver_differs(struct fixture *f)
{
	f->in.skills.current = "1.4.3";
}

/* Shadow: next carries the lock's semver while current still serves the stable tenants. */
static void shadow_next_differs(struct fixture *f)
{
	f->in.skills.judge_next = true;
	f->in.skills.current = "1.4.1";
	f->in.skills.next = "1.4.3";
}

static void shadow_next_missing(struct fixture *f)
{
	f->in.skills.judge_next = true;
	f->in.skills.next = NULL;
}

static void current_missing(struct fixture *f)
{
	f->in.skills.current = NULL;
	f->in.skills.current_error = "skills/current points at 1.4.9, which does not exist";
}

/* A pack the runbooks put in place that is not what openclaw.lock's skills.sha256 says. */
static void digest_differs(struct fixture *f)
{
	f->in.skills.digest_error = "skill pack /var/db/openclaw/skills/1.4.2: sha256 "
				    "9c15582087b12a24848b96530ae83a66c558a34c048e0a3c791b93060860ec30"
				    " on disk, openclaw.lock says "
				    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
}

static void version_differs(struct fixture *f)
{
	strcpy(f->cli.version, "2026.7.0");
}

static void commit_differs(struct fixture *f)
{
	strcpy(f->cli.commit, "9e8d7c6");
}

static void lock_unreadable(struct fixture *f)
{
	f->in.lock = NULL;
	f->in.lock_error = "openclaw.lock: no such file";
}

static void cli_unknown(struct fixture *f)
{
	f->in.cli = NULL;
	f->in.cli_error = "openclaw: not found at /usr/local/bin/openclaw";
}

static void infra_unreadable(struct fixture *f)
{
	f->in.infra.error = "not a git repository";
}

static void infra_dirty(struct fixture *f)
{
	f->in.infra.dirty = true;
}

static void doctor_red(struct fixture *f)
{
	set_doctor(&f->doctor[1].result, DOCTOR_RED);
}

static void doctor_hung(struct fixture *f)
{
	set_failed(&f->doctor[0].result, DOCTOR_TIMED_OUT, "doctor did not answer within 20s");
}

static void doctor_missing(struct fixture *f)
{
	set_failed(&f->doctor[0].result, DOCTOR_CLI_MISSING, "openclaw CLI not found");
}

static void doctor_garbage(struct fixture *f)
{
	set_failed(&f->doctor[0].result, DOCTOR_NOT_JSON, "doctor printed non-JSON output");
}

static void doctor_not_run(struct fixture *f)
{
	memset(&f->doctor[1].result, 0, sizeof(f->doctor[1].result));
}

static void no_doctor(struct fixture *f)
{
	f->in.ndoctor = 0;
}

static void not_running(struct fixture *f)
{
	f->in.service.running = false;
	f->in.service.last_exit = 1;
}

static void not_ready(struct fixture *f)
{
	f->in.gateway.ready = false;
}

static void not_live(struct fixture *f)
{
	f->in.gateway.healthz_ok = false;
}

static void gateway_silent(struct fixture *f)
{
	f->in.gateway.error = "connection refused";
}

static void crash_loop(struct fixture *f)
{
	f->in.service.restarts_5m = 3;
}

static void crash_loop_by_signal(struct fixture *f)
{
	f->in.service.restarts_5m = 3;
	f->in.service.has_last_exit = true;
	f->in.service.last_exit = 128 + 9;
	f->in.service.last_signal = 9;
}

static void tcp_refused(struct fixture *f)
{
	f->in.tcp.ok = false;
	f->in.tcp.error = "connect 127.0.0.1:18789: connection refused";
}

static void tcp_slow(struct fixture *f)
{
	f->in.tcp.ms = 2001;
}

static void disk_low(struct fixture *f)
{
	f->in.disk.free_percent = 9.9;
}

static void synthetic_failing(struct fixture *f)
{
	f->in.latency.synthetic_failure_percent = 5.1;
}

/* The floor still catches a real regression from a tiny baseline. */
static void p95_over_floor(struct fixture *f)
{
	f->in.latency.baseline_p95_ms = 0.3;
	f->in.latency.p95_ms = 260.0;
}

static void p95_high(struct fixture *f)
{
	f->in.latency.p95_ms = 500.5;
}

static const struct rule_case red_cases[] = {
	{"skill semver differs from the lock", semver_differs, "skills.semver_mismatch"},
	{"shadow: skills/next differs from the lock", shadow_next_differs, "skills.semver_mismatch"},
	{"shadow: skills/next missing", shadow_next_missing, "skills.next_missing"},
	{"skills/current missing", current_missing, "skills.current_missing"},
	{"skill pack digest differs from the lock", digest_differs, "skills.digest"},
	{"openclaw --version differs", version_differs, "lock.version_mismatch"},
	{"openclaw commit differs", commit_differs, "lock.version_mismatch"},
	{"lock unreadable", lock_unreadable, "lock.unreadable"},
	{"CLI version unknown", cli_unknown, "cli.version_unknown"},
	{"infra unreadable", infra_unreadable, "infra.unreadable"},
	{"infra dirty", infra_dirty, "infra.dirty"},
	{"doctor red", doctor_red, "doctor.red"},
	{"doctor hung", doctor_hung, "doctor.timeout"},
	{"doctor CLI missing", doctor_missing, "doctor.unavailable"},
	{"doctor garbage", doctor_garbage, "doctor.not_json"},
	{"doctor not run yet", doctor_not_run, "doctor.pending"},
	{"no doctor run at all", no_doctor, "doctor.pending"},
	{"gateway not running", not_running, "gateway.not_running"},
	{"gateway /readyz not ready", not_ready, "gateway.not_ready"},
	{"gateway /healthz not ok", not_live, "gateway.not_ready"},
	{"gateway unreachable", gateway_silent, "gateway.not_ready"},
	{"3 restarts in 5 minutes", crash_loop, "service.crash_loop"},
	{"3 restarts in 5 minutes, the last killed by signal 9", crash_loop_by_signal,
	 "service.crash_loop"},
	{"TCP connect refused", tcp_refused, "tcp.connect_failed"},
	{"TCP connect over 2 s", tcp_slow, "tcp.connect_failed"},
	{"disk under 10 %", disk_low, "disk.low"},
	{"synthetic failures over 5 %", synthetic_failing, "synthetic.failures"},
};

static void doctor_yellow(struct fixture *f)
{
	set_doctor(&f->doctor[0].result, DOCTOR_YELLOW);
}

static void digest_stale(struct fixture *f)
{
	f->in.digest.age_sec = 901;
}

static void digest_stale_custom(struct fixture *f)
{
	f->in.digest.stale_after_sec = 20;
	f->in.digest.age_sec = 21;
}

static void digest_ancient(struct fixture *f)
{
	f->in.digest.age_sec = INT64_MAX;
}

static void digest_down(struct fixture *f)
{
	f->in.digest.error = "connection refused";
}

static void queue_down(struct fixture *f)
{
	f->in.queue.error = "HTTP 500";
}

static void queue_over(struct fixture *f)
{
	f->in.queue.depth = 101;
}

static void disk_unknown(struct fixture *f)
{
	f->in.disk.error = "statvfs: permission denied";
}

static void service_unknown(struct fixture *f)
{
	f->in.service.error = "launchctl timed out";
}

static void cache_old(struct fixture *f)
{
	f->in.checked_age_ms = 3 * 30000 + 1;
}

/* The wall clock stepped an hour forward since the observation: it is still 1s old. */
static void wall_clock_stepped(struct fixture *f)
{
	f->in.now_ms += 3600000;
}

static void never_observed(struct fixture *f)
{
	f->in.checked_at_ms = 0;
}

static const struct rule_case degraded_cases[] = {
	{"doctor yellow", doctor_yellow, "doctor.yellow"},
	{"digest older than 15 minutes", digest_stale, "digest.stale"},
	{"digest older than its configured limit", digest_stale_custom, "digest.stale"},
	{"digest age beyond any clock", digest_ancient, "digest.stale"},
	{"digest configured but unreadable", digest_down, "digest.unavailable"},
	{"queue configured but unreadable", queue_down, "queue.unavailable"},
	{"queue over its limit", queue_over, "queue.over_limit"},
	{"disk unknown", disk_unknown, "disk.unknown"},
	{"service manager silent", service_unknown, "service.unknown"},
	{"cache older than three refresh periods", cache_old, "probe.stale"},
	{"no observation yet", never_observed, "probe.stale"},
};

/* At the thresholds, and for sources that are absent or optional, the node stays green. */
static void restarts_two(struct fixture *f)
{
	f->in.service.restarts_5m = 2;
}

static void disk_ten(struct fixture *f)
{
	f->in.disk.free_percent = 10.0;
}

static void synthetic_five(struct fixture *f)
{
	f->in.latency.synthetic_failure_percent = 5.0;
}

static void p95_five_x(struct fixture *f)
{
	f->in.latency.p95_ms = 500;
}

static void tcp_two_seconds(struct fixture *f)
{
	f->in.tcp.ms = 2000;
}

static void digest_fifteen_minutes(struct fixture *f)
{
	f->in.digest.age_sec = 900;
}

static void cache_three_periods(struct fixture *f)
{
	f->in.checked_age_ms = 3 * 30000;
}

static void no_baseline(struct fixture *f)
{
	f->in.latency.baseline_p95_ms = 0;
	f->in.latency.p95_ms = 4999; /* under maxSyntheticP95's 5 s */
}

/* Shadow: current still on the previous semver is right while next matches the lock. */
static void shadow_next_matches(struct fixture *f)
{
	f->in.skills.judge_next = true;
	f->in.skills.current = "1.4.1";
	f->in.skills.next = "1.4.2";
}

/* Loopback noise: 4 ms against a 0.3 ms baseline is not a regression. */
static void p95_tiny_baseline(struct fixture *f)
{
	f->in.latency.baseline_p95_ms = 0.3;
	f->in.latency.p95_ms = 4.0;
}

static void no_samples(struct fixture *f)
{
	f->in.latency.samples = 0;
	f->in.latency.synthetic_failure_percent = 50;
	f->in.latency.p95_ms = 4999; /* under maxSyntheticP95's 5 s */
}

static void optional_sources_off(struct fixture *f)
{
	f->in.queue.configured = false;
	f->in.queue.error = "no queue URL";
	f->in.digest.configured = false;
	f->in.digest.error = "no digest URL";
	f->in.digest.age_sec = 100000;
}

static void queue_without_limit(struct fixture *f)
{
	f->in.queue.limit = 0;
	f->in.queue.depth = 100000;
}

static void cli_without_commit(struct fixture *f)
{
	f->cli.commit[0] = '\0';
}

static void lock_without_commit(struct fixture *f)
{
	f->lock.commit = NULL;
}

static void only_node_doctor(struct fixture *f)
{
	f->doctor[0].tenant = NULL;
	f->doctor[0].profile = NULL;
	f->in.ndoctor = 1;
}

/* The node's p95 against its own baseline is a note: the controller judges it against its
 * peers. */
static const struct rule_case green_cases[] = {
	{"p95 over 5x baseline: a note", p95_high, "latency.p95"},
	{"p95 over 5x the baseline floor: a note", p95_over_floor, "latency.p95"},
	{"2 restarts in 5 minutes", restarts_two, NULL},
	{"disk at exactly 10 %", disk_ten, NULL},
	{"synthetic failures at exactly 5 %", synthetic_five, NULL},
	{"p95 at exactly 5x baseline", p95_five_x, NULL},
	{"TCP connect at exactly 2 s", tcp_two_seconds, NULL},
	{"digest at exactly 15 minutes", digest_fifteen_minutes, NULL},
	{"cache at exactly three refresh periods", cache_three_periods, NULL},
	{"a wall-clock step does not age the cache", wall_clock_stepped, NULL},
	{"no latency baseline recorded", no_baseline, NULL},
	{"shadow: current on the previous semver, next on the lock's", shadow_next_matches, NULL},
	{"p95 over 5x a sub-millisecond baseline but under 5x the floor", p95_tiny_baseline, NULL},
	{"no synthetic samples", no_samples, NULL},
	{"queue and digest not configured", optional_sources_off, NULL},
	{"queue without a limit", queue_without_limit, NULL},
	{"CLI prints no commit", cli_without_commit, NULL},
	{"lock pins no commit", lock_without_commit, NULL},
	{"one doctor run for the node", only_node_doctor, NULL},
};

static void run_cases(void **state, const struct rule_case *cases, size_t n,
		      enum probe_status status)
{
	for (size_t i = 0; i < n; i++) {
		teardown(state);
		setup(state);
		struct fixture *f = *state;
		cases[i].apply(f);
		probe_merge(&f->in, &f->res);
		const char *want = cases[i].code ? cases[i].code : "";
		if (f->res.status != status || strcmp(codes(&f->res), want) != 0)
			fail_msg("%s: status %s, reasons \"%s\"; want %s \"%s\"", cases[i].name,
				 probe_status_name(f->res.status), codes(&f->res),
				 probe_status_name(status), want);
		for (size_t r = 0; r < f->res.nreasons; r++)
			if (!f->res.reasons[r].message[0])
				fail_msg("%s: reason %s has no message", cases[i].name,
					 f->res.reasons[r].code);
	}
}

static void test_each_red_rule(void **state)
{
	run_cases(state, red_cases, sizeof(red_cases) / sizeof(red_cases[0]), PROBE_RED);
}

static void test_each_degraded_rule(void **state)
{
	run_cases(state, degraded_cases, sizeof(degraded_cases) / sizeof(degraded_cases[0]),
		  PROBE_DEGRADED);
}

static void test_thresholds_and_optional_sources_stay_green(void **state)
{
	run_cases(state, green_cases, sizeof(green_cases) / sizeof(green_cases[0]), PROBE_GREEN);
}

/* A Promotion's spec.canary.analysis moves each threshold the agent judges with. */
struct threshold_case {
	const char *name;
	void (*apply)(struct fixture *f);
	enum probe_status status;
	const char *code;
};

static void synthetic_ten(struct fixture *f)
{
	f->in.latency.synthetic_failure_percent = 10.0;
}

static void synthetic_over_twenty(struct fixture *f)
{
	f->in.latency.synthetic_failure_percent = 20.1;
}

static void restarts_four(struct fixture *f)
{
	f->in.service.restarts_5m = 4;
}

static void restarts_five(struct fixture *f)
{
	f->in.service.restarts_5m = 5;
}

static void disk_two(struct fixture *f)
{
	f->in.disk.free_percent = 2.0;
}

static void disk_under_two(struct fixture *f)
{
	f->in.disk.free_percent = 1.9;
}

static void p95_nine_x(struct fixture *f)
{
	f->in.latency.p95_ms = 900;
}

static void p95_over_ten_x(struct fixture *f)
{
	f->in.latency.p95_ms = 1000.1;
}

static const struct threshold_case promotion_cases[] = {
	{"10 % synthetic failures under a 20 % limit", synthetic_ten, PROBE_GREEN, NULL},
	{"over the 20 % limit", synthetic_over_twenty, PROBE_RED, "synthetic.failures"},
	{"4 restarts when 5 are a crash loop", restarts_four, PROBE_GREEN, NULL},
	{"5 restarts", restarts_five, PROBE_RED, "service.crash_loop"},
	{"2 % free at a 2 % minimum", disk_two, PROBE_GREEN, NULL},
	{"under the 2 % minimum", disk_under_two, PROBE_RED, "disk.low"},
	{"p95 9x the baseline under a ratio of 10", p95_nine_x, PROBE_GREEN, NULL},
	{"p95 over 10x the baseline", p95_over_ten_x, PROBE_GREEN, "latency.p95"},
};

static void test_thresholds_from_the_promotion(void **state)
{
	struct promotion promo = {.analysis = {.max_p95_ratio = 10,
					       .max_synthetic_failure_percent = 20,
					       .max_restarts_5m = 5,
					       .min_disk_free_percent = 2}};
	struct probe_thresholds t, defaults;
	probe_thresholds_of(NULL, &defaults);
	assert_true(defaults.max_synthetic_failure_percent == 5.0);
	assert_int_equal(defaults.max_restarts_5m, 3);
	assert_true(defaults.min_disk_free_percent == 10.0);
	assert_true(defaults.max_p95_ratio == 5.0);
	probe_thresholds_of(&promo, &t);
	for (size_t i = 0; i < sizeof(promotion_cases) / sizeof(promotion_cases[0]); i++) {
		const struct threshold_case *c = &promotion_cases[i];
		teardown(state);
		setup(state);
		struct fixture *f = *state;
		f->in.thresholds = &t;
		c->apply(f);
		probe_merge(&f->in, &f->res);
		const char *want = c->code ? c->code : "";
		if (f->res.status != c->status || strcmp(codes(&f->res), want) != 0)
			fail_msg("%s: status %s, reasons \"%s\"; want %s \"%s\"", c->name,
				 probe_status_name(f->res.status), codes(&f->res),
				 probe_status_name(c->status), want);
	}
	/* The messages name the Promotion's limits. */
	struct fixture *f = *state;
	f->in.thresholds = &t;
	restarts_five(f);
	disk_under_two(f);
	probe_merge(&f->in, &f->res);
	assert_string_equal(f->res.reasons[0].message,
			    "gateway started 5 times in the last 5 minutes (5 is a crash loop)");
	assert_string_equal(f->res.reasons[1].message,
			    "1.9% free on the data volume (minimum 2%)");
}

/* A gateway that a signal ended says which signal, where launchd or systemd told. */
static void test_signal_death_named(void **state)
{
	struct fixture *f = *state;

	crash_loop_by_signal(f);
	f->in.service.running = false;
	expect(f, PROBE_RED, "gateway.not_running service.crash_loop");
	assert_string_equal(f->res.reasons[0].message,
			    "gateway service is not running (killed by signal 9)");
	assert_string_equal(f->res.reasons[1].message,
			    "gateway started 3 times in the last 5 minutes (3 is a crash loop); its "
			    "last run was killed by signal 9");
}

static void test_messages_say_what_differs(void **state)
{
	struct fixture *f = *state;

	semver_differs(f);
	version_differs(f);
	doctor_red(f);
	disk_low(f);
	expect(f, PROBE_RED, "skills.semver_mismatch lock.version_mismatch doctor.red disk.low");
	assert_string_equal(f->res.reasons[0].message,
			    "skills/current is 1.4.3, openclaw.lock pins 1.4.2");
	assert_string_equal(f->res.reasons[1].message,
			    "openclaw --version reports 2026.7.0, openclaw.lock pins 2026.7.1");
	assert_string_equal(f->res.reasons[2].message,
			    "tenant globex: doctor red: skills.semver: skill pack 1.4.3 does not "
			    "match 1.4.2 (/var/db/openclaw/skills/current/openclaw.lock:3:12)");
	assert_string_equal(f->res.reasons[3].message,
			    "9.9% free on the data volume (minimum 10%)");

	digest_stale(f);
	cache_old(f);
	expect(f, PROBE_RED, "skills.semver_mismatch lock.version_mismatch doctor.red disk.low "
			     "digest.stale probe.stale");
	assert_string_equal(f->res.reasons[4].message, "notifier digest is 15m1s old (limit 15m)");
	assert_string_equal(f->res.reasons[5].message,
			    "the last observation is 1m30s1ms old, over 3 refresh periods of 30s");
	assert_false(f->res.skills_match);
	assert_false(f->res.version_match);
}

/* A semver mismatch is a hard failure whatever else is green or merely degraded. */
static void test_semver_mismatch_wins(void **state)
{
	struct fixture *f = *state;

	doctor_yellow(f);
	digest_stale(f);
	semver_differs(f);
	expect(f, PROBE_RED, "skills.semver_mismatch doctor.yellow digest.stale");
	assert_int_equal(f->res.reasons[0].severity, PROBE_RED);
	assert_int_equal(f->res.reasons[1].severity, PROBE_DEGRADED);
}

static void test_red_outranks_degraded_in_order(void **state)
{
	struct fixture *f = *state;

	cache_old(f);
	infra_dirty(f);
	doctor_yellow(f);
	crash_loop(f);
	expect(f, PROBE_RED, "infra.dirty service.crash_loop doctor.yellow probe.stale");
}

static void test_maintenance_window(void **state)
{
	struct fixture *f = *state;
	int status;

	doctor_red(f);
	f->doctor[1].maintenance_until = NOW / 1000 + 3600;
	expect(f, PROBE_GREEN, "doctor.maintenance");
	assert_int_equal(f->res.reasons[0].severity, PROBE_GREEN);
	assert_string_equal(f->res.reasons[0].message,
			    "tenant globex: in its maintenance window until 2026-08-01T13:00:01Z, "
			    "so this does not count: doctor red: skills.semver: skill pack 1.4.3 "
			    "does not match 1.4.2 "
			    "(/var/db/openclaw/skills/current/openclaw.lock:3:12)");
	assert_int_equal(f->res.doctor_verdict, DOCTOR_GREEN);
	struct json_object *doc = render(f, &status);
	assert_int_equal(status, 200);
	expect_str(doc, "doctor.verdict", "green");
	expect_str(doc, "doctor.tenants.globex.verdict", "red");
	expect_type(doc, "doctor.firstBad", json_type_null);
	json_object_put(doc);

	/* A hung doctor of a tenant in maintenance does not count either. */
	doctor_hung(f);
	f->doctor[0].maintenance_until = NOW / 1000 + 60;
	expect(f, PROBE_GREEN, "doctor.maintenance doctor.maintenance");

	/* Once the window has passed, the red counts. */
	f->doctor[0].maintenance_until = 0;
	f->doctor[1].maintenance_until = NOW / 1000 - 1;
	expect(f, PROBE_RED, "doctor.timeout doctor.red");
	assert_int_equal(f->res.doctor_verdict, DOCTOR_RED);
}

/* The verdict of the node is the worst counted run; firstBad is the first run showing it. */
static void test_doctor_summary(void **state)
{
	struct fixture *f = *state;
	int status;

	doctor_hung(f);
	doctor_red(f);
	f->doctor[2].tenant = "initech";
	set_doctor(&f->doctor[2].result, DOCTOR_YELLOW);
	f->in.ndoctor = 3;
	expect(f, PROBE_RED, "doctor.timeout doctor.red doctor.yellow");
	assert_int_equal(f->res.doctor_verdict, DOCTOR_RED);
	assert_int_equal(f->res.doctor_first_bad, 1);
	struct json_object *doc = render(f, &status);
	assert_int_equal(status, 503);
	expect_str(doc, "doctor.verdict", "red");
	expect_str(doc, "doctor.firstBad.tenant", "globex");
	expect_str(doc, "doctor.firstBad.checkId", "skills.semver");
	expect_str(doc, "doctor.firstBad.severity", "error");
	expect_str(doc, "doctor.firstBad.path", "/var/db/openclaw/skills/current/openclaw.lock");
	assert_int_equal(json_object_get_int(at(doc, "doctor.firstBad.line")), 3);
	assert_int_equal(json_object_get_int(at(doc, "doctor.firstBad.column")), 12);
	expect_str(doc, "doctor.tenants.acme.verdict", "red");
	expect_type(doc, "doctor.tenants.acme.firstBad", json_type_null);
	expect_str(doc, "doctor.tenants.initech.verdict", "yellow");
	expect_str(doc, "doctor.tenants.initech.firstBad.checkId", "gateway.latency");
	json_object_put(doc);
}

static void test_reasons_are_capped_but_counted(void **state)
{
	struct fixture *f = *state;
	static char names[48][16];
	int status;

	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "tenant-%d", i);
		f->doctor[i].tenant = names[i];
		set_doctor(&f->doctor[i].result, DOCTOR_RED);
	}
	f->in.ndoctor = 40;
	cache_old(f);
	probe_merge(&f->in, &f->res);
	assert_int_equal(f->res.status, PROBE_RED);
	assert_int_equal(f->res.nreasons, PROBE_MAX_REASONS);
	assert_int_equal(f->res.dropped, 40 + 1 - PROBE_MAX_REASONS);
	struct json_object *doc = render(f, &status);
	struct json_object *reasons = at(doc, "reasons");
	assert_int_equal(json_object_array_length(reasons), PROBE_MAX_REASONS + 1);
	struct json_object *last = json_object_array_get_idx(reasons, PROBE_MAX_REASONS);
	expect_str(last, "code", "probe.more_reasons");
	expect_str(last, "message", "9 more reasons not listed");
	json_object_put(doc);
}

/* The document has exactly the contract's fields, with their types. */
static void test_document_shape(void **state)
{
	static const char *const keys[] = {"node", "status", "reasons", "observedGeneration",
					   "infra", "lock", "skills", "doctor", "queue", "digest",
					   "disk", "service", "tcp", "latency", "checkedAt",
					   "probeSha256"};
	struct fixture *f = *state;
	int status = 0;
	size_t n = 0;

	struct json_object *doc = render(f, &status);
	assert_int_equal(status, 200);
	json_object_object_foreach(doc, key, val) {
		(void)val;
		assert_true(n < sizeof(keys) / sizeof(keys[0]));
		assert_string_equal(key, keys[n]);
		n++;
	}
	assert_int_equal(n, sizeof(keys) / sizeof(keys[0]));
	expect_str(doc, "node", "canary-gw");
	expect_str(doc, "status", "green");
	expect_type(doc, "reasons", json_type_array);
	assert_int_equal(json_object_array_length(at(doc, "reasons")), 0);
	assert_int_equal(json_object_get_int64(at(doc, "observedGeneration")), 7);
	expect_str(doc, "infra.tag", "oc-2026.7.1");
	expect_str(doc, "infra.commit", "0123456789abcdef0123456789abcdef01234567");
	expect_type(doc, "infra.dirty", json_type_boolean);
	assert_false(json_object_get_boolean(at(doc, "infra.dirty")));
	expect_str(doc, "lock.sha256",
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_true(json_object_get_boolean(at(doc, "lock.versionMatch")));
	expect_str(doc, "skills.current", "1.4.2");
	expect_str(doc, "skills.next", "1.4.3");
	expect_str(doc, "skills.lockSemver", "1.4.2");
	assert_true(json_object_get_boolean(at(doc, "skills.match")));
	expect_str(doc, "doctor.verdict", "green");
	expect_str(doc, "doctor.tenants.acme.verdict", "green");
	expect_type(doc, "doctor.tenants.acme.firstBad", json_type_null);
	expect_str(doc, "doctor.tenants.globex.verdict", "green");
	expect_type(doc, "doctor.firstBad", json_type_null);
	assert_int_equal(json_object_get_int64(at(doc, "queue.depth")), 3);
	assert_int_equal(json_object_get_int64(at(doc, "queue.limit")), 100);
	assert_int_equal(json_object_get_int64(at(doc, "digest.ageSec")), 30);
	expect_type(doc, "digest.total", json_type_int);
	assert_int_equal(json_object_get_int64(at(doc, "digest.total")), 4);
	expect_type(doc, "digest.top", json_type_array);
	expect_str(json_object_array_get_idx(at(doc, "digest.top"), 0), "family", "5xx");
	expect_type(doc, "disk.freePercent", json_type_double);
	assert_true(json_object_get_double(at(doc, "disk.freePercent")) == 55.5);
	assert_true(json_object_get_boolean(at(doc, "service.running")));
	assert_int_equal(json_object_get_int(at(doc, "service.lastExit")), 0);
	expect_type(doc, "service.lastExit", json_type_int);
	assert_int_equal(json_object_get_int(at(doc, "service.restarts5m")), 1);
	assert_true(json_object_get_boolean(at(doc, "tcp.ok")));
	assert_int_equal(json_object_get_int(at(doc, "tcp.ms")), 2);
	expect_type(doc, "latency.samples", json_type_int);
	assert_int_equal(json_object_get_int64(at(doc, "latency.samples")), 20);
	assert_true(json_object_get_double(at(doc, "latency.p95ms")) == 120.0);
	assert_true(json_object_get_double(at(doc, "latency.baselineP95ms")) == 100.0);
	expect_str(doc, "checkedAt", "2026-08-01T12:00:00.123Z");
	expect_type(doc, "probeSha256", json_type_string);
	assert_int_equal(strlen(json_object_get_string(at(doc, "probeSha256"))), 64);
	json_object_put(doc);
}

/* What is not known renders as null, not as a made-up zero. */
static void test_unknown_values_are_null(void **state)
{
	struct fixture *f = *state;
	int status;

	optional_sources_off(f);
	tcp_refused(f);
	disk_unknown(f);
	service_unknown(f);
	no_samples(f);
	no_baseline(f);
	lock_unreadable(f);
	never_observed(f);
	f->in.infra.tag = NULL;
	f->in.service.has_last_exit = false;
	struct json_object *doc = render(f, &status);
	assert_int_equal(status, 503);
	expect_str(doc, "status", "red");
	static const char *const nulls[] = {
		"queue.depth", "queue.limit", "digest.ageSec", "digest.total", "digest.top", "tcp.ms",
		"disk.freePercent", "service.running", "service.lastExit", "latency.p95ms",
		"latency.baselineP95ms", "lock.sha256", "skills.lockSemver", "infra.tag",
		"checkedAt",
	};
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		expect_type(doc, nulls[i], json_type_null);
	assert_false(json_object_get_boolean(at(doc, "lock.versionMatch")));
	assert_false(json_object_get_boolean(at(doc, "skills.match")));
	assert_false(json_object_get_boolean(at(doc, "tcp.ok")));
	json_object_put(doc);
}

static void test_http_status(void **state)
{
	struct fixture *f = *state;
	int status = 0;
	struct json_object *doc;

	doc = render(f, &status);
	assert_int_equal(status, 200);
	json_object_put(doc);
	doctor_yellow(f);
	doc = render(f, &status);
	assert_int_equal(status, 200);
	expect_str(doc, "status", "degraded");
	expect_str(json_object_array_get_idx(at(doc, "reasons"), 0), "code", "doctor.yellow");
	expect_str(json_object_array_get_idx(at(doc, "reasons"), 0), "message",
		   "tenant acme (profile acme): doctor yellow: gateway.latency: p95 above target");
	json_object_put(doc);
	synthetic_failing(f);
	doc = render(f, &status);
	assert_int_equal(status, 503);
	expect_str(doc, "status", "red");
	json_object_put(doc);
}

/* Peers on the same build agree whatever their clocks, latencies, counters and names. */
static void test_sha_ignores_what_peers_do_not_share(void **state)
{
	struct fixture *f = *state;
	char first[65];

	snprintf(first, sizeof(first), "%s", sha_of(f));
	f->in.node = "stable-gw-1";
	f->in.observed_generation = 9;
	f->in.checked_at_ms += 7777;
	f->in.now_ms += 9999;
	f->in.checked_age_ms += 2222;
	f->in.latency.p95_ms = 80;
	f->in.latency.baseline_p95_ms = 70;
	f->in.latency.samples = 5;
	f->in.tcp.ms = 1;
	f->in.service.restarts_5m = 0;
	f->in.service.last_exit = 1;
	f->in.disk.free_percent = 80;
	f->in.queue.depth = 50;
	f->in.digest.age_sec = 31;
	assert_string_equal(sha_of(f), first);
}

static void test_sha_follows_what_peers_share(void **state)
{
	struct fixture *f = *state;
	char base[65];
	struct json_object *other_top = json_of("[{\"family\":\"4xx\",\"count\":1}]");

	snprintf(base, sizeof(base), "%s", sha_of(f));
	f->lock.file_sha256[0] = 'b';
	assert_string_not_equal(sha_of(f), base);
	f->lock.file_sha256[0] = 'a';
	assert_string_equal(sha_of(f), base);
	f->in.skills.next = "1.4.4";
	assert_string_not_equal(sha_of(f), base);
	f->in.skills.next = "1.4.3";
	doctor_yellow(f);
	assert_string_not_equal(sha_of(f), base);
	set_doctor(&f->doctor[0].result, DOCTOR_GREEN);
	f->in.infra.commit = "1111111111111111111111111111111111111111";
	assert_string_not_equal(sha_of(f), base);
	f->in.infra.commit = "0123456789abcdef0123456789abcdef01234567";
	f->in.digest.top = other_top;
	assert_string_not_equal(sha_of(f), base);
	f->in.digest.top = f->top;
	assert_string_equal(sha_of(f), base);
	json_object_put(other_top);
}

/* probeSha256 is recomputable from the document, as the header documents. */
static void test_sha_recomputed_from_document(void **state)
{
	struct fixture *f = *state;
	struct cf_err err = { { 0 } };
	char sha[65];
	int status;

	doctor_red(f);
	struct json_object *doc = render(f, &status);
	struct json_object *h = json_object_new_object(), *o, *tenants;
	o = json_object_new_object();
	json_object_object_add(o, "top", json_object_get(at(doc, "digest.top")));
	json_object_object_add(h, "digest", o);
	o = json_object_new_object();
	json_object_object_add(o, "verdict", json_object_get(at(doc, "doctor.verdict")));
	tenants = json_object_new_object();
	json_object_object_foreach(at(doc, "doctor.tenants"), name, t) {
		struct json_object *v = json_object_new_object();
		json_object_object_add(v, "verdict", json_object_get(at(t, "verdict")));
		json_object_object_add(tenants, name, v);
	}
	json_object_object_add(o, "tenants", tenants);
	json_object_object_add(h, "doctor", o);
	o = json_object_new_object();
	json_object_object_add(o, "commit", json_object_get(at(doc, "infra.commit")));
	json_object_object_add(h, "infra", o);
	o = json_object_new_object();
	json_object_object_add(o, "sha256", json_object_get(at(doc, "lock.sha256")));
	json_object_object_add(h, "lock", o);
	o = json_object_new_object();
	json_object_object_add(o, "current", json_object_get(at(doc, "skills.current")));
	json_object_object_add(o, "next", json_object_get(at(doc, "skills.next")));
	json_object_object_add(h, "skills", o);
	assert_int_equal(canon_json_sha256(h, sha, &err), 0);
	expect_str(doc, "probeSha256", sha);
	json_object_put(h);
	json_object_put(doc);
}

/* Whatever the notifier or the disk hand over, the document stays valid JSON. */
static void test_hostile_inputs_render_valid_json(void **state)
{
	struct fixture *f = *state;
	char rows[4096];
	size_t n = 0;
	int status;

	n += (size_t)snprintf(rows, sizeof(rows), "[{\"family\":\"\",\"rate\":0,"
						  "\"deep\":[[[[[[[[[[1]]]]]]]]]]}");
	for (int i = 1; i < 25; i++)
		n += (size_t)snprintf(rows + n, sizeof(rows) - n, ",{\"n\":%d}", i);
	snprintf(rows + n, sizeof(rows) - n, "]");
	struct json_object *top = json_of(rows);
	/* What no strict reader would accept, set in place: invalid UTF-8 and a NaN. */
	struct json_object *first = json_object_array_get_idx(top, 0);
	json_object_object_add(first, "family", json_object_new_string_len("5\xff", 2));
	json_object_object_add(first, "rate", json_object_new_double(NAN));
	f->in.digest.top = top;
	f->in.skills.current = "1.4.\x80";
	f->in.gateway.error = "bad \x01 byte\nand a newline";
	struct json_object *doc = render(f, &status);
	struct json_object *out = at(doc, "digest.top");
	assert_int_equal(json_object_array_length(out), PROBE_DIGEST_TOP_MAX);
	struct json_object *row = json_object_array_get_idx(out, 0);
	expect_str(row, "family", "5\\xff");
	expect_type(row, "rate", json_type_null);
	struct json_object *deep = at(row, "deep");
	for (int depth = 2; depth < PROBE_DIGEST_DEPTH - 1; depth++)
		deep = json_object_array_get_idx(deep, 0);
	assert_true(json_object_is_type(deep, json_type_array));
	assert_null(json_object_array_get_idx(deep, 0));
	expect_str(doc, "skills.current", "1.4.\\x80");
	expect_str(json_object_array_get_idx(at(doc, "reasons"), 1), "message",
		   "gateway did not answer: bad \\x01 byte\\nand a newline");
	json_object_put(doc);
	json_object_put(top);
}

static void test_status_names(void **state)
{
	(void)state;
	assert_string_equal(probe_status_name(PROBE_GREEN), "green");
	assert_string_equal(probe_status_name(PROBE_DEGRADED), "degraded");
	assert_string_equal(probe_status_name(PROBE_RED), "red");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_all_green),
		T(test_each_red_rule),
		T(test_each_degraded_rule),
		T(test_thresholds_and_optional_sources_stay_green),
		T(test_thresholds_from_the_promotion),
		T(test_messages_say_what_differs),
		T(test_signal_death_named),
		T(test_semver_mismatch_wins),
		T(test_red_outranks_degraded_in_order),
		T(test_maintenance_window),
		T(test_doctor_summary),
		T(test_reasons_are_capped_but_counted),
		T(test_document_shape),
		T(test_unknown_values_are_null),
		T(test_http_status),
		T(test_sha_ignores_what_peers_do_not_share),
		T(test_sha_follows_what_peers_share),
		T(test_sha_recomputed_from_document),
		T(test_hostile_inputs_render_valid_json),
		T(test_status_names),
	};
	return cmocka_run_group_tests_name("probe", tests, NULL, NULL);
}
