#include "desired/agentcfg.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cfgtable.h"
#include "base/names.h"
#include "base/netaddr.h"

#define K(name, type, field, def, req) \
	{name, type, offsetof(struct agent_config, field), def, req, 0, 0, NULL}

static const struct cfg_key keys[] = {
	K("node", CFG_STRING, node, NULL, true),
	K("listen", CFG_STRING, listen, "127.0.0.1:18081", false),
	K("root", CFG_PATH, root, "/", false),
	K("infra.path", CFG_PATH, infra_path, "/usr/local/share/openclaw-infra", false),
	K("infra.remote", CFG_STRING, infra_remote, NULL, true),
	K("skills", CFG_PATH, skills, "/var/db/openclaw/skills", false),
	K("tenants", CFG_PATH, tenants, "/etc/openclaw/tenants", false),
	K("openclaw", CFG_PATH, openclaw, "/usr/local/bin/openclaw", false),
	K("npm", CFG_PATH, npm, "/usr/local/bin/npm", false),
	K("service.manager", CFG_STRING, service_manager, "launchd", false),
	/* No default: each manager has its own (service.h): gui/<uid>/ai.openclaw.gateway for
	 * launchd, openclaw-gateway.service for systemd. */
	K("service.label", CFG_STRING, service_label, NULL, false),
	K("service.launchctl", CFG_PATH, service_launchctl, "/bin/launchctl", false),
	K("service.systemctl", CFG_PATH, service_systemctl, "/usr/bin/systemctl", false),
	/* launchd only: the plist to lint when `launchctl print` names none. */
	K("service.plist", CFG_PATH, service_plist, NULL, false),
	K("service.restart", CFG_ARGV, service_restart, NULL, false),
	K("service.status", CFG_ARGV, service_status, NULL, false),
	{"gateway.port", CFG_INT, offsetof(struct agent_config, gateway_port), "18789", false, 1,
	 65535, NULL},
	/* No defaults: the log is the one launchd names, and TLS is checked only where the gateway
	 * terminates it. */
	K("gateway.log", CFG_PATH, gateway_log, NULL, false),
	K("gateway.tlsCert", CFG_PATH, gateway_tls_cert, NULL, false),
	K("queue", CFG_STRING, queue, NULL, false),
	K("digest", CFG_STRING, digest, NULL, false),
	K("tokens.current", CFG_PATH, token_current, NULL, false),
	K("tokens.next", CFG_PATH, token_next, NULL, false),
	K("tokens.prev", CFG_PATH, token_prev, NULL, false),
	K("tokens.dir", CFG_PATH, token_dir, NULL, false),
	/* 30 days, runbook 002's rotation cadence (durations count in hours at most). */
	K("tokens.maxAge", CFG_DURATION, token_max_age_ms, "720h", false),
	K("refresh", CFG_DURATION, refresh_ms, "30s", false),
	K("state", CFG_PATH, state, "/var/db/clawfleet/agent", false),
	K("doctor.timeout", CFG_DURATION, doctor_timeout_ms, "20s", false),
	K("doctor.deep", CFG_BOOL, doctor_deep, "false", false),
	K("fetchTimeout", CFG_DURATION, fetch_timeout_ms, "60s", false),
	{"artifactCache.maxMiB", CFG_INT, offsetof(struct agent_config, artifact_cache_max_mib),
	 "1024", false, 1, 1024 * 1024, NULL},

	K("idleTimeout", CFG_DURATION, idle_timeout_ms, "120s", false),
	K("controllerAddresses", CFG_ARGV, controller_addresses, NULL, false),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static void check_values(const char *path, void *cfg, struct diag_list *dl)
{
	struct agent_config *c = cfg;
	struct cf_err err;
	if (c->node && name_check_dns_label(c->node, &err) < 0)
		cfgtable_report(dl, path, "node", err.msg);
	const char *m = c->service_manager;
	if (m && strcmp(m, "launchd") && strcmp(m, "systemd") && strcmp(m, "openclaw") &&
	    strcmp(m, "command"))
		cfgtable_report(dl, path, "service.manager",
			 "must be launchd, systemd, openclaw or command");
	if (m && strcmp(m, "command") == 0 && (!c->service_restart || !c->service_status))
		cfgtable_report(dl, path, "service",
			 "the command manager needs service.restart and service.status argv lists");
	if (m && strcmp(m, "launchd") != 0 && c->service_plist)
		cfgtable_report(dl, path, "service.plist",
			 "only the launchd manager reloads a plist; remove service.plist");
	if (!c->token_current && !c->token_dir)
		cfgtable_report(dl, path, "tokens",
			 "set tokens.dir (rotated with clawfleet token) or tokens.current");
	if (c->refresh_ms && c->refresh_ms < 100)
		cfgtable_report(dl, path, "refresh", "must be at least 100ms");
	if (c->idle_timeout_ms < 1000 || c->idle_timeout_ms > 3600000)
		cfgtable_report(dl, path, "idleTimeout",
			 "must be between 1s and 1h (longer than the controller's source.interval)");
	for (char **a = c->controller_addresses; a && *a; a++) {
		struct netaddr_block block;
		if (netaddr_parse_block(*a, &block, &err) < 0)
			cfgtable_report(dl, path, "controllerAddresses", err.msg);
	}
}

int agentcfg_load(const char *path, struct agent_config *cfg, struct diag_list *diags)
{
	memset(cfg, 0, sizeof(*cfg));
	return cfgtable_load(keys, NKEYS, path, cfg, check_values, diags);
}

char *agentcfg_path(const struct agent_config *cfg, const char *p)
{
	const char *root = cfg->root && strcmp(cfg->root, "/") != 0 ? cfg->root : "";
	char *out = NULL;
	if (asprintf(&out, "%s%s", root, p) < 0)
		return NULL;
	return out;
}

void agentcfg_free(struct agent_config *cfg)
{
	cfgtable_free(keys, NKEYS, cfg);
	memset(cfg, 0, sizeof(*cfg));
}
