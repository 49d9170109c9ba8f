#include "base/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The one shape of a problem: FILE:LINE:COL: KIND/NAME: FIELD: message. */
#define DIAG_LINE "%s:%d:%d: %s: %s: %s"

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void diag_add(struct diag_list *dl, const char *file, int line, int col, const char *object,
	      const char *field, const char *fmt, ...)
{
	if (dl->n >= DIAG_MAX) {
		dl->dropped++;
		return;
	}
	if (dl->n == dl->cap) {
		size_t cap = dl->cap ? dl->cap * 2 : 16;
		struct diag *v = realloc(dl->v, cap * sizeof(*v));
		if (!v) {
			dl->dropped++;
			return;
		}
		dl->v = v;
		dl->cap = cap;
	}
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct diag *d = &dl->v[dl->n++];
	d->file = dup_or_null(file ? file : "-");
	d->line = line;
	d->col = col;
	d->object = dup_or_null(object);
	d->field = dup_or_null(field);
	d->msg = strdup(msg);
}

static int diag_cmp(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;
	int c = strcmp(x->file, y->file);
	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	c = strcmp(x->field ? x->field : "", y->field ? y->field : "");
	if (c)
		return c;
	return strcmp(x->msg, y->msg);
}

void diag_list_sort(struct diag_list *dl)
{
	if (dl->n > 1)
		qsort(dl->v, dl->n, sizeof(*dl->v), diag_cmp);
}

void diag_list_print(const struct diag_list *dl, FILE *out)
{
	for (size_t i = 0; i < dl->n; i++) {
		const struct diag *d = &dl->v[i];
		fprintf(out, DIAG_LINE "\n", d->file, d->line, d->col,
			d->object ? d->object : "-", d->field ? d->field : "-", d->msg);
	}
	if (dl->dropped)
		fprintf(out, "-:0:0: -: -: %zu more errors not shown\n", dl->dropped);
}

int diag_format(const struct diag *d, char *out, size_t size)
{
	return snprintf(out, size, DIAG_LINE, d->file, d->line, d->col,
			d->object ? d->object : "-", d->field ? d->field : "-", d->msg);
}

void diag_list_free(struct diag_list *dl)
{
	for (size_t i = 0; i < dl->n; i++) {
		free(dl->v[i].file);
		free(dl->v[i].object);
		free(dl->v[i].field);
		free(dl->v[i].msg);
	}
	free(dl->v);
	memset(dl, 0, sizeof(*dl));
}
