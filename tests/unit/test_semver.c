#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/semver.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_parse_valid(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		uint64_t major, minor, patch;
		const char *pre, *build;
	} cases[] = {
		/* the valid list from semver.org */
		{ "0.0.4", 0, 0, 4, "", "" },
		{ "1.2.3", 1, 2, 3, "", "" },
		{ "10.20.30", 10, 20, 30, "", "" },
		{ "1.1.2-prerelease+meta", 1, 1, 2, "prerelease", "meta" },
		{ "1.1.2+meta", 1, 1, 2, "", "meta" },
		{ "1.1.2+meta-valid", 1, 1, 2, "", "meta-valid" },
		{ "1.0.0-alpha", 1, 0, 0, "alpha", "" },
		{ "1.0.0-beta", 1, 0, 0, "beta", "" },
		{ "1.0.0-alpha.beta", 1, 0, 0, "alpha.beta", "" },
		{ "1.0.0-alpha.beta.1", 1, 0, 0, "alpha.beta.1", "" },
		{ "1.0.0-alpha.1", 1, 0, 0, "alpha.1", "" },
		{ "1.0.0-alpha0.valid", 1, 0, 0, "alpha0.valid", "" },
		{ "1.0.0-alpha.0valid", 1, 0, 0, "alpha.0valid", "" },
		{ "1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay", 1, 0, 0,
		  "alpha-a.b-c-somethinglong", "build.1-aef.1-its-okay" },
		{ "1.0.0-rc.1+build.1", 1, 0, 0, "rc.1", "build.1" },
		{ "2.0.0-rc.1+build.123", 2, 0, 0, "rc.1", "build.123" },
		{ "1.2.3-beta", 1, 2, 3, "beta", "" },
		{ "10.2.3-DEV-SNAPSHOT", 10, 2, 3, "DEV-SNAPSHOT", "" },
		{ "1.2.3-SNAPSHOT-123", 1, 2, 3, "SNAPSHOT-123", "" },
		{ "1.0.0", 1, 0, 0, "", "" },
		{ "2.0.0", 2, 0, 0, "", "" },
		{ "1.1.7", 1, 1, 7, "", "" },
		{ "2.0.0+build.1848", 2, 0, 0, "", "build.1848" },
		{ "2.0.1-alpha.1227", 2, 0, 1, "alpha.1227", "" },
		{ "1.0.0-alpha+beta", 1, 0, 0, "alpha", "beta" },
		{ "1.2.3----RC-SNAPSHOT.12.9.1--.12+788", 1, 2, 3, "---RC-SNAPSHOT.12.9.1--.12", "788" },
		{ "1.2.3----R-S.12.9.1--.12+meta", 1, 2, 3, "---R-S.12.9.1--.12", "meta" },
		{ "1.2.3----RC-SNAPSHOT.12.9.1--.12", 1, 2, 3, "---RC-SNAPSHOT.12.9.1--.12", "" },
		{ "1.0.0+0.build.1-rc.10000aaa-kk-0.1", 1, 0, 0, "", "0.build.1-rc.10000aaa-kk-0.1" },
		{ "18446744073709551615.18446744073709551615.18446744073709551615", UINT64_MAX,
		  UINT64_MAX, UINT64_MAX, "", "" },
		{ "1.0.0-0A.is.legal", 1, 0, 0, "0A.is.legal", "" },
		{ "1.0.0-0", 1, 0, 0, "0", "" },
		{ "1.0.0+001", 1, 0, 0, "", "001" },
		{ "1.0.0-x.7.z.92", 1, 0, 0, "x.7.z.92", "" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct semver v;
		struct cf_err err = { "" };
		if (semver_parse(cases[i].s, &v, &err) < 0)
			fail_msg("%s: %s", cases[i].s, err.msg);
		assert_true(v.major == cases[i].major);
		assert_true(v.minor == cases[i].minor);
		assert_true(v.patch == cases[i].patch);
		assert_string_equal(v.pre, cases[i].pre);
		assert_string_equal(v.build, cases[i].build);
	}
}

