/* plan_analysis: the Promotion's metrics in the planner, as tables of passes over a simulated
 * fleet. Each row is one pass: the time, the metric window the controller measured before it
 * (or none new), the phase after it and the exact, ordered actions. After every pass the
 * simulated agents apply their targets, the load balancer its weights, and one-shot actions are
 * reported done, as the controller would. The fleet: canary-gw, stable-gw-a, stable-gw-b at
 * base weight 100, tenant acme on the canary channel; v1 adopted, then Git promotes v2 with
 * steps 5 and 20, windows of 5m, two green ones; the metrics' windows are 1m. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/planner.h"

#define SEC 1000LL
#define MIN (60 * SEC)
#define T0 1700000000000LL
#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define LOCK1 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LOCK2 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define NODES 3
#define MAX_LINES 16

struct sim_node {
	const char *name;
	int64_t gen;
	char tag[TARGET_NAME_MAX], commit[41], current[TARGET_NAME_MAX], next[TARGET_NAME_MAX];
};

struct world {
	struct mac_node nodes[NODES];
	struct tenant_slice tenants[1];
	struct promotion promo;
	struct desired_state d;
	struct sim_node sim[NODES];
	struct weight_map lb;
	struct metric_sample samples[2];
	size_t nsamples;
	struct rollout_state state;
	char *lines[MAX_LINES + 1];
	size_t nlines;
};

static struct world *world_new(void)
{
	static const char *const names[NODES] = {"canary-gw", "stable-gw-a", "stable-gw-b"};
	struct world *w = calloc(1, sizeof(*w));
	for (size_t i = 0; i < NODES; i++) {
		w->nodes[i] = (struct mac_node){.name = (char *)names[i],
						.address = "http://127.0.0.1:1",
						.role = NODE_GATEWAY, .zone = "zone-a", .canary = !i,
						.lb_server = (char *)names[i], .lb_weight = 100};
		w->sim[i].name = names[i];
		snprintf(w->sim[i].tag, sizeof(w->sim[i].tag), "v1");
		snprintf(w->sim[i].commit, sizeof(w->sim[i].commit), C1);
		snprintf(w->sim[i].current, sizeof(w->sim[i].current), "1.4.2");
		weight_map_set(&w->lb, names[i], 100, NULL);
	}
	w->d.nodes = w->nodes;
	w->d.nnodes = NODES;
	w->tenants[0] = (struct tenant_slice){.name = "acme", .channel = CHANNEL_CANARY};
	w->d.tenants = w->tenants;
	w->d.ntenants = 1;
	w->promo = (struct promotion){.name = "gateway", .tag = "v1", .skill_semver = "1.4.2",
				      .steps = {5, 20}, .nsteps = 2,
				      .analysis_interval_ms = 5 * MIN, .green_windows = 2,
				      .max_hold_ms = 30 * MIN, .rollback_automatic = true};
	w->promo.analysis.failure_limit = 1;
	w->promo.analysis.min_samples = 1;
	w->d.promotions = &w->promo;
	w->d.npromotions = 1;
	w->d.revision = "main@sha1:" C2;
	snprintf(w->d.lock.file_sha256, sizeof(w->d.lock.file_sha256), LOCK1);
	rollout_state_init(&w->state);
	return w;
}

static void clear_lines(struct world *w)
{
	for (size_t i = 0; i < w->nlines; i++)
		free(w->lines[i]);
	w->nlines = 0;
	w->lines[0] = NULL;
}

static void world_free(struct world *w)
{
	clear_lines(w);
	weight_map_free(&w->lb);
	rollout_state_free(&w->state);
	free(w);
}

static void add_metric(struct world *w, const char *name, enum metric_compare compare,
		       double min, double max, int failure_limit, enum metric_no_data no_data)
{
	struct promotion_metric *m = &w->promo.analysis.metrics[w->promo.analysis.nmetrics++];
	*m = (struct promotion_metric){.has_min = min >= 0, .min = min, .has_max = max >= 0,
				       .max = max, .compare = compare, .interval_ms = MIN,
				       .failure_limit = failure_limit, .no_data = no_data};
	snprintf(m->name, sizeof(m->name), "%s", name);
}

static void plan_at(struct world *w, int64_t now, struct plan_output *out)
{
	struct node_observation obs[NODES];
	bool v2 = strcmp(w->promo.tag, "v2") == 0;
	for (size_t i = 0; i < NODES; i++) {
		struct sim_node *n = &w->sim[i];
		obs[i] = (struct node_observation){
			.name = n->name, .reachable = true, .status = PROBE_GREEN,
			.observed_generation = n->gen, .tag = n->tag, .commit = n->commit,
			.skills_current = n->current, .skills_next = n->next[0] ? n->next : NULL,
			.lock_sha256 = n->commit[0] == '2' ? LOCK2 : LOCK1, .version_match = true,
			.probe_sha256 = LOCK1,
		};
	}
	struct fleet_observation fo = {
		.nodes = obs, .nnodes = NODES, .weights = w->lb, .weights_ok = true,
		.promotion_commit = v2 ? C2 : C1, .actor = "Ada <ada@example.com>",
		.metrics = w->samples, .nmetrics = w->nsamples,
	};
	struct cf_err err = {{0}};
	if (plan(&w->d, &fo, &w->state, now, out, &err) < 0)
		fail_msg("plan failed: %s", err.msg);
	clear_lines(w);
	assert_true(out->nactions <= MAX_LINES);
	for (size_t i = 0; i < out->nactions; i++)
		assert_non_null(w->lines[i] = rollout_action_describe(&out->actions[i]));
	w->nlines = out->nactions;
	w->lines[w->nlines] = NULL;
}

static struct sim_node *sim(struct world *w, const char *name)
{
	for (size_t i = 0; i < NODES; i++)
		if (strcmp(w->sim[i].name, name) == 0)
			return &w->sim[i];
	fail_msg("no simulated node %s", name);
	return NULL;
}

static void apply(struct world *w, const struct plan_output *out)
{
	for (size_t i = 0; i < out->nactions; i++) {
		const struct rollout_action *a = &out->actions[i];
		if (a->kind == ACTION_NODE_TARGET) {
			struct sim_node *n = sim(w, a->u.node_target.node);
			const struct target *t = a->u.node_target.target;
			n->gen = t->generation;
			snprintf(n->tag, sizeof(n->tag), "%s", t->tag);
			snprintf(n->commit, sizeof(n->commit), "%s", t->commit);
			snprintf(t->skills_link == TARGET_LINK_NEXT ? n->next : n->current,
				 sizeof(n->next), "%s", t->skills_semver);
		} else if (a->kind == ACTION_SET_WEIGHTS) {
			for (size_t k = 0; k < a->u.weights.n; k++)
				weight_map_set(&w->lb, a->u.weights.v[k].server,
					       a->u.weights.v[k].weight, NULL);
		} else if (a->id) {
			assert_true(rollout_pending_done(&w->state, a->id));
		}
	}
}

/* One row: a window of the metrics measured before the pass (value < 0: none new; NAN-free:
 * no_data true gives a window without a value), the phase after, the check and the actions. */
