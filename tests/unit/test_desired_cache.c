/* desired_cache: a bad revision never replaces the last good desired state, and what people
 * read about it (desired_error_text) names the first problems where they are, in `clawfleet
 * validate`'s order and format, capped in number and length, with nothing a file name could use
 * to forge a line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/diag.h"
#include "desired/desired_cache.h"
#include "desired/schema.h"
#include "source/source.h"

#define SUMMARY "main@sha1:9e1d is invalid (2 errors); keeping main@sha1:2f0c"

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
}

static void test_summary_alone(void **state)
{
	(void)state;
	struct diag_list none = {0};
	char *t = desired_error_text(SUMMARY, NULL);
	assert_string_equal(t, SUMMARY);
	free(t);
	t = desired_error_text(SUMMARY, &none);
	assert_string_equal(t, SUMMARY);
	free(t);
}

static void test_first_problems_as_validate_prints_them(void **state)
{
	(void)state;
	struct diag_list dl = {0};
	diag_add(&dl, "openclaw/nodes/spare.yaml", 6, 9, "MacNode/spare", "spec.role",
		 "must be one of gateway, worker, notifier; got \"bogus\"");
	diag_add(&dl, "openclaw/nodes/zz.yaml", 2, 4, NULL, NULL,
		 "mapping values are not allowed in this context");
	char *t = desired_error_text(SUMMARY, &dl);
	assert_string_equal(t, SUMMARY "\n"
			       "openclaw/nodes/spare.yaml:6:9: MacNode/spare: spec.role: must be one "
			       "of gateway, worker, notifier; got \"bogus\"\n"
			       "openclaw/nodes/zz.yaml:2:4: -: -: mapping values are not allowed in "
			       "this context");
	free(t);
	diag_list_free(&dl);
}

static void test_capped_in_number(void **state)
{
	(void)state;
	struct diag_list dl = {0};
	for (int i = 1; i <= DESIRED_ERRORS_SHOWN + 2; i++)
		diag_add(&dl, "a.yaml", i, 1, NULL, NULL, "problem %d", i);
	dl.dropped = 3; /* past DIAG_MAX: counted, not kept */
	char *t = desired_error_text("x", &dl);
	assert_string_equal(t, "x\n"
			       "a.yaml:1:1: -: -: problem 1\n"
			       "a.yaml:2:1: -: -: problem 2\n"
			       "a.yaml:3:1: -: -: problem 3\n"
			       "a.yaml:4:1: -: -: problem 4\n"
			       "a.yaml:5:1: -: -: problem 5\n"
			       "... and 5 more");
	free(t);
	diag_list_free(&dl);
}

/* A long line is cut at DESIRED_ERROR_LINE_MAX bytes, "..." included, never inside a UTF-8
 * sequence; control characters and bytes that are not UTF-8 show as "?". */
static void test_capped_in_length_and_clean(void **state)
{
	(void)state;
	struct diag_list dl = {0};
	char msg[1000];
	size_t prefix = strlen("f.yaml:1:1: -: -: ");
	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	/* "é" (2 bytes) straddles the cut: it must not be split. */
	memcpy(msg + (DESIRED_ERROR_LINE_MAX - 3 - prefix - 1), "\xc3\xa9", 2);
	diag_add(&dl, "f.yaml", 1, 1, NULL, NULL, "%s", msg);
	diag_add(&dl, "g\nforged:1:1: -: -: yes\x1b[2J\xff.yaml", 1, 1, NULL, NULL, "ok \xe2\x9c\x93");
	char *t = desired_error_text("x", &dl);
	char *first = strchr(t, '\n') + 1, *second = strchr(first, '\n') + 1;
	size_t first_len = (size_t)(second - 1 - first);
	/* The "é" and "..." would pass the cap by one byte: the "é" is left out whole. */
	assert_int_equal(first_len, DESIRED_ERROR_LINE_MAX - 1);
	assert_memory_equal(second - 5, "m...", 4);
	assert_string_equal(second, "g?forged:1:1: -: -: yes?[2J?.yaml:1:1: -: -: ok \xe2\x9c\x93");
	free(t);
	diag_list_free(&dl);
}

