/* httpd: the HTTP server shared by the agent, the controller and the notifier, over
 * libmicrohttpd. A fixed table routes method + exact path to a handler. Once a request's headers
 * are in, and before any of its body is read or memory is set aside for it, the server answers
 * what it can without the body, in this order: 404 for an unknown path, 405 with Allow for a
 * known path with another method, 413 for a Content-Length over the route's body cap, 401
 * {"error":"unauthorized"} when the route's auth callback refuses the headers (a chunked body
 * growing past its cap gets 413 too). A HEAD request runs the GET handler without sending the
 * body. Errors are JSON objects {"error": reason}. Handlers run on the server's threads, several
 * at once, and must be thread-safe. Nothing is logged: bodies and credentials never leave here.
 * Abuse is bounded: one client address holds at most per_client_connections; the whole head and
 * body of a request must arrive within request_deadline_ms of accept (of the previous answer on
 * a keep-alive connection), however steadily it trickles; the last eighth of max_connections is
 * kept for the local host (127.0.0.1, ::1) and the reserve_for addresses. A new connection past
 * a limit is answered at once, before its request is read, with 503, Retry-After and a JSON
 * reason, and closed; past HTTPD_REFUSALS_MAX of those in flight, it is closed without one. */
#ifndef CLAWFLEET_HTTPD_H
#define CLAWFLEET_HTTPD_H
#include <stddef.h>

#include "base/err.h"

#define HTTPD_MAX_HEADERS 8
#define HTTPD_HEADER_NAME_MAX 64
#define HTTPD_HEADER_VALUE_MAX 256
#define HTTPD_CONTENT_TYPE_MAX 128
/* The body cap of a request whose credential can only be checked against its body (an HMAC of
 * it): whoever sends one is unknown until it has all arrived. Flux caps an event's message at
 * 39,000 characters, which stays well inside. */
#define HTTPD_BY_BODY_MAX (128u << 10)
/* Refused connections being answered 503 at once, in all; past this, one is closed unanswered. */
#define HTTPD_REFUSALS_MAX 64
/* What each 503 asks a client to wait, in seconds. */
#define HTTPD_RETRY_AFTER_SEC 1

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

/* What a route's auth callback makes of a request's headers. */
enum httpd_auth {
	HTTPD_AUTH_REFUSED,	/* 401 {"error":"unauthorized"} at once; no body is read */
	HTTPD_AUTH_PASSED,	/* the body is read up to the route's max_body */
	HTTPD_AUTH_BY_BODY,	/* the credential covers the body: the body is read up to
				 * HTTPD_BY_BODY_MAX at most, and the handler decides */
};

/* Runs with the route's ctx once the headers are in, before any of the body is read: req->body
 * is "" and its length 0 whatever the request carries. Must be thread-safe. */
typedef enum httpd_auth httpd_auth_fn(void *ctx, const struct httpd_request *req);

struct httpd_route {
	const char *method;	/* "GET", "PUT", ... */
	const char *path;	/* matched exactly, query string excluded */
	httpd_handler_fn *handler;
	void *ctx;
	size_t max_body;	/* bytes; 0 means the route takes no body */
	httpd_auth_fn *auth;	/* NULL: the route is open to anyone */
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
	char *const *reserve_for;	/* NULL-terminated IP addresses and ADDRESS/PREFIX blocks
					 * that share the local host's kept slots; NULL: none */
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
/* status and the body o (json-c, written plain, "/" unescaped), as application/json; takes o,
 * which may be NULL (out of memory: -1). */
struct json_object;
int httpd_json_reply(struct httpd_response *resp, unsigned int status, struct json_object *o);

#endif
