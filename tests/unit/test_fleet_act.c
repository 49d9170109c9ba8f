/* fleet_act: tables of passes over a recording fake world. Each row is one pass: the monotonic
 * time, what changes in the world before it (the audit log refuses a line, a node does not
 * answer, the load balancer reads back other weights, ...), the plan's actions in the planner's
 * order, the exact ordered calls the act step makes on the world, what it counts (ok and
 * failed, per kind of action) and its result. The world and the act step's memory (the nodes'
 * backoff, the broadcasts' attempts) carry over from row to row, as they do between passes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act/fleet_act.h"

#define C2 "2222222222222222222222222222222222222222"
#define MAX_ACTIONS 12
#define MAX_CALLS 24

struct world {
	struct mac_node nodes[3];
	struct desired_state d;

	/* what the world does; set by the tweaks */
	bool audit_fails;	 /* the audit log refuses every line */
	const char *unreachable; /* this node's agent does not answer */
	bool batch_fails;	 /* no target can be sent at all (the token file is unreadable) */
	bool weights_differ;	 /* the load balancer reads back other weights than it was sent */
	bool notifier_down;	 /* the notifier refuses every broadcast */
	bool drain_refused;	 /* the load balancer refuses to change a server's drain state */
	int save_fails_at;	 /* the pass's n-th save fails (1: the intent); 0: none */
	int stop_after;		 /* stopping() is true once this many calls were made; 0: never */

	int64_t now;
	int saves;
	struct fleet_world_ops ops;
	struct fleet_act fa;
	struct status_metrics metrics;
	struct rollout_state state; /* the loop's state, the act step's to replace */
	char *calls[MAX_CALLS + 1];
	size_t ncalls;
};

