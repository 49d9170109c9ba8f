/* skills: installing packs completely or not at all, linking current and next only to complete
 * packs, keeping current.prev, empty plans when the world matches, convergence after a crash
 * at each point an install or a flip can be interrupted, and adopting a pack put in place by
 * other means when openclaw.lock's skills.sha256 matches it (never linking one that does not). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "reconcilers/pack_digest.h"
#include "reconcilers/skills.h"

struct fixture {
	char dir[64];        /* everything lives under here */
	char root[PATH_MAX]; /* the skills root */
	char src[PATH_MAX];  /* <infra>/skills: one source pack per semver below it */
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

static void put(const char *path, const char *text, mode_t mode)
{
	struct cf_err err;
	char dir[PATH_MAX];
	pathf(dir, "%s", path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(fsutil_mkdir_p(dir, 0755, &err), 0);
	if (fsutil_write_atomic(path, text, strlen(text), mode, &err) < 0)
		fail_msg("%s", err.msg);
}

static char *slurp(const char *path)
{
	char *data = NULL;
	size_t len;
	struct cf_err err;
	if (fsutil_read_file(path, 1 << 20, &data, &len, &err) < 0)
		fail_msg("%s", err.msg);
	return data;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* A source pack with two skills, one holding a script. */
static void make_source(struct fixture *f, const char *semver, const char *tag)
{
	char p[PATH_MAX];
	pathf(p, "%s/%s/summarise/SKILL.md", f->src, semver);
	put(p, tag, 0644);
	pathf(p, "%s/%s/summarise/scripts/run.sh", f->src, semver);
	put(p, "#!/bin/sh\necho hi\n", 0755);
	pathf(p, "%s/%s/translate/SKILL.md", f->src, semver);
	put(p, "# translate\n", 0644);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-skills-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/db/skills", f->dir);
	snprintf(f->src, sizeof(f->src), "%s/infra/skills", f->dir);
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

static void install(struct fixture *f, const char *semver)
{
	char src[PATH_MAX];
	struct cf_err err = {{0}};
	pathf(src, "%s/%s", f->src, semver);
	if (skills_install(f->root, semver, src, &err) < 0)
		fail_msg("%s", err.msg);
}

static void link_ok(struct fixture *f, enum skills_link l, const char *semver)
{
	struct cf_err err = {{0}};
	if (skills_link(f->root, l, semver, &err) < 0)
		fail_msg("%s", err.msg);
}

static void observe(struct fixture *f, const char *semver, struct skills_state *st)
{
	struct cf_err err = {{0}};
	if (skills_observe(f->root, semver, st, &err) < 0)
		fail_msg("%s", err.msg);
}

/* Observes, plans and applies toward the target (with the lock's digest, may be NULL); returns
 * the plan and fills err (may be NULL) when applying it failed. */
static struct skills_plan reconcile_to(struct fixture *f, const char *semver, enum skills_link l,
				       const char *sha256, struct cf_err *err)
{
	char src[PATH_MAX];
	struct skills_state st;
	struct skills_plan plan;
	struct cf_err mine = {{0}};
	pathf(src, "%s/%s", f->src, semver);
	struct skills_target t = {.semver = semver, .source_dir = src, .link = l, .sha256 = sha256};
	observe(f, semver, &st);
	skills_plan(&st, &t, &plan);
	int rc = skills_apply(f->root, &t, &plan, err ? err : &mine);
	if (!err && rc < 0)
		fail_msg("%s", mine.msg);
	if (err && rc == 0)
		fail_msg("applying the plan succeeded");
	return plan;
}

/* Observes, plans and applies toward the target; returns the plan that was applied. */
static struct skills_plan reconcile(struct fixture *f, const char *semver, enum skills_link l)
{
	return reconcile_to(f, semver, l, NULL, NULL);
}

static void expect_plan(const struct skills_plan *p, const char *want)
{
	char got[128] = "";
	for (size_t i = 0; i < p->n; i++) {
		size_t len = strlen(got);
		snprintf(got + len, sizeof(got) - len, "%s%s", i ? " " : "",
			 skills_action_name(p->v[i].kind));
	}
	assert_string_equal(got, want);
}

static void expect_link(struct fixture *f, const char *name, const char *target)
{
	char path[PATH_MAX], buf[PATH_MAX];
	pathf(path, "%s/%s", f->root, name);
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, target);
}

/* Whatever happened, current names a pack that holds its marker. */
static void expect_current_complete(struct fixture *f)
{
	char marker[PATH_MAX];
	struct skills_state st;
	pathf(marker, "%s/current/%s", f->root, SKILLS_MARKER);
	assert_true(exists(marker));
	observe(f, NULL, &st);
	assert_int_equal(st.links[SKILLS_CURRENT].status, SKILLS_LINK_OK);
}

static size_t count_strays(struct fixture *f)
{
	struct skills_state st;
	observe(f, NULL, &st);
	return st.strays;
}

static void test_install_copies_and_marks_complete(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	struct stat st;
	make_source(f, "1.4.2", "# summarise 1.4.2\n");
	install(f, "1.4.2");

	pathf(p, "%s/1.4.2/summarise/SKILL.md", f->root);
	char *text = slurp(p);
	assert_string_equal(text, "# summarise 1.4.2\n");
	free(text);
	pathf(p, "%s/1.4.2/summarise/scripts/run.sh", f->root);
	assert_int_equal(stat(p, &st), 0);
	assert_true(st.st_mode & S_IXUSR);
	/* The gateway runs as another user and must be able to read the pack. */
	pathf(p, "%s/1.4.2", f->root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	pathf(p, "%s/1.4.2/translate/SKILL.md", f->root);
	assert_true(exists(p));
	pathf(p, "%s/1.4.2/%s", f->root, SKILLS_MARKER);
	text = slurp(p);
	assert_string_equal(text, "1.4.2\n");
	free(text);
	assert_int_equal(count_strays(f), 0);

	struct skills_state s;
	observe(f, "1.4.2", &s);
	assert_true(s.pack_complete);
	/* Installed already: the copy is not redone (a change in the source is not picked up). */
	pathf(p, "%s/1.4.2/translate/SKILL.md", f->src);
	put(p, "# changed\n", 0644);
	install(f, "1.4.2");
	pathf(p, "%s/1.4.2/translate/SKILL.md", f->root);
	text = slurp(p);
	assert_string_equal(text, "# translate\n");
	free(text);
}

static void test_incomplete_pack_is_redone(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	make_source(f, "1.4.2", "# fresh\n");
	/* What a copy interrupted before its marker would leave, had it been in place. */
	pathf(p, "%s/1.4.2/summarise/SKILL.md", f->root);
	put(p, "# half", 0644);
	pathf(p, "%s/1.4.2/leftover.md", f->root);
	put(p, "stale\n", 0644);

	struct skills_state s;
	observe(f, "1.4.2", &s);
	assert_false(s.pack_complete);
	install(f, "1.4.2");
	assert_false(exists(p));
	pathf(p, "%s/1.4.2/summarise/SKILL.md", f->root);
	char *text = slurp(p);
	assert_string_equal(text, "# fresh\n");
	free(text);
	observe(f, "1.4.2", &s);
	assert_true(s.pack_complete);
}

static void test_install_refuses_bad_sources(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], src[PATH_MAX];
	struct cf_err err = {{0}};

	pathf(src, "%s/1.4.2", f->src);
	assert_int_equal(skills_install(f->root, "1.4.2", src, &err), -1);
	assert_non_null(strstr(err.msg, "installing skill pack 1.4.2"));
	assert_non_null(strstr(err.msg, src));

	make_source(f, "1.4.2", "# x\n");
	pathf(p, "%s/1.4.2/translate/passwd", f->src);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	assert_int_equal(skills_install(f->root, "1.4.2", src, &err), -1);
	assert_non_null(strstr(err.msg, "translate/passwd is a symbolic link"));
	pathf(p, "%s/1.4.2", f->root);
	assert_false(exists(p));
	assert_int_equal(count_strays(f), 0);

	assert_int_equal(skills_install(f->root, "../etc", src, &err), -1);
	assert_non_null(strstr(err.msg, "skills semver \"../etc\""));
	pathf(p, "%s/etc", f->dir);
	assert_false(exists(p));
}

static void test_install_caps_depth_and_file_kinds(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], src[PATH_MAX];
	struct cf_err err = {{0}};

	pathf(src, "%s/2.0.0", f->src);
	pathf(p, "%s", src);
	for (int i = 0; i <= SKILLS_MAX_DEPTH; i++) {
		size_t len = strlen(p);
		snprintf(p + len, sizeof(p) - len, "/d");
	}
	assert_int_equal(fsutil_mkdir_p(p, 0755, &err), 0);
	assert_int_equal(skills_install(f->root, "2.0.0", src, &err), -1);
	assert_non_null(strstr(err.msg, "nested deeper than"));

	pathf(src, "%s/2.0.1", f->src);
	pathf(p, "%s/fifo", src);
	assert_int_equal(fsutil_mkdir_p(src, 0755, &err), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(skills_install(f->root, "2.0.1", src, &err), -1);
	assert_non_null(strstr(err.msg, "fifo is not a regular file or directory"));
	assert_int_equal(count_strays(f), 0);
}

static void test_link_refuses_what_is_not_a_complete_pack(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	struct cf_err err = {{0}};

	assert_int_equal(skills_link(f->root, SKILLS_CURRENT, "1.4.2", &err), -1);
	assert_non_null(strstr(err.msg, "is not a complete skill pack"));
	pathf(p, "%s/1.4.3/SKILL.md", f->root);
	put(p, "# no marker\n", 0644);
	assert_int_equal(skills_link(f->root, SKILLS_NEXT, "1.4.3", &err), -1);
	assert_non_null(strstr(err.msg, "cannot link next to 1.4.3"));
	assert_int_equal(skills_link(f->root, SKILLS_CURRENT, "../etc", &err), -1);
	assert_non_null(strstr(err.msg, "skills semver \"../etc\""));
	assert_int_equal(skills_link(f->root, SKILLS_CURRENT, "/etc", &err), -1);
	assert_int_equal(skills_link(f->root, SKILLS_PREV, "1.4.3", &err), -1);
	assert_non_null(strstr(err.msg, "current.prev"));

	pathf(p, "%s/current", f->root);
	assert_false(exists(p));
	pathf(p, "%s/next", f->root);
	assert_false(exists(p));
}

static void test_flipping_current_keeps_prev(void **state)
{
	struct fixture *f = *state;
	make_source(f, "1.4.1", "# old\n");
	make_source(f, "1.4.2", "# new\n");
	install(f, "1.4.1");
	install(f, "1.4.2");

	link_ok(f, SKILLS_CURRENT, "1.4.1");
	expect_link(f, "current", "1.4.1");
	char p[PATH_MAX];
	pathf(p, "%s/current.prev", f->root);
	assert_false(exists(p));

	link_ok(f, SKILLS_NEXT, "1.4.2");
	expect_link(f, "next", "1.4.2");
	expect_link(f, "current", "1.4.1");

	link_ok(f, SKILLS_CURRENT, "1.4.2");
	expect_link(f, "current", "1.4.2");
	expect_link(f, "current.prev", "1.4.1");
	pathf(p, "%s/current/summarise/SKILL.md", f->root);
	char *text = slurp(p);
	assert_string_equal(text, "# new\n");
	free(text);

	/* Rolling back swaps them; relinking the same target changes nothing. */
	link_ok(f, SKILLS_CURRENT, "1.4.1");
	expect_link(f, "current", "1.4.1");
	expect_link(f, "current.prev", "1.4.2");
	link_ok(f, SKILLS_CURRENT, "1.4.1");
	expect_link(f, "current.prev", "1.4.2");
	assert_int_equal(count_strays(f), 0);

	struct skills_state st;
	observe(f, "1.4.1", &st);
	assert_int_equal(st.links[SKILLS_CURRENT].status, SKILLS_LINK_OK);
	assert_string_equal(st.links[SKILLS_CURRENT].target, "1.4.1");
	assert_int_equal(st.links[SKILLS_NEXT].status, SKILLS_LINK_OK);
	assert_string_equal(st.links[SKILLS_PREV].target, "1.4.2");
}

static void test_same_target_twice_plans_nothing(void **state)
{
	struct fixture *f = *state;
	make_source(f, "1.4.2", "# x\n");

	struct skills_plan p = reconcile(f, "1.4.2", SKILLS_NEXT);
	expect_plan(&p, "install link");
	expect_link(f, "next", "1.4.2");
	p = reconcile(f, "1.4.2", SKILLS_NEXT);
	expect_plan(&p, "");

	/* Promoting the same pack to current only links. */
	p = reconcile(f, "1.4.2", SKILLS_CURRENT);
	expect_plan(&p, "link");
	p = reconcile(f, "1.4.2", SKILLS_CURRENT);
	expect_plan(&p, "");
	expect_current_complete(f);
}

static void test_observe_reports_broken_links(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	struct skills_state st;

	observe(f, "1.4.2", &st);
	for (int l = 0; l < SKILLS_LINKS; l++)
		assert_int_equal(st.links[l].status, SKILLS_LINK_ABSENT);
	assert_false(st.pack_complete);

	pathf(p, "%s/1.4.3/SKILL.md", f->root);
	put(p, "# no marker\n", 0644);
	pathf(p, "%s/current", f->root);
	assert_int_equal(symlink("1.4.3", p), 0);
	pathf(p, "%s/next", f->root);
	assert_int_equal(symlink("9.9.9", p), 0);
	pathf(p, "%s/current.prev", f->root);
	assert_int_equal(symlink("/var/db/openclaw/skills/1.4.1", p), 0);
	observe(f, NULL, &st);
	assert_int_equal(st.links[SKILLS_CURRENT].status, SKILLS_LINK_INCOMPLETE);
	assert_string_equal(st.links[SKILLS_CURRENT].target, "1.4.3");
	assert_int_equal(st.links[SKILLS_NEXT].status, SKILLS_LINK_MISSING);
	assert_string_equal(st.links[SKILLS_NEXT].target, "9.9.9");
	assert_int_equal(st.links[SKILLS_PREV].status, SKILLS_LINK_FOREIGN);
	assert_string_equal(skills_link_status_name(SKILLS_LINK_FOREIGN), "foreign");

	/* A directory where the link belongs is reported, and flipping names it. */
	struct cf_err err = {{0}};
	pathf(p, "%s/next", f->root);
	assert_int_equal(unlink(p), 0);
	pathf(p, "%s/next/SKILL.md", f->root);
	put(p, "# hand-made\n", 0644);
	observe(f, NULL, &st);
	assert_int_equal(st.links[SKILLS_NEXT].status, SKILLS_LINK_NOT_LINK);
	make_source(f, "1.4.2", "# x\n");
	install(f, "1.4.2");
	assert_int_equal(skills_link(f->root, SKILLS_NEXT, "1.4.2", &err), -1);
	assert_non_null(strstr(err.msg, "is a directory where clawfleet keeps a link"));
	assert_true(exists(p));
	assert_int_equal(count_strays(f), 0);
}

/* Each state an interrupted install or flip can leave, then one reconcile. */
static void test_converges_after_a_crash_at_each_point(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	make_source(f, "1.4.1", "# old\n");
	make_source(f, "1.4.2", "# new\n");
	reconcile(f, "1.4.1", SKILLS_CURRENT);
	expect_current_complete(f);

	/* Crash while copying: a temporary pack directory without its marker. */
	pathf(p, "%s/.1.4.2.tmp-a1b2c3/summarise/SKILL.md", f->root);
	put(p, "# half", 0644);
	assert_int_equal(count_strays(f), 1);
	struct skills_plan plan = reconcile(f, "1.4.2", SKILLS_NEXT);
	expect_plan(&plan, "clean install link");
	assert_int_equal(count_strays(f), 0);
	expect_link(f, "next", "1.4.2");
	expect_current_complete(f);

	/* Crash between creating the temporary link and the rename. */
	pathf(p, "%s/.current.tmp-Zz9Yy8", f->root);
	assert_int_equal(symlink("1.4.2", p), 0);
	expect_link(f, "current", "1.4.1");
	expect_current_complete(f);
	plan = reconcile(f, "1.4.2", SKILLS_CURRENT);
	expect_plan(&plan, "clean link");
	expect_link(f, "current", "1.4.2");
	expect_link(f, "current.prev", "1.4.1");
	assert_false(exists(p));

	/* Crash after current.prev moved but before current did (rolling back to 1.4.1). */
	struct cf_err err = {{0}};
	assert_int_equal(skills_flip_link(f->root, "current.prev", "1.4.2", &err), 0);
	expect_current_complete(f);
	plan = reconcile(f, "1.4.1", SKILLS_CURRENT);
	expect_plan(&plan, "link");
	expect_link(f, "current", "1.4.1");
	expect_link(f, "current.prev", "1.4.2");

	/* A damaged pack that current names is rebuilt, then current is whole again. */
	pathf(p, "%s/1.4.1/%s", f->root, SKILLS_MARKER);
	assert_int_equal(unlink(p), 0);
	plan = reconcile(f, "1.4.1", SKILLS_CURRENT);
	expect_plan(&plan, "install link");
	expect_current_complete(f);
	plan = reconcile(f, "1.4.1", SKILLS_CURRENT);
	expect_plan(&plan, "");
}

/* ---- adoption ---- */

/* root/<semver> as rsync puts it: the source's files, no marker. */
static void rsync_pack(struct fixture *f, const char *semver)
{
	static const char *const files[] = {"summarise/SKILL.md", "summarise/scripts/run.sh",
					    "translate/SKILL.md"};
	char from[PATH_MAX], to[PATH_MAX];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		pathf(from, "%s/%s/%s", f->src, semver, files[i]);
		pathf(to, "%s/%s/%s", f->root, semver, files[i]);
		char *text = slurp(from);
		put(to, text, 0644);
		free(text);
	}
}

static void digest_of(const char *dir, char out[65])
{
	struct cf_err err = {{0}};
	if (pack_digest(dir, 0, out, &err) < 0)
		fail_msg("%s", err.msg);
}

static ino_t inode_of(const char *path)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	return st.st_ino;
}

