/* rollout: the persisted rollout state survives a round trip through its canonical JSON and the
 * file store, refuses anything it did not write, and its pending list and actions behave. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/canon.h"
#include "base/jsonparse.h"
#include "plan/rollout.h"
#include "record/rollout_store.h"

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define DIGEST "abababababababababababababababababababababababababababababababab"

static void set_weights(struct weight_map *m, int canary, int a, int b)
{
	weight_map_set(m, "canary-gw", canary, NULL);
	weight_map_set(m, "stable-gw-a", a, NULL);
	weight_map_set(m, "stable-gw-b", b, NULL);
}

static void add_pending(struct rollout_state *s, struct rollout_action *a)
{
	s->pending = realloc(s->pending, (s->npending + 1) * sizeof(*s->pending));
	a->id = s->next_action_id++;
	s->pending[s->npending++] = *a;
}

/* A state in the middle of a rollout, every field set. */
static void rich_state(struct rollout_state *s)
{
	rollout_state_init(s);
	s->phase = ROLLOUT_HELD;
	strcpy(s->promotion_name, "gateway");
	s->promotion = (struct rollout_version){"v2", C2, "1.5.0"};
	s->has_last_good = true;
	s->last_good = (struct rollout_version){"v1", C1, "1.4.2"};
	set_weights(&s->last_good_weights, 100, 100, 100);
	set_weights(&s->pre_canary_weights, 100, 100, 100);
	set_weights(&s->planned_weights, 11, 100, 100);
	s->step = 1;
	s->percent = 5;
	s->started_ms = 1000;
	s->stage_started_ms = 2000;
	s->step_started_ms = 3000;
	s->window_started_ms = 4000;
	s->window_sampled_ms = 4500;
	s->window_run = 77;
	s->green_windows = 1;
	s->red_observations = 2;
	s->red_observed_ms = 4800;
	s->held_from = ROLLOUT_ANALYSING;
	s->hold_started_ms = 5000;
	strcpy(s->held_node, "canary-gw");
	strcpy(s->held_reason, "doctor.yellow");
	s->mirror_index = 0;
	s->mirror_stage = MIRROR_DRAIN;
	s->canary_routed = true;
	strcpy(s->broadcast_key, "hold/canary-gw/doctor.yellow");
	s->nodes = calloc(2, sizeof(*s->nodes));
	s->nodes[0] = (struct rollout_node){"canary-gw", 1, DIGEST, true, false, "", 0, 0, false, 3000};
	s->nodes[1] = (struct rollout_node){"stable-gw-a", 0, "", false, true, "doctor.red", 1, 4500,
					    false, 0};
	s->nnodes = 2;
	s->quarantined[0] = (struct rollout_quarantine){"v0", C1, "doctor.red", 500};
	s->nquarantined = 1;
	s->conditions[COND_READY] = (struct rollout_condition){COND_FALSE, "Held", "holding", 5000};
	s->conditions[COND_RECONCILING] = (struct rollout_condition){COND_TRUE, "Held", "", 1000};
	s->conditions[COND_STALLED] = (struct rollout_condition){COND_FALSE, "Held", "", 1000};
	s->conditions[COND_DEGRADED] = (struct rollout_condition){COND_TRUE, "Drained",
								  "drained: stable-gw-a (doctor.red)",
								  4000};
	s->history[0] = (struct rollout_record){"gateway", {"v0", C1, "1.4.1"}, {"v1", C1, "1.4.2"},
						OUTCOME_SUCCEEDED, "", 100, 200,
						"Ada Lovelace <ada@example.com>", "OPS-7"};
	s->nhistory = 1;

	struct rollout_action route = {.kind = ACTION_ROUTE_TENANT};
	strcpy(route.u.route.tenant, "acme");
	route.u.route.canary = true;
	add_pending(s, &route);
	struct rollout_action audit = {.kind = ACTION_AUDIT};
	audit.u.audit = calloc(1, sizeof(*audit.u.audit));
	*audit.u.audit = (struct rollout_audit){
		.event = AUDIT_HELD,
		.ts_ms = 5000,
		.promotion = "gateway",
		.revision = "main@sha1:" C2,
		.actor = "Ada Lovelace <ada@example.com>",
		.ticket = "OPS-1042",
		.from = {"v1", C1, "1.4.2"},
		.to = {"v2", C2, "1.5.0"},
		.phase = ROLLOUT_HELD,
		.step = 1,
		.percent = 5,
		.probe_sha256 = DIGEST,
		.reason = "doctor.yellow",
	};
	set_weights(&audit.u.audit->weights, 11, 100, 100);
	add_pending(s, &audit);
	struct rollout_action bc = {.kind = ACTION_BROADCAST};
	bc.u.broadcast = (struct rollout_broadcast){VERDICT_HOLD, "canary-gw", "doctor.yellow",
						    "holding v2 at 5 %"};
	add_pending(s, &bc);
}

static char *to_json(const struct rollout_state *s)
{
	char *json = NULL;
	size_t len;
	struct cf_err err;
	if (rollout_state_to_json(s, &json, &len, &err) < 0)
		fail_msg("to_json: %s", err.msg);
	assert_int_equal(strlen(json), len);
	return json;
}