static void call(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void call(struct world *w, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (w->ncalls == MAX_CALLS)
		fail_msg("more than %d calls in one pass", MAX_CALLS);
	w->calls[w->ncalls] = strdup(line);
	assert_non_null(w->calls[w->ncalls]);
	w->calls[++w->ncalls] = NULL;
}

static void clear_calls(struct world *w)
{
	for (size_t i = 0; i < w->ncalls; i++)
		free(w->calls[i]);
	w->ncalls = 0;
	w->calls[0] = NULL;
}

/* ---- the recording fake ---- */

static int fake_save_state(void *ctx, const struct rollout_state *s, struct cf_err *err)
{
	struct world *w = ctx;
	char ids[256] = "";
	size_t n = 0;
	for (size_t i = 0; i < s->npending && n < sizeof(ids); i++)
		n += (size_t)snprintf(ids + n, sizeof(ids) - n, "%s#%llu", i ? "," : "",
				      (unsigned long long)s->pending[i].id);
	call(w, "save pending=%s", ids);
	if (++w->saves == w->save_fails_at)
		return cf_err_set(err, "rollout.json: No space left on device");
	return 0;
}

static int fake_put_targets(void *ctx, struct agent_put *puts, size_t n, struct cf_err *err)
{
	struct world *w = ctx;
	char names[256] = "";
	size_t len = 0;
	for (size_t i = 0; i < n && len < sizeof(names); i++)
		len += (size_t)snprintf(names + len, sizeof(names) - len, " %s", puts[i].node);
	call(w, "put%s", names);
	if (w->batch_fails)
		return cf_err_set(err, "agent token file: No such file or directory");
	for (size_t i = 0; i < n; i++) {
		bool down = w->unreachable && strcmp(puts[i].node, w->unreachable) == 0;
		puts[i].result = down ? -1 : 0;
		puts[i].observed_generation = -1;
		if (down)
			cf_err_set(&puts[i].err, "node %s: no answer from %s", puts[i].node,
				   puts[i].address);
	}
	return 0;
}

static int fake_apply_weights(void *ctx, const struct weight_map *want, struct cf_err *err)
{
	struct world *w = ctx;
	char line[256] = "";
	size_t len = 0;
	for (size_t i = 0; i < want->n && len < sizeof(line); i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, " %s=%d", want->v[i].server,
					want->v[i].weight);
	call(w, "weights%s", line);
	if (w->weights_differ)
		return cf_err_set(err, "LoadBalancer/edge: haproxy load balancer: server %s: want "
				  "weight %d, got 100 on reading back",
				  want->v[0].server, want->v[0].weight);
	return 0;
}

static int fake_route_tenant(void *ctx, const struct rollout_route *r, struct cf_err *err)
{
	(void)err;
	call(ctx, "route %s %s", r->tenant, r->canary ? "canary" : "stable");
	return 0;
}

static int fake_drain(void *ctx, const struct rollout_drain *d, bool drain, struct cf_err *err)
{
	struct world *w = ctx;
	call(w, "%s %s/%s", drain ? "drain" : "ready", d->node, d->server);
	if (w->drain_refused)
		return cf_err_set(err, "LoadBalancer/edge: node %s: \"set server gw/%s state %s\": "
				  "Permission denied", d->node, d->server, drain ? "drain" : "ready");
	return 0;
}

static int fake_append_audit(void *ctx, const struct rollout_audit *au, struct cf_err *err)
{
	struct world *w = ctx;
	call(w, "audit %s", audit_event_name(au->event));
	if (w->audit_fails)
		return cf_err_set(err, "promotions.jsonl: fsync: Input/output error");
	return 0;
}

static int fake_broadcast(void *ctx, uint64_t id, const struct rollout_broadcast *b,
			  struct cf_err *err)
{
	struct world *w = ctx;
	call(w, "broadcast #%llu %s", (unsigned long long)id, broadcast_verdict_name(b->verdict));
	if (w->notifier_down)
		return cf_err_set(err, "broadcast to the notifier: HTTP 503");
	return 0;
}

static int64_t fake_mono_ms(void *ctx)
{
	return ((struct world *)ctx)->now;
}

static bool fake_stopping(void *ctx)
{
	struct world *w = ctx;
	return w->stop_after && w->ncalls >= (size_t)w->stop_after;
}

static void fake_intended(void *ctx, enum rollout_phase was, const struct rollout_state *s)
{
	call(ctx, "intended %s -> %s", rollout_phase_name(was), rollout_phase_name(s->phase));
}

/* gw-a, gw-b and gw-c, three gateways. */
static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	static const char *const names[] = {"gw-a", "gw-c", "gw-b"};
	static const char *const addresses[] = {"http://10.0.0.1:8787", "http://10.0.0.3:8787",
						"http://10.0.0.2:8787"};
	for (size_t i = 0; i < 3; i++)
		w->nodes[i] = (struct mac_node){.name = (char *)names[i],
						.address = (char *)addresses[i],
						.role = NODE_GATEWAY, .lb_server = (char *)names[i],
						.lb_weight = 100};
	w->d.nodes = w->nodes;
	w->d.nnodes = 3;
	w->ops = (struct fleet_world_ops){
		.save_state = fake_save_state,
		.put_targets = fake_put_targets,
		.apply_weights = fake_apply_weights,
		.route_tenant = fake_route_tenant,
		.drain = fake_drain,
		.append_audit = fake_append_audit,
		.broadcast = fake_broadcast,
		.mono_ms = fake_mono_ms,
		.stopping = fake_stopping,
		.intended = fake_intended,
		.ctx = w,
	};
	fleet_act_init(&w->fa, &w->ops, &w->metrics, 42);
	rollout_state_init(&w->state);
	return w;
}

static void world_free(struct world *w)
{
	clear_calls(w);
	fleet_act_free(&w->fa);
	rollout_state_free(&w->state);
	free(w);
}

/* ---- plans, written as the planner's actions ---- */

static uint64_t parse_id(const char *word)
{
	if (!word || word[0] != '#')
		fail_msg("want #ID, got %s", word ? word : "nothing");
	return strtoull(word + 1, NULL, 10);
}

static enum audit_event audit_event_of(const char *name)
{
	for (int e = AUDIT_STEP; e <= AUDIT_QUARANTINED; e++)
		if (strcmp(audit_event_name((enum audit_event)e), name) == 0)
			return (enum audit_event)e;
	fail_msg("no audit event %s", name);
	return AUDIT_STEP;
}

