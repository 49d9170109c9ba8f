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

static void read_some(int fd, bool *open, char *msg, size_t cap, size_t *len)
{
	char buf[512];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		*open = false;
		return;
	}
	size_t take = (size_t)n < cap - 1 - *len ? (size_t)n : cap - 1 - *len;
	memcpy(msg + *len, buf, take);
	*len += take;
	msg[*len] = '\0';
}

/* Collects the child's message and reaps it before the deadline: 0, or 1 when the deadline
 * passed and the child was killed, or -1 when waitpid fails (SIGCHLD ignored by the program). */
static int wait_child(pid_t pid, int fd, int timeout_ms, int *status, char *msg, size_t cap)
{
	int64_t deadline = clock_mono_ms() + timeout_ms;
	bool open = true, reaped = false;
	size_t len = 0;

	msg[0] = '\0';
	while (!reaped || open) {
		int64_t left = deadline - clock_mono_ms();
		if (left <= 0)
			break;
		if (open) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			int n = poll(&p, 1, (int)left);
			if (n > 0)
				read_some(fd, &open, msg, cap, &len);
			else if (n < 0 && errno != EINTR)
				open = false;
		}
		if (!reaped) {
			pid_t r = waitpid(pid, status, WNOHANG);
			if (r < 0 && errno != EINTR)
				return -1;
			reaped = r == pid;
		}
		/* The pipe closes a moment before the child becomes reapable. */
		if (!open && !reaped)
			poll(NULL, 0, left < 5 ? (int)left : 5);
	}
	if (reaped)
		return 0;
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return 1;
}

static int run_fetch(const struct fetch_job *job, int timeout_ms, struct cf_err *err)
{
	char shown[CF_ERR_MSG / 2], msg[CF_ERR_MSG], clean[CF_ERR_MSG];
	int fds[2], status = 0;

	redact(job->url, job->url, shown, sizeof(shown));
	if (pipe2(fds, O_CLOEXEC) < 0)
		return cf_err_errno(err, "fetch of %s: pipe", shown);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return cf_err_errno(err, "fetch of %s: fork", shown);
	}
	if (pid == 0) {
		close(fds[0]);
		run_child(job, parent, fds[1]);
	}
	close(fds[1]);
	int rc = wait_child(pid, fds[0], timeout_ms, &status, msg, sizeof(msg));
	close(fds[0]);
	if (rc < 0)
		return cf_err_errno(err, "fetch of %s: waiting for the fetch process", shown);
	if (rc > 0)
		return cf_err_set(err, "fetch of %s timed out after %gs", shown, timeout_ms / 1000.0);
	if (WIFSIGNALED(status))
		return cf_err_set(err, "fetch of %s: fetch process killed by signal %d", shown,
				  WTERMSIG(status));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		redact(job->url, msg[0] ? msg : "failed without a message", clean, sizeof(clean));
		return cf_err_set(err, "fetch of %s: %s", shown, clean);
	}
	return 0;
}

static int clone_mirror(const char *url, const char *mirror, const struct gitref *ref,
			int timeout_ms, struct cf_err *err)
{
	char parent[PATH_MAX], tmp[PATH_MAX];
	const char *base = split_mirror(mirror, parent);
	int rc = -1;

	if (!fsutil_absent_or_empty_dir(mirror))
		return cf_err_set(err, "mirror directory %s exists and holds no bare repository",
				  mirror);
	remove_stale_clones(mirror);
	if (fsutil_make_temp_dir(tmp, parent, base, 0700, err) < 0)
		return -1;
	struct fetch_job job = {.url = url, .dir = tmp, .create = true, .ref = ref};
	if (run_fetch(&job, timeout_ms, err) < 0)
		goto done;
	/* Only a complete clone becomes the mirror; rename replaces an empty directory. */
	rc = fsutil_install_dir(tmp, mirror, err);
done:
	if (rc < 0)
		fsutil_remove_tree(tmp, NULL);
	return rc;
}

int gitsource_sync_ref(struct gitsource **out, const char *url, const char *mirror_dir,
		       const struct gitref *ref, int timeout_ms, struct cf_err *err)
{
	int rc = -1;
	char *mirror = strdup(mirror_dir);

	*out = NULL;
	if (!mirror)
		return cf_err_set(err, "out of memory");
	/* A trailing "/" would put the temporary clone inside the mirror instead of beside it. */
	for (size_t n = strlen(mirror); n > 1 && mirror[n - 1] == '/'; n--)
		mirror[n - 1] = '\0';
	if (timeout_ms <= 0)
		timeout_ms = GITSOURCE_TIMEOUT_DEFAULT_MS;
	gitsource_global_init();
	if (holds_bare_repo(mirror)) {
		remove_stale_files(mirror);
		struct fetch_job job = {.url = url, .dir = mirror, .create = false, .ref = ref};
		if (run_fetch(&job, timeout_ms, err) < 0)
			goto done;
	} else if (clone_mirror(url, mirror, ref, timeout_ms, err) < 0) {
		goto done;
	}
	rc = gitsource_open_ext(out, mirror, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
				err);
done:
	gitsource_global_shutdown();
	free(mirror);
	return rc;
}

int gitsource_sync(struct gitsource **out, const char *url, const char *mirror_dir, int timeout_ms,
		   struct cf_err *err)
{
	return gitsource_sync_ref(out, url, mirror_dir, NULL, timeout_ms, err);
}
