/* source: where desired state comes from, behind one interface: a directory (a working tree,
 * no Git needed), a local Git repository opened in place, or a remote Git URL mirrored into a
 * bare repository under a state directory. source_open connects (and for a URL fetches, under
 * the fetch watchdog, unless spec.background asks for the fetch beside the caller's loop);
 * source_resolve turns the ref into a commit cheaply, so a caller can skip source_read when the
 * commit has not changed.
 *
 * In the background, a URL source is fetched by a child process the caller's loop tends
 * (source_fetch_tend) and never waits on: every interval while fetches succeed, backed off
 * (base/backoff.h, from the interval doubling to 5 minutes, with jitter) while they fail; the
 * mirror is read only between fetches, as the last one that finished left it, and before the
 * first clone there is nothing to read (source_readable false). A hung remote therefore costs
 * the loop nothing but staleness, which source_fetch_info reports. */
#ifndef CLAWFLEET_SOURCE_H
#define CLAWFLEET_SOURCE_H
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "source/gitsource.h"
#include "source/treefiles.h"

#define SOURCE_RETRY_MAX_MS (5 * 60 * 1000) /* the backoff's cap, unless the interval is longer */

struct source_spec {
	const char *location; /* a path or a URL */
	const char *ref;      /* gitref_parse syntax; NULL: "main" for Git sources */
	bool force_git;       /* read a non-bare repository path through Git, not its work tree */
	const char *mirror_dir; /* where a URL is mirrored; NULL: a temporary directory */
	int timeout_ms;       /* fetch deadline; 0: the default (60 s) */
	bool background;      /* a URL is fetched by source_fetch_tend, not by source_open */
	int64_t interval_ms;  /* background: between fetches, and the backoff's first delay */
};

/* What the fetches of a background URL source have done; times are CLOCK_MONOTONIC ms
 * (base/clock.h) unless they say epoch. */
struct source_fetch_info {
	bool remote;		 /* a background URL source; false: read live, never stale */
	bool fetching;		 /* a fetch is running */
	int64_t opened_mono_ms;	 /* when the source was opened */
	int64_t started_mono_ms; /* when the running or last fetch started */
	int64_t next_mono_ms;	 /* when the next fetch starts (no fetch running) */
	int64_t last_end_epoch_ms; /* when the last fetch ended; 0: none yet */
	bool last_ok;		 /* the last fetch ended well */
	int64_t last_ok_mono_ms; /* when a fetch last ended well; 0: none yet */
	double last_seconds;	 /* how long the last fetch took */
	unsigned int failures;	 /* fetches failed in a row */
	char error[CF_ERR_MSG];	 /* why the last fetch failed; "" after one that did not */
	char revision[GITSOURCE_REVISION_MAX]; /* the ref in the mirror; "" unknown */
};

struct source {
	bool is_git;
	struct gitsource *gs; /* NULL for a background URL source not cloned yet */
	struct gitref ref;
	char *dir;         /* directory mode */
	char *tmp_mirror;  /* removed by source_free */
	char *mirror;      /* a background URL source's mirror */
	struct gitsource_fetch *fetch; /* the fetch running; NULL: none */
	struct source_fetch_info info;
	unsigned int seed; /* the backoff's jitter */
};

/* Whether source_open reads spec through Git (a URL, force_git, or a bare repository), so that
 * a caller can start libgit2 (gitsource_global_init) ahead, beside other work. */
bool source_reads_git(const struct source_spec *spec);
int source_open(struct source **out, const struct source_spec *spec, struct cf_err *err);
/* Git: the commit and the Flux revision; directory: commit "" and revision "dir:<path>". */
int source_resolve(struct source *src, char commit[41], char revision[GITSOURCE_REVISION_MAX],
		   struct cf_err *err);
int source_read(struct source *src, const char *commit, struct treefiles *out, struct cf_err *err);
/* Whether a tag exists (Git sources); directory sources answer true (nothing to check). */
bool source_tag_exists(void *src, const char *tag);
void source_free(struct source *src);

enum source_fetch_event {
	SOURCE_FETCH_NONE = 0,	 /* nothing finished (a fetch may have started) */
	SOURCE_FETCH_DONE = 1,	 /* a fetch finished well: the mirror is open at its new refs */
	SOURCE_FETCH_FAILED = 2, /* a fetch failed or was killed at its deadline: err says why */
};

/* Background URL sources (others: SOURCE_FETCH_NONE at once): finishes a fetch that has ended,
 * kills one past its deadline, and, when start is true and no fetch runs, starts the next one
 * once it is due (a fetch that cannot start counts as failed). Never waits on the remote. */
enum source_fetch_event source_fetch_tend(struct source *src, const struct source_spec *spec,
					  bool start, struct cf_err *err);
/* True when the source can be read now: read live, or a mirror exists and no fetch runs. */
bool source_readable(const struct source *src);
/* When source_fetch_tend next has something to do (CLOCK_MONOTONIC ms): the running fetch's
 * deadline, else the next fetch; INT64_MAX for a source read live. */
int64_t source_fetch_due_ms(const struct source *src);
/* Readable when the running fetch ends, for the caller's poll(2); -1 when none runs. */
int source_fetch_fd(const struct source *src);
/* The delay before the next fetch after failures (>= 1) failed in a row: backoff_ms from
 * interval_ms, capped at SOURCE_RETRY_MAX_MS or the interval when that is longer. */
int64_t source_retry_ms(int64_t interval_ms, unsigned int failures, unsigned int *seed);

#endif
