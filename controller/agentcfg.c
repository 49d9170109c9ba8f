#include "agentcfg.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "names.h"
#include "timeparse.h"
#include "yamltree.h"

enum key_type { KEY_STRING, KEY_PATH, KEY_INT, KEY_DURATION, KEY_BOOL, KEY_ARGV };

struct key {
	const char *name;
	enum key_type type;
	size_t offset;
	const char *def; /* default as text, NULL when required or optional without default */
	bool required;
};

#define K(name, type, field, def, req) {name, type, offsetof(struct agent_config, field), def, req}

static const struct key keys[] = {
	K("node", KEY_STRING, node, NULL, true),
	K("listen", KEY_STRING, listen, "127.0.0.1:18081", false),
	K("root", KEY_PATH, root, "/", false),
	K("infra.path", KEY_PATH, infra_path, "/usr/local/share/openclaw-infra", false),
	K("infra.remote", KEY_STRING, infra_remote, NULL, true),
	K("skills", KEY_PATH, skills, "/var/db/openclaw/skills", false),
	K("tenants", KEY_PATH, tenants, "/etc/openclaw/tenants", false),
	K("openclaw", KEY_PATH, openclaw, "/usr/local/bin/openclaw", false),
	K("npm", KEY_PATH, npm, "/usr/local/bin/npm", false),
	K("service.manager", KEY_STRING, service_manager, "launchd", false),
	/* No default: each manager has its own (service.h): gui/<uid>/ai.openclaw.gateway for
	 * launchd, openclaw-gateway.service for systemd. */
	K("service.label", KEY_STRING, service_label, NULL, false),
	K("service.launchctl", KEY_PATH, service_launchctl, "/bin/launchctl", false),
	K("service.systemctl", KEY_PATH, service_systemctl, "/usr/bin/systemctl", false),
	K("service.restart", KEY_ARGV, service_restart, NULL, false),
	K("service.status", KEY_ARGV, service_status, NULL, false),
	K("gateway.port", KEY_INT, gateway_port, "18789", false),
	K("queue", KEY_STRING, queue, NULL, false),
	K("digest", KEY_STRING, digest, NULL, false),
	K("tokens.current", KEY_PATH, token_current, NULL, false),
	K("tokens.next", KEY_PATH, token_next, NULL, false),
	K("tokens.prev", KEY_PATH, token_prev, NULL, false),
	K("tokens.dir", KEY_PATH, token_dir, NULL, false),
	K("refresh", KEY_DURATION, refresh_ms, "30s", false),
	K("state", KEY_PATH, state, "/var/db/clawfleet/agent", false),
	K("doctor.timeout", KEY_DURATION, doctor_timeout_ms, "20s", false),
	K("doctor.deep", KEY_BOOL, doctor_deep, "false", false),
	K("fetchTimeout", KEY_DURATION, fetch_timeout_ms, "60s", false),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct cfg_loader {
	const char *file;
	struct agent_config *cfg;
	struct diag_list *diags;
	bool seen[NKEYS];
};

static void *slot(struct agent_config *cfg, const struct key *k)
{
	return (char *)cfg + k->offset;
}

static void cfg_diag(struct cfg_loader *ld, const struct ynode *n, const char *key, const char *msg)
{
	diag_add(ld->diags, ld->file, n ? n->line : 0, n ? n->col : 0, NULL, key, "%s", msg);
}

static int set_scalar(const struct key *k, struct agent_config *cfg, const char *text,
		      const struct ynode *n, struct cf_err *err)
{
	long long iv;
	int64_t ms;
	bool bv;
	switch (k->type) {
	case KEY_STRING:
	case KEY_PATH:
		if (n && ynode_type(n) != YT_STR)
			return cf_err_set(err, "must be a string");
		if (k->type == KEY_PATH && text[0] != '/')
			return cf_err_set(err, "must be an absolute path, got \"%s\"", text);
		free(*(char **)slot(cfg, k));
		*(char **)slot(cfg, k) = strdup(text);
		return 0;
	case KEY_INT:
		if (n ? ynode_int(n, &iv) < 0 : sscanf(text, "%lld", &iv) != 1)
			return cf_err_set(err, "must be an integer");
		if (iv < 1 || iv > 65535)
			return cf_err_set(err, "must be 1..65535, got %lld", iv);
		*(int64_t *)slot(cfg, k) = iv;
		return 0;
	case KEY_DURATION:
		if (n && ynode_type(n) != YT_STR)
			return cf_err_set(err, "must be a duration such as 30s or 5m");
		if (duration_parse(text, &ms, err) < 0)
			return -1;
		*(int64_t *)slot(cfg, k) = ms;
		return 0;
	case KEY_BOOL:
		if (n ? ynode_bool(n, &bv) < 0 : (bv = strcmp(text, "true") == 0, 0))
			return cf_err_set(err, "must be true or false");
		*(bool *)slot(cfg, k) = bv;
		return 0;
	case KEY_ARGV:
		break;
	}
	return cf_err_set(err, "must be a list of strings");
}

static int set_argv(const struct key *k, struct agent_config *cfg, const struct ynode *n,
		    struct cf_err *err)
{
	if (n->kind != YNODE_SEQ || n->n == 0 || n->n > 64)
		return cf_err_set(err, "must be a list of 1 to 64 strings (an argv, no shell)");
	char **argv = calloc(n->n + 1, sizeof(char *));
	if (!argv)
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < n->n; i++) {
		const char *s = ynode_str(n->items[i]);
		if (!s) {
			for (size_t j = 0; j < i; j++)
				free(argv[j]);
			free(argv);
			return cf_err_set(err, "item %zu must be a string", i);
		}
		argv[i] = strdup(s);
	}
	*(char ***)slot(cfg, k) = argv;
	return 0;
}

