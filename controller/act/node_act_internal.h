/* node_act_internal: private to node_act.c and node_restore.c. One pass's working state, and
 * what the two files share: the pass's action list, the install step's configuration, and the
 * restore a refused restart runs (node_restore.c: it puts back what the pass changed that the
 * gateway reads, and keeps the directories a restore links back until the checks pass). */
#ifndef CLAWFLEET_NODE_ACT_INTERNAL_H
#define CLAWFLEET_NODE_ACT_INTERNAL_H
#include <stdbool.h>

#include "act/node_act.h"
#include "base/err.h"
#include "desired/desired.h"
#include "reconcilers/install.h"
#include "reconcilers/materialise.h"
#include "reconcilers/openclaw_config.h"
#include "reconcilers/skills.h"
#include "source/treefiles.h"

/* Everything one pass works with; paths are the root-relative ones of the configuration. */
struct pass {
	const struct node_env *env;
	const struct node_ops *ops;
	const struct target *t;
	struct node_actions *out;
	char *infra, *skills, *tenants, *state;
	bool pending; /* a restart-pending record is on disk */
	bool pending_before; /* ... and was when the pass began: a kickstart owed from before */
	bool changed; /* this pass changed something the gateway runs */
	const char *reason; /* a refusal's probe reason (node_actions.reason) */
	struct treefiles files;
	struct desired_state *ds;
	/* What the pass changed that the gateway reads, with what was there before, so a refused
	 * restart puts it back (restore): the install plan applied, the skills links before a
	 * flip, the tenants root and the plan applied to it, the configuration file written. */
	struct install_plan installed;
	struct skills_state skills_before;
	bool skills_flipped;
	struct materialise_state tenants_before;
	struct materialise_plan tenants_applied;
	struct openclaw_config_plan config;
};
/* Appends one line to the pass's actions. */
int pass_action(struct pass *p, struct cf_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* npm, openclaw and the artifact cache as the install step runs them, into ic; the strings are
 * malloc'd into paths[3], which pass_free_paths frees, also after a failure. */
int pass_install_config(const struct pass *p, struct install_config *ic, char *paths[3],
			struct cf_err *err);
void pass_free_paths(char *paths[3]);

/* Whether the materialise step leaves action a for after the checks before the restart: the
 * prune of a directory a tenant link named when the pass began, which a refusal links back. */
bool pass_prune_deferred(const struct pass *p, const struct materialise_action *a);
/* Runs the prunes the materialise step left, once the checks passed. */
int pass_prune_now(struct pass *p, struct cf_err *err);
/* A check refused the restart: the configuration file, the tenant links, the skills links and
 * the packages the pass changed go back, the newest first, so the node stays on what it ran, on
 * disk too. Every part is tried; err gets the first failure. Once all of it is back, a
 * restart-pending record this pass wrote goes too: no kickstart is owed. */
int pass_restore(struct pass *p, struct cf_err *err);

#endif
