#include "desired/schema.h"

#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/names.h"
#include "base/semver.h"
#include "base/timeparse.h"
#include "desired/schema_internal.h"

#define QUOTE_MAX 64   /* bytes of a value quoted in a message */
#define SUGGEST_MAX 64 /* longer names never get a did-you-mean */

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
		[ST_BOOLEAN] = "a boolean", [ST_INT_OR_STRING] = "an integer or a string",
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
	case ST_INT_OR_STRING:
		return got == YT_INT || got == YT_STR;
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

void schema_validate_value(const struct snode *s, const struct ynode *n, struct diag_list *diags)
{
	struct vctx v = {.diags = diags};
	validate_typed(&v, s, n, ynode_type(n));
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
