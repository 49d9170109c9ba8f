/* failpoint: the table (unique names, before and after in pairs); what CLAWFLEET_FAILPOINT
 * takes and what it refuses, arming nothing then; a process armed for the N-th hit survives
 * the hits before it and other names, and dies of SIGKILL on the N-th after logging it; and the
 * source: every name of the table is in exactly one failpoint_hit() under controller/ and
 * reconcilers/, and every failpoint_hit() names an entry (run from the repository's root, as
 * tests/run does). */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/failpoint.h"
#include "base/fsutil.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void test_table(void **state)
{
	(void)state;
	assert_true(failpoint_count > 0);
	assert_int_equal(failpoint_count % 2, 0);
	for (size_t i = 0; i < failpoint_count; i++) {
		const char *n = failpoint_names[i];
		if ((strncmp(n, "controller.", 11) != 0 && strncmp(n, "agent.", 6) != 0) ||
		    strspn(n, "abcdefghijklmnopqrstuvwxyz.") != strlen(n))
			fail_msg("%s: want controller.* or agent.*, lower case and dots", n);
		for (size_t j = 0; j < i; j++)
			if (strcmp(n, failpoint_names[j]) == 0)
				fail_msg("%s is in the table twice", n);
	}
	/* Pairs: X.before, then X.after. */
	for (size_t i = 0; i < failpoint_count; i += 2) {
		const char *b = failpoint_names[i], *a = failpoint_names[i + 1];
		size_t stem = strlen(b) - strlen(".before");
		if (!ends_with(b, ".before") || !ends_with(a, ".after") ||
		    strlen(a) != stem + strlen(".after") || strncmp(a, b, stem) != 0)
			fail_msg("%s, %s: want a .before and its .after", b, a);
	}
}

static void test_arm(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"nope", "agent.pull", "agent.pull.before.x", "Agent.pull.before", "agent.pull.before:",
		"agent.pull.before:0", "agent.pull.before:01", "agent.pull.before:-1",
		"agent.pull.before:1x", "agent.pull.before: 1", "agent.pull.before:1000001",
		"agent.pull.before:99999999999999999999", ":1", "agent.pull.before:1:2",
	};
	struct cf_err err;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(failpoint_arm("agent.pull.after", &err), 0);
		if (failpoint_arm(bad[i], &err) == 0)
			fail_msg("\"%s\" was taken", bad[i]);
		assert_false(failpoint_armed);
	}
	assert_int_equal(failpoint_arm("nope", &err), -1);
	assert_string_equal(err.msg, "\"nope\" is no failpoint; `clawfleet failpoints` lists them");
	assert_int_equal(failpoint_arm("agent.pull.before:0", &err), -1);
	assert_string_equal(err.msg, "\"agent.pull.before:0\": want NAME or NAME:N, N from 1 to "
				     "1000000");
	assert_int_equal(failpoint_arm("agent.pull.before", &err), 0);
	assert_true(failpoint_armed);
	assert_int_equal(failpoint_arm("agent.pull.before:1000000", &err), 0);
	assert_true(failpoint_armed);
	assert_int_equal(failpoint_arm("", &err), 0);
	assert_false(failpoint_armed);
	assert_int_equal(failpoint_arm("controller.intent.before:2", &err), 0);
	assert_int_equal(failpoint_arm(NULL, &err), 0);
	assert_false(failpoint_armed);
	/* Unarmed, a failpoint is only a place. */
	failpoint_hit("agent.pull.before");
}

static void test_init(void **state)
{
	(void)state;
	struct cf_err err;
	setenv(FAILPOINT_ENV, "agent.pull.befor", 1);
	assert_int_equal(failpoint_init(&err), -1);
	assert_string_equal(err.msg, "CLAWFLEET_FAILPOINT: \"agent.pull.befor\" is no failpoint; "
				     "`clawfleet failpoints` lists them");
	assert_false(failpoint_armed);
	setenv(FAILPOINT_ENV, "agent.kickstart.after:3", 1);
	assert_int_equal(failpoint_init(&err), 0);
	assert_true(failpoint_armed);
	unsetenv(FAILPOINT_ENV);
	assert_int_equal(failpoint_init(&err), 0);
	assert_false(failpoint_armed);
}

/* A child armed with value hits hit[0..n) in turn, writing the index of each hit it survived to
 * a pipe; returns the wait status, how many hits it survived and what it wrote to stderr. */
