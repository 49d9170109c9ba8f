/* rollout: the persisted state of the fleet's rollout (what the planner reads and returns) and
 * the actions a plan is made of. The state is plain data: rollout_state_to_json writes it as
 * canonical JSON (canon.h) and rollout_state_from_json takes back only what it wrote, checking
 * every field (names that become paths or refs by names.h, ranges, the order of node entries)
 * and refusing unknown or missing ones. Where the state is kept is the record step's business
 * (record/rollout_store.h).
 *
 * One-shot actions (ROUTE_TENANT, AUDIT, BROADCAST) are decided once, so the planner files them
 * in the state's pending list under an id: the caller persists the state before acting (the
 * intent), calls rollout_pending_done after each one succeeds and persists again; a controller
 * killed in between finds the rest still pending and the planner hands them out again. NODE_TARGET
 * and SET_WEIGHTS need no such record: the next observation shows whether they took.
 *
 * Two clocks. Everything the planner measures (windows, steps, stages and the progress deadline,
 * holds and maxHold, suspensions, drains, the apply grace, green and red passes: every *_ms of
 * struct rollout_state and struct rollout_node) is read on the rollout clock: milliseconds that
 * only move forward, and only while a controller runs (daemon/controller_pass.c reads it as the
 * saved reading plus the monotonic time since the state was loaded). A step of the wall clock,
 * either way (NTP, a Mac waking from sleep), changes no measurement; a stopped controller's time
 * does not count either, since nobody watched the fleet then. The state carries the clock's
 * reading (clock_ms, with the wall time it was read at) so that a restarted controller resumes
 * it: rollout_clock_resume. The times only people read are wall-clock times: audit lines
 * (ts_ms), the history (started_ms, finished_ms), the quarantine (at_ms) and the conditions'
 * last_transition_ms; rollout_clock_wall shows a rollout-clock time as wall time. */
#ifndef CLAWFLEET_ROLLOUT_H
#define CLAWFLEET_ROLLOUT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/weightmap.h"
#include "contracts/audit_line.h"
#include "contracts/target.h"
#include "plan/hooks.h"

#define ROLLOUT_TEXT_MAX 256	  /* tags, semvers, object names, actors; NUL included */
#define ROLLOUT_REVISION_MAX 512  /* "<ref>@sha1:<hex>" */
#define ROLLOUT_NODE_NAME_MAX 64  /* node and tenant names (DNS labels) */
#define ROLLOUT_REASON_MAX 128	  /* reason codes, "doctor.red" */
#define ROLLOUT_MESSAGE_MAX 512
#define ROLLOUT_MAX_NODES WEIGHTS_MAX_SERVERS
#define ROLLOUT_HISTORY_MAX 20
#define ROLLOUT_QUARANTINE_MAX 64
#define ROLLOUT_PENDING_MAX 1024
#define ROLLOUT_STATE_MAX_BYTES (32u << 20)

enum rollout_phase {
	ROLLOUT_IDLE,
	ROLLOUT_SHADOW,
	ROLLOUT_ANALYSING,
	ROLLOUT_PROMOTING,
	ROLLOUT_MIRRORING,
	ROLLOUT_FINALISING,
	ROLLOUT_SUCCEEDED,
	ROLLOUT_HELD,
	ROLLOUT_ROLLING_BACK,
	ROLLOUT_ROLLED_BACK,
};

/* Mirroring takes one node at a time through these; nodes without a load-balancer server skip
 * the two weight stages. */
enum mirror_stage { MIRROR_DRAIN, MIRROR_UPGRADE, MIRROR_RESTORE };

enum rollout_outcome { OUTCOME_SUCCEEDED, OUTCOME_ROLLED_BACK, OUTCOME_ADOPTED };

/* Degraded: a gateway is drained, or keeps its traffic though red because draining it would
 * break LoadBalancer.spec.minServing. */
