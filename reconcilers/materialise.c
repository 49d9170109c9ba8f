#include "reconcilers/materialise.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/canon.h"
#include "base/fsutil.h"
#include "base/names.h"
#include "reconcilers/skills.h"

/* Hex digits of the content sha256 in a directory name. */
#define SHA_SHOWN 12
#define LABEL_MAX 64
/* ".<tenant>-<sha12>" and its NUL. */
#define DIR_NAME_MAX (LABEL_MAX + SHA_SHOWN + 3)

const char *materialise_action_name(enum materialise_action_kind k)
{
	static const char *const names[] = {"clean", "write", "unlink", "prune"};
	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static bool is_stray(const char *name)
{
	return name[0] == '.' && strstr(name, FSUTIL_TMP_INFIX) != NULL;
}

/* ".<tenant>-<sha12>": the tenant part is copied to tenant; false when name is not one. */
static bool split_dir_name(const char *name, char tenant[LABEL_MAX])
{
	size_t n = strlen(name);
	if (name[0] != '.' || n < 2 + 1 + SHA_SHOWN || n - 2 - SHA_SHOWN >= LABEL_MAX)
		return false;
	const char *dash = name + n - SHA_SHOWN - 1;
	if (*dash != '-')
		return false;
	for (const char *p = dash + 1; *p; p++)
		if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
			return false;
	memcpy(tenant, name + 1, n - 2 - SHA_SHOWN);
	tenant[n - 2 - SHA_SHOWN] = '\0';
	return name_check_dns_label(tenant, NULL) == 0;
}

static bool dir_of_tenant(const char *name, const char *tenant)
{
	char t[LABEL_MAX];
	return split_dir_name(name, t) && strcmp(t, tenant) == 0;
}

/* ---- observe ---- */

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct materialise_entry *)a)->name,
		      ((const struct materialise_entry *)b)->name);
}

static int add_entry(struct materialise_state *st, enum materialise_entry_kind kind,
		     const char *name, const char *target, struct cf_err *err)
{
	struct materialise_entry *v = realloc(st->v, (st->n + 1) * sizeof(*v));
	if (!v)
		return cf_err_set(err, "out of memory");
	st->v = v;
	struct materialise_entry *e = &v[st->n];
	e->kind = kind;
	e->name = strdup(name);
	e->target = target ? strdup(target) : NULL;
	if (!e->name || (target && !e->target)) {
		free(e->name);
		free(e->target);
		return cf_err_set(err, "out of memory");
	}
	st->n++;
	return 0;
}

static int observe_entry(struct materialise_state *st, const char *root, int dfd,
			 const char *name, struct cf_err *err)
{
	char tenant[LABEL_MAX], target[PATH_MAX];
	struct stat sb;

	if (is_stray(name))
		return add_entry(st, MAT_ENTRY_STRAY, name, NULL, err);
	bool label = name_check_dns_label(name, NULL) == 0;
	if (!label && !split_dir_name(name, tenant))
		return 0;
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : cf_err_errno(err, "%s/%s", root, name);
	if (!label)
		return S_ISDIR(sb.st_mode) ? add_entry(st, MAT_ENTRY_DIR, name, NULL, err) : 0;
	if (!S_ISLNK(sb.st_mode))
		return add_entry(st, MAT_ENTRY_OTHER, name, NULL, err);
	ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
	if (n < 0)
		return cf_err_errno(err, "reading link %s/%s", root, name);
	target[n] = '\0';
	return add_entry(st, MAT_ENTRY_LINK, name, target, err);
}

int materialise_observe(const char *root, struct materialise_state *out, struct cf_err *err)
{
	size_t seen = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	DIR *d = opendir(root);
	if (!d)
		return errno == ENOENT ? 0 : cf_err_errno(err, "reading %s", root);
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (++seen > MATERIALISE_MAX_ENTRIES) {
			cf_err_set(err, "%s holds more than %d entries", root,
				   MATERIALISE_MAX_ENTRIES);
			goto done;
		}
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    observe_entry(out, root, dirfd(d), de->d_name, err) < 0)
			goto done;
		errno = 0;
	}
	if (errno) {
		cf_err_errno(err, "reading %s", root);
		goto done;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), entry_cmp);
	rc = 0;
done:
	closedir(d);
	if (rc < 0)
		materialise_state_free(out);
	return rc;
}

