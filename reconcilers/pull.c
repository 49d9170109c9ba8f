#include "reconcilers/pull.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <git2.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/failpoint.h"
#include "base/fsutil.h"
#include "base/names.h"
#include "reconcilers/pull_tree.h"
#include "source/gitsource.h"

/* In the repository's .git directory from before a pull changes the repository until its
 * checkout is done. */
#define MARKER "clawfleet-checkout"
/* Beside the work tree while it is being cloned; only complete clones are renamed into place. */
#define CLONE_SUFFIX ".tmp-clone"
#define DIRTY_SHOWN 3

static bool is_commit_hex(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 7 || n > 40)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* True when named (7 to 40 hex digits) abbreviates full. */
static bool commit_matches(const char *full, const char *named)
{
	return is_commit_hex(named) && strlen(full) == 40 &&
	       strncasecmp(full, named, strlen(named)) == 0;
}

/* 0 with the repository, 1 when path holds none, -1 on error. */
static int open_work_tree(git_repository **out, const char *path, struct cf_err *err)
{
	*out = NULL;
	int rc = git_repository_open_ext(out, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (rc == GIT_ENOTFOUND)
		return 1;
	if (rc < 0)
		return gitsource_fail(err, "opening infra repository %s", path);
	if (git_repository_is_bare(*out)) {
		git_repository_free(*out);
		*out = NULL;
		return cf_err_set(err, "infra path %s is a bare repository; it must be a work tree",
				  path);
	}
	return 0;
}

static int marker_path(git_repository *repo, char out[PATH_MAX], struct cf_err *err)
{
	const char *gitdir = git_repository_path(repo); /* ends with "/" */
	int n = snprintf(out, PATH_MAX, "%s" MARKER, gitdir);
	if (n < 0 || n >= PATH_MAX)
		return cf_err_set(err, "%s: path too long", gitdir);
	return 0;
}

static bool checkout_interrupted(git_repository *repo)
{
	char path[PATH_MAX];
	struct stat st;
	return marker_path(repo, path, NULL) == 0 && lstat(path, &st) == 0;
}

/* What `git status` would list: changes against HEAD in the index or the work tree, and
 * untracked files; ignored files and submodules are not looked at. */
static int work_tree_status(git_repository *repo, bool *dirty, char *paths, size_t cap,
			    struct cf_err *err)
{
	git_status_options opts;
	git_status_list *list = NULL;
	size_t len = 0;

	*dirty = false;
	paths[0] = '\0';
	git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
	opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
		     GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	if (git_status_list_new(&list, repo, &opts) < 0)
		return gitsource_fail(err, "reading the status of %s", git_repository_workdir(repo));
	size_t n = git_status_list_entrycount(list);
	for (size_t i = 0; i < n && i < DIRTY_SHOWN; i++) {
		const git_status_entry *e = git_status_byindex(list, i);
		const git_diff_delta *d = e->index_to_workdir ? e->index_to_workdir
							      : e->head_to_index;
		const char *path = d ? d->new_file.path : "?";
		int w = snprintf(paths + len, cap - len, "%s%s", i ? ", " : "", path);
		if (w > 0)
			len = (size_t)w < cap - len ? len + (size_t)w : cap - 1;
	}
	if (n > DIRTY_SHOWN)
		snprintf(paths + len, cap - len, " and %zu more", n - DIRTY_SHOWN);
	*dirty = n > 0;
	git_status_list_free(list);
	return 0;
}

/* 0 with the commit refs/tags/<tag> leads to, 1 when there is no such tag, -1 on error. */
static int tag_commit(git_repository *repo, const char *tag, git_oid *out, struct cf_err *err)
{
	char refname[PULL_TAG_MAX + 16];
	if (snprintf(refname, sizeof(refname), "refs/tags/%s", tag) >= (int)sizeof(refname))
		return cf_err_set(err, "tag \"%s\" is too long", tag);
	return gitsource_peel_ref(repo, refname, out, err);
}

struct tag_search {
	git_repository *repo;
	const git_oid *head;
	char best[PULL_TAG_MAX];
};

static int tag_search_cb(const char *name, git_oid *oid, void *payload)
{
	struct tag_search *s = payload;
	git_object *obj = NULL, *peeled = NULL;
	const char *tag = name + strlen("refs/tags/");

	if (strlen(tag) >= sizeof(s->best) || (s->best[0] && strcmp(tag, s->best) >= 0))
		return 0;
	if (git_object_lookup(&obj, s->repo, oid, GIT_OBJECT_ANY) == 0 &&
	    git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) == 0 &&
	    git_oid_equal(git_object_id(peeled), s->head))
		snprintf(s->best, sizeof(s->best), "%s", tag);
	git_object_free(peeled);
	git_object_free(obj);
	return 0;
}

