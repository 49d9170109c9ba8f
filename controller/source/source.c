#include "source/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fsutil.h"

static bool is_url(const char *s)
{
	if (strstr(s, "://"))
		return true;
	/* scp-like "user@host:path", as git accepts it: a colon before any slash. */
	const char *colon = strchr(s, ':'), *slash = strchr(s, '/');
	return colon && strchr(s, '@') && (!slash || colon < slash);
}

static bool path_exists(const char *dir, const char *name, mode_t type)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

static bool is_bare_repo(const char *path)
{
	return path_exists(path, "HEAD", S_IFREG) && path_exists(path, "objects", S_IFDIR) &&
	       path_exists(path, "refs", S_IFDIR) && !path_exists(path, ".git", S_IFDIR);
}

static int open_mirror(struct source *src, const struct source_spec *spec, struct cf_err *err)
{
	const char *mirror = spec->mirror_dir;
	if (!mirror) {
		const char *tmp = getenv("TMPDIR");
		char tmpl[4096];
		snprintf(tmpl, sizeof(tmpl), "%s/clawfleet-source-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(tmpl))
			return cf_err_errno(err, "creating a temporary directory");
		src->tmp_mirror = strdup(tmpl);
		if (!src->tmp_mirror)
			return cf_err_set(err, "out of memory");
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/mirror.git", mirror ? mirror : src->tmp_mirror);
	if (mirror && fsutil_mkdir_p(mirror, 0700, err) < 0)
		return -1;
	return gitsource_sync_ref(&src->gs, spec->location, path, &src->ref, spec->timeout_ms, err);
}

int source_open(struct source **out, const struct source_spec *spec, struct cf_err *err)
{
	struct source *src = calloc(1, sizeof(*src));
	if (!src)
		return cf_err_set(err, "out of memory");
	*out = NULL;
	bool url = is_url(spec->location);
	struct stat st;
	if (!url && stat(spec->location, &st) < 0) {
		cf_err_errno(err, "%s", spec->location);
		goto fail;
	}
	if (!url && !S_ISDIR(st.st_mode)) {
		cf_err_set(err, "%s: not a directory", spec->location);
		goto fail;
	}
	src->is_git = url || spec->force_git || is_bare_repo(spec->location);
	if (!src->is_git) {
		src->dir = strdup(spec->location);
		if (!src->dir) {
			cf_err_set(err, "out of memory");
			goto fail;
		}
		*out = src;
		return 0;
	}
	if (gitref_parse(spec->ref ? spec->ref : "main", &src->ref, err) < 0)
		goto fail;
	if (url ? open_mirror(src, spec, err) < 0 : gitsource_open(&src->gs, spec->location, err) < 0)
		goto fail;
	*out = src;
	return 0;
fail:
	source_free(src);
	return -1;
}

int source_refresh(struct source *src, const struct source_spec *spec, struct cf_err *err)
{
	if (!src->is_git || !is_url(spec->location))
		return 0;
	gitsource_free(src->gs);
	src->gs = NULL;
	return open_mirror(src, spec, err);
}

int source_resolve(struct source *src, char commit[41], char revision[GITSOURCE_REVISION_MAX],
		   struct cf_err *err)
{
	if (!src->is_git) {
		commit[0] = '\0';
		snprintf(revision, GITSOURCE_REVISION_MAX, "dir:%s", src->dir);
		return 0;
	}
	return gitsource_resolve(src->gs, &src->ref, commit, revision, err);
}

int source_read(struct source *src, const char *commit, struct treefiles *out, struct cf_err *err)
{
	if (!src->is_git)
		return treefiles_from_dir(src->dir, out, err);
	return gitsource_read_files(src->gs, commit, out, err);
}

bool source_tag_exists(void *ctx, const char *tag)
{
	struct source *src = ctx;
	return !src->is_git || gitsource_tag_exists(src->gs, tag);
}

void source_free(struct source *src)
{
	if (!src)
		return;
	gitsource_free(src->gs);
	gitref_free(&src->ref);
	if (src->tmp_mirror)
		fsutil_remove_tree(src->tmp_mirror, NULL);
	free(src->tmp_mirror);
	free(src->dir);
	free(src);
}
