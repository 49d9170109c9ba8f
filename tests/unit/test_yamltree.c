#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/yamltree.h"

static struct yfile *parse_ok(const char *text)
{
	struct yfile *f = NULL;
	struct yerr err;
	int rc = yfile_parse(&f, text, strlen(text), NULL, &err);
	if (rc)
		print_error("unexpected error %d:%d: %s\n", err.line, err.col, err.msg);
	assert_int_equal(rc, 0);
	assert_non_null(f);
	return f;
}

/* Parses len bytes (they may hold NULs) with lim and checks the error exactly. */
static void expect_error_n(const char *text, size_t len, const struct ylimits *lim, int line,
			   int col, const char *msg)
{
	struct yfile *f = (struct yfile *)1;
	struct yerr err;
	assert_int_equal(yfile_parse(&f, text, len, lim, &err), -1);
	assert_null(f);
	assert_string_equal(err.msg, msg);
	assert_int_equal(err.line, line);
	assert_int_equal(err.col, col);
}

static void expect_error(const char *text, int line, int col, const char *msg)
{
	expect_error_n(text, strlen(text), NULL, line, col, msg);
}

/* The root of a one-document file; the file is returned for freeing. */
static const struct ynode *root_of(const char *text, struct yfile **f)
{
	*f = parse_ok(text);
	assert_int_equal((*f)->ndocs, 1);
	return (*f)->docs[0].root;
}

static char *repeat(const char *unit, size_t times)
{
	size_t n = strlen(unit);
	char *s = malloc(n * times + 1);
	assert_non_null(s);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * n, unit, n);
	s[n * times] = '\0';
	return s;
}

static char *nested_seqs(size_t depth)
{
	char *s = malloc(2 * depth + 1);
	assert_non_null(s);
	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	s[2 * depth] = '\0';
	return s;
}

static void test_multi_document(void **state)
{
	(void)state;
	struct yfile *f = parse_ok("a: 1\n---\n---\n# comment\nb: [x]\n...\n--- last\n");
	assert_int_equal(f->ndocs, 4);
	assert_int_equal(f->docs[0].line, 1);
	assert_int_equal(ynode_type(f->docs[0].root), YT_MAP);
	assert_int_equal(f->docs[1].line, 2);
	assert_null(f->docs[1].root);
	assert_int_equal(f->docs[2].line, 3);
	assert_non_null(ynode_get(f->docs[2].root, "b"));
	assert_int_equal(f->docs[3].line, 7);
	assert_string_equal(ynode_str(f->docs[3].root), "last");
	yfile_free(f);

	f = parse_ok("");
	assert_int_equal(f->ndocs, 0);
	yfile_free(f);
	f = parse_ok("# nothing but a comment\n");
	assert_int_equal(f->ndocs, 0);
	yfile_free(f);
}

static void test_positions(void **state)
{
	(void)state;
	struct yfile *f;
	const struct ynode *r = root_of("# header\n"
					"spec:\n"
					"  steps:\n"
					"    - name: a\n"
					"    - {name: b, weight: 5}\n"
					"  note: \"q\"\n",
					&f);
	assert_int_equal(r->line, 2);
	assert_int_equal(r->col, 1);
	const struct ynode *spec = ynode_get(r, "spec");
	assert_int_equal(spec->line, 3);
	assert_int_equal(spec->col, 3);
	const struct ynode *steps = ynode_get(spec, "steps");
	assert_int_equal(steps->kind, YNODE_SEQ);
	assert_int_equal(steps->n, 2);
	assert_int_equal(steps->line, 4);
	assert_int_equal(steps->col, 5);
	const struct ynode *first = ynode_get(steps->items[0], "name");
	assert_int_equal(first->line, 4);
	assert_int_equal(first->col, 13);
	const struct ynode *flow = steps->items[1];
	assert_int_equal(flow->line, 5);
	assert_int_equal(flow->col, 7);
	assert_int_equal(flow->pairs[1].key->line, 5);
	assert_int_equal(flow->pairs[1].key->col, 17);
	assert_int_equal(ynode_get(flow, "weight")->col, 25);
	assert_int_equal(ynode_get(spec, "note")->col, 9);
	yfile_free(f);
}

static void test_positions_count_characters(void **state)
{
	(void)state;
	struct yfile *f;
	/* After a BOM and a two-byte character, columns count characters like libyaml does. */
	const struct ynode *r = root_of("\xef\xbb\xbf" "k\xc3\xa9: v\n", &f);
	assert_int_equal(r->col, 1);
	assert_int_equal(ynode_get(r, "k\xc3\xa9")->col, 5);
	yfile_free(f);
}

