/* planner: tables of passes over a simulated fleet. Each row is one pass: the time, what changes
 * in the fleet or in Git before it, the phase the rollout is in after it and the exact, ordered
 * actions it takes. After every pass the simulated agents apply their NODE_TARGET (unless
 * frozen), the simulated load balancer takes SET_WEIGHTS (unless frozen) and one-shot actions
 * are reported done, as the controller would. Then weights_for_percent on its own. */
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
#define C3 "3333333333333333333333333333333333333333"
#define C4 "4444444444444444444444444444444444444444"
#define LOCK_OTHER "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define PROBE_SHA "abababababababababababababababababababababababababababababababab"

#define MAX_NODES 8
#define MAX_LINES 16

struct sim_node {
	char name[64];
	bool reachable;
	enum probe_status status;
	const char *reason;
	int64_t gen;
	char tag[TARGET_NAME_MAX], commit[41], current[TARGET_NAME_MAX], next[TARGET_NAME_MAX];
	const char *lock; /* NULL: the lock of its commit */
	bool version_match;
	bool frozen; /* does not apply targets */
	int64_t samples; /* synthetic checks behind p95 */
	double p95;
	bool digest_known;
	int64_t digest; /* failures in the notifier's window */
	struct parity parity; /* digest "": reports none */
};

struct world {
	struct mac_node nodes[MAX_NODES];
	struct tenant_slice tenants[2];
	struct promotion promo;
	struct load_balancer lb_spec; /* d.lbs when d.nlbs is 1 */
	struct desired_state d;
	char tag[TARGET_NAME_MAX], semver[TARGET_NAME_MAX], commit[41];
	const char *lock_override; /* fleet_observation.promotion_lock_sha256 */

	struct sim_node sim[MAX_NODES];
	struct weight_map lb;
	bool lb_ok, lb_frozen;
	/* The load balancer beyond weights: its servers (drain state, sessions) and tenant map,
	 * observed when servers_ok and routes_ok; lb_drain: it has a drain state of its own. */
	struct load_balancer lbs[1];
	struct lb_servers servers;
	struct lb_routes routes;
	bool servers_ok, routes_ok, lb_drain;

	struct rollout_state state;
	int64_t run; /* fleet_observation.run_id */
	int64_t wall_step; /* how far the wall clock has stepped from the rollout clock; 0: none */
	int64_t now;
	struct hook_result hooks[8]; /* the webhooks' answers the pass observes */
	size_t nhooks;
	char *lines[MAX_LINES + 1];
	size_t nlines;
};

/* Every commit has its own openclaw.lock. */
static const char *lock_of(const char *commit)
{
	switch (commit[0]) {
	case '1':
		return "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	case '2':
		return "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	case '3':
		return "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
	default:
		return "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
	}
}

static void set_promotion(struct world *w, const char *tag, const char *commit, const char *semver)
{
	snprintf(w->tag, sizeof(w->tag), "%s", tag);
	snprintf(w->commit, sizeof(w->commit), "%s", commit);
	snprintf(w->semver, sizeof(w->semver), "%s", semver);
	w->promo.tag = w->tag;
	w->promo.skill_semver = w->semver;
	snprintf(w->d.lock.file_sha256, sizeof(w->d.lock.file_sha256), "%s", lock_of(commit));
}

static void sim_run(struct sim_node *n, const char *tag, const char *commit, const char *semver)
{
	snprintf(n->tag, sizeof(n->tag), "%s", tag);
	snprintf(n->commit, sizeof(n->commit), "%s", commit);
	snprintf(n->current, sizeof(n->current), "%s", semver);
	n->next[0] = '\0';
}

static struct mac_node gateway(const char *name, const char *zone, bool canary, int weight)
{
	return (struct mac_node){.name = (char *)name, .address = "http://127.0.0.1:1",
				 .role = NODE_GATEWAY, .zone = (char *)zone, .canary = canary,
				 .lb_server = (char *)name, .lb_weight = weight};
}

static struct mac_node backend(const char *name, enum node_role role)
{
	return (struct mac_node){.name = (char *)name, .address = "http://127.0.0.1:1",
				 .role = role, .zone = "zone-a"};
}

/* Three gateways (canary-gw, stable-gw-a, stable-gw-b) at base weight 100, tenants acme (canary
 * channel, routed by header) and globex; the fleet runs v1 and Git says v1; steps 5 and 20,
 * windows of 5m, two green ones, maxHold 30m. */
static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));
	w->nodes[0] = gateway("canary-gw", "zone-a", true, 100);
	w->nodes[1] = gateway("stable-gw-a", "zone-a", false, 100);
	w->nodes[2] = gateway("stable-gw-b", "zone-b", false, 100);
	w->d.nodes = w->nodes;
	w->d.nnodes = 3;
	w->tenants[0] = (struct tenant_slice){.name = "acme", .channel = CHANNEL_CANARY};
	w->tenants[1] = (struct tenant_slice){.name = "globex", .channel = CHANNEL_STABLE};
	w->d.tenants = w->tenants;
	w->d.ntenants = 2;
	w->promo = (struct promotion){.name = "gateway", .ticket = "OPS-1042",
				      .steps = {5, 20}, .nsteps = 2,
				      .analysis_interval_ms = 5 * MIN, .green_windows = 2,
				      .max_hold_ms = 30 * MIN, .rollback_automatic = true};
	w->d.promotions = &w->promo;
	w->d.npromotions = 1;
	w->d.revision = "main@sha1:" C2;
	set_promotion(w, "v1", C1, "1.4.2");
	for (size_t i = 0; i < MAX_NODES; i++) {
		struct sim_node *n = &w->sim[i];
		snprintf(n->name, sizeof(n->name), "%s", w->nodes[i].name ? w->nodes[i].name : "");
		n->reachable = true;
		n->status = PROBE_GREEN;
		n->version_match = true;
		sim_run(n, "v1", C1, "1.4.2");
	}
	w->lb_ok = true;
	for (size_t i = 0; i < 3; i++)
		weight_map_set(&w->lb, w->nodes[i].name, 100, NULL);
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
	lb_servers_free(&w->servers);
	lb_routes_free(&w->routes);
	rollout_state_free(&w->state);
	free(w);
}

static struct sim_node *sim(struct world *w, const char *name)
{
	for (size_t i = 0; i < w->d.nnodes; i++)
		if (strcmp(w->sim[i].name, name) == 0)
			return &w->sim[i];
	fail_msg("no simulated node %s", name);
	return NULL;
}

static void observe(struct world *w, struct node_observation *obs, struct fleet_observation *fo)
{
	for (size_t i = 0; i < w->d.nnodes; i++) {
		struct sim_node *n = &w->sim[i];
		obs[i] = (struct node_observation){
			.name = n->name,
			.reachable = n->reachable,
			.status = n->status,
			.reasons = &n->reason,
			.nreasons = n->reason ? 1 : 0,
			.observed_generation = n->gen,
			.tag = n->tag[0] ? n->tag : NULL,
			.commit = n->commit[0] ? n->commit : NULL,
			.skills_current = n->current[0] ? n->current : NULL,
			.skills_next = n->next[0] ? n->next : NULL,
			.lock_sha256 = n->lock ? n->lock : n->commit[0] ? lock_of(n->commit) : NULL,
			.version_match = n->version_match,
			.probe_sha256 = PROBE_SHA,
			.latency_samples = n->samples,
			.p95_ms = n->p95,
			.digest_known = n->digest_known,
			.digest_failures = n->digest,
			.parity = n->parity,
		};
	}
	*fo = (struct fleet_observation){
		.nodes = obs,
		.nnodes = w->d.nnodes,
		.weights = w->lb,
		.weights_ok = w->lb_ok,
		.promotion_commit = w->commit[0] ? w->commit : NULL,
		.promotion_lock_sha256 = w->lock_override,
		.actor = "Ada Lovelace <ada@example.com>",
		.run_id = w->run,
		.wall_ms = w->wall_step ? w->now + w->wall_step : 0,
		.servers = w->servers,
		.servers_ok = w->servers_ok,
		.lb_drain = w->lb_drain,
		.routes = w->routes,
		.routes_ok = w->routes_ok,
		.hooks = w->hooks,
		.nhooks = w->nhooks,
	};
}

/* The simulated load balancer's server, added when missing. */
static struct lb_server *lb_server(struct world *w, const char *server)
{
	struct lb_server s = {.health = LB_HEALTH_UP};
	snprintf(s.server, sizeof(s.server), "%s", server);
	if (!lb_servers_find(&w->servers, server))
		assert_int_equal(lb_servers_put(&w->servers, &s, NULL), 0);
	return (struct lb_server *)lb_servers_find(&w->servers, server);
}

/* What the agents, the load balancer and the recorder do with a plan. */
static void apply(struct world *w, const struct plan_output *out)
{
	for (size_t i = 0; i < out->nactions; i++) {
		const struct rollout_action *a = &out->actions[i];
		switch (a->kind) {
		case ACTION_NODE_TARGET: {
			struct sim_node *n = sim(w, a->u.node_target.node);
			const struct target *t = a->u.node_target.target;
			if (n->frozen)
				break;
			n->gen = t->generation;
			snprintf(n->tag, sizeof(n->tag), "%s", t->tag);
			snprintf(n->commit, sizeof(n->commit), "%s", t->commit);
			snprintf(t->skills_link == TARGET_LINK_NEXT ? n->next : n->current,
				 sizeof(n->next), "%s", t->skills_semver);
			break;
		}
		case ACTION_SET_WEIGHTS:
			for (size_t k = 0; !w->lb_frozen && k < a->u.weights.n; k++)
				weight_map_set(&w->lb, a->u.weights.v[k].server,
					       a->u.weights.v[k].weight, NULL);
			break;
		case ACTION_ROUTE_TENANT:
			if (w->routes_ok)
				assert_int_equal(lb_routes_put(&w->routes, a->u.route.tenant,
							       a->u.route.canary ? "canary"
										 : "stable",
							       NULL),
						 0);
			if (a->id)
				assert_true(rollout_pending_done(&w->state, a->id));
			break;
		case ACTION_AUDIT:
		case ACTION_BROADCAST:
			assert_true(rollout_pending_done(&w->state, a->id));
			break;
		case ACTION_DRAIN_NODE:
		case ACTION_READY_NODE:
			if (!w->lb_frozen)
				lb_server(w, a->u.drain.server)->draining =
					a->kind == ACTION_DRAIN_NODE;
			break;
		}
	}
}

static void render(struct world *w, const struct plan_output *out)
{
	clear_lines(w);
	assert_true(out->nactions <= MAX_LINES);
	for (size_t i = 0; i < out->nactions; i++) {
		w->lines[i] = rollout_action_describe(&out->actions[i]);
		assert_non_null(w->lines[i]);
	}
	w->nlines = out->nactions;
	w->lines[w->nlines] = NULL;
}

/* One pass at now; the caller owns out (plan_output_free). */
static void plan_at(struct world *w, int64_t now, struct plan_output *out)
{
	struct node_observation obs[MAX_NODES];
	struct fleet_observation fo;
	struct cf_err err = {{0}};
	w->now = now;
	observe(w, obs, &fo);
	if (plan(&w->d, &fo, &w->state, now, out, &err) < 0)
		fail_msg("plan failed: %s", err.msg);
	render(w, out);
}

struct row {
	int64_t at; /* ms after T0 */
	void (*tweak)(struct world *);
	const char *phase;
	void (*check)(struct world *, const struct plan_output *);
	const char *actions[MAX_LINES + 1];
};

static void expect_lines(const char *table, size_t rowno, char *const *got,
			 const char *const *want)
{
	size_t i = 0;
	for (; want[i] && got[i]; i++)
		if (strcmp(want[i], got[i]) != 0)
			break;
	if (!want[i] && !got[i])
		return;
	print_message("%s, row %zu: the actions differ at %zu\n", table, rowno, i);
	for (size_t k = 0; want[k]; k++)
		print_message("  want: %s\n", want[k]);
	for (size_t k = 0; got[k]; k++)
		print_message("  got:  %s\n", got[k]);
	fail();
}

static void run_rows(struct world *w, const char *table, const struct row *rows, size_t n)
{
	for (size_t r = 0; r < n; r++) {
		struct plan_output out;
		if (rows[r].tweak)
			rows[r].tweak(w);
		plan_at(w, T0 + rows[r].at, &out);
		expect_lines(table, r, w->lines, rows[r].actions);
		if (strcmp(rollout_phase_name(out.next.phase), rows[r].phase) != 0)
			fail_msg("%s, row %zu: phase %s, want %s", table, r,
				 rollout_phase_name(out.next.phase), rows[r].phase);
		if (rows[r].check)
			rows[r].check(w, &out);
		assert_int_equal(rollout_state_copy(&w->state, &out.next, NULL), 0);
		apply(w, &out);
		plan_output_free(&out);
	}
}

#define RUN(w, rows) run_rows(w, #rows, rows, sizeof(rows) / sizeof(rows[0]))

static const struct rollout_condition *cond(const struct plan_output *out, enum condition_type t)
{
	return &out->next.conditions[t];
}

/* Tweaks: what changes in the fleet or in Git before a pass. */
static void to_v2(struct world *w)
{
	set_promotion(w, "v2", C2, "1.5.0");
}
static void to_v3(struct world *w)
{
	set_promotion(w, "v3", C3, "1.6.0");
	sim(w, "canary-gw")->status = PROBE_GREEN;
	sim(w, "canary-gw")->reason = NULL;
}
static void to_v2_at_c4(struct world *w)
{
	set_promotion(w, "v2", C4, "1.5.0");
	sim(w, "canary-gw")->status = PROBE_GREEN;
	sim(w, "canary-gw")->reason = NULL;
}
static void canary_yellow(struct world *w)
{
	sim(w, "canary-gw")->status = PROBE_DEGRADED;
	sim(w, "canary-gw")->reason = "doctor.yellow";
}
static void canary_red(struct world *w)
{
	sim(w, "canary-gw")->status = PROBE_RED;
	sim(w, "canary-gw")->reason = "doctor.red";
}
static void canary_green(struct world *w)
{
	sim(w, "canary-gw")->status = PROBE_GREEN;
	sim(w, "canary-gw")->reason = NULL;
}
static void canary_unreachable(struct world *w)
{
	sim(w, "canary-gw")->reachable = false;
}
static void canary_frozen(struct world *w)
{
	sim(w, "canary-gw")->frozen = true;
}
static void canary_thawed(struct world *w)
{
	sim(w, "canary-gw")->frozen = false;
}
static void canary_bad_lock(struct world *w)
{
	sim(w, "canary-gw")->lock = LOCK_OTHER;
}
static void canary_version_mismatch(struct world *w)
{
	sim(w, "canary-gw")->version_match = false;
}
static void stable_a_crash_loop(struct world *w)
{
	sim(w, "stable-gw-a")->status = PROBE_RED;
	sim(w, "stable-gw-a")->reason = "service.crash_loop";
}
static void stable_a_yellow(struct world *w)
{
	sim(w, "stable-gw-a")->status = PROBE_DEGRADED;
	sim(w, "stable-gw-a")->reason = "queue.over_limit";
}
static void stable_a_green(struct world *w)
{
	sim(w, "stable-gw-a")->status = PROBE_GREEN;
	sim(w, "stable-gw-a")->reason = NULL;
}
static void stable_a_red(struct world *w)
{
	sim(w, "stable-gw-a")->status = PROBE_RED;
	sim(w, "stable-gw-a")->reason = "doctor.red";
}
static void stable_b_red(struct world *w)
{
	sim(w, "stable-gw-b")->status = PROBE_RED;
	sim(w, "stable-gw-b")->reason = "service.crash_loop";
}
static void stable_b_green(struct world *w)
{
	sim(w, "stable-gw-b")->status = PROBE_GREEN;
	sim(w, "stable-gw-b")->reason = NULL;
}
static void stable_b_unreachable(struct world *w)
{
	sim(w, "stable-gw-b")->reachable = false;
}
static void stable_b_reachable(struct world *w)
{
	sim(w, "stable-gw-b")->reachable = true;
}
static void lb_frozen(struct world *w)
{
	w->lb_frozen = true;
}
static void lb_thawed(struct world *w)
{
	w->lb_frozen = false;
}
static void abort_on(struct world *w)
{
	w->promo.abort = true;
}
static void abort_off(struct world *w)
{
	w->promo.abort = false;
}
static void manual_rollback_canary_red(struct world *w)
{
	w->promo.rollback_automatic = false;
	canary_red(w);
}
static void other_promotion_lock(struct world *w)
{
	w->lock_override = LOCK_OTHER;
}

/* The fleet runs v1 and the controller adopted it; then Git promotes v2. */
static struct world *adopted_v1_then_v2(void)
{
	struct world *w = world_new();
	struct plan_output out;
	plan_at(w, T0 - 10 * MIN, &out);
	assert_string_equal(rollout_phase_name(out.next.phase), "Succeeded");
	assert_int_equal(rollout_state_copy(&w->state, &out.next, NULL), 0);
	apply(w, &out);
	plan_output_free(&out);
	to_v2(w);
	return w;
}

#define SHADOW_V2 "NODE_TARGET canary-gw gen=1 tag=v2 skills=1.5.0/next canary=acme restart"
#define BASE_WEIGHTS "SET_WEIGHTS canary-gw=100 stable-gw-a=100 stable-gw-b=100"
#define STEP5_WEIGHTS "SET_WEIGHTS canary-gw=11 stable-gw-a=100 stable-gw-b=100"
#define STEP20_WEIGHTS "SET_WEIGHTS canary-gw=50 stable-gw-a=100 stable-gw-b=100"
#define CANARY_BACK "NODE_TARGET canary-gw gen=2 tag=v1 skills=1.4.2/current restart"

/* v2 into Analysing at 5 % (at 2s). */
static const struct row to_step1[] = {
	{0, NULL, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, NULL, "Promoting", NULL,
	 {"AUDIT step Promoting 5%", STEP5_WEIGHTS, "ROUTE_TENANT acme canary"}},
	{2 * SEC, NULL, "Analysing", NULL, {NULL}},
};

/* ... and into Analysing at 20 % (at 2s + 10m + 1s). */
static const struct row to_step2[] = {
	{2 * SEC + 5 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN, NULL, "Promoting", NULL, {"AUDIT step Promoting 20%", STEP20_WEIGHTS}},
	{3 * SEC + 10 * MIN, NULL, "Analysing", NULL, {NULL}},
};

