/* fleet_poll: the controller's observation of its nodes. fleet_poll_poll asks every MacNode's
 * agent for its merged probe (GET <address>/readyz) concurrently through libcurl multi handles,
 * each request made by httpc (base/httpc.h: its policy, no proxy): at most max_parallel
 * transfers at once, one keep-alive connection per agent kept from one pass to the next (the
 * connection cache is sized to the fleet, and the file descriptor limit raised to fit it, with
 * an error naming what the fleet needs when the hard limit is lower), a connect and a total
 * timeout per request, bodies capped. A pass that finds its connections open costs no connect
 * and no name lookup, so it grows linearly with the fleet; it runs on a thread per core (at
 * most 8), each polling its own part of the fleet with its share of the transfers. The body is
 * read by the document's one reader, readyz_parse (contracts/readyz.h), whatever the status (a
 * red node answers 503 with the same document); a node that does not answer, answers garbage or
 * names another node is unreachable with a reason. The result owns every string the planner's
 * node_observation array points into. Not thread-safe: one poller per loop (its threads live
 * only inside fleet_poll_poll). httpc_global_init must have been called. */
#ifndef CLAWFLEET_FLEET_POLL_H
#define CLAWFLEET_FLEET_POLL_H
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "contracts/readyz.h"
#include "desired/desired.h"

#define FLEET_POLL_MAX_PARALLEL 1024 /* transfers in flight, whatever the configuration says */

struct fleet_poll_config {
	unsigned int max_parallel; /* 0: 64 (maxParallel in the controller's configuration) */
	int connect_timeout_ms;    /* 0: 1000 */
	int timeout_ms;            /* 0: 3000 */
	size_t max_body;           /* 0: 256 KiB */
};

struct fleet_poll;

/* How the request for a node went; what it observed is obs[i] of the result. */
struct fleet_poll_node {
	int http_status;             /* 0 when there was no answer */
	const char *error;           /* why the node is unreachable; NULL when reachable */
	int64_t latency_us;
};

struct fleet_poll_result {
	struct fleet_poll_node *nodes; /* in the desired state's node order */
	size_t nnodes;
	struct node_observation *obs;   /* what each node reported, in the same order */
	int64_t elapsed_us;
	void *priv;                     /* owned strings and parsed documents */
};

/* The threads a pass runs on, on this machine: one per core online, at most 8. */
unsigned int fleet_poll_threads(void);

int fleet_poll_new(struct fleet_poll **out, const struct fleet_poll_config *cfg,
		    struct cf_err *err);
void fleet_poll_free(struct fleet_poll *fp);
/* Polls every node of ds; fails only when out of memory (unreachable nodes are results). */
int fleet_poll_poll(struct fleet_poll *fp, const struct desired_state *ds,
		     struct fleet_poll_result **out, struct cf_err *err);
void fleet_poll_result_free(struct fleet_poll_result *r);

#endif
