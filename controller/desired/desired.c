#include "desired/desired.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/names.h"
#include "base/yamltree.h"
#include "desired/desired_internal.h"
#include "desired/schema.h"

#define API_VERSION "fleet.openclaw.io/v1alpha1"

/* A file parsed ahead of loading, in parallel: YAML parsing is most of the cost of a large
 * fleet and every file parses on its own. */
struct parsed_file {
	struct yfile *yf;
	struct yerr err;
	int rc;
	bool parsed;
};

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

static void scan_secrets(struct loader *ld, const char *file, const char *label,
			 const struct ynode *n, char *path, size_t pathlen, int depth)
{
	if (!n || depth > 64)
		return;
	size_t base = strlen(path);
	if (n->kind == YNODE_MAP) {
		for (size_t i = 0; i < n->n; i++) {
			const struct ynode *k = n->pairs[i].key;
			snprintf(path + base, pathlen - base, "%s%s", base ? "." : "", k->str);
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

struct yfile *desired_parsed_yaml(struct loader *ld, const struct treefile *tf)
{
	const struct parsed_file *pf = &ld->parsed[tf - ld->files->v];
	if (pf->rc < 0) {
		diag_add(ld->diags, tf->path, pf->err.line, pf->err.col, NULL, NULL, "%s",
			 pf->err.msg);
		return NULL;
	}
	return pf->yf;
}

static bool is_yaml_path(const char *path)
{
	size_t len = strlen(path);
	return len > 5 && strcmp(path + len - 5, ".yaml") == 0;
}

static bool is_node_file(const char *path)
{
	return strncmp(path, "openclaw/nodes/", 15) == 0 && !strchr(path + 15, '/');
}

/* The files to parse (indices into files->v), taken one at a time by every worker. */
struct parse_job {
	const struct treefiles *files;
	struct parsed_file *out;
	const size_t *idx;
	size_t n;
	atomic_size_t next;
};

static void *parse_worker(void *arg)
{
	struct parse_job *job = arg;
	size_t k;
	while ((k = atomic_fetch_add(&job->next, 1)) < job->n) {
		size_t i = job->idx[k];
		const struct treefile *tf = &job->files->v[i];
		job->out[i].rc = yfile_parse(&job->out[i].yf, tf->data, tf->len, NULL,
					     &job->out[i].err);
		job->out[i].parsed = true;
	}
	return NULL;
}

/* Parses every YAML file on up to PARSE_THREADS threads; the calling thread works too, and a
 * thread that cannot be started only means fewer workers. */
#define PARSE_THREADS 8
#define PARSE_FILES_PER_THREAD 64
/* Node files are parsed this many at a time, just before they are loaded, and each tree is freed
 * once its MacNode is: the trees of 10,000 node files held at once would take ~80 MiB, which
 * the allocator keeps after they are freed. */
#define NODE_FILES_WINDOW 256

/* The node files by file index, in file order; next is the first not parsed yet. */
struct node_files {
	size_t *idx;
	size_t n, next;
};

/* Parses the n files of idx (into out, by file index). */
static void parse_files(const struct treefiles *files, struct parsed_file *out, const size_t *idx,
			size_t n)
{
	struct parse_job job = {.files = files, .out = out, .idx = idx, .n = n};
	atomic_init(&job.next, 0);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = n / PARSE_FILES_PER_THREAD;
	if (want > (size_t)(ncpu > 0 ? ncpu : 1))
		want = (size_t)(ncpu > 0 ? ncpu : 1);
	if (want > PARSE_THREADS)
		want = PARSE_THREADS;
	pthread_t threads[PARSE_THREADS];
	size_t started = 0;
	while (started + 1 < want && pthread_create(&threads[started], NULL, parse_worker, &job) == 0)
		started++;
	parse_worker(&job);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
}

/* Parses the YAML files other than node files, and lists the node files in *nf (parsed a window
 * at a time while loading, parse_node_window). NULL when memory runs out. */
static struct parsed_file *parse_all(const struct treefiles *files, struct node_files *nf)
{
	struct parsed_file *out = calloc(files->n ? files->n : 1, sizeof(*out));
	size_t *idx = calloc(files->n ? files->n : 1, sizeof(*idx));
	nf->idx = calloc(files->n ? files->n : 1, sizeof(*nf->idx));
	if (!out || !idx || !nf->idx) {
		free(out);
		free(idx);
		free(nf->idx);
		nf->idx = NULL;
		return NULL;
	}
	size_t n = 0;
	for (size_t i = 0; i < files->n; i++) {
		if (!is_yaml_path(files->v[i].path))
			continue;
		if (is_node_file(files->v[i].path))
			nf->idx[nf->n++] = i;
		else
			idx[n++] = i;
	}
	parse_files(files, out, idx, n);
	free(idx);
	return out;
}

/* The window of node files that starts at file i, unless it is parsed already. */
static void parse_node_window(struct loader *ld, struct node_files *nf, size_t i)
{
	if (ld->parsed[i].parsed || nf->next >= nf->n || nf->idx[nf->next] != i)
		return;
	size_t n = nf->n - nf->next < NODE_FILES_WINDOW ? nf->n - nf->next : NODE_FILES_WINDOW;
	parse_files(ld->files, ld->parsed, nf->idx + nf->next, n);
	nf->next += n;
}

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
	struct node_files nf = {0};
	ld.parsed = ld.ds ? parse_all(files, &nf) : NULL;
	if (!ld.parsed) {
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
		else if (is_node_file(tf->path)) {
			/* Nothing keeps a node file's tree once its MacNode is loaded. */
			parse_node_window(&ld, &nf, i);
			load_object_file(&ld, tf, true);
			yfile_free(ld.parsed[i].yf);
			ld.parsed[i].yf = NULL;
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
	for (size_t i = 0; i < files->n; i++)
		yfile_free(ld.parsed[i].yf);
	free(ld.parsed);
	free(nf.idx);
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
