/* agentcfg: the node agent's configuration file (YAML), declared as one table of keys with
 * types and defaults (README.md lists them). Every problem is reported as
 * FILE:LINE:COL: -: KEY: message, all at once; a config with errors is never half-applied.
 * Filesystem paths are taken relative to `root` (agentcfg_path), which tests point at a
 * simulated Mac; infra.remote and URLs are not. */
#ifndef CLAWFLEET_AGENTCFG_H
#define CLAWFLEET_AGENTCFG_H
#include <stdbool.h>
#include <stdint.h>

#include "base/diag.h"

struct agent_config {
	char *node;
	char *listen;
	char *root;
	char *infra_path;
	char *infra_remote;
	char *skills;
	char *tenants;
	char *openclaw;
	char *npm;
	char *service_manager; /* launchd | systemd | openclaw | command */
	char *service_label;
	char *service_launchctl;
	char *service_systemctl;
	char *service_plist; /* launchd: the plist when `launchctl print` names none; NULL: none */
	char **service_restart; /* argv for the command manager, NULL-terminated */
	char **service_status;
	int64_t gateway_port;
	char *gateway_log;	/* the gateway's log; NULL: the stderr path launchd names */
	char *gateway_tls_cert; /* the PEM certificate the gateway serves; NULL: no TLS */
	char *queue;
	char *digest;
	char *token_current;
	char *token_next;
	char *token_prev;
	char *token_dir; /* token.current, token.next, token.prev as `clawfleet token` rotates them */
	int64_t token_max_age_ms; /* tokens.maxAge: an older current token is degraded (token.age) */
	int64_t refresh_ms;
	char *state;
	int64_t doctor_timeout_ms;
	bool doctor_deep;
	int64_t fetch_timeout_ms;
	int64_t artifact_cache_max_mib; /* the install artifact cache's size limit */

	/* How long an idle keep-alive connection stays open: longer than the controller's
	 * interval, so its one connection to this agent lasts from one pass to the next. */
	int64_t idle_timeout_ms;
	char **controller_addresses; /* IPs and ADDRESS/PREFIX blocks sharing the local host's kept
				      * HTTP connection slots; NULL-terminated, NULL when none */
};

/* Loads path; 0 when clean, else -1 with every problem in diags (cfg then freed). */
int agentcfg_load(const char *path, struct agent_config *cfg, struct diag_list *diags);
/* root + p into a malloc'd string (p must be absolute), or NULL when out of memory. */
char *agentcfg_path(const struct agent_config *cfg, const char *p);
void agentcfg_free(struct agent_config *cfg);

#endif
