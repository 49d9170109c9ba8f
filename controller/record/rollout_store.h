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
 * EACCES, ...).
 *
 * The etcd store (several replicas, one leader: README "High availability") keeps the same three
 * things under a prefix: <prefix>/state, <prefix>/audit-anchor and the audit lines themselves as
 * <prefix>/audit/<seq> (seq 1, 2, ... zero-padded to 20 digits, so key order is chain order).
 * rollout_store_commit writes the state, the anchor and the lines appended since the last commit
 * in ONE transaction, conditioned on the fence: the leader key still holding this replica's
 * value at the create revision it won it at (its term). A replica that lost the key writes
 * nothing, whole: the commit fails with errno ESTALE. Without a fence set every write is refused
 * the same way. An etcd that does not answer fails the commit with errno EHOSTUNREACH. The local
 * promotions.jsonl stays what audit verify reads: each replica mirrors the lines from etcd. */
#ifndef CLAWFLEET_ROLLOUT_STORE_H
#define CLAWFLEET_ROLLOUT_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "contracts/audit_line.h"
#include "plan/rollout.h"

#define ROLLOUT_STORE_ANCHOR_FILE "audit-anchor.json"

/* One audit line kept by the store (see rollout_store_read_audit). */
typedef int rollout_store_line_fn(void *ctx, uint64_t seq, const char *text, size_t len);

struct rollout_store_ops {
	const char *name;
	/* *found is false (and *out an empty state) when nothing was saved yet. */
	int (*load)(void *ctx, struct rollout_state *out, bool *found, struct cf_err *err);
	int (*save)(void *ctx, const struct rollout_state *s, struct cf_err *err);
	/* *found is false (and *out the empty log's anchor) when none was saved yet. */
	int (*load_anchor)(void *ctx, struct audit_anchor *out, bool *found, struct cf_err *err);
	int (*save_anchor)(void *ctx, const struct audit_anchor *a, struct cf_err *err);
	/* The anchor (when a is not NULL) and the state, and the lines (each without its
	 * newline, nlines of them, the last ones of the chain a ends) as one write where the store
	 * can; NULL: save_anchor then save. */
	int (*commit)(void *ctx, const struct rollout_state *s, const struct audit_anchor *a,
		      const char *const *lines, size_t nlines, struct cf_err *err);
	/* NULL for a store with a single writer (the file store). */
	int (*set_fence)(void *ctx, const char *holder, int64_t term, struct cf_err *err);
	/* NULL: the store keeps no audit lines of its own. */
	int (*read_audit)(void *ctx, uint64_t after, rollout_store_line_fn *line, void *line_ctx,
			  struct cf_err *err);
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
/* The anchor (NULL: unchanged since the last save) and the state in one write where the store
 * allows it. lines: the audit lines (without newlines) the anchor adds to the one saved before,
 * oldest first; the file store ignores them (they are in promotions.jsonl already). */
int rollout_store_commit(struct rollout_store *st, const struct rollout_state *s,
			 const struct audit_anchor *a, const char *const *lines, size_t nlines,
			 struct cf_err *err);
/* Whether the store is shared by several replicas (it needs a fence before it writes). */
bool rollout_store_shared(const struct rollout_store *st);
/* The fence every later write is conditioned on: holder, the leader key's value, and term, its
 * create revision; term 0 clears it (every write refused). 0 and nothing done for a store
 * with a single writer. */
int rollout_store_set_fence(struct rollout_store *st, const char *holder, int64_t term,
			    struct cf_err *err);
void rollout_store_close(struct rollout_store *st);

/* The etcd store. prefix is "/clawfleet/<name>" (no trailing slash); the client options as
 * record/etcd.h takes them. */
struct rollout_store_etcd_config {
	const char *const *endpoints;
	size_t n_endpoints;
	const char *prefix;
	int64_t timeout_ms;
	const char *ca_file, *cert_file, *key_file;
};
int rollout_store_open_etcd(struct rollout_store *out, const struct rollout_store_etcd_config *cfg,
			    struct cf_err *err);
/* The keys of the etcd store under prefix, for the leader election and the tools. */
#define ROLLOUT_STORE_KEY_STATE "/state"
#define ROLLOUT_STORE_KEY_ANCHOR "/audit-anchor"
#define ROLLOUT_STORE_KEY_AUDIT "/audit/"
#define ROLLOUT_STORE_KEY_LEADER "/leader"
#define ROLLOUT_STORE_KEY_TRIGGER "/trigger"
/* Calls line(ctx, seq, text, len) for each audit line kept in etcd after seq `after`, in chain
 * order, a page at a time (a replica mirroring the chain, an export); stops at the first
 * callback that returns non-zero and returns that. -1 on an etcd error or a store that keeps no
 * lines itself (the file store: read promotions.jsonl). */
int rollout_store_read_audit(struct rollout_store *st, uint64_t after, rollout_store_line_fn *line,
			     void *ctx, struct cf_err *err);

#endif