struct row {
	int64_t at;	     /* ms after T0 */
	int64_t taken;	     /* the window's end, ms after T0; 0: no new window */
	bool no_data;
	double value, stable;
	const char *phase;
	void (*check)(const struct plan_output *);
	const char *actions[MAX_LINES + 1];
};

static void run_rows(struct world *w, const char *table, const struct row *rows, size_t n)
{
	for (size_t r = 0; r < n; r++) {
		struct plan_output out;
		const struct row *row = &rows[r];
		if (row->taken) {
			for (size_t k = 0; k < w->promo.analysis.nmetrics; k++) {
				struct metric_sample *x = &w->samples[k];
				*x = (struct metric_sample){.taken_ms = T0 + row->taken,
							    .interval_ms = MIN,
							    .has_value = !row->no_data,
							    .value = row->value, .stable = row->stable};
				snprintf(x->metric, sizeof(x->metric), "%s",
					 w->promo.analysis.metrics[k].name);
				if (row->no_data)
					snprintf(x->why, sizeof(x->why), "Prometheus at "
						 "http://127.0.0.1:9090: Connection refused");
			}
			w->nsamples = w->promo.analysis.nmetrics;
		}
		plan_at(w, T0 + row->at, &out);
		size_t i = 0;
		while (row->actions[i] && w->lines[i] && strcmp(row->actions[i], w->lines[i]) == 0)
			i++;
		if (row->actions[i] || w->lines[i]) {
			print_message("%s, row %zu: the actions differ at %zu\n", table, r, i);
			for (size_t k = 0; row->actions[k]; k++)
				print_message("  want: %s\n", row->actions[k]);
			for (size_t k = 0; w->lines[k]; k++)
				print_message("  got:  %s\n", w->lines[k]);
			fail();
		}
		if (strcmp(rollout_phase_name(out.next.phase), row->phase) != 0)
			fail_msg("%s, row %zu: phase %s, want %s (%s)", table, r,
				 rollout_phase_name(out.next.phase), row->phase,
				 out.next.conditions[COND_RECONCILING].message);
		if (row->check)
			row->check(&out);
		assert_int_equal(rollout_state_copy(&w->state, &out.next, NULL), 0);
		apply(w, &out);
		plan_output_free(&out);
	}
}