static void find_head_tag(git_repository *repo, const git_oid *head, const char *prefer,
			  char out[PULL_TAG_MAX])
{
	git_oid oid;
	out[0] = '\0';
	if (prefer && name_check_git_tag(prefer, NULL) == 0 &&
	    tag_commit(repo, prefer, &oid, NULL) == 0 && git_oid_equal(&oid, head)) {
		snprintf(out, PULL_TAG_MAX, "%s", prefer);
		return;
	}
	struct tag_search s = {.repo = repo, .head = head};
	git_tag_foreach(repo, tag_search_cb, &s);
	memcpy(out, s.best, PULL_TAG_MAX);
}

int pull_observe(const char *infra_path, const char *prefer_tag, struct pull_state *out,
		 struct cf_err *err)
{
	git_repository *repo = NULL;
	git_oid head;

	memset(out, 0, sizeof(*out));
	gitsource_global_init();
	int rc = open_work_tree(&repo, infra_path, err);
	if (rc != 0)
		goto done;
	out->repo = true;
	out->interrupted = checkout_interrupted(repo);
	rc = git_reference_name_to_id(&head, repo, "HEAD");
	if (rc == 0) {
		git_oid_tostr(out->head, sizeof(out->head), &head);
		find_head_tag(repo, &head, prefer_tag, out->tag);
	} else if (rc != GIT_ENOTFOUND) {
		rc = gitsource_fail(err, "reading HEAD of %s", infra_path);
		goto done;
	}
	/* A checkout cut short leaves the tree half-way: ours to finish, not someone's edits. */
	rc = out->interrupted ? 0
			      : work_tree_status(repo, &out->dirty, out->dirty_paths,
						 sizeof(out->dirty_paths), err);
done:
	git_repository_free(repo);
	gitsource_global_shutdown();
	return rc < 0 ? -1 : 0;
}

void pull_plan(const struct pull_state *state, const struct pull_target *t, struct pull_plan *out)
{
	out->n = 0;
	if (!state->repo || state->interrupted || state->dirty ||
	    !commit_matches(state->head, t->commit))
		out->v[out->n++] = PULL_CHECKOUT;
}

/* ---- fetching ---- */

/* From the local mirror only, so no deadline is needed: the network fetch that could hang is
 * gitsource_sync's, and it runs under one. Tags are all a pull checks out. */