static enum broadcast_verdict verdict_of(const char *name)
{
	for (int v = VERDICT_PROMOTE; v <= VERDICT_ROLLBACK; v++)
		if (strcmp(broadcast_verdict_name((enum broadcast_verdict)v), name) == 0)
			return (enum broadcast_verdict)v;
	fail_msg("no verdict %s", name);
	return VERDICT_HOLD;
}

/* One action from text:
 *   NODE_TARGET NODE GENERATION      SET_WEIGHTS SERVER=W...      ROUTE_TENANT #ID TENANT POOL
 *   AUDIT #ID EVENT [REASON]         BROADCAST #ID VERDICT
 *   DRAIN_NODE NODE                  READY_NODE NODE              (the server is named NODE-srv)
 * #0 is an action that is not pending. */
static void parse_action(const char *text, struct rollout_action *a)
{
	char buf[256], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", text);
	const char *kind = strtok_r(buf, " ", &save);
	memset(a, 0, sizeof(*a));
	if (strcmp(kind, "NODE_TARGET") == 0) {
		a->kind = ACTION_NODE_TARGET;
		snprintf(a->u.node_target.node, sizeof(a->u.node_target.node), "%s",
			 strtok_r(NULL, " ", &save));
		struct target *t = calloc(1, sizeof(*t));
		assert_non_null(t);
		t->generation = strtoll(strtok_r(NULL, " ", &save), NULL, 10);
		snprintf(t->tag, sizeof(t->tag), "v2");
		snprintf(t->commit, sizeof(t->commit), C2);
		snprintf(t->skills_semver, sizeof(t->skills_semver), "1.5.0");
		a->u.node_target.target = t;
	} else if (strcmp(kind, "SET_WEIGHTS") == 0) {
		a->kind = ACTION_SET_WEIGHTS;
		for (char *word; (word = strtok_r(NULL, " ", &save));) {
			char *eq = strchr(word, '=');
			assert_non_null(eq);
			*eq = '\0';
			assert_int_equal(weight_map_set(&a->u.weights, word, atoi(eq + 1), NULL), 0);
		}
	} else if (strcmp(kind, "ROUTE_TENANT") == 0) {
		a->kind = ACTION_ROUTE_TENANT;
		a->id = parse_id(strtok_r(NULL, " ", &save));
		snprintf(a->u.route.tenant, sizeof(a->u.route.tenant), "%s",
			 strtok_r(NULL, " ", &save));
		a->u.route.canary = strcmp(strtok_r(NULL, " ", &save), "canary") == 0;
	} else if (strcmp(kind, "AUDIT") == 0) {
		a->kind = ACTION_AUDIT;
		a->id = parse_id(strtok_r(NULL, " ", &save));
		a->u.audit = calloc(1, sizeof(*a->u.audit));
		assert_non_null(a->u.audit);
		a->u.audit->event = audit_event_of(strtok_r(NULL, " ", &save));
		const char *reason = strtok_r(NULL, " ", &save);
		snprintf(a->u.audit->reason, sizeof(a->u.audit->reason), "%s", reason ? reason : "");
	} else if (strcmp(kind, "BROADCAST") == 0) {
		a->kind = ACTION_BROADCAST;
		a->id = parse_id(strtok_r(NULL, " ", &save));
		a->u.broadcast.verdict = verdict_of(strtok_r(NULL, " ", &save));
		snprintf(a->u.broadcast.message, sizeof(a->u.broadcast.message), "v2 on gw-a");
	} else if (strcmp(kind, "DRAIN_NODE") == 0 || strcmp(kind, "READY_NODE") == 0) {
		a->kind = kind[0] == 'D' ? ACTION_DRAIN_NODE : ACTION_READY_NODE;
		const char *node = strtok_r(NULL, " ", &save);
		snprintf(a->u.drain.node, sizeof(a->u.drain.node), "%.16s", node);
		snprintf(a->u.drain.server, sizeof(a->u.drain.server), "%.16s-srv", node);
	} else {
		fail_msg("no action kind %s", kind);
	}
}

/* The plan: its actions, and its next state (phase Promoting) with every one-shot action
 * pending, as the planner files them. */
