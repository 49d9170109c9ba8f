/* weights: the load-balancer drivers a rollout moves traffic with. Each driver sets weights and
 * reads them back; a change the load balancer did not take, a bad reply, an unreachable endpoint
 * or a missing secret is an error that names what to fix; the http driver never goes through a
 * proxy from the environment. The HAProxy driver runs against a scripted Runtime API here and
 * against a real HAProxy when HAPROXY_SOCKET or HAPROXY_ADDRESS is set
 * (tests/integration/haproxy_weights.sh does that). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/compat.h"
#include "base/fsutil.h"
#include "reconcilers/weights/weights.h"
#include "serve/httpd.h"

static char tmpdir[64];

static char *tmp_path(const char *name)
{
	static char path[4][256];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
	return p;
}

static void map_of(struct weight_map *m, const char *spec)
{
	char copy[512], *save = NULL;
	snprintf(copy, sizeof(copy), "%s", spec);
	for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		assert_non_null(eq);
		*eq = '\0';
		assert_int_equal(weight_map_set(m, kv, atoi(eq + 1), NULL), 0);
	}
}

static void assert_weight(const struct weight_map *m, const char *server, int weight)
{
	const struct weight_entry *e = weight_map_find(m, server);
	if (!e)
		fail_msg("server %s is not in the map", server);
	assert_int_equal(e->weight, weight);
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* --- the weight map --- */

static void test_map_set_replaces_and_keeps_order(void **state)
{
	(void)state;
	struct weight_map m = {0};
	map_of(&m, "canary-gw=20,stable-gw-a=40,stable-gw-b=40");
	assert_int_equal(weight_map_set(&m, "canary-gw", 0, NULL), 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.v[0].server, "canary-gw");
	assert_int_equal(m.v[0].weight, 0);
	assert_null(weight_map_find(&m, "stable-gw-c"));
	weight_map_free(&m);
}

static void test_map_rejects_bad_entries(void **state)
{
	(void)state;
	struct weight_map m = {0};
	struct cf_err err;
	char long_name[80];
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	assert_int_equal(weight_map_set(&m, "gw 1", 10, &err), -1);
	assert_contains(err.msg, "server name \"gw 1\"");
	assert_int_equal(weight_map_set(&m, "gw/1", 10, &err), -1);
	assert_int_equal(weight_map_set(&m, "", 10, &err), -1);
	assert_int_equal(weight_map_set(&m, long_name, 10, &err), -1);
	assert_int_equal(weight_map_set(&m, "gw-1", 257, &err), -1);
	assert_string_equal(err.msg, "server gw-1: weight 257 is outside 0..256");
	assert_int_equal(weight_map_set(&m, "gw-1", -1, &err), -1);
	assert_int_equal(m.n, 0);
	assert_int_equal(weight_map_set(&m, "gw-1", 256, &err), 0);
	weight_map_free(&m);
}

struct doc_case {
	const char *text;
	const char *msg; /* NULL: parses */
};

static const struct doc_case doc_cases[] = {
	{"{\"weights\": {\"a\": 1, \"b\": 256}}\n", NULL},
	{"  {}  ", NULL},
	{"", "src: not valid JSON: unexpected end"},
	{"{\"weights\": {\"a\": 1}", "src: not valid JSON: unexpected end"},
	{"{} {}", "src: not valid JSON: unexpected character"},
	{"[]", "src: want a JSON object {\"weights\": {\"server\": weight}}"},
	{"{\"weights\": [1]}", "src: \"weights\" must be an object of server names to weights"},
	{"{\"weights\": {\"a\": \"10\"}}", "src: weights.a: want an integer 0..256"},
	{"{\"weights\": {\"a\": 1.5}}", "src: weights.a: want an integer 0..256"},
	{"{\"weights\": {\"a\": 300}}", "src: weights.a: 300 is outside 0..256"},
	{"{\"weights\": {\"a\": -2}}", "src: weights.a: -2 is outside 0..256"},
	{"{\"weights\": {\"a;b\": 2}}", "src: weights: server name \"a;b\""},
};

static void test_parse_doc(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(doc_cases) / sizeof(doc_cases[0]); i++) {
		const struct doc_case *c = &doc_cases[i];
		struct weight_map m = {0};
		struct cf_err err = {""};
		int rc = weights_parse_doc(c->text, strlen(c->text), "src", &m, &err);
		if (!c->msg) {
			assert_int_equal(rc, 0);
		} else {
			if (rc != -1)
				fail_msg("case %zu: parsed \"%s\"", i, c->text);
			assert_contains(err.msg, c->msg);
		}
		weight_map_free(&m);
	}
}

static void test_render_parses_back(void **state)
{
	(void)state;
	struct weight_map m = {0}, back = {0};
	char *text;
	size_t len;
	map_of(&m, "canary-gw=10,stable-gw-a=95");
	assert_int_equal(weights_render_doc(&m, &text, &len, NULL), 0);
	assert_string_equal(text, "{\"weights\":{\"canary-gw\":10,\"stable-gw-a\":95}}");
	assert_int_equal(weights_parse_doc(text, len, "doc", &back, NULL), 0);
	assert_int_equal(back.n, 2);
	assert_weight(&back, "stable-gw-a", 95);
	free(text);
	weight_map_free(&m);
	weight_map_free(&back);
}

static void test_driver_find(void **state)
{
	(void)state;
	assert_string_equal(weights_driver_find(LB_HAPROXY)->name, "haproxy");
	assert_string_equal(weights_driver_find(LB_HTTP)->name, "http");
	assert_string_equal(weights_driver_find(LB_FILE)->name, "file");
	assert_string_equal(weights_driver_find(LB_COMMAND)->name, "command");
	assert_null(weights_driver_find(LB_HTTP)->route_tenant);
}

/* --- file --- */

static struct load_balancer file_lb(const char *path)
{
	return (struct load_balancer){.name = "gateways", .driver = LB_FILE,
				      .file.path = (char *)path};
}

static char *slurp(const char *path)
{
	char *text;
	size_t len;
	if (fsutil_read_file(path, 1 << 20, &text, &len, NULL) < 0)
		return NULL;
	return text;
}

static void test_file_missing_is_empty(void **state)
{
	(void)state;
	struct load_balancer lb = file_lb(tmp_path("none/weights.json"));
	struct weight_map got = {0};
	assert_int_equal(weights_get(&lb, &got, NULL), 0);
	assert_int_equal(got.n, 0);
	weight_map_free(&got);
}

static void test_file_apply_merges_and_reads_back(void **state)
{
	(void)state;
	const char *path = tmp_path("lb/weights.json");
	struct load_balancer lb = file_lb(path);
	struct weight_map want = {0}, drain = {0}, got = {0};
	struct cf_err err = {""};
	map_of(&want, "canary-gw=20,stable-gw-a=40,stable-gw-b=40");
	assert_int_equal(weights_apply(&lb, &want, &err), 0);
	char *text = slurp(path);
	assert_non_null(text);
	assert_contains(text, "{\"updatedAt\":\"");
	assert_contains(text, "\"weights\":{\"canary-gw\":20,\"stable-gw-a\":40,\"stable-gw-b\":40}");
	assert_int_equal(text[strlen(text) - 1], '\n');
	free(text);

	map_of(&drain, "stable-gw-a=0");
	assert_int_equal(weights_apply(&lb, &drain, &err), 0);
	assert_int_equal(weights_get(&lb, &got, &err), 0);
	assert_int_equal(got.n, 3);
	assert_weight(&got, "canary-gw", 20);
	assert_weight(&got, "stable-gw-a", 0);
	assert_weight(&got, "stable-gw-b", 40);
	weight_map_free(&want);
	weight_map_free(&drain);
	weight_map_free(&got);
}

