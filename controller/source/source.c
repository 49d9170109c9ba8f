#include "source/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/backoff.h"
#include "base/clock.h"
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

/* A URL source's mirror; in the background it is only opened as the last fetch left it, and
 * the first fetch is due at once. */
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
	if (!spec->background)
		return gitsource_sync_ref(&src->gs, spec->location, path, &src->ref, spec->timeout_ms,
					  err);
	src->mirror = strdup(path);
	if (!src->mirror)
		return cf_err_set(err, "out of memory");
	struct source_fetch_info *info = &src->info;
	info->remote = true;
	info->opened_mono_ms = info->next_mono_ms = clock_mono_ms();
	src->seed = (unsigned int)(clock_epoch_ms() ^ getpid());
	if (gitsource_open_mirror(&src->gs, src->mirror, err) < 0)
		return -1;
	if (src->gs && gitsource_resolve(src->gs, &src->ref, (char[41]){0}, info->revision, NULL) < 0)
		info->revision[0] = '\0';
	return 0;
}

bool source_reads_git(const struct source_spec *spec)
{
	return is_url(spec->location) || spec->force_git || is_bare_repo(spec->location);
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
	src->is_git = source_reads_git(spec);
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

int source_resolve(struct source *src, char commit[41], char revision[GITSOURCE_REVISION_MAX],
		   struct cf_err *err)
{
	if (!src->is_git) {
		commit[0] = '\0';
		snprintf(revision, GITSOURCE_REVISION_MAX, "dir:%s", src->dir);
		return 0;
	}
	if (!src->gs)
		return cf_err_set(err, "the source has not been fetched yet");
	return gitsource_resolve(src->gs, &src->ref, commit, revision, err);
}

int source_read(struct source *src, const char *commit, struct treefiles *out, struct cf_err *err)
{
	if (!src->is_git)
		return treefiles_from_dir(src->dir, out, err);
	if (!src->gs)
		return cf_err_set(err, "the source has not been fetched yet");
	return gitsource_read_files(src->gs, commit, out, err);
}

bool source_tag_exists(void *ctx, const char *tag)
{
	struct source *src = ctx;
	return !src->is_git || (src->gs && gitsource_tag_exists(src->gs, tag));
}

void source_free(struct source *src)
{
	if (!src)
		return;
	gitsource_fetch_free(src->fetch);
	gitsource_free(src->gs);
	gitref_free(&src->ref);
	if (src->tmp_mirror)
		fsutil_remove_tree(src->tmp_mirror, NULL);
	free(src->tmp_mirror);
	free(src->mirror);
	free(src->dir);
	free(src);
}

/* ---- the fetch beside the caller's loop ---- */

int64_t source_retry_ms(int64_t interval_ms, unsigned int failures, unsigned int *seed)
{
	int64_t first = interval_ms > 0 ? interval_ms : 1;
	int64_t max = first > SOURCE_RETRY_MAX_MS ? first : SOURCE_RETRY_MAX_MS;
	return backoff_ms(first, max, failures, seed);
}

/* The fetch that just ended: a success reopens the mirror at its new refs (a mirror that
 * cannot be opened fails the fetch) and resets the backoff; a failure backs the next one off. */
static enum source_fetch_event finished(struct source *src, const struct source_spec *spec,
					int rc, struct cf_err *err)
{
	struct source_fetch_info *info = &src->info;
	int64_t now = clock_mono_ms();
	gitsource_fetch_free(src->fetch);
	src->fetch = NULL;
	if (rc == 0) {
		struct gitsource *gs = NULL;
		int opened = gitsource_open_mirror(&gs, src->mirror, err);
		if (opened == 1)
			cf_err_set(err, "the mirror %s is missing after a fetch", src->mirror);
		if (opened == 0) {
			gitsource_free(src->gs);
			src->gs = gs;
		}
		rc = opened == 0 ? 0 : -1;
	}
	info->fetching = false;
	info->last_end_epoch_ms = clock_epoch_ms();
	info->last_seconds = (double)(now - info->started_mono_ms) / 1000.0;
	info->last_ok = rc == 0;
	if (rc < 0) {
		snprintf(info->error, sizeof(info->error), "%s", err ? err->msg : "the fetch failed");
		info->failures++;
		info->next_mono_ms = now + source_retry_ms(spec->interval_ms, info->failures, &src->seed);
		return SOURCE_FETCH_FAILED;
	}
	info->error[0] = '\0';
	info->failures = 0;
	info->last_ok_mono_ms = now;
	/* The cadence is kept from start to start; a fetch longer than the interval is followed
	 * by the next at once. */
	info->next_mono_ms = info->started_mono_ms + spec->interval_ms;
	if (gitsource_resolve(src->gs, &src->ref, (char[41]){0}, info->revision, NULL) < 0)
		info->revision[0] = '\0';
	return SOURCE_FETCH_DONE;
}

enum source_fetch_event source_fetch_tend(struct source *src, const struct source_spec *spec,
					  bool start, struct cf_err *err)
{
	struct source_fetch_info *info = &src->info;
	if (!info->remote)
		return SOURCE_FETCH_NONE;
	if (src->fetch) {
		int rc = gitsource_fetch_poll(src->fetch, err);
		return rc == 1 ? SOURCE_FETCH_NONE : finished(src, spec, rc, err);
	}
	int64_t now = clock_mono_ms();
	if (!start || now < info->next_mono_ms)
		return SOURCE_FETCH_NONE;
	info->started_mono_ms = now;
	if (gitsource_fetch_start(&src->fetch, spec->location, src->mirror, &src->ref, spec->timeout_ms,
				  err) < 0)
		return finished(src, spec, -1, err);
	info->fetching = true;
	return SOURCE_FETCH_NONE;
}

bool source_readable(const struct source *src)
{
	return !src->is_git || (src->gs && !src->fetch);
}

int64_t source_fetch_due_ms(const struct source *src)
{
	if (!src->info.remote)
		return INT64_MAX;
	return src->fetch ? gitsource_fetch_deadline(src->fetch) : src->info.next_mono_ms;
}

int source_fetch_fd(const struct source *src)
{
	return src->fetch ? gitsource_fetch_fd(src->fetch) : -1;
}
