/* openclaw_config: where the file goes (OPENCLAW_CONFIG_PATH, else HOME), what is planned against
 * what the file holds, and the write: atomic, mode 0600, its folder made, idempotent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/diag.h"
#include "base/fsutil.h"
#include "desired/schema.h"
#include "reconcilers/openclaw_config.h"
#include "source/treefiles.h"

static struct schema_set *schemas;
static char dir[] = "/tmp/clawfleet-openclaw-config.XXXXXX";

static int setup(void **state)
{
	(void)state;
	struct cf_err err;
	return !mkdtemp(dir) || schema_set_load_embedded(&schemas, &err) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	schema_set_free(schemas);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void add(struct treefiles *tf, const char *path, const char *text)
{
	struct cf_err err;
	assert_int_equal(treefiles_add(tf, path, text, strlen(text), &err), 0);
}

/* gw-a with a base.d fragment and, when own, one of its own. */
static struct desired_state *load(bool fragments, bool own)
{
	struct treefiles tf = {0};
	struct desired_state *ds = NULL;
	struct diag_list diags = {0};
	add(&tf, "openclaw/nodes/gw-a.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: MacNode\nmetadata:\n  name: gw-a\n"
	    "spec:\n  address: http://127.0.0.1:18081\n  role: gateway\n  canary: false\n"
	    "  loadBalancer:\n    server: gw-a\n");
	add(&tf, "openclaw.lock",
	    "{\"openclaw\":{\"version\":\"2026.7.1\",\"commit\":\"3f9c2ab\"},\"plugins\":[],"
	    "\"skills\":{\"semver\":\"1.4.2\"}}");
	if (fragments)
		add(&tf, "openclaw/base.d/10-gateway.yaml", "gateway: {port: 18789}\n");
	if (own)
		add(&tf, "openclaw/nodes/gw-a.d/20-logging.yaml", "logging: {level: debug}\n");
	treefiles_sort(&tf);
	assert_int_equal(desired_load(&tf, schemas, NULL, &ds, &diags), 0);
	diag_list_free(&diags);
	treefiles_free(&tf);
	return ds;
}

static void test_path(void **state)
{
	(void)state;
	struct cf_err err;
	char *p;
	setenv("OPENCLAW_CONFIG_PATH", "/x/openclaw.json", 1);
	setenv("HOME", "/home/gw", 1);
	assert_string_equal(p = openclaw_config_path(&err), "/x/openclaw.json");
	free(p);
	setenv("OPENCLAW_CONFIG_PATH", "", 1);
	assert_string_equal(p = openclaw_config_path(&err), "/home/gw/.openclaw/openclaw.json");
	free(p);
	unsetenv("OPENCLAW_CONFIG_PATH");
	unsetenv("HOME");
	assert_null(openclaw_config_path(&err));
	assert_non_null(strstr(err.msg, "OPENCLAW_CONFIG_PATH"));
}

/* The table of passes: what is on disk before, what the plan writes, what is there after. */
static void test_plan_and_apply(void **state)
{
	(void)state;
	static const struct {
		bool fragments, own;
		const char *before; /* NULL: no file */
		bool writes;
		const char *after; /* NULL: no file */
	} rows[] = {
		{false, false, NULL, false, NULL},
		{false, false, "{\"operator\":true}\n", false, "{\"operator\":true}\n"},
		{true, false, NULL, true, "{\"gateway\":{\"port\":18789}}\n"},
		{true, true, "{\"gateway\":{\"port\":18789}}\n", true,
		 "{\"gateway\":{\"port\":18789},\"logging\":{\"level\":\"debug\"}}\n"},
		{true, true, "{\"gateway\":{\"port\":18789},\"logging\":{\"level\":\"debug\"}}\n",
		 false, "{\"gateway\":{\"port\":18789},\"logging\":{\"level\":\"debug\"}}\n"},
	};
	char path[256];
	snprintf(path, sizeof(path), "%s/home/.openclaw/openclaw.json", dir);
	setenv("OPENCLAW_CONFIG_PATH", path, 1);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cf_err err;
		struct openclaw_config_plan plan;
		struct desired_state *ds = load(rows[i].fragments, rows[i].own);
		unlink(path);
		if (rows[i].before) {
			char folder[256];
			snprintf(folder, sizeof(folder), "%s/home/.openclaw", dir);
			assert_int_equal(fsutil_mkdir_p(folder, 0700, &err), 0);
			assert_int_equal(fsutil_write_atomic(path, rows[i].before,
							     strlen(rows[i].before), 0600, &err),
					 0);
		}
		assert_int_equal(openclaw_config_plan(ds, "gw-a", &plan, &err), 0);
		if ((plan.data != NULL) != rows[i].writes)
			fail_msg("row %zu: plan %s", i, plan.data ? plan.data : "(nothing)");
		assert_int_equal(openclaw_config_apply(&plan, &err), 0);
		openclaw_config_plan_free(&plan);
		char *have = NULL;
		size_t len = 0;
		int rc = fsutil_read_file(path, OPENCLAW_CONFIG_MAX, &have, &len, &err);
		if (!rows[i].after) {
			assert_int_equal(access(path, F_OK), -1);
		} else {
			struct stat st;
			assert_int_equal(rc, 0);
			assert_string_equal(have, rows[i].after);
			assert_int_equal(stat(path, &st), 0);
			assert_int_equal(st.st_mode & 0777, 0600);
		}
		free(have);
		desired_free(ds);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_plan_and_apply),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
