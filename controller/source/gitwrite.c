#include "source/gitwrite.h"

#include <git2.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/fsutil.h"
#include "source/gitsource.h"
#include "source/gitsource_internal.h"
#include "source/treefiles.h"

/* The local ref the new commit is pushed from, in the scratch clone. */
#define PUSH_REF "refs/clawfleet/push"
/* Over a path, where the commit's objects land in the remote before its branch moves. */
#define INCOMING_REF "refs/clawfleet/incoming"

/* ---- what a message may show ---- */

/* url without "user:secret@". */
static void shown_url(const char *url, char *out, size_t cap)
{
	const char *auth = strstr(url, "://"), *at = NULL;
	if (auth)
		for (const char *p = auth + 3; *p && !strchr("/?#", *p); p++)
			if (*p == '@')
				at = p;
	if (at)
		snprintf(out, cap, "%.*s%s", (int)(auth + 3 - url), url, at + 1);
	else
		snprintf(out, cap, "%s", url);
}

/* libgit2's last message with url's credentials cut out. */
static int fail_git(struct cf_err *err, const char *url, const char *what, const char *shown)
{
	char msg[CF_ERR_MSG];
	const char *auth = strstr(url, "://"), *at = auth ? strchr(auth + 3, '@') : NULL;
	snprintf(msg, sizeof(msg), "%s", git_msg());
	if (at) {
		size_t n = (size_t)(at + 1 - (auth + 3));
		for (char *p = strstr(msg, auth + 3); p && n; p = strstr(msg, auth + 3))
			if (strncmp(p, auth + 3, n) == 0)
				memmove(p, p + n, strlen(p + n) + 1);
			else
				break;
	}
	return cf_err_set(err, "%s %s: %s", what, shown, msg);
}

/* ---- the push's deadline ---- */

static char deadline_msg[CF_ERR_MSG];
static size_t deadline_len;

static void on_deadline(int sig)
{
	(void)sig;
	ssize_t w = write(STDERR_FILENO, deadline_msg, deadline_len);
	(void)w;
	_exit(1);
}

/* ---- one round: edit, commit, push ---- */

struct round {
	const struct gitwrite_request *req;
	const char *shown;
	const char *scratch;
	git_repository *repo;
	git_signature *author;
	git_oid tip, commit;
	char rejected[CF_ERR_MSG]; /* why the remote refused a fast-forward; "" when it did not */
};

static int parse_author(const char *s, git_signature **out, struct cf_err *err)
{
	const char *lt = strchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (!lt || !gt || gt[1] || lt == s || gt == lt + 1)
		return cf_err_set(err, "--author \"%s\": want \"Name <email>\"", s);
	size_t nlen = (size_t)(lt - s);
	while (nlen && s[nlen - 1] == ' ')
		nlen--;
	char name[256], email[256];
	if (nlen == 0 || nlen >= sizeof(name) || (size_t)(gt - lt - 1) >= sizeof(email))
		return cf_err_set(err, "--author \"%s\": want \"Name <email>\"", s);
	snprintf(name, sizeof(name), "%.*s", (int)nlen, s);
	snprintf(email, sizeof(email), "%.*s", (int)(gt - lt - 1), lt + 1);
	if (git_signature_now(out, name, email) < 0)
		return gitsource_fail(err, "--author \"%s\"", s);
	return 0;
}

