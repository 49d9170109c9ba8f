/* desired: the desired state of a fleet, loaded from the files of one revision of the GitOps
 * repository (treefiles) into typed, validated objects. desired_load is pure: it parses every
 * YAML document, validates it against the compiled CRDs (schema), applies CRD defaults, checks
 * names that become paths or refs, cross-checks objects (file names against metadata.name,
 * duplicate names, the block a LoadBalancer driver names, strictly increasing canary steps and
 * gates that are steps, tenant directories against TenantSlices, credentials in Git), merges
 * tenant fragments and parses openclaw.lock. Every problem goes into diags; the state is usable
 * only when desired_load returns 0, and then diags is empty. The caller owns the result
 * (desired_free). */
#ifndef CLAWFLEET_DESIRED_H
#define CLAWFLEET_DESIRED_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/diag.h"
#include "desired/schema.h"
#include "source/treefiles.h"

struct json_object;

#define DESIRED_NAME_MAX 254
#define DESIRED_MAX_STEPS 20
#define DESIRED_MAX_DRAIN_TIMEOUT_MS (60 * 60 * 1000LL) /* LoadBalancer spec.drainTimeout */

enum node_role { NODE_GATEWAY, NODE_WORKER, NODE_NOTIFIER };
enum tenant_channel { CHANNEL_STABLE, CHANNEL_CANARY };
enum lb_driver { LB_HAPROXY, LB_HTTP, LB_FILE, LB_COMMAND };
enum notify_format { NOTIFY_GENERIC, NOTIFY_SLACK };
enum fragment_kind { FRAG_GATEWAY, FRAG_DOCTOR, FRAG_WEBHOOK, FRAG_SKILLS, FRAG_KINDS };

/* Where an object came from, for messages. */
struct origin {
	char *file;
	int line, col;
};

struct mac_node {
	char *name;
	char *address;
	enum node_role role;
	char *zone; /* may be NULL */
	bool canary;
	char *lb_server; /* may be NULL for nodes that take no load-balanced traffic */
	int lb_weight;   /* 0..256 */
	struct origin origin;
};

#define DESIRED_MAX_METRICS 16
#define DESIRED_METRIC_NAME_MAX 49 /* the CRD's pattern allows 48 characters */
/* The built-in metrics that need no query (observe/prom_query.h spells them out). */
#define METRIC_SUCCESS_RATE "request-success-rate"
#define METRIC_DURATION "request-duration"

enum metric_compare { METRIC_COMPARE_NONE, METRIC_COMPARE_STABLE };
enum metric_no_data { METRIC_NO_DATA_HOLD, METRIC_NO_DATA_FAIL, METRIC_NO_DATA_IGNORE };

/* spec.canary.analysis.metrics[]: one PromQL query judged each window against thresholdRange
 * (with compare stable, the ratio of the canary's value to the stable pool's). */
struct promotion_metric {
	char name[DESIRED_METRIC_NAME_MAX];
	char *query; /* NULL: a built-in name */
	bool has_min, has_max;
	double min, max;
	enum metric_compare compare;
	int64_t interval_ms; /* 0: the Promotion's analysisInterval */
	int failure_limit;   /* consecutive failed windows before a rollback */
	enum metric_no_data no_data;
};

/* spec.canary.analysis: the thresholds of a Promotion, each CRD default filled in. An agent judges
 * its own node with the first four (observe/node_probe.h); the planner judges the canary with the
 * rest, and with the metrics the controller queries from Prometheus. */
struct promotion_analysis {
	double max_p95_ratio;		      /* maxP95Ratio: canary p95 over its peers' median */
	double max_synthetic_failure_percent; /* maxSyntheticFailurePercent */
	int max_restarts_5m;		      /* maxRestarts5m: this many starts are a crash loop */
	double min_disk_free_percent;	      /* minDiskFreePercent */
	int64_t max_p95_ms;		      /* maxP95; 0: unset */
	int64_t max_synthetic_p95_ms;	      /* maxSyntheticP95: a node's own p95, absolute */
	bool has_max_digest_failures;	      /* false: the digest never gates */
	int64_t max_digest_failures;	      /* maxDigestFailures */
	int failure_limit;		      /* consecutive red observations before a rollback */
	int min_samples;		      /* green observations, one per part of a window */
	struct promotion_metric metrics[DESIRED_MAX_METRICS];
	size_t nmetrics;
	char *provider_address;	     /* analysis.provider.address; NULL: prometheus.url */
	int64_t provider_timeout_ms; /* analysis.provider.timeout; 0: the controller's */
};

struct header_kv {
	char *name, *value;
};

/* spec.canary.analysis.webhooks: Flagger's webhook types, in the order of the CRD's enum. */
enum webhook_type {
	WEBHOOK_PRE_ROLLOUT,
	WEBHOOK_ROLLOUT,
	WEBHOOK_CONFIRM_ROLLOUT,
	WEBHOOK_CONFIRM_TRAFFIC_INCREASE,
	WEBHOOK_CONFIRM_PROMOTION,
	WEBHOOK_POST_ROLLOUT,
	WEBHOOK_ROLLBACK,
	WEBHOOK_EVENT,
	WEBHOOK_TYPES
};

#define WEBHOOK_TIMEOUT_MAX_MS 60000

struct promotion_webhook {
	char *name; /* unique in the Promotion */
	enum webhook_type type;
	char *url; /* http or https */
	int64_t timeout_ms; /* one call; default 10s, at most WEBHOOK_TIMEOUT_MAX_MS */
	int failure_limit;  /* rollout hooks: failed windows in a row that fail the rollout (1) */
	struct header_kv *metadata; /* in the file's order */
	size_t nmetadata;
};

