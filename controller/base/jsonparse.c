#include "base/jsonparse.h"

#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

struct jsonparse {
	struct json_tokener *tok;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The offset of the first byte from `from` on that is not JSON white space, or len. */
static size_t skip_space(const char *s, size_t from, size_t len)
{
	while (from < len && is_space(s[from]))
		from++;
	return from;
}

/* How many levels of a number's member path the strict pass names; a number nested deeper is
 * named by its byte alone. */
#define PATH_LEVELS 16
#define SHOWN_TOKEN 40 /* the bytes of a refused number a message quotes */

struct level {
	bool array;
	size_t index;		/* the element's index, in an array */
	size_t key_at, key_len; /* the member's key, in an object */
};

/* Where the strict pass stands: the containers open around it and the last string it read
 * (the key, when a ':' follows). */
struct strict_scan {
	const char *s;
	size_t len;
	size_t depth;
	struct level levels[PATH_LEVELS];
	size_t last_at, last_len;
	bool key_next; /* the next string is a member's key, named by its object's path */
};

/* "generation", "skills.semver", "servers[2].weight" for the value at the first `depth` levels;
 * empty at the top or too deep to name. */
static void member_path(const struct strict_scan *sc, size_t depth, char *out, size_t outlen)
{
	size_t n = 0;
	out[0] = '\0';
	if (depth > PATH_LEVELS)
		return;
	for (size_t i = 0; i < depth && n < outlen; i++) {
		const struct level *l = &sc->levels[i];
		int w = l->array ? snprintf(out + n, outlen - n, "[%zu]", l->index)
				 : snprintf(out + n, outlen - n, "%s%.*s", n ? "." : "",
					    (int)l->key_len, sc->s + l->key_at);
		n += w > 0 ? (size_t)w : 0;
	}
}

/* "not valid JSON: [<path>: ]<why> at byte N", the path of the value (or of the object whose
 * key is refused) at `depth` levels. */
static int strict_fail(const struct strict_scan *sc, size_t depth, size_t at, size_t *error_at,
		       struct cf_err *err, const char *why)
{
	char path[160];
	member_path(sc, depth, path, sizeof(path));
	*error_at = at;
	return cf_err_set(err, "not valid JSON: %s%s%s at byte %zu", path, path[0] ? ": " : "", why,
			  at);
}

/* RFC 8259: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?; *integer when it has
 * neither a fraction nor an exponent. */
static bool is_json_number(const char *t, size_t n, bool *integer)
{
	size_t i = 0, from;
	if (i < n && t[i] == '-')
		i++;
	if (i < n && t[i] == '0')
		i++;
	else if (i < n && t[i] >= '1' && t[i] <= '9')
		while (i < n && t[i] >= '0' && t[i] <= '9')
			i++;
	else
		return false;
	*integer = i == n;
	if (i < n && t[i] == '.') {
		for (from = ++i; i < n && t[i] >= '0' && t[i] <= '9'; i++)
			;
		if (i == from)
			return false;
	}
	if (i < n && (t[i] == 'e' || t[i] == 'E')) {
		if (++i < n && (t[i] == '+' || t[i] == '-'))
			i++;
		for (from = i; i < n && t[i] >= '0' && t[i] <= '9'; i++)
			;
		if (i == from)
			return false;
	}
	return i == n;
}

/* An integer of RFC 8259 form (no leading zeros) that int64_t holds. */
static bool fits_int64(const char *t, size_t n)
{
	bool neg = t[0] == '-';
	const char *limit = neg ? "9223372036854775808" : "9223372036854775807";
	size_t digits = n - neg;
	return digits < 19 || (digits == 19 && memcmp(t + neg, limit, 19) <= 0);
}

static bool finite_double(const char *t, size_t n)
{
	char small[64];
	char *copy = n < sizeof(small) ? small : malloc(n + 1);
	if (!copy)
		return true; /* out of memory: json-c has the value; the getters check it is finite */
	memcpy(copy, t, n);
	copy[n] = '\0';
	bool finite = isfinite(strtod(copy, NULL));
	if (copy != small)
		free(copy);
	return finite;
}

/* The word or number starting at `at`: true, false, null, or an RFC 8259 number that fits. */
static int strict_token(const struct strict_scan *sc, size_t at, size_t *end, size_t *error_at,
			struct cf_err *err)
{
	const char *t = sc->s + at;
	size_t n = 0;
	while (at + n < sc->len && ((t[n] && strchr("+-.", t[n])) || (t[n] >= '0' && t[n] <= '9') ||
				    (t[n] >= 'a' && t[n] <= 'z') || (t[n] >= 'A' && t[n] <= 'Z')))
		n++;
	*end = at + n;
	if ((n == 4 && (!memcmp(t, "true", 4) || !memcmp(t, "null", 4))) ||
	    (n == 5 && !memcmp(t, "false", 5)))
		return 0;
	char why[256];
	const char *cut = n > SHOWN_TOKEN ? "..." : "";
	int shown = n > SHOWN_TOKEN ? SHOWN_TOKEN : (int)n;
	bool integer = false;
	if (!is_json_number(t, n, &integer)) {
		snprintf(why, sizeof(why), "%.*s%s is not a JSON number", shown, t, cut);
		return strict_fail(sc, sc->depth, at, error_at, err, why);
	}
	const char *wont_fit = integer	   ? (fits_int64(t, n) ? NULL : "64 bits")
			       : finite_double(t, n) ? NULL
						     : "a double";
	if (!wont_fit)
		return 0;
	snprintf(why, sizeof(why), "%.*s%s does not fit in %s", shown, t, cut, wont_fit);
	return strict_fail(sc, sc->depth, at, error_at, err, why);
}

/* The string opening at `at`, to its closing quote: no raw control characters, RFC 3629 UTF-8
 * (json-c lets overlong forms, surrogates and code points past U+10FFFF through). */
static int strict_string(struct strict_scan *sc, size_t at, size_t *end, size_t *error_at,
			 struct cf_err *err)
{
	const unsigned char *u = (const unsigned char *)sc->s;
	size_t i = at + 1, depth = sc->key_next ? sc->depth - 1 : sc->depth;
	while (i < sc->len && u[i] != '"') {
		size_t step = 1;
		if (u[i] == '\\')
			step = 2; /* json-c checked the escape; \uXXXX goes on as plain hex digits */
		else if (u[i] < 0x20)
			return strict_fail(sc, depth, i, error_at, err,
					   "a raw control character in a string");
		else if (u[i] >= 0x80 && !(step = utf8_seq_len(u + i, sc->len - i)))
			return strict_fail(sc, depth, i, error_at, err, "invalid UTF-8 in a string");
		i += step;
	}
	sc->last_at = at + 1;
	sc->last_len = i - at - 1;
	*end = i + 1;
	return 0;
}

/* What RFC 8259 refuses and json-c's strict mode lets through, on a text json-c accepted (so
 * its brackets balance and its escapes are sound): NaN, Infinity, numbers such as 00, -01, 1.,
 * integers outside int64 (json-c saturates them) and doubles outside a double (json-c makes
 * them infinite), single-quoted strings, raw control characters and ill-formed UTF-8 in
 * strings. One pass over the bytes, no recursion. */
static int strict_check(const char *text, size_t len, size_t *error_at, struct cf_err *err)
{
	struct strict_scan sc = {.s = text, .len = len};
	size_t i = 0;
	while (i < len) {
		char c = text[i];
		struct level *top = sc.depth && sc.depth <= PATH_LEVELS ? &sc.levels[sc.depth - 1]
								       : NULL;
		if (c == '"') {
			if (strict_string(&sc, i, &i, error_at, err) < 0)
				return -1;
			sc.key_next = false;
			continue;
		}
		if (c == '\'')
			return strict_fail(&sc, sc.key_next ? sc.depth - 1 : sc.depth, i, error_at,
					   err, "a single-quoted string");
		sc.key_next = c == '{' || (c == ',' && top && !top->array) ||
			      (sc.key_next && is_space(c));
		if (c == '{' || c == '[') {
			if (++sc.depth <= PATH_LEVELS)
				sc.levels[sc.depth - 1] = (struct level){.array = c == '['};
		} else if (c == '}' || c == ']') {
			sc.depth--;
		} else if (c == ',' && top && top->array) {
			top->index++;
		} else if (c == ':' && top) {
			top->key_at = sc.last_at;
			top->key_len = sc.last_len;
		} else if (!is_space(c) && c != ',' && c != ':') {
			if (strict_token(&sc, i, &i, error_at, err) < 0)
				return -1;
			continue;
		}
		i++;
	}
	return 0;
}

/* One value from text on tok (reset first), under the rules in jsonparse.h; where the text goes
 * wrong into *error_at when error_at is not NULL. */
static int parse_on(struct json_tokener *tok, const char *text, size_t len, bool want_object,
		    struct json_object **out, size_t *error_at, struct cf_err *err)
{
	struct json_object *v = NULL;
	size_t at = 0;
	int rc = -1;

