/* node_probe (identifiers probe_*): the agent's merged readiness verdict, a pure function of what the observation step
 * gathered and the clock it carries; no I/O. probe_merge says red (HTTP 503) for any hard
 * failure below, degraded (200) for a soft one, green (200) otherwise, with a code and a message
 * per reason: red first, then degraded, then notes. A tenant inside its maintenance window only
 * leaves a "doctor.maintenance" note; queue and digest count only when configured.
 * probe_render_json writes the /readyz document; probe_render_pending writes the one an agent
 * answers before its first observation finished (red, reason probe.pending).
 *
 * probeSha256 is the sha256 of the canonical JSON (canon.h) of these values of the document, under
 * the same names, so a peer can recompute it from the body; clocks, latency, counters and the
 * node name stay out, so two healthy peers on the same build and notifier agree:
 *   {"digest":{"top":..},"doctor":{"tenants":{"<t>":{"verdict":..}},"verdict":..},
 *    "infra":{"commit":..},"lock":{"sha256":..},"skills":{"current":..,"next":..}} */
#ifndef CLAWFLEET_NODE_PROBE_H
#define CLAWFLEET_NODE_PROBE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"
#include "contracts/parity.h"
#include "contracts/readyz.h"
#include "contracts/token_age.h"
#include "desired/desired.h"
#include "observe/doctor.h"
#include "reconcilers/lockcheck.h"

struct json_object;

/* Red, in this order: skills.digest (the pack of the lock's skills.semver, without the
 * completion marker, does not match the lock's skills.sha256), skills.current_missing or
 * skills.semver_mismatch (against the lock's skills.semver), lock.unreadable, cli.version_unknown or lock.version_mismatch
 * (lockcheck_matches), infra.unreadable or infra.dirty, a doctor code (doctor.h) for each counted
 * run that is red or could not be judged ("doctor.pending" when none ran), gateway.not_running,
 * gateway.not_ready (/healthz or the /readyz body), service.crash_loop, tcp.connect_failed,
 * disk.low, synthetic.failures, synthetic.p95 (the synthetic checks' p95 over maxSyntheticP95, 5 s
 * by default), then the red checks the observation judged itself (checks below: the cutover's
 * plist.invalid, runtime.mismatch, service.crash_log, port.owner, tls.expiring). Degraded:
 * doctor.yellow, digest.unavailable or digest.stale, queue.unavailable or queue.over_limit,
 * disk.unknown, service.unknown, the degraded checks, probe.stale, token.age (the current token
 * older than tokens.maxAge, contracts/token_age.h). Notes:
 * doctor.maintenance, latency.p95 (p95 over maxP95Ratio times the baseline recorded before the
 * last kickstart: the controller judges latency against the node's peers, not its past). */
#define PROBE_MAX_REASONS 32
#define PROBE_MESSAGE_MAX 512
#define PROBE_DIGEST_TOP_MAX 20 /* digest rows rendered; the rest are left out */
#define PROBE_DIGEST_DEPTH 8	/* deeper values in a digest row render as null */
#define PROBE_DEFAULT_REFRESH_MS 30000
#define PROBE_DEFAULT_DIGEST_STALE_SEC 900
#define PROBE_STALE_PERIODS 3
#define PROBE_TCP_LIMIT_MS 2000
#define PROBE_CRASH_LOOP_RESTARTS 3
#define PROBE_DISK_MIN_FREE_PERCENT 10.0
#define PROBE_SYNTHETIC_MAX_PERCENT 5.0
#define PROBE_LATENCY_MAX_FACTOR 5.0
#define PROBE_SYNTHETIC_MAX_P95_MS 5000.0
/* A baseline below this counts as this much: on loopback, sub-millisecond p95s make "5x" noise. */
#define PROBE_LATENCY_BASELINE_FLOOR_MS 50.0


/* The thresholds a node is judged with: its Promotion's spec.canary.analysis at the tag the
 * node runs (probe_thresholds_of), the defaults below without one. */
struct probe_thresholds {
	double max_synthetic_failure_percent; /* synthetic.failures above it */
	int max_restarts_5m;		      /* service.crash_loop at it */
	double min_disk_free_percent;	      /* disk.low below it */
	double max_p95_ratio;		      /* the latency.p95 note above it */
	double max_synthetic_p95_ms;	      /* synthetic.p95 above it */
};
#define PROBE_THRESHOLDS_DEFAULT                                                               \
	{PROBE_SYNTHETIC_MAX_PERCENT, PROBE_CRASH_LOOP_RESTARTS, PROBE_DISK_MIN_FREE_PERCENT,   \
	 PROBE_LATENCY_MAX_FACTOR, PROBE_SYNTHETIC_MAX_P95_MS}

/* The thresholds of promo (NULL: the defaults) into *out. */
void probe_thresholds_of(const struct promotion *promo, struct probe_thresholds *out);

