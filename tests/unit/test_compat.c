/* compat: the stand-ins behave as the calls they replace do where those exist (memrchr and
 * strchrnul as glibc's, pipe2 and socket flags as Linux's), on the same tables on every system;
 * compat_fsync succeeds on a file and a directory and fails as fsync does on a bad descriptor;
 * a monotonic condition wait ends at its deadline; a spawned child sees only the descriptors
 * its file actions set up. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/compat.h"
#include "base/fsutil.h"

extern char **environ;

/* A descriptor number no test opens by chance, for the spawn checks. */
#define LEAK_FD 37

struct fixture {
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/cf-compat-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fsutil_remove_tree(f->dir, NULL);
	free(f);
	return 0;
}

/* glibc's memrchr on the same inputs: the offset of the match, or -1 for NULL. */
static void test_memrchr(void **state)
{
	static const struct {
		const char *s;
		size_t n;
		int c;
		long want;
	} cases[] = {
		{"a/b/c", 5, '/', 3},
		{"a/b/c", 3, '/', 1},   /* only the first n bytes count */
		{"a/b/c", 1, '/', -1},
		{"/abc", 4, '/', 0},    /* a match at the first byte */
		{"abc", 3, '/', -1},
		{"abc", 0, 'a', -1},    /* nothing to search */
		{"a\0b\0c", 5, '\0', 3}, /* NUL is a byte like any other */
		{"x\xff", 2, 0x1ff, 1},  /* c is converted to unsigned char */
		{"x\xff", 2, -1, 1},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = compat_memrchr(cases[i].s, cases[i].c, cases[i].n);
		long at = got ? (long)(got - cases[i].s) : -1;
		if (at != cases[i].want)
			fail_msg("case %zu: memrchr at %ld, want %ld", i, at, cases[i].want);
	}
}

/* glibc's strchrnul: the first c, or the terminating NUL. */
static void test_strchrnul(void **state)
{
	static const struct {
		const char *s;
		int c;
		size_t want;
	} cases[] = {
		{"/bin:/usr/bin", ':', 4},
		{"/bin", ':', 4},    /* none: the end */
		{"", ':', 0},
		{"::", ':', 0},
		{"abc", '\0', 3},    /* NUL finds the end */
		{"a\xff", 0x1ff, 1}, /* c is converted to char */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = compat_strchrnul(cases[i].s, cases[i].c);
		if ((size_t)(got - cases[i].s) != cases[i].want)
			fail_msg("case %zu: strchrnul at %td, want %zu", i, got - cases[i].s,
				 cases[i].want);
	}
}

static void assert_fd_flags(int fd, bool cloexec, bool nonblock)
{
	int fd_flags = fcntl(fd, F_GETFD), fl_flags = fcntl(fd, F_GETFL);
	assert_true(fd_flags >= 0 && fl_flags >= 0);
	assert_int_equal((fd_flags & FD_CLOEXEC) != 0, cloexec);
	assert_int_equal((fl_flags & O_NONBLOCK) != 0, nonblock);
}

static const int flag_cases[] = {0, O_CLOEXEC, O_NONBLOCK, O_CLOEXEC | O_NONBLOCK};

static void test_pipe2_flags(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(flag_cases) / sizeof(flag_cases[0]); i++) {
		int fds[2], flags = flag_cases[i];
		char c = 0;
		assert_int_equal(compat_pipe2(fds, flags), 0);
		assert_fd_flags(fds[0], flags & O_CLOEXEC, flags & O_NONBLOCK);
		assert_fd_flags(fds[1], flags & O_CLOEXEC, flags & O_NONBLOCK);
		assert_int_equal(write(fds[1], "p", 1), 1);
		assert_int_equal(read(fds[0], &c, 1), 1);
		assert_int_equal(c, 'p');
		close(fds[0]);
		close(fds[1]);
	}
	/* A flag it does not know is refused, as pipe2 refuses one. */
	int fds[2];
	errno = 0;
	assert_int_equal(compat_pipe2(fds, O_APPEND), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_socket_flags(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(flag_cases) / sizeof(flag_cases[0]); i++) {
		int flags = flag_cases[i];
		int fd = compat_socket(AF_UNIX, SOCK_STREAM, 0, flags);
		assert_true(fd >= 0);
		assert_fd_flags(fd, flags & O_CLOEXEC, flags & O_NONBLOCK);
		close(fd);
	}
	errno = 0;
	assert_int_equal(compat_socket(AF_UNIX, SOCK_STREAM, 0, O_APPEND), -1);
	assert_int_equal(errno, EINVAL);
	/* The socket call's own errors come through. */
	errno = 0;
	assert_int_equal(compat_socket(-1, SOCK_STREAM, 0, O_CLOEXEC), -1);
	assert_int_not_equal(errno, 0);
}

/* The durable path works on what it is used on: a file just written and its directory. */
static void test_fsync(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/data", f->dir);

	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fsutil_write_all(fd, "durable\n", 8), 0);
	assert_int_equal(compat_fsync(fd), 0);
	close(fd);

	fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(compat_fsync(fd), 0);
	close(fd);

	/* A closed descriptor fails as fsync does, with errno saying why. */
	errno = 0;
	assert_int_equal(compat_fsync(fd), -1);
	assert_int_equal(errno, EBADF);
}