static void check_shadow_audit(struct world *w, const struct plan_output *out)
{
	(void)w;
	const struct rollout_audit *a = out->actions[0].u.audit;
	assert_int_equal(out->actions[0].kind, ACTION_AUDIT);
	assert_int_equal(a->event, AUDIT_STEP);
	assert_int_equal(a->ts_ms, T0);
	assert_string_equal(a->promotion, "gateway");
	assert_string_equal(a->actor, "Ada Lovelace <ada@example.com>");
	assert_string_equal(a->ticket, "OPS-1042");
	assert_string_equal(a->revision, "main@sha1:" C2);
	assert_string_equal(a->from.tag, "v1");
	assert_string_equal(a->from.semver, "1.4.2");
	assert_string_equal(a->to.tag, "v2");
	assert_string_equal(a->to.commit, C2);
	assert_string_equal(a->to.semver, "1.5.0");
	assert_string_equal(a->probe_sha256, PROBE_SHA);
	assert_int_equal(a->weights.n, 3);
	assert_int_equal(weight_map_find(&a->weights, "canary-gw")->weight, 100);
	/* The target carries what the agent needs: the commit and both tenants. */
	const struct target *t = out->actions[1].u.node_target.target;
	assert_string_equal(t->commit, C2);
	assert_int_equal(t->ntenants, 2);
	assert_string_equal(t->tenants[1].name, "globex");
	assert_false(t->tenants[1].canary);
	assert_int_equal(cond(out, COND_RECONCILING)->status, COND_TRUE);
	assert_int_equal(cond(out, COND_RECONCILING)->last_transition_ms, T0);
	assert_int_equal(cond(out, COND_READY)->status, COND_FALSE);
}

static void check_reconciling_since_t0(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(cond(out, COND_RECONCILING)->status, COND_TRUE);
	assert_int_equal(cond(out, COND_RECONCILING)->last_transition_ms, T0);
	assert_string_equal(cond(out, COND_RECONCILING)->message,
			    "step 1 (5 %): analysing, 1 of 2 green windows");
}

static void check_succeeded(struct world *w, const struct plan_output *out)
{
	const struct rollout_state *s = &out->next;
	assert_true(s->has_last_good);
	assert_string_equal(s->last_good.tag, "v2");
	assert_string_equal(s->last_good.commit, C2);
	assert_string_equal(s->last_good.semver, "1.5.0");
	assert_int_equal(weight_map_find(&s->last_good_weights, "canary-gw")->weight, 100);
	assert_int_equal(s->nhistory, 2);
	assert_int_equal(s->history[0].outcome, OUTCOME_ADOPTED);
	assert_int_equal(s->history[1].outcome, OUTCOME_SUCCEEDED);
	assert_string_equal(s->history[1].from.tag, "v1");
	assert_string_equal(s->history[1].to.tag, "v2");
	assert_int_equal(cond(out, COND_READY)->status, COND_TRUE);
	assert_int_equal(cond(out, COND_READY)->last_transition_ms, w->now);
	assert_int_equal(cond(out, COND_RECONCILING)->status, COND_FALSE);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(w->sim[i].commit, C2);
		assert_string_equal(w->sim[i].current, "1.5.0");
	}
}

static const struct row full_promotion[] = {
	{0, NULL, "Shadow", check_shadow_audit, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, NULL, "Promoting", NULL,
	 {"AUDIT step Promoting 5%", STEP5_WEIGHTS, "ROUTE_TENANT acme canary"}},
	{2 * SEC, NULL, "Analysing", NULL, {NULL}},
	/* The interval has not passed: nothing. */
	{2 * SEC + 5 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN - 1, NULL, "Analysing", check_reconciling_since_t0, {NULL}},
	/* Two green windows: the next step. */
	{2 * SEC + 10 * MIN, NULL, "Promoting", NULL, {"AUDIT step Promoting 20%", STEP20_WEIGHTS}},
	{3 * SEC + 10 * MIN, NULL, "Analysing", NULL, {NULL}},
	/* The last step's windows, each observed: mirror stable-gw-a (zone-a), then stable-gw-b
	 * (zone-b), every other gateway at its declared weight. */
	{3 * SEC + 15 * MIN, NULL, "Analysing", NULL, {NULL}},
	{3 * SEC + 20 * MIN, NULL, "Mirroring", NULL,
	 {"AUDIT step Mirroring 20%", "SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=100"}},
	{4 * SEC + 20 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-a gen=1 tag=v2 skills=1.5.0/current restart"}},
	{5 * SEC + 20 * MIN, NULL, "Mirroring", NULL, {BASE_WEIGHTS}},
	{6 * SEC + 20 * MIN, NULL, "Mirroring", NULL,
	 {"SET_WEIGHTS canary-gw=100 stable-gw-a=100 stable-gw-b=0"}},
	{7 * SEC + 20 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-b gen=1 tag=v2 skills=1.5.0/current restart"}},
	{8 * SEC + 20 * MIN, NULL, "Mirroring", NULL, {BASE_WEIGHTS}},
	/* Finalising: declared weights (already), acme back to the stable pool, the canary on
	 * current. */
	{9 * SEC + 20 * MIN, NULL, "Finalising", NULL, {"ROUTE_TENANT acme stable",
	  "NODE_TARGET canary-gw gen=2 tag=v2 skills=1.5.0/current restart"}},
	{10 * SEC + 20 * MIN, NULL, "Succeeded", check_succeeded,
	 {"AUDIT succeeded Succeeded 20%", "BROADCAST promote - succeeded"}},
	{11 * SEC + 20 * MIN, NULL, "Succeeded", NULL, {NULL}},
};

static void test_full_promotion(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, full_promotion);
	world_free(w);
}

static void check_quarantined(struct world *w, const struct plan_output *out)
{
	(void)w;
	const struct rollout_state *s = &out->next;
	assert_int_equal(s->nquarantined, 1);
	assert_string_equal(s->quarantined[0].tag, "v2");
	assert_string_equal(s->quarantined[0].commit, C2);
	assert_string_equal(s->quarantined[0].reason, "doctor.red");
	assert_int_equal(cond(out, COND_STALLED)->status, COND_TRUE);
	assert_string_equal(cond(out, COND_STALLED)->reason, "Quarantined");
	assert_int_equal(s->history[s->nhistory - 1].outcome, OUTCOME_ROLLED_BACK);
}

static void check_rolled_back(struct world *w, const struct plan_output *out)
{
	assert_string_equal(w->sim[0].commit, C1);
	assert_string_equal(w->sim[0].current, "1.4.2");
	assert_int_equal(weight_map_find(&w->lb, "canary-gw")->weight, 100);
	assert_string_equal(out->next.rollback_reason, "doctor.red");
}

static void check_pre_canary_declared(struct world *w, const struct plan_output *out)
{
	(void)w;
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(out->next.pre_canary_weights.v[i].weight, 100);
}

#define CANARY_DRAINED "SET_WEIGHTS canary-gw=0 stable-gw-a=100 stable-gw-b=100"

/* Red at the second step: weights and symlinks go back in the same pass (the canary is not
 * drained: the rollback is its remedy), the tag is quarantined; only another tag or commit
 * starts again. Still red on the last good build, the canary is drained, and restored after
 * two green passes. */
static const struct row red_at_step2[] = {
	{3 * SEC + 12 * MIN, canary_red, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 20% doctor.red", "AUDIT quarantined RollingBack 20% doctor.red",
	  "BROADCAST rollback canary-gw doctor.red"}},
	{4 * SEC + 12 * MIN, NULL, "RolledBack", check_rolled_back,
	 {"AUDIT rolled_back RolledBack 20% doctor.red", CANARY_DRAINED,
	  "AUDIT drained canary-gw RolledBack 20% doctor.red", "BROADCAST drain canary-gw doctor.red"}},
	{5 * SEC + 12 * MIN, NULL, "RolledBack", check_quarantined, {NULL}},
	{6 * SEC + 12 * MIN, canary_green, "RolledBack", check_quarantined, {NULL}},
	{6 * SEC + 12 * MIN + 500, NULL, "RolledBack", check_quarantined,
	 {BASE_WEIGHTS, "AUDIT restored canary-gw RolledBack 20% doctor.red",
	  "BROADCAST restore canary-gw doctor.red"}},
	/* The same tag at another commit is another build. */
	{7 * SEC + 12 * MIN, to_v2_at_c4, "Shadow", NULL, {"AUDIT step Shadow 0%",
	  "NODE_TARGET canary-gw gen=3 tag=v2 skills=1.5.0/next canary=acme restart"}},
};

static void test_red_at_step2_rolls_back_and_quarantines(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, to_step2);
	RUN(w, red_at_step2);
	world_free(w);
}

static const struct row quarantine_until_new_tag[] = {
	{3 * SEC + 12 * MIN, canary_red, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 20% doctor.red", "AUDIT quarantined RollingBack 20% doctor.red",
	  "BROADCAST rollback canary-gw doctor.red"}},
	{4 * SEC + 12 * MIN, NULL, "RolledBack", NULL,
	 {"AUDIT rolled_back RolledBack 20% doctor.red", CANARY_DRAINED,
	  "AUDIT drained canary-gw RolledBack 20% doctor.red", "BROADCAST drain canary-gw doctor.red"}},
	{5 * SEC + 12 * MIN, canary_green, "RolledBack", check_quarantined, {NULL}},
	/* A new build starts from the weights the fleet had, not from the drain. */
	{6 * SEC + 12 * MIN, to_v3, "Shadow", check_pre_canary_declared,
	 {"AUDIT step Shadow 0%",
	  "NODE_TARGET canary-gw gen=3 tag=v3 skills=1.6.0/next canary=acme restart",
	  BASE_WEIGHTS, "AUDIT restored canary-gw Shadow 0% doctor.red",
	  "BROADCAST restore canary-gw doctor.red"}},
};

static void test_quarantined_tag_needs_new_tag(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, to_step2);
	RUN(w, quarantine_until_new_tag);
	world_free(w);
}

static void check_held(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_string_equal(out->next.held_node, "canary-gw");
	assert_string_equal(out->next.held_reason, "doctor.yellow");
	assert_int_equal(out->next.percent, 5);
	assert_string_equal(out->actions[1].u.broadcast.message,
			    "holding v2 (skills 1.5.0) at 5 %: canary-gw reports doctor.yellow");
}

/* Yellow holds at the percent and broadcasts once; green resumes with the window count
 * starting again (without the hold the step would have moved at 2s + 10m). */
static const struct row yellow_holds[] = {
	{2 * SEC + 3 * MIN, canary_yellow, "Held", check_held,
	 {"AUDIT held Held 5% doctor.yellow", "BROADCAST hold canary-gw doctor.yellow"}},
	{2 * SEC + 4 * MIN, NULL, "Held", NULL, {NULL}},
	{2 * SEC + 6 * MIN, canary_green, "Analysing", NULL, {NULL}},
	{2 * SEC + 11 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 11 * MIN, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 16 * MIN, NULL, "Promoting", NULL, {"AUDIT step Promoting 20%", STEP20_WEIGHTS}},
};

static void test_yellow_holds_then_resumes(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, yellow_holds);
	world_free(w);
}

/* Parity: the parts every node reports, and one whose tenant fragments differ. */
static void set_parity(struct sim_node *n, char tenants)
{
	memset(&n->parity, 0, sizeof(n->parity));
	for (int i = 0; i < PARITY_PARTS; i++)
		memset(n->parity.parts[i], i == PARITY_TENANTS ? tenants : 'a' + i, 64);
	memset(n->parity.digest, tenants == 'd' ? 'e' : 'f', 64);
}
static void stable_pair_disagrees(struct world *w)
{
	set_parity(sim(w, "stable-gw-a"), 'd');
	set_parity(sim(w, "stable-gw-b"), '0');
}
static void stable_pair_agrees(struct world *w)
{
	set_parity(sim(w, "stable-gw-b"), 'd');
}

static void check_parity_hold(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_string_equal(out->next.held_reason, "parity.mismatch");
	assert_string_equal(out->next.held_node, "stable-gw-b");
	assert_non_null(strstr(cond(out, COND_RECONCILING)->message,
			       "stable-gw-b differs from stable-gw-a in tenants"));
}

/* Two stable gateways on v1 that disagree on their tenant fragments hold the canary at 5 %
 * (broadcast once); once they agree the step resumes and its windows start again. */
static const struct row parity_holds[] = {
	{2 * SEC + 3 * MIN, stable_pair_disagrees, "Held", check_parity_hold,
	 {"AUDIT held Held 5% parity.mismatch", "BROADCAST hold stable-gw-b parity.mismatch"}},
	{2 * SEC + 4 * MIN, NULL, "Held", check_parity_hold, {NULL}},
	{2 * SEC + 6 * MIN, stable_pair_agrees, "Analysing", NULL, {NULL}},
	{2 * SEC + 16 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 16 * MIN, NULL, "Promoting", NULL, {"AUDIT step Promoting 20%", STEP20_WEIGHTS}},
};

static void test_parity_mismatch_holds_then_resumes(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, parity_holds);
	world_free(w);
}

/* Mirroring never moves to the next node while two Macs on one build disagree. */
static const struct row parity_while_mirroring[] = {
	{3 * SEC + 15 * MIN, NULL, "Analysing", NULL, {NULL}},
	{3 * SEC + 20 * MIN, NULL, "Mirroring", NULL,
	 {"AUDIT step Mirroring 20%", "SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=100"}},
	{4 * SEC + 20 * MIN, stable_pair_disagrees, "Held", NULL,
	 {"AUDIT held Held 20% parity.mismatch", "BROADCAST hold stable-gw-b parity.mismatch"}},
	{5 * SEC + 20 * MIN, NULL, "Held", NULL, {NULL}},
	{6 * SEC + 20 * MIN, stable_pair_agrees, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-a gen=1 tag=v2 skills=1.5.0/current restart"}},
};

static void test_parity_mismatch_while_mirroring(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, to_step2);
	RUN(w, parity_while_mirroring);
	world_free(w);
}

static const struct row held_too_long[] = {
	{2 * SEC + 3 * MIN, canary_yellow, "Held", NULL,
	 {"AUDIT held Held 5% doctor.yellow", "BROADCAST hold canary-gw doctor.yellow"}},
	{2 * SEC + 33 * MIN - 1, NULL, "Held", NULL, {NULL}},
	{2 * SEC + 33 * MIN, NULL, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% hold.timeout",
	  "AUDIT quarantined RollingBack 5% hold.timeout",
	  "BROADCAST rollback canary-gw hold.timeout"}},
};

static void test_held_past_max_hold_rolls_back(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, held_too_long);
	world_free(w);
}

/* The wall clock steps (NTP, a Mac waking from sleep) while the rollout analyses and holds: the
 * planner measures on the rollout clock, so +31 minutes skips no analysis window and rolls no
 * held build back, -30 minutes freezes nothing; only the times people read follow the wall. */
static void wall_forward(struct world *w)
{
	w->wall_step = 31 * MIN;
}

static void wall_back(struct world *w)
{
	w->wall_step = -30 * MIN;
}

static void canary_yellow_wall_forward(struct world *w)
{
	canary_yellow(w);
	wall_forward(w);
}

static void check_wall_times(struct world *w, const struct plan_output *out)
{
	int64_t wall = w->now + w->wall_step;
	assert_int_equal(out->actions[0].kind, ACTION_AUDIT);
	assert_int_equal(out->actions[0].u.audit->ts_ms, wall);
	assert_int_equal(cond(out, COND_READY)->last_transition_ms, T0);
	assert_int_equal(out->next.stage_started_ms, w->now);
}

static void check_quarantine_on_wall(struct world *w, const struct plan_output *out)
{
	assert_int_equal(out->next.quarantined[0].at_ms, w->now + w->wall_step);
	assert_int_equal(out->actions[3].u.audit->ts_ms, w->now + w->wall_step);
}

static const struct row wall_steps[] = {
	{2 * SEC + 1 * MIN, wall_forward, "Analysing", NULL, {NULL}},
	{2 * SEC + 5 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 6 * MIN, wall_back, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN, NULL, "Promoting", check_wall_times,
	 {"AUDIT step Promoting 20%", STEP20_WEIGHTS}},
	{3 * SEC + 10 * MIN, NULL, "Analysing", NULL, {NULL}},
	{3 * SEC + 11 * MIN, canary_yellow_wall_forward, "Held", check_wall_times,
	 {"AUDIT held Held 20% doctor.yellow", "BROADCAST hold canary-gw doctor.yellow"}},
	{3 * SEC + 12 * MIN, wall_back, "Held", NULL, {NULL}},
	{3 * SEC + 41 * MIN - 1, wall_forward, "Held", NULL, {NULL}},
	{3 * SEC + 41 * MIN, NULL, "RollingBack", check_quarantine_on_wall,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 20% hold.timeout",
	  "AUDIT quarantined RollingBack 20% hold.timeout",
	  "BROADCAST rollback canary-gw hold.timeout"}},
};

static void test_wall_clock_steps_change_no_measurement(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, wall_steps);
	world_free(w);
}

/* The state keeps the rollout clock's reading for a restart, moved only every
 * ROLLOUT_CLOCK_SAVE_MS: a pass with nothing else to record leaves the state as it was. */
static void test_clock_reading_kept_coarsely(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	struct plan_output out;
	int64_t read = w->state.clock_ms, wall = w->state.clock_wall_ms;
	assert_true(read > 0 && read <= T0 + 2 * SEC);
	w->wall_step = 5 * MIN;
	plan_at(w, read + ROLLOUT_CLOCK_SAVE_MS - 1, &out);
	assert_int_equal(out.next.clock_ms, read);
	assert_int_equal(out.next.clock_wall_ms, wall);
	plan_output_free(&out);
	plan_at(w, read + ROLLOUT_CLOCK_SAVE_MS, &out);
	assert_int_equal(out.next.clock_ms, read + ROLLOUT_CLOCK_SAVE_MS);
	assert_int_equal(out.next.clock_wall_ms, read + ROLLOUT_CLOCK_SAVE_MS + 5 * MIN);
	plan_output_free(&out);
	world_free(w);
}

/* An unreachable canary holds the rollout, and is drained while it does not answer. */
static const struct row unreachable_canary[] = {
	{2 * SEC + 3 * MIN, canary_unreachable, "Held", NULL,
	 {"AUDIT held Held 5% node.unreachable", "BROADCAST hold canary-gw node.unreachable",
	  "SET_WEIGHTS canary-gw=0 stable-gw-a=100 stable-gw-b=100",
	  "AUDIT drained canary-gw Held 5% node.unreachable",
	  "BROADCAST drain canary-gw node.unreachable"}},
};

static void test_unreachable_canary_holds(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, unreachable_canary);
	world_free(w);
}

/* Lock parity before any weight moves: a hard failure, never promoted. */
static const struct row lock_mismatch[] = {
	{0, NULL, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, canary_bad_lock, "RollingBack", NULL,
	 {CANARY_BACK, "AUDIT rollback RollingBack 0% lock.parity",
	  "AUDIT quarantined RollingBack 0% lock.parity",
	  "BROADCAST rollback canary-gw lock.parity"}},
};

static const struct row version_mismatch[] = {
	{0, NULL, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, canary_version_mismatch, "RollingBack", NULL,
	 {CANARY_BACK, "AUDIT rollback RollingBack 0% lock.parity",
	  "AUDIT quarantined RollingBack 0% lock.parity",
	  "BROADCAST rollback canary-gw lock.parity"}},
};

/* The lock of the promotion commit, when the controller passes it, is what counts. */
static const struct row promotion_lock_differs[] = {
	{0, other_promotion_lock, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, NULL, "RollingBack", NULL,
	 {CANARY_BACK, "AUDIT rollback RollingBack 0% lock.parity",
	  "AUDIT quarantined RollingBack 0% lock.parity",
	  "BROADCAST rollback canary-gw lock.parity"}},
};

