/* fsutil: the filesystem operations that must not leave half-done work behind. A write that
 * matters goes to a temporary file in the same directory, is fsynced, renamed over the target,
 * and the directory is fsynced (compat_fsync: durable on macOS too), so a crash leaves either the old or the new content. A directory
 * is built the same way: made beside its target (fsutil_make_temp_dir), filled, and put in place
 * whole by fsutil_install_dir. Reads are capped; paths that do not fit are errors, never
 * truncated. */
#ifndef CLAWFLEET_FSUTIL_H
#define CLAWFLEET_FSUTIL_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

/* In the name of every temporary file and directory fsutil makes ("<name>.tmp-XXXXXX"), so that
 * what an interrupted run left behind can be recognised and removed. */
#define FSUTIL_TMP_INFIX ".tmp-"

/* On failure errno still says why (ENOSPC, EROFS, EACCES, ...), for a caller that tells the
 * cases apart. */
int fsutil_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			struct cf_err *err);
/* Writes all len bytes to fd, through short writes and EINTR: 0, or -1 with errno set, so the
 * caller can say what it was writing. */
int fsutil_write_all(int fd, const void *data, size_t len);
/* Reads a whole file of at most max bytes into a malloc'd NUL-terminated buffer. */
int fsutil_read_file(const char *path, size_t max, char **out, size_t *len, struct cf_err *err);
int fsutil_mkdir_p(const char *path, mode_t mode, struct cf_err *err);
/* Removes a directory tree without following symlinks; a missing path is not an error. */
int fsutil_remove_tree(const char *path, struct cf_err *err);
int fsutil_fsync_dir(const char *dir, struct cf_err *err);
/* a "/" b into out; an error when the result would not fit. */
int fsutil_join(char out[PATH_MAX], const char *a, const char *b, struct cf_err *err);
/* True when nothing is at path or it is an empty directory: where rename(2) can put a
 * directory. False for anything else, including a path that cannot be read. */
bool fsutil_absent_or_empty_dir(const char *path);

/* Called with each file fsutil_sweep_temp removed: its directory, name and size. */
typedef void (*fsutil_swept_fn)(const char *dir, const char *name, long long size, void *ctx);
/* Removes the regular files "<name>.tmp-XXXXXX" directly in dir, which a write interrupted by a
 * crash left behind (never symlinks, directories or anything deeper), calling swept (may be
 * NULL) for each; returns how many. Only the one process that writes in dir may call it, while
 * it holds whatever keeps a second one out. */
int fsutil_sweep_temp(const char *dir, fsutil_swept_fn swept, void *ctx, struct cf_err *err);

/* Makes a new directory "<dir>/<name>.tmp-XXXXXX" with the given mode and puts its path in out:
 * the place to build a directory that fsutil_install_dir then puts at "<dir>/<target>" (the
 * same filesystem, so the rename is atomic). */
int fsutil_make_temp_dir(char out[PATH_MAX], const char *dir, const char *name, mode_t mode,
			 struct cf_err *err);
/* Puts the complete directory tmp_dir at final_path: fsyncs every file and directory in
 * tmp_dir, then one full flush (compat_fsync) before the rename that publishes it, renames it to final_path (which must not exist or be an empty directory, as
 * rename(2) requires) and fsyncs final_path's parent. After a crash final_path holds either
 * what it held before or all of tmp_dir, never part of it. tmp_dir must be on final_path's
 * filesystem. On failure final_path is unchanged and tmp_dir is left for the caller, which
 * made it, to remove; only when the last fsync fails is the directory already in place. */
int fsutil_install_dir(const char *tmp_dir, const char *final_path, struct cf_err *err);

#endif
