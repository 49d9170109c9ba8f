#include "reconcilers/artifact_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "base/jsonparse.h"

#define READ_CHUNK (64 * 1024)
#define BUILDS_MAX 4096
#define ENTRIES_MAX 4096 /* entries one eviction considers; more are left for the next */

static bool is_sha256(const char *s)
{
	size_t i = 0;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

int artifact_sha256_file(const char *path, char out[65], struct cf_err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *buf = malloc(READ_CHUNK);
	int fd = -1, rc = -1;
	ssize_t r;

	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		cf_err_errno(err, "%s", path);
		goto done;
	}
	while ((r = read(fd, buf, READ_CHUNK)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cf_err_errno(err, "reading %s", path);
			goto done;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)r);
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32) {
		cf_err_set(err, "sha256 of %s failed", path);
		goto done;
	}
	for (unsigned int i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* The one regular file directly in dir, into *path (malloc'd); an error for none or several. */
static int only_file(const char *dir, char **path, struct cf_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;
	*path = NULL;
	if (!d)
		return cf_err_errno(err, "%s", dir);
	while ((e = readdir(d))) {
		struct stat st;
		char *p = NULL;
		if (e->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0) {
			found = -1;
			break;
		}
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && found++ == 0) {
			*path = p;
			continue;
		}
		free(p);
		found = found ? found : 2; /* anything else spoils the entry */
	}
	closedir(d);
	if (found == 1)
		return 0;
	free(*path);
	*path = NULL;
	if (found < 0)
		return cf_err_set(err, "out of memory");
	return cf_err_set(err, "%s holds %s, not one file", dir, found ? "more" : "nothing");
}

static int entry_dir(const struct artifact_cache *c, const char *sha256, char out[PATH_MAX],
		     struct cf_err *err)
{
	if (!is_sha256(sha256))
		return cf_err_set(err, "\"%s\" is not a sha256 (64 lower-case hex digits)", sha256);
	return fsutil_join(out, c->dir, sha256, err);
}

int artifact_cache_lookup(const struct artifact_cache *c, const char *sha256, char **path,
			  bool *removed, struct cf_err *err)
{
	char dir[PATH_MAX], got[65];
	struct stat st;
	struct cf_err why;

	*path = NULL;
	*removed = false;
	if (entry_dir(c, sha256, dir, err) < 0)
		return -1;
	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return cf_err_errno(err, "%s", dir);
	}
	if (S_ISDIR(st.st_mode) && only_file(dir, path, &why) == 0 &&
	    artifact_sha256_file(*path, got, &why) == 0 && strcmp(got, sha256) == 0) {
		utimes(dir, NULL); /* the entry's last use, for eviction */
		return 1;
	}
	free(*path);
	*path = NULL;
	if (fsutil_remove_tree(dir, err) < 0)
		return cf_err_prefix(err, "removing the corrupt cache entry %s", dir);
	*removed = true;
	return 0;
}

int artifact_cache_fetch(const struct artifact_cache *c, const char *sha256, const char *what,
			 artifact_fetch_fn fetch, void *ctx, char **path, struct cf_err *err)
{
	char tmp[PATH_MAX] = "", dir[PATH_MAX], got[65];
	char *file = NULL;
	struct cf_err ignored;
	int rc = -1;

	*path = NULL;
	if (entry_dir(c, sha256, dir, err) < 0 || fsutil_mkdir_p(c->dir, 0700, err) < 0 ||
	    fsutil_make_temp_dir(tmp, c->dir, sha256, 0700, err) < 0)
		goto done;
	if (fetch(ctx, tmp, err) < 0 || only_file(tmp, &file, err) < 0 ||
	    artifact_sha256_file(file, got, err) < 0)
		goto done;
	if (strcmp(got, sha256) != 0) {
		rc = ARTIFACT_DIGEST_MISMATCH;
		cf_err_set(err, "%s: the package fetched has sha256 %s, openclaw.lock pins %s; "
				"refused, nothing was installed",
			   what, got, sha256);
		goto done;
	}
	if (fsutil_remove_tree(dir, err) < 0 || fsutil_install_dir(tmp, dir, err) < 0)
		goto done;
	tmp[0] = '\0';
	if (asprintf(path, "%s/%s", dir, strrchr(file, '/') + 1) < 0) {
		*path = NULL;
		cf_err_set(err, "out of memory");
		goto done;
	}
	rc = 0;
done:
	if (tmp[0])
		fsutil_remove_tree(tmp, &ignored);
	free(file);
	return rc;
}

/* ---- the current and previous builds ---- */

struct builds {
	char current[65], previous[65];
};