static void test_stat_times(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/stamped", f->dir);
	assert_int_equal(fsutil_write_atomic(path, "x", 1, 0600, NULL), 0);

	const struct timespec set[2] = {{.tv_sec = 1700000000, .tv_nsec = 5},
					{.tv_sec = 1700000001, .tv_nsec = 123456789}};
	time_t before = time(NULL);
	assert_int_equal(utimensat(AT_FDCWD, path, set, 0), 0);
	assert_int_equal(stat(path, &st), 0);
	time_t after = time(NULL);

	struct timespec m = compat_stat_mtime(&st), c = compat_stat_ctime(&st);
	assert_int_equal(m.tv_sec, 1700000001);
	assert_int_equal(m.tv_nsec, 123456789);
	/* Setting the times changed the inode: its ctime is now. */
	assert_true(c.tv_sec >= before - 1 && c.tv_sec <= after + 1);
}

static void test_monotonic_wait(void **state)
{
	pthread_cond_t cond;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	(void)state;
	assert_int_equal(compat_cond_init_monotonic(&cond), 0);

	int64_t start = clock_mono_ms();
	struct timespec deadline = clock_timespec(start + 50);
	int rc = 0;
	pthread_mutex_lock(&mu);
	while (rc == 0)
		rc = compat_cond_timedwait_monotonic(&cond, &mu, &deadline);
	int64_t waited = clock_mono_ms() - start;
	assert_int_equal(rc, ETIMEDOUT);
	assert_true(waited >= 49);
	assert_true(waited < 5000);

	/* A deadline already past returns at once. */
	deadline = clock_timespec(clock_mono_ms() - 1000);
	start = clock_mono_ms();
	assert_int_equal(compat_cond_timedwait_monotonic(&cond, &mu, &deadline), ETIMEDOUT);
	assert_true(clock_mono_ms() - start < 1000);
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&cond);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_close_range(void **state)
{
	(void)state;
	int base = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(base >= 0);
	assert_int_equal(dup2(base, LEAK_FD), LEAK_FD);
	assert_int_equal(dup2(base, LEAK_FD + 1), LEAK_FD + 1);
	assert_int_equal(dup2(base, LEAK_FD + 3), LEAK_FD + 3);

	assert_int_equal(compat_close_range(LEAK_FD, LEAK_FD + 1), 0);
	assert_false(fd_open(LEAK_FD));
	assert_false(fd_open(LEAK_FD + 1));
	assert_true(fd_open(LEAK_FD + 3)); /* outside the range */
	assert_true(fd_open(base));
	close(LEAK_FD + 3);
	close(base);
}

/* Runs sh -c script with 0, 1, 2 on /dev/null, with or without compat_spawn_close_others;
 * returns its exit status. */
static int spawn_sh(const char *script, bool close_others)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	short flags = 0;
	pid_t pid;
	int status = -1;
	char *argv[] = {"sh", "-c", (char *)script, NULL};

	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawnattr_init(&attr), 0);
	for (int fd = 0; fd < 3; fd++)
		assert_int_equal(posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", O_RDWR, 0),
				 0);
	if (close_others)
		assert_int_equal(compat_spawn_close_others(&fa, &flags), 0);
	assert_int_equal(posix_spawnattr_setflags(&attr, flags), 0);
	assert_int_equal(posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_spawn_close_others(void **state)
{
	(void)state;
	/* A descriptor some other thread opened without O_CLOEXEC. */
	int base = open("/dev/null", O_RDONLY);
	assert_true(base >= 0);
	assert_int_equal(dup2(base, LEAK_FD), LEAK_FD);
	close(base);
	char script[64];
	snprintf(script, sizeof(script), "[ -e /dev/fd/%d ] && exit 1; exit 0", LEAK_FD);

	assert_int_equal(spawn_sh(script, false), 1); /* the check sees a leak */
	assert_int_equal(spawn_sh(script, true), 0);
	/* What the file actions set up does reach the child. */
	assert_int_equal(spawn_sh("[ -e /dev/fd/0 ] && [ -e /dev/fd/2 ]", true), 0);
	close(LEAK_FD);
}

static void test_disk_free(void **state)
{
	struct fixture *f = *state;
	uint64_t total = 0, avail = 0;
	char missing[PATH_MAX];

	assert_int_equal(compat_disk_free(f->dir, &total, &avail), 0);
	assert_true(total > 0);
	assert_true(avail <= total);

	snprintf(missing, sizeof(missing), "%s/missing", f->dir);
	errno = 0;
	assert_int_equal(compat_disk_free(missing, &total, &avail), -1);
	assert_int_equal(errno, ENOENT);
}

/* The descriptor limit: raised up to the hard limit, never lowered, and a need past the hard
 * limit is refused with what there is. */
static void test_raise_fd_limit(void **state)
{
	(void)state;
	struct rlimit before, after;
	uint64_t have = 0;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &before), 0);
	assert_int_equal(compat_raise_fd_limit(16, &have), 0);
	assert_true(have >= 16);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &after), 0);
	assert_true(after.rlim_cur == before.rlim_cur);
	if (before.rlim_max != RLIM_INFINITY) {
		errno = 0;
		assert_int_equal(compat_raise_fd_limit((uint64_t)before.rlim_max + 1, &have), -1);
		assert_int_equal(errno, EPERM);
		assert_true(have <= (uint64_t)before.rlim_max);
		assert_int_equal(getrlimit(RLIMIT_NOFILE, &after), 0);
		assert_true(after.rlim_cur >= before.rlim_cur);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memrchr),
		cmocka_unit_test(test_strchrnul),
		cmocka_unit_test(test_pipe2_flags),
		cmocka_unit_test(test_socket_flags),
		cmocka_unit_test_setup_teardown(test_fsync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_times, setup, teardown),
		cmocka_unit_test(test_monotonic_wait),
		cmocka_unit_test(test_close_range),
		cmocka_unit_test(test_raise_fd_limit),
		cmocka_unit_test(test_spawn_close_others),
		cmocka_unit_test_setup_teardown(test_disk_free, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
