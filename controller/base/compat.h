/* compat: every difference between the systems clawfleet runs on (Linux with glibc, macOS), and
 * the only file besides compat.c that may test __APPLE__, __linux__ or __GLIBC__. Everything else
 * is POSIX.1-2008 plus the six libraries, and calls these where POSIX says nothing or says too
 * little. Each function behaves the same everywhere; where a system can only approximate it the
 * comment says how. Functions that stand in for a libc call keep its conventions (0, or -1 with
 * errno), so a caller's error message can still say why.
 *
 * Durability is the one real difference: on macOS fsync(2) hands the data to the drive, which may
 * reorder or delay it; only fcntl(F_FULLFSYNC) makes it durable. compat_fsync is what every
 * "fsync before the step counts" calls. */
#ifndef CLAWFLEET_COMPAT_H
#define CLAWFLEET_COMPAT_H
#include <fcntl.h> /* O_CLOEXEC, O_NONBLOCK for compat_pipe2 and compat_socket */
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* Defined where epoll(7) exists (Linux): the benchmarks' load generator waits on thousands of
 * sockets with it, and on poll(2) elsewhere. */
#if defined(__linux__)
#define COMPAT_HAVE_EPOLL 1
#endif

/* fsync(fd) that means it: F_FULLFSYNC on macOS, falling back to fsync where the filesystem
 * refuses it (SMB, some FUSE mounts); fsync on Linux. Works on files and directories. A full
 * flush empties the whole drive cache, so it also covers what plain fsync calls before it sent. */
int compat_fsync(int fd);

/* memrchr(3) and strchrnul(3), which macOS lacks: the last c in the n bytes at s (NULL if none);
 * the first c in s or its terminating NUL. Portable code on every system. */
void *compat_memrchr(const void *s, int c, size_t n);
char *compat_strchrnul(const char *s, int c);

/* pipe2(2) and socket(2) with O_CLOEXEC and/or O_NONBLOCK in flags (no other flag). Atomic on
 * Linux; on macOS the flags are set with fcntl right after, so a process spawned by another
 * thread in between may inherit the descriptor (compat_spawn_close_others closes that gap for
 * posix_spawn). On failure nothing stays open. */
int compat_pipe2(int fds[2], int flags);
int compat_socket(int domain, int type, int protocol, int flags);

/* Makes a posix_spawn child get only the descriptors the file actions set up, which must
 * include 0, 1 and 2: closes 3 and up after them on glibc, sets POSIX_SPAWN_CLOEXEC_DEFAULT in
 * *spawn_flags (for posix_spawnattr_setflags) on macOS. Returns 0 or an errno value, as the
 * posix_spawn_* calls do. */
int compat_spawn_close_others(posix_spawn_file_actions_t *fa, short *spawn_flags);

/* close_range(first, last): closes every descriptor in [first, last]; a loop up to the
 * descriptor limit where the system has no close_range. */
int compat_close_range(unsigned first, unsigned last);

/* struct stat's modification and status-change times (st_mtim/st_ctim on Linux,
 * st_mtimespec/st_ctimespec on macOS). */
struct timespec compat_stat_mtime(const struct stat *st);
struct timespec compat_stat_ctime(const struct stat *st);

/* A condition variable whose timed waits take a deadline on CLOCK_MONOTONIC (clock_mono_ms via
 * clock_timespec), so a wall-clock jump neither cuts a wait short nor stretches it. Linux sets
 * the condition's clock; macOS has no pthread_condattr_setclock and waits for the time left
 * until the deadline instead (pthread_cond_timedwait_relative_np). Both return 0 or an errno
 * value as pthread does; the wait returns ETIMEDOUT once the deadline has passed. */
int compat_cond_init_monotonic(pthread_cond_t *cond);
int compat_cond_timedwait_monotonic(pthread_cond_t *cond, pthread_mutex_t *mu,
				    const struct timespec *deadline);

/* The size of the filesystem holding path and what an unprivileged user may still write there,
 * in bytes: statvfs on Linux, statfs on macOS (whose statvfs has 32-bit block counts and wraps
 * on a large volume). 0, or -1 with errno. */
int compat_disk_free(const char *path, uint64_t *total_bytes, uint64_t *avail_bytes);

