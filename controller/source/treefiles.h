/* treefiles: the files of a desired-state repository that the Git repository contract names,
 * read into memory from either a directory (a working tree) or a Git tree (gitsource), so that
 * loading and validation never care where they came from. Paths are relative, "/"-separated and
 * sorted bytewise. Limits: TREEFILES_MAX_FILE bytes per file, TREEFILES_MAX_COUNT files,
 * TREEFILES_MAX_TOTAL bytes in all; over a limit is an error naming the path. */
#ifndef CLAWFLEET_TREEFILES_H
#define CLAWFLEET_TREEFILES_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define TREEFILES_MAX_FILE (1u << 20)
#define TREEFILES_MAX_COUNT 20000
#define TREEFILES_MAX_TOTAL (256u << 20)

struct treefile {
	char *path;
	char *data; /* NUL-terminated copy; len excludes the NUL */
	size_t len;
};

struct treefiles {
	struct treefile *v;
	size_t n, cap;
	size_t total;
};

/* The contract: clawfleet/<x>.yaml, openclaw/nodes/<x>.yaml, tenants/<t>/<k>.d/<x>.yaml,
 * openclaw.lock. Also true for ".yml" siblings there so that validate can reject them by name
 * instead of ignoring them silently. */
bool treefiles_wanted(const char *path);
/* Copies data; refuses a file over the limits. */
int treefiles_add(struct treefiles *tf, const char *path, const char *data, size_t len,
		  struct cf_err *err);
void treefiles_sort(struct treefiles *tf);
const struct treefile *treefiles_find(const struct treefiles *tf, const char *path);
/* Walks root (not following symlinks out of it; a symlink is an error naming it) and adds every
 * wanted regular file. */
int treefiles_from_dir(const char *root, struct treefiles *out, struct cf_err *err);
void treefiles_free(struct treefiles *tf);

#endif
