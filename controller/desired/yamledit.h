/* yamledit: the smallest byte edit of a YAML file that sets one key, for commits a person reads
 * as a diff (`clawfleet rollout`). libyaml finds where the key and its value are; only those bytes
 * change: a key that exists gets its value replaced in place (a one-line diff), keeping the
 * comment after it (so the Flux setter marker on `imageRef`, `# {"$imagepolicy": ...}`, stays),
 * the key order and the value's quoting style; a key that does not exist is inserted after the
 * last entry of its parent mapping at that mapping's indentation, and a missing parent mapping is
 * inserted with it. Edits apply to the first document, whose root and every mapping on the path
 * must be block mappings: a flow mapping (`{a: 1}`), a block scalar (`|`), an alias or a path
 * through a non-mapping is refused with the key named, and nothing changes. The result is parsed
 * again before it is returned, so an edit never yields YAML that does not parse. */
#ifndef CLAWFLEET_YAMLEDIT_H
#define CLAWFLEET_YAMLEDIT_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define YAMLEDIT_DEPTH_MAX 8

enum yamledit_kind {
	YAMLEDIT_STRING, /* written plain when it reads back as the same string, else quoted */
	YAMLEDIT_RAW,	 /* YAML scalar text written as given: true, 50, a number */
};

/* Sets path[0].path[1]... (depth keys below the root mapping, at most YAMLEDIT_DEPTH_MAX) to
 * value in the len bytes at in. On success *out (malloc'd, NUL-terminated, *out_len bytes) is the
 * edited file and *changed says whether it differs (false: the key already had that value; *out
 * is then a copy of in). */
int yamledit_set(const char *in, size_t len, const char *const *path, size_t depth,
		 const char *value, enum yamledit_kind kind, char **out, size_t *out_len,
		 bool *changed, struct cf_err *err);

/* The value of a scalar at path, as the file holds it (NUL-terminated, malloc'd): 0, 1 when the
 * key is absent (or not a scalar), -1 on a YAML error. */
int yamledit_get(const char *in, size_t len, const char *const *path, size_t depth, char **out,
		 struct cf_err *err);

#endif
