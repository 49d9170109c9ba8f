/* desired_openclaw: openclaw/base.d and openclaw/nodes/<host>.d read from the tree, checked as
 * tenant fragments are, and merged base first for one host; a host without fragments of its own
 * gets base.d's, a repository with neither gets nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "base/canon.h"
#include "base/diag.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "source/treefiles.h"

static struct schema_set *schemas;

static int setup(void **state)
{
	(void)state;
	struct cf_err err;
	return schema_set_load_embedded(&schemas, &err) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	schema_set_free(schemas);
	return 0;
}

static void add(struct treefiles *tf, const char *path, const char *text)
{
	struct cf_err err;
	assert_int_equal(treefiles_add(tf, path, text, strlen(text), &err), 0);
}

static void add_node(struct treefiles *tf, const char *name, int port)
{
	char path[128], text[512];
	snprintf(path, sizeof(path), "openclaw/nodes/%s.yaml", name);
	snprintf(text, sizeof(text),
		 "apiVersion: fleet.openclaw.io/v1alpha1\nkind: MacNode\nmetadata:\n  name: %s\n"
		 "spec:\n  address: http://127.0.0.1:%d\n  role: gateway\n  canary: false\n"
		 "  loadBalancer:\n    server: %s\n",
		 name, port, name);
	add(tf, path, text);
}

/* Two Macs, a fleet-wide base and gw-a's own fragments (given out of order: the tree sorts). */
static void fleet(struct treefiles *tf)
{
	add_node(tf, "gw-a", 18081);
	add_node(tf, "gw-b", 18082);
	add(tf, "openclaw.lock",
	    "{\"openclaw\":{\"version\":\"2026.7.1\",\"commit\":\"3f9c2ab\"},\"plugins\":[],"
	    "\"skills\":{\"semver\":\"1.4.2\"}}");
	add(tf, "openclaw/nodes/gw-a.d/30-tools.yaml", "tools: [shell]\nlogging: {file: a.log}\n");
	add(tf, "openclaw/base.d/10-gateway.yaml",
	    "gateway: {port: 18789, bind: loopback}\nlogging: {level: info}\n");
	add(tf, "openclaw/nodes/gw-a.d/20-logging.yaml", "logging: {level: debug}\n");
	add(tf, "openclaw/base.d/20-tools.yaml", "tools: [browser]\n");
}

static struct desired_state *load(struct treefiles *tf, char **printed)
{
	struct desired_state *ds = NULL;
	struct diag_list diags = {0};
	size_t len = 0;
	FILE *f = open_memstream(printed, &len);
	treefiles_sort(tf);
	desired_load(tf, schemas, NULL, &ds, &diags);
	diag_list_sort(&diags);
	diag_list_print(&diags, f);
	fclose(f);
	diag_list_free(&diags);
	return ds;
}

static char *config_of(const struct desired_state *ds, const char *host)
{
	struct json_object *merged = NULL;
	struct cf_err err;
	char *text = NULL;
	assert_int_equal(desired_openclaw_config(ds, host, &merged, &err), 0);
	if (!merged)
		return NULL;
	assert_int_equal(canon_json(merged, &text, NULL, &err), 0);
	json_object_put(merged);
	return text;
}

/* The merge table: each host's configuration, base.d first then the host's, in name order. */
static void test_merge_per_host(void **state)
{
	(void)state;
	static const struct {
		const char *host, *want;
	} rows[] = {
		{"gw-a", "{\"gateway\":{\"bind\":\"loopback\",\"port\":18789},\"logging\":{\"file\":"
			 "\"a.log\",\"level\":\"debug\"},\"tools\":[\"shell\"]}"},
		{"gw-b", "{\"gateway\":{\"bind\":\"loopback\",\"port\":18789},\"logging\":{\"level\":"
			 "\"info\"},\"tools\":[\"browser\"]}"},
	};
	struct treefiles tf = {0};
	char *printed = NULL;
	fleet(&tf);
	struct desired_state *ds = load(&tf, &printed);
	assert_string_equal(printed, "");
	assert_non_null(ds);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *got = config_of(ds, rows[i].host);
		assert_non_null(got);
		assert_string_equal(got, rows[i].want);
		free(got);
	}
	free(printed);
	desired_free(ds);
	treefiles_free(&tf);
}

static void test_no_fragments_no_config(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	char *printed = NULL;
	add_node(&tf, "gw-a", 18081);
	add(&tf, "openclaw.lock",
	    "{\"openclaw\":{\"version\":\"2026.7.1\",\"commit\":\"3f9c2ab\"},\"plugins\":[],"
	    "\"skills\":{\"semver\":\"1.4.2\"}}");
	struct desired_state *ds = load(&tf, &printed);
	assert_non_null(ds);
	assert_null(config_of(ds, "gw-a"));
	free(printed);
	desired_free(ds);
	treefiles_free(&tf);
}

/* What validate says, located: each bad file on its own line. */
static void test_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *path, *text, *said;
	} rows[] = {
		{"openclaw/base.d/gateway.yaml", "a: 1\n", "named NN-name.yaml"},
		{"openclaw/base.d/sub/10-x.yaml", "a: 1\n", "no directories"},
		{"openclaw/nodes/gw-z.d/10-x.yaml", "a: 1\n", "no MacNode named \"gw-z\""},
		{"openclaw/nodes/gw-a.x/10-x.yaml", "a: 1\n", "openclaw/nodes/<host>.d/NN-name.yaml"},
		{"openclaw/base.d/10-list.yaml", "- a\n- b\n", "openclaw/base.d/10-list.yaml:"},
		{"openclaw/nodes/gw-a.d/10-secret.yaml", "gateway: {token: hunter2-hunter2}\n",
		 "openclaw/nodes/gw-a.d/10-secret.yaml:1:"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct treefiles tf = {0};
		char *printed = NULL;
		fleet(&tf);
		add(&tf, rows[i].path, rows[i].text);
		struct desired_state *ds = load(&tf, &printed);
		if (ds || !strstr(printed, rows[i].said))
			fail_msg("%s: loaded %s, said: %s", rows[i].path, ds ? "yes" : "no", printed);
		free(printed);
		desired_free(ds);
		treefiles_free(&tf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_per_host),
		cmocka_unit_test(test_no_fragments_no_config),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
