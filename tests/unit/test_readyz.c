/* readyz: the /readyz document's one reader. A table of bodies with the exact outcome each must
 * have: what the planner sees of a good one, and the exact message a bad one gets (no coercion:
 * "false" is not false, -1 is not a generation). Then the same table through `clawfleet plan
 * --observed`, which must accept exactly the documents the controller accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/jsonparse.h"
#include "cmd/commands.h"
#include "contracts/readyz.h"
#include "observe/node_probe.h"

#define NODE "canary-gw" /* a MacNode of manifests/example-repo, for the plan check */
#define SHA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define FULL                                                                                    \
	"{\"node\":\"" NODE "\",\"status\":\"degraded\",\"reasons\":[{\"code\":\"doctor.yellow\","  \
	"\"message\":\"acme: yellow\"},{\"code\":\"disk.unknown\",\"message\":\"df failed\"}],"     \
	"\"observedGeneration\":7,\"infra\":{\"tag\":\"v2026.7.1\",\"commit\":\"" COMMIT "\","     \
	"\"dirty\":false},\"lock\":{\"sha256\":\"" SHA "\",\"versionMatch\":true},"                 \
	"\"skills\":{\"current\":\"1.4.2\",\"next\":\"1.4.3\",\"match\":true},"                     \
	"\"doctor\":{\"verdict\":\"yellow\"},\"digest\":{\"ageSec\":3,\"total\":7,\"top\":[]},"       \
	"\"latency\":{\"samples\":20,\"p95ms\":120.5,\"baselineP95ms\":100.0},"                   \
	"\"checkedAt\":\"2026-08-01T12:00:00.000Z\","                                               \
	"\"probeSha256\":\"" SHA "\"}\n"
/* The fewest members a probe document has: what an agent answers before its first observation. */
#define BARE(members) "{\"node\":\"" NODE "\",\"status\":\"red\"" members "}"

struct body_case {
	const char *body;
	int rc;
	const char *msg; /* the whole message when rc < 0 */
};

