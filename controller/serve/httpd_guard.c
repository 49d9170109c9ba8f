#include "serve/httpd_guard.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/compat.h"
#include "base/netaddr.h"
#include "serve/httpd.h"

/* One connection the guard counts and the watchdog keeps an eye on; the socket context
 * libmicrohttpd holds for it. */
struct watched {
	struct watched *prev, *next;
	int fd;
	int family;
	unsigned char addr[16];	/* the client's, to count connections per address */
	uint64_t deadline_ms;	/* monotonic */
	bool refused;		/* answered 503 and shut down: never served, not counted */
	bool answering;		/* an answer is queued: no deadline */
	bool cut;		/* shut down already; libmicrohttpd has yet to close it */
};

struct httpd_guard {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t watchdog;
	struct watched *head;
	unsigned int admitted;	/* admitted connections libmicrohttpd has yet to close */
	unsigned int refusing;	/* refused ones it has yet to close */
	unsigned int max_connections;
	unsigned int shared;	/* what clients outside the reserve may hold in all */
	unsigned int per_client;
	unsigned int deadline_ms;
	unsigned int tick_ms;
	struct netaddr_block *blocks;	/* reserve_for */
	size_t nblocks;
	bool stopping;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool local_host(const struct sockaddr *addr, socklen_t addrlen)
{
	if (addr->sa_family == AF_INET && addrlen >= (socklen_t)sizeof(struct sockaddr_in))
		return ((const struct sockaddr_in *)addr)->sin_addr.s_addr ==
		       htonl(INADDR_LOOPBACK);
	if (addr->sa_family == AF_INET6 && addrlen >= (socklen_t)sizeof(struct sockaddr_in6))
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)addr)->sin6_addr);
	return false;
}

/* Whether addr may take the kept slots. The blocks are fixed from start: no lock. */
static bool reserved(const struct httpd_guard *guard, const struct sockaddr *addr,
		     socklen_t addrlen)
{
	if (local_host(addr, addrlen))
		return true;
	for (size_t i = 0; i < guard->nblocks; i++)
		if (netaddr_block_contains(&guard->blocks[i], addr, addrlen))
			return true;
	return false;
}

static socklen_t addr_len(const struct sockaddr *addr)
{
	return addr->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
					   : (socklen_t)sizeof(struct sockaddr_in);
}

static void copy_client(struct watched *w, const struct sockaddr *addr)
{
	w->family = addr->sa_family;
	if (addr->sa_family == AF_INET)
		memcpy(w->addr, &((const struct sockaddr_in *)addr)->sin_addr, 4);
	else if (addr->sa_family == AF_INET6)
		memcpy(w->addr, ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr, 16);
}

/* Admitted connections from w's address; the lock is held. One pass over at most
 * max_connections entries, at accept only. */
static unsigned int from_same_client(const struct httpd_guard *guard, const struct watched *w)
{
	unsigned int n = 0;
	for (const struct watched *o = guard->head; o; o = o->next)
		n += !o->refused && o->family == w->family &&
		     memcmp(o->addr, w->addr, sizeof(w->addr)) == 0;
	return n;
}

unsigned int httpd_guard_mhd_limit(const struct httpd_guard_config *cfg)
{
	return cfg->max_connections + 2 * HTTPD_REFUSALS_MAX;
}

/* Closes at once only when the server is full and refusals are at their limit too; every other
 * verdict waits for httpd_guard_notify, which knows the connection. */
enum MHD_Result httpd_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct httpd_guard *guard = cls;
	if (reserved(guard, addr, addrlen))
		return MHD_YES;
	pthread_mutex_lock(&guard->lock);
	bool room = guard->admitted < guard->shared || guard->refusing < HTTPD_REFUSALS_MAX;
	pthread_mutex_unlock(&guard->lock);
	return room ? MHD_YES : MHD_NO;
}

/* The 503 as bytes on the wire: a new socket's send buffer takes it whole, so one non-blocking
 * send either writes it or the client is gone. */
static void refuse(int fd, const char *reason)
{
	char body[256], reply[512];
	int blen = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", reason);
	int len = snprintf(reply, sizeof(reply),
			   "HTTP/1.1 503 Service Unavailable\r\n"
			   "Content-Type: application/json\r\n"
			   "Retry-After: %d\r\n"
			   "Connection: close\r\n"
			   "Content-Length: %d\r\n\r\n%s",
			   HTTPD_RETRY_AFTER_SEC, blen, body);
	if (len > 0 && (size_t)len < sizeof(reply))
		send(fd, reply, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_RDWR);
}

/* Admits or refuses a new connection; the lock is held. NULL reason: admitted. */
static const char *verdict(struct httpd_guard *guard, const struct watched *w, bool kept_slots,
			   char *why, size_t size)
{
	if (guard->admitted >= (kept_slots ? guard->max_connections : guard->shared))
		return "the server is at its connection limit; retry later";
	if (from_same_client(guard, w) >= guard->per_client) {
		snprintf(why, size,
			 "this address holds %u connections already, the most one client may; "
			 "reuse them or retry later",
			 guard->per_client);
		return why;
	}
	return NULL;
}

