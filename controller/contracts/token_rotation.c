#include "contracts/token_rotation.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "base/timeparse.h"

#define WHERE "token rotation"
/* The document nests three levels: the nodes, a node, its members. */
#define DEPTH 8
#define JSON_PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char *const phase_names[] = {
	[TOKEN_ROTATION_STAGING] = "staging",
	[TOKEN_ROTATION_SWITCHED] = "switched",
	[TOKEN_ROTATION_PROMOTED] = "promoted",
	[TOKEN_ROTATION_ROTATED] = "rotated",
};

#define NPHASES (sizeof(phase_names) / sizeof(phase_names[0]))

const char *token_rotation_phase_name(enum token_rotation_phase p)
{
	return (size_t)p < NPHASES ? phase_names[p] : "rotated";
}

int token_rotation_path(const char *token_file, char out[PATH_MAX], struct cf_err *err)
{
	if (snprintf(out, PATH_MAX, "%s" TOKEN_ROTATION_SUFFIX, token_file) >= PATH_MAX)
		return cf_err_set(err, "%s" TOKEN_ROTATION_SUFFIX ": the path is too long",
				  token_file);
	return 0;
}

/* ---- the writer ---- */

static struct json_object *time_json(int64_t ms)
{
	char at[RFC3339_MS_MAX];
	rfc3339_format_ms(ms, at, sizeof(at));
	return json_object_new_string(at);
}

static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *node_json(const struct token_rotation_node *n)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "staged", json_object_new_boolean(n->staged));
	json_object_object_add(o, "acknowledged", json_object_new_boolean(n->acknowledged));
	json_object_object_add(o, "promoted", json_object_new_boolean(n->promoted));
	json_object_object_add(o, "revoked", json_object_new_boolean(n->revoked));
	json_object_object_add(o, "error", str_or_null(n->error));
	return o;
}

struct json_object *token_rotation_json(const struct token_rotation *r)
{
	struct json_object *o = json_object_new_object(), *nodes = json_object_new_object();
	if (!o || !nodes) {
		json_object_put(o);
		json_object_put(nodes);
		return NULL;
	}
	json_object_object_add(o, "phase", json_object_new_string(token_rotation_phase_name(r->phase)));
	json_object_object_add(o, "startedAt", time_json(r->started_ms));
	json_object_object_add(o, "updatedAt", time_json(r->updated_ms));
	json_object_object_add(o, "actor", json_object_new_string(r->actor ? r->actor : ""));
	json_object_object_add(o, "ticket", json_object_new_string(r->ticket ? r->ticket : ""));
	json_object_object_add(o, "sha256", r->sha256[0] ? json_object_new_string(r->sha256) : NULL);
	json_object_object_add(o, "waitingFor", str_or_null(r->waiting_for));
	for (size_t i = 0; i < r->nnodes; i++)
		json_object_object_add(nodes, r->nodes[i].name, node_json(&r->nodes[i]));
	json_object_object_add(o, "nodes", nodes);
	return o;
}

int token_rotation_write(const char *path, const struct token_rotation *r, struct cf_err *err)
{
	struct json_object *o = token_rotation_json(r);
	size_t len = 0;
	const char *text = o ? json_object_to_json_string_length(o, JSON_PLAIN, &len) : NULL;
	int rc = text ? fsutil_write_atomic(path, text, len, 0600, err)
		      : cf_err_set(err, "%s: out of memory", path);
	json_object_put(o);
	return rc;
}

/* ---- the reader ---- */

static int oom(struct cf_err *err)
{
	return cf_err_set(err, WHERE ": out of memory");
}

/* An RFC 3339 member to ms since the epoch, its fraction of a second kept to the ms. */
static int read_time(struct json_object *doc, const char *key, int64_t *out, struct cf_err *err)
{
	const char *s = NULL, *frac;
	time_t t;
	int64_t ms = 0;
	if (jsonparse_get_string(doc, WHERE, key, JSONPARSE_REQUIRED, &s, err) < 0)
		return -1;
	if (rfc3339_parse(s, &t, err) < 0)
		return cf_err_prefix(err, WHERE ".%s", key);
	frac = strchr(s, '.');
	for (int scale = 100; frac && scale && *++frac >= '0' && *frac <= '9'; scale /= 10)
		ms += (*frac - '0') * scale;
	*out = (int64_t)t * 1000 + ms;
	return 0;
}

static bool phase_of(const char *s, enum token_rotation_phase *out)
{
	for (size_t p = 0; p < NPHASES; p++)
		if (strcmp(s, phase_names[p]) == 0) {
			*out = (enum token_rotation_phase)p;
			return true;
		}
	return false;
}

/* A required string member, or null when nullable; copied into a. */
static int read_text(struct json_object *o, const char *where, const char *key, bool nullable,
		     struct arena *a, const char **out, struct cf_err *err)
{
	const char *s = NULL;
	if (jsonparse_get_string(o, where, key, nullable ? JSONPARSE_OPTIONAL : JSONPARSE_REQUIRED,
				 &s, err) < 0)
		return -1;
	if (!s && !json_object_object_get_ex(o, key, NULL))
		return cf_err_set(err, "%s.%s: required (a string or null)", where, key);
	if (s && !(s = arena_strdup(a, s)))
		return oom(err);
	*out = s;
	return 0;
}