struct promotion {
	char *name;
	char *tag;
	char *image_ref; /* may be NULL */
	char *skill_semver;
	char *ticket; /* may be NULL */
	int steps[DESIRED_MAX_STEPS];
	size_t nsteps;
	int64_t analysis_interval_ms;
	int green_windows;
	int64_t max_hold_ms;
	bool rollback_automatic;
	/* spec.canary.gates: the step percents the rollout holds before until a person approves
	 * them; 100 when it is not a step gates Mirroring. */
	int gates[DESIRED_MAX_STEPS];
	size_t ngates;
	/* spec.approval: counts only while tag is this Promotion's tag; NULL: none. */
	char *approval_tag;
	int approval_through; /* every gate up to this percent is approved */
	bool approval_full;   /* "full": every gate and Mirroring */
	/* spec.retry: lifts the quarantine of retry_tag recorded at retry_at_ms (wall clock, ms);
	 * NULL: none. */
	char *retry_tag;
	int64_t retry_at_ms;
	int rollback_window; /* spec.rollback.window: 0..20 */
	bool suspend;
	bool abort;
	struct promotion_analysis analysis;
	struct promotion_webhook *webhooks; /* spec.canary.analysis.webhooks */
	size_t nwebhooks;
	struct origin origin;
};

struct tenant_fragments {
	struct json_object *merged; /* canonical merge of <kind>.d/NN-*.yaml; NULL when none */
	char sha256[65];            /* of the canonical JSON; "" when none */
	size_t nfiles;
};

struct tenant_slice {
	char *name;
	enum tenant_channel channel;
	char *profile;        /* OpenClaw profile (OPENCLAW_PROFILE); may be NULL */
	time_t maintenance_until; /* 0 when none */
	struct tenant_fragments fragments[FRAG_KINDS];
	struct origin origin;
};

/* LoadBalancer.spec.minServing: a count of gateways, or a percent of them (rounded up). */
struct min_serving {
	int value;
	bool percent;
};

struct load_balancer {
	char *name;
	enum lb_driver driver;
	struct min_serving min_serving;
	int64_t drain_timeout_ms; /* spec.drainTimeout: the longest wait for sessions to end */
	struct {
		char *socket, *address, *backend, *tenant_map;
	} haproxy;
	struct {
		char *url;
		struct header_kv *headers;
		size_t nheaders;
	} http;
	struct {
		char *path;
	} file;
	struct {
		char **argv; /* NULL-terminated */
		size_t argc;
	} command;
	struct origin origin;
};

struct lock_plugin {
	char *name, *version;
};

struct openclaw_lock {
	bool present;
	char *version; /* openclaw.version */
	char *commit;  /* openclaw.commit, may be NULL */
	char *sha256;  /* openclaw.sha256 (of the release artifact), may be NULL */
	struct lock_plugin *plugins;
	size_t nplugins;
	char *skills_semver;
	/* skills.sha256, may be NULL: the pack's digest as the runbooks compute it
	 * (reconcilers/pack_digest.h), so a pack put on a Mac by other means is adopted */
	char *skills_sha256;
	char *runtime_node;   /* runtime.node: the node binary the gateway's plist runs; may be NULL */
	char file_sha256[65]; /* sha256 of the lock file's bytes, what peers compare */
};

/* OpenClaw configuration fragments (desired_openclaw.c): base.d, or one host's <host>.d. */
struct openclaw_fragments {
	char *host; /* NULL for base.d */
	struct json_object **frags; /* in file name order */
	size_t n;
};

struct desired_state {
	char *revision; /* "<ref>@sha1:<hex>" or NULL for a directory */
	char *commit;   /* hex, NULL for a directory */
	struct mac_node *nodes;
	size_t nnodes;
	struct promotion *promotions;
	size_t npromotions;
	struct tenant_slice *tenants;
	size_t ntenants;
	struct load_balancer *lbs;
	size_t nlbs;
	struct openclaw_lock lock;
	struct openclaw_fragments openclaw_base;
	struct openclaw_fragments *openclaw_hosts;
	size_t nopenclaw_hosts;
};

/* Questions only the source can answer; any hook may be NULL. */
struct desired_hooks {
	/* A Promotion's tag must exist in the repository (asked only for Git sources). */
	bool (*tag_exists)(void *ctx, const char *tag);
	void *ctx;
};

int desired_load(const struct treefiles *files, const struct schema_set *schemas,
		 const struct desired_hooks *hooks, struct desired_state **out,
		 struct diag_list *diags);
void desired_free(struct desired_state *ds);
/* The OpenClaw configuration of the MacNode host: openclaw/base.d then openclaw/nodes/<host>.d
 * merged as fragments.h merges (a new object in *out); *out NULL when neither has a fragment. */
int desired_openclaw_config(const struct desired_state *ds, const char *host,
			    struct json_object **out, struct cf_err *err);
/* Frees what desired_load_openclaw_fragments kept (desired_free calls it). */
void desired_openclaw_free(struct desired_state *ds);

const struct mac_node *desired_node(const struct desired_state *ds, const char *name);
const struct tenant_slice *desired_tenant(const struct desired_state *ds, const char *name);
const char *node_role_name(enum node_role r);
const char *lb_driver_name(enum lb_driver d);
const char *fragment_kind_name(enum fragment_kind k); /* "gateway", "doctor", ... */
const char *webhook_type_name(enum webhook_type t);   /* "pre-rollout", "rollout", ... */
/* The fewest of ngateways that keep traffic under ms (NULL: the default, 50 %), 0..ngateways. */
size_t min_serving_count(const struct min_serving *ms, size_t ngateways);

#endif