static void test_file_corrupt_changes_nothing(void **state)
{
	(void)state;
	const char *path = tmp_path("corrupt.json");
	struct load_balancer lb = file_lb(path);
	struct weight_map want = {0};
	struct cf_err err = {""};
	assert_int_equal(fsutil_write_atomic(path, "{\"weights\": {\"a\": ", 18, 0644, NULL), 0);
	map_of(&want, "canary-gw=5");
	assert_int_equal(weights_apply(&lb, &want, &err), -1);
	assert_contains(err.msg, "corrupt.json: not valid JSON");
	char *text = slurp(path);
	assert_string_equal(text, "{\"weights\": {\"a\": ");
	free(text);
	weight_map_free(&want);
}

/* Routes read back, drain by weight alone, no server state: what the file driver reports. */
static void test_file_routes_read_back(void **state)
{
	(void)state;
	const char *path = tmp_path("routes.json");
	struct load_balancer lb = file_lb(path);
	struct lb_routes routes = {0};
	struct lb_servers servers = {0};
	struct cf_err err = {""};
	assert_true(weights_has_routes(&lb));
	assert_false(weights_has_drain(&lb));
	assert_false(weights_has_servers(&lb));
	assert_int_equal(weights_routes(&lb, &routes, &err), 0);
	assert_int_equal(routes.n, 0);
	assert_int_equal(weights_route_tenant(&lb, "acme", "canary", &err), 0);
	assert_int_equal(weights_route_tenant(&lb, "globex", "stable", &err), 0);
	assert_int_equal(weights_routes(&lb, &routes, &err), 0);
	assert_int_equal(routes.n, 2);
	assert_string_equal(lb_routes_find(&routes, "acme")->pool, "canary");
	assert_string_equal(lb_routes_find(&routes, "globex")->pool, "stable");
	assert_int_equal(weights_drain(&lb, "canary-gw", true, &err), 0);
	assert_int_equal(weights_servers(&lb, &servers, &err), -1);
	assert_contains(err.msg, "the file load-balancer driver does not report its servers");
	lb_routes_free(&routes);
	lb_servers_free(&servers);
}

static void test_file_route_tenant_keeps_weights(void **state)
{
	(void)state;
	const char *path = tmp_path("route.json");
	struct load_balancer lb = file_lb(path);
	struct weight_map want = {0}, got = {0};
	struct cf_err err = {""};
	map_of(&want, "canary-gw=10,stable-gw-a=95");
	assert_int_equal(weights_apply(&lb, &want, &err), 0);
	assert_int_equal(weights_route_tenant(&lb, "acme", "openclaw_canary", &err), 0);
	assert_int_equal(weights_route_tenant(&lb, "globex", "openclaw_gateways", &err), 0);
	assert_int_equal(weights_route_tenant(&lb, "acme", "openclaw_gateways", &err), 0);
	char *text = slurp(path);
	assert_contains(text, "\"tenants\":{\"acme\":\"openclaw_gateways\",\"globex\":"
			      "\"openclaw_gateways\"}");
	free(text);
	assert_int_equal(weights_apply(&lb, &want, &err), 0);
	text = slurp(path);
	assert_contains(text, "\"tenants\":{\"acme\"");
	free(text);
	assert_int_equal(weights_get(&lb, &got, &err), 0);
	assert_weight(&got, "stable-gw-a", 95);

	assert_int_equal(weights_route_tenant(&lb, "acme corp", "openclaw_canary", &err), -1);
	assert_contains(err.msg, "tenant header value \"acme corp\"");
	assert_int_equal(weights_route_tenant(&lb, "acme", "canary;drop", &err), -1);
	assert_contains(err.msg, "pool \"canary;drop\"");
	weight_map_free(&want);
	weight_map_free(&got);
}

/* --- http, against a fake load-balancer API --- */

struct fake_api {
	pthread_mutex_t mu;
	struct weight_map weights;
	int requests;
	char api_key[128];
	char content_type[128];
	char last_body[512];
};

static struct fake_api api = {.mu = PTHREAD_MUTEX_INITIALIZER};
static struct httpd *api_srv;

static void copy_header(const struct httpd_request *req, const char *name, char *out, size_t size)
{
	const char *v = httpd_request_header(req, name);
	snprintf(out, size, "%s", v ? v : "");
}

static int api_get(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	char *text;
	size_t len;
	pthread_mutex_lock(&api.mu);
	api.requests++;
	copy_header(req, "X-Api-Key", api.api_key, sizeof(api.api_key));
	int rc = weights_render_doc(&api.weights, &text, &len, NULL);
	pthread_mutex_unlock(&api.mu);
	if (rc < 0)
		return -1;
	httpd_response_take_body(resp, text, len);
	return 0;
}

/* Applies the PUT, unless ctx says to answer 200 and ignore it. */
static int api_put(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct weight_map m = {0};
	int rc = 0;
	pthread_mutex_lock(&api.mu);
	api.requests++;
	copy_header(req, "X-Api-Key", api.api_key, sizeof(api.api_key));
	copy_header(req, "Content-Type", api.content_type, sizeof(api.content_type));
	snprintf(api.last_body, sizeof(api.last_body), "%s", req->body);
	if (weights_parse_doc(req->body, req->body_len, "body", &m, NULL) < 0)
		rc = httpd_json_error(resp, 400, "bad body");
	else if (!ctx)
		for (size_t i = 0; i < m.n; i++)
			weight_map_set(&api.weights, m.v[i].server, m.v[i].weight, NULL);
	pthread_mutex_unlock(&api.mu);
	weight_map_free(&m);
	return rc;
}

static int api_locked(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	(void)req;
	return httpd_json_error(resp, 500, "backend locked");
}

static int api_huge(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	(void)req;
	size_t len = WEIGHTS_REPLY_MAX + 10;
	char *body = malloc(len);
	if (!body)
		return -1;
	memset(body, ' ', len);
	body[0] = '{';
	body[len - 1] = '}';
	httpd_response_take_body(resp, body, len);
	return 0;
}

static int ignore_marker;

static const struct httpd_route api_routes[] = {
	{"GET", "/weights", api_get, NULL, 0, NULL},
	{"PUT", "/weights", api_put, NULL, 64 << 10, NULL},
	{"GET", "/ignoring", api_get, NULL, 0, NULL},
	{"PUT", "/ignoring", api_put, &ignore_marker, 64 << 10, NULL},
	{"GET", "/locked", api_get, NULL, 0, NULL},
	{"PUT", "/locked", api_locked, NULL, 64 << 10, NULL},
	{"GET", "/huge", api_huge, NULL, 0, NULL},
};

