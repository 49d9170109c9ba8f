/* artifact_cache: the agent's content-addressed store of the npm tarballs it installs
 * (<state>/artifacts). An entry is <dir>/<sha256>/<file>: the tarball as `npm pack` wrote it,
 * under npm's own name (openclaw-2026.7.1.tgz), in a directory named by the sha256 of its bytes,
 * the digest openclaw.lock pins as openclaw.sha256. Why: a package that is not the bytes the lock
 * names is refused before anything installs, and a rollback reinstalls the previous build's exact
 * bytes with no registry.
 *
 * Entries appear whole: a fetch fills a temporary directory that is verified, then put in place
 * by one rename (fsutil_install_dir); a refused fetch leaves nothing. An entry is verified again
 * each time it is used: one whose bytes no longer hash to its name (truncated, corrupt, edited)
 * is removed and reads as missing, so the caller fetches it again. builds.json,
 * {"current":"<sha256>","previous":"<sha256>"}, names the build installed and the one before it
 * (written atomically); artifact_cache_evict keeps the entries' total size at or under max_bytes,
 * the least recently used first (each use refreshes an entry's directory mtime), and never
 * removes those two, even when they alone pass the limit. One caller at a time per directory (the
 * agent's one pass). */
#ifndef CLAWFLEET_ARTIFACT_CACHE_H
#define CLAWFLEET_ARTIFACT_CACHE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Returned by artifact_cache_fetch when the fetched bytes are not the pinned digest. */
#define ARTIFACT_DIGEST_MISMATCH (-2)
#define ARTIFACT_CACHE_BUILDS_FILE "builds.json"
#define ARTIFACT_CACHE_DEFAULT_MAX_BYTES ((int64_t)1024 * 1024 * 1024)

struct artifact_cache {
	const char *dir;   /* made on first use */
	int64_t max_bytes; /* <= 0: ARTIFACT_CACHE_DEFAULT_MAX_BYTES */
};

/* Fills tmp_dir (an empty directory) with exactly one regular file, the artifact. */
typedef int (*artifact_fetch_fn)(void *ctx, const char *tmp_dir, struct cf_err *err);

/* The sha256 of a file's bytes as 64 lower-case hex digits. */
int artifact_sha256_file(const char *path, char out[65], struct cf_err *err);
/* 1 with *path (malloc'd) when the entry for sha256 is there and its bytes hash to it (its mtime
 * is refreshed); 0 when there is none, *removed telling whether a corrupt one was just removed. */
int artifact_cache_lookup(const struct artifact_cache *c, const char *sha256, char **path,
			  bool *removed, struct cf_err *err);
/* Runs fetch into a temporary directory of the cache and keeps the file as the entry for sha256
 * when its bytes hash to it (*path, malloc'd). ARTIFACT_DIGEST_MISMATCH, nothing kept, with err
 * naming `what` and both digests when they differ; -1 for any other failure. */
int artifact_cache_fetch(const struct artifact_cache *c, const char *sha256, const char *what,
			 artifact_fetch_fn fetch, void *ctx, char **path, struct cf_err *err);
/* The current and previous builds builds.json names, "" for none (no file, or one unreadable). */
void artifact_cache_builds(const struct artifact_cache *c, char current[65], char previous[65]);
/* Records sha256 as the current build; the one current until now becomes the previous. */
int artifact_cache_set_current(const struct artifact_cache *c, const char *sha256,
			       struct cf_err *err);
/* Removes entries, least recently used first, until the total is at or under max_bytes, never
 * the current or previous build; also the temporary directories of fetches a crash cut short.
 * *evicted (may be NULL) counts the entries removed. */
int artifact_cache_evict(const struct artifact_cache *c, size_t *evicted, struct cf_err *err);

#endif
