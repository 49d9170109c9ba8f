/* yamledit: the edits `clawfleet rollout` commits, on the example repository's Promotion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/fsutil.h"
#include "desired/yamledit.h"

#define PROMOTION "manifests/example-repo/clawfleet/promotion.yaml"

static char *promotion(size_t *len)
{
	char *data = NULL;
	struct cf_err err;
	assert_int_equal(fsutil_read_file(PROMOTION, 1u << 20, &data, len, &err), 0);
	return data;
}

/* The lines of a that b does not have, and of b that a does not have, counted (same-length
 * files compared line by line; otherwise the count of lines b adds). */
static int lines_differing(const char *a, const char *b)
{
	int n = 0;
	while (*a || *b) {
		const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
		size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
		if (la != lb || memcmp(a, b, la) != 0)
			n++;
		a += la + (ea ? 1 : 0);
		b += lb + (eb ? 1 : 0);
	}
	return n;
}

static char *set(const char *in, size_t len, const char *key1, const char *key2, const char *key3,
		 const char *value, enum yamledit_kind kind, bool *changed)
{
	const char *path[] = {key1, key2, key3};
	size_t depth = key3 ? 3 : 2;
	char *out = NULL;
	size_t olen = 0;
	struct cf_err err = {{0}};
	int rc = yamledit_set(in, len, path, depth, value, kind, &out, &olen, changed, &err);
	if (rc < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(strlen(out), olen);
	return out;
}

static void existing_key_is_a_one_line_diff(void **state)
{
	(void)state;
	size_t len;
	char *in = promotion(&len);
	bool changed;
	char *out = set(in, len, "spec", "suspend", NULL, "true", YAMLEDIT_RAW, &changed);
	assert_true(changed);
	assert_int_equal(lines_differing(in, out), 1);
	assert_non_null(strstr(out, "\n  suspend: true\n"));
	/* Comments and the Flux setter marker stay. */
	assert_non_null(strstr(out, "# The build the fleet should run."));
	assert_non_null(strstr(
		out, "imageRef: ghcr.io/example/openclaw-gateway:2026.7.1 # {\"$imagepolicy\": "
		     "\"flux-system:openclaw-gateway\"}\n"));
	free(out);

	out = set(in, len, "spec", "tag", NULL, "v2026.8.0", YAMLEDIT_STRING, &changed);
	assert_int_equal(lines_differing(in, out), 1);
	assert_non_null(strstr(out, "\n  tag: v2026.8.0\n"));
	free(out);

	/* The image's tag, keeping the marker comment after it. */
	out = set(in, len, "spec", "imageRef", NULL, "ghcr.io/example/openclaw-gateway:2026.8.0",
		  YAMLEDIT_STRING, &changed);
	assert_int_equal(lines_differing(in, out), 1);
	assert_non_null(strstr(out, "imageRef: ghcr.io/example/openclaw-gateway:2026.8.0 # "
				    "{\"$imagepolicy\": \"flux-system:openclaw-gateway\"}\n"));
	free(out);
	free(in);
}

static void same_value_changes_nothing(void **state)
{
	(void)state;
	size_t len;
	char *in = promotion(&len);
	bool changed = true;
	char *out = set(in, len, "spec", "abort", NULL, "false", YAMLEDIT_RAW, &changed);
	assert_false(changed);
	assert_string_equal(out, in);
	free(out);
	free(in);
}

static void missing_keys_are_inserted_under_their_parent(void **state)
{
	(void)state;
	size_t len;
	char *in = promotion(&len);
	bool changed;
	char *a = set(in, len, "spec", "approval", "tag", "v2026.7.1", YAMLEDIT_STRING, &changed);
	char *b = set(a, strlen(a), "spec", "approval", "through", "50", YAMLEDIT_RAW, &changed);
	assert_true(changed);
	assert_non_null(strstr(b, "  abort: false\n  approval:\n    tag: v2026.7.1\n"
				  "    through: 50\n"));
	/* A string that would read as something else is quoted. */
	char *c = set(b, strlen(b), "spec", "approval", "through", "true", YAMLEDIT_STRING, &changed);
	assert_non_null(strstr(c, "    through: \"true\"\n"));
	char *d = set(c, strlen(c), "spec", "retry", "quarantinedAt", "2026-12-07T05:10:00.000Z",
		      YAMLEDIT_STRING, &changed);
	assert_non_null(strstr(d, "  retry:\n    quarantinedAt: \"2026-12-07T05:10:00.000Z\"\n"));
	/* Under a mapping that already has keys, at their indentation. */
	char *e = set(in, len, "spec", "canary", "gates", "[50, 100]", YAMLEDIT_RAW, &changed);
	assert_non_null(strstr(e, "    maxHold: 30m\n    gates: [50, 100]\n  rollback:\n"));
	assert_int_equal(lines_differing(in, e) > 0, 1);
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
	free(in);
}

static void quoting_style_is_kept(void **state)
{
	(void)state;
	const char *in = "spec:\n  tag: 'v1' # pinned\n  skillSemver: \"1.0.0\"\n";
	bool changed;
	char *a = set(in, strlen(in), "spec", "tag", NULL, "v2", YAMLEDIT_STRING, &changed);
	assert_string_equal(a, "spec:\n  tag: 'v2' # pinned\n  skillSemver: \"1.0.0\"\n");
	char *b = set(a, strlen(a), "spec", "skillSemver", NULL, "1.0.1", YAMLEDIT_STRING, &changed);
	assert_string_equal(b, "spec:\n  tag: 'v2' # pinned\n  skillSemver: \"1.0.1\"\n");
	/* The last line without a newline: the new key goes on a line of its own. */
	const char *bare = "spec:\n  tag: v1";
	char *c = set(bare, strlen(bare), "spec", "suspend", NULL, "true", YAMLEDIT_RAW, &changed);
	assert_string_equal(c, "spec:\n  tag: v1\n  suspend: true\n");
	free(a);
	free(b);
	free(c);
}

static void refused_shapes_change_nothing(void **state)
{
	(void)state;
	const char *cases[] = {
		"spec: {tag: v1}\n",	       /* a flow mapping */
		"spec:\n  suspend: |\n    x\n", /* a block scalar */
		"spec:\n  suspend: [true]\n",  /* not a value */
		"- a\n",		       /* not a mapping */
		"spec: [\n",		       /* broken YAML */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path[] = {"spec", "suspend"};
		char *out = (char *)1;
		size_t olen;
		bool changed;
		struct cf_err err = {{0}};
		assert_int_equal(yamledit_set(cases[i], strlen(cases[i]), path, 2, "true",
					      YAMLEDIT_RAW, &out, &olen, &changed, &err),
				 -1);
		assert_null(out);
		assert_true(err.msg[0] != '\0');
	}
}

static void get_reads_a_value(void **state)
{
	(void)state;
	size_t len;
	char *in = promotion(&len);
	const char *tag[] = {"spec", "tag"}, *gates[] = {"spec", "canary", "gates"},
		   *canary[] = {"spec", "canary"};
	char *v = NULL;
	struct cf_err err;
	assert_int_equal(yamledit_get(in, len, tag, 2, &v, &err), 0);
	assert_string_equal(v, "v2026.7.1");
	free(v);
	assert_int_equal(yamledit_get(in, len, gates, 3, &v, &err), 1);
	assert_int_equal(yamledit_get(in, len, canary, 2, &v, &err), 1);
	assert_int_equal(yamledit_get("a: [", 4, tag, 2, &v, &err), -1);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(existing_key_is_a_one_line_diff),
		cmocka_unit_test(same_value_changes_nothing),
		cmocka_unit_test(missing_keys_are_inserted_under_their_parent),
		cmocka_unit_test(quoting_style_is_kept),
		cmocka_unit_test(refused_shapes_change_nothing),
		cmocka_unit_test(get_reads_a_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