void materialise_state_free(struct materialise_state *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->v[i].name);
		free(st->v[i].target);
	}
	free(st->v);
	memset(st, 0, sizeof(*st));
}

static const struct materialise_entry *find_entry(const struct materialise_state *st,
						  const char *name)
{
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->v[i].name, name) == 0)
			return &st->v[i];
	return NULL;
}

/* ---- plan ---- */

static void files_free(struct materialise_file *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].data);
	}
	free(v);
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct materialise_file *)a)->path,
		      ((const struct materialise_file *)b)->path);
}

struct tenant_build {
	struct materialise_file *files;
	size_t n;
	char dir[DIR_NAME_MAX];
};

static int add_file(struct tenant_build *b, const char *path, const char *data, size_t len,
		    struct cf_err *err)
{
	struct materialise_file *v = realloc(b->files, (b->n + 1) * sizeof(*v));
	if (!v)
		return cf_err_set(err, "out of memory");
	b->files = v;
	char *p = strdup(path), *d = malloc(len + 1);
	if (!p || !d) {
		free(p);
		free(d);
		return cf_err_set(err, "out of memory");
	}
	memcpy(d, data, len);
	d[len] = '\0';
	v[b->n++] = (struct materialise_file){p, d, len};
	return 0;
}

static int add_json(struct tenant_build *b, const char *path, const struct json_object *v,
		    struct cf_err *err)
{
	char *text = NULL;
	size_t len = 0;
	if (canon_json(v, &text, &len, err) < 0)
		return -1;
	int rc = add_file(b, path, text, len, err);
	free(text);
	return rc;
}

/* The merged skills.d fragments with where to load skills from: canary tenants use next. */
static int add_skills_json(struct tenant_build *b, const struct json_object *merged,
			   enum tenant_channel channel, const char *skills_dir, struct cf_err *err)
{
	char dir[PATH_MAX];
	struct json_object *o = NULL;
	bool canary = channel == CHANNEL_CANARY;
	int rc = -1;

	if (snprintf(dir, sizeof(dir), "%s/%s", skills_dir, canary ? "next" : "current") >=
	    (int)sizeof(dir))
		return cf_err_set(err, "%s: path too long", skills_dir);
	if (merged ? json_object_deep_copy((struct json_object *)merged, &o, NULL) < 0
		   : !(o = json_object_new_object())) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	if (json_object_object_add(o, "channel",
				   json_object_new_string(canary ? "canary" : "stable")) < 0 ||
	    json_object_object_add(o, "skillsDir", json_object_new_string(dir)) < 0) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	rc = add_json(b, "skills.json", o, err);
done:
	json_object_put(o);
	return rc;
}

/* Mirrors tenants/<tenant>/<kind>.d/<file> as <kind>.d/<file>. */
static int add_fragment_files(struct tenant_build *b, const struct treefiles *files,
			      const char *tenant, struct cf_err *err)
{
	char prefix[LABEL_MAX + 10];
	snprintf(prefix, sizeof(prefix), "tenants/%s/", tenant);
	size_t plen = strlen(prefix);
	for (size_t i = 0; i < files->n; i++) {
		const struct treefile *tf = &files->v[i];
		if (strncmp(tf->path, prefix, plen) != 0)
			continue;
		const char *rel = tf->path + plen;
		if (name_check_relative_path(rel, err) < 0)
			return cf_err_prefix(err, "%s", tf->path);
		if (add_file(b, rel, tf->data, tf->len, err) < 0)
			return -1;
	}
	return 0;
}

/* The content address: sha256 over every file's path, length and bytes, in path order. */
static int name_dir(struct tenant_build *b, const char *tenant, struct cf_err *err)
{
	char *buf = NULL, hex[65];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < b->n; i++) {
		fprintf(f, "%s%c%zu\n", b->files[i].path, '\0', b->files[i].len);
		fwrite(b->files[i].data, 1, b->files[i].len, f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return cf_err_set(err, "out of memory");
	}
	canon_sha256_hex(buf, len, hex);
	free(buf);
	snprintf(b->dir, sizeof(b->dir), ".%s-%.*s", tenant, SHA_SHOWN, hex);
	return 0;
}

static enum tenant_channel channel_of(const struct materialise_input *in,
				      const struct tenant_slice *t)
{
	for (size_t i = 0; i < in->nchannels; i++)
		if (strcmp(in->channels[i].tenant, t->name) == 0)
			return in->channels[i].channel;
	return t->channel;
}

