#include "desired/schema.h"

#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/embedded.h"
#include "desired/schema_internal.h"

/* ---- compiling openAPIV3Schema ---- */

struct cctx {
	const char *file;
	struct path path;
	struct cf_err *err;
};

static int cfail(struct cctx *c, const struct ynode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int cfail(struct cctx *c, const struct ynode *at, const char *fmt, ...)
{
	char msg[CF_ERR_MSG];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cf_err_set(c->err, "%s:%d:%d: %s: %s", c->file, at ? at->line : 0,
			  at ? at->col : 0, c->path.len ? c->path.buf : "-", msg);
}

static void snode_free(struct snode *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nprops; i++)
		snode_free(s->props[i].schema);
	free(s->props);
	snode_free(s->addl);
	snode_free(s->items);
	if (s->has_re)
		regfree(&s->re);
	free(s);
}

static int compile_node(struct cctx *c, const struct ynode *n, struct snode **out);

static int want_type(struct cctx *c, const struct ynode *v, enum ytype t)
{
	static const char *const articles[] = {
		[YT_NULL] = "null", [YT_BOOL] = "a boolean", [YT_INT] = "an integer",
		[YT_FLOAT] = "a number", [YT_STR] = "a string", [YT_MAP] = "an object",
		[YT_SEQ] = "an array",
	};
	enum ytype got = ynode_type(v);
	if (got == t)
		return 0;
	return cfail(c, v, "must be %s, got %s", articles[t], ytype_name(got));
}

static const char *const type_names[] = {
	[ST_ANY] = "any", [ST_OBJECT] = "object", [ST_ARRAY] = "array", [ST_STRING] = "string",
	[ST_INTEGER] = "integer", [ST_NUMBER] = "number", [ST_BOOLEAN] = "boolean",
	[ST_INT_OR_STRING] = "int-or-string",
};

static int kw_type(struct cctx *c, struct snode *s, const struct ynode *v)
{
	const char *t = ynode_str(v);
	for (size_t i = ST_OBJECT; t && i <= ST_BOOLEAN; i++) {
		if (strcmp(t, type_names[i]) == 0) {
			s->type = (enum stype)i;
			return 0;
		}
	}
	return cfail(c, v, "unsupported type (use object, array, string, integer, number or "
			   "boolean)");
}

static int kw_properties(struct cctx *c, struct snode *s, const struct ynode *v)
{
	if (want_type(c, v, YT_MAP))
		return -1;
	s->props = calloc(v->n ? v->n : 1, sizeof(*s->props));
	if (!s->props)
		return cfail(c, v, "out of memory");
	for (size_t i = 0; i < v->n; i++) {
		size_t mark = path_key(&c->path, v->pairs[i].key->str);
		s->props[i].name = v->pairs[i].key->str;
		s->nprops++;
		if (compile_node(c, v->pairs[i].value, &s->props[i].schema))
			return -1;
		path_pop(&c->path, mark);
	}
	qsort(s->props, s->nprops, sizeof(*s->props), prop_cmp);
	return 0;
}

static int kw_required(struct cctx *c, struct snode *s, const struct ynode *v)
{
	if (want_type(c, v, YT_SEQ))
		return -1;
	for (size_t i = 0; i < v->n; i++) {
		size_t mark = path_index(&c->path, i);
		if (want_type(c, v->items[i], YT_STR))
			return -1;
		path_pop(&c->path, mark);
	}
	s->required = v;
	return 0;
}

static int kw_additional(struct cctx *c, struct snode *s, const struct ynode *v)
{
	bool b;
	if (ynode_bool(v, &b) == 0) {
		s->open = b;
		return 0;
	}
	return compile_node(c, v, &s->addl);
}

static int kw_items(struct cctx *c, struct snode *s, const struct ynode *v)
{
	return compile_node(c, v, &s->items);
}

static int kw_enum(struct cctx *c, struct snode *s, const struct ynode *v)
{
	if (want_type(c, v, YT_SEQ))
		return -1;
	if (v->n == 0)
		return cfail(c, v, "must not be empty");
	s->enumv = v;
	return 0;
}

