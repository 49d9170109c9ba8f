/* target: the PUT /v1/target body a node accepts, what it refuses and why, and persistence. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contracts/target.h"

#define GOOD_COMMIT "0123456789abcdef0123456789abcdef01234567"

static const char good[] = "{\"generation\": 7, \"tag\": \"v2026.7.1\", \"commit\": \"" GOOD_COMMIT
			   "\", \"skills\": {\"semver\": \"1.4.2\", \"link\": \"next\"},"
			   " \"tenants\": {\"acme\": \"canary\", \"globex\": \"stable\"},"
			   " \"restart\": true}";

static void test_parse_good(void **state)
{
	(void)state;
	struct target t;
	struct cf_err err;
	assert_int_equal(target_parse(good, strlen(good), &t, &err), 0);
	assert_int_equal(t.generation, 7);
	assert_string_equal(t.tag, "v2026.7.1");
	assert_string_equal(t.commit, GOOD_COMMIT);
	assert_string_equal(t.skills_semver, "1.4.2");
	assert_int_equal(t.skills_link, TARGET_LINK_NEXT);
	assert_int_equal(t.ntenants, 2);
	assert_string_equal(t.tenants[0].name, "acme");
	assert_true(t.tenants[0].canary);
	assert_false(t.tenants[1].canary);
	assert_true(t.restart);
}

struct bad_case {
	const char *body;
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	{"", "body is not valid JSON: unexpected end"},
	{"{\"generation\": 1,", "body is not valid JSON: unexpected end"},
	{"[1]", "body must be a JSON object"},
	{"{} x", "body is not valid JSON: unexpected character"},
	{"{\"tag\": \"v1\"}", "generation: required"},
	{"{\"generation\": 0}", "generation: must be an integer >= 1"},
	{"{\"generation\": \"1\"}", "generation: must be an integer >= 1"},
	{"{\"generation\": 1, \"tag\": \"-rf\"}", "tag: \"-rf\": a tag must not start with \"-\""},
	{"{\"generation\": 1, \"tag\": \"v1\", \"commit\": \"abc\"}",
	 "commit: must be 40 lower-case hex digits"},
	{"{\"generation\": 1, \"skills\": {\"semver\": \"../../etc\"}}", NULL},
	{"{\"generation\": 1, \"skills\": {\"semver\": \"1.0.0\", \"link\": \"prev\"}}",
	 "skills.link: must be \"current\" or \"next\""},
	{"{\"generation\": 1, \"tenants\": {\"../x\": \"canary\"}}", NULL},
	{"{\"generation\": 1, \"tenants\": {\"acme\": \"beta\"}}",
	 "tenants.acme: must be \"canary\" or \"stable\""},
	{"{\"generation\": 1, \"restart\": \"yes\"}", "restart: must be true or false"},
	{"{\"generation\": 1, \"extra\": 1}", "extra: unknown field"},
	{"{\"generation\": 1, \"tag\": \"v1\", \"commit\": \"" GOOD_COMMIT "\"}", "skills: required"},
	/* json-c would store 2^63 as INT64_MAX, and every later target would be a 409 */
	{"{\"generation\": 9223372036854775808}",
	 "body is not valid JSON: generation: 9223372036854775808 does not fit in 64 bits at byte 15"},
	{"{\"generation\": 1e0}", "generation: must be an integer >= 1"},
	{"{\"generation\": 01}", "body is not valid JSON: number expected"},
	{"{\"generation\": NaN}", "body is not valid JSON: generation: NaN is not a JSON number at byte 15"},
	/* UTF-8 json-c lets through (overlong "/"), which the canonical form would refuse */
	{"{\"generation\": 1, \"tag\": \"v\xc0\xaf\"}",
	 "body is not valid JSON: tag: invalid UTF-8 in a string at byte 27"},
	{"{\"generation\": 1, \"tag\": \"v\xff\"}", "body is not valid JSON: invalid utf-8 string"},
	{"{\"generation\": 1, \"tag\": \"v1\\u0000x\"}", "tag: must not contain a NUL character"},
};

static void test_parse_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct target t;
		struct cf_err err = {{0}};
		const struct bad_case *c = &bad_cases[i];
		int rc = target_parse(c->body, strlen(c->body), &t, &err);
		if (rc != -1 || (c->msg && strcmp(err.msg, c->msg) != 0))
			fail_msg("case %zu (%s): rc %d, message \"%s\"", i, c->body, rc, err.msg);
		assert_true(err.msg[0] != '\0');
	}
}

static void test_oversize_body_refused(void **state)
{
	(void)state;
	size_t len = TARGET_MAX_BODY + 1;
	char *body = malloc(len);
	memset(body, ' ', len);
	struct target t;
	struct cf_err err;
	assert_int_equal(target_parse(body, len, &t, &err), -1);
	assert_non_null(strstr(err.msg, "over the 65536 byte limit"));
	free(body);
}

static void test_render_is_canonical_and_round_trips(void **state)
{
	(void)state;
	struct target t, back;
	struct cf_err err;
	assert_int_equal(target_parse(good, strlen(good), &t, &err), 0);
	char *json = NULL;
	size_t len;
	assert_int_equal(target_render(&t, &json, &len, &err), 0);
	assert_string_equal(json, "{\"commit\":\"" GOOD_COMMIT "\",\"generation\":7,"
				  "\"restart\":true,\"skills\":{\"link\":\"next\",\"semver\":\"1.4.2\"},"
				  "\"tag\":\"v2026.7.1\",\"tenants\":{\"acme\":\"canary\","
				  "\"globex\":\"stable\"}}");
	assert_int_equal(target_parse(json, len, &back, &err), 0);
	assert_memory_equal(&t, &back, sizeof(t));
	free(json);
}

static void test_save_and_load(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-target-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/target.json", dir);
	struct target t, back;
	struct cf_err err;
	assert_int_equal(target_load(path, &back, &err), -1);
	assert_non_null(strstr(err.msg, "No such file"));
	assert_int_equal(target_parse(good, strlen(good), &t, &err), 0);
	assert_int_equal(target_save(path, &t, &err), 0);
	assert_int_equal(target_load(path, &back, &err), 0);
	assert_int_equal(back.generation, 7);
	assert_string_equal(back.tenants[1].name, "globex");
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_oversize_body_refused),
		cmocka_unit_test(test_render_is_canonical_and_round_trips),
		cmocka_unit_test(test_save_and_load),
	};
	return cmocka_run_group_tests_name("target", tests, NULL, NULL);
}