static int fetch_tags(git_repository *repo, const char *mirror, struct cf_err *err)
{
	char *specs[] = {"+refs/tags/*:refs/tags/*"};
	git_strarray refspecs = {specs, 1};
	git_remote_create_options create;
	git_fetch_options opts;
	git_remote *remote = NULL;

	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	opts.prune = GIT_FETCH_PRUNE;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.update_fetchhead = 0;
	git_remote_create_options_init(&create, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	create.repository = repo;
	create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
	int rc = git_remote_create_with_opts(&remote, mirror, &create);
	if (rc == 0)
		rc = git_remote_fetch(remote, &refspecs, &opts, NULL);
	if (rc < 0)
		gitsource_fail(err, "fetching tags from the mirror %s", mirror);
	git_remote_free(remote);
	return rc < 0 ? -1 : 0;
}

static void parent_dir(char out[PATH_MAX], const char *path)
{
	snprintf(out, PATH_MAX, "%s", path);
	char *slash = strrchr(out, '/');
	if (slash)
		*(slash == out ? slash + 1 : slash) = '\0';
	else
		snprintf(out, PATH_MAX, ".");
}

/* Makes infra_path a repository holding the mirror's tags, with nothing checked out yet. */
static int clone_work_tree(const char *infra_path, const char *mirror, git_repository **out,
			   struct cf_err *err)
{
	char tmp[PATH_MAX], parent[PATH_MAX];
	git_repository *repo = NULL;
	int rc = -1;

	*out = NULL;
	if (snprintf(tmp, sizeof(tmp), "%s" CLONE_SUFFIX, infra_path) >= (int)sizeof(tmp))
		return cf_err_set(err, "%s: path too long", infra_path);
	parent_dir(parent, infra_path);
	/* rename replaces an empty directory, so an empty infra path (made by a package) is fine. */
	if (!fsutil_absent_or_empty_dir(infra_path))
		return cf_err_set(err,
				  "infra path %s exists and holds no Git repository; move it away",
				  infra_path);
	if (fsutil_mkdir_p(parent, 0755, err) < 0 || fsutil_remove_tree(tmp, err) < 0)
		return -1;
	if (git_repository_init(&repo, tmp, 0) < 0) {
		gitsource_fail(err, "creating repository %s", tmp);
		goto done;
	}
	if (fetch_tags(repo, mirror, err) < 0)
		goto done;
	git_repository_free(repo);
	repo = NULL;
	if (fsutil_install_dir(tmp, infra_path, err) < 0)
		goto done;
	rc = open_work_tree(out, infra_path, err);
	if (rc == 1)
		cf_err_set(err, "%s: the new clone holds no repository", infra_path);
done:
	git_repository_free(repo);
	if (rc != 0)
		fsutil_remove_tree(tmp, NULL);
	return rc == 0 ? 0 : -1;
}

/* ---- checkout ---- */

static int remove_lock(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	size_t n = strlen(path);
	(void)st;
	(void)ftw;
	if (type == FTW_F && n > 5 && strcmp(path + n - 5, ".lock") == 0)
		unlink(path);
	return 0;
}

/* A pull killed part way leaves libgit2's lock files, and every later ref update or index write
 * would fail on them. Called only when the marker shows our own pull was cut short. */
static void remove_stale_locks(git_repository *repo)
{
	static const char *const files[] = {"index.lock", "HEAD.lock", "packed-refs.lock",
					    "config.lock"};
	const char *gitdir = git_repository_path(repo);
	char path[PATH_MAX];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (snprintf(path, sizeof(path), "%s%s", gitdir, files[i]) < (int)sizeof(path))
			unlink(path);
	if (snprintf(path, sizeof(path), "%srefs", gitdir) < (int)sizeof(path))
		nftw(path, remove_lock, 16, FTW_PHYS);
}

static int mark_pull(git_repository *repo, const char *commit, struct cf_err *err)
{
	char marker[PATH_MAX], line[48];
	if (marker_path(repo, marker, err) < 0)
		return -1;
	snprintf(line, sizeof(line), "%s\n", commit);
	return fsutil_write_atomic(marker, line, strlen(line), 0644, err);
}

static int unmark_pull(git_repository *repo, struct cf_err *err)
{
	char marker[PATH_MAX];
	if (marker_path(repo, marker, err) < 0)
		return -1;
	if (unlink(marker) < 0 && errno != ENOENT)
		return cf_err_errno(err, "removing %s", marker);
	return fsutil_fsync_dir(git_repository_path(repo), err);
}

/* The commit the target names, once the tag is seen to lead to it and its tree is safe. */
static int verified_commit(git_repository *repo, const struct pull_target *t, git_commit **out,
			   struct cf_err *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid oid;

	*out = NULL;
	int found = tag_commit(repo, t->tag, &oid, err);
	if (found < 0)
		return -1;
	if (found == 1)
		return cf_err_set(err, "tag \"%s\" not found in the infra repository", t->tag);
	git_oid_tostr(hex, sizeof(hex), &oid);
	if (!commit_matches(hex, t->commit))
		return cf_err_set(err, "tag \"%s\" leads to commit %s, but the controller named "
				       "commit %s",
				  t->tag, hex, t->commit);
	if (git_commit_lookup(out, repo, &oid) < 0)
		return gitsource_fail(err, "reading commit %s", hex);
	if (pull_tree_check(repo, *out, err) < 0) {
		git_commit_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* force: the tree is what a cut-short checkout left, ours to overwrite. */
static int checkout(git_repository *repo, git_commit *commit, bool force, struct cf_err *err)
{
	git_checkout_options opts;
	const git_oid *oid = git_commit_id(commit);

	git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
	opts.checkout_strategy =
		(force ? GIT_CHECKOUT_FORCE : GIT_CHECKOUT_SAFE) | GIT_CHECKOUT_REMOVE_UNTRACKED;
	if (git_checkout_tree(repo, (const git_object *)commit, &opts) < 0)
		return gitsource_fail(err, "checking out %s", git_oid_tostr_s(oid));
	if (git_repository_set_head_detached(repo, oid) < 0)
		return gitsource_fail(err, "setting HEAD to %s", git_oid_tostr_s(oid));
	return unmark_pull(repo, err);
}

static int check_target(const struct pull_target *t, struct cf_err *err)
{
	if (!t->tag || name_check_git_tag(t->tag, err) < 0)
		return cf_err_prefix(err, "target tag \"%s\"", t->tag ? t->tag : "");
	if (!is_commit_hex(t->commit))
		return cf_err_set(err, "target commit \"%s\" is not 7 to 40 hex digits",
				  t->commit ? t->commit : "");
	return 0;
}

/* Refuses a dirty tree before anything is fetched: it is a human's, and the probe says so. */
static int check_clean(git_repository *repo, const char *infra_path, struct cf_err *err)
{
	char paths[PULL_DIRTY_MAX];
	bool dirty;
	if (work_tree_status(repo, &dirty, paths, sizeof(paths), err) < 0)
		return -1;
	if (dirty)
		return cf_err_set(err, "infra tree at %s is dirty: %s", infra_path, paths);
	return 0;
}

int pull_apply(const struct pull_config *cfg, const struct pull_target *t, struct cf_err *err)
{
	git_repository *repo = NULL;
	git_commit *commit = NULL;
	struct gitsource *mirror = NULL;
	char parent[PATH_MAX];
	bool interrupted = false, marked = false, touched = false;
	int rc = -1;

	if (check_target(t, err) < 0)
		return -1;
	gitsource_global_init();
	int opened = open_work_tree(&repo, cfg->infra_path, err);
	if (opened < 0)
		goto done;
	if (opened == 0) {
		interrupted = checkout_interrupted(repo);
		if (interrupted)
			remove_stale_locks(repo);
		else if (check_clean(repo, cfg->infra_path, err) < 0)
			goto done;
	}
	parent_dir(parent, cfg->mirror_dir);
	if (fsutil_mkdir_p(parent, 0755, err) < 0 ||
	    gitsource_sync(&mirror, cfg->remote, cfg->mirror_dir, cfg->timeout_ms, err) < 0)
		goto done;
	gitsource_free(mirror);
	if (opened == 1 && clone_work_tree(cfg->infra_path, cfg->mirror_dir, &repo, err) < 0)
		goto done;
	if (!interrupted) {
		if (mark_pull(repo, t->commit, err) < 0)
			goto done;
		marked = true;
	}
	if ((opened == 0 && fetch_tags(repo, cfg->mirror_dir, err) < 0) ||
	    verified_commit(repo, t, &commit, err) < 0)
		goto done;
	touched = true;
	failpoint_hit("agent.pull.before");
	if (checkout(repo, commit, interrupted, err) < 0)
		goto done;
	failpoint_hit("agent.pull.after");
	rc = 0;
done:
	/* Refused before the checkout began, the tree is as it was: not unfinished. */
	if (rc < 0 && marked && !touched)
		unmark_pull(repo, NULL);
	git_commit_free(commit);
	git_repository_free(repo);
	gitsource_global_shutdown();
	return rc < 0 ? cf_err_prefix(err, "pulling %s", t->tag) : 0;
}
