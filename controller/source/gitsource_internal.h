/* gitsource_internal: private to gitsource.c (opening repositories, resolving refs, reading
 * trees and commits), gitsource_mirror.c (cloning and fetching the mirror in a child process
 * that is killed at its deadline) and gitsource_fetch_child.c (that child: this program run
 * again as `<self> __fetch`). What the two sides of the fetch agree on lives here. */
#ifndef CLAWFLEET_GITSOURCE_INTERNAL_H
#define CLAWFLEET_GITSOURCE_INTERNAL_H
#include <git2.h>
#include <stdbool.h>
#include <string.h>

#include "base/err.h"
#include "source/gitsource.h"

/* The child's command line: `<self> __fetch --dir DIR [--create] [--refspec SPEC]...
 * --timeout-ms MS`. The URL, which may carry credentials, never goes on a command line (any user
 * may read those): the parent writes it to the child's stdin, NUL-terminated, and keeps that pipe
 * open for as long as it wants the fetch; the child's stdout and stderr are the pipe its message
 * comes back on. Exit 0: fetched; otherwise the message says why. */
#define GITSOURCE_FETCH_ARG_DIR "--dir"
#define GITSOURCE_FETCH_ARG_CREATE "--create"
#define GITSOURCE_FETCH_ARG_REFSPEC "--refspec"
#define GITSOURCE_FETCH_ARG_TIMEOUT "--timeout-ms"
/* Tags and at most one branch or ref. */
#define GITSOURCE_FETCH_REFSPECS_MAX 2
/* The URL and its NUL always fit in an empty pipe (POSIX promises 512 bytes written at once; Linux
 * and macOS buffer 16 KiB or more), so the parent writes it before the child starts and never
 * waits. */
#define GITSOURCE_FETCH_URL_MAX 4095
/* Set in the child's environment. A program that runs itself for the fetch must dispatch the
 * command in its main; one that does not would run its own main again, and its fetches then fail
 * at once instead of starting children of their own. */
#define GITSOURCE_FETCH_CHILD_ENV "CLAWFLEET_FETCH_CHILD"

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
