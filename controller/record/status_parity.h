/* status_parity: /status's "parity", what the fleet's Macs report that must be identical on the
 * same build (contracts/parity_peers.h), for the person who reads why a rollout holds:
 *   {"agree": true} or {"agree": false, "reason": "parity.mismatch", "node": "gw-b",
 *    "message": "gw-b differs from gw-a, gw-c in tenants"}
 * It is shown whether a rollout runs or not: a difference found while idle is the one the next
 * rollout will hold on. */
#ifndef CLAWFLEET_STATUS_PARITY_H
#define CLAWFLEET_STATUS_PARITY_H
#include <stdbool.h>
#include <stddef.h>

#include "contracts/readyz.h"

struct json_object;

struct status_parity {
	bool differ;
	char node[64];
	char message[512];
};

/* Compares the nodes' parities (obs[0..n), in the order polled). Fails only when out of
 * memory. */
int status_parity_check(const struct node_observation *obs, size_t n, struct status_parity *out);
/* The member; NULL p: null (no fleet observed yet). */
struct json_object *status_parity_json(const struct status_parity *p);

#endif
