/* controller_internal: private to the fleet controller's files in daemon/ (controller_daemon.c,
 * the loop, signals, configuration, start and stop; controller_pass.c, one pass: the source,
 * observe, plan, act; controller_world.c, the real world the act step changes and the restart's
 * settling of the audit log; controller_http.c, the documents each pass renders and the routes
 * that serve them; writeback.c, the commit that makes Git agree with an automatic rollback;
 * controller_ha.c, one replica of several on the etcd store: the leader election and the audit
 * mirror). The behaviour they share is stated at the top of controller_daemon.c. */
#ifndef CLAWFLEET_CONTROLLER_INTERNAL_H
#define CLAWFLEET_CONTROLLER_INTERNAL_H
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "act/fleet_act.h"
#include "act/target_client.h"
#include "act/webhook_runner.h"
#include "base/diag.h"
#include "base/err.h"
#include "contracts/audit_line.h"
#include "contracts/tokens.h"
#include "daemon/ctlcfg.h"
#include "desired/desired_cache.h"
#include "observe/fleet_poll.h"
#include "observe/prom_poll.h"
#include "plan/planner.h"
#include "plan/rollout.h"
#include "record/audit.h"
#include "record/rollout_store.h"
#include "record/status.h"
#include "serve/fluxhook.h"
#include "serve/httpd.h"
#include "source/source.h"

/* Receiver outcomes waiting for the next pass to tell the notifier; more are only logged. */
#define HOOK_EVENTS_MAX 16

struct controller_flags {
	const char *config, *listen, *state, *source;
};

/* What Git says about the Promotion, cached by the desired commit and the tag. */
struct promo_facts {
	bool valid;
	char key_commit[41];
	char key_tag[ROLLOUT_TEXT_MAX];
	char commit[41];	/* "" when the tag cannot be resolved */
	char lock_sha256[65];	/* "" when the tag's commit has no openclaw.lock */
	char actor[ROLLOUT_TEXT_MAX];
	char ticket[AUDIT_TICKET_MAX];
};

struct controller {
	const char *config_path;
	struct controller_flags flags;
	struct controller_config cfg;

	struct source *src;
	char mirror_dir[PATH_MAX], state_path[PATH_MAX], audit_path[PATH_MAX];
	struct desired_cache cache;
	struct promo_facts facts;
	struct fleet_poll *probe;
	struct prom_poll *metrics_poll; /* made at the first pass that needs it */
	struct target_client *agents;
	struct webhook_runner *webhooks; /* the Promotion's webhooks, called beside the passes */
	struct rollout_store store;
	struct controller_ha *ha; /* the etcd store's leader election; NULL for the file store */
	struct rollout_state state;
	/* The sha256 of the state's JSON as last saved, "" before a save: a pass whose state is
	 * the same saves nothing. The digest, not the JSON: a megabyte at 10,000 nodes. */
	char saved[65];
	struct audit_anchor anchor; /* as last saved beside the state; valid when anchor_saved */
	bool anchor_saved;
	struct audit_log *audit;
	int64_t audit_broken_since_ms; /* when the log was found sealed (audit_broken); 0: never */
	/* Why the last save of the state failed, "" while saves succeed (StateUnwritable). */
	char state_unwritable[CF_ERR_MSG];
	const char *state_unwritable_reason;
	int64_t state_unwritable_since_ms;
	struct httpd *httpd;

	struct fleet_world_ops world; /* the real world, ctx this controller */
	struct fleet_act act;
	int64_t run_id; /* this run's start (epoch ms): the planner's fleet_observation.run_id */
	/* The rollout clock (plan/rollout.h) where this run resumed it, and clock_mono_ms then. */
	int64_t clock_resumed_ms, clock_resumed_mono_ms;
	unsigned int pass_failures;
	int64_t next_fetch_mono_ms; /* when a source that failed to open is tried again */
	char *source_error;
	int64_t source_error_since_ms;
	char last_progress[ROLLOUT_MESSAGE_MAX];
	char last_stall[ROLLOUT_MESSAGE_MAX];
	char *lb_warning; /* the last failure to read the weights, as logged */
	char lb_state_warning[CF_ERR_MSG]; /* the last failure to read servers or routes, as logged */
	struct lb_servers lb_servers; /* the last pass's servers, for /status */
	bool lb_servers_ok;
	unsigned int seed;

