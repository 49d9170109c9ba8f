/* fsutil: the filesystem operations that must not leave half-done work behind. A write that
 * matters goes to a temporary file in the same directory, is fsynced, renamed over the target,
 * and the directory is fsynced, so a crash leaves either the old or the new content. Reads are
 * capped. */
#ifndef CLAWFLEET_FSUTIL_H
#define CLAWFLEET_FSUTIL_H
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

int fsutil_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			struct cf_err *err);
/* Reads a whole file of at most max bytes into a malloc'd NUL-terminated buffer. */
int fsutil_read_file(const char *path, size_t max, char **out, size_t *len, struct cf_err *err);
int fsutil_mkdir_p(const char *path, mode_t mode, struct cf_err *err);
/* Removes a directory tree without following symlinks; a missing path is not an error. */
int fsutil_remove_tree(const char *path, struct cf_err *err);
int fsutil_fsync_dir(const char *dir, struct cf_err *err);

#endif