static const struct body_case cases[] = {
	{FULL, 0, NULL},
	{BARE(""), 0, NULL},
	{BARE(",\"reasons\":[{\"code\":\"probe.pending\",\"message\":\"not yet\"}]"), 0, NULL},
	/* null is absent */
	{BARE(",\"observedGeneration\":null,\"infra\":null,\"lock\":{\"versionMatch\":null},"
	      "\"reasons\":null,\"probeSha256\":null"),
	 0, NULL},
	{BARE(",\"observedGeneration\":0"), 0, NULL},
	{BARE(",\"latency\":{\"samples\":0,\"p95ms\":null},\"digest\":{\"total\":null}"), 0, NULL},
	{BARE(",\"latency\":{\"p95ms\":3}"), 0, NULL},
	{BARE(",\"lock\":{\"versionMatch\":false}"), 0, NULL},

	{BARE(",\"lock\":{\"versionMatch\":\"false\"}"), -1,
	 "not a probe document: \"lock.versionMatch\" is not true or false"},
	{BARE(",\"lock\":{\"versionMatch\":1}"), -1,
	 "not a probe document: \"lock.versionMatch\" is not true or false"},
	{BARE(",\"observedGeneration\":-1"), -1,
	 "not a probe document: \"observedGeneration\" is not a whole number >= 0"},
	{BARE(",\"observedGeneration\":7.0"), -1,
	 "not a probe document: \"observedGeneration\" is not a whole number >= 0"},
	{BARE(",\"observedGeneration\":\"7\""), -1,
	 "not a probe document: \"observedGeneration\" is not a whole number >= 0"},
	{BARE(",\"observedGeneration\":99999999999999999999"), -1,
	 "not a probe document: not valid JSON: observedGeneration: 99999999999999999999 does not "
	 "fit in 64 bits at byte 56"},
	{"{\"node\":\"" NODE "\",\"status\":\"GREEN\"}", -1,
	 "not a probe document: \"status\" is not green, degraded or red"},
	{"{\"node\":\"" NODE "\",\"status\":0}", -1,
	 "not a probe document: \"status\" is not green, degraded or red"},
	{"{\"node\":\"" NODE "\"}", -1,
	 "not a probe document: \"status\" is not green, degraded or red"},
	{"{\"status\":\"green\"}", -1, "not a probe document: no \"node\" name"},
	{"{\"node\":7,\"status\":\"green\"}", -1, "not a probe document: no \"node\" name"},
	{BARE(",\"reasons\":{\"code\":\"x\"}"), -1, "not a probe document: \"reasons\" is not a list"},
	{BARE(",\"reasons\":[\"probe.pending\"]"), -1,
	 "not a probe document: a reason has no \"code\""},
	{BARE(",\"reasons\":[{\"code\":7,\"message\":\"m\"}]"), -1,
	 "not a probe document: a reason has no \"code\""},
	{BARE(",\"reasons\":[{\"code\":\"probe.pending\"}]"), -1,
	 "not a probe document: a reason has no \"message\""},
	{BARE(",\"infra\":\"v1\""), -1,
	 "not a probe document: \"infra\", \"lock\" or \"skills\" is not an object"},
	{BARE(",\"skills\":[]"), -1,
	 "not a probe document: \"infra\", \"lock\" or \"skills\" is not an object"},
	{BARE(",\"infra\":{\"tag\":2026}"), -1,
	 "not a probe document: a tag, commit, skills, sha256 or probeSha256 field is not a string"},
	{BARE(",\"latency\":[]"), -1,
	 "not a probe document: \"latency\" or \"digest\" is not an object"},
	{BARE(",\"latency\":{\"samples\":-1}"), -1,
	 "not a probe document: \"latency.samples\" or \"latency.p95ms\" is not a number >= 0"},
	{BARE(",\"latency\":{\"p95ms\":\"120\"}"), -1,
	 "not a probe document: \"latency.samples\" or \"latency.p95ms\" is not a number >= 0"},
	{BARE(",\"latency\":{\"p95ms\":-0.5}"), -1,
	 "not a probe document: \"latency.samples\" or \"latency.p95ms\" is not a number >= 0"},
	{BARE(",\"digest\":{\"total\":1.5}"), -1,
	 "not a probe document: \"digest.total\" is not a whole number >= 0"},
	{BARE(",\"probeSha256\":true"), -1,
	 "not a probe document: a tag, commit, skills, sha256 or probeSha256 field is not a string"},

	{"", -1, "not a probe document: the body is empty"},
	{"   ", -1, "not a probe document: not valid JSON: unexpected end"},
	{"<html>", -1, "not a probe document: not valid JSON: unexpected character"},
	{"[" BARE("") "]", -1, "not a probe document: not a JSON object"},
	{BARE("") " {}", -1, "not a probe document: not valid JSON: unexpected character"},
	{BARE(",\"infra\":{\"tag\":\"v\xff\"}"), -1, "not a probe document: not valid JSON: "
						      "invalid utf-8 string"},

	{"{\"node\":\"stable-gw-a\",\"status\":\"green\"}", READYZ_OTHER_NODE,
	 "the probe of another node"},

	/* doctor.firstBad, what `clawfleet status` shows of a doctor reason */
	{BARE(",\"doctor\":{\"verdict\":\"red\",\"firstBad\":null}"), 0, NULL},
	{BARE(",\"doctor\":{\"firstBad\":{\"checkId\":\"c\",\"message\":\"m\",\"line\":0}}"), 0, NULL},
	{BARE(",\"doctor\":\"red\""), -1,
	 "not a probe document: \"doctor\" or \"doctor.firstBad\" is not an object"},
	{BARE(",\"doctor\":{\"firstBad\":[]}"), -1,
	 "not a probe document: \"doctor\" or \"doctor.firstBad\" is not an object"},
	{BARE(",\"doctor\":{\"firstBad\":{\"message\":\"m\"}}"), -1,
	 "not a probe document: \"doctor.firstBad\" has no \"checkId\" or \"message\", or a field "
	 "of it is not a string"},
	{BARE(",\"doctor\":{\"firstBad\":{\"checkId\":\"c\",\"message\":\"m\",\"path\":1}}"), -1,
	 "not a probe document: \"doctor.firstBad\" has no \"checkId\" or \"message\", or a field "
	 "of it is not a string"},
	{BARE(",\"doctor\":{\"firstBad\":{\"checkId\":\"c\",\"message\":\"m\",\"line\":-1}}"), -1,
	 "not a probe document: \"doctor.firstBad\" line or column is not a whole number >= 0"},
	{BARE(",\"doctor\":{\"firstBad\":{\"checkId\":\"c\",\"message\":\"m\",\"column\":\"3\"}}"),
	 -1, "not a probe document: \"doctor.firstBad\" line or column is not a whole number >= 0"},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void expect_case(size_t i, int rc, const struct node_observation *o, const char *msg)
{
	const struct body_case *c = &cases[i];
	if (rc != c->rc)
		fail_msg("case %zu (%s): rc %d, want %d (%s)", i, c->body, rc, c->rc,
			 rc < 0 ? msg : "read");
	if (rc == 0) {
		assert_true(o->reachable);
		assert_string_equal(o->name, NODE);
		return;
	}
	if (strcmp(msg, c->msg) != 0)
		fail_msg("case %zu (%s): \"%s\", want \"%s\"", i, c->body, msg, c->msg);
	assert_false(o->reachable); /* left as it was */
	if (rc == READYZ_OTHER_NODE)
		assert_string_equal(o->name, "stable-gw-a");
}

static void test_bodies(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCASES; i++) {
		struct arena a = {0};
		struct node_observation o = {0};
		struct cf_err err = {{0}};
		int rc = readyz_parse(NULL, cases[i].body, strlen(cases[i].body), NODE, &a, &o,
				      &err);
		expect_case(i, rc, &o, err.msg);
		arena_free(&a);
	}
}

