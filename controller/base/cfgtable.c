#include "base/cfgtable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsutil.h"
#include "base/timeparse.h"
#include "base/yamltree.h"

#define CFG_FILE_MAX (1u << 20)
#define CFG_ARGV_MAX 64
#define CFG_KEYS_MAX 128

struct loader {
	const struct cfg_key *keys;
	size_t nkeys;
	const char *file;
	void *cfg;
	struct diag_list *diags;
	bool seen[CFG_KEYS_MAX];
};

static void *slot(void *cfg, const struct cfg_key *k)
{
	return (char *)cfg + k->offset;
}

static void report_at(struct loader *ld, const struct ynode *n, const char *key, const char *msg)
{
	diag_add(ld->diags, ld->file, n ? n->line : 0, n ? n->col : 0, NULL, key, "%s", msg);
}

void cfgtable_report(struct diag_list *diags, const char *path, const char *key, const char *msg)
{
	diag_add(diags, path, 0, 0, NULL, key, "%s", msg);
}

static int set_enum(const struct cfg_key *k, void *cfg, const char *text, struct cf_err *err)
{
	char list[256] = "";
	for (int i = 0; k->choices[i]; i++) {
		if (strcmp(k->choices[i], text) == 0) {
			*(int *)slot(cfg, k) = i;
			return 0;
		}
		size_t used = strlen(list);
		snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", k->choices[i]);
	}
	return cf_err_set(err, "must be one of %s", list);
}

/* n is the YAML node, or NULL when text is the table's default. */
static int set_scalar(const struct cfg_key *k, void *cfg, const char *text, const struct ynode *n,
		      struct cf_err *err)
{
	long long iv;
	int64_t ms;
	bool bv;
	switch (k->type) {
	case CFG_STRING:
	case CFG_PATH:
		if (n && ynode_type(n) != YT_STR)
			return cf_err_set(err, "must be a string");
		if (k->type == CFG_PATH && text[0] != '/')
			return cf_err_set(err, "must be an absolute path");
		char *copy = strdup(text);
		if (!copy)
			return cf_err_set(err, "out of memory");
		free(*(char **)slot(cfg, k));
		*(char **)slot(cfg, k) = copy;
		return 0;
	case CFG_INT:
		if (n ? ynode_int(n, &iv) < 0 : sscanf(text, "%lld", &iv) != 1)
			return cf_err_set(err, "must be an integer");
		if (iv < k->min || iv > k->max)
			return cf_err_set(err, "must be %lld..%lld, got %lld", (long long)k->min,
					  (long long)k->max, iv);
		*(int64_t *)slot(cfg, k) = iv;
		return 0;
	case CFG_DURATION:
		if (n && ynode_type(n) != YT_STR)
			return cf_err_set(err, "must be a duration such as 30s or 5m");
		if (duration_parse(text, &ms, err) < 0)
			return -1;
		*(int64_t *)slot(cfg, k) = ms;
		return 0;
	case CFG_BOOL:
		if (n) {
			if (ynode_bool(n, &bv) < 0)
				return cf_err_set(err, "must be true or false");
		} else {
			bv = strcmp(text, "true") == 0;
		}
		*(bool *)slot(cfg, k) = bv;
		return 0;
	case CFG_ENUM:
		if (n && ynode_type(n) != YT_STR)
			return cf_err_set(err, "must be a string");
		return set_enum(k, cfg, text, err);
	case CFG_ARGV:
	case CFG_RECORDS:
		break;
	}
	return cf_err_set(err, "must be a list");
}

static void argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static int set_argv(const struct cfg_key *k, void *cfg, const struct ynode *n, struct cf_err *err)
{
	if (n->kind != YNODE_SEQ || n->n == 0 || n->n > CFG_ARGV_MAX)
		return cf_err_set(err, "must be a list of 1 to %d strings (an argv, no shell)",
				  CFG_ARGV_MAX);
	char **argv = calloc(n->n + 1, sizeof(char *));
	if (!argv)
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < n->n; i++) {
		const char *s = ynode_str(n->items[i]);
		if (!s) {
			argv_free(argv);
			return cf_err_set(err, "item %zu must be a string", i);
		}
		argv[i] = strdup(s);
		if (!argv[i]) {
			argv_free(argv);
			return cf_err_set(err, "out of memory");
		}
	}
	argv_free(*(char ***)slot(cfg, k));
	*(char ***)slot(cfg, k) = argv;
	return 0;
}

static void records_free(struct cfg_records *r)
{
	for (size_t i = 0; i < r->n * r->width; i++)
		free(r->values[i]);
	free(r->values);
	memset(r, 0, sizeof(*r));
}

static int record_column(const struct cfg_key *k, const char *key)
{
	for (int i = 0; k->choices[i]; i++)
		if (strcmp(k->choices[i], key) == 0)
			return i;
	return -1;
}