static void test_lock_mismatch_is_a_hard_failure(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, lock_mismatch);
	world_free(w);
	w = adopted_v1_then_v2();
	RUN(w, version_mismatch);
	world_free(w);
	w = adopted_v1_then_v2();
	RUN(w, promotion_lock_differs);
	world_free(w);
}

static void check_deadline(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(cond(out, COND_STALLED)->status, COND_TRUE);
	assert_string_equal(cond(out, COND_STALLED)->reason, "ProgressDeadlineExceeded");
	assert_string_equal(cond(out, COND_STALLED)->message,
			    "Shadow: waiting for canary-gw to apply generation 1 for more than 30m");
}

static void check_not_stalled(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(cond(out, COND_STALLED)->status, COND_FALSE);
}

/* A node that has not reported its generation gets the same target again, never a new one. */
static const struct row waiting_for_generation[] = {
	{0, canary_frozen, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, NULL, "Shadow", check_not_stalled, {SHADOW_V2}},
	{30 * MIN + 1, NULL, "Shadow", check_deadline, {SHADOW_V2}},
	{31 * MIN, canary_thawed, "Shadow", NULL, {SHADOW_V2}},
	{32 * MIN, NULL, "Promoting", NULL,
	 {"AUDIT step Promoting 5%", STEP5_WEIGHTS, "ROUTE_TENANT acme canary"}},
};

static void test_waits_for_generation(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, waiting_for_generation);
	world_free(w);
}

/* The step's time counts only once the load balancer reports the planned weights. */
static const struct row weights_read_back[] = {
	{0, NULL, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, lb_frozen, "Promoting", NULL,
	 {"AUDIT step Promoting 5%", STEP5_WEIGHTS, "ROUTE_TENANT acme canary"}},
	{2 * SEC, NULL, "Promoting", NULL, {STEP5_WEIGHTS}},
	{20 * MIN, lb_thawed, "Promoting", NULL, {STEP5_WEIGHTS}},
	{21 * MIN, NULL, "Analysing", NULL, {NULL}},
	{30 * MIN, NULL, "Analysing", NULL, {NULL}},
	{31 * MIN, NULL, "Promoting", NULL, {"AUDIT step Promoting 20%", STEP20_WEIGHTS}},
};

static void lb_forgets(struct world *w)
{
	weight_map_set(&w->lb, "canary-gw", 100, NULL);
}

/* A load balancer that forgets the step's weights (a restart) gets them again, and the step
 * counts its time from the read-back. */
static const struct row lb_restarted[] = {
	{2 * SEC + 4 * MIN, lb_forgets, "Promoting", NULL, {STEP5_WEIGHTS}},
	{2 * SEC + 5 * MIN, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 14 * MIN, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 15 * MIN, NULL, "Promoting", NULL, {"AUDIT step Promoting 20%", STEP20_WEIGHTS}},
};

static void test_weights_read_back(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, weights_read_back);
	world_free(w);
	w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, lb_restarted);
	world_free(w);
}

static void check_waiting_for_peer(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_string_equal(cond(out, COND_RECONCILING)->message,
			    "step 1 (5 %): green; waiting for stable-gw-a (doctor.red) before the "
			    "next step: never widen while a peer is not green");
}

/* A peer still on the build before (stable-gw-a, on v2 from the last rollout) turns red while
 * v3 is analysed: not the canary's doing, so no hold and no rollback, but no widening either
 * until it is green again. */
static const struct row peer_red[] = {
	{30 * MIN, to_v3, "Shadow", NULL,
	 {"AUDIT step Shadow 0%",
	  "NODE_TARGET canary-gw gen=3 tag=v3 skills=1.6.0/next canary=acme restart"}},
	{30 * MIN + 1 * SEC, NULL, "Promoting", NULL,
	 {"AUDIT step Promoting 5%", STEP5_WEIGHTS, "ROUTE_TENANT acme canary"}},
	{30 * MIN + 2 * SEC, NULL, "Analysing", NULL, {NULL}},
	{31 * MIN + 2 * SEC, stable_a_red, "Analysing", NULL,
	 {"SET_WEIGHTS canary-gw=11 stable-gw-a=0 stable-gw-b=100",
	  "AUDIT drained stable-gw-a Analysing 5% doctor.red",
	  "BROADCAST drain stable-gw-a doctor.red"}},
	{36 * MIN + 2 * SEC, NULL, "Analysing", NULL, {NULL}},
	{40 * MIN + 2 * SEC, NULL, "Analysing", check_waiting_for_peer, {NULL}},
	{41 * MIN + 2 * SEC, stable_a_green, "Promoting", NULL,
	 {"AUDIT step Promoting 20%", "SET_WEIGHTS canary-gw=50 stable-gw-a=0 stable-gw-b=100"}},
	{41 * MIN + 3 * SEC, NULL, "Analysing", NULL,
	 {STEP20_WEIGHTS, "AUDIT restored stable-gw-a Analysing 20% doctor.red",
	  "BROADCAST restore stable-gw-a doctor.red"}},
};

static void test_red_peer_blocks_widening(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, full_promotion);
	RUN(w, peer_red);
	world_free(w);
}

/* Red while mirroring: every node the rollout touched goes back, the untouched one stays. */
static const struct row red_while_mirroring[] = {
	{3 * SEC + 15 * MIN, NULL, "Analysing", NULL, {NULL}},
	{3 * SEC + 20 * MIN, NULL, "Mirroring", NULL,
	 {"AUDIT step Mirroring 20%", "SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=100"}},
	{4 * SEC + 20 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-a gen=1 tag=v2 skills=1.5.0/current restart"}},
	{5 * SEC + 20 * MIN, stable_a_crash_loop, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "NODE_TARGET stable-gw-a gen=2 tag=v1 skills=1.4.2/current restart",
	  "AUDIT rollback RollingBack 20% service.crash_loop",
	  "AUDIT quarantined RollingBack 20% service.crash_loop",
	  "BROADCAST rollback stable-gw-a service.crash_loop"}},
	/* Still crash-looping on the last good build: drained. */
	{6 * SEC + 20 * MIN, NULL, "RolledBack", NULL,
	 {"AUDIT rolled_back RolledBack 20% service.crash_loop",
	  "SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=100",
	  "AUDIT drained stable-gw-a RolledBack 20% service.crash_loop",
	  "BROADCAST drain stable-gw-a service.crash_loop"}},
};

static void test_red_while_mirroring(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, to_step2);
	RUN(w, red_while_mirroring);
	world_free(w);
}

/* Yellow on the node being mirrored holds the rollout there; green resumes the mirror. */
static const struct row yellow_while_mirroring[] = {
	{3 * SEC + 15 * MIN, NULL, "Analysing", NULL, {NULL}},
	{3 * SEC + 20 * MIN, NULL, "Mirroring", NULL,
	 {"AUDIT step Mirroring 20%", "SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=100"}},
	{4 * SEC + 20 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-a gen=1 tag=v2 skills=1.5.0/current restart"}},
	{5 * SEC + 20 * MIN, stable_a_yellow, "Held", NULL,
	 {"AUDIT held Held 20% queue.over_limit", "BROADCAST hold stable-gw-a queue.over_limit"}},
	{6 * SEC + 20 * MIN, stable_a_green, "Mirroring", NULL, {BASE_WEIGHTS}},
};

static void test_yellow_while_mirroring(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, to_step2);
	RUN(w, yellow_while_mirroring);
	world_free(w);
}

/* Gateways in zone then name order (stable-gw-b is in zone-a here), then the worker, then the
 * notifier: none of them before the gateways. The 100 % step leaves the stable gateways at 0;
 * from the first Mirroring pass every gateway but the one being changed has its declared
 * weight again, so the canary never carries the fleet alone while the stables are upgraded. */
static const struct row workers_follow[] = {
	{0, NULL, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, NULL, "Promoting", NULL,
	 {"AUDIT step Promoting 100%", "SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=0",
	  "ROUTE_TENANT acme canary"}},
	{2 * SEC, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 5 * MIN, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN, NULL, "Mirroring", NULL, {"AUDIT step Mirroring 100%",
	  "SET_WEIGHTS canary-gw=100 stable-gw-a=100 stable-gw-b=0"}},
	{3 * SEC + 10 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-b gen=1 tag=v2 skills=1.5.0/current restart"}},
	{4 * SEC + 10 * MIN, NULL, "Mirroring", NULL, {BASE_WEIGHTS}},
	{5 * SEC + 10 * MIN, NULL, "Mirroring", NULL,
	 {"SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=100"}},
	{6 * SEC + 10 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-a gen=1 tag=v2 skills=1.5.0/current restart"}},
	{7 * SEC + 10 * MIN, NULL, "Mirroring", NULL, {BASE_WEIGHTS}},
	{8 * SEC + 10 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET worker-1 gen=1 tag=v2 skills=1.5.0/current restart"}},
	{9 * SEC + 10 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET notifier-1 gen=1 tag=v2 skills=1.5.0/current restart"}},
	{10 * SEC + 10 * MIN, NULL, "Finalising", NULL, {"ROUTE_TENANT acme stable",
	  "NODE_TARGET canary-gw gen=2 tag=v2 skills=1.5.0/current restart"}},
	{11 * SEC + 10 * MIN, NULL, "Succeeded", NULL,
	 {"AUDIT succeeded Succeeded 100%", "BROADCAST promote - succeeded"}},
};

static void test_workers_follow_gateways(void **state)
{
	(void)state;
	struct world *w = world_new();
	/* Added before the gateways' files so the desired order is not the rollout order. */
	w->nodes[3] = w->nodes[0];
	w->nodes[0] = backend("worker-1", NODE_WORKER);
	w->nodes[4] = backend("notifier-1", NODE_NOTIFIER);
	w->nodes[2].zone = "zone-a";
	w->nodes[1].zone = "zone-b";
	w->d.nnodes = 5;
	for (size_t i = 0; i < 5; i++)
		snprintf(w->sim[i].name, sizeof(w->sim[i].name), "%s", w->nodes[i].name);
	w->promo.steps[0] = 100;
	w->promo.nsteps = 1;
	struct plan_output out;
	plan_at(w, T0 - MIN, &out);
	assert_int_equal(rollout_state_copy(&w->state, &out.next, NULL), 0);
	apply(w, &out);
	plan_output_free(&out);
	to_v2(w);
	RUN(w, workers_follow);
	world_free(w);
}

static void check_adopted(struct world *w, const struct plan_output *out)
{
	(void)w;
	const struct rollout_state *s = &out->next;
	assert_true(s->has_last_good);
	assert_string_equal(s->last_good.tag, "v2");
	assert_int_equal(s->nhistory, 1);
	assert_int_equal(s->history[0].outcome, OUTCOME_ADOPTED);
	for (size_t i = 0; i < s->nnodes; i++)
		assert_int_equal(s->nodes[i].generation, 0);
	assert_int_equal(cond(out, COND_READY)->status, COND_TRUE);
	assert_int_equal(cond(out, COND_RECONCILING)->status, COND_FALSE);
}

/* A fleet already on the Promotion's build: Succeeded, nothing moves. */
static const struct row adoption[] = {
	{0, NULL, "Succeeded", check_adopted, {"AUDIT adopted Succeeded 0%"}},
	{1 * SEC, NULL, "Succeeded", NULL, {NULL}},
};

static void test_adoption(void **state)
{
	(void)state;
	struct world *w = world_new();
	to_v2(w);
	for (size_t i = 0; i < 3; i++)
		sim_run(&w->sim[i], "v2", C2, "1.5.0");
	weight_map_set(&w->lb, "canary-gw", 40, NULL); /* not the declared map: still untouched */
	RUN(w, adoption);
	world_free(w);
}

static void unbuilt(struct world *w)
{
	for (size_t i = 0; i < w->d.nnodes; i++)
		sim_run(&w->sim[i], "", "", "");
	weight_map_clear(&w->lb);
}

static void check_bring_up(struct world *w, const struct plan_output *out)
{
	(void)w;
	static const char note[] = "no earlier version to compare a canary with: bringing nodes "
				   "up one at a time (";
	const char *msg = cond(out, COND_RECONCILING)->message;
	assert_int_equal(cond(out, COND_RECONCILING)->status, COND_TRUE);
	if (strncmp(msg, note, sizeof(note) - 1) != 0)
		fail_msg("Reconciling says \"%s\"", msg);
}

static void check_bring_up_red(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(cond(out, COND_STALLED)->status, COND_TRUE);
	assert_string_equal(cond(out, COND_STALLED)->reason, "NoBaseline");
	assert_string_equal(cond(out, COND_STALLED)->message,
			    "stable-gw-a is red (doctor.red) and there is no earlier version to "
			    "roll back to: fix the node or name another tag");
}

/* No earlier version: one node at a time, canary first, each waiting for green. */
static const struct row bring_up[] = {
	{0, unbuilt, "Mirroring", check_bring_up, {"AUDIT step Mirroring 0% bring-up",
	  "NODE_TARGET canary-gw gen=1 tag=v2 skills=1.5.0/current restart"}},
	{1 * SEC, stable_a_yellow, "Mirroring", check_bring_up,
	 {"NODE_TARGET stable-gw-a gen=1 tag=v2 skills=1.5.0/current restart"}},
	{2 * SEC, NULL, "Mirroring", check_bring_up, {NULL}},
	{3 * SEC, stable_a_red, "Mirroring", check_bring_up_red, {NULL}},
	{4 * SEC, stable_a_green, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-b gen=1 tag=v2 skills=1.5.0/current restart"}},
	{5 * SEC, NULL, "Finalising", NULL, {BASE_WEIGHTS}},
	{6 * SEC, NULL, "Succeeded", NULL,
	 {"AUDIT succeeded Succeeded 0%", "BROADCAST promote - succeeded"}},
};

static void test_bring_up_without_baseline(void **state)
{
	(void)state;
	struct world *w = world_new();
	to_v2(w);
	RUN(w, bring_up);
	world_free(w);
}

/* A fresh controller on a fleet running v1 takes v1 as the version to roll back to. */
static void check_baseline(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_true(out->next.has_last_good);
	assert_string_equal(out->next.last_good.tag, "v1");
	assert_string_equal(out->next.last_good.commit, C1);
	assert_string_equal(out->next.last_good.semver, "1.4.2");
}

static void reachable_canary(struct world *w)
{
	sim(w, "canary-gw")->reachable = true;
}

/* The canary that does not answer is drained even before any rollout (Idle); the rollout's
 * snapshot has it at its weight, not at the drain's 0. */
static const struct row baseline_from_fleet[] = {
	{0, canary_unreachable, "Idle", NULL,
	 {CANARY_DRAINED, "AUDIT drained canary-gw Idle 0% node.unreachable",
	  "BROADCAST drain canary-gw node.unreachable"}},
	{1 * SEC, reachable_canary, "Shadow", check_baseline, {"AUDIT step Shadow 0%", SHADOW_V2}},
	/* Green twice: restored; the first step waits for it, never judged on a canary that
	 * carried nothing. */
	{2 * SEC, NULL, "Shadow", NULL,
	 {"SET_WEIGHTS canary-gw=100 stable-gw-a=100 stable-gw-b=100",
	  "AUDIT restored canary-gw Shadow 0% node.unreachable",
	  "BROADCAST restore canary-gw node.unreachable"}},
	{3 * SEC, NULL, "Promoting", check_pre_canary_declared,
	 {"AUDIT step Promoting 5%", STEP5_WEIGHTS, "ROUTE_TENANT acme canary"}},
};

static void untagged(struct world *w)
{
	for (size_t i = 0; i < w->d.nnodes; i++)
		w->sim[i].tag[0] = '\0';
}

static void check_no_tag(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(cond(out, COND_STALLED)->status, COND_TRUE);
	assert_string_equal(cond(out, COND_STALLED)->message,
			    "cannot take the build stable-gw-a runs (commit 111111111111) as the "
			    "version to roll back to: no infra tag names its commit");
}

static const struct row baseline_untagged[] = {
	{0, untagged, "Idle", check_no_tag, {NULL}},
};

static void test_first_start_baseline(void **state)
{
	(void)state;
	struct world *w = world_new();
	to_v2(w);
	RUN(w, baseline_from_fleet);
	world_free(w);
	w = world_new();
	to_v2(w);
	RUN(w, baseline_untagged);
	world_free(w);
}

static void check_rollback_required(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(cond(out, COND_STALLED)->status, COND_TRUE);
	assert_string_equal(cond(out, COND_STALLED)->reason, "RollbackRequired");
}

static void check_suspended(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(cond(out, COND_RECONCILING)->status, COND_FALSE);
	assert_string_equal(cond(out, COND_RECONCILING)->reason, "Suspended");
}

static void check_suspended_since(struct world *w, const struct plan_output *out)
{
	check_suspended(w, out);
	assert_int_equal(out->next.suspended_since_ms, T0 + 2 * SEC + 1 * MIN);
}

static void check_not_suspended(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(out->next.suspended_since_ms, 0);
	assert_int_equal(cond(out, COND_RECONCILING)->status, COND_TRUE);
	assert_string_equal(cond(out, COND_RECONCILING)->reason, "RollingBack");
}

static void suspend_on(struct world *w)
{
	w->promo.suspend = true;
}

static void suspend_off(struct world *w)
{
	w->promo.suspend = false;
}

/* suspend freezes progress: green far longer than two windows moves nothing; on resume the
 * windows start again. It never freezes safety: a stable turning red while suspended is
 * drained, and restored after two green passes. */
static const struct row suspended[] = {
	{2 * SEC + 1 * MIN, suspend_on, "Analysing", check_suspended_since, {NULL}},
	{2 * SEC + 2 * MIN, stable_a_red, "Analysing", check_suspended_since,
	 {"SET_WEIGHTS canary-gw=11 stable-gw-a=0 stable-gw-b=100",
	  "AUDIT drained stable-gw-a Analysing 5% doctor.red", "BROADCAST drain stable-gw-a doctor.red"}},
	{2 * SEC + 3 * MIN, stable_a_green, "Analysing", check_suspended_since, {NULL}},
	{2 * SEC + 4 * MIN, NULL, "Analysing", check_suspended_since,
	 {STEP5_WEIGHTS, "AUDIT restored stable-gw-a Analysing 5% doctor.red",
	  "BROADCAST restore stable-gw-a doctor.red"}},
	{2 * SEC + 20 * MIN, NULL, "Analysing", check_suspended_since, {NULL}},
	{2 * SEC + 21 * MIN, suspend_off, "Analysing", NULL, {NULL}},
	{2 * SEC + 26 * MIN, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 31 * MIN, NULL, "Promoting", NULL, {"AUDIT step Promoting 20%", STEP20_WEIGHTS}},
};

/* Red beats suspend: a red canary while suspended rolls back and broadcasts exactly as when
 * not suspended; the rollback is not frozen. */
static const struct row suspended_red[] = {
	{2 * SEC + 1 * MIN, suspend_on, "Analysing", check_suspended_since, {NULL}},
	{2 * SEC + 2 * MIN, canary_red, "RollingBack", check_not_suspended,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% doctor.red", "AUDIT quarantined RollingBack 5% doctor.red",
	  "BROADCAST rollback canary-gw doctor.red"}},
	{2 * SEC + 3 * MIN, canary_green, "RolledBack", NULL,
	 {"AUDIT rolled_back RolledBack 5% doctor.red"}},
	{2 * SEC + 4 * MIN, NULL, "RolledBack", check_suspended, {NULL}},
};

/* ... and with rollback.automatic false, holds for a person as it would, the red canary
 * drained meanwhile. */
static const struct row suspended_red_manual[] = {
	{2 * SEC + 1 * MIN, suspend_on, "Analysing", check_suspended_since, {NULL}},
	{2 * SEC + 2 * MIN, manual_rollback_canary_red, "Held", check_rollback_required,
	 {"AUDIT held Held 5% doctor.red", "BROADCAST hold canary-gw doctor.red",
	  "SET_WEIGHTS canary-gw=0 stable-gw-a=100 stable-gw-b=100",
	  "AUDIT drained canary-gw Held 5% doctor.red", "BROADCAST drain canary-gw doctor.red"}},
	{2 * SEC + 3 * MIN, NULL, "Held", check_rollback_required, {NULL}},
};

static void test_suspend_freezes(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, suspended);
	world_free(w);
	w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, suspended_red);
	world_free(w);
	w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, suspended_red_manual);
	world_free(w);
}

static void canary_red_frozen(struct world *w)
{
	canary_red(w);
	canary_frozen(w);
}

static void canary_thawed_green(struct world *w)
{
	canary_thawed(w);
	canary_green(w);
}

/* A rollback under way is not frozen by a suspension: half a rollback is worse than either
 * build. */
static const struct row suspend_during_rollback[] = {
	{2 * SEC + 1 * MIN, canary_red, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% doctor.red", "AUDIT quarantined RollingBack 5% doctor.red",
	  "BROADCAST rollback canary-gw doctor.red"}},
	{2 * SEC + 2 * MIN, canary_green, "RolledBack", NULL,
	 {"AUDIT rolled_back RolledBack 5% doctor.red"}},
};