static void make_plan(const char *const *lines, struct plan_output *out)
{
	memset(out, 0, sizeof(*out));
	rollout_state_init(&out->next);
	out->next.phase = ROLLOUT_PROMOTING;
	while (lines[out->nactions])
		out->nactions++;
	out->cap = out->nactions;
	out->actions = calloc(out->nactions ? out->nactions : 1, sizeof(*out->actions));
	out->next.pending = calloc(out->nactions ? out->nactions : 1, sizeof(*out->next.pending));
	assert_non_null(out->actions);
	assert_non_null(out->next.pending);
	for (size_t i = 0; i < out->nactions; i++) {
		parse_action(lines[i], &out->actions[i]);
		if (out->actions[i].id)
			assert_int_equal(rollout_action_copy(&out->next.pending[out->next.npending++],
							     &out->actions[i], NULL),
					 0);
	}
}

/* ---- the table ---- */

struct row {
	int64_t at; /* the monotonic clock, ms */
	void (*tweak)(struct world *);
	const char *plan[MAX_ACTIONS + 1];
	const char *calls[MAX_CALLS + 1];
	const char *counted; /* "KIND ok=N failed=M, ..." this pass; "" when nothing */
	int rc;
};

static const char *const kind_names[STATUS_ACTION_KINDS] = {
	"NODE_TARGET", "SET_WEIGHTS", "ROUTE_TENANT", "AUDIT", "BROADCAST", "DRAIN_NODE",
	"READY_NODE"};

static void counted(const struct status_metrics *before, const struct status_metrics *after,
		    char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t k = 0; k < STATUS_ACTION_KINDS && n < size; k++) {
		uint64_t ok = after->actions[k][0] - before->actions[k][0];
		uint64_t bad = after->actions[k][1] - before->actions[k][1];
		if (!ok && !bad)
			continue;
		n += (size_t)snprintf(out + n, size - n, "%s%s", n ? ", " : "", kind_names[k]);
		if (ok)
			n += (size_t)snprintf(out + n, size - n, " ok=%llu", (unsigned long long)ok);
		if (bad)
			n += (size_t)snprintf(out + n, size - n, " failed=%llu",
					      (unsigned long long)bad);
	}
}

static void expect_calls(const char *table, size_t rowno, char *const *got,
			 const char *const *want)
{
	size_t i = 0;
	for (; want[i] && got[i]; i++)
		if (strcmp(want[i], got[i]) != 0)
			break;
	if (!want[i] && !got[i])
		return;
	print_message("%s, row %zu: the calls differ at %zu\n", table, rowno, i);
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
		struct status_metrics before = w->metrics;
		struct cf_err err = {{0}};
		char got[512];
		if (rows[r].tweak)
			rows[r].tweak(w);
		w->now = rows[r].at;
		w->saves = 0;
		clear_calls(w);
		make_plan(rows[r].plan, &out);
		fleet_act_prune(&w->fa, &w->d);
		int rc = fleet_act(&w->fa, &w->d, &out, &w->state, &err);
		expect_calls(table, r, w->calls, rows[r].calls);
		if (rc != rows[r].rc)
			fail_msg("%s, row %zu: fleet_act returned %d, want %d (%s)", table, r, rc,
				 rows[r].rc, err.msg);
		counted(&before, &w->metrics, got, sizeof(got));
		if (strcmp(got, rows[r].counted) != 0)
			fail_msg("%s, row %zu: counted \"%s\", want \"%s\"", table, r, got,
				 rows[r].counted);
		plan_output_free(&out);
	}
}

#define RUN(w, rows) run_rows(w, #rows, rows, sizeof(rows) / sizeof(rows[0]))

