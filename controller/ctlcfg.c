#include "ctlcfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "gitsource.h"
#include "timeparse.h"
#include "weights/weights.h"
#include "yamltree.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define TEXT_MAX 4096
#define MS_MIN 100
#define HOUR_MS 3600000
#define DAY_MS (24 * HOUR_MS)

enum key_type { KEY_STRING, KEY_PATH, KEY_DURATION };

typedef int check_fn(const char *value, struct cf_err *err);

struct key {
	const char *name;
	enum key_type type;
	size_t offset;
	const char *def; /* default as text, NULL when required or optional without default */
	bool required;
	check_fn *check;	  /* strings: the value's rule; NULL: any printable text */
	int64_t min_ms, max_ms; /* durations */
};

static check_fn check_ref, check_listen, check_url, check_backend;

#define K(name, type, field, def, req, check, lo, hi) \
	{name, type, offsetof(struct controller_config, field), def, req, check, lo, hi}

static const struct key keys[] = {
	K("source.url", KEY_STRING, source_url, NULL, true, NULL, 0, 0),
	K("source.ref", KEY_STRING, source_ref, "main", false, check_ref, 0, 0),
	K("source.interval", KEY_DURATION, source_interval_ms, "30s", false, NULL, MS_MIN, DAY_MS),
	K("source.timeout", KEY_DURATION, source_timeout_ms, "60s", false, NULL, 1000, HOUR_MS),
	K("state", KEY_PATH, state, "/var/db/clawfleet/controller", false, NULL, 0, 0),
	K("listen", KEY_STRING, listen, "127.0.0.1:8088", false, check_listen, 0, 0),
	K("agentToken", KEY_PATH, agent_token, NULL, true, NULL, 0, 0),
	K("analysisInterval", KEY_DURATION, analysis_interval_ms, NULL, false, NULL, MS_MIN,
	  DAY_MS),
	K("notifier", KEY_STRING, notifier, NULL, false, check_url, 0, 0),
	K("canaryBackend", KEY_STRING, canary_backend, NULL, false, check_backend, 0, 0),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int check_ref(const char *value, struct cf_err *err)
{
	struct gitref ref = {0};
	int rc = gitref_parse(value, &ref, err);
	gitref_free(&ref);
	return rc;
}

/* host:port or [v6]:port, port 0..65535 (0 picks a free port). */
static int check_listen(const char *value, struct cf_err *err)
{
	const char *colon = strrchr(value, ':');
	if (!colon || colon == value)
		return cf_err_set(err, "must be host:port, such as 127.0.0.1:8088");
	const char *p = colon + 1;
	size_t digits = strspn(p, "0123456789");
	if (digits == 0 || digits > 5 || p[digits] != '\0' || atol(p) > 65535)
		return cf_err_set(err, "the port must be a number from 0 to 65535");
	return 0;
}

static int check_url(const char *value, struct cf_err *err)
{
	if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
		return cf_err_set(err, "must be an http:// or https:// URL");
	return 0;
}

static int check_backend(const char *value, struct cf_err *err)
{
	if (!weights_name_ok(value))
		return cf_err_set(err, "must be 1 to %d of A-Z a-z 0-9 _ . : -",
				  WEIGHTS_SERVER_NAME_MAX);
	return 0;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void *slot(struct controller_config *cfg, const struct key *k)
{
	return (char *)cfg + k->offset;
}

/* Values are not echoed back: a URL may carry a credential. */
static int set_value(const struct key *k, struct controller_config *cfg, const char *text,
		     struct cf_err *err)
{
	int64_t ms;
	if (k->type == KEY_DURATION) {
		if (duration_parse(text, &ms, err) < 0)
			return -1;
		if (ms < k->min_ms || ms > k->max_ms) {
			char lo[32], hi[32];
			duration_format(k->min_ms, lo, sizeof(lo));
			duration_format(k->max_ms, hi, sizeof(hi));
			return cf_err_set(err, "must be from %s to %s", lo, hi);
		}
		*(int64_t *)slot(cfg, k) = ms;
		return 0;
	}
	if (!*text)
		return cf_err_set(err, "must not be empty");
	if (strlen(text) > TEXT_MAX || !printable(text))
		return cf_err_set(err, "must be at most %d printable characters", TEXT_MAX);
	if (k->type == KEY_PATH && text[0] != '/')
		return cf_err_set(err, "must be an absolute path");
	if (k->check && k->check(text, err) < 0)
		return -1;
	char *copy = strdup(text);
	if (!copy)
		return cf_err_set(err, "out of memory");
	free(*(char **)slot(cfg, k));
	*(char **)slot(cfg, k) = copy;
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

struct cfg_loader {
	const char *file;
	struct controller_config *cfg;
	struct diag_list *diags;
	bool seen[NKEYS];
};

static void cfg_diag(struct cfg_loader *ld, const struct ynode *n, const char *key, const char *msg)
{
	diag_add(ld->diags, ld->file, n ? n->line : 0, n ? n->col : 0, NULL, key, "%s", msg);
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
		if (vn->kind != YNODE_SCALAR || ynode_type(vn) != YT_STR)
			cfg_diag(ld, vn, name,
				 k->type == KEY_DURATION ? "must be a duration such as 30s or 5m"
							 : "must be a string");
		else if (set_value(k, ld->cfg, vn->str, &err) < 0)
			cfg_diag(ld, vn, name, err.msg);
	}
}

static void apply_defaults(struct cfg_loader *ld)
{
	for (size_t i = 0; i < NKEYS; i++) {
		struct cf_err err;
		if (ld->seen[i])
			continue;
		if (keys[i].required)
			cfg_diag(ld, NULL, keys[i].name, "required key is missing");
		else if (keys[i].def && set_value(&keys[i], ld->cfg, keys[i].def, &err) < 0)
			cfg_diag(ld, NULL, keys[i].name, err.msg);
	}
}

int ctlcfg_load(const char *path, struct controller_config *cfg, struct diag_list *diags)
{
	memset(cfg, 0, sizeof(*cfg));
	struct cfg_loader ld = {.file = path, .cfg = cfg, .diags = diags};
	size_t before = diags->n + diags->dropped;
	char *text = NULL;
	size_t len = 0;
	struct cf_err err;
	struct yfile *yf = NULL;
	struct yerr yerr;
	if (fsutil_read_file(path, CONFIG_MAX_BYTES, &text, &len, &err) < 0) {
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
done:
	yfile_free(yf);
	free(text);
	if (diags->n + diags->dropped != before) {
		ctlcfg_free(cfg);
		return -1;
	}
	return 0;
}

int ctlcfg_set(struct controller_config *cfg, const char *key, const char *value,
	       struct cf_err *err)
{
	const struct key *k = key_find(key);
	if (!k)
		return cf_err_set(err, "%s: unknown key", key);
	if (set_value(k, cfg, value, err) < 0)
		return cf_err_prefix(err, "%s", key);
	return 0;
}

void ctlcfg_free(struct controller_config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type != KEY_DURATION)
			free(*(char **)slot(cfg, &keys[i]));
	memset(cfg, 0, sizeof(*cfg));
}