static void test_scalar_types(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		enum ytype type;
	} cases[] = {
		{"", YT_NULL},      {"~", YT_NULL},      {"null", YT_NULL},   {"Null", YT_NULL},
		{"NULL", YT_NULL},  {"nULL", YT_STR},    {"true", YT_BOOL},   {"True", YT_BOOL},
		{"TRUE", YT_BOOL},  {"false", YT_BOOL},  {"FALSE", YT_BOOL},  {"yes", YT_STR},
		{"on", YT_STR},     {"0", YT_INT},       {"-17", YT_INT},     {"+3", YT_INT},
		{"007", YT_INT},    {"0o17", YT_INT},    {"0o8", YT_STR},     {"0x1F", YT_INT},
		{"0xg", YT_STR},    {"-0x1", YT_STR},    {"1.5", YT_FLOAT},   {"-.5", YT_FLOAT},
		{"1.", YT_FLOAT},   {"1e3", YT_FLOAT},   {"2.5E-3", YT_FLOAT}, {".", YT_STR},
		{"1e", YT_STR},     {".inf", YT_FLOAT},  {"-.Inf", YT_FLOAT}, {"+.INF", YT_FLOAT},
		{".nan", YT_FLOAT}, {".NaN", YT_FLOAT},  {"-.nan", YT_STR},   {"1_000", YT_STR},
		{"1.2.3", YT_STR},  {"v1", YT_STR},      {"12:30", YT_STR},   {"0b101", YT_STR},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[64];
		snprintf(text, sizeof(text), "v: %s\n", cases[i].text);
		struct yfile *f;
		const struct ynode *v = ynode_get(root_of(text, &f), "v");
		if (ynode_type(v) != cases[i].type)
			print_error("%s: got %s\n", cases[i].text, ytype_name(ynode_type(v)));
		assert_int_equal(ynode_type(v), cases[i].type);
		yfile_free(f);
	}
}

static void test_quoted_is_string(void **state)
{
	(void)state;
	struct yfile *f;
	const struct ynode *r = root_of("a: \"true\"\n"
					"b: '12'\n"
					"c: !!str null\n"
					"d: |\n"
					"  1.5\n"
					"e: ! 7\n"
					"f: true\n",
					&f);
	const char *keys[] = {"a", "b", "c", "d", "e"};
	const char *texts[] = {"true", "12", "null", "1.5\n", "7"};
	for (size_t i = 0; i < 5; i++) {
		const struct ynode *v = ynode_get(r, keys[i]);
		assert_int_equal(ynode_type(v), YT_STR);
		assert_false(v->plain);
		assert_string_equal(ynode_str(v), texts[i]);
	}
	const struct ynode *plain = ynode_get(r, "f");
	assert_true(plain->plain);
	assert_null(ynode_str(plain));
	bool b = false;
	assert_int_equal(ynode_bool(plain, &b), 0);
	assert_true(b);
	assert_int_equal(ynode_bool(ynode_get(r, "a"), &b), -1);
	yfile_free(f);
}

static void test_core_tags(void **state)
{
	(void)state;
	struct yfile *f;
	const struct ynode *r = root_of("a: !!int \"12\"\nb: !!bool 'false'\nc: !!null ''\n"
					"d: !!float '2.5'\n",
					&f);
	long long i = 0;
	assert_int_equal(ynode_int(ynode_get(r, "a"), &i), 0);
	assert_int_equal(i, 12);
	assert_int_equal(ynode_type(ynode_get(r, "b")), YT_BOOL);
	assert_int_equal(ynode_type(ynode_get(r, "c")), YT_NULL);
	assert_int_equal(ynode_type(ynode_get(r, "d")), YT_FLOAT);
	yfile_free(f);

	expect_error("a: !!int twelve\n", 1, 4, "\"twelve\" is not a valid !!int");
	expect_error("a: !!binary eA==\n", 1, 4, "unsupported tag !!binary on a scalar");
	expect_error("a: !!str {b: 1}\n", 1, 4, "unsupported tag !!str on a map");
	expect_error("a: !thing x\n", 1, 4, "custom tag !thing is not supported");
	expect_error("- !!merge <<\n", 1, 3, "unsupported tag !!merge on a scalar");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	expect_error("kind: A\n"
		     "metadata:\n"
		     "  name: x\n"
		     "  labels: {}\n"
		     "  name: y\n",
		     5, 3, "duplicate key \"name\" (first at line 3)");
	expect_error("{a: 1, b: 2, \"a\": 3}", 1, 14, "duplicate key \"a\" (first at line 1)");
	/* The same key in different maps is fine. */
	struct yfile *f = parse_ok("a: {x: 1}\nb: {x: 2}\n");
	yfile_free(f);
}