static void test_parse_invalid(void **state)
{
	(void)state;
	static const struct {
		const char *s, *msg;
	} cases[] = {
		/* the invalid list from semver.org */
		{ "1", "\"1\": a semver needs MAJOR.MINOR.PATCH" },
		{ "1.2", "\"1.2\": a semver needs MAJOR.MINOR.PATCH" },
		{ "1.2.3-0123", "leading zero in numeric pre-release identifier \"0123\"" },
		{ "1.2.3-0123.0123", "leading zero in numeric pre-release identifier \"0123\"" },
		{ "1.1.2+.123", "empty build metadata identifier" },
		{ "+invalid", "major version must be a number" },
		{ "-invalid", "major version must be a number" },
		{ "-invalid+invalid", "major version must be a number" },
		{ "-invalid.01", "major version must be a number" },
		{ "alpha", "major version must be a number" },
		{ "alpha.beta", "major version must be a number" },
		{ "alpha.beta.1", "major version must be a number" },
		{ "alpha.1", "major version must be a number" },
		{ "alpha+beta", "major version must be a number" },
		{ "alpha_beta", "major version must be a number" },
		{ "alpha.", "major version must be a number" },
		{ "alpha..", "major version must be a number" },
		{ "beta", "major version must be a number" },
		{ "1.0.0-alpha_beta", "pre-release may only hold letters, digits, \"-\" and \".\", not \"_\"" },
		{ "-alpha.", "major version must be a number" },
		{ "1.0.0-alpha..", "empty pre-release identifier" },
		{ "1.0.0-alpha..1", "empty pre-release identifier" },
		{ "1.0.0-alpha...1", "empty pre-release identifier" },
		{ "1.0.0-alpha....1", "empty pre-release identifier" },
		{ "1.0.0-alpha.....1", "empty pre-release identifier" },
		{ "1.0.0-alpha......1", "empty pre-release identifier" },
		{ "1.0.0-alpha.......1", "empty pre-release identifier" },
		{ "01.1.1", "\"01.1.1\": leading zero in major version" },
		{ "1.01.1", "leading zero in minor version" },
		{ "1.1.01", "leading zero in patch version" },
		{ "1.02.3", "\"1.02.3\": leading zero in minor version" },
		{ "1.2.3.DEV", "exactly three numbers" },
		{ "1.2-SNAPSHOT", "unexpected \"-\" after \"1.2\"" },
		{ "1.2.31.2.3----RC-SNAPSHOT.12.09.1--..12+788", "exactly three numbers" },
		{ "1.2-RC-SNAPSHOT", "unexpected \"-\" after \"1.2\"" },
		{ "-1.0.3-gamma+b7718", "major version must be a number" },
		{ "+justmeta", "major version must be a number" },
		{ "9.8.7+meta+meta", "build metadata may only hold letters, digits, \"-\" and \".\", not \"+\"" },
		{ "9.8.7-whatever+meta+meta", "not \"+\"" },
		{ "99999999999999999999999.999999999999999999.99999999999999999", "major version does not fit in 64 bits" },
		{ "1.2.3.4", "\"1.2.3.4\": a semver has exactly three numbers, MAJOR.MINOR.PATCH" },
		{ "1.1.1-", "\"1.1.1-\": empty pre-release identifier" },
		{ "1.1.1+", "empty build metadata identifier" },
		/* ours */
		{ "", "\"\": a semver needs MAJOR.MINOR.PATCH" },
		{ "v1.2.3", "\"v1.2.3\": no \"v\" prefix in a semver" },
		{ "V1.2.3", "no \"v\" prefix" },
		{ " 1.2.3", "no whitespace in a semver" },
		{ "1.2.3 ", "no whitespace in a semver" },
		{ "1.2.3\n", "no whitespace in a semver" },
		{ "1.2.18446744073709551616", "patch version does not fit in 64 bits" },
		{ "1..3", "minor version must be a number" },
		{ "1.2.", "patch version must be a number" },
		{ "1.2.x", "patch version must be a number" },
		{ "1a.2.3", "unexpected \"a\" after \"1\"" },
		{ "1.2.3a", "unexpected \"a\" after \"1.2.3\"" },
		{ "1.2.3-é", "not byte 0xc3" },
		{ "1.2.3-a\x01", "not byte 0x01" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct semver v;
		struct cf_err err = { "" };
		if (semver_parse(cases[i].s, &v, &err) == 0)
			fail_msg("%s: accepted", cases[i].s);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].s, err.msg, cases[i].msg);
	}
}

