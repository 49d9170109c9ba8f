#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "base/compat.h"
#include "serve/httpd.h"

#define ECHO_CAP 1024
#define SIGNED_CAP (1u << 20)
#define CLIENT_TIMEOUT_MS 10000L

struct server {
	struct httpd *srv;
	atomic_int echo_calls;
	atomic_int hello_calls;
	char base[64];
};

/* A client's view of one exchange. */
struct reply {
	CURLcode rc;
	long status;
	char *body;
	size_t len;
	char headers[2048];
};

static int hello(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct server *s = ctx;
	/* Handlers run on server threads, where cmocka cannot fail a test: a surprise is a 500. */
	atomic_fetch_add(&s->hello_calls, 1);
	if (req->body_len != 0 || strcmp(req->body, "") != 0 ||
	    httpd_response_add_header(resp, "X-Served-By", "clawfleet-test") < 0)
		return -1;
	return httpd_response_set_body(resp, "{\"hello\":true}", 14);
}

static int echo(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct server *s = ctx;
	atomic_fetch_add(&s->echo_calls, 1);
	if (req->body[req->body_len] != '\0' || httpd_response_set_type(resp, "text/plain") < 0)
		return -1;
	return httpd_response_set_body(resp, req->body, req->body_len);
}

/* Echoes what the request carries besides its body: a header looked up in another case, query
 * arguments (case-sensitive) and the method. */
static int inspect(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	char out[512];
	const char *thing = httpd_request_header(req, "x-thing");
	const char *lower = httpd_request_query(req, "name");
	const char *upper = httpd_request_query(req, "Name");
	const char *flag = httpd_request_query(req, "flag");
	const char *missing = httpd_request_query(req, "missing");
	(void)ctx;
	int n = snprintf(out, sizeof(out), "%s|%s|%s|%s|%s|%s", req->method,
			 thing ? thing : "(null)", lower ? lower : "(null)",
			 upper ? upper : "(null)", flag ? flag : "(null)",
			 missing ? missing : "(null)");
	httpd_response_take_body(resp, strdup(out), (size_t)n);
	return resp->body ? 0 : -1;
}

static int failing(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	(void)req;
	/* Whatever it set, a failing handler's response is replaced. */
	resp->status = 299;
	httpd_response_set_body(resp, "partial", 7);
	return -1;
}

static int teapot(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	(void)req;
	return httpd_json_error(resp, 418, "short and \"stout\"");
}

static bool good_bearer(const struct httpd_request *req)
{
	const char *auth = httpd_request_header(req, "Authorization");
	return auth && strcmp(auth, "Bearer good") == 0;
}

/* Auth callbacks see the headers and never the body. */
static enum httpd_auth need_token(void *ctx, const struct httpd_request *req)
{
	(void)ctx;
	if (req->body_len != 0 || strcmp(req->body, "") != 0)
		return HTTPD_AUTH_REFUSED;
	return good_bearer(req) ? HTTPD_AUTH_PASSED : HTTPD_AUTH_REFUSED;
}

static enum httpd_auth token_or_signature(void *ctx, const struct httpd_request *req)
{
	(void)ctx;
	if (good_bearer(req))
		return HTTPD_AUTH_PASSED;
	return httpd_request_header(req, "X-Signature") ? HTTPD_AUTH_BY_BODY : HTTPD_AUTH_REFUSED;
}

static int start_server(struct server *s, const char *listen, struct cf_err *err)
{
	const struct httpd_route routes[] = {
		{"GET", "/hello", hello, s, 0, NULL},
		{"POST", "/echo", echo, s, ECHO_CAP, NULL},
		{"PUT", "/echo", echo, s, ECHO_CAP, NULL},
		{"GET", "/inspect", inspect, s, 0, NULL},
		{"GET", "/fail", failing, s, 0, NULL},
		{"GET", "/teapot", teapot, s, 0, NULL},
		{"PUT", "/private", echo, s, SIGNED_CAP, need_token},
		{"POST", "/signed", echo, s, SIGNED_CAP, token_or_signature},
	};
	struct httpd_config cfg = {
		.listen = listen,
		.routes = routes,
		.n_routes = sizeof(routes) / sizeof(routes[0]),
	};
	return httpd_start(&s->srv, &cfg, err);
}

