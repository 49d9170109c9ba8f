#include "reconcilers/install.h"

#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/canon.h"
#include "base/clock.h"
#include "base/failpoint.h"
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "base/proc.h"
#include "reconcilers/artifact_cache.h"
#include "reconcilers/install_tree.h"

#define NPM_NAME_MAX 214 /* npm's own limit */
#define VERSION_MAX 64
#define LS_OUTPUT_MAX (4 * 1024 * 1024) /* depth 1: each global package's dependencies */
#define BOOKMARK_MAX (1024 * 1024)
#define JSON_DEPTH 32 /* of `npm ls --json` and the bookmark */

static bool npm_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_' || c == '~';
}

/* npm forbids a leading "." or "_"; a leading "-" would read as an option, so it goes too. */
static bool npm_name_part(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[0] == '_' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!npm_name_char(s[i]))
			return false;
	return true;
}

static int check_plugin_name(const char *name, struct cf_err *err)
{
	size_t len = strlen(name);
	const char *base = name;
	bool ok = len > 0 && len <= NPM_NAME_MAX;
	if (ok && name[0] == '@') {
		const char *slash = strchr(name, '/');
		ok = slash && npm_name_part(name + 1, (size_t)(slash - name - 1));
		base = slash ? slash + 1 : name;
	}
	if (!ok || !npm_name_part(base, strlen(base)))
		return cf_err_set(err, "openclaw.lock: plugin name \"%s\" is not an npm package name "
				       "(lower-case letters, digits, - . _ ~, an optional @scope/)",
				  name);
	if (strcmp(name, INSTALL_CORE_PACKAGE) == 0)
		return cf_err_set(err, "openclaw.lock: \"%s\" is the core package, not a plugin",
				  name);
	return 0;
}

/* An exact version ("2026.7.1", "2026.5.3-1", "2026.8.0-beta.2"): npm would resolve a range or a
 * dist-tag such as "latest" to whatever the registry holds today. */
static int check_version(const char *name, const char *version, struct cf_err *err)
{
	size_t len = strlen(version);
	bool ok = len > 0 && len <= VERSION_MAX && version[0] >= '0' && version[0] <= '9';
	for (size_t i = 0; ok && i < len; i++) {
		char c = version[i];
		ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		     c == '.' || c == '-' || c == '+';
	}
	if (!ok)
		return cf_err_set(err, "openclaw.lock: version \"%s\" of %s is not an exact version",
				  version, name);
	return 0;
}

static const char *exe(const char *configured, const char *fallback)
{
	return configured && *configured ? configured : fallback;
}

static const char *installed_version(const struct installed_state *st, const char *name)
{
	for (size_t i = 0; i < st->nplugins; i++)
		if (strcmp(st->plugins[i].name, name) == 0)
			return st->plugins[i].version;
	return NULL;
}

