/* status_table: the table `clawfleet status` prints, from the /status document the controller
 * renders (record/status.h), so the two are tested together: the source's problems under
 * "source", a hold's wait and time left, each node's row with since when and its first reason,
 * the detail below it, and nothing from the document that could move a terminal's cursor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonparse.h"
#include "cmd/status_table.h"
#include "record/status.h"

/* 2026-11-21T03:40:00.250Z */
#define T0 1795232400250LL
#define MINUTE 60000LL

struct fixture {
	struct rollout_state state;
	struct weight_map weights;
	struct status_node nodes[3];
	struct status_metrics metrics;
	struct status_view view;
};

static const char *const canary_reasons[] = {"doctor.yellow", "queue.over_limit"};
static const char *const stable_reasons[] = {"disk.low"};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	rollout_state_init(&f->state);
	f->state.phase = ROLLOUT_ANALYSING;
	f->state.step = 1;
	f->state.percent = 10;
	assert_int_equal(weight_map_set(&f->weights, "canary-gw", 22, NULL), 0);
	f->nodes[0] = (struct status_node){
		.name = "canary-gw",
		.status = "degraded",
		.tag = "v2026.8.0",
		.skills = "1.4.3",
		.observed_generation = 4,
		.reasons = canary_reasons,
		.nreasons = 2,
		.since_ms = T0 - 2 * MINUTE - 5000,
		.reason_code = "doctor.yellow",
		.reason_message = "doctor yellow: gateway.latency: p95 above target",
		.doctor_first_bad = {.check_id = "gateway.latency",
				     .message = "p95 above target",
				     .path = "/etc/openclaw/openclaw.json",
				     .line = 12,
				     .column = 3,
				     .tenant = "acme",
				     .fix_hint = "check channel backlogs"},
	};
	f->nodes[1] = (struct status_node){
		.name = "stable-gw-a",
		.status = "red",
		.tag = "v2026.7.1",
		.skills = "1.4.2",
		.observed_generation = 3,
		.reasons = stable_reasons,
		.nreasons = 1,
		.since_ms = T0 - 3 * 3600000LL,
		.reason_code = "disk.low",
		.reason_message = "disk free 4.0 % is below 10 %\nsecond line\x1b[2J",
	};
	f->nodes[2] = (struct status_node){
		.name = "stable-gw-b",
		.status = "unreachable",
		.since_ms = T0 - 2 * 86400000LL - 3600000LL,
		.reason_code = "node.unreachable",
		.reason_message = "GET http://10.0.0.3:18081/readyz: connection refused",
	};
	f->view = (struct status_view){
		.revision = "main@sha1:2f0c",
		.promotion_name = "gateway",
		.promotion_tag = "v2026.8.0",
		.promotion_semver = "1.4.3",
		.state = &f->state,
		.weights = &f->weights,
		.nodes = f->nodes,
		.nnodes = 3,
		.metrics = &f->metrics,
		.version = "test",
		.now_ms = T0,
		.max_hold_ms = 30 * MINUTE,
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rollout_state_free(&f->state);
	weight_map_free(&f->weights);
	free(f);
	return 0;
}

/* The table for the view, printed at now_ms, through the /status document. */
static char *table(const struct status_view *v, int64_t now_ms)
{
	char *json = NULL, *out = NULL;
	size_t len = 0, outlen = 0;
	struct cf_err err;
	struct json_object *doc = NULL;
	assert_int_equal(status_render_json(v, &json, &len, &err), 0);
	assert_int_equal(jsonparse_object(json, len, JSONPARSE_DEPTH, &doc, &err), 0);
	FILE *f = open_memstream(&out, &outlen);
	assert_non_null(f);
	status_table_print(f, doc, now_ms);
	fclose(f);
	json_object_put(doc);
	free(json);
	return out;
}