/* A kept parser reads every body the same way, a bad one in between changing nothing. */
static void test_kept_parser(void **state)
{
	(void)state;
	struct jsonparse *p = NULL;
	struct arena a = {0};
	struct cf_err err;
	assert_int_equal(jsonparse_new(&p, READYZ_DEPTH, &err), 0);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < NCASES; i++) {
			struct node_observation o = {0};
			err.msg[0] = '\0';
			int rc = readyz_parse(p, cases[i].body, strlen(cases[i].body), NODE, &a,
					      &o, &err);
			expect_case(i, rc, &o, err.msg);
		}
	jsonparse_free(p);
	arena_free(&a);
}

/* What the planner reads, copied out: the document is gone when it is read. */
static void test_fields(void **state)
{
	(void)state;
	struct arena a = {0};
	struct node_observation o = {0};
	struct cf_err err;
	assert_int_equal(readyz_parse(NULL, FULL, strlen(FULL), NODE, &a, &o, &err), 0);
	assert_int_equal(o.status, PROBE_DEGRADED);
	assert_int_equal(o.nreasons, 2);
	assert_string_equal(o.reasons[0], "doctor.yellow");
	assert_string_equal(o.reasons[1], "disk.unknown");
	assert_int_equal(o.observed_generation, 7);
	assert_string_equal(o.tag, "v2026.7.1");
	assert_string_equal(o.commit, COMMIT);
	assert_string_equal(o.skills_current, "1.4.2");
	assert_string_equal(o.skills_next, "1.4.3");
	assert_string_equal(o.lock_sha256, SHA);
	assert_true(o.version_match);
	assert_string_equal(o.probe_sha256, SHA);
	assert_int_equal(o.latency_samples, 20);
	assert_true(o.p95_ms == 120.5);
	assert_true(o.digest_known);
	assert_int_equal(o.digest_failures, 7);

	const char *bare = BARE("");
	struct node_observation b = {0};
	assert_int_equal(readyz_parse(NULL, bare, strlen(bare), NODE, &a, &b, &err), 0);
	assert_int_equal(b.status, PROBE_RED);
	assert_int_equal(b.nreasons, 0);
	assert_int_equal(b.observed_generation, 0);
	assert_null(b.tag);
	assert_null(b.commit);
	assert_null(b.skills_current);
	assert_null(b.skills_next);
	assert_null(b.lock_sha256);
	assert_false(b.version_match);
	assert_null(b.probe_sha256);
	assert_int_equal(b.latency_samples, 0);
	assert_false(b.digest_known);
	arena_free(&a);
}