static int kw_pattern(struct cctx *c, struct snode *s, const struct ynode *v)
{
	if (want_type(c, v, YT_STR))
		return -1;
	int rc = regcomp(&s->re, v->str, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char why[256];
		regerror(rc, &s->re, why, sizeof(why));
		return cfail(c, v, "invalid regular expression: %s", why);
	}
	s->has_re = true;
	s->pattern = v->str;
	return 0;
}

static int bound(struct cctx *c, struct sbound *b, const struct ynode *v)
{
	if (ynode_number(v, &b->v) != 0)
		return cfail(c, v, "must be a number");
	b->set = true;
	b->text = v->str;
	return 0;
}

static int kw_minimum(struct cctx *c, struct snode *s, const struct ynode *v)
{
	return bound(c, &s->min, v);
}

static int kw_maximum(struct cctx *c, struct snode *s, const struct ynode *v)
{
	return bound(c, &s->max, v);
}

static int flag(struct cctx *c, bool *out, const struct ynode *v)
{
	if (ynode_bool(v, out) != 0)
		return want_type(c, v, YT_BOOL);
	return 0;
}

static int kw_excl_min(struct cctx *c, struct snode *s, const struct ynode *v)
{
	return flag(c, &s->min.exclusive, v);
}

static int kw_excl_max(struct cctx *c, struct snode *s, const struct ynode *v)
{
	return flag(c, &s->max.exclusive, v);
}

static int kw_unique(struct cctx *c, struct snode *s, const struct ynode *v)
{
	return flag(c, &s->unique, v);
}

static int kw_nullable(struct cctx *c, struct snode *s, const struct ynode *v)
{
	return flag(c, &s->nullable, v);
}

static int kw_preserve(struct cctx *c, struct snode *s, const struct ynode *v)
{
	return flag(c, &s->open, v);
}

/* Kubernetes' int-or-string takes no type of its own: it is the type. */
static int kw_int_or_string(struct cctx *c, struct snode *s, const struct ynode *v)
{
	bool on;
	if (flag(c, &on, v))
		return -1;
	if (!on)
		return 0;
	if (s->type != ST_ANY && s->type != ST_INT_OR_STRING)
		return cfail(c, v, "x-kubernetes-int-or-string: true takes no type (it is one)");
	s->type = ST_INT_OR_STRING;
	return 0;
}

static int count(struct cctx *c, long long *out, const struct ynode *v)
{
	long long x;
	if (ynode_int(v, &x) != 0 || x < 0)
		return cfail(c, v, "must be a non-negative integer");
	*out = x;
	return 0;
}

static int kw_min_len(struct cctx *c, struct snode *s, const struct ynode *v)
{
	return count(c, &s->min_len, v);
}

static int kw_max_len(struct cctx *c, struct snode *s, const struct ynode *v)
{
	return count(c, &s->max_len, v);
}

static int kw_min_items(struct cctx *c, struct snode *s, const struct ynode *v)
{
	return count(c, &s->min_items, v);
}

static int kw_max_items(struct cctx *c, struct snode *s, const struct ynode *v)
{
	return count(c, &s->max_items, v);
}

static int kw_format(struct cctx *c, struct snode *s, const struct ynode *v)
{
	const char *f = ynode_str(v);
	if (f && strcmp(f, "date-time") == 0)
		s->format = SF_DATE_TIME;
	else if (f && strcmp(f, "duration") == 0)
		s->format = SF_DURATION;
	else if (f && strcmp(f, "semver") == 0)
		s->format = SF_SEMVER;
	else if (f && strcmp(f, "git-tag") == 0)
		s->format = SF_GIT_TAG;
	else
		return cfail(c, v, "unsupported format (use date-time, duration, semver or git-tag)");
	return 0;
}

static int kw_default(struct cctx *c, struct snode *s, const struct ynode *v)
{
	(void)c;
	s->def = v;
	return 0;
}

static int kw_doc(struct cctx *c, struct snode *s, const struct ynode *v)
{
	(void)s;
	return want_type(c, v, YT_STR);
}

#define TYPE_BIT(x) (1u << (x))
#define TYPE_NUM (TYPE_BIT(ST_INTEGER) | TYPE_BIT(ST_NUMBER))

