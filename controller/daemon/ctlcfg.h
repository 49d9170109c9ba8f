/* ctlcfg: the fleet controller's configuration file (YAML), one table of keys with types and
 * defaults (cfgtable.h; README.md, "The fleet controller"). Every problem is reported as
 * FILE:LINE:COL: -: KEY: message, all at once; a config with errors is never half-applied, so a
 * reload that fails keeps the running one, and a reload that loads applies every section. ctlcfg_set applies a command-line flag with the checks
 * its key gets in the file. */
#ifndef CLAWFLEET_CTLCFG_H
#define CLAWFLEET_CTLCFG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/cfgtable.h"
#include "base/diag.h"
#include "base/err.h"

struct controller_config {
	char *source_url;	   /* where desired state comes from: a path or a Git URL */
	char *source_ref;	   /* gitref_parse syntax */
	int64_t source_interval_ms; /* how often the ref is polled (and a pass runs) */
	int64_t source_timeout_ms;  /* fetch deadline */
	/* source.writeBack: after an automatic rollback, one commit that points the Promotion back
	 * at the last good tag (daemon/writeback.c). On when the author is set. */
	char *writeback_author;	     /* "Name <email>" */
	char *writeback_branch;	     /* NULL: source.ref's branch */
	char *writeback_credentials; /* a file holding the token put into an https URL; NULL: none */
	char *state;		   /* rollout state, audit log, Git mirror */
	char *listen;		   /* host:port of /status, /metrics, /healthz, /readyz */
	char *agent_token;	   /* file holding the bearer token sent to the agents */
	int64_t token_max_age_ms;  /* tokens.maxAge: an older token is token.age in /status */
	int64_t analysis_interval_ms; /* overrides every Promotion's; 0: not set */
	int64_t max_parallel;	   /* /readyz requests in flight at once in a pass (fleet_poll) */
	char *notifier;		   /* POST /v1/events URL; NULL: broadcasts are only logged */
	char *canary_backend;	   /* HAProxy backend of the canary pool, for tenant routes */
	/* Where the Promotions' metrics are queried when a Promotion names no
	 * analysis.provider (observe/prom_poll.h); NULL: nowhere. */
	char *prometheus_url;
	int64_t prometheus_timeout_ms;
	/* The Flux receiver (POST webhook_path) runs when a token source is set. */
	char *webhook_path;
	char *webhook_token_current, *webhook_token_next, *webhook_token_prev;
	char *webhook_token_dir;   /* token.current/next/prev as `clawfleet token` rotates them */
	bool webhook_require_event_header;
	/* webhook.accept: rows of CTLCFG_ACCEPT_KIND, _NAMESPACE, _NAME (NULL: any); n 0: any */
	struct cfg_records webhook_accept;
	/* store: where the rollout state and the audit chain live (README "High availability"):
	 * CTLCFG_STORE_FILE, the state directory (the default), or CTLCFG_STORE_ETCD, shared by
	 * several replicas of which one leads. */
	int store_type;
	char **store_endpoints;	  /* etcd: "http(s)://host:port", NULL-terminated */
	char *store_prefix;	  /* etcd: "/clawfleet/<name>" */
	int64_t store_lease_ttl_ms; /* etcd: the leader's lease, whole seconds */
	int64_t store_timeout_ms;   /* etcd: one request to one member */
	char *store_tls_ca, *store_tls_cert, *store_tls_key;
};

enum { CTLCFG_STORE_FILE, CTLCFG_STORE_ETCD };

enum { CTLCFG_ACCEPT_KIND, CTLCFG_ACCEPT_NAMESPACE, CTLCFG_ACCEPT_NAME };

/* Loads path; 0 when clean, else -1 with every problem in diags (cfg then freed). */
int ctlcfg_load(const char *path, struct controller_config *cfg, struct diag_list *diags);
/* Sets one key ("listen", "state", "source.url", ...) from text, as a flag overrides the file;
 * -1 with the message in err when the value breaks the key's rule (cfg unchanged). */
int ctlcfg_set(struct controller_config *cfg, const char *key, const char *value,
	       struct cf_err *err);
void ctlcfg_free(struct controller_config *cfg);
/* The branch source.writeBack commits to: writeBack.branch, else source.ref's branch; -1 with
 * err when source.ref names none (a tag, a commit, a semver range). */
int ctlcfg_writeback_branch(const struct controller_config *cfg, char *out, size_t cap,
			    struct cf_err *err);

#endif
