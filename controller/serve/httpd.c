#include "serve/httpd.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/compat.h"
#include "serve/httpd_guard.h"

/* Per connection, for its request line, headers and reply headers (bodies live outside it):
 * libmicrohttpd's 32 KiB default costs a megabyte of RSS per 32 keep-alive clients, and an agent
 * runs on every Mac. Headers are capped far below this anyway. */
#define HTTPD_CONNECTION_MEMORY (16u << 10)
/* Connections cost 16 KiB each at most: 1024 are 16 MiB, and one address may hold 32 of them,
 * so it takes 32 addresses acting together to fill the server (and then only up to the slots
 * kept for the local host). */
#define DEFAULT_MAX_CONNECTIONS 1024
#define DEFAULT_PER_CLIENT 32
/* The last eighth of the connections is kept for the local host and reserve_for. */
#define LOCAL_RESERVE_SHARE 8
#define DEFAULT_TIMEOUT_SEC 10
#define DEFAULT_DEADLINE_MS 10000
/* One epoll thread per core of the two the agent is sized for. Measured on two cores with the
 * client beside it: 1, 2 or 4 epoll threads and poll() all served 40,000-50,000 small
 * keep-alive requests/s within noise; epoll keeps the cost per event flat as connections grow. */
#define DEFAULT_THREADS 2
#define MAX_THREADS 64
#define MAX_ROUTES 64
#define LISTEN_BACKLOG 511
/* A body of unknown length starts this small and doubles up to the route's cap. */
#define BODY_FIRST_CHUNK 4096
#define DRAIN_MAX (1024 * 1024)

struct httpd {
	struct MHD_Daemon *daemon;
	struct httpd_guard *guard;
	struct httpd_route *routes;
	size_t n_routes;
	unsigned int port;
};

/* One request's state between libmicrohttpd's calls: the route and the body so far. */
struct pending {
	const struct httpd_route *route;
	size_t max_body;	/* the route's, or less when the body must prove who sent it */
	char *body;
	size_t len;
	size_t cap;
	bool too_large;
	size_t dropped;		/* bytes read past the cap */
};

static const char JSON_TYPE[] = "application/json";

void httpd_response_init(struct httpd_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	memcpy(resp->content_type, JSON_TYPE, sizeof(JSON_TYPE));
}

void httpd_response_release(struct httpd_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

int httpd_response_set_type(struct httpd_response *resp, const char *content_type)
{
	size_t len = strlen(content_type);
	if (len >= sizeof(resp->content_type) || strpbrk(content_type, "\r\n"))
		return -1;
	memcpy(resp->content_type, content_type, len + 1);
	return 0;
}

int httpd_response_set_body(struct httpd_response *resp, const void *data, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return -1;
	memcpy(copy, data, len);
	copy[len] = '\0';
	httpd_response_take_body(resp, copy, len);
	return 0;
}

void httpd_response_take_body(struct httpd_response *resp, char *data, size_t len)
{
	free(resp->body);
	resp->body = data;
	resp->body_len = len;
}

int httpd_response_add_header(struct httpd_response *resp, const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value);
	if (resp->n_headers >= HTTPD_MAX_HEADERS || nlen == 0 ||
	    nlen >= HTTPD_HEADER_NAME_MAX || vlen >= HTTPD_HEADER_VALUE_MAX ||
	    strpbrk(name, "\r\n: \t") || strpbrk(value, "\r\n") ||
	    strcasecmp(name, "Content-Type") == 0)
		return -1;
	memcpy(resp->headers[resp->n_headers].name, name, nlen + 1);
	memcpy(resp->headers[resp->n_headers].value, value, vlen + 1);
	resp->n_headers++;
	return 0;
}

/* Sets status and the JSON body {"error": reason, extra_key: extra_value}. */
int httpd_json_reply(struct httpd_response *resp, unsigned int status, struct json_object *o)
{
	size_t len = 0;
	const char *text = o ? json_object_to_json_string_length(
				       o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len)
			     : NULL;
	int rc = -1;
	if (text && httpd_response_set_body(resp, text, len) == 0) {
		memcpy(resp->content_type, JSON_TYPE, sizeof(JSON_TYPE));
		resp->status = status;
		rc = 0;
	}
	json_object_put(o);
	return rc;
}