/* Tweaks: what changes in the world before a pass. */
static void audit_fails(struct world *w)
{
	w->audit_fails = true;
}
static void audit_works(struct world *w)
{
	w->audit_fails = false;
}
static void gw_b_unreachable(struct world *w)
{
	w->unreachable = "gw-b";
}
static void gw_b_answers(struct world *w)
{
	w->unreachable = NULL;
}
static void gw_b_leaves(struct world *w)
{
	w->d.nnodes = 2; /* gw-b is the last node */
}
static void gw_b_returns(struct world *w)
{
	w->d.nnodes = 3;
}
static void token_unreadable(struct world *w)
{
	w->batch_fails = true;
}
static void token_readable(struct world *w)
{
	w->batch_fails = false;
}
static void drain_refused(struct world *w)
{
	w->drain_refused = true;
}
static void drain_taken(struct world *w)
{
	w->drain_refused = false;
}
static void weights_differ(struct world *w)
{
	w->weights_differ = true;
}
static void weights_agree(struct world *w)
{
	w->weights_differ = false;
}
static void notifier_down(struct world *w)
{
	w->notifier_down = true;
}
static void notifier_up(struct world *w)
{
	w->notifier_down = false;
}
static void intent_save_fails(struct world *w)
{
	w->save_fails_at = 1;
}
static void second_save_fails(struct world *w)
{
	w->save_fails_at = 2;
}
static void saves_work(struct world *w)
{
	w->save_fails_at = 0;
}
static void stop_after_third_call(struct world *w)
{
	w->stop_after = 3;
}

/* The first step of a rollout: its record, then its motion. */
#define STEP_PLAN                                                                                  \
	"AUDIT #1 step", "SET_WEIGHTS gw-a=11 gw-b=100 gw-c=100", "ROUTE_TENANT #2 acme canary",   \
		"BROADCAST #3 promote"

/* A rollback: weights and routes back, the nodes back, then its record and the broadcast. */
#define ROLLBACK_PLAN                                                                              \
	"SET_WEIGHTS gw-a=100 gw-b=100 gw-c=100", "ROUTE_TENANT #4 acme stable",                    \
		"NODE_TARGET gw-a 3", "NODE_TARGET gw-b 3", "AUDIT #5 rollback doctor.red",         \
		"AUDIT #6 quarantined doctor.red", "BROADCAST #7 rollback"

/* (a) A failed audit line stops the pass before any side effect after it; the next pass, with
 * the log writable again, performs the whole plan. */
static void test_failed_audit_stops_the_pass(void **unused)
{
	(void)unused;
	static const struct row rows[] = {
		{0, audit_fails, {STEP_PLAN},
		 {"save pending=#1,#2,#3", "intended Idle -> Promoting", "audit step"},
		 "AUDIT failed=1", -1},
		{1000, audit_works, {STEP_PLAN},
		 {"save pending=#1,#2,#3", "intended Promoting -> Promoting", "audit step",
		  "save pending=#2,#3", "weights gw-a=11 gw-b=100 gw-c=100", "route acme canary",
		  "save pending=#3", "broadcast #3 promote", "save pending="},
		 "SET_WEIGHTS ok=1, ROUTE_TENANT ok=1, AUDIT ok=1, BROADCAST ok=1", 0},
		/* A rollback's motion comes before its record: the motion goes, the record stops
		 * the pass, the quarantine line and the broadcast wait for the next pass. */
		{2000, audit_fails, {ROLLBACK_PLAN},
		 {"save pending=#4,#5,#6,#7", "intended Promoting -> Promoting",
		  "weights gw-a=100 gw-b=100 gw-c=100", "route acme stable", "save pending=#5,#6,#7",
		  "put gw-a gw-b", "audit rollback"},
		 "NODE_TARGET ok=2, SET_WEIGHTS ok=1, ROUTE_TENANT ok=1, AUDIT failed=1", -1},
	};
	struct world *w = world_new();
	RUN(w, rows);
	assert_int_equal(w->metrics.nrollbacks, 0);
	world_free(w);
}

/* (b) A node that does not answer backs off alone: the others' targets go out every pass, the
 * failed one waits between half and all of 1 s, then 2 s, and is tried again after that. */
