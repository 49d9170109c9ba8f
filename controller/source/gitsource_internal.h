/* gitsource_internal: private to gitsource.c (opening repositories, resolving refs, reading
 * trees and commits) and gitsource_mirror.c (cloning and fetching the mirror in a child process
 * that is killed at its deadline). */
#ifndef CLAWFLEET_GITSOURCE_INTERNAL_H
#define CLAWFLEET_GITSOURCE_INTERNAL_H
#include <git2.h>
#include <stdbool.h>
#include <string.h>

#include "base/err.h"
#include "source/gitsource.h"

static inline const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

static inline bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Opens the repository at path with git_repository_open_ext's flags, holding a reference on
 * libgit2's global state until gitsource_free. */
int gitsource_open_ext(struct gitsource **out, const char *path, unsigned int flags,
		       struct cf_err *err);

#endif
