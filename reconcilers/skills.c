#include "reconcilers/skills.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/failpoint.h"
#include "base/fsutil.h"
#include "reconcilers/pack_digest.h"

/* Attempts at a free temporary link name before giving up. */
#define TMP_NAME_TRIES 32
#define COPY_CHUNK 65536

static const char *const link_names[SKILLS_LINKS] = {"current", "next", "current.prev"};

const char *skills_link_name(enum skills_link l)
{
	return l < SKILLS_LINKS ? link_names[l] : "?";
}

const char *skills_link_status_name(enum skills_link_status s)
{
	static const char *const names[] = {"absent",	  "ok",	     "missing",
					    "incomplete", "foreign", "not a link"};
	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *skills_action_name(enum skills_action_kind k)
{
	static const char *const names[] = {"clean", "install", "link", "adopt"};
	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

/* ".<name>.tmp-XXXXXX": what an interrupted install or link flip leaves behind. */
static bool is_stray(const char *name)
{
	return name[0] == '.' && strstr(name, FSUTIL_TMP_INFIX) != NULL;
}

static int check_semver(const char *semver, struct cf_err *err)
{
	struct semver v;
	if (!semver || semver_parse(semver, &v, err) < 0)
		return cf_err_prefix(err, "skills semver \"%s\"", semver ? semver : "");
	return 0;
}

enum pack_status { PACK_ABSENT, PACK_INCOMPLETE, PACK_COMPLETE };

/* semver must already be checked. */
static int pack_status(const char *root, const char *semver, enum pack_status *out,
		       struct cf_err *err)
{
	char dir[PATH_MAX], marker[PATH_MAX];
	struct stat st;

	*out = PACK_ABSENT;
	if (fsutil_join(dir, root, semver, err) < 0 || fsutil_join(marker, dir, SKILLS_MARKER, err) < 0)
		return -1;
	if (lstat(dir, &st) < 0)
		return errno == ENOENT ? 0 : cf_err_errno(err, "%s", dir);
	*out = PACK_INCOMPLETE;
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (lstat(marker, &st) < 0)
		return errno == ENOENT ? 0 : cf_err_errno(err, "%s", marker);
	if (S_ISREG(st.st_mode))
		*out = PACK_COMPLETE;
	return 0;
}

static int read_link(const char *root, enum skills_link l, struct skills_link_state *out,
		     struct cf_err *err)
{
	char path[PATH_MAX], target[SEMVER_MAX];
	struct semver v;
	enum pack_status ps;

	memset(out, 0, sizeof(*out));
	if (fsutil_join(path, root, link_names[l], err) < 0)
		return -1;
	ssize_t n = readlink(path, target, sizeof(target));
	if (n < 0) {
		if (errno == ENOENT)
			out->status = SKILLS_LINK_ABSENT;
		else if (errno == EINVAL)
			out->status = SKILLS_LINK_NOT_LINK;
		else
			return cf_err_errno(err, "reading link %s", path);
		return 0;
	}
	out->status = SKILLS_LINK_FOREIGN;
	if ((size_t)n >= sizeof(target))
		return 0;
	target[n] = '\0';
	memcpy(out->target, target, (size_t)n + 1);
	if (semver_parse(target, &v, NULL) < 0)
		return 0;
	if (pack_status(root, target, &ps, err) < 0)
		return -1;
	out->status = ps == PACK_COMPLETE     ? SKILLS_LINK_OK
		      : ps == PACK_INCOMPLETE ? SKILLS_LINK_INCOMPLETE
					      : SKILLS_LINK_MISSING;
	return 0;
}

/* Calls fn for every stray in root, reading at most SKILLS_MAX_ENTRIES entries. */
static int each_stray(const char *root, int (*fn)(const char *path, void *ctx), void *ctx,
		      struct cf_err *err)
{
	char path[PATH_MAX];
	int rc = -1;
	size_t seen = 0;
	DIR *d = opendir(root);
	if (!d)
		return errno == ENOENT ? 0 : cf_err_errno(err, "reading %s", root);
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (++seen > SKILLS_MAX_ENTRIES) {
			cf_err_set(err, "%s holds more than %d entries; remove old skill packs",
				   root, SKILLS_MAX_ENTRIES);
			goto done;
		}
		if (!is_stray(de->d_name))
			continue;
		if (fsutil_join(path, root, de->d_name, err) < 0 || fn(path, ctx) < 0)
			goto done;
		errno = 0;
	}
	if (errno) {
		cf_err_errno(err, "reading %s", root);
		goto done;
	}
	rc = 0;
done:
	closedir(d);
	return rc;
}

static int count_stray(const char *path, void *ctx)
{
	(void)path;
	(*(size_t *)ctx)++;
	return 0;
}

int skills_observe(const char *root, const char *semver, struct skills_state *out,
		   struct cf_err *err)
{
	memset(out, 0, sizeof(*out));
	for (int l = 0; l < SKILLS_LINKS; l++)
		if (read_link(root, (enum skills_link)l, &out->links[l], err) < 0)
			return -1;
	if (semver && check_semver(semver, NULL) == 0) {
		enum pack_status ps;
		if (pack_status(root, semver, &ps, err) < 0)
			return -1;
		out->pack_complete = ps == PACK_COMPLETE;
		out->pack_present = ps != PACK_ABSENT;
	}
	return each_stray(root, count_stray, &out->strays, err);
}

void skills_plan(const struct skills_state *state, const struct skills_target *t,
		 struct skills_plan *out)
{
	/* A target naming no link or no semver is planned as a link, which refuses it by name. */
	bool linkable = t->semver && (t->link == SKILLS_CURRENT || t->link == SKILLS_NEXT);
	const struct skills_link_state *ls = linkable ? &state->links[t->link] : NULL;
	bool adopt = !state->pack_complete && state->pack_present && t->sha256;
	/* A link that names the pack being adopted is right once the adoption is: flipping it
	 * to itself would change nothing the gateway reads. */
	bool linked = ls && strcmp(ls->target, t->semver) == 0 &&
		      (ls->status == SKILLS_LINK_OK ||
		       (adopt && ls->status == SKILLS_LINK_INCOMPLETE));

	out->n = 0;
	if (state->strays)
		out->v[out->n++] = (struct skills_action){SKILLS_CLEAN, t->link};
	if (!state->pack_complete)
		out->v[out->n++] =
			(struct skills_action){adopt ? SKILLS_ADOPT : SKILLS_INSTALL, t->link};
	if (!linked)
		out->v[out->n++] = (struct skills_action){SKILLS_LINK, t->link};
}

static int install_pack(const char *root, const char *semver, const char *source_dir,
			const char *sha256, struct cf_err *err);

static int apply_one(const char *root, const struct skills_target *t,
		     const struct skills_action *a, struct cf_err *err)
{
	switch (a->kind) {
	case SKILLS_CLEAN:
		return skills_clean(root, err);
	case SKILLS_INSTALL:
		return install_pack(root, t->semver, t->source_dir, t->sha256, err);
	case SKILLS_LINK:
		return skills_link(root, a->link, t->semver, err);
	case SKILLS_ADOPT:
		return skills_adopt(root, t->semver, t->sha256, err);
	}
	return cf_err_set(err, "unknown skills action %d", (int)a->kind);
}

int skills_apply(const char *root, const struct skills_target *t, const struct skills_plan *plan,
		 struct cf_err *err)
{
	for (size_t i = 0; i < plan->n; i++)
		if (apply_one(root, t, &plan->v[i], err) < 0)
			return -1;
	return 0;
}

/* ---- install ---- */

struct copy {
	const char *source; /* for messages */
	char rel[PATH_MAX]; /* the entry being copied, relative to source */
	size_t files;
	size_t bytes;
};

static int copy_file(struct copy *c, int src_dir, int dst_dir, const char *name,
		     struct cf_err *err)
{
	char buf[COPY_CHUNK];
	struct stat st;
	int rc = -1, dst = -1;
	int src = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (src < 0)
		return cf_err_errno(err, "%s/%s", c->source, c->rel);
	if (fstat(src, &st) < 0) {
		cf_err_errno(err, "%s/%s", c->source, c->rel);
		goto done;
	}
	dst = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     (st.st_mode & S_IXUSR) ? 0755 : 0644);
	if (dst < 0) {
		cf_err_errno(err, "copying %s/%s", c->source, c->rel);
		goto done;
	}
	for (;;) {
		ssize_t r = read(src, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cf_err_errno(err, "reading %s/%s", c->source, c->rel);
			goto done;
		}
		if (r == 0)
			break;
		c->bytes += (size_t)r;
		if (c->bytes > SKILLS_MAX_BYTES) {
			cf_err_set(err, "skill pack %s is larger than %u bytes", c->source,
				   SKILLS_MAX_BYTES);
			goto done;
		}
		if (fsutil_write_all(dst, buf, (size_t)r) < 0) {
			cf_err_errno(err, "copying %s/%s", c->source, c->rel);
			goto done;
		}
	}
	rc = 0;
done:
	if (dst >= 0 && close(dst) < 0 && rc == 0)
		rc = cf_err_errno(err, "copying %s/%s", c->source, c->rel);
	close(src);
	return rc;
}

