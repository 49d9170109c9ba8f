/* node_observe_internal: private to observe/node_observe*.c, the three files of one module (the
 * contract is node_observe.h). node_observe.c owns the node_observer, the run, the infra tree's
 * desired state and the data volume; node_observe_openclaw.c asks OpenClaw's programs (the CLI's
 * version, doctor, the service manager) and reads the skills links; node_observe_gateway.c talks
 * to the gateway and the notifier's feeds over loopback HTTP and TCP and keeps the latency
 * samples and their baseline. Each observe_* fills its part of an observation and records a
 * failing source there with its reason; none fails the run. */
#ifndef CLAWFLEET_NODE_OBSERVE_INTERNAL_H
#define CLAWFLEET_NODE_OBSERVE_INTERNAL_H
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/httpc.h"
#include "base/semver.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "observe/node_cutover.h"
#include "observe/node_observe.h"
#include "observe/node_token_age.h"
#include "reconcilers/lockcheck.h"
#include "reconcilers/pull.h"
#include "reconcilers/service.h"

#define ERROR_MAX 512
#define DOCTOR_THREADS_MAX 8
#define SAMPLES_MAX 2048
#define RESTARTS_MAX 16

/* The desired state of one infra HEAD, shared by the node_observer's cache and the observations
 * that borrow tenant names and the lock from it. */
struct infra_snapshot {
	atomic_int refs;
	char commit[41];
	bool clean;		  /* loaded from a clean tree, so HEAD names its content */
	struct desired_state *ds; /* NULL when the tree did not load */
	char error[ERROR_MAX];
};

struct sample {
	int64_t at_ms; /* monotonic */
	double ms;
	bool ok;
};

/* What the cutover checks keep between refreshes (node_cutover_observe.c): where in the
 * gateway's log its current run began. */
struct cutover_state {
	char log_path[SERVICE_PATH_MAX]; /* the log the offsets are in; "" before the first look */
	int pid;			 /* the gateway's pid at the last look; 0 not running */
	int64_t log_start;		 /* the offset its current run's lines start at */
	int64_t log_size;		 /* the log's size at the last look */
	/* The port's other holder at the last look and the gateway's pid then (0, 0: none): a
	 * holder is reported only when the next look finds the same one beside the same gateway. */
	int port_other, port_gateway;
};

struct node_observer {
	const struct agent_config *cfg;
	char *infra_path, *skills_root, *state_dir, *baseline_path;
	char *openclaw, *launchctl, *systemctl, *plist;
	struct service_config svc;
	const struct schema_set *schemas; /* the agent's, borrowed */
	struct infra_snapshot *infra;
	struct httpc *http; /* one handle, so the gateway connection is kept alive */
	bool git_ready;
	bool status_seen;
	bool last_running;
	int last_pid;
	/* Why the last observation had no parity or token ages ("" when it had them): logged once
	 * when it changes, not every refresh. */
	char parity_error[CF_ERR_MSG], token_age_error[CF_ERR_MSG];
	int64_t restarts[RESTARTS_MAX]; /* monotonic ms, oldest first */
	size_t nrestarts;

	pthread_mutex_t lock; /* what node_observer_note_kickstart touches, below */
	unsigned kickstarts; /* announced so far */
	int kickstart_notes; /* announced, their start not seen yet */
	int64_t kickstart_note_ms;
	struct sample samples[SAMPLES_MAX]; /* a ring, oldest at first */
	size_t first, nsamples;
	double scratch[SAMPLES_MAX];
	double baseline_p95_ms;
	char baseline_commit[41]; /* the build the baseline was measured on; "" unknown */
	char running_commit[41];  /* the build the samples measure: the infra HEAD at the last
				     kickstart, else at the first observation; "" unknown */
	struct probe_thresholds thresholds; /* of the last observation */
	struct cutover_state cutover;
};

struct observation {
	struct probe_inputs in;
	int64_t checked_mono_ms; /* clock_mono_ms when it finished: in.checked_age_ms */
	struct probe_thresholds thresholds; /* in.thresholds points here */
	struct infra_snapshot *snap;
	char *node;
	char infra_tag[PULL_TAG_MAX], infra_commit[41];
	struct openclaw_version cli;
	char skills_current[SEMVER_MAX], skills_next[SEMVER_MAX];
	struct probe_doctor *doctor;
	struct json_object *digest_top;
	struct parity parity;
	struct node_tokens tokens; /* in.tokens at the answer's time (observation_inputs) */
	char infra_error[ERROR_MAX], lock_error[ERROR_MAX], cli_error[ERROR_MAX];
	char current_error[ERROR_MAX], next_error[ERROR_MAX], pack_digest_error[ERROR_MAX];
	char queue_error[ERROR_MAX], digest_error[ERROR_MAX], disk_error[ERROR_MAX];
	char service_error[ERROR_MAX], gateway_error[ERROR_MAX], tcp_error[ERROR_MAX];
	bool service_seen; /* service holds what the service manager answered */
	struct service_status service;
	struct cutover_checks cutover; /* in.checks points here */
};

/* The doctor runs of one observation: they go in parallel with the other sources. */
struct doctor_job {
	const struct node_observer *obs;
	struct probe_doctor *runs;
	size_t n;
	atomic_size_t next;
	pthread_t threads[DOCTOR_THREADS_MAX];
	size_t started;
};

static inline const char *errorf(char buf[ERROR_MAX], const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Formats into buf; a message cut at the end loses its last character whole, not half of it.
 * Inline, so the short name every source's messages use stays private to these files. */
static inline const char *errorf(char buf[ERROR_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, ERROR_MAX, fmt, ap);
	va_end(ap);
	if (n >= ERROR_MAX) {
		size_t len = ERROR_MAX - 1;
		while (len && ((unsigned char)buf[len - 1] & 0xC0) == 0x80)
			len--;
		if (len && (unsigned char)buf[len - 1] >= 0xC0)
			len--;
		buf[len] = '\0';
	}
	return buf;
}

/* node_observe_openclaw.c */
void observe_cli(const struct node_observer *obs, struct observation *o);
/* Prepares o's doctor runs (the node's own, then one per tenant that names a profile) and starts
 * workers for them; -1 when out of memory. observe_doctor_end runs what is left on the calling
 * thread, joins the workers and hands the results to o. */
int observe_doctor_begin(struct doctor_job *job, const struct node_observer *obs,
			 struct observation *o);
void observe_doctor_end(struct doctor_job *job, struct observation *o);
void observe_service(struct node_observer *obs, struct observation *o);
void observe_skills(const struct node_observer *obs, struct observation *o);

/* node_cutover_observe.c: the cutover checks, after observe_service. */
void observe_cutover(struct node_observer *obs, struct observation *o);

/* node_observe_gateway.c */
void observe_gateway(struct node_observer *obs, struct observation *o);
void observe_queue(struct node_observer *obs, struct observation *o);
void observe_digest(struct node_observer *obs, struct observation *o);
void observe_tcp(const struct node_observer *obs, struct observation *o);
/* kickstarts: how many the observer had been told of when the run began. */
void observe_latency(struct node_observer *obs, struct observation *o, unsigned kickstarts);
/* Reads the p95 baseline a previous agent recorded; a missing or bad file is logged and ignored. */
void observe_baseline_load(struct node_observer *obs);

#endif
