/* buf: the one growable byte buffer, created with a hard maximum (as curl's dynbuf): an append
 * that would pass the maximum fails cleanly with "over the N byte limit" and leaves the buffer as
 * it was, so no reader of untrusted input can be made to grow without bound. The bytes are always
 * followed by a NUL (not counted in len), so text can be read in place. Zero-initialise with
 * BUF_INIT(max); buf_free releases the memory and keeps the maximum. */
#ifndef CLAWFLEET_BUF_H
#define CLAWFLEET_BUF_H
#include <stdarg.h>
#include <stddef.h>

#include "base/err.h"

struct buf {
	char *p;    /* NULL until the first append */
	size_t len; /* bytes held, the NUL excluded */
	size_t cap; /* bytes allocated */
	size_t max; /* the most len may reach; 0: nothing may be appended */
};

#define BUF_INIT(limit) {.p = NULL, .len = 0, .cap = 0, .max = (limit)}

int buf_append(struct buf *b, const void *data, size_t n, struct cf_err *err);
int buf_appends(struct buf *b, const char *s, struct cf_err *err);
int buf_printf(struct buf *b, struct cf_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The bytes as a NUL-terminated string ("" when empty), owned by the buffer. */
const char *buf_str(const struct buf *b);
/* Hands the memory, cut to the bytes and their NUL, to the caller (who frees it; never NULL on
 * success) and empties the buffer; NULL when out of memory. *len may be NULL. */
char *buf_take(struct buf *b, size_t *len);
void buf_reset(struct buf *b); /* len 0, memory kept */
void buf_free(struct buf *b);

#endif