static int json_error_with(struct httpd_response *resp, unsigned int status, const char *reason,
			   const char *extra_key, const char *extra_value)
{
	struct json_object *obj = json_object_new_object();
	if (!obj)
		return -1;
	if (json_object_object_add(obj, "error", json_object_new_string(reason)) < 0 ||
	    (extra_key &&
	     json_object_object_add(obj, extra_key, json_object_new_string(extra_value)) < 0)) {
		json_object_put(obj);
		return -1;
	}
	return httpd_json_reply(resp, status, obj);
}

int httpd_json_error(struct httpd_response *resp, unsigned int status, const char *reason)
{
	return json_error_with(resp, status, reason, NULL, NULL);
}

const char *httpd_request_header(const struct httpd_request *req, const char *name)
{
	if (!req->conn)
		return NULL;
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct query_lookup {
	const char *name;
	const char *value;
};

static enum MHD_Result match_query(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct query_lookup *q = cls;
	(void)kind;
	if (strcmp(key, q->name) != 0)
		return MHD_YES;
	q->value = value ? value : "";
	return MHD_NO;
}

/* libmicrohttpd looks every kind of value up ignoring case; query names are case-sensitive. */
const char *httpd_request_query(const struct httpd_request *req, const char *name)
{
	struct query_lookup q = {name, NULL};
	if (req->conn)
		MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, match_query, &q);
	return q.value;
}

/* Hands resp to libmicrohttpd, which frees the body once sent. */
static enum MHD_Result send_response(struct MHD_Connection *conn, struct httpd_response *resp)
{
	struct MHD_Response *r;
	if (resp->body) {
		r = MHD_create_response_from_buffer(resp->body_len, resp->body,
						    MHD_RESPMEM_MUST_FREE);
		if (!r) {
			httpd_response_release(resp);
			return MHD_NO;
		}
		resp->body = NULL;
	} else {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
	}
	enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
						     resp->content_type);
	for (size_t i = 0; ok == MHD_YES && i < resp->n_headers; i++)
		ok = MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
	if (ok == MHD_YES) {
		httpd_guard_answering(conn);
		ok = MHD_queue_response(conn, resp->status, r);
	}
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned int status,
				  const char *reason, const char *extra_key,
				  const char *extra_value, const char *allow)
{
	struct httpd_response resp;
	httpd_response_init(&resp);
	if (json_error_with(&resp, status, reason, extra_key, extra_value) < 0 ||
	    (allow && httpd_response_add_header(&resp, MHD_HTTP_HEADER_ALLOW, allow) < 0)) {
		httpd_response_release(&resp);
		return MHD_NO;
	}
	return send_response(conn, &resp);
}

static enum MHD_Result send_too_large(struct MHD_Connection *conn, size_t max_body)
{
	char reason[96];
	snprintf(reason, sizeof(reason), "request body is larger than the %zu byte limit",
		 max_body);
	return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, reason, NULL, NULL, NULL);
}

static enum MHD_Result dispatch(struct MHD_Connection *conn, const struct httpd_route *route,
				const char *method, const char *path, const char *body,
				size_t body_len)
{
	struct httpd_request req = {method, path, body, body_len, conn};
	struct httpd_response resp;
	httpd_response_init(&resp);
	if (route->handler(route->ctx, &req, &resp) < 0) {
		httpd_response_release(&resp);
		return send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error", NULL,
				  NULL, NULL);
	}
	return send_response(conn, &resp);
}

/* The methods a path answers to, for the Allow header of a 405. */
static void allowed_methods(const struct httpd *srv, const char *path, char *out, size_t size)
{
	size_t used = 0;
	bool get = false;
	out[0] = '\0';
	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct httpd_route *r = &srv->routes[i];
		if (strcmp(r->path, path) != 0)
			continue;
		get = get || strcmp(r->method, "GET") == 0;
		int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", r->method);
		if (n < 0 || (size_t)n >= size - used)
			return;
		used += (size_t)n;
	}
	if (get)
		snprintf(out + used, size - used, ", HEAD");
}

/* NULL with *path_known telling 404 from 405. HEAD runs the GET route: libmicrohttpd sends the
 * headers of the response and drops its body. */