	struct status_metrics metrics;
	struct status_pass passes[STATUS_PASSES_MAX];
	size_t npasses;
	struct status_since since; /* since when each node has had its status */
	char token_age_sent[256]; /* the too-old tokens last broadcast (controller_tokens.c) */

	struct tokens *hook_tokens; /* the Flux receiver's; NULL when it is off */
	struct fluxhook *hook;

	pthread_mutex_t mu; /* guards the documents below */
	char *status_doc, *metrics_doc, *page_doc, *plan_doc; /* status_doc: /status by default */
	size_t status_len, metrics_len, page_len, plan_len;
	struct status_doc status_nodes; /* /status in parts, for ?nodes= pages */
	bool ready;
	struct fluxhook_snapshot hook_snap; /* the last pass, as the receiver judges an event */
	/* Receiver outcomes the notifier must hear of; the loop sends them, never an HTTP thread. */
	struct fluxhook_outcome hook_events[HOOK_EVENTS_MAX];
	size_t nhook_events;

	/* The write-back's `clawfleet rollout undo` child (0: none), its deadline (CLOCK_MONOTONIC
	 * ms), and the files its stdout and stderr go to. */
	pid_t wb_pid;
	int64_t wb_deadline_mono_ms;
	char wb_out_path[PATH_MAX], wb_err_path[PATH_MAX];
};

/* The fleet's load balancer: the first LoadBalancer of the desired state; NULL when none. */
static inline const struct load_balancer *controller_lb(const struct desired_state *ds)
{
	return ds && ds->nlbs ? &ds->lbs[0] : NULL;
}

/* controller_daemon.c */
/* Makes the loop run a pass now; async-signal-safe, callable from any thread. */
void controller_wake(void);
/* True once SIGTERM or SIGINT arrived: the action under way is the last. */
bool controller_stopping(void);

/* controller_pass.c */
/* One pass; returns true when the rollout is under way and the next pass should come soon. */
bool controller_run_pass(struct controller *c, bool *failed);
/* Opens the source without fetching; a source that fails to open is tried again an interval
 * later. */
int controller_open_source(struct controller *c, struct cf_err *err);
/* The fetch beside the loop: finishes a fetch that ended, kills one past its deadline, starts
 * the next when due (source_fetch_tend). True when it fetched a commit the desired state was
 * not read at: a pass should run now. */
bool controller_tend_source(struct controller *c);
/* When the loop must next call controller_tend_source (CLOCK_MONOTONIC ms; INT64_MAX: never),
 * and the descriptor that wakes it when the running fetch ends (-1: none). */
int64_t controller_source_due_ms(const struct controller *c);
int controller_source_fd(const struct controller *c);
/* The source object of /status into out; false for a source read live (never stale). */
bool controller_source_status(const struct controller *c, struct status_source *out);
/* Records why the source cannot be read as sourceError (msg, then the first problems of diags
 * where they are) and logs it, once while that repeats. diags may be NULL. */
void controller_source_failed(struct controller *c, const char *msg,
			      const struct diag_list *diags);
/* Logs the first problems of diags, and how many more there are. */
void controller_log_diags(const struct diag_list *diags);

/* controller_world.c */
/* The sha256 of s's JSON (rollout_state_to_json) into out, as struct controller's saved. */
int controller_state_digest(const struct rollout_state *s, char out[65], struct cf_err *err);
/* Fills ops with the real world: the agents, the LoadBalancer, the audit log, the notifier and
 * the rollout store of c. */
void controller_world_init(struct controller *c, struct fleet_world_ops *ops);
/* On start: the first pending audit line, when it is the log's last line, was written by a
 * controller killed before it saved that: it is reported done (*settled true). */
int controller_settle_written_audit(struct controller *c, bool *settled, struct cf_err *err);
/* On start, once the state is loaded: compares the audit log with the anchor saved beside the
 * state (found false: none yet), settles the line a killed controller wrote, and saves the
 * anchor when it moved. A log that does not match is sealed; -1 only for what stops the start. */
int controller_anchor_audit(struct controller *c, const struct audit_anchor *want, bool found,
			    struct cf_err *err);
/* Before each pass: false while the audit log is sealed (a broken chain, lines lost, a line
 * changed behind the controller), logged once: the pass then takes no action. */
bool controller_audit_holds(struct controller *c);
/* POST /v1/events to the notifier, or the log when none is configured (controller_world.c).
 * flux_uid and event_id may be NULL. */