static void test_empty_state_format(void **state)
{
	(void)state;
	struct rollout_state s;
	rollout_state_init(&s);
	char *json = to_json(&s);
	assert_string_equal(
		json,
		"{\"analysis\":{\"redObservations\":0,\"redObservedMs\":0,\"windowRun\":0,"
		"\"windowSampledMs\":0},\"bringUp\":false,\"broadcastKey\":\"\",\"canaryRouted\":false,"
		"\"conditions\":{\"Degraded\":{\"lastTransitionMs\":0,\"message\":\"\","
		"\"reason\":\"\",\"status\":\"Unknown\"},\"Ready\":{\"lastTransitionMs\":0,"
		"\"message\":\"\",\"reason\":\"\",\"status\":\"Unknown\"},\"Reconciling\":{"
		"\"lastTransitionMs\":0,\"message\":\"\",\"reason\":\"\",\"status\":\"Unknown\"},"
		"\"Stalled\":{\"lastTransitionMs\":0,\"message\":\"\",\"reason\":\"\","
		"\"status\":\"Unknown\"}},\"greenWindows\":0,"
		"\"heldFrom\":\"Idle\",\"heldNode\":\"\",\"heldReason\":\"\",\"history\":[],"
		"\"holdStartedMs\":0,\"lastGood\":null,\"mirror\":{\"index\":0,\"node\":\"\","
		"\"stage\":\"drain\"},\"nextActionId\":1,\"nodes\":[],\"pending\":[],\"percent\":0,"
		"\"phase\":\"Idle\",\"plannedWeights\":{},\"preCanaryWeights\":{},"
		"\"promotion\":{\"commit\":\"\",\"semver\":\"\",\"tag\":\"\"},\"promotionName\":\"\","
		"\"quarantined\":[],\"rollbackReason\":\"\",\"stageStartedMs\":0,\"startedMs\":0,"
		"\"step\":0,\"stepStartedMs\":0,\"suspendedSinceMs\":0,\"version\":1,"
		"\"windowStartedMs\":0}");
	struct rollout_state back;
	struct cf_err err;
	assert_int_equal(rollout_state_from_json(json, strlen(json), &back, &err), 0);
	assert_int_equal(back.phase, ROLLOUT_IDLE);
	assert_false(back.has_last_good);
	assert_int_equal(back.next_action_id, 1);
	free(json);
	rollout_state_free(&back);
	rollout_state_free(&s);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct rollout_state s, back;
	struct cf_err err;
	rich_state(&s);
	char *json = to_json(&s);
	if (rollout_state_from_json(json, strlen(json), &back, &err) < 0)
		fail_msg("from_json: %s", err.msg);
	char *again = to_json(&back);
	assert_string_equal(json, again);

	assert_int_equal(back.phase, ROLLOUT_HELD);
	assert_int_equal(back.held_from, ROLLOUT_ANALYSING);
	assert_int_equal(back.window_sampled_ms, 4500);
	assert_int_equal(back.window_run, 77);
	assert_int_equal(back.red_observations, 2);
	assert_int_equal(back.red_observed_ms, 4800);
	assert_string_equal(back.last_good.commit, C1);
	assert_int_equal(weight_map_find(&back.planned_weights, "canary-gw")->weight, 11);
	assert_int_equal(back.nnodes, 2);
	assert_true(back.nodes[0].touched);
	assert_string_equal(back.nodes[0].digest, DIGEST);
	assert_false(back.nodes[0].drained);
	assert_true(back.nodes[1].drained);
	assert_string_equal(back.nodes[1].drain_reason, "doctor.red");
	assert_int_equal(back.nodes[1].green_passes, 1);
	assert_int_equal(back.nodes[1].green_at_ms, 4500);
	assert_int_equal(back.conditions[COND_DEGRADED].status, COND_TRUE);
	assert_string_equal(back.conditions[COND_DEGRADED].reason, "Drained");
	assert_int_equal(back.conditions[COND_READY].last_transition_ms, 5000);
	assert_int_equal(back.history[0].outcome, OUTCOME_SUCCEEDED);
	assert_string_equal(back.history[0].actor, "Ada Lovelace <ada@example.com>");
	assert_string_equal(back.history[0].ticket, "OPS-7");
	assert_int_equal(back.npending, 3);
	assert_int_equal(back.next_action_id, 4);
	assert_int_equal(back.pending[0].kind, ACTION_ROUTE_TENANT);
	assert_true(back.pending[0].u.route.canary);
	assert_int_equal(back.pending[1].id, 2);
	assert_string_equal(back.pending[1].u.audit->actor, "Ada Lovelace <ada@example.com>");
	assert_int_equal(weight_map_find(&back.pending[1].u.audit->weights, "stable-gw-b")->weight,
			 100);
	assert_int_equal(back.pending[2].u.broadcast.verdict, VERDICT_HOLD);
	assert_non_null(rollout_node_find(&back, "stable-gw-a"));
	assert_null(rollout_node_find(&back, "stable-gw-c"));
	free(json);
	free(again);
	rollout_state_free(&s);
	rollout_state_free(&back);
}