/* What people read first: the first reason's message and the doctor's first bad finding. */
static void test_what_people_read_first(void **state)
{
	(void)state;
	static const char body[] = BARE(
		",\"reasons\":[{\"code\":\"doctor.red\",\"message\":\"tenant acme: doctor red\"},"
		"{\"code\":\"disk.low\",\"message\":\"4 %\"}],\"doctor\":{\"verdict\":\"red\","
		"\"firstBad\":{\"checkId\":\"skills.semver\",\"severity\":\"error\",\"message\":"
		"\"1.4.3 is not 1.4.2\",\"path\":\"/x/openclaw.lock\",\"line\":3,\"column\":12,"
		"\"fixHint\":\"reinstall\",\"tenant\":\"acme\"}}");
	struct arena a = {0};
	struct node_observation o = {0};
	struct cf_err err;
	assert_int_equal(readyz_parse(NULL, body, strlen(body), NODE, &a, &o, &err), 0);
	assert_string_equal(o.reason_message, "tenant acme: doctor red");
	const struct readyz_finding *f = &o.doctor_first_bad;
	assert_string_equal(f->check_id, "skills.semver");
	assert_string_equal(f->severity, "error");
	assert_string_equal(f->message, "1.4.3 is not 1.4.2");
	assert_string_equal(f->path, "/x/openclaw.lock");
	assert_int_equal(f->line, 3);
	assert_int_equal(f->column, 12);
	assert_string_equal(f->fix_hint, "reinstall");
	assert_string_equal(f->tenant, "acme");

	const char *bare = BARE("");
	struct node_observation b = {0};
	assert_int_equal(readyz_parse(NULL, bare, strlen(bare), NODE, &a, &b, &err), 0);
	assert_null(b.reason_message);
	assert_null(b.doctor_first_bad.check_id);
	arena_free(&a);
}

/* The one writer's document with a red doctor run reads back with its finding. */
static void test_doctor_finding_reads_back(void **state)
{
	(void)state;
	struct probe_doctor run = {.tenant = "acme"};
	run.result.outcome = DOCTOR_JUDGED;
	run.result.verdict = DOCTOR_RED;
	run.result.has_first_bad = true;
	struct doctor_finding *bad = &run.result.first_bad;
	snprintf(bad->check_id, sizeof(bad->check_id), "config.valid");
	snprintf(bad->severity, sizeof(bad->severity), "error");
	snprintf(bad->message, sizeof(bad->message), "openclaw.json does not parse");
	snprintf(bad->path, sizeof(bad->path), "/etc/openclaw/tenants/acme/openclaw.json");
	bad->line = 7;
	bad->column = 2;
	struct probe_inputs in = {.node = NODE, .doctor = &run, .ndoctor = 1,
				  .checked_at_ms = 1, .now_ms = 1};
	struct probe_result res;
	char *doc = NULL;
	size_t len = 0;
	int http = 0;
	struct cf_err err;
	probe_merge(&in, &res);
	assert_int_equal(probe_render_json(&in, &res, &doc, &len, &http, &err), 0);
	struct arena a = {0};
	struct node_observation o = {0};
	assert_int_equal(readyz_parse(NULL, doc, len, NODE, &a, &o, &err), 0);
	assert_string_equal(o.reason_message, res.reasons[0].message);
	assert_string_equal(o.doctor_first_bad.check_id, "config.valid");
	assert_string_equal(o.doctor_first_bad.message, "openclaw.json does not parse");
	assert_string_equal(o.doctor_first_bad.path, "/etc/openclaw/tenants/acme/openclaw.json");
	assert_int_equal(o.doctor_first_bad.line, 7);
	assert_int_equal(o.doctor_first_bad.column, 2);
	assert_string_equal(o.doctor_first_bad.tenant, "acme");
	assert_null(o.doctor_first_bad.fix_hint);
	free(doc);
	arena_free(&a);
}

/* An already parsed member (the observed file's nodes.<name>) that is not an object. */
static void test_read_of_a_value(void **state)
{
	(void)state;
	struct arena a = {0};
	struct node_observation o = {0};
	struct cf_err err;
	struct json_object *v = NULL;
	assert_int_equal(jsonparse_value("[1]", 3, READYZ_DEPTH, &v, &err), 0);
	assert_int_equal(readyz_read(v, NODE, &a, &o, &err), -1);
	assert_string_equal(err.msg, "not a probe document: not a JSON object");
	json_object_put(v);
	arena_free(&a);
}

