#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/names.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct check_case {
	const char *s;
	const char *msg; /* NULL: accepted; else a part of the message */
};

static void run_checks(int (*check)(const char *, struct cf_err *), const char *what,
		       const struct check_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct cf_err err = { "" };
		int rc = check(cases[i].s, &err);
		if (!cases[i].msg && rc != 0)
			fail_msg("%s \"%s\": refused: %s", what, cases[i].s, err.msg);
		if (cases[i].msg && rc != -1)
			fail_msg("%s \"%s\": accepted", what, cases[i].s);
		if (cases[i].msg && !strstr(err.msg, cases[i].msg))
			fail_msg("%s \"%s\": message \"%s\" lacks \"%s\"", what, cases[i].s, err.msg,
				 cases[i].msg);
	}
}

static const char label_rule[] =
	"must be a DNS label: lower-case letters, digits and \"-\", starting and ending with a letter or digit";

static void test_dns_label(void **state)
{
	(void)state;
	static const struct check_case cases[] = {
		{ "a", NULL },
		{ "0", NULL },
		{ "canary-gw", NULL },
		{ "node-01", NULL },
		{ "1abc", NULL },
		{ "a-b-c-d", NULL },
		{ "a--b", NULL },
		{ "abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abc", NULL },
		{ "abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcd",
		  "a DNS label is at most 63 characters, not 64" },
		{ "", "\"\": a DNS label must not be empty" },
		{ "Canary_GW",
		  "\"Canary_GW\": must be a DNS label: lower-case letters, digits and \"-\", starting and ending with a letter or digit" },
		{ "Node", label_rule },
		{ "-a", label_rule },
		{ "a-", label_rule },
		{ "-", label_rule },
		{ "a.b", label_rule },
		{ "a b", label_rule },
		{ "a_b", label_rule },
		{ "é", label_rule },
		{ "a\nb", "\"a\\x0ab\": must be a DNS label" },
	};
	run_checks(name_check_dns_label, "label", cases, N(cases));
}

static void test_dns_subdomain(void **state)
{
	(void)state;
	static const char rule[] = "must be a DNS subdomain: dot-separated parts of lower-case letters, digits and \"-\", each starting and ending with a letter or digit";
	char long_ok[254], long_bad[255], long_part[80];
	memset(long_ok, 'a', sizeof(long_ok));
	long_ok[100] = '.';
	long_ok[200] = '.';
	long_ok[253] = '\0';
	memset(long_bad, 'a', sizeof(long_bad));
	long_bad[254] = '\0';
	memset(long_part, 'b', sizeof(long_part));
	long_part[79] = '\0';
	const struct check_case cases[] = {
		{ "a", NULL },
		{ "my-app", NULL },
		{ "my-app.v1", NULL },
		{ "example.com", NULL },
		{ "a.b.c.d", NULL },
		{ "0.0", NULL },
		{ long_ok, NULL },
		{ long_part, NULL },
		{ long_bad, "a name is at most 253 characters, not 254" },
		{ "", "\"\": a name must not be empty" },
		{ "My-App", rule },
		{ ".a", rule },
		{ "a.", rule },
		{ "a..b", rule },
		{ "a.-b", rule },
		{ "a-.b", rule },
		{ "a_b", rule },
		{ "a/b", rule },
		{ "a b", rule },
		{ ".", rule },
	};
	run_checks(name_check_dns_subdomain, "subdomain", cases, N(cases));
}

static void test_git_tag(void **state)
{
	(void)state;
	static const struct check_case cases[] = {
		{ "v1.0.0", NULL },
		{ "1.0", NULL },
		{ "release/1.0", NULL },
		{ "a/b/c", NULL },
		{ "rc-1", NULL },
		{ "a@b", NULL },
		{ "a./b", NULL },
		{ "{a}", NULL },
		{ "ü1.0", NULL },
		{ "a.loc", NULL },
		{ "a.lockb", NULL },
		{ "", "\"\": a tag must not be empty" },
		{ "-rc1", "\"-rc1\": a tag must not start with \"-\"" },
		{ "@", "\"@\": a tag must not be \"@\"" },
		{ "a..b", "\"a..b\": a tag must not contain \"..\"" },
		{ "..", "must not contain \"..\"" },
		{ "a@{b", "must not contain \"@{\"" },
		{ "a b", "\"a b\": a tag must not contain a space" },
		{ "a~b", "must not contain \"~\"" },
		{ "a^b", "must not contain \"^\"" },
		{ "a:b", "must not contain \":\"" },
		{ "a?b", "must not contain \"?\"" },
		{ "a*b", "must not contain \"*\"" },
		{ "a[b", "must not contain \"[\"" },
		{ "a\\b", "must not contain \"\\\"" },
		{ "a\tb", "\"a\\x09b\": a tag must not contain control characters" },
		{ "a\x7f", "must not contain control characters" },
		{ "/a", "must not start with \"/\"" },
		{ "a/", "must not end with \"/\"" },
		{ "a//b", "must not contain \"//\"" },
		{ "a.", "must not end with \".\"" },
		{ ".a", "no \"/\"-separated part of a tag may start with \".\"" },
		{ "a/.b", "no \"/\"-separated part of a tag may start with \".\"" },
		{ "a.lock", "no \"/\"-separated part of a tag may end with \".lock\"" },
		{ "a.lock/b", "may end with \".lock\"" },
	};
	run_checks(name_check_git_tag, "tag", cases, N(cases));
}