/* Canonical: parsing and writing it again through canon_json changes no byte. */
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

static void test_json_is_canonical(void **state)
{
	(void)state;
	struct rollout_state s;
	rich_state(&s);
	char *json = to_json(&s);
	struct json_object *o = json_of(json);
	char *canon = NULL;
	size_t len;
	assert_int_equal(canon_json(o, &canon, &len, NULL), 0);
	assert_string_equal(json, canon);
	free(canon);
	json_object_put(o);
	free(json);
	rollout_state_free(&s);
}

struct bad_case {
	const char *from, *to; /* replace the first `from` in the rich state's JSON */
	const char *msg;       /* the whole message, or its start when it ends with "..." */
};

static const struct bad_case bad_cases[] = {
	{"\"phase\":\"Held\",\"plannedWeights\"", "\"phase\":\"Nope\",\"plannedWeights\"",
	 "phase: \"Nope\" is not one of Idle, ..."},
	{"\"phase\":\"Held\",\"probeSha256\"", "\"phase\":\"Nope\",\"probeSha256\"",
	 "pending[1].audit.phase: \"Nope\" is not one of Idle, ..."},
	{"{\"analysis\"", "{\"bogus\":1,\"analysis\"", "bogus: unknown field"},
	{"\"redObservations\":2,", "", "analysis.redObservations: required"},
	{"\"windowSampledMs\":4500", "\"windowSampledMs\":-1",
	 "analysis.windowSampledMs: must be between 0 and 9223372036854775807"},
	{"\"canaryRouted\":true,", "", "canaryRouted: required"},
	{"\"version\":1", "\"version\":2", "version: 2 is not a format this controller reads (1)"},
	{"\"promotion\":{\"commit\":\"" C2, "\"promotion\":{\"commit\":\"22",
	 "promotion.commit: want 40 lower-case hex digits"},
	{"\"tag\":\"v2\"},\"promotionName\"", "\"tag\":\"-rf\"},\"promotionName\"",
	 "promotion.tag: \"-rf\": a tag must not start with \"-\""},
	{"\"semver\":\"1.5.0\",\"tag\":\"v2\"},\"promotionName\"",
	 "\"semver\":\"1.5\",\"tag\":\"v2\"},\"promotionName\"", "promotion.semver: ..."},
	{"\"name\":\"stable-gw-a\"", "\"name\":\"a-node\"",
	 "nodes[1].name: \"a-node\" is out of order or repeated"},
	{"\"name\":\"canary-gw\"", "\"name\":\"../x\"", "nodes[0].name: ..."},
	{"\"digest\":\"" DIGEST, "\"digest\":\"abc", "nodes[0].digest: want 64 lower-case hex digits"},
	{"\"plannedWeights\":{\"canary-gw\":11", "\"plannedWeights\":{\"canary-gw\":300",
	 "plannedWeights.canary-gw: must be between 0 and 256"},
	{"\"plannedWeights\":{\"canary-gw\":11", "\"plannedWeights\":{\"canary gw\":11",
	 "plannedWeights: server name \"canary gw\": ..."},
	{"\"kind\":\"ROUTE_TENANT\"", "\"kind\":\"NODE_TARGET\"",
	 "pending[0].kind: a NODE_TARGET is never pending"},
	{"\"nextActionId\":4", "\"nextActionId\":2", "pending[1].id: must be between 1 and 1"},
	{"\"pool\":\"canary\"", "\"pool\":\"beta\"", "pending[0].route.pool: \"beta\" is not one of ..."},
	{"],\"percent\":5,\"phase\"", "],\"percent\":101,\"phase\"",
	 "percent: must be between 0 and 100"},
	{"\"holdStartedMs\":5000", "\"holdStartedMs\":-1",
	 "holdStartedMs: must be between 0 and 9223372036854775807"},
	{"\"heldFrom\":\"Analysing\"", "\"heldFrom\":\"Held\"",
	 "heldFrom: a rollout holds only in Shadow, Promoting, Analysing or Mirroring, not Held"},
	{"\"heldNode\":\"canary-gw\"", "\"heldNode\":\"can\\u0000ary\"",
	 "heldNode: holds a NUL character"},
	{"\"reason\":\"doctor.red\"", "\"reason\":\"doctor red\"",
	 "quarantined[0].reason: want letters, digits, \".\", \"_\" or \"-\""},
	{"\"status\":\"False\"", "\"status\":\"Maybe\"",
	 "conditions.Ready.status: \"Maybe\" is not one of Unknown, ..."},
	{"\"outcome\":\"succeeded\"", "\"outcome\":\"won\"",
	 "history[0].outcome: \"won\" is not one of succeeded, ..."},
	{"\"touched\":true", "\"touched\":1", "nodes[0].touched: must be true or false"},
	{"\"drainReason\":\"doctor.red\"", "\"drainReason\":\"doctor red\"",
	 "nodes[1].drainReason: want letters, digits, \".\", \"_\" or \"-\""},
	{"\"greenPasses\":1", "\"greenPasses\":-1", "nodes[1].greenPasses: must be between 0 and ..."},
	{"\"drained\":true", "\"drained\":\"yes\"", "nodes[1].drained: must be true or false"},
	{"\"status\":\"True\"", "\"status\":\"Sure\"",
	 "conditions.Degraded.status: \"Sure\" is not one of Unknown, ..."},
	{"\"node\":\"\",\"percent\"", "\"node\":\"../x\",\"percent\"", "pending[1].audit.node: ..."},
	{"\"mirror\":{\"index\":0", "\"mirror\":{\"index\":\"0\"", "mirror.index: must be an integer"},
	{"\"step\":1,\"stepStartedMs\"", "\"step\":21,\"stepStartedMs\"",
	 "step: must be between 0 and 20"},
};