enum condition_type { COND_READY, COND_RECONCILING, COND_STALLED, COND_DEGRADED, COND_COUNT };
enum condition_status { COND_UNKNOWN, COND_TRUE, COND_FALSE };

/* A build of the fleet: the infra tag and the commit it names, and the skills semver. */
struct rollout_version {
	char tag[ROLLOUT_TEXT_MAX];
	char commit[41];
	char semver[ROLLOUT_TEXT_MAX];
};

/* What the controller has told one node, and what the safety rule holds of it: a gateway
 * drained while red or unreachable (weight 0 whatever the phase wants), restored after
 * greenWindows consecutive passes that saw it green. */
struct rollout_node {
	char name[ROLLOUT_NODE_NAME_MAX];
	int64_t generation; /* the last generation sent; 0: none */
	char digest[65];    /* sha256 of that target's canonical JSON with generation 0 */
	bool touched;	    /* sent a target of the current rollout: a rollback must return it */
	bool drained;
	char drain_reason[ROLLOUT_REASON_MAX]; /* the first bad reason it was drained for */
	int green_passes;	/* consecutive passes that saw it green while drained */
	int64_t green_at_ms;	/* the last pass counted in green_passes: a pass counts once */
	bool kept_serving; /* red but not drained: that would break minServing (broadcast once) */
	int64_t sent_ms;   /* when generation was first planned; 0: unknown */
};

struct rollout_quarantine {
	char tag[ROLLOUT_TEXT_MAX];
	char commit[41];
	char reason[ROLLOUT_REASON_MAX];
	int64_t at_ms; /* wall clock */
};

/* One finished rollout, with who asked for it: the promotion commit's author and ticket as its
 * audit lines name them ("" when unknown, as in a state written before they were kept). */
struct rollout_record {
	char promotion[ROLLOUT_TEXT_MAX];
	struct rollout_version from, to;
	enum rollout_outcome outcome;
	char reason[ROLLOUT_REASON_MAX];
	int64_t started_ms, finished_ms; /* wall clock */
	char actor[ROLLOUT_TEXT_MAX];
	char ticket[AUDIT_TICKET_MAX];
};

/* The commit that makes Git agree with an automatic rollback (the controller's source.writeBack,
 * daemon/writeback.c): which rollback it is for (the bad tag and its commit), where it points the
 * Promotion, and how it went. Kept in the state so that a restarted controller neither writes it
 * twice nor forgets a failure. The planner copies it and never reads it. */
enum rollout_writeback_state {
	WRITEBACK_NONE,	   /* no write-back was wanted */
	WRITEBACK_PENDING, /* to be written, or being written; error: the last attempt's failure */
	WRITEBACK_DONE,	   /* Git names the last good tag (commit: ours; "" when Git already did) */
	WRITEBACK_FAILED,  /* given up after the attempts allowed; error says why */
};

struct rollout_writeback {
	enum rollout_writeback_state state;
	char tag[ROLLOUT_TEXT_MAX]; /* the tag rolled back */
	char tag_commit[41];	    /* the commit it named */
	char to[ROLLOUT_TEXT_MAX];  /* the last good tag the Promotion goes back to */
	char commit[41];	    /* the commit written; "" none */
	char error[ROLLOUT_MESSAGE_MAX];
	int attempts;
	int64_t next_ms; /* wall clock: no attempt starts before */
};

#define ROLLOUT_METRICS_MAX 16 /* DESIRED_MAX_METRICS */

enum rollout_metric_verdict {
	METRIC_VERDICT_NONE,	/* no window judged yet in this rollout */
	METRIC_VERDICT_PASS,	/* within thresholdRange */
	METRIC_VERDICT_FAIL,	/* outside it, or no data with noData fail */
	METRIC_VERDICT_NO_DATA, /* no data with noData hold: the window does not count */
	METRIC_VERDICT_IGNORED, /* no data with noData ignore: counts as a pass */
};

