/* proc: runs one command (an argv, never a shell) and collects what it printed, bounded in time
 * and size. The child gets /dev/null as stdin, the inherited environment plus an overlay, default
 * signal dispositions, and a process group of its own. Its stdout and stderr are captured up to a
 * cap each; the rest is read and discarded. At the deadline the whole group gets SIGKILL; when the
 * command exits first, whatever it left behind in its group is killed too, so proc_run never
 * leaves a process of the command running (daemons escape only by starting their own session).
 * proc_run always reaps its child itself, so the rest of the program must not reap children it
 * did not start (no waitpid(-1), SIGCHLD not ignored). No global state; every descriptor is
 * close-on-exec and the child closes all but 0-2, so threads may run commands concurrently. */
#ifndef CLAWFLEET_PROC_H
#define CLAWFLEET_PROC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define PROC_OUTPUT_MAX (256 * 1024)
#define PROC_TIMEOUT_DEFAULT_MS 30000
#define PROC_ARGS_MAX 256
#define PROC_ENV_OVERLAY_MAX 64

/* Exit statuses as the shell reports them when it cannot run a program. */
#define PROC_EXIT_NOT_FOUND 127
#define PROC_EXIT_NOT_EXECUTABLE 126

struct proc_spec {
	char *const *argv; /* NULL-terminated; argv[0] without "/" is searched in PATH */
	char *const *env;  /* KEY=VALUE added to, or replacing in, the environment; may be NULL */
	int timeout_ms;	   /* <= 0: PROC_TIMEOUT_DEFAULT_MS */
	size_t output_max; /* per stream; 0: PROC_OUTPUT_MAX */
};

struct proc_result {
	char *out, *err; /* NUL-terminated, never NULL after proc_run; free with proc_result_free */
	size_t out_len, err_len;
	bool out_truncated, err_truncated;
	/* The deadline passed before the command exited and closed its output; the group was killed. */
	bool timed_out;
	bool exited;   /* exit_code is valid; else the child died of term_signal */
	int exit_code; /* PROC_EXIT_NOT_FOUND / _NOT_EXECUTABLE when it could not be started */
	int term_signal;
	int64_t elapsed_ms;
};

/* 0 when the command ran and was reaped, whatever its status (check timed_out, exited and
 * exit_code, or call proc_check). -1 with *err set when it could not run: a missing program
 * ("openclaw: not found at /usr/local/bin/openclaw", exit_code 127, the message also in res->err
 * as a shell prints it), a program that is not executable (126, likewise), or a resource
 * failure. *res is filled in either case. */
int proc_run(const struct proc_spec *spec, struct proc_result *res, struct cf_err *err);
/* 0 when the command exited with status 0; else -1 and a message naming the command, how it
 * ended and the tail of what it printed on stderr (or stdout). */
int proc_check(const struct proc_spec *spec, const struct proc_result *res, struct cf_err *err);
void proc_result_free(struct proc_result *res);

/* The one way clawfleet starts a process (proc_run and the children a loop polls: the Git fetch,
 * the rollback write-back): program with argv and envp, standard input, output and error on
 * in_fd (-1: /dev/null), out_fd and err_fd and no other descriptor, in a process group of its
 * own so that a deadline kills all it started, with default signal dispositions and none blocked
 * (a server ignores SIGPIPE; its child must not). Returns 0 with *pid, or an errno value. */
int proc_spawn(const char *program, char *const *argv, char *const *envp, int in_fd, int out_fd,
	       int err_fd, pid_t *pid);

#endif
