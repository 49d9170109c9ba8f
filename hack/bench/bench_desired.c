/* bench_desired: in-process cost of a desired-state refresh through the same cache the
 * controller uses: a revision that changed (resolve, read the tree, parse, validate) and one that
 * did not (resolve only). Usage: bench_desired REPO REF ITERATIONS. Prints medians. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "desired/desired_cache.h"
#include "desired/schema.h"
#include "source/source.h"

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

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_desired REPO REF ITERATIONS\n");
		return 2;
	}
	int iters = atoi(argv[3]);
	if (iters < 1 || iters > 100000)
		return 2;
	struct cf_err err;
	struct schema_set *schemas = NULL;
	struct source *src = NULL;
	struct source_spec spec = {.location = argv[1], .ref = argv[2], .force_git = true};
	if (schema_set_load_embedded(&schemas, &err) < 0 || source_open(&src, &spec, &err) < 0) {
		fprintf(stderr, "bench_desired: %s\n", err.msg);
		return 1;
	}
	double *changed = calloc((size_t)iters, sizeof(double));
	double *unchanged = calloc((size_t)iters, sizeof(double));
	size_t nodes = 0;
	for (int i = 0; i < iters; i++) {
		struct desired_cache cache = {0};
		struct diag_list diags = {0};
		double t0 = now_us();
		int rc = desired_cache_refresh(&cache, src, schemas, &diags, &err);
		double t1 = now_us();
		int rc2 = desired_cache_refresh(&cache, src, schemas, &diags, &err);
		double t2 = now_us();
		if (rc != DESIRED_CHANGED || rc2 != DESIRED_UNCHANGED) {
			fprintf(stderr, "bench_desired: refresh failed: %s\n", err.msg);
			diag_list_print(&diags, stderr);
			return 1;
		}
		nodes = cache.ds->nnodes;
		changed[i] = t1 - t0;
		unchanged[i] = t2 - t1;
		desired_cache_clear(&cache);
		diag_list_free(&diags);
	}
	printf("nodes=%zu changed_revision_ms=%.3f unchanged_revision_ms=%.4f\n", nodes,
	       median(changed, iters) / 1000.0, median(unchanged, iters) / 1000.0);
	free(changed);
	free(unchanged);
	source_free(src);
	schema_set_free(schemas);
	gitsource_global_shutdown();
	return 0;
}
