/* diag: a list of located problems found while reading desired state, so that one run of
 * `clawfleet validate` reports all of them. Each prints as
 *   FILE:LINE:COL: KIND/NAME: FIELD: message
 * with "-" standing for an object or a field that is not known (a YAML syntax error has
 * neither). diag_list_sort orders by file, line, column so output is stable. The list is
 * capped (DIAG_MAX); past it one last entry says how many were dropped. */
#ifndef CLAWFLEET_DIAG_H
#define CLAWFLEET_DIAG_H
#include <stddef.h>
#include <stdio.h>

#define DIAG_MAX 1000

struct diag {
	char *file;   /* path relative to the source root */
	int line, col; /* 1-based; 0 when the problem is the whole file */
	char *object; /* "KIND/NAME" or NULL */
	char *field;  /* dotted path like "spec.canary.steps[1]" or NULL */
	char *msg;
};

struct diag_list {
	struct diag *v;
	size_t n, cap;
	size_t dropped;
};

void diag_add(struct diag_list *dl, const char *file, int line, int col, const char *object,
	      const char *field, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
void diag_list_sort(struct diag_list *dl);
void diag_list_print(const struct diag_list *dl, FILE *out);
/* One problem as diag_list_print prints it, without the newline, into out (cut to fit); returns
 * the length the whole line needs, as snprintf does. */
int diag_format(const struct diag *d, char *out, size_t size);
void diag_list_free(struct diag_list *dl);

#endif
