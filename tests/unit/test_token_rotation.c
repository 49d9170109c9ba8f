/* token_rotation and token_view: the progress document `clawfleet token rotate-fleet` writes
 * beside the agentToken file and the agents' GET /v1/token document, each read back exactly as
 * written, and refused, with the member named, when a member is missing, of another type or
 * out of its set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "contracts/token_rotation.h"
#include "contracts/token_view.h"

/* 2026-11-21T03:40:00.250Z */
#define T0 1795232400250LL

static struct token_rotation_node sample_nodes[] = {
	{.name = "canary-gw", .staged = true, .acknowledged = true},
	{.name = "stable-gw-a", .staged = true, .acknowledged = true, .promoted = true,
	 .revoked = true},
	{.name = "stable-gw-b", .error = "PUT /v1/token/next answered 409: already token.prev"},
};

static struct token_rotation sample(void)
{
	struct token_rotation r = {
		.phase = TOKEN_ROTATION_STAGING,
		.started_ms = T0 - 60000,
		.updated_ms = T0,
		.actor = "Alice Example",
		.ticket = "OPS-7",
		.sha256 = "1a2b3c4d",
		.waiting_for = "stable-gw-b to acknowledge the new token",
		.nodes = sample_nodes,
		.nnodes = 3,
	};
	return r;
}

static char *render(const struct token_rotation *r)
{
	struct json_object *o = token_rotation_json(r);
	assert_non_null(o);
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

static void test_round_trip_through_a_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/clawfleet-rotation-XXXXXX", token[PATH_MAX], path[PATH_MAX];
	struct cf_err err;
	struct arena a = {0};
	struct token_rotation in = sample(), out;
	struct stat st;
	bool found = true;
	assert_non_null(mkdtemp(dir));
	snprintf(token, sizeof(token), "%s/agent-token", dir);
	assert_int_equal(token_rotation_path(token, path, &err), 0);
	assert_string_equal(path + strlen(dir), "/agent-token.rotation.json");

	/* No file: nothing to show, and no error. */
	assert_int_equal(token_rotation_load(path, &a, &out, &found, &err), 0);
	assert_false(found);

	assert_int_equal(token_rotation_write(path, &in, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(token_rotation_load(path, &a, &out, &found, &err), 0);
	assert_true(found);
	assert_int_equal(out.phase, TOKEN_ROTATION_STAGING);
	assert_int_equal(out.started_ms, in.started_ms);
	assert_int_equal(out.updated_ms, in.updated_ms);
	assert_string_equal(out.actor, "Alice Example");
	assert_string_equal(out.ticket, "OPS-7");
	assert_string_equal(out.sha256, "1a2b3c4d");
	assert_string_equal(out.waiting_for, in.waiting_for);
	assert_int_equal(out.nnodes, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(out.nodes[i].name, sample_nodes[i].name);
		assert_int_equal(out.nodes[i].staged, sample_nodes[i].staged);
		assert_int_equal(out.nodes[i].acknowledged, sample_nodes[i].acknowledged);
		assert_int_equal(out.nodes[i].promoted, sample_nodes[i].promoted);
		assert_int_equal(out.nodes[i].revoked, sample_nodes[i].revoked);
	}
	assert_null(out.nodes[0].error);
	assert_string_equal(out.nodes[2].error, sample_nodes[2].error);

	/* Written again, the same bytes: the reader loses nothing. */
	char *first = render(&in), *second = render(&out);
	assert_string_equal(first, second);
	free(first);
	free(second);

	/* Rotated: nothing to wait for, no SHA8 known. */
	in.phase = TOKEN_ROTATION_ROTATED;
	in.waiting_for = NULL;
	in.sha256[0] = '\0';
	assert_int_equal(token_rotation_write(path, &in, &err), 0);
	assert_int_equal(token_rotation_load(path, &a, &out, &found, &err), 0);
	assert_string_equal(token_rotation_phase_name(out.phase), "rotated");
	assert_null(out.waiting_for);
	assert_string_equal(out.sha256, "");

	/* A file that is not the document: -1, naming the file. */
	assert_int_equal(fsutil_write_atomic(path, "{\"phase\":", 9, 0600, &err), 0);
	assert_int_equal(token_rotation_load(path, &a, &out, &found, &err), -1);
	assert_true(found);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "not valid JSON"));
	arena_free(&a);
	assert_int_equal(fsutil_remove_tree(dir, &err), 0);
}