static char *replace_first(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	if (!at)
		fail_msg("\"%s\" is not in the state's JSON", from);
	size_t head = (size_t)(at - s), n = strlen(s) - strlen(from) + strlen(to);
	char *out = malloc(n + 1);
	memcpy(out, s, head);
	memcpy(out + head, to, strlen(to));
	strcpy(out + head + strlen(to), at + strlen(from));
	return out;
}

static void expect_refused(const char *text, size_t len, const char *want)
{
	struct rollout_state out;
	struct cf_err err = {{0}};
	int rc = rollout_state_from_json(text, len, &out, &err);
	size_t n = strlen(want);
	bool prefix = n > 3 && strcmp(want + n - 3, "...") == 0;
	bool same = prefix ? strncmp(err.msg, want, n - 3) == 0 : strcmp(err.msg, want) == 0;
	if (rc != -1 || !same)
		fail_msg("rc %d, message \"%s\", want \"%s\"", rc, err.msg, want);
	/* Nothing of a refused state is left behind. */
	assert_int_equal(out.npending, 0);
	assert_int_equal(out.nnodes, 0);
	assert_int_equal(out.phase, ROLLOUT_IDLE);
}

static void test_bad_input_refused(void **state)
{
	(void)state;
	struct rollout_state s;
	rich_state(&s);
	char *json = to_json(&s);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char *bad = replace_first(json, bad_cases[i].from, bad_cases[i].to);
		expect_refused(bad, strlen(bad), bad_cases[i].msg);
		free(bad);
	}
	char *trailing = replace_first(json, "\"windowStartedMs\":4000}",
				       "\"windowStartedMs\":4000} x");
	expect_refused(trailing, strlen(trailing), "not valid JSON: ...");
	expect_refused(json, strlen(json) / 2, "not valid JSON: unexpected end");
	expect_refused("[]", 2, "state: must be an object");
	expect_refused("{}", ROLLOUT_STATE_MAX_BYTES + 1u, "33554433 bytes, over the 33554432 byte "
							   "limit");
	free(trailing);
	free(json);
	rollout_state_free(&s);
}

/* A state written before the analysis window's samples and the red streak were kept loads: no
 * sample in the window (it starts anew) and no red observation. */
static void test_state_without_analysis_loads(void **state)
{
	(void)state;
	struct rollout_state s, back;
	struct cf_err err;
	rich_state(&s);
	char *json = to_json(&s);
	char *old = replace_first(json, "\"analysis\":{\"redObservations\":2,\"redObservedMs\":4800,"
				  "\"windowRun\":77,\"windowSampledMs\":4500},", "");
	if (rollout_state_from_json(old, strlen(old), &back, &err) < 0)
		fail_msg("an older state is refused: %s", err.msg);
	assert_int_equal(back.window_started_ms, 4000);
	assert_int_equal(back.window_sampled_ms, 0);
	assert_int_equal(back.window_run, 0);
	assert_int_equal(back.red_observations, 0);
	assert_int_equal(back.red_observed_ms, 0);
	assert_int_equal(back.green_windows, 1);
	rollout_state_free(&back);
	free(old);
	free(json);
	rollout_state_free(&s);
}

/* A state file written before the safety rule (no drain fields, no Degraded condition, audit
 * lines without a node) loads with nothing drained. */