static const struct row suspend_during_rollback_unapplied[] = {
	{2 * SEC + 1 * MIN, canary_red_frozen, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% doctor.red", "AUDIT quarantined RollingBack 5% doctor.red",
	  "BROADCAST rollback canary-gw doctor.red"}},
	{2 * SEC + 2 * MIN, suspend_on, "RollingBack", NULL, {CANARY_BACK}},
	{2 * SEC + 3 * MIN, canary_thawed_green, "RollingBack", NULL, {CANARY_BACK}},
	{2 * SEC + 4 * MIN, NULL, "RolledBack", NULL, {"AUDIT rolled_back RolledBack 5% doctor.red"}},
};

static void test_suspend_does_not_freeze_rollback(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, suspend_during_rollback);
	world_free(w);
	w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, suspend_during_rollback_unapplied);
	world_free(w);
}

static void check_not_quarantined(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(out->next.nquarantined, 0);
	assert_int_equal(cond(out, COND_STALLED)->status, COND_FALSE);
}

/* abort rolls back without quarantine; clearing it starts the Promotion again. */
static const struct row aborted[] = {
	{2 * SEC + 1 * MIN, abort_on, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK, "AUDIT rollback RollingBack 5% abort",
	  "BROADCAST rollback - abort"}},
	{2 * SEC + 2 * MIN, NULL, "RolledBack", check_not_quarantined,
	 {"AUDIT rolled_back RolledBack 5% abort"}},
	{2 * SEC + 3 * MIN, NULL, "RolledBack", check_not_quarantined, {NULL}},
	{2 * SEC + 4 * MIN, abort_off, "Shadow", NULL, {"AUDIT step Shadow 0%",
	  "NODE_TARGET canary-gw gen=3 tag=v2 skills=1.5.0/next canary=acme restart"}},
};

static void test_abort_rolls_back(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, aborted);
	world_free(w);
}

/* A Promotion that names another build mid-rollout rolls the first back, then starts. */
static const struct row superseded[] = {
	{2 * SEC + 1 * MIN, to_v3, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% superseded", "BROADCAST rollback - superseded"}},
	{2 * SEC + 2 * MIN, NULL, "RolledBack", check_not_quarantined,
	 {"AUDIT rolled_back RolledBack 5% superseded"}},
	{2 * SEC + 3 * MIN, NULL, "Shadow", NULL, {"AUDIT step Shadow 0%",
	  "NODE_TARGET canary-gw gen=3 tag=v3 skills=1.6.0/next canary=acme restart"}},
};

static void test_superseded(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, superseded);
	world_free(w);
}

/* rollback.automatic false: red holds and asks a person, the red canary drained meanwhile;
 * abort then rolls back, the canary still drained until it is green again. */
static const struct row manual_rollback[] = {
	{2 * SEC + 1 * MIN, manual_rollback_canary_red, "Held", check_rollback_required,
	 {"AUDIT held Held 5% doctor.red", "BROADCAST hold canary-gw doctor.red", CANARY_DRAINED,
	  "AUDIT drained canary-gw Held 5% doctor.red", "BROADCAST drain canary-gw doctor.red"}},
	{2 * SEC + 40 * MIN, NULL, "Held", check_rollback_required, {NULL}},
	/* The pre-canary weights with the canary drained are what the load balancer has. */
	{2 * SEC + 41 * MIN, abort_on, "RollingBack", NULL,
	 {"ROUTE_TENANT acme stable", CANARY_BACK, "AUDIT rollback RollingBack 5% abort",
	  "BROADCAST rollback - abort"}},
	{2 * SEC + 42 * MIN, canary_green, "RolledBack", NULL,
	 {"AUDIT rolled_back RolledBack 5% abort"}},
	{2 * SEC + 43 * MIN, NULL, "RolledBack", NULL,
	 {BASE_WEIGHTS, "AUDIT restored canary-gw RolledBack 5% doctor.red",
	  "BROADCAST restore canary-gw doctor.red"}},
};

static void test_manual_rollback(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, manual_rollback);
	world_free(w);
}

static void no_promotion(struct world *w)
{
	w->d.npromotions = 0;
}

static void check_no_promotion(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(cond(out, COND_STALLED)->status, COND_TRUE);
	assert_string_equal(cond(out, COND_STALLED)->reason, "NoPromotion");
	assert_int_equal(cond(out, COND_READY)->status, COND_FALSE);
}

/* The Promotion disappearing mid-rollout freezes it and says how to go on. */
static const struct row promotion_removed[] = {
	{2 * SEC + 1 * MIN, no_promotion, "Analysing", check_no_promotion, {NULL}},
};

static void test_promotion_removed(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, promotion_removed);
	world_free(w);
}

/* Safety in every phase: no red Mac keeps traffic. */

/* The fleet runs v1, adopted, and Git says v1: the steady state. */
static struct world *steady_v1(void)
{
	struct world *w = world_new();
	struct plan_output out;
	plan_at(w, T0 - 10 * MIN, &out);
	assert_string_equal(rollout_phase_name(out.next.phase), "Succeeded");
	assert_int_equal(rollout_state_copy(&w->state, &out.next, NULL), 0);
	apply(w, &out);
	plan_output_free(&out);
	return w;
}

static void min_serving_of(struct world *w, int value, bool percent)
{
	w->lb_spec = (struct load_balancer){.name = "gateways", .driver = LB_FILE,
					    .min_serving = {value, percent}};
	w->d.lbs = &w->lb_spec;
	w->d.nlbs = 1;
}

static const struct rollout_action *find_action(const struct plan_output *out,
						enum rollout_action_kind kind, size_t nth)
{
	for (size_t i = 0; i < out->nactions; i++)
		if (out->actions[i].kind == kind && nth-- == 0)
			return &out->actions[i];
	fail_msg("no action of kind %d", (int)kind);
	return NULL;
}

static void check_drained_a(struct world *w, const struct plan_output *out)
{
	(void)w;
	const struct rollout_audit *au = find_action(out, ACTION_AUDIT, 0)->u.audit;
	assert_int_equal(au->event, AUDIT_DRAINED);
	assert_string_equal(au->node, "stable-gw-a");
	assert_string_equal(au->reason, "doctor.red");
	assert_int_equal(weight_map_find(&au->weights, "stable-gw-a")->weight, 0);
	assert_int_equal(weight_map_find(&au->weights, "stable-gw-b")->weight, 100);
	const struct rollout_broadcast *b = &find_action(out, ACTION_BROADCAST, 0)->u.broadcast;
	assert_string_equal(b->node, "stable-gw-a");
	assert_string_equal(b->message, "drained stable-gw-a (doctor.red): weight 0 until 2 "
					"consecutive green passes; 2 of 3 gateways serve");
	assert_true(rollout_node_find(&out->next, "stable-gw-a")->drained);
	/* What the phase gives it is kept: the drain is laid over it. */
	assert_int_equal(weight_map_find(&out->next.planned_weights, "stable-gw-a")->weight, 100);
	assert_int_equal(cond(out, COND_DEGRADED)->status, COND_TRUE);
	assert_string_equal(cond(out, COND_DEGRADED)->reason, "Drained");
	assert_string_equal(cond(out, COND_DEGRADED)->message, "drained: stable-gw-a (doctor.red)");
	assert_int_equal(cond(out, COND_READY)->status, COND_TRUE);
}

static void check_still_drained(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_true(rollout_node_find(&out->next, "stable-gw-a")->drained);
	assert_int_equal(cond(out, COND_DEGRADED)->last_transition_ms, T0);
}

static void check_restored_a(struct world *w, const struct plan_output *out)
{
	(void)w;
	const struct rollout_broadcast *b = &find_action(out, ACTION_BROADCAST, 0)->u.broadcast;
	assert_string_equal(b->message, "restored stable-gw-a after 2 consecutive green passes "
					"(drained for doctor.red); 3 of 3 gateways serve");
	assert_false(rollout_node_find(&out->next, "stable-gw-a")->drained);
	assert_int_equal(cond(out, COND_DEGRADED)->status, COND_FALSE);
	assert_string_equal(cond(out, COND_DEGRADED)->reason, "AllServing");
}

#define A_DRAINED "SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=100"
#define B_DRAINED "SET_WEIGHTS canary-gw=100 stable-gw-a=100 stable-gw-b=0"

/* A stable turning red in the steady state is drained at the next pass and stays drained while
 * red, recorded once; it comes back after two consecutive green passes (a degraded one starts
 * the count again). */
static const struct row steady_red[] = {
	{0, stable_a_red, "Succeeded", check_drained_a,
	 {A_DRAINED, "AUDIT drained stable-gw-a Succeeded 0% doctor.red",
	  "BROADCAST drain stable-gw-a doctor.red"}},
	{1 * SEC, NULL, "Succeeded", check_still_drained, {NULL}},
	{2 * SEC, NULL, "Succeeded", check_still_drained, {NULL}},
	{3 * SEC, stable_a_green, "Succeeded", check_still_drained, {NULL}},
	{4 * SEC, stable_a_yellow, "Succeeded", check_still_drained, {NULL}},
	{5 * SEC, stable_a_green, "Succeeded", check_still_drained, {NULL}},
	{6 * SEC, NULL, "Succeeded", check_restored_a,
	 {BASE_WEIGHTS, "AUDIT restored stable-gw-a Succeeded 0% doctor.red",
	  "BROADCAST restore stable-gw-a doctor.red"}},
	{7 * SEC, NULL, "Succeeded", NULL, {NULL}},
};

/* A load balancer that forgets a drain (a restart) gets it again. */
static void lb_forgets_drain(struct world *w)
{
	weight_map_set(&w->lb, "stable-gw-a", 100, NULL);
}

static const struct row drain_forgotten[] = {
	{0, stable_a_red, "Succeeded", NULL,
	 {A_DRAINED, "AUDIT drained stable-gw-a Succeeded 0% doctor.red",
	  "BROADCAST drain stable-gw-a doctor.red"}},
	{1 * SEC, lb_forgets_drain, "Succeeded", NULL, {A_DRAINED}},
	{2 * SEC, NULL, "Succeeded", NULL, {NULL}},
};

/* A gateway that does not answer is drained as a red one is. */
static const struct row steady_unreachable[] = {
	{0, stable_b_unreachable, "Succeeded", NULL,
	 {B_DRAINED, "AUDIT drained stable-gw-b Succeeded 0% node.unreachable",
	  "BROADCAST drain stable-gw-b node.unreachable"}},
	{1 * SEC, stable_b_reachable, "Succeeded", NULL, {NULL}},
	{2 * SEC, NULL, "Succeeded", NULL,
	 {BASE_WEIGHTS, "AUDIT restored stable-gw-b Succeeded 0% node.unreachable",
	  "BROADCAST restore stable-gw-b node.unreachable"}},
};

/* The Promotion's greenWindows is the number of green passes a drained gateway needs. */
static const struct row three_greens[] = {
	{0, stable_a_red, "Succeeded", NULL,
	 {A_DRAINED, "AUDIT drained stable-gw-a Succeeded 0% doctor.red",
	  "BROADCAST drain stable-gw-a doctor.red"}},
	{1 * SEC, stable_a_green, "Succeeded", NULL, {NULL}},
	{2 * SEC, NULL, "Succeeded", NULL, {NULL}},
	{3 * SEC, NULL, "Succeeded", NULL,
	 {BASE_WEIGHTS, "AUDIT restored stable-gw-a Succeeded 0% doctor.red",
	  "BROADCAST restore stable-gw-a doctor.red"}},
};

static void test_red_drained_in_steady_state(void **state)
{
	(void)state;
	struct world *w = steady_v1();
	RUN(w, steady_red);
	world_free(w);
	w = steady_v1();
	RUN(w, drain_forgotten);
	world_free(w);
	w = steady_v1();
	RUN(w, steady_unreachable);
	world_free(w);
	w = steady_v1();
	w->promo.green_windows = 3;
	RUN(w, three_greens);
	world_free(w);
}

static void check_kept_serving(struct world *w, const struct plan_output *out)
{
	assert_int_equal(weight_map_find(&w->lb, "stable-gw-b")->weight, 100);
	const struct rollout_broadcast *b = &find_action(out, ACTION_BROADCAST, 0)->u.broadcast;
	assert_int_equal(b->verdict, VERDICT_HOLD);
	assert_string_equal(b->message, "stable-gw-b is red (service.crash_loop) but keeps its "
					"traffic: draining it would leave 1 of 3 gateways serving, "
					"below minServing 2");
	assert_false(rollout_node_find(&out->next, "stable-gw-b")->drained);
	assert_true(rollout_node_find(&out->next, "stable-gw-b")->kept_serving);
	assert_int_equal(cond(out, COND_DEGRADED)->status, COND_TRUE);
	assert_string_equal(cond(out, COND_DEGRADED)->reason, "MinServing");
	assert_string_equal(cond(out, COND_DEGRADED)->message,
			    "stable-gw-b is red (service.crash_loop) and keeps its traffic: 2 of 3 "
			    "gateways serve and minServing is 2");
}

static void check_still_kept(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_string_equal(cond(out, COND_DEGRADED)->reason, "MinServing");
	assert_true(rollout_node_find(&out->next, "stable-gw-b")->kept_serving);
}

/* minServing (50 % of three gateways: two) stops the second drain: the red gateway keeps its
 * traffic, Degraded says why and one broadcast tells people. When the first comes back, the
 * second is drained in the same pass. */
static const struct row min_serving_blocks[] = {
	{0, stable_a_red, "Succeeded", NULL,
	 {A_DRAINED, "AUDIT drained stable-gw-a Succeeded 0% doctor.red",
	  "BROADCAST drain stable-gw-a doctor.red"}},
	{1 * SEC, stable_b_red, "Succeeded", check_kept_serving,
	 {"BROADCAST hold stable-gw-b service.crash_loop"}},
	{2 * SEC, NULL, "Succeeded", check_still_kept, {NULL}},
	{3 * SEC, stable_a_green, "Succeeded", check_still_kept, {NULL}},
	{4 * SEC, NULL, "Succeeded", NULL,
	 {B_DRAINED, "AUDIT restored stable-gw-a Succeeded 0% doctor.red",
	  "BROADCAST restore stable-gw-a doctor.red",
	  "AUDIT drained stable-gw-b Succeeded 0% service.crash_loop",
	  "BROADCAST drain stable-gw-b service.crash_loop"}},
};

/* minServing 1: two of three may be drained, never the last. */
static const struct row min_serving_one[] = {
	{0, stable_a_red, "Succeeded", NULL,
	 {A_DRAINED, "AUDIT drained stable-gw-a Succeeded 0% doctor.red",
	  "BROADCAST drain stable-gw-a doctor.red"}},
	{1 * SEC, stable_b_red, "Succeeded", NULL,
	 {"SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=0",
	  "AUDIT drained stable-gw-b Succeeded 0% service.crash_loop",
	  "BROADCAST drain stable-gw-b service.crash_loop"}},
	{2 * SEC, canary_unreachable, "Succeeded", NULL,
	 {"BROADCAST hold canary-gw node.unreachable"}},
};

static void test_min_serving(void **state)
{
	(void)state;
	struct world *w = steady_v1();
	RUN(w, min_serving_blocks);
	world_free(w);
	w = steady_v1();
	min_serving_of(w, 1, false);
	RUN(w, min_serving_one);
	world_free(w);
}

/* Held at 5 % (the canary yellow): a stable turning red is drained from the step's weights,
 * and the hold is not broadcast again. */
static const struct row drain_while_held[] = {
	{2 * SEC + 3 * MIN, canary_yellow, "Held", NULL,
	 {"AUDIT held Held 5% doctor.yellow", "BROADCAST hold canary-gw doctor.yellow"}},
	{2 * SEC + 4 * MIN, stable_a_red, "Held", NULL,
	 {"SET_WEIGHTS canary-gw=11 stable-gw-a=0 stable-gw-b=100",
	  "AUDIT drained stable-gw-a Held 5% doctor.red", "BROADCAST drain stable-gw-a doctor.red"}},
	{2 * SEC + 5 * MIN, NULL, "Held", NULL, {NULL}},
	{2 * SEC + 6 * MIN, stable_a_green, "Held", NULL, {NULL}},
	{2 * SEC + 7 * MIN, NULL, "Held", NULL,
	 {STEP5_WEIGHTS, "AUDIT restored stable-gw-a Held 5% doctor.red",
	  "BROADCAST restore stable-gw-a doctor.red"}},
};

static void canary_red_applying(struct world *w)
{
	canary_red(w);
	canary_frozen(w);
}

/* A gateway applying the target the controller sent reports a build in between: it is judged
 * once it reports it, by the rollout (red fails it) as by the safety rule. */
static const struct row applying_not_drained[] = {
	{0, canary_red_applying, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, NULL, "Shadow", NULL, {SHADOW_V2}},
	{2 * SEC, canary_thawed, "Shadow", NULL, {SHADOW_V2}},
	{3 * SEC, NULL, "RollingBack", NULL,
	 {CANARY_BACK, "AUDIT rollback RollingBack 0% doctor.red",
	  "AUDIT quarantined RollingBack 0% doctor.red", "BROADCAST rollback canary-gw doctor.red"}},
};

