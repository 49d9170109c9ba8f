/* node_act: one pass that makes this Mac run the target the controller named, in order:
 * pull the tag, load the infra tree's desired state, install the lock's packages, install and
 * link the skill pack, materialise the tenants, kickstart the gateway. Each step observes, plans
 * (nothing when the world already matches) and applies, so a pass over a node that matches does
 * nothing and returns an empty action list. A kickstart happens only when the pass changed
 * something the gateway runs, when the target asks for a restart in a generation not yet
 * applied, or when <state>/restart-pending.json is present, and only once the checks before a
 * restart pass (prerestart.h). A refused check leaves the node on what it ran, on disk too: the
 * pass puts back, the newest first, the OpenClaw configuration file it wrote, the tenant links
 * it flipped (the directories they named are pruned only once the checks pass), the skills
 * links and the package versions it replaced (OpenClaw from the artifact cache), and removes
 * the record it wrote; a record from an earlier pass stays. The infra checkout stays at the new
 * tag (the gateway does not read it), new packs and directories stay unlinked, and a package
 * installed where none was stays (nothing ran it). The next pass tries the target again, so a
 * fixed configuration needs no new target. A rollback target restarts even when the checks
 * fail (target.h). The record is written atomically before a
 * pass's first such change and removed after the restart, so a pass cut short (crash, failure,
 * stop) still owes its kickstart to the next one. Every action performed is listed, also when a
 * later step fails, and a failed or stopped pass leaves the applied generation where it was
 * (node_act_generation). Everything a pass reads and changes goes through env->ops (node_ops.h),
 * the reconcilers themselves unless a test records the calls. One pass at a time per state
 * directory. */
#ifndef CLAWFLEET_NODE_ACT_H
#define CLAWFLEET_NODE_ACT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "act/node_ops.h"
#include "base/err.h"
#include "contracts/target.h"
#include "desired/agentcfg.h"
#include "desired/schema.h"
#include "observe/node_observe.h"

/* node_act's status when env->proceed stopped the pass before a step. */
#define NODE_ACT_STOPPED (-2)

enum node_step {
	NODE_STEP_PULL,
	NODE_STEP_DESIRED,
	NODE_STEP_INSTALL,
	NODE_STEP_SKILLS,
	NODE_STEP_MATERIALISE,
	NODE_STEP_KICKSTART,
	NODE_STEPS
};

struct node_env {
	const struct agent_config *cfg;
	const struct schema_set *schemas;
	struct node_observer *node_observer; /* told before a kickstart; may be NULL */
	/* Asked before each step; false ends the pass there with NODE_ACT_STOPPED (the agent
	 * stopping on SIGTERM between steps). May be NULL. */
	bool (*proceed)(void *ctx, enum node_step next);
	void *ctx;
	const struct node_ops *ops; /* NULL: node_ops_reconcilers */
};

/* What a pass did, in order: "pull v2026.7.1@3f9c2ab", "install openclaw@2026.7.1",
 * "skills install 1.4.2" (or "skills adopt 1.4.2 (sha256 <hex>)" for a pack put in place by
 * other means), "skills link next -> 1.4.2", "materialise acme", "kickstart". */
struct node_actions {
	char **v;
	size_t n;
	/* Static: the probe reason a failed pass raises because it refused to go on
	 * ("install.digest_mismatch", "packages.duplicate", "packages.peer", "config.invalid",
	 * a doctor code); NULL when it succeeded or failed otherwise. */
	const char *reason;
};

/* applied_generation is the last generation a pass completed (0: none); it decides whether
 * t->restart is still owed. 0 when every step succeeded, NODE_ACT_STOPPED, or -1 with err
 * naming the step; out is filled in every case and freed with node_actions_free. */
int node_act(const struct node_env *env, const struct target *t, int64_t applied_generation,
		   struct node_actions *out, struct cf_err *err);
void node_actions_free(struct node_actions *a);
/* The generation the node has applied after a pass that returned rc: the target's only when every
 * step succeeded, else applied_generation, so observedGeneration never names a target the node
 * does not fully run. */
int64_t node_act_generation(int rc, const struct target *t, int64_t applied_generation);
const char *node_step_name(enum node_step s); /* "pull", "desired", "install", ... */

#endif