static void test_older_state_loads(void **state)
{
	(void)state;
	struct rollout_state s, back;
	struct cf_err err;
	rich_state(&s);
	char *json = to_json(&s);
	struct json_object *o = json_of(json);
	struct json_object *nodes = json_object_object_get(o, "nodes");
	static const char *const added[] = {"drained", "drainReason", "greenPasses", "greenAtMs",
					    "keptServing"};
	for (size_t i = 0; i < json_object_array_length(nodes); i++)
		for (size_t k = 0; k < sizeof(added) / sizeof(added[0]); k++)
			json_object_object_del(json_object_array_get_idx(nodes, i), added[k]);
	json_object_object_del(json_object_object_get(o, "conditions"), "Degraded");
	struct json_object *pending = json_object_object_get(o, "pending");
	json_object_object_del(json_object_object_get(json_object_array_get_idx(pending, 1), "audit"),
			       "node");
	struct json_object *record =
		json_object_array_get_idx(json_object_object_get(o, "history"), 0);
	json_object_object_del(record, "actor");
	json_object_object_del(record, "ticket");
	const char *text = json_object_to_json_string(o);
	if (rollout_state_from_json(text, strlen(text), &back, &err) < 0)
		fail_msg("from_json: %s", err.msg);
	assert_int_equal(back.nnodes, 2);
	assert_string_equal(back.history[0].actor, "");
	assert_string_equal(back.history[0].ticket, "");
	assert_false(back.nodes[1].drained);
	assert_string_equal(back.nodes[1].drain_reason, "");
	assert_int_equal(back.conditions[COND_DEGRADED].status, COND_UNKNOWN);
	assert_int_equal(back.conditions[COND_STALLED].status, COND_FALSE);
	assert_string_equal(back.pending[1].u.audit->node, "");
	assert_string_equal(back.pending[1].u.audit->reason, "doctor.yellow");
	json_object_put(o);
	free(json);
	rollout_state_free(&back);
	rollout_state_free(&s);
}

/* Structural limits: a list longer than the state holds, a success without a last good build. */
static void test_limits_refused(void **state)
{
	(void)state;
	struct rollout_state s;
	rich_state(&s);
	char *json = to_json(&s);
	struct json_object *o = json_of(json);
	struct json_object *history = json_object_object_get(o, "history");
	for (int i = 0; i < ROLLOUT_HISTORY_MAX; i++)
		json_object_array_add(history,
				      json_object_get(json_object_array_get_idx(history, 0)));
	const char *text = json_object_to_json_string(o);
	expect_refused(text, strlen(text), "history: more than 20 entries");
	json_object_put(o);

	o = json_of(json);
	json_object_object_add(o, "phase", json_object_new_string("RolledBack"));
	json_object_object_add(o, "lastGood", NULL);
	text = json_object_to_json_string(o);
	expect_refused(text, strlen(text), "lastGood: required in phase RolledBack");
	json_object_put(o);
	free(json);
	rollout_state_free(&s);
}

static void test_never_pending_refused_on_write(void **state)
{
	(void)state;
	struct rollout_state s;
	rollout_state_init(&s);
	struct rollout_action a = {.kind = ACTION_SET_WEIGHTS};
	add_pending(&s, &a);
	char *json = NULL;
	size_t len;
	struct cf_err err;
	assert_int_equal(rollout_state_to_json(&s, &json, &len, &err), -1);
	assert_string_equal(err.msg, "pending action 1: a SET_WEIGHTS is never pending");
	assert_null(json);
	rollout_state_free(&s);
}

/* The drain before a restart is written only while there is one, so a file without it (older
 * than drains) reads as none; DRAIN_NODE and READY_NODE are never pending. */
static void test_drain_round_trip(void **state)
{
	(void)state;
	struct rollout_state s, back;
	struct cf_err err;
	rich_state(&s);
	snprintf(s.drain_node, sizeof(s.drain_node), "stable-gw-a");
	s.drain_started_ms = 6000;
	s.drain_generation = 3;
	s.drain_released = true;
	char *json = to_json(&s);
	assert_non_null(strstr(json, "\"drain\":{\"generation\":3,\"node\":\"stable-gw-a\","
				     "\"released\":true,\"startedMs\":6000}"));
	if (rollout_state_from_json(json, strlen(json), &back, &err) < 0)
		fail_msg("from_json: %s", err.msg);
	assert_string_equal(back.drain_node, "stable-gw-a");
	assert_int_equal(back.drain_started_ms, 6000);
	assert_int_equal(back.drain_generation, 3);
	assert_true(back.drain_released);
	char *bad = replace_first(json, "\"node\":\"stable-gw-a\"", "\"node\":\"\"");
	expect_refused(bad, strlen(bad), "drain.node: \"\": a DNS label must not be empty");
	free(bad);
	bad = replace_first(json, "\"released\":true,", "");
	expect_refused(bad, strlen(bad), "drain.released: required");
	free(bad);
	free(json);
	rollout_state_free(&back);

	struct rollout_action a = {.kind = ACTION_DRAIN_NODE};
	add_pending(&s, &a);
	assert_int_equal(rollout_state_to_json(&s, &json, &(size_t){0}, &err), -1);
	assert_string_equal(err.msg, "pending action 4: a DRAIN_NODE is never pending");
	rollout_state_free(&s);
}

/* A hold at a gate keeps its percent; written only while there is one, so a file older than
 * gates reads as none. An audit line pending carries the planner's sentence for a reason. */
static void test_gate_round_trip(void **state)
{
	(void)state;
	struct rollout_state s, back;
	struct cf_err err;
	rich_state(&s);
	char *json = to_json(&s);
	assert_null(strstr(json, "\"gate\""));
	free(json);
	s.gate_percent = 50;
	json = to_json(&s);
	assert_non_null(strstr(json, "\"gate\":50,"));
	if (rollout_state_from_json(json, strlen(json), &back, &err) < 0)
		fail_msg("from_json: %s", err.msg);
	assert_int_equal(back.gate_percent, 50);
	rollout_state_free(&back);
	char *bad = replace_first(json, "\"gate\":50,", "\"gate\":0,");
	expect_refused(bad, strlen(bad), "gate: must be between 1 and 100");
	free(bad);
	free(json);
	rollout_state_free(&s);
}