static int build_tenant(const struct materialise_input *in, const struct tenant_slice *t,
			struct tenant_build *b, struct cf_err *err)
{
	char path[LABEL_MAX + 16];
	memset(b, 0, sizeof(*b));
	if (name_check_dns_label(t->name, err) < 0)
		return cf_err_prefix(err, "tenant");
	for (int k = 0; k < FRAG_KINDS; k++) {
		const struct json_object *merged = t->fragments[k].merged;
		if (!merged || k == FRAG_SKILLS)
			continue;
		snprintf(path, sizeof(path), "%s.json", fragment_kind_name((enum fragment_kind)k));
		if (add_json(b, path, merged, err) < 0)
			return -1;
	}
	if (add_fragment_files(b, in->files, t->name, err) < 0 ||
	    add_skills_json(b, t->fragments[FRAG_SKILLS].merged, channel_of(in, t),
			    in->skills_dir, err) < 0)
		return -1;
	if (b->n > 1)
		qsort(b->files, b->n, sizeof(*b->files), file_cmp);
	return name_dir(b, t->name, err);
}

static struct materialise_action *push_action(struct materialise_plan *p,
					      enum materialise_action_kind kind, const char *name,
					      struct cf_err *err)
{
	struct materialise_action *v = realloc(p->v, (p->n + 1) * sizeof(*v));
	if (!v) {
		cf_err_set(err, "out of memory");
		return NULL;
	}
	p->v = v;
	struct materialise_action *a = &v[p->n];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->name = strdup(name);
	if (!a->name) {
		cf_err_set(err, "out of memory");
		return NULL;
	}
	p->n++;
	return a;
}

static bool tenant_desired(const struct desired_state *ds, const char *name)
{
	return desired_tenant(ds, name) != NULL;
}

/* The directory each desired tenant wants, in ds order; writes are planned on the way. */
static int plan_writes(const struct materialise_input *in, const struct materialise_state *st,
		       struct materialise_plan *out, char (*wanted)[DIR_NAME_MAX],
		       struct cf_err *err)
{
	for (size_t i = 0; i < in->ds->ntenants; i++) {
		const struct tenant_slice *t = &in->ds->tenants[i];
		struct tenant_build b;
		int rc = build_tenant(in, t, &b, err);
		if (rc == 0) {
			memcpy(wanted[i], b.dir, sizeof(b.dir));
			const struct materialise_entry *link = find_entry(st, t->name);
			const struct materialise_entry *dir = find_entry(st, b.dir);
			bool linked = link && link->kind == MAT_ENTRY_LINK &&
				      strcmp(link->target, b.dir) == 0;
			if (!linked || !dir || dir->kind != MAT_ENTRY_DIR) {
				struct materialise_action *a =
					push_action(out, MAT_WRITE, t->name, err);
				if (!a || !(a->dir = strdup(b.dir))) {
					rc = cf_err_set(err, "out of memory");
				} else {
					a->files = b.files;
					a->nfiles = b.n;
					b.files = NULL;
					b.n = 0;
				}
			}
		}
		files_free(b.files, b.n);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static bool dir_wanted(const struct desired_state *ds,
		       char (*wanted)[DIR_NAME_MAX], const char *name)
{
	for (size_t i = 0; i < ds->ntenants; i++)
		if (strcmp(wanted[i], name) == 0)
			return true;
	return false;
}

int materialise_plan(const struct materialise_input *in, const struct materialise_state *st,
		     struct materialise_plan *out, struct cf_err *err)
{
	char(*wanted)[DIR_NAME_MAX] = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (in->ds->ntenants && !(wanted = calloc(in->ds->ntenants, sizeof(*wanted))))
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < st->n; i++)
		if (st->v[i].kind == MAT_ENTRY_STRAY &&
		    !push_action(out, MAT_CLEAN, st->v[i].name, err))
			goto done;
	if (plan_writes(in, st, out, wanted, err) < 0)
		goto done;
	/* Only links that lead to one of our directories are ours to remove. */
	for (size_t i = 0; i < st->n; i++) {
		const struct materialise_entry *e = &st->v[i];
		if (e->kind == MAT_ENTRY_LINK && !tenant_desired(in->ds, e->name) &&
		    dir_of_tenant(e->target, e->name) &&
		    !push_action(out, MAT_UNLINK, e->name, err))
			goto done;
	}
	for (size_t i = 0; i < st->n; i++) {
		const struct materialise_entry *e = &st->v[i];
		if (e->kind == MAT_ENTRY_DIR && !dir_wanted(in->ds, wanted, e->name) &&
		    !push_action(out, MAT_PRUNE, e->name, err))
			goto done;
	}
	rc = 0;
done:
	free(wanted);
	if (rc < 0)
		materialise_plan_free(out);
	return rc;
}

void materialise_plan_free(struct materialise_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].dir);
		files_free(p->v[i].files, p->v[i].nfiles);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* ---- apply ---- */

