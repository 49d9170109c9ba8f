/* The fetch child: `clawfleet __fetch`, started by gitsource_fetch_start (gitsource_mirror.c),
 * which owns its deadline and its result. It reads the URL from stdin, fetches with libgit2
 * under a memory limit, writes a failure's message to stdout and exits 0 or 1. It is a fresh
 * process image (libgit2 initialized here, TLS seeded here), so nothing the parent's threads
 * held at the fork can hang or corrupt it. */
#include "source/gitsource.h"

#include <errno.h>
#include <git2.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/compat.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "source/gitsource_internal.h"

/* Seconds past its deadline after which a fetch nobody killed ends itself. */
#define ORPHAN_GRACE_S 5

struct fetch_job {
	char url[GITSOURCE_FETCH_URL_MAX + 1];
	const char *dir;
	bool create; /* init a bare repository in dir first: a clone */
	char *refspecs[GITSOURCE_FETCH_REFSPECS_MAX];
	size_t nrefspecs;
	long timeout_ms;
};

/* A usage error exits 2, as every command's does (cmd/commands.h); a failed fetch 1. */
static int usage(char *msg, size_t cap, const char *what)
{
	snprintf(msg, cap, "fetch process: %s (usage: __fetch %s DIR [%s] [%s SPEC]... %s MS, "
			   "the URL on stdin)",
		 what, GITSOURCE_FETCH_ARG_DIR, GITSOURCE_FETCH_ARG_CREATE,
		 GITSOURCE_FETCH_ARG_REFSPEC, GITSOURCE_FETCH_ARG_TIMEOUT);
	return -1;
}

static int parse_args(int argc, char **argv, struct fetch_job *job, char *msg, size_t cap)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;
		if (strcmp(a, GITSOURCE_FETCH_ARG_CREATE) == 0) {
			job->create = true;
			continue;
		}
		if (!v)
			return usage(msg, cap, "an option without its value");
		i++;
		if (strcmp(a, GITSOURCE_FETCH_ARG_DIR) == 0) {
			job->dir = v;
		} else if (strcmp(a, GITSOURCE_FETCH_ARG_REFSPEC) == 0) {
			if (job->nrefspecs == GITSOURCE_FETCH_REFSPECS_MAX)
				return usage(msg, cap, "too many refspecs");
			job->refspecs[job->nrefspecs++] = argv[i];
		} else if (strcmp(a, GITSOURCE_FETCH_ARG_TIMEOUT) == 0) {
			errno = 0;
			job->timeout_ms = strtol(v, &end, 10);
			if (errno || end == v || *end || job->timeout_ms <= 0 ||
			    job->timeout_ms > (long)INT_MAX)
				return usage(msg, cap, "a timeout that is not a number of ms");
		} else {
			return usage(msg, cap, "an unknown option");
		}
	}
	if (!job->dir || !job->timeout_ms || !job->nrefspecs)
		return usage(msg, cap, "a required option is missing");
	return 0;
}

/* The URL, up to its NUL; the parent wrote it before this process started. */
static int read_url(struct fetch_job *job, char *msg, size_t cap)
{
	size_t len = 0;
	for (;;) {
		ssize_t n = read(0, job->url + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(msg, cap, "fetch process: the URL did not arrive on stdin");
			return -1;
		}
		if (job->url[len] == '\0')
			return 0;
		if (++len > GITSOURCE_FETCH_URL_MAX) {
			snprintf(msg, cap, "fetch process: the URL is longer than %d bytes",
				 GITSOURCE_FETCH_URL_MAX);
			return -1;
		}
	}
}

/* The parent holds stdin's other end for as long as it wants this fetch: when that closes (the
 * controller died, even of SIGKILL), the fetch must not go on writing the mirror. */
static void *watch_parent(void *unused)
{
	char c;
	ssize_t n;
	(void)unused;
	while ((n = read(0, &c, 1)) > 0 || (n < 0 && errno == EINTR))
		;
	_exit(1);
}

static int start_watch(char *msg, size_t cap)
{
	pthread_t t;
	int rc = pthread_create(&t, NULL, watch_parent, NULL);
	if (rc == 0)
		rc = pthread_detach(t);
	if (rc != 0) {
		snprintf(msg, cap, "fetch process: starting its watch on the controller: %s",
			 strerror(rc));
		return -1;
	}
	return 0;
}

