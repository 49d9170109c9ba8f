#include "contracts/target.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/canon.h"
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "base/names.h"
#include "base/semver.h"

#define TARGET_JSON_DEPTH 16 /* the document nests two levels */

const char *target_link_name(enum target_link l)
{
	return l == TARGET_LINK_NEXT ? "next" : "current";
}

static bool is_hex40(const char *s)
{
	if (strlen(s) != 40)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int copy_str(struct json_object *v, const char *field, char *out, size_t outlen,
		    struct cf_err *err)
{
	if (!json_object_is_type(v, json_type_string))
		return cf_err_set(err, "%s: must be a string", field);
	const char *s = json_object_get_string(v);
	/* "\u0000" is valid JSON; cut at it, "v1\u0000x" would quietly become "v1" */
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return cf_err_set(err, "%s: must not contain a NUL character", field);
	if (strlen(s) >= outlen)
		return cf_err_set(err, "%s: longer than %zu characters", field, outlen - 1);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int parse_skills(struct json_object *v, struct target *t, struct cf_err *err)
{
	if (!json_object_is_type(v, json_type_object))
		return cf_err_set(err, "skills: must be an object {semver, link}");
	bool have_semver = false;
	json_object_object_foreach(v, key, val)
	{
		if (strcmp(key, "semver") == 0) {
			struct semver sv;
			if (copy_str(val, "skills.semver", t->skills_semver, sizeof(t->skills_semver),
				     err) < 0)
				return -1;
			if (semver_parse(t->skills_semver, &sv, err) < 0)
				return cf_err_prefix(err, "skills.semver");
			have_semver = true;
		} else if (strcmp(key, "link") == 0) {
			const char *s = json_object_is_type(val, json_type_string)
						? json_object_get_string(val)
						: "";
			if (strcmp(s, "current") == 0)
				t->skills_link = TARGET_LINK_CURRENT;
			else if (strcmp(s, "next") == 0)
				t->skills_link = TARGET_LINK_NEXT;
			else
				return cf_err_set(err, "skills.link: must be \"current\" or \"next\"");
		} else {
			return cf_err_set(err, "skills.%s: unknown field", key);
		}
	}
	return have_semver ? 0 : cf_err_set(err, "skills.semver: required");
}

static int parse_tenants(struct json_object *v, struct target *t, struct cf_err *err)
{
	if (!json_object_is_type(v, json_type_object))
		return cf_err_set(err, "tenants: must be an object {name: channel}");
	json_object_object_foreach(v, key, val)
	{
		if (t->ntenants == TARGET_MAX_TENANTS)
			return cf_err_set(err, "tenants: more than %d", TARGET_MAX_TENANTS);
		if (name_check_dns_label(key, err) < 0)
			return cf_err_prefix(err, "tenants");
		const char *ch = json_object_is_type(val, json_type_string)
					 ? json_object_get_string(val)
					 : "";
		struct target_tenant *tt = &t->tenants[t->ntenants++];
		snprintf(tt->name, sizeof(tt->name), "%s", key);
		if (strcmp(ch, "canary") == 0)
			tt->canary = true;
		else if (strcmp(ch, "stable") != 0)
			return cf_err_set(err, "tenants.%s: must be \"canary\" or \"stable\"", key);
	}
	return 0;
}

static int parse_field(const char *key, struct json_object *val, struct target *t,
		       bool *have_generation, struct cf_err *err)
{
	if (strcmp(key, "generation") == 0) {
		if (!json_object_is_type(val, json_type_int) || json_object_get_int64(val) < 1)
			return cf_err_set(err, "generation: must be an integer >= 1");
		t->generation = json_object_get_int64(val);
		*have_generation = true;
		return 0;
	}
	if (strcmp(key, "tag") == 0) {
		if (copy_str(val, "tag", t->tag, sizeof(t->tag), err) < 0)
			return -1;
		return name_check_git_tag(t->tag, err) < 0 ? cf_err_prefix(err, "tag") : 0;
	}
	if (strcmp(key, "commit") == 0) {
		if (copy_str(val, "commit", t->commit, sizeof(t->commit), err) < 0 ||
		    !is_hex40(t->commit))
			return cf_err_set(err, "commit: must be 40 lower-case hex digits");
		return 0;
	}
	if (strcmp(key, "skills") == 0)
		return parse_skills(val, t, err);
	if (strcmp(key, "tenants") == 0)
		return parse_tenants(val, t, err);
	if (strcmp(key, "restart") == 0) {
		if (!json_object_is_type(val, json_type_boolean))
			return cf_err_set(err, "restart: must be true or false");
		t->restart = json_object_get_boolean(val);
		return 0;
	}
	if (strcmp(key, "rollback") == 0) {
		if (!json_object_is_type(val, json_type_boolean))
			return cf_err_set(err, "rollback: must be true or false");
		t->rollback = json_object_get_boolean(val);
		return 0;
	}
	return cf_err_set(err, "%s: unknown field", key);
}

int target_parse(const char *body, size_t len, struct target *out, struct cf_err *err)
{
	int rc = -1;
	struct target t = {0};
	if (len > TARGET_MAX_BODY)
		return cf_err_set(err, "body is %zu bytes, over the %u byte limit", len,
				  TARGET_MAX_BODY);
	struct json_object *root = NULL;
	struct cf_err why;
	if (jsonparse_value(body, len, TARGET_JSON_DEPTH, &root, &why) < 0) {
		cf_err_set(err, "body is %s", why.msg);
		goto done;
	}
	if (!json_object_is_type(root, json_type_object)) {
		cf_err_set(err, "body must be a JSON object");
		goto done;
	}
	bool have_generation = false;
	json_object_object_foreach(root, key, val)
	{
		if (parse_field(key, val, &t, &have_generation, err) < 0)
			goto done;
	}
	if (!have_generation || !t.tag[0] || !t.commit[0] || !t.skills_semver[0]) {
		cf_err_set(err, "%s: required",
			   !have_generation ? "generation"
			   : !t.tag[0]	    ? "tag"
			   : !t.commit[0]   ? "commit"
					    : "skills");
		goto done;
	}
	*out = t;
	rc = 0;
done:
	json_object_put(root);
	return rc;
}

int target_render(const struct target *t, char **out, size_t *len, struct cf_err *err)
{
	struct json_object *root = json_object_new_object();
	struct json_object *skills = json_object_new_object();
	struct json_object *tenants = json_object_new_object();
	json_object_object_add(root, "generation", json_object_new_int64(t->generation));
	json_object_object_add(root, "tag", json_object_new_string(t->tag));
	json_object_object_add(root, "commit", json_object_new_string(t->commit));
	json_object_object_add(skills, "semver", json_object_new_string(t->skills_semver));
	json_object_object_add(skills, "link",
			       json_object_new_string(target_link_name(t->skills_link)));
	json_object_object_add(root, "skills", skills);
	for (size_t i = 0; i < t->ntenants; i++)
		json_object_object_add(tenants, t->tenants[i].name,
				       json_object_new_string(t->tenants[i].canary ? "canary"
										   : "stable"));
	json_object_object_add(root, "tenants", tenants);
	json_object_object_add(root, "restart", json_object_new_boolean(t->restart));
	if (t->rollback)
		json_object_object_add(root, "rollback", json_object_new_boolean(true));
	int rc = canon_json(root, out, len, err);
	json_object_put(root);
	return rc;
}

int target_save(const char *path, const struct target *t, struct cf_err *err)
{
	char *json = NULL;
	size_t len = 0;
	if (target_render(t, &json, &len, err) < 0)
		return -1;
	int rc = fsutil_write_atomic(path, json, len, 0600, err);
	free(json);
	return rc;
}

int target_load(const char *path, struct target *out, struct cf_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	if (fsutil_read_file(path, TARGET_MAX_BODY, &buf, &len, err) < 0)
		return -1;
	int rc = target_parse(buf, len, out, err);
	if (rc < 0)
		cf_err_prefix(err, "%s", path);
	free(buf);
	return rc;
}