static const struct httpd_route *find_route(const struct httpd *srv, const char *method,
					    const char *path, bool *path_known)
{
	const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
	*path_known = false;
	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct httpd_route *r = &srv->routes[i];
		if (strcmp(r->path, path) != 0)
			continue;
		*path_known = true;
		if (strcmp(r->method, want) == 0)
			return r;
	}
	return NULL;
}

/* Content-Length as a number, or -1 when absent. libmicrohttpd has already refused a malformed
 * one; values past any cap saturate. */
static long long content_length(struct MHD_Connection *conn)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!v)
		return -1;
	long long n = 0;
	for (const char *c = v; *c >= '0' && *c <= '9'; c++)
		if (n < LLONG_MAX / 10)
			n = n * 10 + (*c - '0');
	return n;
}

/* Appends a piece of the body. Past the cap the rest is read and dropped, so that a client
 * still sending receives the 413 rather than a reset (libmicrohttpd 0.9.75 cannot answer before
 * the body ends); past DRAIN_MAX more bytes the connection is closed instead. */
static int append_body(struct pending *p, const char *data, size_t len)
{
	if (p->too_large || len > p->max_body - p->len) {
		if (!p->too_large) {
			p->too_large = true;
			free(p->body);
			p->body = NULL;
			p->len = p->cap = 0;
		}
		if (len > DRAIN_MAX - p->dropped)
			return -1;
		p->dropped += len;
		return 0;
	}
	if (p->len + len + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : BODY_FIRST_CHUNK;
		while (cap < p->len + len + 1)
			cap *= 2;
		if (cap > p->max_body + 1)
			cap = p->max_body + 1;
		char *body = realloc(p->body, cap);
		if (!body)
			return -1;
		p->body = body;
		p->cap = cap;
	}
	memcpy(p->body + p->len, data, len);
	p->len += len;
	p->body[p->len] = '\0';
	return 0;
}

/* The body cap of a request to route, from its headers alone; 0 with *refused when the route's
 * auth callback refuses them. */
static size_t body_cap(struct MHD_Connection *conn, const struct httpd_route *route,
		       const char *method, const char *path, bool *refused)
{
	*refused = false;
	if (!route->auth)
		return route->max_body;
	struct httpd_request req = {method, path, "", 0, conn};
	switch (route->auth(route->ctx, &req)) {
	case HTTPD_AUTH_PASSED:
		return route->max_body;
	case HTTPD_AUTH_BY_BODY:
		return route->max_body < HTTPD_BY_BODY_MAX ? route->max_body : HTTPD_BY_BODY_MAX;
	case HTTPD_AUTH_REFUSED:
		break;
	}
	*refused = true;
	return 0;
}

/* Called first once the headers are in (con_cls NULL): route, 404/405, the route's
 * Content-Length cap, authentication, a smaller cap for a body that must vouch for itself; then
 * once per piece of body; then once more with no data, when the handler runs. Answers given on
 * the first call close the connection, which is what a refused body needs: nothing of it is
 * read or allocated. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct httpd *srv = cls;
	struct pending *p = *con_cls;
	(void)version;

	if (p) {
		if (*upload_data_size) {
			if (append_body(p, upload_data, *upload_data_size) < 0)
				return MHD_NO;
			*upload_data_size = 0;
			return MHD_YES;
		}
		if (p->too_large)
			return send_too_large(conn, p->max_body);
		return dispatch(conn, p->route, method, url, p->body ? p->body : "", p->len);
	}

	/* A refused connection was answered 503 before its request arrived. */
	if (!httpd_guard_admitted(conn))
		return MHD_NO;
	bool path_known;
	const struct httpd_route *route = find_route(srv, method, url, &path_known);
	if (!route && !path_known)
		return send_error(conn, MHD_HTTP_NOT_FOUND, "not found", "path", url, NULL);
	if (!route) {
		char allow[256];
		allowed_methods(srv, url, allow, sizeof(allow));
		return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", NULL,
				  NULL, allow);
	}
	long long declared = content_length(conn);
	if (declared > 0 && (unsigned long long)declared > route->max_body)
		return send_too_large(conn, route->max_body);
	bool refused;
	size_t max_body = body_cap(conn, route, method, url, &refused);
	if (refused)
		return send_error(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized", NULL, NULL, NULL);
	if (declared > 0 && (unsigned long long)declared > max_body)
		return send_too_large(conn, max_body);

	/* Even a request without a body is answered on the next call: a response queued before
	 * libmicrohttpd has seen the whole request closes the connection. */
	p = calloc(1, sizeof(*p));
	if (!p)
		return MHD_NO;
	p->route = route;
	p->max_body = max_body;
	if (declared > 0) {
		p->cap = (size_t)declared + 1;
		p->body = malloc(p->cap);
		if (!p->body) {
			free(p);
			return MHD_NO;
		}
	}
	*con_cls = p;
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct httpd *srv = cls;
	struct pending *p = *con_cls;
	(void)toe;
	httpd_guard_answered(srv->guard, conn);
	if (p) {
		free(p->body);
		free(p);
		*con_cls = NULL;
	}
}

