/* install: plan tables (what differs, in the lock's order, core first; names and versions from
 * Git refused before they become arguments), then observe and apply against the simulated npm
 * and openclaw (hack/sim) in a temporary Mac root: the actions that ran, the rollback bookmark,
 * a failing plugin install, and a second apply that has nothing to do. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "reconcilers/install.h"

#define TIMEOUT_MS 20000

static char tmp[PATH_MAX];
static char mac[PATH_MAX + 8];       /* the simulated Mac's root */
static char mac_sim[PATH_MAX + 16];  /* its control files */
static char bookmark[PATH_MAX + 64]; /* under a state directory that does not exist yet */
static char npm[PATH_MAX + 16], openclaw[PATH_MAX + 16];
static char root_env[PATH_MAX + 32];
static char *sim_env[] = {root_env, NULL};

/* ---- plan tables ---- */

#define P(n, v) {(char *)(n), (char *)(v)}

struct plan_case {
	const char *name;
	const char *lock_version;
	struct lock_plugin lock_plugins[4];
	size_t nlock;
	const char *have_version; /* NULL: OpenClaw not installed */
	struct lock_plugin have_plugins[4];
	size_t nhave;
	const char *want; /* the actions as "name@version<-from" joined by ", " */
};

static const struct plan_case plan_cases[] = {
	{"everything matches: nothing to do", "2026.7.1",
	 {P("@openclaw/plugin-bundle", "2026.7.1"), P("@openclaw/plugin-slack", "2026.7.0")}, 2,
	 "2026.7.1",
	 {P("@openclaw/plugin-slack", "2026.7.0"), P("@openclaw/plugin-bundle", "2026.7.1")}, 2,
	 ""},
	{"core differs: core, then only the plugins that differ", "2026.7.1",
	 {P("@openclaw/plugin-bundle", "2026.7.1"), P("@openclaw/plugin-slack", "2026.7.0")}, 2,
	 "2026.6.4",
	 {P("@openclaw/plugin-bundle", "2026.6.4"), P("@openclaw/plugin-slack", "2026.7.0")}, 2,
	 "openclaw@2026.7.1<-2026.6.4, @openclaw/plugin-bundle@2026.7.1<-2026.6.4"},
	{"a missing plugin is installed", "2026.7.1",
	 {P("@openclaw/plugin-bundle", "2026.7.1"), P("@openclaw/plugin-slack", "2026.7.0")}, 2,
	 "2026.7.1", {P("@openclaw/plugin-bundle", "2026.7.1")}, 1,
	 "@openclaw/plugin-slack@2026.7.0<-"},
	{"a fresh Mac: core first, then plugins in the lock's order", "2026.7.1",
	 {P("@openclaw/plugin-slack", "2026.7.0"), P("@openclaw/plugin-bundle", "2026.7.1"),
	  P("voice-call", "1.2.0")},
	 3, NULL, {{0}}, 0,
	 "openclaw@2026.7.1<-, @openclaw/plugin-slack@2026.7.0<-, "
	 "@openclaw/plugin-bundle@2026.7.1<-, voice-call@1.2.0<-"},
	{"a plugin the lock does not name is left alone", "2026.7.1", {{0}}, 0, "2026.7.1",
	 {P("@acme/extra", "0.1.0")}, 1, ""},
	{"a rollback is a change like any other", "2026.6.4", {P("voice-call", "1.1.0")}, 1,
	 "2026.7.1", {P("voice-call", "1.2.0")}, 1,
	 "openclaw@2026.6.4<-2026.7.1, voice-call@1.1.0<-1.2.0"},
};

static void render(const struct install_plan *plan, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < plan->n; i++) {
		const struct install_action *a = &plan->actions[i];
		assert_int_equal(a->kind, strcmp(a->name, "openclaw") == 0 ? INSTALL_CORE :
									      INSTALL_PLUGIN);
		len += (size_t)snprintf(buf + len, size - len, "%s%s@%s<-%s", i ? ", " : "", a->name,
					a->version, a->from ? a->from : "");
		assert_true(len < size);
	}
}

