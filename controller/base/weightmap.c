#include "base/weightmap.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonparse.h"

#define WEIGHTS_JSON_DEPTH 16 /* {"weights": {...}} nests two levels; room for more members */

static bool all_in(const char *s, size_t max, const char *extra)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || strchr(extra, c);
		if (!ok || n >= max)
			return false;
	}
	return n > 0;
}

bool weights_name_ok(const char *s)
{
	return s && all_in(s, WEIGHTS_SERVER_NAME_MAX, "_.:-");
}

bool weights_tenant_value_ok(const char *s)
{
	return s && all_in(s, WEIGHTS_TENANT_VALUE_MAX, "_.:@+=-");
}

static struct weight_entry *entry_of(const struct weight_map *m, const char *server)
{
	size_t i = name_index_find(&m->index, m->v, m->n, sizeof(*m->v), server);
	return i == NAME_INDEX_NONE ? NULL : &m->v[i];
}

const struct weight_entry *weight_map_find(const struct weight_map *m, const char *server)
{
	return entry_of(m, server);
}

int weight_map_set(struct weight_map *m, const char *server, int weight, struct cf_err *err)
{
	if (!weights_name_ok(server))
		return cf_err_set(err, "server name \"%.80s\": want 1 to %d of A-Z a-z 0-9 _ . : -",
				  server ? server : "", WEIGHTS_SERVER_NAME_MAX);
	if (weight < 0 || weight > WEIGHT_MAX)
		return cf_err_set(err, "server %s: weight %d is outside 0..%d", server, weight,
				  WEIGHT_MAX);
	struct weight_entry *e = entry_of(m, server);
	if (e) {
		e->weight = weight;
		return 0;
	}
	if (m->n >= WEIGHTS_MAX_SERVERS)
		return cf_err_set(err, "server %s: more than %d servers", server,
				  WEIGHTS_MAX_SERVERS);
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct weight_entry *v = realloc(m->v, cap * sizeof(*v));
		if (!v)
			return cf_err_set(err, "out of memory");
		m->v = v;
		m->cap = cap;
	}
	e = &m->v[m->n++];
	strcpy(e->server, server);
	e->weight = weight;
	name_index_added(&m->index, m->v, m->n, sizeof(*m->v));
	return 0;
}

void weight_map_clear(struct weight_map *m)
{
	m->n = 0;
	name_index_clear(&m->index);
}

int weight_map_copy(struct weight_map *dst, const struct weight_map *src, struct cf_err *err)
{
	struct weight_map copy = {0};
	if (dst == src)
		return 0;
	if (src->n) {
		copy.v = malloc(src->n * sizeof(*copy.v));
		if (!copy.v)
			return cf_err_set(err, "out of memory");
		copy.cap = src->n;
	}
	/* Server names in a map are unique, so the entries and their index copy as they are. */
	if (src->n)
		memcpy(copy.v, src->v, src->n * sizeof(*copy.v));
	copy.n = src->n;
	name_index_copy(&copy.index, &src->index);
	weight_map_free(dst);
	*dst = copy;
	return 0;
}

void weight_map_free(struct weight_map *m)
{
	free(m->v);
	name_index_free(&m->index);
	*m = (struct weight_map){0};
}

int weights_json_parse(const char *text, size_t len, const char *what, struct json_object **out,
		       struct cf_err *err)
{
	struct json_object *root = NULL;

	*out = NULL;
	if (len > WEIGHTS_REPLY_MAX)
		return cf_err_set(err, "%s: %zu bytes, over the %u byte limit", what, len,
				  WEIGHTS_REPLY_MAX);
	if (jsonparse_value(text, len, WEIGHTS_JSON_DEPTH, &root, err) < 0)
		return cf_err_prefix(err, "%s", what);
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return cf_err_set(err, "%s: want a JSON object {\"weights\": {\"server\": weight}}",
				  what);
	}
	*out = root;
	return 0;
}

int weights_from_json(struct json_object *doc, const char *what, struct weight_map *out,
		      struct cf_err *err)
{
	struct json_object *weights;
	if (!json_object_object_get_ex(doc, "weights", &weights))
		return 0;
	if (!json_object_is_type(weights, json_type_object))
		return cf_err_set(err, "%s: \"weights\" must be an object of server names to weights",
				  what);
	json_object_object_foreach(weights, server, value)
	{
		if (!json_object_is_type(value, json_type_int))
			return cf_err_set(err, "%s: weights.%.80s: want an integer 0..%d", what,
					  server, WEIGHT_MAX);
		int64_t w = json_object_get_int64(value);
		if (w < 0 || w > WEIGHT_MAX)
			return cf_err_set(err, "%s: weights.%.80s: %lld is outside 0..%d", what,
					  server, (long long)w, WEIGHT_MAX);
		if (weight_map_set(out, server, (int)w, err) < 0)
			return cf_err_prefix(err, "%s: weights", what);
	}
	return 0;
}

struct json_object *weights_to_json(const struct weight_map *m)
{
	struct json_object *obj = json_object_new_object();
	for (size_t i = 0; obj && i < m->n; i++) {
		struct json_object *w = json_object_new_int(m->v[i].weight);
		if (!w || json_object_object_add(obj, m->v[i].server, w) < 0) {
			json_object_put(w);
			json_object_put(obj);
			obj = NULL;
		}
	}
	return obj;
}

int weights_parse_doc(const char *text, size_t len, const char *what, struct weight_map *out,
		      struct cf_err *err)
{
	struct json_object *doc;
	if (weights_json_parse(text, len, what, &doc, err) < 0)
		return -1;
	int rc = weights_from_json(doc, what, out, err);
	json_object_put(doc);
	return rc;
}

int weights_render_doc(const struct weight_map *m, char **out, size_t *len, struct cf_err *err)
{
	int rc = -1;
	*out = NULL;
	*len = 0;
	struct json_object *root = json_object_new_object();
	struct json_object *weights = weights_to_json(m);
	if (!root || !weights || json_object_object_add(root, "weights", weights) < 0) {
		json_object_put(weights);
		cf_err_set(err, "out of memory");
		goto done;
	}
	size_t n;
	const char *s = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN, &n);
	*out = s ? strndup(s, n) : NULL;
	if (!*out) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	*len = n;
	rc = 0;
done:
	json_object_put(root);
	return rc;
}
