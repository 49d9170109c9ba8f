/* pull: the infra work tree brought to a tag, against real repositories made by the git CLI in a
 * temporary directory: first clone, switching tags, empty plans, refusals that leave the tree
 * untouched (dirty, tag/commit mismatch, escaping symlinks), submodules left alone, and finishing
 * a checkout a crash cut short. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "reconcilers/pull.h"
#include "reconcilers/pull_tree.h"
#include "source/gitsource.h"

struct fixture {
	char dir[64];         /* everything lives under here */
	char up[PATH_MAX];    /* the GitOps repository, with a work tree */
	char mirror[PATH_MAX];
	char infra[PATH_MAX];
	char v1[41], v2[41];
	struct pull_config cfg;
};

static void pathf(char out[PATH_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void capture(char out[41], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pathf(char out[PATH_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && n < PATH_MAX);
}

static void sh(const char *fmt, ...)
{
	char cmd[8192];
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
	char cmd[8192];
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

static void put(const char *dir, const char *rel, const char *text)
{
	char path[PATH_MAX];
	struct cf_err err;
	pathf(path, "%s/%s", dir, rel);
	char parent[PATH_MAX];
	pathf(parent, "%s", path);
	*strrchr(parent, '/') = '\0';
	assert_int_equal(fsutil_mkdir_p(parent, 0755, &err), 0);
	assert_int_equal(fsutil_write_atomic(path, text, strlen(text), 0644, &err), 0);
}

static char *read_in(const char *dir, const char *rel)
{
	char path[PATH_MAX], *data = NULL;
	size_t len;
	struct cf_err err;
	pathf(path, "%s/%s", dir, rel);
	if (fsutil_read_file(path, 1 << 20, &data, &len, &err) < 0)
		fail_msg("%s", err.msg);
	return data;
}

static void expect_file(const char *dir, const char *rel, const char *want)
{
	char *got = read_in(dir, rel);
	assert_string_equal(got, want);
	free(got);
}

static bool exists_in(const char *dir, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;
	pathf(path, "%s/%s", dir, rel);
	return lstat(path, &st) == 0;
}

static void commit_tag(struct fixture *f, const char *tag, char out[41])
{
	sh("git -C %s add -A && git -C %s commit -q -m %s && git -C %s tag -a -m %s %s", f->up,
	   f->up, tag, f->up, tag, tag);
	capture(out, "git -C %s rev-parse HEAD", f->up);
}

static int group_setup(void **state)
{
	(void)state;
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("GIT_AUTHOR_NAME", "Ada Lovelace", 1);
	setenv("GIT_AUTHOR_EMAIL", "ada@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "Ada Lovelace", 1);
	setenv("GIT_COMMITTER_EMAIL", "ada@example.com", 1);
	return 0;
}

/* v1.0.0: the lock, a node, a tenant fragment; v2.0.0 changes one, removes one, adds one. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-pull-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	setenv("HOME", f->dir, 1);
	pathf(f->up, "%s/up", f->dir);
	pathf(f->mirror, "%s/state/agent/mirror", f->dir);
	pathf(f->infra, "%s/usr/local/share/openclaw-infra", f->dir);
	f->cfg = (struct pull_config){f->up, f->mirror, f->infra, 30000};
	sh("git -c init.defaultBranch=main init -q %s", f->up);
	put(f->up, "openclaw.lock", "{\"openclaw\":{\"version\":\"2026.7.0\"}}\n");
	put(f->up, "openclaw/nodes/canary-gw.yaml", "kind: MacNode\n");
	put(f->up, "tenants/acme/gateway.d/10-base.yaml", "quota: 1\n");
	put(f->up, "skills/1.4.1/summarise/SKILL.md", "# 1.4.1\n");
	commit_tag(f, "v1.0.0", f->v1);
	put(f->up, "openclaw.lock", "{\"openclaw\":{\"version\":\"2026.7.1\"}}\n");
	sh("git -C %s rm -q tenants/acme/gateway.d/10-base.yaml", f->up);
	put(f->up, "skills/1.4.2/summarise/SKILL.md", "# 1.4.2\n");
	commit_tag(f, "v2.0.0", f->v2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct cf_err err;
	fsutil_remove_tree(f->dir, &err);
	free(f);
	return 0;
}

static void observe(struct fixture *f, const char *prefer, struct pull_state *st)
{
	struct cf_err err = {{0}};
	if (pull_observe(f->infra, prefer, st, &err) < 0)
		fail_msg("%s", err.msg);
}

static size_t plan_for(struct fixture *f, const char *tag, const char *commit)
{
	struct pull_state st;
	struct pull_plan plan;
	struct pull_target t = {tag, commit};
	observe(f, tag, &st);
	pull_plan(&st, &t, &plan);
	return plan.n;
}

static void pull_ok(struct fixture *f, const char *tag, const char *commit)
{
	struct cf_err err = {{0}};
	struct pull_target t = {tag, commit};
	if (pull_apply(&f->cfg, &t, &err) < 0)
		fail_msg("%s", err.msg);
}

static void pull_fails(struct fixture *f, const char *tag, const char *commit, const char *msg)
{
	struct cf_err err = {{0}};
	struct pull_target t = {tag, commit};
	assert_int_equal(pull_apply(&f->cfg, &t, &err), -1);
	if (!strstr(err.msg, msg))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
}

static void expect_head(struct fixture *f, const char *commit, const char *tag)
{
	struct pull_state st;
	observe(f, NULL, &st);
	assert_true(st.repo);
	assert_string_equal(st.head, commit);
	assert_string_equal(st.tag, tag);
	assert_false(st.dirty);
	assert_false(st.interrupted);
}

static void test_first_pull_clones_and_checks_out(void **state)
{
	struct fixture *f = *state;
	struct pull_state st;

	observe(f, "v1.0.0", &st);
	assert_false(st.repo);
	assert_string_equal(st.head, "");
	assert_int_equal(plan_for(f, "v1.0.0", f->v1), 1);
	pull_ok(f, "v1.0.0", f->v1);
	expect_file(f->infra, "openclaw.lock", "{\"openclaw\":{\"version\":\"2026.7.0\"}}\n");
	expect_file(f->infra, "tenants/acme/gateway.d/10-base.yaml", "quota: 1\n");
	expect_file(f->infra, "skills/1.4.1/summarise/SKILL.md", "# 1.4.1\n");
	assert_false(exists_in(f->infra, "skills/1.4.2"));
	expect_head(f, f->v1, "v1.0.0");
	/* The mirror is bare and lives in the state directory. */
	assert_true(exists_in(f->mirror, "HEAD"));
	assert_false(exists_in(f->mirror, "openclaw.lock"));
	assert_int_equal(plan_for(f, "v1.0.0", f->v1), 0);
}

static void test_another_tag_switches_files(void **state)
{
	struct fixture *f = *state;

	pull_ok(f, "v1.0.0", f->v1);
	assert_int_equal(plan_for(f, "v2.0.0", f->v2), 1);
	pull_ok(f, "v2.0.0", f->v2);
	expect_file(f->infra, "openclaw.lock", "{\"openclaw\":{\"version\":\"2026.7.1\"}}\n");
	assert_false(exists_in(f->infra, "tenants/acme/gateway.d/10-base.yaml"));
	expect_file(f->infra, "skills/1.4.2/summarise/SKILL.md", "# 1.4.2\n");
	expect_head(f, f->v2, "v2.0.0");
	assert_int_equal(plan_for(f, "v2.0.0", f->v2), 0);
	/* An abbreviated commit names the same target. */
	char short_v2[8];
	snprintf(short_v2, sizeof(short_v2), "%.7s", f->v2);
	assert_int_equal(plan_for(f, "v2.0.0", short_v2), 0);

	/* Rolling back is pulling the older tag. */
	pull_ok(f, "v1.0.0", f->v1);
	expect_file(f->infra, "tenants/acme/gateway.d/10-base.yaml", "quota: 1\n");
	expect_head(f, f->v1, "v1.0.0");
}

static void test_new_tags_are_fetched(void **state)
{
	struct fixture *f = *state;
	char v3[41];

	pull_ok(f, "v1.0.0", f->v1);
	put(f->up, "clawfleet/promotion.yaml", "kind: Promotion\n");
	commit_tag(f, "v3.0.0", v3);
	pull_ok(f, "v3.0.0", v3);
	expect_file(f->infra, "clawfleet/promotion.yaml", "kind: Promotion\n");
	expect_head(f, v3, "v3.0.0");

	/* Two tags on one commit: the preferred one is reported. */
	sh("git -C %s tag v3.0.0-again", f->up);
	pull_ok(f, "v3.0.0-again", v3);
	struct pull_state st;
	observe(f, "v3.0.0-again", &st);
	assert_string_equal(st.tag, "v3.0.0-again");
	observe(f, NULL, &st);
	assert_string_equal(st.tag, "v3.0.0");
}

/* The agent drops the CA bundle libgit2 parsed at start (gitsource_drop_tls_roots): its pulls,
 * a clone and then a fetch of new tags from the local mirror, work as before. */
static void test_pull_without_tls_roots(void **state)
{
	struct fixture *f = *state;
	char v3[41];

	gitsource_global_init();
	gitsource_drop_tls_roots();
	pull_ok(f, "v1.0.0", f->v1);
	put(f->up, "clawfleet/promotion.yaml", "kind: Promotion\n");
	commit_tag(f, "v3.0.0", v3);
	pull_ok(f, "v3.0.0", v3);
	expect_head(f, v3, "v3.0.0");
	gitsource_global_shutdown();
}

static void test_dirty_tree_is_refused_and_left_alone(void **state)
{
	struct fixture *f = *state;
	struct pull_state st;
	char want[PATH_MAX];

	pull_ok(f, "v1.0.0", f->v1);
	put(f->infra, "openclaw.lock", "{\"hand\":\"edited\"}\n");
	observe(f, NULL, &st);
	assert_true(st.dirty);
	assert_string_equal(st.dirty_paths, "openclaw.lock");
	/* Dirty is never "nothing to do", even at the target commit. */
	assert_int_equal(plan_for(f, "v1.0.0", f->v1), 1);
	pathf(want, "infra tree at %s is dirty: openclaw.lock", f->infra);
	pull_fails(f, "v2.0.0", f->v2, want);
	expect_file(f->infra, "openclaw.lock", "{\"hand\":\"edited\"}\n");
	observe(f, NULL, &st);
	assert_string_equal(st.head, f->v1);

	sh("git -C %s checkout -q -- openclaw.lock", f->infra);
	put(f->infra, "notes/todo.txt", "untracked\n");
	put(f->infra, "zz.txt", "untracked\n");
	put(f->infra, "zzz.txt", "untracked\n");
	put(f->infra, "zzzz.txt", "untracked\n");
	observe(f, NULL, &st);
	assert_true(st.dirty);
	assert_string_equal(st.dirty_paths, "notes/todo.txt, zz.txt, zzz.txt and 1 more");
	pull_fails(f, "v2.0.0", f->v2, "is dirty: notes/todo.txt, zz.txt, zzz.txt and 1 more");
	expect_file(f->infra, "notes/todo.txt", "untracked\n");
	expect_file(f->infra, "tenants/acme/gateway.d/10-base.yaml", "quota: 1\n");
}

static void test_tag_commit_mismatch_is_refused(void **state)
{
	struct fixture *f = *state;
	char want[256];

	pull_ok(f, "v1.0.0", f->v1);
	snprintf(want, sizeof(want),
		 "tag \"v2.0.0\" leads to commit %s, but the controller named commit %s", f->v2,
		 f->v1);
	pull_fails(f, "v2.0.0", f->v1, want);
	expect_head(f, f->v1, "v1.0.0");
	pull_fails(f, "v9.9.9", f->v1, "tag \"v9.9.9\" not found");
	pull_fails(f, "-rf", f->v1, "target tag \"-rf\"");
	pull_fails(f, "v1.0.0", "xyz", "target commit \"xyz\" is not 7 to 40 hex digits");
	expect_head(f, f->v1, "v1.0.0");
}

/* A tag whose tree holds a symlink to target beside a new regular file. */
static void tag_with_link(struct fixture *f, const char *tag, const char *link,
			  const char *target, char out[41])
{
	put(f->up, "new.txt", "must not appear\n");
	sh("mkdir -p \"$(dirname %s/%s)\" && ln -s '%s' %s/%s", f->up, link, target, f->up, link);
	commit_tag(f, tag, out);
	sh("git -C %s rm -q -r new.txt %s && git -C %s commit -q -m undo", f->up, link, f->up);
}

static void test_escaping_symlinks_are_refused_before_writing(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *tag, *link, *target;
	} cases[] = {
		{"evil-up", "evil", "../../etc/passwd"},
		{"evil-abs", "evil", "/etc/passwd"},
		{"evil-deep", "a/b/evil", "../../../x"},
		{"evil-middle", "a/evil", "sub/../../.."},
		/* Inside on paper, but "self" may itself be a link to "." */
		{"evil-chain", "a/evil", "self/.."},
	};
	char commit[41], want[256];

	pull_ok(f, "v1.0.0", f->v1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tag_with_link(f, cases[i].tag, cases[i].link, cases[i].target, commit);
		snprintf(want, sizeof(want), "%s: symbolic link to \"%s\" could lead outside",
			 cases[i].link, cases[i].target);
		pull_fails(f, cases[i].tag, commit, want);
		assert_false(exists_in(f->infra, "new.txt"));
		assert_false(exists_in(f->infra, cases[i].link));
		expect_head(f, f->v1, "v1.0.0");
	}

	/* Links that stay inside are checked out as links. */
	tag_with_link(f, "fine", "docs/skills", "../skills/1.4.1", commit);
	pull_ok(f, "fine", commit);
	expect_file(f->infra, "docs/skills/summarise/SKILL.md", "# 1.4.1\n");
	expect_file(f->infra, "new.txt", "must not appear\n");
}

static void test_dot_git_components_are_refused(void **state)
{
	struct fixture *f = *state;
	char blob[41], inner[41], tree[41], commit[41];

	pull_ok(f, "v1.0.0", f->v1);
	/* git add never makes such a tree, but git mktree does, and a fetch accepts it. */
	capture(blob, "echo '[core] fsmonitor = evil' | git -C %s hash-object -w --stdin", f->up);
	capture(inner, "printf '100644 blob %s\tconfig\n' | git -C %s mktree", blob, f->up);
	capture(tree, "printf '040000 tree %s\t.GIT\n100644 blob %s\tnew.txt\n' | "
		      "git -C %s mktree",
		inner, blob, f->up);
	capture(commit, "git -C %s commit-tree -m dotgit %s", f->up, tree);
	sh("git -C %s tag dotgit %s", f->up, commit);
	pull_fails(f, "dotgit", commit, ".GIT: a path component named .git is refused");
	assert_false(exists_in(f->infra, "new.txt"));
	expect_head(f, f->v1, "v1.0.0");
}

/* A tag whose root tree is made by git mktree from lines ("<mode> <type> <id>\t<name>"), with
 * blob standing for a small file; a fetch accepts what git add never makes. */
static void tag_tree(struct fixture *f, const char *tag, const char *lines, char commit[41])
{
	char tree[41];
	capture(tree, "printf '%s' | git -C %s mktree", lines, f->up);
	capture(commit, "git -C %s commit-tree -m %s %s", f->up, tag, tree);
	sh("git -C %s tag %s %s", f->up, tag, commit);
}

static void expect_refused(struct fixture *f, const char *tag, const char *commit,
			   const char *msg)
{
	pull_fails(f, tag, commit, msg);
	assert_false(exists_in(f->infra, "new.txt"));
	expect_head(f, f->v1, "v1.0.0");
}

static void test_dot_git_aliases_are_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {".git.", ".git ", ".Git...", "GIT~1", "git~1. ",
					    ".git::$INDEX_ALLOCATION", ".g\xe2\x80\x8cit",
					    "\xef\xbb\xbf.GIT"};
	char blob[41], inner[41], lines[512], tag[32], commit[41], want[256];

	pull_ok(f, "v1.0.0", f->v1);
	capture(blob, "echo '[core] fsmonitor = evil' | git -C %s hash-object -w --stdin", f->up);
	snprintf(lines, sizeof(lines), "100644 blob %s\\tconfig\\n", blob);
	capture(inner, "printf '%s' | git -C %s mktree", lines, f->up);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(lines, sizeof(lines), "040000 tree %s\\t%s\\n100644 blob %s\\tnew.txt\\n",
			 inner, names[i], blob);
		snprintf(tag, sizeof(tag), "alias-%zu", i);
		tag_tree(f, tag, lines, commit);
		snprintf(want, sizeof(want), "%s: a path component that NTFS or HFS+ reads as .git",
			 names[i]);
		expect_refused(f, tag, commit, want);
	}
	/* Names that only start like it are files like any other. */
	snprintf(lines, sizeof(lines), "100644 blob %s\\t.gitignore\\n100644 blob %s\\t.github\\n",
		 blob, blob);
	tag_tree(f, "gitlike", lines, commit);
	pull_ok(f, "gitlike", commit);
	expect_head(f, commit, "gitlike");
}

static void test_links_into_git_are_refused(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *link, *target;
	} cases[] = {
		{"a", ".git"},         {"a", ".GIT"},     {"a", ".git/"},
		{"a", ".git/hooks"},   {"a", "./.Git."},  {"sub/a", "../.git"},
		{"a", "GIT~1/config"}, {"a", ".gitmodules"}, {"a", "x/.gIt/y"},
	};
	char commit[41], tag[32], want[256];

	pull_ok(f, "v1.0.0", f->v1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(tag, sizeof(tag), "gitlink-%zu", i);
		tag_with_link(f, tag, cases[i].link, cases[i].target, commit);
		snprintf(want, sizeof(want), "%s: symbolic link to \"%s\" leads into Git's own files",
			 cases[i].link, cases[i].target);
		pull_fails(f, tag, commit, want);
		assert_false(exists_in(f->infra, "new.txt"));
		assert_false(exists_in(f->infra, cases[i].link));
		expect_head(f, f->v1, "v1.0.0");
	}
	/* A link may not take the name either. */
	tag_with_link(f, "named", ".gitkeep", "docs/keep", commit);
	pull_fails(f, "named", commit, ".gitkeep: a symbolic link named .git* is refused");
	expect_head(f, f->v1, "v1.0.0");
}

