/* status: what the controller tells people about the fleet, rendered from a view of its last
 * pass: GET /status (JSON, README.md "The fleet controller") and GET /metrics (Prometheus text
 * exposition format 0.0.4). Both renderers are pure: the loop builds the view, renders after
 * every pass and hands the bytes to the HTTP threads, which never wait on the loop's I/O. The
 * counters behind /metrics live in struct status_metrics, updated by the loop through the
 * functions below; they start at zero with the process, as Prometheus counters do; so does
 * struct status_since, which remembers since when each node has had its status. */
#ifndef CLAWFLEET_STATUS_H
#define CLAWFLEET_STATUS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/lbstate.h"
#include "base/weightmap.h"
#include "contracts/readyz.h"
#include "contracts/token_rotation.h"
#include "plan/hooks.h"
#include "desired/desired.h"
#include "plan/rollout.h"

struct json_object;

#define STATUS_PASSES_MAX 64
#define STATUS_DURATION_BUCKETS 12
#define STATUS_ROLLBACK_REASONS 32
#define STATUS_ACTION_KINDS (ACTION_READY_NODE + 1)

/* What a node's status may be, in this order: struct status_doc's counts follow it. */
#define STATUS_NODE_STATUSES 4
extern const char *const status_node_statuses[STATUS_NODE_STATUSES];

/* One node as the last pass saw it; strings are borrowed, NULL where unknown. */
struct status_parity;
struct status_tokens;

struct status_node {
	const char *name;
	const char *status; /* "green", "degraded", "red" or "unreachable" */
	const char *tag;
	const char *skills; /* skills/current */
	int64_t observed_generation;
	const char *const *reasons; /* reason codes, red first */
	size_t nreasons;
	int64_t since_ms; /* when the node entered this status (status_since_track); 0: unknown */
	/* The first reason, or node.unreachable and why the node did not answer; NULL: none. */
	const char *reason_code, *reason_message;
	struct readyz_finding doctor_first_bad; /* the probe's doctor.firstBad; check_id NULL: none */
};

/* When each node entered the status it has, carried by the loop from pass to pass. It lives in
 * memory: a restarted controller counts from its first pass. */
struct status_since_entry {
	char name[ROLLOUT_NODE_NAME_MAX];
	char status[16];
	int64_t since_ms;
};

struct status_since {
	struct status_since_entry *v;
	size_t n;
};

struct status_pass {
	int64_t at_ms; /* when the pass finished, wall clock */
	bool green;    /* every node answered green */
};

struct status_metrics {
	uint64_t reconcile_total;
	uint64_t duration_counts[STATUS_DURATION_BUCKETS + 1]; /* per bucket, the last is +Inf */
	double duration_sum;
	uint64_t actions[STATUS_ACTION_KINDS][2]; /* [kind][0: ok, 1: error] */
	double git_fetch_seconds;		  /* the last fetch or resolve of the ref */
	struct {
		char reason[ROLLOUT_REASON_MAX];
		uint64_t count;
	} rollbacks[STATUS_ROLLBACK_REASONS];
	size_t nrollbacks;
};

/* The fetches of a Git URL source (mirrored under the state directory); strings borrowed. */
struct status_source {
	bool fetched;		/* a mirror exists to read (the first clone finished) */
	const char *revision;	/* the ref in the mirror as last fetched; NULL: unknown */
	bool fetching;		/* a fetch is running */
	int64_t last_fetch_ms;	/* wall clock, when the last fetch ended; 0: none yet */
	bool last_fetch_ok;	/* the last fetch ended well */
	int64_t stale_ms;	/* since a fetch last ended well (since the start, before one did) */
	int64_t next_fetch_ms;	/* wall clock, when the next fetch starts; 0: one is running */
	unsigned int failures;	/* fetches failed in a row */
	const char *error;	/* why the last fetch failed; NULL when it did not */
};

/* Which replica leads, for a controller on the etcd store (README "High availability"). */
struct status_leader {
	bool self;		   /* this replica leads and may act */
	const char *replica;	   /* this replica's ID */
	const char *id, *address;  /* the leader's ID and listen address, "" when none is known */
	int64_t term;		   /* the leader key's create revision, 0 unknown */
	int64_t lease_deadline_ms; /* self: when it stops acting unless it renews (wall clock) */
	int64_t last_failover_ms;  /* the last change of leader seen (wall clock), 0 none */
	uint64_t failovers;
	const char *error; /* why etcd cannot be read or the lease kept, NULL: it answers */
};