/* A gateway that does not take its target within the grace is judged as it is: red, drained. */
static const struct row applying_too_long[] = {
	{0, canary_red_applying, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{5 * MIN - 1, NULL, "Shadow", NULL, {SHADOW_V2}},
	{5 * MIN, NULL, "Shadow", NULL,
	 {SHADOW_V2, "SET_WEIGHTS canary-gw=0 stable-gw-a=100 stable-gw-b=100",
	  "AUDIT drained canary-gw Shadow 0% doctor.red", "BROADCAST drain canary-gw doctor.red"}},
};

static void test_drain_during_a_rollout(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, drain_while_held);
	world_free(w);
	w = adopted_v1_then_v2();
	RUN(w, applying_not_drained);
	world_free(w);
	w = adopted_v1_then_v2();
	RUN(w, applying_too_long);
	world_free(w);
}

static void check_mirror_waits_zone(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_string_equal(cond(out, COND_RECONCILING)->message,
			    "mirroring stable-gw-a (1 of 2): waiting: stable-gw-b, in its zone "
			    "zone-a, is drained (service.crash_loop): never both gateways of a zone "
			    "out at once");
}

/* Never both gateways of a zone out at once: stable-gw-a waits while stable-gw-b, in its zone,
 * is drained; every gateway keeps its declared weight meanwhile. */
static const struct row zone_rule[] = {
	{3 * SEC + 19 * MIN, stable_b_red, "Analysing", NULL,
	 {"SET_WEIGHTS canary-gw=50 stable-gw-a=100 stable-gw-b=0",
	  "AUDIT drained stable-gw-b Analysing 20% service.crash_loop",
	  "BROADCAST drain stable-gw-b service.crash_loop"}},
	{3 * SEC + 20 * MIN, stable_b_green, "Mirroring", check_mirror_waits_zone,
	 {"AUDIT step Mirroring 20%", B_DRAINED}},
	{4 * SEC + 20 * MIN, NULL, "Mirroring", check_mirror_waits_zone,
	 {BASE_WEIGHTS, "AUDIT restored stable-gw-b Mirroring 20% service.crash_loop",
	  "BROADCAST restore stable-gw-b service.crash_loop"}},
	{5 * SEC + 20 * MIN, NULL, "Mirroring", NULL, {A_DRAINED}},
	{6 * SEC + 20 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-a gen=1 tag=v2 skills=1.5.0/current restart"}},
	{7 * SEC + 20 * MIN, NULL, "Mirroring", NULL, {BASE_WEIGHTS}},
	{8 * SEC + 20 * MIN, NULL, "Mirroring", NULL, {B_DRAINED}},
};

static void check_mirror_waits_floor(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_string_equal(cond(out, COND_RECONCILING)->message,
			    "mirroring stable-gw-a (1 of 2): waiting: taking it out would leave 2 "
			    "of 3 gateways serving, below minServing 3");
}

/* minServing holds the mirror too: with all three gateways required, none can be taken out. */
static const struct row mirror_floor[] = {
	{3 * SEC + 15 * MIN, NULL, "Analysing", NULL, {NULL}},
	{3 * SEC + 20 * MIN, NULL, "Mirroring", check_mirror_waits_floor,
	 {"AUDIT step Mirroring 20%", BASE_WEIGHTS}},
	{4 * SEC + 20 * MIN, NULL, "Mirroring", check_mirror_waits_floor, {NULL}},
};

static void test_mirroring_keeps_capacity(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	w->nodes[2].zone = "zone-a";
	RUN(w, to_step1);
	RUN(w, to_step2);
	RUN(w, zone_rule);
	world_free(w);
	/* The LoadBalancer (with its floor) lands in Git during the last step: from then on every
	 * restart would also be drained first, which this table does not reach. */
	w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, to_step2);
	min_serving_of(w, 3, false);
	RUN(w, mirror_floor);
	world_free(w);
}

/* Passes are idempotent: the planner's own next state fed back with the same observation
 * changes nothing and decides nothing new. */
static void pass_twice(struct world *w, int64_t now, char **json1, char **json2)
{
	struct plan_output a, b;
	size_t len;
	plan_at(w, now, &a);
	char **first = calloc(MAX_LINES + 1, sizeof(char *));
	for (size_t i = 0; i < w->nlines; i++)
		first[i] = strdup(w->lines[i]);
	assert_int_equal(rollout_state_to_json(&a.next, json1, &len, NULL), 0);
	assert_int_equal(rollout_state_copy(&w->state, &a.next, NULL), 0);
	plan_at(w, now, &b);
	expect_lines("replay", 0, w->lines, (const char *const *)first);
	assert_int_equal(rollout_state_to_json(&b.next, json2, &len, NULL), 0);
	for (size_t i = 0; first[i]; i++)
		free(first[i]);
	free(first);
	plan_output_free(&a);
	plan_output_free(&b);
}

static void test_replay_is_stable(void **state)
{
	(void)state;
	char *j1, *j2;
	/* Mid-analysis: no action at all, the same state. */
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	pass_twice(w, T0 + 3 * MIN, &j1, &j2);
	assert_int_equal(w->nlines, 0);
	assert_string_equal(j1, j2);
	free(j1);
	free(j2);
	world_free(w);

	/* Waiting for a node: the same target at the same generation. */
	w = adopted_v1_then_v2();
	run_rows(w, "waiting_for_generation", waiting_for_generation, 2);
	pass_twice(w, T0 + 2 * SEC, &j1, &j2);
	assert_int_equal(w->nlines, 1);
	assert_string_equal(w->lines[0], SHADOW_V2);
	assert_string_equal(j1, j2);
	free(j1);
	free(j2);
	world_free(w);

	/* One-shot actions not reported done come back with the same ids, nothing new. */
	w = adopted_v1_then_v2();
	struct plan_output a, b;
	plan_at(w, T0, &a);
	assert_int_equal(rollout_state_copy(&w->state, &a.next, NULL), 0);
	plan_at(w, T0 + SEC, &b);
	assert_int_equal(b.nactions, 2);
	assert_int_equal(b.actions[0].kind, ACTION_AUDIT);
	assert_int_equal(b.actions[0].id, a.actions[0].id);
	assert_int_equal(b.actions[0].u.audit->ts_ms, T0);
	assert_int_equal(b.actions[1].kind, ACTION_NODE_TARGET);
	assert_int_equal(b.next.next_action_id, a.next.next_action_id);
	assert_int_equal(b.next.npending, 1);
	plan_output_free(&a);
	plan_output_free(&b);
	world_free(w);
}

/* A green pass planned twice at the same time counts once. */
static void test_green_pass_counts_once(void **state)
{
	(void)state;
	char *j1, *j2;
	struct world *w = steady_v1();
	run_rows(w, "steady_red", steady_red, 4); /* drained, then green once, at 3s */
	pass_twice(w, T0 + 3 * SEC, &j1, &j2);
	assert_int_equal(w->nlines, 0);
	assert_string_equal(j1, j2);
	assert_int_equal(rollout_node_find(&w->state, "stable-gw-a")->green_passes, 1);
	free(j1);
	free(j2);
	world_free(w);
}

/* The same inputs give the same outputs: nothing hidden (clock, randomness) goes in. */
static void test_pure(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	struct plan_output a, b;
	char *ja, *jb;
	size_t len;
	canary_yellow(w);
	plan_at(w, T0 + 4 * MIN, &a);
	plan_at(w, T0 + 4 * MIN, &b);
	assert_int_equal(a.nactions, b.nactions);
	assert_int_equal(rollout_state_to_json(&a.next, &ja, &len, NULL), 0);
	assert_int_equal(rollout_state_to_json(&b.next, &jb, &len, NULL), 0);
	assert_string_equal(ja, jb);
	free(ja);
	free(jb);
	plan_output_free(&a);
	plan_output_free(&b);
	world_free(w);
}

/* Analysis: windows observed, latency against peers, failureLimit, the digest. */

static void check_green_windows(const struct plan_output *out, int want)
{
	if (out->next.green_windows != want)
		fail_msg("%d green windows, want %d", out->next.green_windows, want);
}
static void check_no_green_window(struct world *w, const struct plan_output *out)
{
	(void)w;
	check_green_windows(out, 0);
}
static void check_one_green_window(struct world *w, const struct plan_output *out)
{
	(void)w;
	check_green_windows(out, 1);
}
static void check_window_anew(struct world *w, const struct plan_output *out)
{
	check_green_windows(out, 1);
	assert_int_equal(out->next.window_started_ms, w->now);
	assert_int_equal(out->next.window_run, 2);
	assert_string_equal(cond(out, COND_RECONCILING)->message,
			    "step 1 (5 %): analysing, 1 of 2 green windows; the window started anew: "
			    "the controller started since it began");
}
static void check_part_missed(struct world *w, const struct plan_output *out)
{
	check_green_windows(out, 0);
	assert_int_equal(out->next.window_started_ms, w->now);
	assert_string_equal(cond(out, COND_RECONCILING)->message,
			    "step 1 (5 %): analysing, 0 of 2 green windows; the window started anew: "
			    "a part of it passed without a green observation");
}

/* minSamples 3: a window of 5m is three parts of 100s, each needing a green pass. */
static const struct row sparse_windows[] = {
	{2 * SEC + 2 * MIN, NULL, "Analysing", NULL, {NULL}},
	/* The window ends with its last part unseen: it does not count, a new one starts. */
	{12 * SEC + 5 * MIN, NULL, "Analysing", check_part_missed, {NULL}},
	{112 * SEC + 5 * MIN, NULL, "Analysing", NULL, {NULL}},
	{212 * SEC + 5 * MIN, NULL, "Analysing", NULL, {NULL}},
	{12 * SEC + 10 * MIN, NULL, "Analysing", check_one_green_window, {NULL}},
	{112 * SEC + 10 * MIN, NULL, "Analysing", NULL, {NULL}},
	/* Elapsed time says two windows since 2s; observed, the second is still open. */
	{2 * SEC + 13 * MIN, NULL, "Analysing", check_one_green_window, {NULL}},
	{212 * SEC + 10 * MIN, NULL, "Analysing", NULL, {NULL}},
	{12 * SEC + 15 * MIN, NULL, "Promoting", NULL, {"AUDIT step Promoting 20%", STEP20_WEIGHTS}},
};

static void test_windows_with_too_few_samples_do_not_count(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	w->promo.analysis.min_samples = 3;
	RUN(w, to_step1);
	RUN(w, sparse_windows);
	world_free(w);
}

static void controller_restarted(struct world *w)
{
	w->run = 2;
}

/* A controller killed for two windows in Analysing: the window open when it died starts anew at
 * its restart (elapsed time would have moved the step at once). */
static const struct row restart_mid_window[] = {
	{2 * SEC + 6 * MIN, NULL, "Analysing", check_one_green_window, {NULL}},
	{2 * SEC + 17 * MIN, controller_restarted, "Analysing", check_window_anew, {NULL}},
	{2 * SEC + 21 * MIN, NULL, "Analysing", check_one_green_window, {NULL}},
	{2 * SEC + 22 * MIN, NULL, "Promoting", NULL, {"AUDIT step Promoting 20%", STEP20_WEIGHTS}},
};

static void test_restart_in_a_window_starts_it_anew(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	w->run = 1;
	RUN(w, to_step1);
	assert_int_equal(w->state.window_run, 1);
	RUN(w, restart_mid_window);
	world_free(w);
}

static void latency(struct world *w, const char *node, double p95)
{
	sim(w, node)->samples = 20;
	sim(w, node)->p95 = p95;
}

/* Stable gateways at 50 ms, the canary at 6x that: over maxP95Ratio (5) times its peers. */
static void canary_six_x_peers(struct world *w)
{
	latency(w, "stable-gw-a", 50);
	latency(w, "stable-gw-b", 52);
	latency(w, "canary-gw", 306);
}

/* Every gateway slowed alike: 6x the canary's old baseline (its agent notes it, green), equal
 * to its peers. */
static void all_six_x(struct world *w)
{
	latency(w, "stable-gw-a", 300);
	latency(w, "stable-gw-b", 310);
	latency(w, "canary-gw", 305);
	sim(w, "canary-gw")->reason = "latency.p95";
}

/* Too few checks behind the canary's p95 to judge it (a gateway warming up). */
static void canary_slow_unproven(struct world *w)
{
	canary_six_x_peers(w);
	sim(w, "canary-gw")->samples = 9;
}

static const struct row slow_against_peers[] = {
	{2 * SEC + 1 * MIN, canary_slow_unproven, "Analysing", NULL, {NULL}},
	{2 * SEC + 2 * MIN, canary_six_x_peers, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% latency.peers",
	  "AUDIT quarantined RollingBack 5% latency.peers",
	  "BROADCAST rollback canary-gw latency.peers"}},
};

static const struct row slow_like_peers[] = {
	{2 * SEC + 1 * MIN, all_six_x, "Analysing", NULL, {NULL}},
	{2 * SEC + 5 * MIN + 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN, NULL, "Promoting", NULL, {"AUDIT step Promoting 20%", STEP20_WEIGHTS}},
};

/* maxP95 bounds the canary whatever its peers do. */
static const struct row slow_over_max_p95[] = {
	{2 * SEC + 1 * MIN, all_six_x, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% latency.max_p95",
	  "AUDIT quarantined RollingBack 5% latency.max_p95",
	  "BROADCAST rollback canary-gw latency.max_p95"}},
};

static void test_latency_judged_against_peers(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, slow_against_peers);
	world_free(w);
	w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, slow_like_peers);
	world_free(w);
	w = adopted_v1_then_v2();
	w->promo.analysis.max_p95_ms = 250;
	RUN(w, to_step1);
	RUN(w, slow_over_max_p95);
	world_free(w);
}

static void check_red_tolerated(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_string_equal(cond(out, COND_RECONCILING)->message,
			    "step 1 (5 %): canary-gw is red (doctor.red), 1 of 3 red observations "
			    "before a rollback");
	check_green_windows(out, 0);
	assert_int_equal(out->next.window_started_ms, w->now);
}

/* failureLimit 3: two reds in a row wait (and count no window green), green ends the streak,
 * the third red in a row rolls back. */
static const struct row three_reds[] = {
	{2 * SEC + 5 * MIN + 1, NULL, "Analysing", check_one_green_window, {NULL}},
	/* Tolerated, not trusted: no rollback yet, but no traffic either (a red Mac is drained in
	 * every phase). */
	{2 * SEC + 6 * MIN, canary_red, "Analysing", check_red_tolerated,
	 {"SET_WEIGHTS canary-gw=0 stable-gw-a=100 stable-gw-b=100",
	  "AUDIT drained canary-gw Analysing 5% doctor.red", "BROADCAST drain canary-gw doctor.red"}},
	{2 * SEC + 7 * MIN, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 8 * MIN, canary_green, "Analysing", check_no_green_window, {NULL}},
	{2 * SEC + 9 * MIN, canary_red, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN, NULL, "Analysing", NULL, {NULL}},
	/* The canary is still drained (red): the rollback leaves it at 0 until it is green. */
	{2 * SEC + 11 * MIN, NULL, "RollingBack", NULL,
	 {"ROUTE_TENANT acme stable", CANARY_BACK, "AUDIT rollback RollingBack 5% doctor.red",
	  "AUDIT quarantined RollingBack 5% doctor.red", "BROADCAST rollback canary-gw doctor.red"}},
};

/* In Shadow too, before any traffic moves. */
static const struct row red_in_shadow_tolerated[] = {
	{0, NULL, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, canary_red, "Shadow", NULL,
	 {"SET_WEIGHTS canary-gw=0 stable-gw-a=100 stable-gw-b=100",
	  "AUDIT drained canary-gw Shadow 0% doctor.red", "BROADCAST drain canary-gw doctor.red"}},
	{2 * SEC, canary_green, "Shadow", NULL, {NULL}},
	{3 * SEC, NULL, "Shadow", NULL,
	 {"SET_WEIGHTS canary-gw=100 stable-gw-a=100 stable-gw-b=100",
	  "AUDIT restored canary-gw Shadow 0% doctor.red", "BROADCAST restore canary-gw doctor.red"}},
	{4 * SEC, NULL, "Promoting", NULL,
	 {"AUDIT step Promoting 5%", STEP5_WEIGHTS, "ROUTE_TENANT acme canary"}},
};

static void test_failure_limit_tolerates_reds(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	w->promo.analysis.failure_limit = 3;
	RUN(w, to_step1);
	RUN(w, three_reds);
	world_free(w);
	w = adopted_v1_then_v2();
	w->promo.analysis.failure_limit = 2;
	RUN(w, red_in_shadow_tolerated);
	world_free(w);
}

static void digest_failures(struct world *w, int64_t n)
{
	for (size_t i = 0; i < w->d.nnodes; i++) {
		w->sim[i].digest_known = true;
		w->sim[i].digest = n;
	}
}
static void digest_many(struct world *w)
{
	digest_failures(w, 40);
}
static void digest_gated_four(struct world *w)
{
	w->promo.analysis.has_max_digest_failures = true;
	w->promo.analysis.max_digest_failures = 3;
	digest_failures(w, 4);
}
static void digest_three(struct world *w)
{
	digest_failures(w, 3);
}

/* maxDigestFailures: unset, the digest never gates; set, more failures in the notifier's window
 * hold the canary (yellow) until they are back at the limit. */
static const struct row digest_gates[] = {
	{2 * SEC + 1 * MIN, digest_many, "Analysing", NULL, {NULL}},
	{2 * SEC + 2 * MIN, digest_gated_four, "Held", NULL,
	 {"AUDIT held Held 5% digest.failures", "BROADCAST hold canary-gw digest.failures"}},
	{2 * SEC + 3 * MIN, digest_three, "Analysing", NULL, {NULL}},
};

static void test_digest_failures_hold(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, digest_gates);
	world_free(w);
}

/* The load balancer beyond weights: drain before restart, tenant routes kept. */

/* A LoadBalancer in Git; haproxy: with a drain state of its own and the servers' sessions
 * reported (all 0 at first), else a driver that drains by weight alone and counts nothing. */
static void with_lb(struct world *w, bool haproxy)
{
	w->lbs[0] = (struct load_balancer){.name = "gateways",
					   .driver = haproxy ? LB_HAPROXY : LB_FILE,
					   .drain_timeout_ms = 30 * SEC};
	w->d.lbs = w->lbs;
	w->d.nlbs = 1;
	w->servers_ok = w->lb_drain = haproxy;
	for (size_t i = 0; haproxy && i < 3; i++)
		lb_server(w, w->nodes[i].name)->sessions = 0;
}

static void canary_two_sessions(struct world *w)
{
	lb_server(w, "canary-gw")->sessions = 2;
}
static void canary_sessions_end(struct world *w)
{
	lb_server(w, "canary-gw")->sessions = 0;
}
static void stable_a_one_session(struct world *w)
{
	lb_server(w, "stable-gw-a")->sessions = 1;
}