static const struct key *key_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static bool is_section(const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < NKEYS; i++)
		if (strncmp(keys[i].name, name, len) == 0 && keys[i].name[len] == '.')
			return true;
	return false;
}

static void walk(struct cfg_loader *ld, const struct ynode *map, const char *prefix)
{
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *kn = map->pairs[i].key, *vn = map->pairs[i].value;
		char name[128];
		snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", kn->str);
		const struct key *k = key_find(name);
		if (!k) {
			if (is_section(name) && vn->kind == YNODE_MAP)
				walk(ld, vn, name);
			else
				cfg_diag(ld, kn, name,
					 is_section(name) ? "must be a map" : "unknown key");
			continue;
		}
		struct cf_err err;
		ld->seen[k - keys] = true;
		int rc = k->type == KEY_ARGV ? set_argv(k, ld->cfg, vn, &err)
			 : vn->kind != YNODE_SCALAR
				 ? cf_err_set(&err, "must be a single value")
				 : set_scalar(k, ld->cfg, vn->str, vn, &err);
		if (rc < 0)
			cfg_diag(ld, vn, name, err.msg);
	}
}

static void apply_defaults(struct cfg_loader *ld)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (ld->seen[i])
			continue;
		if (keys[i].required) {
			cfg_diag(ld, NULL, keys[i].name, "required key is missing");
		} else if (keys[i].def) {
			struct cf_err err;
			if (set_scalar(&keys[i], ld->cfg, keys[i].def, NULL, &err) < 0)
				cfg_diag(ld, NULL, keys[i].name, err.msg);
		}
	}
}

static void check_values(struct cfg_loader *ld)
{
	struct agent_config *c = ld->cfg;
	struct cf_err err;
	if (c->node && name_check_dns_label(c->node, &err) < 0)
		cfg_diag(ld, NULL, "node", err.msg);
	const char *m = c->service_manager;
	if (m && strcmp(m, "launchd") && strcmp(m, "systemd") && strcmp(m, "openclaw") &&
	    strcmp(m, "command"))
		cfg_diag(ld, NULL, "service.manager",
			 "must be launchd, systemd, openclaw or command");
	if (m && strcmp(m, "command") == 0 && (!c->service_restart || !c->service_status))
		cfg_diag(ld, NULL, "service",
			 "the command manager needs service.restart and service.status argv lists");
	if (!c->token_current && !c->token_dir)
		cfg_diag(ld, NULL, "tokens",
			 "set tokens.dir (rotated with clawfleet token) or tokens.current");
	if (c->refresh_ms && c->refresh_ms < 100)
		cfg_diag(ld, NULL, "refresh", "must be at least 100ms");
}

int agentcfg_load(const char *path, struct agent_config *cfg, struct diag_list *diags)
{
	memset(cfg, 0, sizeof(*cfg));
	struct cfg_loader ld = {.file = path, .cfg = cfg, .diags = diags};
	size_t before = diags->n;
	char *text = NULL;
	size_t len = 0;
	struct cf_err err;
	struct yfile *yf = NULL;
	struct yerr yerr;
	if (fsutil_read_file(path, 1u << 20, &text, &len, &err) < 0) {
		diag_add(diags, path, 0, 0, NULL, NULL, "%s", err.msg);
		goto done;
	}
	if (yfile_parse(&yf, text, len, NULL, &yerr) < 0) {
		diag_add(diags, path, yerr.line, yerr.col, NULL, NULL, "%s", yerr.msg);
		goto done;
	}
	const struct ynode *root = yf->ndocs == 1 ? yf->docs[0].root : NULL;
	if (!root || root->kind != YNODE_MAP) {
		diag_add(diags, path, 1, 1, NULL, NULL, "the configuration is one YAML map");
		goto done;
	}
	walk(&ld, root, "");
	apply_defaults(&ld);
	check_values(&ld);
done:
	yfile_free(yf);
	free(text);
	if (diags->n != before) {
		agentcfg_free(cfg);
		return -1;
	}
	return 0;
}

char *agentcfg_path(const struct agent_config *cfg, const char *p)
{
	const char *root = cfg->root && strcmp(cfg->root, "/") != 0 ? cfg->root : "";
	char *out = NULL;
	if (asprintf(&out, "%s%s", root, p) < 0)
		abort();
	return out;
}

static void argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

void agentcfg_free(struct agent_config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].type == KEY_ARGV)
			argv_free(*(char ***)slot(cfg, &keys[i]));
		else if (keys[i].type == KEY_STRING || keys[i].type == KEY_PATH)
			free(*(char **)slot(cfg, &keys[i]));
	}
	memset(cfg, 0, sizeof(*cfg));
}
