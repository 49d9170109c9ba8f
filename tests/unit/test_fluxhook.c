#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "base/canon.h"
#include "base/fsutil.h"
#include "base/httpc.h"
#include "base/jsonparse.h"
#include "contracts/tokens.h"
#include "notify/notifier.h"
#include "serve/fluxhook.h"
#include "serve/httpd.h"

/* The generic-hmac golden vector from fluxcd/notification-controller (provenance in the
 * .source.txt files in tests/fixtures/flux). The sha512 value is not Flux's: it was computed for
 * the same body and key with `openssl dgst -sha512 -hmac`. */
#define GOLDEN_KEY "7152fed34dd6149a7c75a276c510da27cb6f82b0"
#define GOLDEN_SHA512                                                                  \
	"sha512=adcb78591691a4f5239504d5ca0770fcfe92bf2dca3180e42fc282d3abe7d4e3edad99944c" \
	"c10ddb11c70484fad35c02402e1f713767d2ad32d4674cf18b4330"

#define CURRENT "c0ffee-current-Token.1"
#define NEXT "n3xt-Token_2~"
#define BEARER "Authorization: Bearer " CURRENT
#define EVENT_HEADER "x-flux-event: true"
#define PATH "/hook/flux"
#define WIDE_PATH "/hook/flux-wide" /* a route given a larger body cap than it should */
#define PROMOTION_IMAGE "ghcr.io/openclaw/gateway:2026.7.1"
#define CLIENT_TIMEOUT_MS 10000L
#define RACERS 8

struct fixture {
	char dir[64];
	char current[PATH_MAX], next[PATH_MAX], prev[PATH_MAX];
	struct tokens *tokens;
	struct httpd *srv;
	char url[128], wide_url[128];
	atomic_llong now_ms;

	pthread_mutex_t mu; /* guards what the server threads share with the test */
	struct fluxhook *hook;
	struct fluxhook_snapshot snap;
	struct fluxhook_outcome last;
	int calls, triggers;
};

struct reply {
	int rc; /* httpc_do's: 0 when an answer arrived */
	long status;
	char *body;
	size_t len;
};

/* ---- the server ---- */

static int64_t fake_clock(void *ctx)
{
	struct fixture *f = ctx;
	return atomic_load(&f->now_ms);
}

/* The controller's part: copy the snapshot under its mutex, hand the request over, wake up. */
static int hook_route(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct fixture *f = ctx;
	struct fluxhook_snapshot snap;
	struct fluxhook_outcome out;

	pthread_mutex_lock(&f->mu);
	snap = f->snap;
	struct fluxhook *hook = f->hook;
	pthread_mutex_unlock(&f->mu);
	int rc = fluxhook_handle(hook, req, &snap, resp, &out);
	pthread_mutex_lock(&f->mu);
	f->last = out;
	f->calls++;
	f->triggers += out.trigger;
	pthread_mutex_unlock(&f->mu);
	return rc;
}

static void write_file(const char *path, const char *text)
{
	struct cf_err err = { { 0 } };
	assert_int_equal(fsutil_write_atomic(path, text, strlen(text), 0600, &err), 0);
}

