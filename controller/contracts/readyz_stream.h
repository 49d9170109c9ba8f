/* readyz_stream: the /readyz reader the controller's poll runs first, over the bytes. One pass
 * checks the body is one RFC 8259 object under base/jsonparse.h's rules and notes where the
 * members contracts/readyz.h names are (the last of a repeated key, as json-c keeps it); the
 * checks readyz_read makes then run on those members alone, and their strings are copied into
 * the arena. No tree is built: a 1.2 KB document cost 22.6 µs in json-c's tree, half of what a
 * node costs the controller per pass.
 *
 * It promises to read exactly what readyz_read reads from the tree, and never to accept what
 * that reader refuses. What it is not sure of it leaves to that reader (READYZ_STREAM_UNSURE): a
 * body that is malformed or refused in any way, a member of the wrong type or out of range, a
 * key written with escapes, \u0000 or a surrogate escape anywhere, nesting deeper than json-c
 * is sure to accept, a negative number in a member it reads, "node" or "status" written with
 * escapes. So a bad document gets word for word the message it got before, at the tree's cost,
 * and tests/fuzz/fuzz_readyz.c holds the two readers to the same result. */
#ifndef CLAWFLEET_READYZ_STREAM_H
#define CLAWFLEET_READYZ_STREAM_H
#include <stddef.h>

#include "base/arena.h"
#include "contracts/readyz.h"

#define READYZ_STREAM_UNSURE 1 /* not read: the tree reader decides */

/* Reads body (len bytes) as readyz_read would read the node's document: 0 with *out filled
 * (strings in a); READYZ_OTHER_NODE with out->name the other node's name (in a), the rest of
 * *out as it was; READYZ_OUT_OF_MEMORY; READYZ_STREAM_UNSURE with *out as it was. */
int readyz_stream_read(const char *body, size_t len, const char *node, struct arena *a,
		       struct node_observation *out);

#endif