static int copy_dir(struct copy *c, int src_dir, int dst_dir, int depth, struct cf_err *err);

/* Copies one entry of the directory whose path (relative to the source) c->rel holds. */
static int copy_entry(struct copy *c, int src_dir, int dst_dir, const char *name, int depth,
		      struct cf_err *err)
{
	struct stat st;
	size_t len = strlen(c->rel);
	int n = snprintf(c->rel + len, sizeof(c->rel) - len, "%s%s", len ? "/" : "", name);
	if (n < 0 || (size_t)n >= sizeof(c->rel) - len)
		return cf_err_set(err, "%s: a path in the skill pack is too long", c->source);
	if (++c->files > SKILLS_MAX_FILES)
		return cf_err_set(err, "skill pack %s holds more than %d files", c->source,
				  SKILLS_MAX_FILES);
	if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cf_err_errno(err, "%s/%s", c->source, c->rel);
	int rc;
	if (S_ISREG(st.st_mode)) {
		rc = copy_file(c, src_dir, dst_dir, name, err);
	} else if (S_ISDIR(st.st_mode)) {
		if (depth >= SKILLS_MAX_DEPTH)
			return cf_err_set(err, "%s/%s: skill pack nested deeper than %d levels",
					  c->source, c->rel, SKILLS_MAX_DEPTH);
		if (mkdirat(dst_dir, name, 0755) < 0)
			return cf_err_errno(err, "copying %s/%s", c->source, c->rel);
		int s = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int d = openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0 || d < 0)
			rc = cf_err_errno(err, "copying %s/%s", c->source, c->rel);
		else
			rc = copy_dir(c, s, d, depth + 1, err);
		if (s >= 0)
			close(s);
		if (d >= 0)
			close(d);
	} else if (S_ISLNK(st.st_mode)) {
		rc = cf_err_set(err,
				"%s/%s is a symbolic link; skill packs hold regular files and "
				"directories only",
				c->source, c->rel);
	} else {
		rc = cf_err_set(err, "%s/%s is not a regular file or directory", c->source, c->rel);
	}
	c->rel[len] = '\0';
	return rc;
}

