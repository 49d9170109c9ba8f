#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "base/canon.h"
#include "base/jsonparse.h"
#include "desired/fragments.h"

/* Fragments are YAML on disk; here they are written as the JSON the YAML loader produces. */
static struct json_object *parse(const char *text)
{
	struct json_object *v = NULL;
	struct cf_err err;
	if (jsonparse_value(text, strlen(text), JSONPARSE_DEPTH, &v, &err) < 0)
		fail_msg("%s: %s", text, err.msg);
	return v;
}

static char *canon(const struct json_object *v)
{
	struct cf_err err = { { 0 } };
	char *s = NULL;

	assert_int_equal(canon_json(v, &s, NULL, &err), 0);
	return s;
}

static void put_all(struct json_object **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_object_put(v[i]);
}

/* Merges n fragments given as JSON text and checks the canonical result. */
static void expect_merge(const char *const *texts, size_t n, const char *want)
{
	struct json_object *frags[8], *out = NULL;
	struct cf_err err = { { 0 } };

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++)
		frags[i] = parse(texts[i]);
	assert_int_equal(fragments_merge(frags, n, &out, &err), 0);
	char *got = canon(out);
	assert_string_equal(got, want);
	free(got);
	json_object_put(out);
	put_all(frags, n);
}

static const char base_yaml[] = /* tenants/acme/gateway.d/10-base.yaml */
	"{\"gateway\":{\"listen\":{\"host\":\"::\",\"port\":8443},"
	"\"upstreams\":[{\"name\":\"mac-a\",\"weight\":95},{\"name\":\"mac-b\",\"weight\":5}],"
	"\"retries\":4},\"doctor\":{\"interval\":300}}";
static const char canary_yaml[] = /* tenants/acme/gateway.d/20-canary.yaml */
	"{\"gateway\":{\"listen\":{\"port\":9443},"
	"\"upstreams\":[{\"name\":\"mac-b\",\"weight\":15}]}}";

static void test_base_then_canary(void **state)
{
	const char *texts[] = { base_yaml, canary_yaml };
	(void)state;
	expect_merge(texts, 2,
		     "{\"doctor\":{\"interval\":300},\"gateway\":{\"listen\":{\"host\":\"::\","
		     "\"port\":9443},\"retries\":4,"
		     "\"upstreams\":[{\"name\":\"mac-b\",\"weight\":15}]}}");
}

static void test_zero_and_one_fragment(void **state)
{
	struct json_object *out = NULL;
	struct cf_err err = { { 0 } };
	const char *one[] = { base_yaml };
	(void)state;

	assert_int_equal(fragments_merge(NULL, 0, &out, &err), 0);
	char *s = canon(out);
	assert_string_equal(s, "{}");
	free(s);
	json_object_put(out);

	struct json_object *v = parse(base_yaml);
	char *want = canon(v);
	json_object_put(v);
	expect_merge(one, 1, want);
	free(want);
}

static void test_order_matters(void **state)
{
	struct json_object *f[3], *fwd = NULL, *rev = NULL;
	struct cf_err err = { { 0 } };
	char h_fwd[65], h_rev[65];
	(void)state;

	f[0] = parse("{\"weight\":10,\"pool\":{\"a\":1}}");
	f[1] = parse("{\"weight\":20,\"pool\":{\"b\":2}}");
	f[2] = parse("{\"weight\":30,\"pool\":{\"a\":3}}");
	struct json_object *r[3] = { f[2], f[1], f[0] };
	assert_int_equal(fragments_merge(f, 3, &fwd, &err), 0);
	assert_int_equal(fragments_merge(r, 3, &rev, &err), 0);

	char *s_fwd = canon(fwd), *s_rev = canon(rev);
	assert_string_equal(s_fwd, "{\"pool\":{\"a\":3,\"b\":2},\"weight\":30}");
	assert_string_equal(s_rev, "{\"pool\":{\"a\":1,\"b\":2},\"weight\":10}");
	assert_int_equal(canon_json_sha256(fwd, h_fwd, &err), 0);
	assert_int_equal(canon_json_sha256(rev, h_rev, &err), 0);
	assert_string_not_equal(h_fwd, h_rev);
	free(s_fwd);
	free(s_rev);
	json_object_put(fwd);
	json_object_put(rev);
	put_all(f, 3);
}

static void test_null_deletes(void **state)
{
	const char *texts[] = {
		"{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"e\":[1],\"gone\":{\"x\":1}}",
		"{\"a\":null,\"b\":{\"d\":null},\"gone\":null,\"never\":null}",
	};
	/* A null inside a map that is new to the result is dropped too (RFC 7386), as is one in
	 * the first fragment; a null inside a list is a value and stays. */
	const char *fresh[] = {
		"{\"keep\":null,\"s\":\"x\"}",
		"{\"s\":{\"t\":null,\"u\":1},\"l\":[null,1]}",
	};
	(void)state;
	expect_merge(texts, 2, "{\"b\":{\"c\":2},\"e\":[1]}");
	expect_merge(fresh, 2, "{\"l\":[null,1],\"s\":{\"u\":1}}");
}

static void test_nested_new_keys_added(void **state)
{
	const char *texts[] = {
		"{\"a\":{\"b\":{\"c\":1}}}",
		"{\"a\":{\"b\":{\"d\":{\"e\":true}},\"f\":\"new\"},\"g\":[]}",
	};
	(void)state;
	expect_merge(texts, 2,
		     "{\"a\":{\"b\":{\"c\":1,\"d\":{\"e\":true}},\"f\":\"new\"},\"g\":[]}");
}