/* Each keyword, the types it applies to (0: any) and how it is read. */
static const struct keyword {
	const char *name;
	unsigned types;
	int (*parse)(struct cctx *c, struct snode *s, const struct ynode *v);
} keywords[] = {
	{"type", 0, kw_type},
	{"description", 0, kw_doc},
	{"title", 0, kw_doc},
	{"properties", TYPE_BIT(ST_OBJECT), kw_properties},
	{"required", TYPE_BIT(ST_OBJECT), kw_required},
	{"additionalProperties", TYPE_BIT(ST_OBJECT), kw_additional},
	{"items", TYPE_BIT(ST_ARRAY), kw_items},
	{"enum", 0, kw_enum},
	{"pattern", TYPE_BIT(ST_STRING), kw_pattern},
	{"minimum", TYPE_NUM, kw_minimum},
	{"maximum", TYPE_NUM, kw_maximum},
	{"exclusiveMinimum", TYPE_NUM, kw_excl_min},
	{"exclusiveMaximum", TYPE_NUM, kw_excl_max},
	{"minLength", TYPE_BIT(ST_STRING), kw_min_len},
	{"maxLength", TYPE_BIT(ST_STRING), kw_max_len},
	{"minItems", TYPE_BIT(ST_ARRAY), kw_min_items},
	{"maxItems", TYPE_BIT(ST_ARRAY), kw_max_items},
	{"uniqueItems", TYPE_BIT(ST_ARRAY), kw_unique},
	{"format", TYPE_BIT(ST_STRING), kw_format},
	{"default", 0, kw_default},
	{"nullable", 0, kw_nullable},
	{"x-kubernetes-preserve-unknown-fields", 0, kw_preserve},
	{"x-kubernetes-int-or-string", 0, kw_int_or_string},
};

/* Whether a keyword for the types mask applies to a node of type t; before the node's type is
 * known (ST_ANY), any does. */
static bool applies(unsigned mask, enum stype t)
{
	if (!mask || t == ST_ANY)
		return true;
	if (t == ST_INT_OR_STRING)
		return mask & (TYPE_BIT(ST_STRING) | TYPE_BIT(ST_INTEGER));
	return mask & TYPE_BIT(t);
}

static const struct keyword *keyword_find(const char *name)
{
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strcmp(keywords[i].name, name) == 0)
			return &keywords[i];
	return NULL;
}

/* Enum values and the default must themselves be valid, as Kubernetes demands of a CRD. The
 * path names the keyword; an error ends the compilation, so it is not popped. */
static int check_example(struct cctx *c, const struct snode *s, const struct ynode *v,
			 const char *what)
{
	struct diag_list dl = {0};
	int rc = 0;
	schema_validate_value(s, v, &dl);
	if (dl.n)
		rc = cfail(c, v, "%s is not valid: %s%s%s", what,
			   dl.v[0].field ? dl.v[0].field : "", dl.v[0].field ? ": " : "",
			   dl.v[0].msg);
	diag_list_free(&dl);
	return rc;
}

/* What Kubernetes requires of a structural schema, and what strict validation needs to work. */
static int check_node(struct cctx *c, const struct snode *s, const struct ynode *n)
{
	size_t mark = c->path.len;
	if (s->type == ST_ANY && !s->open)
		return cfail(c, n, "type is required");
	if (s->type == ST_ARRAY && !s->items)
		return cfail(c, n, "items is required for type array");
	if (s->nprops && ynode_get(n, "additionalProperties"))
		return cfail(c, n, "properties and additionalProperties are mutually exclusive");
	for (size_t i = 0; s->required && !s->open && !s->addl && i < s->required->n; i++) {
		const struct ynode *r = s->required->items[i];
		path_key(&c->path, "required");
		path_index(&c->path, i);
		if (!prop_find(s->props, s->nprops, r->str))
			return cfail(c, r, "required field \"%s\" is not in properties", r->str);
		path_pop(&c->path, mark);
	}
	for (size_t i = 0; s->enumv && i < s->enumv->n; i++) {
		path_key(&c->path, "enum");
		path_index(&c->path, i);
		if (check_example(c, s, s->enumv->items[i], "enum value"))
			return -1;
		path_pop(&c->path, mark);
	}
	path_key(&c->path, "default");
	if (s->def && check_example(c, s, s->def, "default"))
		return -1;
	path_pop(&c->path, mark);
	return 0;
}

