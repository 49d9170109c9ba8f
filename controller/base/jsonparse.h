/* jsonparse: the one reader of JSON. Every document clawfleet reads (from a peer, a file, a
 * command's output) is parsed here and nowhere else, the same way: RFC 8259 and nothing more
 * (json-c in strict mode, then one pass over the text refusing what json-c still lets through:
 * NaN, Infinity, numbers such as 01, 1. or -01, single-quoted strings, raw control characters
 * in strings), RFC 3629 UTF-8 only, every integer within int64 and every other number within a
 * double (so no value is ever clamped: json-c would saturate 2^63 to INT64_MAX and read 1e400
 * as infinity), a depth limit, exactly one value with nothing but white space after it.
 * Messages are the same everywhere: "not valid JSON: <why>", "not a JSON object"; what the pass
 * over the text refuses ends "at byte N", and a number that does not fit names its member
 * ("not valid JSON: generation: 9223372036854775808 does not fit in 64 bits at byte 14");
 * callers add their context ("GET http://gw-a:8443/readyz: not valid JSON: unexpected end").
 *
 * The typed getters read one member of an object and say where a problem is, as
 * "<where>.<key>: want an integer" (where is the object's path, "readyz.lock"). No coercion: a
 * string "false" is not a boolean, 1.0 is not an integer, an integer outside the given bounds is
 * an error. A member that is absent or null leaves *out as it was when optional (so the caller
 * sets the default first) and is an error when required. */
#ifndef CLAWFLEET_JSONPARSE_H
#define CLAWFLEET_JSONPARSE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct json_object;

#define JSONPARSE_DEPTH 32 /* the default depth limit */
/* What the parsers below return when the text nests deeper than their depth (else -1 on
 * error), for a reader that names its limit. */
#define JSONPARSE_TOO_DEEP (-2)

/* *out is a new object the caller puts, or NULL on error. */
int jsonparse_object(const char *text, size_t len, int depth, struct json_object **out,
		     struct cf_err *err);
/* The same for any JSON value (an array, a string, ...) at the top. */
int jsonparse_value(const char *text, size_t len, int depth, struct json_object **out,
		    struct cf_err *err);
/* jsonparse_value for a reader that points at the error as FILE:LINE:COL: on an error in the
 * text, *error_at is the byte offset where it goes wrong (the byte json-c refused, the first
 * byte of trailing data, the start of a refused number or string byte, the value itself when it is null), len when the text ends inside the
 * value, 0 for a text too large to parse. Out of memory leaves *error_at as it was. */
int jsonparse_value_at(const char *text, size_t len, int depth, struct json_object **out,
		       size_t *error_at, struct cf_err *err);

/* A parser kept between documents, for a reader that parses many (the fleet poller): the same
 * rules as jsonparse_object, without an allocation per document. Not thread-safe. */
struct jsonparse;
int jsonparse_new(struct jsonparse **out, int depth, struct cf_err *err);
int jsonparse_next_object(struct jsonparse *p, const char *text, size_t len,
			  struct json_object **out, struct cf_err *err);
void jsonparse_free(struct jsonparse *p);

enum jsonparse_need { JSONPARSE_OPTIONAL, JSONPARSE_REQUIRED };

/* *out borrows the string from obj. */
int jsonparse_get_string(struct json_object *obj, const char *where, const char *key,
			 enum jsonparse_need need, const char **out, struct cf_err *err);
int jsonparse_get_bool(struct json_object *obj, const char *where, const char *key,
		       enum jsonparse_need need, bool *out, struct cf_err *err);
int jsonparse_get_int(struct json_object *obj, const char *where, const char *key,
		      enum jsonparse_need need, int64_t min, int64_t max, int64_t *out,
		      struct cf_err *err);
/* Any JSON number (integer or not) within min..max. */
int jsonparse_get_number(struct json_object *obj, const char *where, const char *key,
			 enum jsonparse_need need, double min, double max, double *out,
			 struct cf_err *err);
/* *out borrows the member. */
int jsonparse_get_object(struct json_object *obj, const char *where, const char *key,
			 enum jsonparse_need need, struct json_object **out, struct cf_err *err);
int jsonparse_get_array(struct json_object *obj, const char *where, const char *key,
			enum jsonparse_need need, struct json_object **out, struct cf_err *err);

#endif
