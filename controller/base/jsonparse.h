/* jsonparse: one strict reading of untrusted bytes as exactly one JSON object (json-c strict
 * mode, valid UTF-8, a depth limit, nothing after the object), with the same messages
 * everywhere: "not valid JSON: <why>" and "not a JSON object". Callers add their context. */
#ifndef CLAWFLEET_JSONPARSE_H
#define CLAWFLEET_JSONPARSE_H
#include <stddef.h>

#include "base/err.h"

struct json_object;

/* *out is a new object the caller puts, or NULL on error. */
int jsonparse_object(const char *text, size_t len, int depth, struct json_object **out,
		     struct cf_err *err);

#endif
