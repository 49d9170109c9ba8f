/* httpd_guard: what keeps the HTTP server answering while clients abuse it; private to httpd.c.
 * libmicrohttpd limits connections per address and in all, but its only clock is an idle
 * timeout that every byte resets, so a client trickling a header byte every few seconds holds
 * its connection for hours. The guard adds the rest:
 *  - a deadline per request: from accept (or from the end of the previous answer on a
 *    keep-alive connection) the whole head and body must arrive within deadline_ms. A watchdog
 *    thread shuts down the socket of a connection past it; libmicrohttpd then sees the end of
 *    the stream and closes it. Once an answer is queued the deadline no longer applies (the idle
 *    timeout bounds a slow reader).
 *  - slots kept for the local host: past max_connections - reserve, only 127.0.0.1 and ::1 are
 *    accepted, so local probes and tools reach a server that remote clients have filled. Others
 *    are closed at once, never left waiting. */
#ifndef CLAWFLEET_HTTPD_GUARD_H
#define CLAWFLEET_HTTPD_GUARD_H
#include <microhttpd.h>
#include <sys/socket.h>

#include "base/err.h"

struct httpd_guard;

int httpd_guard_start(struct httpd_guard **out, unsigned int max_connections,
		      unsigned int reserve, unsigned int deadline_ms, struct cf_err *err);
/* After the server has stopped: no connection is left to watch. */
void httpd_guard_stop(struct httpd_guard *guard);

/* libmicrohttpd's accept policy and connection notification, with the guard as cls. */
enum MHD_Result httpd_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void httpd_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			enum MHD_ConnectionNotificationCode toe);
/* An answer is queued on conn: its request is in, the deadline stops. */
void httpd_guard_answering(struct MHD_Connection *conn);
/* The answer is done: the next request on conn has a fresh deadline. */
void httpd_guard_answered(struct httpd_guard *guard, struct MHD_Connection *conn);

#endif
