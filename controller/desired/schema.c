#include "desired/schema.h"

#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/embedded.h"
#include "base/names.h"
#include "base/semver.h"
#include "base/timeparse.h"

#define PATH_MAX_LEN 512
#define QUOTE_MAX 64   /* bytes of a value quoted in a message */
#define SUGGEST_MAX 64 /* longer names never get a did-you-mean */

enum stype { ST_ANY, ST_OBJECT, ST_ARRAY, ST_STRING, ST_INTEGER, ST_NUMBER, ST_BOOLEAN };
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

static size_t path_append(struct path *p, const char *s, size_t n)
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

static size_t path_key(struct path *p, const char *key)
{
	size_t old = p->len;
	if (p->len)
		path_append(p, ".", 1);
	path_append(p, key, strlen(key));
	return old;
}

/* Map keys (labels, headers) may hold dots, so they go in brackets as Kubernetes prints them. */
static size_t path_bracket(struct path *p, const char *key)
{
	size_t old = path_append(p, "[", 1);
	path_append(p, key, strlen(key));
	path_append(p, "]", 1);
	return old;
}

static size_t path_index(struct path *p, size_t i)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "[%zu]", i);
	return path_append(p, b, (size_t)n);
}

static void path_pop(struct path *p, size_t len)
{
	p->len = len;
	p->buf[len] = '\0';
}

