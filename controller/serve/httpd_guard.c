#include "serve/httpd_guard.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One connection the watchdog keeps an eye on; the socket context libmicrohttpd holds for it. */
struct watched {
	struct watched *prev, *next;
	int fd;
	uint64_t deadline_ms;	/* monotonic */
	bool answering;		/* an answer is queued: no deadline */
	bool cut;		/* shut down already; libmicrohttpd has yet to close it */
};

struct httpd_guard {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t watchdog;
	struct watched *head;
	unsigned int open;	/* connections libmicrohttpd has accepted and not yet closed */
	unsigned int shared;	/* what clients other than the local host may hold in all */
	unsigned int deadline_ms;
	unsigned int tick_ms;
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

enum MHD_Result httpd_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct httpd_guard *guard = cls;
	if (local_host(addr, addrlen))
		return MHD_YES;
	pthread_mutex_lock(&guard->lock);
	bool room = guard->open < guard->shared;
	pthread_mutex_unlock(&guard->lock);
	return room ? MHD_YES : MHD_NO;
}

void httpd_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			enum MHD_ConnectionNotificationCode toe)
{
	struct httpd_guard *guard = cls;
	struct watched *w = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		pthread_mutex_lock(&guard->lock);
		guard->open++;
		/* Without memory the connection goes unwatched; the idle timeout still holds. */
		w = info ? calloc(1, sizeof(*w)) : NULL;
		if (w) {
			w->fd = info->connect_fd;
			w->deadline_ms = now_ms() + guard->deadline_ms;
			w->next = guard->head;
			if (guard->head)
				guard->head->prev = w;
			guard->head = w;
		}
		pthread_mutex_unlock(&guard->lock);
		*socket_context = w;
		return;
	}
	/* Closed: libmicrohttpd closes the socket after this returns, so the watchdog never shuts
	 * down a descriptor that was reused. */
	pthread_mutex_lock(&guard->lock);
	guard->open--;
	if (w) {
		if (w->prev)
			w->prev->next = w->next;
		else
			guard->head = w->next;
		if (w->next)
			w->next->prev = w->prev;
	}
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
			rc = pthread_cond_timedwait(&guard->wake, &guard->lock, &until);
	}
	pthread_mutex_unlock(&guard->lock);
	return NULL;
}

int httpd_guard_start(struct httpd_guard **out, unsigned int max_connections,
		      unsigned int reserve, unsigned int deadline_ms, struct cf_err *err)
{
	*out = NULL;
	struct httpd_guard *guard = calloc(1, sizeof(*guard));
	if (!guard)
		return cf_err_set(err, "out of memory");
	guard->shared = max_connections > reserve ? max_connections - reserve : 1;
	guard->deadline_ms = deadline_ms;
	/* A tenth of the deadline: a connection is cut within 10% past it. */
	guard->tick_ms = deadline_ms / 10;
	if (guard->tick_ms < 20)
		guard->tick_ms = 20;
	if (guard->tick_ms > 1000)
		guard->tick_ms = 1000;

	pthread_condattr_t attr;
	if (pthread_condattr_init(&attr) != 0) {
		free(guard);
		return cf_err_set(err, "HTTP server: cannot set up its watchdog");
	}
	int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&guard->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0) {
		free(guard);
		return cf_err_set(err, "HTTP server: cannot set up its watchdog");
	}
	pthread_mutex_init(&guard->lock, NULL);
	if (pthread_create(&guard->watchdog, NULL, watchdog, guard) != 0) {
		pthread_cond_destroy(&guard->wake);
		pthread_mutex_destroy(&guard->lock);
		free(guard);
		return cf_err_set(err, "HTTP server: cannot start its watchdog thread");
	}
	*out = guard;
	return 0;
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
	free(guard);
}
