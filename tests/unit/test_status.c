/* status: the /status document's fields as README.md lists them, and /metrics in the Prometheus
 * text format (families, cumulative buckets, escaped labels). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonparse.h"
#include "record/status.h"

/* 2026-11-21T03:40:00.250Z */
#define T0 1795232400250LL

struct fixture {
	struct rollout_state state;
	struct weight_map weights;
	struct status_node nodes[2];
	struct status_pass passes[2];
	struct status_metrics metrics;
	struct status_view view;
};

static const char *const canary_reasons[] = {"doctor.yellow", "queue.over_limit"};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	rollout_state_init(&f->state);
	struct rollout_state *s = &f->state;
	s->phase = ROLLOUT_ANALYSING;
	s->step = 2;
	s->percent = 50;
	snprintf(s->promotion.tag, sizeof(s->promotion.tag), "v2026.8.0");
	snprintf(s->promotion.semver, sizeof(s->promotion.semver), "1.4.3");
	s->has_last_good = true;
	snprintf(s->last_good.tag, sizeof(s->last_good.tag), "v2026.7.1");
	snprintf(s->last_good.semver, sizeof(s->last_good.semver), "1.4.2");
	s->nquarantined = 1;
	snprintf(s->quarantined[0].tag, sizeof(s->quarantined[0].tag), "v2026.7.9");
	s->nhistory = 1;
	struct rollout_record *r = &s->history[0];
	snprintf(r->promotion, sizeof(r->promotion), "gateway");
	r->from = s->last_good;
	snprintf(r->to.tag, sizeof(r->to.tag), "v2026.7.9");
	r->outcome = OUTCOME_ROLLED_BACK;
	snprintf(r->reason, sizeof(r->reason), "doctor.red");
	r->started_ms = T0 - 60000;
	r->finished_ms = T0;
	s->conditions[COND_READY] = (struct rollout_condition){COND_FALSE, "Analysing",
							     "step 2 (50 %)", T0};
	s->conditions[COND_RECONCILING] = (struct rollout_condition){COND_TRUE, "Analysing", "", T0};
	s->conditions[COND_STALLED] = (struct rollout_condition){COND_FALSE, "Analysing", "", T0};
	assert_int_equal(weight_map_set(&f->weights, "canary-gw", 100, NULL), 0);
	assert_int_equal(weight_map_set(&f->weights, "stable-gw-a", 50, NULL), 0);
	f->nodes[0] = (struct status_node){
		.name = "canary-gw",
		.status = "degraded",
		.tag = "v2026.8.0",
		.skills = "1.4.2",
		.observed_generation = 3,
		.reasons = canary_reasons,
		.nreasons = 2,
	};
	f->nodes[1] = (struct status_node){.name = "stable-gw-a", .status = "unreachable"};
	f->passes[0] = (struct status_pass){T0 - 1000, true};
	f->passes[1] = (struct status_pass){T0, false};
	f->view = (struct status_view){
		.revision = "main@sha1:2f0c",
		.promotion_name = "gateway",
		.promotion_tag = "v2026.8.0",
		.promotion_semver = "1.4.3",
		.state = &f->state,
		.weights = &f->weights,
		.canary_weight = 100,
		.nodes = f->nodes,
		.nnodes = 2,
		.passes = f->passes,
		.npasses = 2,
		.metrics = &f->metrics,
		.version = "v1.0-3-g\"x\"",
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

static struct json_object *render(const struct status_view *v)
{
	char *text = NULL;
	size_t len = 0;
	struct cf_err err;
	assert_int_equal(status_render_json(v, &text, &len, &err), 0);
	assert_int_equal(strlen(text), len);
	struct json_object *o = NULL;
	assert_int_equal(jsonparse_object(text, len, JSONPARSE_DEPTH, &o, &err), 0);
	free(text);
	return o;
}

static const char *at(struct json_object *o, const char *path)
{
	struct json_object *cur = o;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(cur, json_type_array))
			cur = json_object_array_get_idx(cur, (size_t)atoi(k));
		else if (!json_object_object_get_ex(cur, k, &cur))
			return "<missing>";
	}
	return cur ? json_object_get_string(cur) : "<null>";
}