/* The write-back round-trips; written only once there is one, so an older file reads as none;
 * a state that is not one of the three is refused. */
static void test_writeback_round_trip(void **state)
{
	(void)state;
	struct rollout_state s, back;
	struct cf_err err;
	rich_state(&s);
	char *json = to_json(&s);
	assert_null(strstr(json, "\"writeBack\""));
	free(json);
	s.writeback = (struct rollout_writeback){.state = WRITEBACK_DONE, .attempts = 2,
						  .next_ms = 1234};
	snprintf(s.writeback.tag, sizeof(s.writeback.tag), "v2");
	snprintf(s.writeback.tag_commit, sizeof(s.writeback.tag_commit), "%040d", 7);
	snprintf(s.writeback.to, sizeof(s.writeback.to), "v1");
	snprintf(s.writeback.commit, sizeof(s.writeback.commit), "%040d", 9);
	snprintf(s.writeback.error, sizeof(s.writeback.error), "the remote moved");
	json = to_json(&s);
	if (rollout_state_from_json(json, strlen(json), &back, &err) < 0)
		fail_msg("from_json: %s", err.msg);
	assert_int_equal(back.writeback.state, WRITEBACK_DONE);
	assert_string_equal(back.writeback.tag, "v2");
	assert_string_equal(back.writeback.to, "v1");
	assert_string_equal(back.writeback.commit, s.writeback.commit);
	assert_string_equal(back.writeback.tag_commit, s.writeback.tag_commit);
	assert_string_equal(back.writeback.error, "the remote moved");
	assert_int_equal(back.writeback.attempts, 2);
	assert_int_equal(back.writeback.next_ms, 1234);
	rollout_state_free(&back);
	char *bad = replace_first(json, "\"state\":\"done\"", "\"state\":\"none\"");
	expect_refused(bad, strlen(bad), "writeBack.state: want pending, done or failed");
	free(bad);
	free(json);
	rollout_state_free(&s);
}

/* The webhooks' memory round-trips (a passed pre-rollout, a rollout hook's failures in a row, an
 * event owed); written only once there is something in it; a key that is not one of the
 * planner's is refused. */
static void test_hooks_round_trip(void **state)
{
	(void)state;
	struct rollout_state s, back;
	struct cf_err err;
	rich_state(&s);
	char *json = to_json(&s);
	assert_null(strstr(json, "\"hooks\""));
	free(json);
	struct hook_mark *m = &s.hooks.marks[s.hooks.nmarks++];
	snprintf(m->name, sizeof(m->name), "smoke");
	snprintf(m->key, sizeof(m->key), "0123456789abcdef/pre-rollout");
	m->passed = true;
	m = &s.hooks.marks[s.hooks.nmarks++];
	snprintf(m->name, sizeof(m->name), "load");
	snprintf(m->key, sizeof(m->key), "0123456789abcdef/rollout/2/60000");
	m->failures = 2;
	struct hook_call *c = &s.hooks.owed[s.hooks.nowed++];
	snprintf(c->name, sizeof(c->name), "tell");
	c->type = WEBHOOK_EVENT;
	snprintf(c->key, sizeof(c->key), "0123456789abcdef/event/5/Analysing");
	snprintf(c->phase, sizeof(c->phase), "Progressing");
	snprintf(c->event_message, sizeof(c->event_message), "p v2: Shadow -> Analysing");
	c->event_type = "Normal";
	json = to_json(&s);
	if (rollout_state_from_json(json, strlen(json), &back, &err) < 0)
		fail_msg("from_json: %s", err.msg);
	assert_int_equal(back.hooks.nmarks, 2);
	assert_string_equal(back.hooks.marks[0].key, "0123456789abcdef/pre-rollout");
	assert_true(back.hooks.marks[0].passed);
	assert_false(back.hooks.marks[1].passed);
	assert_int_equal(back.hooks.marks[1].failures, 2);
	assert_int_equal(back.hooks.nowed, 1);
	assert_int_equal(back.hooks.owed[0].type, WEBHOOK_EVENT);
	assert_string_equal(back.hooks.owed[0].checksum, "0123456789abcdef");
	assert_string_equal(back.hooks.owed[0].event_type, "Normal");
	assert_string_equal(back.hooks.owed[0].event_message, "p v2: Shadow -> Analysing");
	rollout_state_free(&back);
	char *bad = replace_first(json, "\"0123456789abcdef/pre-rollout\"", "\"pre-rollout\"");
	expect_refused(bad, strlen(bad),
		       "hooks.marks[0].key: want 16 hex digits, a slash and a question");
	free(bad);
	bad = replace_first(json, "\"type\":\"event\"", "\"type\":\"rollout\"");
	expect_refused(bad, strlen(bad), "hooks.owed[0].type: want event or post-rollout");
	free(bad);
	free(json);
	rollout_state_free(&s);
}

