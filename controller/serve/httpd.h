/* httpd: the HTTP server shared by the agent, the controller and the notifier, over
 * libmicrohttpd. A fixed table routes method + exact path to a handler. A route's body cap is
 * enforced before the handler (and so before any authentication) runs: a Content-Length over the
 * cap, or a chunked body that grows past it, gets 413. Unknown paths get 404, a known path with
 * another method 405 with Allow; a HEAD request runs the GET handler without sending the body.
 * Errors are JSON objects {"error": reason}. Handlers run on the server's threads, several at
 * once, and must be thread-safe. Nothing is logged: bodies and credentials never leave here.
 * Abuse is bounded: one client address holds at most per_client_connections; the whole head and
 * body of a request must arrive within request_deadline_ms of accept (of the previous answer on
 * a keep-alive connection), however steadily it trickles; the last eighth of max_connections is
 * kept for the local host (127.0.0.1, ::1). Past a limit a new connection is closed at once. */
#ifndef CLAWFLEET_HTTPD_H
#define CLAWFLEET_HTTPD_H
#include <stddef.h>

#include "base/err.h"

#define HTTPD_MAX_HEADERS 8
#define HTTPD_HEADER_NAME_MAX 64
#define HTTPD_HEADER_VALUE_MAX 256
#define HTTPD_CONTENT_TYPE_MAX 128

struct httpd;

struct httpd_request {
	const char *method;
	const char *path;
	const char *body;	/* NUL-terminated, binary-safe by body_len; "" when none */
	size_t body_len;
	void *conn;		/* the server's connection; read through the functions below */
};

/* What a handler fills; read it, but write through the httpd_response_* functions. */
struct httpd_response {
	unsigned int status;				/* 200 unless set */
	char content_type[HTTPD_CONTENT_TYPE_MAX];	/* application/json unless set */
	char *body;					/* malloc'd, owned by the response */
	size_t body_len;
	size_t n_headers;
	struct {
		char name[HTTPD_HEADER_NAME_MAX];
		char value[HTTPD_HEADER_VALUE_MAX];
	} headers[HTTPD_MAX_HEADERS];
};

/* Returns 0 with resp filled, or negative when the handler itself failed: the client then gets
 * 500 {"error":"internal error"} whatever resp holds. */
typedef int httpd_handler_fn(void *ctx, const struct httpd_request *req,
			     struct httpd_response *resp);

struct httpd_route {
	const char *method;	/* "GET", "PUT", ... */
	const char *path;	/* matched exactly, query string excluded */
	httpd_handler_fn *handler;
	void *ctx;
	size_t max_body;	/* bytes; 0 means the route takes no body */
};

struct httpd_config {
	const char *listen;		/* "127.0.0.1:18081", "[::1]:18081", "localhost:0"; port 0
					 * picks a free port (see httpd_port) */
	const struct httpd_route *routes;	/* the table is copied; its strings and
						 * ctx must outlive the server */
	size_t n_routes;
	unsigned int max_connections;	/* 0: 1024 */
	unsigned int per_client_connections;	/* per client address; 0: 32 */
	unsigned int request_deadline_ms;	/* for a whole request to arrive; 0: 10 s */
	unsigned int timeout_sec;	/* idle connection timeout; 0: 10 s */
	unsigned int threads;		/* epoll threads; 0: 2 */
};

int httpd_start(struct httpd **out, const struct httpd_config *cfg, struct cf_err *err);
/* The port the server is bound to (the one picked when the config said 0). */
unsigned int httpd_port(const struct httpd *srv);
/* Closes the listening socket and every connection, waits for running handlers, frees all. */
void httpd_stop(struct httpd *srv);

/* Header value by case-insensitive name, or NULL. */
const char *httpd_request_header(const struct httpd_request *req, const char *name);
/* Query argument by exact name (already percent-decoded), or NULL; "" for "?flag". */
const char *httpd_request_query(const struct httpd_request *req, const char *name);

/* A fresh response (200, application/json, no body) and its release, for handler tests that
 * call handlers directly; the server does both itself. */
void httpd_response_init(struct httpd_response *resp);
void httpd_response_release(struct httpd_response *resp);
/* Setters return 0, or -1 when out of memory or over a limit above (the response keeps its
 * previous value then). */
int httpd_response_set_type(struct httpd_response *resp, const char *content_type);
int httpd_response_set_body(struct httpd_response *resp, const void *data, size_t len);
/* Takes ownership of a malloc'd body (freed with free). */
void httpd_response_take_body(struct httpd_response *resp, char *data, size_t len);
/* Names and values may not carry CR, LF or NUL; Content-Type goes through set_type. */
int httpd_response_add_header(struct httpd_response *resp, const char *name, const char *value);
/* The liveness handler every daemon serves at GET /healthz: 200 {"ok":true} while the server
 * answers at all. */
int httpd_healthz(void *ctx, const struct httpd_request *req, struct httpd_response *resp);

/* status and the body {"error": reason}, as application/json. */
int httpd_json_error(struct httpd_response *resp, unsigned int status, const char *reason);

#endif
