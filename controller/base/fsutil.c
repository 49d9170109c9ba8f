#include "base/fsutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/compat.h"

int fsutil_fsync_dir(const char *dir, struct cf_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cf_err_errno(err, "opening %s", dir);
	int rc = compat_fsync(fd);
	close(fd);
	return rc < 0 ? cf_err_errno(err, "fsync %s", dir) : 0;
}

int fsutil_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Removes what a failed write left, keeping the errno that says why it failed; returns -1. */
static int unlink_keeping_errno(const char *tmp)
{
	int saved = errno;
	unlink(tmp);
	errno = saved;
	return -1;
}

int fsutil_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			struct cf_err *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s" FSUTIL_TMP_INFIX "XXXXXX", path) >= (int)sizeof(tmp))
		return cf_err_set(err, "%s: path too long", path);
	snprintf(dir, sizeof(dir), "%s", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return cf_err_errno(err, "creating a temporary file beside %s", path);
	if (fchmod(fd, mode) < 0 || fsutil_write_all(fd, data, len) < 0 || compat_fsync(fd) < 0) {
		cf_err_errno(err, "writing %s", tmp);
		close(fd);
		return unlink_keeping_errno(tmp);
	}
	if (close(fd) < 0) {
		cf_err_errno(err, "writing %s", tmp);
		return unlink_keeping_errno(tmp);
	}
	if (rename(tmp, path) < 0) {
		cf_err_errno(err, "renaming %s to %s", tmp, path);
		return unlink_keeping_errno(tmp);
	}
	return fsutil_fsync_dir(dirname(dir), err);
}

/* "<name>.tmp-XXXXXX": a name, the infix, and mkstemp's six letters or digits. */
static bool temp_name(const char *name)
{
	const char *at = strstr(name, FSUTIL_TMP_INFIX);
	size_t infix = strlen(FSUTIL_TMP_INFIX);
	if (!at || at == name)
		return false;
	/* The last occurrence: a name may itself contain the infix. */
	for (const char *next; (next = strstr(at + 1, FSUTIL_TMP_INFIX));)
		at = next;
	const char *suffix = at + infix;
	if (strlen(suffix) != 6)
		return false;
	for (size_t i = 0; i < 6; i++)
		if (!isalnum((unsigned char)suffix[i]))
			return false;
	return true;
}

int fsutil_sweep_temp(const char *dir, fsutil_swept_fn swept, void *ctx, struct cf_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int removed = 0;
	if (!d)
		return cf_err_errno(err, "opening %s", dir);
	/* Bounded by the directory: readdir hands out each entry once. */
	while ((de = readdir(d))) {
		struct stat st;
		if (!temp_name(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			cf_err_errno(err, "removing %s/%s", dir, de->d_name);
			closedir(d);
			return -1;
		}
		removed++;
		if (swept)
			swept(dir, de->d_name, (long long)st.st_size, ctx);
	}
	closedir(d);
	if (removed && fsutil_fsync_dir(dir, err) < 0)
		return -1;
	return removed;
}

int fsutil_read_file(const char *path, size_t max, char **out, size_t *len, struct cf_err *err)
{
	*out = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cf_err_errno(err, "%s", path);
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return cf_err_set(err, "out of memory");
	}
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				cf_err_set(err, "%s: larger than %zu bytes", path, max);
				goto fail;
			}
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				cf_err_set(err, "out of memory");
				goto fail;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			cf_err_errno(err, "reading %s", path);
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		cf_err_set(err, "%s: larger than %zu bytes", path, max);
		goto fail;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

int fsutil_mkdir_p(const char *path, mode_t mode, struct cf_err *err)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return cf_err_set(err, "%s: path too long", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return cf_err_errno(err, "creating %s", buf);
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return cf_err_errno(err, "creating %s", buf);
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int fsutil_remove_tree(const char *path, struct cf_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : cf_err_errno(err, "%s", path);
	if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) < 0)
		return cf_err_errno(err, "removing %s", path);
	return 0;
}

int fsutil_join(char out[PATH_MAX], const char *a, const char *b, struct cf_err *err)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", a, b);
	if (n < 0 || n >= PATH_MAX)
		return cf_err_set(err, "%s/%s: path too long", a, b);
	return 0;
}

bool fsutil_absent_or_empty_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT;
	struct dirent *de;
	bool empty = true;
	while (empty && (de = readdir(d)))
		empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty;
}

int fsutil_make_temp_dir(char out[PATH_MAX], const char *dir, const char *name, mode_t mode,
			 struct cf_err *err)
{
	int n = snprintf(out, PATH_MAX, "%s/%s" FSUTIL_TMP_INFIX "XXXXXX", dir, name);
	if (n < 0 || n >= PATH_MAX)
		return cf_err_set(err, "%s/%s: path too long", dir, name);
	if (!mkdtemp(out))
		return cf_err_errno(err, "creating %s", out);
	/* mkdtemp makes it private (0700); a directory another user reads needs more. */
	if (chmod(out, mode) < 0) {
		cf_err_errno(err, "chmod %s", out);
		rmdir(out);
		return -1;
	}
	return 0;
}

/* Regular files and directories are fsynced; a symlink's entry is made durable by its
 * directory, and anything else (a FIFO would block the open) holds no data to flush. The top
 * directory, reached last, gets the one full flush (compat_fsync): it makes everything the
 * plain fsyncs before it sent durable at the cost of one drive-cache flush, not one per file. */
static int fsync_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DNR || flag == FTW_NS)
		return -1;
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = ftw->level == 0 ? compat_fsync(fd) : fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int fsutil_install_dir(const char *tmp_dir, const char *final_path, struct cf_err *err)
{
	char parent[PATH_MAX];
	if (snprintf(parent, sizeof(parent), "%s", final_path) >= (int)sizeof(parent))
		return cf_err_set(err, "%s: path too long", final_path);
	/* Children first (FTW_DEPTH), so each directory is fsynced after what it holds. */
	if (nftw(tmp_dir, fsync_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return cf_err_errno(err, "fsync of the files in %s", tmp_dir);
	if (rename(tmp_dir, final_path) < 0)
		return cf_err_errno(err, "renaming %s to %s", tmp_dir, final_path);
	return fsutil_fsync_dir(dirname(parent), err);
}