static void test_failed_node_backs_off_alone(void **unused)
{
	(void)unused;
	static const struct row rows[] = {
		{0, gw_b_unreachable, {"NODE_TARGET gw-a 2", "NODE_TARGET gw-b 2", "NODE_TARGET gw-c 2"},
		 {"save pending=", "intended Idle -> Promoting", "put gw-a gw-b gw-c"},
		 "NODE_TARGET ok=2 failed=1", 0},
		{499, NULL, {"NODE_TARGET gw-a 2", "NODE_TARGET gw-b 2", "NODE_TARGET gw-c 2"},
		 {"save pending=", "intended Promoting -> Promoting", "put gw-a gw-c"},
		 "NODE_TARGET ok=2", 0},
		{1000, NULL, {"NODE_TARGET gw-a 2", "NODE_TARGET gw-b 2", "NODE_TARGET gw-c 2"},
		 {"save pending=", "intended Promoting -> Promoting", "put gw-a gw-b gw-c"},
		 "NODE_TARGET ok=2 failed=1", 0},
		{1999, NULL, {"NODE_TARGET gw-a 2", "NODE_TARGET gw-b 2", "NODE_TARGET gw-c 2"},
		 {"save pending=", "intended Promoting -> Promoting", "put gw-a gw-c"},
		 "NODE_TARGET ok=2", 0},
		/* A rollback while gw-b is backing off: everything else goes on. */
		{1999, NULL, {ROLLBACK_PLAN},
		 {"save pending=#4,#5,#6,#7", "intended Promoting -> Promoting",
		  "weights gw-a=100 gw-b=100 gw-c=100", "route acme stable", "save pending=#5,#6,#7",
		  "put gw-a", "audit rollback", "save pending=#6,#7", "audit quarantined",
		  "save pending=#7", "broadcast #7 rollback", "save pending="},
		 "NODE_TARGET ok=1, SET_WEIGHTS ok=1, ROUTE_TENANT ok=1, AUDIT ok=2, BROADCAST ok=1",
		 0},
		{3000, gw_b_answers, {"NODE_TARGET gw-a 3", "NODE_TARGET gw-b 3"},
		 {"save pending=", "intended Promoting -> Promoting", "put gw-a gw-b"},
		 "NODE_TARGET ok=2", 0},
		{3001, gw_b_unreachable, {"NODE_TARGET gw-a 3", "NODE_TARGET gw-b 3"},
		 {"save pending=", "intended Promoting -> Promoting", "put gw-a gw-b"},
		 "NODE_TARGET ok=1 failed=1", 0},
		/* A node that leaves the fleet is forgotten, its backoff with it. */
		{3002, gw_b_leaves, {"NODE_TARGET gw-a 3", "NODE_TARGET gw-b 3"},
		 {"save pending=", "intended Promoting -> Promoting", "put gw-a"},
		 "NODE_TARGET ok=1", 0},
		{3003, gw_b_returns, {"NODE_TARGET gw-a 3", "NODE_TARGET gw-b 3"},
		 {"save pending=", "intended Promoting -> Promoting", "put gw-a gw-b"},
		 "NODE_TARGET ok=1 failed=1", 0},
	};
	struct world *w = world_new();
	RUN(w, rows);
	assert_int_equal(w->metrics.nrollbacks, 1);
	assert_string_equal(w->metrics.rollbacks[0].reason, "doctor.red");
	world_free(w);
}

/* When no target can be sent at all, every node counts a failure but none backs off: the fault
 * is the controller's, and the next pass sends them all. */
static void test_batch_that_cannot_be_sent(void **unused)
{
	(void)unused;
	static const struct row rows[] = {
		{0, token_unreadable, {"NODE_TARGET gw-a 2", "NODE_TARGET gw-b 2"},
		 {"save pending=", "intended Idle -> Promoting", "put gw-a gw-b"},
		 "NODE_TARGET failed=2", 0},
		{1, token_readable, {"NODE_TARGET gw-a 2", "NODE_TARGET gw-b 2"},
		 {"save pending=", "intended Promoting -> Promoting", "put gw-a gw-b"},
		 "NODE_TARGET ok=2", 0},
	};
	struct world *w = world_new();
	RUN(w, rows);
	world_free(w);
}

/* (c) Weights count only once the load balancer has read them back: weights it reads back
 * differently fail the action. What depends on them (the analysis window, the next mirror
 * stage) the planner plans only once an observation reports the map, so within the pass only
 * the independent actions follow: the canary tenant's route still goes out, as it must in a
 * rollback when the load balancer misbehaves. */