/* Writes s as a double-quoted, escaped and possibly shortened string. */
static void quote(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;
	out[o++] = '"';
	for (size_t i = 0; i < len && o + 8 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == QUOTE_MAX) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* "string \"100\"", "integer 300", "null", "object": what a value is, for "got ..." */
static void describe(const struct ynode *n, char *out, size_t outlen)
{
	enum ytype t = ynode_type(n);
	char q[QUOTE_MAX * 4 + 16];
	switch (t) {
	case YT_STR:
		quote(n->str, n->len, q, sizeof(q));
		snprintf(out, outlen, "string %s", q);
		break;
	case YT_BOOL:
	case YT_INT:
	case YT_FLOAT:
		snprintf(out, outlen, "%s %.*s", ytype_name(t), QUOTE_MAX, n->str);
		break;
	default:
		snprintf(out, outlen, "%s", ytype_name(t));
		break;
	}
}

/* A value as it appears in "one of" lists and "got" parts: strings quoted, the rest as written. */
static void show(const struct ynode *n, char *out, size_t outlen)
{
	enum ytype t = ynode_type(n);
	if (t == YT_STR)
		quote(n->str, n->len, out, outlen);
	else if (n->kind == YNODE_SCALAR)
		snprintf(out, outlen, "%.*s", QUOTE_MAX, n->str);
	else
		snprintf(out, outlen, "%s", ytype_name(t));
}

static const char *type_article(enum stype t)
{
	static const char *const names[] = {
		[ST_ANY] = "any value", [ST_OBJECT] = "an object", [ST_ARRAY] = "an array",
		[ST_STRING] = "a string", [ST_INTEGER] = "an integer", [ST_NUMBER] = "a number",
		[ST_BOOLEAN] = "a boolean",
	};
	return names[t];
}

static bool type_ok(enum stype want, enum ytype got)
{
	switch (want) {
	case ST_ANY:
		return true;
	case ST_OBJECT:
		return got == YT_MAP;
	case ST_ARRAY:
		return got == YT_SEQ;
	case ST_STRING:
		return got == YT_STR;
	case ST_INTEGER:
		return got == YT_INT;
	case ST_NUMBER:
		return got == YT_INT || got == YT_FLOAT;
	case ST_BOOLEAN:
		return got == YT_BOOL;
	}
	return false;
}

/* JSON equality, as enum and uniqueItems compare: 1 and 1.0 are equal, map order is not. */
static bool value_equal(const struct ynode *a, const struct ynode *b)
{
	enum ytype ta = ynode_type(a), tb = ynode_type(b);
	double x, y;
	if ((ta == YT_INT || ta == YT_FLOAT) && (tb == YT_INT || tb == YT_FLOAT))
		return ynode_number(a, &x) == 0 && ynode_number(b, &y) == 0 && x == y;
	if (ta != tb)
		return false;
	switch (ta) {
	case YT_NULL:
		return true;
	case YT_BOOL: {
		bool p, q;
		return ynode_bool(a, &p) == 0 && ynode_bool(b, &q) == 0 && p == q;
	}
	case YT_STR:
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
	case YT_SEQ:
		if (a->n != b->n)
			return false;
		for (size_t i = 0; i < a->n; i++)
			if (!value_equal(a->items[i], b->items[i]))
				return false;
		return true;
	case YT_MAP:
		if (a->n != b->n)
			return false;
		for (size_t i = 0; i < a->n; i++) {
			const struct ynode *v = ynode_get(b, a->pairs[i].key->str);
			if (!v || !value_equal(a->pairs[i].value, v))
				return false;
		}
		return true;
	default:
		return false;
	}
}

/* Optimal string alignment distance, so that a swapped pair ("wieght") costs 1. Gives up (returns
 * SIZE_MAX) for long names: they never get a suggestion. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t rows[3][SUGGEST_MAX + 1];
	if (la > SUGGEST_MAX || lb > SUGGEST_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		rows[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *cur = rows[i % 3], *up = rows[(i - 1) % 3], *up2 = rows[(i + 1) % 3];
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t v = up[j - 1] + (a[i - 1] != b[j - 1]);
			if (up[j] + 1 < v)
				v = up[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    up2[j - 2] + 1 < v)
				v = up2[j - 2] + 1;
			cur[j] = v;
		}
	}
	return rows[la % 3][lb];
}

static int prop_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sprop *)a)->name, ((const struct sprop *)b)->name);
}

static const struct sprop *prop_find(const struct sprop *props, size_t n, const char *name)
{
	struct sprop key = {.name = name};
	return n ? bsearch(&key, props, n, sizeof(*props), prop_cmp) : NULL;
}

/* ---- validation ---- */

struct vctx {
	const char *file, *object;
	struct diag_list *diags;
	struct path path;
};

static void vfail(struct vctx *v, const struct ynode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void vfail(struct vctx *v, const struct ynode *at, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(v->diags, v->file, at ? at->line : 0, at ? at->col : 0, v->object,
		 v->path.len ? v->path.buf : NULL, "%s", msg);
}

/* Reports key (the current path) as undeclared, suggesting the closest declared name. skip is a
 * name that is declared but never offered. */
static void unknown_field(struct vctx *v, const struct ynode *key, const struct sprop *props,
			  size_t n, const char *skip)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	char known[512];
	size_t k = 0;
	known[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (skip && strcmp(props[i].name, skip) == 0)
			continue;
		size_t d = edit_distance(key->str, props[i].name);
		if (d < best_d) {
			best_d = d;
			best = props[i].name;
		}
		if (k < sizeof(known))
			k += (size_t)snprintf(known + k, sizeof(known) - k, "%s%s", k ? ", " : "",
					      props[i].name);
	}
	char q[QUOTE_MAX * 4 + 16];
	quote(key->str, key->len, q, sizeof(q));
	if (best && best_d <= 2 && best_d < key->len)
		vfail(v, key, "unknown field %s; did you mean \"%s\"?", q, best);
	else
		vfail(v, key, "unknown field %s (known: %s)", q, k ? known : "none");
}

/* A required field that is absent, or null where null is not allowed (Kubernetes prunes such a
 * null, which leaves the field missing). */
static void check_required(struct vctx *v, const struct ynode *map, const char *name,
			   bool nullable)
{
	const struct ynode *val = ynode_get(map, name);
	if (val && (nullable || ynode_type(val) != YT_NULL))
		return;
	size_t mark = path_key(&v->path, name);
	if (val)
		vfail(v, val, "required field \"%s\" is null", name);
	else
		vfail(v, map, "required field \"%s\" is missing", name);
	path_pop(&v->path, mark);
}

static void validate_typed(struct vctx *v, const struct snode *s, const struct ynode *n,
			   enum ytype t);

static void validate_map(struct vctx *v, const struct snode *s, const struct ynode *n)
{
	for (size_t i = 0; i < n->n; i++) {
		const struct ynode *key = n->pairs[i].key, *val = n->pairs[i].value;
		const struct sprop *p = prop_find(s->props, s->nprops, key->str);
		enum ytype t = ynode_type(val);
		size_t mark;
		if (p) {
			/* A null property is pruned by Kubernetes, as if it were absent. */
			if (t == YT_NULL && !p->schema->nullable)
				continue;
			mark = path_key(&v->path, key->str);
			validate_typed(v, p->schema, val, t);
		} else if (s->addl) {
			mark = path_bracket(&v->path, key->str);
			validate_typed(v, s->addl, val, t);
		} else if (!s->open) {
			mark = path_key(&v->path, key->str);
			unknown_field(v, key, s->props, s->nprops, NULL);
		} else {
			continue;
		}
		path_pop(&v->path, mark);
	}
	for (size_t i = 0; s->required && i < s->required->n; i++) {
		const char *name = s->required->items[i]->str;
		const struct sprop *p = prop_find(s->props, s->nprops, name);
		check_required(v, n, name, p && p->schema->nullable);
	}
}

static void validate_seq(struct vctx *v, const struct snode *s, const struct ynode *n)
{
	if (s->min_items >= 0 && n->n < (size_t)s->min_items) {
		if (s->min_items == 1)
			vfail(v, n, "must not be empty");
		else
			vfail(v, n, "must have at least %lld items, got %zu", s->min_items, n->n);
	}
	if (s->max_items >= 0 && n->n > (size_t)s->max_items)
		vfail(v, n, "must have at most %lld items, got %zu", s->max_items, n->n);
	for (size_t i = 0; i < n->n; i++) {
		size_t mark = path_index(&v->path, i);
		for (size_t j = 0; s->unique && j < i; j++) {
			if (value_equal(n->items[j], n->items[i])) {
				vfail(v, n->items[i], "must be unique: same as item %zu", j);
				break;
			}
		}
		if (s->items)
			validate_typed(v, s->items, n->items[i], ynode_type(n->items[i]));
		path_pop(&v->path, mark);
	}
}

static size_t utf8_length(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/* The parsers' messages quote the value and say which rule it breaks, which a failed pattern
 * cannot. False after reporting a problem. */
static bool format_ok(struct vctx *v, const struct snode *s, const struct ynode *n)
{
	struct cf_err e = {{0}};
	time_t t;
	int64_t ms;
	struct semver sv;
	int rc = 0;
	switch (s->format) {
	case SF_NONE:
		break;
	case SF_DATE_TIME:
		rc = rfc3339_parse(n->str, &t, &e);
		break;
	case SF_DURATION:
		rc = duration_parse(n->str, &ms, &e);
		break;
	case SF_SEMVER:
		rc = semver_parse(n->str, &sv, &e);
		break;
	case SF_GIT_TAG:
		rc = name_check_git_tag(n->str, &e);
		break;
	}
	if (rc == 0)
		return true;
	vfail(v, n, "%s", e.msg);
	return false;
}

/* Length in characters, as Kubernetes counts them. False after reporting a problem. */
static bool length_ok(struct vctx *v, const struct snode *s, const struct ynode *n)
{
	if (s->min_len < 0 && s->max_len < 0)
		return true;
	size_t len = utf8_length(n->str, n->len);
	if (s->min_len == 1 && len == 0)
		vfail(v, n, "must not be empty");
	else if (s->min_len >= 0 && len < (size_t)s->min_len)
		vfail(v, n, "must be at least %lld characters long, got %zu", s->min_len, len);
	else if (s->max_len >= 0 && len > (size_t)s->max_len)
		vfail(v, n, "must be at most %lld characters long, got %zu", s->max_len, len);
	else
		return true;
	return false;
}

/* One message per value: after a length or pattern problem, the next check would repeat it. */
static void validate_string(struct vctx *v, const struct snode *s, const struct ynode *n)
{
	char q[QUOTE_MAX * 4 + 16];
	if (!length_ok(v, s, n) || !format_ok(v, s, n))
		return;
	if (s->has_re && regexec(&s->re, n->str, 0, NULL, 0) != 0) {
		quote(n->str, n->len, q, sizeof(q));
		vfail(v, n, "must match %s, got %s", s->pattern, q);
	}
}

static void validate_number(struct vctx *v, const struct snode *s, const struct ynode *n)
{
	double x;
	if (!s->min.set && !s->max.set)
		return;
	if (ynode_number(n, &x) != 0) {
		vfail(v, n, "must fit in 64 bits, got %.*s", QUOTE_MAX, n->str);
		return;
	}
	if (s->min.set && (s->min.exclusive ? x <= s->min.v : x < s->min.v))
		vfail(v, n, "must be %s %s, got %.*s", s->min.exclusive ? ">" : ">=", s->min.text,
		      QUOTE_MAX, n->str);
	if (s->max.set && (s->max.exclusive ? x >= s->max.v : x > s->max.v))
		vfail(v, n, "must be %s %s, got %.*s", s->max.exclusive ? "<" : "<=", s->max.text,
		      QUOTE_MAX, n->str);
}

static bool enum_has(const struct ynode *enumv, const struct ynode *n, enum ytype t)
{
	for (size_t i = 0; i < enumv->n; i++) {
		const struct ynode *e = enumv->items[i];
		/* Equal strings have equal texts: comparing those first spares typing e. */
		if (t == YT_STR && (e->kind != YNODE_SCALAR || e->len != n->len ||
				    memcmp(e->str, n->str, n->len) != 0))
			continue;
		if (value_equal(e, n))
			return true;
	}
	return false;
}

static void enum_fail(struct vctx *v, const struct ynode *enumv, const struct ynode *n)
{
	char list[512], got[QUOTE_MAX * 4 + 16];
	size_t k = 0;
	for (size_t i = 0; i < enumv->n && k < sizeof(list); i++) {
		const struct ynode *e = enumv->items[i];
		k += (size_t)snprintf(list + k, sizeof(list) - k, "%s%.*s", i ? ", " : "",
				      QUOTE_MAX, e->kind == YNODE_SCALAR ? e->str : "?");
	}
	show(n, got, sizeof(got));
	vfail(v, n, "must be one of %s; got %s", list, got);
}

/* t is ynode_type(n), which callers have at hand: typing a scalar is not free. */
static void validate_typed(struct vctx *v, const struct snode *s, const struct ynode *n,
			   enum ytype t)
{
	char what[QUOTE_MAX * 4 + 32];
	if (t == YT_NULL && (s->nullable || s->type == ST_ANY))
		return;
	if (!type_ok(s->type, t)) {
		describe(n, what, sizeof(what));
		vfail(v, n, "must be %s, got %s", type_article(s->type), what);
		return;
	}
	if (s->enumv && !enum_has(s->enumv, n, t)) {
		enum_fail(v, s->enumv, n);
		return;
	}
	switch (t) {
	case YT_MAP:
		validate_map(v, s, n);
		break;
	case YT_SEQ:
		validate_seq(v, s, n);
		break;
	case YT_STR:
		validate_string(v, s, n);
		break;
	case YT_INT:
	case YT_FLOAT:
		validate_number(v, s, n);
		break;
	default:
		break;
	}
}

static void validate_value(struct vctx *v, const struct snode *s, const struct ynode *n)
{
	validate_typed(v, s, n, ynode_type(n));
}

/* ---- metadata, which the API server owns and the CRD schema may not describe ---- */

static const struct sprop metadata_fields[] = {
	{"annotations", NULL}, {"labels", NULL}, {"name", NULL}, {"namespace", NULL},
};
#define METADATA_FIELDS (sizeof(metadata_fields) / sizeof(metadata_fields[0]))

static const char *const server_fields[] = {
	"creationTimestamp", "deletionGracePeriodSeconds", "deletionTimestamp", "generation",
	"managedFields", "resourceVersion", "selfLink", "uid",
};

static bool is_server_field(const char *key)
{
	for (size_t i = 0; i < sizeof(server_fields) / sizeof(server_fields[0]); i++)
		if (strcmp(key, server_fields[i]) == 0)
			return true;
	return false;
}

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* RFC 1123: labels of [a-z0-9-] that start and end alphanumeric, joined by dots when dots is
 * true (a subdomain). */
static bool is_rfc1123(const char *s, size_t len, bool dots)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool edge = i == 0 || i + 1 == len || s[i - 1] == '.' || s[i + 1] == '.';
		if (is_alnum_lower(c))
			continue;
		if (c == '-' && !edge)
			continue;
		if (c == '.' && dots && i > 0 && i + 1 < len && is_alnum_lower(s[i - 1]) &&
		    is_alnum_lower(s[i + 1]))
			continue;
		return false;
	}
	return len > 0;
}