static void test_names_differing_in_case_are_refused(void **state)
{
	struct fixture *f = *state;
	char blob[41], inner[41], lines[512], commit[41];

	pull_ok(f, "v1.0.0", f->v1);
	capture(blob, "echo x | git -C %s hash-object -w --stdin", f->up);
	snprintf(lines, sizeof(lines), "100644 blob %s\\tREADME\\n100644 blob %s\\tnew.txt\\n"
				       "100644 blob %s\\treadme\\n",
		 blob, blob, blob);
	tag_tree(f, "case-root", lines, commit);
	expect_refused(f, "case-root", commit,
		       "README and readme: names that differ only in case are refused");

	/* Deeper, a directory and a link to it: on APFS one would replace the other. */
	snprintf(lines, sizeof(lines), "100644 blob %s\\tconfig\\n", blob);
	capture(inner, "printf '%s' | git -C %s mktree", lines, f->up);
	capture(blob, "printf ../.. | git -C %s hash-object -w --stdin", f->up);
	snprintf(lines, sizeof(lines), "040000 tree %s\\tHooks\\n120000 blob %s\\thooks\\n", inner,
		 blob);
	capture(inner, "printf '%s' | git -C %s mktree", lines, f->up);
	snprintf(lines, sizeof(lines), "040000 tree %s\\tdocs\\n100644 blob %s\\tnew.txt\\n", inner,
		 blob);
	tag_tree(f, "case-deep", lines, commit);
	expect_refused(f, "case-deep", commit,
		       "docs/Hooks and docs/hooks: names that differ only in case are refused");
}