static int setup(void **state)
{
	struct server *s = calloc(1, sizeof(*s));
	struct cf_err err = { { 0 } };
	assert_non_null(s);
	if (start_server(s, "127.0.0.1:0", &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_not_equal(httpd_port(s->srv), 0);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%u", httpd_port(s->srv));
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct server *s = *state;
	httpd_stop(s->srv);
	free(s);
	return 0;
}

static size_t collect_body(char *data, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;
	char *body = realloc(r->body, r->len + len + 1);
	if (!body)
		return 0;
	memcpy(body + r->len, data, len);
	r->body = body;
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

static size_t collect_header(char *data, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t used = strlen(r->headers), len = size * n;
	if (len < sizeof(r->headers) - used) {
		memcpy(r->headers + used, data, len);
		r->headers[used + len] = '\0';
	}
	return len;
}

/* Feeds the request body without a length, so curl sends it chunked. */
struct upload {
	const char *data;
	size_t len;
	size_t off;
};

static size_t feed_body(char *buf, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t take = u->len - u->off < size * n ? u->len - u->off : size * n;
	memcpy(buf, u->data + u->off, take);
	u->off += take;
	return take;
}

static void reply_init(struct reply *r)
{
	memset(r, 0, sizeof(*r));
}

static void reply_free(struct reply *r)
{
	free(r->body);
	r->body = NULL;
}

/* One exchange on curl handle h (reused, so keep-alive connections are reused too). */
static void exchange(CURL *h, const char *method, const char *url, const char *body, size_t len,
		     bool chunked, const char *header, struct reply *r)
{
	struct upload up = {body, len, 0};
	/* No Expect: 100-continue, so a refused body is really sent. */
	struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
	if (header)
		headers = curl_slist_append(headers, header);

	curl_easy_reset(h);
	reply_init(r);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, CLIENT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CLIENT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (chunked) {
		headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, feed_body);
		curl_easy_setopt(h, CURLOPT_READDATA, &up);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	} else if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	r->rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(headers);
}

static void request(struct server *s, const char *method, const char *path, const char *body,
		    size_t len, bool chunked, const char *header, struct reply *r)
{
	char url[256];
	CURL *h = curl_easy_init();
	assert_non_null(h);
	snprintf(url, sizeof(url), "%s%s", s->base, path);
	exchange(h, method, url, body, len, chunked, header, r);
	curl_easy_cleanup(h);
}

static bool has_header(const struct reply *r, const char *line)
{
	const char *p = r->headers;
	size_t n = strlen(line);
	while ((p = strstr(p, "\r\n"))) {
		p += 2;
		if (strncasecmp(p, line, n) == 0 && (p[n] == '\r' || p[n] == '\n'))
			return true;
	}
	return false;
}

static void test_get_ok(void **state)
{
	struct server *s = *state;
	struct reply r;
	request(s, "GET", "/hello", NULL, 0, false, NULL, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"hello\":true}");
	assert_true(has_header(&r, "Content-Type: application/json"));
	assert_true(has_header(&r, "X-Served-By: clawfleet-test"));
	reply_free(&r);
}

static void test_head_runs_get_without_body(void **state)
{
	struct server *s = *state;
	struct reply r;
	request(s, "HEAD", "/hello", NULL, 0, false, NULL, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_null(r.body);
	assert_true(has_header(&r, "Content-Length: 14"));
	assert_int_equal(atomic_load(&s->hello_calls), 1);
	reply_free(&r);
}

static void test_unknown_path_404(void **state)
{
	struct server *s = *state;
	struct reply r;
	request(s, "GET", "/no/such/path?x=1", NULL, 0, false, NULL, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "{\"error\":\"not found\",\"path\":\"/no/such/path\"}");
	assert_true(has_header(&r, "Content-Type: application/json"));
	reply_free(&r);

	/* A path is JSON-escaped, never pasted into the body. */
	request(s, "GET", "/a%22b", NULL, 0, false, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "{\"error\":\"not found\",\"path\":\"/a\\\"b\"}");
	reply_free(&r);
}

static void test_wrong_method_405_with_allow(void **state)
{
	struct server *s = *state;
	struct reply r;
	request(s, "DELETE", "/echo", NULL, 0, false, NULL, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 405);
	assert_true(has_header(&r, "Allow: POST, PUT"));
	assert_string_equal(r.body, "{\"error\":\"method not allowed\"}");
	reply_free(&r);

	request(s, "PUT", "/hello", "x", 1, false, NULL, &r);
	assert_int_equal(r.status, 405);
	assert_true(has_header(&r, "Allow: GET, HEAD"));
	assert_int_equal(atomic_load(&s->hello_calls), 0);
	reply_free(&r);
}

static void test_post_body_binary_safe(void **state)
{
	struct server *s = *state;
	struct reply r;
	char body[ECHO_CAP];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)(i * 7 % 256);
	body[0] = '\0';
	request(s, "POST", "/echo", body, sizeof(body), false, NULL, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, sizeof(body));
	assert_memory_equal(r.body, body, sizeof(body));
	assert_true(has_header(&r, "Content-Type: text/plain"));
	reply_free(&r);

	request(s, "PUT", "/echo", "", 0, false, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_null(r.body);
	assert_int_equal(atomic_load(&s->echo_calls), 2);
	reply_free(&r);
}

static void test_chunked_body_within_cap(void **state)
{
	struct server *s = *state;
	struct reply r;
	char body[ECHO_CAP];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)(255 - i % 256);
	request(s, "POST", "/echo", body, sizeof(body), true, NULL, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, sizeof(body));
	assert_memory_equal(r.body, body, sizeof(body));
	reply_free(&r);
}

static void test_content_length_over_cap_413_before_handler(void **state)
{
	struct server *s = *state;
	struct reply r;
	char body[ECHO_CAP + 1];
	memset(body, 'a', sizeof(body));
	request(s, "POST", "/echo", body, sizeof(body), false, NULL, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 413);
	assert_string_equal(r.body, "{\"error\":\"request body is larger than the 1024 byte limit\"}");
	assert_int_equal(atomic_load(&s->echo_calls), 0);
	reply_free(&r);

	/* A route without a body takes none. */
	request(s, "GET", "/hello", "x", 1, false, NULL, &r);
	assert_int_equal(r.status, 413);
	assert_int_equal(atomic_load(&s->hello_calls), 0);
	reply_free(&r);
}

/* The 413 comes from the headers alone: the client has not sent a byte of its body. */
static void test_413_before_body_is_sent(void **state)
{
	struct server *s = *state;
	struct sockaddr_in addr = {.sin_family = AF_INET};
	struct timeval timeout = {.tv_sec = 30};
	char reply[1024];
	size_t got = 0;
	const char head[] = "POST /echo HTTP/1.1\r\nHost: test\r\n"
			    "Content-Length: 100000000\r\n\r\n";
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	addr.sin_port = htons((uint16_t)httpd_port(s->srv));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(write(fd, head, sizeof(head) - 1), (ssize_t)(sizeof(head) - 1));
	while (got < sizeof(reply) - 1) {
		ssize_t n = read(fd, reply + got, sizeof(reply) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	reply[got] = '\0';
	close(fd);
	assert_true(strncmp(reply, "HTTP/1.1 413 ", 13) == 0);
	assert_non_null(strstr(reply, "larger than the 1024 byte limit"));
	assert_int_equal(atomic_load(&s->echo_calls), 0);
}

/* The reply to a request head alone, sent on a raw socket; the body is never sent. */
static void head_only(struct server *s, const char *head, char *reply, size_t size)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	struct timeval timeout = {.tv_sec = 30};
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	addr.sin_port = htons((uint16_t)httpd_port(s->srv));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(write(fd, head, strlen(head)), (ssize_t)strlen(head));
	while (got < size - 1) {
		ssize_t n = read(fd, reply + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	reply[got] = '\0';
	close(fd);
}

/* A route that takes a token answers 401 from the headers: the body is neither awaited nor
 * read, and the handler never runs. */
static void test_401_before_body_is_sent(void **state)
{
	struct server *s = *state;
	char reply[1024];
	struct reply r;
	head_only(s, "PUT /private HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\n\r\n",
		  reply, sizeof(reply));
	assert_true(strncmp(reply, "HTTP/1.1 401 ", 13) == 0);
	assert_non_null(strstr(reply, "\r\n\r\n{\"error\":\"unauthorized\"}"));
	/* The route's cap comes first, as for every route. */
	head_only(s,
		  "PUT /private HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer bad\r\n"
		  "Content-Length: 100000000\r\n\r\n",
		  reply, sizeof(reply));
	assert_true(strncmp(reply, "HTTP/1.1 413 ", 13) == 0);

	request(s, "PUT", "/private", "hello", 5, false, "Authorization: Bearer bad", &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.body, "{\"error\":\"unauthorized\"}");
	reply_free(&r);
	request(s, "PUT", "/private", "hello", 5, true, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	assert_int_equal(atomic_load(&s->echo_calls), 0);

	request(s, "PUT", "/private", "hello", 5, false, "Authorization: Bearer good", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello");
	reply_free(&r);
	assert_int_equal(atomic_load(&s->echo_calls), 1);
}

/* A body that only its own signature can vouch for is capped at HTTPD_BY_BODY_MAX, below the
 * route's cap, which a good token still opens. */
static void test_signed_body_has_smaller_cap(void **state)
{
	struct server *s = *state;
	struct reply r;
	size_t len = HTTPD_BY_BODY_MAX + 1;
	char *body = malloc(len);
	char expect[96];
	assert_non_null(body);
	memset(body, 's', len);
	snprintf(expect, sizeof(expect),
		 "{\"error\":\"request body is larger than the %u byte limit\"}", HTTPD_BY_BODY_MAX);

	request(s, "POST", "/signed", body, len, false, "X-Signature: sha256=00", &r);
	assert_int_equal(r.status, 413);
	assert_string_equal(r.body, expect);
	reply_free(&r);
	request(s, "POST", "/signed", body, len, true, "X-Signature: sha256=00", &r);
	assert_int_equal(r.status, 413);
	reply_free(&r);
	assert_int_equal(atomic_load(&s->echo_calls), 0);

	request(s, "POST", "/signed", body, HTTPD_BY_BODY_MAX, false, "X-Signature: sha256=00", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, HTTPD_BY_BODY_MAX);
	reply_free(&r);
	request(s, "POST", "/signed", body, len, false, "Authorization: Bearer good", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, len);
	reply_free(&r);
	request(s, "POST", "/signed", body, 10, false, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	assert_int_equal(atomic_load(&s->echo_calls), 2);
	free(body);
}

static void test_chunked_over_cap_413(void **state)
{
	struct server *s = *state;
	struct reply r;
	size_t len = 4 * ECHO_CAP;
	char *body = malloc(len);
	assert_non_null(body);
	memset(body, 'b', len);
	request(s, "POST", "/echo", body, len, true, NULL, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr(r.body, "larger than the 1024 byte limit"));
	assert_int_equal(atomic_load(&s->echo_calls), 0);
	reply_free(&r);
	free(body);
}

/* A body far past the cap is not read to its end: the server hangs up. */
static void test_chunked_flood_cut_off(void **state)
{
	struct server *s = *state;
	struct reply r;
	size_t len = 8 << 20;
	char *body = malloc(len);
	assert_non_null(body);
	memset(body, 'c', len);
	request(s, "POST", "/echo", body, len, true, NULL, &r);
	assert_int_not_equal(r.rc, CURLE_OK);
	assert_int_equal(atomic_load(&s->echo_calls), 0);
	reply_free(&r);
	free(body);

	/* The server still answers afterwards. */
	request(s, "GET", "/hello", NULL, 0, false, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
}

static void test_headers_and_query(void **state)
{
	struct server *s = *state;
	struct reply r;
	request(s, "GET", "/inspect?name=a%20b&Name=upper&flag", NULL, 0, false, "X-THING: widget",
		&r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "GET|widget|a b|upper||(null)");
	reply_free(&r);
}

static void test_handler_failure_500(void **state)
{
	struct server *s = *state;
	struct reply r;
	request(s, "GET", "/fail", NULL, 0, false, NULL, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 500);
	assert_string_equal(r.body, "{\"error\":\"internal error\"}");
	reply_free(&r);
}

static void test_json_error_escapes_reason(void **state)
{
	struct server *s = *state;
	struct reply r;
	request(s, "GET", "/teapot", NULL, 0, false, NULL, &r);
	assert_int_equal(r.status, 418);
	assert_string_equal(r.body, "{\"error\":\"short and \\\"stout\\\"\"}");
	assert_true(has_header(&r, "Content-Type: application/json"));
	reply_free(&r);
}

struct client {
	struct server *s;
	int ok;
};

static void *client_run(void *arg)
{
	struct client *c = arg;
	char url[128], body[64];
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	snprintf(url, sizeof(url), "%s/echo", c->s->base);
	for (int i = 0; i < 200; i++) {
		struct reply r;
		int n = snprintf(body, sizeof(body), "client %p request %d", (void *)c, i);
		exchange(h, "POST", url, body, (size_t)n, false, NULL, &r);
		if (r.rc == CURLE_OK && r.status == 200 && r.len == (size_t)n &&
		    memcmp(r.body, body, (size_t)n) == 0)
			c->ok++;
		reply_free(&r);
	}
	curl_easy_cleanup(h);
	return NULL;
}

static void test_concurrent_clients(void **state)
{
	struct server *s = *state;
	enum { CLIENTS = 8 };
	pthread_t threads[CLIENTS];
	struct client clients[CLIENTS];
	for (int i = 0; i < CLIENTS; i++) {
		clients[i] = (struct client){s, 0};
		assert_int_equal(pthread_create(&threads[i], NULL, client_run, &clients[i]), 0);
	}
	for (int i = 0; i < CLIENTS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(clients[i].ok, 200);
	}
	assert_int_equal(atomic_load(&s->echo_calls), CLIENTS * 200);
}

static void test_stop_closes_port(void **state)
{
	struct server *s = *state;
	struct reply r;
	httpd_stop(s->srv);
	s->srv = NULL;
	request(s, "GET", "/hello", NULL, 0, false, NULL, &r);
	assert_int_equal(r.rc, CURLE_COULDNT_CONNECT);
	reply_free(&r);
}

static void test_port_in_use(void **state)
{
	struct server *s = *state;
	struct server other = {0};
	struct cf_err err = { { 0 } };
	char listen[64];
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", httpd_port(s->srv));
	assert_int_equal(start_server(&other, listen, &err), -1);
	assert_null(other.srv);
	assert_non_null(strstr(err.msg, listen));
	assert_non_null(strstr(err.msg, strerror(EADDRINUSE)));
}

static void test_ipv6_loopback(void **state)
{
	struct server s6 = {0};
	struct cf_err err = { { 0 } };
	struct reply r;
	(void)state;
	if (start_server(&s6, "[::1]:0", &err) < 0) {
		if (strstr(err.msg, strerror(EADDRNOTAVAIL)) ||
		    strstr(err.msg, strerror(EAFNOSUPPORT)))
			skip();
		fail_msg("%s", err.msg);
	}
	snprintf(s6.base, sizeof(s6.base), "http://[::1]:%u", httpd_port(s6.srv));
	request(&s6, "GET", "/hello", NULL, 0, false, NULL, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	httpd_stop(s6.srv);
}

static void test_localhost_single_thread(void **state)
{
	struct server s = {0};
	const struct httpd_route route = {"GET", "/hello", hello, &s, 0, NULL};
	const struct httpd_config cfg = {
		.listen = "localhost:0", .routes = &route, .n_routes = 1, .threads = 1};
	struct cf_err err = { { 0 } };
	struct reply r;
	(void)state;
	if (httpd_start(&s.srv, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	snprintf(s.base, sizeof(s.base), "http://127.0.0.1:%u", httpd_port(s.srv));
	request(&s, "GET", "/hello", NULL, 0, false, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(atomic_load(&s.hello_calls), 1);
	reply_free(&r);
	httpd_stop(s.srv);
}

/* A slowloris client from address `from` (any 127.x address reaches the server on 127.0.0.1):
 * connected, a request head begun and never finished. -1 when the kernel refused the socket. */
static int slow_client(const char *from, unsigned int port)
{
	static const char head[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	struct sockaddr_in src = {.sin_family = AF_INET};
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = compat_socket(AF_INET, SOCK_STREAM, 0, O_CLOEXEC);
	if (fd < 0)
		return -1;
	inet_pton(AF_INET, from, &src.sin_addr);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 ||
	    send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

enum server_end { STILL_OPEN, CLOSED, REFUSED_503 };

/* Whether the server closed fd within wait_ms (end of stream or a reset), and whether it wrote
 * a 503 with Retry-After and a JSON reason first; what it wrote goes into got (may be NULL). */
static enum server_end server_end(int fd, int wait_ms, char *got, size_t size)
{
	char buf[1024];
	size_t used = 0;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = wait_ms - ((now.tv_sec - t0.tv_sec) * 1000 +
				       (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (poll(&p, 1, left > 0 ? (int)left : 0) <= 0)
			return STILL_OPEN;
		ssize_t n = recv(fd, buf + used, sizeof(buf) - 1 - used, MSG_DONTWAIT);
		if (n > 0 && used + (size_t)n < sizeof(buf) - 1) {
			used += (size_t)n;
			continue;
		}
		if (n < 0 && errno != ECONNRESET)
			continue;
		break;
	}
	buf[used] = '\0';
	if (got)
		snprintf(got, size, "%s", buf);
	return strncmp(buf, "HTTP/1.1 503 ", 13) == 0 && strstr(buf, "\r\nRetry-After: 1\r\n") &&
			       strstr(buf, "\r\n\r\n{\"error\":\"")
		       ? REFUSED_503
		       : CLOSED;
}

static bool closed_by_server(int fd, int wait_ms)
{
	return server_end(fd, wait_ms, NULL, 0) != STILL_OPEN;
}

/* The next header byte of every slow client still open. */
static void trickle(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			send(fds[i], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static long healthz_ms(unsigned int port, long *status)
{
	char url[64];
	struct reply r;
	struct timespec t0, t1;
	CURL *h = curl_easy_init();
	assert_non_null(h);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", port);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	exchange(h, "GET", url, NULL, 0, false, NULL, &r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*status = r.status;
	reply_free(&r);
	curl_easy_cleanup(h);
	return (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
}

static struct httpd *start_healthz_for(unsigned int max_connections, unsigned int per_client,
				       unsigned int deadline_ms, char *const *reserve_for)
{
	static const struct httpd_route route = {"GET", "/healthz", httpd_healthz, NULL, 0, NULL};
	const struct httpd_config cfg = {
		.reserve_for = reserve_for,
		.listen = "127.0.0.1:0",
		.routes = &route,
		.n_routes = 1,
		.max_connections = max_connections,
		.per_client_connections = per_client,
		.request_deadline_ms = deadline_ms,
		.threads = 1,
	};
	struct httpd *srv = NULL;
	struct cf_err err = { { 0 } };
	if (httpd_start(&srv, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	return srv;
}

static struct httpd *start_healthz(unsigned int max_connections, unsigned int per_client,
				   unsigned int deadline_ms)
{
	return start_healthz_for(max_connections, per_client, deadline_ms, NULL);
}

#define SLOW_CLIENTS 500
#define SLOW_ADDRESSES 20

/* 500 slowloris connections from 20 addresses, each well inside its share: /healthz still
 * answers, and long before the slow clients' deadline (1.5 s here) frees a slot, so it was never
 * locked out (on an idle machine it answers in a few ms; the bound leaves room for a loaded CI
 * machine and the sanitizers), and every slow connection is cut at its deadline although it
 * keeps trickling bytes that would reset an idle timeout. */
static void test_slowloris_neither_locks_out_nor_stays(void **state)
{
	int fds[SLOW_CLIENTS];
	long status;
	(void)state;
	struct httpd *srv = start_healthz(0, 0, 1500);
	unsigned int port = httpd_port(srv);
	for (size_t i = 0; i < SLOW_CLIENTS; i++) {
		char from[32];
		snprintf(from, sizeof(from), "127.0.0.%zu", 2 + i % SLOW_ADDRESSES);
		fds[i] = slow_client(from, port);
		assert_true(fds[i] >= 0);
	}
	for (int round = 0; round < 5; round++) {
		trickle(fds, SLOW_CLIENTS);
		long ms = healthz_ms(port, &status);
		assert_int_equal(status, 200);
		if (ms >= 1000)
			fail_msg("/healthz took %ld ms beside %d slow clients", ms, SLOW_CLIENTS);
	}
	size_t held = 0;
	for (size_t i = 0; i < SLOW_CLIENTS; i++)
		held += !closed_by_server(fds[i], 0);
	assert_int_equal(held, SLOW_CLIENTS);

	/* Past the deadline (1.5 s) plus the watchdog's tick, bytes still trickling. */
	for (int step = 0; step < 10; step++) {
		usleep(250 * 1000);
		trickle(fds, SLOW_CLIENTS);
	}
	for (size_t i = 0; i < SLOW_CLIENTS; i++)
		if (!closed_by_server(fds[i], 1000))
			fail_msg("slow client %zu still open past its deadline", i);
	close_all(fds, SLOW_CLIENTS);
	httpd_stop(srv);
}

/* One address past its share is answered 503 at once and closed; the others' connections are
 * untouched. */
static void test_per_client_limit_refuses_at_once(void **state)
{
	int fds[20];
	long status;
	char got[1024];
	(void)state;
	struct httpd *srv = start_healthz(0, 8, 0);
	for (size_t i = 0; i < 20; i++) {
		fds[i] = slow_client("127.0.0.2", httpd_port(srv));
		assert_true(fds[i] >= 0);
	}
	size_t refused = 0;
	for (size_t i = 0; i < 20; i++) {
		enum server_end end = server_end(fds[i], i < 8 ? 100 : 1000, got, sizeof(got));
		assert_int_equal(end, i < 8 ? STILL_OPEN : REFUSED_503);
		refused += end == REFUSED_503;
	}
	assert_int_equal(refused, 12);
	assert_non_null(strstr(got, "this address holds 8 connections already"));
	assert_non_null(strstr(got, "Content-Type: application/json"));
	assert_int_equal(healthz_ms(httpd_port(srv), &status) >= 0, 1);
	assert_int_equal(status, 200);
	close_all(fds, 20);
	httpd_stop(srv);
}

/* Remote clients filling the server leave the local host's reserved slots (an eighth) free. */
static void test_local_host_keeps_reserved_slots(void **state)
{
	int fds[16];
	long status;
	(void)state;
	struct httpd *srv = start_healthz(16, 64, 0);
	for (size_t i = 0; i < 16; i++) {
		fds[i] = slow_client(i % 2 ? "127.0.0.3" : "127.0.0.2", httpd_port(srv));
		assert_true(fds[i] >= 0);
	}
	size_t refused = 0;
	char got[1024];
	for (size_t i = 0; i < 16; i++)
		refused += server_end(fds[i], i < 14 ? 100 : 1000, got, sizeof(got)) == REFUSED_503;
	assert_int_equal(refused, 2);
	assert_non_null(strstr(got, "at its connection limit"));
	healthz_ms(httpd_port(srv), &status);
	assert_int_equal(status, 200);
	close_all(fds, 16);
	httpd_stop(srv);
}

/* The addresses reserve_for names (the agent's controller) share the kept slots. */
static void test_reserve_for_shares_kept_slots(void **state)
{
	char *const controller[] = {"10.9.9.9", "127.0.0.8/30", NULL};
	int fds[14], mine[2], other;
	(void)state;
	struct httpd *srv = start_healthz_for(16, 64, 0, controller);
	for (size_t i = 0; i < 14; i++) {
		fds[i] = slow_client(i % 2 ? "127.0.0.3" : "127.0.0.2", httpd_port(srv));
		assert_true(fds[i] >= 0);
		assert_false(closed_by_server(fds[i], 20));
	}
	other = slow_client("127.0.0.12", httpd_port(srv));
	mine[0] = slow_client("127.0.0.9", httpd_port(srv));
	mine[1] = slow_client("127.0.0.11", httpd_port(srv));
	assert_int_equal(server_end(other, 1000, NULL, 0), REFUSED_503);
	assert_int_equal(server_end(mine[0], 200, NULL, 0), STILL_OPEN);
	assert_int_equal(server_end(mine[1], 200, NULL, 0), STILL_OPEN);
	close(other);
	close_all(mine, 2);
	close_all(fds, 14);
	httpd_stop(srv);

	char *const bad[] = {"10.0.0.7/8", NULL};
	const struct httpd_route route = {"GET", "/healthz", httpd_healthz, NULL, 0, NULL};
	const struct httpd_config cfg = {
		.listen = "127.0.0.1:0", .routes = &route, .n_routes = 1, .reserve_for = bad};
	struct cf_err err = { { 0 } };
	srv = NULL;
	assert_int_equal(httpd_start(&srv, &cfg, &err), -1);
	assert_null(srv);
	assert_non_null(strstr(err.msg, "10.0.0.7/8"));
}

static void test_bad_config(void **state)
{
	static const char *const bad_listen[] = {
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:80x", "example.com:80",
		"256.0.0.1:80", "[::1]", "[::1:80", "[nonsense]:80", ":80", "::1:80",
	};
	const struct httpd_route route = {"GET", "/hello", hello, NULL, 0, NULL};
	const struct httpd_route dup[] = {route, route};
	struct httpd_config cfg = {.listen = "127.0.0.1:0", .routes = &route, .n_routes = 1};
	struct httpd *srv = NULL;
	struct cf_err err = { { 0 } };
	(void)state;

	for (size_t i = 0; i < sizeof(bad_listen) / sizeof(bad_listen[0]); i++) {
		cfg.listen = bad_listen[i];
		assert_int_equal(httpd_start(&srv, &cfg, &err), -1);
		assert_null(srv);
		assert_non_null(strstr(err.msg, bad_listen[i]));
	}
	cfg.listen = "127.0.0.1:0";
	cfg.n_routes = 0;
	assert_int_equal(httpd_start(&srv, &cfg, &err), -1);
	cfg.routes = dup;
	cfg.n_routes = 2;
	assert_int_equal(httpd_start(&srv, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "listed twice"));
	cfg.n_routes = 1;
	cfg.threads = 65;
	assert_int_equal(httpd_start(&srv, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "threads"));
	assert_null(srv);
}

static void test_response_setters_refuse_injection(void **state)
{
	struct httpd_response resp;
	char name[16];
	(void)state;
	httpd_response_init(&resp);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.content_type, "application/json");
	assert_int_equal(httpd_response_add_header(&resp, "X-A", "1\r\nSet-Cookie: x"), -1);
	assert_int_equal(httpd_response_add_header(&resp, "X-A\r\nX-B", "1"), -1);
	assert_int_equal(httpd_response_add_header(&resp, "Content-Type", "text/html"), -1);
	assert_int_equal(httpd_response_set_type(&resp, "text/plain\r\nX-B: 1"), -1);
	assert_string_equal(resp.content_type, "application/json");
	for (int i = 0; i < HTTPD_MAX_HEADERS; i++) {
		snprintf(name, sizeof(name), "X-H%d", i);
		assert_int_equal(httpd_response_add_header(&resp, name, "v"), 0);
	}
	assert_int_equal(httpd_response_add_header(&resp, "X-One-Too-Many", "v"), -1);
	assert_int_equal(resp.n_headers, HTTPD_MAX_HEADERS);
	assert_int_equal(httpd_json_error(&resp, 400, "bad"), 0);
	assert_int_equal(resp.status, 400);
	assert_string_equal(resp.body, "{\"error\":\"bad\"}");
	httpd_response_release(&resp);
	assert_null(resp.body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_runs_get_without_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_path_404, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_method_405_with_allow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_body_binary_safe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunked_body_within_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_length_over_cap_413_before_handler,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_413_before_body_is_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_401_before_body_is_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signed_body_has_smaller_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunked_over_cap_413, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunked_flood_cut_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_headers_and_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handler_failure_500, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_error_escapes_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_closes_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_in_use, setup, teardown),
		cmocka_unit_test(test_ipv6_loopback),
		cmocka_unit_test(test_localhost_single_thread),
		cmocka_unit_test(test_slowloris_neither_locks_out_nor_stays),
		cmocka_unit_test(test_per_client_limit_refuses_at_once),
		cmocka_unit_test(test_local_host_keeps_reserved_slots),
		cmocka_unit_test(test_reserve_for_shares_kept_slots),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_response_setters_refuse_injection),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests_name("httpd", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