/* The last window judged of one of the Promotion's metrics (plan/plan_analysis.c), in the
 * Promotion's order: its end on the rollout clock, the consecutive failed windows, and what
 * /status shows. */
struct rollout_metric {
	char name[ROLLOUT_NODE_NAME_MAX];
	int64_t taken_ms;
	int64_t interval_ms;
	int failures;
	enum rollout_metric_verdict verdict;
	bool has_value;
	double value;
	bool has_stable;
	double stable;
	char why[ROLLOUT_MESSAGE_MAX]; /* the verdict in words */
};

struct rollout_condition {
	enum condition_status status;
	char reason[ROLLOUT_REASON_MAX];
	char message[ROLLOUT_MESSAGE_MAX];
	int64_t last_transition_ms; /* wall clock */
};

enum rollout_action_kind {
	ACTION_NODE_TARGET,
	ACTION_SET_WEIGHTS,
	ACTION_ROUTE_TENANT,
	ACTION_AUDIT,
	ACTION_BROADCAST,
	ACTION_DRAIN_NODE,
	ACTION_READY_NODE,
};

enum audit_event {
	AUDIT_STEP,
	AUDIT_ROLLBACK,
	AUDIT_ROLLED_BACK,
	AUDIT_SUCCEEDED,
	AUDIT_ADOPTED,
	AUDIT_HELD,
	AUDIT_QUARANTINED,
	AUDIT_DRAINED,
	AUDIT_RESTORED,
	AUDIT_LIFTED, /* a quarantine lifted by the Promotion's spec.retry */
};

enum broadcast_verdict {
	VERDICT_PROMOTE,
	VERDICT_HOLD,
	VERDICT_ROLLBACK,
	VERDICT_DRAIN,
	VERDICT_RESTORE,
};

/* One promotions.jsonl line, everything audit_append needs but the chain. */
struct rollout_audit {
	enum audit_event event;
	int64_t ts_ms; /* wall clock */
	char promotion[ROLLOUT_TEXT_MAX];
	char revision[ROLLOUT_REVISION_MAX];
	char actor[ROLLOUT_TEXT_MAX];
	char ticket[AUDIT_TICKET_MAX];
	struct rollout_version from, to;
	enum rollout_phase phase;
	int step, percent;
	struct weight_map weights;
	char probe_sha256[65]; /* the canary's merged probe; "" when unknown */
	char reason[ROLLOUT_REASON_MAX];
	char node[ROLLOUT_NODE_NAME_MAX]; /* drained and restored: the gateway; "" otherwise */
};

struct rollout_broadcast {
	enum broadcast_verdict verdict;
	char node[ROLLOUT_NODE_NAME_MAX]; /* "" when no node caused it (abort) */
	char reason[ROLLOUT_REASON_MAX];
	char message[ROLLOUT_MESSAGE_MAX];
};

/* Requests whose routing header carries the tenant's name go to the canary pool, or back to the
 * stable one. */
struct rollout_route {
	char tenant[ROLLOUT_NODE_NAME_MAX];
	bool canary;
};

/* A gateway's load-balancer server into the load balancer's own drain state before its restart
 * (DRAIN_NODE: no new sessions, the weight kept), or back to ready once it is green
 * (READY_NODE). Level-triggered, as SET_WEIGHTS: planned again while the load balancer reports
 * otherwise. */
struct rollout_drain {
	char node[ROLLOUT_NODE_NAME_MAX];
	char server[WEIGHTS_SERVER_NAME_MAX + 1];
};

struct rollout_action {
	enum rollout_action_kind kind;
	uint64_t id; /* one-shot actions: the key in the pending list; 0 for the others */
	union {
		struct {
			char node[ROLLOUT_NODE_NAME_MAX];
			struct target *target; /* owned; generation filled in */
		} node_target;
		struct weight_map weights; /* every load-balancer server of the fleet */
		struct rollout_route route;
		struct rollout_audit *audit; /* owned */
		struct rollout_broadcast broadcast;
		struct rollout_drain drain;
	} u;
};

