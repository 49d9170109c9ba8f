#include "observe/node_probe.h"

#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/canon.h"
#include "base/timeparse.h"

#define WHO_MAX 160

static void add(struct probe_result *out, enum probe_status severity, const char *code,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The status counts every reason, also those past the cap. */
static void add(struct probe_result *out, enum probe_status severity, const char *code,
		const char *fmt, ...)
{
	char raw[PROBE_MESSAGE_MAX];
	va_list ap;

	if (severity > out->status)
		out->status = severity;
	if (out->nreasons == PROBE_MAX_REASONS) {
		out->dropped++;
		return;
	}
	struct probe_reason *r = &out->reasons[out->nreasons++];
	r->code = code;
	r->severity = severity;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	doctor_escape_text(r->message, sizeof(r->message), raw, strlen(raw), 0);
}

static const struct openclaw_lock *lock_of(const struct probe_inputs *in)
{
	return in->lock && in->lock->present ? in->lock : NULL;
}

static enum doctor_verdict run_verdict(const struct doctor_result *r)
{
	return r->outcome == DOCTOR_JUDGED ? r->verdict : DOCTOR_RED;
}

static bool in_maintenance(const struct probe_doctor *d, int64_t now_ms)
{
	return d->maintenance_until > 0 && (int64_t)d->maintenance_until * 1000 > now_ms;
}

static enum probe_status verdict_status(enum doctor_verdict v)
{
	return v == DOCTOR_RED ? PROBE_RED : v == DOCTOR_YELLOW ? PROBE_DEGRADED : PROBE_GREEN;
}

/* "tenant acme (profile acme-prod): " or "" for the node's own run. */
static void who(char out[WHO_MAX], const struct probe_doctor *d)
{
	out[0] = '\0';
	if (d->tenant && d->profile)
		snprintf(out, WHO_MAX, "tenant %.60s (profile %.60s): ", d->tenant, d->profile);
	else if (d->tenant)
		snprintf(out, WHO_MAX, "tenant %.60s: ", d->tenant);
	else if (d->profile)
		snprintf(out, WHO_MAX, "profile %.60s: ", d->profile);
}

/* What a user reads about one run: the first bad finding, or why it could not be judged. */
static void run_detail(char *out, size_t size, const struct doctor_result *r)
{
	const struct doctor_finding *f = &r->first_bad;

	if (r->outcome == DOCTOR_NOT_RUN)
		snprintf(out, size, "doctor has not finished a run yet");
	else if (r->outcome != DOCTOR_JUDGED)
		snprintf(out, size, "%s", r->reason);
	else if (!r->has_first_bad)
		snprintf(out, size, "doctor %s: the report says ok:false without an error finding",
			 doctor_verdict_name(r->verdict));
	else if (f->path[0])
		snprintf(out, size, "doctor %s: %.100s: %.200s (%.120s:%d:%d)",
			 doctor_verdict_name(r->verdict), f->check_id, f->message, f->path, f->line,
			 f->column);
	else
		snprintf(out, size, "doctor %s: %.100s: %.240s", doctor_verdict_name(r->verdict),
			 f->check_id, f->message);
}

/* The reasons of one severity group: counted runs impose their verdict, runs in a maintenance
 * window only leave a note. */
static void doctor_reasons(const struct probe_inputs *in, struct probe_result *out,
			   enum probe_status group)
{
	char name[WHO_MAX], detail[PROBE_MESSAGE_MAX], until[32];

	if (!in->ndoctor && group == PROBE_RED)
		add(out, PROBE_RED, "doctor.pending", "doctor has not run yet");
	for (size_t i = 0; i < in->ndoctor; i++) {
		const struct probe_doctor *d = &in->doctor[i];
		enum doctor_verdict v = run_verdict(&d->result);
		bool note = in_maintenance(d, in->now_ms);
		if (v == DOCTOR_GREEN || (note ? PROBE_GREEN : verdict_status(v)) != group)
			continue;
		who(name, d);
		run_detail(detail, sizeof(detail), &d->result);
		if (note) {
			rfc3339_format(d->maintenance_until, until, sizeof(until));
			add(out, PROBE_GREEN, "doctor.maintenance",
			    "%sin its maintenance window until %s, so this does not count: %s",
			    name, until, detail);
		} else {
			add(out, group, doctor_reason_code(&d->result), "%s%s", name, detail);
		}
	}
}

/* The worst verdict over the runs that count, and the first of them that shows it. */
static void doctor_summary(const struct probe_inputs *in, struct probe_result *out)
{
	out->doctor_verdict = in->ndoctor ? DOCTOR_GREEN : DOCTOR_RED;
	out->doctor_first_bad = in->ndoctor;
	for (size_t i = 0; i < in->ndoctor; i++) {
		enum doctor_verdict v = run_verdict(&in->doctor[i].result);
		if (!in_maintenance(&in->doctor[i], in->now_ms) && v > out->doctor_verdict)
			out->doctor_verdict = v;
	}
	for (size_t i = 0; i < in->ndoctor && out->doctor_verdict != DOCTOR_GREEN; i++) {
		const struct probe_doctor *d = &in->doctor[i];
		if (!in_maintenance(d, in->now_ms) && d->result.has_first_bad &&
		    run_verdict(&d->result) == out->doctor_verdict) {
			out->doctor_first_bad = i;
			break;
		}
	}
}

static void judge_version(const struct probe_inputs *in, struct probe_result *out)
{
	const struct openclaw_lock *lock = lock_of(in);
	const char *current = in->skills.current;
	const char *link = in->skills.judge_next ? "next" : "current";
	const char *judged = in->skills.judge_next ? in->skills.next : current;
	char reason[LOCKCHECK_REASON_MAX];

	out->skills_match = lock && lock->skills_semver && judged &&
			    strcmp(judged, lock->skills_semver) == 0;
	out->version_match = lock && in->cli && lockcheck_matches(in->cli, lock, reason);
	if (in->skills.digest_error)
		add(out, PROBE_RED, "skills.digest", "%s", in->skills.digest_error);
	if (!current)
		add(out, PROBE_RED, "skills.current_missing",
		    "skills/current does not name a skill directory: %s",
		    in->skills.current_error ? in->skills.current_error : "not observed");
	if (in->skills.judge_next && !judged)
		add(out, PROBE_RED, "skills.next_missing",
		    "skills/next does not name a skill directory: %s",
		    in->skills.next_error ? in->skills.next_error : "not observed");
	else if (judged && lock && !out->skills_match)
		add(out, PROBE_RED, "skills.semver_mismatch", "skills/%s is %s, openclaw.lock pins %s",
		    link, judged, lock->skills_semver ? lock->skills_semver : "no skills.semver");
	if (!lock)
		add(out, PROBE_RED, "lock.unreadable", "openclaw.lock could not be read: %s",
		    in->lock_error ? in->lock_error : "not observed");
	else if (!in->cli)
		add(out, PROBE_RED, "cli.version_unknown", "openclaw --version gave no version: %s",
		    in->cli_error ? in->cli_error : "not observed");
	else if (!out->version_match)
		add(out, PROBE_RED, "lock.version_mismatch", "%s", reason);
}

static const struct probe_thresholds default_thresholds = PROBE_THRESHOLDS_DEFAULT;

void probe_thresholds_of(const struct promotion *promo, struct probe_thresholds *out)
{
	*out = default_thresholds;
	if (!promo)
		return;
	out->max_synthetic_failure_percent = promo->analysis.max_synthetic_failure_percent;
	out->max_restarts_5m = promo->analysis.max_restarts_5m;
	out->min_disk_free_percent = promo->analysis.min_disk_free_percent;
	out->max_p95_ratio = promo->analysis.max_p95_ratio;
	if (promo->analysis.max_synthetic_p95_ms > 0)
		out->max_synthetic_p95_ms = (double)promo->analysis.max_synthetic_p95_ms;
}

static void checks(const struct probe_inputs *in, struct probe_result *out,
		   enum probe_status group)
{
	for (size_t i = 0; i < in->nchecks; i++)
		if (in->checks[i].severity == group)
			add(out, group, in->checks[i].code, "%s", in->checks[i].message);
}

static void judge_red(const struct probe_inputs *in, const struct probe_thresholds *t,
		      struct probe_result *out)
{
	judge_version(in, out);
	if (in->infra.error)
		add(out, PROBE_RED, "infra.unreadable", "infra tree could not be read: %s",
		    in->infra.error);
	else if (in->infra.dirty)
		add(out, PROBE_RED, "infra.dirty",
		    "infra tree has local changes: only a clean checkout of the tag may run; "
		    "discard them and let the agent pull again");
	doctor_reasons(in, out, PROBE_RED);
	if (!in->service.error && !in->service.running && in->service.last_signal)
		add(out, PROBE_RED, "gateway.not_running",
		    "gateway service is not running (killed by signal %d)", in->service.last_signal);
	else if (!in->service.error && !in->service.running && in->service.has_last_exit)
		add(out, PROBE_RED, "gateway.not_running",
		    "gateway service is not running (last exit status %d)", in->service.last_exit);
	else if (!in->service.error && !in->service.running)
		add(out, PROBE_RED, "gateway.not_running", "gateway service is not running");
	if (in->gateway.error)
		add(out, PROBE_RED, "gateway.not_ready", "gateway did not answer: %s",
		    in->gateway.error);
	else if (!in->gateway.healthz_ok)
		add(out, PROBE_RED, "gateway.not_ready", "gateway /healthz does not report ok");
	else if (!in->gateway.ready)
		add(out, PROBE_RED, "gateway.not_ready", "gateway /readyz reports ready:false");
	if (in->service.restarts_5m >= t->max_restarts_5m && in->service.last_signal)
		add(out, PROBE_RED, "service.crash_loop",
		    "gateway started %d times in the last 5 minutes (%d is a crash loop); its last "
		    "run was killed by signal %d",
		    in->service.restarts_5m, t->max_restarts_5m, in->service.last_signal);
	else if (in->service.restarts_5m >= t->max_restarts_5m)
		add(out, PROBE_RED, "service.crash_loop",
		    "gateway started %d times in the last 5 minutes (%d is a crash loop)",
		    in->service.restarts_5m, t->max_restarts_5m);
	if (!in->tcp.ok)
		add(out, PROBE_RED, "tcp.connect_failed",
		    "TCP connect to the gateway port failed: %s",
		    in->tcp.error ? in->tcp.error : "no answer");
	else if (in->tcp.ms > PROBE_TCP_LIMIT_MS)
		add(out, PROBE_RED, "tcp.connect_failed",
		    "TCP connect to the gateway port took %lld ms (limit %d ms)",
		    (long long)in->tcp.ms, PROBE_TCP_LIMIT_MS);
	if (!in->disk.error && !(in->disk.free_percent >= t->min_disk_free_percent))
		add(out, PROBE_RED, "disk.low", "%.1f%% free on the data volume (minimum %g%%)",
		    in->disk.free_percent, t->min_disk_free_percent);
	if (in->latency.samples > 0 &&
	    in->latency.synthetic_failure_percent > t->max_synthetic_failure_percent)
		add(out, PROBE_RED, "synthetic.failures",
		    "%.1f%% of %lld synthetic checks failed (limit %g%%)",
		    in->latency.synthetic_failure_percent, (long long)in->latency.samples,
		    t->max_synthetic_failure_percent);
	if (in->latency.samples > 0 && in->latency.p95_ms > t->max_synthetic_p95_ms)
		add(out, PROBE_RED, "synthetic.p95",
		    "p95 of %lld synthetic checks is %.1f ms (limit %.0f ms, maxSyntheticP95)",
		    (long long)in->latency.samples, in->latency.p95_ms, t->max_synthetic_p95_ms);
	checks(in, out, PROBE_RED);
}

/* The node's p95 against its own baseline is only a note: a node is judged against its stable
 * peers by the controller (plan/plan_judge.c), since a slower dependency slows every peer alike
 * and a baseline says nothing about the fleet's load now. */
static void latency_note(const struct probe_inputs *in, const struct probe_thresholds *t,
			 struct probe_result *out)
{
	double baseline = in->latency.baseline_p95_ms;
	if (baseline > 0 && baseline < PROBE_LATENCY_BASELINE_FLOOR_MS)
		baseline = PROBE_LATENCY_BASELINE_FLOOR_MS;
	if (in->latency.samples > 0 && baseline > 0 &&
	    in->latency.p95_ms > t->max_p95_ratio * baseline)
		add(out, PROBE_GREEN, "latency.p95",
		    "p95 %.1f ms is over %gx the baseline %.1f ms (counted as at least %.0f ms) "
		    "recorded before the last kickstart",
		    in->latency.p95_ms, t->max_p95_ratio, in->latency.baseline_p95_ms,
		    PROBE_LATENCY_BASELINE_FLOOR_MS);
}

/* The notifier's age and the configured limit are untrusted numbers; past int64 ms they clamp. */
static int64_t sec_to_ms(int64_t sec)
{
	return sec > INT64_MAX / 1000 ? INT64_MAX : sec * 1000;
}

static void judge_degraded(const struct probe_inputs *in, struct probe_result *out)
{
	char age[32], limit[32];
	int64_t refresh = in->refresh_ms > 0 ? in->refresh_ms : PROBE_DEFAULT_REFRESH_MS;
	int64_t stale = in->digest.stale_after_sec > 0 ? in->digest.stale_after_sec
						       : PROBE_DEFAULT_DIGEST_STALE_SEC;

	doctor_reasons(in, out, PROBE_DEGRADED);
	if (in->digest.configured && in->digest.error) {
		add(out, PROBE_DEGRADED, "digest.unavailable",
		    "notifier digest could not be read: %s", in->digest.error);
	} else if (in->digest.configured && in->digest.age_sec > stale) {
		duration_format(sec_to_ms(in->digest.age_sec), age, sizeof(age));
		duration_format(sec_to_ms(stale), limit, sizeof(limit));
		add(out, PROBE_DEGRADED, "digest.stale", "notifier digest is %s old (limit %s)",
		    age, limit);
	}
	if (in->queue.configured && in->queue.error)
		add(out, PROBE_DEGRADED, "queue.unavailable", "queue depth could not be read: %s",
		    in->queue.error);
	else if (in->queue.configured && in->queue.limit > 0 && in->queue.depth > in->queue.limit)
		add(out, PROBE_DEGRADED, "queue.over_limit",
		    "queue depth %lld is over its limit %lld", (long long)in->queue.depth,
		    (long long)in->queue.limit);
	if (in->disk.error)
		add(out, PROBE_DEGRADED, "disk.unknown", "free disk space could not be read: %s",
		    in->disk.error);
	if (in->service.error)
		add(out, PROBE_DEGRADED, "service.unknown",
		    "the service manager did not say whether the gateway runs: %s",
		    in->service.error);
	checks(in, out, PROBE_DEGRADED);
	if (in->checked_at_ms <= 0) {
		add(out, PROBE_DEGRADED, "probe.stale", "no observation has finished yet");
	} else if (in->checked_age_ms > PROBE_STALE_PERIODS * refresh) {
		duration_format(in->checked_age_ms, age, sizeof(age));
		duration_format(refresh, limit, sizeof(limit));
		add(out, PROBE_DEGRADED, "probe.stale",
		    "the last observation is %s old, over %d refresh periods of %s", age,
		    PROBE_STALE_PERIODS, limit);
	}
	char why[PROBE_MESSAGE_MAX];
	if (token_ages_too_old(&in->tokens, why, sizeof(why)))
		add(out, PROBE_DEGRADED, TOKEN_AGE_REASON, "%s", why);
}

void probe_merge(const struct probe_inputs *in, struct probe_result *out)
{
	const struct probe_thresholds *t = in->thresholds ? in->thresholds : &default_thresholds;
	memset(out, 0, sizeof(*out));
	judge_red(in, t, out);
	judge_degraded(in, out);
	doctor_reasons(in, out, PROBE_GREEN);
	latency_note(in, t, out);
	checks(in, out, PROBE_GREEN);
	doctor_summary(in, out);
}

/* ---- rendering ---- */

static struct json_object *text_len(const char *s, size_t len)
{
	char buf[PROBE_MESSAGE_MAX];

	if (!s)
		return NULL;
	doctor_escape_text(buf, sizeof(buf), s, len, 0);
	return json_object_new_string(buf);
}

static struct json_object *text(const char *s)
{
	return s ? text_len(s, strlen(s)) : NULL;
}

/* One decimal, so the document says 12.3 and not 12.300000000000001; null when unknown. */
static struct json_object *decimal(bool known, double v)
{
	char buf[64];

	if (!known || !isfinite(v))
		return NULL;
	snprintf(buf, sizeof(buf), "%.1f", v);
	return json_object_new_double_s(strtod(buf, NULL), buf);
}

static struct json_object *int_or_null(bool known, int64_t v)
{
	return known ? json_object_new_int64(v) : NULL;
}

static struct json_object *child(struct json_object *parent, const char *key)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(parent, key, o);
	return o;
}