static void test_status_document(void **state)
{
	struct fixture *f = *state;
	struct json_object *o = render(&f->view);
	assert_string_equal(at(o, "revision"), "main@sha1:2f0c");
	assert_string_equal(at(o, "sourceError"), "<null>");
	assert_string_equal(at(o, "promotion.name"), "gateway");
	assert_string_equal(at(o, "promotion.tag"), "v2026.8.0");
	assert_string_equal(at(o, "promotion.skillSemver"), "1.4.3");
	assert_string_equal(at(o, "phase"), "Analysing");
	assert_string_equal(at(o, "suspended"), "false");
	assert_string_equal(at(o, "step"), "2");
	assert_string_equal(at(o, "percent"), "50");
	assert_string_equal(at(o, "weights.canary-gw"), "100");
	assert_string_equal(at(o, "weights.stable-gw-a"), "50");
	assert_string_equal(at(o, "lastGood.tag"), "v2026.7.1");
	assert_string_equal(at(o, "nodes.canary-gw.status"), "degraded");
	assert_string_equal(at(o, "nodes.canary-gw.tag"), "v2026.8.0");
	assert_string_equal(at(o, "nodes.canary-gw.skills"), "1.4.2");
	assert_string_equal(at(o, "nodes.canary-gw.observedGeneration"), "3");
	assert_string_equal(at(o, "nodes.canary-gw.reasons.0"), "doctor.yellow");
	assert_string_equal(at(o, "nodes.canary-gw.reasons.1"), "queue.over_limit");
	assert_string_equal(at(o, "nodes.stable-gw-a.status"), "unreachable");
	assert_string_equal(at(o, "nodes.stable-gw-a.tag"), "<null>");
	assert_string_equal(at(o, "conditions.0.type"), "Ready");
	assert_string_equal(at(o, "conditions.0.status"), "False");
	assert_string_equal(at(o, "conditions.0.message"), "step 2 (50 %)");
	assert_string_equal(at(o, "conditions.0.lastTransitionTime"), "2026-11-21T03:40:00.250Z");
	assert_string_equal(at(o, "conditions.1.type"), "Reconciling");
	assert_string_equal(at(o, "conditions.2.type"), "Stalled");
	assert_string_equal(at(o, "conditions.2.status"), "False");
	assert_string_equal(at(o, "conditions.3.type"), "Degraded");
	assert_string_equal(at(o, "quarantined.0"), "v2026.7.9");
	assert_string_equal(at(o, "history.0.outcome"), "rolled_back");
	assert_string_equal(at(o, "history.0.reason"), "doctor.red");
	assert_string_equal(at(o, "history.0.from.tag"), "v2026.7.1");
	assert_string_equal(at(o, "history.0.to.tag"), "v2026.7.9");
	assert_string_equal(at(o, "history.0.startedAt"), "2026-11-21T03:39:00.250Z");
	assert_string_equal(at(o, "passes.0.at"), "2026-11-21T03:39:59.250Z");
	assert_string_equal(at(o, "passes.0.green"), "true");
	assert_string_equal(at(o, "passes.1.green"), "false");
	assert_string_equal(at(o, "hold"), "<null>");
	json_object_put(o);
}

/* A suspension keeps the phase it froze in and says so beside it. */
static void test_suspended(void **state)
{
	struct fixture *f = *state;
	f->state.suspended_since_ms = T0;
	struct json_object *o = render(&f->view);
	assert_string_equal(at(o, "phase"), "Analysing");
	assert_string_equal(at(o, "suspended"), "true");
	json_object_put(o);
}

static void test_a_failing_source_stalls(void **state)
{
	struct fixture *f = *state;
	f->view.source_error = "main@sha1:9e1d is invalid (2 errors); keeping main@sha1:2f0c\n"
			       "openclaw/nodes/spare.yaml:6:9: MacNode/spare: spec.role: must be one "
			       "of gateway, worker, notifier; got \"bogus\"\n"
			       "openclaw/nodes/zz.yaml:2:4: -: -: mapping values are not allowed here";
	f->view.source_error_since_ms = T0;
	struct json_object *o = render(&f->view);
	assert_string_equal(at(o, "sourceError"), f->view.source_error);
	assert_string_equal(at(o, "conditions.2.type"), "Stalled");
	assert_string_equal(at(o, "conditions.2.status"), "True");
	assert_string_equal(at(o, "conditions.2.reason"), "SourceFailed");
	assert_string_equal(at(o, "conditions.2.message"), f->view.source_error);
	json_object_put(o);
}

/* Each node's first reason, since when it has its status and the doctor's first bad finding;
 * null where there is none. */
static void test_node_reasons(void **state)
{
	struct fixture *f = *state;
	struct json_object *o = render(&f->view);
	assert_string_equal(at(o, "nodes.canary-gw.statusSince"), "<null>");
	assert_string_equal(at(o, "nodes.canary-gw.reason"), "<null>");
	assert_string_equal(at(o, "nodes.canary-gw.doctorFirstBad"), "<null>");
	json_object_put(o);

	f->nodes[0].since_ms = T0 - 5000;
	f->nodes[0].reason_code = "doctor.yellow";
	f->nodes[0].reason_message = "tenant acme: doctor yellow: gateway.latency: p95 above target";
	f->nodes[0].doctor_first_bad = (struct readyz_finding){
		.check_id = "gateway.latency",
		.severity = "warning",
		.message = "p95 above target",
		.path = "/etc/openclaw/tenants/acme/openclaw.json",
		.fix_hint = "check channel backlogs",
		.tenant = "acme",
		.line = 12,
		.column = 3,
	};
	f->nodes[1].since_ms = T0;
	f->nodes[1].reason_code = "node.unreachable";
	f->nodes[1].reason_message = "GET http://10.0.0.2:18081/readyz: connection refused";
	o = render(&f->view);
	assert_string_equal(at(o, "nodes.canary-gw.statusSince"), "2026-11-21T03:39:55.250Z");
	assert_string_equal(at(o, "nodes.canary-gw.reason.code"), "doctor.yellow");
	assert_string_equal(at(o, "nodes.canary-gw.reason.message"), f->nodes[0].reason_message);
	assert_string_equal(at(o, "nodes.canary-gw.doctorFirstBad.checkId"), "gateway.latency");
	assert_string_equal(at(o, "nodes.canary-gw.doctorFirstBad.severity"), "warning");
	assert_string_equal(at(o, "nodes.canary-gw.doctorFirstBad.message"), "p95 above target");
	assert_string_equal(at(o, "nodes.canary-gw.doctorFirstBad.path"),
			    "/etc/openclaw/tenants/acme/openclaw.json");
	assert_string_equal(at(o, "nodes.canary-gw.doctorFirstBad.line"), "12");
	assert_string_equal(at(o, "nodes.canary-gw.doctorFirstBad.column"), "3");
	assert_string_equal(at(o, "nodes.canary-gw.doctorFirstBad.fixHint"),
			    "check channel backlogs");
	assert_string_equal(at(o, "nodes.canary-gw.doctorFirstBad.tenant"), "acme");
	assert_string_equal(at(o, "nodes.canary-gw.reasons.0"), "doctor.yellow");
	assert_string_equal(at(o, "nodes.stable-gw-a.statusSince"), "2026-11-21T03:40:00.250Z");
	assert_string_equal(at(o, "nodes.stable-gw-a.reason.code"), "node.unreachable");
	assert_string_equal(at(o, "nodes.stable-gw-a.reason.message"),
			    f->nodes[1].reason_message);
	assert_string_equal(at(o, "nodes.stable-gw-a.doctorFirstBad"), "<null>");
	json_object_put(o);
}

