/* bench_planner: the planner alone (plan/planner.h) over a fleet of NODES gateways built in
 * memory, so the figure is the planner's and nothing else's. The simulated fleet answers every
 * pass as agents and a load balancer would: a NODE_TARGET is applied at once, a SET_WEIGHTS is
 * read back, every node is green. Two kinds of pass are timed:
 *
 *   steady   the fleet runs what Git names (Succeeded): what every pass costs between rollouts;
 *   rollout  Git names a new build and the rollout runs from Shadow through the canary steps
 *            into Mirroring, the clock moving half an analysis window a pass: the passes that
 *            compute weight maps, targets and verdicts over the whole fleet.
 *
 *   bench_planner NODES PASSES
 *
 * Prints one line: nodes, the median and the slowest steady pass, the median and the slowest
 * rollout pass, the phase the rollout reached and the process's peak RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "plan/planner.h"
#include "plan/rollout.h"

#define MAX_PASSES 10000
#define MIN_MS (60 * 1000)
#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define LOCK_SHA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define PROBE_SHA "abababababababababababababababababababababababababababababababab"

struct sim_node {
	char name[32];
	char tag[ROLLOUT_TEXT_MAX];
	char commit[41];
	char current[ROLLOUT_TEXT_MAX], next[ROLLOUT_TEXT_MAX];
	int64_t generation;
};

struct fleet {
	struct desired_state d;
	struct promotion promo;
	struct mac_node *nodes;
	struct sim_node *sim;
	struct node_observation *obs;
	struct weight_map lb;
	const char *git_commit;
};

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static double slowest(const double *v, int n)
{
	double m = 0;
	for (int i = 0; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

/* NODES gateways in three zones at base weight 100, the first one the canary; every node on v1. */
static int fleet_init(struct fleet *f, size_t n, struct cf_err *err)
{
	static char zones[3][8] = {"zone-a", "zone-b", "zone-c"};
	f->nodes = calloc(n, sizeof(*f->nodes));
	f->sim = calloc(n, sizeof(*f->sim));
	f->obs = calloc(n, sizeof(*f->obs));
	if (!f->nodes || !f->sim || !f->obs)
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct sim_node *s = &f->sim[i];
		snprintf(s->name, sizeof(s->name), "mac-%05zu", i + 1);
		snprintf(s->tag, sizeof(s->tag), "v1");
		snprintf(s->commit, sizeof(s->commit), "%s", C1);
		snprintf(s->current, sizeof(s->current), "1.4.2");
		f->nodes[i] = (struct mac_node){.name = s->name, .address = "http://127.0.0.1:1",
						.role = NODE_GATEWAY, .zone = zones[i % 3],
						.canary = i == 0, .lb_server = s->name,
						.lb_weight = 100};
	}
	f->promo = (struct promotion){.name = "gateway", .tag = "v1", .skill_semver = "1.4.2",
				      .steps = {5, 20, 50}, .nsteps = 3,
				      .analysis_interval_ms = 5 * MIN_MS, .green_windows = 2,
				      .max_hold_ms = 30 * MIN_MS, .rollback_automatic = true};
	f->d = (struct desired_state){.revision = "main@sha1:" C2, .nodes = f->nodes, .nnodes = n,
				      .promotions = &f->promo, .npromotions = 1};
	snprintf(f->d.lock.file_sha256, sizeof(f->d.lock.file_sha256), "%s", LOCK_SHA);
	f->git_commit = C1;
	return weights_declared(&f->d, &f->lb, err);
}

static void fleet_free(struct fleet *f)
{
	free(f->nodes);
	free(f->sim);
	free(f->obs);
	weight_map_free(&f->lb);
}

static void observe(struct fleet *f, struct fleet_observation *fo)
{
	for (size_t i = 0; i < f->d.nnodes; i++) {
		const struct sim_node *s = &f->sim[i];
		f->obs[i] = (struct node_observation){
			.name = s->name, .reachable = true, .status = PROBE_GREEN,
			.observed_generation = s->generation, .tag = s->tag, .commit = s->commit,
			.skills_current = s->current, .skills_next = s->next[0] ? s->next : NULL,
			.lock_sha256 = LOCK_SHA, .version_match = true, .probe_sha256 = PROBE_SHA};
	}
	*fo = (struct fleet_observation){.nodes = f->obs, .nnodes = f->d.nnodes, .weights = f->lb,
					 .weights_ok = true, .promotion_commit = f->git_commit,
					 .actor = "bench"};
}

