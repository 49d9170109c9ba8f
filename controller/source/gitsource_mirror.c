#include "source/gitsource.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "source/gitsource_internal.h"

/* ---- sync: credentials never reach a message ---- */

/* Copies text to out with url's userinfo ("user:pass@" in scheme://user:pass@host/) replaced by
 * "***@" wherever it occurs, so neither the URL nor a libgit2 message quoting it leaks
 * credentials. The "@" is part of the match so that a short user name ("git") elsewhere in the
 * text survives. */
static void redact(const char *url, const char *text, char *out, size_t cap)
{
	const char *auth = strstr(url, "://"), *at = NULL;
	size_t o = 0, ulen = 0;

	if (auth) {
		auth += 3;
		for (const char *p = auth; *p && !strchr("/?#", *p); p++)
			if (*p == '@')
				at = p;
	}
	if (at)
		ulen = (size_t)(at - auth) + 1;
	while (*text && o + 1 < cap) {
		if (ulen && strncmp(text, auth, ulen) == 0) {
			int n = snprintf(out + o, cap - o, "***@");
			o = (size_t)n < cap - o ? o + (size_t)n : cap - 1;
			text += ulen;
		} else {
			out[o++] = *text++;
		}
	}
	out[o] = '\0';
}

/* ---- sync: mirror housekeeping ---- */

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static int remove_lock(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_F && has_suffix(path, ".lock"))
		unlink(path);
	return 0;
}

/* The name libgit2's indexer gives a pack while it is being received. */
static int remove_partial_pack(const char *path, const struct stat *st, int type,
			       struct FTW *ftw)
{
	(void)st;
	if (type == FTW_F && has_prefix(path + ftw->base, "pack_git2_"))
		unlink(path);
	return 0;
}

/* A child killed mid-fetch leaves its ref locks behind, and libgit2 would refuse every later
 * update of those refs; only this process uses the mirror, so any lock found is stale. Its
 * half-received packs would only waste disk. */
static void remove_stale_files(const char *mirror)
{
	char path[PATH_MAX];
	if (fsutil_join(path, mirror, "refs", NULL) == 0)
		nftw(path, remove_lock, 16, FTW_PHYS);
	if (fsutil_join(path, mirror, "packed-refs.lock", NULL) == 0)
		unlink(path);
	if (fsutil_join(path, mirror, "objects/pack", NULL) == 0)
		nftw(path, remove_partial_pack, 4, FTW_PHYS);
}

/* The directory mirror lives in, into parent; returns mirror's last component. */
static const char *split_mirror(const char *mirror, char parent[PATH_MAX])
{
	const char *slash = strrchr(mirror, '/');

	if (!slash)
		snprintf(parent, PATH_MAX, ".");
	else if (slash == mirror)
		snprintf(parent, PATH_MAX, "/");
	else
		snprintf(parent, PATH_MAX, "%.*s", (int)(slash - mirror), mirror);
	return slash ? slash + 1 : mirror;
}

/* Clones whose process died before it could clean up are siblings named <base>.tmp-XXXXXX. */
static void remove_stale_clones(const char *mirror)
{
	char parent[PATH_MAX], path[PATH_MAX];
	const char *base = split_mirror(mirror, parent);
	size_t blen = strlen(base), slen = strlen(FSUTIL_TMP_INFIX);

	DIR *dir = opendir(parent);
	if (!dir)
		return;
	struct dirent *de;
	while ((de = readdir(dir))) {
		const char *name = de->d_name;
		if (strncmp(name, base, blen) == 0 &&
		    strncmp(name + blen, FSUTIL_TMP_INFIX, slen) == 0 &&
		    strlen(name + blen + slen) == 6 && fsutil_join(path, parent, name, NULL) == 0)
			fsutil_remove_tree(path, NULL);
	}
	closedir(dir);
}