static int copy_dir(struct copy *c, int src_dir, int dst_dir, int depth, struct cf_err *err)
{
	int rc = -1;
	int fd = dup(src_dir);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return cf_err_errno(err, "reading %s/%s", c->source, c->rel);
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (copy_entry(c, src_dir, dst_dir, de->d_name, depth, err) < 0)
			goto done;
		errno = 0;
	}
	if (errno) {
		cf_err_errno(err, "reading %s/%s", c->source, c->rel);
		goto done;
	}
	rc = 0;
done:
	closedir(d);
	return rc;
}

static int copy_pack(const char *source_dir, const char *dst, struct cf_err *err)
{
	struct copy c = {.source = source_dir};
	int rc = -1;
	int s = open(source_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int d = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (s < 0) {
		cf_err_errno(err, "skill pack source %s", source_dir);
		goto done;
	}
	if (d < 0) {
		cf_err_errno(err, "%s", dst);
		goto done;
	}
	rc = copy_dir(&c, s, d, 0, err);
done:
	if (s >= 0)
		close(s);
	if (d >= 0)
		close(d);
	return rc;
}

/* A copy that must match the lock's digest is checked before it is marked. */
static int check_copy(const char *tmp, const char *source_dir, const char *sha256,
		      struct cf_err *err)
{
	char got[65];
	if (!sha256)
		return 0;
	if (pack_digest(tmp, 0, got, err) < 0)
		return -1;
	if (strcmp(got, sha256) != 0)
		return cf_err_set(err, "skill pack source %s: sha256 %s, openclaw.lock says %s",
				  source_dir, got, sha256);
	return 0;
}

static int install_pack(const char *root, const char *semver, const char *source_dir,
			const char *sha256, struct cf_err *err)
{
	char final[PATH_MAX], tmp[PATH_MAX], marker[PATH_MAX], line[SEMVER_MAX + 1];
	char hidden[SEMVER_MAX + 2];
	enum pack_status ps;

	if (check_semver(semver, err) < 0 || fsutil_mkdir_p(root, 0755, err) < 0 ||
	    pack_status(root, semver, &ps, err) < 0)
		return -1;
	if (ps == PACK_COMPLETE)
		return 0;
	if (fsutil_join(final, root, semver, err) < 0)
		return -1;
	/* A pack without its marker was not finished (or was damaged): start it again. */
	if (ps == PACK_INCOMPLETE && fsutil_remove_tree(final, err) < 0)
		return cf_err_prefix(err, "removing incomplete skill pack");
	/* Hidden (".<semver>.tmp-XXXXXX") until complete; the gateway, another user, reads it. */
	snprintf(hidden, sizeof(hidden), ".%s", semver);
	if (fsutil_make_temp_dir(tmp, root, hidden, 0755, err) < 0)
		return cf_err_prefix(err, "installing skill pack %s", semver);
	failpoint_hit("agent.skills.install.before");
	int rc = copy_pack(source_dir, tmp, err);
	if (rc == 0)
		rc = check_copy(tmp, source_dir, sha256, err);
	snprintf(line, sizeof(line), "%s\n", semver);
	if (rc == 0 && (fsutil_join(marker, tmp, SKILLS_MARKER, err) < 0 ||
			fsutil_write_atomic(marker, line, strlen(line), 0644, err) < 0))
		rc = -1;
	if (rc == 0)
		rc = fsutil_install_dir(tmp, final, err);
	if (rc < 0) {
		fsutil_remove_tree(tmp, NULL);
		return cf_err_prefix(err, "installing skill pack %s", semver);
	}
	failpoint_hit("agent.skills.install.after");
	return 0;
}

int skills_install(const char *root, const char *semver, const char *source_dir,
		   struct cf_err *err)
{
	return install_pack(root, semver, source_dir, NULL, err);
}

/* ---- adoption ---- */

/* 1 when root/<semver> is to be judged (present, no marker) and matches sha256, 0 when there is
 * nothing to judge, -1 when it differs or cannot be hashed. */
static int judge_pack(const char *root, const char *semver, const char *sha256, unsigned flags,
		      struct cf_err *err)
{
	char dir[PATH_MAX], got[65];
	enum pack_status ps;

	if (check_semver(semver, err) < 0 || pack_status(root, semver, &ps, err) < 0 ||
	    fsutil_join(dir, root, semver, err) < 0)
		return -1;
	if (ps != PACK_INCOMPLETE || !sha256)
		return 0;
	if (pack_digest(dir, flags, got, err) < 0)
		return -1;
	if (strcmp(got, sha256) != 0)
		return cf_err_set(err, "skill pack %s: sha256 %s on disk, openclaw.lock says %s", dir,
				  got, sha256);
	return 1;
}

int skills_verify(const char *root, const char *semver, const char *sha256, struct cf_err *err)
{
	return judge_pack(root, semver, sha256, 0, err) < 0 ? -1 : 0;
}

int skills_adopt(const char *root, const char *semver, const char *sha256, struct cf_err *err)
{
	char dir[PATH_MAX], marker[PATH_MAX], line[SEMVER_MAX + 1];
	enum pack_status ps;

	if (check_semver(semver, err) < 0 || pack_status(root, semver, &ps, err) < 0 ||
	    fsutil_join(dir, root, semver, err) < 0 || fsutil_join(marker, dir, SKILLS_MARKER, err) < 0)
		return -1;
	if (ps == PACK_COMPLETE)
		return 0;
	if (ps == PACK_ABSENT)
		return cf_err_set(err, "cannot adopt skill pack %s: no such directory", dir);
	if (!sha256)
		return cf_err_set(err, "cannot adopt skill pack %s: openclaw.lock names no "
				       "skills.sha256 to check it against", dir);
	if (judge_pack(root, semver, sha256, PACK_DIGEST_FSYNC, err) < 0)
		return -1;
	snprintf(line, sizeof(line), "%s\n", semver);
	if (fsutil_write_atomic(marker, line, strlen(line), 0644, err) < 0)
		return cf_err_prefix(err, "adopting skill pack %s", dir);
	return 0;
}

/* ---- links ---- */

static int temp_name(char out[PATH_MAX], const char *dir, const char *name, struct cf_err *err)
{
	static const char alphabet[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[6];
	char suffix[sizeof(rnd) + 1];

	if (RAND_bytes(rnd, (int)sizeof(rnd)) != 1)
		return cf_err_set(err, "no random bytes for a temporary name in %s", dir);
	for (size_t i = 0; i < sizeof(rnd); i++)
		suffix[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
	suffix[sizeof(rnd)] = '\0';
	int n = snprintf(out, PATH_MAX, "%s/.%s" FSUTIL_TMP_INFIX "%s", dir, name, suffix);
	if (n < 0 || n >= PATH_MAX)
		return cf_err_set(err, "%s/%s: path too long", dir, name);
	return 0;
}

static bool link_points_at(const char *path, const char *target)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf));
	return n >= 0 && (size_t)n == strlen(target) && memcmp(buf, target, (size_t)n) == 0;
}