/* cmd_plan with stdout and stderr in files; returns its exit status, *errors what it printed. */
static int plan_with(const char *dir, const char *body, char *errors, size_t size)
{
	char observed[512], out_path[512], err_path[512];
	snprintf(observed, sizeof(observed), "%s/observed.json", dir);
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	snprintf(err_path, sizeof(err_path), "%s/err", dir);
	FILE *f = fopen(observed, "w");
	assert_non_null(f);
	fprintf(f, "{\"nodes\": {\"%s\": %s}}", NODE, body);
	fclose(f);

	char *argv[] = {(char *)"plan", (char *)"--observed", observed,
			(char *)"manifests/example-repo", NULL};
	fflush(stdout);
	fflush(stderr);
	int saved_out = dup(1), saved_err = dup(2);
	int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved_out >= 0 && saved_err >= 0 && out_fd >= 0 && err_fd >= 0);
	dup2(out_fd, 1);
	dup2(err_fd, 2);
	int status = cmd_plan(4, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	close(out_fd);
	close(err_fd);

	errors[0] = '\0';
	f = fopen(err_path, "r");
	assert_non_null(f);
	size_t n = fread(errors, 1, size - 1, f);
	errors[n] = '\0';
	fclose(f);
	return status;
}

/* The dry run reads each node's document as the controller does: the same documents accepted,
 * the same refused with the same reason. */
static void test_plan_agrees(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_readyz.XXXXXX", errors[4096];
	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < NCASES; i++) {
		const struct body_case *c = &cases[i];
		/* The observed file holds each document as a member; a body that is not one
		 * JSON value cannot be written into it. */
		struct json_object *v = NULL;
		if (jsonparse_value(c->body, strlen(c->body), READYZ_DEPTH, &v, NULL) < 0)
			continue;
		json_object_put(v);
		int status = plan_with(dir, c->body, errors, sizeof(errors));
		if (status != (c->rc == 0 ? 0 : 1))
			fail_msg("case %zu (%s): plan exited %d: %s", i, c->body, status, errors);
		if (c->rc == -1 && !strstr(errors, c->msg))
			fail_msg("case %zu (%s): plan said \"%s\", want \"%s\"", i, c->body, errors,
				 c->msg);
		if (c->rc == READYZ_OTHER_NODE && !strstr(errors, "node stable-gw-a's probe"))
			fail_msg("case %zu: plan said \"%s\"", i, errors);
	}
	char path[600];
	const char *names[] = {"observed.json", "out", "err"};
	for (size_t k = 0; k < 3; k++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
		unlink(path);
	}
	rmdir(dir);
}

/* The one writer's pending document (an agent before its first observation) reads back as the
 * controller must see it: red, with probe.pending, no generation. */
static void test_pending_document_reads_back(void **state)
{
	(void)state;
	struct arena a = {0};
	struct node_observation o;
	struct cf_err err = {{0}};
	char *doc = NULL;
	size_t len = 0;
	assert_int_equal(probe_render_pending(NODE, &doc, &len, &err), 0);
	assert_int_equal(strlen(doc), len);
	assert_int_equal(readyz_parse(NULL, doc, len, NODE, &a, &o, &err), 0);
	assert_int_equal(o.status, PROBE_RED);
	assert_int_equal(o.nreasons, 1);
	assert_string_equal(o.reasons[0], "probe.pending");
	assert_int_equal(o.observed_generation, 0);
	free(doc);
	arena_free(&a);
}

/* The one writer's full document carries what the planner compares across nodes: the p95, the
 * samples behind it and the notifier's failures in its window. */