/* "host:port" or "[v6]:port" with a numeric host ("localhost" is 127.0.0.1). */
static int parse_listen(const char *where, struct sockaddr_storage *addr, socklen_t *addrlen,
			struct cf_err *err)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port_text;
	bool v6 = where[0] == '[';

	if (v6) {
		const char *bracket = strchr(where, ']');
		if (!bracket || bracket[1] != ':')
			return cf_err_set(err, "listen address \"%s\": expected [IPv6]:port",
					  where);
		size_t n = (size_t)(bracket - where - 1);
		if (n >= sizeof(host))
			return cf_err_set(err, "listen address \"%s\": bad IPv6 address", where);
		memcpy(host, where + 1, n);
		host[n] = '\0';
		port_text = bracket + 2;
	} else {
		const char *colon = strrchr(where, ':');
		size_t n = colon ? (size_t)(colon - where) : 0;
		if (!colon || n >= sizeof(host) || memchr(where, ':', n))
			return cf_err_set(err,
					  "listen address \"%s\": expected host:port or "
					  "[IPv6]:port",
					  where);
		memcpy(host, where, n);
		host[n] = '\0';
		port_text = colon + 1;
	}

	unsigned long port = 0;
	if (!*port_text || strlen(port_text) > 5)
		return cf_err_set(err, "listen address \"%s\": port must be 0 to 65535", where);
	for (const char *c = port_text; *c; c++) {
		if (*c < '0' || *c > '9')
			return cf_err_set(err, "listen address \"%s\": port must be 0 to 65535",
					  where);
		port = port * 10 + (unsigned long)(*c - '0');
	}
	if (port > 65535)
		return cf_err_set(err, "listen address \"%s\": port must be 0 to 65535", where);

	memset(addr, 0, sizeof(*addr));
	if (v6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return cf_err_set(err, "listen address \"%s\": bad IPv6 address", where);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*addrlen = sizeof(*a6);
		return 0;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
	if (strcmp(host, "localhost") == 0)
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return cf_err_set(err,
				  "listen address \"%s\": host must be a numeric IPv4 address, "
				  "[IPv6] or localhost",
				  where);
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	*addrlen = sizeof(*a4);
	return 0;
}

/* The server binds its own socket so that a taken port is reported with its errno. */
static int open_listener(const char *where, int *out_fd, unsigned int *out_port,
			 struct cf_err *err)
{
	struct sockaddr_storage addr;
	socklen_t addrlen = 0;
	if (parse_listen(where, &addr, &addrlen, err) < 0)
		return -1;

	int fd = compat_socket(addr.ss_family, SOCK_STREAM, 0, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return cf_err_errno(err, "listen %s: socket", where);
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)) {
		cf_err_errno(err, "listen %s: setsockopt", where);
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&addr, addrlen) < 0) {
		cf_err_errno(err, "listen %s: bind", where);
		goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		cf_err_errno(err, "listen %s: listen", where);
		goto fail;
	}
	struct sockaddr_storage bound;
	socklen_t boundlen = sizeof(bound);
	if (getsockname(fd, (struct sockaddr *)&bound, &boundlen) < 0) {
		cf_err_errno(err, "listen %s: getsockname", where);
		goto fail;
	}
	*out_port = ntohs(bound.ss_family == AF_INET6
				  ? ((struct sockaddr_in6 *)&bound)->sin6_port
				  : ((struct sockaddr_in *)&bound)->sin_port);
	*out_fd = fd;
	return 0;
fail:
	close(fd);
	return -1;
}

