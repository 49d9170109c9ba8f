/* target_client: a table of agents' answers with the exact outcome each is judged to have; the
 * token file's rules; a batch of PUT /v1/target against a real agent on loopback (httpd) with
 * every kind of outcome in one go; and the proxy policy: with http_proxy exported, the target
 * and its bearer token still go straight to the agent, never to the proxy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "act/target_client.h"
#include "base/httpc.h"
#include "contracts/target.h"
#include "serve/httpd.h"

#define TOKEN "s3cret-token"
#define COMMIT "0123456789abcdef0123456789abcdef01234567"

/* ---- judging an answer ---- */

struct judge_row {
	int status;
	const char *body;
	int want_rc;
	int64_t want_observed;
	const char *want_msg; /* exact; NULL when accepted */
};

static const struct judge_row judge_rows[] = {
	{200, "{\"observedGeneration\":6}", 0, 6, NULL},
	{204, "", 0, -1, NULL},
	{200, "accepted", 0, -1, NULL},
	{200, "{\"observedGeneration\":\"6\"}", 0, -1, NULL},
	{200, "{\"observedGeneration\":-3}", 0, -1, NULL},
	{401, "{\"error\":\"bad token\"}", -1, -1,
	 "node a: the agent refuses the controller's token (401): put the agent's token.current "
	 "or token.next in the file agentToken names"},
	{409, "{\"error\":\"generation 7 is older than 9\"}", -1, -1,
	 "node a: generation 7 is stale (409: generation 7 is older than 9): the agent holds a "
	 "newer target than the controller's state records; was the state directory lost, or does "
	 "another controller send targets?"},
	{400, "{\"error\":\"tag: \\u001b[31mred\"}", -1, -1,
	 "node a: the agent refuses target generation 7 (400: tag: ?[31mred)"},
	{500, "<html>oops</html>", -1, -1, "node a: PUT /v1/target answered 500: no reason given"},
	{503, "{\"error\":42}", -1, -1, "node a: PUT /v1/target answered 503: no reason given"},
	{404, "", -1, -1, "node a: PUT /v1/target answered 404: no reason given"},
};

static void test_judge(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(judge_rows) / sizeof(judge_rows[0]); i++) {
		const struct judge_row *r = &judge_rows[i];
		int64_t observed = 99;
		struct cf_err err = {{0}};
		int rc = target_client_judge("a", 7, r->status, r->body, strlen(r->body), &observed,
					     &err);
		if (rc != r->want_rc || observed != r->want_observed)
			fail_msg("row %zu: rc %d observed %lld (%s)", i, rc, (long long)observed,
				 err.msg);
		if (r->want_msg && strcmp(err.msg, r->want_msg) != 0)
			fail_msg("row %zu: \"%s\", want \"%s\"", i, err.msg, r->want_msg);
	}
}

/* ---- the token file ---- */

static char token_path[64];