/* since_ms is kept while a node's status is the same, from pass to pass, whatever the order;
 * a changed status, a new node, or one that comes back after it left, starts now. */
static void test_since_is_tracked_across_passes(void **state)
{
	(void)state;
	struct status_since t = {0};
	struct status_node n[3] = {
		{.name = "a", .status = "green"},
		{.name = "b", .status = "green"},
		{.name = "c", .status = "red"},
	};
	status_since_track(&t, n, 3, T0);
	assert_true(n[0].since_ms == T0 && n[1].since_ms == T0 && n[2].since_ms == T0);

	n[0].since_ms = n[1].since_ms = n[2].since_ms = 0;
	n[1].status = "red";
	status_since_track(&t, n, 3, T0 + 1000);
	assert_true(n[0].since_ms == T0 && n[1].since_ms == T0 + 1000 && n[2].since_ms == T0);

	struct status_node m[2] = {
		{.name = "c", .status = "red"},
		{.name = "d", .status = "unreachable"},
	};
	status_since_track(&t, m, 2, T0 + 2000);
	assert_true(m[0].since_ms == T0 && m[1].since_ms == T0 + 2000);

	n[0].status = "green";
	status_since_track(&t, n, 3, T0 + 3000);
	assert_true(n[0].since_ms == T0 + 3000); /* a left and came back */
	assert_true(n[1].since_ms == T0 + 3000);
	assert_true(n[2].since_ms == T0);
	status_since_free(&t);
	assert_int_equal(t.n, 0);
}

static void held(struct fixture *f)
{
	struct rollout_state *s = &f->state;
	s->phase = ROLLOUT_HELD;
	s->held_from = ROLLOUT_ANALYSING;
	s->hold_started_ms = T0 - 60000;
	snprintf(s->held_node, sizeof(s->held_node), "canary-gw");
	snprintf(s->held_reason, sizeof(s->held_reason), "doctor.yellow");
	f->view.now_ms = T0;
	f->view.max_hold_ms = 30 * 60 * 1000;
}

/* Held: what the rollout waits for and when maxHold ends the wait. */
static void test_hold(void **state)
{
	struct fixture *f = *state;
	struct json_object *o = render(&f->view);
	assert_string_equal(at(o, "hold"), "<null>");
	json_object_put(o);

	held(f);
	o = render(&f->view);
	assert_string_equal(at(o, "phase"), "Held");
	assert_string_equal(at(o, "hold.node"), "canary-gw");
	assert_string_equal(at(o, "hold.reason"), "doctor.yellow");
	assert_string_equal(at(o, "hold.since"), "2026-11-21T03:39:00.250Z");
	assert_string_equal(at(o, "hold.waitingFor"),
			    "canary-gw to report green (it reports doctor.yellow)");
	assert_string_equal(at(o, "hold.maxHold"), "30m");
	assert_string_equal(at(o, "hold.deadline"), "2026-11-21T04:09:00.250Z");
	json_object_put(o);

	/* Suspended for 10 s: the hold's clock stood still that long. */
	f->state.suspended_since_ms = T0 - 10000;
	o = render(&f->view);
	assert_string_equal(at(o, "hold.deadline"), "2026-11-21T04:09:10.250Z");
	json_object_put(o);
	f->state.suspended_since_ms = 0;

	/* A person decides (rollback.automatic false): no clock runs. */
	f->state.conditions[COND_STALLED] = (struct rollout_condition){
		COND_TRUE, "RollbackRequired", "canary-gw: doctor.red; set spec.abort", T0};
	o = render(&f->view);
	assert_string_equal(at(o, "hold.maxHold"), "30m");
	assert_string_equal(at(o, "hold.deadline"), "<null>");
	json_object_put(o);

	f->view.max_hold_ms = 0;
	o = render(&f->view);
	assert_string_equal(at(o, "hold.maxHold"), "<null>");
	assert_string_equal(at(o, "hold.deadline"), "<null>");
	json_object_put(o);
}

/* Held at a gate: what the person approves and the command that does it; no clock runs. */
static void test_hold_for_approval(void **state)
{
	struct fixture *f = *state;
	held(f);
	f->state.held_node[0] = '\0';
	snprintf(f->state.held_reason, sizeof(f->state.held_reason), "%s", ROLLOUT_HOLD_APPROVAL);
	f->state.gate_percent = 50;
	struct json_object *o = render(&f->view);
	assert_string_equal(at(o, "hold.reason"), "approval");
	assert_string_equal(at(o, "hold.node"), "<null>");
	assert_string_equal(at(o, "hold.waitingFor"),
			    "approval of 50 % (clawfleet rollout promote)");
	assert_string_equal(at(o, "hold.approval.percent"), "50");
	assert_string_equal(at(o, "hold.approval.command"), "clawfleet rollout promote");
	assert_string_equal(at(o, "hold.maxHold"), "30m");
	assert_string_equal(at(o, "hold.deadline"), "<null>");
	json_object_put(o);
}

