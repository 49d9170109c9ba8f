/* status_tokens: /status's "tokens", how old the bearer tokens of the fleet are, for the person
 * who keeps runbook 002's 30-day rotation cadence:
 *   {"maxAgeSeconds": N, "agentToken": {"ageSeconds": N | null},
 *    "nodes": {"gw-a": {"maxAgeSeconds": N, "current": N | null, "next": ..., "prev": ...}},
 *    "tooOld": [{"node": "gw-a" | null, "reason": "token.age", "message": "..."}]}
 * agentToken is the controller's own token file (its age from its modification time, which a
 * rotation's switch rewrites), judged against the controller's tokens.maxAge; each node's slots
 * are what its /readyz reported (contracts/token_age.h), judged against the agent's limit. A
 * node that reports no ages (an older agent, unreachable) is left out. tooOld lists each current
 * token over its limit, node null for the controller's. */
#ifndef CLAWFLEET_STATUS_TOKENS_H
#define CLAWFLEET_STATUS_TOKENS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contracts/readyz.h"

struct json_object;

struct status_tokens {
	int64_t max_age_ms;	      /* the controller's tokens.maxAge */
	int64_t agent_token_age_ms;   /* -1: unknown */
	const struct node_observation *obs; /* borrowed */
	size_t n;
};

/* True when a current token is over its limit; then the names, the controller's as
 * "controller", ","-separated in order, into key (cut to size): what one broadcast is for. */
bool status_tokens_too_old(const struct status_tokens *t, char *key, size_t size);
/* The member; NULL t: null. */
struct json_object *status_tokens_json(const struct status_tokens *t);

#endif