static void test_plan_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(plan_cases) / sizeof(plan_cases[0]); i++) {
		const struct plan_case *c = &plan_cases[i];
		struct openclaw_lock lock = {.present = true,
					     .version = (char *)c->lock_version,
					     .plugins = (struct lock_plugin *)c->lock_plugins,
					     .nplugins = c->nlock};
		struct installed_state have = {.openclaw = (char *)c->have_version,
					       .plugins = (struct lock_plugin *)c->have_plugins,
					       .nplugins = c->nhave};
		struct install_plan plan;
		struct cf_err err = {{0}};
		char got[1024];
		if (install_plan(&lock, &have, &plan, &err) != 0)
			fail_msg("%s: %s", c->name, err.msg);
		render(&plan, got, sizeof(got));
		if (strcmp(got, c->want) != 0)
			fail_msg("%s:\n  want [%s]\n  got  [%s]", c->name, c->want, got);
		if (!*c->want)
			assert_int_equal(plan.n, 0);
		install_plan_free(&plan);
	}
}

struct reject_case {
	const char *version;
	struct lock_plugin plugins[2];
	size_t n;
	const char *want;
};

static const struct reject_case reject_cases[] = {
	{"latest", {{0}}, 0, "openclaw.lock: version \"latest\" of openclaw is not an exact version"},
	{"^2026.7.0", {{0}}, 0, "openclaw.lock: version \"^2026.7.0\" of openclaw is not an exact version"},
	{"2026.7.1", {P("--registry=http://evil.example", "1.0.0")}, 1,
	 "openclaw.lock: plugin name \"--registry=http://evil.example\" is not an npm package name "
	 "(lower-case letters, digits, - . _ ~, an optional @scope/)"},
	{"2026.7.1", {P("Voice", "1.0.0")}, 1,
	 "openclaw.lock: plugin name \"Voice\" is not an npm package name (lower-case letters, "
	 "digits, - . _ ~, an optional @scope/)"},
	{"2026.7.1", {P("@openclaw/", "1.0.0")}, 1,
	 "openclaw.lock: plugin name \"@openclaw/\" is not an npm package name (lower-case letters, "
	 "digits, - . _ ~, an optional @scope/)"},
	{"2026.7.1", {P("voice", "1.0.0 || 2.0.0")}, 1,
	 "openclaw.lock: version \"1.0.0 || 2.0.0\" of voice is not an exact version"},
	{"2026.7.1", {P("openclaw", "2026.7.1")}, 1,
	 "openclaw.lock: \"openclaw\" is the core package, not a plugin"},
	{"2026.7.1", {P("voice", "1.0.0"), P("voice", "1.1.0")}, 2,
	 "openclaw.lock: plugin voice is listed twice"},
};

static void test_plan_rejects(void **state)
{
	(void)state;
	struct installed_state have = {0};
	struct install_plan plan;
	struct cf_err err = {{0}};
	for (size_t i = 0; i < sizeof(reject_cases) / sizeof(reject_cases[0]); i++) {
		const struct reject_case *c = &reject_cases[i];
		struct openclaw_lock lock = {.present = true,
					     .version = (char *)c->version,
					     .plugins = (struct lock_plugin *)c->plugins,
					     .nplugins = c->n};
		assert_int_equal(install_plan(&lock, &have, &plan, &err), -1);
		assert_string_equal(err.msg, c->want);
		assert_int_equal(plan.n, 0);
	}
	struct openclaw_lock none = {0};
	assert_int_equal(install_plan(&none, &have, &plan, &err), -1);
	assert_string_equal(err.msg, "no openclaw.lock: nothing pins the versions to install");
}

