#include "base/yamltree.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/yamltree_internal.h"

#define ARENA_FIRST_CHUNK 8192
#define ARENA_MAX_CHUNK (1u << 20)

/* ---- arena ---- */

struct ychunk {
	struct ychunk *next;
	size_t cap, used;
	max_align_t data[];
};

struct yarena {
	struct ychunk *head;
	size_t next_cap;
};

struct yarena *yarena_new(void)
{
	struct yarena *a = calloc(1, sizeof(*a));
	if (a)
		a->next_cap = ARENA_FIRST_CHUNK;
	return a;
}

void yarena_free(struct yarena *a)
{
	if (!a)
		return;
	struct ychunk *c = a->head;
	while (c) {
		struct ychunk *next = c->next;
		free(c);
		c = next;
	}
	free(a);
}

void *yarena_alloc(struct yarena *a, size_t size, size_t align)
{
	struct ychunk *c = a->head;
	if (c) {
		size_t off = (c->used + align - 1) & ~(align - 1);
		if (off <= c->cap && size <= c->cap - off) {
			c->used = off + size;
			return (unsigned char *)c->data + off;
		}
	}
	bool big = size > a->next_cap;
	size_t cap = big ? size : a->next_cap;
	if (!big && a->next_cap < ARENA_MAX_CHUNK)
		a->next_cap *= 2;
	struct ychunk *n = malloc(sizeof(*n) + cap);
	if (!n)
		return NULL;
	n->cap = cap;
	n->used = size;
	/* An oversized block goes behind the head so the head's free space stays in use. */
	if (c && big) {
		n->next = c->next;
		c->next = n;
	} else {
		n->next = c;
		a->head = n;
	}
	return n->data;
}

/* ---- string hash (duplicate keys of big maps, anchor names) ---- */

static size_t str_hash(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037u;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211u;
	}
	return (size_t)h;
}

static struct yhslot *yhash_slot(const struct yhash *h, const char *s, size_t len)
{
	size_t mask = h->cap - 1;
	for (size_t i = str_hash(s, len) & mask;; i = (i + 1) & mask) {
		struct yhslot *e = &h->slots[i];
		if (!e->s || (e->len == len && !memcmp(e->s, s, len)))
			return e;
	}
}

static int yhash_grow(struct yhash *h)
{
	struct yhash g = {.cap = h->cap ? h->cap * 2 : 64, .n = h->n};
	g.slots = calloc(g.cap, sizeof(*g.slots));
	if (!g.slots)
		return -1;
	for (size_t i = 0; i < h->cap; i++)
		if (h->slots[i].s)
			*yhash_slot(&g, h->slots[i].s, h->slots[i].len) = h->slots[i];
	free(h->slots);
	*h = g;
	return 0;
}

/* The slot of s, added when absent (*found says which); NULL when out of memory. */
struct yhslot *yhash_put(struct yhash *h, const char *s, size_t len, bool *found)
{
	if ((h->n + 1) * 2 > h->cap && yhash_grow(h))
		return NULL;
	struct yhslot *e = yhash_slot(h, s, len);
	*found = e->s != NULL;
	if (!*found) {
		e->s = s;
		e->len = len;
		h->n++;
	}
	return e;
}

const struct yhslot *yhash_get(const struct yhash *h, const char *s, size_t len)
{
	if (!h->cap)
		return NULL;
	const struct yhslot *e = yhash_slot(h, s, len);
	return e->s ? e : NULL;
}