static void test_oversized_files_are_refused(void **state)
{
	struct fixture *f = *state;
	char commit[41], want[256];

	pull_ok(f, "v1.0.0", f->v1);
	put(f->up, "new.txt", "must not appear\n");
	/* Sparse: cheap to make, and small once compressed. */
	sh("mkdir -p %s/assets && truncate -s %u %s/assets/big.bin", f->up, PULL_TREE_MAX_FILE + 1,
	   f->up);
	commit_tag(f, "big", commit);
	snprintf(want, sizeof(want), "assets/big.bin: file is %u bytes, over the %u byte limit",
		 PULL_TREE_MAX_FILE + 1, PULL_TREE_MAX_FILE);
	expect_refused(f, "big", commit, want);
}

static void test_submodules_are_not_fetched(void **state)
{
	struct fixture *f = *state;
	char sub[PATH_MAX], sub_head[41], commit[41];

	/* A gitlink and its .gitmodules entry, pointing at a repository that exists. */
	pathf(sub, "%s/sub", f->dir);
	sh("git -c init.defaultBranch=main init -q %s && echo secret > %s/inside.txt && "
	   "git -C %s add -A && git -C %s commit -q -m sub",
	   sub, sub, sub, sub);
	capture(sub_head, "git -C %s rev-parse HEAD", sub);
	sh("printf '[submodule \"vendor\"]\\n\\tpath = vendor\\n\\turl = %s\\n' > %s/.gitmodules",
	   sub, f->up);
	sh("git -C %s update-index --add --cacheinfo 160000,%s,vendor", f->up, sub_head);
	commit_tag(f, "with-sub", commit);

	pull_ok(f, "with-sub", commit);
	/* The entry is skipped: no directory, and the submodule's files never arrive. */
	assert_false(exists_in(f->infra, "vendor"));
	assert_true(exists_in(f->infra, ".gitmodules"));
	expect_head(f, commit, "with-sub");
	assert_int_equal(plan_for(f, "with-sub", commit), 0);
	pull_ok(f, "v2.0.0", f->v2);
	expect_head(f, f->v2, "v2.0.0");
}

