#include "base/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/compat.h"

extern char **environ;

#define BUF_INITIAL 4096
/* Reads per stream per wake-up: a child that writes without pause cannot starve the deadline. */
#define READS_PER_WAKE 16
/* While the child runs the loop also polls for its exit, backing off up to this many ms: its
 * output may stay open after it exits (stragglers), or close a moment before it is reapable. */
#define EXIT_POLL_MAX_MS 50
#define CMDLINE_SHOWN 200
#define TAIL_SHOWN 300

struct stream {
	int fd; /* -1 once at end of file */
	char *buf;
	size_t len, cap, max;
	bool truncated;
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static size_t key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* The inherited environment with the overlay's keys replaced: an array of borrowed pointers, built
 * before the spawn because the child may not allocate. */
static char **build_env(char *const *overlay, struct cf_err *err)
{
	size_t nenv = 0, nover = 0;
	while (environ && environ[nenv])
		nenv++;
	for (; overlay && overlay[nover]; nover++) {
		if (nover == PROC_ENV_OVERLAY_MAX) {
			cf_err_set(err, "more than %d environment overrides", PROC_ENV_OVERLAY_MAX);
			return NULL;
		}
		const char *eq = strchr(overlay[nover], '=');
		if (!eq || eq == overlay[nover]) {
			cf_err_set(err, "environment override \"%s\" is not KEY=VALUE", overlay[nover]);
			return NULL;
		}
	}
	char **envp = malloc((nenv + nover + 1) * sizeof(*envp));
	if (!envp) {
		cf_err_set(err, "out of memory");
		return NULL;
	}
	size_t n = 0;
	for (size_t i = 0; i < nenv; i++) {
		size_t klen = key_len(environ[i]);
		bool replaced = false;
		for (size_t j = 0; j < nover && !replaced; j++)
			replaced = key_len(overlay[j]) == klen &&
				   memcmp(overlay[j], environ[i], klen) == 0;
		if (!replaced)
			envp[n++] = environ[i];
	}
	for (size_t j = 0; j < nover; j++)
		envp[n++] = overlay[j];
	envp[n] = NULL;
	return envp;
}

static int stream_init(struct stream *s, size_t max, struct cf_err *err)
{
	s->fd = -1;
	s->len = 0;
	s->max = max;
	s->truncated = false;
	s->cap = max < BUF_INITIAL ? max : BUF_INITIAL;
	s->buf = malloc(s->cap + 1);
	if (!s->buf)
		return cf_err_set(err, "out of memory");
	s->buf[0] = '\0';
	return 0;
}

static void stream_close(struct stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Grows the buffer towards max; false when it is full. */
static bool stream_room(struct stream *s)
{
	if (s->len < s->cap)
		return true;
	if (s->cap >= s->max)
		return false;
	size_t cap = s->cap * 2 < s->max ? s->cap * 2 : s->max;
	char *buf = realloc(s->buf, cap + 1);
	if (!buf)
		return false;
	s->buf = buf;
	s->cap = cap;
	return true;
}

/* Reads what the pipe holds now. Past the cap (or when memory runs out) the bytes are read and
 * dropped, so the child never blocks on a full pipe. */
static void stream_read(struct stream *s)
{
	char scratch[4096];
	for (int i = 0; i < READS_PER_WAKE && s->fd >= 0; i++) {
		bool room = stream_room(s);
		char *dst = room ? s->buf + s->len : scratch;
		size_t want = room ? s->cap - s->len : sizeof(scratch);
		ssize_t n = read(s->fd, dst, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			stream_close(s);
			break;
		}
		if (room)
			s->len += (size_t)n;
		else
			s->truncated = true;
	}
	s->buf[s->len] = '\0';
}

/* Whether the child has exited, without reaping it: while it is an unreaped zombie its pid, which
 * is also its process group id, cannot be reused, so killing the group stays safe. */
static int child_exited(pid_t pid, bool *exited, struct cf_err *err)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
		if (errno != EINTR)
			return cf_err_errno(err, "waiting for child %d", (int)pid);
	}
	*exited = si.si_pid == pid;
	return 0;
}