/* ---- against the simulated Mac ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX * 2];
	struct cf_err err = {{0}};
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (fsutil_write_atomic(path, text, strlen(text), 0644, &err) < 0)
		fail_msg("%s", err.msg);
}

static char *read_text(const char *path)
{
	char *text = NULL;
	size_t len;
	struct cf_err err = {{0}};
	if (fsutil_read_file(path, 1 << 20, &text, &len, &err) < 0)
		fail_msg("%s", err.msg);
	return text;
}

static void sim_program(char *out, size_t size, const char *build, const char *name)
{
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/sim/%s", build, name);
	if (!realpath(rel, out) || strlen(out) >= size)
		fail_msg("%s is missing: build the simulator first (make BUILD=... all)", rel);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "%s/clawfleet-install.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	struct cf_err err = {{0}};
	return fsutil_remove_tree(tmp, &err);
}

/* A Mac with OpenClaw 2026.7.0 and the bundle plugin at 2026.7.0. */
static int mac_setup(void **state)
{
	(void)state;
	const char *build = getenv("BUILD");
	struct cf_err err = {{0}};
	char path[PATH_MAX];
	build = build && *build ? build : "build";
	sim_program(path, sizeof(path), build, "npm");
	snprintf(npm, sizeof(npm), "%s", path);
	sim_program(path, sizeof(path), build, "openclaw");
	snprintf(openclaw, sizeof(openclaw), "%s", path);
	snprintf(mac, sizeof(mac), "%s/mac", tmp);
	snprintf(mac_sim, sizeof(mac_sim), "%s/sim", mac);
	snprintf(bookmark, sizeof(bookmark), "%s/var/db/clawfleet/agent/install-bookmark.json", mac);
	snprintf(root_env, sizeof(root_env), "OPENCLAW_SIM_ROOT=%s", mac);
	if (fsutil_mkdir_p(mac_sim, 0755, &err) < 0)
		return -1;
	write_file(mac_sim, "version", "2026.7.0\n");
	write_file(mac_sim, "commit-for-2026.7.1", "3f9c2ab\n");
	write_file(mac_sim, "plugins.json", "{\"@openclaw/plugin-bundle\":\"2026.7.0\"}\n");
	return 0;
}

static int mac_teardown(void **state)
{
	(void)state;
	struct cf_err err = {{0}};
	return fsutil_remove_tree(mac, &err);
}

static struct install_config sim_config(void)
{
	return (struct install_config){
		.npm = npm, .openclaw = openclaw, .env = sim_env, .timeout_ms = TIMEOUT_MS};
}

static struct lock_plugin example_plugins[] = {P("@openclaw/plugin-bundle", "2026.7.1"),
					       P("@openclaw/plugin-slack", "2026.7.0")};
/* manifests/example-repo/openclaw.lock */
static const struct openclaw_lock example_lock = {.present = true,
						  .version = "2026.7.1",
						  .commit = "3f9c2ab",
						  .plugins = example_plugins,
						  .nplugins = 2};

static void observe(struct installed_state *have)
{
	struct install_config cfg = sim_config();
	struct cf_err err = {{0}};
	if (install_observe(&cfg, have, &err) != 0)
		fail_msg("observe: %s", err.msg);
}

/* The commands the simulated Mac ran that change it, one per line, without timestamps. */
static char *changes(void)
{
	char path[PATH_MAX * 2], *log, *out;
	snprintf(path, sizeof(path), "%s/log", mac_sim);
	if (access(path, F_OK) < 0)
		return strdup("");
	log = read_text(path);
	out = calloc(1, strlen(log) + 1);
	assert_non_null(out);
	char *save = NULL;
	for (char *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *cmd = strchr(l, ' ') + 1;
		if (strstr(cmd, " install "))
			strcat(strcat(out, cmd), "\n");
	}
	free(log);
	return out;
}

static void test_observe(void **state)
{
	(void)state;
	struct installed_state have;
	observe(&have);
	assert_string_equal(have.openclaw, "2026.7.0");
	assert_int_equal(have.nplugins, 1);
	assert_string_equal(have.plugins[0].name, "@openclaw/plugin-bundle");
	assert_string_equal(have.plugins[0].version, "2026.7.0");
	installed_state_free(&have);

	/* npm knows only the package version, not the commit sim/version carries. */
	write_file(mac_sim, "version", "2026.7.1 (3f9c2ab)\n");
	observe(&have);
	assert_string_equal(have.openclaw, "2026.7.1");
	installed_state_free(&have);

	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/version", mac_sim);
	unlink(path);
	observe(&have);
	assert_null(have.openclaw);
	installed_state_free(&have);

	struct install_config cfg = sim_config();
	struct cf_err err = {{0}};
	cfg.npm = "/nonexistent/bin/npm";
	assert_int_equal(install_observe(&cfg, &have, &err), -1);
	assert_string_equal(err.msg, "npm: not found at /nonexistent/bin/npm");
	assert_null(have.openclaw);
	assert_int_equal(have.nplugins, 0);
}