static void test_weights_are_read_back(void **unused)
{
	(void)unused;
	static const struct row rows[] = {
		{0, weights_differ, {STEP_PLAN},
		 {"save pending=#1,#2,#3", "intended Idle -> Promoting", "audit step",
		  "save pending=#2,#3", "weights gw-a=11 gw-b=100 gw-c=100", "route acme canary",
		  "save pending=#3", "broadcast #3 promote", "save pending="},
		 "SET_WEIGHTS failed=1, ROUTE_TENANT ok=1, AUDIT ok=1, BROADCAST ok=1", 0},
		{1000, NULL, {"SET_WEIGHTS gw-a=11 gw-b=100 gw-c=100"},
		 {"save pending=", "intended Promoting -> Promoting",
		  "weights gw-a=11 gw-b=100 gw-c=100"},
		 "SET_WEIGHTS failed=1", 0},
		{2000, weights_agree, {"SET_WEIGHTS gw-a=11 gw-b=100 gw-c=100"},
		 {"save pending=", "intended Promoting -> Promoting",
		  "weights gw-a=11 gw-b=100 gw-c=100"},
		 "SET_WEIGHTS ok=1", 0},
	};
	struct world *w = world_new();
	RUN(w, rows);
	world_free(w);
}

/* (c2) Drain and ready are level-triggered, like weights: they go to the load balancer in the
 * planner's order (the weight 0 before the drain state), a failure is counted and logged and
 * left to the next pass, whose plan asks again, and nothing is saved as done; so is a route the
 * planner re-asserts from what it read (#0). */
static void test_drain_and_ready_are_level_triggered(void **unused)
{
	(void)unused;
	static const struct row rows[] = {
		{0, NULL, {"SET_WEIGHTS gw-a=0 gw-b=100 gw-c=100", "DRAIN_NODE gw-a"},
		 {"save pending=", "intended Idle -> Promoting", "weights gw-a=0 gw-b=100 gw-c=100",
		  "drain gw-a/gw-a-srv"},
		 "SET_WEIGHTS ok=1, DRAIN_NODE ok=1", 0},
		{1000, drain_refused, {"DRAIN_NODE gw-a", "ROUTE_TENANT #0 acme canary"},
		 {"save pending=", "intended Promoting -> Promoting", "drain gw-a/gw-a-srv",
		  "route acme canary"},
		 "ROUTE_TENANT ok=1, DRAIN_NODE failed=1", 0},
		{2000, drain_taken, {"SET_WEIGHTS gw-a=100 gw-b=100 gw-c=100", "READY_NODE gw-a"},
		 {"save pending=", "intended Promoting -> Promoting",
		  "weights gw-a=100 gw-b=100 gw-c=100", "ready gw-a/gw-a-srv"},
		 "SET_WEIGHTS ok=1, READY_NODE ok=1", 0},
	};
	struct world *w = world_new();
	RUN(w, rows);
	world_free(w);
}

/* (d) Intent before, done after: the plan's state is saved before the first side effect, and
 * each one-shot action is saved done right after it succeeds (targets and weights need no
 * record). An intent that cannot be saved does nothing and keeps the old state; a done that
 * cannot be saved stops the pass there. */
static void test_intent_before_done_after(void **unused)
{
	(void)unused;
	static const struct row rows[] = {
		{0, intent_save_fails, {"AUDIT #1 step", "NODE_TARGET gw-a 2", "BROADCAST #2 promote"},
		 {"save pending=#1,#2"},
		 "", -1},
		{1000, second_save_fails,
		 {"AUDIT #1 step", "NODE_TARGET gw-a 2", "BROADCAST #2 promote"},
		 {"save pending=#1,#2", "intended Idle -> Promoting", "audit step",
		  "save pending=#2"},
		 "AUDIT ok=1", -1},
		{2000, saves_work,
		 {"AUDIT #1 step", "NODE_TARGET gw-a 2", "NODE_TARGET gw-c 2",
		  "SET_WEIGHTS gw-a=11 gw-b=100 gw-c=100", "ROUTE_TENANT #3 acme canary",
		  "BROADCAST #2 promote"},
		 {"save pending=#1,#3,#2", "intended Promoting -> Promoting", "audit step",
		  "save pending=#3,#2", "put gw-a gw-c", "weights gw-a=11 gw-b=100 gw-c=100",
		  "route acme canary", "save pending=#2", "broadcast #2 promote", "save pending="},
		 "NODE_TARGET ok=2, SET_WEIGHTS ok=1, ROUTE_TENANT ok=1, AUDIT ok=1, BROADCAST ok=1",
		 0},
	};
	struct world *w = world_new();
	w->state.phase = ROLLOUT_IDLE;
	RUN(w, rows);
	assert_int_equal(w->state.phase, ROLLOUT_PROMOTING);
	assert_int_equal(w->state.npending, 0);
	world_free(w);
}