static void check_name(struct vctx *v, const struct ynode *n, bool subdomain)
{
	char what[QUOTE_MAX * 4 + 32];
	size_t max = subdomain ? 253 : 63;
	if (ynode_type(n) != YT_STR) {
		describe(n, what, sizeof(what));
		vfail(v, n, "must be a string, got %s", what);
	} else if (n->len == 0) {
		vfail(v, n, "must not be empty");
	} else if (n->len > max) {
		vfail(v, n, "must be at most %zu characters long, got %zu", max, n->len);
	} else if (!is_rfc1123(n->str, n->len, subdomain)) {
		quote(n->str, n->len, what, sizeof(what));
		vfail(v, n, "must be %s: lower-case letters, digits, \"-\"%s, starting and "
			    "ending with a letter or digit; got %s",
		      subdomain ? "an RFC 1123 subdomain" : "an RFC 1123 label",
		      subdomain ? " and \".\"" : "", what);
	}
}

static void check_string_map(struct vctx *v, const struct ynode *n)
{
	char what[QUOTE_MAX * 4 + 32];
	if (ynode_type(n) != YT_MAP) {
		describe(n, what, sizeof(what));
		vfail(v, n, "must be an object, got %s", what);
		return;
	}
	for (size_t i = 0; i < n->n; i++) {
		const struct ynode *val = n->pairs[i].value;
		if (ynode_type(val) == YT_STR)
			continue;
		size_t mark = path_bracket(&v->path, n->pairs[i].key->str);
		describe(val, what, sizeof(what));
		vfail(v, val, "must be a string, got %s", what);
		path_pop(&v->path, mark);
	}
}