/* One doctor run: per tenant with its profile, or the node's own gateway (tenant NULL). */
struct probe_doctor {
	const char *tenant;
	const char *profile;	  /* OPENCLAW_PROFILE it ran with; NULL: the default */
	time_t maintenance_until; /* UTC seconds; before it the run does not count; 0: none */
	struct doctor_result result;
};

/* A signal its observer judged already (observe/node_cutover.h): the merge adds it as it is. */
struct probe_check {
	const char *code; /* static */
	enum probe_status severity;
	char message[PROBE_MESSAGE_MAX];
};

/* Strings are borrowed and may be NULL where unknown; an `error` says why a source could not be
 * read (NULL when it was). Text that is not valid UTF-8 is escaped, never trusted. */
struct probe_inputs {
	const char *node;
	int64_t observed_generation; /* the last applied target's generation; 0: none yet */
	int64_t refresh_ms;	     /* background refresh period; <= 0: the default */
	int64_t checked_at_ms;	     /* epoch ms when this observation finished; <= 0: none */
	int64_t now_ms;		     /* epoch ms of the answer */
	/* How long before the answer the observation finished, on the monotonic clock: staleness
	 * is measured there, so a step of the wall clock does not make a fresh one stale. */
	int64_t checked_age_ms;
	const struct probe_thresholds *thresholds; /* NULL: PROBE_THRESHOLDS_DEFAULT */
	struct {
		const char *tag, *commit;
		bool dirty;
		const char *error;
	} infra;
	const struct openclaw_lock *lock;   /* openclaw.lock of the infra tree; NULL: not read */
	const char *lock_error;
	const struct openclaw_version *cli; /* what `openclaw --version` printed; NULL: unknown */
	const char *cli_error;
	struct {
		const char *current, *next; /* the semver directories the links name */
		const char *current_error, *next_error;
		/* Why the pack of the lock's skills.semver is not what its skills.sha256 says
		 * (skills_verify); NULL when it is or there is nothing to judge. */
		const char *digest_error;
		/* The applied target runs canary tenants on skills/next (Shadow): the lock's
		 * skills.semver is then judged against next, since current still serves the
		 * stable tenants on the previous semver. */
		bool judge_next;
	} skills;
	const struct probe_doctor *doctor;
	size_t ndoctor;
	struct {
		bool configured;
		int64_t depth, limit; /* limit <= 0: none */
		const char *error;
	} queue;
	struct {
		bool configured;
		int64_t age_sec;
		int64_t total; /* failures in the notifier's current window */
		int64_t stale_after_sec;       /* <= 0: PROBE_DEFAULT_DIGEST_STALE_SEC */
		const struct json_object *top; /* the digest's "top" array; not modified */
		const char *error;
	} digest;
	struct {
		double free_percent;
		const char *error;
	} disk;
	struct {
		bool running;
		bool has_last_exit;
		int last_exit;
		int last_signal; /* the signal that ended the last run; 0 */
		int restarts_5m; /* (re)starts seen in the last 5 minutes */
		const char *error; /* the service manager did not answer */
	} service;
	struct {
		bool healthz_ok; /* /healthz answered {"ok":true} */
		bool ready;	 /* /readyz answered {"ready":true} */
		const char *error; /* the gateway could not be asked */
	} gateway;
	struct {
		bool ok;
		int64_t ms;
		const char *error;
	} tcp;
	/* What must match the node's peers on the same build (contracts/parity.h); NULL or
	 * digest "": not reported. */
	const struct parity *parity;
	/* How old each token slot is at now_ms (contracts/token_age.h); known false: not read. */
	struct token_ages tokens;
	struct {
		int64_t samples; /* synthetic checks behind the figures; 0: nothing to judge */
		double p95_ms;
		double baseline_p95_ms; /* <= 0: no baseline recorded */
		double synthetic_failure_percent;
	} latency;
	const struct probe_check *checks;
	size_t nchecks;
};

struct probe_reason {
	const char *code;	    /* static, e.g. "skills.semver_mismatch" */
	enum probe_status severity; /* the status it imposes; PROBE_GREEN for a note */
	char message[PROBE_MESSAGE_MAX];
};

struct probe_result {
	enum probe_status status;
	struct probe_reason reasons[PROBE_MAX_REASONS];
	size_t nreasons;
	size_t dropped; /* reasons past PROBE_MAX_REASONS; status still counts them */
	bool version_match, skills_match;
	enum doctor_verdict doctor_verdict; /* worst counted run; red when none has run */
	size_t doctor_first_bad;	    /* index into inputs->doctor; ndoctor when none */
};

void probe_merge(const struct probe_inputs *in, struct probe_result *out);
/* The /readyz document into a malloc'd NUL-terminated *json, and its status: 503 for red, else
 * 200. Fails only when out of memory. */
int probe_render_json(const struct probe_inputs *in, const struct probe_result *res, char **json,
		      size_t *len, int *http_status, struct cf_err *err);
/* {"node": node, "status": "red", "reasons": [{"code": "probe.pending", ...}]}: served with 503.
 * Fails only when out of memory. */
int probe_render_pending(const char *node, char **json, size_t *len, struct cf_err *err);

#endif
