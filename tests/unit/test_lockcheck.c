/* lockcheck: parsing what `openclaw --version` prints across releases, comparing it with
 * openclaw.lock, and hashing the lock file's bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/canon.h"
#include "base/fsutil.h"
#include "reconcilers/lockcheck.h"

static void test_parses_every_release_format(void **state)
{
	static const struct {
		const char *output, *version, *commit;
	} cases[] = {
		{"OpenClaw 2026.7.1 (3f9c2ab)\n", "2026.7.1", "3f9c2ab"},
		{"OpenClaw 2026.7.1 (3F9C2AB)", "2026.7.1", "3f9c2ab"},
		{"OpenClaw 2026.7.1\n", "2026.7.1", ""},
		{"2026.7.1\n", "2026.7.1", ""},
		{"2026.7.1\r\n", "2026.7.1", ""},
		{"OpenClaw 2026.7.1-beta.2 (3f9c2ab9d0e1)\n", "2026.7.1-beta.2", "3f9c2ab9d0e1"},
		{"OpenClaw 2026.5.3-1\n", "2026.5.3-1", ""},
		{"  OpenClaw 2026.12.0  \n\n", "2026.12.0", ""},
		{"OpenClaw 2026.7.1 (3f9c2ab9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5)\n", "2026.7.1",
		 "3f9c2ab9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct openclaw_version v;
		struct cf_err err = {{0}};
		const char *out = cases[i].output;
		if (lockcheck_parse_version(out, strlen(out), &v, &err) != 0)
			fail_msg("\"%s\": %s", cases[i].output, err.msg);
		assert_string_equal(v.version, cases[i].version);
		assert_string_equal(v.commit, cases[i].commit);
	}
}

static void test_refuses_what_is_not_a_version(void **state)
{
	static const struct {
		const char *output, *msg;
	} cases[] = {
		{"", "openclaw --version printed nothing"},
		{"\n  \n", "openclaw --version printed nothing"},
		{"OpenClaw\n", "printed \"OpenClaw\", not"},
		{"openclaw: command not found\n", "printed \"openclaw: command not found\""},
		{"OpenClaw 2026.7\n", "printed \"OpenClaw 2026.7\""},
		{"OpenClaw 2026.07.1\n", "printed \"OpenClaw 2026.07.1\""},
		{"OpenClaw v2026.7.1\n", "printed \"OpenClaw v2026.7.1\""},
		{"OpenClaw 2026.7.1-rc.1\n", "printed \"OpenClaw 2026.7.1-rc.1\""},
		{"OpenClaw 2026.7.1 (xyz)\n", "printed \"OpenClaw 2026.7.1 (xyz)\""},
		{"OpenClaw 2026.7.1 (3f9c2ab) extra\n", "(3f9c2ab) extra\""},
		{"OpenClaw 2026.7.1 (3f9)\n", "(3f9)\""},
		{"Update available!\nOpenClaw 2026.7.1\n", "printed \"Update available!\""},
		{"OpenClaw 2026.7.1\tbuilt\x01\n", "printed \"OpenClaw 2026.7.1?built?\""},
		{"{\"version\":\"2026.7.1\"}\n", "printed \"{\"version\":"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct openclaw_version v;
		struct cf_err err = {{0}};
		assert_int_equal(lockcheck_parse_version(cases[i].output, strlen(cases[i].output),
							 &v, &err),
				 -1);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].output, err.msg,
				 cases[i].msg);
	}
}

static void test_quotes_long_output_capped(void **state)
{
	char line[400];
	struct openclaw_version v;
	struct cf_err err = {{0}};
	(void)state;
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	assert_int_equal(lockcheck_parse_version(line, strlen(line), &v, &err), -1);
	assert_non_null(strstr(err.msg, "xxx...\""));
	assert_true(strlen(err.msg) < 200);

	char *huge = malloc(LOCKCHECK_OUTPUT_MAX + 2);
	assert_non_null(huge);
	memset(huge, 'y', LOCKCHECK_OUTPUT_MAX + 1);
	assert_int_equal(lockcheck_parse_version(huge, LOCKCHECK_OUTPUT_MAX + 1, &v, &err), -1);
	assert_non_null(strstr(err.msg, "more than a version"));
	free(huge);
}

static void test_output_with_nul_is_refused(void **state)
{
	static const char out[] = "OpenClaw 2026.7.1\0 (3f9c2ab)\n";
	struct openclaw_version v;
	struct cf_err err = {{0}};
	(void)state;
	assert_int_equal(lockcheck_parse_version(out, sizeof(out) - 1, &v, &err), -1);
}

static void test_compares_with_the_lock(void **state)
{
	static const struct {
		const char *output, *lock_version, *lock_commit, *reason;
	} cases[] = {
		{"OpenClaw 2026.7.1 (3f9c2ab)", "2026.7.1", "3f9c2ab", NULL},
		{"OpenClaw 2026.7.1 (3f9c2ab)", "2026.7.1", NULL, NULL},
		{"OpenClaw 2026.7.1", "2026.7.1", "3f9c2ab", NULL},
		{"2026.7.1", "2026.7.1", "3f9c2ab", NULL},
		/* Either side may abbreviate further. */
		{"OpenClaw 2026.7.1 (3f9c2ab9d0e1)", "2026.7.1", "3f9c2ab", NULL},
		{"OpenClaw 2026.7.1 (3f9c2ab)", "2026.7.1", "3f9c2ab9d0e1", NULL},
		{"OpenClaw 2026.7.0 (3f9c2ab)", "2026.7.1", "3f9c2ab",
		 "openclaw --version reports 2026.7.0, openclaw.lock pins 2026.7.1"},
		{"OpenClaw 2026.7.1-beta.2", "2026.7.1", NULL,
		 "openclaw --version reports 2026.7.1-beta.2, openclaw.lock pins 2026.7.1"},
		{"OpenClaw 2026.5.3-1", "2026.5.3", NULL,
		 "openclaw --version reports 2026.5.3-1, openclaw.lock pins 2026.5.3"},
		{"OpenClaw 2026.7.1 (4e8d1aa)", "2026.7.1", "3f9c2ab",
		 "openclaw --version reports 2026.7.1 (4e8d1aa), openclaw.lock pins 2026.7.1 "
		 "(3f9c2ab)"},
		{"OpenClaw 2026.7.1 (3f9c2ac9d0e1)", "2026.7.1", "3f9c2ab",
		 "openclaw --version reports 2026.7.1 (3f9c2ac9d0e1), openclaw.lock pins "
		 "2026.7.1 (3f9c2ab)"},
		{"OpenClaw 2026.7.1", NULL, NULL, "openclaw.lock pins no openclaw.version"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct openclaw_version v;
		struct cf_err err = {{0}};
		char reason[LOCKCHECK_REASON_MAX];
		struct openclaw_lock lock = {.present = true};
		lock.version = (char *)cases[i].lock_version;
		lock.commit = (char *)cases[i].lock_commit;
		assert_int_equal(lockcheck_parse_version(cases[i].output, strlen(cases[i].output),
							 &v, &err),
				 0);
		bool match = lockcheck_matches(&v, &lock, reason);
		if (!cases[i].reason) {
			if (!match)
				fail_msg("case %zu: unexpected mismatch: %s", i, reason);
			assert_string_equal(reason, "");
		} else {
			assert_false(match);
			assert_string_equal(reason, cases[i].reason);
		}
	}
}

