/* materialise: tenant fragments from a desired state loaded (desired_load) from in-memory files,
 * written into a temporary tenants root: content-addressed directories, link flips, channels,
 * removed tenants, empty plans when nothing changed, and cleanup after a crash. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "reconcilers/materialise.h"
#include "source/treefiles.h"

#define SKILLS_DIR "/var/db/openclaw/skills"

static struct schema_set *schemas;

struct fixture {
	char dir[64];
	char root[PATH_MAX]; /* the tenants root */
	struct treefiles files;
	struct desired_state *ds;
};

#define SLICE_FMT                                                                          \
	"apiVersion: fleet.openclaw.io/v1alpha1\n"                                          \
	"kind: TenantSlice\n"                                                               \
	"metadata: {name: %s}\n"                                                            \
	"spec: {channel: %s}\n"

static const char acme_base[] = "# Slice boundary only.\n"
				"tools:\n  allow: [browser, files, shell]\n"
				"quota:\n  diskMiB: 2048\n";
static const char acme_canary[] = "quota:\n  diskMiB: 4096\ntools:\n  allow: [browser, files]\n";
static const char acme_skills[] = "link: next\nnamespaces: [acme-tools, shared]\n";
static const char globex_base[] = "tools:\n  allow: [files]\n";

static int group_setup(void **state)
{
	(void)state;
	struct cf_err err;
	if (schema_set_load_embedded(&schemas, &err) < 0) {
		fprintf(stderr, "schemas: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	schema_set_free(schemas);
	return 0;
}

static void pathf(char out[PATH_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pathf(char out[PATH_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && n < PATH_MAX);
}

/* Adds or replaces a file of the desired tree. */
static void put(struct fixture *f, const char *path, const char *text)
{
	struct cf_err err;
	for (size_t i = 0; i < f->files.n; i++) {
		if (strcmp(f->files.v[i].path, path) != 0)
			continue;
		free(f->files.v[i].data);
		f->files.v[i].data = strdup(text);
		f->files.v[i].len = strlen(text);
		return;
	}
	assert_int_equal(treefiles_add(&f->files, path, text, strlen(text), &err), 0);
}

static void drop(struct fixture *f, const char *prefix)
{
	size_t k = 0;
	for (size_t i = 0; i < f->files.n; i++) {
		if (strncmp(f->files.v[i].path, prefix, strlen(prefix)) == 0) {
			free(f->files.v[i].path);
			free(f->files.v[i].data);
		} else {
			f->files.v[k++] = f->files.v[i];
		}
	}
	f->files.n = k;
}

static void put_slices(struct fixture *f, const char *acme_channel, bool with_globex)
{
	char text[1024];
	int n = snprintf(text, sizeof(text), SLICE_FMT, "acme", acme_channel);
	if (with_globex)
		snprintf(text + n, sizeof(text) - (size_t)n, "---\n" SLICE_FMT, "globex", "stable");
	put(f, "clawfleet/tenants.yaml", text);
}

static void load(struct fixture *f)
{
	struct diag_list diags = {0};
	desired_free(f->ds);
	f->ds = NULL;
	treefiles_sort(&f->files);
	int rc = desired_load(&f->files, schemas, NULL, &f->ds, &diags);
	if (rc != 0)
		diag_list_print(&diags, stderr);
	assert_int_equal(rc, 0);
	diag_list_free(&diags);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-materialise-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/etc/openclaw/tenants", f->dir);
	put_slices(f, "canary", true);
	put(f, "tenants/acme/gateway.d/10-base.yaml", acme_base);
	put(f, "tenants/acme/gateway.d/20-canary.yaml", acme_canary);
	put(f, "tenants/acme/skills.d/10-canary.yaml", acme_skills);
	put(f, "tenants/globex/gateway.d/10-base.yaml", globex_base);
	load(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct cf_err err;
	fsutil_remove_tree(f->dir, &err);
	desired_free(f->ds);
	treefiles_free(&f->files);
	free(f);
	return 0;
}

static char *plan_string(const struct materialise_plan *p)
{
	static char buf[1024];
	buf[0] = '\0';
	for (size_t i = 0; i < p->n; i++) {
		size_t len = strlen(buf);
		const char *name = p->v[i].name;
		/* Content addresses vary with the bytes; show only which tenant's they are. */
		char shown[128];
		if (name[0] == '.' && strstr(name, ".tmp-"))
			snprintf(shown, sizeof(shown), "<stray>");
		else if (name[0] == '.')
			snprintf(shown, sizeof(shown), "%.*s", (int)(strlen(name) - 13), name);
		else
			snprintf(shown, sizeof(shown), "%s", name);
		snprintf(buf + len, sizeof(buf) - len, "%s%s %s", i ? ", " : "",
			 materialise_action_name(p->v[i].kind), shown);
	}
	return buf;
}

/* One reconcile: observe, plan, apply. Returns the plan as text ("write acme, prune .acme"). */
static const char *reconcile_with(struct fixture *f, const struct materialise_channel *ch,
				  size_t nch)
{
	struct materialise_state st;
	struct materialise_plan plan;
	struct cf_err err = {{0}};
	struct materialise_input in = {f->ds, &f->files, ch, nch, SKILLS_DIR};
	if (materialise_observe(f->root, &st, &err) < 0)
		fail_msg("%s", err.msg);
	if (materialise_plan(&in, &st, &plan, &err) < 0)
		fail_msg("%s", err.msg);
	const char *shown = plan_string(&plan);
	if (materialise_apply(f->root, &plan, &err) < 0)
		fail_msg("%s", err.msg);
	materialise_plan_free(&plan);
	materialise_state_free(&st);
	return shown;
}

static const char *reconcile(struct fixture *f)
{
	return reconcile_with(f, NULL, 0);
}

static char *read_in(struct fixture *f, const char *rel)
{
	char path[PATH_MAX], *data = NULL;
	size_t len;
	struct cf_err err;
	pathf(path, "%s/%s", f->root, rel);
	if (fsutil_read_file(path, 1 << 20, &data, &len, &err) < 0)
		fail_msg("%s", err.msg);
	return data;
}

static void expect_file(struct fixture *f, const char *rel, const char *want)
{
	char *got = read_in(f, rel);
	assert_string_equal(got, want);
	free(got);
}

/* The directory a tenant's link names. */
static void link_of(struct fixture *f, const char *tenant, char out[PATH_MAX])
{
	char path[PATH_MAX];
	pathf(path, "%s/%s", f->root, tenant);
	ssize_t n = readlink(path, out, PATH_MAX - 1);
	assert_true(n > 0);
	out[n] = '\0';
}

static bool exists_in(struct fixture *f, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;
	pathf(path, "%s/%s", f->root, rel);
	return lstat(path, &st) == 0;
}

static size_t entries(struct fixture *f)
{
	struct materialise_state st;
	struct cf_err err;
	assert_int_equal(materialise_observe(f->root, &st, &err), 0);
	size_t n = st.n;
	materialise_state_free(&st);
	return n;
}

static void test_materialises_every_tenant(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;

	assert_string_equal(reconcile(f), "write acme, write globex");
	link_of(f, "acme", dir);
	assert_int_equal(strlen(dir), strlen(".acme-") + 12);
	assert_memory_equal(dir, ".acme-", 6);
	expect_file(f, "acme/gateway.json",
		    "{\"quota\":{\"diskMiB\":4096},\"tools\":{\"allow\":[\"browser\",\"files\"]}}");
	expect_file(f, "acme/skills.json",
		    "{\"channel\":\"canary\",\"link\":\"next\",\"namespaces\":[\"acme-tools\","
		    "\"shared\"],\"skillsDir\":\"" SKILLS_DIR "/next\"}");
	expect_file(f, "acme/gateway.d/10-base.yaml", acme_base);
	expect_file(f, "acme/gateway.d/20-canary.yaml", acme_canary);
	expect_file(f, "acme/skills.d/10-canary.yaml", acme_skills);
	assert_false(exists_in(f, "acme/doctor.json"));
	assert_false(exists_in(f, "acme/doctor.d"));
	/* A tenant without skills fragments still learns where its skills are. */
	expect_file(f, "globex/skills.json",
		    "{\"channel\":\"stable\",\"skillsDir\":\"" SKILLS_DIR "/current\"}");
	expect_file(f, "globex/gateway.json", "{\"tools\":{\"allow\":[\"files\"]}}");
	/* The gateway runs as another user and must be able to read it all. */
	pathf(path, "%s/%s", f->root, dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	pathf(path, "%s/%s/gateway.d/10-base.yaml", f->root, dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* Two links, two directories, nothing else. */
	assert_int_equal(entries(f), 4);
}

static void test_same_desired_state_plans_nothing(void **state)
{
	struct fixture *f = *state;
	char before[PATH_MAX], after[PATH_MAX];

	reconcile(f);
	link_of(f, "acme", before);
	assert_string_equal(reconcile(f), "");
	/* Reloading the same files gives the same content addresses. */
	load(f);
	assert_string_equal(reconcile(f), "");
	link_of(f, "acme", after);
	assert_string_equal(before, after);
}

static void test_fragment_change_flips_and_removes_the_old_dir(void **state)
{
	struct fixture *f = *state;
	char old_acme[PATH_MAX], new_acme[PATH_MAX], old_globex[PATH_MAX], now_globex[PATH_MAX];

	reconcile(f);
	link_of(f, "acme", old_acme);
	link_of(f, "globex", old_globex);
	put(f, "tenants/acme/gateway.d/20-canary.yaml", "quota:\n  diskMiB: 8192\n");
	load(f);
	assert_string_equal(reconcile(f), "write acme, prune .acme");
	link_of(f, "acme", new_acme);
	assert_string_not_equal(old_acme, new_acme);
	assert_false(exists_in(f, old_acme));
	expect_file(f, "acme/gateway.json",
		    "{\"quota\":{\"diskMiB\":8192},\"tools\":{\"allow\":[\"browser\",\"files\","
		    "\"shell\"]}}");
	expect_file(f, "acme/gateway.d/20-canary.yaml", "quota:\n  diskMiB: 8192\n");
	link_of(f, "globex", now_globex);
	assert_string_equal(old_globex, now_globex);
	assert_int_equal(entries(f), 4);
	assert_string_equal(reconcile(f), "");
}

static void test_channel_change_rewrites_skills_json(void **state)
{
	struct fixture *f = *state;
	const struct materialise_channel stable[] = {{"acme", CHANNEL_STABLE}};
	const struct materialise_channel canary[] = {{"globex", CHANNEL_CANARY}};

	reconcile(f);
	/* The controller's target overrides the TenantSlice channel. */
	assert_string_equal(reconcile_with(f, stable, 1), "write acme, prune .acme");
	expect_file(f, "acme/skills.json",
		    "{\"channel\":\"stable\",\"link\":\"next\",\"namespaces\":[\"acme-tools\","
		    "\"shared\"],\"skillsDir\":\"" SKILLS_DIR "/current\"}");
	assert_string_equal(reconcile_with(f, stable, 1), "");
	/* A target that does not name acme leaves it on its TenantSlice channel (canary). */
	assert_string_equal(reconcile_with(f, canary, 1),
			    "write acme, write globex, prune .acme, prune .globex");
	expect_file(f, "acme/skills.json",
		    "{\"channel\":\"canary\",\"link\":\"next\",\"namespaces\":[\"acme-tools\","
		    "\"shared\"],\"skillsDir\":\"" SKILLS_DIR "/next\"}");
	expect_file(f, "globex/skills.json",
		    "{\"channel\":\"canary\",\"skillsDir\":\"" SKILLS_DIR "/next\"}");

	/* The same through the TenantSlice itself. */
	put_slices(f, "stable", true);
	load(f);
	assert_string_equal(reconcile(f), "write acme, write globex, prune .acme, prune .globex");
	expect_file(f, "acme/skills.json",
		    "{\"channel\":\"stable\",\"link\":\"next\",\"namespaces\":[\"acme-tools\","
		    "\"shared\"],\"skillsDir\":\"" SKILLS_DIR "/current\"}");
	assert_int_equal(entries(f), 4);
}

static void test_removed_tenant_is_deleted(void **state)
{
	struct fixture *f = *state;
	char globex[PATH_MAX];

	reconcile(f);
	link_of(f, "globex", globex);
	drop(f, "tenants/globex/");
	put_slices(f, "canary", false);
	load(f);
	assert_string_equal(reconcile(f), "unlink globex, prune .globex");
	assert_false(exists_in(f, "globex"));
	assert_false(exists_in(f, globex));
	assert_true(exists_in(f, "acme/gateway.json"));
	assert_int_equal(entries(f), 2);
	assert_string_equal(reconcile(f), "");
}

static void test_converges_after_a_crash(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], acme[PATH_MAX];
	struct cf_err err;

	reconcile(f);
	link_of(f, "acme", acme);
	put(f, "tenants/acme/gateway.d/20-canary.yaml", "quota:\n  diskMiB: 1\n");
	load(f);
	/* Interrupted while building the new directory, while flipping the link, and while
	 * removing an old directory: each leaves only temporary names behind. */
	pathf(path, "%s/.acme-0123456789ab.tmp-Qw3rTy/gateway.d", f->root);
	assert_int_equal(fsutil_mkdir_p(path, 0755, &err), 0);
	pathf(path, "%s/.acme.tmp-AbC123", f->root);
	assert_int_equal(symlink(".acme-0123456789ab", path), 0);
	pathf(path, "%s/.acme-ba9876543210.tmp-zZ9yY8/gateway.json", f->root);
	assert_int_equal(fsutil_mkdir_p(path, 0755, &err), 0);
	link_of(f, "acme", path);
	assert_string_equal(path, acme);

	assert_string_equal(reconcile(f),
			    "clean <stray>, clean <stray>, clean <stray>, write acme, prune .acme");
	assert_int_equal(entries(f), 4);
	expect_file(f, "acme/gateway.json",
		    "{\"quota\":{\"diskMiB\":1},\"tools\":{\"allow\":[\"browser\",\"files\","
		    "\"shell\"]}}");
	assert_string_equal(reconcile(f), "");
}

static void test_crash_between_build_and_flip(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], acme[PATH_MAX];
	struct cf_err err;

	reconcile(f);
	link_of(f, "acme", acme);
	/* The directory is complete under its address but the link still names it... */
	pathf(path, "%s/acme", f->root);
	assert_int_equal(unlink(path), 0);
	assert_string_equal(reconcile(f), "write acme");
	link_of(f, "acme", path);
	assert_string_equal(path, acme);
	/* ...or the link is fine and its directory vanished. */
	pathf(path, "%s/%s", f->root, acme);
	assert_int_equal(fsutil_remove_tree(path, &err), 0);
	assert_string_equal(reconcile(f), "write acme");
	expect_file(f, "acme/gateway.d/10-base.yaml", acme_base);
	assert_string_equal(reconcile(f), "");
}

static void test_leaves_what_is_not_its_own(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct materialise_state st;
	struct materialise_plan plan;
	struct cf_err err = {{0}};

	/* A hand-made link and file beside clawfleet's are not touched. */
	assert_int_equal(fsutil_mkdir_p(f->root, 0755, &err), 0);
	pathf(path, "%s/legacy", f->root);
	assert_int_equal(symlink("/srv/legacy", path), 0);
	pathf(path, "%s/README", f->root);
	assert_int_equal(fsutil_write_atomic(path, "x", 1, 0644, &err), 0);
	reconcile(f);
	assert_string_equal(reconcile(f), "");
	assert_true(exists_in(f, "legacy"));
	assert_true(exists_in(f, "README"));

	/* A real directory where a tenant's link belongs is an error naming it. */
	pathf(path, "%s/acme", f->root);
	assert_int_equal(unlink(path), 0);
	pathf(path, "%s/acme/gateway.yaml", f->root);
	assert_int_equal(fsutil_mkdir_p(path, 0755, &err), 0);
	struct materialise_input in = {f->ds, &f->files, NULL, 0, SKILLS_DIR};
	assert_int_equal(materialise_observe(f->root, &st, &err), 0);
	assert_int_equal(materialise_plan(&in, &st, &plan, &err), 0);
	assert_string_equal(plan_string(&plan), "write acme");
	assert_int_equal(materialise_apply(f->root, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "tenant fragments: write acme"));
	assert_non_null(strstr(err.msg, "is a directory where clawfleet keeps a link"));
	assert_true(exists_in(f, "acme/gateway.yaml"));
	materialise_plan_free(&plan);
	materialise_state_free(&st);
}

static void test_tenant_names_are_checked_again(void **state)
{
	struct fixture *f = *state;
	struct materialise_state st = {0};
	struct materialise_plan plan;
	struct cf_err err = {{0}};
	char *saved = f->ds->tenants[0].name;

	f->ds->tenants[0].name = "../../etc";
	struct materialise_input in = {f->ds, &f->files, NULL, 0, SKILLS_DIR};
	assert_int_equal(materialise_plan(&in, &st, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "tenant"));
	assert_null(plan.v);
	f->ds->tenants[0].name = saved;
	assert_false(exists_in(f, ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_materialises_every_tenant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_desired_state_plans_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fragment_change_flips_and_removes_the_old_dir,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_channel_change_rewrites_skills_json, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_removed_tenant_is_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_converges_after_a_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_between_build_and_flip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leaves_what_is_not_its_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenant_names_are_checked_again, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("materialise", tests, group_setup, group_teardown);
}