static void test_adopts_a_pack_placed_by_rsync(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], want[65];
	struct skills_state st;

	make_source(f, "1.4.2", "# summarise\n");
	pathf(p, "%s/1.4.2", f->src);
	digest_of(p, want);
	rsync_pack(f, "1.4.2");
	pathf(p, "%s/1.4.2/summarise/SKILL.md", f->root);
	ino_t before = inode_of(p);
	observe(f, "1.4.2", &st);
	assert_true(st.pack_present);
	assert_false(st.pack_complete);

	struct skills_plan plan = reconcile_to(f, "1.4.2", SKILLS_CURRENT, want, NULL);
	expect_plan(&plan, "adopt link");
	assert_int_equal(inode_of(p), before); /* adopted where it lies: nothing copied */
	expect_current_complete(f);
	pathf(p, "%s/1.4.2/%s", f->root, SKILLS_MARKER);
	char *text = slurp(p);
	assert_string_equal(text, "1.4.2\n");
	free(text);
	assert_int_equal(count_strays(f), 0);
	plan = reconcile_to(f, "1.4.2", SKILLS_CURRENT, want, NULL);
	expect_plan(&plan, "");
}

static void test_adoption_keeps_the_runbooks_link(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], want[65];

	make_source(f, "1.4.2", "# summarise\n");
	pathf(p, "%s/1.4.2", f->src);
	digest_of(p, want);
	rsync_pack(f, "1.4.2");
	pathf(p, "%s/current", f->root);
	assert_int_equal(symlink("1.4.2", p), 0);
	ino_t link = inode_of(p);

	/* The link already names the pack: no flip, so nothing the gateway reads changes. */
	struct skills_plan plan = reconcile_to(f, "1.4.2", SKILLS_CURRENT, want, NULL);
	expect_plan(&plan, "adopt");
	assert_int_equal(inode_of(p), link);
	expect_current_complete(f);
}