/* The rollout clock's reading round-trips; a file without it (written before it was kept)
 * loads with none, and the clock resumes at the wall time found, or at the latest time the
 * state holds when that is later; a saved reading resumes where it was, however the wall
 * clock stands now. */
static void test_clock_round_trip(void **state)
{
	(void)state;
	struct rollout_state s, back;
	struct cf_err err;
	rich_state(&s);
	s.clock_ms = 9000;
	s.clock_wall_ms = 1700000000000LL;
	char *json = to_json(&s);
	assert_non_null(strstr(json, "\"clock\":{\"ms\":9000,\"wallMs\":1700000000000}"));
	if (rollout_state_from_json(json, strlen(json), &back, &err) < 0)
		fail_msg("from_json: %s", err.msg);
	assert_int_equal(back.clock_ms, 9000);
	assert_int_equal(back.clock_wall_ms, 1700000000000LL);
	assert_int_equal(rollout_clock_resume(&back, 1700000000000LL + 3600000), 9000);
	assert_int_equal(rollout_clock_resume(&back, 5), 9000);
	/* For people: a rollout-clock time as far from the wall time as from the reading. */
	assert_int_equal(rollout_clock_wall(&back, 8000), 1700000000000LL - 1000);
	assert_int_equal(rollout_clock_wall(&back, 0), 0);
	rollout_state_free(&back);

	char *bad = replace_first(json, "\"ms\":9000", "\"ms\":0");
	expect_refused(bad, strlen(bad), "clock.ms: must be between 1 and 9223372036854775807");
	free(bad);
	bad = replace_first(json, "\"wallMs\":1700000000000", "\"wallMs\":-1");
	expect_refused(bad, strlen(bad), "clock.wallMs: must be between 0 and 9223372036854775807");
	free(bad);
	bad = replace_first(json, "{\"ms\":9000", "{\"drift\":1,\"ms\":9000");
	expect_refused(bad, strlen(bad), "clock.drift: unknown field");
	free(bad);
	free(json);

	s.clock_ms = 0;
	json = to_json(&s);
	assert_null(strstr(json, "\"clock\""));
	if (rollout_state_from_json(json, strlen(json), &back, &err) < 0)
		fail_msg("an older state is refused: %s", err.msg);
	assert_int_equal(back.clock_ms, 0);
	assert_int_equal(rollout_clock_resume(&back, 1700000000000LL), 1700000000000LL);
	assert_int_equal(rollout_clock_resume(&back, 4000), 5000); /* hold_started_ms */
	assert_int_equal(rollout_clock_wall(&back, 4000), 4000);
	back.clock_ms = 100;
	back.nodes[1].sent_ms = 7000;
	assert_int_equal(rollout_clock_resume(&back, 1), 7000);
	free(json);
	rollout_state_free(&back);
	rollout_state_free(&s);
}

static void test_pending_done(void **state)
{
	(void)state;
	struct rollout_state s;
	rich_state(&s);
	assert_true(rollout_pending_done(&s, 2));
	assert_int_equal(s.npending, 2);
	assert_int_equal(s.pending[0].id, 1);
	assert_int_equal(s.pending[1].id, 3);
	assert_false(rollout_pending_done(&s, 2));
	assert_false(rollout_pending_done(&s, 99));
	assert_true(rollout_pending_done(&s, 3));
	assert_true(rollout_pending_done(&s, 1));
	assert_int_equal(s.npending, 0);
	assert_int_equal(s.next_action_id, 4); /* ids are never reused */
	rollout_state_free(&s);
}

static void test_copy_is_deep(void **state)
{
	(void)state;
	struct rollout_state s, c;
	rich_state(&s);
	rollout_state_init(&c);
	assert_int_equal(rollout_state_copy(&c, &s, NULL), 0);
	weight_map_set(&c.planned_weights, "canary-gw", 50, NULL);
	weight_map_set(&c.pending[1].u.audit->weights, "canary-gw", 50, NULL);
	c.nodes[0].generation = 9;
	assert_int_equal(weight_map_find(&s.planned_weights, "canary-gw")->weight, 11);
	assert_int_equal(weight_map_find(&s.pending[1].u.audit->weights, "canary-gw")->weight, 11);
	assert_int_equal(s.nodes[0].generation, 1);
	/* Copying over a state that holds things releases them (valgrind checks). */
	assert_int_equal(rollout_state_copy(&c, &s, NULL), 0);
	assert_int_equal(c.nodes[0].generation, 1);
	rollout_state_free(&c);
	rollout_state_free(&s);
}

