#include "source/treefiles.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Depth of the deepest contract path: tenants/<t>/<k>.d/<file>. */
#define WALK_MAX_DEPTH 4

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static bool is_yaml_name(const char *name)
{
	return name[0] != '.' && !strchr(name, '/') &&
	       (has_suffix(name, ".yaml") || has_suffix(name, ".yml"));
}

static bool is_fragment_dir(const char *name, size_t len)
{
	static const char *const kinds[] = {"gateway.d", "doctor.d", "webhook.d", "skills.d"};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i]) == len && memcmp(kinds[i], name, len) == 0)
			return true;
	return false;
}

bool treefiles_wanted(const char *path)
{
	if (strcmp(path, "openclaw.lock") == 0)
		return true;
	if (strncmp(path, "clawfleet/", 10) == 0)
		return is_yaml_name(path + 10);
	if (strncmp(path, "openclaw/base.d/", 16) == 0)
		return is_yaml_name(path + 16);
	if (strncmp(path, "openclaw/nodes/", 15) == 0) {
		/* <host>.yaml, or a per-Mac fragment <host>.d/<file> */
		const char *slash = strchr(path + 15, '/');
		if (!slash)
			return is_yaml_name(path + 15);
		return slash - (path + 15) > 2 && strncmp(slash - 2, ".d", 2) == 0 &&
		       is_yaml_name(slash + 1);
	}
	if (strncmp(path, "tenants/", 8) == 0) {
		const char *tenant = path + 8;
		const char *slash = strchr(tenant, '/');
		if (!slash || slash == tenant)
			return false;
		const char *kind = slash + 1;
		const char *slash2 = strchr(kind, '/');
		if (!slash2 || !is_fragment_dir(kind, (size_t)(slash2 - kind)))
			return false;
		return is_yaml_name(slash2 + 1);
	}
	return false;
}

int treefiles_add(struct treefiles *tf, const char *path, const char *data, size_t len,
		  struct cf_err *err)
{
	if (len > TREEFILES_MAX_FILE)
		return cf_err_set(err, "%s: file is %zu bytes, over the %u byte limit", path, len,
				  TREEFILES_MAX_FILE);
	if (tf->n >= TREEFILES_MAX_COUNT)
		return cf_err_set(err, "%s: more than %d desired-state files", path,
				  TREEFILES_MAX_COUNT);
	if (tf->total + len > TREEFILES_MAX_TOTAL)
		return cf_err_set(err, "%s: desired state exceeds %u bytes in all", path,
				  TREEFILES_MAX_TOTAL);
	if (tf->n == tf->cap) {
		size_t cap = tf->cap ? tf->cap * 2 : 64;
		struct treefile *v = realloc(tf->v, cap * sizeof(*v));
		if (!v)
			return cf_err_set(err, "out of memory");
		tf->v = v;
		tf->cap = cap;
	}
	char *p = strdup(path);
	char *d = malloc(len + 1);
	if (!p || !d) {
		free(p);
		free(d);
		return cf_err_set(err, "out of memory");
	}
	memcpy(d, data, len);
	d[len] = '\0';
	tf->v[tf->n++] = (struct treefile){p, d, len};
	tf->total += len;
	return 0;
}

static int treefile_cmp(const void *a, const void *b)
{
	return strcmp(((const struct treefile *)a)->path, ((const struct treefile *)b)->path);
}

void treefiles_sort(struct treefiles *tf)
{
	if (tf->n > 1)
		qsort(tf->v, tf->n, sizeof(*tf->v), treefile_cmp);
}

const struct treefile *treefiles_find(const struct treefiles *tf, const char *path)
{
	for (size_t i = 0; i < tf->n; i++)
		if (strcmp(tf->v[i].path, path) == 0)
			return &tf->v[i];
	return NULL;
}