int controller_post_event(struct controller *c, const char *kind, const char *verdict,
			  const char *probe_key, const char *correlation, const char *message,
			  const char *flux_uid, const char *event_id, struct cf_err *err);
/* controller_tokens.c: the token ages /status shows from r (NULL: none observed) into *out,
 * and one broadcast each time the set of tokens over tokens.maxAge grows or changes. */
struct status_tokens;
void controller_token_ages(struct controller *c, const struct fleet_poll_result *r,
			   struct status_tokens *out);
/* Tells the notifier what the Flux receiver answered since the last pass. */
void controller_send_hook_events(struct controller *c);
/* What the load balancer lb (NULL: none) reports beyond its weights, into fo: the servers'
 * state into *servers and the tenant routes, pools named as the planner names them, into
 * *routes (both emptied first, the caller frees them); a failure is logged once while it
 * repeats and leaves servers_ok or routes_ok false. */
void controller_observe_lb(struct controller *c, const struct load_balancer *lb,
			   struct fleet_observation *fo, struct lb_servers *servers,
			   struct lb_routes *routes);

/* writeback.c */
/* After a pass has acted: with source.writeBack, takes in the write-back child that ended (or
 * kills it past its deadline), starts the write-back of a new automatic rollback or retries a
 * failed one when due; the state records each step. True while a child runs: a pass should
 * come soon. */
bool controller_writeback(struct controller *c, const struct desired_state *ds);

/* controller_ha.c */
/* The leader election as /status shows it. */
struct controller_ha_view {
	bool shared;	     /* the etcd store: the rest is set */
	bool leading;	     /* this replica leads and may act */
	char self[256];	     /* this replica's ID */
	char id[256];	     /* the leader's ID, "" when none is known */
	char address[256];   /* the leader's listen address */
	int64_t term;	     /* the leader key's create revision, 0 unknown */
	int64_t lease_deadline_ms; /* leading: when it stops acting unless it renews (epoch ms) */
	int64_t last_failover_ms;  /* the last change of leader this replica saw (epoch ms), 0 */
	uint64_t failovers;
	char error[CF_ERR_MSG]; /* why etcd cannot be read or the lease kept, "" */
};
/* With store.type etcd: opens the store, the local mirror of the audit log, follows the shared
 * state as far as etcd answers, and starts the renew thread that campaigns for the leader key. */
int controller_ha_open(struct controller *c, struct cf_err *err);
/* Stops the renew thread and revokes the lease a leader holds. */
void controller_ha_close(struct controller *c);
/* At the start of a pass: true when this replica leads and may act (always for the file store).
 * A new term fences the store and takes over the chain and the state from etcd; a follower
 * mirrors the chain and loads the shared state for /status, and takes no action. */
bool controller_ha_pass(struct controller *c);
/* Before each action (weights, targets, routes, drains, audit lines, broadcasts): false once the
 * leader's renew deadline has passed, on the monotonic clock. */
bool controller_may_act(struct controller *c);
void controller_ha_view(struct controller *c, struct controller_ha_view *out);
/* The local audit log is sealed: a leader revokes its lease so another replica leads (rather
 * than hold the lease and act on nothing), and the replica does not campaign until its next
 * follower pass has written the log again from the chain in etcd. Nothing for the file store. */
void controller_ha_sealed(struct controller *c);
/* A Flux event accepted by a follower: passed on to the leader through etcd, so the leader's
 * pass starts at once (within a quarter second). Nothing for the leader or the file store.
 * Returns at once: the hand-over thread writes the key. */
void controller_ha_pass_on(struct controller *c);

/* controller_http.c */
/* Renders /status, /metrics and the page from the pass just finished (r and weights NULL when
 * there was none), and the snapshot the Flux receiver judges events against. */
void controller_record(struct controller *c, const struct fleet_poll_result *r,
		       const struct weight_map *weights, bool passed);
/* After a pass has planned and acted: GET /v1/plan, what the next pass would do if the fleet
 * reports what fo says, at the rollout clock's now, and the rest of the rollout if everything
 * stays green (plan/forecast.h). */
void controller_forecast(struct controller *c, const struct desired_state *ds,
			 const struct fleet_observation *fo, int64_t now);
int controller_start_httpd(struct controller *c, struct cf_err *err);

#endif