static void test_latency_and_digest_read_back(void **state)
{
	(void)state;
	struct arena a = {0};
	struct node_observation o = {0};
	struct cf_err err = {{0}};
	struct probe_inputs in = {.node = NODE};
	struct probe_result res;
	struct json_object *top = json_object_new_array();
	char *doc = NULL;
	size_t len = 0;
	int status;
	in.latency.samples = 12;
	in.latency.p95_ms = 250.3;
	in.digest.configured = true;
	in.digest.total = 9;
	in.digest.top = top;
	probe_merge(&in, &res);
	assert_int_equal(probe_render_json(&in, &res, &doc, &len, &status, &err), 0);
	assert_int_equal(readyz_parse(NULL, doc, len, NODE, &a, &o, &err), 0);
	assert_int_equal(o.latency_samples, 12);
	assert_true(o.p95_ms == 250.3);
	assert_true(o.digest_known);
	assert_int_equal(o.digest_failures, 9);
	free(doc);

	/* No synthetic check yet and no digest: nothing to compare. */
	struct probe_inputs none = {.node = NODE};
	struct node_observation n = {0};
	probe_merge(&none, &res);
	assert_int_equal(probe_render_json(&none, &res, &doc, &len, &status, &err), 0);
	assert_int_equal(readyz_parse(NULL, doc, len, NODE, &a, &n, &err), 0);
	assert_int_equal(n.latency_samples, 0);
	assert_false(n.digest_known);
	free(doc);
	json_object_put(top);
	arena_free(&a);
}

/* The reader over the bytes against the tree, on what only a byte reader could get wrong: a
 * repeated key (the last counts, a repeated object forgets the first one's members), escapes,
 * \u0000 and surrogates, -0, deep nesting, a NUL or a BOM. Same return, same message, same
 * fields. */
