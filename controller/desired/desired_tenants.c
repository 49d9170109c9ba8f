#include "desired/desired.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/canon.h"
#include "base/diag.h"
#include "base/err.h"
#include "base/names.h"
#include "base/yamltree.h"
#include "desired/desired_internal.h"
#include "desired/fragments.h"
#include "source/treefiles.h"

/* tenants/<tenant>/<kind>.d/<file>: splits into its parts; false when the shape is wrong. */
static bool fragment_path_split(const char *path, char *tenant, size_t tlen,
				enum fragment_kind *kind, const char **file)
{
	const char *t = path + strlen("tenants/");
	const char *slash = strchr(t, '/');
	if (!slash || (size_t)(slash - t) >= tlen)
		return false;
	snprintf(tenant, tlen, "%.*s", (int)(slash - t), t);
	const char *k = slash + 1;
	const char *slash2 = strchr(k, '/');
	if (!slash2)
		return false;
	for (int i = 0; i < FRAG_KINDS; i++) {
		const char *name = fragment_kind_name((enum fragment_kind)i);
		size_t n = strlen(name);
		if ((size_t)(slash2 - k) == n + 2 && strncmp(k, name, n) == 0) {
			*kind = (enum fragment_kind)i;
			*file = slash2 + 1;
			return true;
		}
	}
	return false;
}

/* NN-name.yaml: the number makes the merge order explicit. */
bool desired_fragment_name_ok(const char *file)
{
	const char *p = file;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == file || *p != '-' || p[1] == '\0' || strcmp(p + 1, ".yaml") == 0)
		return false;
	for (p++; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

struct fragment_group {
	char tenant[DESIRED_NAME_MAX];
	enum fragment_kind kind;
	struct json_object **frags;
	size_t n;
	const char *first_file;
	bool bad;
};

static struct tenant_slice *tenant_find_mut(struct desired_state *ds, const char *name)
{
	for (size_t i = 0; i < ds->ntenants; i++)
		if (strcmp(ds->tenants[i].name, name) == 0)
			return &ds->tenants[i];
	return NULL;
}

static void fragment_group_finish(struct loader *ld, struct fragment_group *g)
{
	struct tenant_slice *t = tenant_find_mut(ld->ds, g->tenant);
	struct cf_err err;
	if (!t) {
		diag_add(ld->diags, g->first_file, 0, 0, NULL, NULL,
			 "tenant directory \"%s\" has no TenantSlice named \"%s\" in clawfleet/",
			 g->tenant, g->tenant);
	} else if (!g->bad && g->n > 0) {
		struct tenant_fragments *tf = &t->fragments[g->kind];
		if (fragments_merge(g->frags, g->n, &tf->merged, &err) < 0 ||
		    canon_json_sha256(tf->merged, tf->sha256, &err) < 0)
			diag_add(ld->diags, g->first_file, 0, 0, NULL, NULL, "merging %s.d: %s",
				 fragment_kind_name(g->kind), err.msg);
		tf->nfiles = g->n;
	}
	for (size_t i = 0; i < g->n; i++)
		json_object_put(g->frags[i]);
	free(g->frags);
	memset(g, 0, sizeof(*g));
}

int desired_fragment_read(struct loader *ld, const struct treefile *tf, struct json_object **out)
{
	struct yfile *yf = desired_parsed_yaml(ld, tf);
	*out = NULL;
	if (!yf)
		return -1;
	const struct ynode *root = NULL;
	for (size_t i = 0; i < yf->ndocs; i++) {
		if (!yf->docs[i].root)
			continue;
		if (root) {
			diag_add(ld->diags, tf->path, yf->docs[i].root->line, yf->docs[i].root->col,
				 NULL, NULL, "a fragment holds one YAML document");
			return -1;
		}
		root = yf->docs[i].root;
	}
	if (!root)
		return 0;
	if (root->kind != YNODE_MAP) {
		diag_add(ld->diags, tf->path, root->line, root->col, NULL, NULL,
			 "a fragment must be a map, got %s", ytype_name(ynode_type(root)));
		return -1;
	}
	size_t before = ld->diags->n;
	desired_check_secrets(ld, tf->path, NULL, "", root);
	struct yerr yerr;
	if (ld->diags->n != before)
		return -1;
	if (ynode_to_json(root, out, &yerr) < 0) {
		diag_add(ld->diags, tf->path, yerr.line, yerr.col, NULL, NULL, "%s", yerr.msg);
		return -1;
	}
	return 0;
}

static void fragment_add(struct loader *ld, struct fragment_group *g, const struct treefile *tf)
{
	struct json_object *j = NULL;
	if (desired_fragment_read(ld, tf, &j) < 0) {
		g->bad = true;
		return;
	}
	if (!j)
		return;
	struct json_object **frags = desired_grow(ld, g->frags, g->n, sizeof(*frags));
	if (!frags) {
		json_object_put(j);
		g->bad = true;
		return;
	}
	g->frags = frags;
	g->frags[g->n++] = j;
}

void desired_load_tenant_fragments(struct loader *ld, const struct treefiles *files)
{
	struct fragment_group g = {0};
	for (size_t i = 0; i < files->n; i++) {
		const struct treefile *tf = &files->v[i];
		char tenant[DESIRED_NAME_MAX];
		enum fragment_kind kind;
		const char *file;
		if (strncmp(tf->path, "tenants/", 8) != 0)
			continue;
		if (!fragment_path_split(tf->path, tenant, sizeof(tenant), &kind, &file))
			continue;
		struct cf_err err;
		if (name_check_dns_label(tenant, &err) < 0) {
			diag_add(ld->diags, tf->path, 0, 0, NULL, NULL, "tenant directory: %s",
				 err.msg);
			continue;
		}
		if (!desired_fragment_name_ok(file)) {
			diag_add(ld->diags, tf->path, 0, 0, NULL, NULL,
				 "fragment files are named NN-name.yaml (digits, \"-\", a name) so "
				 "their merge order is explicit");
			continue;
		}
		if (g.n || g.bad || g.first_file) {
			if (strcmp(g.tenant, tenant) != 0 || g.kind != kind)
				fragment_group_finish(ld, &g);
		}
		if (!g.first_file) {
			snprintf(g.tenant, sizeof(g.tenant), "%s", tenant);
			g.kind = kind;
			g.first_file = tf->path;
		}
		fragment_add(ld, &g, tf);
	}
	if (g.first_file)
		fragment_group_finish(ld, &g);
}