static void check_progress(const struct plan_output *out, const char *want)
{
	assert_string_equal(cond(out, COND_RECONCILING)->message, want);
}
static void check_canary_draining(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_string_equal(out->next.drain_node, "canary-gw");
	assert_false(out->next.drain_released);
	check_progress(out, "Shadow: draining canary-gw, waiting for the load balancer to report "
			    "its weight 0");
}
static void check_canary_sessions_left(struct world *w, const struct plan_output *out)
{
	(void)w;
	check_progress(out, "Shadow: draining canary-gw, 2 live sessions left (restarting it in "
			    "29s at the latest)");
}
static void check_stable_a_session_left(struct world *w, const struct plan_output *out)
{
	(void)w;
	check_progress(out, "mirroring stable-gw-a (1 of 2): draining stable-gw-a, 1 live session "
			    "left (restarting it in 29s at the latest)");
}
static void check_waits_for_stable_a(struct world *w, const struct plan_output *out)
{
	(void)w;
	check_progress(out, "finalising: waiting for stable-gw-b to return to service before "
			    "draining canary-gw");
}
static void check_no_drain(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_string_equal(out->next.drain_node, "");
}

#define SHADOW_DRAIN_WEIGHTS "SET_WEIGHTS canary-gw=0 stable-gw-a=100 stable-gw-b=100"
#define MIRROR_A_WEIGHTS "SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=100"
#define MIRROR_B_WEIGHTS "SET_WEIGHTS canary-gw=100 stable-gw-a=100 stable-gw-b=0"

/* Through HAProxy: each gateway is drained before its restart (its weight 0 and `state drain`),
 * restarted once its live sessions are 0 or drainTimeout has passed, and back (weight, then
 * `state ready`) once it reports the restart's generation green; one gateway at a time. */
static const struct row drained_promotion[] = {
	{0, canary_two_sessions, "Shadow", check_canary_draining,
	 {"AUDIT step Shadow 0%", SHADOW_DRAIN_WEIGHTS, "DRAIN_NODE canary-gw"}},
	{1 * SEC, NULL, "Shadow", check_canary_sessions_left, {NULL}},
	{2 * SEC, canary_sessions_end, "Shadow", NULL, {SHADOW_V2}},
	{3 * SEC, NULL, "Promoting", NULL,
	 {"AUDIT step Promoting 5%", STEP5_WEIGHTS, "ROUTE_TENANT acme canary",
	  "READY_NODE canary-gw"}},
	{4 * SEC, NULL, "Analysing", check_no_drain, {NULL}},
	{4 * SEC + 5 * MIN, NULL, "Analysing", NULL, {NULL}},
	{4 * SEC + 10 * MIN, NULL, "Promoting", NULL, {"AUDIT step Promoting 20%", STEP20_WEIGHTS}},
	{5 * SEC + 10 * MIN, NULL, "Analysing", NULL, {NULL}},
	{5 * SEC + 15 * MIN, NULL, "Analysing", NULL, {NULL}},
	/* stable-gw-a keeps a session: restarted when drainTimeout has passed. */
	{5 * SEC + 20 * MIN, stable_a_one_session, "Mirroring", NULL,
	 {"AUDIT step Mirroring 20%", MIRROR_A_WEIGHTS, "DRAIN_NODE stable-gw-a"}},
	{6 * SEC + 20 * MIN, NULL, "Mirroring", check_stable_a_session_left, {NULL}},
	{34 * SEC + 20 * MIN, NULL, "Mirroring", NULL, {NULL}},
	{35 * SEC + 20 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-a gen=1 tag=v2 skills=1.5.0/current restart"}},
	{36 * SEC + 20 * MIN, NULL, "Mirroring", NULL, {BASE_WEIGHTS, "READY_NODE stable-gw-a"}},
	/* stable-gw-b: its weight at once, its drain once stable-gw-a is ready. */
	{37 * SEC + 20 * MIN, NULL, "Mirroring", NULL, {MIRROR_B_WEIGHTS}},
	{38 * SEC + 20 * MIN, NULL, "Mirroring", NULL, {"DRAIN_NODE stable-gw-b"}},
	{39 * SEC + 20 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-b gen=1 tag=v2 skills=1.5.0/current restart"}},
	{40 * SEC + 20 * MIN, NULL, "Mirroring", NULL, {BASE_WEIGHTS, "READY_NODE stable-gw-b"}},
	/* Finalising: the canary moves from next to current, a restart: drained first. */
	{41 * SEC + 20 * MIN, NULL, "Finalising", check_waits_for_stable_a,
	 {"ROUTE_TENANT acme stable"}},
	{42 * SEC + 20 * MIN, NULL, "Finalising", NULL,
	 {SHADOW_DRAIN_WEIGHTS, "DRAIN_NODE canary-gw"}},
	{43 * SEC + 20 * MIN, NULL, "Finalising", NULL,
	 {"NODE_TARGET canary-gw gen=2 tag=v2 skills=1.5.0/current restart"}},
	{44 * SEC + 20 * MIN, NULL, "Finalising", NULL, {BASE_WEIGHTS, "READY_NODE canary-gw"}},
	{45 * SEC + 20 * MIN, NULL, "Succeeded", check_succeeded,
	 {"AUDIT succeeded Succeeded 20%", "BROADCAST promote - succeeded"}},
	{46 * SEC + 20 * MIN, NULL, "Succeeded", check_no_drain, {NULL}},
};

static void test_drain_before_restart(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	with_lb(w, true);
	RUN(w, drained_promotion);
	world_free(w);
}

static void check_sessions_unknown(struct world *w, const struct plan_output *out)
{
	(void)w;
	check_progress(out, "Shadow: draining canary-gw, its sessions are not known (restarting it "
			    "in 29s)");
}

/* A load balancer without a drain state or session counts (file, http, command): the weight 0,
 * then drainTimeout in full. */
static const struct row drained_by_weight[] = {
	{0, NULL, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_DRAIN_WEIGHTS}},
	{1 * SEC, NULL, "Shadow", check_sessions_unknown, {NULL}},
	{30 * SEC - 1, NULL, "Shadow", NULL, {NULL}},
	{30 * SEC, NULL, "Shadow", NULL, {SHADOW_V2}},
	{31 * SEC, NULL, "Promoting", NULL,
	 {"AUDIT step Promoting 5%", STEP5_WEIGHTS, "ROUTE_TENANT acme canary"}},
	{32 * SEC, NULL, "Analysing", check_no_drain, {NULL}},
};

static void test_drain_by_weight_waits_drain_timeout(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	with_lb(w, false);
	RUN(w, drained_by_weight);
	world_free(w);
}

static void lb_loses_drain_state(struct world *w)
{
	lb_server(w, "canary-gw")->draining = false;
}

/* A rollback does not wait for sessions: the build is bad. The drained canary gets the
 * pre-canary weight with everyone else and its drain state is lifted. HAProxy restarted
 * mid-drain forgets the drain state: it is set again. */
static const struct row red_while_drained[] = {
	{0, canary_two_sessions, "Shadow", NULL,
	 {"AUDIT step Shadow 0%", SHADOW_DRAIN_WEIGHTS, "DRAIN_NODE canary-gw"}},
	{1 * SEC, lb_loses_drain_state, "Shadow", NULL, {"DRAIN_NODE canary-gw"}},
	{2 * SEC, canary_sessions_end, "Shadow", NULL, {SHADOW_V2}},
	{3 * SEC, canary_red, "RollingBack", NULL,
	 {BASE_WEIGHTS, CANARY_BACK, "AUDIT rollback RollingBack 0% doctor.red",
	  "AUDIT quarantined RollingBack 0% doctor.red", "BROADCAST rollback canary-gw doctor.red",
	  "READY_NODE canary-gw"}},
	{4 * SEC, canary_green, "RolledBack", check_no_drain,
	 {"AUDIT rolled_back RolledBack 0% doctor.red"}},
};

static void test_rollback_ends_a_drain(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	with_lb(w, true);
	RUN(w, red_while_drained);
	world_free(w);
}

static void routes_read(struct world *w)
{
	w->routes_ok = true;
}
static void map_cleared(struct world *w)
{
	lb_routes_free(&w->routes);
}
static void globex_on_canary_by_hand(struct world *w)
{
	assert_int_equal(lb_routes_put(&w->routes, "globex", "canary", NULL), 0);
}
static void routes_unreadable(struct world *w)
{
	w->routes_ok = false;
	lb_routes_free(&w->routes);
}
static void check_route_not_pending(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(out->actions[0].id, 0);
	assert_int_equal(out->next.npending, 0);
}

/* Tenant routes are level-triggered: a map entry lost (HAProxy reloaded, `clear map`) or
 * changed by hand is set again at the next pass in which the routes were read; a stable
 * tenant's route is the stable pool, which an absent entry also is. */
static const struct row routes_kept[] = {
	{0, routes_read, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, NULL, "Promoting", NULL,
	 {"AUDIT step Promoting 5%", STEP5_WEIGHTS, "ROUTE_TENANT acme canary"}},
	{2 * SEC, NULL, "Analysing", NULL, {NULL}},
	{3 * SEC, map_cleared, "Analysing", check_route_not_pending, {"ROUTE_TENANT acme canary"}},
	{4 * SEC, NULL, "Analysing", NULL, {NULL}},
	{5 * SEC, globex_on_canary_by_hand, "Analysing", NULL, {"ROUTE_TENANT globex stable"}},
	{6 * SEC, routes_unreadable, "Analysing", NULL, {NULL}},
	{7 * SEC, routes_read, "Analysing", NULL, {"ROUTE_TENANT acme canary"}},
	/* A rollback routes acme back once, as a one-shot action; read back, nothing more. */
	{8 * SEC, canary_red, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% doctor.red", "AUDIT quarantined RollingBack 5% doctor.red",
	  "BROADCAST rollback canary-gw doctor.red"}},
	{9 * SEC, canary_green, "RolledBack", NULL, {"AUDIT rolled_back RolledBack 5% doctor.red"}},
	{10 * SEC, NULL, "RolledBack", NULL, {NULL}},
};

static void test_routes_are_level_triggered(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, routes_kept);
	world_free(w);
}

/* weights_for_percent */

struct weights_case {
	const char *name;
	int bases[4]; /* canary-gw, stable-gw-a, stable-gw-b, stable-gw-c; -1: no such node */
	int percent;
	const char *want; /* "server=weight ..." or an error message */
};

static const struct weights_case weights_cases[] = {
	{"5 % of three equal", {100, 100, 100, -1}, 5, "canary-gw=11 stable-gw-a=100 stable-gw-b=100"},
	{"10 %", {100, 100, 100, -1}, 10, "canary-gw=22 stable-gw-a=100 stable-gw-b=100"},
	{"20 %", {100, 100, 100, -1}, 20, "canary-gw=50 stable-gw-a=100 stable-gw-b=100"},
	{"40 %: the canary keeps its base", {100, 100, 100, -1}, 40,
	 "canary-gw=100 stable-gw-a=75 stable-gw-b=75"},
	{"60 %: remainder to the first name", {100, 100, 100, -1}, 60,
	 "canary-gw=100 stable-gw-a=34 stable-gw-b=33"},
	{"80 %", {100, 100, 100, -1}, 80, "canary-gw=100 stable-gw-a=13 stable-gw-b=12"},
	{"100 %", {100, 100, 100, -1}, 100, "canary-gw=100 stable-gw-a=0 stable-gw-b=0"},
	{"0 %", {100, 100, 100, -1}, 0, "canary-gw=0 stable-gw-a=100 stable-gw-b=100"},
	{"unequal bases keep their ratio", {50, 200, 100, -1}, 10,
	 "canary-gw=33 stable-gw-a=200 stable-gw-b=100"},
	{"unequal bases, largest remainder", {50, 200, 100, -1}, 50,
	 "canary-gw=50 stable-gw-a=33 stable-gw-b=17"},
	{"tiny bases are scaled up", {1, 1, 1, -1}, 5, "canary-gw=5 stable-gw-a=48 stable-gw-b=48"},
	{"base 256 caps the scale", {100, 256, 256, -1}, 50,
	 "canary-gw=100 stable-gw-a=50 stable-gw-b=50"},
	{"a drained server stays drained", {100, 100, 0, 100}, 20,
	 "canary-gw=50 stable-gw-a=100 stable-gw-b=0 stable-gw-c=100"},
	{"canaries only", {100, -1, -1, -1}, 5, "canary-gw=100"},
	{"a canary without weight", {0, 100, 100, -1}, 5,
	 "no canary gateway with a load-balancer weight above 0 to send 5 % of sessions to"},
	{"percent out of range", {100, 100, 100, -1}, 101, "percent 101 is outside 0..100"},
};

static void fleet_of(struct desired_state *d, struct mac_node *nodes, const int bases[4])
{
	static const char *const names[] = {"canary-gw", "stable-gw-a", "stable-gw-b",
					    "stable-gw-c"};
	d->nodes = nodes;
	d->nnodes = 0;
	/* Given in reverse so the map's name order is the function's doing. */
	for (int i = 3; i >= 0; i--)
		if (bases[i] >= 0)
			nodes[d->nnodes++] = gateway(names[i], "zone-a", i == 0, bases[i]);
}

/* Gates: spec.canary.gates holds the rollout before a step (or before Mirroring, as 100 when
 * 100 is not a step) until spec.approval approves it for this tag. */
#define GATE_HELD_5 "AUDIT held Held 5% waiting for approval of 20 % (clawfleet rollout promote)"
#define GATE_HELD_20 "AUDIT held Held 20% waiting for approval of 100 % (clawfleet rollout promote)"

static void gates_20_and_mirroring(struct world *w)
{
	w->promo.gates[0] = 20;
	w->promo.gates[1] = 100;
	w->promo.ngates = 2;
}
static void approve_v1_full(struct world *w)
{
	w->promo.approval_tag = "v1";
	w->promo.approval_full = true;
}
static void approve_v2_through_20(struct world *w)
{
	w->promo.approval_tag = "v2";
	w->promo.approval_full = false;
	w->promo.approval_through = 20;
}
static void approve_v2_full(struct world *w)
{
	w->promo.approval_tag = "v2";
	w->promo.approval_full = true;
}

static void check_gate_20(struct world *w, const struct plan_output *out)
{
	(void)w;
	const struct rollout_state *s = &out->next;
	assert_int_equal(s->gate_percent, 20);
	assert_string_equal(s->held_reason, ROLLOUT_HOLD_APPROVAL);
	assert_int_equal(s->held_from, ROLLOUT_ANALYSING);
	assert_string_equal(cond(out, COND_READY)->message,
			    "waiting for approval of 20 % (clawfleet rollout promote)");
	/* A person decides: nothing stalls, and no clock rolls it back. */
	assert_int_equal(cond(out, COND_STALLED)->status, COND_FALSE);
}

static void check_gate_100(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(out->next.gate_percent, 100);
	assert_int_equal(cond(out, COND_STALLED)->status, COND_FALSE);
}

static const struct row gate_then_approval[] = {
	{2 * SEC + 5 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN, NULL, "Held", check_gate_20,
	 {GATE_HELD_5, "BROADCAST hold - approval"}},
	/* Past maxHold (30m): still waiting for the person, nothing rolls back. */
	{2 * SEC + 50 * MIN, NULL, "Held", check_gate_20, {NULL}},
	/* An approval for another tag never counts, not even "full". */
	{3 * SEC + 50 * MIN, approve_v1_full, "Held", check_gate_20, {NULL}},
	/* Through 20 lets the step at 20 % go... */
	{4 * SEC + 50 * MIN, approve_v2_through_20, "Promoting", NULL,
	 {"AUDIT step Promoting 20% approved: 20 % (spec.approval of v2)", STEP20_WEIGHTS}},
	{5 * SEC + 50 * MIN, NULL, "Analysing", NULL, {NULL}},
	{5 * SEC + 55 * MIN, NULL, "Analysing", NULL, {NULL}},
	/* ... not Mirroring, gated by 100. */
	{5 * SEC + 60 * MIN, NULL, "Held", check_gate_100,
	 {GATE_HELD_20, "BROADCAST hold - approval"}},
	{6 * SEC + 60 * MIN, approve_v2_full, "Mirroring", NULL,
	 {"AUDIT step Mirroring 20% approved: 100 % (spec.approval of v2)",
	  "SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=100"}},
};

static void test_gate_holds_until_approval(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	gates_20_and_mirroring(w);
	RUN(w, to_step1);
	RUN(w, gate_then_approval);
	world_free(w);
}

/* A gate at the first step holds in Shadow, before the canary takes any traffic. */
static void gate_5(struct world *w)
{
	w->promo.gates[0] = 5;
	w->promo.ngates = 1;
}
static void approve_v2_through_5(struct world *w)
{
	w->promo.approval_tag = "v2";
	w->promo.approval_through = 5;
}

static void check_gate_from_shadow(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(out->next.gate_percent, 5);
	assert_int_equal(out->next.held_from, ROLLOUT_SHADOW);
}

static const struct row gate_before_first_step[] = {
	{0, gate_5, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, NULL, "Held", check_gate_from_shadow,
	 {"AUDIT held Held 0% waiting for approval of 5 % (clawfleet rollout promote)",
	  "BROADCAST hold - approval"}},
	{2 * SEC, approve_v2_through_5, "Promoting", NULL,
	 {"AUDIT step Promoting 5% approved: 5 % (spec.approval of v2)", STEP5_WEIGHTS,
	  "ROUTE_TENANT acme canary"}},
};

static void test_gate_before_first_step(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, gate_before_first_step);
	world_free(w);
}

/* Waiting for a person never keeps a red canary: it rolls back as in any step. */
static const struct row red_while_gated[] = {
	{2 * SEC + 5 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN, NULL, "Held", check_gate_20,
	 {GATE_HELD_5, "BROADCAST hold - approval"}},
	{3 * SEC + 10 * MIN, canary_red, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% doctor.red", "AUDIT quarantined RollingBack 5% doctor.red",
	  "BROADCAST rollback canary-gw doctor.red"}},
};

static void test_red_while_gated_rolls_back(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	gates_20_and_mirroring(w);
	RUN(w, to_step1);
	RUN(w, red_while_gated);
	assert_int_equal(w->state.gate_percent, 0);
	world_free(w);
}

/* Yellow while gated is a hold of its own, which maxHold measures. */
static const struct row yellow_while_gated[] = {
	{2 * SEC + 5 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN, NULL, "Held", check_gate_20,
	 {GATE_HELD_5, "BROADCAST hold - approval"}},
	{3 * SEC + 10 * MIN, canary_yellow, "Held", NULL,
	 {"AUDIT held Held 5% doctor.yellow", "BROADCAST hold canary-gw doctor.yellow"}},
	{3 * SEC + 40 * MIN - 1, NULL, "Held", NULL, {NULL}},
	{3 * SEC + 40 * MIN, NULL, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 5% hold.timeout",
	  "AUDIT quarantined RollingBack 5% hold.timeout",
	  "BROADCAST rollback canary-gw hold.timeout"}},
};

static void test_yellow_while_gated_times_out(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	gates_20_and_mirroring(w);
	RUN(w, to_step1);
	RUN(w, yellow_while_gated);
	world_free(w);
}

/* The rollback window: a build that Succeeded here among the last spec.rollback.window skips
 * the canary steps and mirrors every node, the canary first, one at a time. */
