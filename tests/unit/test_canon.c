#include <math.h>
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

static struct json_object *parse(const char *text)
{
	struct json_object *v = NULL;
	struct cf_err err;
	if (jsonparse_value(text, strlen(text), JSONPARSE_DEPTH, &v, &err) < 0)
		fail_msg("%s: %s", text, err.msg);
	return v;
}

/* Canonical form of v, checked against want; v is released. */
static void expect_canon(struct json_object *v, const char *want)
{
	struct cf_err err = { { 0 } };
	char *got = NULL;
	size_t len = 0;

	assert_int_equal(canon_json(v, &got, &len, &err), 0);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	free(got);
	json_object_put(v);
}

static void expect_error(struct json_object *v, const char *want)
{
	struct cf_err err = { { 0 } };
	char *got = (char *)"untouched";

	assert_int_equal(canon_json(v, &got, NULL, &err), -1);
	assert_null(got);
	assert_non_null(strstr(err.msg, want));
	json_object_put(v);
}

static struct json_object *bits_to_double(uint64_t bits)
{
	double d;
	memcpy(&d, &bits, sizeof(d));
	return json_object_new_double(d);
}

static void test_key_order_at_every_depth(void **state)
{
	(void)state;
	expect_canon(parse("{\"b\":1,\"a\":{\"z\":[{\"y\":1,\"x\":2}],\"m\":{\"q\":0,\"p\":0}},"
			   "\"B\":2,\"aa\":3,\"\":4}"),
		     "{\"\":4,\"B\":2,\"a\":{\"m\":{\"p\":0,\"q\":0},\"z\":[{\"x\":2,\"y\":1}]},"
		     "\"aa\":3,\"b\":1}");
}

/* Bytewise UTF-8 order is code point order: U+00E9 < U+FB01 < U+1F600. JCS (UTF-16) would put
 * the emoji's surrogate pair before U+FB01; canon.c documents why it does not. */
static void test_key_order_is_bytewise_utf8(void **state)
{
	(void)state;
	expect_canon(parse("{\"\xf0\x9f\x98\x80\":3,\"\xef\xac\x81\":2,\"\xc3\xa9\":1,\"z\":0}"),
		     "{\"z\":0,\"\xc3\xa9\":1,\"\xef\xac\x81\":2,\"\xf0\x9f\x98\x80\":3}");
}

static void test_no_whitespace_and_literals(void **state)
{
	(void)state;
	expect_canon(parse(" { \"t\" : true ,\n\"f\":false, \"n\" : null ,"
			   " \"l\" : [ 1 , [ ] , { } ] } "),
		     "{\"f\":false,\"l\":[1,[],{}],\"n\":null,\"t\":true}");
	expect_canon(json_object_new_object(), "{}");
	expect_canon(json_object_new_array(), "[]");
	expect_canon(NULL, "null");
	expect_canon(json_object_new_string(""), "\"\"");
}

static void test_string_escapes(void **state)
{
	(void)state;
	const char raw[] = "q\" b\\ \b\f\n\r\t \x01\x1f\x7f / \xc3\xa9 \xe2\x82\xac end";
	expect_canon(json_object_new_string(raw),
		     "\"q\\\" b\\\\ \\b\\f\\n\\r\\t \\u0001\\u001f"
		     "\x7f / \xc3\xa9 \xe2\x82\xac end\"");
	/* A NUL inside a string survives: json-c keeps the length. */
	expect_canon(json_object_new_string_len("a\0b", 3), "\"a\\u0000b\"");
	/* Keys are escaped the same way. */
	expect_canon(parse("{\"k\\n\\\"\":1}"), "{\"k\\n\\\"\":1}");
}

static void test_invalid_utf8_is_refused(void **state)
{
	(void)state;
	/* Truncated, overlong '/', a surrogate, past U+10FFFF. */
	expect_error(json_object_new_string("\xc3"), "not valid UTF-8");
	expect_error(json_object_new_string("\xc0\xaf"), "not valid UTF-8");
	expect_error(json_object_new_string("\xed\xa0\x80"), "not valid UTF-8");
	expect_error(json_object_new_string("\xf4\x90\x80\x80"), "not valid UTF-8");
	expect_error(json_object_new_string("ok \xff"), "0xff at 3");
}

