#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__APPLE__)
#include <mach-o/dyld.h>
#include <sys/mount.h>
#include <sys/param.h>
#else
#include <sys/statvfs.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sys/prctl.h>
#endif

/* Where getrlimit cannot bound a loop over descriptors (RLIM_INFINITY). */
#define FD_LOOP_MAX 65536

int compat_fsync(int fd)
{
#if defined(__APPLE__)
	if (fcntl(fd, F_FULLFSYNC) == 0)
		return 0;
#endif
	return fsync(fd);
}

void *compat_memrchr(const void *s, int c, size_t n)
{
	const unsigned char *p = (const unsigned char *)s + n;
	while (p > (const unsigned char *)s)
		if (*--p == (unsigned char)c)
			return (void *)p;
	return NULL;
}

char *compat_strchrnul(const char *s, int c)
{
	while (*s && *s != (char)c)
		s++;
	return (char *)s;
}

#if !defined(__linux__)
/* Sets the flags compat_pipe2 and compat_socket take on fd, after the fact. */
static int set_fd_flags(int fd, int flags)
{
	if ((flags & O_CLOEXEC) && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	if (flags & O_NONBLOCK) {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -1;
	}
	return 0;
}

static void close_keeping_errno(int fd)
{
	int saved = errno;
	close(fd);
	errno = saved;
}
#endif

int compat_pipe2(int fds[2], int flags)
{
	if (flags & ~(O_CLOEXEC | O_NONBLOCK)) {
		errno = EINVAL;
		return -1;
	}
#if defined(__linux__)
	return pipe2(fds, flags);
#else
	if (pipe(fds) < 0)
		return -1;
	if (set_fd_flags(fds[0], flags) < 0 || set_fd_flags(fds[1], flags) < 0) {
		close_keeping_errno(fds[0]);
		close_keeping_errno(fds[1]);
		return -1;
	}
	return 0;
#endif
}

int compat_socket(int domain, int type, int protocol, int flags)
{
	if (flags & ~(O_CLOEXEC | O_NONBLOCK)) {
		errno = EINVAL;
		return -1;
	}
#if defined(__linux__)
	return socket(domain,
		      type | (flags & O_CLOEXEC ? SOCK_CLOEXEC : 0) |
			      (flags & O_NONBLOCK ? SOCK_NONBLOCK : 0),
		      protocol);
#else
	int fd = socket(domain, type, protocol);
	if (fd < 0)
		return -1;
	if (set_fd_flags(fd, flags) < 0) {
		close_keeping_errno(fd);
		return -1;
	}
	return fd;
#endif
}

int compat_spawn_close_others(posix_spawn_file_actions_t *fa, short *spawn_flags)
{
#if defined(__APPLE__)
	(void)fa;
	*spawn_flags |= POSIX_SPAWN_CLOEXEC_DEFAULT;
	return 0;
#else
	(void)spawn_flags;
	return posix_spawn_file_actions_addclosefrom_np(fa, 3);
#endif
}

int compat_close_range(unsigned first, unsigned last)
{
#if defined(__GLIBC__)
	if (close_range(first, last, 0) == 0)
		return 0;
	/* A kernel older than 5.9: the loop below. */
	if (errno != ENOSYS)
		return -1;
#endif
	struct rlimit lim;
	unsigned limit = FD_LOOP_MAX;
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
	    lim.rlim_cur < FD_LOOP_MAX)
		limit = (unsigned)lim.rlim_cur;
	for (unsigned fd = first; fd <= last && fd < limit; fd++)
		close((int)fd);
	return 0;
}

struct timespec compat_stat_mtime(const struct stat *st)
{
#if defined(__APPLE__)
	return st->st_mtimespec;
#else
	return st->st_mtim;
#endif
}

struct timespec compat_stat_ctime(const struct stat *st)
{
#if defined(__APPLE__)
	return st->st_ctimespec;
#else
	return st->st_ctim;
#endif
}

int compat_cond_init_monotonic(pthread_cond_t *cond)
{
#if defined(__APPLE__)
	return pthread_cond_init(cond, NULL);
#else
	pthread_condattr_t attr;
	int rc = pthread_condattr_init(&attr);
	if (rc != 0)
		return rc;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return rc;
#endif
}