/* A copy of a digest value that is valid JSON whatever the notifier sent: strings escaped,
 * NaN and infinities null, nesting past PROBE_DIGEST_DEPTH null. */
static struct json_object *clean_copy(const struct json_object *v, int depth)
{
	struct json_object *out;

	switch (json_object_get_type(v)) {
	case json_type_boolean:
		return json_object_new_boolean(json_object_get_boolean(v));
	case json_type_int:
		return json_object_new_int64(json_object_get_int64(v));
	case json_type_double:
		return isfinite(json_object_get_double(v))
			       ? json_object_new_double(json_object_get_double(v))
			       : NULL;
	case json_type_string:
		/* json-c's getter is not const-qualified; it does not modify v. */
		return text_len(json_object_get_string((struct json_object *)v),
				(size_t)json_object_get_string_len(v));
	case json_type_array:
		if (depth >= PROBE_DIGEST_DEPTH)
			return NULL;
		out = json_object_new_array();
		for (size_t i = 0; i < json_object_array_length(v); i++)
			json_object_array_add(out, clean_copy(json_object_array_get_idx(v, i),
							      depth + 1));
		return out;
	case json_type_object:
		if (depth >= PROBE_DIGEST_DEPTH)
			return NULL;
		out = json_object_new_object();
		json_object_object_foreach(v, key, val) {
			char k[PROBE_MESSAGE_MAX];
			doctor_escape_text(k, sizeof(k), key, strlen(key), 0);
			json_object_object_add(out, k, clean_copy(val, depth + 1));
		}
		return out;
	case json_type_null:
		break;
	}
	return NULL;
}