static int start_api(void)
{
	struct httpd_config cfg = {.listen = "127.0.0.1:0", .routes = api_routes,
				   .n_routes = sizeof(api_routes) / sizeof(api_routes[0])};
	struct cf_err err;
	if (httpd_start(&api_srv, &cfg, &err) < 0) {
		fprintf(stderr, "fake load-balancer API: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static void stop_api(void)
{
	httpd_stop(api_srv);
	weight_map_free(&api.weights);
}

static void reset_api(const char *weights)
{
	pthread_mutex_lock(&api.mu);
	weight_map_clear(&api.weights);
	map_of(&api.weights, weights);
	api.requests = 0;
	api.api_key[0] = api.content_type[0] = api.last_body[0] = '\0';
	pthread_mutex_unlock(&api.mu);
}

static char api_url[128];
static struct header_kv api_key_header = {"X-Api-Key", "${CLAWFLEET_TEST_LB_KEY}"};

static struct load_balancer http_lb(const char *path)
{
	snprintf(api_url, sizeof(api_url), "http://127.0.0.1:%u%s", httpd_port(api_srv), path);
	return (struct load_balancer){.name = "gateways", .driver = LB_HTTP,
				      .http = {.url = api_url, .headers = &api_key_header,
					       .nheaders = 1}};
}

static void test_http_apply_sends_expanded_header(void **state)
{
	(void)state;
	struct load_balancer lb = http_lb("/weights");
	struct weight_map want = {0}, got = {0};
	struct cf_err err = {""};
	reset_api("canary-gw=0,stable-gw-a=100,stable-gw-b=100");
	setenv("CLAWFLEET_TEST_LB_KEY", "k-42", 1);
	map_of(&want, "canary-gw=20,stable-gw-a=40,stable-gw-b=40");
	if (weights_apply(&lb, &want, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(api.api_key, "k-42");
	assert_string_equal(api.content_type, "application/json");
	assert_string_equal(api.last_body,
			    "{\"weights\":{\"canary-gw\":20,\"stable-gw-a\":40,\"stable-gw-b\":40}}");
	assert_int_equal(api.requests, 2);
	assert_int_equal(weights_get(&lb, &got, &err), 0);
	assert_weight(&got, "canary-gw", 20);
	assert_weight(&got, "stable-gw-b", 40);
	weight_map_free(&want);
	weight_map_free(&got);
}

static void test_http_unset_variable_sends_nothing(void **state)
{
	(void)state;
	struct load_balancer lb = http_lb("/weights");
	struct weight_map want = {0};
	struct cf_err err = {""};
	reset_api("canary-gw=0");
	unsetenv("CLAWFLEET_TEST_LB_KEY");
	map_of(&want, "canary-gw=20");
	assert_int_equal(weights_apply(&lb, &want, &err), -1);
	assert_contains(err.msg, "header X-Api-Key: environment variable CLAWFLEET_TEST_LB_KEY is "
				 "not set");
	assert_int_equal(api.requests, 0);
	weight_map_free(&want);
}

static void test_http_ignored_change_fails_read_back(void **state)
{
	(void)state;
	struct load_balancer lb = http_lb("/ignoring");
	struct weight_map want = {0};
	struct cf_err err = {""};
	reset_api("canary-gw=0,stable-gw-a=100");
	setenv("CLAWFLEET_TEST_LB_KEY", "k-42", 1);
	map_of(&want, "stable-gw-a=100,canary-gw=20");
	assert_int_equal(weights_apply(&lb, &want, &err), -1);
	assert_string_equal(err.msg,
			    "http load balancer: server canary-gw: want weight 20, got 0 on reading back");
	weight_map_free(&want);
}

static void test_http_unknown_server_fails_read_back(void **state)
{
	(void)state;
	struct load_balancer lb = http_lb("/ignoring");
	struct weight_map want = {0};
	struct cf_err err = {""};
	reset_api("canary-gw=0");
	setenv("CLAWFLEET_TEST_LB_KEY", "k-42", 1);
	map_of(&want, "canary-gw=0,stable-gw-z=10");
	assert_int_equal(weights_apply(&lb, &want, &err), -1);
	assert_contains(err.msg, "server stable-gw-z: weight 10 was set, but the load balancer does "
				 "not list the server");
	weight_map_free(&want);
}

static void test_http_error_status_is_reported(void **state)
{
	(void)state;
	struct load_balancer lb = http_lb("/locked?token=hidden");
	struct weight_map want = {0};
	struct cf_err err = {""};
	setenv("CLAWFLEET_TEST_LB_KEY", "k-42", 1);
	map_of(&want, "canary-gw=20");
	assert_int_equal(weights_apply(&lb, &want, &err), -1);
	char expect[256];
	snprintf(expect, sizeof(expect), "http load balancer: PUT http://127.0.0.1:%u/locked: "
		 "status 500: {\"error\":\"backend locked\"}", httpd_port(api_srv));
	assert_string_equal(err.msg, expect);
	weight_map_free(&want);
}

static void test_http_oversized_reply_is_refused(void **state)
{
	(void)state;
	struct load_balancer lb = http_lb("/huge");
	struct weight_map got = {0};
	struct cf_err err = {""};
	setenv("CLAWFLEET_TEST_LB_KEY", "k-42", 1);
	assert_int_equal(weights_get(&lb, &got, &err), -1);
	assert_contains(err.msg, "http load balancer: GET http://127.0.0.1:");
	char limit[64];
	snprintf(limit, sizeof(limit), "/huge: reply over the %u byte limit", WEIGHTS_REPLY_MAX);
	assert_contains(err.msg, limit);
	weight_map_free(&got);
}

/* The load balancer's API is fleet-internal: with a proxy exported, the driver still talks to it
 * directly, so its headers (here an API key) never pass through someone else's proxy. */
static void test_http_ignores_the_environment_proxy(void **state)
{
	(void)state;
	/* The stand-in proxy: httpd answers a proxied request (an absolute URL as its target) with
	 * 404, so a request sent through it fails; its one route is there because httpd needs one. */
	static const struct httpd_route proxy_routes[] = {{"GET", "/", api_locked, NULL, 0, NULL}};
	struct httpd_config cfg = {.listen = "127.0.0.1:0", .routes = proxy_routes, .n_routes = 1};
	struct httpd *proxy = NULL;
	struct load_balancer lb = http_lb("/weights");
	struct weight_map want = {0}, got = {0};
	struct cf_err err = {""};
	char proxy_url[64];

	if (httpd_start(&proxy, &cfg, &err) < 0)
		fail_msg("proxy: %s", err.msg);
	snprintf(proxy_url, sizeof(proxy_url), "http://127.0.0.1:%u", httpd_port(proxy));
	setenv("http_proxy", proxy_url, 1);
	setenv("HTTP_PROXY", proxy_url, 1);
	setenv("ALL_PROXY", proxy_url, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	reset_api("canary-gw=0,stable-gw-a=100");
	setenv("CLAWFLEET_TEST_LB_KEY", "k-42", 1);
	map_of(&want, "canary-gw=10,stable-gw-a=90");

	int applied = weights_apply(&lb, &want, &err);
	int fetched = applied == 0 ? weights_get(&lb, &got, &err) : -1;
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("ALL_PROXY");
	httpd_stop(proxy);
	if (applied < 0 || fetched < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(api.requests, 3); /* PUT, read back, GET: all at the API itself */
	assert_string_equal(api.api_key, "k-42");
	assert_weight(&got, "canary-gw", 10);
	weight_map_free(&want);
	weight_map_free(&got);
}

static unsigned int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void test_http_unreachable_and_no_routing(void **state)
{
	(void)state;
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/weights", closed_port());
	struct load_balancer lb = {.name = "gateways", .driver = LB_HTTP, .http.url = url};
	struct weight_map got = {0};
	struct cf_err err = {""};
	assert_int_equal(weights_get(&lb, &got, &err), -1);
	assert_contains(err.msg, "http load balancer: GET http://127.0.0.1:");
	assert_contains(err.msg, "Couldn't connect to server");
	assert_int_equal(weights_route_tenant(&lb, "acme", "openclaw_canary", &err), -1);
	assert_string_equal(err.msg, "the http load-balancer driver cannot route tenants; use "
				     "haproxy, file or command");
	weight_map_free(&got);
}

/* --- command, with a shell script as the load balancer --- */

static const char lb_script[] =
	"#!/bin/sh\n"
	"dir=$(dirname \"$0\")\n"
	"db=$dir/lb.db\n"
	"touch \"$db\"\n"
	"echo \"$*\" >> \"$dir/lb.args\"\n"
	"case \"$1\" in\n"
	"get)\n"
	"  [ -e \"$dir/lb.garbage\" ] && { echo 'weights: none'; exit 0; }\n"
	"  printf '{\"weights\": {'; sep=\n"
	"  while read -r s w; do printf '%s\"%s\": %s' \"$sep\" \"$s\" \"$w\"; sep=', '; done < \"$db\"\n"
	"  printf '}}\\n' ;;\n"
	"set)\n"
	"  [ -e \"$dir/lb.locked\" ] && { echo 'lb is locked by another operator' >&2; exit 3; }\n"
	"  shift\n"
	"  for kv; do\n"
	"    grep -v \"^${kv%%=*} \" \"$db\" > \"$db.tmp\"; echo \"${kv%%=*} ${kv#*=}\" >> \"$db.tmp\"\n"
	"    mv \"$db.tmp\" \"$db\"\n"
	"  done ;;\n"
	"route) ;;\n"
	"*) echo \"unknown verb $1\" >&2; exit 2 ;;\n"
	"esac\n";

static char script_path[256];
static char *script_argv[] = {script_path, NULL};

static struct load_balancer command_lb(void)
{
	return (struct load_balancer){.name = "gateways", .driver = LB_COMMAND,
				      .command = {.argv = script_argv, .argc = 1}};
}

static void reset_script(void)
{
	assert_int_equal(fsutil_write_atomic(script_path, lb_script, strlen(lb_script), 0755, NULL),
			 0);
	unlink(tmp_path("lb.db"));
	unlink(tmp_path("lb.args"));
	unlink(tmp_path("lb.locked"));
	unlink(tmp_path("lb.garbage"));
}

static void test_command_apply_and_read_back(void **state)
{
	(void)state;
	struct load_balancer lb = command_lb();
	struct weight_map want = {0}, got = {0};
	struct cf_err err = {""};
	reset_script();
	map_of(&want, "canary-gw=20,stable-gw-a=40");
	if (weights_apply(&lb, &want, &err) < 0)
		fail_msg("%s", err.msg);
	char *args = slurp(tmp_path("lb.args"));
	assert_string_equal(args, "set canary-gw=20 stable-gw-a=40\nget\n");
	free(args);
	assert_int_equal(weights_get(&lb, &got, &err), 0);
	assert_int_equal(got.n, 2);
	assert_weight(&got, "canary-gw", 20);
	assert_int_equal(weights_route_tenant(&lb, "acme", "openclaw_canary", &err), 0);
	args = slurp(tmp_path("lb.args"));
	assert_contains(args, "route acme openclaw_canary\n");
	free(args);
	weight_map_free(&want);
	weight_map_free(&got);
}

static void test_command_many_servers_take_several_runs(void **state)
{
	(void)state;
	struct load_balancer lb = command_lb();
	struct weight_map want = {0}, got = {0};
	struct cf_err err = {""};
	char name[32];
	reset_script();
	for (int i = 0; i < WEIGHTS_COMMAND_SERVERS_PER_RUN + 5; i++) {
		snprintf(name, sizeof(name), "gw-%03d", i);
		assert_int_equal(weight_map_set(&want, name, i % 257, NULL), 0);
	}
	if (weights_apply(&lb, &want, &err) < 0)
		fail_msg("%s", err.msg);
	char *args = slurp(tmp_path("lb.args"));
	assert_contains(args, " gw-199=199\nset gw-200=200 gw-201=201 gw-202=202 gw-203=203 "
			      "gw-204=204\nget\n");
	free(args);
	assert_int_equal(weights_get(&lb, &got, &err), 0);
	assert_int_equal(got.n, WEIGHTS_COMMAND_SERVERS_PER_RUN + 5);
	weight_map_free(&want);
	weight_map_free(&got);
}

static void test_command_failure_shows_stderr(void **state)
{
	(void)state;
	struct load_balancer lb = command_lb();
	struct weight_map want = {0};
	struct cf_err err = {""};
	reset_script();
	assert_int_equal(fsutil_write_atomic(tmp_path("lb.locked"), "", 0, 0644, NULL), 0);
	map_of(&want, "canary-gw=20");
	assert_int_equal(weights_apply(&lb, &want, &err), -1);
	assert_contains(err.msg, "command load balancer (set): ");
	assert_contains(err.msg, "exited with status 3: lb is locked by another operator");
	weight_map_free(&want);
}

static void test_command_bad_output(void **state)
{
	(void)state;
	struct load_balancer lb = command_lb();
	struct weight_map got = {0};
	struct cf_err err = {""};
	reset_script();
	assert_int_equal(fsutil_write_atomic(tmp_path("lb.garbage"), "", 0, 0644, NULL), 0);
	assert_int_equal(weights_get(&lb, &got, &err), -1);
	assert_contains(err.msg, "command load balancer (get): its output: not valid JSON");
	weight_map_free(&got);
}

static void test_command_missing_program(void **state)
{
	(void)state;
	char *argv[] = {"/nonexistent/clawfleet-lb", NULL};
	struct load_balancer lb = {.name = "gateways", .driver = LB_COMMAND,
				   .command = {.argv = argv, .argc = 1}};
	struct weight_map got = {0};
	struct cf_err err = {""};
	assert_int_equal(weights_get(&lb, &got, &err), -1);
	assert_contains(err.msg, "command load balancer (get): ");
	assert_contains(err.msg, "/nonexistent/clawfleet-lb");
	weight_map_free(&got);
}

/* --- HAProxy replies, as HAProxy 2.6.12 printed them --- */

#define STATE_HEADER                                                                              \
	"1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "   \
	"srv_iweight srv_time_since_last_change srv_check_status srv_check_result "                \
	"srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "         \
	"srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "    \
	"srv_agent_port\n"

static const char state_reply[] =
	STATE_HEADER
	"3 openclaw_gateways 1 stable-gw-a 127.0.0.1 2 0 40 100 1 1 0 2 0 0 0 0 - 19001 - 0 0 - - 0\n"
	"3 openclaw_gateways 2 stable-gw-b 127.0.0.1 2 0 40 100 1 1 0 2 0 0 0 0 - 19002 - 0 0 - - 0\n"
	"3 openclaw_gateways 3 canary-gw 127.0.0.1 2 0 20 100 1 1 0 2 0 0 0 0 - 19003 - 0 0 - - 0\n"
	"4 openclaw_canary 1 canary-gw 127.0.0.1 2 0 1 1 1 1 0 2 0 0 0 0 - 19003 - 0 0 - - 0\n"
	"\n";

static void test_haproxy_parse_state(void **state)
{
	(void)state;
	struct weight_map m = {0};
	struct cf_err err = {""};
	assert_int_equal(weights_haproxy_parse_state(state_reply, "openclaw_gateways", &m, &err),
			 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.v[2].server, "canary-gw");
	assert_int_equal(m.v[2].weight, 20);
	assert_weight(&m, "stable-gw-a", 40);
	weight_map_clear(&m);
	assert_int_equal(weights_haproxy_parse_state(state_reply, "openclaw_canary", &m, &err), 0);
	assert_int_equal(m.n, 1);
	assert_weight(&m, "canary-gw", 1);
	weight_map_clear(&m);
	assert_int_equal(weights_haproxy_parse_state(STATE_HEADER "\n", "empty", &m, &err), 0);
	assert_int_equal(m.n, 0);
	weight_map_free(&m);
}

struct reply_case {
	const char *reply;
	const char *msg;
};

static const struct reply_case bad_states[] = {
	{"Can't find backend.\n\n", "show servers state be: no such backend in haproxy.cfg"},
	{"Permission denied\n\n", "show servers state be: Permission denied"},
	{"", "show servers state be: empty reply"},
	{"1\nbe_id be_name\n", "line 2: want the \"# be_id be_name ...\" header"},
	{"1\n# be_id be_name srv_id srv_name\n", "the header lacks be_name, srv_name or srv_uweight"},
	{"1\n# be_name srv_name srv_uweight\nbe gw-1\n", "line 3: want 3 fields"},
	{"1\n# be_name srv_name srv_uweight\nbe gw-1 300\n", "srv_uweight \"300\" is not 0..256"},
	{"1\n# be_name srv_name srv_uweight\nbe gw-1 ten\n", "srv_uweight \"ten\" is not 0..256"},
	{"2\n# be_name srv_name srv_uweight\n", "show servers state be: 2"},
};

static void test_haproxy_parse_state_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_states) / sizeof(bad_states[0]); i++) {
		struct weight_map m = {0};
		struct cf_err err = {""};
		if (weights_haproxy_parse_state(bad_states[i].reply, "be", &m, &err) != -1)
			fail_msg("case %zu parsed", i);
		assert_contains(err.msg, bad_states[i].msg);
		weight_map_free(&m);
	}
}

static void test_haproxy_check_empty(void **state)
{
	(void)state;
	struct cf_err err = {""};
	assert_int_equal(weights_haproxy_check_empty("\n", &err), 0);
	assert_int_equal(weights_haproxy_check_empty("", &err), 0);
	assert_int_equal(weights_haproxy_check_empty("No such server.\n\n", &err), -1);
	assert_string_equal(err.msg, "No such server.");
	assert_int_equal(weights_haproxy_check_empty(
				 "Absolute weight can only be between 0 and 256 inclusive.\n\n", &err),
			 -1);
	assert_string_equal(err.msg, "Absolute weight can only be between 0 and 256 inclusive.");
	assert_int_equal(weights_haproxy_check_empty(
				 "Unknown command, but maybe one of the following ones is a better "
				 "match:\n  add map [@<ver>] <map> <key> <val>\n\n",
				 &err),
			 -1);
	assert_contains(err.msg, "HAProxy does not know the command");
	assert_int_equal(weights_haproxy_check_empty("Permission denied\n\n", &err), -1);
	assert_contains(err.msg, "the stats socket needs \"level admin\"");
}

static void test_haproxy_parse_get_map(void **state)
{
	(void)state;
	bool found;
	char value[65];
	struct cf_err err = {""};
	assert_int_equal(weights_haproxy_parse_get_map(
				 "type=str, case=sensitive, found=yes, idx=tree, key=\"acme\", "
				 "value=\"openclaw_canary\", type=\"str\"\n\n",
				 &found, value, sizeof(value), &err),
			 0);
	assert_true(found);
	assert_string_equal(value, "openclaw_canary");
	assert_int_equal(weights_haproxy_parse_get_map("type=str, case=sensitive, found=no\n\n",
						       &found, value, sizeof(value), &err),
			 0);
	assert_false(found);
	assert_int_equal(weights_haproxy_parse_get_map(
				 "Unknown map identifier. Please use #<id> or <file>.\n\n", &found,
				 value, sizeof(value), &err),
			 -1);
	assert_contains(err.msg, "no such map in haproxy.cfg");
}

/* As HAProxy 2.6.12 printed them: up and checked; down (its check fails), with the weight it
 * was given; draining; without a check; in maintenance. */
static const char servers_reply[] =
	STATE_HEADER
	"3 be 1 gw-up 127.0.0.1 2 0 100 100 2 15 3 3 6 0 0 0 - 21001 - 0 21011 - - 21011\n"
	"3 be 2 gw-down 127.0.0.1 0 0 50 100 5 8 2 0 6 0 0 0 - 21002 - 0 21012 - - 21012\n"
	"3 be 3 gw-drain 127.0.0.1 2 8 70 100 0 15 3 3 6 0 0 0 - 21003 - 0 21013 - - 21013\n"
	"3 be 4 gw-nocheck 127.0.0.1 2 0 100 100 1 1 0 2 0 0 0 0 - 21004 - 0 0 - - 0\n"
	"3 be 5 gw-maint 127.0.0.1 0 1 100 100 0 1 0 0 0 0 0 0 - 21005 - 0 0 - - 0\n"
	"\n";

static void test_haproxy_parse_servers(void **state)
{
	(void)state;
	struct lb_servers l = {0};
	struct weight_map m = {0};
	struct cf_err err = {""};
	assert_int_equal(weights_haproxy_parse_servers(servers_reply, "be", &l, &err), 0);
	assert_int_equal(l.n, 5);
	static const struct {
		const char *name;
		enum lb_health health;
		bool draining;
	} want[] = {{"gw-up", LB_HEALTH_UP, false},	   {"gw-down", LB_HEALTH_DOWN, false},
		    {"gw-drain", LB_HEALTH_UP, true},	   {"gw-nocheck", LB_HEALTH_UNKNOWN, false},
		    {"gw-maint", LB_HEALTH_MAINT, false}};
	for (size_t i = 0; i < 5; i++) {
		const struct lb_server *sv = lb_servers_find(&l, want[i].name);
		assert_non_null(sv);
		assert_int_equal(sv->health, want[i].health);
		assert_int_equal(sv->draining, want[i].draining);
		assert_int_equal(sv->sessions, -1);
	}
	/* A server held down by its health check reads back the weight it was given. */
	assert_int_equal(weights_haproxy_parse_state(servers_reply, "be", &m, &err), 0);
	assert_weight(&m, "gw-down", 50);
	assert_weight(&m, "gw-drain", 70);
	assert_int_equal(weights_haproxy_parse_servers("1\n# be_name srv_name srv_uweight\n", "be",
						       &l, &err),
			 -1);
	assert_contains(err.msg, "the header lacks srv_op_state or srv_admin_state");
	assert_int_equal(weights_haproxy_parse_servers("Can't find backend.\n\n", "be", &l, &err),
			 -1);
	assert_contains(err.msg, "show servers state be: no such backend in haproxy.cfg");
	lb_servers_free(&l);
	weight_map_free(&m);
}

static void test_haproxy_parse_sessions(void **state)
{
	(void)state;
	struct lb_servers l = {0};
	struct cf_err err = {""};
	static const char header[] = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,"
				     "dresp,ereq,econ,eresp,wretr,wredis,status,weight,\n";
	char reply[1024];
	snprintf(reply, sizeof(reply),
		 "%sbe,gw-up,0,0,3,5,,17,100,200,,0,,0,0,0,0,UP,100,\n"
		 "be,gw-drain,0,0,0,1,,4,10,20,,0,,0,0,0,0,DRAIN,70,\n"
		 "be,BACKEND,0,0,3,5,,21,110,220,0,0,,0,0,0,0,UP,170,\n"
		 "other,gw-up,0,0,9,9,,9,0,0,,0,,0,0,0,0,UP,1,\n\n",
		 header);
	assert_int_equal(weights_haproxy_parse_servers(servers_reply, "be", &l, &err), 0);
	assert_int_equal(weights_haproxy_parse_sessions(reply, "be", &l, &err), 0);
	assert_int_equal(l.n, 5);
	assert_int_equal(lb_servers_find(&l, "gw-up")->sessions, 3);
	assert_int_equal(lb_servers_find(&l, "gw-up")->health, LB_HEALTH_UP);
	assert_int_equal(lb_servers_find(&l, "gw-drain")->sessions, 0);
	assert_true(lb_servers_find(&l, "gw-drain")->draining);
	assert_int_equal(lb_servers_find(&l, "gw-down")->sessions, -1);
	/* The sessions stay when the state is read after them. */
	assert_int_equal(weights_haproxy_parse_servers(servers_reply, "be", &l, &err), 0);
	assert_int_equal(lb_servers_find(&l, "gw-up")->sessions, 3);

	static const struct reply_case bad[] = {
		{"No such proxy.\n\n", "show stat be: no such backend in haproxy.cfg"},
		{"", "show stat be: empty reply"},
		{"# pxname,svname,qcur,\n", "show stat: the header lacks pxname, svname or scur"},
		{"# pxname,svname,scur,\nbe,gw-up,many,\n", "line 2: scur \"many\" is not a count"},
		{"# pxname,svname,scur,\nbe,gw-up,\n", "line 2: want 3 fields"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (weights_haproxy_parse_sessions(bad[i].reply, "be", &l, &err) != -1)
			fail_msg("case %zu parsed", i);
		assert_contains(err.msg, bad[i].msg);
	}
	lb_servers_free(&l);
}

static void test_haproxy_parse_map(void **state)
{
	(void)state;
	struct lb_routes r = {0};
	struct cf_err err = {""};
	assert_int_equal(weights_haproxy_parse_map("0x7efc9c046a10 acme openclaw_canary\n"
						   "0x7efc9c046a20 globex openclaw_gateways\n"
						   "0x7efc9c046a30 ops a value with spaces\n"
						   "0x7efc9c046a40 /path/key openclaw_canary\n\n",
						   &r, &err),
			 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(lb_routes_find(&r, "acme")->pool, "openclaw_canary");
	assert_string_equal(lb_routes_find(&r, "globex")->pool, "openclaw_gateways");
	assert_int_equal(weights_haproxy_parse_map("\n", &r, &err), 0);
	assert_int_equal(weights_haproxy_parse_map(
				 "Unknown map identifier. Please use #<id> or <file>.\n\n", &r, &err),
			 -1);
	assert_contains(err.msg, "no such map in haproxy.cfg");
	assert_int_equal(weights_haproxy_parse_map("Permission denied\n\n", &r, &err), -1);
	assert_contains(err.msg, "show map: want \"<id> <key> <value>\", got \"Permission denied\"");
	lb_routes_free(&r);
}

/* --- the haproxy driver against a scripted Runtime API on a UNIX socket --- */

#define FAKE_SERVERS 3
#define FAKE_LOG 32

struct fake_hap {
	int listen_fd;
	pthread_t thread;
	atomic_bool stop;
	bool ignore_sets;
	struct {
		const char *name;
		int weight;
		int op, admin; /* srv_op_state, srv_admin_state */
		int sessions;
	} servers[FAKE_SERVERS];
	char map_key[64], map_value[64];
	char log[FAKE_LOG][512];
	int nlog;
	int nconnections, nlines, ncommands;
};

static struct fake_hap hap;

static void hap_answer(const char *cmd, char *out, size_t size)
{
	char be[64], srv[64], map[256], key[64], value[64];
	int w;
	out[0] = '\0';
	if (sscanf(cmd, "show servers state %63s", be) == 1) {
		if (strcmp(be, "openclaw_gateways") != 0) {
			snprintf(out, size, "Can't find backend.\n\n");
			return;
		}
		size_t n = (size_t)snprintf(out, size, "%s", STATE_HEADER);
		for (int i = 0; i < FAKE_SERVERS; i++)
			n += (size_t)snprintf(out + n, size - n,
					      "3 openclaw_gateways %d %s 127.0.0.1 %d %d %d 100 1 15 3 3 6 "
					      "0 0 0 - 1900%d - 0 0 - - 0\n",
					      i + 1, hap.servers[i].name, hap.servers[i].op,
					      hap.servers[i].admin, hap.servers[i].weight, i);
		snprintf(out + n, size - n, "\n");
	} else if (sscanf(cmd, "show stat %63s 4 -1", be) == 1) {
		if (strcmp(be, "openclaw_gateways") != 0) {
			snprintf(out, size, "No such proxy.\n\n");
			return;
		}
		size_t n = (size_t)snprintf(out, size, "# pxname,svname,qcur,qmax,scur,status,\n");
		for (int i = 0; i < FAKE_SERVERS; i++)
			n += (size_t)snprintf(out + n, size - n, "openclaw_gateways,%s,0,0,%d,UP,\n",
					      hap.servers[i].name, hap.servers[i].sessions);
		snprintf(out + n, size - n, "openclaw_gateways,BACKEND,0,0,9,UP,\n\n");
	} else if (sscanf(cmd, "set server openclaw_gateways/%63s state %63s", srv, value) == 2) {
		for (int i = 0; i < FAKE_SERVERS; i++)
			if (strcmp(hap.servers[i].name, srv) == 0) {
				if (!hap.ignore_sets)
					hap.servers[i].admin = strcmp(value, "drain") == 0 ? 8 : 0;
				snprintf(out, size, "\n");
				return;
			}
		snprintf(out, size, "No such server.\n\n");
	} else if (sscanf(cmd, "show map %255s", map) == 1) {
		if (hap.map_key[0])
			snprintf(out, size, "0x55d1c2a0 %s %s\n0x55d1c2b0 #weird x y\n\n", hap.map_key,
				 hap.map_value);
		else
			snprintf(out, size, "\n");
	} else if (sscanf(cmd, "set weight openclaw_gateways/%63s %d", srv, &w) == 2) {
		for (int i = 0; i < FAKE_SERVERS; i++)
			if (strcmp(hap.servers[i].name, srv) == 0) {
				if (!hap.ignore_sets)
					hap.servers[i].weight = w;
				snprintf(out, size, "\n");
				return;
			}
		snprintf(out, size, "No such server.\n\n");
	} else if (sscanf(cmd, "set map %255s %63s %63s", map, key, value) == 3) {
		if (strcmp(hap.map_key, key) != 0) {
			snprintf(out, size, "entry not found.\n\n");
			return;
		}
		snprintf(hap.map_value, sizeof(hap.map_value), "%s", value);
		snprintf(out, size, "\n");
	} else if (sscanf(cmd, "add map %255s %63s %63s", map, key, value) == 3) {
		snprintf(hap.map_key, sizeof(hap.map_key), "%s", key);
		snprintf(hap.map_value, sizeof(hap.map_value), "%s", value);
		snprintf(out, size, "\n");
	} else if (sscanf(cmd, "get map %255s %63s", map, key) == 2) {
		if (strcmp(hap.map_key, key) == 0)
			snprintf(out, size, "type=str, case=sensitive, found=yes, idx=tree, key=\"%s\", "
				 "value=\"%s\", type=\"str\"\n\n", key, hap.map_value);
		else
			snprintf(out, size, "type=str, case=sensitive, found=no\n\n");
	} else {
		snprintf(out, size, "Unknown command, but maybe one of the following ones is a "
			 "better match:\n  help\n\n");
	}
}

/* One connection as HAProxy 2.6 serves it: a line of ';'-separated commands, each answered with
 * its lines and an empty line, then the connection closes; after "prompt", line after line, each
 * answer followed by the prompt "> ", until "quit" or the end. */
static void hap_connection(int fd)
{
	static char in[1 << 16];
	char reply[4096];
	size_t len = 0;
	bool interactive = false;
	for (;;) {
		char *nl;
		ssize_t n;
		while (!(nl = memchr(in, '\n', len))) {
			if (len == sizeof(in) || (n = read(fd, in + len, sizeof(in) - len)) <= 0)
				return;
			len += (size_t)n;
		}
		*nl = '\0';
		if (!interactive && strcmp(in, "prompt") == 0) {
			interactive = true;
			if (write(fd, "\n> ", 3) < 0)
				return;
		} else if (strcmp(in, "quit") == 0) {
			return;
		} else {
			char *save = NULL;
			hap.nlines++; /* before the answers: the driver may close once it has them */
			for (char *cmd = strtok_r(in, ";", &save); cmd; cmd = strtok_r(NULL, ";", &save)) {
				if (hap.nlog < FAKE_LOG)
					snprintf(hap.log[hap.nlog++], sizeof(hap.log[0]), "%s", cmd);
				hap.ncommands++;
				hap_answer(cmd, reply, sizeof(reply));
				if (interactive)
					strcat(reply, "> ");
				if (write(fd, reply, strlen(reply)) < 0)
					return;
			}
		}
		len -= (size_t)(nl + 1 - in);
		memmove(in, nl + 1, len);
		if (!interactive)
			return;
	}
}

static void *hap_serve(void *arg)
{
	(void)arg;
	while (!atomic_load(&hap.stop)) {
		struct pollfd p = {.fd = hap.listen_fd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept(hap.listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		hap.nconnections++;
		hap_connection(fd);
		close(fd);
	}
	return NULL;
}

static char hap_socket[256];

static int start_hap(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(hap_socket, sizeof(hap_socket), "%s/admin.sock", tmpdir);
	if (strlen(hap_socket) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, hap_socket, strlen(hap_socket) + 1);
	hap.listen_fd = compat_socket(AF_UNIX, SOCK_STREAM, 0, O_CLOEXEC);
	if (hap.listen_fd < 0 || bind(hap.listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(hap.listen_fd, 8) < 0)
		return -1;
	return pthread_create(&hap.thread, NULL, hap_serve, NULL) == 0 ? 0 : -1;
}

static void stop_hap(void)
{
	atomic_store(&hap.stop, true);
	pthread_join(hap.thread, NULL);
	close(hap.listen_fd);
}

/* Each test starts with three servers at 100 and an empty map; the thread is idle between
 * driver calls, which are synchronous. */
static void reset_hap(void)
{
	static const char *const names[FAKE_SERVERS] = {"stable-gw-a", "stable-gw-b", "canary-gw"};
	for (int i = 0; i < FAKE_SERVERS; i++) {
		hap.servers[i].name = names[i];
		hap.servers[i].weight = 100;
		hap.servers[i].op = 2;
		hap.servers[i].admin = 0;
		hap.servers[i].sessions = 0;
	}
	hap.ignore_sets = false;
	hap.map_key[0] = hap.map_value[0] = '\0';
	hap.nlog = hap.nconnections = hap.nlines = hap.ncommands = 0;
}

static struct load_balancer hap_lb(void)
{
	return (struct load_balancer){.name = "gateways", .driver = LB_HAPROXY,
				      .haproxy = {.socket = hap_socket,
						  .backend = "openclaw_gateways",
						  .tenant_map = "/etc/haproxy/canary-tenants.map"}};
}

static void test_haproxy_apply_sets_only_what_changes(void **state)
{
	(void)state;
	struct load_balancer lb = hap_lb();
	struct weight_map want = {0};
	struct cf_err err = {""};
	reset_hap();
	map_of(&want, "canary-gw=20,stable-gw-a=100,stable-gw-b=40");
	if (weights_apply(&lb, &want, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(hap.nlog, 4);
	assert_string_equal(hap.log[0], "show servers state openclaw_gateways");
	assert_string_equal(hap.log[1], "set weight openclaw_gateways/canary-gw 20");
	assert_string_equal(hap.log[2], "set weight openclaw_gateways/stable-gw-b 40");
	assert_string_equal(hap.log[3], "show servers state openclaw_gateways");
	assert_int_equal(hap.servers[2].weight, 20);
	/* One connection: the state, both changes on one line, the read-back. */
	assert_int_equal(hap.nconnections, 1);
	assert_int_equal(hap.nlines, 3);
	weight_map_free(&want);
}

/* A map of many failing changes goes out on lines of at most 8 KiB, every command is answered
 * apart, and the error names the first failures and counts the rest. */
static void test_haproxy_batch_names_each_failure(void **state)
{
	(void)state;
	struct load_balancer lb = hap_lb();
	struct weight_map want = {0};
	struct cf_err err = {""};
	char name[64], expect[512];
	reset_hap();
	assert_int_equal(weight_map_set(&want, "canary-gw", 30, NULL), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "missing-gw-%04d", i);
		assert_int_equal(weight_map_set(&want, name, 7, NULL), 0);
	}
	assert_int_equal(weight_map_set(&want, "stable-gw-b", 60, NULL), 0);
	assert_int_equal(weights_apply(&lb, &want, &err), -1);
	assert_int_equal(hap.nconnections, 1);
	assert_int_equal(hap.ncommands, 1 + 1002 + 1); /* the state, the changes, the read-back */
	assert_true(hap.nlines >= 1 + 1002 * 40 / 8192);
	assert_int_equal(hap.servers[2].weight, 30); /* the changes that could go, went */
	assert_int_equal(hap.servers[1].weight, 60);
	snprintf(expect, sizeof(expect), "haproxy runtime API at %s: \"set weight "
		 "openclaw_gateways/missing-gw-0000 7\": No such server.; \"set weight "
		 "openclaw_gateways/missing-gw-0001 7\": No such server.", hap_socket);
	assert_contains(err.msg, expect);
	assert_contains(err.msg, "of 1002 set weight commands failed;");
	assert_contains(err.msg, "more not shown)");
	weight_map_free(&want);
}

static void test_haproxy_errors_name_the_server(void **state)
{
	(void)state;
	struct load_balancer lb = hap_lb();
	struct weight_map want = {0};
	struct cf_err err = {""};
	char expect[512];
	reset_hap();
	map_of(&want, "canary-gw=20,stable-gw-z=5");
	assert_int_equal(weights_apply(&lb, &want, &err), -1);
	snprintf(expect, sizeof(expect), "haproxy runtime API at %s: \"set weight "
		 "openclaw_gateways/stable-gw-z 5\": No such server.", hap_socket);
	assert_string_equal(err.msg, expect);

	reset_hap();
	hap.ignore_sets = true;
	weight_map_clear(&want);
	map_of(&want, "canary-gw=20");
	assert_int_equal(weights_apply(&lb, &want, &err), -1);
	assert_string_equal(err.msg, "haproxy load balancer: server canary-gw: want weight 20, got "
				     "100 on reading back");

	lb.haproxy.backend = "openclaw_missing";
	assert_int_equal(weights_apply(&lb, &want, &err), -1);
	assert_contains(err.msg, "show servers state openclaw_missing: no such backend");
	lb.haproxy.backend = "gateways;shutdown";
	assert_int_equal(weights_apply(&lb, &want, &err), -1);
	assert_contains(err.msg, "haproxy.backend \"gateways;shutdown\"");
	weight_map_free(&want);
}

static void test_haproxy_route_tenant(void **state)
{
	(void)state;
	struct load_balancer lb = hap_lb();
	struct cf_err err = {""};
	reset_hap();
	if (weights_route_tenant(&lb, "acme", "openclaw_canary", &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(hap.nlog, 3);
	assert_string_equal(hap.log[0],
			    "set map /etc/haproxy/canary-tenants.map acme openclaw_canary");
	assert_string_equal(hap.log[1],
			    "add map /etc/haproxy/canary-tenants.map acme openclaw_canary");
	assert_string_equal(hap.log[2], "get map /etc/haproxy/canary-tenants.map acme");
	hap.nlog = 0;
	assert_int_equal(weights_route_tenant(&lb, "acme", "openclaw_gateways", &err), 0);
	assert_int_equal(hap.nlog, 2);
	assert_string_equal(hap.map_value, "openclaw_gateways");

	lb.haproxy.tenant_map = NULL;
	assert_int_equal(weights_route_tenant(&lb, "acme", "openclaw_canary", &err), -1);
	assert_contains(err.msg, "haproxy.tenantMap is needed to route tenants");
	lb.haproxy.tenant_map = "/etc/haproxy/a map";
	assert_int_equal(weights_route_tenant(&lb, "acme", "openclaw_canary", &err), -1);
	assert_contains(err.msg, "holds a space");
}

/* A server HAProxy's health check holds down takes the weight asked for and reads it back; the
 * driver reports it down, with each server's sessions. */
static void test_haproxy_down_server_reads_back(void **state)
{
	(void)state;
	struct load_balancer lb = hap_lb();
	struct weight_map want = {0};
	struct lb_servers l = {0};
	struct cf_err err = {""};
	reset_hap();
	hap.servers[1].op = 0;
	hap.servers[0].sessions = 4;
	map_of(&want, "stable-gw-b=40");
	if (weights_apply(&lb, &want, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(hap.servers[1].weight, 40);
	assert_true(weights_has_servers(&lb));
	if (weights_servers(&lb, &l, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(l.n, 3);
	assert_int_equal(lb_servers_find(&l, "stable-gw-b")->health, LB_HEALTH_DOWN);
	assert_int_equal(lb_servers_find(&l, "stable-gw-a")->health, LB_HEALTH_UP);
	assert_int_equal(lb_servers_find(&l, "stable-gw-a")->sessions, 4);
	assert_string_equal(hap.log[hap.nlog - 1], "show stat openclaw_gateways 4 -1");
	weight_map_free(&want);
	lb_servers_free(&l);
}

static void test_haproxy_drain_and_ready(void **state)
{
	(void)state;
	struct load_balancer lb = hap_lb();
	struct cf_err err = {""};
	reset_hap();
	assert_true(weights_has_drain(&lb));
	if (weights_drain(&lb, "stable-gw-a", true, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(hap.log[0], "set server openclaw_gateways/stable-gw-a state drain");
	assert_string_equal(hap.log[1], "show servers state openclaw_gateways");
	assert_int_equal(hap.servers[0].admin, 8);
	assert_int_equal(hap.servers[0].weight, 100);
	if (weights_drain(&lb, "stable-gw-a", false, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(hap.servers[0].admin, 0);

	hap.ignore_sets = true;
	assert_int_equal(weights_drain(&lb, "stable-gw-a", true, &err), -1);
	assert_string_equal(err.msg, "haproxy load balancer: server stable-gw-a: want state drain, "
				     "ready on reading back");
	hap.ignore_sets = false;
	assert_int_equal(weights_drain(&lb, "stable-gw-z", true, &err), -1);
	assert_contains(err.msg, "state drain\": No such server.");
	assert_int_equal(weights_drain(&lb, "gw;shutdown", true, &err), -1);
	assert_contains(err.msg, "is not safe to send");
}

static void test_haproxy_routes(void **state)
{
	(void)state;
	struct load_balancer lb = hap_lb();
	struct lb_routes r = {0};
	struct cf_err err = {""};
	reset_hap();
	assert_int_equal(weights_routes(&lb, &r, &err), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(weights_route_tenant(&lb, "acme", "openclaw_canary", &err), 0);
	hap.nlog = 0;
	assert_int_equal(weights_routes(&lb, &r, &err), 0);
	assert_string_equal(hap.log[0], "show map /etc/haproxy/canary-tenants.map");
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].tenant, "acme");
	assert_string_equal(r.v[0].pool, "openclaw_canary");
	lb.haproxy.tenant_map = NULL;
	assert_int_equal(weights_routes(&lb, &r, &err), 0);
	assert_int_equal(r.n, 0);
	lb_routes_free(&r);
}

static void test_haproxy_unreachable(void **state)
{
	(void)state;
	struct load_balancer lb = {.name = "gateways", .driver = LB_HAPROXY,
				   .haproxy = {.socket = "/nonexistent/admin.sock",
					       .backend = "openclaw_gateways"}};
	struct weight_map got = {0};
	struct cf_err err = {""};
	assert_int_equal(weights_get(&lb, &got, &err), -1);
	assert_string_equal(err.msg, "haproxy runtime API at /nonexistent/admin.sock: connecting: "
				     "No such file or directory");
	char address[32];
	snprintf(address, sizeof(address), "127.0.0.1:%u", closed_port());
	lb.haproxy.socket = NULL;
	lb.haproxy.address = address;
	assert_int_equal(weights_get(&lb, &got, &err), -1);
	assert_contains(err.msg, "connecting: Connection refused");
	lb.haproxy.address = NULL;
	assert_int_equal(weights_get(&lb, &got, &err), -1);
	assert_contains(err.msg, "haproxy needs socket or address");
	assert_int_equal(weights_route_tenant(&lb, "acme", "openclaw_canary", &err), -1);
	assert_contains(err.msg, "haproxy needs socket or address");
	weight_map_free(&got);
}

/* --- a real HAProxy: run by tests/integration/haproxy_weights.sh --- */

static bool live_lb(struct load_balancer *lb)
{
	const char *backend = getenv("HAPROXY_BACKEND");
	*lb = (struct load_balancer){.name = "live", .driver = LB_HAPROXY,
				     .haproxy = {.socket = getenv("HAPROXY_SOCKET"),
						 .address = getenv("HAPROXY_ADDRESS"),
						 .backend = (char *)(backend ? backend
									     : "openclaw_gateways"),
						 .tenant_map = getenv("HAPROXY_TENANT_MAP")}};
	return lb->haproxy.socket || lb->haproxy.address;
}

/* HAPROXY_WEIGHTS="server=weight,...": applied and read back. */
static void test_live_apply(void **state)
{
	(void)state;
	struct load_balancer lb;
	const char *spec = getenv("HAPROXY_WEIGHTS");
	if (!live_lb(&lb) || !spec)
		skip();
	struct weight_map want = {0}, got = {0};
	struct cf_err err = {""};
	map_of(&want, spec);
	if (weights_apply(&lb, &want, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(weights_get(&lb, &got, &err), 0);
	for (size_t i = 0; i < want.n; i++)
		assert_weight(&got, want.v[i].server, want.v[i].weight);
	weight_map_free(&want);
	weight_map_free(&got);
}

static void test_live_unknown_server(void **state)
{
	(void)state;
	struct load_balancer lb;
	if (!live_lb(&lb))
		skip();
	struct weight_map want = {0};
	struct cf_err err = {""};
	char expect[128];
	snprintf(expect, sizeof(expect), "set weight %s/no-such-gw 10\": No such server.",
		 lb.haproxy.backend);
	map_of(&want, "no-such-gw=10");
	assert_int_equal(weights_apply(&lb, &want, &err), -1);
	assert_contains(err.msg, expect);
	weight_map_free(&want);
}

/* HAPROXY_TENANT="value=pool" with HAPROXY_TENANT_MAP: routed and read back. */
static void test_live_route_tenant(void **state)
{
	(void)state;
	struct load_balancer lb;
	const char *spec = getenv("HAPROXY_TENANT");
	if (!live_lb(&lb) || !spec || !lb.haproxy.tenant_map)
		skip();
	char value[128];
	struct cf_err err = {""};
	snprintf(value, sizeof(value), "%s", spec);
	char *eq = strchr(value, '=');
	assert_non_null(eq);
	*eq = '\0';
	if (weights_route_tenant(&lb, value, eq + 1, &err) < 0)
		fail_msg("%s", err.msg);
}

static int setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_weights.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(script_path, sizeof(script_path), "%s/lb.sh", tmpdir);
	if (start_api() < 0)
		return -1;
	if (start_hap() < 0) {
		perror("fake haproxy");
		stop_api();
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	stop_hap();
	stop_api();
	return fsutil_remove_tree(tmpdir, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_set_replaces_and_keeps_order),
		cmocka_unit_test(test_map_rejects_bad_entries),
		cmocka_unit_test(test_parse_doc),
		cmocka_unit_test(test_render_parses_back),
		cmocka_unit_test(test_driver_find),
		cmocka_unit_test(test_file_missing_is_empty),
		cmocka_unit_test(test_file_apply_merges_and_reads_back),
		cmocka_unit_test(test_file_corrupt_changes_nothing),
		cmocka_unit_test(test_file_routes_read_back),
		cmocka_unit_test(test_file_route_tenant_keeps_weights),
		cmocka_unit_test(test_http_apply_sends_expanded_header),
		cmocka_unit_test(test_http_unset_variable_sends_nothing),
		cmocka_unit_test(test_http_ignored_change_fails_read_back),
		cmocka_unit_test(test_http_unknown_server_fails_read_back),
		cmocka_unit_test(test_http_error_status_is_reported),
		cmocka_unit_test(test_http_oversized_reply_is_refused),
		cmocka_unit_test(test_http_unreachable_and_no_routing),
		cmocka_unit_test(test_http_ignores_the_environment_proxy),
		cmocka_unit_test(test_command_apply_and_read_back),
		cmocka_unit_test(test_command_many_servers_take_several_runs),
		cmocka_unit_test(test_command_failure_shows_stderr),
		cmocka_unit_test(test_command_bad_output),
		cmocka_unit_test(test_command_missing_program),
		cmocka_unit_test(test_haproxy_parse_state),
		cmocka_unit_test(test_haproxy_parse_state_errors),
		cmocka_unit_test(test_haproxy_check_empty),
		cmocka_unit_test(test_haproxy_parse_get_map),
		cmocka_unit_test(test_haproxy_apply_sets_only_what_changes),
		cmocka_unit_test(test_haproxy_errors_name_the_server),
		cmocka_unit_test(test_haproxy_batch_names_each_failure),
		cmocka_unit_test(test_haproxy_route_tenant),
		cmocka_unit_test(test_haproxy_parse_servers),
		cmocka_unit_test(test_haproxy_parse_sessions),
		cmocka_unit_test(test_haproxy_parse_map),
		cmocka_unit_test(test_haproxy_down_server_reads_back),
		cmocka_unit_test(test_haproxy_drain_and_ready),
		cmocka_unit_test(test_haproxy_routes),
		cmocka_unit_test(test_haproxy_unreachable),
		cmocka_unit_test(test_live_apply),
		cmocka_unit_test(test_live_unknown_server),
		cmocka_unit_test(test_live_route_tenant),
	};
	struct load_balancer lb;
	/* The integration script runs only the live tests, once per weight setting. */
	if (live_lb(&lb))
		cmocka_set_test_filter("test_live_*");
	return cmocka_run_group_tests_name("weights", tests, setup, teardown);
}
