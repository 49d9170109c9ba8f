/* artifact_cache in a temporary directory: a fetch kept only when its bytes are the pinned
 * digest, a corrupt or truncated entry removed and fetched again, eviction least recently used
 * first that never touches the current or previous build; then the readings that decide a
 * restart: the depth-1 tree (install_tree) and one `config validate` or `config lint` run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "act/prerestart.h"
#include "base/canon.h"
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "reconcilers/artifact_cache.h"
#include "reconcilers/install_tree.h"

static char dir[PATH_MAX - 256]; /* room for an entry's path under it */

static int setup(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/cf-artifacts.XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	struct cf_err err;
	fsutil_remove_tree(dir, &err);
	return 0;
}

/* What a fetch writes: ctx is the file's content. */
static int fetch_bytes(void *ctx, const char *tmp_dir, struct cf_err *err)
{
	char path[PATH_MAX];
	const char *bytes = ctx;
	snprintf(path, sizeof(path), "%s/openclaw-2026.7.1.tgz", tmp_dir);
	return fsutil_write_atomic(path, bytes, strlen(bytes), 0644, err);
}

static int fetch_fails(void *ctx, const char *tmp_dir, struct cf_err *err)
{
	(void)ctx;
	(void)tmp_dir;
	return cf_err_set(err, "npm error code ENOTFOUND");
}

static void digest_of(const char *bytes, char out[65])
{
	canon_sha256_hex(bytes, strlen(bytes), out);
}

/* How many entries (directories named by a sha256) the cache holds. */
static size_t entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	assert_non_null(d);
	while ((e = readdir(d)))
		n += strlen(e->d_name) == 64 && strspn(e->d_name, "0123456789abcdef") == 64;
	closedir(d);
	return n;
}

static void test_fetch_verifies(void **state)
{
	(void)state;
	struct artifact_cache c = {.dir = dir};
	struct cf_err err;
	char want[65], *path = NULL;
	bool removed;

	digest_of("good bytes\n", want);
	assert_int_equal(artifact_cache_lookup(&c, want, &path, &removed, &err), 0);
	assert_int_equal(artifact_cache_fetch(&c, want, "openclaw@2026.7.1", fetch_bytes,
					      (void *)"tampered bytes\n", &path, &err),
			 ARTIFACT_DIGEST_MISMATCH);
	assert_null(path);
	assert_non_null(strstr(err.msg, want));
	char got[65];
	digest_of("tampered bytes\n", got);
	assert_non_null(strstr(err.msg, got));
	assert_non_null(strstr(err.msg, "openclaw@2026.7.1"));
	assert_int_equal(entries(), 0);

	assert_int_equal(artifact_cache_fetch(&c, want, "openclaw@2026.7.1", fetch_fails, NULL, &path,
					      &err),
			 -1);
	assert_string_equal(err.msg, "npm error code ENOTFOUND");

	assert_int_equal(artifact_cache_fetch(&c, want, "openclaw@2026.7.1", fetch_bytes,
					      (void *)"good bytes\n", &path, &err),
			 0);
	assert_non_null(strstr(path, want));
	assert_non_null(strstr(path, "/openclaw-2026.7.1.tgz"));
	free(path);
	assert_int_equal(artifact_cache_lookup(&c, want, &path, &removed, &err), 1);
	assert_false(removed);
	free(path);
	assert_int_equal(artifact_cache_lookup(&c, "not-a-digest", &path, &removed, &err), -1);
}

static void test_corrupt_entry_is_refetched(void **state)
{
	(void)state;
	struct artifact_cache c = {.dir = dir};
	struct cf_err err;
	char want[65], *path = NULL;
	bool removed;

	digest_of("whole tarball\n", want);
	assert_int_equal(artifact_cache_fetch(&c, want, "openclaw@2026.7.1", fetch_bytes,
					      (void *)"whole tarball\n", &path, &err),
			 0);
	assert_int_equal(truncate(path, 5), 0);
	free(path);
	assert_int_equal(artifact_cache_lookup(&c, want, &path, &removed, &err), 0);
	assert_true(removed);
	assert_null(path);
	assert_int_equal(entries(), 0);
	assert_int_equal(artifact_cache_fetch(&c, want, "openclaw@2026.7.1", fetch_bytes,
					      (void *)"whole tarball\n", &path, &err),
			 0);
	free(path);
	assert_int_equal(artifact_cache_lookup(&c, want, &path, &removed, &err), 1);
	free(path);
}

