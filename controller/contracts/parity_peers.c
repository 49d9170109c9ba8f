#include "contracts/parity_peers.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* A red node is not compared: red already keeps it out of the rollout, and a Mac being changed
 * (its infra pulled, the new OpenClaw not yet installed) is red for the version it lacks. */
static const struct node_observation *at(const struct node_observation *const *nodes,
					 const size_t *order, size_t k)
{
	const struct node_observation *o = nodes[order ? order[k] : k];
	return o && o->reachable && o->status != PROBE_RED && o->parity.digest[0] && o->commit
		       ? o
		       : NULL;
}

static bool peers(const struct node_observation *a, const struct node_observation *b)
{
	return same(a->commit, b->commit) && (a->tag ? same(a->tag, b->tag) : !b->tag);
}

/* How many peers of o (o included) report o's parity. */
static size_t agreeing(const struct node_observation *const *nodes, const size_t *order,
		       size_t n, const struct node_observation *o)
{
	size_t count = 0;
	for (size_t k = 0; k < n; k++) {
		const struct node_observation *q = at(nodes, order, k);
		if (q && peers(o, q) && strcmp(q->parity.digest, o->parity.digest) == 0)
			count++;
	}
	return count;
}

/* The first node of o's build that reports the parity most of the build's nodes report. */
static const struct node_observation *reference(const struct node_observation *const *nodes,
						const size_t *order, size_t n,
						const struct node_observation *o)
{
	const struct node_observation *best = NULL;
	size_t best_count = 0;
	for (size_t k = 0; k < n; k++) {
		const struct node_observation *q = at(nodes, order, k);
		size_t count = q && peers(o, q) ? agreeing(nodes, order, n, q) : 0;
		if (count > best_count) {
			best = q;
			best_count = count;
		}
	}
	return best;
}

static void sentence(const struct node_observation *const *nodes, const size_t *order, size_t n,
		     const struct node_observation *o, const struct node_observation *ref,
		     char *msg, size_t size)
{
	char parts[64];
	size_t used = 0;
	int w = snprintf(msg, size, "%s differs from", o->name);
	used = w > 0 ? (size_t)w : 0;
	bool first = true;
	for (size_t k = 0; k < n && used < size; k++) {
		const struct node_observation *q = at(nodes, order, k);
		if (!q || !peers(o, q) || strcmp(q->parity.digest, ref->parity.digest) != 0)
			continue;
		w = snprintf(msg + used, size - used, "%s %s", first ? "" : ",", q->name);
		used += w > 0 ? (size_t)w : 0;
		first = false;
	}
	parity_differs(&o->parity, &ref->parity, parts, sizeof(parts));
	if (used < size)
		snprintf(msg + used, size - used, " in %s", parts);
}

size_t parity_peers_differ(const struct node_observation *const *nodes, const size_t *order,
			   size_t n, char *msg, size_t size)
{
	if (size)
		msg[0] = '\0';
	for (size_t k = 0; k < n; k++) {
		const struct node_observation *o = at(nodes, order, k);
		if (!o)
			continue;
		const struct node_observation *ref = reference(nodes, order, n, o);
		if (ref && strcmp(ref->parity.digest, o->parity.digest) != 0) {
			sentence(nodes, order, n, o, ref, msg, size);
			return order ? order[k] : k;
		}
	}
	return n;
}