/* 0 when path names an executable regular file, else the errno execve would fail with. */
static int executable(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return errno == ENOTDIR ? ENOENT : errno;
	if (!S_ISREG(st.st_mode))
		return EACCES;
	return access(path, X_OK) < 0 ? errno : 0;
}

static int not_runnable(const char *argv0, const char *where, int e, struct proc_result *res,
			struct cf_err *err)
{
	res->exited = true;
	res->exit_code = e == ENOENT ? PROC_EXIT_NOT_FOUND : PROC_EXIT_NOT_EXECUTABLE;
	if (e == ENOENT && where)
		return cf_err_set(err, "%s: not found at %s", base_name(argv0), where);
	if (e == ENOENT)
		return cf_err_set(err, "%s: not found in PATH", base_name(argv0));
	errno = e;
	return cf_err_errno(err, "%s: cannot run %s", base_name(argv0), where ? where : argv0);
}

/* Finds the program as execvp would (through PATH when argv0 has no "/"), here rather than in the
 * child, so a missing program is an error and never mistaken for one that exits 127. A malloc'd
 * path, or NULL with *res and *err saying why. */
static char *find_program(const char *argv0, struct proc_result *res, struct cf_err *err)
{
	char *found = NULL;
	int e;

	if (strchr(argv0, '/')) {
		e = executable(argv0);
		if (e) {
			not_runnable(argv0, argv0, e, res, err);
			return NULL;
		}
		found = strdup(argv0);
		if (!found)
			cf_err_set(err, "out of memory");
		return found;
	}
	const char *path = getenv("PATH"), *p = path && *path ? path : "/bin:/usr/bin";
	const char *denied = NULL;
	int denied_len = 0;
	for (;;) {
		const char *end = compat_strchrnul(p, ':');
		int dlen = (int)(end - p);
		/* An empty PATH entry is the current directory, as for execvp. */
		if (asprintf(&found, "%.*s/%s", dlen ? dlen : 1, dlen ? p : ".", argv0) < 0) {
			cf_err_set(err, "out of memory");
			return NULL;
		}
		e = executable(found);
		if (!e)
			return found;
		free(found);
		found = NULL;
		if (e == EACCES && !denied) {
			denied = dlen ? p : ".";
			denied_len = dlen ? dlen : 1;
		}
		if (!*end)
			break;
		p = end + 1;
	}
	if (denied) {
		char where[PATH_MAX];
		snprintf(where, sizeof(where), "%.*s/%s", denied_len, denied, argv0);
		not_runnable(argv0, where, EACCES, res, err);
	} else {
		not_runnable(argv0, NULL, ENOENT, res, err);
	}
	return NULL;
}

