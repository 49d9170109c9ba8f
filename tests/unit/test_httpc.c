/* httpc and buf: the one HTTP client's policy, checked against real servers on loopback (httpd):
 * the reply and its status, the reply cap, timeouts that name the request, headers and bodies
 * sent as given, errors that name the request (as the caller shows it when its URL holds a
 * secret), keep-alive on a reusable handle, the multi-handle constructor, and the proxy
 * policy: a fleet-internal request never goes through http_proxy from the environment, while a
 * request that asks for the environment's proxy does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/httpc.h"
#include "serve/httpd.h"

struct server {
	struct httpd *srv;
	char base[64];
};

static int hello(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	(void)req;
	return httpd_response_set_body(resp, "{\"hello\":\"world\"}", 17);
}

static int big(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	(void)req;
	char body[4096];
	memset(body, 'x', sizeof(body));
	return httpd_response_set_body(resp, body, sizeof(body));
}

static int slow(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	(void)req;
	usleep(800 * 1000);
	return httpd_response_set_body(resp, "late", 4);
}

/* Echoes the method, the X-Test header and the body: "PUT|abc|payload". */
static int echo(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	char out[512];
	const char *h = httpd_request_header(req, "X-Test");
	int n = snprintf(out, sizeof(out), "%s|%s|%.*s", req->method, h ? h : "-",
			 (int)req->body_len, req->body);
	resp->status = 201;
	return httpd_response_set_body(resp, out, (size_t)n);
}

/* The "proxy" knows only this path: a request proxied through it (an absolute URL as its target)
 * gets its 404, where the server itself answers 200. */
static int proxied(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	(void)req;
	resp->status = 407;
	return httpd_response_set_body(resp, "via-proxy", 9);
}

static void start(struct server *s, const struct httpd_route *routes, size_t n)
{
	struct cf_err err = {{0}};
	struct httpd_config cfg = {.listen = "127.0.0.1:0", .routes = routes, .n_routes = n};
	if (httpd_start(&s->srv, &cfg, &err) < 0)
		fail_msg("httpd_start: %s", err.msg);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%u", httpd_port(s->srv));
}

static const struct httpd_route routes[] = {
	{"GET", "/hello", hello, NULL, 0, NULL},
	{"GET", "/big", big, NULL, 0, NULL},
	{"GET", "/slow", slow, NULL, 0, NULL},
	{"PUT", "/echo", echo, NULL, 1024, NULL},
	{"POST", "/echo", echo, NULL, 1024, NULL},
};

static struct httpc_request request(const char *url)
{
	return (struct httpc_request){.url = url,
				      .connect_timeout_ms = 1000,
				      .timeout_ms = 2000,
				      .max_reply = 1024};
}

static void test_get_reply_and_status(void **state)
{
	(void)state;
	struct server s;
	start(&s, routes, sizeof(routes) / sizeof(routes[0]));
	char url[128];
	snprintf(url, sizeof(url), "%s/hello", s.base);
	struct httpc_request req = request(url);
	struct httpc_reply reply = {0};
	struct cf_err err = {{0}};
	assert_int_equal(httpc_do(NULL, &req, &reply, &err), 0);
	assert_int_equal(reply.status, 200);
	assert_string_equal(buf_str(&reply.body), "{\"hello\":\"world\"}");
	assert_int_equal(reply.body.len, 17);

	/* A 404 is a response: 0, with the status. */
	snprintf(url, sizeof(url), "%s/nothing", s.base);
	assert_int_equal(httpc_do(NULL, &req, &reply, &err), 0);
	assert_int_equal(reply.status, 404);
	httpc_reply_free(&reply);
	httpd_stop(s.srv);
}

static void test_reply_over_cap_is_an_error(void **state)
{
	(void)state;
	struct server s;
	start(&s, routes, sizeof(routes) / sizeof(routes[0]));
	char url[128];
	snprintf(url, sizeof(url), "%s/big", s.base);
	struct httpc_request req = request(url);
	struct httpc_reply reply = {0};
	struct cf_err err = {{0}};
	assert_int_equal(httpc_do(NULL, &req, &reply, &err), -1);
	assert_non_null(strstr(err.msg, "reply over the 1024 byte limit"));
	assert_non_null(strstr(err.msg, "GET http://127.0.0.1:"));
	assert_true(reply.body.len <= 1024);

	req.max_reply = 4096;
	assert_int_equal(httpc_do(NULL, &req, &reply, &err), 0);
	assert_int_equal(reply.body.len, 4096);
	httpc_reply_free(&reply);
	httpd_stop(s.srv);
}