#define RUN(w, rows) run_rows(w, #rows, rows, sizeof(rows) / sizeof(rows[0]))

/* v1 adopted at T0 - 10m; then Git says v2. */
static struct world *adopted_then_v2(void)
{
	struct world *w = world_new();
	struct plan_output out;
	plan_at(w, T0 - 10 * MIN, &out);
	assert_string_equal(rollout_phase_name(out.next.phase), "Succeeded");
	assert_int_equal(rollout_state_copy(&w->state, &out.next, NULL), 0);
	apply(w, &out);
	plan_output_free(&out);
	w->promo.tag = "v2";
	w->promo.skill_semver = "1.5.0";
	snprintf(w->d.lock.file_sha256, sizeof(w->d.lock.file_sha256), LOCK2);
	return w;
}

#define SHADOW_V2 "NODE_TARGET canary-gw gen=1 tag=v2 skills=1.5.0/next canary=acme restart"
#define BASE_WEIGHTS "SET_WEIGHTS canary-gw=100 stable-gw-a=100 stable-gw-b=100"
#define STEP5_WEIGHTS "SET_WEIGHTS canary-gw=11 stable-gw-a=100 stable-gw-b=100"
#define STEP20_WEIGHTS "SET_WEIGHTS canary-gw=50 stable-gw-a=100 stable-gw-b=100"
#define CANARY_BACK "NODE_TARGET canary-gw gen=2 tag=v1 skills=1.4.2/current restart"

/* Into Analysing at 5 % at 2s: the step's windows start there. */
static const struct row to_step1[] = {
	{0, 0, false, 0, 0, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, 0, false, 0, 0, "Promoting", NULL,
	 {"AUDIT step Promoting 5%", STEP5_WEIGHTS, "ROUTE_TENANT acme canary"}},
	{2 * SEC, 0, false, 0, 0, "Analysing", NULL, {NULL}},
};

static void metric_is(const struct plan_output *out, enum rollout_metric_verdict verdict,
		      int failures, const char *why)
{
	const struct rollout_metric *r = &out->next.metrics[0];
	assert_int_equal(out->next.nmetrics, 1);
	assert_int_equal(r->verdict, verdict);
	assert_int_equal(r->failures, failures);
	if (strcmp(r->why, why) != 0)
		fail_msg("why \"%s\", want \"%s\"", r->why, why);
}

static void unjudged(const struct plan_output *out)
{
	metric_is(out, METRIC_VERDICT_NONE, 0, "");
}
static void rate_passed(const struct plan_output *out)
{
	metric_is(out, METRIC_VERDICT_PASS, 0,
		  "request-success-rate 99.9 % within its range (canary-gw, 1m)");
}
static void rate_failed(const struct plan_output *out)
{
	metric_is(out, METRIC_VERDICT_FAIL, 1, "request-success-rate 91.2 % < 99 % (canary-gw, 1m)");
	assert_string_equal(out->next.rollback_reason, "metric.request-success-rate");
}

/* A window straddling the step's start does not count; a passing one does; a failing one
 * rolls back at once (failureLimit 1), the metric named. */
