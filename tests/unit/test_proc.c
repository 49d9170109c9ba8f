/* proc: real commands through sh and coreutils. Output capture and caps, exit codes and signals,
 * the deadline killing a command and what it started, stragglers of a finished command, the
 * environment overlay, what the child does not inherit (stdin, descriptors, ignored signals),
 * missing programs, the messages proc_check writes, and commands run from several threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/compat.h"
#include "base/proc.h"

#define LONG_MS 20000
#define SHORT_MS 300

static char tmp[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "%s/clawfleet-proc.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return -1;
	/* Orphans of the commands under test become ours, so a test can reap them and tell how
	 * they died; this machine's PID 1 would leave them as zombies forever. */
	return compat_adopt_orphans() == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	/* Every command's leftover was killed; its zombie is ours to reap, not PID 1's. */
	while (waitpid(-1, NULL, 0) > 0)
		;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* Runs argv with a timeout; proc_run must succeed. */
static void run(char *const *argv, int timeout_ms, struct proc_result *res)
{
	struct proc_spec spec = {.argv = argv, .timeout_ms = timeout_ms};
	struct cf_err err = {{0}};
	int rc = proc_run(&spec, res, &err);
	if (rc != 0)
		fail_msg("proc_run %s: %s", argv[0], err.msg);
}

static void test_stdout_captured(void **state)
{
	(void)state;
	struct proc_result res;
	char *argv[] = {"echo", "hello", "world", NULL};
	run(argv, LONG_MS, &res);
	assert_string_equal(res.out, "hello world\n");
	assert_int_equal(res.out_len, 12);
	assert_string_equal(res.err, "");
	assert_true(res.exited);
	assert_int_equal(res.exit_code, 0);
	assert_false(res.timed_out);
	assert_false(res.out_truncated);
	proc_result_free(&res);
}

static void test_stderr_and_exit_code(void **state)
{
	(void)state;
	struct proc_result res;
	char *argv[] = {"sh", "-c", "echo out; echo oops >&2; exit 3", NULL};
	run(argv, LONG_MS, &res);
	assert_string_equal(res.out, "out\n");
	assert_string_equal(res.err, "oops\n");
	assert_true(res.exited);
	assert_int_equal(res.exit_code, 3);
	proc_result_free(&res);
}

static void test_killed_by_signal(void **state)
{
	(void)state;
	struct proc_result res;
	char *argv[] = {"sh", "-c", "kill -TERM $$", NULL};
	run(argv, LONG_MS, &res);
	assert_false(res.exited);
	assert_int_equal(res.term_signal, SIGTERM);
	assert_false(res.timed_out);
	proc_result_free(&res);
}

/* Past the cap the command still runs to its end (it never blocks on a full pipe), the buffer
 * holds exactly the cap and the flag is set; at the cap exactly nothing is lost. */
static void test_output_cap(void **state)
{
	(void)state;
	struct proc_result res;
	struct cf_err err = {{0}};
	char *big[] = {"sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; echo done >&2", NULL};
	struct proc_spec spec = {.argv = big, .timeout_ms = LONG_MS, .output_max = 1000};
	assert_int_equal(proc_run(&spec, &res, &err), 0);
	assert_int_equal(res.out_len, 1000);
	assert_int_equal(strlen(res.out), 1000);
	assert_true(res.out_truncated);
	assert_string_equal(res.err, "done\n");
	assert_false(res.err_truncated);
	assert_int_equal(res.exit_code, 0);
	proc_result_free(&res);

	char *exact[] = {"sh", "-c", "head -c 1000 /dev/zero | tr '\\0' y", NULL};
	spec.argv = exact;
	assert_int_equal(proc_run(&spec, &res, &err), 0);
	assert_int_equal(res.out_len, 1000);
	assert_false(res.out_truncated);
	proc_result_free(&res);

	/* The default cap. */
	spec.argv = big;
	spec.output_max = 0;
	assert_int_equal(proc_run(&spec, &res, &err), 0);
	assert_int_equal(res.out_len, PROC_OUTPUT_MAX);
	assert_true(res.out_truncated);
	proc_result_free(&res);
}

