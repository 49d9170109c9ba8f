/* rollout_internal: private to plan/rollout.c, rollout_json_write.c, rollout_json_read.c,
 * rollout_json_writeback.c and rollout_json_hooks.c; nothing else includes it. The text form of
 * every enum of rollout.h, one table each, which the names, the JSON writer and the JSON reader
 * share so that what is written is what is read back, the version of the JSON format, and the
 * write-back's and the webhooks' JSON. */
#ifndef CLAWFLEET_ROLLOUT_INTERNAL_H
#define CLAWFLEET_ROLLOUT_INTERNAL_H
#include <stddef.h>

#include "plan/rollout.h"

#define STATE_FORMAT 1

static const char *const phase_names[] = {
	[ROLLOUT_IDLE] = "Idle",
	[ROLLOUT_SHADOW] = "Shadow",
	[ROLLOUT_ANALYSING] = "Analysing",
	[ROLLOUT_PROMOTING] = "Promoting",
	[ROLLOUT_MIRRORING] = "Mirroring",
	[ROLLOUT_FINALISING] = "Finalising",
	[ROLLOUT_SUCCEEDED] = "Succeeded",
	[ROLLOUT_HELD] = "Held",
	[ROLLOUT_ROLLING_BACK] = "RollingBack",
	[ROLLOUT_ROLLED_BACK] = "RolledBack",
};
static const char *const stage_names[] = {"drain", "upgrade", "restore"};
static const char *const outcome_names[] = {"succeeded", "rolled_back", "adopted"};
static const char *const event_names[] = {
	[AUDIT_STEP] = "step",
	[AUDIT_ROLLBACK] = "rollback",
	[AUDIT_ROLLED_BACK] = "rolled_back",
	[AUDIT_SUCCEEDED] = "succeeded",
	[AUDIT_ADOPTED] = "adopted",
	[AUDIT_HELD] = "held",
	[AUDIT_QUARANTINED] = "quarantined",
	[AUDIT_DRAINED] = "drained",
	[AUDIT_RESTORED] = "restored",
	[AUDIT_LIFTED] = "lifted",
};
static const char *const writeback_state_names[] = {
	[WRITEBACK_NONE] = "none",
	[WRITEBACK_PENDING] = "pending",
	[WRITEBACK_DONE] = "done",
	[WRITEBACK_FAILED] = "failed",
};
static const char *const verdict_names[] = {"promote", "hold", "rollback", "drain", "restore"};
static const char *const condition_names[] = {"Ready", "Reconciling", "Stalled", "Degraded"};
static const char *const status_names[] = {"Unknown", "True", "False"};
static const char *const kind_names[] = {
	[ACTION_NODE_TARGET] = "NODE_TARGET",
	[ACTION_SET_WEIGHTS] = "SET_WEIGHTS",
	[ACTION_ROUTE_TENANT] = "ROUTE_TENANT",
	[ACTION_AUDIT] = "AUDIT",
	[ACTION_BROADCAST] = "BROADCAST",
	[ACTION_DRAIN_NODE] = "DRAIN_NODE",
	[ACTION_READY_NODE] = "READY_NODE",
};

struct json_object;
/* The state's "writeBack" object (absent while there is none: WRITEBACK_NONE); NULL when out of
 * memory. */
struct json_object *rollout_writeback_to_json(const struct rollout_writeback *wb);
/* Takes it back, every field checked; o NULL (absent) leaves *wb as it is. */
int rollout_writeback_from_json(struct json_object *o, struct rollout_writeback *wb,
				struct cf_err *err);

/* The state's "hooks" object (absent while it is empty); NULL when out of memory. */
struct json_object *rollout_hooks_to_json(const struct hook_memory *h);
/* Takes it back, every field checked; o NULL (absent) leaves *h as it is. */
int rollout_hooks_from_json(struct json_object *o, struct hook_memory *h, struct cf_err *err);
static const char *const metric_verdict_names[] = {
	[METRIC_VERDICT_NONE] = "none",
	[METRIC_VERDICT_PASS] = "pass",
	[METRIC_VERDICT_FAIL] = "fail",
	[METRIC_VERDICT_NO_DATA] = "noData",
	[METRIC_VERDICT_IGNORED] = "ignored",
};

/* A string member of o of at most size - 1 bytes without control characters, copied to out;
 * -1 naming where.key otherwise. The "hooks" and "metrics" objects' text (rollout_json_metrics.c). */
int rollout_json_plain_text(struct json_object *o, const char *where, const char *key, char *out,
			    size_t size, struct cf_err *err);

/* rollout_json_metrics.c: the state's "metrics" array (absent while there is none); NULL when
 * out of memory. Read back, every field checked; o NULL (absent) leaves none. */
struct json_object *rollout_metrics_to_json(const struct rollout_state *s);
int rollout_metrics_from_json(struct json_object *o, struct rollout_state *s, struct cf_err *err);

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static inline const char *name_of(const char *const *names, size_t n, int i)
{
	return i >= 0 && (size_t)i < n ? names[i] : "?";
}

#endif
