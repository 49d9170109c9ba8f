/* arena: many small allocations freed together. A reader that copies strings and arrays out of a
 * document it then drops (the fleet poller's result, `clawfleet plan`'s observed fleet) allocates
 * them here and frees them all with arena_free, so nothing it hands out has an owner of its own.
 * Blocks of 16 KiB (or one larger block for a larger request); every pointer is aligned for any
 * type. Zero-initialise ({0}); not thread-safe. */
#ifndef CLAWFLEET_ARENA_H
#define CLAWFLEET_ARENA_H
#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *head;
};

/* n bytes, not zeroed; NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t n);
/* A copy of s; NULL when out of memory. */
char *arena_strdup(struct arena *a, const char *s);
/* Frees every block; the arena is empty and reusable. */
void arena_free(struct arena *a);

#endif
