#include "desired/desired.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"
#include "base/names.h"
#include "base/yamltree.h"
#include "desired/desired_internal.h"
#include "desired/schema.h"

#define API_VERSION "fleet.openclaw.io/v1alpha1"

static const char *const fragment_kind_names[FRAG_KINDS] = {"gateway", "doctor", "webhook",
							     "skills"};

const char *fragment_kind_name(enum fragment_kind k)
{
	return k < FRAG_KINDS ? fragment_kind_names[k] : "?";
}

const char *node_role_name(enum node_role r)
{
	switch (r) {
	case NODE_GATEWAY:
		return "gateway";
	case NODE_WORKER:
		return "worker";
	case NODE_NOTIFIER:
		return "notifier";
	}
	return "?";
}

const char *lb_driver_name(enum lb_driver d)
{
	switch (d) {
	case LB_HAPROXY:
		return "haproxy";
	case LB_HTTP:
		return "http";
	case LB_FILE:
		return "file";
	case LB_COMMAND:
		return "command";
	}
	return "?";
}

/* ---- the loader's helpers ---- */

const struct ynode *desired_value_at(const struct ynode *n, const char *path)
{
	char key[128];
	while (n && *path) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		if (len >= sizeof(key))
			return NULL;
		memcpy(key, path, len);
		key[len] = '\0';
		n = ynode_get(n, key);
		path = dot ? dot + 1 : path + len;
	}
	return n;
}

void desired_object_diag(struct loader *ld, const struct loaded_object *o, const char *path,
			 const char *fmt, ...)
{
	const struct ynode *n = path ? desired_value_at(o->node, path) : NULL;
	if (!n)
		n = o->node;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(ld->diags, o->file, n->line, n->col, o->label, path, "%s", msg);
}

/* ---- credentials never live in Git ---- */

/* path[base..] = sep then s, cut to fit pathlen as snprintf would (it runs for every key). */
static void path_append(char *path, size_t pathlen, size_t base, const char *sep, const char *s)
{
	size_t at = base;
	for (; *sep && at + 1 < pathlen; sep++)
		path[at++] = *sep;
	for (; *s && at + 1 < pathlen; s++)
		path[at++] = *s;
	path[at] = '\0';
}

static void scan_secrets(struct loader *ld, const char *file, const char *label,
			 const struct ynode *n, char *path, size_t pathlen, int depth)
{
	if (!n || depth > 64)
		return;
	size_t base = strlen(path);
	if (n->kind == YNODE_MAP) {
		for (size_t i = 0; i < n->n; i++) {
			const struct ynode *k = n->pairs[i].key;
			path_append(path, pathlen, base, base ? "." : "", k->str);
			if (name_is_secret_key(k->str))
				diag_add(ld->diags, file, k->line, k->col, label, path,
					 "looks like a credential; secrets never live in Git "
					 "(mount them on the Mac and reference the file instead)");
			else
				scan_secrets(ld, file, label, n->pairs[i].value, path, pathlen,
					     depth + 1);
			path[base] = '\0';
		}
	} else if (n->kind == YNODE_SEQ) {
		for (size_t i = 0; i < n->n; i++) {
			snprintf(path + base, pathlen - base, "[%zu]", i);
			scan_secrets(ld, file, label, n->items[i], path, pathlen, depth + 1);
			path[base] = '\0';
		}
	} else if (ynode_type(n) == YT_STR && name_is_secret_value(n->str)) {
		diag_add(ld->diags, file, n->line, n->col, label, base ? path : NULL,
			 "value looks like a credential; secrets never live in Git");
	}
}

void desired_check_secrets(struct loader *ld, const char *file, const char *label,
			   const char *base, const struct ynode *n)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s", base);
	scan_secrets(ld, file, label, n, path, sizeof(path), 0);
}

/* ---- files ---- */

/* The base name of path without its ".yaml", into out. */
static void file_stem(const char *path, char *out, size_t outlen)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t len = strlen(base);
	if (len >= 5 && strcmp(base + len - 5, ".yaml") == 0)
		len -= 5;
	snprintf(out, outlen, "%.*s", (int)len, base);
}

/* A kind clawfleet once read, and where its settings live now. */
static const char *retired_kind_hint(const char *kind)
{
	/* The notifier broadcasts to the channel its own configuration file names: a channel URL
	 * is a credential, which Git must not hold, and the notifier reads no Git. */
	return strcmp(kind, "Notifier") == 0 ? "; the notifier's channel is set in its own "
					       "configuration file (notifier --config)"
					     : "";
}