static void read_builds(const struct artifact_cache *c, struct builds *b)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	struct cf_err ignored;
	struct json_object *root = NULL;
	const char *v;

	memset(b, 0, sizeof(*b));
	if (fsutil_join(path, c->dir, ARTIFACT_CACHE_BUILDS_FILE, &ignored) < 0 ||
	    fsutil_read_file(path, BUILDS_MAX, &text, &len, &ignored) < 0)
		return;
	if (jsonparse_object(text, len, 4, &root, NULL) == 0) {
		if (jsonparse_get_string(root, "builds", "current", JSONPARSE_OPTIONAL, &v, NULL) ==
			    0 &&
		    v && is_sha256(v))
			snprintf(b->current, sizeof(b->current), "%s", v);
		if (jsonparse_get_string(root, "builds", "previous", JSONPARSE_OPTIONAL, &v, NULL) ==
			    0 &&
		    v && is_sha256(v))
			snprintf(b->previous, sizeof(b->previous), "%s", v);
	}
	json_object_put(root);
	free(text);
}

void artifact_cache_builds(const struct artifact_cache *c, char current[65], char previous[65])
{
	struct builds b;
	read_builds(c, &b);
	memcpy(current, b.current, sizeof(b.current));
	memcpy(previous, b.previous, sizeof(b.previous));
}

int artifact_cache_set_current(const struct artifact_cache *c, const char *sha256,
			       struct cf_err *err)
{
	char path[PATH_MAX], text[200];
	struct builds b;

	if (!is_sha256(sha256))
		return cf_err_set(err, "\"%s\" is not a sha256", sha256);
	read_builds(c, &b);
	if (strcmp(b.current, sha256) == 0)
		return 0;
	int n = snprintf(text, sizeof(text), "{\"current\":\"%s\",\"previous\":%s%s%s}\n", sha256,
			 b.current[0] ? "\"" : "", b.current[0] ? b.current : "null",
			 b.current[0] ? "\"" : "");
	if (fsutil_mkdir_p(c->dir, 0700, err) < 0 ||
	    fsutil_join(path, c->dir, ARTIFACT_CACHE_BUILDS_FILE, err) < 0 ||
	    fsutil_write_atomic(path, text, (size_t)n, 0600, err) < 0)
		return cf_err_prefix(err, "recording the current build in the artifact cache");
	return 0;
}

/* ---- eviction ---- */

struct entry {
	char name[65];
	int64_t size;
	time_t used;
};

static int64_t tree_size(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int64_t total = 0;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;
		if (e->d_name[0] != '.' &&
		    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) < (int)sizeof(p) &&
		    lstat(p, &st) == 0 && S_ISREG(st.st_mode))
			total += st.st_size;
	}
	closedir(d);
	return total;
}

static int by_use(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->used != y->used)
		return x->used < y->used ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The entries of the cache into v, and their total size; the temporary directories of fetches
 * a crash cut short are removed on the way. */
static int scan(const struct artifact_cache *c, struct entry *v, size_t *n, int64_t *total,
		struct cf_err *err)
{
	DIR *d = opendir(c->dir);
	struct dirent *e;
	*n = 0;
	*total = 0;
	if (!d)
		return errno == ENOENT ? 0 : cf_err_errno(err, "%s", c->dir);
	while ((e = readdir(d)) && *n < ENTRIES_MAX) {
		char p[PATH_MAX];
		struct stat st;
		if (e->d_name[0] == '.' || fsutil_join(p, c->dir, e->d_name, err) < 0 ||
		    lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (strstr(e->d_name, FSUTIL_TMP_INFIX)) {
			fsutil_remove_tree(p, err);
			continue;
		}
		if (!is_sha256(e->d_name))
			continue;
		memcpy(v[*n].name, e->d_name, sizeof(v[*n].name)); /* 64 hex digits and the NUL */
		v[*n].size = tree_size(p);
		v[*n].used = st.st_mtime;
		*total += v[*n].size;
		(*n)++;
	}
	closedir(d);
	return 0;
}

int artifact_cache_evict(const struct artifact_cache *c, size_t *evicted, struct cf_err *err)
{
	int64_t max = c->max_bytes > 0 ? c->max_bytes : ARTIFACT_CACHE_DEFAULT_MAX_BYTES;
	struct entry *v = calloc(ENTRIES_MAX, sizeof(*v));
	struct builds b;
	size_t n = 0, removed = 0;
	int64_t total = 0;
	int rc = -1;

	if (evicted)
		*evicted = 0;
	if (!v)
		return cf_err_set(err, "out of memory");
	if (scan(c, v, &n, &total, err) < 0)
		goto done;
	read_builds(c, &b);
	qsort(v, n, sizeof(*v), by_use);
	for (size_t i = 0; i < n && total > max; i++) {
		char p[PATH_MAX];
		if (strcmp(v[i].name, b.current) == 0 || strcmp(v[i].name, b.previous) == 0)
			continue;
		if (fsutil_join(p, c->dir, v[i].name, err) < 0 || fsutil_remove_tree(p, err) < 0)
			goto done;
		total -= v[i].size;
		removed++;
	}
	rc = 0;
done:
	if (evicted)
		*evicted = removed;
	free(v);
	return rc;
}