static void check_metadata(struct vctx *v, const struct ynode *n)
{
	char what[QUOTE_MAX * 4 + 32];
	if (ynode_type(n) != YT_MAP) {
		describe(n, what, sizeof(what));
		vfail(v, n, "must be an object, got %s", what);
		return;
	}
	for (size_t i = 0; i < n->n; i++) {
		const struct ynode *key = n->pairs[i].key, *val = n->pairs[i].value;
		bool known = prop_find(metadata_fields, METADATA_FIELDS, key->str) != NULL;
		if (known && ynode_type(val) == YT_NULL)
			continue; /* pruned, as Kubernetes does; a missing name is reported below */
		size_t mark = path_key(&v->path, key->str);
		if (strcmp(key->str, "name") == 0)
			check_name(v, val, true);
		else if (strcmp(key->str, "namespace") == 0)
			check_name(v, val, false);
		else if (strcmp(key->str, "labels") == 0 || strcmp(key->str, "annotations") == 0)
			check_string_map(v, val);
		else if (is_server_field(key->str))
			vfail(v, key, "not allowed in desired state (set by the API server)");
		else
			unknown_field(v, key, metadata_fields, METADATA_FIELDS, NULL);
		path_pop(&v->path, mark);
	}
	check_required(v, n, "name", false);
}