static struct json_object *digest_top(const struct json_object *top)
{
	struct json_object *rows;
	size_t n;

	if (!json_object_is_type(top, json_type_array))
		return NULL;
	rows = json_object_new_array();
	n = json_object_array_length(top);
	for (size_t i = 0; i < n && i < PROBE_DIGEST_TOP_MAX; i++)
		json_object_array_add(rows, clean_copy(json_object_array_get_idx(top, i), 1));
	return rows;
}

static struct json_object *finding(const struct doctor_finding *f, const char *tenant)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "checkId", json_object_new_string(f->check_id));
	json_object_object_add(o, "severity", json_object_new_string(f->severity));
	json_object_object_add(o, "message", json_object_new_string(f->message));
	if (f->path[0])
		json_object_object_add(o, "path", json_object_new_string(f->path));
	if (f->line > 0)
		json_object_object_add(o, "line", json_object_new_int(f->line));
	if (f->column > 0)
		json_object_object_add(o, "column", json_object_new_int(f->column));
	if (f->fix_hint[0])
		json_object_object_add(o, "fixHint", json_object_new_string(f->fix_hint));
	if (tenant)
		json_object_object_add(o, "tenant", text(tenant));
	return o;
}

/* doctor {verdict, tenants {name: {verdict, firstBad}}, firstBad}, and the same verdicts into
 * the hash input. */
