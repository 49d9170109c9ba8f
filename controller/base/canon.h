/* canon: the canonical JSON form of a json-c value (object keys sorted bytewise, no
 * insignificant white space, integers as integers, strings escaped minimally as RFC 8785 does,
 * doubles in the shortest round-trip form) and its sha256, so that two machines that merged the
 * same fragments can compare them byte for byte. */
#ifndef CLAWFLEET_CANON_H
#define CLAWFLEET_CANON_H
#include <stddef.h>

#include "base/err.h"

struct json_object;

/* Writes the canonical form into a fresh malloc'd NUL-terminated string. */
int canon_json(const struct json_object *v, char **out, size_t *len, struct cf_err *err);
/* sha256 of data as 64 lowercase hex digits and a NUL. */
void canon_sha256_hex(const void *data, size_t len, char out[65]);
/* canon_json then sha256. */
int canon_json_sha256(const struct json_object *v, char out[65], struct cf_err *err);

#endif
