/* node_ops: the world one node_act pass acts on, as a table of operations: the observe and apply
 * halves of the reconcilers it runs (pull, install, skills, materialise, the Mac's OpenClaw
 * configuration) and the undo of those the gateway reads, the read of the infra
 * tree its desired state is loaded from, the gateway's restart, and the restart-pending record it
 * keeps in the state directory. node_act itself only decides, with the reconcilers' pure plans,
 * what to call and in which order; swapping this table is how a test records exactly what a pass
 * did without a Mac. node_ops_reconcilers is the real world: each entry is the reconciler's own
 * function, and the record is <state>/restart-pending.json, written atomically and removed with
 * its directory synced. */
#ifndef CLAWFLEET_NODE_OPS_H
#define CLAWFLEET_NODE_OPS_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "act/prerestart.h"
#include "base/err.h"
#include "reconcilers/install.h"
#include "reconcilers/materialise.h"
#include "reconcilers/openclaw_config.h"
#include "reconcilers/pull.h"
#include "reconcilers/service.h"
#include "reconcilers/skills.h"
#include "source/treefiles.h"

/* Files under the state directory. */
#define NODE_RESTART_PENDING_FILE "restart-pending.json"
#define NODE_INSTALL_BOOKMARK_FILE "install-bookmark.json"
#define NODE_MIRROR_DIR "mirror"
#define NODE_ARTIFACT_CACHE_DIR "artifacts"

struct node_ops {
	/* pull: the infra tree's checkout, and a checkout of the target's tag. */
	int (*pull_observe)(const char *infra_path, const char *prefer_tag, struct pull_state *out,
			    struct cf_err *err);
	int (*pull_apply)(const struct pull_config *cfg, const struct pull_target *t,
			  struct cf_err *err);
	/* desired: the infra tree's files (desired_load over them is pure and runs as is). */
	int (*read_tree)(const char *infra_path, struct treefiles *out, struct cf_err *err);
	/* install: what npm has installed, and the lock's packages installed. */
	int (*install_observe)(const struct install_config *cfg, struct installed_state *out,
			       struct cf_err *err);
	int (*install_apply)(const struct install_config *cfg,
			     const struct installed_state *installed,
			     const struct install_plan *plan, const char *bookmark_path,
			     struct cf_err *err);
	/* The versions an applied plan replaced, installed again (a refused restart). */
	int (*install_revert)(const struct install_config *cfg, const struct install_plan *applied,
			      struct cf_err *err);
	/* skills: the links and packs of the skills root, and one plan's actions run. */
	int (*skills_observe)(const char *root, const char *semver, struct skills_state *out,
			      struct cf_err *err);
	int (*skills_apply)(const char *root, const struct skills_target *t,
			    const struct skills_plan *plan, struct cf_err *err);
	/* The links put back as observed before the pass flipped them (a refused restart). */
	int (*skills_restore)(const char *root, const struct skills_state *before,
			      struct cf_err *err);
	/* materialise: the tenants root made, read, and one plan's actions run. */
	int (*mkdir_p)(const char *path, mode_t mode, struct cf_err *err);
	int (*materialise_observe)(const char *root, struct materialise_state *out,
				   struct cf_err *err);
	int (*materialise_apply)(const char *root, const struct materialise_plan *p,
				 struct cf_err *err);
	/* openclaw config: what the Mac's configuration file must hold against what it holds,
	 * and the file written. */
	int (*openclaw_config_plan)(const struct desired_state *ds, const char *host,
				    struct openclaw_config_plan *plan, struct cf_err *err);
	int (*openclaw_config_apply)(const struct openclaw_config_plan *plan, struct cf_err *err);
	int (*openclaw_config_restore)(const struct openclaw_config_plan *plan, struct cf_err *err);
	/* kickstart: the checks a restart waits for (prerestart.h), then the gateway restarted
	 * through its service manager. */
	int (*prerestart_check)(const struct prerestart_config *cfg, const char **code,
				struct cf_err *err);
	int (*service_restart)(const struct service_config *cfg, struct cf_err *err);
	/* The restart-pending record in state_dir: whether one is there (any record owes a
	 * kickstart, whichever generation wrote it), written for generation before a pass's first
	 * change, removed after the restart. */
	int (*pending_read)(const char *state_dir, bool *present, struct cf_err *err);
	int (*pending_write)(const char *state_dir, int64_t generation, struct cf_err *err);
	int (*pending_clear)(const char *state_dir, struct cf_err *err);
};

extern const struct node_ops node_ops_reconcilers;

#endif
