/* prom_query and promql: the PromQL a metric sends (placeholders, escaping, built-ins,
 * durations) and the one number read back from the query API's reply (vector, scalar, NaN,
 * infinities, empty, several series, error status, oversize, garbage). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observe/prom_query.h"
#include "observe/promql.h"

static const char *const canary[] = {"canary-gw"};
static const char *const stable[] = {"stable-gw-a", "stable.gw+b"};

static void test_placeholders(void **state)
{
	(void)state;
	struct prom_query_vars v = {canary, 1, stable, 2, "openclaw_gateways", 5 * 60000};
	char out[PROM_QUERY_MAX];
	struct cf_err err;
	assert_int_equal(prom_query_render("x{server=~\"{{canary}}\",proxy=\"{{backend}}\"}[{{interval}}] "
					   "/ y{server=~\"{{stable}}\"}",
					   &v, out, sizeof(out), &err),
			 0);
	/* A regex metacharacter is escaped for RE2, and the backslash again for the string. */
	assert_string_equal(out, "x{server=~\"canary-gw\",proxy=\"openclaw_gateways\"}[5m] / "
				 "y{server=~\"stable-gw-a|stable\\\\.gw\\\\+b\"}");
}

static void test_empty_pool_matches_nothing(void **state)
{
	(void)state;
	struct prom_query_vars v = {NULL, 0, stable, 2, NULL, 1000};
	char out[64];
	struct cf_err err;
	assert_int_equal(prom_query_render("{{canary}}|{{backend}}|{{interval}}", &v, out,
					   sizeof(out), &err),
			 0);
	assert_string_equal(out, "^$||1s");
}

static void test_unknown_placeholder_and_overflow(void **state)
{
	(void)state;
	struct prom_query_vars v = {canary, 1, stable, 2, NULL, 1000};
	char out[16];
	struct cf_err err;
	assert_int_equal(prom_query_render("up{x=\"{{canry}}\"}", &v, out, sizeof(out), &err), -1);
	assert_non_null(strstr(err.msg, "unknown placeholder {{canry}}"));
	assert_int_equal(prom_query_render("{{canary", &v, out, sizeof(out), &err), -1);
	assert_int_equal(prom_query_render("a very long query {{stable}}", &v, out, sizeof(out),
					   &err),
			 -1);
	assert_non_null(strstr(err.msg, "longer than 15 bytes"));
}

static void test_builtins_and_durations(void **state)
{
	(void)state;
	struct promotion_metric rate = {.name = "request-success-rate"};
	struct promotion_metric dur = {.name = "request-duration"};
	struct promotion_metric own = {.name = "errors", .query = "sum(x)"};
	struct promotion_metric none = {.name = "errors"};
	assert_non_null(strstr(prom_query_template(&rate), "haproxy_server_http_responses_total"));
	assert_non_null(strstr(prom_query_template(&rate), "code=\"5xx\""));
	assert_non_null(strstr(prom_query_template(&dur),
			       "haproxy_server_response_time_average_seconds"));
	assert_string_equal(prom_query_template(&own), "sum(x)");
	assert_null(prom_query_template(&none));
	char d[32];
	const struct {
		int64_t ms;
		const char *want;
	} rows[] = {{2 * 3600000, "2h"}, {90000, "90s"}, {5 * 60000, "5m"}, {1500, "1500ms"},
		    {0, "1ms"}};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		prom_query_duration(rows[i].ms, d, sizeof(d));
		assert_string_equal(d, rows[i].want);
	}
}

struct reply_case {
	long status;
	const char *body;
	int rc;
	double value;
	const char *why; /* in the message when rc is -1 */
};

static const struct reply_case replies[] = {
	{200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":"
	      "{},\"value\":[1700000000.5,\"99.25\"]}]}}", 0, 99.25, NULL},
	{200, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":"
	      "[1700000000,\"0.5\"]}}", 0, 0.5, NULL},
	{200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":"
	      "{},\"value\":[1,\"NaN\"]}]}}", -1, 0, "NaN"},
	{200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":"
	      "{},\"value\":[1,\"+Inf\"]}]}}", -1, 0, "+Inf"},
	{200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", -1, 0,
	 "no series"},
	{200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":"
	      "{\"a\":\"1\"},\"value\":[1,\"1\"]},{\"metric\":{\"a\":\"2\"},\"value\":[1,\"2\"]}]}}",
	 -1, 0, "2 series"},
	{200, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}", -1, 0,
	 "gives a matrix"},
	{400, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"parse error at char 5\"}",
	 -1, 0, "Prometheus answers bad_data: parse error at char 5"},
	{502, "<html>Bad Gateway</html>", -1, 0, "HTTP 502 without the API's JSON"},
	{200, "not json", -1, 0, "not valid JSON"},
	{200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":"
	      "{},\"value\":[1,\"12abc\"]}]}}", -1, 0, "is not a number"},
	{200, "{\"status\":\"success\"}", -1, 0, "data"},
};

static void test_replies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		const struct reply_case *c = &replies[i];
		double v = -1;
		struct cf_err err = {{0}};
		int rc = promql_value(c->status, c->body, strlen(c->body), &v, &err);
		if (rc != c->rc)
			fail_msg("reply %zu: rc %d, want %d (%s)", i, rc, c->rc, err.msg);
		if (rc == 0)
			assert_true(fabs(v - c->value) < 1e-9);
		else if (!strstr(err.msg, c->why))
			fail_msg("reply %zu: \"%s\" does not say \"%s\"", i, err.msg, c->why);
	}
}

static void test_oversize_reply(void **state)
{
	(void)state;
	size_t n = PROMQL_MAX_REPLY + 1;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, ' ', n);
	big[n] = '\0';
	double v;
	struct cf_err err;
	assert_int_equal(promql_value(200, big, n, &v, &err), -1);
	assert_non_null(strstr(err.msg, "over"));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placeholders),
		cmocka_unit_test(test_empty_pool_matches_nothing),
		cmocka_unit_test(test_unknown_placeholder_and_overflow),
		cmocka_unit_test(test_builtins_and_durations),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_oversize_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