static void test_timeout_names_the_request(void **state)
{
	(void)state;
	struct server s;
	start(&s, routes, sizeof(routes) / sizeof(routes[0]));
	char url[128];
	snprintf(url, sizeof(url), "%s/slow", s.base);
	struct httpc_request req = request(url);
	req.timeout_ms = 200;
	struct httpc_reply reply = {0};
	struct cf_err err = {{0}};
	assert_int_equal(httpc_do(NULL, &req, &reply, &err), -1);
	assert_non_null(strstr(err.msg, "GET "));
	assert_non_null(strstr(err.msg, "/slow: "));
	assert_non_null(strstr(err.msg, "timed out"));
	httpc_reply_free(&reply);
	httpd_stop(s.srv);
}

static void test_refused_connection(void **state)
{
	(void)state;
	/* Port 1 on loopback: nothing listens there. */
	struct httpc_request req = request("http://127.0.0.1:1/readyz");
	struct httpc_reply reply = {0};
	struct cf_err err = {{0}};
	assert_int_equal(httpc_do(NULL, &req, &reply, &err), -1);
	assert_non_null(strstr(err.msg, "GET http://127.0.0.1:1/readyz: "));
	assert_int_equal(reply.status, 0);

	/* A URL with a secret in it: errors name what the caller shows instead. */
	req = request("http://127.0.0.1:1/hooks/s3cret");
	req.method = "POST";
	req.url_shown = "http://127.0.0.1:1";
	assert_int_equal(httpc_do(NULL, &req, &reply, &err), -1);
	assert_non_null(strstr(err.msg, "POST http://127.0.0.1:1: "));
	assert_null(strstr(err.msg, "s3cret"));
	httpc_reply_free(&reply);
}

static void test_method_headers_body_on_a_kept_handle(void **state)
{
	(void)state;
	struct server s;
	start(&s, routes, sizeof(routes) / sizeof(routes[0]));
	char url[128];
	snprintf(url, sizeof(url), "%s/echo", s.base);
	const char *headers[] = {"X-Test: abc", "Content-Type: application/json", NULL};
	struct httpc_request req = request(url);
	req.method = "PUT";
	req.headers = headers;
	req.body = "payload";
	req.body_len = 7;
	struct httpc *h = NULL;
	struct httpc_reply reply = {0};
	struct cf_err err = {{0}};
	assert_int_equal(httpc_new(&h, &err), 0);
	assert_int_equal(httpc_do(h, &req, &reply, &err), 0);
	assert_int_equal(reply.status, 201);
	assert_string_equal(buf_str(&reply.body), "PUT|abc|payload");

	/* The same handle, another request: nothing of the first one stays (no header, no body,
	 * no method). */
	snprintf(url, sizeof(url), "%s/hello", s.base);
	struct httpc_request get = request(url);
	assert_int_equal(httpc_do(h, &get, &reply, &err), 0);
	assert_int_equal(reply.status, 200);
	assert_string_equal(buf_str(&reply.body), "{\"hello\":\"world\"}");

	snprintf(url, sizeof(url), "%s/echo", s.base);
	struct httpc_request post = request(url);
	post.method = "POST";
	post.body = "second";
	post.body_len = 6;
	assert_int_equal(httpc_do(h, &post, &reply, &err), 0);
	assert_string_equal(buf_str(&reply.body), "POST|-|second");
	httpc_reply_free(&reply);
	httpc_free(h);
	httpd_stop(s.srv);
}

static void test_request_without_limits_is_refused(void **state)
{
	(void)state;
	struct httpc_request req = request("http://127.0.0.1:1/");
	req.timeout_ms = 0;
	struct httpc_reply reply = {0};
	struct cf_err err = {{0}};
	assert_int_equal(httpc_do(NULL, &req, &reply, &err), -1);
	assert_non_null(strstr(err.msg, "needs a connect timeout, a timeout and a reply limit"));
	req = request("http://127.0.0.1:1/");
	req.max_reply = 0;
	assert_int_equal(httpc_do(NULL, &req, &reply, &err), -1);
	httpc_reply_free(&reply);
}

/* The token-leak case: http_proxy is exported, a fleet-internal request (proxy NULL) must still
 * go straight to the server; only a request asking for the environment's proxy uses it. */
