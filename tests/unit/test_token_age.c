/* token_age: the /readyz member, the judgement, the agent's reading of its slots and /status's
 * view with its broadcast key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "base/fsutil.h"
#include "contracts/token_age.h"
#include "observe/node_token_age.h"
#include "record/status_tokens.h"

#define DAY 86400

static struct token_ages ages(int64_t max, int64_t cur, int64_t next, int64_t prev)
{
	return (struct token_ages){.known = true, .max_age_sec = max, .age_sec = {cur, next, prev}};
}

/* The age that decides is the current token's, strictly over the limit; next and prev never. */
static void test_judgement_table(void **state)
{
	(void)state;
	static const struct {
		struct token_ages a;
		bool too_old;
		const char *msg;
	} rows[] = {
		{{.known = false}, false, ""},
		{{.known = true, .max_age_sec = 30 * DAY, .age_sec = {30 * DAY, -1, -1}}, false, ""},
		{{.known = true, .max_age_sec = 30 * DAY, .age_sec = {41 * DAY, -1, -1}}, true,
		 "token.current is 41d old, over tokens.maxAge 30d: rotate it (clawfleet token "
		 "rotate-fleet)"},
		{{.known = true, .max_age_sec = 30 * DAY, .age_sec = {-1, 99 * DAY, 99 * DAY}}, false,
		 ""},
		{{.known = true, .max_age_sec = 60, .age_sec = {3600, -1, -1}}, true,
		 "token.current is 1h old, over tokens.maxAge 1m: rotate it (clawfleet token "
		 "rotate-fleet)"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char msg[256];
		assert_int_equal(token_ages_too_old(&rows[i].a, msg, sizeof(msg)), rows[i].too_old);
		assert_string_equal(msg, rows[i].msg);
	}
}

static void test_render_then_read(void **state)
{
	(void)state;
	struct json_object *doc = json_object_new_object();
	struct token_ages a = ages(30 * DAY, 5, -1, 40 * DAY), back;
	struct cf_err err;
	assert_int_equal(token_ages_render(doc, &a, &err), 0);
	assert_string_equal(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN),
			    "{\"tokenAges\":{\"maxAgeSeconds\":2592000,\"current\":5,\"next\":null,"
			    "\"prev\":3456000}}");
	assert_int_equal(token_ages_read(doc, &back, &err), 0);
	/* Field by field: the bytes of padding after known are not part of the value. */
	assert_true(back.known);
	assert_int_equal(back.max_age_sec, a.max_age_sec);
	for (int i = 0; i < TOKEN_SLOTS; i++)
		assert_int_equal(back.age_sec[i], a.age_sec[i]);
	json_object_put(doc);

	doc = json_object_new_object();
	assert_int_equal(token_ages_read(doc, &back, &err), 0);
	assert_false(back.known);
	json_object_put(doc);
}

static void test_read_is_strict(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"{\"tokenAges\":[]}",
		"{\"tokenAges\":{\"current\":1}}",
		"{\"tokenAges\":{\"maxAgeSeconds\":0}}",
		"{\"tokenAges\":{\"maxAgeSeconds\":10,\"current\":-1}}",
		"{\"tokenAges\":{\"maxAgeSeconds\":10,\"next\":\"1\"}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *doc = json_tokener_parse(bad[i]);
		struct token_ages out;
		struct cf_err err;
		assert_int_equal(token_ages_read(doc, &out, &err), -1);
		assert_non_null(strstr(err.msg, "tokenAges"));
		json_object_put(doc);
	}
}

static void write_aged(const char *dir, const char *name, const char *text, int64_t mtime)
{
	char path[512];
	struct cf_err err;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(fsutil_write_atomic(path, text, strlen(text), 0600, &err), 0);
	struct timeval tv[2] = {{(time_t)mtime, 0}, {(time_t)mtime, 0}};
	assert_int_equal(utimes(path, tv), 0);
}

/* tokens.dir: each slot from its file's time; an empty file is an empty slot; the age is taken
 * at the answer's time. */
