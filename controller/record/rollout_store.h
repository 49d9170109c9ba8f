/* rollout_store: where the rollout state (plan/rollout.h) lives between passes. The controller
 * loads it at start, saves the planner's next state before it acts and saves again after each
 * one-shot action it reports done; the planner never sees the store. It is a table of functions
 * (the file store now, etcd later for several replicas); the file store writes through
 * fsutil_write_atomic, so a crash leaves the old state or the new. */
#ifndef CLAWFLEET_ROLLOUT_STORE_H
#define CLAWFLEET_ROLLOUT_STORE_H
#include <stdbool.h>

#include "base/err.h"
#include "plan/rollout.h"

struct rollout_store_ops {
	const char *name;
	/* *found is false (and *out an empty state) when nothing was saved yet. */
	int (*load)(void *ctx, struct rollout_state *out, bool *found, struct cf_err *err);
	int (*save)(void *ctx, const struct rollout_state *s, struct cf_err *err);
	void (*close)(void *ctx);
};

struct rollout_store {
	const struct rollout_store_ops *ops;
	void *ctx;
};

/* The file store: the state as canonical JSON at path, mode 0600. */
int rollout_store_open_file(struct rollout_store *out, const char *path, struct cf_err *err);
int rollout_store_load(struct rollout_store *st, struct rollout_state *out, bool *found,
		       struct cf_err *err);
int rollout_store_save(struct rollout_store *st, const struct rollout_state *s,
		       struct cf_err *err);
void rollout_store_close(struct rollout_store *st);

#endif