static void test_duplicate_key_big_map(void **state)
{
	(void)state;
	/* Past the linear-scan size the hash must find the same duplicates. */
	char text[8192];
	size_t n = 0;
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "key%d: %d\n", i, i);
	struct yfile *f = parse_ok(text);
	const struct ynode *r = f->docs[0].root;
	assert_int_equal(r->n, 300);
	long long v = 0;
	assert_int_equal(ynode_int(ynode_get(r, "key299"), &v), 0);
	assert_int_equal(v, 299);
	yfile_free(f);

	snprintf(text + n, sizeof(text) - n, "key7: again\n");
	expect_error(text, 301, 1, "duplicate key \"key7\" (first at line 8)");
	snprintf(text + n, sizeof(text) - n, "key250: again\n");
	expect_error(text, 301, 1, "duplicate key \"key250\" (first at line 251)");
}

static void test_non_scalar_key(void **state)
{
	(void)state;
	expect_error("? [a, b]\n: 1\n", 1, 3, "map keys must be scalars (found a sequence)");
	expect_error("{{a: 1}: 2}\n", 1, 2, "map keys must be scalars (found a map)");
	expect_error("base: &m {a: 1}\n*m : 2\n", 2, 1, "map keys must be scalars (found a map)");
}

static void test_alias_shared(void **state)
{
	(void)state;
	struct yfile *f;
	const struct ynode *r = root_of("defaults: &d {replicas: 2, image: app}\n"
					"one: *d\n"
					"two: [*d]\n",
					&f);
	const struct ynode *d = ynode_get(r, "defaults");
	assert_ptr_equal(ynode_get(r, "one"), d);
	assert_ptr_equal(ynode_get(r, "two")->items[0], d);
	struct json_object *j;
	struct yerr err;
	assert_int_equal(ynode_to_json(r, &j, &err), 0);
	assert_string_equal(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
			    "{\"defaults\":{\"replicas\":2,\"image\":\"app\"},"
			    "\"one\":{\"replicas\":2,\"image\":\"app\"},"
			    "\"two\":[{\"replicas\":2,\"image\":\"app\"}]}");
	json_object_put(j);
	yfile_free(f);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_alias_bomb(void **state)
{
	(void)state;
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof(text), "l0: &l0 [lol, lol, lol, lol, lol, lol, "
							"lol, lol, lol]\n");
	for (int i = 1; i <= 9; i++) {
		n += (size_t)snprintf(text + n, sizeof(text) - n, "l%d: &l%d [", i, i);
		for (int k = 0; k < 9; k++)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s*l%d", k ? ", " : "",
					      i - 1);
		n += (size_t)snprintf(text + n, sizeof(text) - n, "]\n");
	}
	double t0 = now_ms();
	/* l0..l4 already count about 75,000 nodes; the first *l4 in l5 adds 66,430 more. */
	expect_error(text, 6, 10, "more than 100000 nodes (alias expansions included)");
	assert_true(now_ms() - t0 < 10.0);
}

static void test_alias_limits(void **state)
{
	(void)state;
	expect_error("x: &a [1, *a]\n", 1, 11,
		     "alias *a refers to an anchor that is still open (a cycle)");
	expect_error("a: &a\n  b: *a\n", 2, 6,
		     "alias *a refers to an anchor that is still open (a cycle)");
	expect_error("x: *ghost\n", 1, 4, "alias *ghost refers to an undefined anchor");
	/* Anchors do not cross documents. */
	expect_error("a: &x 1\n---\nb: *x\n", 3, 4, "alias *x refers to an undefined anchor");
	struct ylimits lim = YLIMITS_DEFAULT;
	lim.max_aliases = 2;
	const char *three = "a: &a 1\nb: [*a, *a, *a]\n";
	expect_error_n(three, strlen(three), &lim, 2, 13, "more than 2 aliases");
	/* A later anchor of the same name replaces the earlier one. */
	struct yfile *f;
	const struct ynode *r = root_of("a: &x 1\nb: &x 2\nc: *x\n", &f);
	assert_ptr_equal(ynode_get(r, "c"), ynode_get(r, "b"));
	yfile_free(f);
}