static const struct row rate_rolls_back[] = {
	{30 * SEC, 30 * SEC, false, 50, 0, "Analysing", unjudged, {NULL}},
	{63 * SEC, 62 * SEC, false, 99.9, 0, "Analysing", rate_passed, {NULL}},
	{124 * SEC, 123 * SEC, false, 91.2, 0, "RollingBack", rate_failed,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% metric.request-success-rate",
	  "AUDIT quarantined RollingBack 5% metric.request-success-rate",
	  "BROADCAST rollback canary-gw metric.request-success-rate"}},
};

static void test_success_rate_rolls_back(void **state)
{
	(void)state;
	struct world *w = adopted_then_v2();
	add_metric(w, "request-success-rate", METRIC_COMPARE_NONE, 99, -1, 1, METRIC_NO_DATA_HOLD);
	RUN(w, to_step1);
	RUN(w, rate_rolls_back);
	world_free(w);
}

static void held_for_no_data(const struct plan_output *out)
{
	metric_is(out, METRIC_VERDICT_NO_DATA, 0,
		  "request-success-rate: no data, the window does not count (canary-gw, 1m): "
		  "Prometheus at http://127.0.0.1:9090: Connection refused");
	assert_string_equal(out->next.conditions[COND_RECONCILING].message,
			    "step 1 (5 %): green; waiting for the metrics: request-success-rate: "
			    "no data, the window does not count (canary-gw, 1m): Prometheus at "
			    "http://127.0.0.1:9090: Connection refused");
}
static void step_audit_has_values(const struct plan_output *out)
{
	assert_string_equal(out->actions[0].u.audit->reason, "request-success-rate 99.9 %");
}

/* No data holds: the green windows are done, but the step waits until a window passes. */
static const struct row no_data_holds[] = {
	{63 * SEC, 62 * SEC, true, 0, 0, "Analysing", NULL, {NULL}},
	{2 * SEC + 5 * MIN - 1, 0, false, 0, 0, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN - 1, 0, false, 0, 0, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN, 9 * MIN, true, 0, 0, "Analysing", held_for_no_data, {NULL}},
	{2 * SEC + 11 * MIN, 0, false, 0, 0, "Analysing", held_for_no_data, {NULL}},
	{2 * SEC + 12 * MIN, 12 * MIN, false, 99.9, 0, "Promoting", step_audit_has_values,
	 {"AUDIT step Promoting 20% request-success-rate 99.9 %", STEP20_WEIGHTS}},
};

static void test_no_data_holds_and_never_rolls_back(void **state)
{
	(void)state;
	struct world *w = adopted_then_v2();
	add_metric(w, "request-success-rate", METRIC_COMPARE_NONE, 99, -1, 1, METRIC_NO_DATA_HOLD);
	RUN(w, to_step1);
	RUN(w, no_data_holds);
	world_free(w);
}

static void slow_once(const struct plan_output *out)
{
	metric_is(out, METRIC_VERDICT_FAIL, 1,
		  "request-duration 2 x > 1.5 x of stable (canary-gw, 1m)");
}
static void fast_again(const struct plan_output *out)
{
	metric_is(out, METRIC_VERDICT_PASS, 0,
		  "request-duration 1.1 x of stable within its range (canary-gw, 1m)");
}
static void slow_twice(const struct plan_output *out)
{
	metric_is(out, METRIC_VERDICT_FAIL, 2,
		  "request-duration 2 x > 1.5 x of stable (canary-gw, 1m)");
	assert_true(out->next.metrics[0].has_stable);
	assert_true(out->next.metrics[0].stable == 100);
}

/* compare stable with failureLimit 2: one slow window holds, a good one ends the streak, two in
 * a row roll back. */
static const struct row duration_limit_two[] = {
	{63 * SEC, 62 * SEC, false, 200, 100, "Analysing", slow_once, {NULL}},
	{124 * SEC, 123 * SEC, false, 110, 100, "Analysing", fast_again, {NULL}},
	{185 * SEC, 184 * SEC, false, 200, 100, "Analysing", slow_once, {NULL}},
	{186 * SEC, 0, false, 0, 0, "Analysing", slow_once, {NULL}},
	{246 * SEC, 245 * SEC, false, 200, 100, "RollingBack", slow_twice,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% metric.request-duration",
	  "AUDIT quarantined RollingBack 5% metric.request-duration",
	  "BROADCAST rollback canary-gw metric.request-duration"}},
};