/* The tip's tree with every changed file written. */
static int make_commit(struct round *r, const struct treefiles *changes, struct cf_err *err)
{
	git_commit *parent = NULL;
	git_tree *base = NULL, *tree = NULL;
	git_tree_update *ups = calloc(changes->n ? changes->n : 1, sizeof(*ups));
	git_oid tree_id;
	int rc = -1;
	if (!ups)
		return cf_err_set(err, "out of memory");
	if (git_commit_lookup(&parent, r->repo, &r->tip) < 0 ||
	    git_commit_tree(&base, parent) < 0) {
		gitsource_fail(err, "reading the tip of %s", r->req->branch);
		goto done;
	}
	for (size_t i = 0; i < changes->n; i++) {
		ups[i].action = GIT_TREE_UPDATE_UPSERT;
		ups[i].filemode = GIT_FILEMODE_BLOB;
		ups[i].path = changes->v[i].path;
		if (git_blob_create_from_buffer(&ups[i].id, r->repo, changes->v[i].data,
						changes->v[i].len) < 0) {
			gitsource_fail(err, "writing %s", changes->v[i].path);
			goto done;
		}
	}
	if (git_tree_create_updated(&tree_id, r->repo, base, changes->n, ups) < 0 ||
	    git_tree_lookup(&tree, r->repo, &tree_id) < 0) {
		gitsource_fail(err, "writing the tree");
		goto done;
	}
	const git_commit *parents[] = {parent};
	if (git_commit_create(&r->commit, r->repo, NULL, r->author, r->author, NULL,
			      r->req->message, tree, 1, parents) < 0 ||
	    git_reference_create(NULL, r->repo, PUSH_REF, &r->commit, 1, NULL) < 0) {
		gitsource_fail(err, "making the commit");
		goto done;
	}
	rc = 0;
done:
	git_tree_free(tree);
	git_tree_free(base);
	git_commit_free(parent);
	free(ups);
	return rc;
}

static int on_update(const char *refname, const char *status, void *data)
{
	struct round *r = data;
	if (status)
		snprintf(r->rejected, sizeof(r->rejected), "%s: %s", refname, status);
	return 0;
}

/* Pushes PUSH_REF to dst without force: 0 done, 1 rejected (r->rejected says why), -1 failed. */
static int push(struct round *r, const char *dst, struct cf_err *err)
{
	git_remote *remote = NULL;
	git_push_options opts;
	git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
	char spec[GITSOURCE_REVISION_MAX + 64];
	char *specs[] = {spec};
	const git_strarray refspecs = {specs, 1};
	int rc = -1;
	snprintf(spec, sizeof(spec), "%s:%s", PUSH_REF, dst);
	opts.callbacks.push_update_reference = on_update;
	opts.callbacks.payload = r;
	r->rejected[0] = '\0';
	if (git_remote_create_anonymous(&remote, r->repo, r->req->url) < 0)
		return fail_git(err, r->req->url, "pushing to", r->shown);
	int timeout_s = (r->req->timeout_ms ? r->req->timeout_ms : GITSOURCE_TIMEOUT_DEFAULT_MS) / 1000;
	int n = snprintf(deadline_msg, sizeof(deadline_msg),
			 "clawfleet: the push to %s did not finish within %d s: the remote has the "
			 "commit or not, never half of it (check with git fetch); scratch clone left "
			 "at %s\n",
			 r->shown, timeout_s ? timeout_s : 1, r->scratch);
	deadline_len = n > 0 && (size_t)n < sizeof(deadline_msg) ? (size_t)n : 0;
	struct sigaction sa = {.sa_handler = on_deadline}, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	alarm((unsigned)(timeout_s ? timeout_s : 1));
	int prc = git_remote_push(remote, &refspecs, &opts);
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	if (prc == GIT_ENONFASTFORWARD) {
		snprintf(r->rejected, sizeof(r->rejected), "%s", git_msg());
		rc = 1;
	} else if (prc < 0) {
		fail_git(err, r->req->url, "pushing to", r->shown);
	} else {
		rc = r->rejected[0] ? 1 : 0;
	}
	git_remote_free(remote);
	return rc;
}

/* Over a path: the objects go to INCOMING_REF, then the branch moves from the tip to the commit
 * under its lock, only while it still names the tip. */