/* Only descend where the contract can place a file, so a large unrelated tree costs nothing. */
static bool dir_may_hold_wanted(const char *rel)
{
	if (strcmp(rel, "clawfleet") == 0 || strcmp(rel, "openclaw") == 0 ||
	    strcmp(rel, "openclaw/nodes") == 0 || strcmp(rel, "tenants") == 0 ||
	    strcmp(rel, "openclaw/base.d") == 0)
		return true;
	if (strncmp(rel, "openclaw/nodes/", 15) == 0) {
		size_t len = strlen(rel + 15);
		return len > 2 && !strchr(rel + 15, '/') && strcmp(rel + 15 + len - 2, ".d") == 0;
	}
	if (strncmp(rel, "tenants/", 8) != 0)
		return false;
	const char *slash = strchr(rel + 8, '/');
	return !slash || (is_fragment_dir(slash + 1, strlen(slash + 1)));
}

static int read_file_at(int dirfd, const char *name, const char *rel, struct treefiles *out,
			struct cf_err *err)
{
	int rc = -1;
	char *buf = NULL;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cf_err_errno(err, "%s", rel);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		cf_err_errno(err, "%s", rel);
		goto done;
	}
	if ((size_t)st.st_size > TREEFILES_MAX_FILE) {
		cf_err_set(err, "%s: file is %lld bytes, over the %u byte limit", rel,
			   (long long)st.st_size, TREEFILES_MAX_FILE);
		goto done;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	buf = malloc(cap);
	if (!buf) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	for (;;) {
		/* Read one byte past the size seen by fstat so a file growing under us is caught. */
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			cf_err_errno(err, "%s", rel);
			goto done;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == cap) {
			cf_err_set(err, "%s: file changed while being read", rel);
			goto done;
		}
	}
	rc = treefiles_add(out, rel, buf, len, err);
done:
	free(buf);
	close(fd);
	return rc;
}

static int walk_dir(int fd, const char *prefix, int depth, struct treefiles *out,
		    struct cf_err *err)
{
	int rc = -1;
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return cf_err_errno(err, "%s", *prefix ? prefix : ".");
	}
	struct dirent *de;
	char rel[4096];
	while ((errno = 0, de = readdir(dir))) {
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, ".git") == 0)
			continue;
		int n = snprintf(rel, sizeof(rel), "%s%s%s", prefix, *prefix ? "/" : "", name);
		if (n < 0 || (size_t)n >= sizeof(rel))
			continue;
		struct stat st;
		if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			cf_err_errno(err, "%s", rel);
			goto done;
		}
		if (S_ISDIR(st.st_mode)) {
			if (depth + 1 >= WALK_MAX_DEPTH)
				continue;
			if (!dir_may_hold_wanted(rel))
				continue;
			int sub = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				cf_err_errno(err, "%s", rel);
				goto done;
			}
			if (walk_dir(sub, rel, depth + 1, out, err) < 0)
				goto done;
			continue;
		}
		if (!treefiles_wanted(rel))
			continue;
		if (S_ISLNK(st.st_mode)) {
			cf_err_set(err, "%s: is a symbolic link; desired-state files must be regular files", rel);
			goto done;
		}
		if (!S_ISREG(st.st_mode)) {
			cf_err_set(err, "%s: not a regular file", rel);
			goto done;
		}
		if (read_file_at(dirfd(dir), name, rel, out, err) < 0)
			goto done;
	}
	if (errno) {
		cf_err_errno(err, "%s", *prefix ? prefix : ".");
		goto done;
	}
	rc = 0;
done:
	closedir(dir);
	return rc;
}

int treefiles_from_dir(const char *root, struct treefiles *out, struct cf_err *err)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cf_err_errno(err, "%s", root);
	if (walk_dir(fd, "", 0, out, err) < 0)
		return -1;
	treefiles_sort(out);
	return 0;
}

void treefiles_free(struct treefiles *tf)
{
	for (size_t i = 0; i < tf->n; i++) {
		free(tf->v[i].path);
		free(tf->v[i].data);
	}
	free(tf->v);
	memset(tf, 0, sizeof(*tf));
}
