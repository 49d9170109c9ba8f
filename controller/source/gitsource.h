/* gitsource: desired state from a Git repository through libgit2. A remote (URL or path) is
 * cloned once and then fetched into a bare mirror under a state directory; a local repository
 * path can also be opened in place. Fetches run in a child process killed after a deadline
 * (libgit2 1.5 has no network timeout) and held to a memory limit, which a caller waits for or
 * polls from its own loop; they fetch the tags and the one branch the ref reads, never fetch
 * submodules, and leave the mirror's old refs untouched on failure. Refs resolve with Flux
 * GitRepository precedence: commit > name > semver range over tags > tag > branch. Revisions
 * print as Flux does: "<ref>@sha1:<hex>" ("sha1:<hex>" for a bare commit). Files are read from
 * the commit's tree without a checkout. */
#ifndef CLAWFLEET_GITSOURCE_H
#define CLAWFLEET_GITSOURCE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "source/treefiles.h"

#define GITSOURCE_REVISION_MAX 512
#define GITSOURCE_TIMEOUT_DEFAULT_MS 60000
/* Address space a fetch process may map beyond what it inherits from its parent. */
#define GITSOURCE_FETCH_MEMORY_MAX (512u << 20)

/* Flux's spec.ref: at most one field is used, the first set in precedence order. */
struct gitref {
	char *commit; /* full or abbreviated (>= 7) hex id */
	char *name;   /* a full ref name, "refs/heads/main", "refs/pull/1/head" */
	char *semver; /* a range over tags */
	char *tag;
	char *branch;
};

/* Parses the one-string form used by `--ref` and config files:
 *   "commit:<hex>", "name:<ref>", "semver:<range>", "tag:<t>", "branch:<b>" explicitly, or a bare
 * string taken as: 40 hex digits -> commit; "refs/..." -> name; otherwise both tag and branch
 * are set and resolve uses the tag when one of that name exists, else the branch (Flux's
 * tag-over-branch precedence). */
int gitref_parse(const char *s, struct gitref *out, struct cf_err *err);
void gitref_free(struct gitref *r);

struct gitsource; /* an open repository (a mirror or a local repository) */

/* Opens a repository at path (bare or with a work tree, discovering upward). */
int gitsource_open(struct gitsource **out, const char *path, struct cf_err *err);
/* Clones url into mirror_dir (bare) when absent, else fetches into it, pruning deleted refs,
 * within timeout_ms (0: the default), waits for it and opens the result (gitsource_fetch_start
 * and the functions after it are the same fetch without waiting). What is fetched: every tag,
 * and the one branch or ref that ref reads (its branch; for name:, that ref; a commit with no
 * branch may be on any branch and fetches them all); never another branch, whatever it holds.
 * The fetch process may map GITSOURCE_FETCH_MEMORY_MAX bytes beyond what it inherits: a
 * repository with an object too large for that fails to fetch, saying so. */
int gitsource_sync_ref(struct gitsource **out, const char *url, const char *mirror_dir,
		       const struct gitref *ref, int timeout_ms, struct cf_err *err);
/* gitsource_sync_ref fetching the tags only: all the agent's pull checks out. */
int gitsource_sync(struct gitsource **out, const char *url, const char *mirror_dir, int timeout_ms,
		   struct cf_err *err);

/* A fetch under way beside its caller: the child process of gitsource_sync, started, polled and
 * finished by a loop that never waits on it. The mirror is never half-written for a reader that
 * opens it once the fetch has finished: the child writes packs under temporary names and every
 * ref through a lock file renamed into place (libgit2's refdb), and a clone is installed as the
 * mirror by one rename only when complete. While a fetch runs, refs change one by one (a branch
 * before the tags), so the mirror is read between fetches only. */
struct gitsource_fetch;

/* Starts the clone (mirror_dir absent or empty) or fetch of url into mirror_dir in a child
 * process, of what gitsource_sync_ref fetches for ref (NULL: the tags only), and returns at once; the fetch is killed at timeout_ms (0: the default). */
int gitsource_fetch_start(struct gitsource_fetch **out, const char *url, const char *mirror_dir,
			  const struct gitref *ref, int timeout_ms, struct cf_err *err);
