#include "base/jsonparse.h"

#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

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
	if (!v && je == json_tokener_success) {
		/* "null" is the one document json-c returns as NULL */
		at = skip_space(text, 0, len);
		cf_err_set(err, want_object ? "not a JSON object" : "not valid JSON: null at the top");
		goto done;
	}
	if (je != json_tokener_success) {
		/* json-c stops on the byte it refused, or at len when the text ended first */
		at = json_tokener_get_parse_end(tok);
		cf_err_set(err, "not valid JSON: %s",
			   je == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(je));
		if (je == json_tokener_error_depth)
			rc = JSONPARSE_TOO_DEEP;
		goto done;
	}
	at = skip_space(text, json_tokener_get_parse_end(tok), len);
	if (at < len) {
		cf_err_set(err, "not valid JSON: trailing data after the %s",
			   want_object ? "object" : "value");
		goto done;
	}
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
	/* json-c saturates what does not fit in 64 bits; both ends count as out of range. */
	int64_t n = json_object_get_int64(v);
	if (n == INT64_MIN || (n == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX))
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
