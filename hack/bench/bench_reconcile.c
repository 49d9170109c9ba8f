/* bench_reconcile: the controller's reconcile pass over a large fleet, in process: observe (the
 * fleet probe asks every MacNode's /readyz, concurrently over kept connections) and plan (the
 * real planner, on the state the first pass reached). REPO is a desired-state directory whose
 * MacNodes point at probe_server; COMMIT is what the Promotion's tag resolves to, as Git would
 * say. The first pass starts from Idle and adopts the fleet; the PASSES after it are timed.
 *
 *   bench_reconcile REPO COMMIT PASSES
 *
 * Prints one line: nodes, the median pass and its observe and plan parts, the first pass (new
 * connections), the phase reached and the process's peak RSS. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "desired/desired.h"
#include "desired/schema.h"
#include "observe/fleet_poll.h"
#include "plan/planner.h"
#include "plan/rollout.h"
#include "source/treefiles.h"

#define MAX_PASSES 10000

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

static int load(const char *repo, struct desired_state **ds, struct cf_err *err)
{
	struct treefiles files = {0};
	struct schema_set *schemas = NULL;
	struct diag_list diags = {0};
	int rc = -1;

	if (treefiles_from_dir(repo, &files, err) < 0 ||
	    schema_set_load_embedded(&schemas, err) < 0)
		goto done;
	if (desired_load(&files, schemas, NULL, ds, &diags) < 0) {
		diag_list_print(&diags, stderr);
		cf_err_set(err, "%s: the desired state does not load", repo);
		goto done;
	}
	rc = 0;
done:
	diag_list_free(&diags);
	schema_set_free(schemas);
	treefiles_free(&files);
	return rc;
}

/* One reconcile pass: observe, then plan from state. Fails when a node did not answer, since
 * a pass over an unreachable fleet would measure timeouts, not the controller. */
static int reconcile(struct fleet_poll *fp, const struct desired_state *ds,
		     struct fleet_observation *obs, const struct rollout_state *state,
		     struct plan_output *out, double *observe_us, double *plan_us,
		     struct cf_err *err)
{
	struct fleet_poll_result *r = NULL;
	double t0 = now_us();
	if (fleet_poll_poll(fp, ds, &r, err) < 0)
		return -1;
	double t1 = now_us();
	for (size_t i = 0; i < r->nnodes; i++) {
		if (!r->obs[i].reachable) {
			cf_err_set(err, "%s: %s", r->obs[i].name, r->nodes[i].error);
			fleet_poll_result_free(r);
			return -1;
		}
	}
	obs->nodes = r->obs;
	obs->nnodes = r->nnodes;
	int rc = plan(ds, obs, state, (int64_t)time(NULL) * 1000, out, err);
	double t2 = now_us();
	fleet_poll_result_free(r);
	*observe_us = t1 - t0;
	*plan_us = t2 - t1;
	return rc;
}

int main(int argc, char **argv)
{
	struct cf_err err = {{0}};
	struct desired_state *ds = NULL;
	struct fleet_poll *fp = NULL;
	struct rollout_state state;
	struct plan_output out = {0};
	struct fleet_observation obs = {0};
	double *pass = NULL, *observe = NULL, *planned = NULL, first_us = 0;
	int passes = 0, rc = 1;

	rollout_state_init(&state);
	if (argc != 4 || (passes = atoi(argv[3])) < 1 || passes > MAX_PASSES) {
		fprintf(stderr, "usage: bench_reconcile REPO COMMIT PASSES(1-%d)\n", MAX_PASSES);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pass = calloc((size_t)passes, sizeof(*pass));
	observe = calloc((size_t)passes, sizeof(*observe));
	planned = calloc((size_t)passes, sizeof(*planned));
	if (!pass || !observe || !planned) {
		cf_err_set(&err, "out of memory");
		goto done;
	}
	if (load(argv[1], &ds, &err) < 0 || fleet_poll_new(&fp, NULL, &err) < 0 ||
	    weights_declared(ds, &obs.weights, &err) < 0)
		goto done;
	obs.weights_ok = true;
	obs.promotion_commit = argv[2];
	obs.actor = "bench";

	double o_us, p_us;
	if (reconcile(fp, ds, &obs, &state, &out, &o_us, &p_us, &err) < 0)
		goto done;
	first_us = o_us + p_us;
	if (rollout_state_copy(&state, &out.next, &err) < 0)
		goto done;
	for (int i = 0; i < passes; i++) {
		plan_output_free(&out);
		if (reconcile(fp, ds, &obs, &state, &out, &observe[i], &planned[i], &err) < 0)
			goto done;
		pass[i] = observe[i] + planned[i];
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("nodes=%zu pass_ms=%.2f observe_ms=%.2f plan_ms=%.2f first_pass_ms=%.2f "
	       "phase=%s actions=%zu max_rss_kib=%ld\n",
	       ds->nnodes, median(pass, passes) / 1000.0, median(observe, passes) / 1000.0,
	       median(planned, passes) / 1000.0, first_us / 1000.0,
	       rollout_phase_name(out.next.phase), out.nactions, ru.ru_maxrss);
	rc = 0;
done:
	if (rc)
		fprintf(stderr, "bench_reconcile: %s\n", err.msg);
	plan_output_free(&out);
	rollout_state_free(&state);
	weight_map_free(&obs.weights);
	fleet_poll_free(fp);
	desired_free(ds);
	free(pass);
	free(observe);
	free(planned);
	curl_global_cleanup();
	return rc;
}