int compat_cond_timedwait_monotonic(pthread_cond_t *cond, pthread_mutex_t *mu,
				    const struct timespec *deadline)
{
#if defined(__APPLE__)
	struct timespec now, left;
	clock_gettime(CLOCK_MONOTONIC, &now);
	left.tv_sec = deadline->tv_sec - now.tv_sec;
	left.tv_nsec = deadline->tv_nsec - now.tv_nsec;
	if (left.tv_nsec < 0) {
		left.tv_sec--;
		left.tv_nsec += 1000000000L;
	}
	if (left.tv_sec < 0)
		return ETIMEDOUT;
	return pthread_cond_timedwait_relative_np(cond, mu, &left);
#else
	return pthread_cond_timedwait(cond, mu, deadline);
#endif
}

int compat_disk_free(const char *path, uint64_t *total_bytes, uint64_t *avail_bytes)
{
#if defined(__APPLE__)
	struct statfs fs;
	if (statfs(path, &fs) < 0)
		return -1;
	*total_bytes = (uint64_t)fs.f_blocks * fs.f_bsize;
	*avail_bytes = (uint64_t)fs.f_bavail * fs.f_bsize;
#else
	struct statvfs fs;
	if (statvfs(path, &fs) < 0)
		return -1;
	*total_bytes = (uint64_t)fs.f_blocks * fs.f_frsize;
	*avail_bytes = (uint64_t)fs.f_bavail * fs.f_frsize;
#endif
	return 0;
}

void compat_malloc_one_arena(void)
{
#if defined(__GLIBC__)
	mallopt(M_ARENA_MAX, 1);
#endif
}

int compat_adopt_orphans(void)
{
#if defined(__linux__)
	return prctl(PR_SET_CHILD_SUBREAPER, 1);
#else
	return 0;
#endif
}

#if defined(__APPLE__)
int compat_self_exe_path(char *buf, size_t cap)
{
	char raw[PATH_MAX], resolved[PATH_MAX];
	uint32_t size = sizeof(raw);

	if (_NSGetExecutablePath(raw, &size) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* dyld reports the path the program was started by, which may hold "." or symlinks. */
	if (!realpath(raw, resolved))
		return -1;
	if (strlen(resolved) >= cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, resolved, strlen(resolved) + 1);
	return 0;
}
#else
#define PROC_SELF_EXE "/proc/self/exe"
#define DELETED_SUFFIX " (deleted)"

int compat_self_exe_path(char *buf, size_t cap)
{
	size_t slen = strlen(DELETED_SUFFIX);

	if (cap < sizeof(PROC_SELF_EXE)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	ssize_t n = readlink(PROC_SELF_EXE, buf, cap - 1);
	if (n < 0)
		return -1;
	if ((size_t)n == cap - 1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	buf[n] = '\0';
	/* The file was replaced (an upgrade) or removed: the link still runs what this process
	 * runs, where the path would run another version or nothing. */
	if ((size_t)n > slen && strcmp(buf + n - slen, DELETED_SUFFIX) == 0)
		snprintf(buf, cap, "%s", PROC_SELF_EXE);
	return 0;
}
#endif

int compat_mapped_bytes(uint64_t *bytes)
{
#if defined(__linux__)
	char text[128];
	unsigned long long pages = 0;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	int saved = errno;
	close(fd);
	if (n <= 0 || (text[n] = '\0', sscanf(text, "%llu", &pages) != 1)) {
		errno = n < 0 ? saved : EINVAL;
		return -1;
	}
	*bytes = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
	return 1;
#else
	*bytes = 0;
	return 0;
#endif
}

int compat_raise_fd_limit(uint64_t need, uint64_t *have)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	*have = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
	if (*have >= need)
		return 0;
	rlim_t ceiling = rl.rlim_max;
#if defined(__APPLE__)
	if (ceiling == RLIM_INFINITY || ceiling > OPEN_MAX)
		ceiling = OPEN_MAX;
#endif
	rlim_t want = ceiling != RLIM_INFINITY && ceiling < (rlim_t)need ? ceiling : (rlim_t)need;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -1;
		*have = (uint64_t)want;
	}
	if (*have >= need)
		return 0;
	errno = EPERM;
	return -1;
}