static int copy_routes(struct httpd *srv, const struct httpd_config *cfg, struct cf_err *err)
{
	if (cfg->n_routes == 0 || cfg->n_routes > MAX_ROUTES)
		return cf_err_set(err, "HTTP server needs 1 to %d routes, got %zu", MAX_ROUTES,
				  cfg->n_routes);
	srv->routes = calloc(cfg->n_routes, sizeof(*srv->routes));
	if (!srv->routes)
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct httpd_route *r = &cfg->routes[i];
		if (!r->method || !r->path || !r->handler || r->path[0] != '/' ||
		    strcmp(r->method, "HEAD") == 0)
			return cf_err_set(err,
					  "HTTP route %zu: needs a method other than HEAD, a "
					  "path starting with / and a handler",
					  i);
		if (r->max_body > SIZE_MAX / 4)
			return cf_err_set(err, "HTTP route %s %s: body cap too large", r->method,
					  r->path);
		for (size_t j = 0; j < i; j++)
			if (strcmp(r->method, cfg->routes[j].method) == 0 &&
			    strcmp(r->path, cfg->routes[j].path) == 0)
				return cf_err_set(err, "HTTP route %s %s: listed twice",
						  r->method, r->path);
		srv->routes[i] = *r;
	}
	srv->n_routes = cfg->n_routes;
	return 0;
}

int httpd_start(struct httpd **out, const struct httpd_config *cfg, struct cf_err *err)
{
	*out = NULL;
	unsigned int threads = cfg->threads ? cfg->threads : DEFAULT_THREADS;
	if (threads > MAX_THREADS)
		return cf_err_set(err, "HTTP server: %u threads, at most %d", threads,
				  MAX_THREADS);
	if (!cfg->listen)
		return cf_err_set(err, "HTTP server: no listen address");

	struct httpd *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return cf_err_set(err, "out of memory");
	if (copy_routes(srv, cfg, err) < 0)
		goto fail;
	int fd;
	if (open_listener(cfg->listen, &fd, &srv->port, err) < 0)
		goto fail;

	unsigned int max_connections = cfg->max_connections ? cfg->max_connections
							    : DEFAULT_MAX_CONNECTIONS;
	unsigned int timeout_sec = cfg->timeout_sec ? cfg->timeout_sec : DEFAULT_TIMEOUT_SEC;
	unsigned int per_client = cfg->per_client_connections ? cfg->per_client_connections
							      : DEFAULT_PER_CLIENT;
	unsigned int deadline_ms = cfg->request_deadline_ms ? cfg->request_deadline_ms
							    : DEFAULT_DEADLINE_MS;
	const struct httpd_guard_config gc = {
		.max_connections = max_connections,
		.reserve = max_connections / LOCAL_RESERVE_SHARE,
		.per_client = per_client,
		.deadline_ms = deadline_ms,
		.reserve_for = cfg->reserve_for,
	};
	if (httpd_guard_start(&srv->guard, &gc, err) < 0) {
		close(fd);
		goto fail;
	}
	/* libmicrohttpd closes fd itself when it fails past option parsing; the options below
	 * are fixed and valid, so fd is never closed here once handed over. */
	srv->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, httpd_guard_accept,
				       srv->guard, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd,
				       MHD_OPTION_THREAD_POOL_SIZE, threads,
				       MHD_OPTION_CONNECTION_LIMIT, httpd_guard_mhd_limit(&gc),
				       MHD_OPTION_CONNECTION_TIMEOUT, timeout_sec,
				       MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				       (size_t)HTTPD_CONNECTION_MEMORY,
				       MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				       MHD_OPTION_NOTIFY_CONNECTION, httpd_guard_notify,
				       srv->guard,
				       MHD_OPTION_END);
	if (!srv->daemon) {
		cf_err_set(err,
			   "listen %s: the HTTP server did not start (out of memory, threads or "
			   "file descriptors)",
			   cfg->listen);
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	httpd_guard_stop(srv->guard);
	free(srv->routes);
	free(srv);
	return -1;
}

unsigned int httpd_port(const struct httpd *srv)
{
	return srv->port;
}

void httpd_stop(struct httpd *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	httpd_guard_stop(srv->guard);
	free(srv->routes);
	free(srv);
}

int httpd_healthz(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	(void)req;
	static const char ok[] = "{\"ok\":true}";
	return httpd_response_set_body(resp, ok, sizeof(ok) - 1);
}