static void load_document(struct loader *ld, const char *file, const struct ynode *root,
			  bool in_nodes_dir, size_t *nobjects)
{
	if (root->kind != YNODE_MAP) {
		diag_add(ld->diags, file, root->line, root->col, NULL, NULL,
			 "a document must be an object with apiVersion, kind, metadata and spec; "
			 "got %s", ytype_name(ynode_type(root)));
		return;
	}
	const char *api = ynode_str(ynode_get(root, "apiVersion"));
	const char *kind = ynode_str(ynode_get(root, "kind"));
	if (!api || !kind) {
		diag_add(ld->diags, file, root->line, root->col, NULL, api ? "kind" : "apiVersion",
			 "required field \"%s\" is missing or not a string",
			 api ? "kind" : "apiVersion");
		return;
	}
	const char *name = ynode_str(desired_value_at(root, "metadata.name"));
	struct loaded_object o = {.file = file, .node = root};
	snprintf(o.label, sizeof(o.label), "%s/%s", kind, name ? name : "-");
	const struct ynode *kind_node = ynode_get(root, "kind");
	const struct kind_loader *kl = desired_kind_loader(kind);
	o.kind = kl ? schema_set_find(ld->schemas, api, kind) : NULL;
	if (!o.kind) {
		if (kl && strcmp(api, API_VERSION) != 0)
			desired_object_diag(ld, &o, "apiVersion", "unknown apiVersion \"%s\" for %s (use %s)",
				    api, kind, API_VERSION);
		else
			diag_add(ld->diags, file, kind_node->line, kind_node->col, o.label, "kind",
				 "unknown kind \"%s\" (known: %s)%s", kind,
				 schema_set_kinds(ld->schemas), retired_kind_hint(kind));
		return;
	}
	(*nobjects)++;
	if (kl->in_nodes_dir != in_nodes_dir) {
		diag_add(ld->diags, file, kind_node->line, kind_node->col, o.label, "kind",
			 "%s objects belong in %s", kind,
			 kl->in_nodes_dir ? "openclaw/nodes/<hostname>.yaml" : "clawfleet/*.yaml");
		return;
	}
	schema_validate(o.kind, root, file, o.label, ld->diags);
	desired_check_secrets(ld, file, o.label, "spec", ynode_get(root, "spec"));
	/* Loading goes on after schema errors so that every rule reports in one run; loaders
	 * read only well-typed values, and desired_load fails anyway. */
	if (!name)
		return;
	if (in_nodes_dir) {
		char stem[DESIRED_NAME_MAX];
		file_stem(file, stem, sizeof(stem));
		if (strcmp(stem, name) != 0) {
			desired_object_diag(ld, &o, "metadata.name",
				    "\"%s\" disagrees with the file name: %s must describe the "
				    "MacNode named \"%s\"",
				    name, file, stem);
			return;
		}
	}
	kl->load(ld, &o, name);
}

static void load_object_file(struct loader *ld, const struct treefile *tf, bool in_nodes_dir)
{
	struct yfile *yf = desired_parsed_yaml(ld, tf);
	if (!yf)
		return;
	size_t nobjects = 0;
	for (size_t i = 0; i < yf->ndocs; i++) {
		const struct ynode *root = yf->docs[i].root;
		if (!root)
			continue;
		if (in_nodes_dir && nobjects == 1) {
			diag_add(ld->diags, tf->path, root->line, root->col, NULL, NULL,
				 "a node file holds exactly one MacNode; found a second document");
			break;
		}
		load_document(ld, tf->path, root, in_nodes_dir, &nobjects);
	}
	if (in_nodes_dir && nobjects == 0)
		diag_add(ld->diags, tf->path, 1, 1, NULL, NULL,
			 "a node file holds exactly one MacNode; found none");
}

/* ---- entry points ---- */