static void test_parse_length(void **state)
{
	(void)state;
	char s[SEMVER_MAX + 8];
	struct semver v;
	struct cf_err err = { "" };
	/* "1.2.3-" then 'a's up to exactly SEMVER_MAX - 1 characters is the longest accepted */
	memset(s, 'a', sizeof(s));
	memcpy(s, "1.2.3-", 6);
	s[SEMVER_MAX - 1] = '\0';
	assert_int_equal(semver_parse(s, &v, &err), 0);
	assert_int_equal(strlen(v.pre), SEMVER_MAX - 1 - 6);
	s[SEMVER_MAX - 1] = 'a';
	s[SEMVER_MAX] = '\0';
	assert_int_equal(semver_parse(s, &v, &err), -1);
	assert_non_null(strstr(err.msg, "a semver is at most 255 characters"));
	/* err may be NULL */
	assert_int_equal(semver_parse("1.2", &v, NULL), -1);
}

static void test_parse_tag(void **state)
{
	(void)state;
	static const struct {
		const char *tag;
		int rc;
	} cases[] = {
		{ "v1.2.3", 0 },         { "1.2.3", 0 },    { "v1.2.3-rc.1+b", 0 }, { "V1.2.3", -1 },
		{ "vv1.2.3", -1 },       { "v", -1 },       { "", -1 },             { "v1.2", -1 },
		{ "release-1.2.3", -1 }, { "v01.2.3", -1 }, { "v1.2.3 ", -1 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct semver v;
		if (semver_parse_tag(cases[i].tag, &v) != cases[i].rc)
			fail_msg("%s: expected %d", cases[i].tag, cases[i].rc);
	}
	struct semver v;
	assert_int_equal(semver_parse_tag("v2.3.4-rc.1", &v), 0);
	assert_true(v.major == 2 && v.minor == 3 && v.patch == 4);
	assert_string_equal(v.pre, "rc.1");
}

static struct semver must_parse(const char *s)
{
	struct semver v;
	struct cf_err err = { "" };
	if (semver_parse(s, &v, &err) < 0)
		fail_msg("%s: %s", s, err.msg);
	return v;
}

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

static void test_compare(void **state)
{
	(void)state;
	/* strictly increasing, from semver.org section 11 plus numeric and length corners */
	static const char *const chain[] = {
		"0.0.0-0",
		"0.0.0",
		"0.0.1",
		"0.1.0",
		"0.9.9",
		"0.10.0",
		"1.0.0-0",
		"1.0.0-1",
		"1.0.0-2",
		"1.0.0-10",
		"1.0.0-99999999999999999999999",
		"1.0.0-A",
		"1.0.0-Z",
		"1.0.0-a",
		"1.0.0-alpha",
		"1.0.0-alpha.1",
		"1.0.0-alpha.beta",
		"1.0.0-beta",
		"1.0.0-beta.2",
		"1.0.0-beta.11",
		"1.0.0-rc.1",
		"1.0.0",
		"1.0.1",
		"1.1.0",
		"2.0.0",
		"2.1.0",
		"2.1.1",
		"10.0.0",
		"18446744073709551615.0.0",
	};
	for (size_t i = 0; i < N(chain); i++) {
		for (size_t j = 0; j < N(chain); j++) {
			struct semver a = must_parse(chain[i]), b = must_parse(chain[j]);
			int want = i < j ? -1 : i > j;
			if (sign(semver_compare(&a, &b)) != want)
				fail_msg("compare(%s, %s) != %d", chain[i], chain[j], want);
		}
	}
	/* build metadata has no precedence */
	struct semver a = must_parse("1.0.0+a"), b = must_parse("1.0.0+b");
	assert_int_equal(semver_compare(&a, &b), 0);
	a = must_parse("1.0.0-rc.1+x");
	b = must_parse("1.0.0-rc.1");
	assert_int_equal(semver_compare(&a, &b), 0);
}

static void test_range_match(void **state)
{
	(void)state;
	static const struct {
		const char *range, *version;
		bool want;
	} cases[] = {
		/* exact and partial equality */
		{ "1.2.3", "1.2.3", true },
		{ "1.2.3", "1.2.4", false },
		{ "=1.2.3", "1.2.3", true },
		{ "= 1.2.3", "1.2.3", true },
		{ "v1.2.3", "1.2.3", true },
		{ "1.2.3+build", "1.2.3", true },
		{ "1.2", "1.2.0", true },
		{ "1.2", "1.2.99", true },
		{ "1.2", "1.3.0", false },
		{ "1.2", "1.1.9", false },
		{ "=1", "1.9.9", true },
		{ "=1", "2.0.0", false },
		{ "1.2.x", "1.2.7", true },
		{ "1.2.X", "1.3.0", false },
		{ "1.2.*", "1.2.0", true },
		{ "1.x", "1.0.0", true },
		{ "1.x.x", "1.99.0", true },
		{ "1.x", "2.0.0", false },
		{ "2.*", "2.5.1", true },
		{ "2.*", "1.5.1", false },
		{ "*", "0.0.0", true },
		{ "*", "99.0.0", true },
		{ "x", "3.1.4", true },
		{ "x.x.x", "3.1.4", true },
		{ "*", "1.0.0-rc.1", false },
		/* not equal */
		{ "!=1.2.3", "1.2.3", false },
		{ "!=1.2.3", "1.2.4", true },
		{ "!=1.2", "1.2.5", false },
		{ "!=1.2", "1.3.0", true },
		{ "!=1.x", "1.9.9", false },
		{ "!=1.x", "2.0.0", true },
		{ "!=1.2.3", "1.2.3+build", false },
		/* greater and less */
		{ ">1.2.3", "1.2.4", true },
		{ ">1.2.3", "1.2.3", false },
		{ ">1.2", "1.2.9", false },
		{ ">1.2", "1.3.0", true },
		{ ">1", "1.9.9", false },
		{ ">1", "2.0.0", true },
		{ ">1.x", "2.0.0", true },
		{ ">=1.2.3", "1.2.3", true },
		{ ">=1.2.3", "1.2.2", false },
		{ "=>1.2.3", "1.2.3", true },
		{ ">=1.2", "1.2.0", true },
		{ ">=1.2", "1.1.99", false },
		{ ">= 1.2", "1.2.0", true },
		{ ">=*", "0.0.1", true },
		{ "<1.2.3", "1.2.2", true },
		{ "<1.2.3", "1.2.3", false },
		{ "<1.2", "1.1.9", true },
		{ "<1.2", "1.2.0", false },
		{ "<=1.2.3", "1.2.3", true },
		{ "<=1.2.3", "1.2.4", false },
		{ "=<1.2.3", "1.2.3", true },
		{ "<=1.2", "1.2.99", true },
		{ "<=1.2", "1.3.0", false },
		{ "<=1", "1.99.0", true },
		{ "<=1", "2.0.0", false },
		{ "<=*", "7.0.0", true },
		/* tilde */
		{ "~1.2.3", "1.2.3", true },
		{ "~1.2.3", "1.2.9", true },
		{ "~1.2.3", "1.3.0", false },
		{ "~1.2.3", "1.2.2", false },
		{ "~1.2", "1.2.0", true },
		{ "~1.2", "1.2.5", true },
		{ "~1.2", "1.3.0", false },
		{ "~1", "1.0.0", true },
		{ "~1", "1.9.0", true },
		{ "~1", "2.0.0", false },
		{ "~1.x", "1.9.0", true },
		{ "~>1.2.3", "1.2.5", true },
		{ "~>1.2.3", "1.3.0", false },
		{ "~0.0.1", "0.0.5", true },
		{ "~0.0.1", "0.1.0", false },
		{ "~*", "5.0.0", true },
		/* caret */
		{ "^1.2.3", "1.2.3", true },
		{ "^1.2.3", "1.9.9", true },
		{ "^1.2.3", "2.0.0", false },
		{ "^1.2.3", "1.2.2", false },
		{ "^1.2", "1.2.0", true },
		{ "^1.2", "1.99.0", true },
		{ "^1.2", "2.0.0", false },
		{ "^1", "1.0.0", true },
		{ "^1", "2.0.0", false },
		{ "^0.2.3", "0.2.3", true },
		{ "^0.2.3", "0.2.9", true },
		{ "^0.2.3", "0.3.0", false },
		{ "^0.2", "0.2.0", true },
		{ "^0.2", "0.3.0", false },
		{ "^0.0.3", "0.0.3", true },
		{ "^0.0.3", "0.0.4", false },
		{ "^0.0", "0.0.9", true },
		{ "^0.0", "0.1.0", false },
		{ "^0", "0.9.0", true },
		{ "^0", "1.0.0", false },
		{ "^*", "3.0.0", true },
		{ "^1.x", "1.5.0", true },
		{ "^1.x", "2.0.0", false },
		/* hyphen ranges */
		{ "1.2 - 1.4.5", "1.2.0", true },
		{ "1.2 - 1.4.5", "1.4.5", true },
		{ "1.2 - 1.4.5", "1.4.6", false },
		{ "1.2 - 1.4.5", "1.1.9", false },
		{ "1.2.3 - 2.3", "2.3.9", true },
		{ "1.2.3 - 2.3", "2.4.0", false },
		{ "1.2.3 - 2", "2.9.9", true },
		{ "1.2.3 - 2", "3.0.0", false },
		{ "v1.0.0 - v2.0.0", "2.0.0", true },
		/* AND by comma or whitespace */
		{ ">=1.2.3, <2.0.0", "1.5.0", true },
		{ ">=1.2.3, <2.0.0", "2.0.0", false },
		{ ">=1.2.3,<2.0.0", "1.2.3", true },
		{ ">=1.2.3 <2.0.0", "1.2.2", false },
		{ ">=1.2.3 , <2.0.0", "1.9.0", true },
		{ "  >=1.2.3\t<2.0.0  ", "1.9.0", true },
		{ ">= 1.2.3 < 2.0.0", "1.9.0", true },
		{ ">1.0.0 <3.0.0 !=2.0.0", "2.0.0", false },
		{ ">1.0.0 <3.0.0 !=2.0.0", "2.0.1", true },
		{ "1.0.0 - 2.0.0, !=1.5.0", "1.5.0", false },
		{ "1.0.0 - 2.0.0, !=1.5.0", "1.6.0", true },
		/* OR */
		{ "1.2.3 || 2.3.4", "2.3.4", true },
		{ "1.2.3 || 2.3.4", "1.2.3", true },
		{ "1.2.3 || 2.3.4", "1.2.4", false },
		{ "1.2.3||2.3.4", "2.3.4", true },
		{ "<1.0.0 || >=2.0.0 <3.0.0 || 5.x", "0.9.0", true },
		{ "<1.0.0 || >=2.0.0 <3.0.0 || 5.x", "1.0.0", false },
		{ "<1.0.0 || >=2.0.0 <3.0.0 || 5.x", "2.5.0", true },
		{ "<1.0.0 || >=2.0.0 <3.0.0 || 5.x", "3.0.0", false },
		{ "<1.0.0 || >=2.0.0 <3.0.0 || 5.x", "5.1.0", true },
		{ "^1.2 || ^2.0", "2.4.0", true },
		{ "~1.2 || ~1.4", "1.3.0", false },
		/* pre-releases only where a comparison in the group names the same MAJOR.MINOR.PATCH */
		{ ">=1.2.3", "1.2.4-rc.1", false },
		{ "<2.0.0", "2.0.0-rc.1", false },
		{ "^1.2.3", "2.0.0-rc.1", false },
		{ "~1.2.3", "1.2.4-beta", false },
		{ "1.2.x", "1.2.5-beta", false },
		{ ">=1.2.3-rc.1", "1.2.3-rc.1", true },
		{ ">=1.2.3-rc.1", "1.2.3-rc.2", true },
		{ ">=1.2.3-rc.1", "1.2.3-beta", false },
		{ ">=1.2.3-rc.1", "1.2.3", true },
		{ ">=1.2.3-rc.1", "1.9.0-alpha", false },
		{ ">=1.2.3-rc.1", "1.9.0", true },
		{ ">=1.2.3-rc.1 <2.0.0", "1.2.3-rc.5", true },
		{ ">=1.2.3 <1.2.4-0", "1.2.4-alpha", false },
		{ ">=1.2.3 <=1.2.4-rc.2", "1.2.4-rc.1", true },
		{ ">1.2.3-alpha.3", "1.2.3-alpha.7", true },
		{ ">1.2.3-alpha.3", "3.4.5-alpha.9", false },
		{ "=1.2.3-beta", "1.2.3-beta", true },
		{ "=1.2.3-beta", "1.2.3-beta.1", false },
		{ "^1.2.3-beta.2", "1.2.3-beta.4", true },
		{ "^1.2.3-beta.2", "1.2.4-beta.4", false },
		{ "~1.2.3-beta.2", "1.2.3-beta.4", true },
		{ "!=1.2.3-beta", "1.2.3-alpha", true },
		{ "1.2.3-rc.1 - 1.2.3", "1.2.3-rc.2", true },
		{ ">=1.2.3-rc.1 || >=2.0.0", "2.0.0-rc.1", false },
		{ ">=1.2.3-rc.1 || >=2.0.0", "1.2.3-rc.2", true },
		/* build metadata is ignored */
		{ "1.2.3", "1.2.3+build.7", true },
		{ ">1.2.3", "1.2.3+build.7", false },
		/* bounds near the top of uint64 */
		{ "~1.18446744073709551615", "1.18446744073709551615.7", true },
		{ "~1.18446744073709551615", "2.0.0", false },
		{ "^18446744073709551615.0.0", "18446744073709551615.99.0", true },
		{ ">=18446744073709551615.18446744073709551615.18446744073709551615",
		  "18446744073709551615.18446744073709551615.18446744073709551615", true },
		{ "<=18446744073709551615.x", "18446744073709551615.18446744073709551615.1", true },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct semver_range *r;
		struct cf_err err = { "" };
		struct semver v = must_parse(cases[i].version);
		if (semver_range_parse(cases[i].range, &r, &err) < 0)
			fail_msg("%s: %s", cases[i].range, err.msg);
		bool got = semver_range_match(r, &v);
		semver_range_free(r);
		if (got != cases[i].want)
			fail_msg("\"%s\" against %s: got %d", cases[i].range, cases[i].version, got);
	}
}

static void test_range_invalid(void **state)
{
	(void)state;
	static const struct {
		const char *range, *msg;
	} cases[] = {
		{ "", "missing a comparison at the end" },
		{ "   ", "missing a comparison at the end" },
		{ ">=1.2.3 ||", "missing a comparison at the end" },
		{ "|| 1.2.3", "missing a comparison before \"||\"" },
		{ "1.2.3 |||| 2.0.0", "missing a comparison before \"||\"" },
		{ ">=1.2.3,", "missing a comparison at the end" },
		{ ",>=1.2.3", "missing a comparison before \",\"" },
		{ ">=1.2.3,,<2", "missing a comparison before \",\"" },
		{ "1.2.3 | 2.0.0", "single \"|\"; use \"||\" for OR" },
		{ ">=", "expected a version at the end" },
		{ ">= ,1.2.3", "expected a version before \",1.2.3\"" },
		{ "!1.2.3", "unknown operator \"!\"; use \"!=\"" },
		{ "==1.2.3", "\"=1.2.3\": major version must be a number" },
		{ ">>1.2.3", "major version must be a number" },
		{ "1.2.3.4", "\"1.2.3.4\": a semver has exactly three numbers" },
		{ "01.2.3", "leading zero in major version" },
		{ "1.02", "leading zero in minor version" },
		{ "1.2.3-01", "leading zero in numeric pre-release identifier \"01\"" },
		{ "1.2.3-", "empty pre-release identifier" },
		{ "1.2-beta", "a pre-release or build needs a full MAJOR.MINOR.PATCH" },
		{ "1.x-beta", "a pre-release or build needs a full MAJOR.MINOR.PATCH" },
		{ "1.x.3", "\"1.x.3\": only wildcards may follow a wildcard" },
		{ "*.2", "only wildcards may follow a wildcard" },
		{ "1.2.3a", "unexpected \"a\" after \"1.2.3\"" },
		{ ">=1.2.3<2.0.0", "unexpected \"<\" after \"1.2.3\"" },
		{ "a.b.c", "major version must be a number" },
		{ "1.2 -", "major version must be a number" },
		{ "1.2 - ", "expected a version at the end" },
		{ ">=1.2 - 1.4", "no operator allowed in a hyphen range" },
		{ "1.2.3 -1.4", "\"-1.4\": major version must be a number" },
		{ ">*", "\"*\": matches no version" },
		{ "<x", "matches no version" },
		{ "!=*", "matches no version" },
		{ ">18446744073709551615.x", "matches no version" },
		{ "18446744073709551616", "major version does not fit in 64 bits" },
		{ "vv1.2.3", "major version must be a number" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct semver_range *r = NULL;
		struct cf_err err = { "" };
		if (semver_range_parse(cases[i].range, &r, &err) == 0) {
			semver_range_free(r);
			fail_msg("\"%s\": accepted", cases[i].range);
		}
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].range, err.msg, cases[i].msg);
		if (strncmp(err.msg, "semver range \"", 14))
			fail_msg("\"%s\": message \"%s\" does not name the range", cases[i].range, err.msg);
	}
}