	*out = NULL;
	if (len > INT_MAX) {
		cf_err_set(err, "not valid JSON: too large");
		goto done;
	}
	json_tokener_reset(tok);
	v = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	/* json-c cannot tell a number at the top ("1") is whole until a byte follows it; the text
	 * is all there is, so a NUL ends it. What is still unfinished then stays "unexpected end". */
	if (!v && je == json_tokener_continue && end == len) {
		v = json_tokener_parse_ex(tok, "", 1);
		je = v ? json_tokener_get_error(tok) : json_tokener_continue;
	}
	if (!v && je == json_tokener_success) {
		/* "null" is the one document json-c returns as NULL */
		at = skip_space(text, 0, len);
		cf_err_set(err, want_object ? "not a JSON object" : "not valid JSON: null at the top");
		goto done;
	}
	if (je != json_tokener_success) {
		/* json-c stops on the byte it refused, or at len when the text ended first */
		at = end;
		cf_err_set(err, "not valid JSON: %s",
			   je == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(je));
		if (je == json_tokener_error_depth)
			rc = JSONPARSE_TOO_DEEP;
		goto done;
	}
	at = skip_space(text, end, len);
	if (at < len) {
		cf_err_set(err, "not valid JSON: trailing data after the %s",
			   want_object ? "object" : "value");
		goto done;
	}
	if (strict_check(text, len, &at, err) < 0)
		goto done;
	if (want_object && !json_object_is_type(v, json_type_object)) {
		at = skip_space(text, 0, len);
		cf_err_set(err, "not a JSON object");
		goto done;
	}
	*out = v;
	v = NULL;
	rc = 0;
done:
	if (rc < 0 && error_at)
		*error_at = at;
	json_object_put(v);
	return rc;
}

static struct json_tokener *tokener(int depth, struct cf_err *err)
{
	struct json_tokener *tok = json_tokener_new_ex(depth > 0 ? depth : JSONPARSE_DEPTH);
	if (!tok) {
		cf_err_set(err, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	return tok;
}

static int parse_once(const char *text, size_t len, int depth, bool want_object,
		      struct json_object **out, size_t *error_at, struct cf_err *err)
{
	*out = NULL;
	struct json_tokener *tok = tokener(depth, err);
	if (!tok)
		return -1;
	int rc = parse_on(tok, text, len, want_object, out, error_at, err);
	json_tokener_free(tok);
	return rc;
}

int jsonparse_object(const char *text, size_t len, int depth, struct json_object **out,
		     struct cf_err *err)
{
	return parse_once(text, len, depth, true, out, NULL, err);
}

int jsonparse_value(const char *text, size_t len, int depth, struct json_object **out,
		    struct cf_err *err)
{
	return parse_once(text, len, depth, false, out, NULL, err);
}

int jsonparse_value_at(const char *text, size_t len, int depth, struct json_object **out,
		       size_t *error_at, struct cf_err *err)
{
	return parse_once(text, len, depth, false, out, error_at, err);
}

int jsonparse_new(struct jsonparse **out, int depth, struct cf_err *err)
{
	*out = NULL;
	struct jsonparse *p = calloc(1, sizeof(*p));
	if (!p)
		return cf_err_set(err, "out of memory");
	if (!(p->tok = tokener(depth, err))) {
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

int jsonparse_next_object(struct jsonparse *p, const char *text, size_t len,
			  struct json_object **out, struct cf_err *err)
{
	return parse_on(p->tok, text, len, true, out, NULL, err);
}

void jsonparse_free(struct jsonparse *p)
{
	if (!p)
		return;
	json_tokener_free(p->tok);
	free(p);
}

/* The member, or NULL when absent or null (an error when required). */
static int member(struct json_object *obj, const char *where, const char *key,
		  enum jsonparse_need need, struct json_object **v, struct cf_err *err)
{
	*v = NULL;
	if (obj)
		json_object_object_get_ex(obj, key, v);
	if (!*v && need == JSONPARSE_REQUIRED)
		return cf_err_set(err, "%s.%s: missing", where, key);
	return 0;
}

static int wrong_type(const char *where, const char *key, const char *want, struct cf_err *err)
{
	return cf_err_set(err, "%s.%s: want %s", where, key, want);
}

static int get_typed(struct json_object *obj, const char *where, const char *key,
		     enum jsonparse_need need, enum json_type type, const char *want,
		     struct json_object **out, struct cf_err *err)
{
	struct json_object *v;
	if (member(obj, where, key, need, &v, err) < 0)
		return -1;
	if (!v)
		return 0;
	if (!json_object_is_type(v, type))
		return wrong_type(where, key, want, err);
	*out = v;
	return 0;
}

int jsonparse_get_string(struct json_object *obj, const char *where, const char *key,
			 enum jsonparse_need need, const char **out, struct cf_err *err)
{
	struct json_object *v = NULL;
	if (get_typed(obj, where, key, need, json_type_string, "a string", &v, err) < 0)
		return -1;
	if (v)
		*out = json_object_get_string(v);
	return 0;
}

int jsonparse_get_bool(struct json_object *obj, const char *where, const char *key,
		       enum jsonparse_need need, bool *out, struct cf_err *err)
{
	struct json_object *v = NULL;
	if (get_typed(obj, where, key, need, json_type_boolean, "true or false", &v, err) < 0)
		return -1;
	if (v)
		*out = json_object_get_boolean(v);
	return 0;
}

int jsonparse_get_int(struct json_object *obj, const char *where, const char *key,
		      enum jsonparse_need need, int64_t min, int64_t max, int64_t *out,
		      struct cf_err *err)
{
	struct json_object *v = NULL;
	if (get_typed(obj, where, key, need, json_type_int, "an integer", &v, err) < 0)
		return -1;
	if (!v)
		return 0;
	/* The parser refuses integers outside int64; one built with json_object_new_uint64 may
	 * still be past INT64_MAX, which json_object_get_int64 would clamp. */
	int64_t n = json_object_get_int64(v);
	if (n == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
		return cf_err_set(err, "%s.%s: too large a number", where, key);
	if (n < min || n > max)
		return cf_err_set(err, "%s.%s: %s is outside %lld..%lld", where, key,
				  json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
				  (long long)min, (long long)max);
	*out = n;
	return 0;
}

int jsonparse_get_number(struct json_object *obj, const char *where, const char *key,
			 enum jsonparse_need need, double min, double max, double *out,
			 struct cf_err *err)
{
	struct json_object *v;
	if (member(obj, where, key, need, &v, err) < 0)
		return -1;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return wrong_type(where, key, "a number", err);
	double d = json_object_get_double(v);
	if (!isfinite(d) || d < min || d > max)
		return cf_err_set(err, "%s.%s: %g is outside %g..%g", where, key, d, min, max);
	*out = d;
	return 0;
}

int jsonparse_get_object(struct json_object *obj, const char *where, const char *key,
			 enum jsonparse_need need, struct json_object **out, struct cf_err *err)
{
	return get_typed(obj, where, key, need, json_type_object, "an object", out, err);
}

int jsonparse_get_array(struct json_object *obj, const char *where, const char *key,
			enum jsonparse_need need, struct json_object **out, struct cf_err *err)
{
	return get_typed(obj, where, key, need, json_type_array, "an array", out, err);
}