static void test_integers(void **state)
{
	(void)state;
	expect_canon(json_object_new_int64(INT64_MIN), "-9223372036854775808");
	expect_canon(json_object_new_int64(INT64_MAX), "9223372036854775807");
	expect_canon(json_object_new_uint64(UINT64_MAX), "18446744073709551615");
	expect_canon(json_object_new_uint64((uint64_t)INT64_MAX + 1), "9223372036854775808");
	expect_canon(json_object_new_int(0), "0");
	expect_canon(json_object_new_int(-42), "-42");
	/* the parser refuses integers outside int64; both ends of it come through */
	expect_canon(parse("[-9223372036854775808,9223372036854775807]"),
		     "[-9223372036854775808,9223372036854775807]");
}

static void test_doubles(void **state)
{
	(void)state;
	expect_canon(json_object_new_double(0.1), "0.1");
	expect_canon(json_object_new_double(1e21), "1e+21");
	expect_canon(json_object_new_double(1e20), "100000000000000000000");
	expect_canon(json_object_new_double(-0.0), "0");
	expect_canon(json_object_new_double(100.0), "100");
	expect_canon(json_object_new_double(-1.5), "-1.5");
	expect_canon(json_object_new_double(1e-7), "1e-7");
	expect_canon(json_object_new_double(0.000001), "0.000001");
	expect_canon(json_object_new_double(123.456e-10), "1.23456e-8");
	/* The parser's doubles, not only constructed ones. */
	expect_canon(parse("[0.1,1E21,-0.0,2.50,-7e-10]"), "[0.1,1e+21,0,2.5,-7e-10]");
}

/* RFC 8785 appendix B: IEEE 754 bit patterns and their JCS form. */
static void test_doubles_rfc8785_appendix_b(void **state)
{
	static const struct {
		uint64_t bits;
		const char *want;
	} vec[] = {
		{ 0x0000000000000000, "0" },
		{ 0x8000000000000000, "0" },
		{ 0x0000000000000001, "5e-324" },
		{ 0x8000000000000001, "-5e-324" },
		{ 0x7fefffffffffffff, "1.7976931348623157e+308" },
		{ 0xffefffffffffffff, "-1.7976931348623157e+308" },
		{ 0x4340000000000000, "9007199254740992" },
		{ 0xc340000000000000, "-9007199254740992" },
		{ 0x4430000000000000, "295147905179352830000" },
		{ 0x44b52d02c7e14af5, "9.999999999999997e+22" },
		{ 0x44b52d02c7e14af6, "1e+23" },
		{ 0x44b52d02c7e14af7, "1.0000000000000001e+23" },
		{ 0x444b1ae4d6e2ef4e, "999999999999999700000" },
		{ 0x444b1ae4d6e2ef4f, "999999999999999900000" },
		{ 0x444b1ae4d6e2ef50, "1e+21" },
		{ 0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7" },
		{ 0x3eb0c6f7a0b5ed8d, "0.000001" },
		{ 0x41b3de4355555553, "333333333.3333332" },
		{ 0x41b3de4355555554, "333333333.33333325" },
		{ 0x41b3de4355555555, "333333333.3333333" },
		{ 0x41b3de4355555556, "333333333.3333334" },
		{ 0x41b3de4355555557, "333333333.33333343" },
		{ 0xbecbf647612f3696, "-0.0000033333333333333333" },
		{ 0x43143ff3c1cb0959, "1424953923781206.2" },
		/* Not in the RFC: powers of two where the nearest 16-digit decimal does not
		 * read back but the one above does (expected values from Python's repr). */
		{ 0x0060000000000000, "7.120236347223045e-307" },
		{ 0x0100000000000000, "7.291122019556398e-304" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++)
		expect_canon(bits_to_double(vec[i].bits), vec[i].want);
}

static void test_nan_and_infinity_fail(void **state)
{
	(void)state;
	expect_error(bits_to_double(0x7fffffffffffffff), "NaN and Infinity have no JSON form");
	expect_error(bits_to_double(0x7ff0000000000000), "NaN and Infinity have no JSON form");
	expect_error(bits_to_double(0xfff0000000000000), "NaN and Infinity have no JSON form");
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "deep", bits_to_double(0x7ff0000000000000));
	expect_error(o, "NaN");
}

static struct json_object *nested_arrays(int levels)
{
	struct json_object *v = json_object_new_array();
	for (int i = 1; i < levels; i++) {
		struct json_object *outer = json_object_new_array();
		json_object_array_add(outer, v);
		v = outer;
	}
	return v;
}

static void test_depth_cap(void **state)
{
	struct cf_err err = { { 0 } };
	char *s = NULL;
	size_t len = 0;
	(void)state;

	struct json_object *ok = nested_arrays(128);
	assert_int_equal(canon_json(ok, &s, &len, &err), 0);
	assert_int_equal(len, 256);
	free(s);
	json_object_put(ok);
	expect_error(nested_arrays(129), "deeper than 128 levels");
}

static void test_size_cap(void **state)
{
	(void)state;
	/* 5 strings of 16 MiB each; the whole would be 80 MiB. */
	size_t n = 16u << 20;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'x', n);
	big[n] = '\0';
	struct json_object *a = json_object_new_array();
	for (int i = 0; i < 5; i++)
		json_object_array_add(a, json_object_new_string_len(big, (int)n));
	free(big);
	expect_error(a, "larger than 64 MiB");
}