static int run_child(const char *value, const char *const *hit, size_t n, size_t *survived,
		     char *errout, size_t errsize)
{
	int progress[2], errpipe[2];
	assert_int_equal(pipe(progress), 0);
	assert_int_equal(pipe(errpipe), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cf_err err;
		close(progress[0]);
		close(errpipe[0]);
		dup2(errpipe[1], STDERR_FILENO);
		if (failpoint_arm(value, &err) < 0)
			_exit(3);
		for (size_t i = 0; i < n; i++) {
			failpoint_hit(hit[i]);
			if (write(progress[1], "x", 1) != 1)
				_exit(4);
		}
		_exit(0);
	}
	close(progress[1]);
	close(errpipe[1]);
	char buf[64];
	ssize_t got;
	*survived = 0;
	while ((got = read(progress[0], buf, sizeof(buf))) > 0)
		*survived += (size_t)got;
	size_t len = 0;
	while (len + 1 < errsize && (got = read(errpipe[0], errout + len, errsize - 1 - len)) > 0)
		len += (size_t)got;
	errout[len] = '\0';
	close(progress[0]);
	close(errpipe[0]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_kills_on_the_nth_hit(void **state)
{
	(void)state;
	static const char *const hits[] = {
		"agent.pull.before", "agent.pull.after", "agent.pull.before",
		"agent.install.before", "agent.pull.before", "agent.pull.before",
	};
	char errout[1024];
	size_t survived;
	int st = run_child("agent.pull.before:3", hits, 6, &survived, errout, sizeof(errout));
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	assert_int_equal(survived, 4); /* the third hit of the name is hits[4] */
	assert_non_null(strstr(errout, " error: failpoint agent.pull.before: killing myself\n"));
	assert_int_equal(strchr(errout, '\n') - errout + 1, (long)strlen(errout)); /* one line */

	st = run_child("agent.pull.before", hits, 6, &survived, errout, sizeof(errout));
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(survived, 0);

	st = run_child("agent.pull.before:4", hits, 6, &survived, errout, sizeof(errout));
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(survived, 5);

	/* Armed for a hit that never comes: the process carries on and says nothing. */
	st = run_child("agent.pull.before:5", hits, 6, &survived, errout, sizeof(errout));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(survived, 6);
	assert_string_equal(errout, "");
	st = run_child("controller.intent.before", hits, 6, &survived, errout, sizeof(errout));
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(survived, 6);
}

/* ---- the source ---- */

struct scan {
	unsigned uses[256];  /* per table entry: the failpoint_hit() calls that name it */
	char unknown[1024];  /* names in failpoint_hit() that the table lacks, as "file: name" */
	size_t calls;
};

static void note_name(struct scan *sc, const char *file, const char *name, size_t len)
{
	for (size_t i = 0; i < failpoint_count; i++)
		if (strlen(failpoint_names[i]) == len && strncmp(failpoint_names[i], name, len) == 0) {
			sc->uses[i]++;
			return;
		}
	size_t used = strlen(sc->unknown);
	snprintf(sc->unknown + used, sizeof(sc->unknown) - used, " %s: \"%.*s\"", file, (int)len,
		 name);
}

/* Every failpoint_hit( in text: the string literals up to its closing parenthesis. */
static void scan_text(struct scan *sc, const char *file, const char *text)
{
	static const char call[] = "failpoint_hit(";
	for (const char *p = strstr(text, call); p; p = strstr(p, call)) {
		int depth = 1;
		size_t names = 0;
		sc->calls++;
		for (p += strlen(call); *p && depth; p++) {
			if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
			else if (*p == '"') {
				const char *end = strchr(p + 1, '"');
				if (!end)
					fail_msg("%s: unterminated string in failpoint_hit()", file);
				note_name(sc, file, p + 1, (size_t)(end - p - 1));
				names++;
				p = end;
			}
		}
		if (!names)
			fail_msg("%s: a failpoint_hit() names no failpoint as a string literal", file);
	}
}

static void scan_dir(struct scan *sc, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("%s: cannot open it; run the test from the repository's root", dir);
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(lstat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			scan_dir(sc, path);
		} else if (ends_with(path, ".c") && strcmp(path, "controller/base/failpoint.c") != 0) {
			char *text = NULL;
			size_t len = 0;
			struct cf_err err;
			if (fsutil_read_file(path, 1 << 22, &text, &len, &err) < 0)
				fail_msg("%s", err.msg);
			scan_text(sc, path, text);
			free(text);
		}
	}
	closedir(d);
}

static void test_source(void **state)
{
	(void)state;
	static struct scan sc;
	assert_true(failpoint_count <= sizeof(sc.uses) / sizeof(sc.uses[0]));
	scan_dir(&sc, "controller");
	scan_dir(&sc, "reconcilers");
	if (sc.unknown[0])
		fail_msg("failpoint_hit() with names the table lacks:%s", sc.unknown);
	for (size_t i = 0; i < failpoint_count; i++)
		if (sc.uses[i] != 1)
			fail_msg("%s: in %u failpoint_hit() calls, want 1", failpoint_names[i],
				 sc.uses[i]);
	assert_true(sc.calls > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_arm),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_kills_on_the_nth_hit),
		cmocka_unit_test(test_source),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
