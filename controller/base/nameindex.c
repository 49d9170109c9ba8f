#include "base/nameindex.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: names are short and chosen by people, so a plain string hash spreads them well. */
static size_t hash_of(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static const char *name_at(const void *v, size_t i, size_t stride)
{
	return (const char *)v + i * stride;
}

static void insert(struct name_index *ix, const void *v, size_t i, size_t stride)
{
	size_t mask = ix->nslots - 1;
	size_t k = hash_of(name_at(v, i, stride)) & mask;
	while (ix->slot[k])
		k = (k + 1) & mask;
	ix->slot[k] = (uint32_t)(i + 1);
}

size_t name_index_find(const struct name_index *ix, const void *v, size_t n, size_t stride,
		       const char *name)
{
	if (!ix->slot || ix->n != n) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(name_at(v, i, stride), name) == 0)
				return i;
		return NAME_INDEX_NONE;
	}
	size_t mask = ix->nslots - 1;
	for (size_t k = hash_of(name) & mask; ix->slot[k]; k = (k + 1) & mask) {
		size_t i = ix->slot[k] - 1;
		if (i < n && strcmp(name_at(v, i, stride), name) == 0)
			return i;
	}
	return NAME_INDEX_NONE;
}

void name_index_added(struct name_index *ix, const void *v, size_t n, size_t stride)
{
	if (n < NAME_INDEX_FROM || n > UINT32_MAX)
		return;
	if (ix->slot && ix->n == n - 1 && 2 * n <= ix->nslots) {
		insert(ix, v, n - 1, stride);
		ix->n = n;
		return;
	}
	size_t nslots = ix->nslots ? ix->nslots : 2 * NAME_INDEX_FROM;
	while (nslots < 2 * n)
		nslots *= 2;
	if (nslots != ix->nslots) {
		free(ix->slot);
		*ix = (struct name_index){calloc(nslots, sizeof(uint32_t)), nslots, 0};
		if (!ix->slot) {
			ix->nslots = 0;
			return;
		}
	} else {
		memset(ix->slot, 0, nslots * sizeof(*ix->slot));
	}
	for (size_t i = 0; i < n; i++)
		insert(ix, v, i, stride);
	ix->n = n;
}

void name_index_copy(struct name_index *dst, const struct name_index *src)
{
	*dst = (struct name_index){0};
	if (!src->slot)
		return;
	dst->slot = malloc(src->nslots * sizeof(*dst->slot));
	if (!dst->slot)
		return;
	memcpy(dst->slot, src->slot, src->nslots * sizeof(*dst->slot));
	dst->nslots = src->nslots;
	dst->n = src->n;
}

void name_index_clear(struct name_index *ix)
{
	if (ix->slot)
		memset(ix->slot, 0, ix->nslots * sizeof(*ix->slot));
	ix->n = 0;
}

void name_index_free(struct name_index *ix)
{
	free(ix->slot);
	*ix = (struct name_index){0};
}