int proc_spawn(const char *program, char *const *argv, char *const *envp, int in_fd, int out_fd,
	       int err_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		return rc;
	if ((rc = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	rc = in_fd < 0 ? posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
		       : posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	/* Descriptors another thread opened without O_CLOEXEC must not reach the child either. */
	if (!rc)
		rc = compat_spawn_close_others(&fa, &flags);
	if (!rc)
		rc = posix_spawnattr_setflags(&attr, flags);
	if (!rc)
		rc = posix_spawnattr_setpgroup(&attr, 0);
	if (!rc)
		rc = posix_spawnattr_setsigmask(&attr, &none);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(&attr, &all);
	if (!rc)
		rc = posix_spawn(pid, program, &fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

static int spawn(const char *program, char *const *argv, char **envp, int out_w, int err_w,
		 pid_t *pid, struct proc_result *res, struct cf_err *err)
{
	int rc = proc_spawn(program, argv, envp, -1, out_w, err_w, pid);
	/* The program vanished or changed since find_program looked. */
	if (rc)
		not_runnable(argv[0], program, rc, res, err);
	return rc ? -1 : 0;
}

/* Reads both streams until the child has exited and its output is closed, or until the deadline,
 * when it kills the group. Returns 0, with *timed_out telling which; -1 when the child cannot be
 * watched (the group is killed unless the child is already gone). */
static int collect(pid_t pid, struct stream *out, struct stream *errs, int64_t deadline,
		   bool *timed_out, struct cf_err *err)
{
	bool exited = false, stragglers_killed = false, eof_seen = false;
	int tick = 1;

	*timed_out = false;
	for (;;) {
		if (!exited && child_exited(pid, &exited, err) < 0)
			return -1;
		/* The command is over; what it left in its group would hold the pipes open. */
		if (exited && !stragglers_killed) {
			kill(-pid, SIGKILL);
			stragglers_killed = true;
		}
		if (exited && out->fd < 0 && errs->fd < 0)
			break;
		int64_t left = deadline - clock_mono_ms();
		if (left <= 0) {
			*timed_out = true;
			kill(-pid, SIGKILL);
			break;
		}
		struct pollfd p[2];
		struct stream *owner[2];
		nfds_t n = 0;
		if (out->fd >= 0) {
			owner[n] = out;
			p[n++] = (struct pollfd){.fd = out->fd, .events = POLLIN};
		}
		if (errs->fd >= 0) {
			owner[n] = errs;
			p[n++] = (struct pollfd){.fd = errs->fd, .events = POLLIN};
		}
		/* The output just closed: the exit follows within moments, so look again soon. */
		if (n == 0 && !eof_seen) {
			eof_seen = true;
			tick = 1;
		}
		int wait = (int)left; /* at most the timeout, an int */
		if (!exited) {
			wait = wait < tick ? wait : tick;
			tick = tick * 2 < EXIT_POLL_MAX_MS ? tick * 2 : EXIT_POLL_MAX_MS;
		}
		int ready = poll(p, n, wait);
		if (ready < 0 && errno != EINTR) {
			cf_err_errno(err, "waiting for the output of child %d", (int)pid);
			kill(-pid, SIGKILL);
			return -1;
		}
		for (nfds_t i = 0; ready > 0 && i < n; i++)
			if (p[i].revents)
				stream_read(owner[i]);
	}
	return 0;
}

static void result_init(struct proc_result *res)
{
	memset(res, 0, sizeof(*res));
}

/* Gives *res buffers even when nothing ran, so callers can always print them. A program that
 * could not start has the reason as its stderr, as a shell would print it. */
static int result_take(struct proc_result *res, struct stream *out, struct stream *errs,
		       const char *not_started, struct cf_err *err)
{
	res->out = out->buf ? out->buf : strdup("");
	res->out_len = out->len;
	res->out_truncated = out->truncated;
	if (not_started) {
		if (asprintf(&res->err, "%s\n", not_started) < 0)
			res->err = NULL;
		res->err_len = res->err ? strlen(res->err) : 0;
		free(errs->buf);
	} else {
		res->err = errs->buf ? errs->buf : strdup("");
		res->err_len = errs->len;
		res->err_truncated = errs->truncated;
	}
	out->buf = errs->buf = NULL;
	if (!res->out || !res->err)
		return cf_err_set(err, "out of memory");
	return 0;
}

int proc_run(const struct proc_spec *spec, struct proc_result *res, struct cf_err *err)
{
	struct cf_err own;
	struct stream out = {.fd = -1}, errs = {.fd = -1};
	int outp[2] = {-1, -1}, errp[2] = {-1, -1};
	char **envp = NULL, *program = NULL;
	pid_t pid = -1;
	int rc = -1, status = 0;
	size_t argc = 0;

	result_init(res);
	/* The message of a program that cannot start is also its stderr, so it is needed here. */
	if (!err)
		err = &own;
	int64_t start = clock_mono_ms();
	int timeout = spec->timeout_ms > 0 ? spec->timeout_ms : PROC_TIMEOUT_DEFAULT_MS;
	size_t max = spec->output_max ? spec->output_max : PROC_OUTPUT_MAX;
	while (spec->argv && spec->argv[argc] && argc <= PROC_ARGS_MAX)
		argc++;
	if (argc == 0) {
		cf_err_set(err, "no command to run");
		goto done;
	}
	if (argc > PROC_ARGS_MAX) {
		cf_err_set(err, "%s: more than %d arguments", spec->argv[0], PROC_ARGS_MAX);
		goto done;
	}
	program = find_program(spec->argv[0], res, err);
	if (!program)
		goto done;
	envp = build_env(spec->env, err);
	if (!envp)
		goto done;
	if (compat_pipe2(outp, O_CLOEXEC) < 0 || compat_pipe2(errp, O_CLOEXEC) < 0) {
		cf_err_errno(err, "running %s: pipe", spec->argv[0]);
		goto done;
	}
	if (stream_init(&out, max, err) < 0 || stream_init(&errs, max, err) < 0)
		goto done;
	out.fd = outp[0];
	errs.fd = errp[0];
	outp[0] = errp[0] = -1;
	/* Only the read ends: the child's ends must block as any pipe a program is given. */
	if (fcntl(out.fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(errs.fd, F_SETFL, O_NONBLOCK) < 0) {
		cf_err_errno(err, "running %s: pipe", spec->argv[0]);
		goto done;
	}
	if (spawn(program, spec->argv, envp, outp[1], errp[1], &pid, res, err) < 0)
		goto done;
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	bool timed_out = false;
	int collected = collect(pid, &out, &errs, start + timeout, &timed_out, err);
	stream_close(&out);
	stream_close(&errs);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			cf_err_errno(err, "reaping child %d (%s)", (int)pid, spec->argv[0]);
			goto done;
		}
	}
	if (collected < 0)
		goto done;
	res->timed_out = timed_out;
	res->exited = WIFEXITED(status);
	res->exit_code = res->exited ? WEXITSTATUS(status) : 0;
	res->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	rc = 0;
done:
	res->elapsed_ms = clock_mono_ms() - start;
	if (result_take(res, &out, &errs, rc < 0 && res->exited ? err->msg : NULL, err) < 0)
		rc = -1;
	stream_close(&out);
	stream_close(&errs);
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(out.buf);
	free(errs.buf);
	free(envp);
	free(program);
	return rc;
}

/* "argv0 arg1 ...", shortened to CMDLINE_SHOWN bytes. */
static void cmdline(char *const *argv, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; argv[i] && i < PROC_ARGS_MAX && len < size; i++) {
		int n = snprintf(buf + len, size - len, "%s%s", i ? " " : "", argv[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (len >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

/* The last TAIL_SHOWN bytes of text on one line: line breaks become "; ", other control bytes
 * "?", and the cut never splits a UTF-8 sequence. */
static void tail_line(const char *text, size_t len, char *buf, size_t size)
{
	size_t o = 0;
	while (len && strchr(" \t\r\n", text[len - 1]))
		len--;
	size_t from = len > TAIL_SHOWN ? len - TAIL_SHOWN : 0;
	while (from < len && ((unsigned char)text[from] & 0xC0) == 0x80)
		from++;
	while (from < len && strchr(" \t\r\n", text[from]))
		from++;
	for (size_t i = from; i < len && o + 3 < size; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '\n') {
			while (i + 1 < len && strchr(" \t\r\n", text[i + 1]))
				i++;
			buf[o++] = ';';
			buf[o++] = ' ';
		} else if (c == '\r') {
			continue;
		} else {
			buf[o++] = c < 0x20 || c == 0x7f ? (c == '\t' ? ' ' : '?') : (char)c;
		}
	}
	buf[o] = '\0';
}

int proc_check(const struct proc_spec *spec, const struct proc_result *res, struct cf_err *err)
{
	char cmd[CMDLINE_SHOWN + 1], what[64], tail[TAIL_SHOWN * 2 + 1];
	int timeout = spec->timeout_ms > 0 ? spec->timeout_ms : PROC_TIMEOUT_DEFAULT_MS;

	if (!res->timed_out && res->exited && res->exit_code == 0)
		return 0;
	cmdline(spec->argv, cmd, sizeof(cmd));
	if (res->timed_out)
		snprintf(what, sizeof(what), "did not finish within %d ms and was killed", timeout);
	else if (res->exited)
		snprintf(what, sizeof(what), "exited with status %d", res->exit_code);
	else
		snprintf(what, sizeof(what), "was killed by signal %d", res->term_signal);
	bool use_err = res->err && strspn(res->err, " \t\r\n") < res->err_len;
	const char *text = use_err ? res->err : res->out;
	size_t len = use_err ? res->err_len : res->out_len;
	tail_line(text ? text : "", text ? len : 0, tail, sizeof(tail));
	if (tail[0])
		return cf_err_set(err, "`%s` %s: %s", cmd, what, tail);
	return cf_err_set(err, "`%s` %s", cmd, what);
}

void proc_result_free(struct proc_result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
	res->out_len = res->err_len = 0;
}