/* Each quarantine says how it is lifted; after an automatic rollback, while Git still names the
 * build rolled back, /status says so and which command points Git back. */
static void test_quarantine_and_git_names(void **state)
{
	struct fixture *f = *state;
	struct rollout_state *s = &f->state;
	s->quarantined[0].at_ms = T0;
	snprintf(s->quarantined[0].reason, sizeof(s->quarantined[0].reason), "doctor.red");
	struct json_object *o = render(&f->view);
	assert_string_equal(at(o, "quarantined.0"), "v2026.7.9");
	assert_string_equal(at(o, "quarantine.0.tag"), "v2026.7.9");
	assert_string_equal(at(o, "quarantine.0.reason"), "doctor.red");
	assert_string_equal(at(o, "quarantine.0.quarantinedAt"), "2026-11-21T03:40:00.250Z");
	assert_string_equal(at(o, "quarantine.0.lift"),
			    "clawfleet rollout retry v2026.7.9, or promote a new tag");
	assert_string_equal(at(o, "gitNamesQuarantinedTag"), "false");
	assert_string_equal(at(o, "gitNamesMessage"), "<null>");
	json_object_put(o);

	s->phase = ROLLOUT_ROLLED_BACK;
	s->promotion = (struct rollout_version){.tag = "v2026.7.9", .semver = "1.4.3"};
	f->view.promotion_tag = "v2026.7.9";
	o = render(&f->view);
	assert_string_equal(at(o, "gitNamesQuarantinedTag"), "true");
	assert_string_equal(at(o, "gitNamesMessage"),
			    "Git still names v2026.7.9, which was rolled back; `clawfleet rollout "
			    "undo` points it at v2026.7.1");
	json_object_put(o);

	/* Git points elsewhere now (undo, or a new tag): nothing to say. */
	f->view.promotion_tag = "v2026.7.1";
	o = render(&f->view);
	assert_string_equal(at(o, "gitNamesQuarantinedTag"), "false");
	json_object_put(o);
}

static void test_before_anything_loaded(void **state)
{
	(void)state;
	struct rollout_state s;
	struct status_metrics m = {0};
	rollout_state_init(&s);
	struct status_view v = {.state = &s, .metrics = &m};
	struct json_object *o = render(&v);
	assert_string_equal(at(o, "revision"), "<null>");
	assert_string_equal(at(o, "promotion"), "<null>");
	assert_string_equal(at(o, "weights"), "<null>");
	assert_string_equal(at(o, "phase"), "Idle");
	assert_string_equal(at(o, "conditions.0.status"), "Unknown");
	assert_int_equal(json_object_array_length(json_object_object_get(o, "passes")), 0);
	json_object_put(o);
	rollout_state_free(&s);
}

static char *metrics(const struct status_view *v)
{
	char *text = NULL;
	size_t len = 0;
	struct cf_err err;
	assert_int_equal(status_render_metrics(v, &text, &len, &err), 0);
	assert_int_equal(strlen(text), len);
	return text;
}

static void assert_line(const char *text, const char *line)
{
	char want[512];
	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void test_metrics_families(void **state)
{
	struct fixture *f = *state;
	status_metrics_observe_pass(&f->metrics, 0.003);
	status_metrics_observe_pass(&f->metrics, 0.2);
	status_metrics_observe_pass(&f->metrics, 45);
	status_metrics_count_action(&f->metrics, ACTION_NODE_TARGET, true);
	status_metrics_count_action(&f->metrics, ACTION_NODE_TARGET, false);
	status_metrics_count_action(&f->metrics, ACTION_AUDIT, true);
	status_metrics_count_rollback(&f->metrics, "doctor.red");
	status_metrics_count_rollback(&f->metrics, "doctor.red");
	status_metrics_count_rollback(&f->metrics, "lock.parity");
	f->metrics.git_fetch_seconds = 0.125;
	f->nodes[0].since_ms = T0 - 5000; /* stable-gw-a's is not known */
	char *text = metrics(&f->view);
	assert_line(text, "# TYPE clawfleet_rollout_phase gauge");
	assert_line(text, "clawfleet_rollout_phase{phase=\"Analysing\"} 1");
	assert_line(text, "clawfleet_rollout_phase{phase=\"Idle\"} 0");
	assert_line(text, "clawfleet_rollout_phase{phase=\"RolledBack\"} 0");
	assert_line(text, "clawfleet_canary_weight 100");
	assert_line(text, "clawfleet_canary_percent 50");
	assert_line(text, "clawfleet_node_status{node=\"canary-gw\",status=\"degraded\"} 1");
	assert_line(text, "clawfleet_node_status{node=\"canary-gw\",status=\"green\"} 0");
	assert_line(text, "clawfleet_node_status{node=\"stable-gw-a\",status=\"unreachable\"} 1");
	assert_line(text, "# TYPE clawfleet_node_status_since_timestamp_seconds gauge");
	assert_line(text, "clawfleet_node_status_since_timestamp_seconds{node=\"canary-gw\"} "
			  "1795232395.250");
	assert_null(strstr(text, "clawfleet_node_status_since_timestamp_seconds{node=\"stable"));
	assert_line(text, "# TYPE clawfleet_reconcile_total counter");
	assert_line(text, "clawfleet_reconcile_total 3");
	assert_line(text, "# TYPE clawfleet_reconcile_duration_seconds histogram");
	assert_line(text, "clawfleet_reconcile_duration_seconds_bucket{le=\"0.005\"} 1");
	assert_line(text, "clawfleet_reconcile_duration_seconds_bucket{le=\"0.1\"} 1");
	assert_line(text, "clawfleet_reconcile_duration_seconds_bucket{le=\"0.25\"} 2");
	assert_line(text, "clawfleet_reconcile_duration_seconds_bucket{le=\"30\"} 2");
	assert_line(text, "clawfleet_reconcile_duration_seconds_bucket{le=\"+Inf\"} 3");
	assert_line(text, "clawfleet_reconcile_duration_seconds_sum 45.203");
	assert_line(text, "clawfleet_reconcile_duration_seconds_count 3");
	assert_line(text, "clawfleet_actions_total{kind=\"node_target\",result=\"ok\"} 1");
	assert_line(text, "clawfleet_actions_total{kind=\"node_target\",result=\"error\"} 1");
	assert_line(text, "clawfleet_actions_total{kind=\"audit\",result=\"ok\"} 1");
	assert_line(text, "clawfleet_actions_total{kind=\"set_weights\",result=\"ok\"} 0");
	assert_line(text, "clawfleet_git_fetch_duration_seconds 0.125");
	assert_line(text, "clawfleet_rollbacks_total{reason=\"doctor.red\"} 2");
	assert_line(text, "clawfleet_rollbacks_total{reason=\"lock.parity\"} 1");
	assert_line(text, "clawfleet_build_info{version=\"v1.0-3-g\\\"x\\\"\"} 1");
	/* Every sample belongs to a family announced with HELP and TYPE before it. */
	char *copy = strdup(text), *save = NULL, family[128] = "";
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "# TYPE ", 7) == 0) {
			sscanf(l + 7, "%127s", family);
			continue;
		}
		if (l[0] == '#')
			continue;
		assert_true(family[0] && strncmp(l, family, strlen(family)) == 0);
	}
	free(copy);
	free(text);
}