static void test_same_hash_for_any_insertion_order(void **state)
{
	struct cf_err err = { { 0 } };
	char h1[65], h2[65];
	(void)state;

	struct json_object *a = json_object_new_object();
	json_object_object_add(a, "name", json_object_new_string("gw"));
	json_object_object_add(a, "weight", json_object_new_int(10));
	struct json_object *inner = json_object_new_object();
	json_object_object_add(inner, "port", json_object_new_int(8080));
	json_object_object_add(inner, "host", json_object_new_string("::"));
	json_object_object_add(a, "listen", inner);

	struct json_object *b = json_object_new_object();
	inner = json_object_new_object();
	json_object_object_add(inner, "host", json_object_new_string("::"));
	json_object_object_add(inner, "port", json_object_new_int(8080));
	json_object_object_add(b, "listen", inner);
	json_object_object_add(b, "weight", json_object_new_int(10));
	json_object_object_add(b, "name", json_object_new_string("gw"));

	assert_int_equal(canon_json_sha256(a, h1, &err), 0);
	assert_int_equal(canon_json_sha256(b, h2, &err), 0);
	assert_string_equal(h1, h2);
	assert_int_equal(strlen(h1), 64);

	json_object_object_add(b, "weight", json_object_new_int(11));
	assert_int_equal(canon_json_sha256(b, h2, &err), 0);
	assert_string_not_equal(h1, h2);
	json_object_put(a);
	json_object_put(b);
}

/* Expected digest from `printf '%s' '{"a":"x\ny","b":[1,2,{"c":null,"d":true}],"e":-1.5}' |
 * sha256sum`, an oracle independent of this code. */
static void test_known_sha256(void **state)
{
	struct cf_err err = { { 0 } };
	char hex[65];
	(void)state;

	struct json_object *v =
		parse("{ \"e\": -1.5, \"b\": [1, 2, {\"d\": true, \"c\": null}],"
		      " \"a\": \"x\\ny\" }");
	assert_int_equal(canon_json_sha256(v, hex, &err), 0);
	assert_string_equal(hex,
			    "9496e9f624937a3a1735cad857bb36045dee121b8a3825a4dc4ed5d8c78bc721");
	json_object_put(v);

	canon_sha256_hex("abc", 3, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	canon_sha256_hex("", 0, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sha256_error_propagates(void **state)
{
	struct cf_err err = { { 0 } };
	char hex[65];
	(void)state;

	struct json_object *v = json_object_new_double(NAN);
	assert_int_equal(canon_json_sha256(v, hex, &err), -1);
	assert_non_null(strstr(err.msg, "NaN"));
	assert_int_equal(canon_json_sha256(v, hex, NULL), -1);
	json_object_put(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_order_at_every_depth),
		cmocka_unit_test(test_key_order_is_bytewise_utf8),
		cmocka_unit_test(test_no_whitespace_and_literals),
		cmocka_unit_test(test_string_escapes),
		cmocka_unit_test(test_invalid_utf8_is_refused),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_doubles),
		cmocka_unit_test(test_doubles_rfc8785_appendix_b),
		cmocka_unit_test(test_nan_and_infinity_fail),
		cmocka_unit_test(test_depth_cap),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_same_hash_for_any_insertion_order),
		cmocka_unit_test(test_known_sha256),
		cmocka_unit_test(test_sha256_error_propagates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
