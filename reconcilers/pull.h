/* pull: brings the infra work tree (the GitOps repository, checked out) to the tag the controller
 * names, with libgit2. The remote is synced into a bare mirror under the agent's state directory
 * by gitsource_sync (tags only; its fetch runs under a deadline and a memory limit); the work
 * tree is cloned from, then fetched from, that local mirror, tags only. Submodules are never
 * fetched: a submodule entry is not checked out at all (no directory) and does not count as
 * dirty. A pull refuses, changing nothing, when the work tree is dirty (modified or untracked
 * files, as `git status` sees them), when the tag does not lead to the commit the controller
 * named, and when pull_tree_check refuses the commit's tree (a path read as ".git", a link into
 * Git's files or out of the tree, names differing only in case, an oversized file). The checkout is
 * detached at the commit and removes files the commit does not hold. A marker in the
 * repository's .git directory records a pull in progress: a tree found with it was cut short
 * by a crash, is unfinished rather than dirty, and the next pull forces it to the target. */
#ifndef CLAWFLEET_PULL_H
#define CLAWFLEET_PULL_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define PULL_TAG_MAX 256
#define PULL_DIRTY_MAX 512

struct pull_config {
	const char *remote;     /* URL or path of the GitOps repository */
	const char *mirror_dir; /* the bare mirror, under the agent's state directory */
	const char *infra_path; /* the work tree */
	int timeout_ms;         /* for the remote fetch; 0: gitsource's default */
};

struct pull_target {
	const char *tag;
	const char *commit; /* hex, 7 to 40 digits: what the tag must lead to */
};

struct pull_state {
	bool repo;          /* infra_path holds a repository */
	char head[41];      /* the checked-out commit; "" when none */
	char tag[PULL_TAG_MAX]; /* a tag leading to head ("" when none), the preferred one if so */
	bool dirty;
	char dirty_paths[PULL_DIRTY_MAX]; /* the first few, ", "-separated */
	bool interrupted;   /* a checkout was under way when the agent stopped */
};

enum pull_action_kind { PULL_CHECKOUT };

#define PULL_PLAN_MAX 1
struct pull_plan {
	enum pull_action_kind v[PULL_PLAN_MAX];
	size_t n;
};

/* Reads infra_path; prefer_tag (may be NULL) is reported when it leads to HEAD, else the
 * bytewise first tag that does. A path that holds no repository is a state, not an error. */
int pull_observe(const char *infra_path, const char *prefer_tag, struct pull_state *out,
		 struct cf_err *err);
/* Pure: nothing to do when HEAD is the target commit and the tree is clean and finished. */
void pull_plan(const struct pull_state *state, const struct pull_target *t,
	       struct pull_plan *out);
/* Syncs the mirror, fetches into (or clones) the work tree and checks out the target, after
 * the refusals above. Idempotent; a crash part way is finished by the next call. */
int pull_apply(const struct pull_config *cfg, const struct pull_target *t, struct cf_err *err);

#endif
