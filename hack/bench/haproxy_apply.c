/* haproxy_apply: sets a weight map of COUNT servers through the haproxy load-balancer driver
 * (reconcilers/weights: set, then the read-back that compares every server) against a real
 * HAProxy, ROUNDS times; for tests/integration/haproxy_batch.sh and hack/bench/bench_haproxy.sh.
 * Round r gives server PREFIX<i> (i = 1..COUNT, four digits) the weight (i * SEED + r) % 257, so
 * every round changes every server.
 *
 *   haproxy_apply SOCKET|HOST:PORT BACKEND PREFIX COUNT SEED [ROUNDS]
 *
 * Prints the median time of an apply ("apply_ms=N"); exits 1 with the driver's error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/weightmap.h"
#include "reconcilers/weights/weights.h"

#define MAX_ROUNDS 1000

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct cf_err err = {{0}};
	struct weight_map want = {0};
	double took[MAX_ROUNDS];
	char name[WEIGHTS_SERVER_NAME_MAX + 1];
	long count = argc >= 6 ? atol(argv[4]) : 0, seed = argc >= 6 ? atol(argv[5]) : 0;
	int rounds = argc == 7 ? atoi(argv[6]) : 1;
	if ((argc != 6 && argc != 7) || count < 1 || count > WEIGHTS_MAX_SERVERS || rounds < 1 ||
	    rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: haproxy_apply SOCKET|HOST:PORT BACKEND PREFIX COUNT(1-%d) "
				"SEED [ROUNDS(1-%d)]\n", WEIGHTS_MAX_SERVERS, MAX_ROUNDS);
		return 2;
	}
	struct load_balancer lb = {.name = "bench", .driver = LB_HAPROXY,
				   .haproxy = {.backend = argv[2]}};
	if (strchr(argv[1], '/'))
		lb.haproxy.socket = argv[1];
	else
		lb.haproxy.address = argv[1];
	for (int r = 0; r < rounds; r++) {
		weight_map_clear(&want);
		for (long i = 1; i <= count; i++) {
			snprintf(name, sizeof(name), "%.40s%04ld", argv[3], i);
			if (weight_map_set(&want, name, (int)((i * seed + r) % 257), &err) < 0)
				goto fail;
		}
		double t0 = now_ms();
		if (weights_apply(&lb, &want, &err) < 0)
			goto fail;
		took[r] = now_ms() - t0;
	}
	qsort(took, (size_t)rounds, sizeof(took[0]), cmp_double);
	printf("servers=%ld rounds=%d apply_ms=%.3f\n", count, rounds, took[rounds / 2]);
	weight_map_free(&want);
	return 0;
fail:
	fprintf(stderr, "haproxy_apply: %s\n", err.msg);
	weight_map_free(&want);
	return 1;
}