/* Each bad document: the member named in the message. */
static void test_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"[]", "not a JSON object"},
		{"{}", "phase"},
		{"{\"phase\":\"failed\"}", "phase: want staging, switched, promoted or rotated"},
		{"{\"phase\":\"staging\",\"startedAt\":\"yesterday\"}", "startedAt"},
		{"{\"phase\":\"staging\",\"startedAt\":\"2026-11-21T03:40:00Z\","
		 "\"updatedAt\":\"2026-11-21T03:40:00Z\",\"actor\":7}",
		 "actor"},
		{"{\"phase\":\"staging\",\"startedAt\":\"2026-11-21T03:40:00Z\","
		 "\"updatedAt\":\"2026-11-21T03:40:00Z\",\"actor\":\"a\",\"ticket\":\"t\","
		 "\"sha256\":\"the-token-itself\",\"waitingFor\":null,\"nodes\":{}}",
		 "sha256: want 8 lowercase hex digits"},
		{"{\"phase\":\"staging\",\"startedAt\":\"2026-11-21T03:40:00Z\","
		 "\"updatedAt\":\"2026-11-21T03:40:00Z\",\"actor\":\"a\",\"ticket\":\"t\","
		 "\"sha256\":null,\"nodes\":{}}",
		 "waitingFor: required"},
		{"{\"phase\":\"staging\",\"startedAt\":\"2026-11-21T03:40:00Z\","
		 "\"updatedAt\":\"2026-11-21T03:40:00Z\",\"actor\":\"a\",\"ticket\":\"t\","
		 "\"sha256\":null,\"waitingFor\":null,\"nodes\":{\"gw-a\":{\"staged\":\"true\","
		 "\"acknowledged\":true,\"promoted\":false,\"revoked\":false,\"error\":null}}}",
		 "nodes.gw-a.staged"},
		{"{\"phase\":\"staging\",\"startedAt\":\"2026-11-21T03:40:00Z\","
		 "\"updatedAt\":\"2026-11-21T03:40:00Z\",\"actor\":\"a\",\"ticket\":\"t\","
		 "\"sha256\":null,\"waitingFor\":null,\"nodes\":{\"gw-a\":{\"staged\":true,"
		 "\"acknowledged\":true,\"promoted\":false,\"revoked\":false}}}",
		 "nodes.gw-a.error: required"},
		{"{\"phase\":\"staging\",\"startedAt\":\"2026-11-21T03:40:00Z\","
		 "\"updatedAt\":\"2026-11-21T03:40:00Z\",\"actor\":\"a\",\"ticket\":\"t\","
		 "\"sha256\":null,\"waitingFor\":null,\"nodes\":[]}",
		 "nodes"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct arena a = {0};
		struct token_rotation out = {.actor = "unchanged"};
		struct cf_err err = {{0}};
		if (token_rotation_parse(cases[i].text, strlen(cases[i].text), &a, &out, &err) !=
		    -1)
			fail_msg("accepted: %s", cases[i].text);
		if (!strstr(err.msg, cases[i].want))
			fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].text, err.msg,
				 cases[i].want);
		assert_string_equal(out.actor, "unchanged");
		arena_free(&a);
	}
}

/* More than the cap: refused before it is parsed. */
static void test_size_cap(void **state)
{
	(void)state;
	size_t len = TOKEN_ROTATION_FILE_MAX + 1;
	char *text = malloc(len);
	struct arena a = {0};
	struct token_rotation out;
	struct cf_err err;
	assert_non_null(text);
	memset(text, ' ', len);
	assert_int_equal(token_rotation_parse(text, len, &a, &out, &err), -1);
	assert_non_null(strstr(err.msg, "larger than"));
	free(text);
	arena_free(&a);
}

static void test_token_view(void **state)
{
	(void)state;
	struct token_view in = {.current = "1a2b3c4d", .next = "", .prev = "deadbeef",
				.promoted = true, .promoted_ms = T0 - 250,
				.promoted_sha = "1a2b3c4d"};
	struct token_view out;
	struct cf_err err;
	struct json_object *o = token_view_json(&in);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			    "{\"current\":\"1a2b3c4d\",\"next\":null,\"prev\":\"deadbeef\","
			    "\"lastPromote\":{\"at\":\"2026-11-21T03:40:00.000Z\","
			    "\"sha256\":\"1a2b3c4d\"}}");
	assert_int_equal(token_view_read(o, &out, &err), 0);
	json_object_put(o);
	assert_string_equal(out.current, "1a2b3c4d");
	assert_string_equal(out.next, "");
	assert_string_equal(out.prev, "deadbeef");
	assert_true(out.promoted);
	assert_int_equal(out.promoted_ms, T0 - 250);
	assert_string_equal(out.promoted_sha, "1a2b3c4d");

	/* A promote whose audit line names no SHA8 (a hand edit) still reads, without one. */
	snprintf(in.promoted_sha, sizeof(in.promoted_sha), "x");
	o = token_view_json(&in);
	assert_int_equal(token_view_read(o, &out, &err), 0);
	assert_string_equal(out.promoted_sha, "");
	json_object_put(o);

	static const struct {
		const char *text, *want;
	} bad[] = {
		{"{\"current\":\"1A2B3C4D\"}", "token view.current: want 8 lowercase hex digits"},
		{"{\"next\":\"1a2b3c4d5\"}", "token view.next: want 8 lowercase hex digits"},
		{"{\"prev\":5}", "prev"},
		{"{\"lastPromote\":{\"sha256\":\"1a2b3c4d\"}}", "at"},
		{"{\"lastPromote\":{\"at\":\"soon\"}}", "lastPromote.at"},
		{"{\"lastPromote\":true}", "lastPromote"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct token_view keep = {.current = "00000000"};
		assert_int_equal(jsonparse_object(bad[i].text, strlen(bad[i].text),
						  JSONPARSE_DEPTH, &o, &err),
				 0);
		if (token_view_read(o, &keep, &err) != -1)
			fail_msg("accepted: %s", bad[i].text);
		if (!strstr(err.msg, bad[i].want))
			fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].text, err.msg,
				 bad[i].want);
		assert_string_equal(keep.current, "00000000");
		json_object_put(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_through_a_file),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_token_view),
	};
	return cmocka_run_group_tests_name("token_rotation", tests, NULL, NULL);
}