static void test_describe(void **state)
{
	(void)state;
	struct rollout_state s;
	rich_state(&s);
	struct target t = {.generation = 3, .tag = "v2", .commit = C2, .skills_semver = "1.5.0",
			   .skills_link = TARGET_LINK_NEXT, .ntenants = 2, .restart = true};
	t.tenants[0] = (struct target_tenant){"acme", true};
	t.tenants[1] = (struct target_tenant){"globex", false};
	struct rollout_action target = {.kind = ACTION_NODE_TARGET};
	strcpy(target.u.node_target.node, "canary-gw");
	target.u.node_target.target = &t;
	struct rollout_action weights = {.kind = ACTION_SET_WEIGHTS};
	set_weights(&weights.u.weights, 11, 100, 100);
	struct rollout_action abort_bc = {.kind = ACTION_BROADCAST};
	abort_bc.u.broadcast = (struct rollout_broadcast){VERDICT_ROLLBACK, "", "abort", ""};
	struct rollout_action drain_bc = {.kind = ACTION_BROADCAST};
	drain_bc.u.broadcast = (struct rollout_broadcast){VERDICT_DRAIN, "stable-gw-a", "doctor.red",
							  ""};
	struct rollout_audit drained = {.event = AUDIT_DRAINED, .phase = ROLLOUT_SUCCEEDED,
					.reason = "doctor.red", .node = "stable-gw-a"};
	struct rollout_action drain_audit = {.kind = ACTION_AUDIT, .u.audit = &drained};
	const struct {
		const struct rollout_action *a;
		const char *want;
	} cases[] = {
		{&target, "NODE_TARGET canary-gw gen=3 tag=v2 skills=1.5.0/next canary=acme restart"},
		{&weights, "SET_WEIGHTS canary-gw=11 stable-gw-a=100 stable-gw-b=100"},
		{&s.pending[0], "ROUTE_TENANT acme canary"},
		{&s.pending[1], "AUDIT held Held 5% doctor.yellow"},
		{&s.pending[2], "BROADCAST hold canary-gw doctor.yellow"},
		{&abort_bc, "BROADCAST rollback - abort"},
		{&drain_audit, "AUDIT drained stable-gw-a Succeeded 0% doctor.red"},
		{&drain_bc, "BROADCAST drain stable-gw-a doctor.red"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *line = rollout_action_describe(cases[i].a);
		assert_string_equal(line, cases[i].want);
		free(line);
	}
	/* A copied action owns its parts. */
	struct rollout_action copy;
	assert_int_equal(rollout_action_copy(&copy, &target, NULL), 0);
	assert_ptr_not_equal(copy.u.node_target.target, &t);
	assert_string_equal(copy.u.node_target.target->commit, C2);
	rollout_action_free(&copy);
	weight_map_free(&weights.u.weights);
	rollout_state_free(&s);
}

static void test_file_store(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-rollout-XXXXXX", path[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/rollout.json", dir);
	struct rollout_store st;
	struct rollout_state s, back;
	struct cf_err err;
	bool found = true;
	assert_int_equal(rollout_store_open_file(&st, path, &err), 0);

	/* Nothing saved yet: an empty state, not an error. */
	assert_int_equal(rollout_store_load(&st, &back, &found, &err), 0);
	assert_false(found);
	assert_int_equal(back.phase, ROLLOUT_IDLE);
	rollout_state_free(&back);

	rich_state(&s);
	assert_int_equal(rollout_store_save(&st, &s, &err), 0);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(rollout_store_load(&st, &back, &found, &err), 0);
	assert_true(found);
	char *a = to_json(&s), *b = to_json(&back);
	assert_string_equal(a, b);
	free(a);
	free(b);
	rollout_state_free(&back);

	/* Only the state file is there: the atomic write left no temporary behind. */
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			files++;
	closedir(d);
	assert_int_equal(files, 1);

	FILE *f = fopen(path, "w");
	fputs("{\"phase\":", f);
	fclose(f);
	assert_int_equal(rollout_store_load(&st, &back, &found, &err), -1);
	char want[512];
	snprintf(want, sizeof(want), "rollout state %s: not valid JSON: unexpected end", path);
	assert_string_equal(err.msg, want);
	assert_int_equal(back.npending, 0);
	rollout_state_free(&back);

	rollout_store_close(&st);
	snprintf(path, sizeof(path), "%s/missing/rollout.json", dir);
	assert_int_equal(rollout_store_open_file(&st, path, &err), 0);
	assert_int_equal(rollout_store_save(&st, &s, &err), -1);
	assert_non_null(strstr(err.msg, "No such file or directory"));
	rollout_store_close(&st);

	snprintf(path, sizeof(path), "%s/rollout.json", dir);
	unlink(path);
	rmdir(dir);
	rollout_state_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_state_format),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_json_is_canonical),
		cmocka_unit_test(test_bad_input_refused),
		cmocka_unit_test(test_state_without_analysis_loads),
		cmocka_unit_test(test_older_state_loads),
		cmocka_unit_test(test_limits_refused),
		cmocka_unit_test(test_never_pending_refused_on_write),
		cmocka_unit_test(test_drain_round_trip),
		cmocka_unit_test(test_gate_round_trip),
		cmocka_unit_test(test_writeback_round_trip),
		cmocka_unit_test(test_hooks_round_trip),
		cmocka_unit_test(test_clock_round_trip),
		cmocka_unit_test(test_pending_done),
		cmocka_unit_test(test_copy_is_deep),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_file_store),
	};
	return cmocka_run_group_tests_name("rollout", tests, NULL, NULL);
}