static void render_doctor(const struct probe_inputs *in, const struct probe_result *res,
			  struct json_object *doc, struct json_object *hashed)
{
	struct json_object *doctor = child(doc, "doctor"), *hdoctor = child(hashed, "doctor");
	const char *verdict = doctor_verdict_name(res->doctor_verdict);

	json_object_object_add(doctor, "verdict", json_object_new_string(verdict));
	json_object_object_add(hdoctor, "verdict", json_object_new_string(verdict));
	struct json_object *tenants = child(doctor, "tenants");
	struct json_object *htenants = child(hdoctor, "tenants");
	for (size_t i = 0; i < in->ndoctor; i++) {
		const struct probe_doctor *d = &in->doctor[i];
		if (!d->tenant)
			continue;
		char key[PROBE_MESSAGE_MAX];
		const char *v = doctor_verdict_name(run_verdict(&d->result));
		doctor_escape_text(key, sizeof(key), d->tenant, strlen(d->tenant), 0);
		struct json_object *t = child(tenants, key), *ht = child(htenants, key);
		json_object_object_add(t, "verdict", json_object_new_string(v));
		json_object_object_add(ht, "verdict", json_object_new_string(v));
		json_object_object_add(t, "firstBad", d->result.has_first_bad
							      ? finding(&d->result.first_bad, NULL)
							      : NULL);
	}
	const struct probe_doctor *first = res->doctor_first_bad < in->ndoctor
						   ? &in->doctor[res->doctor_first_bad]
						   : NULL;
	json_object_object_add(doctor, "firstBad",
			       first ? finding(&first->result.first_bad, first->tenant) : NULL);
}