static bool holds_bare_repo(const char *dir)
{
	git_repository *repo = NULL;
	if (git_repository_open_ext(&repo, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
		return false;
	bool bare = git_repository_is_bare(repo);
	git_repository_free(repo);
	return bare;
}

/* ---- sync: the fetch, in a child process so it can be killed ---- */

struct fetch_job {
	const char *url;
	const char *dir;
	bool create;              /* init a bare repository in dir first: a clone */
	const struct gitref *ref; /* the branch or ref fetched beside the tags; NULL: tags only */
};

/* A refspec naming one ref: "+<ref>:<ref>". */
#define REFSPEC_MAX (2 * GITSOURCE_REVISION_MAX + 32)

struct refspecs {
	char one[REFSPEC_MAX];
	char *v[2];
	size_t n;
};

/* What a fetch brings: every tag (Promotions name tags that must exist, and a semver range
 * chooses among all of them) and the one branch or ref the source's ref reads, never the other
 * branches: a branch nobody reads can hold anything (a 1 GiB blob) and every fetch would pay for
 * it. A commit with no branch may be on any branch, so it alone fetches them all. */
static int fetch_refspecs(const struct gitref *ref, struct refspecs *out, char *msg, size_t cap)
{
	const char *prefix = "refs/heads/", *name = NULL;

	out->v[0] = "+refs/tags/*:refs/tags/*";
	out->n = 1;
	if (!ref)
		return 0;
	if (ref->commit && !ref->branch) {
		out->v[out->n++] = "+refs/heads/*:refs/heads/*";
		return 0;
	}
	if (ref->commit) {
		name = ref->branch;
	} else if (ref->name) {
		prefix = "";
		name = has_prefix(ref->name, "refs/tags/") ? NULL : ref->name;
	} else if (!ref->semver) {
		/* A branch, or a bare name that is a tag when one exists and else a branch. */
		name = ref->branch;
	}
	if (!name)
		return 0;
	int n = snprintf(out->one, sizeof(out->one), "+%s%s:%s%s", prefix, name, prefix, name);
	if (n < 0 || (size_t)n >= sizeof(out->one)) {
		snprintf(msg, cap, "ref %s%s is too long", prefix, name);
		return -1;
	}
	out->v[out->n++] = out->one;
	return 0;
}

/* Caps the address space the fetch may map beyond what the child inherited (the parent's heap,
 * its threads' stacks and malloc arenas: address space that fork only shares), so that an object
 * too large to hold fails its allocation at once with libgit2's "out of memory" instead of taking
 * the host's memory and then the deadline. RLIMIT_AS is enforced by Linux; macOS accepts it and
 * does not enforce it, so a port must bound the child another way: this is the one place that
 * sets the limit. libgit2 maps pack files in windows of up to 1 GiB, 8 GiB in all, by default;
 * smaller windows keep a large mirror's packs within the limit. */
static int limit_memory(char *msg, size_t cap)
{
	char buf[128];
	unsigned long long pages = 0;
	ssize_t n = -1;

	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n <= 0 || (buf[n] = '\0', sscanf(buf, "%llu", &pages) != 1)) {
		snprintf(msg, cap, "reading /proc/self/statm to limit the fetch's memory: %s",
			 n < 0 ? strerror(errno) : "no size in it");
		return -1;
	}
	rlim_t inherited = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
	struct rlimit rl = {inherited + GITSOURCE_FETCH_MEMORY_MAX,
			    inherited + GITSOURCE_FETCH_MEMORY_MAX};
	if (setrlimit(RLIMIT_AS, &rl) < 0) {
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
	struct refspecs specs;
	git_remote_create_options create;
	git_fetch_options opts;
	git_repository *repo = NULL;
	git_remote *remote = NULL;

	if (fetch_refspecs(job->ref, &specs, msg, cap) < 0)
		return -1;
	git_strarray refspecs = {specs.v, specs.n};
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

static void __attribute__((noreturn)) run_child(const struct fetch_job *job, pid_t parent, int fd)
{
	char msg[CF_ERR_MSG] = "";
	int rc = -1;

	/* A controller that dies must not leave a fetch running on its mirror. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	signal(SIGPIPE, SIG_IGN);
	/* libgit2 seeds mbedTLS's random generator once at init; a child forked from an
	 * initialized parent would reuse the parent's (and every sibling's) TLS randomness, so
	 * drop the inherited state entirely and initialize afresh. */
	while (git_libgit2_shutdown() > 0)
		;
	if (git_libgit2_init() < 0) {
		snprintf(msg, sizeof(msg), "initializing libgit2: %s", git_msg());
	} else {
		if (limit_memory(msg, sizeof(msg)) == 0)
			rc = fetch_here(job, msg, sizeof(msg));
		git_libgit2_shutdown();
	}
	/* A message that cannot be sent is not worth more: the parent reports the exit. */
	if (rc < 0)
		fsutil_write_all(fd, msg, strlen(msg));
	_exit(rc < 0 ? 1 : 0);
}

/* ---- sync: the parent's side of the fetch: start, poll, finish ---- */

#define REAP_WAIT_MS 100 /* for a child that has closed its pipe and is exiting */

struct gitsource_fetch {
	char *url;
	char *mirror;
	char tmp[PATH_MAX];	    /* a clone's temporary directory until installed; "" */
	char shown[CF_ERR_MSG / 2]; /* url with its credentials redacted */
	pid_t pid;		    /* 0 once reaped */
	int fd;			    /* the child's message; -1 once at its end */
	int status;
	int timeout_ms;
	int64_t deadline;
	char msg[CF_ERR_MSG];
	size_t len;
	int result; /* 1 while running, then 0 or -1 with failure */
	struct cf_err failure;
};

/* A clone is made beside the mirror and only a complete one is installed as the mirror. */
static int prepare_clone(struct gitsource_fetch *f, struct cf_err *err)
{
	char parent[PATH_MAX];
	const char *base = split_mirror(f->mirror, parent);

	if (!fsutil_absent_or_empty_dir(f->mirror))
		return cf_err_set(err, "mirror directory %s exists and holds no bare repository",
				  f->mirror);
	remove_stale_clones(f->mirror);
	if (fsutil_make_temp_dir(f->tmp, parent, base, 0700, err) < 0) {
		f->tmp[0] = '\0';
		return -1;
	}
	return 0;
}

int gitsource_fetch_start(struct gitsource_fetch **out, const char *url, const char *mirror_dir,
			  const struct gitref *ref, int timeout_ms, struct cf_err *err)
{
	struct gitsource_fetch *f = calloc(1, sizeof(*f));
	int fds[2];

	*out = NULL;
	if (!f)
		return cf_err_set(err, "out of memory");
	f->fd = -1;
	f->result = 1;
	f->timeout_ms = timeout_ms > 0 ? timeout_ms : GITSOURCE_TIMEOUT_DEFAULT_MS;
	f->url = strdup(url);
	f->mirror = strdup(mirror_dir);
	if (!f->url || !f->mirror) {
		gitsource_fetch_free(f);
		return cf_err_set(err, "out of memory");
	}
	/* A trailing "/" would put the temporary clone inside the mirror instead of beside it. */
	for (size_t n = strlen(f->mirror); n > 1 && f->mirror[n - 1] == '/'; n--)
		f->mirror[n - 1] = '\0';
	redact(url, url, f->shown, sizeof(f->shown));
	/* Held until the fork: the child shuts down what it inherits, and libgit2 breaks on a
	 * shutdown it was not initialized for. */
	gitsource_global_init();
	bool fetch = holds_bare_repo(f->mirror);
	if (fetch)
		remove_stale_files(f->mirror);
	else if (prepare_clone(f, err) < 0)
		goto fail;
	struct fetch_job job = {
		.url = f->url, .dir = fetch ? f->mirror : f->tmp, .create = !fetch, .ref = ref};
	if (pipe2(fds, O_CLOEXEC) < 0) {
		cf_err_errno(err, "fetch of %s: pipe", f->shown);
		goto fail;
	}
	/* Only the parent's end: the child's message is small and written once. */
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
		cf_err_errno(err, "fetch of %s: pipe", f->shown);
		close(fds[0]);
		close(fds[1]);
		goto fail;
	}
	pid_t parent = getpid();
	f->deadline = clock_mono_ms() + f->timeout_ms;
	pid_t pid = fork();
	if (pid < 0) {
		cf_err_errno(err, "fetch of %s: fork", f->shown);
		close(fds[0]);
		close(fds[1]);
		goto fail;
	}
	if (pid == 0) {
		close(fds[0]);
		run_child(&job, parent, fds[1]);
	}
	close(fds[1]);
	gitsource_global_shutdown();
	f->pid = pid;
	f->fd = fds[0];
	*out = f;
	return 0;
fail:
	gitsource_global_shutdown();
	gitsource_fetch_free(f);
	return -1;
}

/* Reads what the child has written so far without waiting; closes the pipe at its end. */
static void drain(struct gitsource_fetch *f)
{
	char buf[512];
	while (f->fd >= 0) {
		ssize_t n = read(f->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			close(f->fd);
			f->fd = -1;
			return;
		}
		size_t room = sizeof(f->msg) - 1 - f->len;
		size_t take = (size_t)n < room ? (size_t)n : room;
		memcpy(f->msg + f->len, buf, take);
		f->len += take;
		f->msg[f->len] = '\0';
	}
}

/* The outcome of a child that has been reaped; a clone that succeeded becomes the mirror. */
static int judge(struct gitsource_fetch *f)
{
	char clean[CF_ERR_MSG];
	int st = f->status;

	if (WIFSIGNALED(st))
		return cf_err_set(&f->failure, "fetch of %s: fetch process killed by signal %d",
				  f->shown, WTERMSIG(st));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		redact(f->url, f->msg[0] ? f->msg : "failed without a message", clean, sizeof(clean));
		return cf_err_set(&f->failure, "fetch of %s: %s", f->shown, clean);
	}
	if (f->tmp[0]) {
		/* rename replaces an empty directory. */
		if (fsutil_install_dir(f->tmp, f->mirror, &f->failure) < 0)
			return -1;
		f->tmp[0] = '\0';
	}
	return 0;
}

static int end(struct gitsource_fetch *f, int rc, struct cf_err *err)
{
	f->result = rc;
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	if (rc < 0 && f->tmp[0]) {
		fsutil_remove_tree(f->tmp, NULL);
		f->tmp[0] = '\0';
	}
	if (rc < 0 && err)
		*err = f->failure;
	return rc;
}

int gitsource_fetch_poll(struct gitsource_fetch *f, struct cf_err *err)
{
	if (f->result != 1) {
		if (f->result < 0 && err)
			*err = f->failure;
		return f->result;
	}
	drain(f);
	pid_t r = waitpid(f->pid, &f->status, WNOHANG);
	/* The pipe closes a moment before the child becomes reapable. */
	for (int waited = 0; r == 0 && f->fd < 0 && waited < REAP_WAIT_MS; waited++) {
		poll(NULL, 0, 1);
		r = waitpid(f->pid, &f->status, WNOHANG);
	}
	if (r < 0 && errno != EINTR) {
		/* SIGCHLD ignored by the program: the child is nobody's to reap. */
		f->pid = 0;
		cf_err_errno(&f->failure, "fetch of %s: waiting for the fetch process", f->shown);
		return end(f, -1, err);
	}
	if (r == f->pid) {
		f->pid = 0;
		drain(f);
		return end(f, judge(f), err);
	}
	if (clock_mono_ms() < f->deadline)
		return 1;
	kill(f->pid, SIGKILL);
	while (waitpid(f->pid, &f->status, 0) < 0 && errno == EINTR)
		;
	f->pid = 0;
	cf_err_set(&f->failure, "fetch of %s timed out after %gs", f->shown, f->timeout_ms / 1000.0);
	return end(f, -1, err);
}

int gitsource_fetch_fd(const struct gitsource_fetch *f)
{
	return f->result == 1 ? f->fd : -1;
}

int64_t gitsource_fetch_deadline(const struct gitsource_fetch *f)
{
	return f->deadline;
}

void gitsource_fetch_free(struct gitsource_fetch *f)
{
	if (!f)
		return;
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp[0])
		fsutil_remove_tree(f->tmp, NULL);
	free(f->url);
	free(f->mirror);
	free(f);
}

