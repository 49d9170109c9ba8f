/* readyz_reader: the CPU one /readyz document costs the controller, read over the bytes
 * (readyz_parse, as the poll reads it) against the tree it used to build (jsonparse into json-c,
 * then readyz_read), alternated in rounds so both see the same machine. Prints microseconds per
 * document, medians of the rounds, and the ratio.
 *
 *   readyz_reader DOCUMENT NODE ROUNDS */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "contracts/readyz.h"

#define PER_ROUND 2000
#define MAX_ROUNDS 101

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* One round of PER_ROUND documents; microseconds per document, or -1 when one is refused. */
static double round_of(bool tree, struct jsonparse *p, const char *doc, size_t len,
		       const char *node)
{
	int64_t started = clock_mono_us();
	for (int i = 0; i < PER_ROUND; i++) {
		struct arena a = {0};
		struct node_observation o = {0};
		struct cf_err err;
		struct json_object *v = NULL;
		int rc = tree ? (jsonparse_next_object(p, doc, len, &v, &err) < 0
					 ? -1
					 : readyz_read(v, node, &a, &o, &err))
			      : readyz_parse(p, doc, len, node, &a, &o, &err);
		json_object_put(v);
		arena_free(&a);
		if (rc != 0) {
			fprintf(stderr, "readyz_reader: %s\n", err.msg);
			return -1;
		}
	}
	return (double)(clock_mono_us() - started) / PER_ROUND;
}

int main(int argc, char **argv)
{
	double stream[MAX_ROUNDS], tree[MAX_ROUNDS];
	struct jsonparse *p = NULL;
	struct cf_err err;
	char *doc = NULL;
	size_t len = 0;
	int rounds = argc == 4 ? atoi(argv[3]) : 0;

	if (rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: readyz_reader DOCUMENT NODE ROUNDS(1-%d)\n", MAX_ROUNDS);
		return 2;
	}
	if (fsutil_read_file(argv[1], 1 << 20, &doc, &len, &err) < 0 ||
	    jsonparse_new(&p, READYZ_DEPTH, &err) < 0) {
		fprintf(stderr, "readyz_reader: %s\n", err.msg);
		return 1;
	}
	for (int r = 0; r < rounds; r++) {
		stream[r] = round_of(false, p, doc, len, argv[2]);
		tree[r] = round_of(true, p, doc, len, argv[2]);
		if (stream[r] < 0 || tree[r] < 0)
			return 1;
	}
	qsort(stream, (size_t)rounds, sizeof(double), cmp_double);
	qsort(tree, (size_t)rounds, sizeof(double), cmp_double);
	double s = stream[rounds / 2], t = tree[rounds / 2];
	printf("%zu %.2f %.2f %.1f\n", len, s, t, t / s);
	jsonparse_free(p);
	free(doc);
	return 0;
}
