#include "desired/desired.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/canon.h"
#include "base/diag.h"
#include "base/err.h"
#include "base/jsonparse.h"
#include "base/semver.h"
#include "desired/desired_internal.h"
#include "source/treefiles.h"

static void offset_to_pos(const char *data, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && data[i]; i++) {
		if (data[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static const char *lock_str(struct json_object *obj, const char *key)
{
	struct json_object *v;
	if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void lock_diag(struct loader *ld, const char *field_name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void lock_diag(struct loader *ld, const char *field_name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(ld->diags, LOCK_PATH, 0, 0, NULL, field_name, "%s", msg);
}

static void load_lock_plugins(struct loader *ld, struct json_object *root)
{
	struct openclaw_lock *lk = &ld->ds->lock;
	struct json_object *plugins;
	if (!json_object_object_get_ex(root, "plugins", &plugins))
		return;
	if (!json_object_is_type(plugins, json_type_array)) {
		lock_diag(ld, "plugins", "must be an array of {name, version}");
		return;
	}
	size_t n = json_object_array_length(plugins);
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(plugins, i);
		const char *name = lock_str(p, "name"), *version = lock_str(p, "version");
		char fieldname[64];
		snprintf(fieldname, sizeof(fieldname), "plugins[%zu]", i);
		if (!name || !version) {
			lock_diag(ld, fieldname, "needs string fields name and version");
			continue;
		}
		struct lock_plugin *grown =
			desired_grow(ld, lk->plugins, lk->nplugins, sizeof(*grown));
		if (!grown)
			return;
		lk->plugins = grown;
		lk->plugins[lk->nplugins].name = desired_strdup(ld, name);
		lk->plugins[lk->nplugins].version = desired_strdup(ld, version);
		lk->nplugins++;
	}
}

static bool is_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void desired_load_lock(struct loader *ld, const struct treefile *tf)
{
	struct openclaw_lock *lk = &ld->ds->lock;
	struct json_object *root = NULL;
	size_t at = SIZE_MAX; /* stays so when the error is not in the file: out of memory */
	struct cf_err err;
	if (jsonparse_value_at(tf->data, tf->len, JSONPARSE_DEPTH, &root, &at, &err) < 0) {
		if (at == SIZE_MAX) {
			ld->out_of_memory = true;
			return;
		}
		int line, col;
		offset_to_pos(tf->data, at, &line, &col);
		/* a file that ends inside the value: said in a file's words */
		diag_add(ld->diags, tf->path, line, col, NULL, NULL, "%s",
			 at == tf->len ? "not valid JSON: unexpected end of file" : err.msg);
		return;
	}
	if (!json_object_is_type(root, json_type_object)) {
		lock_diag(ld, NULL, "must be a JSON object");
		goto done;
	}
	struct json_object *oc = NULL, *skills = NULL;
	json_object_object_get_ex(root, "openclaw", &oc);
	json_object_object_get_ex(root, "skills", &skills);
	const char *version = lock_str(oc, "version");
	const char *commit = lock_str(oc, "commit");
	const char *sha = lock_str(oc, "sha256");
	const char *skill_semver = lock_str(skills, "semver");
	struct semver sv;
	if (!version)
		lock_diag(ld, "openclaw.version", "required string is missing");
	if (commit && (strlen(commit) < 7 || strlen(commit) > 40 || !is_hex(commit, strlen(commit))))
		lock_diag(ld, "openclaw.commit", "must be 7 to 40 lower-case hex digits");
	if (sha && !is_hex(sha, 64))
		lock_diag(ld, "openclaw.sha256", "must be 64 lower-case hex digits");
	if (!skill_semver)
		lock_diag(ld, "skills.semver", "required string is missing");
	else if (semver_parse(skill_semver, &sv, &err) < 0)
		lock_diag(ld, "skills.semver", "%s", err.msg);
	load_lock_plugins(ld, root);
	lk->present = true;
	lk->version = desired_strdup(ld, version);
	lk->commit = desired_strdup(ld, commit);
	lk->sha256 = desired_strdup(ld, sha);
	lk->skills_semver = desired_strdup(ld, skill_semver);
	canon_sha256_hex(tf->data, tf->len, lk->file_sha256);
done:
	json_object_put(root);
}