/* Sets an entry's last use to an epoch second, for a fixed eviction order. */
static void used_at(const char *sha256, time_t at)
{
	char path[PATH_MAX];
	struct timeval tv[2] = {{at, 0}, {at, 0}};
	snprintf(path, sizeof(path), "%s/%.64s", dir, sha256);
	assert_int_equal(utimes(path, tv), 0);
}

static void test_eviction(void **state)
{
	(void)state;
	/* Four 10-byte builds in a 25-byte cache. */
	static const char *const builds[] = {"build-a-1\n", "build-b-2\n", "build-c-3\n",
					     "build-d-4\n"};
	char sha[4][65], *path = NULL, probe[PATH_MAX];
	struct artifact_cache c = {.dir = dir, .max_bytes = 25};
	struct cf_err err;
	size_t evicted;

	for (int i = 0; i < 4; i++) {
		digest_of(builds[i], sha[i]);
		assert_int_equal(artifact_cache_fetch(&c, sha[i], "openclaw", fetch_bytes,
						      (void *)builds[i], &path, &err),
				 0);
		free(path);
		used_at(sha[i], 1000 + i);
	}
	/* a and b are the oldest, but a is the previous build and b the current one */
	assert_int_equal(artifact_cache_set_current(&c, sha[0], &err), 0);
	assert_int_equal(artifact_cache_set_current(&c, sha[1], &err), 0);
	/* a fetch a crash cut short */
	snprintf(probe, sizeof(probe), "%s/%s.tmp-abc123", dir, sha[2]);
	assert_int_equal(mkdir(probe, 0700), 0);

	assert_int_equal(artifact_cache_evict(&c, &evicted, &err), 0);
	assert_int_equal(evicted, 2);
	bool removed;
	assert_int_equal(artifact_cache_lookup(&c, sha[0], &path, &removed, &err), 1);
	free(path);
	assert_int_equal(artifact_cache_lookup(&c, sha[1], &path, &removed, &err), 1);
	free(path);
	assert_int_equal(artifact_cache_lookup(&c, sha[2], &path, &removed, &err), 0);
	assert_int_equal(artifact_cache_lookup(&c, sha[3], &path, &removed, &err), 0);
	assert_int_not_equal(access(probe, F_OK), 0);

	/* The pinned two stay even when they alone pass the limit. */
	c.max_bytes = 1;
	assert_int_equal(artifact_cache_evict(&c, &evicted, &err), 0);
	assert_int_equal(evicted, 0);
	assert_int_equal(entries(), 2);

	/* A rollback to a: b becomes the previous build, and both stay. */
	assert_int_equal(artifact_cache_set_current(&c, sha[0], &err), 0);
	char builds_path[PATH_MAX], *text = NULL;
	size_t len;
	snprintf(builds_path, sizeof(builds_path), "%s/builds.json", dir);
	assert_int_equal(fsutil_read_file(builds_path, 4096, &text, &len, &err), 0);
	char want[200];
	snprintf(want, sizeof(want), "{\"current\":\"%s\",\"previous\":\"%s\"}\n", sha[0], sha[1]);
	assert_string_equal(text, want);
	free(text);
}

/* ---- the depth-1 tree ---- */

static void read_tree(const char *json, struct installed_state *st)
{
	struct json_object *root = NULL;
	struct cf_err err;
	memset(st, 0, sizeof(*st));
	assert_int_equal(jsonparse_object(json, strlen(json), 16, &root, &err), 0);
	assert_int_equal(install_tree_read(root, st, &err), 0);
	json_object_put(root);
}