static void write_token(const char *text)
{
	snprintf(token_path, sizeof(token_path), "/tmp/test-target-client-XXXXXX");
	int fd = mkstemp(token_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_token_file(void **state)
{
	(void)state;
	char token[64];
	struct cf_err err = {{0}};
	write_token("  " TOKEN "\n");
	assert_int_equal(target_client_token(token_path, token, sizeof(token), &err), 0);
	assert_string_equal(token, TOKEN);
	assert_int_equal(target_client_token(token_path, token, 5, &err), -1);
	assert_non_null(strstr(err.msg, "is longer than 4 bytes"));
	unlink(token_path);
	write_token("two words\n");
	assert_int_equal(target_client_token(token_path, token, sizeof(token), &err), -1);
	assert_non_null(strstr(err.msg, "white space or a control character"));
	unlink(token_path);
	write_token(" \n");
	assert_int_equal(target_client_token(token_path, token, sizeof(token), &err), -1);
	assert_non_null(strstr(err.msg, "is empty"));
	unlink(token_path);
}

/* ---- a real agent ---- */

static atomic_int agent_puts; /* PUTs the agent received with the right token */

/* Answers by generation: 7 accepted, 9 stale, 11 a reply over the client's cap; a wrong token
 * gets 401 whatever the generation. */
static int agent_put(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	struct target t;
	struct cf_err err;
	const char *auth = httpd_request_header(req, "Authorization");
	if (!auth || strcmp(auth, "Bearer " TOKEN) != 0)
		return httpd_json_error(resp, 401, "bad token");
	atomic_fetch_add(&agent_puts, 1);
	if (target_parse(req->body, req->body_len, &t, &err) < 0)
		return httpd_json_error(resp, 400, err.msg);
	if (t.generation == 9)
		return httpd_json_error(resp, 409, "generation 9 is older than 10");
	if (t.generation == 11) {
		size_t n = TARGET_CLIENT_REPLY_MAX + 1;
		char *big = malloc(n);
		if (!big)
			return -1;
		memset(big, ' ', n);
		httpd_response_take_body(resp, big, n);
		return 0;
	}
	char body[64];
	int n = snprintf(body, sizeof(body), "{\"observedGeneration\":%lld}",
			 (long long)t.generation);
	return httpd_response_set_body(resp, body, (size_t)n);
}

/* The stand-in proxy: a request proxied through it has an absolute URL as its target, which no
 * route matches, so it gets 404 where the agent answers 200. */
static int proxy_root(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	(void)req;
	return httpd_response_set_body(resp, "{}", 2);
}

struct server {
	struct httpd *srv;
	char base[64];
};

static void start(struct server *s, const struct httpd_route *routes, size_t n)
{
	struct cf_err err = {{0}};
	struct httpd_config cfg = {.listen = "127.0.0.1:0", .routes = routes, .n_routes = n};
	if (httpd_start(&s->srv, &cfg, &err) < 0)
		fail_msg("httpd_start: %s", err.msg);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%u", httpd_port(s->srv));
}

static const struct httpd_route agent_routes[] = {
	{"PUT", "/v1/target", agent_put, NULL, TARGET_MAX_BODY, NULL},
};

static struct target target_of(int64_t generation)
{
	struct target t = {.generation = generation, .tag = "v2026.7.1", .commit = COMMIT,
			   .skills_semver = "1.4.2", .skills_link = TARGET_LINK_NEXT};
	return t;
}

static void test_batch_against_an_agent(void **state)
{
	(void)state;
	struct server agent;
	start(&agent, agent_routes, 1);
	char slash[80];
	snprintf(slash, sizeof(slash), "%s//", agent.base);
	write_token(TOKEN "\n");
	struct target t7 = target_of(7), t9 = target_of(9), t11 = target_of(11);
	struct agent_put puts[] = {
		{.node = "a", .address = agent.base, .target = &t7},
		{.node = "b", .address = slash, .target = &t9},
		{.node = "c", .address = agent.base, .target = &t11},
		{.node = "d", .address = "http://127.0.0.1:1", .target = &t7},
	};
	struct target_client_config cfg = {.token_file = token_path, .max_parallel = 2};
	struct target_client *c = NULL;
	struct cf_err err = {{0}};
	assert_int_equal(target_client_new(&c, &cfg, &err), 0);
	assert_int_equal(target_client_put(c, puts, 4, &err), 0);

	assert_int_equal(puts[0].result, 0);
	assert_int_equal(puts[0].http_status, 200);
	assert_int_equal(puts[0].observed_generation, 7);

	assert_int_equal(puts[1].result, -1);
	assert_int_equal(puts[1].http_status, 409);
	assert_non_null(strstr(puts[1].err.msg, "node b: generation 9 is stale (409: generation 9 "
						"is older than 10)"));

	assert_int_equal(puts[2].result, -1);
	char want[160];
	snprintf(want, sizeof(want), "node c: PUT %s/v1/target: reply over the %u byte limit",
		 agent.base, TARGET_CLIENT_REPLY_MAX);
	assert_string_equal(puts[2].err.msg, want);

	assert_int_equal(puts[3].result, -1);
	assert_int_equal(puts[3].http_status, 0);
	assert_non_null(strstr(puts[3].err.msg, "node d: PUT http://127.0.0.1:1/v1/target: "));
	for (size_t i = 0; i < 4; i++)
		assert_null(strstr(puts[i].err.msg, TOKEN));

	/* The token is read again for every batch: one the agent refuses gets 401, and the message
	 * never holds it. */
	FILE *f = fopen(token_path, "w");
	assert_non_null(f);
	fputs("another-token\n", f);
	fclose(f);
	assert_int_equal(target_client_put(c, puts, 1, &err), 0);
	assert_int_equal(puts[0].http_status, 401);
	assert_null(strstr(puts[0].err.msg, "another-token"));

	/* No token file: nothing is sent, every put says so. */
	unlink(token_path);
	assert_int_equal(target_client_put(c, puts, 1, &err), -1);
	assert_non_null(strstr(err.msg, "agent token"));
	assert_string_equal(puts[0].err.msg, "node a: not sent");
	target_client_free(c);
	httpd_stop(agent.srv);
}

/* The token-leak case: http_proxy is exported, yet PUT /v1/target with its bearer token goes
 * straight to the agent. The proxy is live: a request that honours the environment reaches it. */
static void test_token_never_goes_to_a_proxy(void **state)
{
	(void)state;
	struct server agent, proxy;
	start(&agent, agent_routes, 1);
	static const struct httpd_route proxy_routes[] = {{"GET", "/", proxy_root, NULL, 0, NULL}};
	start(&proxy, proxy_routes, 1);
	setenv("http_proxy", proxy.base, 1);
	setenv("HTTP_PROXY", proxy.base, 1);
	setenv("ALL_PROXY", proxy.base, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	write_token(TOKEN "\n");
	atomic_store(&agent_puts, 0);

	char url[96];
	snprintf(url, sizeof(url), "%s/v1/target", agent.base);
	struct httpc_request via_env = {.method = "PUT",
					.url = url,
					.connect_timeout_ms = 1000,
					.timeout_ms = 2000,
					.max_reply = 1024,
					.proxy = HTTPC_PROXY_FROM_ENV};
	struct httpc_reply reply = {0};
	struct cf_err err = {{0}};
	assert_int_equal(httpc_do(NULL, &via_env, &reply, &err), 0);
	assert_int_equal(reply.status, 404);
	httpc_reply_free(&reply);

	struct target t7 = target_of(7);
	struct agent_put put = {.node = "a", .address = agent.base, .target = &t7};
	struct target_client_config cfg = {.token_file = token_path};
	struct target_client *c = NULL;
	assert_int_equal(target_client_new(&c, &cfg, &err), 0);
	assert_int_equal(target_client_put(c, &put, 1, &err), 0);
	if (put.result != 0)
		fail_msg("%s", put.err.msg);
	assert_int_equal(put.http_status, 200);
	assert_int_equal(put.observed_generation, 7);
	assert_int_equal(atomic_load(&agent_puts), 1);

	target_client_free(c);
	unlink(token_path);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("ALL_PROXY");
	httpd_stop(proxy.srv);
	httpd_stop(agent.srv);
}

int main(void)
{
	struct cf_err err = {{0}};
	if (httpc_global_init(&err) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_batch_against_an_agent),
		cmocka_unit_test(test_token_never_goes_to_a_proxy),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	httpc_global_cleanup();
	return failed;
}