static pid_t first_pid(const char *text)
{
	long pid = strtol(text, NULL, 10);
	assert_true(pid > 1);
	return (pid_t)pid;
}

/* Whether pid is gone or a zombie, from /proc: kill(pid, 0) calls a zombie alive. */
static bool dead(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return p && (p[2] == 'Z' || p[2] == 'X');
}

/* pid was sent SIGKILL and must die; spared, it would sleep its 30 s and fail this. The wait
 * only lets the kernel deliver the signal. Reaps it when it became ours through the subreaper. */
static void assert_killed(pid_t pid)
{
	for (int i = 0; i < 1000 && !dead(pid); i++)
		usleep(10000);
	assert_true(dead(pid));
	waitpid(pid, NULL, WNOHANG);
}

static void test_timeout_kills_group(void **state)
{
	(void)state;
	struct proc_result res;
	char *argv[] = {"sh", "-c", "sleep 30 & echo $!; sleep 30", NULL};
	struct proc_spec spec = {.argv = argv, .timeout_ms = SHORT_MS};
	struct cf_err err = {{0}};
	assert_int_equal(proc_run(&spec, &res, &err), 0);
	assert_true(res.timed_out);
	assert_false(res.exited);
	assert_int_equal(res.term_signal, SIGKILL);
	assert_killed(first_pid(res.out));
	assert_int_equal(proc_check(&spec, &res, &err), -1);
	assert_non_null(strstr(err.msg, "did not finish within 300 ms and was killed"));
	proc_result_free(&res);
}

/* A command that exits leaving a child in its group does not wait for it: the straggler would
 * otherwise hold the output open until the deadline. */
static void test_stragglers_killed_after_exit(void **state)
{
	(void)state;
	struct proc_result res;
	char *argv[] = {"sh", "-c", "sleep 30 & echo $!", NULL};
	run(argv, LONG_MS, &res);
	assert_false(res.timed_out);
	assert_true(res.exited);
	assert_int_equal(res.exit_code, 0);
	assert_killed(first_pid(res.out));
	proc_result_free(&res);
}

/* A daemon that starts its own session is not part of the command and outlives it. The command
 * waits for the daemon's marker, written after setsid, so the session exists when it exits. */
static void test_own_session_survives(void **state)
{
	(void)state;
	struct proc_result res;
	char script[PATH_MAX * 3];
	snprintf(script, sizeof(script),
		 "setsid sh -c 'touch %s/daemon-up; exec sleep 30' >/dev/null 2>&1 & "
		 "until [ -e %s/daemon-up ]; do sleep 0.01; done; echo $!",
		 tmp, tmp);
	char *argv[] = {"sh", "-c", script, NULL};
	run(argv, LONG_MS, &res);
	assert_false(res.timed_out);
	assert_int_equal(res.exit_code, 0);
	pid_t pid = first_pid(res.out);
	int status;
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	proc_result_free(&res);
}

static void test_env_overlay(void **state)
{
	(void)state;
	struct proc_result res;
	struct cf_err err = {{0}};
	setenv("CF_PROC_REPLACED", "inherited", 1);
	setenv("CF_PROC_KEPT", "kept", 1);
	char *argv[] = {"sh", "-c",
			"echo \"$CF_PROC_REPLACED $CF_PROC_KEPT $OPENCLAW_PROFILE\"; "
			"env | grep -c '^CF_PROC_REPLACED='",
			NULL};
	char *env[] = {"CF_PROC_REPLACED=overlaid", "OPENCLAW_PROFILE=acme", NULL};
	struct proc_spec spec = {.argv = argv, .env = env, .timeout_ms = LONG_MS};
	assert_int_equal(proc_run(&spec, &res, &err), 0);
	assert_string_equal(res.out, "overlaid kept acme\n1\n");
	proc_result_free(&res);
	/* The caller's own environment is untouched. */
	assert_string_equal(getenv("CF_PROC_REPLACED"), "inherited");
	assert_null(getenv("OPENCLAW_PROFILE"));

	char *bad[] = {"=value", NULL};
	spec.env = bad;
	assert_int_equal(proc_run(&spec, &res, &err), -1);
	assert_string_equal(err.msg, "environment override \"=value\" is not KEY=VALUE");
	proc_result_free(&res);
	unsetenv("CF_PROC_REPLACED");
	unsetenv("CF_PROC_KEPT");
}

