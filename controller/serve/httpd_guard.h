/* httpd_guard: what keeps the HTTP server answering while clients abuse it; private to httpd.c.
 * libmicrohttpd limits connections per address and in all by closing new ones unanswered, and
 * its only clock is an idle timeout that every byte resets, so a client trickling a header byte
 * every few seconds holds its connection for hours. The guard takes over the limits and adds:
 *  - a deadline per request: from accept (or from the end of the previous answer on a
 *    keep-alive connection) the whole head and body must arrive within deadline_ms. A watchdog
 *    thread shuts down the socket of a connection past it; libmicrohttpd then sees the end of
 *    the stream and closes it. Once an answer is queued the deadline no longer applies (the idle
 *    timeout bounds a slow reader).
 *  - slots kept for the local host (127.0.0.1, ::1) and the reserve_for blocks: past
 *    max_connections - reserve, only those are admitted, so local probes, tools and the
 *    controller reach a server that other clients have filled.
 *  - a graceful refusal: a connection past a limit (per_client from one address, or the slots
 *    open to it) is written a 503 with Retry-After and a JSON reason as soon as it is accepted,
 *    before its request is read, and shut down. At most HTTPD_REFUSALS_MAX refusals are in
 *    flight; past them, and past libmicrohttpd's own limit (httpd_guard_mhd_limit), a connection
 *    is closed unanswered. Admitted connections are never made to wait. */
#ifndef CLAWFLEET_HTTPD_GUARD_H
#define CLAWFLEET_HTTPD_GUARD_H
#include <microhttpd.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "base/err.h"

struct httpd_guard;

struct httpd_guard_config {
	unsigned int max_connections;	/* admitted at once, in all */
	unsigned int reserve;		/* of those, kept for the local host and reserve_for */
	unsigned int per_client;	/* admitted at once from one address */
	unsigned int deadline_ms;
	char *const *reserve_for;	/* NULL-terminated addresses and blocks; may be NULL */
};

/* Fails, naming it, on a reserve_for entry that is not an address or ADDRESS/PREFIX. */
int httpd_guard_start(struct httpd_guard **out, const struct httpd_guard_config *cfg,
		      struct cf_err *err);
/* After the server has stopped: no connection is left to watch. */
void httpd_guard_stop(struct httpd_guard *guard);
/* libmicrohttpd's connection limit: the admitted connections and room for refusals in flight. */
unsigned int httpd_guard_mhd_limit(const struct httpd_guard_config *cfg);

/* libmicrohttpd's accept policy and connection notification, with the guard as cls. */
enum MHD_Result httpd_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void httpd_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			enum MHD_ConnectionNotificationCode toe);
/* False for a connection the guard refused (or could not track): its request, should one have
 * arrived before the refusal, must not be served. */
bool httpd_guard_admitted(struct MHD_Connection *conn);
/* An answer is queued on conn: its request is in, the deadline stops. */
void httpd_guard_answering(struct MHD_Connection *conn);
/* The answer is done: the next request on conn has a fresh deadline. */
void httpd_guard_answered(struct httpd_guard *guard, struct MHD_Connection *conn);

#endif