static void test_node_limit(void **state)
{
	(void)state;
	struct ylimits lim = YLIMITS_DEFAULT;
	lim.max_nodes = 5;
	const char *five = "[1, 2, 3, 4]";
	struct yfile *f;
	struct yerr err;
	assert_int_equal(yfile_parse(&f, five, strlen(five), &lim, &err), 0);
	yfile_free(f);
	const char *six = "[1, 2, 3, 4, 5]";
	expect_error_n(six, strlen(six), &lim, 1, 14,
		       "more than 5 nodes (alias expansions included)");
}

static void test_depth(void **state)
{
	(void)state;
	char *ok = nested_seqs(64);
	struct yfile *f = parse_ok(ok);
	const struct ynode *n = f->docs[0].root;
	int depth = 0;
	for (; n && n->kind == YNODE_SEQ; n = n->n ? n->items[0] : NULL)
		depth++;
	assert_int_equal(depth, 64);
	yfile_free(f);
	free(ok);

	char *deep = nested_seqs(65);
	expect_error(deep, 1, 65, "nesting deeper than 64 levels");
	free(deep);
	/* Block style counts the same way. */
	char *block = repeat("- ", 65);
	expect_error(block, 1, 129, "nesting deeper than 64 levels");
	free(block);
}

static void test_oversize(void **state)
{
	(void)state;
	struct ylimits lim = YLIMITS_DEFAULT;
	lim.max_bytes = 10;
	struct yfile *f;
	struct yerr err;
	assert_int_equal(yfile_parse(&f, "a: 123456\n", 10, &lim, &err), 0);
	yfile_free(f);
	expect_error_n("a: 1234567\n", 11, &lim, 0, 0,
		       "input is 11 bytes, more than the limit of 10");
	char *big = repeat("x", (1u << 20) + 1);
	expect_error(big, 0, 0, "input is 1048577 bytes, more than the limit of 1048576");
	free(big);
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	expect_error("a: 1\nb: \"x\xff\"\n", 2, 6, "invalid UTF-8 byte 0xff");
	/* Columns count characters: the two-byte é is one. */
	expect_error("a: \xc3\xa9\xc3\n", 1, 5, "invalid UTF-8 byte 0xc3");
	/* CR LF is one line break, a lone CR is one too. */
	expect_error("a: 1\r\nb: 2\rc: \x80\n", 3, 4, "invalid UTF-8 byte 0x80");
	expect_error("a: \xc0\xaf\n", 1, 4, "invalid UTF-8 byte 0xc0");
	expect_error("a: \xed\xa0\x80\n", 1, 4, "invalid UTF-8 byte 0xed");
	expect_error("a: \xe2\x82", 1, 4, "invalid UTF-8 byte 0xe2");
	expect_error("a: \x01\n", 1, 4, "character U+0001 is not allowed");
}

static void test_nul(void **state)
{
	(void)state;
	expect_error_n("a: 1\nb: x\0y\n", 11, NULL, 2, 5, "NUL byte is not allowed");
	expect_error("a: 1\nb: \"x\\0y\"\n", 2, 4, "string contains a NUL character (\\0)");
}

static void test_merge_key(void **state)
{
	(void)state;
	expect_error("base: &b {a: 1}\nobj:\n  <<: *b\n  c: 2\n", 3, 3,
		     "merge keys (<<) are not supported");
	struct yfile *f;
	const struct ynode *r = root_of("\"<<\": literal\n", &f);
	assert_string_equal(ynode_str(ynode_get(r, "<<")), "literal");
	yfile_free(f);
}