/* The first problem is reported at the node it is about. */
static int set_records(struct loader *ld, const struct cfg_key *k, const struct ynode *n,
		       const char *name)
{
	struct cfg_records r = {0};
	struct cf_err err;
	while (k->choices[r.width])
		r.width++;
	if (n->kind != YNODE_SEQ || n->n == 0 || n->n > CFG_ARGV_MAX) {
		cf_err_set(&err, "must be a list of 1 to %d maps", CFG_ARGV_MAX);
		goto bad;
	}
	r.values = calloc(n->n * r.width, sizeof(char *));
	if (!r.values) {
		cf_err_set(&err, "out of memory");
		goto bad;
	}
	r.n = n->n;
	for (size_t i = 0; i < n->n; i++) {
		const struct ynode *item = n->items[i];
		if (item->kind != YNODE_MAP || item->n == 0) {
			n = item;
			cf_err_set(&err, "item %zu must be a map with at least one key", i);
			goto bad;
		}
		for (size_t j = 0; j < item->n; j++) {
			const struct ynode *key = item->pairs[j].key, *v = item->pairs[j].value;
			int col = record_column(k, key->str);
			const char *text = ynode_str(v);
			if (col < 0 || !text) {
				n = col < 0 ? key : v;
				cf_err_set(&err, col < 0 ? "item %zu: unknown key %s"
							 : "item %zu: %s must be a string",
					   i, key->str);
				goto bad;
			}
			char **slot_of = &r.values[i * r.width + (size_t)col];
			if (!(*slot_of = strdup(text))) {
				cf_err_set(&err, "out of memory");
				goto bad;
			}
		}
	}
	records_free(slot(ld->cfg, k));
	*(struct cfg_records *)slot(ld->cfg, k) = r;
	return 0;
bad:
	records_free(&r);
	report_at(ld, n, name, err.msg);
	return -1;
}

static const struct cfg_key *key_find(const struct loader *ld, const char *name)
{
	for (size_t i = 0; i < ld->nkeys; i++)
		if (strcmp(ld->keys[i].name, name) == 0)
			return &ld->keys[i];
	return NULL;
}

static bool is_section(const struct loader *ld, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < ld->nkeys; i++)
		if (strncmp(ld->keys[i].name, name, len) == 0 && ld->keys[i].name[len] == '.')
			return true;
	return false;
}

static void walk(struct loader *ld, const struct ynode *map, const char *prefix)
{
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *kn = map->pairs[i].key, *vn = map->pairs[i].value;
		char name[128];
		snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", kn->str);
		const struct cfg_key *k = key_find(ld, name);
		if (!k) {
			if (is_section(ld, name) && vn->kind == YNODE_MAP)
				walk(ld, vn, name);
			else
				report_at(ld, kn, name,
					  is_section(ld, name) ? "must be a map" : "unknown key");
			continue;
		}
		struct cf_err err;
		ld->seen[k - ld->keys] = true;
		if (k->type == CFG_RECORDS) {
			set_records(ld, k, vn, name);
			continue;
		}
		int rc = k->type == CFG_ARGV	      ? set_argv(k, ld->cfg, vn, &err)
			 : vn->kind != YNODE_SCALAR ? cf_err_set(&err, "must be a single value")
						    : set_scalar(k, ld->cfg, vn->str, vn, &err);
		if (rc < 0)
			report_at(ld, vn, name, err.msg);
	}
}

static void apply_defaults(struct loader *ld)
{
	for (size_t i = 0; i < ld->nkeys; i++) {
		const struct cfg_key *k = &ld->keys[i];
		struct cf_err err;
		if (ld->seen[i])
			continue;
		if (k->required)
			report_at(ld, NULL, k->name, "required key is missing");
		else if (k->def && set_scalar(k, ld->cfg, k->def, NULL, &err) < 0)
			report_at(ld, NULL, k->name, err.msg);
	}
}

int cfgtable_load(const struct cfg_key *keys, size_t nkeys, const char *path, void *cfg,
		  cfgtable_check_fn *check, struct diag_list *diags)
{
	struct loader ld = {.keys = keys, .nkeys = nkeys, .file = path, .cfg = cfg, .diags = diags};
	size_t before = diags->n + diags->dropped;
	char *text = NULL;
	size_t len = 0;
	struct cf_err err;
	struct yfile *yf = NULL;
	struct yerr yerr;
	if (nkeys > CFG_KEYS_MAX) {
		diag_add(diags, path, 0, 0, NULL, NULL,
			 "clawfleet declares %zu configuration keys, more than the %d it can track",
			 nkeys, CFG_KEYS_MAX);
		goto done;
	}
	if (fsutil_read_file(path, CFG_FILE_MAX, &text, &len, &err) < 0) {
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
	if (check)
		check(path, cfg, diags);
done:
	yfile_free(yf);
	free(text);
	if (diags->n + diags->dropped != before) {
		cfgtable_free(keys, nkeys, cfg);
		return -1;
	}
	return 0;
}

void cfgtable_free(const struct cfg_key *keys, size_t nkeys, void *cfg)
{
	for (size_t i = 0; i < nkeys; i++) {
		if (keys[i].type == CFG_ARGV) {
			argv_free(*(char ***)slot(cfg, &keys[i]));
			*(char ***)slot(cfg, &keys[i]) = NULL;
		} else if (keys[i].type == CFG_RECORDS) {
			records_free(slot(cfg, &keys[i]));
		} else if (keys[i].type == CFG_STRING || keys[i].type == CFG_PATH) {
			free(*(char **)slot(cfg, &keys[i]));
			*(char **)slot(cfg, &keys[i]) = NULL;
		}
	}
}