static void test_range_bounds(void **state)
{
	(void)state;
	char expr[2048];
	struct semver_range *r = NULL;
	struct cf_err err = { "" };
	size_t n = 0;

	/* 64 comparisons are fine, the 65th is refused */
	for (int i = 0; i < 64; i++)
		n += (size_t)snprintf(expr + n, sizeof(expr) - n, "%s1.%d", i ? " || " : "", i);
	assert_int_equal(semver_range_parse(expr, &r, &err), 0);
	struct semver v = must_parse("1.63.4");
	assert_true(semver_range_match(r, &v));
	v = must_parse("1.64.0");
	assert_false(semver_range_match(r, &v));
	semver_range_free(r);
	snprintf(expr + n, sizeof(expr) - n, " || 2");
	assert_int_equal(semver_range_parse(expr, &r, &err), -1);
	assert_non_null(strstr(err.msg, "more than 64 comparisons"));

	/* a hyphen range counts as two */
	n = 0;
	for (int i = 0; i < 32; i++)
		n += (size_t)snprintf(expr + n, sizeof(expr) - n, "%s1 - 2", i ? " || " : "");
	assert_int_equal(semver_range_parse(expr, &r, &err), 0);
	semver_range_free(r);
	snprintf(expr + n, sizeof(expr) - n, " || 3");
	assert_int_equal(semver_range_parse(expr, &r, &err), -1);

	/* 1024 characters are fine, 1025 are not */
	memset(expr, ' ', 1024);
	memcpy(expr + 1019, "1.2.3", 5);
	expr[1024] = '\0';
	assert_int_equal(semver_range_parse(expr, &r, &err), 0);
	semver_range_free(r);
	expr[1024] = ' ';
	expr[1025] = '\0';
	assert_int_equal(semver_range_parse(expr, &r, &err), -1);
	assert_non_null(strstr(err.msg, "longer than 1024 characters"));

	/* a single version token longer than a semver may be */
	memset(expr, '1', 300);
	expr[300] = '\0';
	assert_int_equal(semver_range_parse(expr, &r, &err), -1);
	assert_non_null(strstr(err.msg, "a version is at most 255 characters"));

	/* err may be NULL */
	assert_int_equal(semver_range_parse(">*", &r, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),   cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_length),  cmocka_unit_test(test_parse_tag),
		cmocka_unit_test(test_compare),       cmocka_unit_test(test_range_match),
		cmocka_unit_test(test_range_invalid), cmocka_unit_test(test_range_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