static void test_replacements(void **state)
{
	/* Lists replace, never append or merge element-wise; type changes take the later value. */
	const char *texts[] = {
		"{\"l\":[{\"x\":1},2,3],\"m\":{\"k\":1},\"s\":\"str\",\"n\":1.5,\"e\":[9]}",
		"{\"l\":[{\"y\":2}],\"m\":[1,2],\"s\":{\"k\":2},\"n\":false,\"e\":[]}",
		"{\"m\":\"scalar\"}",
	};
	(void)state;
	expect_merge(texts, 3, "{\"e\":[],\"l\":[{\"y\":2}],\"m\":\"scalar\",\"n\":false,"
			       "\"s\":{\"k\":2}}");
}

static void test_inputs_unchanged_and_unshared(void **state)
{
	struct json_object *f[2], *out = NULL;
	struct cf_err err = { { 0 } };
	char *before[2], *after[2];
	(void)state;

	f[0] = parse(base_yaml);
	f[1] = parse("{\"gateway\":{\"listen\":{\"port\":1},\"retries\":null},\"doctor\":[1]}");
	for (int i = 0; i < 2; i++)
		before[i] = canon(f[i]);
	assert_int_equal(fragments_merge(f, 2, &out, &err), 0);
	for (int i = 0; i < 2; i++) {
		after[i] = canon(f[i]);
		assert_string_equal(before[i], after[i]);
	}

	/* Changing the result must not reach the inputs: nothing is shared. */
	struct json_object *gw = NULL, *up = NULL;
	assert_true(json_object_object_get_ex(out, "gateway", &gw));
	assert_true(json_object_object_get_ex(gw, "upstreams", &up));
	json_object_array_add(up, json_object_new_int(7));
	json_object_object_add(gw, "added", json_object_new_int(1));
	for (int i = 0; i < 2; i++) {
		char *again = canon(f[i]);
		assert_string_equal(before[i], again);
		free(again);
		free(before[i]);
		free(after[i]);
	}
	json_object_put(out);
	put_all(f, 2);
}

static void expect_fragment_error(struct json_object *bad, size_t at, const char *want)
{
	struct json_object *f[3], *out = (struct json_object *)&out;
	struct cf_err err = { { 0 } };

	f[0] = parse("{\"a\":1}");
	f[1] = parse("{\"b\":2}");
	f[2] = parse("{\"c\":3}");
	json_object_put(f[at]);
	f[at] = bad;
	assert_int_equal(fragments_merge(f, 3, &out, &err), -1);
	assert_null(out);
	assert_string_equal(err.msg, want);
	assert_int_equal(fragments_merge(f, 3, &out, NULL), -1);
	put_all(f, 3);
}

static void test_non_object_fragment(void **state)
{
	(void)state;
	expect_fragment_error(parse("[1,2]"), 1, "fragment 1: the top level is a list, not a map");
	expect_fragment_error(json_object_new_string("x"), 2,
			      "fragment 2: the top level is a string, not a map");
	expect_fragment_error(json_object_new_int(3), 0,
			      "fragment 0: the top level is a number, not a map");
	expect_fragment_error(NULL, 1, "fragment 1: the top level is null, not a map");
}

/* levels maps deep, the innermost holding inner (which it takes). */
static struct json_object *nested_maps(int levels, struct json_object *inner)
{
	struct json_object *v = json_object_new_object();
	json_object_object_add(v, "leaf", inner);
	for (int i = 1; i < levels; i++) {
		struct json_object *outer = json_object_new_object();
		json_object_object_add(outer, "k", v);
		v = outer;
	}
	return v;
}

static void test_depth_cap(void **state)
{
	struct json_object *out = NULL;
	(void)state;

	struct json_object *ok = nested_maps(64, json_object_new_int(1));
	assert_int_equal(fragments_merge(&ok, 1, &out, NULL), 0);
	json_object_put(out);
	json_object_put(ok);

	/* Too deep through maps, and through a list that is copied whole. */
	expect_fragment_error(nested_maps(65, json_object_new_int(1)), 1,
			      "fragment 1: maps and lists nest deeper than 64 levels");
	expect_fragment_error(nested_maps(64, json_object_new_array()), 2,
			      "fragment 2: maps and lists nest deeper than 64 levels");
}

static void test_merge_is_deterministic(void **state)
{
	struct json_object *f[3], *a = NULL, *b = NULL;
	struct cf_err err = { { 0 } };
	(void)state;

	f[0] = parse(base_yaml);
	f[1] = parse(canary_yaml);
	f[2] = parse("{\"doctor\":{\"interval\":60,\"checks\":[\"disk\",\"queue\"]},\"z\":0.25}");
	assert_int_equal(fragments_merge(f, 3, &a, &err), 0);
	assert_int_equal(fragments_merge(f, 3, &b, &err), 0);
	assert_ptr_not_equal(a, b);
	char *sa = canon(a), *sb = canon(b);
	assert_string_equal(sa, sb);
	assert_int_equal(strlen(sa), strlen(sb));
	free(sa);
	free(sb);
	json_object_put(a);
	json_object_put(b);
	put_all(f, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_then_canary),
		cmocka_unit_test(test_zero_and_one_fragment),
		cmocka_unit_test(test_order_matters),
		cmocka_unit_test(test_null_deletes),
		cmocka_unit_test(test_nested_new_keys_added),
		cmocka_unit_test(test_replacements),
		cmocka_unit_test(test_inputs_unchanged_and_unshared),
		cmocka_unit_test(test_non_object_fragment),
		cmocka_unit_test(test_depth_cap),
		cmocka_unit_test(test_merge_is_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
