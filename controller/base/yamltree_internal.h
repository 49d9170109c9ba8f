/* yamltree_internal: private to the files of yamltree: yamltree.c (libyaml's events into the
 * tree, with the input checks and the limits), yamltree_arena.c (the arena that holds all of a
 * yfile, and the string hash the parser finds duplicate keys and anchors with) and
 * yamltree_read.c (typing scalars under the YAML 1.2 core schema, reading the tree, JSON). */
#ifndef CLAWFLEET_YAMLTREE_INTERNAL_H
#define CLAWFLEET_YAMLTREE_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>

#include "base/yamltree.h"

struct yarena *yarena_new(void);
void yarena_free(struct yarena *a);
/* size bytes aligned to align (a power of two), freed with the arena; NULL when out of memory. */
void *yarena_alloc(struct yarena *a, size_t size, size_t align);

struct yhslot {
	const char *s; /* NULL: empty slot */
	size_t len;
	size_t val;
};

struct yhash {
	struct yhslot *slots;
	size_t cap, n; /* cap is 0 or a power of two */
};

/* The slot of s, added when absent (*found says which); NULL when out of memory. The hash keeps
 * s itself, which must outlive it. */
struct yhslot *yhash_put(struct yhash *h, const char *s, size_t len, bool *found);
const struct yhslot *yhash_get(const struct yhash *h, const char *s, size_t len);

/* Fills err (which may be NULL) and returns -1. */
int yerr_set(struct yerr *err, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* How much of s to quote in a message: a bounded prefix, cut at a character boundary. */
int yquote_len(const char *s, size_t len);

/* The type of a plain scalar's text under the YAML 1.2 core schema. */
enum ytype yscalar_type(const char *s, size_t len);

#endif