static int write_files(const char *dir, const struct materialise_action *a, struct cf_err *err)
{
	char path[PATH_MAX], sub[PATH_MAX];
	for (size_t i = 0; i < a->nfiles; i++) {
		const struct materialise_file *f = &a->files[i];
		const char *slash = strchr(f->path, '/');
		if (slash) {
			if (snprintf(sub, sizeof(sub), "%s/%.*s", dir, (int)(slash - f->path),
				     f->path) >= (int)sizeof(sub))
				return cf_err_set(err, "%s/%s: path too long", dir, f->path);
			if (mkdir(sub, 0755) < 0 && errno != EEXIST)
				return cf_err_errno(err, "creating %s", sub);
		}
		if (fsutil_join(path, dir, f->path, err) < 0 ||
		    fsutil_write_atomic(path, f->data, f->len, 0644, err) < 0)
			return -1;
	}
	return 0;
}

static int build_dir(const char *root, const struct materialise_action *a, struct cf_err *err)
{
	char final[PATH_MAX], tmp[PATH_MAX];
	struct stat st;

	if (fsutil_join(final, root, a->dir, err) < 0)
		return -1;
	/* Directories only ever appear complete under their content address. */
	if (lstat(final, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	/* The gateway, another user, reads it. */
	if (fsutil_make_temp_dir(tmp, root, a->dir, 0755, err) < 0)
		return -1;
	int rc = write_files(tmp, a, err);
	if (rc == 0)
		rc = fsutil_install_dir(tmp, final, err);
	if (rc < 0)
		fsutil_remove_tree(tmp, NULL);
	return rc;
}

/* Renames the directory to a temporary name first, so that a crash part way through the
 * removal leaves a stray, never a partial directory under a content address. */
static int prune_dir(const char *root, const char *name, struct cf_err *err)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct stat st;
	if (fsutil_join(path, root, name, err) < 0)
		return -1;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : cf_err_errno(err, "%s", path);
	if (fsutil_make_temp_dir(tmp, root, name, 0700, err) < 0)
		return -1;
	if (rename(path, tmp) < 0) {
		cf_err_errno(err, "renaming %s to %s", path, tmp);
		rmdir(tmp);
		return -1;
	}
	if (fsutil_fsync_dir(root, err) < 0)
		return -1;
	return fsutil_remove_tree(tmp, err);
}

static int unlink_tenant(const char *root, const char *name, struct cf_err *err)
{
	char path[PATH_MAX];
	if (fsutil_join(path, root, name, err) < 0)
		return -1;
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : cf_err_errno(err, "removing link %s", path);
	return fsutil_fsync_dir(root, err);
}

static int apply_one(const char *root, const struct materialise_action *a, struct cf_err *err)
{
	char path[PATH_MAX];
	switch (a->kind) {
	case MAT_CLEAN:
		if (fsutil_join(path, root, a->name, err) < 0)
			return -1;
		return fsutil_remove_tree(path, err);
	case MAT_WRITE:
		if (name_check_dns_label(a->name, err) < 0)
			return cf_err_prefix(err, "tenant");
		if (build_dir(root, a, err) < 0)
			return -1;
		return skills_flip_link(root, a->name, a->dir, err);
	case MAT_UNLINK:
		return unlink_tenant(root, a->name, err);
	case MAT_PRUNE:
		return prune_dir(root, a->name, err);
	}
	return cf_err_set(err, "unknown action %d", (int)a->kind);
}

int materialise_apply(const char *root, const struct materialise_plan *p, struct cf_err *err)
{
	if (p->n && fsutil_mkdir_p(root, 0755, err) < 0)
		return -1;
	for (size_t i = 0; i < p->n; i++)
		if (apply_one(root, &p->v[i], err) < 0)
			return cf_err_prefix(err, "tenant fragments: %s %s",
					     materialise_action_name(p->v[i].kind), p->v[i].name);
	return 0;
}