struct rollout_state {
	enum rollout_phase phase;
	char promotion_name[ROLLOUT_TEXT_MAX];
	struct rollout_version promotion; /* the build being rolled out (or last rolled out) */
	bool has_last_good;
	struct rollout_version last_good;
	struct weight_map last_good_weights;
	struct weight_map pre_canary_weights; /* observed when the rollout started */
	/* What the phase gives each server; the load balancer should report it with every drained
	 * node's server at 0. */
	struct weight_map planned_weights;
	int step;			      /* 1-based index into canary.steps; 0 before the first */
	int percent;
	int64_t started_ms;	   /* the rollout began */
	int64_t stage_started_ms;  /* the current phase or mirror stage began */
	int64_t step_started_ms;   /* the current step's weights were read back */
	int64_t window_started_ms; /* the current analysis window began */
	/* The last pass that saw the canary green in the current window, every earlier part of
	 * the window seen too (plan_steps.c); before window_started_ms: none yet. */
	int64_t window_sampled_ms;
	int64_t window_run;	   /* the controller's run that began the window (planner.h) */
	int green_windows;	   /* consecutive green windows completed at this step */
	int red_observations;	   /* consecutive red verdicts on the canary (failureLimit) */
	int64_t red_observed_ms;   /* the pass of the last; before started_ms: another rollout's */
	enum rollout_phase held_from;
	int64_t hold_started_ms;
	char held_node[ROLLOUT_NODE_NAME_MAX];
	char held_reason[ROLLOUT_REASON_MAX];
	/* Held for a person (held_reason ROLLOUT_HOLD_APPROVAL): the gate's percent, 100 for
	 * Mirroring when 100 is not a step; 0: any other hold. No maxHold runs for it. */
	int gate_percent;
	size_t mirror_index; /* position in the mirror (or bring-up) order */
	enum mirror_stage mirror_stage;
	char mirror_node[ROLLOUT_NODE_NAME_MAX];
	bool bring_up;	    /* no earlier version: nodes come up one at a time, no canary */
	bool canary_routed; /* canary-channel tenants are routed to the canary pool */
	/* Drain before restart, one gateway at a time: the gateway that takes no new sessions
	 * until it is restarted and green ("" none), since when, the generation it had then (a
	 * later one is its restart), and whether it is back in service with only the load
	 * balancer's drain state left to lift. */
	char drain_node[ROLLOUT_NODE_NAME_MAX];
	int64_t drain_started_ms;
	int64_t drain_generation;
	bool drain_released;
	int64_t suspended_since_ms; /* 0: not suspended */
	char rollback_reason[ROLLOUT_REASON_MAX];
	char broadcast_key[ROLLOUT_MESSAGE_MAX]; /* the last broadcast; an equal one is not repeated */
	struct rollout_node *nodes; /* sorted by name, unique */
	size_t nnodes;
	struct rollout_quarantine quarantined[ROLLOUT_QUARANTINE_MAX]; /* oldest first */
	size_t nquarantined;
	struct rollout_condition conditions[COND_COUNT];
	struct rollout_record history[ROLLOUT_HISTORY_MAX]; /* oldest first */
	size_t nhistory;
	uint64_t next_action_id;
	struct rollout_action *pending; /* one-shot actions not reported done, oldest first */
	size_t npending;
	/* The rollout clock at a pass (0: not started, as in a file written before it was kept)
	 * and the wall clock then. The planner moves them only every ROLLOUT_CLOCK_SAVE_MS, so an
	 * idle controller does not rewrite the state at every pass; a restart loses at most that
	 * much watched time. */
	int64_t clock_ms;
	int64_t clock_wall_ms;
	struct rollout_writeback writeback;
	struct hook_memory hooks; /* the webhooks' answers that outlive a restart (plan/hooks.h) */
	struct rollout_metric metrics[ROLLOUT_METRICS_MAX];
	size_t nmetrics;
};