static void v1_succeeded_before(struct world *w)
{
	w->state.history[0].outcome = OUTCOME_SUCCEEDED; /* v1's, adopted in the fixture */
	set_promotion(w, "v1", C1, "1.4.2");
}
static void window_1(struct world *w)
{
	w->promo.rollback_window = 1;
	v1_succeeded_before(w);
}

static void check_window_succeeded(struct world *w, const struct plan_output *out)
{
	(void)w;
	const struct rollout_state *s = &out->next;
	assert_string_equal(s->last_good.tag, "v1");
	assert_int_equal(s->history[s->nhistory - 1].outcome, OUTCOME_SUCCEEDED);
	assert_false(s->canary_routed);
}

/* No Shadow, no step, no canary route: the canary gateway, then stable-gw-a, then stable-gw-b,
 * each out of traffic, on v1, back in, before the next goes. */
static const struct row back_to_v1_in_window[] = {
	{30 * MIN, v1_succeeded_before, "Mirroring", NULL,
	 {"AUDIT step Mirroring 0% rollback window: v1 succeeded here 2 rollouts ago",
	  CANARY_DRAINED}},
	{31 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET canary-gw gen=3 tag=v1 skills=1.4.2/current restart"}},
	{32 * MIN, NULL, "Mirroring", NULL, {BASE_WEIGHTS}},
	{33 * MIN, NULL, "Mirroring", NULL,
	 {"SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=100"}},
	{34 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-a gen=2 tag=v1 skills=1.4.2/current restart"}},
	{35 * MIN, NULL, "Mirroring", NULL, {BASE_WEIGHTS}},
	{36 * MIN, NULL, "Mirroring", NULL,
	 {"SET_WEIGHTS canary-gw=100 stable-gw-a=100 stable-gw-b=0"}},
	{37 * MIN, NULL, "Mirroring", NULL,
	 {"NODE_TARGET stable-gw-b gen=2 tag=v1 skills=1.4.2/current restart"}},
	{38 * MIN, NULL, "Mirroring", NULL, {BASE_WEIGHTS}},
	{39 * MIN, NULL, "Succeeded", check_window_succeeded,
	 {"AUDIT succeeded Succeeded 0%", "BROADCAST promote - succeeded"}},
};

static void test_rollback_window_skips_canary(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	w->promo.rollback_window = 3;
	RUN(w, full_promotion);
	RUN(w, back_to_v1_in_window);
	world_free(w);
}

static const struct row back_to_v1_out_of_window[] = {
	{30 * MIN, window_1, "Shadow", NULL,
	 {"AUDIT step Shadow 0%",
	  "NODE_TARGET canary-gw gen=3 tag=v1 skills=1.4.2/next canary=acme restart"}},
};

static void test_rollback_window_counts_builds(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, full_promotion);
	RUN(w, back_to_v1_out_of_window);
	world_free(w);
}

/* spec.retry lifts the quarantine it names, by tag and the time it was recorded. */
static void retry_v2_other_time(struct world *w)
{
	canary_green(w);
	w->promo.retry_tag = "v2";
	w->promo.retry_at_ms = w->state.quarantined[0].at_ms + 1;
}
static void retry_v2(struct world *w)
{
	w->promo.retry_at_ms = w->state.quarantined[0].at_ms;
}

static void check_lifted(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(out->next.nquarantined, 0);
	const struct rollout_audit *a = out->actions[0].u.audit;
	assert_int_equal(a->event, AUDIT_LIFTED);
	assert_string_equal(a->to.tag, "v2");
	assert_string_equal(a->from.tag, "v1");
}

static void check_quarantine_message(struct world *w, const struct plan_output *out)
{
	check_quarantined(w, out);
	assert_string_equal(cond(out, COND_STALLED)->message,
			    "v2 (commit 222222222222) is quarantined after a rollback (doctor.red): "
			    "`clawfleet rollout retry v2` lifts it, or name a new tag");
}

static const struct row retry_lifts_quarantine[] = {
	{3 * SEC + 12 * MIN, canary_red, "RollingBack", NULL,
	 {BASE_WEIGHTS, "ROUTE_TENANT acme stable", CANARY_BACK,
	  "AUDIT rollback RollingBack 20% doctor.red", "AUDIT quarantined RollingBack 20% doctor.red",
	  "BROADCAST rollback canary-gw doctor.red"}},
	{4 * SEC + 12 * MIN, NULL, "RolledBack", NULL,
	 {"AUDIT rolled_back RolledBack 20% doctor.red", CANARY_DRAINED,
	  "AUDIT drained canary-gw RolledBack 20% doctor.red", "BROADCAST drain canary-gw doctor.red"}},
	/* A retry of another quarantine (another time) lifts nothing. */
	{5 * SEC + 12 * MIN, retry_v2_other_time, "RolledBack", check_quarantine_message, {NULL}},
	/* Lifted (the from and to of the line say which build), and v2 starts again from the
	 * weights the fleet had. */
	{6 * SEC + 12 * MIN, retry_v2, "Shadow", check_lifted,
	 {"AUDIT lifted RolledBack 20% retry: lifted the quarantine of v2 recorded at "
	  "2023-11-14T22:25:23.000Z (doctor.red)",
	  "AUDIT step Shadow 0%",
	  "NODE_TARGET canary-gw gen=3 tag=v2 skills=1.5.0/next canary=acme restart", BASE_WEIGHTS,
	  "AUDIT restored canary-gw Shadow 0% doctor.red", "BROADCAST restore canary-gw doctor.red"}},
};

static void test_retry_lifts_quarantine(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, to_step1);
	RUN(w, to_step2);
	RUN(w, retry_lifts_quarantine);
	world_free(w);
}

static void test_weights_for_percent(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(weights_cases) / sizeof(weights_cases[0]); c++) {
		const struct weights_case *wc = &weights_cases[c];
		struct mac_node nodes[4];
		struct desired_state d = {0};
		struct weight_map m = {0};
		struct cf_err err = {{0}};
		char got[CF_ERR_MSG] = "";
		fleet_of(&d, nodes, wc->bases);
		if (weights_for_percent(&d, wc->percent, &m, &err) < 0) {
			snprintf(got, sizeof(got), "%s", err.msg);
		} else {
			for (size_t i = 0; i < m.n; i++)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s=%d",
					 i ? " " : "", m.v[i].server, m.v[i].weight);
		}
		if (strcmp(got, wc->want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", wc->name, got, wc->want);
		weight_map_free(&m);
	}
}

/* Over many fleets and every percent: weights in 0..256, the canary share within one point,
 * each pool in proportion to its bases (every weight within one of its exact share). */
static void test_weights_for_percent_properties(void **state)
{
	(void)state;
	uint32_t seed = 12345;
	for (int fleet = 0; fleet < 300; fleet++) {
		struct mac_node nodes[8];
		char names[8][16];
		struct desired_state d = {.nodes = nodes, .nnodes = 2 + fleet % 6};
		for (size_t i = 0; i < d.nnodes; i++) {
			seed = seed * 1103515245u + 12345u;
			snprintf(names[i], sizeof(names[i]), "gw-%zu", i);
			nodes[i] = gateway(names[i], "z", i < 1 + (size_t)fleet % 2,
					   1 + (int)((seed >> 16) % 256));
		}
		for (int p = 1; p <= 99; p++) {
			struct weight_map m = {0};
			assert_int_equal(weights_for_percent(&d, p, &m, NULL), 0);
			int64_t wc = 0, ws = 0, bc = 0, bs = 0;
			for (size_t i = 0; i < d.nnodes; i++) {
				int w = weight_map_find(&m, names[i])->weight;
				assert_true(w >= 0 && w <= 256);
				*(nodes[i].canary ? &wc : &ws) += w;
				*(nodes[i].canary ? &bc : &bs) += nodes[i].lb_weight;
			}
			assert_true(wc > 0 && ws > 0);
			double share = 100.0 * (double)wc / (double)(wc + ws);
			if (share < p - 1.0 || share > p + 1.0)
				fail_msg("fleet %d, %d %%: canary share %.2f", fleet, p, share);
			for (size_t i = 0; i < d.nnodes; i++) {
				double pool = nodes[i].canary ? (double)wc : (double)ws;
				double base = nodes[i].canary ? (double)bc : (double)bs;
				double exact = pool * nodes[i].lb_weight / base;
				double w = weight_map_find(&m, names[i])->weight;
				assert_true(w > exact - 1.0 && w < exact + 1.0);
			}
			weight_map_free(&m);
		}
	}
}

/* A weight changed in Git after a rollout Succeeded is applied at once, and is the snapshot a
 * later rollback returns to; a drained gateway stays at 0 whatever its declared weight. */
static void stable_a_weight_50(struct world *w)
{
	w->nodes[1].lb_weight = 50;
}

static void check_last_good_50(struct world *w, const struct plan_output *out)
{
	(void)w;
	const struct weight_entry *e = weight_map_find(&out->next.last_good_weights, "stable-gw-a");
	assert_non_null(e);
	assert_int_equal(e->weight, 50);
}

static void stable_a_red_again(struct world *w)
{
	sim(w, "stable-gw-a")->status = PROBE_RED;
	sim(w, "stable-gw-a")->reason = "doctor.red";
}

static const struct row weight_follows_git[] = {
	{12 * SEC + 20 * MIN, stable_a_weight_50, "Succeeded", check_last_good_50,
	 {"SET_WEIGHTS canary-gw=100 stable-gw-a=50 stable-gw-b=100"}},
	{13 * SEC + 20 * MIN, NULL, "Succeeded", check_last_good_50, {NULL}},
	{14 * SEC + 20 * MIN, stable_a_red_again, "Succeeded", NULL,
	 {"SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=100",
	  "AUDIT drained stable-gw-a Succeeded 20% doctor.red",
	  "BROADCAST drain stable-gw-a doctor.red"}},
	{15 * SEC + 20 * MIN, NULL, "Succeeded", check_last_good_50, {NULL}},
};

static void test_declared_weight_outside_a_rollout(void **state)
{
	(void)state;
	struct world *w = adopted_v1_then_v2();
	RUN(w, full_promotion);
	RUN(w, weight_follows_git);
	world_free(w);
}

/* The imageRef Flux writes is a build only when openclaw.lock pins its version. */
static char pinned_version[] = "2026.7.1";

static void lock_pins_2026_7_1(struct world *w)
{
	w->d.lock.present = true;
	w->d.lock.version = pinned_version;
	w->promo.image_ref = "ghcr.io/example/openclaw-gateway:2026.7.2";
}

static void image_bumped_to_v3(struct world *w)
{
	to_v3(w);
}

static void image_pinned(struct world *w)
{
	w->promo.image_ref = "ghcr.io/example/openclaw-gateway:2026.7.1";
}

static void check_image_not_pinned(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(cond(out, COND_STALLED)->status, COND_TRUE);
	assert_string_equal(cond(out, COND_STALLED)->reason, "ImageNotPinned");
	const char *msg = cond(out, COND_STALLED)->message;
	if (!strstr(msg, "2026.7.2") || !strstr(msg, "openclaw.lock pins 2026.7.1"))
		fail_msg("Stalled says \"%s\"", msg);
}

static const struct row image_not_pinned[] = {
	/* Flux bumped imageRef only: the Succeeded fleet stays, Stalled says why. */
	{0, lock_pins_2026_7_1, "Succeeded", check_image_not_pinned, {NULL}},
	/* A new tag does not start either while the image is not the pinned one. */
	{1 * SEC, image_bumped_to_v3, "Succeeded", check_image_not_pinned, {NULL}},
	{2 * SEC, image_pinned, "Shadow", check_not_stalled,
	 {"AUDIT step Shadow 0%",
	  "NODE_TARGET canary-gw gen=1 tag=v3 skills=1.6.0/next canary=acme restart"}},
};

static void test_image_not_pinned(void **state)
{
	(void)state;
	struct world *w = steady_v1();
	RUN(w, image_not_pinned);
	world_free(w);
}

static void test_weights_declared(void **state)
{
	(void)state;
	struct mac_node nodes[4];
	struct desired_state d = {0};
	struct weight_map m = {0};
	const int bases[4] = {100, 200, 0, -1};
	fleet_of(&d, nodes, bases);
	nodes[d.nnodes++] = backend("worker-1", NODE_WORKER);
	assert_int_equal(weights_declared(&d, &m, NULL), 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.v[0].server, "canary-gw");
	assert_int_equal(m.v[1].weight, 200);
	assert_int_equal(m.v[2].weight, 0);
	weight_map_free(&m);
}

/* ---- webhooks (plan_hooks.c) ---- */

static struct promotion_webhook test_hooks[3];

/* The answer of hook name to the question its last call in out asked (added when new). */
static void answer_hook(struct world *w, const char *name, enum hook_verdict verdict, long status)
{
	struct hook_result *r = NULL;
	for (size_t i = 0; i < w->nhooks && !r; i++)
		if (strcmp(w->hooks[i].name, name) == 0)
			r = &w->hooks[i];
	assert_non_null(r);
	r->verdict = verdict;
	r->status = status;
	r->attempts = 1;
}

/* What the runner does with the calls a pass asks for: each new question is pending (a hook's
 * new question replaces its old one: the world keeps one answer per hook). */
static void take_calls(struct world *w, const struct plan_output *out)
{
	for (size_t i = 0; i < out->nhook_calls; i++) {
		const struct hook_call *c = &out->hook_calls[i];
		struct hook_result *r = NULL;
		for (size_t k = 0; k < w->nhooks && !r; k++)
			if (strcmp(w->hooks[k].name, c->name) == 0)
				r = &w->hooks[k];
		if (r && strcmp(r->key, c->key) == 0)
			continue;
		if (!r && w->nhooks == 8)
			continue;
		if (!r)
			r = &w->hooks[w->nhooks++];
		memset(r, 0, sizeof(*r));
		snprintf(r->name, sizeof(r->name), "%s", c->name);
		snprintf(r->key, sizeof(r->key), "%s", c->key);
		r->type = c->type;
	}
}

/* The calls a pass asks for, after its actions: "CALL <hook> <question> <phase>[ <eventType>]",
 * a time in the question as seconds after T0 ("rollout/1/+2s"). */
static void render_calls(struct world *w, const struct plan_output *out)
{
	for (size_t i = 0; i < out->nhook_calls && w->nlines < MAX_LINES; i++) {
		const struct hook_call *c = &out->hook_calls[i];
		char question[2 * HOOK_KEY_MAX] = "", part[HOOK_KEY_MAX], line[2048];
		const char *q = strchr(c->key, '/') + 1;
		while (*q) {
			size_t n = strcspn(q, "/");
			snprintf(part, sizeof(part), "%.*s", (int)(n < 100 ? n : 100), q);
			long long t = strtoll(part, NULL, 10);
			size_t used = strlen(question);
			if (t > T0 / 2)
				snprintf(question + used, sizeof(question) - used, "%s+%llds",
					 used ? "/" : "", (t - T0) / SEC);
			else
				snprintf(question + used, sizeof(question) - used, "%s%s",
					 used ? "/" : "", part);
			q += n + (q[n] == '/');
		}
		snprintf(line, sizeof(line), "CALL %s %s %s%s%s", c->name, question, c->phase,
			 c->event_type ? " " : "", c->event_type ? c->event_type : "");
		w->lines[w->nlines++] = strdup(line);
		w->lines[w->nlines] = NULL;
	}
}

static void hook_run_rows(struct world *w, const char *table, const struct row *rows, size_t n)
{
	for (size_t r = 0; r < n; r++) {
		struct plan_output out;
		if (rows[r].tweak)
			rows[r].tweak(w);
		plan_at(w, T0 + rows[r].at, &out);
		render_calls(w, &out);
		expect_lines(table, r, w->lines, rows[r].actions);
		if (strcmp(rollout_phase_name(out.next.phase), rows[r].phase) != 0)
			fail_msg("%s, row %zu: phase %s, want %s", table, r,
				 rollout_phase_name(out.next.phase), rows[r].phase);
		if (rows[r].check)
			rows[r].check(w, &out);
		take_calls(w, &out);
		assert_int_equal(rollout_state_copy(&w->state, &out.next, NULL), 0);
		apply(w, &out);
		plan_output_free(&out);
	}
}

#define HOOK_RUN(w, rows) hook_run_rows(w, #rows, rows, sizeof(rows) / sizeof(rows[0]))

static void qa_gate_503(struct world *w)
{
	answer_hook(w, "qa-gate", HOOK_FAILED, 503);
}
static void qa_gate_200(struct world *w)
{
	answer_hook(w, "qa-gate", HOOK_PASSED, 200);
}
static void smoke_500(struct world *w)
{
	answer_hook(w, "smoke", HOOK_FAILED, 500);
}

static void check_asks_confirm_promotion(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(out->nhook_calls, 1);
	assert_string_equal(out->hook_calls[0].name, "qa-gate");
	assert_string_equal(out->hook_calls[0].phase, "Progressing");
	assert_non_null(strstr(out->hook_calls[0].key, "/confirm-promotion"));
	assert_int_equal(strlen(out->hook_calls[0].checksum), HOOK_CHECKSUM_LEN);
}

static void check_held_names_hook(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_string_equal(out->next.held_reason, "webhook.confirm-promotion");
	assert_string_equal(out->next.conditions[COND_READY].message,
			    "waiting for confirm-promotion hook \"qa-gate\": HTTP 503");
}

/* A confirm-promotion hook holds Mirroring while it answers non-2xx (Held, the hook named, one
 * audit line and one broadcast), and the rollout moves on at its first 2xx. */
