/* fsutil: installing a directory whole (a table of what the target held before and what the
 * install must leave behind), the temporary directory beside it, and the small helpers the
 * reconcilers share: path join, absent-or-empty check, write_all. fsync cannot be observed from
 * here; what is checked is that the target holds all of the new tree or exactly the old one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"

struct fixture {
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/cf-fsutil-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fsutil_remove_tree(f->dir, NULL);
	free(f);
	return 0;
}

static void pathf(char out[PATH_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pathf(char out[PATH_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && n < PATH_MAX);
}

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	struct cf_err err;
	pathf(path, "%s/%s", dir, name);
	if (fsutil_write_atomic(path, text, strlen(text), 0644, &err) < 0)
		fail_msg("%s", err.msg);
}

/* The text of dir/name, or NULL when it cannot be read. */
static char *file_text(const char *dir, const char *name)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	pathf(path, "%s/%s", dir, name);
	return fsutil_read_file(path, 4096, &text, &len, NULL) == 0 ? text : NULL;
}

static void assert_file(const char *dir, const char *name, const char *want)
{
	char *got = file_text(dir, name);
	if (!got)
		fail_msg("%s/%s is missing", dir, name);
	assert_string_equal(got, want);
	free(got);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* ---- fsutil_install_dir ---- */

enum before { ABSENT, EMPTY_DIR, OLD_DIR, PLAIN_FILE, NO_PARENT };
enum temp { FULL_TREE, SPECIAL_ENTRIES, MISSING };
enum after { NEW_TREE, OLD_TREE, OLD_FILE, NOTHING };

static const struct install_case {
	const char *name;
	enum before before; /* what the target path held */
	enum temp temp;	    /* what the temporary directory holds */
	int rc;
	enum after after;  /* what the target path holds afterwards */
	bool temp_left;	   /* the temporary directory is still there for the caller to remove */
	const char *error; /* part of the message, on failure */
} install_cases[] = {
	{"into an absent path", ABSENT, FULL_TREE, 0, NEW_TREE, false, NULL},
	{"over an empty directory", EMPTY_DIR, FULL_TREE, 0, NEW_TREE, false, NULL},
	{"symlinks and FIFOs are not opened", ABSENT, SPECIAL_ENTRIES, 0, NEW_TREE, false, NULL},
	{"never over a directory with content", OLD_DIR, FULL_TREE, -1, OLD_TREE, true,
	 "renaming"},
	{"never over a file", PLAIN_FILE, FULL_TREE, -1, OLD_FILE, true, "renaming"},
	{"a missing parent", NO_PARENT, FULL_TREE, -1, NOTHING, true, "renaming"},
	{"a missing temporary directory", OLD_DIR, MISSING, -1, OLD_TREE, false, "fsync"},
};

static void prepare_target(const char *target, enum before before)
{
	switch (before) {
	case ABSENT:
	case NO_PARENT:
		break;
	case EMPTY_DIR:
		assert_int_equal(mkdir(target, 0755), 0);
		break;
	case OLD_DIR:
		assert_int_equal(mkdir(target, 0755), 0);
		put_file(target, "old.txt", "old\n");
		break;
	case PLAIN_FILE: {
		FILE *fp = fopen(target, "w");
		assert_non_null(fp);
		fputs("a file\n", fp);
		fclose(fp);
		break;
	}
	}
}

static void prepare_temp(const char *tmp, enum temp temp)
{
	char path[PATH_MAX];
	if (temp == MISSING) {
		assert_int_equal(rmdir(tmp), 0);
		return;
	}
	put_file(tmp, "top.txt", "top\n");
	pathf(path, "%s/sub", tmp);
	assert_int_equal(mkdir(path, 0755), 0);
	put_file(path, "deep.txt", "deep\n");
	if (temp == SPECIAL_ENTRIES) {
		pathf(path, "%s/link", tmp);
		assert_int_equal(symlink("top.txt", path), 0);
		pathf(path, "%s/fifo", tmp);
		assert_int_equal(mkfifo(path, 0644), 0);
	}
}

static void check_target(const char *target, enum after after)
{
	char path[PATH_MAX];
	struct stat st;
	switch (after) {
	case NEW_TREE:
		assert_file(target, "top.txt", "top\n");
		assert_file(target, "sub/deep.txt", "deep\n");
		pathf(path, "%s/old.txt", target);
		assert_false(exists(path));
		break;
	case OLD_TREE:
		assert_file(target, "old.txt", "old\n");
		pathf(path, "%s/top.txt", target);
		assert_false(exists(path));
		break;
	case OLD_FILE:
		assert_int_equal(lstat(target, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		break;
	case NOTHING:
		assert_false(exists(target));
		break;
	}
}

static void test_install_dir(void **state)
{
	struct fixture *f = *state;
	for (size_t i = 0; i < sizeof(install_cases) / sizeof(install_cases[0]); i++) {
		const struct install_case *c = &install_cases[i];
		char base[PATH_MAX], parent[PATH_MAX], target[PATH_MAX], tmp[PATH_MAX];
		struct cf_err err = {{0}};

		pathf(base, "%s/case%zu", f->dir, i);
		assert_int_equal(mkdir(base, 0755), 0);
		pathf(parent, c->before == NO_PARENT ? "%s/missing" : "%s", base);
		pathf(target, "%s/target", parent);
		prepare_target(target, c->before);
		if (fsutil_make_temp_dir(tmp, base, "target", 0755, &err) < 0)
			fail_msg("%s: %s", c->name, err.msg);
		prepare_temp(tmp, c->temp);

		int rc = fsutil_install_dir(tmp, target, &err);
		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->name, rc, c->rc, err.msg);
		if (c->error && !strstr(err.msg, c->error))
			fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, err.msg, c->error);
		check_target(target, c->after);
		if (exists(tmp) != c->temp_left)
			fail_msg("%s: the temporary directory is %s", c->name,
				 exists(tmp) ? "still there" : "gone");
	}
}

/* What a caller does on failure: remove the temporary directory; the old tree stays. */
static void test_install_failure_then_cleanup(void **state)
{
	struct fixture *f = *state;
	char target[PATH_MAX], tmp[PATH_MAX];
	struct cf_err err;

	pathf(target, "%s/pack", f->dir);
	prepare_target(target, OLD_DIR);
	assert_int_equal(fsutil_make_temp_dir(tmp, f->dir, ".pack", 0755, &err), 0);
	prepare_temp(tmp, FULL_TREE);
	assert_int_equal(fsutil_install_dir(tmp, target, &err), -1);
	assert_int_equal(fsutil_remove_tree(tmp, &err), 0);
	assert_false(exists(tmp));
	check_target(target, OLD_TREE);
}

/* ---- fsutil_make_temp_dir ---- */

static void test_make_temp_dir(void **state)
{
	struct fixture *f = *state;
	char tmp[PATH_MAX], prefix[PATH_MAX], other[PATH_MAX];
	struct stat st;
	struct cf_err err;

	pathf(prefix, "%s/.1.4.3" FSUTIL_TMP_INFIX, f->dir);
	assert_int_equal(fsutil_make_temp_dir(tmp, f->dir, ".1.4.3", 0755, &err), 0);
	assert_int_equal(strncmp(tmp, prefix, strlen(prefix)), 0);
	assert_int_equal(strlen(tmp), strlen(prefix) + 6);
	assert_int_equal(stat(tmp, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);

	/* Each call makes a new one; a private one keeps mkdtemp's mode. */
	assert_int_equal(fsutil_make_temp_dir(other, f->dir, ".1.4.3", 0700, &err), 0);
	assert_string_not_equal(tmp, other);
	assert_int_equal(stat(other, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	char missing[PATH_MAX];
	pathf(missing, "%s/no/such/dir", f->dir);
	assert_int_equal(fsutil_make_temp_dir(tmp, missing, "x", 0755, &err), -1);
	assert_non_null(strstr(err.msg, "creating"));

	char *long_name = malloc(PATH_MAX);
	assert_non_null(long_name);
	memset(long_name, 'a', PATH_MAX - 1);
	long_name[PATH_MAX - 1] = '\0';
	/* The message names the path first; a path this long leaves no room for the rest. */
	assert_int_equal(fsutil_make_temp_dir(tmp, f->dir, long_name, 0755, &err), -1);
	assert_int_equal(strncmp(err.msg, f->dir, strlen(f->dir)), 0);
	free(long_name);
}

/* ---- the small helpers ---- */

static void test_join(void **state)
{
	(void)state;
	static const struct {
		const char *a, *b, *want; /* want NULL: too long */
		size_t pad;		  /* characters of 'x' appended to b */
	} cases[] = {
		{"/var/db/openclaw/skills", "1.4.3", "/var/db/openclaw/skills/1.4.3", 0},
		{"relative", "name", "relative/name", 0},
		{"/", "x", "//x", 0},
		{"/root", "b", NULL, PATH_MAX - 7},
		{"/root", "b", NULL, PATH_MAX},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char b[PATH_MAX * 2], out[PATH_MAX];
		struct cf_err err = {{0}};
		snprintf(b, sizeof(b), "%s", cases[i].b);
		memset(b + strlen(b), 'x', cases[i].pad);
		b[strlen(cases[i].b) + cases[i].pad] = '\0';
		int rc = fsutil_join(out, cases[i].a, b, &err);
		if (cases[i].want) {
			assert_int_equal(rc, 0);
			assert_string_equal(out, cases[i].want);
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(strncmp(err.msg, "/root/bxxx", 10), 0);
		}
	}
}

static void test_absent_or_empty_dir(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	static const struct {
		const char *name;
		enum before before;
		bool want;
	} cases[] = {
		{"absent", ABSENT, true},
		{"empty", EMPTY_DIR, true},
		{"with content", OLD_DIR, false},
		{"a file", PLAIN_FILE, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pathf(path, "%s/%s", f->dir, cases[i].name);
		prepare_target(path, cases[i].before);
		if (fsutil_absent_or_empty_dir(path) != cases[i].want)
			fail_msg("%s: want %s", cases[i].name, cases[i].want ? "true" : "false");
	}
}

static void test_write_all(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	static char big[256 * 1024];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	pathf(path, "%s/big", f->dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fsutil_write_all(fd, big, sizeof(big)), 0);
	assert_int_equal(fsutil_write_all(fd, "", 0), 0);
	close(fd);
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(fsutil_read_file(path, sizeof(big), &text, &len, NULL), 0);
	assert_int_equal(len, sizeof(big));
	assert_memory_equal(text, big, sizeof(big));
	free(text);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	errno = 0;
	assert_int_equal(fsutil_write_all(fd, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_install_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_failure_then_cleanup, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_make_temp_dir, setup, teardown),
		cmocka_unit_test(test_join),
		cmocka_unit_test_setup_teardown(test_absent_or_empty_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_all, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