/* *out is set before anything can fail, so that the caller's free takes what was compiled. */
static int compile_node(struct cctx *c, const struct ynode *n, struct snode **out)
{
	struct snode *s = calloc(1, sizeof(*s));
	*out = s;
	if (!s)
		return cfail(c, n, "out of memory");
	s->min_len = s->max_len = s->min_items = s->max_items = -1;
	if (want_type(c, n, YT_MAP))
		return -1;
	/* The type first, so that every other keyword can be checked against it. */
	const struct ynode *type = ynode_get(n, "type");
	if (type) {
		size_t mark = path_key(&c->path, "type");
		if (kw_type(c, s, type))
			return -1;
		path_pop(&c->path, mark);
	}
	for (size_t i = 0; i < n->n; i++) {
		const struct ynode *key = n->pairs[i].key;
		const struct keyword *kw = keyword_find(key->str);
		if (!kw)
			return cfail(c, key, "unsupported schema keyword \"%s\"", key->str);
		if (!applies(kw->types, s->type))
			return cfail(c, key, "%s does not apply to type %s", key->str,
				     type_names[s->type]);
		if (kw->parse == kw_type)
			continue;
		size_t mark = path_key(&c->path, key->str);
		if (kw->parse(c, s, n->pairs[i].value))
			return -1;
		path_pop(&c->path, mark);
	}
	return check_node(c, s, n);
}

/* ---- the set ---- */

static void kind_free(struct schema_kind *k)
{
	free(k->api_version);
	snode_free(k->root);
}

void schema_set_free(struct schema_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nkinds; i++)
		kind_free(&s->kinds[i]);
	free(s->kinds);
	for (size_t i = 0; i < s->nfiles; i++)
		yfile_free(s->files[i]);
	free(s->files);
	free(s->kind_list);
	free(s);
}

/* The value of key in map, which must have type t. The path gains key; the caller pops it. */
static const struct ynode *need(struct cctx *c, const struct ynode *map, const char *key,
				enum ytype t)
{
	const struct ynode *v = ynode_get(map, key);
	path_key(&c->path, key);
	if (!v) {
		cfail(c, map, "required");
		return NULL;
	}
	return want_type(c, v, t) ? NULL : v;
}

static int add_version(struct cctx *c, struct schema_set *s, const char *group, const char *kind,
		       const struct ynode *ver)
{
	size_t mark = c->path.len;
	bool served = true;
	const struct ynode *name = need(c, ver, "name", YT_STR);
	if (!name)
		return -1;
	path_pop(&c->path, mark);
	if (ynode_bool(ynode_get(ver, "served"), &served) == 0 && !served)
		return 0;
	for (size_t i = 0; i < s->nkinds; i++)
		if (!strcmp(s->kinds[i].kind, kind) && !strcmp(s->kinds[i].version, name->str))
			return cfail(c, name, "%s %s is defined twice", kind, name->str);
	const struct ynode *schema = need(c, ver, "schema", YT_MAP);
	const struct ynode *root = schema ? need(c, schema, "openAPIV3Schema", YT_MAP) : NULL;
	if (!root)
		return -1;
	struct schema_kind *v = realloc(s->kinds, (s->nkinds + 1) * sizeof(*v));
	if (!v)
		return cfail(c, root, "out of memory");
	s->kinds = v;
	struct schema_kind *k = &s->kinds[s->nkinds++];
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	k->version = name->str;
	if (asprintf(&k->api_version, "%s/%s", group, name->str) < 0) {
		k->api_version = NULL;
		return cfail(c, root, "out of memory");
	}
	if (compile_node(c, root, &k->root))
		return -1;
	path_pop(&c->path, mark);
	return 0;
}

