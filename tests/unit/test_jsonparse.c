/* jsonparse: the one JSON reader. A table of documents with the exact outcome each must have
 * (RFC 8259 and nothing more, RFC 3629 UTF-8, integers within int64 and other numbers within a
 * double, the depth limit, one value and white space only after it), a
 * table of broken ones with the byte where each goes wrong, and a table of members read through
 * the typed getters with the exact message a wrong one gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "base/jsonparse.h"

struct doc_case {
	const char *text;
	int depth;
	const char *want_error; /* NULL: parses as an object */
};

static const struct doc_case doc_cases[] = {
	{"{}", 8, NULL},
	{"{\"a\":1}\n", 8, NULL},
	{" \t{\"a\":[1,2,{\"b\":null}]} \r\n", 8, NULL},
	{"", 8, "not valid JSON: unexpected end"},
	{"{\"a\":", 8, "not valid JSON: unexpected end"},
	{"{\"a\":1} x", 8, "not valid JSON: "},
	{"{\"a\":1}{}", 8, "not valid JSON: "},
	{"[1,2]", 8, "not a JSON object"},
	{"\"text\"", 8, "not a JSON object"},
	{"null", 8, "not "},
	{"{\"a\":01}", 8, "not valid JSON: "},		 /* strict: no leading zeros */
	{"{\"a\":1,}", 8, "not valid JSON: "},		 /* strict: no trailing comma */
	{"{\"a\":\"\xc3\x28\"}", 8, "not valid JSON: "}, /* invalid UTF-8 */
	{"{\"a\":{\"b\":{\"c\":{}}}}", 3, "not valid JSON: "}, /* over the depth limit */
	{"{\"a\":{\"b\":{\"c\":{}}}}", 4, NULL},
	/* RFC 8259 and nothing more: what json-c's strict mode lets through is refused too. */
	{"{\"a\":NaN}", 8, "not valid JSON: a: NaN is not a JSON number at byte 5"},
	{"{\"a\":Infinity}", 8, "not valid JSON: a: Infinity is not a JSON number at byte 5"},
	{"{\"a\":-Infinity}", 8, "not valid JSON: a: -Infinity is not a JSON number at byte 5"},
	{"{\"a\":00}", 8, "not valid JSON: a: 00 is not a JSON number at byte 5"},
	{"{\"a\":-01}", 8, "not valid JSON: a: -01 is not a JSON number at byte 5"},
	{"{\"a\":1.}", 8, "not valid JSON: a: 1. is not a JSON number at byte 5"},
	{"{\"a\":[1.e5]}", 8, "not valid JSON: a[0]: 1.e5 is not a JSON number at byte 6"},
	{"{\"a\":.5}", 8, "not valid JSON: "},
	{"{\"a\":+1}", 8, "not valid JSON: "},
	{"{'a':1}", 8, "not valid JSON: a single-quoted string at byte 1"},
	{"{\"a\":'b'}", 8, "not valid JSON: "},
	{"{\"a\":{\"b\":1,'c':2}}", 8, "not valid JSON: a: a single-quoted string at byte 12"},
	{"{\"a\":\"x\ty\"}", 8, "not valid JSON: a: a raw control character in a string at byte 7"},
	{"{\"a\":\"x\x01\"}", 8, "not valid JSON: a: a raw control character in a string at byte 7"},
	{"{\"a\x1f\":1}", 8, "not valid JSON: a raw control character in a string at byte 3"},
	/* UTF-8 that json-c passes: overlong, a surrogate, past U+10FFFF */
	{"{\"a\":\"\xc0\x80\"}", 8, "not valid JSON: a: invalid UTF-8 in a string at byte 6"},
	{"{\"a\":\"\xed\xa0\x80\"}", 8, "not valid JSON: a: invalid UTF-8 in a string at byte 6"},
	{"{\"\xf4\x90\x80\x80\":1}", 8, "not valid JSON: invalid UTF-8 in a string at byte 2"},
	{"{\"a\":{\"b\":1, \"\xc0\x80\":2}}", 8,
	 "not valid JSON: a: invalid UTF-8 in a string at byte 14"}, /* a key names its object */
	{"{\"a\":[\"ok\",\"\xc0\x80\"]}", 8,
	 "not valid JSON: a[1]: invalid UTF-8 in a string at byte 12"},
	/* json-c would clamp these to INT64_MAX, INT64_MIN, UINT64_MAX and infinity */
	{"{\"generation\":9223372036854775808}", 8,
	 "not valid JSON: generation: 9223372036854775808 does not fit in 64 bits at byte 14"},
	{"{\"a\":{\"b\":[1,-9223372036854775809]}}", 8,
	 "not valid JSON: a.b[1]: -9223372036854775809 does not fit in 64 bits at byte 13"},
	{"{\"a\":[{\"b\":1},99999999999999999999]}", 8,
	 "not valid JSON: a[1]: 99999999999999999999 does not fit in 64 bits at byte 14"},
	{"{\"a\":1e400}", 8, "not valid JSON: a: 1e400 does not fit in a double at byte 5"},
	{"{\"a\":-1e400}", 8, "not valid JSON: a: -1e400 does not fit in a double at byte 5"},
	/* valid edge cases: the int64 ends, -0, fractions, exponents, an escaped NUL, UTF-8 */
	{"{\"max\":9223372036854775807,\"min\":-9223372036854775808}", 8, NULL},
	{"{\"a\":[-0,0,0.5,-0.0,1e5,1E+5,1.5e-3,1e-400,10,-10]}", 8, NULL},
	{"{\"a\":\"\\u0000 \\\" \\\\ '\", \"b'\":\"x\"}", 8, NULL},
	{"{\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"}", 8, NULL},
	{"{\"a\":true,\"b\":false,\"c\":null} \n", 8, NULL},
};