static void test_interrupted_checkout_is_finished(void **state)
{
	struct fixture *f = *state;
	struct pull_state st;

	pull_ok(f, "v1.0.0", f->v1);
	/* What a checkout toward v2.0.0 killed half-way leaves: its marker, one file rewritten,
	 * one new file, the rest (and HEAD) still at v1.0.0. */
	put(f->infra, ".git/clawfleet-checkout", "partial\n");
	put(f->infra, "openclaw.lock", "{\"openclaw\":{\"version\":\"2026.7.1\"}}\n");
	put(f->infra, "skills/1.4.2/summarise/SKILL.md", "# 1.4");
	/* Locks a killed fetch and a killed index write leave behind. */
	put(f->infra, ".git/index.lock", "");
	put(f->infra, ".git/refs/tags/v2.0.0.lock", "");
	put(f->infra, ".git/HEAD.lock", "");
	observe(f, NULL, &st);
	assert_true(st.interrupted);
	assert_false(st.dirty);
	assert_int_equal(plan_for(f, "v1.0.0", f->v1), 1);

	pull_ok(f, "v2.0.0", f->v2);
	expect_file(f->infra, "skills/1.4.2/summarise/SKILL.md", "# 1.4.2\n");
	assert_false(exists_in(f->infra, "tenants/acme/gateway.d/10-base.yaml"));
	assert_false(exists_in(f->infra, ".git/clawfleet-checkout"));
	expect_head(f, f->v2, "v2.0.0");
	assert_int_equal(plan_for(f, "v2.0.0", f->v2), 0);
}