static void check_constant(struct vctx *v, const struct ynode *n, const char *want)
{
	char what[QUOTE_MAX * 4 + 32];
	if (ynode_type(n) != YT_STR) {
		describe(n, what, sizeof(what));
		vfail(v, n, "must be a string, got %s", what);
	} else if (strcmp(n->str, want) != 0) {
		quote(n->str, n->len, what, sizeof(what));
		vfail(v, n, "must be \"%s\", got %s", want, what);
	}
}

/* apiVersion, kind and metadata are checked here whatever the CRD says of them. */
static bool validate_builtin(struct vctx *v, const struct schema_kind *k, const struct ynode *key,
			     const struct ynode *val)
{
	bool null = ynode_type(val) == YT_NULL; /* reported as missing, below */
	if (strcmp(key->str, "apiVersion") == 0) {
		if (!null)
			check_constant(v, val, k->api_version);
	} else if (strcmp(key->str, "kind") == 0) {
		if (!null)
			check_constant(v, val, k->kind);
	} else if (strcmp(key->str, "metadata") == 0) {
		if (!null)
			check_metadata(v, val);
	} else if (strcmp(key->str, "status") == 0) {
		vfail(v, key, "status is written by clawfleet, not Git");
	} else {
		return false;
	}
	return true;
}