void httpd_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			enum MHD_ConnectionNotificationCode toe)
{
	struct httpd_guard *guard = cls;
	struct watched *w = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd_info =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *addr_info =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		char why[160];
		*socket_context = NULL;
		if (!fd_info)
			return;
		/* Without memory the connection cannot be counted: it is closed unanswered. */
		w = addr_info ? calloc(1, sizeof(*w)) : NULL;
		if (!w) {
			shutdown(fd_info->connect_fd, SHUT_RDWR);
			return;
		}
		const struct sockaddr *addr = addr_info->client_addr;
		bool kept_slots = reserved(guard, addr, addr_len(addr));
		w->fd = fd_info->connect_fd;
		copy_client(w, addr);
		pthread_mutex_lock(&guard->lock);
		const char *reason = verdict(guard, w, kept_slots, why, sizeof(why));
		if (reason && guard->refusing >= HTTPD_REFUSALS_MAX) {
			pthread_mutex_unlock(&guard->lock);
			free(w);
			shutdown(fd_info->connect_fd, SHUT_RDWR);
			return;
		}
		w->refused = reason != NULL;
		w->cut = w->refused;
		if (w->refused)
			guard->refusing++;
		else
			guard->admitted++;
		w->deadline_ms = now_ms() + guard->deadline_ms;
		w->next = guard->head;
		if (guard->head)
			guard->head->prev = w;
		guard->head = w;
		pthread_mutex_unlock(&guard->lock);
		if (reason)
			refuse(w->fd, reason);
		*socket_context = w;
		return;
	}
	/* Closed: libmicrohttpd closes the socket after this returns, so the watchdog never shuts
	 * down a descriptor that was reused. */
	if (!w)
		return;
	pthread_mutex_lock(&guard->lock);
	if (w->refused)
		guard->refusing--;
	else
		guard->admitted--;
	if (w->prev)
		w->prev->next = w->next;
	else
		guard->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&guard->lock);
	free(w);
	*socket_context = NULL;
}

static struct watched *watched_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info ? info->socket_context : NULL;
}

/* refused is set before the connection is handed back to libmicrohttpd and never changes. */
bool httpd_guard_admitted(struct MHD_Connection *conn)
{
	const struct watched *w = watched_of(conn);
	return w && !w->refused;
}

/* The flag is read by the watchdog under the guard's lock, which the caller does not hold:
 * a relaxed atomic store keeps that race benign (at worst one more tick of deadline). */
void httpd_guard_answering(struct MHD_Connection *conn)
{
	struct watched *w = watched_of(conn);
	if (w)
		__atomic_store_n(&w->answering, true, __ATOMIC_RELAXED);
}

void httpd_guard_answered(struct httpd_guard *guard, struct MHD_Connection *conn)
{
	struct watched *w = watched_of(conn);
	if (!w)
		return;
	pthread_mutex_lock(&guard->lock);
	w->deadline_ms = now_ms() + guard->deadline_ms;
	__atomic_store_n(&w->answering, false, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&guard->lock);
}

static void *watchdog(void *arg)
{
	struct httpd_guard *guard = arg;
	pthread_mutex_lock(&guard->lock);
	while (!guard->stopping) {
		uint64_t now = now_ms();
		for (struct watched *w = guard->head; w; w = w->next) {
			if (w->cut || __atomic_load_n(&w->answering, __ATOMIC_RELAXED) ||
			    now < w->deadline_ms)
				continue;
			shutdown(w->fd, SHUT_RDWR);
			w->cut = true;
		}
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)guard->tick_ms * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		int rc = 0;
		while (!guard->stopping && rc != ETIMEDOUT)
			rc = compat_cond_timedwait_monotonic(&guard->wake, &guard->lock, &until);
	}
	pthread_mutex_unlock(&guard->lock);
	return NULL;
}

static int parse_blocks(struct httpd_guard *guard, char *const *texts, struct cf_err *err)
{
	size_t n = 0;
	while (texts && texts[n])
		n++;
	if (n == 0)
		return 0;
	guard->blocks = calloc(n, sizeof(*guard->blocks));
	if (!guard->blocks)
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (netaddr_parse_block(texts[i], &guard->blocks[i], err) < 0)
			return cf_err_prefix(err, "HTTP server: addresses kept slots");
	guard->nblocks = n;
	return 0;
}

int httpd_guard_start(struct httpd_guard **out, const struct httpd_guard_config *cfg,
		      struct cf_err *err)
{
	*out = NULL;
	struct httpd_guard *guard = calloc(1, sizeof(*guard));
	if (!guard)
		return cf_err_set(err, "out of memory");
	if (parse_blocks(guard, cfg->reserve_for, err) < 0) {
		free(guard->blocks);
		free(guard);
		return -1;
	}
	guard->max_connections = cfg->max_connections;
	guard->shared = cfg->max_connections > cfg->reserve ? cfg->max_connections - cfg->reserve
							    : 1;
	guard->per_client = cfg->per_client;
	guard->deadline_ms = cfg->deadline_ms;
	/* A tenth of the deadline: a connection is cut within 10% past it. */
	guard->tick_ms = guard->deadline_ms / 10;
	if (guard->tick_ms < 20)
		guard->tick_ms = 20;
	if (guard->tick_ms > 1000)
		guard->tick_ms = 1000;

	if (compat_cond_init_monotonic(&guard->wake) != 0)
		goto fail;
	pthread_mutex_init(&guard->lock, NULL);
	if (pthread_create(&guard->watchdog, NULL, watchdog, guard) != 0) {
		pthread_cond_destroy(&guard->wake);
		pthread_mutex_destroy(&guard->lock);
		free(guard->blocks);
		free(guard);
		return cf_err_set(err, "HTTP server: cannot start its watchdog thread");
	}
	*out = guard;
	return 0;
fail:
	free(guard->blocks);
	free(guard);
	return cf_err_set(err, "HTTP server: cannot set up its watchdog");
}

void httpd_guard_stop(struct httpd_guard *guard)
{
	if (!guard)
		return;
	pthread_mutex_lock(&guard->lock);
	guard->stopping = true;
	pthread_cond_signal(&guard->wake);
	pthread_mutex_unlock(&guard->lock);
	pthread_join(guard->watchdog, NULL);
	pthread_cond_destroy(&guard->wake);
	pthread_mutex_destroy(&guard->lock);
	free(guard->blocks);
	free(guard);
}