/* analysis.webhooks: one entry per webhook, its latest call (a call still waiting stands for it
 * before any that ended); a status or error only when there is one. */
static void test_webhooks_status(void **state)
{
	struct fixture *f = *state;
	struct hook_result r[3] = {
		{.name = "qa-gate", .type = WEBHOOK_CONFIRM_PROMOTION, .key = "abc/confirm-promotion",
		 .verdict = HOOK_FAILED, .status = 503, .attempts = 3, .at_ms = T0},
		{.name = "load", .type = WEBHOOK_ROLLOUT, .key = "abc/rollout/1/5",
		 .verdict = HOOK_FAILED, .error = "no answer", .attempts = 3, .at_ms = T0 - 9000},
		{.name = "load", .type = WEBHOOK_ROLLOUT, .key = "abc/rollout/1/9",
		 .verdict = HOOK_PENDING, .attempts = 1},
	};
	f->view.webhooks = r;
	f->view.nwebhooks = 3;
	struct json_object *o = render(&f->view);
	assert_int_equal(json_object_array_length(json_object_object_get(
				 json_object_object_get(o, "analysis"), "webhooks")),
			 2);
	assert_string_equal(at(o, "analysis.webhooks.0.name"), "qa-gate");
	assert_string_equal(at(o, "analysis.webhooks.0.type"), "confirm-promotion");
	assert_string_equal(at(o, "analysis.webhooks.0.verdict"), "failed");
	assert_string_equal(at(o, "analysis.webhooks.0.status"), "503");
	assert_string_equal(at(o, "analysis.webhooks.0.error"), "<null>");
	assert_string_equal(at(o, "analysis.webhooks.0.attempts"), "3");
	assert_string_equal(at(o, "analysis.webhooks.0.at"), "2026-11-21T03:40:00.250Z");
	assert_string_equal(at(o, "analysis.webhooks.1.name"), "load");
	assert_string_equal(at(o, "analysis.webhooks.1.verdict"), "pending");
	assert_string_equal(at(o, "analysis.webhooks.1.key"), "abc/rollout/1/9");
	assert_string_equal(at(o, "analysis.webhooks.1.status"), "<null>");
	assert_string_equal(at(o, "analysis.webhooks.1.at"), "<null>");
	json_object_put(o);
	f->view.nwebhooks = 2;
	o = render(&f->view);
	assert_string_equal(at(o, "analysis.webhooks.1.error"), "no answer");
	json_object_put(o);
}

/* clawfleet_webhook_calls_total: every result of every webhook, zeros included. */
static void test_webhook_metrics(void **state)
{
	struct fixture *f = *state;
	struct hook_count c[2] = {{.name = "qa-gate", .ok = 1, .rejected = 4},
				  {.name = "load", .error = 2}};
	f->view.webhook_counts = c;
	f->view.nwebhook_counts = 2;
	char *text = metrics(&f->view);
	assert_line(text, "# TYPE clawfleet_webhook_calls_total counter");
	assert_line(text, "clawfleet_webhook_calls_total{webhook=\"qa-gate\",result=\"ok\"} 1");
	assert_line(text, "clawfleet_webhook_calls_total{webhook=\"qa-gate\",result=\"rejected\"} 4");
	assert_line(text, "clawfleet_webhook_calls_total{webhook=\"qa-gate\",result=\"error\"} 0");
	assert_line(text, "clawfleet_webhook_calls_total{webhook=\"load\",result=\"error\"} 2");
	free(text);
}