/* The intent that could not be saved leaves the loop's state as it was. */
static void test_unsaved_intent_keeps_the_state(void **unused)
{
	(void)unused;
	static const struct row rows[] = {
		{0, intent_save_fails, {"ROUTE_TENANT #1 acme canary"}, {"save pending=#1"}, "", -1},
	};
	struct world *w = world_new();
	w->state.phase = ROLLOUT_SHADOW;
	RUN(w, rows);
	assert_int_equal(w->state.phase, ROLLOUT_SHADOW);
	assert_int_equal(w->state.npending, 0);
	world_free(w);
}

/* A broadcast the notifier refuses stays pending and is tried again each pass; the fifth refusal
 * gives it up (saved as done), so a notifier outage never fills the pending list. */
static void test_refused_broadcast_is_given_up(void **unused)
{
	(void)unused;
	static const struct row rows[] = {
		{0, notifier_down, {"BROADCAST #9 hold"},
		 {"save pending=#9", "intended Idle -> Promoting", "broadcast #9 hold"},
		 "BROADCAST failed=1", 0},
		{1, NULL, {"BROADCAST #9 hold"},
		 {"save pending=#9", "intended Promoting -> Promoting", "broadcast #9 hold"},
		 "BROADCAST failed=1", 0},
		{2, NULL, {"BROADCAST #9 hold"},
		 {"save pending=#9", "intended Promoting -> Promoting", "broadcast #9 hold"},
		 "BROADCAST failed=1", 0},
		{3, NULL, {"BROADCAST #9 hold"},
		 {"save pending=#9", "intended Promoting -> Promoting", "broadcast #9 hold"},
		 "BROADCAST failed=1", 0},
		{4, NULL, {"BROADCAST #9 hold", "BROADCAST #10 promote"},
		 {"save pending=#9,#10", "intended Promoting -> Promoting", "broadcast #9 hold",
		  "save pending=#10", "broadcast #10 promote"},
		 "BROADCAST failed=2", 0},
		{5, notifier_up, {"BROADCAST #10 promote"},
		 {"save pending=#10", "intended Promoting -> Promoting", "broadcast #10 promote",
		  "save pending="},
		 "BROADCAST ok=1", 0},
	};
	struct world *w = world_new();
	RUN(w, rows);
	world_free(w);
}

/* SIGTERM: the action under way finishes, nothing after it starts, and the pass is not a
 * failure. */
static void test_stop_finishes_the_action_under_way(void **unused)
{
	(void)unused;
	static const struct row rows[] = {
		{0, stop_after_third_call, {STEP_PLAN},
		 {"save pending=#1,#2,#3", "intended Idle -> Promoting", "audit step",
		  "save pending=#2,#3"},
		 "AUDIT ok=1", 0},
	};
	struct world *w = world_new();
	RUN(w, rows);
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failed_audit_stops_the_pass),
		cmocka_unit_test(test_failed_node_backs_off_alone),
		cmocka_unit_test(test_batch_that_cannot_be_sent),
		cmocka_unit_test(test_weights_are_read_back),
		cmocka_unit_test(test_drain_and_ready_are_level_triggered),
		cmocka_unit_test(test_intent_before_done_after),
		cmocka_unit_test(test_unsaved_intent_keeps_the_state),
		cmocka_unit_test(test_refused_broadcast_is_given_up),
		cmocka_unit_test(test_stop_finishes_the_action_under_way),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
