/* node_parity: the agent's side of contracts/parity.h, what it reports in /readyz so that the
 * controller can tell two Macs on the same build apart when they should be identical. The parts
 * come from what the observation already read (the lock, `openclaw --version`, the skills links)
 * and from the tenants root, read here: every linked tenant directory's fragment files
 * (<kind>.d/NN-*.yaml), names and bytes, in name order. Bounded: at most
 * NODE_PARITY_MAX_FILES files of TREEFILES_MAX_FILE bytes each. A node whose lock or OpenClaw
 * version is unknown is red for it already and reports no parity (nothing to compare). */
#ifndef CLAWFLEET_NODE_PARITY_H
#define CLAWFLEET_NODE_PARITY_H
#include "base/err.h"
#include "contracts/parity.h"
#include "observe/node_probe.h"

#define NODE_PARITY_MAX_FILES 4096

/* Fills *out from in and the tenants root (NULL: no tenants); out->digest "" when in names no
 * lock or no OpenClaw version. -1 with err when the tenants root cannot be read. */
int node_parity_compute(const struct probe_inputs *in, const char *tenants_root,
			struct parity *out, struct cf_err *err);

#endif
