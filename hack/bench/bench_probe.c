/* bench_probe: the controller's probe pass alone (fleet_poll, as the controller runs it) over
 * agents that are each their own host:port, as real Macs are: the MacNodes are mac-1 .. mac-N
 * at http://127.0.0.1:<port>, the ports read from PORT_FILEs in order (probe_server, a port per
 * node). The first pass opens every connection; the PASSES after it are timed and find them
 * open. Every node must answer: a pass over an unreachable fleet would time timeouts. The
 * allocator keeps the arenas the controller daemon keeps.
 *
 *   bench_probe PASSES MAX_PARALLEL PORT_FILE...
 *
 * Prints one line: nodes, the first pass, the median and slowest warm pass (ms). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/compat.h"
#include "base/httpc.h"
#include "desired/desired.h"
#include "observe/fleet_poll.h"

#define MAX_PASSES 1000
#define MAX_NODES 20000

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The fleet of the port files: node i is mac-<i+1> at the i-th port. */
static int fleet_of(char **files, int nfiles, struct desired_state *ds)
{
	ds->nodes = calloc(MAX_NODES, sizeof(*ds->nodes));
	if (!ds->nodes)
		return -1;
	for (int k = 0; k < nfiles; k++) {
		FILE *in = fopen(files[k], "r");
		unsigned int port;
		if (!in)
			return -1;
		while (ds->nnodes < MAX_NODES && fscanf(in, "%u", &port) == 1) {
			struct mac_node *n = &ds->nodes[ds->nnodes];
			if (asprintf(&n->name, "mac-%zu", ds->nnodes + 1) < 0 ||
			    asprintf(&n->address, "http://127.0.0.1:%u", port) < 0) {
				fclose(in);
				return -1;
			}
			ds->nnodes++;
		}
		fclose(in);
	}
	return ds->nnodes ? 0 : -1;
}

/* One pass; -1 when it failed or a node did not answer. */
static int pass(struct fleet_poll *fp, const struct desired_state *ds, double *ms,
		struct cf_err *err)
{
	struct fleet_poll_result *r = NULL;
	int64_t t0 = clock_mono_us();
	if (fleet_poll_poll(fp, ds, &r, err) < 0)
		return -1;
	*ms = (double)(clock_mono_us() - t0) / 1000.0;
	for (size_t i = 0; i < r->nnodes; i++)
		if (!r->obs[i].reachable) {
			cf_err_set(err, "%s: %s", r->obs[i].name, r->nodes[i].error);
			fleet_poll_result_free(r);
			return -1;
		}
	fleet_poll_result_free(r);
	return 0;
}

int main(int argc, char **argv)
{
	struct cf_err err = {{0}};
	struct desired_state ds = {0};
	struct fleet_poll *fp = NULL;
	double warm[MAX_PASSES], first = 0;
	int passes = argc >= 4 ? atoi(argv[1]) : 0, rc = 1;
	struct fleet_poll_config pc = {.max_parallel = argc >= 4 ? (unsigned)atoi(argv[2]) : 0};

	if (passes < 1 || passes > MAX_PASSES) {
		fprintf(stderr, "usage: bench_probe PASSES(1-%d) MAX_PARALLEL PORT_FILE...\n",
			MAX_PASSES);
		return 2;
	}
	/* The allocator as the controller daemon sets it (cmd_controller). */
	compat_malloc_arenas(1 + fleet_poll_threads());
	if (httpc_global_init(&err) < 0 || fleet_poll_new(&fp, &pc, &err) < 0)
		goto done;
	if (fleet_of(argv + 3, argc - 3, &ds) < 0) {
		cf_err_set(&err, "the port files name no nodes, or out of memory");
		goto done;
	}
	if (pass(fp, &ds, &first, &err) < 0)
		goto done;
	for (int i = 0; i < passes; i++)
		if (pass(fp, &ds, &warm[i], &err) < 0)
			goto done;
	qsort(warm, (size_t)passes, sizeof(double), cmp_double);
	printf("nodes=%zu first_ms=%.2f warm_ms=%.2f slowest_ms=%.2f\n", ds.nnodes, first,
	       warm[passes / 2], warm[passes - 1]);
	rc = 0;
done:
	if (rc)
		fprintf(stderr, "bench_probe: %s\n", err.msg);
	for (size_t i = 0; i < ds.nnodes; i++) {
		free(ds.nodes[i].name);
		free(ds.nodes[i].address);
	}
	free(ds.nodes);
	fleet_poll_free(fp);
	httpc_global_cleanup();
	return rc;
}