static int push_local(struct round *r, struct cf_err *err)
{
	git_repository *remote = NULL;
	char branch[GITSOURCE_REVISION_MAX];
	snprintf(branch, sizeof(branch), "refs/heads/%s", r->req->branch);
	int rc = push(r, INCOMING_REF, err);
	if (rc != 0)
		return rc;
	if (git_repository_open_ext(&remote, r->req->url, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
		return fail_git(err, r->req->url, "opening", r->shown);
	int crc = git_reference_create_matching(NULL, remote, branch, &r->commit, 1, &r->tip,
						"clawfleet rollout");
	if (crc == GIT_EMODIFIED || crc == GIT_ELOCKED) {
		snprintf(r->rejected, sizeof(r->rejected), "%.200s moved: %.700s", branch, git_msg());
		rc = 1;
	} else if (crc < 0) {
		rc = fail_git(err, r->req->url, "updating the branch of", r->shown);
	}
	git_reference *in = NULL;
	if (git_reference_lookup(&in, remote, INCOMING_REF) == 0) {
		git_reference_delete(in);
		git_reference_free(in);
	}
	git_repository_free(remote);
	return rc;
}

/* One round on the tip just fetched: 0 pushed, 1 nothing to do, 2 rejected, -1 failed. */
static int attempt(struct round *r, struct gitsource *gs, gitwrite_edit_fn edit, void *ctx,
		   struct cf_err *err)
{
	struct gitref ref = {.branch = (char *)r->req->branch};
	struct treefiles tip = {0}, changes = {0};
	char tip_hex[41], revision[GITSOURCE_REVISION_MAX];
	int rc = -1;
	if (gitsource_resolve(gs, &ref, tip_hex, revision, err) < 0 ||
	    gitsource_read_files(gs, tip_hex, &tip, err) < 0)
		goto done;
	git_oid_fromstr(&r->tip, tip_hex);
	rc = edit(ctx, gs, tip_hex, &tip, &changes, err);
	if (rc != 0)
		goto done;
	rc = -1;
	if (make_commit(r, &changes, err) < 0)
		goto done;
	char dst[GITSOURCE_REVISION_MAX];
	snprintf(dst, sizeof(dst), "refs/heads/%s", r->req->branch);
	rc = gitsource_is_local_repo(r->req->url) ? push_local(r, err) : push(r, dst, err);
	if (rc == 1)
		rc = 2;
done:
	treefiles_free(&tip);
	treefiles_free(&changes);
	return rc;
}

static int open_scratch(struct round *r, struct gitsource **gs, const char *mirror,
			struct cf_err *err)
{
	struct gitref ref = {.branch = (char *)r->req->branch};
	if (gitsource_sync_ref(gs, r->req->url, mirror, &ref, r->req->timeout_ms, err) < 0)
		return -1;
	/* Opened again each round: the fetch child wrote new objects and refs under it. */
	git_repository_free(r->repo);
	r->repo = NULL;
	if (git_repository_open_bare(&r->repo, mirror) < 0)
		return gitsource_fail(err, "opening the clone of %s", r->shown);
	if (!r->author && git_signature_default(&r->author, r->repo) < 0)
		return cf_err_set(err, "no author: pass --author \"Name <email>\" or set user.name and "
				       "user.email in the Git configuration");
	return 0;
}

int gitwrite_commit(const struct gitwrite_request *req, gitwrite_edit_fn edit, void *ctx,
		    struct gitwrite_result *out, struct cf_err *err)
{
	char shown[2048], scratch[PATH_MAX], mirror[PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	struct round r = {.req = req, .shown = shown, .scratch = scratch};
	int rc = -1;
	shown_url(req->url, shown, sizeof(shown));
	scratch[0] = '\0';
	gitsource_global_init();
	if (req->author && parse_author(req->author, &r.author, err) < 0)
		goto done;
	if (fsutil_make_temp_dir(scratch, tmp && *tmp ? tmp : "/tmp", "clawfleet-write", 0700,
				 err) < 0 ||
	    fsutil_join(mirror, scratch, "clone", err) < 0)
		goto done;
	for (int i = 1; i <= GITWRITE_ATTEMPTS_MAX; i++) {
		struct gitsource *gs = NULL;
		if (open_scratch(&r, &gs, mirror, err) < 0) {
			gitsource_free(gs);
			goto done;
		}
		rc = attempt(&r, gs, edit, ctx, err);
		gitsource_free(gs);
		if (rc == 2) {
			rc = -1;
			continue;
		}
		if (rc == 0) {
			git_oid_tostr(out->commit, sizeof(out->commit), &r.commit);
			snprintf(out->revision, sizeof(out->revision), "%s@sha1:%s", req->branch,
				 out->commit);
			out->attempts = i;
		}
		goto done;
	}
	cf_err_set(err,
		   "the push to %s was rejected %d times (the last: %s): others keep committing to "
		   "%s; nothing was forced; run the command again",
		   shown, GITWRITE_ATTEMPTS_MAX, r.rejected, req->branch);
done:
	git_signature_free(r.author);
	git_repository_free(r.repo);
	if (scratch[0])
		fsutil_remove_tree(scratch, NULL);
	gitsource_global_shutdown();
	return rc;
}
