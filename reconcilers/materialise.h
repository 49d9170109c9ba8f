/* materialise: the merged tenant fragments of a desired state, on the node's disk. Each tenant
 * gets a content-addressed directory <root>/.<tenant>-<sha12> holding <kind>.json (the canonical
 * merge of each kind that has fragments), the fragment files byte for byte as Git holds them
 * (<kind>.d/NN-*.yaml), and always skills.json: the skills.d merge with "channel" and "skillsDir"
 * set over it (canary tenants load <skills>/next, stable ones <skills>/current). sha12 starts a
 * sha256 over the directory's files, so the pure plan compares it with what the link
 * <root>/<tenant> names and an unchanged tenant plans nothing. A directory is built under a
 * temporary name and renamed into place whole, the link flips atomically (skills_flip_link), then
 * the tenant's older directories go. Tenants no longer desired lose their link, then their
 * directories. Removal renames a directory to a temporary name first, so a crash never leaves a
 * partial directory under a content address; temporary entries (".*.tmp-*") in the root were
 * left by an interrupted run and are removed. One agent owns a root. */
#ifndef CLAWFLEET_MATERIALISE_H
#define CLAWFLEET_MATERIALISE_H
#include <stddef.h>

#include "base/err.h"
#include "desired/desired.h"
#include "source/treefiles.h"

/* Entries materialise_observe reads in the root before giving up. */
#define MATERIALISE_MAX_ENTRIES 4096

/* A channel the controller's target sets for a tenant, overriding its TenantSlice. */
struct materialise_channel {
	const char *tenant;
	enum tenant_channel channel;
};

struct materialise_input {
	const struct desired_state *ds;
	const struct treefiles *files; /* the tree ds was loaded from: the fragments' bytes */
	const struct materialise_channel *channels; /* may be NULL */
	size_t nchannels;
	const char *skills_dir; /* the skills root as the gateway reads it */
};

enum materialise_entry_kind {
	MAT_ENTRY_LINK,  /* <tenant>: a symlink */
	MAT_ENTRY_DIR,   /* .<tenant>-<sha12>: a directory */
	MAT_ENTRY_STRAY, /* .<anything>.tmp-<x>: left by an interrupted run */
	MAT_ENTRY_OTHER, /* <tenant>: a file or directory where a link belongs */
};

struct materialise_entry {
	enum materialise_entry_kind kind;
	char *name;
	char *target; /* MAT_ENTRY_LINK only */
};

struct materialise_state {
	struct materialise_entry *v;
	size_t n;
};

enum materialise_action_kind {
	MAT_CLEAN,  /* remove stray entry `name` */
	MAT_WRITE,  /* build directory `dir` for tenant `name` unless present; flip the link */
	MAT_UNLINK, /* remove the link of tenant `name`, no longer desired */
	MAT_PRUNE,  /* remove directory `name`, no longer linked */
};

struct materialise_file {
	char *path; /* in the tenant's directory: "gateway.json", "gateway.d/10-base.yaml" */
	char *data;
	size_t len;
};

struct materialise_action {
	enum materialise_action_kind kind;
	char *name;
	char *dir;                      /* MAT_WRITE: ".<tenant>-<sha12>" */
	struct materialise_file *files; /* MAT_WRITE, sorted by path */
	size_t nfiles;
};

struct materialise_plan {
	struct materialise_action *v;
	size_t n;
};

const char *materialise_action_name(enum materialise_action_kind k); /* "clean", "write", ... */

/* Lists the entries of root that are clawfleet's; a missing root is an empty state. */
int materialise_observe(const char *root, struct materialise_state *out, struct cf_err *err);
void materialise_state_free(struct materialise_state *st);
/* Pure: the ordered actions (cleans, writes, unlinks, prunes) that bring state to in. */
int materialise_plan(const struct materialise_input *in, const struct materialise_state *st,
		     struct materialise_plan *out, struct cf_err *err);
void materialise_plan_free(struct materialise_plan *p);
/* Runs the plan against root; each action is idempotent. */
int materialise_apply(const char *root, const struct materialise_plan *p, struct cf_err *err);

#endif