static void test_agent_reads_its_slots(void **state)
{
	(void)state;
	char dir[] = "/tmp/clawfleet-token-age.XXXXXX";
	assert_non_null(mkdtemp(dir));
	int64_t now = 1800000000;
	write_aged(dir, "token.current", "cur-token\n", now - 40 * DAY);
	write_aged(dir, "token.next", "", now - DAY);
	write_aged(dir, "token.prev", "old-token\n", now - 70 * DAY);
	struct agent_config cfg = {.token_dir = dir, .token_max_age_ms = 30 * DAY * INT64_C(1000)};
	struct node_tokens t;
	struct token_ages a;
	struct cf_err err;
	assert_int_equal(node_token_age_read(&cfg, &t, &err), 0);
	node_token_age_at(&t, now * 1000, &a);
	assert_true(a.known);
	assert_int_equal(a.max_age_sec, 30 * DAY);
	assert_int_equal(a.age_sec[TOKEN_SLOT_CURRENT], 40 * DAY);
	assert_int_equal(a.age_sec[TOKEN_SLOT_NEXT], -1);
	assert_int_equal(a.age_sec[TOKEN_SLOT_PREV], 70 * DAY);
	node_token_age_at(&t, (now + DAY) * 1000, &a);
	assert_int_equal(a.age_sec[TOKEN_SLOT_CURRENT], 41 * DAY);
	node_token_age_at(NULL, now * 1000, &a);
	assert_false(a.known);
	char path[512];
	for (int i = 0; i < 3; i++) {
		static const char *const f[] = {"token.current", "token.next", "token.prev"};
		snprintf(path, sizeof(path), "%s/%s", dir, f[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* /status: the controller's file and each reporting node; the broadcast key names the ones over
 * their limits, in order. */
static void test_status_view_and_key(void **state)
{
	(void)state;
	struct node_observation obs[3] = {
		{.name = "gw-a", .reachable = true, .tokens = ages(30 * DAY, 41 * DAY, -1, -1)},
		{.name = "gw-b", .reachable = true, .tokens = ages(30 * DAY, DAY, -1, -1)},
		{.name = "gw-c", .reachable = false, .tokens = ages(30 * DAY, 90 * DAY, -1, -1)},
	};
	struct status_tokens t = {.max_age_ms = 30 * DAY * INT64_C(1000),
				  .agent_token_age_ms = 31 * DAY * INT64_C(1000),
				  .obs = obs,
				  .n = 3};
	char key[64];
	assert_true(status_tokens_too_old(&t, key, sizeof(key)));
	assert_string_equal(key, "controller,gw-a");
	struct json_object *j = status_tokens_json(&t);
	assert_string_equal(
		json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
		"{\"maxAgeSeconds\":2592000,\"agentToken\":{\"ageSeconds\":2678400},\"nodes\":{"
		"\"gw-a\":{\"maxAgeSeconds\":2592000,\"current\":3542400,\"next\":null,\"prev\":null},"
		"\"gw-b\":{\"maxAgeSeconds\":2592000,\"current\":86400,\"next\":null,\"prev\":null}},"
		"\"tooOld\":[{\"node\":null,\"reason\":\"token.age\",\"message\":\"token.current is "
		"31d old, over tokens.maxAge 30d: rotate it (clawfleet token rotate-fleet)\"},"
		"{\"node\":\"gw-a\",\"reason\":\"token.age\",\"message\":\"token.current is 41d old, "
		"over tokens.maxAge 30d: rotate it (clawfleet token rotate-fleet)\"}]}");
	json_object_put(j);
	t.agent_token_age_ms = -1;
	obs[0].tokens.age_sec[TOKEN_SLOT_CURRENT] = DAY;
	assert_false(status_tokens_too_old(&t, key, sizeof(key)));
	assert_string_equal(key, "");
	assert_null(status_tokens_json(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_judgement_table),
		cmocka_unit_test(test_render_then_read),
		cmocka_unit_test(test_read_is_strict),
		cmocka_unit_test(test_agent_reads_its_slots),
		cmocka_unit_test(test_status_view_and_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
