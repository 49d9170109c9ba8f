#include "desired/fragments.h"

#include <json-c/json.h>

/* Deep enough for any real gateway or doctor config, shallow enough that the recursion below
 * cannot exhaust a thread's stack. Levels count maps and lists; a fragment's top map is level 1. */
#define FRAG_MAX_DEPTH 64

/* In the words of YAML, since that is what the fragments are written in. */
static const char *yaml_kind(const struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_object:
		return "a map";
	case json_type_array:
		return "a list";
	case json_type_string:
		return "a string";
	case json_type_int:
	case json_type_double:
		return "a number";
	case json_type_boolean:
		return "a boolean";
	case json_type_null:
		break;
	}
	return "null";
}

static int too_deep(struct cf_err *err)
{
	return cf_err_set(err, "maps and lists nest deeper than %d levels", FRAG_MAX_DEPTH);
}

/* Values copied whole are checked first because json_object_deep_copy recurses without a
 * limit of its own. */
static int check_depth(const struct json_object *v, int level, struct cf_err *err)
{
	enum json_type t = json_object_get_type(v);

	if (t != json_type_object && t != json_type_array)
		return 0;
	if (level > FRAG_MAX_DEPTH)
		return too_deep(err);
	if (t == json_type_array) {
		size_t n = json_object_array_length(v);
		for (size_t i = 0; i < n; i++)
			if (check_depth(json_object_array_get_idx(v, i), level + 1, err) < 0)
				return -1;
		return 0;
	}
	for (struct lh_entry *e = lh_table_head(json_object_get_object(v)); e; e = lh_entry_next(e))
		if (check_depth(lh_entry_v(e), level + 1, err) < 0)
			return -1;
	return 0;
}

static int put_copy(struct json_object *dst, const char *key, struct json_object *src, int level,
		    struct cf_err *err)
{
	struct json_object *copy = NULL;

	if (check_depth(src, level, err) < 0)
		return -1;
	if (json_object_deep_copy(src, &copy, NULL) < 0)
		return cf_err_set(err, "out of memory copying key \"%s\"", key);
	if (json_object_object_add(dst, key, copy) < 0) {
		json_object_put(copy);
		return cf_err_set(err, "out of memory adding key \"%s\"", key);
	}
	return 0;
}

/* RFC 7386 (JSON Merge Patch) applied to dst, which this module owns: a null deletes, a map
 * merges into the map already there (or into a fresh one, so that nulls nested in a new map are
 * dropped just as they would be in an existing one), anything else replaces. */
static int merge_map(struct json_object *dst, struct json_object *src, int level,
		     struct cf_err *err)
{
	if (level > FRAG_MAX_DEPTH)
		return too_deep(err);
	json_object_object_foreach(src, key, val) {
		if (json_object_get_type(val) == json_type_null) {
			json_object_object_del(dst, key);
			continue;
		}
		if (!json_object_is_type(val, json_type_object)) {
			if (put_copy(dst, key, val, level + 1, err) < 0)
				return -1;
			continue;
		}
		struct json_object *child = NULL;
		if (!json_object_object_get_ex(dst, key, &child) ||
		    !json_object_is_type(child, json_type_object)) {
			child = json_object_new_object();
			if (!child || json_object_object_add(dst, key, child) < 0) {
				json_object_put(child);
				return cf_err_set(err, "out of memory adding key \"%s\"", key);
			}
		}
		if (merge_map(child, val, level + 1, err) < 0)
			return -1;
	}
	return 0;
}

int fragments_merge(struct json_object *const *frags, size_t n, struct json_object **out,
		    struct cf_err *err)
{
	struct json_object *res = json_object_new_object();
	int rc = -1;

	*out = NULL;
	if (!res) {
		cf_err_set(err, "out of memory for the merged fragments");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		/* i is the position in frags, which the caller maps back to a file name. */
		if (!json_object_is_type(frags[i], json_type_object)) {
			cf_err_set(err, "fragment %zu: the top level is %s, not a map", i,
				   yaml_kind(frags[i]));
			goto done;
		}
		if (merge_map(res, frags[i], 1, err) < 0) {
			cf_err_prefix(err, "fragment %zu", i);
			goto done;
		}
	}
	*out = res;
	res = NULL;
	rc = 0;
done:
	json_object_put(res);
	return rc;
}
