/* fleet_probe: the controller's observation of its nodes. fleet_probe_poll asks every MacNode's
 * agent for its merged probe (GET <address>/readyz) concurrently through one libcurl multi
 * handle: at most max_parallel transfers at once, keep-alive connections reused from one pass
 * to the next, a connect and a total timeout per request, bodies capped. The JSON body is read
 * whatever the status (a red node answers 503 with the same document); a node that does not
 * answer, answers garbage or names another node is unreachable with a reason. The result owns
 * every string the planner's node_observation array points into. Not thread-safe: one poller
 * per loop. curl_global_init must have been called. */
#ifndef CLAWFLEET_FLEET_PROBE_H
#define CLAWFLEET_FLEET_PROBE_H
#include <stddef.h>
#include <stdint.h>

#include "desired.h"
#include "err.h"
#include "planner.h"

struct fleet_probe_config {
	unsigned int max_parallel; /* 0: 64 */
	int connect_timeout_ms;    /* 0: 1000 */
	int timeout_ms;            /* 0: 3000 */
	size_t max_body;           /* 0: 256 KiB */
};

struct fleet_probe;

struct fleet_probe_node {
	struct node_observation obs; /* what the planner reads */
	int http_status;             /* 0 when there was no answer */
	const char *error;           /* why the node is unreachable; NULL when reachable */
	int64_t latency_us;
};

struct fleet_probe_result {
	struct fleet_probe_node *nodes; /* in the desired state's node order */
	size_t nnodes;
	struct node_observation *obs;   /* the same observations, contiguous, for the planner */
	int64_t elapsed_us;
	void *priv;                     /* owned strings and parsed documents */
};

int fleet_probe_new(struct fleet_probe **out, const struct fleet_probe_config *cfg,
		    struct cf_err *err);
void fleet_probe_free(struct fleet_probe *fp);
/* Polls every node of ds; fails only when out of memory (unreachable nodes are results). */
int fleet_probe_poll(struct fleet_probe *fp, const struct desired_state *ds,
		     struct fleet_probe_result **out, struct cf_err *err);
void fleet_probe_result_free(struct fleet_probe_result *r);

#endif