static const char example_install[] =
	"npm install -g --no-fund --no-audit openclaw@2026.7.1\n"
	"openclaw plugins install @openclaw/plugin-bundle@2026.7.1\n"
	"openclaw plugins install @openclaw/plugin-slack@2026.7.0\n";

static void test_apply_then_nothing_to_do(void **state)
{
	(void)state;
	struct install_config cfg = sim_config();
	struct installed_state have;
	struct install_plan plan;
	struct cf_err err = {{0}};
	time_t before = time(NULL);

	observe(&have);
	assert_int_equal(install_plan(&example_lock, &have, &plan, &err), 0);
	assert_int_equal(plan.n, 3);
	if (install_apply(&cfg, &have, &plan, bookmark, &err) != 0)
		fail_msg("apply: %s", err.msg);
	install_plan_free(&plan);
	installed_state_free(&have);

	char *ran = changes();
	assert_string_equal(ran, example_install);
	free(ran);
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/version", mac_sim);
	char *version = read_text(path);
	assert_string_equal(version, "2026.7.1 (3f9c2ab)\n");
	free(version);

	/* The bookmark: what was installed before, what the run aimed at, when. */
	char *text = read_text(bookmark);
	struct json_object *b = NULL, *at;
	assert_int_equal(jsonparse_object(text, strlen(text), JSONPARSE_DEPTH, &b, NULL), 0);
	assert_true(json_object_object_get_ex(b, "at", &at));
	int64_t when = json_object_get_int64(at);
	assert_true(when >= before && when <= time(NULL));
	json_object_object_del(b, "at");
	assert_string_equal(json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE),
			    "{\"openclaw\":\"2026.7.0\","
			    "\"plugins\":{\"@openclaw/plugin-bundle\":\"2026.7.0\"},"
			    "\"target\":{\"@openclaw/plugin-bundle\":\"2026.7.1\","
			    "\"@openclaw/plugin-slack\":\"2026.7.0\",\"openclaw\":\"2026.7.1\"}}");
	json_object_put(b);

	/* The second time the world matches: an empty plan, nothing runs, the bookmark stays. */
	observe(&have);
	assert_int_equal(install_plan(&example_lock, &have, &plan, &err), 0);
	assert_int_equal(plan.n, 0);
	unlink(bookmark);
	assert_int_equal(install_apply(&cfg, &have, &plan, bookmark, &err), 0);
	assert_int_equal(access(bookmark, F_OK), -1);
	ran = changes();
	assert_string_equal(ran, example_install);
	free(ran);
	install_plan_free(&plan);
	installed_state_free(&have);
	free(text);
}

/* A plugin fails: the error names it, the plugins after it do not run, the bookmark stays; the
 * retry finishes the work and keeps the bookmark of the state from before the first attempt. */
static void test_failing_plugin(void **state)
{
	(void)state;
	struct install_config cfg = sim_config();
	struct installed_state have;
	struct install_plan plan;
	struct cf_err err = {{0}};
	struct lock_plugin plugins[] = {P("@openclaw/plugin-bundle", "2026.7.1"),
					P("@openclaw/plugin-matrix", "0.9.0"),
					P("@openclaw/plugin-slack", "2026.7.0")};
	struct openclaw_lock lock = {.present = true, .version = "2026.7.1", .plugins = plugins,
				     .nplugins = 3};
	write_file(mac_sim, "fail-install", "@openclaw/plugin-matrix\n");

	observe(&have);
	assert_int_equal(install_plan(&lock, &have, &plan, &err), 0);
	assert_int_equal(install_apply(&cfg, &have, &plan, bookmark, &err), -1);
	assert_non_null(strstr(err.msg, "installing plugin @openclaw/plugin-matrix@0.9.0 (step 3 "
					"of 4;"));
	assert_non_null(strstr(err.msg, "install-bookmark.json records the versions from before"));
	assert_non_null(strstr(err.msg, "exited with status 1: npm error code ETARGET"));
	assert_non_null(strstr(err.msg, "Failed to install plugin @openclaw/plugin-matrix"));
	install_plan_free(&plan);
	installed_state_free(&have);
	char *first = read_text(bookmark);
	assert_non_null(strstr(first, "\"openclaw\":\"2026.7.0\""));
	char *ran = changes();
	assert_null(strstr(ran, "plugin-slack"));
	free(ran);

	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/fail-install", mac_sim);
	unlink(path);
	observe(&have);
	assert_string_equal(have.openclaw, "2026.7.1");
	assert_int_equal(install_plan(&lock, &have, &plan, &err), 0);
	assert_int_equal(plan.n, 2);
	assert_int_equal(install_apply(&cfg, &have, &plan, bookmark, &err), 0);
	char *second = read_text(bookmark);
	assert_string_equal(second, first);
	install_plan_free(&plan);
	installed_state_free(&have);

	observe(&have);
	assert_int_equal(install_plan(&lock, &have, &plan, &err), 0);
	assert_int_equal(plan.n, 0);
	install_plan_free(&plan);
	installed_state_free(&have);
	free(first);
	free(second);
}

