#include "base/compat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "base/proc.h"

#if defined(__APPLE__)
#include <mach-o/dyld.h>
#include <malloc/malloc.h>
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

void compat_malloc_arenas(unsigned int n)
{
#if defined(__GLIBC__)
	mallopt(M_ARENA_MAX, n > INT_MAX ? INT_MAX : (int)n);
#else
	(void)n;
#endif
}

void compat_malloc_map_large(size_t bytes)
{
#if defined(__GLIBC__)
	mallopt(M_MMAP_THRESHOLD, bytes > INT_MAX ? INT_MAX : (int)bytes);
#else
	(void)bytes;
#endif
}

void compat_malloc_release(void)
{
#if defined(__GLIBC__)
	malloc_trim(0);
#elif defined(__APPLE__)
	malloc_zone_pressure_relief(NULL, 0);
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

/* ---- who listens on a port ---- */

#define LISTEN_STATE 0x0A /* TCP_LISTEN in /proc/net/tcp's st column */
#define LISTEN_INODES_MAX 64
#define LSOF_TIMEOUT_MS 5000
#define PLUTIL_TIMEOUT_MS 5000

bool compat_parse_proc_net_tcp_row(const char *row, int port, unsigned long *inode)
{
	char local[128], remote[128];
	unsigned state;

	/* sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode */
	if (sscanf(row, "%*s %127s %127s %x %*s %*s %*s %*s %*s %lu", local, remote, &state,
		   inode) != 4 ||
	    state != LISTEN_STATE)
		return false;
	const char *colon = strrchr(local, ':');
	return colon && strtol(colon + 1, NULL, 16) == port && *inode;
}

size_t compat_parse_lsof(const char *text, struct compat_listener *out, size_t max)
{
	size_t n = 0;
	bool open_entry = false;

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line += !!line) {
		size_t len = strcspn(line, "\n");
		if (line[0] == 'p' && n < max) {
			out[n].pid = (pid_t)strtol(line + 1, NULL, 10);
			out[n].name[0] = '\0';
			open_entry = out[n].pid > 0;
			n += open_entry;
		} else if (line[0] == 'p') {
			open_entry = false;
		} else if (line[0] == 'c' && open_entry) {
			size_t cut = len - 1 < sizeof(out[0].name) ? len - 1 : sizeof(out[0].name) - 1;
			memcpy(out[n - 1].name, line + 1, cut);
			out[n - 1].name[cut] = '\0';
		}
	}
	return n;
}

#if defined(__APPLE__)
int compat_port_listeners(int port, pid_t expected_pid, struct compat_listener *out, size_t max,
			  size_t *n)
{
	char spec[32];
	struct proc_result res = {0};
	(void)expected_pid;
	snprintf(spec, sizeof(spec), "-iTCP:%d", port);
	char *argv[] = {"lsof", "-nP", spec, "-sTCP:LISTEN", "-Fpc", NULL};
	struct proc_spec ps = {.argv = argv, .timeout_ms = LSOF_TIMEOUT_MS};
	*n = 0;
	if (proc_run(&ps, &res, NULL) < 0 || res.timed_out || !res.exited) {
		proc_result_free(&res);
		errno = EIO;
		return -1;
	}
	/* lsof exits 1 when nothing matched. */
	*n = compat_parse_lsof(res.out, out, max);
	proc_result_free(&res);
	return 0;
}
#else
/* The LISTEN sockets on port of one table, appended to inodes; -1 when it cannot be read. A busy
 * host's table holds tens of thousands of rows: read one at a time. */
static int listen_inodes(const char *table, int port, unsigned long *inodes, size_t max,
			 size_t *n)
{
	FILE *f = fopen(table, "re");
	char *row = NULL;
	size_t cap = 0;
	unsigned long inode;

	if (!f)
		return -1;
	if (getline(&row, &cap, f) > 0) /* the column names */
		while (*n < max && getline(&row, &cap, f) > 0)
			if (compat_parse_proc_net_tcp_row(row, port, &inode))
				inodes[(*n)++] = inode;
	free(row);
	fclose(f);
	return 0;
}

/* Whether a /proc/<pid>/fd directory holds one of the inodes: marks them in seen. */
static bool holds_sockets(const char *pid_dir, const unsigned long *inodes, size_t ninodes,
			  bool *seen)
{
	char path[PATH_MAX], link[64], want[64];
	bool any = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid_dir);
	if (!(d = opendir(path)))
		return false;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid_dir, e->d_name);
		ssize_t len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		for (size_t i = 0; i < ninodes; i++) {
			snprintf(want, sizeof(want), "socket:[%lu]", inodes[i]);
			if (strcmp(link, want) == 0)
				any = seen[i] = true;
		}
	}
	closedir(d);
	return any;
}

static void add_listener(const char *pid_dir, struct compat_listener *out, size_t max, size_t *n)
{
	char path[PATH_MAX];
	int fd;

	if (*n == max)
		return;
	struct compat_listener *l = &out[(*n)++];
	l->pid = (pid_t)strtol(pid_dir, NULL, 10);
	l->name[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%s/comm", pid_dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	ssize_t len = read(fd, l->name, sizeof(l->name) - 1);
	close(fd);
	l->name[len > 0 ? len : 0] = '\0';
	l->name[strcspn(l->name, "\n")] = '\0';
}

int compat_port_listeners(int port, pid_t expected_pid, struct compat_listener *out, size_t max,
			  size_t *n)
{
	static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	unsigned long inodes[LISTEN_INODES_MAX];
	bool seen[LISTEN_INODES_MAX] = {false};
	size_t ninodes = 0;
	char pid_dir[24];

	*n = 0;
	/* tcp6 is missing where IPv6 is off */
	if (listen_inodes(tables[0], port, inodes, LISTEN_INODES_MAX, &ninodes) < 0)
		return -1;
	listen_inodes(tables[1], port, inodes, LISTEN_INODES_MAX, &ninodes);
	if (!ninodes)
		return 0;
	snprintf(pid_dir, sizeof(pid_dir), "%d", (int)expected_pid);
	if (expected_pid > 0 && holds_sockets(pid_dir, inodes, ninodes, seen)) {
		add_listener(pid_dir, out, max, n);
		size_t all = 0;
		while (all < ninodes && seen[all])
			all++;
		if (all == ninodes)
			return 0;
	}
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d)) && *n < max;) {
		if (!isdigit((unsigned char)e->d_name[0]) || strcmp(e->d_name, pid_dir) == 0)
			continue;
		if (holds_sockets(e->d_name, inodes, ninodes, seen))
			add_listener(e->d_name, out, max, n);
	}
	closedir(d);
	return 0;
}
#endif

int compat_plist_lint(const char *path, char *msg, size_t size)
{
#if defined(__APPLE__)
	struct proc_result res = {0};
	char *argv[] = {"/usr/bin/plutil", "-lint", (char *)path, NULL};
	struct proc_spec ps = {.argv = argv, .timeout_ms = PLUTIL_TIMEOUT_MS};
	struct cf_err err;
	int rc = proc_run(&ps, &res, &err) == 0 && proc_check(&ps, &res, &err) == 0 ? 0 : -1;
	if (rc < 0) {
		/* plutil says "<path>: <what is wrong>" on stdout. */
		const char *said = res.out && res.out[0] ? res.out : err.msg;
		snprintf(msg, size, "plutil -lint: %.*s", (int)strcspn(said, "\n"), said);
	}
	proc_result_free(&res);
	return rc;
#else
	(void)path;
	if (size)
		msg[0] = '\0';
	return 1;
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