static void render_sources(const struct probe_inputs *in, struct json_object *doc,
			   struct json_object *hashed)
{
	bool queue = in->queue.configured && !in->queue.error;
	bool digest = in->digest.configured && !in->digest.error;
	bool service = !in->service.error;
	struct json_object *o, *top = digest ? digest_top(in->digest.top) : NULL;

	o = child(doc, "queue");
	json_object_object_add(o, "depth", int_or_null(queue, in->queue.depth));
	json_object_object_add(o, "limit", int_or_null(queue && in->queue.limit > 0,
							in->queue.limit));
	o = child(doc, "digest");
	json_object_object_add(o, "ageSec", int_or_null(digest, in->digest.age_sec));
	json_object_object_add(o, "total", int_or_null(digest, in->digest.total));
	json_object_object_add(o, "top", top);
	json_object_object_add(child(hashed, "digest"), "top", json_object_get(top));
	o = child(doc, "disk");
	json_object_object_add(o, "freePercent", decimal(!in->disk.error, in->disk.free_percent));
	o = child(doc, "service");
	json_object_object_add(o, "running", service ? json_object_new_boolean(in->service.running)
						     : NULL);
	json_object_object_add(o, "lastExit",
			       int_or_null(in->service.has_last_exit, in->service.last_exit));
	json_object_object_add(o, "restarts5m", json_object_new_int(in->service.restarts_5m));
	o = child(doc, "tcp");
	json_object_object_add(o, "ok", json_object_new_boolean(in->tcp.ok));
	json_object_object_add(o, "ms", int_or_null(in->tcp.ok, in->tcp.ms));
	o = child(doc, "latency");
	json_object_object_add(o, "samples", json_object_new_int64(in->latency.samples));
	json_object_object_add(o, "p95ms", decimal(in->latency.samples > 0, in->latency.p95_ms));
	json_object_object_add(o, "baselineP95ms", decimal(in->latency.baseline_p95_ms > 0,
							   in->latency.baseline_p95_ms));
}

