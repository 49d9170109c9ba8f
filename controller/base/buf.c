#include "base/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(struct buf *b, size_t n, struct cf_err *err)
{
	if (n > b->max || b->len > b->max - n)
		return cf_err_set(err, "over the %zu byte limit", b->max);
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	char *p = realloc(b->p, cap);
	if (!p)
		return cf_err_set(err, "out of memory");
	b->p = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t n, struct cf_err *err)
{
	if (reserve(b, n, err) < 0)
		return -1;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int buf_appends(struct buf *b, const char *s, struct cf_err *err)
{
	return buf_append(b, s, strlen(s), err);
}

int buf_printf(struct buf *b, struct cf_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return cf_err_set(err, "formatting failed");
	if (reserve(b, (size_t)n, err) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

const char *buf_str(const struct buf *b)
{
	return b->p ? b->p : "";
}

char *buf_take(struct buf *b, size_t *len)
{
	char *p = b->p ? b->p : calloc(1, 1);
	if (!p)
		return NULL;
	/* What the caller keeps is only what it holds: the capacity grew by doubling. */
	char *fit = b->p ? realloc(p, b->len + 1) : NULL;
	if (fit)
		p = fit;
	if (len)
		*len = b->len;
	*b = (struct buf)BUF_INIT(b->max);
	return p;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf)BUF_INIT(b->max);
}
