#include "notifycfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "fsutil.h"
#include "notifier.h"
#include "timeparse.h"
#include "yamltree.h"

#define URL_MAX 2048

enum key_type { KEY_STRING, KEY_PATH, KEY_DURATION, KEY_FORMAT };

struct key {
	const char *name;
	enum key_type type;
	size_t offset;
	const char *def; /* default as text, NULL when required or optional without default */
	bool required;
};

#define K(name, type, field, def, req) \
	{name, type, offsetof(struct notifier_config, field), def, req}

static const struct key keys[] = {
	K("socket", KEY_PATH, socket, NULL, true),
	K("listen", KEY_STRING, listen, "127.0.0.1:9099", false),
	K("window", KEY_DURATION, window_ms, "5m", false),
	K("channel.url", KEY_STRING, channel_url, NULL, true),
	K("channel.format", KEY_FORMAT, channel_format, "generic", false),
	K("digestUrl", KEY_STRING, digest_url, NULL, false),
	K("tokens.dir", KEY_PATH, tokens_dir, NULL, false),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct cfg_loader {
	const char *file;
	struct notifier_config *cfg;
	struct diag_list *diags;
	bool seen[NKEYS];
};

static void *slot(struct notifier_config *cfg, const struct key *k)
{
	return (char *)cfg + k->offset;
}

static void cfg_diag(struct cfg_loader *ld, const struct ynode *n, const char *key, const char *msg)
{
	diag_add(ld->diags, ld->file, n ? n->line : 0, n ? n->col : 0, NULL, key, "%s", msg);
}

/* Values are never echoed: channel.url is often a credential (a Slack webhook's path is). */
static int set_scalar(const struct key *k, struct notifier_config *cfg, const char *text,
		      const struct ynode *n, struct cf_err *err)
{
	int64_t ms;
	if (n && ynode_type(n) != YT_STR)
		return cf_err_set(err, k->type == KEY_DURATION ? "must be a duration such as 5m"
							       : "must be a string");
	switch (k->type) {
	case KEY_PATH:
		if (text[0] != '/')
			return cf_err_set(err, "must be an absolute path");
		/* fall through */
	case KEY_STRING:
		free(*(char **)slot(cfg, k));
		*(char **)slot(cfg, k) = strdup(text);
		return 0;
	case KEY_DURATION:
		if (duration_parse(text, &ms, err) < 0)
			return -1;
		*(int64_t *)slot(cfg, k) = ms;
		return 0;
	case KEY_FORMAT:
		if (strcmp(text, "generic") && strcmp(text, "slack"))
			return cf_err_set(err, "must be generic or slack");
		*(enum notify_format *)slot(cfg, k) =
			strcmp(text, "slack") == 0 ? NOTIFY_SLACK : NOTIFY_GENERIC;
		return 0;
	}
	return cf_err_set(err, "unknown key type");
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
		if (vn->kind != YNODE_SCALAR ? cf_err_set(&err, "must be a single value")
					     : set_scalar(k, ld->cfg, vn->str, vn, &err) < 0)
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

static bool url_ok(const char *url)
{
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return false;
	for (const char *p = url; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	const char *host = strstr(url, "://") + 3;
	return strlen(url) <= URL_MAX && *host && *host != '/';
}

static void check_values(struct cfg_loader *ld)
{
	struct notifier_config *c = ld->cfg;
	if (c->socket && strlen(c->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		cfg_diag(ld, NULL, "socket", "the path is too long for a UNIX socket");
	if (c->listen && !c->listen[0])
		cfg_diag(ld, NULL, "listen", "must be host:port");
	if (c->window_ms && (c->window_ms < NF_WINDOW_MIN_MS || c->window_ms > NF_WINDOW_MAX_MS))
		cfg_diag(ld, NULL, "window", "must be from 1s to 24h");
	if (c->channel_url && !url_ok(c->channel_url))
		cfg_diag(ld, NULL, "channel.url",
			 "must be an http:// or https:// URL of at most 2048 bytes, no spaces");
	if (c->digest_url && !url_ok(c->digest_url))
		cfg_diag(ld, NULL, "digestUrl",
			 "must be an http:// or https:// URL of at most 2048 bytes, no spaces");
}

int notifycfg_load(const char *path, struct notifier_config *cfg, struct diag_list *diags)
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
		notifycfg_free(cfg);
		return -1;
	}
	return 0;
}

void notifycfg_free(struct notifier_config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type == KEY_STRING || keys[i].type == KEY_PATH)
			free(*(char **)slot(cfg, &keys[i]));
	memset(cfg, 0, sizeof(*cfg));
}
