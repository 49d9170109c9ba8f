/* The weights of a canary step: how the fleet's load-balancer servers split into the canary and
 * the stable pool, and how each pool shares its percent (planner.h states the formula). */
#include "plan/planner.h"

#include <stdlib.h>
#include <string.h>

struct pool_server {
	const char *server;
	int base;
	bool canary;
	int64_t weight, rem;
	size_t pos; /* name order, for ties */
};

static int server_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pool_server *)a)->server,
		      ((const struct pool_server *)b)->server);
}

static int collect_servers(const struct desired_state *d, struct pool_server **out, size_t *n,
			   struct cf_err *err)
{
	struct pool_server *v = calloc(d->nnodes ? d->nnodes : 1, sizeof(*v));
	if (!v)
		return cf_err_set(err, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < d->nnodes; i++) {
		const struct mac_node *m = &d->nodes[i];
		if (!m->lb_server)
			continue;
		v[k].server = m->lb_server;
		v[k].base = m->lb_weight;
		v[k].canary = m->canary && m->role == NODE_GATEWAY;
		k++;
	}
	qsort(v, k, sizeof(*v), server_cmp);
	for (size_t i = 0; i < k; i++)
		v[i].pos = i;
	*out = v;
	*n = k;
	return 0;
}

static int rem_cmp(const void *a, const void *b)
{
	const struct pool_server *x = *(const struct pool_server *const *)a;
	const struct pool_server *y = *(const struct pool_server *const *)b;
	if (x->rem != y->rem)
		return x->rem > y->rem ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Shares total among the servers of one pool in proportion to their base weights: each gets the
 * floor of its quota, and what is left goes one by one to the largest remainders. */
static int apportion(struct pool_server *v, size_t n, bool canary, int64_t total,
		     int64_t base_sum, struct cf_err *err)
{
	struct pool_server **by_rem = malloc((n ? n : 1) * sizeof(*by_rem));
	if (!by_rem)
		return cf_err_set(err, "out of memory");
	size_t members = 0;
	int64_t given = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].canary != canary)
			continue;
		v[i].weight = total * v[i].base / base_sum;
		v[i].rem = total * v[i].base % base_sum;
		given += v[i].weight;
		by_rem[members++] = &v[i];
	}
	qsort(by_rem, members, sizeof(*by_rem), rem_cmp);
	for (size_t i = 0; given < total && i < members; i++, given++)
		by_rem[i]->weight++;
	free(by_rem);
	return 0;
}

static void keep_base(struct pool_server *v, size_t n, bool canary, int64_t m)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].canary == canary)
			v[i].weight = v[i].base * m;
}

static bool all_fit(const struct pool_server *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].weight > WEIGHT_MAX)
			return false;
	return true;
}

static int split(struct pool_server *v, size_t n, int percent, int64_t canary_sum,
		 int64_t stable_sum, struct cf_err *err)
{
	bool canary_kept = (int64_t)percent * stable_sum >= (int64_t)(100 - percent) * canary_sum;
	int64_t share_kept = canary_kept ? percent : 100 - percent;
	int64_t share_other = 100 - share_kept;
	int64_t kept_sum = canary_kept ? canary_sum : stable_sum;
	int64_t other_sum = canary_kept ? stable_sum : canary_sum;
	for (int64_t m = (share_kept + kept_sum - 1) / kept_sum; m >= 1; m--) {
		int64_t other_total = (2 * m * kept_sum * share_other + share_kept) / (2 * share_kept);
		keep_base(v, n, canary_kept, m);
		if (apportion(v, n, !canary_kept, other_total, other_sum, err) < 0)
			return -1;
		if (all_fit(v, n))
			return 0;
	}
	return cf_err_set(err, "no weights of 0..%d express %d %% for these base weights",
			  WEIGHT_MAX, percent);
}

static int fill_map(const struct pool_server *v, size_t n, struct weight_map *out,
		    struct cf_err *err)
{
	weight_map_clear(out);
	for (size_t i = 0; i < n; i++)
		if (weight_map_set(out, v[i].server, (int)v[i].weight, err) < 0)
			return -1;
	return 0;
}

int weights_for_percent(const struct desired_state *desired, int percent, struct weight_map *out,
			struct cf_err *err)
{
	struct pool_server *v = NULL;
	size_t n = 0;
	int rc = -1;
	if (percent < 0 || percent > 100)
		return cf_err_set(err, "percent %d is outside 0..100", percent);
	if (collect_servers(desired, &v, &n, err) < 0)
		return -1;
	int64_t canary_sum = 0, stable_sum = 0;
	for (size_t i = 0; i < n; i++)
		*(v[i].canary ? &canary_sum : &stable_sum) += v[i].base;
	if (percent > 0 && canary_sum == 0) {
		cf_err_set(err, "no canary gateway with a load-balancer weight above 0 to send %d %% "
				"of sessions to", percent);
		goto done;
	}
	if (stable_sum == 0 || percent == 100) {
		keep_base(v, n, true, 1);
		keep_base(v, n, false, 0);
	} else if (percent == 0) {
		keep_base(v, n, true, 0);
		keep_base(v, n, false, 1);
	} else if (split(v, n, percent, canary_sum, stable_sum, err) < 0) {
		goto done;
	}
	rc = fill_map(v, n, out, err);
done:
	free(v);
	return rc;
}

int weights_declared(const struct desired_state *desired, struct weight_map *out,
		     struct cf_err *err)
{
	struct pool_server *v = NULL;
	size_t n = 0;
	if (collect_servers(desired, &v, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		v[i].weight = v[i].base;
	int rc = fill_map(v, n, out, err);
	free(v);
	return rc;
}