/* A new target replaces the bookmark: it now records the state the new target started from. */
static void test_new_target_new_bookmark(void **state)
{
	(void)state;
	struct install_config cfg = sim_config();
	struct installed_state have;
	struct install_plan plan;
	struct cf_err err = {{0}};

	observe(&have);
	assert_int_equal(install_plan(&example_lock, &have, &plan, &err), 0);
	assert_int_equal(install_apply(&cfg, &have, &plan, bookmark, &err), 0);
	install_plan_free(&plan);
	installed_state_free(&have);

	struct lock_plugin plugins[] = {P("@openclaw/plugin-bundle", "2026.8.0")};
	struct openclaw_lock next = {.present = true, .version = "2026.8.0", .plugins = plugins,
				     .nplugins = 1};
	observe(&have);
	assert_int_equal(install_plan(&next, &have, &plan, &err), 0);
	assert_int_equal(install_apply(&cfg, &have, &plan, bookmark, &err), 0);
	char *text = read_text(bookmark);
	assert_non_null(strstr(text, "\"openclaw\":\"2026.7.1\""));
	assert_non_null(strstr(text, "\"@openclaw/plugin-slack\":\"2026.7.0\""));
	free(text);
	install_plan_free(&plan);
	installed_state_free(&have);
}

/* The core install fails (no such version): nothing else runs, OpenClaw stays as it was. */
static void test_failing_core(void **state)
{
	(void)state;
	struct install_config cfg = sim_config();
	struct installed_state have;
	struct install_plan plan;
	struct cf_err err = {{0}};
	write_file(mac_sim, "fail-install", "openclaw@2026.7.1\n");

	observe(&have);
	assert_int_equal(install_plan(&example_lock, &have, &plan, &err), 0);
	assert_int_equal(install_apply(&cfg, &have, &plan, bookmark, &err), -1);
	assert_non_null(strstr(err.msg, "installing OpenClaw openclaw@2026.7.1 (step 1 of 3;"));
	assert_non_null(strstr(err.msg, "notarget No matching version found for openclaw@2026.7.1"));
	char *ran = changes();
	assert_string_equal(ran, "npm install -g --no-fund --no-audit openclaw@2026.7.1\n");
	free(ran);
	install_plan_free(&plan);
	installed_state_free(&have);
	observe(&have);
	assert_string_equal(have.openclaw, "2026.7.0");
	installed_state_free(&have);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_table),
		cmocka_unit_test(test_plan_rejects),
		cmocka_unit_test_setup_teardown(test_observe, mac_setup, mac_teardown),
		cmocka_unit_test_setup_teardown(test_apply_then_nothing_to_do, mac_setup,
						mac_teardown),
		cmocka_unit_test_setup_teardown(test_failing_plugin, mac_setup, mac_teardown),
		cmocka_unit_test_setup_teardown(test_new_target_new_bookmark, mac_setup,
						mac_teardown),
		cmocka_unit_test_setup_teardown(test_failing_core, mac_setup, mac_teardown),
	};
	return cmocka_run_group_tests_name("install", tests, setup, teardown);
}
