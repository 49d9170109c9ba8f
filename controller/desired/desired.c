#include "desired/desired.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/canon.h"
#include "base/names.h"
#include "base/semver.h"
#include "base/timeparse.h"
#include "base/yamltree.h"
#include "desired/fragments.h"

#define API_VERSION "fleet.openclaw.io/v1alpha1"
#define LOCK_PATH "openclaw.lock"

/* A file parsed ahead of loading, in parallel: YAML parsing is most of the cost of a large
 * fleet and every file parses on its own. */
struct parsed_file {
	struct yfile *yf;
	struct yerr err;
	int rc;
};

/* One YAML document that passed the schema, with what the cross-checks need. */
struct loaded_object {
	const char *file;
	const struct ynode *node;
	const struct schema_kind *kind;
	char label[DESIRED_NAME_MAX + 32];
};

struct loader {
	const struct schema_set *schemas;
	const struct desired_hooks *hooks;
	struct diag_list *diags;
	struct desired_state *ds;
	const struct treefiles *files;
	struct parsed_file *parsed; /* one per file, kept until loading ends: objects point in */
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

static char *xstrdup(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

static void *xgrow(void *v, size_t n, size_t size)
{
	/* Arrays grow by one: desired state holds at most a few thousand objects. */
	void *p = realloc(v, (n + 1) * size);
	if (!p)
		abort();
	memset((char *)p + n * size, 0, size);
	return p;
}

/* ---- field access: the object's value, else the CRD default ---- */

static const struct ynode *node_at(const struct ynode *n, const char *path)
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

static const struct ynode *field(const struct loaded_object *o, const char *path)
{
	const struct ynode *n = node_at(o->node, path);
	if (n && ynode_type(n) != YT_NULL)
		return n;
	return schema_default(o->kind, path);
}

static const char *field_str(const struct loaded_object *o, const char *path)
{
	return ynode_str(field(o, path));
}

static bool field_bool(const struct loaded_object *o, const char *path, bool fallback)
{
	bool v;
	return ynode_bool(field(o, path), &v) == 0 ? v : fallback;
}

static long long field_int(const struct loaded_object *o, const char *path, long long fallback)
{
	long long v;
	return ynode_int(field(o, path), &v) == 0 ? v : fallback;
}

static void object_diag(struct loader *ld, const struct loaded_object *o, const char *path,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void object_diag(struct loader *ld, const struct loaded_object *o, const char *path,
			const char *fmt, ...)
{
	const struct ynode *n = path ? node_at(o->node, path) : NULL;
	if (!n)
		n = o->node;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(ld->diags, o->file, n->line, n->col, o->label, path, "%s", msg);
}

/* Objects are located by their name: that is what a duplicate or a cross-object rule is about. */
static void set_origin(struct origin *org, const struct loaded_object *o)
{
	const struct ynode *n = node_at(o->node, "metadata.name");
	if (!n)
		n = o->node;
	org->file = xstrdup(o->file);
	org->line = n->line;
	org->col = n->col;
}

static bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool check_name(struct loader *ld, const struct loaded_object *o, const char *path,
		       int (*check)(const char *, struct cf_err *))
{
	const char *s = field_str(o, path);
	struct cf_err err;
	if (!s || check(s, &err) == 0)
		return true;
	/* metadata.name already failed the schema's subdomain rule: one message is enough. */
	if (strcmp(path, "metadata.name") == 0 && name_check_dns_subdomain(s, NULL) < 0)
		return false;
	object_diag(ld, o, path, "%s", err.msg);
	return false;
}

static bool parse_duration_field(const struct loaded_object *o, const char *path, int64_t *out)
{
	/* The schema reports a missing or malformed duration; this only converts it. */
	const char *s = field_str(o, path);
	return s && duration_parse(s, out, NULL) == 0;
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

static void check_secrets(struct loader *ld, const char *file, const char *label,
			  const char *base, const struct ynode *n)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s", base);
	scan_secrets(ld, file, label, n, path, sizeof(path), 0);
}

/* ---- kinds ---- */

static void load_macnode(struct loader *ld, const struct loaded_object *o, const char *name)
{
	struct desired_state *ds = ld->ds;
	if (!check_name(ld, o, "metadata.name", name_check_dns_label))
		return;
	ds->nodes = xgrow(ds->nodes, ds->nnodes, sizeof(*ds->nodes));
	struct mac_node *m = &ds->nodes[ds->nnodes++];
	m->name = xstrdup(name);
	m->address = xstrdup(field_str(o, "spec.address"));
	const char *role = field_str(o, "spec.role");
	m->role = streq(role, "worker") ? NODE_WORKER : streq(role, "notifier") ? NODE_NOTIFIER
									    : NODE_GATEWAY;
	m->zone = xstrdup(field_str(o, "spec.zone"));
	m->canary = field_bool(o, "spec.canary", false);
	m->lb_server = xstrdup(field_str(o, "spec.loadBalancer.server"));
	m->lb_weight = (int)field_int(o, "spec.loadBalancer.weight", 100);
	set_origin(&m->origin, o);
	if (m->role == NODE_GATEWAY && streq(role, "gateway") && !m->lb_server)
		object_diag(ld, o, "spec", "a gateway needs spec.loadBalancer.server: the "
					   "load balancer routes traffic to it by that name");
}

static void load_promotion(struct loader *ld, const struct loaded_object *o, const char *name)
{
	struct desired_state *ds = ld->ds;
	const char *semver = field_str(o, "spec.skillSemver");
	const char *tag = field_str(o, "spec.tag");
	struct promotion p = {0};
	bool ok = semver && tag;
	ok &= parse_duration_field(o, "spec.canary.analysisInterval", &p.analysis_interval_ms);
	ok &= parse_duration_field(o, "spec.canary.maxHold", &p.max_hold_ms);
	if (semver && ds->lock.skills_semver && !streq(semver, ds->lock.skills_semver))
		object_diag(ld, o, "spec.skillSemver",
			    "%s differs from skills.semver %s in openclaw.lock: the probe would "
			    "report every node red",
			    semver, ds->lock.skills_semver);
	const struct ynode *steps = field(o, "spec.canary.steps");
	for (size_t i = 0; steps && steps->kind == YNODE_SEQ && i < steps->n; i++) {
		long long v = 0;
		if (i >= DESIRED_MAX_STEPS || ynode_int(steps->items[i], &v) < 0)
			break;
		if (p.nsteps && v <= p.steps[p.nsteps - 1]) {
			char path[64];
			snprintf(path, sizeof(path), "spec.canary.steps[%zu]", i);
			diag_add(ld->diags, o->file, steps->items[i]->line, steps->items[i]->col,
				 o->label, path, "steps must strictly increase: %lld follows %d", v,
				 p.steps[p.nsteps - 1]);
			ok = false;
		}
		p.steps[p.nsteps++] = (int)v;
	}
	if (!ok)
		return;
	if (ld->hooks && ld->hooks->tag_exists && !ld->hooks->tag_exists(ld->hooks->ctx, tag))
		object_diag(ld, o, "spec.tag",
			    "tag \"%s\" does not exist in the repository (push it first)", tag);
	p.name = xstrdup(name);
	p.tag = xstrdup(tag);
	p.image_ref = xstrdup(field_str(o, "spec.imageRef"));
	p.skill_semver = xstrdup(semver);
	p.ticket = xstrdup(field_str(o, "spec.ticket"));
	p.green_windows = (int)field_int(o, "spec.canary.greenWindows", 2);
	p.rollback_automatic = field_bool(o, "spec.rollback.automatic", true);
	p.suspend = field_bool(o, "spec.suspend", false);
	p.abort = field_bool(o, "spec.abort", false);
	set_origin(&p.origin, o);
	ds->promotions = xgrow(ds->promotions, ds->npromotions, sizeof(*ds->promotions));
	ds->promotions[ds->npromotions++] = p;
}

static void load_tenant_slice(struct loader *ld, const struct loaded_object *o, const char *name)
{
	struct desired_state *ds = ld->ds;
	if (!check_name(ld, o, "metadata.name", name_check_dns_label))
		return;
	/* The schema reports a malformed timestamp; this only converts it. */
	time_t until = 0;
	const char *until_s = field_str(o, "spec.maintenance.until");
	if (until_s && rfc3339_parse(until_s, &until, NULL) < 0)
		return;
	ds->tenants = xgrow(ds->tenants, ds->ntenants, sizeof(*ds->tenants));
	struct tenant_slice *t = &ds->tenants[ds->ntenants++];
	t->name = xstrdup(name);
	const char *channel = field_str(o, "spec.channel");
	t->channel = channel && strcmp(channel, "canary") == 0 ? CHANNEL_CANARY : CHANNEL_STABLE;
	t->profile = xstrdup(field_str(o, "spec.profile"));
	t->routing_header = xstrdup(field_str(o, "spec.routing.header"));
	t->maintenance_until = until;
	set_origin(&t->origin, o);
}

static bool driver_from_name(const char *s, enum lb_driver *out)
{
	static const enum lb_driver all[] = {LB_HAPROXY, LB_HTTP, LB_FILE, LB_COMMAND};
	for (size_t i = 0; s && i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, lb_driver_name(all[i])) == 0) {
			*out = all[i];
			return true;
		}
	}
	return false;
}

static void load_lb_blocks(struct load_balancer *lb, const struct loaded_object *o)
{
	lb->haproxy.socket = xstrdup(field_str(o, "spec.haproxy.socket"));
	lb->haproxy.address = xstrdup(field_str(o, "spec.haproxy.address"));
	lb->haproxy.backend = xstrdup(field_str(o, "spec.haproxy.backend"));
	lb->haproxy.tenant_map = xstrdup(field_str(o, "spec.haproxy.tenantMap"));
	lb->http.url = xstrdup(field_str(o, "spec.http.url"));
	const struct ynode *h = field(o, "spec.http.headers");
	for (size_t i = 0; h && h->kind == YNODE_MAP && i < h->n; i++) {
		lb->http.headers = xgrow(lb->http.headers, lb->http.nheaders, sizeof(struct header_kv));
		lb->http.headers[lb->http.nheaders].name = xstrdup(h->pairs[i].key->str);
		lb->http.headers[lb->http.nheaders].value = xstrdup(ynode_str(h->pairs[i].value));
		lb->http.nheaders++;
	}
	lb->file.path = xstrdup(field_str(o, "spec.file.path"));
	const struct ynode *argv = field(o, "spec.command.argv");
	if (argv && argv->kind == YNODE_SEQ) {
		lb->command.argv = calloc(argv->n + 1, sizeof(char *));
		if (!lb->command.argv)
			abort();
		for (size_t i = 0; i < argv->n; i++)
			lb->command.argv[i] = xstrdup(ynode_str(argv->items[i]));
		lb->command.argc = argv->n;
	}
}

static void load_load_balancer(struct loader *ld, const struct loaded_object *o, const char *name)
{
	struct desired_state *ds = ld->ds;
	enum lb_driver driver;
	if (!driver_from_name(field_str(o, "spec.driver"), &driver))
		return;
	const char *block = lb_driver_name(driver);
	char path[64];
	snprintf(path, sizeof(path), "spec.%s", block);
	if (!node_at(o->node, path)) {
		object_diag(ld, o, "spec.driver", "driver %s needs its settings in spec.%s", block,
			    block);
		return;
	}
	if (driver == LB_HAPROXY && !field_str(o, "spec.haproxy.socket") &&
	    !field_str(o, "spec.haproxy.address")) {
		object_diag(ld, o, "spec.haproxy",
			    "haproxy needs socket (a UNIX socket path) or address (host:port) "
			    "for its runtime API");
		return;
	}
	ds->lbs = xgrow(ds->lbs, ds->nlbs, sizeof(*ds->lbs));
	struct load_balancer *lb = &ds->lbs[ds->nlbs++];
	lb->name = xstrdup(name);
	lb->driver = driver;
	load_lb_blocks(lb, o);
	set_origin(&lb->origin, o);
}

static void load_notifier(struct loader *ld, const struct loaded_object *o, const char *name)
{
	struct desired_state *ds = ld->ds;
	int64_t window = 0;
	if (!parse_duration_field(o, "spec.window", &window))
		return;
	ds->notifiers = xgrow(ds->notifiers, ds->nnotifiers, sizeof(*ds->notifiers));
	struct notifier_spec *n = &ds->notifiers[ds->nnotifiers++];
	n->name = xstrdup(name);
	n->url = xstrdup(field_str(o, "spec.url"));
	const char *format = field_str(o, "spec.format");
	n->format = format && strcmp(format, "slack") == 0 ? NOTIFY_SLACK : NOTIFY_GENERIC;
	n->window_ms = window;
	set_origin(&n->origin, o);
}

struct kind_loader {
	const char *kind;
	bool in_nodes_dir; /* MacNodes live in openclaw/nodes/, the rest in clawfleet/ */
	void (*load)(struct loader *ld, const struct loaded_object *o, const char *name);
};

static const struct kind_loader kind_loaders[] = {
	{"MacNode", true, load_macnode},
	{"Promotion", false, load_promotion},
	{"TenantSlice", false, load_tenant_slice},
	{"LoadBalancer", false, load_load_balancer},
	{"Notifier", false, load_notifier},
};

static const struct kind_loader *kind_loader_find(const char *kind)
{
	for (size_t i = 0; i < sizeof(kind_loaders) / sizeof(kind_loaders[0]); i++)
		if (strcmp(kind_loaders[i].kind, kind) == 0)
			return &kind_loaders[i];
	return NULL;
}

/* ---- files ---- */

static struct yfile *parse_yaml(struct loader *ld, const struct treefile *tf)
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

struct parse_job {
	const struct treefiles *files;
	struct parsed_file *out;
	atomic_size_t next;
};

static void *parse_worker(void *arg)
{
	struct parse_job *job = arg;
	size_t i;
	while ((i = atomic_fetch_add(&job->next, 1)) < job->files->n) {
		const struct treefile *tf = &job->files->v[i];
		if (is_yaml_path(tf->path))
			job->out[i].rc = yfile_parse(&job->out[i].yf, tf->data, tf->len, NULL,
						     &job->out[i].err);
	}
	return NULL;
}

/* Parses every YAML file on up to PARSE_THREADS threads; the calling thread works too, and a
 * thread that cannot be started only means fewer workers. */
#define PARSE_THREADS 8
#define PARSE_FILES_PER_THREAD 64

static struct parsed_file *parse_all(const struct treefiles *files)
{
	struct parsed_file *out = calloc(files->n ? files->n : 1, sizeof(*out));
	if (!out)
		abort();
	struct parse_job job = {.files = files, .out = out};
	atomic_init(&job.next, 0);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = files->n / PARSE_FILES_PER_THREAD;
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
	return out;
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
	const char *name = ynode_str(node_at(root, "metadata.name"));
	struct loaded_object o = {.file = file, .node = root};
	snprintf(o.label, sizeof(o.label), "%s/%s", kind, name ? name : "-");
	const struct ynode *kind_node = ynode_get(root, "kind");
	const struct kind_loader *kl = kind_loader_find(kind);
	o.kind = kl ? schema_set_find(ld->schemas, api, kind) : NULL;
	if (!o.kind) {
		if (kl && strcmp(api, API_VERSION) != 0)
			object_diag(ld, &o, "apiVersion", "unknown apiVersion \"%s\" for %s (use %s)",
				    api, kind, API_VERSION);
		else
			diag_add(ld->diags, file, kind_node->line, kind_node->col, o.label, "kind",
				 "unknown kind \"%s\" (known: %s)", kind,
				 schema_set_kinds(ld->schemas));
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
	check_secrets(ld, file, o.label, "spec", ynode_get(root, "spec"));
	/* Loading goes on after schema errors so that every rule reports in one run; loaders
	 * read only well-typed values, and desired_load fails anyway. */
	if (!name)
		return;
	if (in_nodes_dir) {
		char stem[DESIRED_NAME_MAX];
		file_stem(file, stem, sizeof(stem));
		if (strcmp(stem, name) != 0) {
			object_diag(ld, &o, "metadata.name",
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
	struct yfile *yf = parse_yaml(ld, tf);
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

/* ---- tenant fragments ---- */

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
		size_t n = strlen(fragment_kind_names[i]);
		if ((size_t)(slash2 - k) == n + 2 && strncmp(k, fragment_kind_names[i], n) == 0) {
			*kind = (enum fragment_kind)i;
			*file = slash2 + 1;
			return true;
		}
	}
	return false;
}

/* NN-name.yaml: the number makes the merge order explicit. */
static bool fragment_name_ok(const char *file)
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

static void fragment_add(struct loader *ld, struct fragment_group *g, const struct treefile *tf)
{
	struct yfile *yf = parse_yaml(ld, tf);
	if (!yf) {
		g->bad = true;
		return;
	}
	const struct ynode *root = NULL;
	for (size_t i = 0; i < yf->ndocs; i++) {
		if (!yf->docs[i].root)
			continue;
		if (root) {
			diag_add(ld->diags, tf->path, yf->docs[i].root->line, yf->docs[i].root->col,
				 NULL, NULL, "a fragment holds one YAML document");
			g->bad = true;
			return;
		}
		root = yf->docs[i].root;
	}
	if (!root)
		return;
	if (root->kind != YNODE_MAP) {
		diag_add(ld->diags, tf->path, root->line, root->col, NULL, NULL,
			 "a fragment must be a map, got %s", ytype_name(ynode_type(root)));
		g->bad = true;
		return;
	}
	size_t before = ld->diags->n;
	check_secrets(ld, tf->path, NULL, "", root);
	struct json_object *j = NULL;
	struct yerr yerr;
	if (ld->diags->n != before) {
		g->bad = true;
		return;
	}
	if (ynode_to_json(root, &j, &yerr) < 0) {
		diag_add(ld->diags, tf->path, yerr.line, yerr.col, NULL, NULL, "%s", yerr.msg);
		g->bad = true;
		return;
	}
	g->frags = xgrow(g->frags, g->n, sizeof(*g->frags));
	g->frags[g->n++] = j;
}

static void load_fragments(struct loader *ld, const struct treefiles *files)
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
		if (!fragment_name_ok(file)) {
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

/* ---- openclaw.lock ---- */

static void offset_to_pos(const char *data, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && data[i]; i++) {
		if (data[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static const char *lock_str(struct json_object *obj, const char *key)
{
	struct json_object *v;
	if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void lock_diag(struct loader *ld, const char *field_name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void lock_diag(struct loader *ld, const char *field_name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(ld->diags, LOCK_PATH, 0, 0, NULL, field_name, "%s", msg);
}

static void load_lock_plugins(struct loader *ld, struct json_object *root)
{
	struct openclaw_lock *lk = &ld->ds->lock;
	struct json_object *plugins;
	if (!json_object_object_get_ex(root, "plugins", &plugins))
		return;
	if (!json_object_is_type(plugins, json_type_array)) {
		lock_diag(ld, "plugins", "must be an array of {name, version}");
		return;
	}
	size_t n = json_object_array_length(plugins);
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(plugins, i);
		const char *name = lock_str(p, "name"), *version = lock_str(p, "version");
		char fieldname[64];
		snprintf(fieldname, sizeof(fieldname), "plugins[%zu]", i);
		if (!name || !version) {
			lock_diag(ld, fieldname, "needs string fields name and version");
			continue;
		}
		lk->plugins = xgrow(lk->plugins, lk->nplugins, sizeof(*lk->plugins));
		lk->plugins[lk->nplugins].name = xstrdup(name);
		lk->plugins[lk->nplugins].version = xstrdup(version);
		lk->nplugins++;
	}
}

static bool is_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void load_lock(struct loader *ld, const struct treefile *tf)
{
	struct openclaw_lock *lk = &ld->ds->lock;
	struct json_tokener *tok = json_tokener_new_ex(32);
	if (!tok)
		abort();
	struct json_object *root = json_tokener_parse_ex(tok, tf->data, (int)tf->len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	if (!root || jerr != json_tokener_success || json_tokener_get_parse_end(tok) != tf->len) {
		int line, col;
		offset_to_pos(tf->data, json_tokener_get_parse_end(tok), &line, &col);
		diag_add(ld->diags, tf->path, line, col, NULL, NULL, "not valid JSON: %s",
			 jerr == json_tokener_success	 ? "trailing data after the object"
			 : jerr == json_tokener_continue ? "unexpected end of file"
							 : json_tokener_error_desc(jerr));
		goto done;
	}
	if (!json_object_is_type(root, json_type_object)) {
		lock_diag(ld, NULL, "must be a JSON object");
		goto done;
	}
	struct json_object *oc = NULL, *skills = NULL;
	json_object_object_get_ex(root, "openclaw", &oc);
	json_object_object_get_ex(root, "skills", &skills);
	const char *version = lock_str(oc, "version");
	const char *commit = lock_str(oc, "commit");
	const char *sha = lock_str(oc, "sha256");
	const char *skill_semver = lock_str(skills, "semver");
	struct semver sv;
	struct cf_err err;
	if (!version)
		lock_diag(ld, "openclaw.version", "required string is missing");
	if (commit && (strlen(commit) < 7 || strlen(commit) > 40 || !is_hex(commit, strlen(commit))))
		lock_diag(ld, "openclaw.commit", "must be 7 to 40 lower-case hex digits");
	if (sha && !is_hex(sha, 64))
		lock_diag(ld, "openclaw.sha256", "must be 64 lower-case hex digits");
	if (!skill_semver)
		lock_diag(ld, "skills.semver", "required string is missing");
	else if (semver_parse(skill_semver, &sv, &err) < 0)
		lock_diag(ld, "skills.semver", "%s", err.msg);
	load_lock_plugins(ld, root);
	lk->present = true;
	lk->version = xstrdup(version);
	lk->commit = xstrdup(commit);
	lk->sha256 = xstrdup(sha);
	lk->skills_semver = xstrdup(skill_semver);
	canon_sha256_hex(tf->data, tf->len, lk->file_sha256);
done:
	json_object_put(root);
	json_tokener_free(tok);
}

/* ---- cross-object checks ---- */

static void diag_at_origin(struct loader *ld, const struct origin *o, const char *label,
			   const char *fieldname, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void diag_at_origin(struct loader *ld, const struct origin *o, const char *label,
			   const char *fieldname, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(ld->diags, o->file, o->line, o->col, label, fieldname, "%s", msg);
}

struct keyed {
	const char *key;
	size_t index;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->index < y->index ? -1 : 1);
}

/* Reports every object whose key (a char * at key_off in each element of base) repeats an
 * earlier object's. Sorting keeps it O(n log n) for fleets of thousands of nodes. */
struct unique_spec {
	size_t stride, key_off, name_off, origin_off;
	const char *kindname, *fieldname;
};

static void check_unique(struct loader *ld, const void *base, size_t n,
			 const struct unique_spec *u)
{
	struct keyed *v = n ? calloc(n, sizeof(*v)) : NULL;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		const char *key = *(char *const *)((const char *)base + i * u->stride + u->key_off);
		if (key)
			v[m++] = (struct keyed){key, i};
	}
	if (m > 1)
		qsort(v, m, sizeof(*v), keyed_cmp);
	for (size_t i = 1, first = 0; i < m; i++) {
		if (strcmp(v[i].key, v[first].key) != 0) {
			first = i;
			continue;
		}
		const char *elem = (const char *)base + v[i].index * u->stride;
		const char *first_elem = (const char *)base + v[first].index * u->stride;
		const struct origin *o = (const struct origin *)(elem + u->origin_off);
		const struct origin *fo = (const struct origin *)(first_elem + u->origin_off);
		const char *name = *(char *const *)(elem + u->name_off);
		const char *first_name = *(char *const *)(first_elem + u->name_off);
		char label[DESIRED_NAME_MAX + 32];
		snprintf(label, sizeof(label), "%s/%s", u->kindname, name);
		diag_at_origin(ld, o, label, u->fieldname, "\"%s\" is already used by %s/%s at %s:%d",
			       v[i].key, u->kindname, first_name, fo->file, fo->line);
	}
	free(v);
}

#define CHECK_NAMES(ld, arr, n, kindname)                                                  \
	check_unique(ld, arr, n,                                                           \
		     &(struct unique_spec){sizeof(*(arr)), offsetof(__typeof__(*(arr)), name), \
					   offsetof(__typeof__(*(arr)), name),                  \
					   offsetof(__typeof__(*(arr)), origin), kindname,      \
					   "metadata.name"})

static void check_singletons(struct loader *ld)
{
	struct desired_state *ds = ld->ds;
	char label[DESIRED_NAME_MAX + 32];
	if (ds->npromotions > 1) {
		snprintf(label, sizeof(label), "Promotion/%s", ds->promotions[1].name);
		diag_at_origin(ld, &ds->promotions[1].origin, label, NULL,
			       "one Promotion per repository drives the fleet (another is at %s:%d)",
			       ds->promotions[0].origin.file, ds->promotions[0].origin.line);
	}
	if (ds->nlbs > 1) {
		snprintf(label, sizeof(label), "LoadBalancer/%s", ds->lbs[1].name);
		diag_at_origin(ld, &ds->lbs[1].origin, label, NULL,
			       "one LoadBalancer per repository (another is at %s:%d)",
			       ds->lbs[0].origin.file, ds->lbs[0].origin.line);
	}
	if (ds->nnotifiers > 1) {
		snprintf(label, sizeof(label), "Notifier/%s", ds->notifiers[1].name);
		diag_at_origin(ld, &ds->notifiers[1].origin, label, NULL,
			       "one Notifier per repository: failures go to one channel "
			       "(another is at %s:%d)",
			       ds->notifiers[0].origin.file, ds->notifiers[0].origin.line);
	}
}

static void check_nodes(struct loader *ld)
{
	struct desired_state *ds = ld->ds;
	CHECK_NAMES(ld, ds->nodes, ds->nnodes, "MacNode");
	check_unique(ld, ds->nodes, ds->nnodes,
		     &(struct unique_spec){sizeof(struct mac_node), offsetof(struct mac_node, lb_server),
					   offsetof(struct mac_node, name),
					   offsetof(struct mac_node, origin), "MacNode",
					   "spec.loadBalancer.server"});
}

static void check_promotion(struct loader *ld)
{
	struct desired_state *ds = ld->ds;
	if (ds->npromotions == 0)
		return;
	const struct promotion *p = &ds->promotions[0];
	char label[DESIRED_NAME_MAX + 32];
	snprintf(label, sizeof(label), "Promotion/%s", p->name);
	bool canary_gateway = false;
	for (size_t i = 0; i < ds->nnodes; i++)
		canary_gateway |= ds->nodes[i].canary && ds->nodes[i].role == NODE_GATEWAY;
	if (ds->nnodes && !canary_gateway)
		diag_at_origin(ld, &p->origin, label, NULL,
			       "a Promotion starts on a canary gateway: mark one gateway MacNode "
			       "with spec.canary: true");
	if (!ds->lock.present) {
		diag_at_origin(ld, &p->origin, label, NULL,
			       "a Promotion needs openclaw.lock at the repository root to pin the "
			       "build");
	}
}

/* ---- entry points ---- */

int desired_load(const struct treefiles *files, const struct schema_set *schemas,
		 const struct desired_hooks *hooks, struct desired_state **out,
		 struct diag_list *diags)
{
	struct desired_state *ds = calloc(1, sizeof(*ds));
	if (!ds)
		abort();
	struct loader ld = {.schemas = schemas,
			    .hooks = hooks,
			    .diags = diags,
			    .ds = ds,
			    .files = files,
			    .parsed = parse_all(files)};
	size_t before = diags->n + diags->dropped;
	*out = NULL;
	/* The lock first: a Promotion is checked against it. */
	const struct treefile *lock = treefiles_find(files, LOCK_PATH);
	if (lock)
		load_lock(&ld, lock);
	for (size_t i = 0; i < files->n; i++) {
		const struct treefile *tf = &files->v[i];
		size_t len = strlen(tf->path);
		if (tf == lock)
			continue;
		if (len > 4 && strcmp(tf->path + len - 4, ".yml") == 0)
			diag_add(diags, tf->path, 0, 0, NULL, NULL,
				 "desired-state files end in .yaml; this .yml file would be ignored");
		else if (strncmp(tf->path, "clawfleet/", 10) == 0)
			load_object_file(&ld, tf, false);
		else if (strncmp(tf->path, "openclaw/nodes/", 15) == 0)
			load_object_file(&ld, tf, true);
	}
	CHECK_NAMES(&ld, ds->promotions, ds->npromotions, "Promotion");
	CHECK_NAMES(&ld, ds->tenants, ds->ntenants, "TenantSlice");
	CHECK_NAMES(&ld, ds->lbs, ds->nlbs, "LoadBalancer");
	CHECK_NAMES(&ld, ds->notifiers, ds->nnotifiers, "Notifier");
	check_nodes(&ld);
	check_singletons(&ld);
	check_promotion(&ld);
	load_fragments(&ld, files);
	for (size_t i = 0; i < files->n; i++)
		yfile_free(ld.parsed[i].yf);
	free(ld.parsed);
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
		origin_free(&p->origin);
	}
	for (size_t i = 0; i < ds->ntenants; i++) {
		struct tenant_slice *t = &ds->tenants[i];
		free(t->name);
		free(t->profile);
		free(t->routing_header);
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
	for (size_t i = 0; i < ds->nnotifiers; i++) {
		free(ds->notifiers[i].name);
		free(ds->notifiers[i].url);
		origin_free(&ds->notifiers[i].origin);
	}
	free(ds->nodes);
	free(ds->promotions);
	free(ds->tenants);
	free(ds->lbs);
	free(ds->notifiers);
	struct openclaw_lock *lk = &ds->lock;
	free(lk->version);
	free(lk->commit);
	free(lk->sha256);
	free(lk->skills_semver);
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