static void test_tree(void **state)
{
	(void)state;
	struct installed_state st;

	read_tree("{\"dependencies\":{\"openclaw\":{\"version\":\"2026.7.1\",\"dependencies\":"
		  "{\"undici\":{\"version\":\"7.1.0\"}}},"
		  "\"@openclaw/plugin-slack\":{\"version\":\"2026.7.0\"}}}",
		  &st);
	assert_string_equal(st.openclaw, "2026.7.1");
	assert_int_equal(st.nplugins, 1);
	assert_null(st.duplicates);
	assert_null(st.unmet);
	installed_state_free(&st);

	read_tree("{\"dependencies\":{\"openclaw\":{\"version\":\"2026.7.1\",\"dependencies\":{"
		  "\"@openclaw/plugin-slack\":{\"version\":\"2026.6.0\"},"
		  "\"@openclaw/sdk\":{\"required\":\"^2\",\"missing\":true},"
		  "\"zod\":{\"version\":\"3.0.0\",\"invalid\":\"\\\"^4\\\" from node_modules/openclaw\"}}},"
		  "\"@openclaw/plugin-slack\":{\"version\":\"2026.7.0\",\"dependencies\":{"
		  "\"left-pad\":{\"required\":\"1\",\"peerMissing\":true}}}}}",
		  &st);
	assert_string_equal(st.duplicates, "@openclaw/plugin-slack 2026.7.0 (global) and 2026.6.0 "
					   "(inside openclaw@2026.7.1)");
	assert_string_equal(st.unmet, "openclaw@2026.7.1 needs @openclaw/sdk@^2 (missing); "
				      "openclaw@2026.7.1 needs zod, 3.0.0 is installed (invalid: "
				      "\"^4\" from node_modules/openclaw); @openclaw/plugin-slack@"
				      "2026.7.0 needs left-pad@1 (missing)");
	installed_state_free(&st);
}

/* ---- one config check ---- */

static enum prerestart_config_verdict judge(bool json, int exit_code, const char *out,
					    const char *errtext, char *finding)
{
	struct proc_result r = {.out = (char *)out,
				.err = (char *)errtext,
				.out_len = strlen(out),
				.err_len = strlen(errtext),
				.exited = true,
				.exit_code = exit_code};
	return prerestart_judge_config(&r, json, finding, 512);
}

static void test_config_judge(void **state)
{
	(void)state;
	char f[512];
	assert_int_equal(judge(true, 0, "{\"valid\":true,\"issues\":[]}", "", f),
			 PRERESTART_CONFIG_VALID);
	assert_int_equal(judge(true, 1,
			       "{\"valid\":false,\"issues\":[{\"path\":\"gateway.port\","
			       "\"message\":\"expected integer\"}]}",
			       "", f),
			 PRERESTART_CONFIG_INVALID);
	assert_string_equal(f, "gateway.port: expected integer");
	assert_int_equal(judge(true, 1, "{\"ok\":false,\"errors\":[\"bad key x\"]}", "", f),
			 PRERESTART_CONFIG_INVALID);
	assert_string_equal(f, "bad key x");
	assert_int_equal(judge(true, 2, "", "error: unknown command 'validate'\n", f),
			 PRERESTART_CONFIG_UNSUPPORTED);
	assert_int_equal(judge(false, 1, "", "gateway.port: expected integer\n", f),
			 PRERESTART_CONFIG_INVALID);
	assert_string_equal(f, "gateway.port: expected integer");
	assert_int_equal(judge(false, 0, "Config valid\n", "", f), PRERESTART_CONFIG_VALID);
	assert_int_equal(judge(true, 0, "not json", "", f), PRERESTART_CONFIG_UNKNOWN);
	assert_int_equal(judge(true, 127, "", "openclaw: not found", f), PRERESTART_CONFIG_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fetch_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_entry_is_refetched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eviction, setup, teardown),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_config_judge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