int skills_flip_link(const char *dir, const char *name, const char *target, struct cf_err *err)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int tries = 0;

	if (fsutil_join(path, dir, name, err) < 0)
		return -1;
	if (link_points_at(path, target))
		return 0;
	for (;;) {
		if (temp_name(tmp, dir, name, err) < 0)
			return -1;
		if (symlink(target, tmp) == 0)
			break;
		if (errno != EEXIST || ++tries >= TMP_NAME_TRIES)
			return cf_err_errno(err, "creating link %s", tmp);
	}
	if (rename(tmp, path) < 0) {
		if (errno == EISDIR)
			cf_err_set(err,
				   "%s is a directory where clawfleet keeps a link; move it away",
				   path);
		else
			cf_err_errno(err, "renaming %s to %s", tmp, path);
		unlink(tmp);
		return -1;
	}
	return fsutil_fsync_dir(dir, err);
}

int skills_restore(const char *root, const struct skills_state *before, struct cf_err *err)
{
	for (int l = 0; l < SKILLS_LINKS; l++) {
		const struct skills_link_state *b = &before->links[l];
		char path[PATH_MAX], now[SEMVER_MAX];
		if (fsutil_join(path, root, link_names[l], err) < 0)
			return -1;
		ssize_t n = readlink(path, now, sizeof(now) - 1);
		now[n < 0 ? 0 : n] = '\0';
		if (b->status == SKILLS_LINK_ABSENT) {
			if (n < 0)
				continue;
			if (unlink(path) < 0 && errno != ENOENT)
				return cf_err_errno(err, "removing %s", path);
			if (fsutil_fsync_dir(root, err) < 0)
				return -1;
			continue;
		}
		if (b->status == SKILLS_LINK_NOT_LINK || !b->target[0] ||
		    (n >= 0 && strcmp(now, b->target) == 0))
			continue;
		if (skills_flip_link(root, link_names[l], b->target, err) < 0)
			return -1;
	}
	return 0;
}

