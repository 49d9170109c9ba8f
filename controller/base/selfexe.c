#include "base/selfexe.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__APPLE__)
#include <mach-o/dyld.h>
#endif

#include "base/err.h"

#if defined(__APPLE__)
int selfexe_path(char *buf, size_t cap, struct cf_err *err)
{
	char raw[PATH_MAX], resolved[PATH_MAX];
	uint32_t size = sizeof(raw);

	if (_NSGetExecutablePath(raw, &size) != 0)
		return cf_err_set(err, "cannot tell where this program lives: its path is longer "
				       "than %d bytes", PATH_MAX);
	/* dyld reports the path the program was started by, which may hold "." or symlinks. */
	if (!realpath(raw, resolved))
		return cf_err_errno(err, "cannot tell where this program lives (%s)", raw);
	if (strlen(resolved) >= cap)
		return cf_err_set(err, "cannot tell where this program lives: %s is too long",
				  resolved);
	memcpy(buf, resolved, strlen(resolved) + 1);
	return 0;
}
#else
#define PROC_SELF_EXE "/proc/self/exe"
#define DELETED_SUFFIX " (deleted)"

int selfexe_path(char *buf, size_t cap, struct cf_err *err)
{
	size_t slen = strlen(DELETED_SUFFIX);

	if (cap < sizeof(PROC_SELF_EXE))
		return cf_err_set(err, "cannot tell where this program lives: no room for its path");
	ssize_t n = readlink(PROC_SELF_EXE, buf, cap - 1);
	if (n < 0)
		return cf_err_errno(err, "cannot tell where this program lives (%s)", PROC_SELF_EXE);
	if ((size_t)n == cap - 1)
		return cf_err_set(err, "cannot tell where this program lives: its path is longer "
				       "than %zu bytes", cap - 2);
	buf[n] = '\0';
	/* The file was replaced (an upgrade) or removed: the link still runs what this process
	 * runs, where the path would run another version or nothing. */
	if ((size_t)n > slen && strcmp(buf + n - slen, DELETED_SUFFIX) == 0)
		snprintf(buf, cap, "%s", PROC_SELF_EXE);
	return 0;
}
#endif