int desired_load(const struct treefiles *files, const struct schema_set *schemas,
		 const struct desired_hooks *hooks, struct desired_state **out,
		 struct diag_list *diags)
{
	struct loader ld = {.schemas = schemas, .hooks = hooks, .diags = diags, .files = files};
	size_t before = diags->n + diags->dropped;
	*out = NULL;
	ld.ds = calloc(1, sizeof(*ld.ds));
	ld.parser = ld.ds ? desired_parse_start(files) : NULL;
	if (!ld.parser) {
		free(ld.ds);
		diag_add(diags, NULL, 0, 0, NULL, NULL, "out of memory");
		return -1;
	}
	struct desired_state *ds = ld.ds;
	/* The lock first: a Promotion is checked against it. */
	const struct treefile *lock = treefiles_find(files, LOCK_PATH);
	if (lock)
		desired_load_lock(&ld, lock);
	for (size_t i = 0; i < files->n && !ld.out_of_memory; i++) {
		const struct treefile *tf = &files->v[i];
		size_t len = strlen(tf->path);
		if (tf == lock)
			continue;
		if (len > 4 && strcmp(tf->path + len - 4, ".yml") == 0)
			diag_add(diags, tf->path, 0, 0, NULL, NULL,
				 "desired-state files end in .yaml; this .yml file would be ignored");
		else if (strncmp(tf->path, "clawfleet/", 10) == 0)
			load_object_file(&ld, tf, false);
		else if (desired_is_node_file(tf->path)) {
			/* Nothing keeps a node file's tree once its MacNode is loaded. */
			desired_parse_node(ld.parser, i);
			load_object_file(&ld, tf, true);
			desired_parse_drop(ld.parser, i);
		}
	}
	/* What ran out of memory may be missing a field the rules that follow rely on. */
	if (!ld.out_of_memory)
		desired_check_objects(&ld);
	if (!ld.out_of_memory)
		desired_load_tenant_fragments(&ld, files);
	if (!ld.out_of_memory)
		desired_load_openclaw_fragments(&ld, files);
	if (ld.out_of_memory)
		diag_add(diags, NULL, 0, 0, NULL, NULL, "out of memory");
	desired_parse_free(ld.parser);
	if (diags->n + diags->dropped != before) {
		desired_free(ds);
		return -1;
	}
	*out = ds;
	return 0;
}

static void origin_free(struct origin *o)
{
	free(o->file);
}

void desired_free(struct desired_state *ds)
{
	if (!ds)
		return;
	for (size_t i = 0; i < ds->nnodes; i++) {
		struct mac_node *m = &ds->nodes[i];
		free(m->name);
		free(m->address);
		free(m->zone);
		free(m->lb_server);
		origin_free(&m->origin);
	}
	for (size_t i = 0; i < ds->npromotions; i++) {
		struct promotion *p = &ds->promotions[i];
		free(p->name);
		free(p->tag);
		free(p->image_ref);
		free(p->skill_semver);
		free(p->ticket);
		free(p->approval_tag);
		free(p->retry_tag);
		desired_free_webhooks(p);
		desired_free_metrics(&p->analysis);
		origin_free(&p->origin);
	}
	desired_openclaw_free(ds);
	for (size_t i = 0; i < ds->ntenants; i++) {
		struct tenant_slice *t = &ds->tenants[i];
		free(t->name);
		free(t->profile);
		for (int k = 0; k < FRAG_KINDS; k++)
			json_object_put(t->fragments[k].merged);
		origin_free(&t->origin);
	}
	for (size_t i = 0; i < ds->nlbs; i++) {
		struct load_balancer *lb = &ds->lbs[i];
		free(lb->name);
		free(lb->haproxy.socket);
		free(lb->haproxy.address);
		free(lb->haproxy.backend);
		free(lb->haproxy.tenant_map);
		free(lb->http.url);
		for (size_t h = 0; h < lb->http.nheaders; h++) {
			free(lb->http.headers[h].name);
			free(lb->http.headers[h].value);
		}
		free(lb->http.headers);
		free(lb->file.path);
		for (size_t a = 0; a < lb->command.argc; a++)
			free(lb->command.argv[a]);
		free(lb->command.argv);
		origin_free(&lb->origin);
	}
	free(ds->nodes);
	free(ds->promotions);
	free(ds->tenants);
	free(ds->lbs);
	struct openclaw_lock *lk = &ds->lock;
	free(lk->version);
	free(lk->commit);
	free(lk->sha256);
	free(lk->skills_semver);
	free(lk->skills_sha256);
	for (size_t i = 0; i < lk->nplugins; i++) {
		free(lk->plugins[i].name);
		free(lk->plugins[i].version);
	}
	free(lk->plugins);
	free(ds->revision);
	free(ds->commit);
	free(ds);
}

const struct mac_node *desired_node(const struct desired_state *ds, const char *name)
{
	for (size_t i = 0; i < ds->nnodes; i++)
		if (strcmp(ds->nodes[i].name, name) == 0)
			return &ds->nodes[i];
	return NULL;
}

const struct tenant_slice *desired_tenant(const struct desired_state *ds, const char *name)
{
	for (size_t i = 0; i < ds->ntenants; i++)
		if (strcmp(ds->tenants[i].name, name) == 0)
			return &ds->tenants[i];
	return NULL;
}