static void assert_line(const char *text, const char *line)
{
	char want[1024];
	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want) && strncmp(text, want + 1, strlen(want + 1)) != 0)
		fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void test_nodes_since_and_reasons(void **state)
{
	struct fixture *f = *state;
	char *t = table(&f->view, T0 + 1000);
	assert_line(t, "phase       Analysing, step 1 (10 %)");
	assert_line(t, "NODE                     STATUS       TAG                  SKILLS         "
		       "GEN  SINCE    REASON");
	assert_line(t, "canary-gw                degraded     v2026.8.0            1.4.3          "
		       "  4  2m6s     doctor.yellow");
	assert_line(t, "                         doctor: gateway.latency: p95 above target "
		       "(/etc/openclaw/openclaw.json:12:3), tenant acme");
	assert_line(t, "                         fix: check channel backlogs");
	assert_line(t, "stable-gw-a              red          v2026.7.1            1.4.2          "
		       "  3  3h0m     disk.low");
	/* A message's lines stay under the row, and an escape sequence prints as "?". */
	assert_line(t, "                         disk free 4.0 % is below 10 %");
	assert_line(t, "                         second line?[2J");
	assert_line(t, "stable-gw-b              unreachable  -                    -              "
		       "  0  2d1h     node.unreachable");
	assert_line(t, "                         GET http://10.0.0.3:18081/readyz: connection "
		       "refused");
	assert_null(strstr(t, "hold"));
	assert_null(strstr(t, "\x1b"));
	free(t);
}

/* The source's problems, one per line under "source"; the Stalled condition that repeats them
 * says its first line only. */
static void test_source_error(void **state)
{
	struct fixture *f = *state;
	f->view.source_error = "main@sha1:9e1d is invalid (2 errors); keeping main@sha1:2f0c\n"
			       "openclaw/nodes/spare.yaml:6:9: MacNode/spare: spec.role: bad\n"
			       "openclaw/nodes/zz.yaml:2:4: -: -: mapping values are not allowed";
	f->view.source_error_since_ms = T0;
	char *t = table(&f->view, T0);
	assert_line(t, "source      main@sha1:9e1d is invalid (2 errors); keeping main@sha1:2f0c");
	assert_line(t, "            openclaw/nodes/spare.yaml:6:9: MacNode/spare: spec.role: bad");
	assert_line(t, "            openclaw/nodes/zz.yaml:2:4: -: -: mapping values are not "
		       "allowed");
	assert_line(t, "Stalled     True   SourceFailed: main@sha1:9e1d is invalid (2 errors); "
		       "keeping main@sha1:2f0c");
	const char *first = strstr(t, "openclaw/nodes/zz.yaml");
	assert_non_null(first);
	assert_null(strstr(first + 1, "openclaw/nodes/zz.yaml"));
	free(t);
}

/* With the etcd store: who leads, whether the replica asked is it, and why etcd cannot be read;
 * no line for a single controller. */
static void test_leader(void **state)
{
	struct fixture *f = *state;
	char *t = table(&f->view, T0);
	assert_null(strstr(t, "leader"));
	free(t);
	struct status_leader l = {
		.self = true,
		.replica = "mac-a-41",
		.id = "mac-a-41",
		.address = "10.0.0.1:8088",
		.term = 42,
		.lease_deadline_ms = T0 + 2000,
		.failovers = 1,
		.last_failover_ms = T0 - 60000,
	};
	f->view.leader = &l;
	t = table(&f->view, T0);
	assert_line(t, "leader      mac-a-41 at 10.0.0.1:8088, term 42 (this replica)");
	free(t);
	l.self = false;
	l.replica = "mac-b-7";
	l.error = "etcd: no member answered\x1b[2J";
	t = table(&f->view, T0);
	assert_line(t, "leader      mac-a-41 at 10.0.0.1:8088, term 42; etcd: etcd: no member "
		       "answered?[2J");
	free(t);
	l.id = "";
	t = table(&f->view, T0);
	assert_line(t, "leader      none; etcd: etcd: no member answered?[2J");
	free(t);
}

/* One line while the Git source is out of date; none while it is fresh. */
static void test_source_staleness(void **state)
{
	struct fixture *f = *state;
	struct status_source src = {.fetched = true, .last_fetch_ms = T0 - 1000,
				    .last_fetch_ok = true, .stale_ms = 1000, .next_fetch_ms = T0 + 29000};
	f->view.source = &src;
	char *t = table(&f->view, T0);
	assert_null(strstr(t, "fetch  "));
	free(t);

	src.last_fetch_ok = false;
	src.failures = 3;
	src.stale_ms = 65500;
	src.next_fetch_ms = T0 + 20000;
	src.error = "fetch of http://git.example/fleet.git timed out after 15s";
	t = table(&f->view, T0);
	assert_line(t, "fetch       stale for 1m5s: 3 fetches failed in a row; next try in 20s");
	free(t);

	src = (struct status_source){.fetching = true, .stale_ms = 12000};
	t = table(&f->view, T0);
	assert_line(t, "fetch       not fetched yet (12s since the start); fetching now");
	free(t);
}

