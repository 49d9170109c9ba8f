/* fragments: the deterministic merge of numbered YAML fragments (tenants/<t>/<k>.d/NN-*.yaml).
 * Fragments apply in bytewise order of their file names (10- before 20-); maps merge deeply; a
 * later scalar or list replaces the earlier value (lists are never appended); an explicit null
 * removes the key. Every fragment's top level must be a map. The result is a fresh json-c object
 * whose canonical JSON (canon.h) and sha256 identify the merge. */
#ifndef CLAWFLEET_FRAGMENTS_H
#define CLAWFLEET_FRAGMENTS_H
#include <stddef.h>

#include "base/err.h"

struct json_object;

/* Merges n fragments in the order given (callers sort by file name). Inputs are not changed; *out
 * is a new object the caller puts with json_object_put. */
int fragments_merge(struct json_object *const *frags, size_t n, struct json_object **out,
		    struct cf_err *err);

#endif
