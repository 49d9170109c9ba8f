/* gitsource against real repositories built with the git CLI in a temporary directory: ref
 * resolution with Flux precedence and revision strings, reading the contract's files from a
 * tree, mirror sync (clone, fetch, prune, failure, stale locks), and the fetch watchdog. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "source/gitsource.h"

static char root[PATH_MAX]; /* everything the tests create lives under here */
static char up[PATH_MAX];   /* the fixture repository, with a work tree */
static char hex_v100[41], hex_v110[41], hex_rc[41], hex_main[41], hex_feature[41];

static void sfmt(char *out, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void capture(char out[41], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* snprintf that fails the test instead of truncating. */
static void sfmt(char *out, size_t cap, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(out, cap, f, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < cap);
}

static void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0)
		fail_msg("command failed (%d): %s", rc, cmd);
}

static void capture(char out[41], const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, 41, p));
	assert_int_equal(pclose(p), 0);
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(strlen(out), 40);
}

static void put(const char *repo, const char *rel, const char *content)
{
	char path[PATH_MAX];
	sfmt(path, sizeof(path), "%s/%s", repo, rel);
	sh("mkdir -p \"$(dirname %s)\"", path);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void path_in(char out[PATH_MAX], const char *name)
{
	sfmt(out, PATH_MAX, "%s/%s", root, name);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* A small repository with branches main and gone, for tests that change their upstream. */
static void make_small_repo(const char *dir)
{
	sh("git -c init.defaultBranch=main init -q %s", dir);
	put(dir, "clawfleet/a.yaml", "a: 1\n");
	sh("git -C %s add -A && git -C %s commit -q -m one && git -C %s branch gone && "
	   "git -C %s tag v0.1.0",
	   dir, dir, dir, dir);
}

static int setup_fixture(void **state)
{
	(void)state;
	sfmt(root, sizeof(root), "/tmp/test-gitsource-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	setenv("HOME", root, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("GIT_AUTHOR_NAME", "Ada Lovelace", 1);
	setenv("GIT_AUTHOR_EMAIL", "ada@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "Ada Lovelace", 1);
	setenv("GIT_COMMITTER_EMAIL", "ada@example.com", 1);
	path_in(up, "up");
	sh("git -c init.defaultBranch=main init -q %s", up);
	put(up, "clawfleet/a.yaml", "version: 1\n");
	put(up, "openclaw/nodes/n1.yaml", "node: n1\n");
	put(up, "tenants/t1/gateway.d/10-x.yaml", "x: 10\n");
	put(up, "openclaw.lock", "lock\n");
	put(up, "README.md", "# not desired state\n");
	sh("git -C %s add -A && git -C %s commit -q -m 'initial' -m 'body line' && "
	   "git -C %s tag v1.0.0",
	   up, up, up);
	put(up, "clawfleet/a.yaml", "version: 2\n");
	sh("git -C %s commit -q -am second && git -C %s tag -a v1.1.0 -m 'release 1.1.0'", up, up);
	put(up, "clawfleet/a.yaml", "version: 3\n");
	sh("git -C %s commit -q -am third && git -C %s tag v2.0.0-rc.1", up, up);
	sh("git -C %s checkout -q -b feature v1.0.0", up);
	put(up, "openclaw/nodes/n1.yaml", "node: feature\n");
	sh("git -C %s commit -q -am feature && git -C %s checkout -q main", up, up);
	/* A tag and a branch of the same name, at different commits. */
	sh("git -C %s branch both v1.0.0 && git -C %s tag both v1.1.0", up, up);
	capture(hex_v100, "git -C %s rev-parse v1.0.0", up);
	capture(hex_v110, "git -C %s rev-parse 'v1.1.0^{commit}'", up);
	capture(hex_rc, "git -C %s rev-parse v2.0.0-rc.1", up);
	capture(hex_main, "git -C %s rev-parse main", up);
	capture(hex_feature, "git -C %s rev-parse feature", up);
	return 0;
}

static int teardown_fixture(void **state)
{
	(void)state;
	sh("rm -rf %s", root);
	return 0;
}

/* Resolves s (gitref_parse syntax) in repo and checks the commit and revision. */
static void expect_resolve(struct gitsource *gs, const char *s, const char *hex,
			   const char *revision)
{
	struct gitref ref;
	struct cf_err err = {""};
	char commit[41], rev[GITSOURCE_REVISION_MAX];
	assert_int_equal(gitref_parse(s, &ref, &err), 0);
	if (gitsource_resolve(gs, &ref, commit, rev, &err) < 0)
		fail_msg("resolving %s: %s", s, err.msg);
	assert_string_equal(commit, hex);
	assert_string_equal(rev, revision);
	gitref_free(&ref);
}

/* Resolving s fails with a message containing want. */
static void expect_resolve_error(struct gitsource *gs, const struct gitref *ref, const char *want)
{
	struct cf_err err = {""};
	char commit[41], rev[GITSOURCE_REVISION_MAX];
	assert_int_equal(gitsource_resolve(gs, ref, commit, rev, &err), -1);
	if (!strstr(err.msg, want))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
}

static void expect_resolve_error_str(struct gitsource *gs, const char *s, const char *want)
{
	struct gitref ref;
	struct cf_err err = {""};
	assert_int_equal(gitref_parse(s, &ref, &err), 0);
	expect_resolve_error(gs, &ref, want);
	gitref_free(&ref);
}

static struct gitsource *open_up(void)
{
	struct gitsource *gs = NULL;
	struct cf_err err = {""};
	if (gitsource_open(&gs, up, &err) < 0)
		fail_msg("open: %s", err.msg);
	return gs;
}

static char *rev(const char *ref, const char *hex)
{
	static char buf[GITSOURCE_REVISION_MAX];
	sfmt(buf, sizeof(buf), "%s@sha1:%s", ref, hex);
	return buf;
}

static void test_parse_forms(void **state)
{
	(void)state;
	struct gitref r;
	struct cf_err err = {""};

	assert_int_equal(gitref_parse("branch:main", &r, &err), 0);
	assert_string_equal(r.branch, "main");
	assert_null(r.tag);
	gitref_free(&r);
	assert_int_equal(gitref_parse("tag:v1.0.0", &r, &err), 0);
	assert_string_equal(r.tag, "v1.0.0");
	assert_null(r.branch);
	gitref_free(&r);
	assert_int_equal(gitref_parse("semver:>=1.0.0 <2.0.0", &r, &err), 0);
	assert_string_equal(r.semver, ">=1.0.0 <2.0.0");
	gitref_free(&r);
	assert_int_equal(gitref_parse("name:refs/pull/1/head", &r, &err), 0);
	assert_string_equal(r.name, "refs/pull/1/head");
	gitref_free(&r);
	assert_int_equal(gitref_parse("commit:abcdef1", &r, &err), 0);
	assert_string_equal(r.commit, "abcdef1");
	gitref_free(&r);

	/* Bare strings: 40 hex is a commit, refs/... a name, anything else tag-or-branch. */
	assert_int_equal(gitref_parse(hex_main, &r, &err), 0);
	assert_string_equal(r.commit, hex_main);
	assert_null(r.tag);
	gitref_free(&r);
	assert_int_equal(gitref_parse("refs/heads/main", &r, &err), 0);
	assert_string_equal(r.name, "refs/heads/main");
	gitref_free(&r);
	assert_int_equal(gitref_parse("release/1.x", &r, &err), 0);
	assert_string_equal(r.tag, "release/1.x");
	assert_string_equal(r.branch, "release/1.x");
	assert_null(r.commit);
	gitref_free(&r);
	/* Seven hex digits bare are a plausible branch name, not a commit. */
	assert_int_equal(gitref_parse("abcdef1", &r, &err), 0);
	assert_null(r.commit);
	assert_string_equal(r.branch, "abcdef1");
	gitref_free(&r);
}

static void expect_parse_error(const char *s, const char *want)
{
	struct gitref r;
	struct cf_err err = {""};
	assert_int_equal(gitref_parse(s, &r, &err), -1);
	if (!strstr(err.msg, want))
		fail_msg("parsing \"%s\": error \"%s\" lacks \"%s\"", s, err.msg, want);
	assert_null(r.commit);
	assert_null(r.name);
	assert_null(r.semver);
	assert_null(r.tag);
	assert_null(r.branch);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_parse_error("", "empty git ref");
	expect_parse_error("commit:abc123", "7 to 40 hex digits");
	expect_parse_error("commit:zzzzzzz", "7 to 40 hex digits");
	expect_parse_error("commit:0123456789012345678901234567890123456789a", "7 to 40 hex");
	expect_parse_error("tag:", "empty tag");
	expect_parse_error("tag:a..b", "a..b");
	expect_parse_error("branch:-rf", "-rf");
	expect_parse_error("name:main", "refs/");
	expect_parse_error("semver:>=x.y.z.w", "semver");
	expect_parse_error("bogus:main", "unknown kind \"bogus\"");
	expect_parse_error("has space", "has space");
}

static void test_resolve_branch_tag_commit(void **state)
{
	(void)state;
	struct gitsource *gs = open_up();
	char abbrev[8];

	expect_resolve(gs, "branch:main", hex_main, rev("main", hex_main));
	expect_resolve(gs, "branch:feature", hex_feature, rev("feature", hex_feature));
	expect_resolve(gs, "tag:v1.0.0", hex_v100, rev("v1.0.0", hex_v100));
	/* An annotated tag names its commit, not the tag object. */
	expect_resolve(gs, "tag:v1.1.0", hex_v110, rev("v1.1.0", hex_v110));
	expect_resolve(gs, "name:refs/heads/feature", hex_feature,
		       rev("refs/heads/feature", hex_feature));
	expect_resolve(gs, "name:refs/tags/v1.1.0", hex_v110, rev("refs/tags/v1.1.0", hex_v110));
	char want[64];
	sfmt(want, sizeof(want), "sha1:%s", hex_v100);
	expect_resolve(gs, hex_v100, hex_v100, want);
	sfmt(abbrev, sizeof(abbrev), "%.7s", hex_v100);
	char s[32];
	sfmt(s, sizeof(s), "commit:%s", abbrev);
	expect_resolve(gs, s, hex_v100, want);
	gitsource_free(gs);
}

static void test_resolve_bare_string_prefers_tag(void **state)
{
	(void)state;
	struct gitsource *gs = open_up();
	expect_resolve(gs, "v1.1.0", hex_v110, rev("v1.1.0", hex_v110));
	expect_resolve(gs, "feature", hex_feature, rev("feature", hex_feature));
	/* Tag "both" is at v1.1.0, branch "both" at v1.0.0. */
	expect_resolve(gs, "both", hex_v110, rev("both", hex_v110));
	expect_resolve(gs, "branch:both", hex_v100, rev("both", hex_v100));
	gitsource_free(gs);
}

static void test_resolve_precedence(void **state)
{
	(void)state;
	struct gitsource *gs = open_up();
	struct cf_err err = {""};
	char commit[41], revision[GITSOURCE_REVISION_MAX];
	struct gitref ref = {.name = "refs/heads/feature", .tag = "v1.0.0", .branch = "main"};

	assert_int_equal(gitsource_resolve(gs, &ref, commit, revision, &err), 0);
	assert_string_equal(revision, rev("refs/heads/feature", hex_feature));
	ref = (struct gitref){.semver = "1.0.x", .tag = "v1.1.0"};
	assert_int_equal(gitsource_resolve(gs, &ref, commit, revision, &err), 0);
	assert_string_equal(revision, rev("v1.0.0", hex_v100));
	ref = (struct gitref){.tag = "v1.1.0", .branch = "main"};
	assert_int_equal(gitsource_resolve(gs, &ref, commit, revision, &err), 0);
	assert_string_equal(revision, rev("v1.1.0", hex_v110));

	/* A commit with a branch is checked out on that branch, as Flux does. */
	ref = (struct gitref){.commit = hex_v100, .branch = "feature"};
	assert_int_equal(gitsource_resolve(gs, &ref, commit, revision, &err), 0);
	assert_string_equal(commit, hex_v100);
	assert_string_equal(revision, rev("feature", hex_v100));
	ref = (struct gitref){.commit = hex_v110, .branch = "feature"};
	expect_resolve_error(gs, &ref, "is not on branch \"feature\"");

	ref = (struct gitref){0};
	expect_resolve_error(gs, &ref, "empty git ref");
	gitsource_free(gs);
}

static void test_resolve_semver(void **state)
{
	(void)state;
	struct gitsource *gs = open_up();
	expect_resolve(gs, "semver:>=1.0.0 <2.0.0", hex_v110, rev("v1.1.0", hex_v110));
	expect_resolve(gs, "semver:~1.0", hex_v100, rev("v1.0.0", hex_v100));
	/* Pre-releases only when the range names one. */
	expect_resolve(gs, "semver:>=1.0.0", hex_v110, rev("v1.1.0", hex_v110));
	expect_resolve(gs, "semver:>=2.0.0-rc.0", hex_rc, rev("v2.0.0-rc.1", hex_rc));
	expect_resolve_error_str(gs, "semver:>=2.0.0", "no tag matches semver range \">=2.0.0\"");
	gitsource_free(gs);
}

static void test_resolve_missing(void **state)
{
	(void)state;
	struct gitsource *gs = open_up();
	expect_resolve_error_str(gs, "branch:nope", "branch \"nope\" not found");
	expect_resolve_error_str(gs, "tag:v9.9.9", "tag \"v9.9.9\" not found");
	expect_resolve_error_str(gs, "name:refs/heads/nope", "ref \"refs/heads/nope\" not found");
	expect_resolve_error_str(gs, "commit:deadbeef00", "commit deadbeef00 not found");
	expect_resolve_error_str(gs, "nope", "no tag or branch named \"nope\"");
	gitsource_free(gs);
}

static void test_remote_tracking_branch_in_clone(void **state)
{
	(void)state;
	char clone[PATH_MAX];
	struct gitsource *gs = NULL;
	struct cf_err err = {""};
	path_in(clone, "clone");
	sh("git clone -q %s %s", up, clone);
	/* feature exists only as origin/feature in a fresh clone. */
	assert_int_equal(gitsource_open(&gs, clone, &err), 0);
	expect_resolve(gs, "branch:feature", hex_feature, rev("feature", hex_feature));
	gitsource_free(gs);
}

static void test_read_files(void **state)
{
	(void)state;
	struct gitsource *gs = open_up();
	struct treefiles tf = {0};
	struct cf_err err = {""};
	static const char *const paths[] = {"clawfleet/a.yaml", "openclaw.lock",
					    "openclaw/nodes/n1.yaml",
					    "tenants/t1/gateway.d/10-x.yaml"};

	if (gitsource_read_files(gs, hex_v100, &tf, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(tf.n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(tf.v[i].path, paths[i]);
	assert_string_equal(tf.v[0].data, "version: 1\n");
	assert_int_equal(tf.v[0].len, strlen("version: 1\n"));
	assert_string_equal(tf.v[1].data, "lock\n");
	assert_string_equal(tf.v[2].data, "node: n1\n");
	assert_string_equal(tf.v[3].data, "x: 10\n");
	assert_null(treefiles_find(&tf, "README.md"));
	treefiles_free(&tf);

	if (gitsource_read_files(gs, hex_feature, &tf, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(treefiles_find(&tf, "openclaw/nodes/n1.yaml")->data, "node: feature\n");
	treefiles_free(&tf);
	gitsource_free(gs);
}

static void test_tag_exists_and_commit_info(void **state)
{
	(void)state;
	struct gitsource *gs = open_up();
	struct cf_err err = {""};
	char *author = NULL, *message = NULL;

	assert_true(gitsource_tag_exists(gs, "v1.0.0"));
	assert_true(gitsource_tag_exists(gs, "v1.1.0"));
	assert_false(gitsource_tag_exists(gs, "v3.0.0"));
	assert_false(gitsource_tag_exists(gs, "main"));
	assert_false(gitsource_tag_exists(gs, "bad..name"));
	assert_int_equal(gitsource_commit_info(gs, hex_v100, &author, &message, &err), 0);
	assert_string_equal(author, "Ada Lovelace <ada@example.com>");
	assert_string_equal(message, "initial\n\nbody line\n");
	free(author);
	free(message);
	assert_int_equal(gitsource_commit_info(gs, "0000000", &author, &message, &err), -1);
	assert_null(author);
	assert_null(message);
	gitsource_free(gs);
}

static void test_is_local_repo(void **state)
{
	(void)state;
	char plain[PATH_MAX];
	path_in(plain, "plain");
	sh("mkdir -p %s", plain);
	assert_true(gitsource_is_local_repo(up));
	assert_false(gitsource_is_local_repo(plain));
	assert_false(gitsource_is_local_repo("https://example.com/repo.git"));
	assert_false(gitsource_is_local_repo("/nonexistent/clawfleet"));
}

static void expect_read_error(const char *repo, const char *want)
{
	struct gitsource *gs = NULL;
	struct treefiles tf = {0};
	struct cf_err err = {""};
	char head[41];
	capture(head, "git -C %s rev-parse HEAD", repo);
	assert_int_equal(gitsource_open(&gs, repo, &err), 0);
	assert_int_equal(gitsource_read_files(gs, head, &tf, &err), -1);
	if (!strstr(err.msg, want))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
	treefiles_free(&tf);
	gitsource_free(gs);
}

static void test_symlink_is_error(void **state)
{
	(void)state;
	char repo[PATH_MAX], head[41];
	struct gitsource *gs = NULL;
	struct treefiles tf = {0};
	struct cf_err err = {""};
	path_in(repo, "symlink");
	make_small_repo(repo);
	/* A symlink where the contract does not look is none of our business. */
	sh("ln -s clawfleet/a.yaml %s/docs-link && git -C %s add -A && git -C %s commit -q -m l",
	   repo, repo, repo);
	capture(head, "git -C %s rev-parse HEAD", repo);
	assert_int_equal(gitsource_open(&gs, repo, &err), 0);
	assert_int_equal(gitsource_read_files(gs, head, &tf, &err), 0);
	assert_int_equal(tf.n, 1);
	treefiles_free(&tf);
	gitsource_free(gs);

	sh("mkdir -p %s/openclaw/nodes && ln -s ../../clawfleet/a.yaml %s/openclaw/nodes/x.yaml && "
	   "git -C %s add -A && git -C %s commit -q -m link",
	   repo, repo, repo, repo);
	expect_read_error(repo, "openclaw/nodes/x.yaml: is a symbolic link");
}

static void test_submodule_is_error(void **state)
{
	(void)state;
	char repo[PATH_MAX];
	path_in(repo, "submodule");
	make_small_repo(repo);
	sh("git -C %s update-index --add --cacheinfo 160000,%s,openclaw/nodes/sub.yaml && "
	   "git -C %s commit -q -m sub",
	   repo, hex_main, repo);
	expect_read_error(repo, "openclaw/nodes/sub.yaml: is a submodule");
}

static void test_oversized_file_is_error(void **state)
{
	(void)state;
	char repo[PATH_MAX];
	path_in(repo, "big");
	make_small_repo(repo);
	sh("head -c %u /dev/zero | tr '\\0' a > %s/clawfleet/big.yaml && git -C %s add -A && "
	   "git -C %s commit -q -m big",
	   TREEFILES_MAX_FILE + 1, repo, repo, repo);
	expect_read_error(repo, "clawfleet/big.yaml: file is 1048577 bytes, over the");
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Syncs url into mirror for the ref spec (gitref_parse syntax; NULL: tags only). */
static void sync_ok(struct gitsource **gs, const char *url, const char *mirror, const char *spec)
{
	struct gitref ref = {0};
	struct cf_err err = {""};
	if (spec && gitref_parse(spec, &ref, &err) < 0)
		fail_msg("ref %s: %s", spec, err.msg);
	int rc = spec ? gitsource_sync_ref(gs, url, mirror, &ref, 0, &err)
		      : gitsource_sync(gs, url, mirror, 0, &err);
	gitref_free(&ref);
	if (rc < 0)
		fail_msg("sync: %s", err.msg);
}

static void test_sync_clone_fetch_prune(void **state)
{
	(void)state;
	char upstream[PATH_MAX], dir[PATH_MAX], mirror[PATH_MAX], stale[PATH_MAX], hex[41];
	struct gitsource *gs = NULL;
	path_in(upstream, "sync-up");
	path_in(dir, "sync-state");
	make_small_repo(upstream);
	sh("mkdir -p %s", dir);
	sfmt(mirror, sizeof(mirror), "%s/mirror.git", dir);
	/* Left by a clone whose process died. */
	sfmt(stale, sizeof(stale), "%s.tmp-Ab12Cd", mirror);
	sh("mkdir -p %s/objects", stale);

	capture(hex, "git -C %s rev-parse main", upstream);
	sync_ok(&gs, upstream, mirror, "gone");
	assert_false(exists(stale));
	expect_resolve(gs, "branch:gone", hex, rev("gone", hex));
	expect_resolve(gs, "tag:v0.1.0", hex, rev("v0.1.0", hex));
	gitsource_free(gs);

	put(upstream, "clawfleet/a.yaml", "a: 2\n");
	sh("git -C %s commit -q -am two && git -C %s branch -D -q gone && git -C %s tag -d v0.1.0 "
	   ">/dev/null && git -C %s tag v0.2.0",
	   upstream, upstream, upstream, upstream);
	capture(hex, "git -C %s rev-parse main", upstream);
	sync_ok(&gs, upstream, mirror, "gone");
	expect_resolve(gs, "v0.2.0", hex, rev("v0.2.0", hex));
	expect_resolve_error_str(gs, "branch:gone", "branch \"gone\" not found");
	expect_resolve_error_str(gs, "tag:v0.1.0", "tag \"v0.1.0\" not found");
	gitsource_free(gs);

	sync_ok(&gs, upstream, mirror, "branch:main");
	expect_resolve(gs, "branch:main", hex, rev("main", hex));
	struct treefiles tf = {0};
	struct cf_err err = {""};
	assert_int_equal(gitsource_read_files(gs, hex, &tf, &err), 0);
	assert_string_equal(treefiles_find(&tf, "clawfleet/a.yaml")->data, "a: 2\n");
	treefiles_free(&tf);
	gitsource_free(gs);
}

/* Each kind of ref fetches every tag and the branch it reads, and no other branch. */
static void test_sync_fetches_only_the_refs_branch(void **state)
{
	(void)state;
	static const struct {
		const char *spec;
		bool main, feature, both; /* which branches reach the mirror */
	} cases[] = {
		{"branch:main", true, false, false},
		{"main", true, false, false},
		{"both", false, false, true},
		{"name:refs/heads/feature", false, true, false},
		{"tag:v1.0.0", false, false, false},
		{"semver:>=1.0.0", false, false, false},
		{"name:refs/tags/v1.0.0", false, false, false},
		{NULL, false, false, false},
		{"commit:0000000", true, true, true},
	};
	char mirror[PATH_MAX], spec[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gitsource *gs = NULL;
		const char *s = cases[i].spec;
		if (s && strcmp(s, "commit:0000000") == 0) {
			/* A commit alone may be on any branch. */
			sfmt(spec, sizeof(spec), "commit:%s", hex_feature);
			s = spec;
		}
		sfmt(mirror, sizeof(mirror), "%s/only-%zu.git", root, i);
		sync_ok(&gs, up, mirror, s);
		assert_true(gitsource_tag_exists(gs, "v1.0.0"));
		assert_true(gitsource_tag_exists(gs, "v1.1.0"));
		assert_true(gitsource_tag_exists(gs, "v2.0.0-rc.1"));
		/* A tag's commits arrive with it, whichever branch they are on. */
		expect_resolve(gs, "tag:v2.0.0-rc.1", hex_rc, rev("v2.0.0-rc.1", hex_rc));
		if (cases[i].main)
			expect_resolve(gs, "branch:main", hex_main, rev("main", hex_main));
		else
			expect_resolve_error_str(gs, "branch:main", "branch \"main\" not found");
		if (cases[i].feature)
			expect_resolve(gs, "branch:feature", hex_feature, rev("feature", hex_feature));
		else
			expect_resolve_error_str(gs, "branch:feature", "branch \"feature\" not found");
		if (cases[i].both)
			expect_resolve(gs, "branch:both", hex_v100, rev("both", hex_v100));
		else
			expect_resolve_error_str(gs, "branch:both", "branch \"both\" not found");
		gitsource_free(gs);
	}
}

/* A port on loopback with nothing listening: connecting is refused at once. */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Adds a branch "huge" to repo holding a file of the given size: sparse zeros, cheap to make
 * and a few hundred KiB once compressed. Returns the blob's id in blob. */
static void add_huge_branch(const char *repo, unsigned size, char blob[41])
{
	char file[PATH_MAX];
	sfmt(file, sizeof(file), "%s/huge.bin", repo);
	sh("git -C %s checkout -q -b huge && truncate -s %u %s && git -C %s add huge.bin && "
	   "git -C %s commit -q -m huge && git -C %s checkout -q main",
	   repo, size, file, repo, repo, repo);
	capture(blob, "git -C %s rev-parse huge:huge.bin", repo);
}

/* A fetch whose objects include a blob over the fetch's memory limit fails at once, saying so,
 * and leaves the mirror as it was. */
static void test_sync_memory_limit(void **state)
{
	(void)state;
	char upstream[PATH_MAX], mirror[PATH_MAX], blob[41], hex[41];
	struct gitsource *gs = NULL;
	struct gitref ref = {0};
	struct cf_err err = {""};
	path_in(upstream, "huge-up");
	path_in(mirror, "huge-mirror.git");
	make_small_repo(upstream);
	capture(hex, "git -C %s rev-parse main", upstream);
	sync_ok(&gs, upstream, mirror, "main");
	gitsource_free(gs);
	add_huge_branch(upstream, GITSOURCE_FETCH_MEMORY_MAX + (64u << 20), blob);

	assert_int_equal(gitref_parse("branch:huge", &ref, &err), 0);
	int64_t start = now_ms();
	assert_int_equal(gitsource_sync_ref(&gs, upstream, mirror, &ref, 60000, &err), -1);
	int64_t took = now_ms() - start;
	gitref_free(&ref);
	assert_null(gs);
	if (!strstr(err.msg, "out of memory: a fetch may map 512 MiB"))
		fail_msg("error \"%s\" does not name the memory limit", err.msg);
	assert_true(took < 30000);
	assert_int_equal(gitsource_open(&gs, mirror, &err), 0);
	expect_resolve(gs, "branch:main", hex, rev("main", hex));
	expect_resolve_error_str(gs, "branch:huge", "branch \"huge\" not found");
	gitsource_free(gs);
}

/* Over the network (git://, as over https and ssh) the remote sends only what the refspecs
 * want: a huge blob on a branch the ref does not read never reaches the mirror. */
static void test_sync_skips_other_branches_objects(void **state)
{
	(void)state;
	char upstream[PATH_MAX], mirror[PATH_MAX], pidfile[PATH_MAX], url[256], blob[41], hex[41];
	struct gitsource *gs = NULL;
	path_in(upstream, "served/up.git");
	path_in(mirror, "served-mirror.git");
	path_in(pidfile, "daemon.pid");
	make_small_repo(upstream);
	add_huge_branch(upstream, 64u << 20, blob);
	capture(hex, "git -C %s rev-parse main", upstream);
	int port = closed_port();
	sh("git daemon --detach --reuseaddr --export-all --listen=127.0.0.1 --port=%d "
	   "--pid-file=%s --base-path=%s/served %s/served",
	   port, pidfile, root, root);
	sfmt(url, sizeof(url), "git://127.0.0.1:%d/up.git", port);
	struct cf_err err = {""};
	struct gitref ref = {0};
	assert_int_equal(gitref_parse("main", &ref, &err), 0);
	int rc = -1;
	/* git daemon listens a moment after it detaches. */
	for (int i = 0; i < 50 && rc < 0; i++) {
		rc = gitsource_sync_ref(&gs, url, mirror, &ref, 10000, &err);
		if (rc < 0)
			usleep(100 * 1000);
	}
	gitref_free(&ref);
	sh("kill $(cat %s)", pidfile);
	if (rc < 0)
		fail_msg("sync over git://: %s", err.msg);
	expect_resolve(gs, "branch:main", hex, rev("main", hex));
	expect_resolve(gs, "tag:v0.1.0", hex, rev("v0.1.0", hex));
	gitsource_free(gs);
	sh("! git -C %s cat-file -e %s 2>/dev/null", mirror, blob);
}

static void test_sync_failure_keeps_mirror(void **state)
{
	(void)state;
	char upstream[PATH_MAX], mirror[PATH_MAX], missing[PATH_MAX], hex[41];
	struct gitsource *gs = NULL;
	struct cf_err err = {""};
	path_in(upstream, "keep-up");
	path_in(mirror, "keep-mirror.git");
	path_in(missing, "no-such-repo");
	make_small_repo(upstream);
	capture(hex, "git -C %s rev-parse main", upstream);
	sync_ok(&gs, upstream, mirror, "main");
	gitsource_free(gs);

	assert_int_equal(gitsource_sync(&gs, missing, mirror, 0, &err), -1);
	assert_null(gs);
	if (!strstr(err.msg, "fetch of ") || !strstr(err.msg, missing))
		fail_msg("error \"%s\" does not name the fetch of %s", err.msg, missing);

	assert_int_equal(gitsource_open(&gs, mirror, &err), 0);
	expect_resolve(gs, "branch:main", hex, rev("main", hex));
	expect_resolve(gs, "tag:v0.1.0", hex, rev("v0.1.0", hex));
	gitsource_free(gs);

	/* A failed first clone leaves nothing behind. */
	char fresh[PATH_MAX];
	path_in(fresh, "never-cloned.git");
	assert_int_equal(gitsource_sync(&gs, missing, fresh, 0, &err), -1);
	assert_false(exists(fresh));
}

static void test_sync_removes_stale_locks(void **state)
{
	(void)state;
	char upstream[PATH_MAX], mirror[PATH_MAX], hex[41];
	struct gitsource *gs = NULL;
	path_in(upstream, "lock-up");
	path_in(mirror, "lock-mirror.git");
	make_small_repo(upstream);
	sync_ok(&gs, upstream, mirror, "main");
	gitsource_free(gs);

	/* What a fetch killed by the watchdog leaves behind. */
	sh("touch %s/refs/heads/main.lock %s/packed-refs.lock", mirror, mirror);
	put(upstream, "clawfleet/a.yaml", "a: 3\n");
	sh("git -C %s commit -q -am three", upstream);
	capture(hex, "git -C %s rev-parse main", upstream);
	sync_ok(&gs, upstream, mirror, "main");
	expect_resolve(gs, "branch:main", hex, rev("main", hex));
	gitsource_free(gs);
}

static void test_sync_refuses_foreign_dir(void **state)
{
	(void)state;
	char dir[PATH_MAX], keep[PATH_MAX];
	struct gitsource *gs = NULL;
	struct cf_err err = {""};
	path_in(dir, "foreign");
	sfmt(keep, sizeof(keep), "%s/precious.txt", dir);
	sh("mkdir -p %s && echo data > %s", dir, keep);
	assert_int_equal(gitsource_sync(&gs, up, dir, 0, &err), -1);
	assert_non_null(strstr(err.msg, "holds no bare repository"));
	assert_true(exists(keep));
}

static void test_sync_redacts_credentials(void **state)
{
	(void)state;
	char url[256], mirror[PATH_MAX];
	struct gitsource *gs = NULL;
	struct cf_err err = {""};
	int port = closed_port();
	path_in(mirror, "redact-mirror.git");
	sfmt(url, sizeof(url), "http://alice:s3cret@127.0.0.1:%d/repo.git", port);
	assert_int_equal(gitsource_sync(&gs, url, mirror, 5000, &err), -1);
	assert_null(strstr(err.msg, "s3cret"));
	assert_null(strstr(err.msg, "alice"));
	char want[128];
	sfmt(want, sizeof(want), "fetch of http://***@127.0.0.1:%d/repo.git", port);
	if (!strstr(err.msg, want))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);

	/* A user name alone is hidden too, without mangling the same letters elsewhere. */
	sfmt(url, sizeof(url), "http://git@127.0.0.1:%d/repo.git", port);
	assert_int_equal(gitsource_sync(&gs, url, mirror, 5000, &err), -1);
	if (!strstr(err.msg, want))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
}

static void test_watchdog_kills_hung_fetch(void **state)
{
	(void)state;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	char url[128], dir[PATH_MAX], mirror[PATH_MAX];
	struct gitsource *gs = NULL;
	struct cf_err err = {""};

	/* The kernel completes the handshake from the backlog; nobody ever answers. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	sfmt(url, sizeof(url), "http://127.0.0.1:%d/repo.git", ntohs(a.sin_port));
	path_in(dir, "hang");
	sh("mkdir -p %s", dir);
	sfmt(mirror, sizeof(mirror), "%s/mirror.git", dir);

	int64_t start = now_ms();
	assert_int_equal(gitsource_sync(&gs, url, mirror, 1500, &err), -1);
	int64_t took = now_ms() - start;
	close(fd);
	char want[256];
	sfmt(want, sizeof(want), "fetch of %s timed out after 1.5s", url);
	assert_string_equal(err.msg, want);
	assert_true(took >= 1400);
	assert_true(took < 5000);
	assert_null(gs);
	/* The child was reaped, and its half clone removed. */
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	int entries = 0;
	while ((de = readdir(d)))
		entries += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	assert_int_equal(entries, 0);
}

/* The same fetch without waiting: a clone polled to its end, a hung fetch that polls return at
 * once from, killed at its deadline or when freed, and nothing left behind either way. */
static void test_fetch_start_poll_kill(void **state)
{
	(void)state;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	char upstream[PATH_MAX], dir[PATH_MAX], mirror[PATH_MAX], url[128], want[256], hex[41];
	struct gitsource_fetch *f = NULL;
	struct gitsource *gs = NULL;
	struct cf_err err = {""};
	int rc = 1;

	path_in(upstream, "poll-up");
	path_in(dir, "poll");
	make_small_repo(upstream);
	capture(hex, "git -C %s rev-parse main", upstream);
	sh("mkdir -p %s", dir);
	sfmt(mirror, sizeof(mirror), "%s/mirror.git", dir);
	assert_int_equal(gitsource_open_mirror(&gs, mirror, &err), 1);
	assert_null(gs);
	struct gitref main_ref = {0};
	assert_int_equal(gitref_parse("branch:main", &main_ref, &err), 0);
	assert_int_equal(gitsource_fetch_start(&f, upstream, mirror, &main_ref, 10000, &err), 0);
	gitref_free(&main_ref);
	assert_true(gitsource_fetch_fd(f) >= 0);
	for (int i = 0; i < 2000 && (rc = gitsource_fetch_poll(f, &err)) == 1; i++)
		usleep(5000);
	assert_int_equal(rc, 0);
	assert_int_equal(gitsource_fetch_fd(f), -1);
	gitsource_fetch_free(f);
	assert_int_equal(gitsource_open_mirror(&gs, mirror, &err), 0);
	expect_resolve(gs, "branch:main", hex, rev("main", hex));
	gitsource_free(gs);

	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	sfmt(url, sizeof(url), "http://127.0.0.1:%d/repo.git", ntohs(a.sin_port));

	/* Polls of a hung fetch return at once; freeing it kills and reaps the child. */
	int64_t start = now_ms();
	assert_int_equal(gitsource_fetch_start(&f, url, mirror, NULL, 60000, &err), 0);
	assert_true(gitsource_fetch_deadline(f) >= start + 60000);
	for (int i = 0; i < 5; i++)
		assert_int_equal(gitsource_fetch_poll(f, &err), 1);
	assert_true(now_ms() - start < 1000);
	gitsource_fetch_free(f);
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);

	/* Past its deadline, a poll kills it; the mirror keeps its refs; the answer stays. */
	assert_int_equal(gitsource_fetch_start(&f, url, mirror, NULL, 300, &err), 0);
	assert_int_equal(gitsource_fetch_poll(f, &err), 1);
	usleep(400 * 1000);
	assert_int_equal(gitsource_fetch_poll(f, &err), -1);
	sfmt(want, sizeof(want), "fetch of %s timed out after 0.3s", url);
	assert_string_equal(err.msg, want);
	err.msg[0] = '\0';
	assert_int_equal(gitsource_fetch_poll(f, &err), -1);
	assert_string_equal(err.msg, want);
	assert_int_equal(gitsource_fetch_fd(f), -1);
	gitsource_fetch_free(f);
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(gitsource_open_mirror(&gs, mirror, &err), 0);
	expect_resolve(gs, "branch:main", hex, rev("main", hex));
	gitsource_free(gs);

	/* A clone that hangs leaves nothing beside the mirror's place when freed. */
	char fresh_dir[PATH_MAX], fresh[PATH_MAX];
	path_in(fresh_dir, "poll-fresh");
	sh("mkdir -p %s", fresh_dir);
	sfmt(fresh, sizeof(fresh), "%s/mirror.git", fresh_dir);
	assert_int_equal(gitsource_fetch_start(&f, url, fresh, NULL, 60000, &err), 0);
	assert_int_equal(gitsource_fetch_poll(f, &err), 1);
	gitsource_fetch_free(f);
	close(fd);
	DIR *d = opendir(fresh_dir);
	assert_non_null(d);
	struct dirent *de;
	int entries = 0;
	while ((de = readdir(d)))
		entries += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	assert_int_equal(entries, 0);
}

/* The fetch runs in a process that exec'd this program with the hidden command, never a fork of
 * the test: observed with ps while a fetch hangs. The URL's credentials are on no command line,
 * and freeing the fetch kills it. */
static void test_fetch_child_execs(void **state)
{
	(void)state;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	char url[128], dir[PATH_MAX], mirror[PATH_MAX], cmd[64], line[1024], args[1024] = "";
	struct gitsource_fetch *f = NULL;
	struct cf_err err = {""};

	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	sfmt(url, sizeof(url), "http://alice:s3cret@127.0.0.1:%d/repo.git", ntohs(a.sin_port));
	path_in(dir, "exec");
	sh("mkdir -p %s", dir);
	sfmt(mirror, sizeof(mirror), "%s/mirror.git", dir);
	assert_int_equal(gitsource_fetch_start(&f, url, mirror, NULL, 60000, &err), 0);

	/* ps -A -o ppid= -o args=: POSIX, on Linux as on macOS. The child is the only one. */
	sfmt(cmd, sizeof(cmd), "ps -A -o ppid= -o args=");
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		char *rest;
		long ppid = strtol(line, &rest, 10);
		if (ppid == (long)getpid() && !strstr(rest, "ps -A"))
			sfmt(args, sizeof(args), "%s", rest + strspn(rest, " "));
	}
	pclose(p);
	if (!strstr(args, " " GITSOURCE_FETCH_COMMAND " --dir "))
		fail_msg("the fetch child's command line \"%s\" is not the hidden command", args);
	assert_null(strstr(args, "s3cret"));
	assert_null(strstr(args, "alice"));
	assert_int_equal(gitsource_fetch_poll(f, &err), 1);
	gitsource_fetch_free(f);
	close(fd);
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

int main(int argc, char **argv)
{
	/* The fetch child is this program run again. */
	if (argc > 1 && strcmp(argv[1], GITSOURCE_FETCH_COMMAND) == 0)
		return gitsource_fetch_child_main(argc - 1, argv + 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_resolve_branch_tag_commit),
		cmocka_unit_test(test_resolve_bare_string_prefers_tag),
		cmocka_unit_test(test_resolve_precedence),
		cmocka_unit_test(test_resolve_semver),
		cmocka_unit_test(test_resolve_missing),
		cmocka_unit_test(test_remote_tracking_branch_in_clone),
		cmocka_unit_test(test_read_files),
		cmocka_unit_test(test_tag_exists_and_commit_info),
		cmocka_unit_test(test_is_local_repo),
		cmocka_unit_test(test_symlink_is_error),
		cmocka_unit_test(test_submodule_is_error),
		cmocka_unit_test(test_oversized_file_is_error),
		cmocka_unit_test(test_sync_clone_fetch_prune),
		cmocka_unit_test(test_sync_fetches_only_the_refs_branch),
		cmocka_unit_test(test_sync_memory_limit),
		cmocka_unit_test(test_sync_skips_other_branches_objects),
		cmocka_unit_test(test_sync_failure_keeps_mirror),
		cmocka_unit_test(test_sync_removes_stale_locks),
		cmocka_unit_test(test_sync_refuses_foreign_dir),
		cmocka_unit_test(test_sync_redacts_credentials),
		cmocka_unit_test(test_watchdog_kills_hung_fetch),
		cmocka_unit_test(test_fetch_start_poll_kill),
		cmocka_unit_test(test_fetch_child_execs),
	};
	int failed = cmocka_run_group_tests(tests, setup_fixture, teardown_fixture);
	return failed ? 1 : 0;
}