static void test_a_pack_that_differs_is_never_linked(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], dir[PATH_MAX], want[65], got[65], msg[CF_ERR_MSG + PATH_MAX];
	struct cf_err err = {{0}};

	make_source(f, "1.4.1", "# old\n");
	reconcile(f, "1.4.1", SKILLS_CURRENT);
	make_source(f, "1.4.2", "# summarise\n");
	pathf(p, "%s/1.4.2", f->src);
	digest_of(p, want);
	rsync_pack(f, "1.4.2");
	pathf(p, "%s/1.4.2/translate/SKILL.md", f->root);
	put(p, "# edited by hand\n", 0644);
	pathf(dir, "%s/1.4.2", f->root);
	digest_of(dir, got);
	snprintf(msg, sizeof(msg), "skill pack %s: sha256 %s on disk, openclaw.lock says %s", dir,
		 got, want);

	struct skills_plan plan = reconcile_to(f, "1.4.2", SKILLS_CURRENT, want, &err);
	expect_plan(&plan, "adopt link");
	assert_string_equal(err.msg, msg);
	expect_link(f, "current", "1.4.1");
	pathf(p, "%s/1.4.2/%s", f->root, SKILLS_MARKER);
	assert_false(exists(p));
	pathf(p, "%s/1.4.2/translate/SKILL.md", f->root);
	char *text = slurp(p);
	assert_string_equal(text, "# edited by hand\n"); /* left for the operator to judge */
	free(text);
	assert_int_equal(skills_verify(f->root, "1.4.2", want, &err), -1);
	assert_string_equal(err.msg, msg);
	assert_int_equal(skills_adopt(f->root, "1.4.2", want, &err), -1);
	assert_string_equal(err.msg, msg);
	assert_int_equal(skills_verify(f->root, "1.4.2", got, &err), 0);

	/* Nothing to judge: no such pack, or one that holds the marker (not hashed again). */
	assert_int_equal(skills_verify(f->root, "9.9.9", want, &err), 0);
	assert_int_equal(skills_verify(f->root, "1.4.1", want, &err), 0);
	plan = reconcile_to(f, "1.4.1", SKILLS_CURRENT, want, NULL);
	expect_plan(&plan, "");
	assert_int_equal(skills_adopt(f->root, "9.9.9", want, &err), -1);
	assert_non_null(strstr(err.msg, "/9.9.9: no such directory"));
}