static int add_crd(struct cctx *c, struct schema_set *s, const struct ynode *crd)
{
	const char *api = ynode_str(ynode_get(crd, "apiVersion"));
	const char *kind = ynode_str(ynode_get(crd, "kind"));
	if (!api || !kind || strcmp(api, "apiextensions.k8s.io/v1") ||
	    strcmp(kind, "CustomResourceDefinition"))
		return cfail(c, crd, "not an apiextensions.k8s.io/v1 CustomResourceDefinition");
	const struct ynode *spec = need(c, crd, "spec", YT_MAP);
	if (!spec)
		return -1;
	size_t in_spec = c->path.len;
	const struct ynode *group = need(c, spec, "group", YT_STR);
	if (!group)
		return -1;
	path_pop(&c->path, in_spec);
	const struct ynode *names = need(c, spec, "names", YT_MAP);
	const struct ynode *name = names ? need(c, names, "kind", YT_STR) : NULL;
	if (!name)
		return -1;
	path_pop(&c->path, in_spec);
	const struct ynode *versions = need(c, spec, "versions", YT_SEQ);
	if (!versions)
		return -1;
	for (size_t i = 0; i < versions->n; i++) {
		size_t mark = path_index(&c->path, i);
		if (add_version(c, s, group->str, name->str, versions->items[i]))
			return -1;
		path_pop(&c->path, mark);
	}
	path_pop(&c->path, 0);
	return 0;
}

static int add_file(struct schema_set *s, const char *name, const char *text, size_t len,
		    struct cf_err *err)
{
	struct cctx c = {.file = name, .err = err};
	struct yerr yerr;
	struct yfile *f = NULL;
	if (yfile_parse(&f, text, len, NULL, &yerr))
		return cf_err_set(err, "%s:%d:%d: %s", name, yerr.line, yerr.col, yerr.msg);
	struct yfile **v = realloc(s->files, (s->nfiles + 1) * sizeof(*v));
	if (!v) {
		yfile_free(f);
		return cf_err_set(err, "%s: out of memory", name);
	}
	s->files = v;
	s->files[s->nfiles++] = f;
	for (size_t i = 0; i < f->ndocs; i++)
		if (f->docs[i].root && add_crd(&c, s, f->docs[i].root))
			return -1;
	return 0;
}

static int kind_cmp(const void *a, const void *b)
{
	const struct schema_kind *x = a, *y = b;
	int c = strcmp(x->kind, y->kind);
	return c ? c : strcmp(x->version, y->version);
}

static int finish(struct schema_set *s, struct cf_err *err)
{
	size_t len = 1;
	qsort(s->kinds, s->nkinds, sizeof(*s->kinds), kind_cmp);
	for (size_t i = 0; i < s->nkinds; i++)
		len += strlen(s->kinds[i].kind) + 2;
	s->kind_list = malloc(len);
	if (!s->kind_list)
		return cf_err_set(err, "out of memory");
	size_t k = 0;
	s->kind_list[0] = '\0';
	for (size_t i = 0; i < s->nkinds; i++) {
		if (i && strcmp(s->kinds[i].kind, s->kinds[i - 1].kind) == 0)
			continue;
		k += (size_t)snprintf(s->kind_list + k, len - k, "%s%s", k ? ", " : "",
				      s->kinds[i].kind);
	}
	return 0;
}

int schema_set_load(struct schema_set **out, const char *const *names, const char *const *texts,
		    size_t count, struct cf_err *err)
{
	struct schema_set *s = calloc(1, sizeof(*s));
	int rc = -1;
	*out = NULL;
	if (!s)
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < count; i++)
		if (add_file(s, names[i], texts[i], strlen(texts[i]), err))
			goto done;
	if (finish(s, err))
		goto done;
	*out = s;
	s = NULL;
	rc = 0;
done:
	schema_set_free(s);
	return rc;
}

int schema_set_load_embedded(struct schema_set **out, struct cf_err *err)
{
	struct schema_set *s = calloc(1, sizeof(*s));
	int rc = -1;
	*out = NULL;
	if (!s)
		return cf_err_set(err, "out of memory");
	for (const struct embedded_file *f = crd_files; f->path; f++)
		if (add_file(s, f->path, f->data, f->len, err))
			goto done;
	if (finish(s, err))
		goto done;
	*out = s;
	s = NULL;
	rc = 0;
done:
	schema_set_free(s);
	return rc;
}

const struct schema_kind *schema_set_find(const struct schema_set *s, const char *api_version,
					  const char *kind)
{
	for (size_t i = 0; s && api_version && kind && i < s->nkinds; i++) {
		const struct schema_kind *k = &s->kinds[i];
		if (!strcmp(k->kind, kind) && !strcmp(k->api_version, api_version))
			return k;
	}
	return NULL;
}

const char *schema_set_kinds(const struct schema_set *s)
{
	return s && s->kind_list ? s->kind_list : "";
}