#define ROLLOUT_CLOCK_SAVE_MS 60000
/* held_reason of a hold at a gate of spec.canary.gates, which only spec.approval ends. */
#define ROLLOUT_HOLD_APPROVAL "approval"


/* An empty state: Idle, nothing sent, nothing known. */
void rollout_state_init(struct rollout_state *s);
void rollout_state_free(struct rollout_state *s);
/* dst (initialised or freed) becomes a deep copy of src. */
int rollout_state_copy(struct rollout_state *dst, const struct rollout_state *src,
		       struct cf_err *err);
int rollout_state_to_json(const struct rollout_state *s, char **out, size_t *len,
			  struct cf_err *err);
/* At most ROLLOUT_STATE_MAX_BYTES; *out is initialised here and left empty on failure. */
int rollout_state_from_json(const char *text, size_t len, struct rollout_state *out,
			    struct cf_err *err);

/* Where a controller that loaded s starts the rollout clock: at s's reading, or later where a
 * time in s is later (a reading is saved only every ROLLOUT_CLOCK_SAVE_MS), so no measurement
 * starts in the future. A state without a reading (new, or written before the clock was kept)
 * starts it at wall_ms: the times in an old file are wall-clock times, and keep their meaning. */
int64_t rollout_clock_resume(const struct rollout_state *s, int64_t wall_ms);
/* A rollout-clock time t of s as wall-clock time, for people: s's wall time at its reading,
 * moved by t's distance from that reading; 0 stays 0 ("never"), and so does every t of a state
 * without a reading (its times are wall-clock times). */
int64_t rollout_clock_wall(const struct rollout_state *s, int64_t t);

/* dst becomes a copy of src (server names in a map are unique). */
int rollout_weights_copy(struct weight_map *dst, const struct weight_map *src, struct cf_err *err);
const struct rollout_node *rollout_node_find(const struct rollout_state *s, const char *name);
/* Removes the pending action id, reported done; false when no such action is pending. */
bool rollout_pending_done(struct rollout_state *s, uint64_t id);

void rollout_action_free(struct rollout_action *a);
int rollout_action_copy(struct rollout_action *dst, const struct rollout_action *src,
			struct cf_err *err);
/* One line for logs, `clawfleet plan` and tests, e.g.
 *   NODE_TARGET canary-gw gen=1 tag=v2 skills=1.5.0/next canary=acme restart
 *   SET_WEIGHTS canary-gw=11 stable-gw-a=100 stable-gw-b=100
 *   ROUTE_TENANT acme canary
 *   AUDIT step Promoting 5%          AUDIT rollback RollingBack 20% doctor.red
 *   AUDIT drained stable-gw-a Succeeded 0% doctor.red
 *   BROADCAST hold canary-gw doctor.yellow
 *   DRAIN_NODE stable-gw-a           READY_NODE stable-gw-a
 * as a malloc'd string; NULL when out of memory. */
char *rollout_action_describe(const struct rollout_action *a);

const char *rollout_phase_name(enum rollout_phase p); /* "Idle", "Shadow", ... */
const char *audit_event_name(enum audit_event e);     /* "step", "rolled_back", ... */
const char *broadcast_verdict_name(enum broadcast_verdict v); /* "promote", "hold", ... */
const char *rollout_outcome_name(enum rollout_outcome o);     /* "succeeded", ... */
const char *condition_type_name(enum condition_type t);	      /* "Ready", ... */
const char *condition_status_name(enum condition_status s);   /* "True", "False", "Unknown" */
/* "none", "pass", "fail", "noData", "ignored" */
const char *rollout_metric_verdict_name(enum rollout_metric_verdict v);
/* "none", "pending", "done", "failed" */
const char *rollout_writeback_state_name(enum rollout_writeback_state s);

#endif
