#include "observe/node_parity.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/canon.h"
#include "base/fsutil.h"
#include "source/treefiles.h"

/* One walk of the tenants root: the running hash and what the caps count. */
struct walk {
	EVP_MD_CTX *md;
	size_t files;
	struct cf_err *err;
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The entries of dir (but . and ..) in bytewise order; keep filters them. */
static int list_sorted(const char *dir, bool (*keep)(const char *dir, const char *name),
		       char ***out, size_t *n, struct cf_err *err)
{
	DIR *d = opendir(dir);
	char **v = NULL;
	size_t count = 0;
	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : cf_err_set(err, "%s: %s", dir, strerror(errno));
	for (struct dirent *e; (e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    !keep(dir, e->d_name))
			continue;
		char **grown = count < NODE_PARITY_MAX_FILES ? realloc(v, (count + 1) * sizeof(*v))
							      : NULL;
		if (!grown || !(grown[count] = strdup(e->d_name))) {
			names_free(grown ? grown : v, count);
			closedir(d);
			return cf_err_set(err, "%s: more than %d entries, or out of memory", dir,
					  NODE_PARITY_MAX_FILES);
		}
		v = grown;
		count++;
	}
	closedir(d);
	/* An empty directory leaves v NULL, which qsort may not be given even for no entries. */
	if (count > 1)
		qsort(v, count, sizeof(*v), cmp_names);
	*out = v;
	*n = count;
	return 0;
}

static bool is_tenant_link(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	return name[0] != '.' && snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path) &&
	       lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

static bool is_kind_dir(const char *dir, const char *name)
{
	size_t len = strlen(name);
	char path[PATH_MAX];
	struct stat st;
	return len > 2 && strcmp(name + len - 2, ".d") == 0 &&
	       snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path) &&
	       lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	return snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path) &&
	       lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Each field with its length first, so no two sets of names and bytes hash alike. */
static void hash_field(struct walk *w, const void *data, size_t len)
{
	uint64_t n = len;
	EVP_DigestUpdate(w->md, &n, sizeof(n));
	EVP_DigestUpdate(w->md, data, len);
}

static int hash_kind(struct walk *w, const char *tenant, const char *tdir, const char *kind)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char **files = NULL;
	size_t n = 0;
	int rc = -1;
	if (fsutil_join(dir, tdir, kind, w->err) < 0 ||
	    list_sorted(dir, is_file, &files, &n, w->err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char *data = NULL;
		size_t len = 0;
		if (++w->files > NODE_PARITY_MAX_FILES) {
			cf_err_set(w->err, "more than %d tenant fragment files",
				   NODE_PARITY_MAX_FILES);
			goto done;
		}
		if (fsutil_join(path, dir, files[i], w->err) < 0 ||
		    fsutil_read_file(path, TREEFILES_MAX_FILE, &data, &len, w->err) < 0)
			goto done;
		hash_field(w, tenant, strlen(tenant));
		hash_field(w, kind, strlen(kind));
		hash_field(w, files[i], strlen(files[i]));
		hash_field(w, data, len);
		free(data);
	}
	rc = 0;
done:
	names_free(files, n);
	return rc;
}

/* A tenant's link names its content-addressed directory beside it. */
static int hash_tenant(struct walk *w, const char *root, const char *tenant)
{
	char link[PATH_MAX], target[PATH_MAX], tdir[PATH_MAX];
	char **kinds = NULL;
	size_t n = 0;
	int rc = -1;
	if (fsutil_join(link, root, tenant, w->err) < 0)
		return -1;
	ssize_t len = readlink(link, target, sizeof(target) - 1);
	if (len < 0)
		return cf_err_set(w->err, "%s: %s", link, strerror(errno));
	target[len] = '\0';
	if (target[0] == '/' || strchr(target, '/'))
		return cf_err_set(w->err, "%s names %s, not a directory beside it", link, target);
	if (fsutil_join(tdir, root, target, w->err) < 0 ||
	    list_sorted(tdir, is_kind_dir, &kinds, &n, w->err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (hash_kind(w, tenant, tdir, kinds[i]) < 0)
			goto done;
	rc = 0;
done:
	names_free(kinds, n);
	return rc;
}

static int tenants_part(const char *root, char out[65], struct cf_err *err)
{
	struct walk w = {.md = EVP_MD_CTX_new(), .err = err};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char **tenants = NULL;
	size_t n = 0;
	int rc = -1;
	if (!w.md || !EVP_DigestInit_ex(w.md, EVP_sha256(), NULL)) {
		cf_err_set(err, "out of memory hashing the tenant fragments");
		goto done;
	}
	if (root && list_sorted(root, is_tenant_link, &tenants, &n, err) < 0)
		goto done;
	for (size_t i = 0; i < n; i++)
		if (hash_tenant(&w, root, tenants[i]) < 0)
			goto done;
	if (!EVP_DigestFinal_ex(w.md, md, &mdlen) || mdlen != 32) {
		cf_err_set(err, "sha256 failed over the tenant fragments");
		goto done;
	}
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	rc = 0;
done:
	names_free(tenants, n);
	EVP_MD_CTX_free(w.md);
	return rc;
}

static void part_of_text(char out[65], const char *text)
{
	canon_sha256_hex(text, strlen(text), out);
}

int node_parity_compute(const struct probe_inputs *in, const char *tenants_root,
			struct parity *out, struct cf_err *err)
{
	struct parity p = {0};
	char text[1024];
	memset(out, 0, sizeof(*out));
	if (!in->lock || !in->lock->present || !in->cli)
		return 0;
	part_of_text(p.parts[PARITY_LOCK], in->lock->file_sha256);
	snprintf(text, sizeof(text), "%s %s", in->cli->version, in->cli->commit);
	part_of_text(p.parts[PARITY_OPENCLAW], text);
	/* The pack the build pins and whether the one on disk is it (skills_verify). Which link
	 * names it differs between a canary, whose canary tenants run it on next, and a mirrored
	 * peer on the same build, so the links are not part of what must agree. */
	snprintf(text, sizeof(text), "semver %s\npack %s\nverified %s",
		 in->lock->skills_semver ? in->lock->skills_semver : "",
		 in->lock->skills_sha256 ? in->lock->skills_sha256 : "",
		 in->skills.digest_error ? "no" : "yes");
	part_of_text(p.parts[PARITY_SKILLS], text);
	if (tenants_part(tenants_root, p.parts[PARITY_TENANTS], err) < 0 ||
	    parity_seal(&p, err) < 0)
		return -1;
	*out = p;
	return 0;
}