static void test_proxy_policy(void **state)
{
	(void)state;
	struct server s, proxy;
	start(&s, routes, sizeof(routes) / sizeof(routes[0]));
	const struct httpd_route proxy_routes[] = {{"GET", "/proxy-only", proxied, NULL, 0, NULL}};
	start(&proxy, proxy_routes, 1);
	setenv("http_proxy", proxy.base, 1);
	setenv("HTTP_PROXY", proxy.base, 1);
	setenv("ALL_PROXY", proxy.base, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");

	char url[128];
	snprintf(url, sizeof(url), "%s/hello", s.base);
	struct httpc_request req = request(url);
	struct httpc_reply reply = {0};
	struct cf_err err = {{0}};
	assert_int_equal(httpc_do(NULL, &req, &reply, &err), 0);
	assert_int_equal(reply.status, 200);
	assert_string_equal(buf_str(&reply.body), "{\"hello\":\"world\"}");

	/* Asked for: the environment's proxy answers (404: its routes know no such URL). */
	req.proxy = HTTPC_PROXY_FROM_ENV;
	assert_int_equal(httpc_do(NULL, &req, &reply, &err), 0);
	assert_int_equal(reply.status, 404);

	/* A proxy named in the request. */
	req.proxy = proxy.base;
	assert_int_equal(httpc_do(NULL, &req, &reply, &err), 0);
	assert_int_equal(reply.status, 404);

	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("ALL_PROXY");
	httpc_reply_free(&reply);
	httpd_stop(proxy.srv);
	httpd_stop(s.srv);
}

static void test_multi_handles(void **state)
{
	(void)state;
	struct server s;
	start(&s, routes, sizeof(routes) / sizeof(routes[0]));
	char ok_url[128], big_url[128];
	snprintf(ok_url, sizeof(ok_url), "%s/hello", s.base);
	snprintf(big_url, sizeof(big_url), "%s/big", s.base);
	struct httpc_request reqs[2] = {request(ok_url), request(big_url)};
	struct httpc_reply replies[2] = {{0}, {0}};
	int marks[2] = {0, 1};
	CURL *easy[2] = {NULL, NULL};
	struct cf_err err = {{0}};
	CURLM *multi = curl_multi_init();
	assert_non_null(multi);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(httpc_easy_new(&easy[i], &reqs[i], &replies[i], &marks[i], &err),
				 0);
		assert_int_equal(curl_multi_add_handle(multi, easy[i]), CURLM_OK);
	}
	int running = 1, done = 0, results[2] = {9, 9};
	char msgs[2][CF_ERR_MSG] = {"", ""};
	while (done < 2) {
		curl_multi_perform(multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			int *mark = httpc_easy_private(m->easy_handle);
			assert_non_null(mark);
			struct cf_err e = {{0}};
			results[*mark] = httpc_easy_finish(m->easy_handle, m->data.result, &e);
			snprintf(msgs[*mark], sizeof(msgs[*mark]), "%s", e.msg);
			done++;
		}
		if (done < 2)
			curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
	assert_int_equal(results[0], 0);
	assert_int_equal(replies[0].status, 200);
	assert_string_equal(buf_str(&replies[0].body), "{\"hello\":\"world\"}");
	assert_int_equal(results[1], -1);
	assert_non_null(strstr(msgs[1], "reply over the 1024 byte limit"));
	for (int i = 0; i < 2; i++) {
		curl_multi_remove_handle(multi, easy[i]);
		httpc_easy_free(easy[i]);
		httpc_reply_free(&replies[i]);
	}
	curl_multi_cleanup(multi);
	httpd_stop(s.srv);
}

static void test_buf_cap_and_take(void **state)
{
	(void)state;
	struct buf b = BUF_INIT(8);
	struct cf_err err = {{0}};
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(buf_appends(&b, "abcd", &err), 0);
	assert_int_equal(buf_printf(&b, &err, "%d", 123), 0);
	assert_string_equal(buf_str(&b), "abcd123");
	/* Over the limit: refused, and the buffer is as it was. */
	assert_int_equal(buf_appends(&b, "xy", &err), -1);
	assert_string_equal(err.msg, "over the 8 byte limit");
	assert_string_equal(buf_str(&b), "abcd123");
	assert_int_equal(buf_printf(&b, &err, "%s", "toolong"), -1);
	assert_int_equal(b.len, 7);
	assert_int_equal(buf_append(&b, "z", 1, &err), 0);
	assert_int_equal(b.len, 8);
	size_t len = 0;
	char *p = buf_take(&b, &len);
	assert_string_equal(p, "abcd123z");
	assert_int_equal(len, 8);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 8);
	free(p);
	p = buf_take(&b, NULL); /* empty: "" not NULL */
	assert_non_null(p);
	assert_string_equal(p, "");
	free(p);
	buf_free(&b);
}

int main(void)
{
	struct cf_err err = {{0}};
	if (httpc_global_init(&err) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_reply_and_status),
		cmocka_unit_test(test_reply_over_cap_is_an_error),
		cmocka_unit_test(test_timeout_names_the_request),
		cmocka_unit_test(test_refused_connection),
		cmocka_unit_test(test_method_headers_body_on_a_kept_handle),
		cmocka_unit_test(test_request_without_limits_is_refused),
		cmocka_unit_test(test_proxy_policy),
		cmocka_unit_test(test_multi_handles),
		cmocka_unit_test(test_buf_cap_and_take),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	httpc_global_cleanup();
	return failed;
}