/* Held: what it waits for, how long already, and the time left until maxHold ends it. */
static void test_hold(void **state)
{
	struct fixture *f = *state;
	struct rollout_state *s = &f->state;
	s->phase = ROLLOUT_HELD;
	s->held_from = ROLLOUT_ANALYSING;
	s->hold_started_ms = T0 - 90000;
	snprintf(s->held_node, sizeof(s->held_node), "canary-gw");
	snprintf(s->held_reason, sizeof(s->held_reason), "doctor.yellow");
	char *t = table(&f->view, T0);
	assert_line(t, "hold        waiting for canary-gw to report green (it reports "
		       "doctor.yellow), held 1m30s; 28m30s left of maxHold 30m");
	free(t);

	t = table(&f->view, T0 + 29 * MINUTE);
	assert_line(t, "hold        waiting for canary-gw to report green (it reports "
		       "doctor.yellow), held 30m30s; maxHold 30m has passed");
	free(t);

	s->conditions[COND_STALLED] = (struct rollout_condition){
		COND_TRUE, "RollbackRequired", "canary-gw: hold.timeout; set spec.abort", T0};
	t = table(&f->view, T0);
	assert_line(t, "hold        waiting for canary-gw to report green (it reports "
		       "doctor.yellow), held 1m30s; maxHold 30m does not run: a person decides "
		       "(Stalled)");
	assert_line(t, "Stalled     True   RollbackRequired: canary-gw: hold.timeout; set "
		       "spec.abort");
	free(t);

	f->view.max_hold_ms = 0;
	t = table(&f->view, T0);
	assert_line(t, "hold        waiting for canary-gw to report green (it reports "
		       "doctor.yellow), held 1m30s; no maxHold");
	free(t);
}

/* Held at a webhook gate: the hold names the hook and what it answered, and a "gate" line says
 * it in words with its attempts and how long ago; an error stands where no status came. */
static void test_webhook_gate(void **state)
{
	struct fixture *f = *state;
	struct rollout_state *s = &f->state;
	struct hook_result r = {.name = "qa-gate", .type = WEBHOOK_CONFIRM_PROMOTION,
				.key = "abc/confirm-promotion", .verdict = HOOK_FAILED,
				.status = 503, .attempts = 3, .at_ms = T0 - 12000};
	s->phase = ROLLOUT_HELD;
	s->held_from = ROLLOUT_ANALYSING;
	s->hold_started_ms = T0 - 90000;
	snprintf(s->held_reason, sizeof(s->held_reason), "webhook.confirm-promotion");
	f->view.webhooks = &r;
	f->view.nwebhooks = 1;
	char *t = table(&f->view, T0);
	assert_line(t, "hold        waiting for confirm-promotion hook \"qa-gate\" to answer 2xx (it "
		       "answered HTTP 503), held 1m30s; 28m30s left of maxHold 30m");
	assert_line(t, "gate        confirm-promotion \"qa-gate\": HTTP 503 (3 attempts, 12s ago)");
	free(t);

	r.status = 0;
	r.attempts = 1;
	snprintf(r.error, sizeof(r.error), "POST http://qa/: Connection refused");
	t = table(&f->view, T0);
	assert_line(t, "gate        confirm-promotion \"qa-gate\": POST http://qa/: Connection "
		       "refused (1 attempt, 12s ago)");
	free(t);

	snprintf(s->held_reason, sizeof(s->held_reason), "doctor.yellow");
	t = table(&f->view, T0);
	assert_null(strstr(t, "\ngate "));
	free(t);
}

/* While the agents' token rotation is under way: one line (phase, acknowledged, what it waits
 * for) and a line per node whose step failed; none once rotated. */