static void test_git_ref(void **state)
{
	(void)state;
	static const struct check_case cases[] = {
		{ "main", NULL },
		{ "HEAD", NULL },
		{ "refs/heads/main", NULL },
		{ "feature/x-1", NULL },
		{ "refs/heads/-x", NULL },
		{ "-main", "\"-main\": a ref must not start with \"-\"" },
		{ "@", "\"@\": a ref must not be \"@\"" },
		{ "", "\"\": a ref must not be empty" },
		{ "main.lock", "no \"/\"-separated part of a ref may end with \".lock\"" },
		{ "refs/heads/", "\"refs/heads/\": a ref must not end with \"/\"" },
		{ "main..dev", "must not contain \"..\"" },
		{ "main@{1}", "must not contain \"@{\"" },
	};
	run_checks(name_check_git_ref, "ref", cases, N(cases));
}

/* Runs git check-ref-format directly (no shell, so no quoting to get wrong); -1 when git
 * could not be run. */
static int git_accepts(const char *arg1, const char *arg2)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		if (arg2)
			execlp("git", "git", "check-ref-format", arg1, arg2, (char *)NULL);
		else
			execlp("git", "git", "check-ref-format", arg1, (char *)NULL);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	switch (WEXITSTATUS(status)) {
	case 0:
		return 1;
	case 1:
		return 0;
	default:
		return -1;
	}
}

static const char *const git_candidates[] = {
	"v1.0.0",   "release/1.0", "a..b",  "a/.b",    ".a",     "a.lock", "a/b.lock/c", "a b",
	"a~b",      "a^b",         "a:b",   "a?b",     "a*b",    "a[b",    "a\\b",       "a@{b",
	"@",        "a/",          "a.",    "a//b",    "/a",     "-rc1",   "a\x01z",     "a\x7fz",
	"",         "ü1.0",        "a@b",   "{a}",     "a./b",   ".",      "a.loc",      "x/y/z",
	"a\"b",     "a#b",         "1.0-rc", "a/..",   "@{",     "a.lock/b", "ab.lock.c", "v1.2.3+build",
};

/* Our verdict must be git's, except for the names our own rules refuse. */
static bool ours_only(const char *s)
{
	return s[0] == '-' || !strcmp(s, "@");
}

static void test_git_tag_matches_git(void **state)
{
	(void)state;
	if (git_accepts("refs/tags/v1", NULL) != 1)
		skip();
	for (size_t i = 0; i < N(git_candidates); i++) {
		const char *s = git_candidates[i];
		char ref[256];
		snprintf(ref, sizeof(ref), "refs/tags/%s", s);
		int git = git_accepts(ref, NULL);
		assert_true(git >= 0);
		bool ours = name_check_git_tag(s, NULL) == 0;
		if (ours_only(s))
			assert_false(ours);
		else if (ours != (git == 1))
			fail_msg("tag \"%s\": git says %d, we say %d", s, git, ours);
	}
}

static void test_git_ref_matches_git(void **state)
{
	(void)state;
	if (git_accepts("--allow-onelevel", "main") != 1)
		skip();
	for (size_t i = 0; i < N(git_candidates); i++) {
		const char *s = git_candidates[i];
		if (ours_only(s)) {
			/* git would take "-rc1" for an option */
			assert_int_equal(name_check_git_ref(s, NULL), -1);
			continue;
		}
		int git = git_accepts("--allow-onelevel", s);
		assert_true(git >= 0);
		bool ours = name_check_git_ref(s, NULL) == 0;
		if (ours != (git == 1))
			fail_msg("ref \"%s\": git says %d, we say %d", s, git, ours);
	}
}

static void test_path_component(void **state)
{
	(void)state;
	static const struct check_case cases[] = {
		{ "a", NULL },
		{ "file.yaml", NULL },
		{ ".hidden", NULL },
		{ "...", NULL },
		{ "a b", NULL },
		{ "ü", NULL },
		{ "-x", NULL },
		{ "", "\"\": a path component must not be empty" },
		{ ".", "\".\": \".\" is not allowed as a path component" },
		{ "..", "\"..\": \"..\" is not allowed as a path component" },
		{ "a/b", "\"a/b\": a path component must not contain \"/\"" },
		{ "/", "must not contain \"/\"" },
		{ "a\nb", "\"a\\x0ab\": a path must not contain control characters" },
		{ "a\x7f", "control characters" },
	};
	run_checks(name_check_path_component, "component", cases, N(cases));
}

