/* Parity across peers: two reachable Macs on the same build that report different parities
 * (contracts/parity_peers.h) hold the rollout where it is, in every step phase and in Held: no
 * weight moves up, no next node is mirrored. The hold is an ordinary one (Held, broadcast once
 * under its key, maxHold measured from its start, a hold past maxHold fails as hold.timeout);
 * its reason is parity.mismatch and its message names the Mac that differs, the peers it
 * differs from and the parts, so a person knows which file to look at. Once the peers agree the
 * Held phase resumes as after any hold. */
#include "plan/plan_internal.h"

#include <string.h>

#define PARITY_REASON "parity.mismatch"

int plan_parity_hold(struct pass *p, int *rc)
{
	struct rollout_state *s = p->s;
	char detail[ROLLOUT_MESSAGE_MAX];
	size_t i = parity_peers_differ(p->seen, p->order, p->d->nnodes, detail, sizeof(detail));
	if (i == p->d->nnodes)
		return 0;
	if (s->phase == ROLLOUT_HELD && strcmp(s->held_reason, PARITY_REASON) == 0 &&
	    plan_max_hold(p) > 0 && p->now - s->hold_started_ms >= plan_max_hold(p)) {
		*rc = plan_fail(p, "hold.timeout", i);
		return 1;
	}
	plan_copy_str(p->hold_detail, sizeof(p->hold_detail), detail);
	*rc = plan_hold(p, PARITY_REASON, i);
	return 1;
}
