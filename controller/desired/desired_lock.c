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

/* ---- where a member's value starts in the text ---- */

/* The text already parsed as JSON, so these scans need not check it; they only stop at its end. */
static size_t skip_ws(const char *t, size_t len, size_t i)
{
	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
		i++;
	return i;
}

/* i at the opening quote; returns the index after the closing one. */
static size_t skip_string(const char *t, size_t len, size_t i)
{
	for (i++; i < len && t[i] != '"'; i++)
		if (t[i] == '\\')
			i++;
	return i < len ? i + 1 : len;
}

static size_t skip_value(const char *t, size_t len, size_t i)
{
	if (i < len && t[i] == '"')
		return skip_string(t, len, i);
	if (i < len && (t[i] == '{' || t[i] == '[')) {
		size_t nest = 0;
		while (i < len) {
			if (t[i] == '"') {
				i = skip_string(t, len, i);
				continue;
			}
			if (t[i] == '{' || t[i] == '[')
				nest++;
			else if ((t[i] == '}' || t[i] == ']') && --nest == 0)
				return i + 1;
			i++;
		}
		return len;
	}
	while (i < len && !strchr(",}] \t\r\n", t[i]))
		i++;
	return i;
}

/* i at the '{' of an object: where the value of its member key starts, SIZE_MAX when it has
 * none (or spells the name with escapes). The last of duplicate members, the one json-c keeps. */
static size_t member_at(const char *t, size_t len, size_t i, const char *key)
{
	size_t found = SIZE_MAX, klen = strlen(key);
	for (i = skip_ws(t, len, i + 1); i < len && t[i] == '"';) {
		size_t end = skip_string(t, len, i);
		bool match = end - i == klen + 2 && memcmp(t + i + 1, key, klen) == 0;
		i = skip_ws(t, len, end);
		if (i >= len || t[i] != ':')
			break;
		i = skip_ws(t, len, i + 1);
		if (match)
			found = i;
		i = skip_ws(t, len, skip_value(t, len, i));
		if (i >= len || t[i] != ',')
			break;
		i = skip_ws(t, len, i + 1);
	}
	return found;
}

/* The line and column of the value of a dotted member path ("skills.sha256"); 0:0 when the
 * path is absent or names an array element, as a problem of the whole file. */
static void field_pos(const struct treefile *tf, const char *field, int *line, int *col)
{
	char key[64];
	size_t at = skip_ws(tf->data, tf->len, 0);

	*line = *col = 0;
	if (!field || strchr(field, '['))
		return;
	for (const char *p = field; at != SIZE_MAX && *p;) {
		size_t n = strcspn(p, ".");
		if (n >= sizeof(key) || at >= tf->len || tf->data[at] != '{')
			return;
		memcpy(key, p, n);
		key[n] = '\0';
		at = member_at(tf->data, tf->len, at, key);
		p += n + (p[n] == '.');
	}
	if (at != SIZE_MAX)
		offset_to_pos(tf->data, at, line, col);
}

/* ---- the lock's members ---- */

static const char *lock_str(struct json_object *obj, const char *key)
{
	struct json_object *v;
	if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void lock_diag(struct loader *ld, const struct treefile *tf, const char *field_name,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Points at the field's value when the file holds it. */
static void lock_diag(struct loader *ld, const struct treefile *tf, const char *field_name,
		      const char *fmt, ...)
{
	char msg[512];
	int line, col;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	field_pos(tf, field_name, &line, &col);
	diag_add(ld->diags, LOCK_PATH, line, col, NULL, field_name, "%s", msg);
}

static void load_lock_plugins(struct loader *ld, const struct treefile *tf,
			      struct json_object *root)
{
	struct openclaw_lock *lk = &ld->ds->lock;
	struct json_object *plugins;
	if (!json_object_object_get_ex(root, "plugins", &plugins))
		return;
	if (!json_object_is_type(plugins, json_type_array)) {
		lock_diag(ld, tf, "plugins", "must be an array of {name, version}");
		return;
	}
	size_t n = json_object_array_length(plugins);
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(plugins, i);
		const char *name = lock_str(p, "name"), *version = lock_str(p, "version");
		char fieldname[64];
		snprintf(fieldname, sizeof(fieldname), "plugins[%zu]", i);
		if (!name || !version) {
			lock_diag(ld, tf, fieldname, "needs string fields name and version");
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
		lock_diag(ld, tf, NULL, "must be a JSON object");
		goto done;
	}
	struct json_object *oc = NULL, *skills = NULL, *runtime = NULL;
	json_object_object_get_ex(root, "openclaw", &oc);
	json_object_object_get_ex(root, "runtime", &runtime);
	const char *node = lock_str(runtime, "node");
	if (node && node[0] != '/')
		lock_diag(ld, tf, "runtime.node",
			  "must be an absolute path such as /opt/homebrew/bin/node");
	json_object_object_get_ex(root, "skills", &skills);
	const char *version = lock_str(oc, "version");
	const char *commit = lock_str(oc, "commit");
	const char *sha = lock_str(oc, "sha256");
	const char *skill_semver = lock_str(skills, "semver");
	const char *skill_sha = lock_str(skills, "sha256");
	struct json_object *skill_sha_value = NULL;
	json_object_object_get_ex(skills, "sha256", &skill_sha_value);
	struct semver sv;
	if (!version)
		lock_diag(ld, tf, "openclaw.version", "required string is missing");
	if (commit && (strlen(commit) < 7 || strlen(commit) > 40 || !is_hex(commit, strlen(commit))))
		lock_diag(ld, tf, "openclaw.commit", "must be 7 to 40 lower-case hex digits");
	if (sha && !is_hex(sha, 64))
		lock_diag(ld, tf, "openclaw.sha256", "must be 64 lower-case hex digits");
	if (!skill_semver)
		lock_diag(ld, tf, "skills.semver", "required string is missing");
	else if (semver_parse(skill_semver, &sv, &err) < 0)
		lock_diag(ld, tf, "skills.semver", "%s", err.msg);
	/* null is as good as absent, as everywhere in the lock */
	if ((skill_sha_value && !skill_sha) || (skill_sha && !is_hex(skill_sha, 64)))
		lock_diag(ld, tf, "skills.sha256",
			  "must be 64 lower-case hex digits: the sha256 of what `find . -type f "
			  "! -name '.clawfleet-*' -print0 | LC_ALL=C sort -z | xargs -0 "
			  "sha256sum` prints in the pack");
	load_lock_plugins(ld, tf, root);
	lk->present = true;
	lk->version = desired_strdup(ld, version);
	lk->commit = desired_strdup(ld, commit);
	lk->sha256 = desired_strdup(ld, sha);
	lk->skills_semver = desired_strdup(ld, skill_semver);
	lk->skills_sha256 = desired_strdup(ld, skill_sha);
	lk->runtime_node = desired_strdup(ld, node);
	canon_sha256_hex(tf->data, tf->len, lk->file_sha256);
done:
	json_object_put(root);
}
