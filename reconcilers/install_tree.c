#include "reconcilers/install_tree.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A problem list as one line: items joined by "; ", cut at INSTALL_TREE_TEXT_MAX with a count
 * of what was left out. */
struct problems {
	char text[INSTALL_TREE_TEXT_MAX];
	size_t len, left_out;
};

static void problem_add(struct problems *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem_add(struct problems *p, const char *fmt, ...)
{
	char item[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(item, sizeof(item), fmt, ap);
	va_end(ap);
	const char *sep = p->len ? "; " : "";
	/* room for the item and for " and N more" after it */
	if (n < 0 || p->len + strlen(sep) + (size_t)n + 24 >= sizeof(p->text)) {
		p->left_out++;
		return;
	}
	p->len += (size_t)snprintf(p->text + p->len, sizeof(p->text) - p->len, "%s%s", sep, item);
}

static int problem_take(struct problems *p, char **out, struct cf_err *err)
{
	if (!p->len && !p->left_out)
		return 0;
	if (p->left_out)
		snprintf(p->text + p->len, sizeof(p->text) - p->len, " and %zu more", p->left_out);
	*out = strdup(p->text);
	return *out ? 0 : cf_err_set(err, "out of memory");
}

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

static bool true_of(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

static struct json_object *deps_of(struct json_object *o)
{
	struct json_object *deps;
	if (json_object_object_get_ex(o, "dependencies", &deps) &&
	    json_object_is_type(deps, json_type_object))
		return deps;
	return NULL;
}

static int add_installed(struct installed_state *st, const char *name, const char *version,
			 struct cf_err *err)
{
	if (strcmp(name, INSTALL_CORE_PACKAGE) == 0) {
		st->openclaw = strdup(version);
		return st->openclaw ? 0 : cf_err_set(err, "out of memory");
	}
	if (st->nplugins == INSTALL_PACKAGES_MAX)
		return cf_err_set(err, "npm lists more than %d global packages",
				  INSTALL_PACKAGES_MAX);
	struct lock_plugin *v = realloc(st->plugins, (st->nplugins + 1) * sizeof(*v));
	if (!v)
		return cf_err_set(err, "out of memory");
	st->plugins = v;
	v[st->nplugins].name = strdup(name);
	v[st->nplugins].version = strdup(version);
	st->nplugins++;
	if (!v[st->nplugins - 1].name || !v[st->nplugins - 1].version)
		return cf_err_set(err, "out of memory");
	return 0;
}

/* The dependencies of one global package: copies of other global packages, and what npm marks
 * missing or invalid. */
static void judge_nested(struct json_object *deps, const char *parent, const char *parent_version,
			 struct json_object *top, struct problems *dup, struct problems *unmet)
{
	struct json_object *global;
	json_object_object_foreach(deps, name, entry) {
		if (!json_object_is_type(entry, json_type_object))
			continue;
		const char *version = str_of(entry, "version");
		const char *required = str_of(entry, "required");
		const char *invalid = str_of(entry, "invalid");
		if (true_of(entry, "missing") || true_of(entry, "peerMissing"))
			problem_add(unmet, "%s@%s needs %s@%s (missing)", parent, parent_version, name,
				    required ? required : "*");
		else if (invalid)
			problem_add(unmet, "%s@%s needs %s, %s is installed (invalid: %s)", parent,
				    parent_version, name, version ? version : "another version",
				    invalid);
		if (version && json_object_object_get_ex(top, name, &global) &&
		    json_object_is_type(global, json_type_object) && str_of(global, "version"))
			problem_add(dup, "%s %s (global) and %s (inside %s@%s)", name,
				    str_of(global, "version"), version, parent, parent_version);
	}
}

/* {"dependencies":{"<name>":{"version":"...","dependencies":{...}},...}}; an entry without a
 * version (npm marks missing or invalid ones) is not installed. */
int install_tree_read(struct json_object *root, struct installed_state *out, struct cf_err *err)
{
	struct json_object *top;
	struct problems dup = {0}, unmet = {0};
	if (!json_object_object_get_ex(root, "dependencies", &top))
		return 0;
	if (!json_object_is_type(top, json_type_object))
		return cf_err_set(err, "`npm ls -g --json`: dependencies is not an object");
	json_object_object_foreach(top, name, entry) {
		const char *version = json_object_is_type(entry, json_type_object)
					      ? str_of(entry, "version")
					      : NULL;
		if (!version)
			continue;
		if (add_installed(out, name, version, err) < 0)
			return -1;
		struct json_object *deps = deps_of(entry);
		if (deps)
			judge_nested(deps, name, version, top, &dup, &unmet);
	}
	if (problem_take(&dup, &out->duplicates, err) < 0 ||
	    problem_take(&unmet, &out->unmet, err) < 0)
		return -1;
	return 0;
}