/* stdin is /dev/null: a program that reads it ends at once instead of waiting for the deadline. */
static void test_stdin_is_empty(void **state)
{
	(void)state;
	struct proc_result res;
	char *argv[] = {"cat", NULL};
	run(argv, LONG_MS, &res);
	assert_false(res.timed_out);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.out, "");
	proc_result_free(&res);
}

/* A descriptor opened without O_CLOEXEC (by another thread, say) does not reach the child. */
static void test_descriptors_not_inherited(void **state)
{
	(void)state;
	struct proc_result res;
	char path[PATH_MAX + 16], script[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/held-open", tmp);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 3);
	snprintf(script, sizeof(script), "readlink /proc/$$/fd/%d || echo closed", fd);
	char *argv[] = {"sh", "-c", script, NULL};
	run(argv, LONG_MS, &res);
	assert_string_equal(res.out, "closed\n");
	proc_result_free(&res);
	close(fd);
}

/* A server ignores SIGPIPE; its commands must not: `yes` then dies quietly of SIGPIPE instead of
 * complaining about a broken pipe. */
static void test_signals_default_in_child(void **state)
{
	(void)state;
	struct proc_result res;
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigaction(SIGPIPE, &ign, &old);
	char *argv[] = {"sh", "-c", "yes | head -c 1 >/dev/null", NULL};
	run(argv, LONG_MS, &res);
	sigaction(SIGPIPE, &old, NULL);
	assert_string_equal(res.err, "");
	assert_int_equal(res.exit_code, 0);
	proc_result_free(&res);
}

static void test_missing_program(void **state)
{
	(void)state;
	struct proc_result res;
	struct cf_err err = {{0}};
	char *abs_argv[] = {"/nonexistent/usr/local/bin/openclaw", "--version", NULL};
	struct proc_spec spec = {.argv = abs_argv, .timeout_ms = LONG_MS};
	assert_int_equal(proc_run(&spec, &res, &err), -1);
	assert_string_equal(err.msg, "openclaw: not found at /nonexistent/usr/local/bin/openclaw");
	assert_true(res.exited);
	assert_int_equal(res.exit_code, PROC_EXIT_NOT_FOUND);
	assert_string_equal(res.out, "");
	assert_string_equal(res.err, "openclaw: not found at /nonexistent/usr/local/bin/openclaw\n");
	proc_result_free(&res);

	/* A caller that passes no error slot still reads the reason on stderr. */
	assert_int_equal(proc_run(&spec, &res, NULL), -1);
	assert_string_equal(res.err, "openclaw: not found at /nonexistent/usr/local/bin/openclaw\n");
	proc_result_free(&res);

	char *path_argv[] = {"clawfleet-no-such-program", NULL};
	spec.argv = path_argv;
	assert_int_equal(proc_run(&spec, &res, &err), -1);
	assert_string_equal(err.msg, "clawfleet-no-such-program: not found in PATH");
	assert_int_equal(res.exit_code, PROC_EXIT_NOT_FOUND);
	proc_result_free(&res);
}

static void test_not_executable(void **state)
{
	(void)state;
	struct proc_result res;
	struct cf_err err = {{0}};
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/not-executable", tmp);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\necho hi\n", f);
	fclose(f);
	chmod(path, 0644);
	char *argv[] = {path, NULL};
	struct proc_spec spec = {.argv = argv, .timeout_ms = LONG_MS};
	assert_int_equal(proc_run(&spec, &res, &err), -1);
	assert_int_equal(res.exit_code, PROC_EXIT_NOT_EXECUTABLE);
	assert_non_null(strstr(err.msg, "not-executable: cannot run"));
	assert_non_null(strstr(err.msg, "Permission denied"));
	proc_result_free(&res);
}

