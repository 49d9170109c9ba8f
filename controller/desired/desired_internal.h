/* desired_internal: private to the files of the desired module, which share one loader:
 * desired.c reads the files and their documents and owns the entry points, desired_parse.c
 * parses them ahead of it on threads, desired_kinds.c turns each kind's documents into typed
 * objects, desired_lock.c reads openclaw.lock, desired_tenants.c merges the tenants' fragment
 * files and desired_crosscheck.c applies the rules that span objects. Everything found wrong
 * goes into the loader's diags. Running out of memory marks the loader (desired_strdup,
 * desired_grow): loading stops at the next file and desired_load fails with "out of memory". */
#ifndef CLAWFLEET_DESIRED_INTERNAL_H
#define CLAWFLEET_DESIRED_INTERNAL_H
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"
#include "base/yamltree.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "source/treefiles.h"

#define LOCK_PATH "openclaw.lock"

struct desired_parser;

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
	struct desired_parser *parser; /* the files' trees: a node file's until its MacNode is
					* loaded, the others' until loading ends (objects point in) */
	bool out_of_memory;
};

/* A copy of s (NULL stays NULL); NULL with the loader marked when memory runs out. */
static inline char *desired_strdup(struct loader *ld, const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		ld->out_of_memory = true;
	return d;
}

/* v (n elements of size bytes) with one more, zeroed, element; NULL with the loader marked
 * when memory runs out, v then unchanged. */
static inline void *desired_grow(struct loader *ld, void *v, size_t n, size_t size)
{
	/* Arrays grow by one: desired state holds at most a few thousand objects. */
	void *p = realloc(v, (n + 1) * size);
	if (!p) {
		ld->out_of_memory = true;
		return NULL;
	}
	memset((char *)p + n * size, 0, size);
	return p;
}

/* desired.c */

/* The value at a dotted path ("metadata.name") below n, or NULL. */
const struct ynode *desired_value_at(const struct ynode *n, const char *path);
/* Adds a diag located at path in o (at o itself when path is NULL or absent). */
void desired_object_diag(struct loader *ld, const struct loaded_object *o, const char *path,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Reports every key and value below n that looks like a credential; base is n's field path. */
void desired_check_secrets(struct loader *ld, const char *file, const char *label,
			   const char *base, const struct ynode *n);
/* desired_parse.c: the files parsed ahead of loading, on threads. desired_parse_start parses
 * the YAML files other than node files and starts parsing node files ahead of the loader (NULL
 * when memory runs out); desired_parse_node returns once node file i (an index into files) is
 * parsed, the loader visiting node files in file order; desired_parse_drop frees a node file's
 * tree once it is loaded; desired_parse_free stops the workers and frees every tree. */
struct desired_parser *desired_parse_start(const struct treefiles *files);
void desired_parse_node(struct desired_parser *p, size_t i);
void desired_parse_drop(struct desired_parser *p, size_t i);
void desired_parse_free(struct desired_parser *p);
/* openclaw/nodes/<x>: the files that each hold one MacNode. */
bool desired_is_node_file(const char *path);
/* The YAML of tf, parsed ahead of loading; NULL after reporting its syntax error. */
struct yfile *desired_parsed_yaml(struct loader *ld, const struct treefile *tf);
/* NN-name.yaml: the number makes a fragment's merge order explicit. */
bool desired_fragment_name_ok(const char *file);
/* One fragment file: one YAML map without secrets, as JSON into *out (NULL: the file is empty);
 * -1 with the problem located in the diagnostics. */
int desired_fragment_read(struct loader *ld, const struct treefile *tf, struct json_object **out);
/* openclaw/base.d and openclaw/nodes/<host>.d (desired_openclaw.c). */
void desired_load_openclaw_fragments(struct loader *ld, const struct treefiles *files);

/* desired_kinds.c */

struct kind_loader {
	const char *kind;
	bool in_nodes_dir; /* MacNodes live in openclaw/nodes/, the rest in clawfleet/ */
	void (*load)(struct loader *ld, const struct loaded_object *o, const char *name);
};

/* The loader of a kind, NULL for a kind clawfleet does not know. */
const struct kind_loader *desired_kind_loader(const char *kind);

/* desired_webhooks.c: spec.canary.analysis.webhooks of a Promotion into p (false after reporting
 * what is wrong: a duplicate name, a timeout over 60s); desired_free_webhooks frees them. */
bool desired_load_webhooks(struct loader *ld, const struct loaded_object *o, struct promotion *p);
void desired_free_webhooks(struct promotion *p);
/* desired_metrics.c: spec.canary.analysis.metrics and .provider into a; false after reporting
 * what is wrong (a query-less name that is not built in, min over max, a bad address). */
struct promotion_analysis;
bool desired_load_metrics(struct loader *ld, const struct loaded_object *o,
			  struct promotion_analysis *a);
void desired_free_metrics(struct promotion_analysis *a);

/* desired_lock.c: openclaw.lock at the repository root into ld->ds->lock. */
void desired_load_lock(struct loader *ld, const struct treefile *tf);

/* desired_tenants.c: tenants/<tenant>/<kind>.d/NN-*.yaml, merged into the TenantSlices. */
void desired_load_tenant_fragments(struct loader *ld, const struct treefiles *files);

/* desired_crosscheck.c: duplicate names and load-balancer servers, the singleton kinds, and what
 * a Promotion needs of the rest. */
void desired_check_objects(struct loader *ld);

#endif