/* Everything /status and /metrics show; pointers are borrowed. */
struct status_view {
	const char *revision;	     /* the desired state's revision; NULL before one loaded */
	const char *source_error;    /* why the last refresh failed; NULL when it did not */
	int64_t source_error_since_ms; /* when refreshes began to fail */
	/* Why the audit log is sealed (record/audit.h, audit_broken): Stalled, AuditChainBroken,
	 * ahead of a source that fails; NULL: it is not. */
	const char *audit_broken;
	int64_t audit_broken_since_ms;
	/* Why the rollout state cannot be saved: a StateUnwritable condition with the reason
	 * (NoSpace, ReadOnly, PermissionDenied, SaveFailed, and with the etcd store
	 * NotLeader, StoreUnreachable); NULL: the last save succeeded. */
	const char *state_unwritable, *state_unwritable_reason;
	int64_t state_unwritable_since_ms;
	const struct status_source *source; /* NULL: a source read live, never stale */
	const char *source_url;	     /* source.url; shown without its credentials */
	const char *promotion_name;  /* the Promotion in Git; NULL when there is none */
	const char *promotion_tag, *promotion_semver;
	const struct rollout_state *state;
	const struct weight_map *weights; /* as the load balancer reported them; NULL: unknown */
	/* Each server's health, drain state and sessions as the load balancer reported them;
	 * NULL: unknown (not read, or a driver that reports none). */
	const struct lb_servers *servers;
	int canary_weight;		  /* the canary servers' weights, summed */
	const struct status_node *nodes;
	size_t nnodes;
	const struct status_parity *parity; /* the peers' parity (status_parity.h); NULL: unknown */
	const struct status_tokens *tokens; /* token ages (status_tokens.h); NULL: not known */
	const struct status_pass *passes; /* oldest first */
	size_t npasses;
	const struct status_metrics *metrics;
	const char *version; /* the build, for clawfleet_build_info */
	int64_t now_ms;	     /* when the view was taken, wall clock */
	int64_t max_hold_ms; /* the Promotion's canary.maxHold; 0: none */
	const struct promotion_analysis *analysis; /* the Promotion's; NULL: none */
	/* The agents' token rotation as `clawfleet token rotate-fleet` last wrote it
	 * (contracts/token_rotation.h); NULL: none, or token_rotation_error says why it cannot be
	 * read (NULL: it could). */
	const struct token_rotation *token_rotation;
	const char *token_rotation_error;
	const struct status_leader *leader; /* NULL: a single controller (the file store) */
	/* The Promotion's webhooks' answers and call counts (record/status_webhooks.h). */
	const struct hook_result *webhooks;
	size_t nwebhooks;
	const struct hook_count *webhook_counts;
	size_t nwebhook_counts;
};

/* The upper bounds (seconds) of clawfleet_reconcile_duration_seconds' buckets. */
extern const double status_duration_bounds[STATUS_DURATION_BUCKETS];

void status_metrics_observe_pass(struct status_metrics *m, double seconds);
void status_metrics_count_action(struct status_metrics *m, enum rollout_action_kind kind, bool ok);
/* Past STATUS_ROLLBACK_REASONS distinct reasons, the rest count as "other". */
void status_metrics_count_rollback(struct status_metrics *m, const char *reason);

/* Sets since_ms of nodes[0..n): kept from the last call while a node's status is the same,
 * now_ms for a node that is new or changed status; nodes not in this call are forgotten. Out of
 * memory: since_ms stays 0 (unknown) and the next call starts over. */
void status_since_track(struct status_since *t, struct status_node *nodes, size_t n,
			int64_t now_ms);
void status_since_free(struct status_since *t);

/* The /status document, a malloc'd NUL-terminated string: every node (status_doc_page with
 * STATUS_NODES_ALL of what status_doc_render makes). */
int status_render_json(const struct status_view *v, char **out, size_t *len, struct cf_err *err);

/* /status in parts, rendered once per pass so that any page of the node list is served from
 * memory by copying, never rendered again: the document before the value of "nodes" (head, up
 * to and including `"nodes":`), after it (tail, from the `,` that follows), and each node's
 * member (`"name":{...}`) in view order. */
struct status_doc {
	char *head, *tail, *nodes;
	size_t head_len, tail_len;
	size_t *node_at; /* node i is nodes[node_at[i] .. node_at[i + 1]) */
	size_t nnodes;
	size_t counts[STATUS_NODE_STATUSES]; /* nodes per status_node_statuses */
};

/* Which nodes a /status shows (README "GET /status"): ?nodes=all, ?nodes=none, or ?nodes=LIMIT
 * with &offset=N (the nodes in the document's order from N, at most LIMIT of them). Without
 * ?nodes=, a fleet of up to STATUS_NODES_DEFAULT nodes gets the document it always got, every
 * node and nothing more; a larger one gets its first STATUS_NODES_DEFAULT nodes. A paged
 * document (any ?nodes=, or the default of a larger fleet) carries "nodesPage" after "nodes":
 * {offset, limit (null: all), returned, total, counts: {green, degraded, red, unreachable}}, so
 * the totals are there whatever the page holds. */
#define STATUS_NODES_DEFAULT 1000
#define STATUS_NODES_ALL SIZE_MAX
struct status_nodes_query {
	bool paged;   /* carries nodesPage */
	size_t offset;
	size_t limit; /* STATUS_NODES_ALL: every node from offset */
};

int status_doc_render(const struct status_view *v, struct status_doc *out, struct cf_err *err);
/* The query of a GET /status: nodes and offset as the query string gives them (NULL: absent).
 * A bad value is an error that says what is accepted. */
int status_nodes_query_parse(const char *nodes, const char *offset, size_t total,
			     struct status_nodes_query *q, struct cf_err *err);
/* One page of d as a malloc'd NUL-terminated JSON document. */
int status_doc_page(const struct status_doc *d, const struct status_nodes_query *q, char **out,
		    size_t *len, struct cf_err *err);
void status_doc_free(struct status_doc *d);
/* The /metrics text, a malloc'd NUL-terminated string. */
#define STATUS_LEADER_METRICS_MAX 4096
/* status_leader.c: /status's "leader" object (null for NULL) and the leader's /metrics lines
 * ("" for NULL) into out, NUL-terminated; false when they do not fit in cap. */
struct json_object *status_leader_json(const struct status_leader *l);
bool status_leader_metrics(const struct status_leader *l, char *out, size_t cap);
int status_render_metrics(const struct status_view *v, char **out, size_t *len,
			  struct cf_err *err);

#endif