static void test_hashes_the_lock_file_bytes(void **state)
{
	static const char lock[] = "{\"openclaw\":{\"version\":\"2026.7.1\"}}\n";
	char dir[] = "/tmp/test-lockcheck-XXXXXX", path[PATH_MAX], got[65], want[65];
	struct cf_err err = {{0}};
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/openclaw.lock", dir);

	assert_int_equal(lockcheck_file_sha256(dir, got, &err), -1);
	assert_non_null(strstr(err.msg, "reading the lock file"));
	assert_non_null(strstr(err.msg, "openclaw.lock"));
	assert_string_equal(got, "");

	assert_int_equal(fsutil_write_atomic(path, lock, strlen(lock), 0644, &err), 0);
	assert_int_equal(lockcheck_file_sha256(dir, got, &err), 0);
	canon_sha256_hex(lock, strlen(lock), want);
	assert_string_equal(got, want);
	/* A byte of white space is a different lock to a peer comparing hashes. */
	assert_int_equal(fsutil_write_atomic(path, lock, strlen(lock) - 1, 0644, &err), 0);
	assert_int_equal(lockcheck_file_sha256(dir, got, &err), 0);
	assert_string_not_equal(got, want);
	assert_int_equal(fsutil_remove_tree(dir, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parses_every_release_format),
		cmocka_unit_test(test_refuses_what_is_not_a_version),
		cmocka_unit_test(test_quotes_long_output_capped),
		cmocka_unit_test(test_output_with_nul_is_refused),
		cmocka_unit_test(test_compares_with_the_lock),
		cmocka_unit_test(test_hashes_the_lock_file_bytes),
	};
	return cmocka_run_group_tests_name("lockcheck", tests, NULL, NULL);
}
