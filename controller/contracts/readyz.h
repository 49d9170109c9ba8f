/* readyz: the agent's merged probe, GET /readyz, as both sides of the wire name it. The agent
 * judges a node green, degraded or red (observe/node_probe.h, HTTP 200, 200 and 503); the
 * controller reads each node's document into a node_observation, the planner's view of a node. */
#ifndef CLAWFLEET_READYZ_H
#define CLAWFLEET_READYZ_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum probe_status { PROBE_GREEN, PROBE_DEGRADED, PROBE_RED };

const char *probe_status_name(enum probe_status s); /* "green", "degraded", "red" */

/* One node's merged probe (GET /readyz) as the controller read it; strings are borrowed and
 * NULL where the probe had none. */
struct node_observation {
	const char *name;
	bool reachable; /* false: no probe this pass; the rest is ignored */
	enum probe_status status;
	const char *const *reasons; /* reason codes as the probe lists them, red first */
	size_t nreasons;
	int64_t observed_generation;
	const char *tag;    /* the infra tag; the controller names it from the commit when the
			       probe has none (a node the controller never targeted) */
	const char *commit; /* the infra commit */
	const char *skills_current, *skills_next;
	const char *lock_sha256;
	bool version_match;
	const char *probe_sha256;
};

#endif