static void test_documents(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(doc_cases) / sizeof(doc_cases[0]); i++) {
		const struct doc_case *c = &doc_cases[i];
		struct json_object *v = (struct json_object *)&v; /* must become NULL on error */
		struct cf_err err = {{0}};
		int rc = jsonparse_object(c->text, strlen(c->text), c->depth, &v, &err);
		if (!c->want_error) {
			if (rc != 0)
				fail_msg("case %zu (%s): %s", i, c->text, err.msg);
			assert_true(json_object_is_type(v, json_type_object));
			json_object_put(v);
			continue;
		}
		if (rc >= 0 || v != NULL)
			fail_msg("case %zu (%s): parsed, want %s", i, c->text, c->want_error);
		if (strncmp(err.msg, c->want_error, strlen(c->want_error)) != 0)
			fail_msg("case %zu (%s): \"%s\", want \"%s\"", i, c->text, err.msg,
				 c->want_error);
	}
	/* Too deep is an error of its own, so a reader can name its limit; the rest are -1. */
	struct json_object *v = NULL;
	assert_int_equal(jsonparse_value("[[1]]", 5, 1, &v, NULL), JSONPARSE_TOO_DEEP);
	assert_null(v);
	assert_int_equal(jsonparse_value("[[1]", 4, 1, &v, NULL), JSONPARSE_TOO_DEEP);
	assert_int_equal(jsonparse_value("[1", 2, 8, &v, NULL), -1);
}

static void test_values_and_a_kept_parser(void **state)
{
	(void)state;
	struct json_object *v = NULL;
	struct cf_err err = {{0}};
	assert_int_equal(jsonparse_value("[1,\"x\"] ", 8, 8, &v, &err), 0);
	assert_int_equal(json_object_array_length(v), 2);
	json_object_put(v);
	assert_int_equal(jsonparse_value("[1] [2]", 7, 8, &v, &err), -1);
	assert_non_null(strstr(err.msg, "not valid JSON: "));
	assert_int_equal(jsonparse_value("null", 4, 8, &v, &err), -1);
	/* A number at the very end of the text is whole (found by fuzzing: "1" was "unexpected
	 * end" while "1 " parsed, so the canonical form of 1 did not read back). */
	assert_int_equal(jsonparse_value("1", 1, 8, &v, &err), 0);
	assert_int_equal(json_object_get_int64(v), 1);
	json_object_put(v);
	assert_int_equal(jsonparse_value("-2.5e3", 6, 8, &v, &err), 0);
	assert_true(json_object_get_double(v) == -2500.0);
	json_object_put(v);
	assert_int_equal(jsonparse_value("12", 1, 8, &v, &err), 0); /* len, not the NUL, ends it */
	assert_int_equal(json_object_get_int64(v), 1);
	json_object_put(v);
	assert_int_equal(jsonparse_value("-", 1, 8, &v, &err), -1);
	assert_string_equal(err.msg, "not valid JSON: unexpected end");
	assert_int_equal(jsonparse_value("01", 2, 8, &v, &err), -1);
	assert_int_equal(jsonparse_value("[1", 2, 8, &v, &err), -1);
	assert_string_equal(err.msg, "not valid JSON: unexpected end");

	/* The kept parser starts afresh on every document, even after a broken one. */
	struct jsonparse *p = NULL;
	assert_int_equal(jsonparse_new(&p, 8, &err), 0);
	assert_int_equal(jsonparse_next_object(p, "{\"a\":", 5, &v, &err), -1);
	assert_string_equal(err.msg, "not valid JSON: unexpected end");
	assert_int_equal(jsonparse_next_object(p, "{\"b\":2}", 7, &v, &err), 0);
	assert_true(json_object_object_get_ex(v, "b", NULL));
	assert_false(json_object_object_get_ex(v, "a", NULL));
	json_object_put(v);
	assert_int_equal(jsonparse_next_object(p, "{\"a\":1} x", 9, &v, &err), -1);
	assert_non_null(strstr(err.msg, "not valid JSON: "));
	jsonparse_free(p);
}