static void test_label_values_are_escaped(void **state)
{
	struct fixture *f = *state;
	status_metrics_count_rollback(&f->metrics, "a\\b\"c\nd");
	char *text = metrics(&f->view);
	assert_line(text, "clawfleet_rollbacks_total{reason=\"a\\\\b\\\"c\\nd\"} 1");
	free(text);
}

static void test_rollback_reasons_are_bounded(void **state)
{
	struct fixture *f = *state;
	char reason[32];
	for (int i = 0; i < STATUS_ROLLBACK_REASONS + 5; i++) {
		snprintf(reason, sizeof(reason), "reason.%d", i);
		status_metrics_count_rollback(&f->metrics, reason);
	}
	assert_int_equal(f->metrics.nrollbacks, STATUS_ROLLBACK_REASONS);
	char *text = metrics(&f->view);
	assert_line(text, "clawfleet_rollbacks_total{reason=\"reason.0\"} 1");
	assert_line(text, "clawfleet_rollbacks_total{reason=\"other\"} 6");
	free(text);
}

/* What the load balancer says of each server beyond its weight: a server its health check
 * holds down, one draining with its sessions, one whose sessions are not known. */
static void test_status_servers(void **state)
{
	struct fixture *f = *state;
	struct lb_servers l = {0};
	struct lb_server up = {.server = "canary-gw", .health = LB_HEALTH_UP, .sessions = 3};
	struct lb_server down = {.server = "stable-gw-a", .health = LB_HEALTH_DOWN, .draining = true,
				 .sessions = 0};
	struct lb_server unknown = {.server = "stable-gw-b", .sessions = -1};
	assert_int_equal(lb_servers_put(&l, &up, NULL), 0);
	assert_int_equal(lb_servers_put(&l, &down, NULL), 0);
	assert_int_equal(lb_servers_put(&l, &unknown, NULL), 0);
	struct status_view v = f->view;
	struct json_object *o = render(&v);
	assert_string_equal(at(o, "servers"), "<null>");
	json_object_put(o);
	v.servers = &l;
	o = render(&v);
	assert_string_equal(at(o, "servers.canary-gw.health"), "up");
	assert_string_equal(at(o, "servers.canary-gw.sessions"), "3");
	assert_string_equal(at(o, "servers.stable-gw-a.health"), "down");
	assert_string_equal(at(o, "servers.stable-gw-a.draining"), "true");
	assert_string_equal(at(o, "servers.stable-gw-b.health"), "unknown");
	assert_string_equal(at(o, "servers.stable-gw-b.sessions"), "<null>");
	json_object_put(o);
	lb_servers_free(&l);
}

/* A Git URL source: how stale it is, why its fetches fail and when the next is tried. */
static void test_source_staleness(void **state)
{
	struct fixture *f = *state;
	struct json_object *o = render(&f->view);
	assert_string_equal(at(o, "source"), "<null>");
	json_object_put(o);
	char *text = metrics(&f->view);
	assert_line(text, "clawfleet_source_stale_seconds 0.000");
	free(text);

	struct status_source src = {
		.fetched = true,
		.revision = "main@sha1:2f0c",
		.last_fetch_ms = T0 - 5000,
		.last_fetch_ok = false,
		.stale_ms = 65500,
		.next_fetch_ms = T0 + 20000,
		.failures = 3,
		.error = "fetch of http://git.example/fleet.git timed out after 15s",
	};
	f->view.source = &src;
	o = render(&f->view);
	assert_string_equal(at(o, "source.fetched"), "true");
	assert_string_equal(at(o, "source.revision"), "main@sha1:2f0c");
	assert_string_equal(at(o, "source.fetching"), "false");
	assert_string_equal(at(o, "source.lastFetchOk"), "false");
	assert_string_equal(at(o, "source.staleSeconds"), "65");
	assert_string_equal(at(o, "source.consecutiveFailures"), "3");
	assert_string_equal(at(o, "source.error"), src.error);
	assert_string_not_equal(at(o, "source.lastFetchAt"), "<null>");
	assert_string_not_equal(at(o, "source.nextFetchAt"), "<null>");
	json_object_put(o);
	text = metrics(&f->view);
	assert_line(text, "# TYPE clawfleet_source_stale_seconds gauge");
	assert_line(text, "clawfleet_source_stale_seconds 65.500");
	free(text);

	/* Never fetched, the first clone under way: nothing is known yet but that. */
	src = (struct status_source){.fetching = true, .stale_ms = 1200};
	o = render(&f->view);
	assert_string_equal(at(o, "source.fetched"), "false");
	assert_string_equal(at(o, "source.revision"), "<null>");
	assert_string_equal(at(o, "source.fetching"), "true");
	assert_string_equal(at(o, "source.lastFetchAt"), "<null>");
	assert_string_equal(at(o, "source.lastFetchOk"), "<null>");
	assert_string_equal(at(o, "source.nextFetchAt"), "<null>");
	assert_string_equal(at(o, "source.error"), "<null>");
	json_object_put(o);
}

/* tokenRotation: null without a rotation file, the document as the command wrote it, and
 * {"error"} for a file that cannot be read, which never costs /status. */