static void test_duration_against_stable_with_failure_limit(void **state)
{
	(void)state;
	struct world *w = adopted_then_v2();
	add_metric(w, "request-duration", METRIC_COMPARE_STABLE, -1, 1.5, 2, METRIC_NO_DATA_HOLD);
	RUN(w, to_step1);
	RUN(w, duration_limit_two);
	world_free(w);
}

static void no_data_failed(const struct plan_output *out)
{
	assert_string_equal(out->next.rollback_reason, "metric.errors");
}

/* noData fail counts a window without data as failed. */
static const struct row no_data_fails[] = {
	{63 * SEC, 62 * SEC, true, 0, 0, "RollingBack", no_data_failed,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% metric.errors",
	  "AUDIT quarantined RollingBack 5% metric.errors",
	  "BROADCAST rollback canary-gw metric.errors"}},
};

static void test_no_data_fail(void **state)
{
	(void)state;
	struct world *w = adopted_then_v2();
	add_metric(w, "errors", METRIC_COMPARE_NONE, -1, 5, 1, METRIC_NO_DATA_FAIL);
	w->promo.analysis.metrics[0].query = "sum(rate(errors[{{interval}}]))";
	RUN(w, to_step1);
	RUN(w, no_data_fails);
	world_free(w);
}

/* A gate at 20 %: the rollout holds after step 1 for a person, and the canary keeps its 5 %
 * of the traffic meanwhile, so its metrics are judged at the gate as in Analysing. */
#define GATE_HELD "AUDIT held Held 5% waiting for approval of 20 % (clawfleet rollout promote)"

static void gate_20(struct world *w)
{
	w->promo.gates[0] = 20;
	w->promo.ngates = 1;
}

/* Step 1's windows pass; at 10m the gate holds. */
static const struct row to_gate[] = {
	{63 * SEC, 62 * SEC, false, 99.9, 0, "Analysing", rate_passed, {NULL}},
	{2 * SEC + 5 * MIN - 1, 0, false, 0, 0, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN - 1, 0, false, 0, 0, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN, 0, false, 0, 0, "Held", rate_passed,
	 {GATE_HELD, "BROADCAST hold - approval"}},
};

/* failureLimit 1: a failed window while a person decides rolls back, the metric named. */
static const struct row gate_rolls_back[] = {
	{2 * SEC + 11 * MIN, 0, false, 0, 0, "Held", rate_passed, {NULL}},
	{2 * SEC + 12 * MIN, 12 * MIN, false, 91.2, 0, "RollingBack", rate_failed,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% metric.request-success-rate",
	  "AUDIT quarantined RollingBack 5% metric.request-success-rate",
	  "BROADCAST rollback canary-gw metric.request-success-rate"}},
};

static void test_gate_judges_metrics(void **state)
{
	(void)state;
	struct world *w = adopted_then_v2();
	add_metric(w, "request-success-rate", METRIC_COMPARE_NONE, 99, -1, 1, METRIC_NO_DATA_HOLD);
	gate_20(w);
	RUN(w, to_step1);
	RUN(w, to_gate);
	RUN(w, gate_rolls_back);
	world_free(w);
}

static void approve_v2(struct world *w)
{
	w->promo.approval_tag = "v2";
	w->promo.approval_through = 20;
}
static void gate_waits_for_metrics(const struct plan_output *out)
{
	metric_is(out, METRIC_VERDICT_FAIL, 1, "request-success-rate 91.2 % < 99 % (canary-gw, 1m)");
	assert_string_equal(out->next.conditions[COND_RECONCILING].message,
			    "20 % approved; waiting for the metrics: request-success-rate 91.2 % < "
			    "99 % (canary-gw, 1m)");
}

/* failureLimit 2: one failed window at the gate holds it... */
static const struct row gate_fails_once[] = {
	{2 * SEC + 11 * MIN, 11 * MIN, false, 91.2, 0, "Held", NULL, {NULL}},
};