static const char *const edge_bodies[] = {
	BARE(",\"infra\":{\"tag\":\"v1\"},\"infra\":{\"commit\":\"c\"}"),
	BARE(",\"infra\":{\"tag\":\"v1\"},\"infra\":null"),
	BARE(",\"infra\":{\"tag\":1},\"infra\":{\"tag\":\"v2\"}"),
	BARE(",\"observedGeneration\":\"x\",\"observedGeneration\":4"),
	"{\"node\":\"" NODE "\",\"status\":\"green\",\"status\":\"red\"}",
	BARE(",\"reasons\":[{\"code\":\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\u20ac\\u0041\","
	     "\"message\":\"m\",\"code\":\"x\"}]"),
	BARE(",\"probeSha256\":\"a\\u0000b\""),
	BARE(",\"probeSha256\":\"\\ud83d\\ude00\""),
	BARE(",\"probeSha256\":\"\\udc00\""),
	BARE(",\"observedGeneration\":-0"),
	BARE(",\"latency\":{\"p95ms\":-0}"),
	BARE(",\"latency\":{\"p95ms\":1e2,\"samples\":9223372036854775807}"),
	BARE(",\"latency\":{\"p95ms\":1e13}"),
	BARE(",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
	BARE(",\"x\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]"),
	BARE(",\"x\":01"),
	BARE(",\"x\":1.}"),
	BARE(",\"x\":tru"),
	BARE(",\"x\":\"\t\""),
	BARE(",\"n\\u006fde\":\"other\""),
	"{\"n\\u006fde\":\"" NODE "\",\"status\":\"green\"}",
	"{\"node\":\"can\\u0061ry-gw\",\"status\":\"green\"}",
	"{\"node\":\"other\\u00e9\",\"status\":\"green\"}",
	"\xef\xbb\xbf" BARE(""),
	BARE("") "\n\t ",
	BARE(",") ,
	BARE(",\"reasons\":[{\"code\":\"a\",\"message\":\"1\"},{\"code\":\"b\",\"message\":\"2\"},"
	     "{\"message\":\"3\",\"code\":\"c\"}]"),
	BARE(",\"reasons\":[{\"code\":\"a\",\"message\":\"1\"},7]"),
	BARE(",\"doctor\":{\"firstBad\":{\"checkId\":\"c\",\"message\":\"m\",\"line\":3,"
	     "\"column\":4,\"tenant\":\"acme\",\"fixHint\":null}}"),
	BARE(",\"doctor\":{\"firstBad\":{\"checkId\":\"c\",\"message\":\"m\"},\"firstBad\":7}"),
	BARE(",\"parity\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"parityParts\":{\"lock\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"openclaw\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"skills\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"tenants\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"},"
	     "\"tokenAges\":{\"maxAgeSeconds\":2592000,\"current\":5,\"next\":null,\"prev\":7}"),
	BARE(",\"parity\":\"xyz\",\"parityParts\":{\"lock\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"openclaw\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"skills\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"tenants\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}"),
	BARE(",\"parity\":null,\"tokenAges\":{\"maxAgeSeconds\":-1}"),
	BARE(",\"tokenAges\":7,\"tokenAges\":{\"maxAgeSeconds\":60,\"current\":null,\"next\":null,"
	     "\"prev\":null}"),
};

static void same_text(const char *x, const char *y)
{
	if (x || y) {
		assert_non_null(x);
		assert_non_null(y);
		assert_string_equal(x, y);
	}
}

static void test_bytes_read_as_the_tree(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(edge_bodies) / sizeof(edge_bodies[0]); i++) {
		const char *body = edge_bodies[i];
		size_t len = strlen(body);
		struct arena a = {0};
		struct node_observation s = {0}, t = {0};
		struct cf_err es = {{0}}, et = {{0}};
		struct json_object *doc = NULL;
		char want[sizeof(et.msg) + 32];
		int rs = readyz_parse(NULL, body, len, NODE, &a, &s, &es);
		bool parsed = jsonparse_object(body, len, READYZ_DEPTH, &doc, &et) == 0;
		int rt = parsed ? readyz_read(doc, NODE, &a, &t, &et) : -1;
		json_object_put(doc);
		snprintf(want, sizeof(want), "%s%s", parsed ? "" : "not a probe document: ", et.msg);
		if (rs != rt)
			fail_msg("body %zu (%s): %d, the tree %d (%s)", i, body, rs, rt, want);
		if (rs != 0)
			assert_string_equal(es.msg, want);
		same_text(s.name, t.name);
		assert_int_equal(s.status, t.status);
		assert_int_equal(s.observed_generation, t.observed_generation);
		assert_true(s.p95_ms == t.p95_ms);
		assert_int_equal(s.latency_samples, t.latency_samples);
		assert_int_equal(s.nreasons, t.nreasons);
		for (size_t k = 0; k < s.nreasons; k++)
			same_text(s.reasons[k], t.reasons[k]);
		same_text(s.reason_message, t.reason_message);
		same_text(s.tag, t.tag);
		same_text(s.commit, t.commit);
		same_text(s.probe_sha256, t.probe_sha256);
		same_text(s.doctor_first_bad.check_id, t.doctor_first_bad.check_id);
		same_text(s.doctor_first_bad.tenant, t.doctor_first_bad.tenant);
		assert_int_equal(s.doctor_first_bad.line, t.doctor_first_bad.line);
		assert_int_equal(s.doctor_first_bad.column, t.doctor_first_bad.column);
		assert_memory_equal(&s.parity, &t.parity, sizeof(s.parity));
		/* Field by field: the padding after tokens.known is not part of the value. */
		assert_int_equal(s.tokens.known, t.tokens.known);
		assert_int_equal(s.tokens.max_age_sec, t.tokens.max_age_sec);
		for (int k = 0; k < TOKEN_SLOTS; k++)
			assert_int_equal(s.tokens.age_sec[k], t.tokens.age_sec[k]);
		arena_free(&a);
	}
	/* A NUL inside the body: the length, not the NUL, ends it. */
	static const char nul[] = "{\"node\":\"" NODE "\",\"status\":\"red\"}\0";
	struct arena a = {0};
	struct node_observation o = {0};
	struct cf_err err;
	assert_int_equal(readyz_parse(NULL, nul, sizeof(nul) - 1, NODE, &a, &o, &err), -1);
	assert_string_equal(err.msg,
			    "not a probe document: not valid JSON: trailing data after the object");
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_kept_parser),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_what_people_read_first),
		cmocka_unit_test(test_doctor_finding_reads_back),
		cmocka_unit_test(test_read_of_a_value),
		cmocka_unit_test(test_plan_agrees),
		cmocka_unit_test(test_pending_document_reads_back),
		cmocka_unit_test(test_latency_and_digest_read_back),
		cmocka_unit_test(test_bytes_read_as_the_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