static void validate_top(struct vctx *v, const struct schema_kind *k, const struct ynode *key,
			 const struct ynode *val)
{
	const struct snode *root = k->root;
	if (validate_builtin(v, k, key, val))
		return;
	const struct sprop *p = prop_find(root->props, root->nprops, key->str);
	if (!p) {
		if (!root->open)
			unknown_field(v, key, root->props, root->nprops, "status");
	} else {
		enum ytype t = ynode_type(val);
		if (t != YT_NULL || p->schema->nullable)
			validate_typed(v, p->schema, val, t);
	}
}

void schema_validate(const struct schema_kind *k, const struct ynode *obj, const char *file,
		     const char *object, struct diag_list *diags)
{
	struct vctx v = {.file = file, .object = object, .diags = diags};
	char what[QUOTE_MAX * 4 + 32];
	if (!obj || ynode_type(obj) != YT_MAP) {
		if (obj)
			describe(obj, what, sizeof(what));
		vfail(&v, obj, "must be an object with apiVersion, kind, metadata and spec, got %s",
		      obj ? what : "nothing");
		return;
	}
	for (size_t i = 0; i < obj->n; i++) {
		size_t mark = path_key(&v.path, obj->pairs[i].key->str);
		validate_top(&v, k, obj->pairs[i].key, obj->pairs[i].value);
		path_pop(&v.path, mark);
	}
	check_required(&v, obj, "apiVersion", false);
	check_required(&v, obj, "kind", false);
	check_required(&v, obj, "metadata", false);
	for (size_t i = 0; k->root->required && i < k->root->required->n; i++) {
		const char *name = k->root->required->items[i]->str;
		if (strcmp(name, "apiVersion") && strcmp(name, "kind") && strcmp(name, "metadata"))
			check_required(&v, obj, name, false);
	}
}

const struct ynode *schema_default(const struct schema_kind *k, const char *path)
{
	const struct snode *s = k ? k->root : NULL;
	char seg[128];
	while (s && *path) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		if (len >= sizeof(seg))
			return NULL;
		memcpy(seg, path, len);
		seg[len] = '\0';
		const struct sprop *p = prop_find(s->props, s->nprops, seg);
		s = p ? p->schema : NULL;
		path = dot ? dot + 1 : path + len;
	}
	return s ? s->def : NULL;
}

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

static int kw_type(struct cctx *c, struct snode *s, const struct ynode *v)
{
	static const char *const names[] = {
		[ST_OBJECT] = "object", [ST_ARRAY] = "array", [ST_STRING] = "string",
		[ST_INTEGER] = "integer", [ST_NUMBER] = "number", [ST_BOOLEAN] = "boolean",
	};
	const char *t = ynode_str(v);
	for (size_t i = ST_OBJECT; t && i <= ST_BOOLEAN; i++) {
		if (strcmp(t, names[i]) == 0) {
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
};

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
	struct vctx vc = {.diags = &dl};
	int rc = 0;
	validate_value(&vc, s, v);
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
		if (kw->types && s->type != ST_ANY && !(kw->types & TYPE_BIT(s->type)))
			return cfail(c, key, "%s does not apply to type %s", key->str, type->str);
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
		k += (size_t)sprintf(s->kind_list + k, "%s%s", k ? ", " : "", s->kinds[i].kind);
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