/* Asks the allocator to keep at most n arenas for all threads: glibc gives each thread that
 * mallocs at the same time as another its own 64 MiB arena, up to 8 a core, and keeps what it
 * touched. Nothing to do on macOS, whose allocator does not grow per thread that way. */
void compat_malloc_arenas(unsigned int n);

/* Gives every allocation of at least bytes pages of its own, unmapped when it is freed. glibc
 * starts at 128 KiB and raises the threshold to the largest such block freed so far (up to
 * 32 MiB): a daemon that renders a document of megabytes each pass would from then on carve
 * every large block from its heap, zeroing the pages of a calloc that would otherwise stay
 * untouched, and leave holes there. This keeps the threshold where it is set. Nothing on
 * macOS, whose allocator maps large blocks apart already. */
void compat_malloc_map_large(size_t bytes);

/* Gives the pages the allocator holds free back to the system, in every arena: glibc keeps what
 * a process freed below its heap's top (malloc_trim returns those pages too), so a daemon whose
 * passes build and free large documents would stay at the size of its busiest moment. macOS's
 * allocator is asked to relieve its zones. */
void compat_malloc_release(void);

/* Where the running program's executable lives, as an absolute path exec can run, so that it can
 * run itself again (the fetch child) or find files installed beside it (`clawfleet demo`, the
 * simulator): /proc/self/exe on Linux (that link itself once an upgrade has replaced the file,
 * since it still names the running image), _NSGetExecutablePath resolved with realpath on macOS.
 * 0, or -1 with errno (ENAMETOOLONG past cap bytes; PATH_MAX is enough). */
int compat_self_exe_path(char *buf, size_t cap);

/* What this process has mapped, in bytes, where the kernel enforces RLIMIT_AS on it: 1 with
 * *bytes on Linux (from /proc/self/statm), 0 on macOS, which accepts the limit and ignores it
 * (a fetch child there is bounded by its deadline alone). -1 with errno. */
int compat_mapped_bytes(uint64_t *bytes);

/* Makes this process the one that reaps its descendants' orphans (Linux:
 * PR_SET_CHILD_SUBREAPER), for tests whose PID 1 never reaps. macOS has no such thing and needs
 * none (launchd reaps orphans): 0 there. 0, or -1 with errno. */
int compat_adopt_orphans(void);

/* A process holding a listening TCP socket. */
struct compat_listener {
	pid_t pid;
	char name[64]; /* its command name; "" when unknown */
};

/* The processes holding a TCP socket that listens on port (any address, IPv4 or IPv6): up to max
 * of them into out, their number in *n. A socket whose holder this user may not look at, or that
 * went away while it was looked for, is left out. Linux: the LISTEN rows of /proc/net/tcp and
 * tcp6, then the processes whose /proc/<pid>/fd links name those sockets; expected_pid is looked
 * at first and, when it holds them all, is the whole answer (one directory read instead of every
 * process's). macOS: `lsof -nP -iTCP:<port> -sTCP:LISTEN -Fpc`, bounded to a few seconds.
 * 0, or -1 with errno. */
int compat_port_listeners(int port, pid_t expected_pid, struct compat_listener *out, size_t max,
			  size_t *n);
/* The two readings compat_port_listeners is made of, pure and built everywhere: whether a row of
 * /proc/net/tcp or tcp6 is a LISTEN socket on port (and its inode), and the processes in lsof's
 * -Fpc output (up to max; returns how many). */
bool compat_parse_proc_net_tcp_row(const char *row, int port, unsigned long *inode);
size_t compat_parse_lsof(const char *text, struct compat_listener *out, size_t max);

/* Lints a property list with the system's own tool where there is one: `plutil -lint` on macOS,
 * 0 when it passes, -1 with plutil's complaint in msg; elsewhere 1 (no system linter: the
 * caller's own parse, reconcilers/plist.c, is the lint). */
int compat_plist_lint(const char *path, char *msg, size_t size);

/* Raises the soft limit on open file descriptors (RLIMIT_NOFILE) to at least need, never past
 * the hard limit, and never lowers it; *have is the soft limit after. macOS refuses a soft limit
 * past OPEN_MAX when the hard one is unlimited: the limit there is capped at OPEN_MAX. 0 when
 * *have >= need; -1 with errno (EPERM when the hard limit is below need) otherwise. */
int compat_raise_fd_limit(uint64_t need, uint64_t *have);

#endif