static const struct row confirm_promotion_rows[] = {
	{3 * SEC + 15 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{3 * SEC + 20 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{3 * SEC + 20 * MIN, NULL, "Analysing", check_asks_confirm_promotion,
	 {"CALL qa-gate confirm-promotion Progressing"}},
	{4 * SEC + 20 * MIN, qa_gate_503, "Held", check_held_names_hook,
	 {"AUDIT held Held 20% waiting for confirm-promotion hook \"qa-gate\": HTTP 503",
	  "BROADCAST hold - webhook.confirm-promotion", "CALL qa-gate confirm-promotion Progressing"}},
	{5 * SEC + 20 * MIN, NULL, "Held", check_held_names_hook,
	 {"CALL qa-gate confirm-promotion Progressing"}},
	{6 * SEC + 20 * MIN, qa_gate_200, "Mirroring", NULL,
	 {"AUDIT step Mirroring 20% confirm-promotion hook \"qa-gate\": HTTP 200",
	  "SET_WEIGHTS canary-gw=100 stable-gw-a=0 stable-gw-b=100",
	  "CALL qa-gate confirm-promotion Progressing"}},
};

static void test_webhook_confirm_promotion_holds(void **unused)
{
	(void)unused;
	struct world *w = adopted_v1_then_v2();
	test_hooks[0] = (struct promotion_webhook){.name = "qa-gate",
						   .type = WEBHOOK_CONFIRM_PROMOTION,
						   .url = "http://qa.example/gate",
						   .timeout_ms = 10000};
	w->promo.webhooks = test_hooks;
	w->promo.nwebhooks = 1;
	HOOK_RUN(w, to_step1);
	HOOK_RUN(w, to_step2);
	HOOK_RUN(w, confirm_promotion_rows);
	world_free(w);
}

/* A pre-rollout hook is asked once the canary is green in Shadow; its failure fails the
 * rollout before any weight moved (the rollback sets the weights the rollout found). */
static const struct row pre_rollout_rows[] = {
	{0, NULL, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, NULL, "Shadow", NULL, {"CALL smoke pre-rollout Progressing"}},
	{2 * SEC, smoke_500, "RollingBack", NULL,
	 {CANARY_BACK, "AUDIT rollback RollingBack 0% webhook.pre-rollout.smoke",
	  "AUDIT quarantined RollingBack 0% webhook.pre-rollout.smoke",
	  "BROADCAST rollback - webhook.pre-rollout.smoke", "CALL smoke pre-rollout Progressing"}},
};

static void test_webhook_pre_rollout_fails_before_weights(void **unused)
{
	(void)unused;
	struct world *w = adopted_v1_then_v2();
	test_hooks[0] = (struct promotion_webhook){.name = "smoke", .type = WEBHOOK_PRE_ROLLOUT,
						   .url = "http://lt.example/", .timeout_ms = 10000};
	w->promo.webhooks = test_hooks;
	w->promo.nwebhooks = 1;
	HOOK_RUN(w, pre_rollout_rows);
	world_free(w);
}

static void set_hook(size_t i, const char *name, enum webhook_type type, int failure_limit)
{
	test_hooks[i] = (struct promotion_webhook){.name = (char *)name, .type = type,
						   .url = "http://hooks.example/",
						   .timeout_ms = 10000, .failure_limit = failure_limit};
}

static void use_hooks(struct world *w, size_t n)
{
	w->promo.webhooks = test_hooks;
	w->promo.nwebhooks = n;
}

/* A controller restart: the state as read back from its JSON, every answer in memory gone. */
static void restart(struct world *w)
{
	char *json = NULL;
	size_t len = 0;
	struct cf_err err;
	struct rollout_state back;
	if (rollout_state_to_json(&w->state, &json, &len, &err) < 0)
		fail_msg("the state does not write: %s", err.msg);
	if (rollout_state_from_json(json, len, &back, &err) < 0)
		fail_msg("the state does not read back: %s", err.msg);
	free(json);
	rollout_state_free(&w->state);
	w->state = back;
	w->nhooks = 0;
}

static void smoke_200(struct world *w)
{
	answer_hook(w, "smoke", HOOK_PASSED, 200);
}
static void more_503(struct world *w)
{
	answer_hook(w, "more", HOOK_FAILED, 503);
}
static void more_200(struct world *w)
{
	answer_hook(w, "more", HOOK_PASSED, 200);
}
static void go_503(struct world *w)
{
	answer_hook(w, "go", HOOK_FAILED, 503);
}
static void go_200(struct world *w)
{
	answer_hook(w, "go", HOOK_PASSED, 200);
}
static void load_500(struct world *w)
{
	answer_hook(w, "load", HOOK_FAILED, 500);
}
static void load_200(struct world *w)
{
	answer_hook(w, "load", HOOK_PASSED, 200);
}
static void rb_404(struct world *w)
{
	answer_hook(w, "rb", HOOK_FAILED, 404);
}
static void rb_200(struct world *w)
{
	answer_hook(w, "rb", HOOK_PASSED, 200);
}
static void ev_200(struct world *w)
{
	answer_hook(w, "ev", HOOK_PASSED, 200);
}

/* A pre-rollout hook's 2xx is kept in the state: a restarted controller does not ask it again
 * for the same build, while the confirm-traffic-increase gate (a question about now) is. */
static const struct row pre_rollout_restart_rows[] = {
	{0, NULL, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, NULL, "Shadow", NULL, {"CALL smoke pre-rollout Progressing"}},
	{2 * SEC, smoke_200, "Shadow", NULL,
	 {"CALL smoke pre-rollout Progressing", "CALL more confirm-traffic-increase/5 Progressing"}},
	{3 * SEC, restart, "Shadow", NULL, {"CALL more confirm-traffic-increase/5 Progressing"}},
	{4 * SEC, more_503, "Held", NULL,
	 {"AUDIT held Held 0% waiting for confirm-traffic-increase hook \"more\": HTTP 503",
	  "BROADCAST hold - webhook.confirm-traffic-increase",
	  "CALL more confirm-traffic-increase/5 Progressing"}},
	{5 * SEC, restart, "Held", NULL, {"CALL more confirm-traffic-increase/5 Progressing"}},
	{6 * SEC, more_200, "Promoting", NULL,
	 {"AUDIT step Promoting 5% confirm-traffic-increase hook \"more\": HTTP 200", STEP5_WEIGHTS,
	  "ROUTE_TENANT acme canary", "CALL more confirm-traffic-increase/5 Progressing"}},
};

static void test_webhook_pre_rollout_survives_restart(void **unused)
{
	(void)unused;
	struct world *w = adopted_v1_then_v2();
	set_hook(0, "smoke", WEBHOOK_PRE_ROLLOUT, 1);
	set_hook(1, "more", WEBHOOK_CONFIRM_TRAFFIC_INCREASE, 1);
	use_hooks(w, 2);
	HOOK_RUN(w, pre_rollout_restart_rows);
	world_free(w);
}

/* confirm-rollout holds before anything is sent to a node, across a restart, until a 2xx. */
static const struct row confirm_rollout_rows[] = {
	{0, NULL, "Succeeded", NULL, {"CALL go confirm-rollout Progressing"}},
	{1 * SEC, go_503, "Held", NULL,
	 {"AUDIT held Held 0% waiting for confirm-rollout hook \"go\": HTTP 503",
	  "BROADCAST hold - webhook.confirm-rollout", "CALL go confirm-rollout Progressing"}},
	{2 * SEC, restart, "Held", NULL, {"CALL go confirm-rollout Progressing"}},
	{3 * SEC, go_200, "Shadow", NULL,
	 {"AUDIT step Shadow 0% confirm-rollout hook \"go\": HTTP 200", SHADOW_V2,
	  "CALL go confirm-rollout Progressing"}},
};

static void test_webhook_confirm_rollout_holds(void **unused)
{
	(void)unused;
	struct world *w = adopted_v1_then_v2();
	set_hook(0, "go", WEBHOOK_CONFIRM_ROLLOUT, 1);
	use_hooks(w, 1);
	HOOK_RUN(w, confirm_rollout_rows);
	world_free(w);
}

static void check_one_failure(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(out->next.hooks.nmarks, 1);
	assert_int_equal(out->next.hooks.marks[0].failures, 1);
	assert_false(out->next.hooks.marks[0].passed);
}

/* failureLimit 2: one failed window holds the step (it survives a restart), a later 2xx ends
 * the failures and lets the step move on. */
static const struct row rollout_limit_rows[] = {
	{2 * SEC + 1 * MIN, NULL, "Analysing", NULL, {"CALL load rollout/1/+2s Progressing"}},
	{2 * SEC + 2 * MIN, load_500, "Analysing", check_one_failure,
	 {"CALL load rollout/1/+2s Progressing"}},
	{2 * SEC + 3 * MIN, restart, "Analysing", check_one_failure, {NULL}},
	{2 * SEC + 5 * MIN, NULL, "Analysing", check_one_failure,
	 {"CALL load rollout/1/+302s Progressing"}},
	{2 * SEC + 6 * MIN, load_200, "Analysing", NULL, {"CALL load rollout/1/+302s Progressing"}},
	{2 * SEC + 10 * MIN - 1, NULL, "Analysing", NULL, {NULL}},
	{2 * SEC + 10 * MIN, NULL, "Promoting", NULL,
	 {"AUDIT step Promoting 20%", STEP20_WEIGHTS, "CALL load rollout/1/+602s Progressing"}},
};

static void test_webhook_rollout_failure_limit(void **unused)
{
	(void)unused;
	struct world *w = adopted_v1_then_v2();
	set_hook(0, "load", WEBHOOK_ROLLOUT, 2);
	use_hooks(w, 1);
	HOOK_RUN(w, to_step1);
	HOOK_RUN(w, rollout_limit_rows);
	world_free(w);
}

/* failureLimit 2: the second failed window in a row fails the check. */
static const struct row rollout_limit_reached_rows[] = {
	{2 * SEC + 1 * MIN, NULL, "Analysing", NULL, {"CALL load rollout/1/+2s Progressing"}},
	{2 * SEC + 2 * MIN, load_500, "Analysing", check_one_failure,
	 {"CALL load rollout/1/+2s Progressing"}},
	{3 * SEC + 5 * MIN, NULL, "Analysing", NULL, {"CALL load rollout/1/+302s Progressing"}},
	{2 * SEC + 6 * MIN, load_500, "RollingBack", NULL,
	 {"SET_WEIGHTS canary-gw=100 stable-gw-a=100 stable-gw-b=100", "ROUTE_TENANT acme stable",
	  CANARY_BACK, "AUDIT rollback RollingBack 5% webhook.rollout.load",
	  "AUDIT quarantined RollingBack 5% webhook.rollout.load",
	  "BROADCAST rollback - webhook.rollout.load", "CALL load rollout/1/+302s Progressing"}},
};

static void test_webhook_rollout_failure_limit_reached(void **unused)
{
	(void)unused;
	struct world *w = adopted_v1_then_v2();
	set_hook(0, "load", WEBHOOK_ROLLOUT, 2);
	use_hooks(w, 1);
	HOOK_RUN(w, to_step1);
	HOOK_RUN(w, rollout_limit_reached_rows);
	world_free(w);
}

/* A rollback hook is asked in every phase of the rollout (Shadow, Promoting, Analysing, Held);
 * a non-2xx is "no", a 2xx rolls back, here from a confirm-promotion hold. */
static const struct row rollback_everywhere_rows[] = {
	{0, NULL, "Shadow", NULL, {"AUDIT step Shadow 0%", SHADOW_V2}},
	{1 * SEC, NULL, "Promoting", NULL,
	 {"AUDIT step Promoting 5%", STEP5_WEIGHTS, "ROUTE_TENANT acme canary",
	  "CALL rb rollback Progressing"}},
	{2 * SEC, rb_404, "Analysing", NULL, {"CALL rb rollback Progressing"}},
	{2 * SEC + 5 * MIN - 1, NULL, "Analysing", NULL, {"CALL rb rollback Progressing"}},
	{2 * SEC + 10 * MIN - 1, NULL, "Analysing", NULL, {"CALL rb rollback Progressing"}},
	{2 * SEC + 10 * MIN, NULL, "Promoting", NULL,
	 {"AUDIT step Promoting 20%", STEP20_WEIGHTS, "CALL rb rollback Progressing"}},
	{3 * SEC + 10 * MIN, NULL, "Analysing", NULL, {"CALL rb rollback Progressing"}},
	{3 * SEC + 15 * MIN - 1, NULL, "Analysing", NULL, {"CALL rb rollback Progressing"}},
	{3 * SEC + 20 * MIN - 1, NULL, "Analysing", NULL, {"CALL rb rollback Progressing"}},
	{3 * SEC + 20 * MIN, NULL, "Analysing", NULL,
	 {"CALL rb rollback Progressing", "CALL qa-gate confirm-promotion Progressing"}},
	{4 * SEC + 20 * MIN, qa_gate_503, "Held", NULL,
	 {"AUDIT held Held 20% waiting for confirm-promotion hook \"qa-gate\": HTTP 503",
	  "BROADCAST hold - webhook.confirm-promotion", "CALL rb rollback Progressing",
	  "CALL qa-gate confirm-promotion Progressing"}},
	{5 * SEC + 20 * MIN, NULL, "Held", NULL,
	 {"CALL rb rollback Waiting", "CALL qa-gate confirm-promotion Progressing"}},
	{6 * SEC + 20 * MIN, rb_200, "RollingBack", NULL,
	 {"SET_WEIGHTS canary-gw=100 stable-gw-a=100 stable-gw-b=100", "ROUTE_TENANT acme stable",
	  CANARY_BACK, "AUDIT rollback RollingBack 20% webhook.rollback.rb",
	  "AUDIT quarantined RollingBack 20% webhook.rollback.rb",
	  "BROADCAST rollback - webhook.rollback.rb", "CALL rb rollback Waiting"}},
};

static void test_webhook_rollback_in_every_phase(void **unused)
{
	(void)unused;
	struct world *w = adopted_v1_then_v2();
	set_hook(0, "rb", WEBHOOK_ROLLBACK, 1);
	set_hook(1, "qa-gate", WEBHOOK_CONFIRM_PROMOTION, 1);
	use_hooks(w, 2);
	HOOK_RUN(w, rollback_everywhere_rows);
	world_free(w);
}

static void check_owes_event(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(out->next.hooks.nowed, 1);
	assert_string_equal(out->next.hooks.owed[0].name, "ev");
	assert_string_equal(out->next.hooks.owed[0].event_message,
			    "gateway v2: Succeeded -> Shadow: Shadow: waiting for canary-gw to apply "
			    "generation 1");
}

static void check_owes_nothing(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(out->next.hooks.nowed, 0);
}

/* Event hooks hear of each phase change and post-rollout hooks of the end; a call not yet
 * answered is owed in the state and made again after a restart, until it is answered. */
static void check_owes_three(struct world *w, const struct plan_output *out)
{
	(void)w;
	assert_int_equal(out->next.hooks.nowed, 3);
	assert_string_equal(out->next.hooks.owed[2].name, "post");
	assert_null(out->next.hooks.owed[2].event_type);
}

static const struct row events_rows[] = {
	{0, NULL, "Shadow", check_owes_event,
	 {"AUDIT step Shadow 0%", SHADOW_V2, "CALL ev event/+0s/Shadow Progressing Normal"}},
	{500, restart, "Shadow", check_owes_event,
	 {"CALL smoke pre-rollout Progressing", "CALL ev event/+0s/Shadow Progressing Normal"}},
	{1 * SEC, ev_200, "Shadow", check_owes_nothing, {"CALL smoke pre-rollout Progressing"}},
	{2 * SEC, smoke_500, "RollingBack", NULL,
	 {CANARY_BACK, "AUDIT rollback RollingBack 0% webhook.pre-rollout.smoke",
	  "AUDIT quarantined RollingBack 0% webhook.pre-rollout.smoke",
	  "BROADCAST rollback - webhook.pre-rollout.smoke", "CALL smoke pre-rollout Progressing",
	  "CALL ev event/+2s/RollingBack Failed Warning"}},
	{3 * SEC, NULL, "RolledBack", check_owes_three,
	 {"AUDIT rolled_back RolledBack 0% webhook.pre-rollout.smoke",
	  "CALL ev event/+2s/RollingBack Failed Warning",
	  "CALL ev event/+3s/RolledBack Failed Warning", "CALL post post-rollout/Failed Failed"}},
};

static void test_webhook_events_owed(void **unused)
{
	(void)unused;
	struct world *w = adopted_v1_then_v2();
	set_hook(0, "smoke", WEBHOOK_PRE_ROLLOUT, 1);
	set_hook(1, "ev", WEBHOOK_EVENT, 1);
	set_hook(2, "post", WEBHOOK_POST_ROLLOUT, 1);
	use_hooks(w, 3);
	HOOK_RUN(w, events_rows);
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_promotion),
		cmocka_unit_test(test_red_at_step2_rolls_back_and_quarantines),
		cmocka_unit_test(test_quarantined_tag_needs_new_tag),
		cmocka_unit_test(test_yellow_holds_then_resumes),
		cmocka_unit_test(test_held_past_max_hold_rolls_back),
		cmocka_unit_test(test_wall_clock_steps_change_no_measurement),
		cmocka_unit_test(test_clock_reading_kept_coarsely),
		cmocka_unit_test(test_unreachable_canary_holds),
		cmocka_unit_test(test_lock_mismatch_is_a_hard_failure),
		cmocka_unit_test(test_waits_for_generation),
		cmocka_unit_test(test_weights_read_back),
		cmocka_unit_test(test_red_peer_blocks_widening),
		cmocka_unit_test(test_red_while_mirroring),
		cmocka_unit_test(test_yellow_while_mirroring),
		cmocka_unit_test(test_workers_follow_gateways),
		cmocka_unit_test(test_adoption),
		cmocka_unit_test(test_bring_up_without_baseline),
		cmocka_unit_test(test_first_start_baseline),
		cmocka_unit_test(test_suspend_freezes),
		cmocka_unit_test(test_suspend_does_not_freeze_rollback),
		cmocka_unit_test(test_abort_rolls_back),
		cmocka_unit_test(test_superseded),
		cmocka_unit_test(test_manual_rollback),
		cmocka_unit_test(test_promotion_removed),
		cmocka_unit_test(test_red_drained_in_steady_state),
		cmocka_unit_test(test_declared_weight_outside_a_rollout),
		cmocka_unit_test(test_image_not_pinned),
		cmocka_unit_test(test_min_serving),
		cmocka_unit_test(test_drain_during_a_rollout),
		cmocka_unit_test(test_green_pass_counts_once),
		cmocka_unit_test(test_mirroring_keeps_capacity),
		cmocka_unit_test(test_drain_before_restart),
		cmocka_unit_test(test_drain_by_weight_waits_drain_timeout),
		cmocka_unit_test(test_rollback_ends_a_drain),
		cmocka_unit_test(test_routes_are_level_triggered),
		cmocka_unit_test(test_replay_is_stable),
		cmocka_unit_test(test_pure),
		cmocka_unit_test(test_windows_with_too_few_samples_do_not_count),
		cmocka_unit_test(test_restart_in_a_window_starts_it_anew),
		cmocka_unit_test(test_latency_judged_against_peers),
		cmocka_unit_test(test_failure_limit_tolerates_reds),
		cmocka_unit_test(test_digest_failures_hold),
		cmocka_unit_test(test_gate_holds_until_approval),
		cmocka_unit_test(test_gate_before_first_step),
		cmocka_unit_test(test_red_while_gated_rolls_back),
		cmocka_unit_test(test_yellow_while_gated_times_out),
		cmocka_unit_test(test_rollback_window_skips_canary),
		cmocka_unit_test(test_rollback_window_counts_builds),
		cmocka_unit_test(test_retry_lifts_quarantine),
		cmocka_unit_test(test_weights_for_percent),
		cmocka_unit_test(test_weights_for_percent_properties),
		cmocka_unit_test(test_weights_declared),
		cmocka_unit_test(test_parity_mismatch_holds_then_resumes),
		cmocka_unit_test(test_parity_mismatch_while_mirroring),

		cmocka_unit_test(test_webhook_confirm_promotion_holds),
		cmocka_unit_test(test_webhook_pre_rollout_fails_before_weights),
		cmocka_unit_test(test_webhook_pre_rollout_survives_restart),
		cmocka_unit_test(test_webhook_confirm_rollout_holds),
		cmocka_unit_test(test_webhook_rollout_failure_limit),
		cmocka_unit_test(test_webhook_rollout_failure_limit_reached),
		cmocka_unit_test(test_webhook_rollback_in_every_phase),
		cmocka_unit_test(test_webhook_events_owed),
	};
	return cmocka_run_group_tests_name("planner", tests, NULL, NULL);
}