static void test_token_rotation(void **state)
{
	struct fixture *f = *state;
	struct json_object *o = render(&f->view);
	assert_string_equal(at(o, "tokenRotation"), "<null>");
	json_object_put(o);

	struct token_rotation_node nodes[] = {
		{.name = "canary-gw", .staged = true, .acknowledged = true},
		{.name = "stable-gw-a", .error = "the agent refuses the token (401)"},
	};
	struct token_rotation r = {
		.phase = TOKEN_ROTATION_STAGING,
		.started_ms = T0 - 1000,
		.updated_ms = T0,
		.actor = "Alice Example",
		.ticket = "OPS-7",
		.sha256 = "1a2b3c4d",
		.waiting_for = "stable-gw-a to acknowledge the new token",
		.nodes = nodes,
		.nnodes = 2,
	};
	f->view.token_rotation = &r;
	o = render(&f->view);
	assert_string_equal(at(o, "tokenRotation.phase"), "staging");
	assert_string_equal(at(o, "tokenRotation.startedAt"), "2026-11-21T03:39:59.250Z");
	assert_string_equal(at(o, "tokenRotation.updatedAt"), "2026-11-21T03:40:00.250Z");
	assert_string_equal(at(o, "tokenRotation.actor"), "Alice Example");
	assert_string_equal(at(o, "tokenRotation.sha256"), "1a2b3c4d");
	assert_string_equal(at(o, "tokenRotation.waitingFor"), r.waiting_for);
	assert_string_equal(at(o, "tokenRotation.nodes.canary-gw.acknowledged"), "true");
	assert_string_equal(at(o, "tokenRotation.nodes.canary-gw.error"), "<null>");
	assert_string_equal(at(o, "tokenRotation.nodes.stable-gw-a.staged"), "false");
	assert_string_equal(at(o, "tokenRotation.nodes.stable-gw-a.acknowledged"), "false");
	assert_string_equal(at(o, "tokenRotation.nodes.stable-gw-a.error"), nodes[1].error);
	assert_string_equal(at(o, "phase"), "Analysing");
	json_object_put(o);

	f->view.token_rotation = NULL;
	f->view.token_rotation_error = "/etc/clawfleet/agent-token.rotation.json: token rotation: "
				       "not valid JSON: unexpected end";
	o = render(&f->view);
	assert_string_equal(at(o, "tokenRotation.error"), f->view.token_rotation_error);
	assert_string_equal(at(o, "tokenRotation.phase"), "<missing>");
	assert_string_equal(at(o, "revision"), "main@sha1:2f0c");
	json_object_put(o);
}

/* The node list paged: ?nodes=LIMIT&offset=N, all, none; the totals in nodesPage on any page;
 * the document without a query is the one status_render_json makes, every node, for a fleet of
 * up to STATUS_NODES_DEFAULT nodes, and its first STATUS_NODES_DEFAULT nodes past that. */
static struct json_object *page(const struct status_doc *d, const char *nodes, const char *offset)
{
	struct status_nodes_query q;
	struct cf_err err;
	char *text = NULL;
	size_t len = 0;
	struct json_object *o = NULL;
	if (status_nodes_query_parse(nodes, offset, d->nnodes, &q, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(status_doc_page(d, &q, &text, &len, &err), 0);
	assert_int_equal(jsonparse_object(text, len, JSONPARSE_DEPTH, &o, &err), 0);
	free(text);
	return o;
}

static size_t node_count(struct json_object *o)
{
	struct json_object *nodes;
	assert_true(json_object_object_get_ex(o, "nodes", &nodes));
	return (size_t)json_object_object_length(nodes);
}

static void test_status_pages(void **state)
{
	struct fixture *f = *state;
	struct status_doc d;
	struct status_nodes_query q;
	struct cf_err err;
	char *full = NULL, *unpaged = NULL;
	size_t full_len = 0, unpaged_len = 0;
	assert_int_equal(status_doc_render(&f->view, &d, &err), 0);
	assert_int_equal(status_render_json(&f->view, &full, &full_len, &err), 0);
	assert_int_equal(status_nodes_query_parse(NULL, NULL, d.nnodes, &q, &err), 0);
	assert_false(q.paged);
	assert_int_equal(status_doc_page(&d, &q, &unpaged, &unpaged_len, &err), 0);
	assert_string_equal(unpaged, full); /* no nodesPage, byte for byte */
	assert_null(strstr(unpaged, "nodesPage"));

	static const struct {
		const char *nodes, *offset;
		size_t returned;
		const char *first, *limit;
	} pages[] = {
		{"1", NULL, 1, "canary-gw", "1"},	  {"1", "1", 1, "stable-gw-a", "1"},
		{"5", "1", 1, "stable-gw-a", "5"},	  {"all", NULL, 2, "canary-gw", "<null>"},
		{"all", "2", 0, NULL, "<null>"},	  {"none", NULL, 0, NULL, "0"},
		{"2", "9", 0, NULL, "2"},
	};
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		struct json_object *o = page(&d, pages[i].nodes, pages[i].offset);
		assert_int_equal(node_count(o), pages[i].returned);
		if (pages[i].first) {
			char path[64];
			snprintf(path, sizeof(path), "nodes.%s.status", pages[i].first);
			assert_string_not_equal(at(o, path), "<missing>");
		}
		assert_string_equal(at(o, "nodesPage.limit"), pages[i].limit);
		assert_int_equal(atoi(at(o, "nodesPage.returned")), pages[i].returned);
		assert_string_equal(at(o, "nodesPage.total"), "2");
		assert_string_equal(at(o, "nodesPage.counts.degraded"), "1");
		assert_string_equal(at(o, "nodesPage.counts.unreachable"), "1");
		assert_string_equal(at(o, "nodesPage.counts.green"), "0");
		assert_string_equal(at(o, "phase"), "Analysing"); /* the rest as it was */
		json_object_put(o);
	}

	static const struct {
		const char *nodes, *offset, *error;
	} bad[] = {
		{"-1", NULL, "nodes \"-1\": want all, none or a count of nodes"},
		{"ten", NULL, "nodes \"ten\": want all, none or a count of nodes"},
		{"5", "x", "offset \"x\": want a count of nodes, 0 or more"},
		{NULL, "5", "offset needs nodes: ?nodes=LIMIT&offset=N"},
		{"99999999999999999999999", NULL, "want all, none or a count"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(status_nodes_query_parse(bad[i].nodes, bad[i].offset, 2, &q, &err),
				 -1);
		assert_non_null(strstr(err.msg, bad[i].error));
	}
	free(full);
	free(unpaged);
	status_doc_free(&d);
}

static void test_status_default_page_of_a_large_fleet(void **state)
{
	struct fixture *f = *state;
	size_t n = STATUS_NODES_DEFAULT + 500;
	struct status_node *nodes = calloc(n, sizeof(*nodes));
	char(*names)[16] = calloc(n, sizeof(*names));
	struct status_doc d;
	struct cf_err err;
	assert_non_null(nodes);
	assert_non_null(names);
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "mac-%05zu", i);
		nodes[i] = (struct status_node){.name = names[i], .status = i % 2 ? "red" : "green"};
	}
	f->view.nodes = nodes;
	f->view.nnodes = n;
	assert_int_equal(status_doc_render(&f->view, &d, &err), 0);
	struct json_object *o = page(&d, NULL, NULL);
	assert_int_equal(node_count(o), STATUS_NODES_DEFAULT);
	assert_string_equal(at(o, "nodesPage.total"), "1500");
	assert_string_equal(at(o, "nodesPage.counts.red"), "750");
	assert_string_equal(at(o, "nodes.mac-00999.status"), "red");
	assert_string_equal(at(o, "nodes.mac-01000.status"), "<missing>");
	json_object_put(o);
	o = page(&d, "all", NULL);
	assert_int_equal(node_count(o), n);
	json_object_put(o);
	status_doc_free(&d);
	free(nodes);
	free(names);
}