static void open_hook(struct fixture *f, bool require_event_header, size_t capacity)
{
	struct fluxhook_config cfg = FLUXHOOK_CONFIG_INIT;
	struct cf_err err = { { 0 } };
	struct fluxhook *hook;

	cfg.tokens = f->tokens;
	cfg.require_event_header = require_event_header;
	cfg.dedupe_capacity = capacity;
	cfg.clock_ms = fake_clock;
	cfg.clock_ctx = f;
	if (fluxhook_new(&hook, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	pthread_mutex_lock(&f->mu);
	fluxhook_free(f->hook);
	f->hook = hook;
	pthread_mutex_unlock(&f->mu);
}

/* A fleet mid-rollout with a green canary and the Promotion's image. */
static void green_snapshot(struct fluxhook_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->observed = true;
	strcpy(s->promotion, "gateway");
	strcpy(s->tag, "v2026.7.1");
	strcpy(s->image_ref, PROMOTION_IMAGE);
	strcpy(s->skill_semver, "1.4.2");
	strcpy(s->revision, "refs/heads/main@sha1:1111111111111111111111111111111111111111");
	s->phase = ROLLOUT_ANALYSING;
	s->step = 2;
	s->percent = 20;
	s->ncanaries = 1;
	strcpy(s->canaries[0].node, "canary-gw");
	s->canaries[0].reachable = true;
	s->canaries[0].status = PROBE_GREEN;
	s->canaries[0].p95_ms = 60;
	s->canaries[0].baseline_p95_ms = 80;
	s->gateways = PROBE_GREEN;
}

static void set_snapshot(struct fixture *f, const struct fluxhook_snapshot *s)
{
	pthread_mutex_lock(&f->mu);
	f->snap = *s;
	pthread_mutex_unlock(&f->mu);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tokens_config tcfg = TOKENS_CONFIG_INIT;
	struct cf_err err = { { 0 } };

	assert_non_null(f);
	assert_int_equal(pthread_mutex_init(&f->mu, NULL), 0);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_fluxhook.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->current, sizeof(f->current), "%s/token.current", f->dir);
	snprintf(f->next, sizeof(f->next), "%s/token.next", f->dir);
	snprintf(f->prev, sizeof(f->prev), "%s/token.prev", f->dir);
	write_file(f->current, CURRENT "\n");
	tcfg.dir = f->dir;
	tcfg.recheck_ms = 0;
	if (tokens_open(&f->tokens, &tcfg, &err) < 0)
		fail_msg("%s", err.msg);
	open_hook(f, true, 0);
	green_snapshot(&f->snap);

	const struct httpd_route routes[] = {
		{"POST", PATH, hook_route, f, FLUXHOOK_MAX_BODY, NULL},
		{"POST", WIDE_PATH, hook_route, f, 2 * FLUXHOOK_MAX_BODY, NULL},
	};
	struct httpd_config cfg = {.listen = "127.0.0.1:0", .routes = routes, .n_routes = 2};
	if (httpd_start(&f->srv, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u" PATH, httpd_port(f->srv));
	snprintf(f->wide_url, sizeof(f->wide_url), "http://127.0.0.1:%u" WIDE_PATH,
		 httpd_port(f->srv));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct cf_err err = { { 0 } };
	httpd_stop(f->srv);
	fluxhook_free(f->hook);
	tokens_free(f->tokens);
	assert_int_equal(fsutil_remove_tree(f->dir, &err), 0);
	pthread_mutex_destroy(&f->mu);
	free(f);
	return 0;
}

/* ---- the client ---- */

/* POSTs body with the given header lines (NULL-terminated) through the one HTTP client. Safe
 * from several threads. */
static void post_raw(const char *url, const char *body, size_t len, const char *const *headers,
		     struct reply *r)
{
	const char *lines[16] = {"Expect:", "Content-Type: application/json"};
	size_t n = 2;
	for (size_t i = 0; headers && headers[i]; i++) {
		assert_true(n + 1 < sizeof(lines) / sizeof(lines[0]));
		lines[n++] = headers[i];
	}
	struct httpc_request req = {.method = "POST",
				    .url = url,
				    .headers = lines,
				    .body = body,
				    .body_len = len,
				    .connect_timeout_ms = CLIENT_TIMEOUT_MS,
				    .timeout_ms = CLIENT_TIMEOUT_MS,
				    .max_reply = 1u << 20};
	struct httpc_reply reply = {0};
	struct cf_err err = {{0}};

	memset(r, 0, sizeof(*r));
	r->rc = httpc_do(NULL, &req, &reply, &err);
	r->status = reply.status;
	r->body = buf_take(&reply.body, &r->len);
	assert_non_null(r->body);
	httpc_reply_free(&reply);
}

static void post(struct fixture *f, const char *body, const char *const *headers,
		 struct reply *r)
{
	post_raw(f->url, body, strlen(body), headers, r);
	assert_int_equal(r->rc, 0);
}

/* POSTs with the current bearer token and x-flux-event, expecting 202; returns the envelope. */
/* text as one JSON object, through the one reader; the test fails when it is not one. */
static struct json_object *json_of(const char *text)
{
	struct json_object *v = NULL;
	struct cf_err err;
	if (!text || jsonparse_object(text, strlen(text), JSONPARSE_DEPTH, &v, &err) < 0)
		fail_msg("not a JSON object (%s): %s", text ? err.msg : "no body",
			 text ? text : "");
	return v;
}

static struct json_object *accepted(struct fixture *f, const char *body, struct reply *r)
{
	const char *headers[] = {BEARER, EVENT_HEADER, NULL};
	post(f, body, headers, r);
	if (r->status != 202)
		fail_msg("expected 202, got %ld: %s", r->status, r->body ? r->body : "");
	struct json_object *env = json_of(r->body);
	return env;
}

static struct json_object *at(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no key %s in %s", key, json_object_to_json_string(o));
	return v;
}

static const char *str_at(struct json_object *o, const char *key)
{
	struct json_object *v = at(o, key);
	return v ? json_object_get_string(v) : NULL;
}

static struct fluxhook_outcome last_outcome(struct fixture *f, int *calls, int *triggers)
{
	pthread_mutex_lock(&f->mu);
	struct fluxhook_outcome out = f->last;
	if (calls)
		*calls = f->calls;
	if (triggers)
		*triggers = f->triggers;
	pthread_mutex_unlock(&f->mu);
	return out;
}

static char *read_fixture(const char *name, size_t *len)
{
	/* __FILE__ is tests/unit/test_fluxhook.c, relative to where make runs, or absolute. */
	char path[PATH_MAX];
	const char *slash = strrchr(__FILE__, '/');
	int dir_len = slash ? (int)(slash - __FILE__) : 1;
	snprintf(path, sizeof(path), "%.*s/../fixtures/flux/%s", dir_len,
		 slash ? __FILE__ : ".", name);
	char *data = NULL;
	struct cf_err err = { { 0 } };
	if (fsutil_read_file(path, 1 << 16, &data, len, &err) < 0)
		fail_msg("%s", err.msg);
	return data;
}

/* An event as notification-controller v1.9 sends it (prefix-stripped metadata, uid and
 * resourceVersion from client-go), with extra metadata entries and a timestamp to tell
 * events apart. */
static void flux_event(char *out, size_t size, const char *timestamp, const char *metadata)
{
	snprintf(out, size,
		 "{\"involvedObject\":{\"kind\":\"GitRepository\",\"namespace\":\"flux-system\","
		 "\"name\":\"fleet\",\"uid\":\"0b5e3f5c-2a4d-4a57-9f43-3c8b1b0f9e21\","
		 "\"apiVersion\":\"source.toolkit.fluxcd.io/v1\",\"resourceVersion\":\"48213\"},"
		 "\"severity\":\"info\",\"timestamp\":\"%s\","
		 "\"message\":\"stored artifact for commit 'chore: bump gateway'\","
		 "\"reason\":\"NewArtifact\",\"metadata\":{%s},"
		 "\"reportingController\":\"source-controller\","
		 "\"reportingInstance\":\"source-controller-6d8f8b7c9-x2x4p\"}",
		 timestamp, metadata);
}

static void expect_unauthorized(struct fixture *f, const char *body, size_t len,
				const char *const *headers)
{
	struct reply r;
	int calls_before, calls, triggers_before, triggers;

	last_outcome(f, &calls_before, &triggers_before);
	post_raw(f->url, body, len, headers, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.body, TOKENS_UNAUTHORIZED_BODY);
	struct fluxhook_outcome out = last_outcome(f, &calls, &triggers);
	assert_int_equal(calls, calls_before + 1);
	assert_int_equal(triggers, triggers_before);
	assert_int_equal(out.status, 401);
	assert_null(strstr(out.message, CURRENT));
	free(r.body);
}

/* ---- tests ---- */

static void test_generic_event_accepted(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	size_t len;
	char *body = read_fixture("nc-event-generic-kustomization-error.json", &len);
	char expected_id[65], correlation[NF_CORRELATION_MAX];

	/* The construction the header documents, written out by hand. */
	const char *material =
		"[\"Kustomization\",\"apps\",\"webapp\",\"ValidationFailed\","
		"\"service/apps/webapp validation error: spec.type: Unsupported value: Ingress\","
		"\"main/731f7eaddfb6af01cb2173e18f0f75b0ba780ef1\",\"2022-10-28T07:26:19Z\"]";
	canon_sha256_hex(material, strlen(material), expected_id);
	nf_correlation_id(expected_id, correlation);

	struct json_object *env = accepted(f, body, &r);
	assert_string_equal(str_at(env, "eventId"), expected_id);
	assert_string_equal(str_at(env, "fluxUid"), "7d0cdc51-ddcf-4743-b223-83ca5c699632");
	assert_string_equal(str_at(env, "revision"),
			    "main/731f7eaddfb6af01cb2173e18f0f75b0ba780ef1");
	assert_string_equal(str_at(env, "imageRef"), PROMOTION_IMAGE);
	assert_false(json_object_object_get_ex(env, "canaryHeader", NULL));
	assert_string_equal(str_at(env, "verdict"), "promote");
	assert_string_equal(str_at(env, "probeKey"), "canary.health");
	assert_string_equal(str_at(env, "phase"), "Analysing");
	assert_int_equal(json_object_get_int(at(env, "step")), 2);
	assert_int_equal(json_object_get_int(at(env, "percent")), 20);
	assert_string_equal(str_at(env, "correlationId"), correlation);
	struct json_object *promotion = at(env, "promotion");
	assert_string_equal(str_at(promotion, "name"), "gateway");
	assert_string_equal(str_at(promotion, "tag"), "v2026.7.1");
	assert_string_equal(str_at(promotion, "skillSemver"), "1.4.2");
	struct json_object *probes = at(env, "probes");
	assert_string_equal(str_at(at(probes, "gateway.health"), "status"), "green");
	assert_string_equal(str_at(at(probes, "canary.health"), "status"), "green");
	assert_true(json_object_get_boolean(at(at(probes, "image.match"), "match")));

	int triggers;
	struct fluxhook_outcome out = last_outcome(f, NULL, &triggers);
	assert_int_equal(out.status, 202);
	assert_true(out.trigger);
	assert_false(out.redelivery);
	assert_int_equal(triggers, 1);
	assert_int_equal(out.verdict, VERDICT_PROMOTE);
	assert_string_equal(out.event_id, expected_id);
	assert_string_equal(out.flux_uid, "7d0cdc51-ddcf-4743-b223-83ca5c699632");
	assert_string_equal(out.correlation_id, correlation);
	assert_string_equal(out.probe_key, "canary.health");
	assert_non_null(strstr(out.message, "Kustomization apps/webapp"));
	json_object_put(env);
	free(r.body);
	free(body);
}

/* The body and headers notification-controller's own test sends through generic-hmac: its
 * Authorization header is the Provider's static "token", so only the signature can pass. */
static void test_hmac_golden_vector_accepted(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	size_t body_len, sig_len;
	char *body = read_fixture("nc-event-hmac-golden-body.json", &body_len);
	char *sig = read_fixture("nc-event-hmac-golden-signature.txt", &sig_len);
	char sig_header[160], sha512_header[200];

	sig[strcspn(sig, "\r\n")] = '\0';
	snprintf(sig_header, sizeof(sig_header), "X-Signature: %s", sig);
	snprintf(sha512_header, sizeof(sha512_header), "X-Signature: %s", GOLDEN_SHA512);
	write_file(f->next, GOLDEN_KEY);

	const char *headers[] = {"Gotk-Component: source-controller", "Authorization: token",
				 EVENT_HEADER, sig_header, NULL};
	post_raw(f->url, body, body_len, headers, &r);
	assert_int_equal(r.status, 202);
	struct json_object *env = json_of(r.body);
	assert_null(at(env, "fluxUid"));
	assert_null(at(env, "revision"));
	assert_string_equal(str_at(env, "verdict"), "promote");
	json_object_put(env);
	free(r.body);

	const char *sha512[] = {EVENT_HEADER, sha512_header, NULL};
	post_raw(f->url, body, body_len, sha512, &r);
	assert_int_equal(r.status, 202);
	free(r.body);
	free(body);
	free(sig);
}

static void test_every_auth_failure_is_the_same_401(void **state)
{
	struct fixture *f = *state;
	size_t body_len, sig_len;
	char *body = read_fixture("nc-event-hmac-golden-body.json", &body_len);
	char *sig = read_fixture("nc-event-hmac-golden-signature.txt", &sig_len);
	char good_sig[160], bad_sig[160], bad_sha512[200];
	char other[2048];

	write_file(f->next, GOLDEN_KEY);
	sig[strcspn(sig, "\r\n")] = '\0';
	snprintf(good_sig, sizeof(good_sig), "X-Signature: %s", sig);
	snprintf(bad_sig, sizeof(bad_sig), "X-Signature: %s", sig);
	bad_sig[strlen(bad_sig) - 1] ^= 1; /* the last hex digit, changed */
	snprintf(bad_sha512, sizeof(bad_sha512), "X-Signature: %s", GOLDEN_SHA512);
	bad_sha512[strlen(bad_sha512) - 1] = '1';
	flux_event(other, sizeof(other), "2026-11-21T03:00:00Z", "\"revision\":\"main@sha1:1\"");

	const char *missing[] = {EVENT_HEADER, NULL};
	const char *empty[] = {"Authorization: Bearer ", EVENT_HEADER, NULL};
	const char *prefix[] = {"Authorization: Bearer c0ffee-current", EVENT_HEADER, NULL};
	const char *longer[] = {BEARER "x", EVENT_HEADER, NULL};
	const char *basic[] = {"Authorization: Basic " CURRENT, EVENT_HEADER, NULL};
	const char *wrong_sig[] = {EVENT_HEADER, bad_sig, NULL};
	const char *wrong_sha512[] = {EVENT_HEADER, bad_sha512, NULL};

	expect_unauthorized(f, body, body_len, missing);
	expect_unauthorized(f, body, body_len, empty);
	expect_unauthorized(f, body, body_len, prefix);
	expect_unauthorized(f, body, body_len, longer);
	expect_unauthorized(f, body, body_len, basic);
	expect_unauthorized(f, body, body_len, wrong_sig);
	expect_unauthorized(f, body, body_len, wrong_sha512);
	/* A good signature over another body. */
	const char *replayed_sig[] = {EVENT_HEADER, good_sig, NULL};
	expect_unauthorized(f, other, strlen(other), replayed_sig);
	/* Authentication comes before the event header and the body are looked at. */
	const char *nothing[] = {NULL};
	expect_unauthorized(f, "{not json", 9, nothing);

	struct fluxhook_outcome out = last_outcome(f, NULL, NULL);
	assert_non_null(strstr(out.message, "neither Authorization nor X-Signature"));
	free(body);
	free(sig);
}

/* A token is accepted while its file holds it; the rotation's files are re-read. */
static void test_rotated_and_retired_tokens(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char body[2048];
	const char *old_bearer[] = {BEARER, EVENT_HEADER, NULL};
	const char *next_bearer[] = {"Authorization: Bearer " NEXT, EVENT_HEADER, NULL};

	flux_event(body, sizeof(body), "2026-11-21T03:00:00Z", "\"revision\":\"main@sha1:1\"");
	/* stage: both tokens pass */
	write_file(f->next, NEXT);
	post(f, body, old_bearer, &r);
	assert_int_equal(r.status, 202);
	free(r.body);
	post(f, body, next_bearer, &r);
	assert_int_equal(r.status, 202);
	free(r.body);
	/* promote: next becomes current, the old one lives on as prev */
	assert_int_equal(rename(f->current, f->prev), 0);
	assert_int_equal(rename(f->next, f->current), 0);
	post(f, body, old_bearer, &r);
	assert_int_equal(r.status, 202);
	free(r.body);
	/* revoke: prev is gone and so is the old token */
	assert_int_equal(unlink(f->prev), 0);
	expect_unauthorized(f, body, strlen(body), old_bearer);
	post(f, body, next_bearer, &r);
	assert_int_equal(r.status, 202);
	free(r.body);
	/* a token file rewritten in place retires what it held */
	write_file(f->current, "replacement-token");
	expect_unauthorized(f, body, strlen(body), next_bearer);
}

static void test_missing_event_header(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char body[2048];
	const char *absent[] = {BEARER, NULL};
	const char *empty[] = {BEARER, "x-flux-event;", NULL};

	flux_event(body, sizeof(body), "2026-11-21T03:00:00Z", "");
	post(f, body, absent, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.body, "{\"error\":\"missing header x-flux-event\"}");
	free(r.body);
	post(f, body, empty, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.body, "{\"error\":\"missing header x-flux-event\"}");
	free(r.body);
	int triggers;
	struct fluxhook_outcome out = last_outcome(f, NULL, &triggers);
	assert_int_equal(out.status, 400);
	assert_int_equal(triggers, 0);

	/* Configured off, the header is not needed. */
	open_hook(f, false, 0);
	post(f, body, absent, &r);
	assert_int_equal(r.status, 202);
	free(r.body);
}

static void expect_bad_request(struct fixture *f, const char *body, const char *reason)
{
	const char *headers[] = {BEARER, EVENT_HEADER, NULL};
	struct reply r;
	int triggers_before, triggers;

	last_outcome(f, NULL, &triggers_before);
	post(f, body, headers, &r);
	if (r.status != 400 || !strstr(r.body, reason))
		fail_msg("%s: expected 400 naming \"%s\", got %ld %s", body, reason, r.status,
			 r.body);
	struct json_object *err = json_of(r.body);
	assert_non_null(strstr(str_at(err, "error"), "invalid Flux event"));
	json_object_put(err);
	last_outcome(f, NULL, &triggers);
	assert_int_equal(triggers, triggers_before);
	free(r.body);
}

static void test_malformed_bodies(void **state)
{
	struct fixture *f = *state;
	char deep[256] = "";

	expect_bad_request(f, "", "not valid JSON");
	expect_bad_request(f, "{\"involvedObject\":", "not valid JSON");
	expect_bad_request(f, "{} trailing", "not valid JSON");
	expect_bad_request(f, "{\"involvedObject\":tru}", "not valid JSON");
	expect_bad_request(f, "[1, 2]", "not a JSON object");
	expect_bad_request(f, "\"event\"", "not a JSON object");
	expect_bad_request(f, "{}", "involvedObject is missing");
	expect_bad_request(f, "{\"involvedObject\":[]}", "involvedObject must be an object");
	expect_bad_request(f, "{\"involvedObject\":{\"name\":\"webapp\"}}",
			   "involvedObject.kind is missing");
	expect_bad_request(f, "{\"involvedObject\":{\"kind\":\"GitRepository\"}}",
			   "involvedObject.name is missing");
	expect_bad_request(f, "{\"involvedObject\":{\"kind\":7,\"name\":\"webapp\"}}",
			   "involvedObject.kind must be a string");
	expect_bad_request(f, "{\"involvedObject\":{\"kind\":\"Git Repository\",\"name\":\"w\"}}",
			   "involvedObject.kind must be");
	expect_bad_request(f, "{\"involvedObject\":{\"kind\":\"Kustomization\",\"name\":\"../x\"}}",
			   "involvedObject.name");
	expect_bad_request(f,
			   "{\"involvedObject\":{\"kind\":\"Kustomization\","
			   "\"name\":\"webapp\\u0000x\"}}",
			   "NUL");
	expect_bad_request(f,
			   "{\"involvedObject\":{\"kind\":\"Kustomization\",\"name\":\"webapp\","
			   "\"uid\":\"a b\"}}",
			   "involvedObject.uid must be printable ASCII");
	expect_bad_request(f,
			   "{\"involvedObject\":{\"kind\":\"Kustomization\",\"name\":\"webapp\"},"
			   "\"message\":{}}",
			   "message must be a string");
	expect_bad_request(f,
			   "{\"involvedObject\":{\"kind\":\"Kustomization\",\"name\":\"webapp\"},"
			   "\"metadata\":\"revision\"}",
			   "metadata must be an object");
	expect_bad_request(f,
			   "{\"involvedObject\":{\"kind\":\"Kustomization\",\"name\":\"webapp\"},"
			   "\"metadata\":{\"kustomize.toolkit.fluxcd.io/revision\":42}}",
			   "metadata.revision must be a string");
	expect_bad_request(f,
			   "{\"involvedObject\":{\"kind\":\"Kustomization\",\"name\":\"webapp\"},"
			   "\"message\":\"\xff\xfe\"}",
			   "not valid JSON");
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	expect_bad_request(f, deep, "not valid JSON");
}

/* A body over 1 MiB is refused before authentication is tried; 1 MiB itself is read. */
static void test_size_limit_before_auth(void **state)
{
	struct fixture *f = *state;
	size_t len = FLUXHOOK_MAX_BODY + 1;
	char *big = malloc(len + 1);
	struct reply r;
	int calls_before, calls;

	assert_non_null(big);
	memset(big, ' ', len);
	big[len] = '\0';
	last_outcome(f, &calls_before, NULL);
	const char *none[] = {NULL};
	post_raw(f->url, big, len, none, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.status, 413);
	last_outcome(f, &calls, NULL);
	assert_int_equal(calls, calls_before);
	free(r.body);

	/* A route registered with a larger cap still refuses before authentication. */
	post_raw(f->wide_url, big, len, none, &r);
	assert_int_equal(r.status, 413);
	struct fluxhook_outcome out = last_outcome(f, &calls, NULL);
	assert_int_equal(calls, calls_before + 1);
	assert_int_equal(out.status, 413);
	free(r.body);

	const char *headers[] = {BEARER, EVENT_HEADER, NULL};
	post_raw(f->url, big, len - 1, headers, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "not valid JSON"));
	free(r.body);
	free(big);
}

/* Flux retries a delivery it thinks failed: the same answer, and nothing new. */
static void test_redelivery_same_bytes_no_trigger(void **state)
{
	struct fixture *f = *state;
	struct reply first, again, next;
	char body[2048], later[2048];
	struct fluxhook_snapshot red;

	flux_event(body, sizeof(body), "2026-11-21T03:00:00Z", "\"revision\":\"main@sha1:2\"");
	flux_event(later, sizeof(later), "2026-11-21T03:00:01Z", "\"revision\":\"main@sha1:2\"");
	json_object_put(accepted(f, body, &first));
	struct fluxhook_outcome out1 = last_outcome(f, NULL, NULL);

	/* The fleet changed since; the stored answer stands. */
	green_snapshot(&red);
	red.canaries[0].status = PROBE_RED;
	strcpy(red.canaries[0].reason, "doctor.red");
	set_snapshot(f, &red);
	json_object_put(accepted(f, body, &again));
	assert_int_equal(again.len, first.len);
	assert_memory_equal(again.body, first.body, first.len);
	int triggers;
	struct fluxhook_outcome out2 = last_outcome(f, NULL, &triggers);
	assert_int_equal(triggers, 1);
	assert_false(out2.trigger);
	assert_true(out2.redelivery);
	assert_string_equal(out2.event_id, out1.event_id);
	assert_string_equal(out2.correlation_id, out1.correlation_id);
	assert_int_equal(out2.verdict, VERDICT_PROMOTE);

	/* Another event (a new timestamp) is news, judged on the fleet as it is now. */
	struct json_object *env = accepted(f, later, &next);
	assert_string_equal(str_at(env, "verdict"), "rollback");
	assert_string_not_equal(str_at(env, "eventId"), out1.event_id);
	last_outcome(f, NULL, &triggers);
	assert_int_equal(triggers, 2);
	json_object_put(env);
	free(first.body);
	free(again.body);
	free(next.body);
}

static void test_redelivery_after_ttl_is_new(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char body[2048];
	int triggers;

	flux_event(body, sizeof(body), "2026-11-21T03:00:00Z", "");
	json_object_put(accepted(f, body, &r));
	free(r.body);
	atomic_store(&f->now_ms, FLUXHOOK_DEFAULT_TTL_MS - 1);
	json_object_put(accepted(f, body, &r));
	free(r.body);
	last_outcome(f, NULL, &triggers);
	assert_int_equal(triggers, 1);
	atomic_store(&f->now_ms, FLUXHOOK_DEFAULT_TTL_MS);
	json_object_put(accepted(f, body, &r));
	free(r.body);
	struct fluxhook_outcome out = last_outcome(f, NULL, &triggers);
	assert_int_equal(triggers, 2);
	assert_true(out.trigger);
}

/* Event text is hashed as it came, NUL and replaced surrogates included, never trusted. */
static void test_event_text_is_hashed_not_trusted(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	const char *plain = "{\"involvedObject\":{\"kind\":\"Kustomization\",\"name\":\"webapp\"},"
			    "\"message\":\"ab\"}";
	const char *odd = "{\"involvedObject\":{\"kind\":\"Kustomization\",\"name\":\"webapp\"},"
			  "\"message\":\"a\\u0000b \\ud800\"}";

	struct json_object *a = accepted(f, plain, &r);
	free(r.body);
	struct json_object *b = accepted(f, odd, &r);
	free(r.body);
	assert_string_not_equal(str_at(a, "eventId"), str_at(b, "eventId"));
	json_object_put(a);
	json_object_put(b);
}

/* Older notification-controllers prefixed metadata keys with the API group. */
static void test_metadata_keys_with_group_prefix(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char body[2048];

	flux_event(body, sizeof(body), "2026-11-21T03:00:00Z",
		   "\"source.toolkit.fluxcd.io/revision\":\"main@sha1:abc\","
		   "\"image.toolkit.fluxcd.io/imageRef\":\"" PROMOTION_IMAGE "\"");
	struct json_object *env = accepted(f, body, &r);
	assert_string_equal(str_at(env, "revision"), "main@sha1:abc");
	assert_string_equal(str_at(env, "imageRef"), PROMOTION_IMAGE);
	assert_string_equal(str_at(at(at(env, "probes"), "image.match"), "policyTag"), "2026.7.1");
	json_object_put(env);
	free(r.body);

	/* The plain key wins over a prefixed one, wherever it stands. */
	flux_event(body, sizeof(body), "2026-11-21T03:00:01Z",
		   "\"kustomize.toolkit.fluxcd.io/revision\":\"main@sha1:old\","
		   "\"revision\":\"main@sha1:new\"");
	env = accepted(f, body, &r);
	assert_string_equal(str_at(env, "revision"), "main@sha1:new");
	json_object_put(env);
	free(r.body);
}

/* canaryHeader routes nothing (HAProxy routes tenants by the fixed header in Git), so it is
 * neither echoed nor checked, from the metadata or from a request header. */
static void test_canary_header_not_read(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char body[2048];
	const char *with_header[] = {BEARER, EVENT_HEADER, "X-Canary-Header: caf\xc3\xa9", NULL};

	flux_event(body, sizeof(body), "2026-11-21T03:00:00Z",
		   "\"canaryHeader\":\"X-Tenant: acme\"");
	post(f, body, with_header, &r);
	assert_int_equal(r.status, 202);
	assert_null(strstr(r.body, "anaryHeader"));
	assert_null(strstr(r.body, "acme"));
	free(r.body);
}

/* webhook.accept: an object no entry names is answered 202 "ignored" and asks for no pass; a
 * NULL field matches anything. */
static void test_accept_list(void **state)
{
	struct fixture *f = *state;
	struct fluxhook_config cfg = FLUXHOOK_CONFIG_INIT;
	const struct fluxhook_accept accept[] = {
		{"GitRepository", "flux-system", "fleet"},
		{"ImageUpdateAutomation", NULL, NULL},
	};
	struct cf_err err = { { 0 } };
	struct fluxhook *hook;
	struct reply r;
	char body[2048];

	cfg.tokens = f->tokens;
	cfg.clock_ms = fake_clock;
	cfg.clock_ctx = f;
	cfg.accept = accept;
	cfg.naccept = 2;
	if (fluxhook_new(&hook, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	pthread_mutex_lock(&f->mu);
	fluxhook_free(f->hook);
	f->hook = hook;
	pthread_mutex_unlock(&f->mu);

	/* flux_event's object: GitRepository flux-system/fleet, named by the first entry. */
	flux_event(body, sizeof(body), "2026-11-21T03:00:00Z", "");
	struct json_object *env = accepted(f, body, &r);
	assert_string_equal(str_at(env, "verdict"), "promote");
	assert_int_equal(f->triggers, 1);
	json_object_put(env);
	free(r.body);

	char *other = strstr(body, "\"fleet\"");
	assert_non_null(other);
	memcpy(other, "\"fleex\"", 7);
	env = accepted(f, body, &r);
	assert_string_equal(str_at(env, "verdict"), "ignored");
	assert_non_null(strstr(str_at(env, "reason"), "webhook.accept"));
	assert_int_equal(strlen(str_at(env, "eventId")), 64);
	assert_false(json_object_object_get_ex(env, "probes", NULL));
	pthread_mutex_lock(&f->mu);
	assert_true(f->last.ignored);
	assert_false(f->last.trigger);
	assert_non_null(strstr(f->last.message, "ignored"));
	assert_int_equal(f->triggers, 1);
	pthread_mutex_unlock(&f->mu);
	json_object_put(env);
	free(r.body);

	/* Authentication still comes first. */
	const char *no_token[] = {EVENT_HEADER, NULL};
	post(f, body, no_token, &r);
	assert_int_equal(r.status, 401);
	free(r.body);

	struct fluxhook_accept many[FLUXHOOK_ACCEPT_MAX + 1] = { { 0 } };
	cfg.accept = many;
	cfg.naccept = FLUXHOOK_ACCEPT_MAX + 1;
	assert_int_equal(fluxhook_new(&hook, &cfg, &err), -1);
	assert_null(hook);
	assert_non_null(strstr(err.msg, "accept"));
}

struct verdict_case {
	const char *name;
	void (*adjust)(struct fluxhook_snapshot *s);
	const char *image_ref; /* the event's metadata.imageRef; NULL: none */
	const char *verdict;
	const char *probe_key;
};

static void canary_degraded(struct fluxhook_snapshot *s)
{
	s->canaries[0].status = PROBE_DEGRADED;
	strcpy(s->canaries[0].reason, "doctor.yellow");
}

static void canary_red(struct fluxhook_snapshot *s)
{
	s->canaries[0].status = PROBE_RED;
	strcpy(s->canaries[0].reason, "latency.p95");
}

static void canary_red_without_reason(struct fluxhook_snapshot *s)
{
	s->canaries[0].status = PROBE_RED;
}

static void canary_unreachable(struct fluxhook_snapshot *s)
{
	s->canaries[0].reachable = false;
}

static void rolling_back(struct fluxhook_snapshot *s)
{
	s->phase = ROLLOUT_ROLLING_BACK;
	strcpy(s->phase_reason, "doctor.red");
}

static void rolled_back(struct fluxhook_snapshot *s)
{
	s->phase = ROLLOUT_ROLLED_BACK;
}

static void held(struct fluxhook_snapshot *s)
{
	s->phase = ROLLOUT_HELD;
	strcpy(s->phase_reason, "max_hold");
}

static void suspended(struct fluxhook_snapshot *s)
{
	s->suspended = true;
}

static void not_observed(struct fluxhook_snapshot *s)
{
	memset(s, 0, sizeof(*s));
}

static void no_canary(struct fluxhook_snapshot *s)
{
	s->ncanaries = 0;
}

static void promotion_pinned_by_digest(struct fluxhook_snapshot *s)
{
	strcpy(s->image_ref, PROMOTION_IMAGE "@sha256:" "0123456789abcdef0123456789abcdef"
					     "0123456789abcdef0123456789abcdef");
}

static void unchanged(struct fluxhook_snapshot *s)
{
	(void)s;
}

static void lock_pins_image(struct fluxhook_snapshot *s)
{
	strcpy(s->pinned_version, "2026.7.1");
}

/* Flux bumped imageRef in Git; the lock still pins the build the Macs run. */
static void lock_pins_older(struct fluxhook_snapshot *s)
{
	strcpy(s->image_ref, "ghcr.io/openclaw/gateway:2026.7.2");
	strcpy(s->pinned_version, "2026.7.1");
}

static void canary_red_unpinned(struct fluxhook_snapshot *s)
{
	lock_pins_older(s);
	canary_red(s);
}

/* The image.match probe of a Promotion whose imageRef Flux bumped past the lock: hold, with both
 * versions in the envelope. */
static void test_image_not_pinned(void **state)
{
	struct fixture *f = *state;
	struct fluxhook_snapshot snap;
	struct reply r;
	char body[2048];

	green_snapshot(&snap);
	lock_pins_older(&snap);
	set_snapshot(f, &snap);
	flux_event(body, sizeof(body), "2026-11-21T05:00:00Z", "");
	struct json_object *env = accepted(f, body, &r);
	struct json_object *match = at(at(env, "probes"), "image.match");
	assert_string_equal(str_at(env, "verdict"), "hold");
	assert_false(json_object_get_boolean(at(match, "match")));
	assert_string_equal(str_at(match, "pinnedVersion"), "2026.7.1");
	assert_string_equal(str_at(match, "imageRef"), "ghcr.io/openclaw/gateway:2026.7.2");
	struct fluxhook_outcome out = last_outcome(f, NULL, NULL);
	assert_non_null(strstr(out.message, "openclaw.lock pins (2026.7.1)"));
	json_object_put(env);
	free(r.body);
}

static void test_verdict_table(void **state)
{
	struct fixture *f = *state;
	static const struct verdict_case cases[] = {
		{"green canary", unchanged, NULL, "promote", "canary.health"},
		{"green canary, same image", unchanged, PROMOTION_IMAGE, "promote",
		 "canary.health"},
		{"degraded canary", canary_degraded, NULL, "hold", "doctor.yellow"},
		{"red canary", canary_red, NULL, "rollback", "latency.p95"},
		{"red canary without a reason", canary_red_without_reason, NULL, "rollback",
		 "canary.health"},
		{"unreachable canary", canary_unreachable, NULL, "hold", "canary.unreachable"},
		{"RollingBack", rolling_back, NULL, "rollback", "doctor.red"},
		{"RolledBack", rolled_back, NULL, "rollback", "rollout.phase"},
		{"Held", held, NULL, "hold", "max_hold"},
		{"suspended", suspended, NULL, "hold", "rollout.suspended"},
		{"no pass yet", not_observed, NULL, "hold", "canary.unobserved"},
		{"no canary", no_canary, NULL, "hold", "canary.unobserved"},
		{"image not in Git yet", unchanged, "ghcr.io/openclaw/gateway:2026.7.2", "hold",
		 "image.match"},
		{"image of another repository", unchanged, "ghcr.io/someone/gateway:2026.7.1",
		 "hold", "image.match"},
		{"red beats a mismatched image", canary_red, "ghcr.io/openclaw/gateway:2026.7.2",
		 "rollback", "latency.p95"},
		{"tag matches a digest-pinned Promotion", promotion_pinned_by_digest,
		 PROMOTION_IMAGE, "promote", "canary.health"},
		{"digests differ", promotion_pinned_by_digest,
		 PROMOTION_IMAGE "@sha256:ffffffffffffffffffffffffffffffff"
				 "ffffffffffffffffffffffffffffffff",
		 "hold", "image.match"},
		{"the lock pins the image", lock_pins_image, PROMOTION_IMAGE, "promote",
		 "canary.health"},
		{"the lock pins another version", lock_pins_older,
		 "ghcr.io/openclaw/gateway:2026.7.2", "hold", "image.match"},
		{"the Promotion's image is not pinned", lock_pins_older, NULL, "hold",
		 "image.match"},
		{"red beats an unpinned image", canary_red_unpinned, NULL, "rollback",
		 "latency.p95"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct verdict_case *c = &cases[i];
		struct fluxhook_snapshot snap;
		char metadata[256] = "", timestamp[32], body[2048];
		struct reply r;

		green_snapshot(&snap);
		c->adjust(&snap);
		set_snapshot(f, &snap);
		if (c->image_ref)
			snprintf(metadata, sizeof(metadata), "\"imageRef\":\"%s\"", c->image_ref);
		snprintf(timestamp, sizeof(timestamp), "2026-11-21T04:00:%02zuZ", i);
		flux_event(body, sizeof(body), timestamp, metadata);
		struct json_object *env = accepted(f, body, &r);
		if (strcmp(str_at(env, "verdict"), c->verdict) != 0 ||
		    strcmp(str_at(env, "probeKey"), c->probe_key) != 0)
			fail_msg("%s: expected %s by %s, got %s", c->name, c->verdict,
				 c->probe_key, r.body);
		struct fluxhook_outcome out = last_outcome(f, NULL, NULL);
		assert_string_equal(broadcast_verdict_name(out.verdict), c->verdict);
		assert_string_equal(out.probe_key, c->probe_key);
		json_object_put(env);
		free(r.body);
	}
}

static void test_probes_in_the_envelope(void **state)
{
	struct fixture *f = *state;
	struct fluxhook_snapshot snap;
	struct reply r;
	char body[2048];

	green_snapshot(&snap);
	snap.ncanaries = 2;
	strcpy(snap.canaries[1].node, "canary-gw-2");
	snap.canaries[1].reachable = true;
	snap.canaries[1].status = PROBE_DEGRADED;
	strcpy(snap.canaries[1].reason, "digest.stale");
	/* A 20 ms baseline counts as 50 ms, as the probe judges it: 150 / 50 = 3. */
	snap.canaries[1].p95_ms = 150;
	snap.canaries[1].baseline_p95_ms = 20;
	snap.gateways = PROBE_DEGRADED;
	set_snapshot(f, &snap);
	flux_event(body, sizeof(body), "2026-11-21T03:00:00Z",
		   "\"imageRef\":\"" PROMOTION_IMAGE "\"");
	struct json_object *env = accepted(f, body, &r);
	struct json_object *probes = at(env, "probes");

	struct json_object *health = at(probes, "canary.health");
	assert_string_equal(str_at(health, "node"), "canary-gw-2");
	assert_string_equal(str_at(health, "status"), "degraded");
	assert_string_equal(str_at(health, "reason"), "digest.stale");
	struct json_object *latency = at(probes, "canary.latency");
	assert_string_equal(str_at(latency, "node"), "canary-gw-2");
	assert_true(json_object_get_double(at(latency, "p95ms")) == 150.0);
	assert_true(json_object_get_double(at(latency, "baselineP95ms")) == 20.0);
	assert_true(json_object_get_double(at(latency, "ratio")) == 3.0);
	assert_true(json_object_get_double(at(latency, "maxRatio")) == 5.0);
	assert_string_equal(str_at(at(probes, "gateway.health"), "status"), "degraded");
	struct json_object *image = at(probes, "image.match");
	assert_string_equal(str_at(image, "imageRef"), PROMOTION_IMAGE);
	assert_string_equal(str_at(image, "promotionImageRef"), PROMOTION_IMAGE);
	assert_string_equal(str_at(image, "policyTag"), "2026.7.1");
	assert_true(json_object_get_boolean(at(image, "match")));
	assert_string_equal(str_at(env, "verdict"), "hold");
	json_object_put(env);
	free(r.body);

	/* Before the first pass nothing is claimed. */
	memset(&snap, 0, sizeof(snap));
	set_snapshot(f, &snap);
	flux_event(body, sizeof(body), "2026-11-21T03:00:01Z", "");
	env = accepted(f, body, &r);
	assert_null(at(env, "phase"));
	assert_null(at(env, "step"));
	assert_null(at(env, "imageRef"));
	assert_null(at(at(at(env, "probes"), "gateway.health"), "status"));
	assert_null(at(at(at(env, "probes"), "canary.latency"), "ratio"));
	json_object_put(env);
	free(r.body);
}

/* Past its capacity the cache forgets the least recently used reply. */
static void test_lru_eviction(void **state)
{
	struct fixture *f = *state;
	char bodies[5][2048];
	struct reply r;
	int before, after;

	open_hook(f, true, 3);
	for (int i = 0; i < 5; i++) {
		char ts[32];
		snprintf(ts, sizeof(ts), "2026-11-21T05:00:0%dZ", i);
		flux_event(bodies[i], sizeof(bodies[i]), ts, "");
	}
	/* e0 e1 e2 remembered; a redelivery of e0 makes e1 the least recently used. */
	for (int i = 0; i < 3; i++) {
		json_object_put(accepted(f, bodies[i], &r));
		free(r.body);
	}
	json_object_put(accepted(f, bodies[0], &r));
	free(r.body);
	json_object_put(accepted(f, bodies[3], &r)); /* evicts e1 */
	free(r.body);
	static const struct {
		int event;
		bool trigger;
	} then[] = {
		{0, false}, /* remembered */
		{2, false}, /* remembered */
		{1, true},  /* forgotten, so news again; evicts e3 */
		{3, true},  /* forgotten; evicts e0 */
		{2, false},
	};
	for (size_t i = 0; i < sizeof(then) / sizeof(then[0]); i++) {
		last_outcome(f, NULL, &before);
		json_object_put(accepted(f, bodies[then[i].event], &r));
		free(r.body);
		struct fluxhook_outcome out = last_outcome(f, NULL, &after);
		if (out.trigger != then[i].trigger || after - before != then[i].trigger)
			fail_msg("step %zu: event %d trigger %d, expected %d", i, then[i].event,
				 out.trigger, then[i].trigger);
	}
}

struct racer {
	const char *url;
	const char *body;
	struct reply r;
};

static void *race(void *arg)
{
	struct racer *x = arg;
	const char *headers[] = {BEARER, EVENT_HEADER, NULL};
	post_raw(x->url, x->body, strlen(x->body), headers, &x->r);
	return NULL;
}

/* Several deliveries of one event at once: one reconcile pass, one answer. */
static void test_concurrent_deliveries_trigger_once(void **state)
{
	struct fixture *f = *state;
	struct racer racers[RACERS];
	pthread_t threads[RACERS];
	char body[2048];
	int triggers;

	flux_event(body, sizeof(body), "2026-11-21T06:00:00Z", "");
	for (int i = 0; i < RACERS; i++) {
		racers[i] = (struct racer){f->url, body, {0}};
		assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(racers[i].r.rc, 0);
		assert_int_equal(racers[i].r.status, 202);
		assert_string_equal(racers[i].r.body, racers[0].r.body);
	}
	last_outcome(f, NULL, &triggers);
	assert_int_equal(triggers, 1);
	for (int i = 0; i < RACERS; i++)
		free(racers[i].r.body);
}

static void test_config_errors(void **state)
{
	struct fixture *f = *state;
	struct fluxhook_config cfg = FLUXHOOK_CONFIG_INIT;
	struct fluxhook *hook = NULL;
	struct cf_err err = { { 0 } };

	assert_int_equal(fluxhook_new(&hook, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "no token set"));
	cfg.tokens = f->tokens;
	cfg.dedupe_capacity = FLUXHOOK_MAX_CAPACITY + 1;
	assert_int_equal(fluxhook_new(&hook, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "capacity"));
	cfg.dedupe_capacity = 0;
	cfg.dedupe_ttl_ms = -1;
	assert_int_equal(fluxhook_new(&hook, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "TTL"));
	assert_null(hook);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_generic_event_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hmac_golden_vector_accepted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_every_auth_failure_is_the_same_401, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rotated_and_retired_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_event_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_limit_before_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redelivery_same_bytes_no_trigger, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_redelivery_after_ttl_is_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_text_is_hashed_not_trusted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_metadata_keys_with_group_prefix, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_canary_header_not_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_not_pinned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verdict_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probes_in_the_envelope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lru_eviction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_deliveries_trigger_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	};
	struct cf_err init_err = {{0}};
	if (httpc_global_init(&init_err) < 0)
		return 1;
	int failed = cmocka_run_group_tests_name("fluxhook", tests, NULL, NULL);
	httpc_global_cleanup();
	return failed;
}
