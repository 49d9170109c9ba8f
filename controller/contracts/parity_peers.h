/* parity_peers: the comparison of contracts/parity.h across the fleet, one rule for the planner
 * (plan/plan_parity.c, which holds a rollout on it) and /status (record/status_parity.c, which
 * shows it). Peers are the reachable nodes that report a parity and run the same build (infra
 * tag and commit) and are not red (a Mac being changed is red for the version it lacks). Within a build the parity most of them report is the reference (a tie goes to
 * the one first in the order given); every other node differs from the nodes that report it, in
 * the parts whose hashes differ. */
#ifndef CLAWFLEET_PARITY_PEERS_H
#define CLAWFLEET_PARITY_PEERS_H
#include <stddef.h>

#include "contracts/readyz.h"

/* nodes[order[k]] for k in 0..n (order NULL: 0..n), NULL entries skipped. Returns the index in
 * nodes of the first node that differs from its peers, with the sentence "gw-b differs from
 * gw-a, gw-c in tenants" in msg (cut to size); n when every build's peers agree. */
size_t parity_peers_differ(const struct node_observation *const *nodes, const size_t *order,
			   size_t n, char *msg, size_t size);

#endif