static void render_build(const struct probe_inputs *in, const struct probe_result *res,
			 struct json_object *doc, struct json_object *hashed)
{
	const struct openclaw_lock *lock = lock_of(in);
	struct json_object *o;

	o = child(doc, "infra");
	json_object_object_add(o, "tag", text(in->infra.tag));
	json_object_object_add(o, "commit", text(in->infra.commit));
	json_object_object_add(o, "dirty", json_object_new_boolean(in->infra.dirty));
	json_object_object_add(child(hashed, "infra"), "commit", text(in->infra.commit));
	o = child(doc, "lock");
	json_object_object_add(o, "sha256", lock ? text(lock->file_sha256) : NULL);
	json_object_object_add(o, "versionMatch", json_object_new_boolean(res->version_match));
	json_object_object_add(child(hashed, "lock"), "sha256",
			       lock ? text(lock->file_sha256) : NULL);
	o = child(doc, "skills");
	json_object_object_add(o, "current", text(in->skills.current));
	json_object_object_add(o, "next", text(in->skills.next));
	json_object_object_add(o, "lockSemver", lock ? text(lock->skills_semver) : NULL);
	json_object_object_add(o, "match", json_object_new_boolean(res->skills_match));
	o = child(hashed, "skills");
	json_object_object_add(o, "current", text(in->skills.current));
	json_object_object_add(o, "next", text(in->skills.next));
}