/* ... even once approved (approve_v2 before these); the next passing window lets the approved
 * step go. */
static const struct row gate_survives_one[] = {
	{2 * SEC + 11 * MIN + 30 * SEC, 0, false, 0, 0, "Held", gate_waits_for_metrics, {NULL}},
	{2 * SEC + 12 * MIN, 12 * MIN, false, 99.9, 0, "Promoting", rate_passed,
	 {"AUDIT step Promoting 20% approved: 20 % (spec.approval of v2)", STEP20_WEIGHTS}},
};

static void test_gate_survives_one_failed_window(void **state)
{
	(void)state;
	struct world *w = adopted_then_v2();
	add_metric(w, "request-success-rate", METRIC_COMPARE_NONE, 99, -1, 2, METRIC_NO_DATA_HOLD);
	gate_20(w);
	RUN(w, to_step1);
	RUN(w, to_gate);
	RUN(w, gate_fails_once);
	approve_v2(w);
	RUN(w, gate_survives_one);
	world_free(w);
}

/* The metrics' record survives the state's JSON. */
static void test_state_json_round_trip(void **state)
{
	(void)state;
	struct rollout_state s, back;
	char *json = NULL;
	size_t len;
	struct cf_err err = {{0}};
	rollout_state_init(&s);
	s.nmetrics = 2;
	s.metrics[0] = (struct rollout_metric){.name = "request-duration", .taken_ms = 5,
					       .interval_ms = 60000, .failures = 1,
					       .verdict = METRIC_VERDICT_FAIL, .has_value = true,
					       .value = 200.5, .has_stable = true, .stable = 100};
	snprintf(s.metrics[0].why, sizeof(s.metrics[0].why), "request-duration 2 x > 1.5 x");
	s.metrics[1] = (struct rollout_metric){.name = "errors", .verdict = METRIC_VERDICT_NO_DATA};
	assert_int_equal(rollout_state_to_json(&s, &json, &len, &err), 0);
	if (rollout_state_from_json(json, len, &back, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(back.nmetrics, 2);
	assert_string_equal(back.metrics[0].name, "request-duration");
	assert_int_equal(back.metrics[0].verdict, METRIC_VERDICT_FAIL);
	assert_true(back.metrics[0].value == 200.5 && back.metrics[0].stable == 100);
	assert_string_equal(back.metrics[0].why, "request-duration 2 x > 1.5 x");
	assert_false(back.metrics[1].has_value);
	assert_int_equal(back.metrics[1].verdict, METRIC_VERDICT_NO_DATA);
	free(json);
	rollout_state_free(&back);
	/* A repeated name, an unknown verdict, a missing field: refused. */
#define ENTRY(verdict) "{\"name\":\"a\",\"takenMs\":0,\"intervalMs\":0,\"failures\":0," \
		       "\"verdict\":\"" verdict "\",\"why\":\"\"}"
	static const char *const bad[] = {
		"[" ENTRY("pass") "," ENTRY("pass") "]",
		"[" ENTRY("meh") "]",
		"[{\"name\":\"a\",\"takenMs\":0,\"intervalMs\":0,\"verdict\":\"pass\",\"why\":\"\"}]",
	};
#undef ENTRY
	assert_int_equal(rollout_state_to_json(&s, &json, &len, &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *at = strstr(json, "\"metrics\":");
		assert_non_null(at);
		char *end = strstr(at, "]");
		char doc[8192];
		snprintf(doc, sizeof(doc), "%.*s\"metrics\":%s%s", (int)(at - json), json, bad[i],
			 end + 1);
		assert_int_equal(rollout_state_from_json(doc, strlen(doc), &back, &err), -1);
		assert_non_null(strstr(err.msg, "metrics["));
	}
	free(json);
	rollout_state_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success_rate_rolls_back),
		cmocka_unit_test(test_no_data_holds_and_never_rolls_back),
		cmocka_unit_test(test_duration_against_stable_with_failure_limit),
		cmocka_unit_test(test_no_data_fail),
		cmocka_unit_test(test_gate_judges_metrics),
		cmocka_unit_test(test_gate_survives_one_failed_window),
		cmocka_unit_test(test_state_json_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