/* Through the cache: the bad revision's problems come sorted as validate prints them, the count
 * is in err, and the last good state stays. */
static void test_refresh_keeps_the_last_good_state(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_desired_cache.XXXXXX";
	struct schema_set *schemas = NULL;
	struct source *src = NULL;
	struct desired_cache cache = {0};
	struct diag_list diags = {0};
	struct cf_err err;
	assert_non_null(mkdtemp(dir));
	sh("cp -R manifests/example-repo/. %s", dir);
	assert_int_equal(schema_set_load_embedded(&schemas, &err), 0);
	struct source_spec spec = {.location = dir};
	assert_int_equal(source_open(&src, &spec, &err), 0);
	assert_int_equal(desired_cache_refresh(&cache, src, schemas, &diags, &err), DESIRED_CHANGED);
	assert_non_null(cache.ds);
	const struct desired_state *good = cache.ds;
	size_t good_nodes = good->nnodes;

	sh("printf 'kind: MacNode\\n  x: [\\n' >%s/openclaw/nodes/zz.yaml", dir);
	sh("printf 'apiVersion: fleet.openclaw.io/v1alpha1\\nkind: MacNode\\nmetadata:\\n  name: "
	   "spare\\nspec:\\n  address: http://127.0.0.1:1\\n  role: bogus\\n' "
	   ">%s/openclaw/nodes/spare.yaml",
	   dir);
	assert_int_equal(desired_cache_refresh(&cache, src, schemas, &diags, &err), -1);
	assert_ptr_equal(cache.ds, good);
	char want[512];
	snprintf(want, sizeof(want), "dir:%s is invalid (2 errors); keeping dir:%s", dir, dir);
	assert_string_equal(err.msg, want);
	assert_int_equal(diags.n, 2);
	assert_string_equal(diags.v[0].file, "openclaw/nodes/spare.yaml");
	assert_string_equal(diags.v[1].file, "openclaw/nodes/zz.yaml");
	char *t = desired_error_text(err.msg, &diags);
	assert_non_null(strstr(t, "\nopenclaw/nodes/spare.yaml:7:9: MacNode/spare: spec.role: "));
	assert_non_null(strstr(t, "\nopenclaw/nodes/zz.yaml:2:4: -: -: "));
	free(t);
	diag_list_free(&diags);

	/* Without a schema set of its own the cache loads the compiled CRDs for the revision it
	 * reads (the controller's way): the same verdicts. */
	sh("rm %s/openclaw/nodes/zz.yaml", dir);
	assert_int_equal(desired_cache_refresh(&cache, src, NULL, &diags, &err), -1);
	snprintf(want, sizeof(want), "dir:%s is invalid (1 error); keeping dir:%s", dir, dir);
	assert_string_equal(err.msg, want);
	assert_int_equal(diags.n, 1);
	assert_string_equal(diags.v[0].file, "openclaw/nodes/spare.yaml");
	diag_list_free(&diags);
	sh("rm %s/openclaw/nodes/spare.yaml", dir);
	assert_int_equal(desired_cache_refresh(&cache, src, NULL, &diags, &err), DESIRED_CHANGED);
	assert_int_equal(cache.ds->nnodes, good_nodes);

	desired_cache_clear(&cache);
	source_free(src);
	schema_set_free(schemas);
	sh("rm -rf %s", dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary_alone),
		cmocka_unit_test(test_first_problems_as_validate_prints_them),
		cmocka_unit_test(test_capped_in_number),
		cmocka_unit_test(test_capped_in_length_and_clean),
		cmocka_unit_test(test_refresh_keeps_the_last_good_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