static void test_check_messages(void **state)
{
	(void)state;
	struct proc_result res;
	struct cf_err err = {{0}};
	char *fails[] = {"sh", "-c",
			 "echo progress; echo 'npm error code ETARGET' >&2; "
			 "echo 'npm error notarget No matching version' >&2; exit 1",
			 NULL};
	struct proc_spec spec = {.argv = fails, .timeout_ms = LONG_MS};
	assert_int_equal(proc_run(&spec, &res, &err), 0);
	assert_int_equal(proc_check(&spec, &res, &err), -1);
	assert_string_equal(err.msg, "`sh -c echo progress; echo 'npm error code ETARGET' >&2; "
				     "echo 'npm error notarget No matching version' >&2; exit 1` "
				     "exited with status 1: npm error code ETARGET; npm error "
				     "notarget No matching version");
	proc_result_free(&res);

	/* Nothing on stderr: the tail of stdout explains. */
	char *quiet[] = {"sh", "-c", "echo 'Could not find service'; exit 113", NULL};
	spec.argv = quiet;
	assert_int_equal(proc_run(&spec, &res, &err), 0);
	assert_int_equal(proc_check(&spec, &res, &err), -1);
	assert_string_equal(err.msg, "`sh -c echo 'Could not find service'; exit 113` exited with "
				     "status 113: Could not find service");
	proc_result_free(&res);

	char *ok[] = {"true", NULL};
	spec.argv = ok;
	assert_int_equal(proc_run(&spec, &res, &err), 0);
	assert_int_equal(proc_check(&spec, &res, &err), 0);
	proc_result_free(&res);
}

static void test_empty_argv(void **state)
{
	(void)state;
	struct proc_result res;
	struct cf_err err = {{0}};
	char *argv[] = {NULL};
	struct proc_spec spec = {.argv = argv};
	assert_int_equal(proc_run(&spec, &res, &err), -1);
	assert_string_equal(err.msg, "no command to run");
	proc_result_free(&res);
}

#define THREADS 4
#define RUNS_PER_THREAD 25

static void *run_many(void *arg)
{
	long id = (long)arg;
	char word[32], want[40];
	snprintf(word, sizeof(word), "thread-%ld", id);
	snprintf(want, sizeof(want), "%s\n", word);
	for (int i = 0; i < RUNS_PER_THREAD; i++) {
		struct proc_result res;
		struct cf_err err;
		char *argv[] = {"echo", word, NULL};
		struct proc_spec spec = {.argv = argv, .timeout_ms = LONG_MS};
		bool good = proc_run(&spec, &res, &err) == 0 && strcmp(res.out, want) == 0;
		proc_result_free(&res);
		if (!good)
			return (void *)1;
	}
	return NULL;
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Commands from several threads at once each get their own output, and no descriptor leaks. */
static void test_threads(void **state)
{
	(void)state;
	pthread_t t[THREADS];
	int before = count_fds();
	for (long i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, run_many, (void *)i), 0);
	for (int i = 0; i < THREADS; i++) {
		void *ret;
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(count_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stdout_captured),
		cmocka_unit_test(test_stderr_and_exit_code),
		cmocka_unit_test(test_killed_by_signal),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_stragglers_killed_after_exit),
		cmocka_unit_test(test_own_session_survives),
		cmocka_unit_test(test_env_overlay),
		cmocka_unit_test(test_stdin_is_empty),
		cmocka_unit_test(test_descriptors_not_inherited),
		cmocka_unit_test(test_signals_default_in_child),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_not_executable),
		cmocka_unit_test(test_check_messages),
		cmocka_unit_test(test_empty_argv),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests_name("proc", tests, setup, teardown);
}