/* Caps the address space the fetch may map beyond what the program maps at its start (its
 * libraries, stacks and, under a sanitizer, its shadow memory), so that an object too large to
 * hold fails its allocation at once with libgit2's "out of memory" instead of taking the host's
 * memory and then the deadline. libgit2 maps pack files in windows of up to 1 GiB, 8 GiB in all,
 * by default; smaller windows keep a large mirror's packs within the limit. */
static int limit_memory(char *msg, size_t cap)
{
	uint64_t base = 0;
	int enforced = compat_mapped_bytes(&base);
	if (enforced < 0) {
		snprintf(msg, cap, "reading what the fetch has mapped, to limit its memory: %s",
			 strerror(errno));
		return -1;
	}
	struct rlimit rl = {(rlim_t)(base + GITSOURCE_FETCH_MEMORY_MAX),
			    (rlim_t)(base + GITSOURCE_FETCH_MEMORY_MAX)};
	if (enforced && setrlimit(RLIMIT_AS, &rl) < 0) {
		snprintf(msg, cap, "limiting the fetch's memory: %s", strerror(errno));
		return -1;
	}
	if (git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)32 << 20) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT,
			     (size_t)GITSOURCE_FETCH_MEMORY_MAX / 4) < 0) {
		snprintf(msg, cap, "limiting libgit2's pack windows: %s", git_msg());
		return -1;
	}
	return 0;
}

static void fetch_failed(char *msg, size_t cap)
{
	const git_error *e = git_error_last();
	if (e && e->klass == GIT_ERROR_NOMEMORY)
		snprintf(msg, cap,
			 "out of memory: a fetch may map %u MiB; the fetched branch or a tag holds an "
			 "object larger than that (a file of hundreds of MiB in its history?)",
			 GITSOURCE_FETCH_MEMORY_MAX >> 20);
	else
		snprintf(msg, cap, "%s", git_msg());
}

static int fetch_here(const struct fetch_job *job, char *msg, size_t cap)
{
	git_remote_create_options create;
	git_fetch_options opts;
	git_repository *repo = NULL;
	git_remote *remote = NULL;

	git_strarray refspecs = {(char **)job->refspecs, job->nrefspecs};
	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	opts.prune = GIT_FETCH_PRUNE;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
	opts.update_fetchhead = 0;
	int rc = job->create ? git_repository_init(&repo, job->dir, 1)
			     : git_repository_open_bare(&repo, job->dir);
	/* Anonymous, so a changed URL takes effect without rewriting the mirror's config. The URL
	 * is used as given, as Flux does: no url.*.insteadOf rewriting (whose lookup in libgit2
	 * 1.5 also leaks a regex match block per config entry). */
	git_remote_create_options_init(&create, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	create.repository = repo;
	create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
	if (rc == 0)
		rc = git_remote_create_with_opts(&remote, job->url, &create);
	if (rc == 0)
		rc = git_remote_fetch(remote, &refspecs, &opts, NULL);
	if (rc < 0)
		fetch_failed(msg, cap);
	git_remote_free(remote);
	git_repository_free(repo);
	return rc < 0 ? -1 : 0;
}

int gitsource_fetch_child_main(int argc, char **argv)
{
	struct fetch_job job;
	char msg[CF_ERR_MSG] = "";
	int rc = -1, failed = 1;

	memset(&job, 0, sizeof(job));
	/* The message goes to a pipe whose reader may be gone; its exit status is what counts. */
	signal(SIGPIPE, SIG_IGN);
	if (parse_args(argc, argv, &job, msg, sizeof(msg)) < 0) {
		failed = 2;
		goto done;
	}
	/* A fetch whose parent can no longer kill it (a sibling inherited its stdin's write end
	 * in the moment before close-on-exec was set) still ends. */
	alarm((unsigned)(job.timeout_ms / 1000) + ORPHAN_GRACE_S);
	if (read_url(&job, msg, sizeof(msg)) < 0 || start_watch(msg, sizeof(msg)) < 0)
		goto done;
	if (git_libgit2_init() < 0) {
		snprintf(msg, sizeof(msg), "initializing libgit2: %s", git_msg());
		goto done;
	}
	if (limit_memory(msg, sizeof(msg)) == 0)
		rc = fetch_here(&job, msg, sizeof(msg));
	git_libgit2_shutdown();
done:
	/* A message that cannot be sent is not worth more: the parent reports the exit. */
	if (rc < 0)
		fsutil_write_all(1, msg, strlen(msg));
	return rc < 0 ? failed : 0;
}
