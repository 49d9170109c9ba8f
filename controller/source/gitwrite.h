/* gitwrite: one commit that edits files on a branch of a Git remote, pushed with libgit2 and never
 * forced, for the commands that operate the fleet through Git (`clawfleet rollout`). The branch
 * and every tag are fetched into a scratch clone (gitsource's bounded fetch child), the edit
 * callback turns the files at the tip into the files to commit, one commit is made on top of the
 * tip and pushed as a fast-forward. When the remote moved meanwhile (another pusher), the push is
 * rejected, and the whole round runs again on the new tip: fetch, edit, commit, push, at most
 * GITWRITE_ATTEMPTS_MAX times; nothing is ever forced, so the other commit always stays.
 *
 * The remote is a URL or a local repository path. Over a URL the server checks the fast-forward
 * when it updates the branch; over a path the branch is updated here, under its lock, only while
 * it still names the tip the commit was made on (libgit2's own local push would overwrite it). A
 * URL's credentials are what libgit2 takes from it (https://user:token@host/...); an SSH agent or
 * key is not used. Messages never show a URL's credentials.
 *
 * Deadlines: each fetch is killed at timeout_ms; the push runs in this process (libgit2 1.5 has
 * no network timeout) under an alarm whose handler prints why and exits the process with status 1.
 * That is only safe in a one-shot command, which is the only user: the remote updates a branch
 * atomically (it has the commit or not), and the scratch clone is all that is left behind (its path
 * is in the message). A daemon must not call gitwrite_commit. */
#ifndef CLAWFLEET_GITWRITE_H
#define CLAWFLEET_GITWRITE_H
#include "base/err.h"
#include "source/gitsource.h"
#include "source/treefiles.h"

#define GITWRITE_ATTEMPTS_MAX 5

/* The edit, pure: from the files at the tip (treefiles_wanted's, and any other commit of the
 * scratch clone through gs, every tag included), the files to write (path and whole new content)
 * into changes. Returns 0 with changes, 1 when the tip already is as wanted (nothing to commit),
 * -1 with err. Called once per attempt, each time on the new tip. */
typedef int (*gitwrite_edit_fn)(void *ctx, struct gitsource *gs, const char *tip_hex,
				const struct treefiles *tip, struct treefiles *changes,
				struct cf_err *err);

struct gitwrite_request {
	const char *url;     /* a remote URL or a local repository path */
	const char *branch;  /* the branch the commit goes on */
	const char *author;  /* "Name <email>"; NULL: the Git configuration's user.name, user.email */
	const char *message; /* the whole commit message, trailers included */
	int timeout_ms;	     /* each fetch and each push; 0: GITSOURCE_TIMEOUT_DEFAULT_MS */
};

struct gitwrite_result {
	char commit[41];
	char revision[GITSOURCE_REVISION_MAX]; /* "<branch>@sha1:<hex>", as /status shows it */
	int attempts;			       /* rounds it took: 1 unless the remote moved */
};

/* 0: pushed (out filled); 1: nothing to do; -1: err says why, nothing was pushed. */
int gitwrite_commit(const struct gitwrite_request *req, gitwrite_edit_fn edit, void *ctx,
		    struct gitwrite_result *out, struct cf_err *err);

#endif