struct error_at_case {
	const char *text;
	size_t want_at;
	const char *want_error;
};

/* Where jsonparse_value_at says a document goes wrong, for a FILE:LINE:COL diagnostic. */
static const struct error_at_case error_at_cases[] = {
	{"", 0, "not valid JSON: unexpected end"},
	{"{\"a\":\n", 6, "not valid JSON: unexpected end"},   /* the end of the text */
	{"{\"a\":1,}", 7, "not valid JSON: "},                /* the refused "}" */
	{"{\"a\":tru}", 8, "not valid JSON: "},               /* the refused "}" */
	{"{\"a\":\"\xc3\x28\"}", 7, "not valid JSON: "},      /* "(" ends the UTF-8 early */
	{"{} \n x", 5, "not valid JSON: "},                   /* the trailing data */
	{" \n null\n", 3, "not valid JSON: null at the top"}, /* the value itself */
	{"[[[1]]]", 2, "not valid JSON: "},                   /* the bracket too deep */
	{"[1, NaN]", 4, "not valid JSON: [1]: NaN"},              /* the refused number */
	{"[\"ok\", \"\xc0\x80\"]", 8, "not valid JSON: [1]: invalid UTF-8"}, /* the refused byte */
};

static void test_error_at(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_at_cases) / sizeof(error_at_cases[0]); i++) {
		const struct error_at_case *c = &error_at_cases[i];
		struct json_object *v = NULL;
		struct cf_err err = {{0}};
		size_t at = SIZE_MAX;
		if (jsonparse_value_at(c->text, strlen(c->text), 2, &v, &at, &err) >= 0)
			fail_msg("case %zu: parsed", i);
		assert_null(v);
		if (at != c->want_at)
			fail_msg("case %zu: error at %zu, want %zu (%s)", i, at, c->want_at,
				 err.msg);
		if (strncmp(err.msg, c->want_error, strlen(c->want_error)) != 0)
			fail_msg("case %zu: \"%s\", want \"%s\"", i, err.msg, c->want_error);
	}
	/* A good document leaves it alone, as it is any value at the top. */
	struct json_object *v = NULL;
	size_t at = SIZE_MAX;
	assert_int_equal(jsonparse_value_at("[1]\n", 4, 2, &v, &at, NULL), 0);
	assert_int_equal(at, SIZE_MAX);
	json_object_put(v);
}

static const char member_doc[] =
	"{\"s\":\"text\",\"b\":true,\"fs\":\"false\",\"i\":42,\"neg\":-1,\"d\":1.5,\"one\":1.0,"
	"\"o\":{\"x\":1},\"a\":[1],\"n\":null}";

