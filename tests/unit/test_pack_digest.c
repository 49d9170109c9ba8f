/* pack_digest: the same digest as the runbooks' own pipeline, run here by the shell on the same
 * pack (nested directories, spaces, non-ASCII names, paths whose byte order differs from a
 * directory-by-directory walk, symbolic links, an empty file, a fifo, clawfleet's markers), and
 * a message naming the problem for what the pipeline cannot say the same way everywhere and for
 * every limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "reconcilers/pack_digest.h"

struct fixture {
	char dir[64];
};

static void pathf(char out[PATH_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pathf(char out[PATH_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && n < PATH_MAX);
}

/* Writes dir/rel, making its directories. */
static void put(const char *dir, const char *rel, const char *text)
{
	char path[PATH_MAX], parent[PATH_MAX];
	struct cf_err err;
	pathf(path, "%s/%s", dir, rel);
	pathf(parent, "%s", path);
	*strrchr(parent, '/') = '\0';
	if (fsutil_mkdir_p(parent, 0755, &err) < 0 ||
	    fsutil_write_atomic(path, text, strlen(text), 0644, &err) < 0)
		fail_msg("%s", err.msg);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-pack-digest-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
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

/* What the runbooks' pipeline gives for dir, hashed once more as the lock's field is. */
static void pipeline(const char *dir, char out[65])
{
	char cmd[PATH_MAX + 256];
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && find . -type f ! -name '.clawfleet-*' -print0 | LC_ALL=C sort -z | "
		 "xargs -0 sha256sum | sha256sum",
		 dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, 65, p));
	assert_int_equal(pclose(p), 0);
	assert_int_equal(strlen(out), 64);
}

static void digest_ok(const char *dir, unsigned flags, char out[65])
{
	struct cf_err err = {{0}};
	if (pack_digest(dir, flags, out, &err) < 0)
		fail_msg("%s", err.msg);
}

static void expect_error(const char *dir, const char *want)
{
	char got[65];
	struct cf_err err = {{0}};
	assert_int_equal(pack_digest(dir, 0, got, &err), -1);
	if (!strstr(err.msg, want))
		fail_msg("error \"%s\" does not say \"%s\"", err.msg, want);
}

static void make_pack(const char *pack)
{
	char p[PATH_MAX], q[PATH_MAX];
	put(pack, "summarise/SKILL.md", "# summarise\n");
	put(pack, "summarise/scripts/run.sh", "#!/bin/sh\necho hi\n");
	put(pack, "a b/c.md", "space\n"); /* "./a b/c.md" sorts before "./a/b.md": ' ' < '/' */
	put(pack, "a/b.md", "slash\n");
	put(pack, "a-b.md", "dash\n");
	put(pack, "résumé/naïve.md", "utf-8\n");
	put(pack, "Zeta.md", "upper case sorts first\n");
	put(pack, "deep/1/2/3/4/leaf.txt", "leaf\n");
	put(pack, "empty", "");
	put(pack, ".hidden", "dot files count\n");
	put(pack, ".clawfleet-complete", "1.4.2\n"); /* left out, at any depth */
	put(pack, "a/.clawfleet-note", "left out\n");
	put(pack, ".clawfleet-dir/kept.md", "a directory is descended whatever its name\n");
	pathf(p, "%s/link-to-file", pack);
	assert_int_equal(symlink("summarise/SKILL.md", p), 0);
	pathf(p, "%s/link-to-dir", pack);
	assert_int_equal(symlink("summarise", p), 0);
	pathf(q, "%s/fifo", pack);
	assert_int_equal(mkfifo(q, 0644), 0);
}

static void test_matches_the_pipeline(void **state)
{
	struct fixture *f = *state;
	char pack[PATH_MAX], want[65], got[65], synced[65];
	pathf(pack, "%s/1.4.2", f->dir);
	make_pack(pack);

	pipeline(pack, want);
	digest_ok(pack, 0, got);
	assert_string_equal(got, want);
	digest_ok(pack, PACK_DIGEST_FSYNC, synced);
	assert_string_equal(synced, want);

	/* One byte changed anywhere changes it; a marker does not. */
	put(pack, "deep/1/2/3/4/leaf.txt", "leaf!\n");
	digest_ok(pack, 0, got);
	assert_string_not_equal(got, want);
	pipeline(pack, want);
	assert_string_equal(got, want);
	put(pack, "deep/.clawfleet-complete", "x\n");
	digest_ok(pack, 0, got);
	assert_string_equal(got, want);
}

static void test_names_the_pipeline_cannot_agree_on(void **state)
{
	struct fixture *f = *state;
	char pack[PATH_MAX];

	pathf(pack, "%s/backslash", f->dir);
	put(pack, "ok.md", "x\n");
	put(pack, "dir/a\\b.md", "x\n");
	expect_error(pack, "the path of \"dir/a\\b.md\" holds a backslash, newline or carriage "
			   "return");
	pathf(pack, "%s/newline", f->dir);
	put(pack, "a\nb.md", "x\n");
	expect_error(pack, "holds a backslash, newline or carriage return");

	/* Nothing but links and markers: no regular file to hash. */
	pathf(pack, "%s/hollow", f->dir);
	put(pack, ".clawfleet-complete", "1.4.2\n");
	char p[PATH_MAX];
	pathf(p, "%s/hollow/link", f->dir);
	assert_int_equal(symlink(".clawfleet-complete", p), 0);
	expect_error(pack, "/hollow holds no regular file");
}

static void test_refuses_what_is_not_a_pack_directory(void **state)
{
	struct fixture *f = *state;
	char pack[PATH_MAX], link[PATH_MAX];

	pathf(pack, "%s/missing", f->dir);
	expect_error(pack, "/missing: No such file or directory");
	pathf(pack, "%s/real", f->dir);
	put(pack, "a.md", "x\n");
	pathf(link, "%s/via-link", f->dir);
	assert_int_equal(symlink("real", link), 0);
	expect_error(link, "/via-link: ");
}

static void test_limits(void **state)
{
	struct fixture *f = *state;
	char pack[PATH_MAX], rel[PATH_MAX], name[32];

	pathf(pack, "%s/deep", f->dir);
	rel[0] = '\0';
	for (int i = 0; i <= PACK_DIGEST_MAX_DEPTH; i++) {
		size_t len = strlen(rel);
		snprintf(rel + len, sizeof(rel) - len, "d%d/", i);
	}
	strcat(rel, "leaf.md");
	put(pack, rel, "x\n");
	expect_error(pack, "skill pack nested deeper than 16 levels");

	pathf(pack, "%s/many", f->dir);
	put(pack, "0", "");
	for (int i = 1; i <= PACK_DIGEST_MAX_ENTRIES; i++) {
		char p[PATH_MAX];
		snprintf(name, sizeof(name), "%d", i);
		pathf(p, "%s/%s", pack, name);
		FILE *fp = fopen(p, "w");
		assert_non_null(fp);
		fclose(fp);
	}
	expect_error(pack, "holds more than 10000 files");

	pathf(pack, "%s/large", f->dir);
	put(pack, "small.md", "x\n");
	char p[PATH_MAX];
	pathf(p, "%s/big.bin", pack);
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(truncate(p, (off_t)PACK_DIGEST_MAX_BYTES + 1), 0);
	expect_error(pack, "is larger than 268435456 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_matches_the_pipeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_the_pipeline_cannot_agree_on, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refuses_what_is_not_a_pack_directory, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