/* What the agents and the load balancer do with a plan; one-shot actions are done at once. The
 * nodes are named mac-NNNNN from 1, so a node's index is its number less one. */
static int apply(struct fleet *f, struct rollout_state *state, const struct plan_output *out,
		 struct cf_err *err)
{
	for (size_t i = 0; i < out->nactions; i++) {
		const struct rollout_action *a = &out->actions[i];
		if (a->kind == ACTION_NODE_TARGET) {
			struct sim_node *s = &f->sim[atoi(a->u.node_target.node + 4) - 1];
			const struct target *t = a->u.node_target.target;
			s->generation = t->generation;
			snprintf(s->tag, sizeof(s->tag), "%s", t->tag);
			snprintf(s->commit, sizeof(s->commit), "%s", t->commit);
			snprintf(t->skills_link == TARGET_LINK_NEXT ? s->next : s->current,
				 sizeof(s->next), "%s", t->skills_semver);
		} else if (a->kind == ACTION_SET_WEIGHTS) {
			for (size_t k = 0; k < a->u.weights.n; k++)
				if (weight_map_set(&f->lb, a->u.weights.v[k].server,
						   a->u.weights.v[k].weight, err) < 0)
					return -1;
		} else if (a->id) {
			rollout_pending_done(state, a->id);
		}
	}
	return 0;
}

/* One timed pass at now: plan, keep the next state, apply the actions. */
static int pass(struct fleet *f, struct rollout_state *state, int64_t now, double *us,
		struct cf_err *err)
{
	struct plan_output out = {0};
	struct fleet_observation fo;
	observe(f, &fo);
	double t0 = now_us();
	int rc = plan(&f->d, &fo, state, now, &out, err);
	*us = now_us() - t0;
	if (rc == 0)
		rc = rollout_state_copy(state, &out.next, err);
	if (rc == 0)
		rc = apply(f, state, &out, err);
	plan_output_free(&out);
	return rc;
}

int main(int argc, char **argv)
{
	struct cf_err err = {{0}};
	struct fleet f = {0};
	struct rollout_state state;
	double *steady = NULL, *rollout = NULL, us;
	int passes = 0, rc = 1;
	long nodes = argc == 3 ? atol(argv[1]) : 0;

	rollout_state_init(&state);
	if (argc != 3 || nodes < 1 || nodes > ROLLOUT_MAX_NODES || (passes = atoi(argv[2])) < 1 ||
	    passes > MAX_PASSES) {
		fprintf(stderr, "usage: bench_planner NODES(1-%d) PASSES(1-%d)\n",
			ROLLOUT_MAX_NODES, MAX_PASSES);
		return 2;
	}
	steady = calloc((size_t)passes, sizeof(*steady));
	rollout = calloc((size_t)passes, sizeof(*rollout));
	if (!steady || !rollout) {
		cf_err_set(&err, "out of memory");
		goto done;
	}
	if (fleet_init(&f, (size_t)nodes, &err) < 0)
		goto done;
	int64_t now = 1000 * MIN_MS;
	if (pass(&f, &state, now, &us, &err) < 0) /* adopts the fleet */
		goto done;
	for (int i = 0; i < passes; i++)
		if (pass(&f, &state, now += 1000, &steady[i], &err) < 0)
			goto done;
	f.promo.tag = "v2";
	f.promo.skill_semver = "1.5.0";
	f.git_commit = C2;
	for (int i = 0; i < passes; i++)
		if (pass(&f, &state, now += f.promo.analysis_interval_ms / 2, &rollout[i], &err) < 0)
			goto done;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("nodes=%ld steady_ms=%.3f steady_max_ms=%.3f rollout_ms=%.3f rollout_max_ms=%.3f "
	       "phase=%s max_rss_kib=%ld\n",
	       nodes, median(steady, passes) / 1000.0, slowest(steady, passes) / 1000.0,
	       median(rollout, passes) / 1000.0, slowest(rollout, passes) / 1000.0,
	       rollout_phase_name(state.phase), ru.ru_maxrss);
	rc = 0;
done:
	if (rc)
		fprintf(stderr, "bench_planner: %s\n", err.msg);
	rollout_state_free(&state);
	fleet_free(&f);
	free(steady);
	free(rollout);
	return rc;
}