static void test_token_rotation(void **state)
{
	struct fixture *f = *state;
	struct token_rotation_node nodes[] = {
		{.name = "canary-gw", .staged = true, .acknowledged = true},
		{.name = "stable-gw-a", .staged = true, .acknowledged = true},
		{.name = "stable-gw-b", .error = "PUT /v1/token/next answered 409: already\x1b[2J"},
	};
	struct token_rotation r = {
		.phase = TOKEN_ROTATION_STAGING,
		.started_ms = T0 - MINUTE,
		.updated_ms = T0,
		.actor = "Alice Example",
		.ticket = "OPS-7",
		.sha256 = "1a2b3c4d",
		.waiting_for = "stable-gw-b to acknowledge the new token",
		.nodes = nodes,
		.nnodes = 3,
	};
	char *t = table(&f->view, T0);
	assert_null(strstr(t, "tokens"));
	free(t);

	f->view.token_rotation = &r;
	t = table(&f->view, T0);
	assert_line(t, "tokens      rotation staging, 2 of 3 agents acknowledged; waiting for "
		       "stable-gw-b to acknowledge the new token");
	assert_line(t, "            stable-gw-b: PUT /v1/token/next answered 409: already?[2J");
	free(t);

	r.phase = TOKEN_ROTATION_SWITCHED;
	nodes[2] = (struct token_rotation_node){.name = "stable-gw-b", .staged = true,
						.acknowledged = true, .promoted = true};
	r.waiting_for = NULL;
	t = table(&f->view, T0);
	assert_line(t, "tokens      rotation switched, 3 of 3 agents acknowledged, 1 promoted");
	free(t);

	r.phase = TOKEN_ROTATION_ROTATED;
	t = table(&f->view, T0);
	assert_null(strstr(t, "tokens"));
	free(t);

	f->view.token_rotation = NULL;
	f->view.token_rotation_error = "agent-token.rotation.json: token rotation: not valid JSON";
	t = table(&f->view, T0);
	assert_line(t, "tokens      the rotation's progress cannot be read: "
		       "agent-token.rotation.json: token rotation: not valid JSON");
	free(t);
}

/* A document from another version, with members missing or of other types, still prints. */
static void test_sparse_document(void **state)
{
	(void)state;
	static const char doc_text[] =
		"{\"phase\":\"Idle\",\"hold\":{\"since\":7},\"nodes\":{\"n\":{\"status\":\"green\","
		"\"statusSince\":\"yesterday\",\"reason\":{\"code\":\"doctor.red\"},"
		"\"doctorFirstBad\":{\"checkId\":5}}}}";
	struct json_object *doc = NULL;
	char *out = NULL;
	size_t outlen = 0;
	assert_int_equal(jsonparse_object(doc_text, sizeof(doc_text) - 1, JSONPARSE_DEPTH, &doc,
					  NULL),
			 0);
	FILE *f = open_memstream(&out, &outlen);
	status_table_print(f, doc, T0);
	fclose(f);
	assert_line(out, "hold        waiting for -; no maxHold");
	assert_line(out, "n                        green        -                    -              "
			 "  -  -        doctor.red");
	assert_line(out, "weights: not read");
	json_object_put(doc);
	free(out);
}

/* A document's rendering by fn into a string. */
static char *render_doc(void (*fn)(FILE *, struct json_object *), const char *json)
{
	char *out = NULL;
	size_t outlen = 0;
	struct json_object *doc = NULL;
	assert_int_equal(jsonparse_object(json, strlen(json), JSONPARSE_DEPTH, &doc, NULL), 0);
	FILE *f = open_memstream(&out, &outlen);
	assert_non_null(f);
	fn(f, doc);
	fclose(f);
	json_object_put(doc);
	return out;
}

/* The history as /status renders it from the state: the newest first, with who and ticket. */
static void test_history(void **state)
{
	struct fixture *f = *state;
	char *json = NULL;
	size_t len = 0;
	struct cf_err err;
	f->state.history[0] = (struct rollout_record){
		"gateway", {"v1", "", "1.4.1"}, {"v2", "", "1.4.2"}, OUTCOME_SUCCEEDED, "",
		T0 - 10 * MINUTE, T0 - 4 * MINUTE, "Ada Lovelace <ada@example.com>", "OPS-7"};
	f->state.history[1] = (struct rollout_record){
		"gateway", {"v2", "", "1.4.2"}, {"v3", "", "1.4.3"}, OUTCOME_ROLLED_BACK,
		"doctor.red", T0 - 3 * MINUTE, T0 - MINUTE - 5000, "", ""};
	f->state.nhistory = 2;
	assert_int_equal(status_render_json(&f->view, &json, &len, &err), 0);
	char *t = render_doc(status_table_history, json);
	const char *v3 = strstr(t, "v2 -> v3"), *v2 = strstr(t, "v1 -> v2");
	assert_non_null(v3);
	assert_non_null(v2);
	assert_true(v3 < v2); /* the newest first */
	assert_non_null(strstr(t, "rolled_back  v2 -> v3                         1m55s"));
	assert_non_null(strstr(t, "Ada Lovelace <ada@example.com>   OPS-7"));
	assert_non_null(strstr(t, "doctor.red"));
	free(t);
	t = render_doc(status_table_history, "{\"history\": []}");
	assert_string_equal(t, "no rollout has finished on this fleet yet\n");
	free(t);
	free(json);
}

static void line_of(FILE *out, struct json_object *doc)
{
	char line[512];
	status_table_line(line, sizeof(line), doc);
	fprintf(out, "%s", line);
}