static void test_a_copy_must_match_the_lock_too(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], src[PATH_MAX], got[65], msg[CF_ERR_MSG + PATH_MAX];
	struct cf_err err = {{0}};
	const char *zeros = "0000000000000000000000000000000000000000000000000000000000000000";

	make_source(f, "1.4.2", "# summarise\n");
	pathf(src, "%s/1.4.2", f->src);
	digest_of(src, got);
	struct skills_plan plan = reconcile_to(f, "1.4.2", SKILLS_CURRENT, zeros, &err);
	expect_plan(&plan, "install link");
	snprintf(msg, sizeof(msg),
		 "installing skill pack 1.4.2: skill pack source %s: sha256 %s, openclaw.lock says "
		 "%s",
		 src, got, zeros);
	assert_string_equal(err.msg, msg);
	pathf(p, "%s/1.4.2", f->root);
	assert_false(exists(p));
	assert_int_equal(count_strays(f), 0);
	plan = reconcile_to(f, "1.4.2", SKILLS_CURRENT, got, NULL);
	expect_plan(&plan, "install link");
	expect_current_complete(f);
}

static void test_links_are_relative(void **state)
{
	struct fixture *f = *state;
	char moved[PATH_MAX], p[PATH_MAX];
	make_source(f, "1.4.2", "# x\n");
	reconcile(f, "1.4.2", SKILLS_CURRENT);
	pathf(moved, "%s/moved", f->dir);
	assert_int_equal(rename(f->root, moved), 0);
	pathf(p, "%s/current/summarise/SKILL.md", moved);
	assert_true(exists(p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_install_copies_and_marks_complete, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_incomplete_pack_is_redone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_refuses_bad_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_caps_depth_and_file_kinds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_link_refuses_what_is_not_a_complete_pack,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipping_current_keeps_prev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_target_twice_plans_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_observe_reports_broken_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_converges_after_a_crash_at_each_point, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_links_are_relative, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopts_a_pack_placed_by_rsync, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_adoption_keeps_the_runbooks_link, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_pack_that_differs_is_never_linked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_copy_must_match_the_lock_too, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("skills", tests, NULL, NULL);
}