/* The leader object and gauges of a replica on the etcd store: a leader with its deadline, a
 * follower whose etcd does not answer (no deadline, the error, store down); none for NULL. */
static void test_leader(void **state)
{
	(void)state;
	char text[STATUS_LEADER_METRICS_MAX];
	assert_null(status_leader_json(NULL));
	assert_true(status_leader_metrics(NULL, text, sizeof(text)));
	assert_string_equal(text, "");
	struct status_leader l = {
		.self = true,
		.replica = "mac-\"a\"",
		.id = "mac-\"a\"",
		.address = "127.0.0.1:8088",
		.term = 42,
		.lease_deadline_ms = 1760000002000,
		.last_failover_ms = 1760000000000,
		.failovers = 2,
	};
	struct json_object *o = status_leader_json(&l);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			    "{\"self\":true,\"replica\":\"mac-\\\"a\\\"\",\"id\":\"mac-\\\"a\\\"\","
			    "\"address\":\"127.0.0.1:8088\",\"term\":42,"
			    "\"leaseDeadline\":\"2025-10-09T08:53:22.000Z\","
			    "\"lastFailover\":\"2025-10-09T08:53:20.000Z\",\"failovers\":2,\"error\":null}");
	json_object_put(o);
	assert_true(status_leader_metrics(&l, text, sizeof(text)));
	assert_non_null(strstr(text, "\nclawfleet_leader{replica=\"mac-\\\"a\\\"\",leader=\"mac-\\\"a\\\"\"} 1\n"));
	assert_non_null(strstr(text, "\nclawfleet_leader_term 42\n"));
	assert_non_null(strstr(text, "\nclawfleet_leader_lease_deadline_seconds 1760000002.000\n"));
	assert_non_null(strstr(text, "\nclawfleet_leader_failovers_total 2\n"));
	assert_non_null(strstr(text, "\nclawfleet_store_up 1\n"));
	l.self = false;
	l.error = "no member answered";
	o = status_leader_json(&l);
	struct json_object *v = NULL;
	assert_true(json_object_object_get_ex(o, "leaseDeadline", &v));
	assert_null(v);
	assert_true(json_object_object_get_ex(o, "error", &v));
	assert_string_equal(json_object_get_string(v), "no member answered");
	json_object_put(o);
	assert_true(status_leader_metrics(&l, text, sizeof(text)));
	assert_non_null(strstr(text, "\"} 0\n"));
	assert_non_null(strstr(text, "\nclawfleet_leader_lease_deadline_seconds 0.000\n"));
	assert_non_null(strstr(text, "\nclawfleet_store_up 0\n"));
	assert_false(status_leader_metrics(&l, text, 64));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_document, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_servers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failing_source_stalls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_reasons, setup, teardown),
		cmocka_unit_test(test_since_is_tracked_across_passes),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_for_approval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_and_git_names, setup, teardown),
		cmocka_unit_test(test_before_anything_loaded),
		cmocka_unit_test_setup_teardown(test_metrics_families, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_staleness, setup, teardown),
		cmocka_unit_test_setup_teardown(test_label_values_are_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_reasons_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_default_page_of_a_large_fleet, setup,
						teardown),

		cmocka_unit_test(test_leader),

		cmocka_unit_test_setup_teardown(test_webhooks_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_webhook_metrics, setup, teardown),
	};
	return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