static void test_relative_path(void **state)
{
	(void)state;
	static const struct check_case cases[] = {
		{ "a", NULL },
		{ "a/b/c.yaml", NULL },
		{ "clusters/prod/.flux", NULL },
		{ "a/...", NULL },
		{ "", "\"\": a path must not be empty" },
		{ "/etc/passwd", "\"/etc/passwd\": a path must be relative, not start with \"/\"" },
		{ "a/", "\"a/\": a path must not end with \"/\"" },
		{ "a//b", "\"a//b\": a path must not contain \"//\"" },
		{ "..", "\"..\" is not allowed as a path component" },
		{ "a/../../etc", "\"a/../../etc\": \"..\" is not allowed as a path component" },
		{ "a/./b", "\".\" is not allowed as a path component" },
		{ "./a", "\".\" is not allowed" },
		{ "a/..", "\"..\" is not allowed" },
		{ "a/b\x01", "control characters" },
	};
	run_checks(name_check_relative_path, "path", cases, N(cases));
}

static void test_quoting(void **state)
{
	(void)state;
	struct cf_err err = { "" };
	char s[400];

	/* escape sequences and quotes cannot leak into a message unescaped */
	assert_int_equal(name_check_git_tag("\x1b[31m\"x", &err), -1);
	assert_string_equal(err.msg, "\"\\x1b[31m\\\"x\": a tag must not contain control characters");

	/* a long name is cut short in the message */
	memset(s, 'a', sizeof(s));
	s[0] = 'A';
	s[sizeof(s) - 1] = '\0';
	assert_int_equal(name_check_dns_label(s, &err), -1);
	assert_non_null(strstr(err.msg, "aaa...\": a DNS label is at most 63 characters, not 399"));

	/* err may be NULL */
	assert_int_equal(name_check_dns_label("", NULL), -1);
}

static void test_secret_key(void **state)
{
	(void)state;
	static const struct {
		const char *key;
		bool want;
	} cases[] = {
		{ "token", true },           { "Token", true },          { "TOKEN", true },
		{ "authToken", true },       { "bearer", true },         { "bearerToken", true },
		{ "apiKey", true },          { "api_key", true },        { "API_KEY", true },
		{ "APIKey", true },          { "private-key", true },    { "privateKey", true },
		{ "ssh.private.key", true }, { "clientSecret", true },   { "db_password", true },
		{ "passwd", true },          { "credentials", true },    { "credential", true },
		{ "secret", true },          { "secretKey", true },      { "accessKey", true },
		{ "aws_secret_access_key", true }, { "oauth2Token", true }, { "token_", true },
		{ "githubPATToken", true },

		{ "maxTokens", false },      { "tokenFile", false },     { "tokenPath", false },
		{ "secretRef", false },      { "tokens", false },        { "keyName", false },
		{ "passwordPolicy", false }, { "monkey", false },        { "tokenizer", false },
		{ "key", false },            { "privateKeyFile", false }, { "accessKeyId", false },
		{ "token2", false },         { "", false },              { "---", false },
		{ "name", false },           { "publicKey", false },     { "mytoken", false },
	};
	for (size_t i = 0; i < N(cases); i++)
		if (name_is_secret_key(cases[i].key) != cases[i].want)
			fail_msg("\"%s\": expected %d", cases[i].key, cases[i].want);
}

static void test_secret_value(void **state)
{
	(void)state;
	static const struct {
		const char *value;
		bool want;
	} cases[] = {
		{ "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n", true },
		{ "-----BEGIN RSA PRIVATE KEY-----\nMIIE", true },
		{ "-----BEGIN EC PRIVATE KEY-----", true },
		{ "-----BEGIN OPENSSH PRIVATE KEY-----", true },
		{ "-----BEGIN ENCRYPTED PRIVATE KEY-----", true },
		{ "config: |\n  key: -----BEGIN PRIVATE KEY-----\n", true },
		{ "-----BEGIN CERTIFICATE-----\n-----BEGIN RSA PRIVATE KEY-----", true },
		{ "Bearer abc.def", true },
		{ "bearer abc", true },
		{ "BEARER  x", true },
		{ "Bearer\tx", true },

		{ "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----", false },
		{ "-----BEGIN PUBLIC KEY-----", false },
		{ "-----BEGIN PRIVATE\nKEY-----", false },
		{ "-----BEGIN PRIVATE KEY", false },
		{ "BEGIN PRIVATE KEY", false },
		{ "Bearer", false },
		{ "Bearer ", false },
		{ "Bearer    ", false },
		{ "Bearer \n", false },
		{ "Bearerx abc", false },
		{ "bearerToken", false },
		{ "the Bearer abc", false },
		{ "Basic abc", false },
		{ "", false },
		{ "hello", false },
	};
	for (size_t i = 0; i < N(cases); i++)
		if (name_is_secret_value(cases[i].value) != cases[i].want)
			fail_msg("\"%s\": expected %d", cases[i].value, cases[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dns_label),
		cmocka_unit_test(test_dns_subdomain),
		cmocka_unit_test(test_git_tag),
		cmocka_unit_test(test_git_ref),
		cmocka_unit_test(test_git_tag_matches_git),
		cmocka_unit_test(test_git_ref_matches_git),
		cmocka_unit_test(test_path_component),
		cmocka_unit_test(test_relative_path),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_secret_key),
		cmocka_unit_test(test_secret_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
