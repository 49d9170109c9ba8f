/* schema_internal: private to schema.c (compiling the CRDs' openAPIV3Schema) and
 * schema_validate.c (checking objects against what was compiled). It holds the compiled form
 * both sides share, the dotted field path both build while walking, and the one call the
 * compiler makes into validation: a CRD's enum values and defaults must themselves be valid. */
#ifndef CLAWFLEET_SCHEMA_INTERNAL_H
#define CLAWFLEET_SCHEMA_INTERNAL_H
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"
#include "base/yamltree.h"

#define PATH_MAX_LEN 512

/* ST_INT_OR_STRING: x-kubernetes-int-or-string, an integer or a string ("50%"); the string
 * keywords apply to strings and the number keywords to integers, as in Kubernetes. */
enum stype {
	ST_ANY,
	ST_OBJECT,
	ST_ARRAY,
	ST_STRING,
	ST_INTEGER,
	ST_NUMBER,
	ST_BOOLEAN,
	ST_INT_OR_STRING,
};
enum sformat { SF_NONE, SF_DATE_TIME, SF_DURATION, SF_SEMVER, SF_GIT_TAG };

struct sbound {
	bool set, exclusive;
	double v;
	const char *text; /* as written in the CRD, for messages */
};

struct snode;

struct sprop {
	const char *name;
	struct snode *schema;
};

struct snode {
	enum stype type;
	bool nullable;
	bool open; /* preserve-unknown-fields or additionalProperties: true */
	struct sprop *props; /* sorted by name */
	size_t nprops;
	const struct ynode *required; /* sequence of strings, or NULL */
	struct snode *addl;
	struct snode *items;
	const struct ynode *enumv; /* sequence, or NULL */
	const char *pattern;
	regex_t re;
	bool has_re;
	struct sbound min, max;
	long long min_len, max_len, min_items, max_items; /* -1 when unset */
	bool unique;
	enum sformat format;
	const struct ynode *def;
};

struct schema_kind {
	const char *kind, *version;
	char *api_version;
	struct snode *root;
};

struct schema_set {
	struct schema_kind *kinds;
	size_t nkinds;
	struct yfile **files; /* the schema nodes point into them */
	size_t nfiles;
	char *kind_list;
};

/* A dotted field path built in place while walking, so that validation allocates nothing. */
struct path {
	size_t len;
	char buf[PATH_MAX_LEN];
};

static inline size_t path_append(struct path *p, const char *s, size_t n)
{
	size_t old = p->len;
	size_t room = sizeof(p->buf) - 1 - p->len;
	if (n > room)
		n = room;
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
	return old;
}

static inline size_t path_key(struct path *p, const char *key)
{
	size_t old = p->len;
	if (p->len)
		path_append(p, ".", 1);
	path_append(p, key, strlen(key));
	return old;
}

/* Map keys (labels, headers) may hold dots, so they go in brackets as Kubernetes prints them. */
static inline size_t path_bracket(struct path *p, const char *key)
{
	size_t old = path_append(p, "[", 1);
	path_append(p, key, strlen(key));
	path_append(p, "]", 1);
	return old;
}

static inline size_t path_index(struct path *p, size_t i)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "[%zu]", i);
	return path_append(p, b, (size_t)n);
}

static inline void path_pop(struct path *p, size_t len)
{
	p->len = len;
	p->buf[len] = '\0';
}

static inline int prop_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sprop *)a)->name, ((const struct sprop *)b)->name);
}

static inline const struct sprop *prop_find(const struct sprop *props, size_t n, const char *name)
{
	struct sprop key = {.name = name};
	return n ? bsearch(&key, props, n, sizeof(*props), prop_cmp) : NULL;
}

/* Checks n against s as schema_validate checks a field, adding one diag per problem with no file
 * or object and the field path relative to n. */
void schema_validate_value(const struct snode *s, const struct ynode *n, struct diag_list *diags);

#endif