int gitsource_open_mirror(struct gitsource **out, const char *mirror_dir, struct cf_err *err)
{
	*out = NULL;
	gitsource_global_init();
	int rc = holds_bare_repo(mirror_dir)
			 ? gitsource_open_ext(out, mirror_dir,
					      GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
					      err)
			 : 1;
	gitsource_global_shutdown();
	return rc;
}

/* Waits for the fetch on its pipe, never past its deadline. */
static int fetch_wait(struct gitsource_fetch *f, struct cf_err *err)
{
	int rc;
	while ((rc = gitsource_fetch_poll(f, err)) == 1) {
		int64_t left = f->deadline - clock_mono_ms();
		struct pollfd p = {.fd = f->fd, .events = POLLIN};
		if (left < 1)
			left = 1;
		if (f->fd >= 0)
			poll(&p, 1, (int)left);
		else
			poll(NULL, 0, left < 5 ? (int)left : 5);
	}
	return rc;
}

int gitsource_sync_ref(struct gitsource **out, const char *url, const char *mirror_dir,
		       const struct gitref *ref, int timeout_ms, struct cf_err *err)
{
	struct gitsource_fetch *f = NULL;

	*out = NULL;
	if (gitsource_fetch_start(&f, url, mirror_dir, ref, timeout_ms, err) < 0)
		return -1;
	int rc = fetch_wait(f, err);
	if (rc == 0)
		rc = gitsource_open_ext(out, f->mirror,
					GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, err);
	gitsource_fetch_free(f);
	return rc;
}

int gitsource_sync(struct gitsource **out, const char *url, const char *mirror_dir, int timeout_ms,
		   struct cf_err *err)
{
	return gitsource_sync_ref(out, url, mirror_dir, NULL, timeout_ms, err);
}