static int read_node(struct json_object *o, const char *name, struct arena *a,
		     struct token_rotation_node *n, struct cf_err *err)
{
	char where[sizeof(WHERE ".nodes.") + 256];
	snprintf(where, sizeof(where), WHERE ".nodes.%.255s", name);
	if (!*name)
		return cf_err_set(err, WHERE ".nodes: a node has no name");
	if (!json_object_is_type(o, json_type_object))
		return cf_err_set(err, "%s: want an object", where);
	if (jsonparse_get_bool(o, where, "staged", JSONPARSE_REQUIRED, &n->staged, err) < 0 ||
	    jsonparse_get_bool(o, where, "acknowledged", JSONPARSE_REQUIRED, &n->acknowledged,
			       err) < 0 ||
	    jsonparse_get_bool(o, where, "promoted", JSONPARSE_REQUIRED, &n->promoted, err) < 0 ||
	    jsonparse_get_bool(o, where, "revoked", JSONPARSE_REQUIRED, &n->revoked, err) < 0 ||
	    read_text(o, where, "error", true, a, &n->error, err) < 0)
		return -1;
	if (!(n->name = arena_strdup(a, name)))
		return oom(err);
	return 0;
}

static int read_nodes(struct json_object *doc, struct arena *a, struct token_rotation *r,
		      struct cf_err *err)
{
	struct json_object *nodes = NULL;
	if (jsonparse_get_object(doc, WHERE, "nodes", JSONPARSE_REQUIRED, &nodes, err) < 0)
		return -1;
	size_t n = (size_t)json_object_object_length(nodes), i = 0;
	if (n > TOKEN_ROTATION_NODES_MAX)
		return cf_err_set(err, WHERE ".nodes: %zu nodes, more than %d", n,
				  TOKEN_ROTATION_NODES_MAX);
	r->nodes = arena_alloc(a, (n ? n : 1) * sizeof(*r->nodes));
	if (!r->nodes)
		return oom(err);
	json_object_object_foreach(nodes, name, node)
	{
		r->nodes[i] = (struct token_rotation_node){0};
		if (read_node(node, name, a, &r->nodes[i], err) < 0)
			return -1;
		i++;
	}
	r->nnodes = i;
	return 0;
}

int token_rotation_parse(const char *text, size_t len, struct arena *a,
			 struct token_rotation *out, struct cf_err *err)
{
	struct json_object *doc = NULL;
	struct token_rotation r = {0};
	const char *phase = NULL, *sha = NULL;
	int rc = -1;

	if (len > TOKEN_ROTATION_FILE_MAX) {
		cf_err_set(err, WHERE ": larger than %u bytes", TOKEN_ROTATION_FILE_MAX);
		goto done;
	}
	if (jsonparse_object(text, len, DEPTH, &doc, err) < 0) {
		cf_err_prefix(err, WHERE);
		goto done;
	}
	if (jsonparse_get_string(doc, WHERE, "phase", JSONPARSE_REQUIRED, &phase, err) < 0)
		goto done;
	if (!phase_of(phase, &r.phase)) {
		cf_err_set(err, WHERE ".phase: want staging, switched, promoted or rotated");
		goto done;
	}
	if (read_time(doc, "startedAt", &r.started_ms, err) < 0 ||
	    read_time(doc, "updatedAt", &r.updated_ms, err) < 0 ||
	    read_text(doc, WHERE, "actor", false, a, &r.actor, err) < 0 ||
	    read_text(doc, WHERE, "ticket", false, a, &r.ticket, err) < 0 ||
	    read_text(doc, WHERE, "sha256", true, a, &sha, err) < 0 ||
	    read_text(doc, WHERE, "waitingFor", true, a, &r.waiting_for, err) < 0)
		goto done;
	if (sha && !token_view_is_sha8(sha)) {
		cf_err_set(err, WHERE ".sha256: want 8 lowercase hex digits");
		goto done;
	}
	snprintf(r.sha256, sizeof(r.sha256), "%s", sha ? sha : "");
	if (read_nodes(doc, a, &r, err) < 0)
		goto done;
	*out = r;
	rc = 0;
done:
	json_object_put(doc);
	return rc;
}

int token_rotation_load(const char *path, struct arena *a, struct token_rotation *out,
			bool *found, struct cf_err *err)
{
	char *text = NULL;
	size_t len = 0;
	*found = false;
	errno = 0;
	if (fsutil_read_file(path, TOKEN_ROTATION_FILE_MAX, &text, &len, err) < 0)
		return errno == ENOENT ? 0 : -1;
	*found = true;
	int rc = token_rotation_parse(text, len, a, out, err);
	if (rc < 0)
		cf_err_prefix(err, "%s", path);
	free(text);
	return rc;
}
