/* rollout_store: where the rollout state (plan/rollout.h) lives between passes. The controller
 * loads it at start, saves the planner's next state before it acts and saves again after each
 * one-shot action it reports done; the planner never sees the store. It is a table of functions
 * (the file store now, etcd later for several replicas); the file store writes through
 * fsutil_write_atomic, so a crash leaves the old state or the new.
 *
 * Beside the state the store keeps the audit anchor (contracts/audit_line.h): where
 * promotions.jsonl ended when the controller last appended to it. The writer saves the anchor
 * before the state that reports the line done, so after a crash anywhere the log ends at the
 * anchor or one line later, that line being the audit action the saved state still has pending
 * (record/audit.h, audit_open_anchored). A failed save leaves errno saying why (ENOSPC, EROFS,
 * EACCES, ...). */
#ifndef CLAWFLEET_ROLLOUT_STORE_H
#define CLAWFLEET_ROLLOUT_STORE_H
#include <stdbool.h>

#include "base/err.h"
#include "contracts/audit_line.h"
#include "plan/rollout.h"

#define ROLLOUT_STORE_ANCHOR_FILE "audit-anchor.json"

struct rollout_store_ops {
	const char *name;
	/* *found is false (and *out an empty state) when nothing was saved yet. */
	int (*load)(void *ctx, struct rollout_state *out, bool *found, struct cf_err *err);
	int (*save)(void *ctx, const struct rollout_state *s, struct cf_err *err);
	/* *found is false (and *out the empty log's anchor) when none was saved yet. */
	int (*load_anchor)(void *ctx, struct audit_anchor *out, bool *found, struct cf_err *err);
	int (*save_anchor)(void *ctx, const struct audit_anchor *a, struct cf_err *err);
	void (*close)(void *ctx);
};

struct rollout_store {
	const struct rollout_store_ops *ops;
	void *ctx;
};

/* The file store: the state as canonical JSON at path, mode 0600, and the anchor as
 * {"head":HEX,"lines":N} in ROLLOUT_STORE_ANCHOR_FILE in the same directory. */
int rollout_store_open_file(struct rollout_store *out, const char *path, struct cf_err *err);
int rollout_store_load(struct rollout_store *st, struct rollout_state *out, bool *found,
		       struct cf_err *err);
int rollout_store_save(struct rollout_store *st, const struct rollout_state *s,
		       struct cf_err *err);
int rollout_store_load_anchor(struct rollout_store *st, struct audit_anchor *out, bool *found,
			      struct cf_err *err);
int rollout_store_save_anchor(struct rollout_store *st, const struct audit_anchor *a,
			      struct cf_err *err);
void rollout_store_close(struct rollout_store *st);

#endif