static int check_lock(const struct openclaw_lock *lock, struct cf_err *err)
{
	if (!lock->present || !lock->version)
		return cf_err_set(err, "no openclaw.lock: nothing pins the versions to install");
	if (lock->nplugins > INSTALL_PACKAGES_MAX)
		return cf_err_set(err, "openclaw.lock: more than %d plugins", INSTALL_PACKAGES_MAX);
	if (check_version(INSTALL_CORE_PACKAGE, lock->version, err) < 0)
		return -1;
	for (size_t i = 0; i < lock->nplugins; i++) {
		const struct lock_plugin *p = &lock->plugins[i];
		if (check_plugin_name(p->name, err) < 0 || check_version(p->name, p->version, err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(lock->plugins[j].name, p->name) == 0)
				return cf_err_set(err, "openclaw.lock: plugin %s is listed twice",
						  p->name);
	}
	return 0;
}

static int add_action(struct install_plan *plan, enum install_kind kind, const char *name,
		      const char *version, const char *from, const char *sha256,
		      struct cf_err *err)
{
	struct install_action *a = &plan->actions[plan->n];
	a->kind = kind;
	a->name = strdup(name);
	a->version = strdup(version);
	a->from = from ? strdup(from) : NULL;
	a->sha256 = sha256 ? strdup(sha256) : NULL;
	plan->n++;
	if (!a->name || !a->version || (from && !a->from) || (sha256 && !a->sha256))
		return cf_err_set(err, "out of memory");
	return 0;
}

int install_plan(const struct openclaw_lock *lock, const struct installed_state *installed,
		 struct install_plan *out, struct cf_err *err)
{
	out->actions = NULL;
	out->n = 0;
	if (check_lock(lock, err) < 0)
		return -1;
	out->actions = calloc(1 + lock->nplugins, sizeof(*out->actions));
	if (!out->actions)
		return cf_err_set(err, "out of memory");
	if ((!installed->openclaw || strcmp(installed->openclaw, lock->version) != 0) &&
	    add_action(out, INSTALL_CORE, INSTALL_CORE_PACKAGE, lock->version, installed->openclaw,
		       lock->sha256, err) < 0)
		goto fail;
	for (size_t i = 0; i < lock->nplugins; i++) {
		const struct lock_plugin *p = &lock->plugins[i];
		const char *have = installed_version(installed, p->name);
		if ((!have || strcmp(have, p->version) != 0) &&
		    add_action(out, INSTALL_PLUGIN, p->name, p->version, have, NULL, err) < 0)
			goto fail;
	}
	return 0;
fail:
	install_plan_free(out);
	return -1;
}

/* ---- observe ---- */

int install_observe(const struct install_config *cfg, struct installed_state *out,
		    struct cf_err *err)
{
	char *argv[] = {(char *)exe(cfg->npm, "npm"), "ls", "-g", "--depth=1", "--json",
			NULL};
	struct proc_spec spec = {.argv = argv,
				 .env = cfg->env,
				 .timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms :
								     INSTALL_TIMEOUT_DEFAULT_MS,
				 .output_max = LS_OUTPUT_MAX};
	struct proc_result res;
	struct json_object *root = NULL, *error;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (proc_run(&spec, &res, err) < 0)
		goto done;
	/* npm ls exits 1 on a tree with problems (ELSPROBLEMS) and still lists it. */
	bool answered = !res.timed_out && res.exited && (res.exit_code == 0 || res.exit_code == 1);
	if (answered && !res.out_truncated)
		jsonparse_object(res.out, res.out_len, JSON_DEPTH, &root, NULL);
	if (!answered || (!root && res.exit_code != 0)) {
		proc_check(&spec, &res, err);
		goto done;
	}
	if (!root) {
		cf_err_set(err, "`npm ls -g --depth=1 --json` did not print a JSON object%s",
			   res.out_truncated ? " within 1 MiB" : "");
		goto done;
	}
	if (json_object_object_get_ex(root, "error", &error)) {
		cf_err_set(err, "`npm ls -g --depth=1 --json` failed: %s",
			   json_object_to_json_string_ext(error, JSON_C_TO_STRING_PLAIN));
		goto done;
	}
	rc = install_tree_read(root, out, err);
done:
	json_object_put(root);
	proc_result_free(&res);
	if (rc < 0)
		installed_state_free(out);
	return rc;
}

/* ---- apply ---- */

/* Whether the bookmark at path was written for a target that includes every action of plan: then
 * it holds the versions from before that target's first attempt and must stay. */
static bool bookmark_covers(const char *path, const struct install_plan *plan)
{
	char *text = NULL;
	size_t len;
	struct cf_err ignored;
	struct json_object *root = NULL, *target = NULL;
	bool covers = false;

	if (fsutil_read_file(path, BOOKMARK_MAX, &text, &len, &ignored) < 0)
		return false;
	covers = jsonparse_object(text, len, JSON_DEPTH, &root, NULL) == 0 &&
		 jsonparse_get_object(root, "bookmark", "target", JSONPARSE_REQUIRED, &target,
				      NULL) == 0;
	for (size_t i = 0; covers && i < plan->n; i++) {
		const char *version = NULL;
		covers = jsonparse_get_string(target, "bookmark.target", plan->actions[i].name,
					      JSONPARSE_REQUIRED, &version, NULL) == 0 &&
			 strcmp(version, plan->actions[i].version) == 0;
	}
	json_object_put(root);
	free(text);
	return covers;
}

static struct json_object *bookmark_json(const struct installed_state *installed,
					 const struct install_plan *plan)
{
	struct json_object *root = json_object_new_object();
	struct json_object *plugins = json_object_new_object();
	struct json_object *target = json_object_new_object();
	if (!root || !plugins || !target) {
		json_object_put(root);
		json_object_put(plugins);
		json_object_put(target);
		return NULL;
	}
	json_object_object_add(root, "openclaw",
			       installed->openclaw ? json_object_new_string(installed->openclaw) :
						     NULL);
	for (size_t i = 0; i < installed->nplugins; i++)
		json_object_object_add(plugins, installed->plugins[i].name,
				       json_object_new_string(installed->plugins[i].version));
	json_object_object_add(root, "plugins", plugins);
	for (size_t i = 0; i < plan->n; i++)
		json_object_object_add(target, plan->actions[i].name,
				       json_object_new_string(plan->actions[i].version));
	json_object_object_add(root, "target", target);
	json_object_object_add(root, "at", json_object_new_int64(clock_epoch_ms() / 1000));
	return root;
}

static int write_bookmark(const struct installed_state *installed, const struct install_plan *plan,
			  const char *path, struct cf_err *err)
{
	char dir[PATH_MAX], *text = NULL;
	size_t len;
	int rc = -1;

	if (bookmark_covers(path, plan))
		return 0;
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return cf_err_set(err, "%s: path too long", path);
	struct json_object *root = bookmark_json(installed, plan);
	if (!root)
		return cf_err_set(err, "out of memory");
	if (canon_json(root, &text, &len, err) < 0)
		goto done;
	text[len] = '\n'; /* the terminating NUL becomes the file's last newline */
	if (fsutil_mkdir_p(dirname(dir), 0755, err) < 0 ||
	    fsutil_write_atomic(path, text, len + 1, 0644, err) < 0)
		goto done;
	rc = 0;
done:
	if (rc < 0)
		cf_err_prefix(err, "recording the rollback bookmark");
	free(text);
	json_object_put(root);
	return rc;
}

static int run_argv(const struct install_config *cfg, char **argv, struct cf_err *err)
{
	struct proc_spec spec = {.argv = argv,
				 .env = cfg->env,
				 .timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms :
								     INSTALL_TIMEOUT_DEFAULT_MS};
	struct proc_result res;
	int rc = proc_run(&spec, &res, err);
	if (rc == 0)
		rc = proc_check(&spec, &res, err);
	proc_result_free(&res);
	return rc;
}

struct pack_job {
	const struct install_config *cfg;
	const char *spec;
};

/* `npm pack` writes the registry's tarball, byte for byte, into the cache's temporary directory. */
static int pack_into(void *ctx, const char *tmp_dir, struct cf_err *err)
{
	const struct pack_job *job = ctx;
	char *argv[] = {(char *)exe(job->cfg->npm, "npm"), "pack", (char *)job->spec,
			"--pack-destination", (char *)tmp_dir, NULL};
	return run_argv(job->cfg, argv, err);
}

/* Whether path names npm's tarball of that version of the core. */
static bool tarball_of(const char *path, const char *version)
{
	char want[VERSION_MAX + 16];
	snprintf(want, sizeof(want), INSTALL_CORE_PACKAGE "-%s.tgz", version);
	return strcmp(strrchr(path, '/') + 1, want) == 0;
}

/* The tarball of the core's pinned bytes into *tgz: from the cache, else fetched and verified. */
static int cached_core(const struct install_config *cfg, const struct install_action *a,
		       const char *spec_text, char **tgz, struct cf_err *err)
{
	struct artifact_cache cache = {.dir = cfg->cache_dir, .max_bytes = cfg->cache_max_bytes};
	struct pack_job job = {.cfg = cfg, .spec = spec_text};
	bool removed;
	int rc = artifact_cache_lookup(&cache, a->sha256, tgz, &removed, err);
	if (rc < 0)
		return -1;
	/* The same bytes cached under another version's name: the lock pins the digest of another
	 * release (a version bumped without its sha256), which a fetch would refuse too. */
	if (rc == 1 && !tarball_of(*tgz, a->version)) {
		cf_err_set(err, "%s: openclaw.lock pins sha256 %s, the bytes of %s in the artifact "
				"cache, not of this version; refused, nothing was installed",
			   spec_text, a->sha256, strrchr(*tgz, '/') + 1);
		free(*tgz);
		*tgz = NULL;
		return INSTALL_DIGEST_MISMATCH;
	}
	if (rc == 1)
		return 0;
	rc = artifact_cache_fetch(&cache, a->sha256, spec_text, pack_into, &job, tgz, err);
	if (rc < 0 && rc != ARTIFACT_DIGEST_MISMATCH)
		cf_err_prefix(err, "fetching %s into the artifact cache %s%s", spec_text,
			      cfg->cache_dir,
			      removed ? " (its entry did not match its digest and was removed)" : "");
	return rc;
}

/* After the core installed from the cache: it is the current build, the one before it the
 * previous, and the cache is trimmed around both. */
static int cache_installed(const struct install_config *cfg, const char *sha256,
			   struct cf_err *err)
{
	struct artifact_cache cache = {.dir = cfg->cache_dir, .max_bytes = cfg->cache_max_bytes};
	if (artifact_cache_set_current(&cache, sha256, err) < 0 ||
	    artifact_cache_evict(&cache, NULL, err) < 0)
		return cf_err_prefix(err, "OpenClaw is installed, but the artifact cache");
	return 0;
}

static int run_action(const struct install_config *cfg, const struct install_action *a,
		      struct cf_err *err)
{
	char spec_text[NPM_NAME_MAX + VERSION_MAX + 2];
	char *tgz = NULL;
	snprintf(spec_text, sizeof(spec_text), "%s@%s", a->name, a->version);
	bool cached = a->kind == INSTALL_CORE && a->sha256 && cfg->cache_dir;
	if (cached) {
		int rc = cached_core(cfg, a, spec_text, &tgz, err);
		if (rc < 0)
			return rc;
	}
	/* From the cache, npm resolves OpenClaw's own dependencies from its cache first, so a
	 * reinstall of a build installed before needs no registry. */
	char *core[] = {(char *)exe(cfg->npm, "npm"), "install", "-g", "--no-fund", "--no-audit",
			cached ? "--prefer-offline" : spec_text, tgz, NULL};
	char *plugin[] = {(char *)exe(cfg->openclaw, "openclaw"), "plugins",
			  "install", spec_text, NULL};
	int rc = run_argv(cfg, a->kind == INSTALL_CORE ? core : plugin, err);
	if (rc == 0 && cached)
		rc = cache_installed(cfg, a->sha256, err);
	free(tgz);
	return rc;
}

int install_apply(const struct install_config *cfg, const struct installed_state *installed,
		  const struct install_plan *plan, const char *bookmark_path, struct cf_err *err)
{
	if (plan->n == 0)
		return 0;
	if (write_bookmark(installed, plan, bookmark_path, err) < 0)
		return -1;
	for (size_t i = 0; i < plan->n; i++) {
		const struct install_action *a = &plan->actions[i];
		failpoint_hit("agent.install.before");
		int rc = run_action(cfg, a, err);
		if (rc == INSTALL_DIGEST_MISMATCH)
			return rc;
		if (rc < 0)
			return cf_err_prefix(err, "installing %s %s@%s (step %zu of %zu; %s records "
						  "the versions from before)",
					     a->kind == INSTALL_CORE ? "OpenClaw" : "plugin", a->name,
					     a->version, i + 1, plan->n, bookmark_path);
	}
	failpoint_hit("agent.install.after");
	return 0;
}

/* The digest of the cached tarball of version, current or previous build, into out; "" when the
 * cache holds neither. */
static void cached_build_of(const struct install_config *cfg, const char *version, char out[65])
{
	struct artifact_cache cache = {.dir = cfg->cache_dir, .max_bytes = cfg->cache_max_bytes};
	char builds[2][65];
	out[0] = '\0';
	if (!cfg->cache_dir)
		return;
	artifact_cache_builds(&cache, builds[0], builds[1]);
	for (size_t i = 0; i < 2 && !out[0]; i++) {
		char *tgz = NULL;
		bool removed;
		struct cf_err ignored;
		if (builds[i][0] &&
		    artifact_cache_lookup(&cache, builds[i], &tgz, &removed, &ignored) == 1 &&
		    tarball_of(tgz, version))
			memcpy(out, builds[i], 65);
		free(tgz);
	}
}

int install_revert(const struct install_config *cfg, const struct install_plan *applied,
		   struct cf_err *err)
{
	for (size_t i = applied->n; i-- > 0;) {
		const struct install_action *a = &applied->actions[i];
		char digest[65] = "";
		if (!a->from)
			continue;
		if (a->kind == INSTALL_CORE)
			cached_build_of(cfg, a->from, digest);
		struct install_action back = {
			.kind = a->kind,
			.name = a->name,
			.version = a->from,
			.from = a->version,
			.sha256 = digest[0] ? digest : NULL,
		};
		if (run_action(cfg, &back, err) < 0)
			return cf_err_prefix(err, "putting back %s %s@%s",
					     a->kind == INSTALL_CORE ? "OpenClaw" : "plugin", a->name,
					     a->from);
	}
	return 0;
}

void install_plan_free(struct install_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		free(plan->actions[i].name);
		free(plan->actions[i].version);
		free(plan->actions[i].from);
		free(plan->actions[i].sha256);
	}
	free(plan->actions);
	plan->actions = NULL;
	plan->n = 0;
}

void installed_state_free(struct installed_state *st)
{
	for (size_t i = 0; i < st->nplugins; i++) {
		free(st->plugins[i].name);
		free(st->plugins[i].version);
	}
	free(st->plugins);
	free(st->openclaw);
	free(st->duplicates);
	free(st->unmet);
	memset(st, 0, sizeof(*st));
}
