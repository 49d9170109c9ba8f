/* parity: what must be identical on every Mac that runs the same build, as the agent's /readyz
 * reports it (observe/node_parity.h writes it) and the controller compares it across peers
 * (plan/plan_parity.c holds a rollout on a difference, record/status_parity.c shows it).
 * probeSha256 mixes in values that legitimately differ between Macs (queue depth, digest
 * counts), so peers never agree on it; parity leaves them out. The document's members:
 *   "parity": 64 hex, "parityParts": {"lock": 64 hex, "openclaw": ..., "skills": ...,
 *   "tenants": ...}
 * Each part is the sha256 of what it names: lock, the sha256 of openclaw.lock's bytes;
 * openclaw, the version (and commit) `openclaw --version` printed; skills, the semvers the
 * skills links name and the lock's skills.sha256 (the pack digest the node adopted); tenants,
 * the materialised tenant fragment set (every <kind>.d/NN-*.yaml file of every linked tenant
 * directory, name and bytes). "parity" is the sha256 of the canonical JSON (canon.h) of the
 * parts object, so anyone can recompute it from the body. Per-Mac configuration
 * (openclaw/nodes/<host>.d) is not a part: it differs by design.
 *
 * The reading is strict: both members may be absent (an older agent: no parity, nothing to
 * compare); present, "parity" is 64 lowercase hex digits and every part named above is too.
 * Parts it does not know are not looked at. */
#ifndef CLAWFLEET_PARITY_H
#define CLAWFLEET_PARITY_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct json_object;

enum parity_part { PARITY_LOCK, PARITY_OPENCLAW, PARITY_SKILLS, PARITY_TENANTS, PARITY_PARTS };

/* A node's parity; digest "" when it reports none. */
struct parity {
	char digest[65];
	char parts[PARITY_PARTS][65];
};

const char *parity_part_name(enum parity_part part); /* "lock", "openclaw", ... */

/* Sets p->digest from p->parts. Fails only when out of memory. */
int parity_seal(struct parity *p, struct cf_err *err);
/* Adds "parity" and "parityParts" of p to doc (nothing when p->digest is ""). */
int parity_render(struct json_object *doc, const struct parity *p, struct cf_err *err);
/* Reads doc's members into *out (digest "" when absent); -1 with err naming the member. */
int parity_read(struct json_object *doc, struct parity *out, struct cf_err *err);

/* True when both report a parity and the digests differ; the names of the differing parts,
 * ", "-separated in part order, go into parts (cut to size). */
bool parity_differs(const struct parity *a, const struct parity *b, char *parts, size_t size);

#endif