/* Never blocks (beyond a few milliseconds for a child that is exiting): 1 while the fetch
 * runs; 0 when it has finished well (a clone is now the mirror); -1 when it failed or was
 * killed at its deadline (err says which; a clone left nothing behind, a fetch left the
 * mirror's old refs). Once finished, every call answers the same. */
int gitsource_fetch_poll(struct gitsource_fetch *f, struct cf_err *err);
/* Readable (or at its end) when the child finishes, for a loop's poll(2); -1 once it has
 * finished, or when its end has been read and only the exit is left to reap. */
int gitsource_fetch_fd(const struct gitsource_fetch *f);
/* When gitsource_fetch_poll kills it (CLOCK_MONOTONIC, ms: base/clock.h). */
int64_t gitsource_fetch_deadline(const struct gitsource_fetch *f);
/* Kills a fetch still running, reaps it, and removes a clone's partial directory. */
void gitsource_fetch_free(struct gitsource_fetch *f);
/* The hidden command `clawfleet __fetch` that runs the fetch of gitsource_fetch_start: the
 * program's main dispatches GITSOURCE_FETCH_COMMAND to gitsource_fetch_child_main (argv[0] is
 * the command). Every program that fetches runs itself for it (compat_self_exe_path, base/compat.h) and must do so
 * too, test binaries included: a fetch runs in a freshly exec'd process, never in a fork of a
 * multithreaded one (libgit2 and TLS after fork without exec are unsafe on macOS). Returns the
 * exit status. */
#define GITSOURCE_FETCH_COMMAND "__fetch"
int gitsource_fetch_child_main(int argc, char **argv);
/* Opens the bare mirror at mirror_dir as the last fetch left it: 0, or 1 when there is none
 * yet (never cloned), or -1. */
int gitsource_open_mirror(struct gitsource **out, const char *mirror_dir, struct cf_err *err);
/* True when url names a local directory holding a repository (not a URL). */
bool gitsource_is_local_repo(const char *path);

/* Resolves ref to a commit: hex id (41 bytes) and the Flux revision string. */
int gitsource_resolve(struct gitsource *gs, const struct gitref *ref, char commit_hex[41],
		      char revision[GITSOURCE_REVISION_MAX], struct cf_err *err);
/* Reads every treefiles_wanted() blob of the commit's tree into out (submodule entries and
 * symlinks are errors naming the path). */
int gitsource_read_files(struct gitsource *gs, const char *commit_hex, struct treefiles *out,
			 struct cf_err *err);
bool gitsource_tag_exists(struct gitsource *gs, const char *tag);
/* Author name <email> and message of a commit, for audit; caller frees with free(). */
int gitsource_commit_info(struct gitsource *gs, const char *commit_hex, char **author,
			  char **message, struct cf_err *err);
void gitsource_free(struct gitsource *gs);

struct git_repository;
struct git_oid;

/* The commit a full ref name (refs/tags/v1, refs/heads/main) peels to, for libgit2 callers that
 * hold their own repository (the agent's pull): 0 with *oid, 1 when the ref does not exist, -1 on
 * error. */
int gitsource_peel_ref(struct git_repository *repo, const char *refname, struct git_oid *oid,
		       struct cf_err *err);

/* Fills err with "<what>: <libgit2's last error>" and returns -1, for every libgit2 caller. */
int gitsource_fail(struct cf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* libgit2 global init/shutdown, reference counted; gitsource_open/sync call init themselves. */
void gitsource_global_init(void);
void gitsource_global_shutdown(void);
/* For a process that never verifies a TLS peer through libgit2 (the agent: its network fetches
 * run in a child process of their own, and in-process it fetches only from a local mirror):
 * frees the CA bundle libgit2 parsed when it started (Debian's libgit2 1.5 with mbedTLS keeps
 * every certificate of the system's bundle parsed, ~570 KiB), by pointing it at an empty
 * directory. After it an https fetch in this process fails certificate verification, loudly.
 * Where the TLS backend has no such setting (macOS) nothing changes. Call after
 * gitsource_global_init, while a reference is held. */
void gitsource_drop_tls_roots(void);

#endif