int skills_link(const char *root, enum skills_link link, const char *semver, struct cf_err *err)
{
	struct skills_link_state old;
	enum pack_status ps;

	if (link != SKILLS_CURRENT && link != SKILLS_NEXT)
		return cf_err_set(err, "only current and next are linked by request; "
				       "clawfleet keeps current.prev itself");
	if (check_semver(semver, err) < 0 || pack_status(root, semver, &ps, err) < 0)
		return -1;
	if (ps != PACK_COMPLETE)
		return cf_err_set(err,
				  "cannot link %s to %s: %s/%s is not a complete skill pack "
				  "(no %s); install it first",
				  link_names[link], semver, root, semver, SKILLS_MARKER);
	if (read_link(root, link, &old, err) < 0)
		return -1;
	if (old.status == SKILLS_LINK_OK && strcmp(old.target, semver) == 0)
		return 0;
	/* Only a working pack is worth rolling back to. */
	if (link == SKILLS_CURRENT && old.status == SKILLS_LINK_OK &&
	    skills_flip_link(root, link_names[SKILLS_PREV], old.target, err) < 0)
		return -1;
	failpoint_hit("agent.link.flip.before");
	if (skills_flip_link(root, link_names[link], semver, err) < 0)
		return -1;
	failpoint_hit("agent.link.flip.after");
	return 0;
}

static int remove_stray(const char *path, void *ctx)
{
	return fsutil_remove_tree(path, ctx);
}

int skills_clean(const char *root, struct cf_err *err)
{
	if (each_stray(root, remove_stray, err, err) < 0)
		return cf_err_prefix(err, "removing what an interrupted run left");
	struct stat st;
	if (stat(root, &st) < 0)
		return errno == ENOENT ? 0 : cf_err_errno(err, "%s", root);
	return fsutil_fsync_dir(root, err);
}