static void test_get_and_ints(void **state)
{
	(void)state;
	struct yfile *f;
	const struct ynode *r = root_of("max: 9223372036854775807\n"
					"min: -9223372036854775808\n"
					"over: 9223372036854775808\n"
					"under: -9223372036854775809\n"
					"hex: 0x7fffffffffffffff\n"
					"hexover: 0x8000000000000000\n"
					"oct: 0o755\n"
					"f: 2.5\n"
					"list: [1]\n",
					&f);
	long long v = 0;
	assert_int_equal(ynode_int(ynode_get(r, "max"), &v), 0);
	assert_true(v == 9223372036854775807LL);
	assert_int_equal(ynode_int(ynode_get(r, "min"), &v), 0);
	assert_true(v == -9223372036854775807LL - 1);
	assert_int_equal(ynode_int(ynode_get(r, "hex"), &v), 0);
	assert_true(v == 9223372036854775807LL);
	assert_int_equal(ynode_int(ynode_get(r, "oct"), &v), 0);
	assert_int_equal(v, 0755);
	v = 42;
	assert_int_equal(ynode_int(ynode_get(r, "over"), &v), -1);
	assert_int_equal(ynode_int(ynode_get(r, "under"), &v), -1);
	assert_int_equal(ynode_int(ynode_get(r, "hexover"), &v), -1);
	assert_int_equal(ynode_int(ynode_get(r, "f"), &v), -1);
	assert_int_equal(v, 42);

	double d = 0;
	assert_int_equal(ynode_number(ynode_get(r, "f"), &d), 0);
	assert_true(d == 2.5);
	assert_int_equal(ynode_number(ynode_get(r, "oct"), &d), 0);
	assert_true(d == 493.0);
	assert_int_equal(ynode_number(ynode_get(r, "list"), &d), -1);

	assert_null(ynode_get(r, "missing"));
	assert_null(ynode_get(r, "ma"));
	assert_null(ynode_get(ynode_get(r, "list"), "0"));
	assert_null(ynode_str(ynode_get(r, "max")));
	yfile_free(f);
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(ytype_name(YT_NULL), "null");
	assert_string_equal(ytype_name(YT_BOOL), "boolean");
	assert_string_equal(ytype_name(YT_INT), "integer");
	assert_string_equal(ytype_name(YT_FLOAT), "number");
	assert_string_equal(ytype_name(YT_STR), "string");
	assert_string_equal(ytype_name(YT_MAP), "object");
	assert_string_equal(ytype_name(YT_SEQ), "array");
}

static void test_to_json(void **state)
{
	(void)state;
	struct yfile *f;
	const struct ynode *r = root_of("apiVersion: fleet/v1\n"
					"spec:\n"
					"  zeta: 1\n"
					"  alpha: [true, ~, 2.5, 0x10, \"7\", -3]\n"
					"  empty: {}\n"
					"  none: []\n"
					"  text: |\n"
					"    line\n",
					&f);
	struct json_object *j = NULL;
	struct yerr err;
	assert_int_equal(ynode_to_json(r, &j, &err), 0);
	assert_string_equal(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE),
			    "{\"apiVersion\":\"fleet/v1\",\"spec\":{\"zeta\":1,"
			    "\"alpha\":[true,null,2.5,16,\"7\",-3],\"empty\":{},\"none\":[],"
			    "\"text\":\"line\\n\"}}");
	assert_true(json_object_is_type(json_object_object_get(json_object_object_get(j, "spec"),
								"zeta"),
					json_type_int));
	json_object_put(j);
	yfile_free(f);

	f = parse_ok("---\n");
	j = (struct json_object *)1;
	assert_int_equal(ynode_to_json(f->docs[0].root, &j, &err), 0);
	assert_null(j);
	yfile_free(f);
}

static void test_to_json_errors(void **state)
{
	(void)state;
	struct yfile *f;
	const struct ynode *r = root_of("a:\n  - 1\n  - 99999999999999999999\n", &f);
	struct json_object *j;
	struct yerr err;
	assert_int_equal(ynode_to_json(r, &j, &err), -1);
	assert_null(j);
	assert_string_equal(err.msg, "integer 99999999999999999999 is out of the 64-bit range");
	assert_int_equal(err.line, 3);
	assert_int_equal(err.col, 5);
	yfile_free(f);

	r = root_of("x: [1, -.inf]\n", &f);
	assert_int_equal(ynode_to_json(r, &j, &err), -1);
	assert_string_equal(err.msg, "-.inf cannot be represented in JSON");
	assert_int_equal(err.col, 8);
	yfile_free(f);
}

static void test_syntax_error(void **state)
{
	(void)state;
	expect_error("a: 1\nb: c: d\n", 2, 5, "mapping values are not allowed in this context");
	expect_error("a: [1, 2\nb: 3\n", 2, 2,
		     "did not find expected ',' or ']' (while parsing a flow sequence at line 1)");
	expect_error("a: \"open\n", 2, 1,
		     "found unexpected end of stream (while scanning a quoted scalar at line 1)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multi_document),
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_positions_count_characters),
		cmocka_unit_test(test_scalar_types),
		cmocka_unit_test(test_quoted_is_string),
		cmocka_unit_test(test_core_tags),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_duplicate_key_big_map),
		cmocka_unit_test(test_non_scalar_key),
		cmocka_unit_test(test_alias_shared),
		cmocka_unit_test(test_alias_bomb),
		cmocka_unit_test(test_alias_limits),
		cmocka_unit_test(test_node_limit),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_merge_key),
		cmocka_unit_test(test_get_and_ints),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_to_json),
		cmocka_unit_test(test_to_json_errors),
		cmocka_unit_test(test_syntax_error),
	};
	return cmocka_run_group_tests_name("yamltree", tests, NULL, NULL);
}