static void test_getters(void **state)
{
	(void)state;
	struct json_object *doc = NULL;
	struct cf_err err = {{0}};
	assert_int_equal(jsonparse_object(member_doc, strlen(member_doc), 8, &doc, &err), 0);

	const char *s = "default";
	assert_int_equal(jsonparse_get_string(doc, "doc", "s", JSONPARSE_REQUIRED, &s, &err), 0);
	assert_string_equal(s, "text");
	s = "default";
	assert_int_equal(jsonparse_get_string(doc, "doc", "absent", JSONPARSE_OPTIONAL, &s, &err),
			 0);
	assert_string_equal(s, "default"); /* absent and optional: left as it was */
	assert_int_equal(jsonparse_get_string(doc, "doc", "n", JSONPARSE_OPTIONAL, &s, &err), 0);
	assert_string_equal(s, "default"); /* null counts as absent */
	assert_int_equal(jsonparse_get_string(doc, "doc", "n", JSONPARSE_REQUIRED, &s, &err), -1);
	assert_string_equal(err.msg, "doc.n: missing");
	assert_int_equal(jsonparse_get_string(doc, "doc", "i", JSONPARSE_OPTIONAL, &s, &err), -1);
	assert_string_equal(err.msg, "doc.i: want a string");

	bool b = false;
	assert_int_equal(jsonparse_get_bool(doc, "doc", "b", JSONPARSE_REQUIRED, &b, &err), 0);
	assert_true(b);
	/* No coercion: the string "false" is not a boolean. */
	assert_int_equal(jsonparse_get_bool(doc, "doc", "fs", JSONPARSE_OPTIONAL, &b, &err), -1);
	assert_string_equal(err.msg, "doc.fs: want true or false");
	assert_true(b);

	int64_t i = 7;
	assert_int_equal(jsonparse_get_int(doc, "doc", "i", JSONPARSE_REQUIRED, 0, 100, &i, &err),
			 0);
	assert_int_equal(i, 42);
	assert_int_equal(
		jsonparse_get_int(doc, "doc", "neg", JSONPARSE_REQUIRED, 0, INT64_MAX, &i, &err), -1);
	assert_string_equal(err.msg, "doc.neg: -1 is outside 0..9223372036854775807");
	assert_int_equal(i, 42);
	assert_int_equal(jsonparse_get_int(doc, "doc", "one", JSONPARSE_REQUIRED, 0, 9, &i, &err),
			 -1);
	assert_string_equal(err.msg, "doc.one: want an integer");
	/* The parser refuses integers past 64 bits; one built in memory is not clamped either. */
	struct json_object *built = json_object_new_object();
	json_object_object_add(built, "big", json_object_new_uint64(UINT64_MAX));
	assert_int_equal(
		jsonparse_get_int(built, "doc", "big", JSONPARSE_REQUIRED, 0, INT64_MAX, &i, &err), -1);
	assert_string_equal(err.msg, "doc.big: too large a number");
	json_object_put(built);
	assert_int_equal(jsonparse_get_int(doc, "doc", "absent", JSONPARSE_REQUIRED, 0, 9, &i, &err),
			 -1);
	assert_string_equal(err.msg, "doc.absent: missing");

	double d = 0;
	assert_int_equal(jsonparse_get_number(doc, "doc", "d", JSONPARSE_REQUIRED, 0, 2, &d, &err),
			 0);
	assert_true(d == 1.5);
	assert_int_equal(jsonparse_get_number(doc, "doc", "i", JSONPARSE_REQUIRED, 0, 100, &d, &err),
			 0);
	assert_true(d == 42);
	assert_int_equal(jsonparse_get_number(doc, "doc", "i", JSONPARSE_REQUIRED, 0, 10, &d, &err),
			 -1);
	assert_string_equal(err.msg, "doc.i: 42 is outside 0..10");
	assert_int_equal(jsonparse_get_number(doc, "doc", "s", JSONPARSE_REQUIRED, 0, 10, &d, &err),
			 -1);
	assert_string_equal(err.msg, "doc.s: want a number");

	struct json_object *o = NULL, *a = NULL;
	assert_int_equal(jsonparse_get_object(doc, "doc", "o", JSONPARSE_REQUIRED, &o, &err), 0);
	assert_int_equal(jsonparse_get_int(o, "doc.o", "x", JSONPARSE_REQUIRED, 0, 9, &i, &err), 0);
	assert_int_equal(i, 1);
	assert_int_equal(jsonparse_get_object(doc, "doc", "a", JSONPARSE_REQUIRED, &o, &err), -1);
	assert_string_equal(err.msg, "doc.a: want an object");
	assert_int_equal(jsonparse_get_array(doc, "doc", "a", JSONPARSE_REQUIRED, &a, &err), 0);
	assert_int_equal(json_object_array_length(a), 1);
	assert_int_equal(jsonparse_get_array(doc, "doc", "o", JSONPARSE_REQUIRED, &a, &err), -1);
	assert_string_equal(err.msg, "doc.o: want an array");
	/* A NULL object (a parent that was absent) has no members. */
	assert_int_equal(jsonparse_get_string(NULL, "doc.p", "q", JSONPARSE_OPTIONAL, &s, &err), 0);
	assert_int_equal(jsonparse_get_string(NULL, "doc.p", "q", JSONPARSE_REQUIRED, &s, &err), -1);
	assert_string_equal(err.msg, "doc.p.q: missing");
	json_object_put(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_documents),
		cmocka_unit_test(test_values_and_a_kept_parser),
		cmocka_unit_test(test_error_at),
		cmocka_unit_test(test_getters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