/* RFC 3339 UTC with milliseconds: "2026-08-01T12:00:00.123Z". */
static struct json_object *timestamp_ms(int64_t ms)
{
	char out[RFC3339_MS_MAX];

	if (ms <= 0)
		return NULL;
	rfc3339_format_ms(ms, out, sizeof(out));
	return json_object_new_string(out);
}

int probe_render_json(const struct probe_inputs *in, const struct probe_result *res, char **json,
		      size_t *len, int *http_status, struct cf_err *err)
{
	struct json_object *doc = json_object_new_object(), *hashed = json_object_new_object();
	struct json_object *reasons = json_object_new_array();
	char sha[65], more[64];
	const char *s;
	size_t n = 0;
	int rc = -1;

	*json = NULL;
	if (!doc || !hashed || !reasons) {
		json_object_put(reasons);
		cf_err_set(err, "out of memory rendering the probe");
		goto done;
	}
	json_object_object_add(doc, "node", text(in->node));
	json_object_object_add(doc, "status",
			       json_object_new_string(probe_status_name(res->status)));
	for (size_t i = 0; i < res->nreasons; i++) {
		struct json_object *r = json_object_new_object();
		json_object_object_add(r, "code", json_object_new_string(res->reasons[i].code));
		json_object_object_add(r, "message",
				       json_object_new_string(res->reasons[i].message));
		json_object_array_add(reasons, r);
	}
	if (res->dropped) {
		struct json_object *r = json_object_new_object();
		snprintf(more, sizeof(more), "%zu more reasons not listed", res->dropped);
		json_object_object_add(r, "code", json_object_new_string("probe.more_reasons"));
		json_object_object_add(r, "message", json_object_new_string(more));
		json_object_array_add(reasons, r);
	}
	json_object_object_add(doc, "reasons", reasons);
	json_object_object_add(doc, "observedGeneration",
			       json_object_new_int64(in->observed_generation));
	render_build(in, res, doc, hashed);
	render_doctor(in, res, doc, hashed);
	render_sources(in, doc, hashed);
	json_object_object_add(doc, "checkedAt", timestamp_ms(in->checked_at_ms));
	if (canon_json_sha256(hashed, sha, err) < 0) {
		cf_err_prefix(err, "hashing the probe");
		goto done;
	}
	json_object_object_add(doc, "probeSha256", json_object_new_string(sha));
	if ((in->parity && parity_render(doc, in->parity, err) < 0) ||
	    token_ages_render(doc, &in->tokens, err) < 0)
		goto done;
	s = json_object_to_json_string_length(doc, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (!s || !(*json = strndup(s, n))) {
		cf_err_set(err, "out of memory rendering the probe");
		goto done;
	}
	if (len)
		*len = n;
	*http_status = res->status == PROBE_RED ? 503 : 200;
	rc = 0;
done:
	json_object_put(hashed);
	json_object_put(doc);
	return rc;
}

int probe_render_pending(const char *node, char **json, size_t *len, struct cf_err *err)
{
	struct json_object *doc = json_object_new_object(), *reasons = json_object_new_array(),
			   *r = json_object_new_object();
	int rc = -1;

	*json = NULL;
	if (!doc || !reasons || !r || json_object_object_add(doc, "node",
							      json_object_new_string(node)) < 0 ||
	    json_object_object_add(doc, "status", json_object_new_string("red")) < 0 ||
	    json_object_object_add(r, "code", json_object_new_string("probe.pending")) < 0 ||
	    json_object_object_add(r, "message",
				   json_object_new_string("the agent has not finished its first "
							  "observation of this node yet")) < 0)
		goto done;
	if (json_object_array_add(reasons, r) < 0)
		goto done;
	r = NULL;
	if (json_object_object_add(doc, "reasons", reasons) < 0)
		goto done;
	reasons = NULL;
	const char *s = json_object_to_json_string_length(
		doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
	if (s && (*json = strndup(s, *len)))
		rc = 0;
done:
	json_object_put(r);
	json_object_put(reasons);
	json_object_put(doc);
	return rc < 0 ? cf_err_set(err, "out of memory") : 0;
}