/* --watch on a pipe: the phase, the step, what it waits for and the nodes not green. */
static void test_watch_line(void **state)
{
	struct fixture *f = *state;
	char *json = NULL;
	size_t len = 0;
	struct cf_err err;
	f->state.conditions[COND_RECONCILING] = (struct rollout_condition){
		COND_TRUE, "Analysing", "step 1 (10 %): analysing, 1 of 2 green windows", T0};
	assert_int_equal(status_render_json(&f->view, &json, &len, &err), 0);
	char *t = render_doc(line_of, json);
	assert_string_equal(t, "Analysing, step 1 (10 %): analysing, 1 of 2 green windows; "
			       "canary-gw degraded; stable-gw-a red; stable-gw-b unreachable");
	free(t);
	free(json);
	t = render_doc(line_of, "{\"phase\": \"Succeeded\", \"step\": 3, \"percent\": 100, "
				"\"suspended\": true, \"nodes\": {\"a\": {\"status\": \"green\"}}}");
	assert_string_equal(t, "Suspended (Succeeded), step 3 (100 %)");
	free(t);
	t = render_doc(line_of, "{\"phase\": \"Shadow\", \"step\": 0, \"percent\": 0, "
				"\"conditions\": [{\"type\": \"Reconciling\", \"message\": "
				"\"Shadow: waiting for canary-gw to apply generation 2\"}]}");
	assert_string_equal(t, "Shadow: waiting for canary-gw to apply generation 2");
	free(t);
}

static void plan_at_t0(FILE *out, struct json_object *doc)
{
	status_table_plan(out, doc, T0);
}

static void rollout_at_t0(FILE *out, struct json_object *doc)
{
	struct json_object *plan = NULL;
	json_object_object_get_ex(doc, "plan", &plan);
	status_table_rollout(out, doc, plan, T0);
}

/* plan --controller: the actions, what it waits for, the steps left and their earliest times;
 * rollout get: the next of them and the earliest end. */
static void test_plan(void **state)
{
	(void)state;
	static const char plan[] =
		"{\"revision\": \"main@sha1:2f0c\", \"phase\": \"Analysing\", \"nextPhase\": "
		"\"Analysing\", \"suspended\": false, \"next\": [\"AUDIT step Analysing 10%\"], "
		"\"waitingFor\": \"step 1 (10 %): analysing, 0 of 2 green windows\", \"stalled\": "
		"null, \"remaining\": [{\"phase\": \"Promoting\", \"step\": 2, \"percent\": 50, "
		"\"earliestAt\": \"2026-11-21T03:41:30.250Z\"}, {\"phase\": \"Mirroring\", \"step\": "
		"null, \"percent\": null, \"earliestAt\": \"2026-11-21T03:43:30.250Z\"}]}";
	char *t = render_doc(plan_at_t0, plan);
	assert_string_equal(
		t, "plan at main@sha1:2f0c: Analysing -> Analysing, 1 action\n"
		   "  AUDIT step Analysing 10%\n"
		   "step 1 (10 %): analysing, 0 of 2 green windows\n"
		   "remaining if everything stays green (earliest times):\n"
		   "  step 2 (50 %)    2026-11-21T03:41:30.250Z (in 1m30s)\n"
		   "  Mirroring        2026-11-21T03:43:30.250Z (in 3m30s)\n");
	free(t);
	t = render_doc(plan_at_t0, "{\"phase\": \"Succeeded\", \"nextPhase\": \"Succeeded\", "
				   "\"next\": [], \"remaining\": []}");
	assert_non_null(strstr(t, "nothing is left of the rollout\n"));
	free(t);
	char doc[2048];
	snprintf(doc, sizeof(doc), "{\"phase\": \"Analysing\", \"step\": 1, \"percent\": 10, "
				   "\"plan\": %s}", plan);
	t = render_doc(rollout_at_t0, doc);
	assert_line(t, "next        step 2 (50 %) at the earliest 2026-11-21T03:41:30.250Z (in 1m30s)");
	assert_line(t, "done        2026-11-21T03:43:30.250Z (in 3m30s) at the earliest, if "
		       "everything stays green");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nodes_since_and_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_staleness, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_webhook_gate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_rotation, setup, teardown),
		cmocka_unit_test(test_sparse_document),
		cmocka_unit_test_setup_teardown(test_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_line, setup, teardown),
		cmocka_unit_test(test_plan),
	};
	return cmocka_run_group_tests_name("status_table", tests, NULL, NULL);
}
