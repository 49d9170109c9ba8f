/* nameindex: a hash index over an array of entries that each begin with their NUL-terminated
 * name (struct weight_entry, struct lb_server, struct lb_route), so that the lists of 10,000
 * load-balancer servers the fleet may hold are found by name in constant time instead of by a
 * scan: a pass that looks every server up stays linear in the fleet.
 *
 * The index only refers to entries by position; the caller owns the array and tells the index
 * each entry it appends (name_index_added) and when it empties the array (name_index_clear).
 * Below NAME_INDEX_FROM entries there is no index (a scan of a few names is as fast), and a map
 * without one (never built, or out of memory when it grew) is still answered, by a scan.
 * Zero-initialise ({0}); name_index_free releases it. */
#ifndef CLAWFLEET_NAMEINDEX_H
#define CLAWFLEET_NAMEINDEX_H
#include <stddef.h>
#include <stdint.h>

#define NAME_INDEX_FROM 16
#define NAME_INDEX_NONE SIZE_MAX

struct name_index {
	uint32_t *slot; /* entry position + 1; 0: empty */
	size_t nslots;	/* a power of two, at least twice the entries */
	size_t n;	/* the entries it covers: the first n; lookups scan when the array has more */
};

/* The position of the entry named name among the n entries of stride bytes at v, or
 * NAME_INDEX_NONE. */
size_t name_index_find(const struct name_index *ix, const void *v, size_t n, size_t stride,
		       const char *name);
/* Entry n - 1 was just appended. Never fails: when the index cannot grow it is dropped and
 * lookups scan. */
void name_index_added(struct name_index *ix, const void *v, size_t n, size_t stride);
/* dst (empty) becomes the index of a copy of the entries src indexes, position for position;
 * out of memory leaves dst without one (lookups scan). */
void name_index_copy(struct name_index *dst, const struct name_index *src);
void name_index_clear(struct name_index *ix); /* the array was emptied; keeps the storage */
void name_index_free(struct name_index *ix);

#endif