static void test_interrupted_clone_is_redone(void **state)
{
	struct fixture *f = *state;
	char tmp[PATH_MAX];

	pathf(tmp, "%s.tmp-clone", f->infra);
	put(tmp, ".git/HEAD", "garbage");
	/* An empty infra directory, as a package might create, is fine too. */
	sh("mkdir -p %s", f->infra);
	pull_ok(f, "v1.0.0", f->v1);
	expect_head(f, f->v1, "v1.0.0");
	assert_false(exists_in(tmp, ""));

	/* A directory of someone else's files is not replaced. */
	struct cf_err err;
	assert_int_equal(fsutil_remove_tree(f->infra, &err), 0);
	put(f->infra, "mine.txt", "keep\n");
	pull_fails(f, "v1.0.0", f->v1, "exists and holds no Git repository");
	expect_file(f->infra, "mine.txt", "keep\n");
}

static void test_unreachable_remote_changes_nothing(void **state)
{
	struct fixture *f = *state;
	char gone[PATH_MAX];

	pull_ok(f, "v1.0.0", f->v1);
	pathf(gone, "%s/nowhere", f->dir);
	f->cfg.remote = gone;
	pull_fails(f, "v2.0.0", f->v2, "pulling v2.0.0: fetch of");
	expect_head(f, f->v1, "v1.0.0");
}

int main(int argc, char **argv)
{
	/* The Git fetch child is this program run again. */
	if (argc > 1 && strcmp(argv[1], GITSOURCE_FETCH_COMMAND) == 0)
		return gitsource_fetch_child_main(argc - 1, argv + 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_pull_clones_and_checks_out, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_another_tag_switches_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_tags_are_fetched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pull_without_tls_roots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_tree_is_refused_and_left_alone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tag_commit_mismatch_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_escaping_symlinks_are_refused_before_writing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dot_git_components_are_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dot_git_aliases_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links_into_git_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_differing_in_case_are_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_oversized_files_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submodules_are_not_fetched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_checkout_is_finished, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_clone_is_redone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_remote_changes_nothing, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("pull", tests, group_setup, NULL);
}
