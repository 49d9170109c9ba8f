#include "contracts/token_view.h"

#include <json-c/json.h>
#include <string.h>
#include <time.h>

#include "base/jsonparse.h"
#include "base/timeparse.h"

#define WHERE "token view"

bool token_view_is_sha8(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == TOKEN_VIEW_SHA_SIZE - 1;
}

static struct json_object *sha_or_null(const char *sha8)
{
	return sha8[0] ? json_object_new_string(sha8) : NULL;
}

struct json_object *token_view_json(const struct token_view *v)
{
	struct json_object *o = json_object_new_object(), *promoted = NULL;
	if (!o)
		return NULL;
	json_object_object_add(o, "current", sha_or_null(v->current));
	json_object_object_add(o, "next", sha_or_null(v->next));
	json_object_object_add(o, "prev", sha_or_null(v->prev));
	if (v->promoted) {
		char at[RFC3339_MS_MAX];
		rfc3339_format_ms(v->promoted_ms, at, sizeof(at));
		promoted = json_object_new_object();
		json_object_object_add(promoted, "at", json_object_new_string(at));
		/* The agent reads it back from its audit file: one edited by hand may hold
		 * anything there, which is not passed on as a SHA8. */
		json_object_object_add(promoted, "sha256",
				       token_view_is_sha8(v->promoted_sha)
					       ? json_object_new_string(v->promoted_sha)
					       : NULL);
	}
	json_object_object_add(o, "lastPromote", promoted);
	return o;
}

/* A SHA8 member of o (where names o) into out; "" when absent or null. */
static int read_sha(struct json_object *o, const char *where, const char *key,
		    enum jsonparse_need need, char out[TOKEN_VIEW_SHA_SIZE], struct cf_err *err)
{
	const char *s = NULL;
	if (jsonparse_get_string(o, where, key, need, &s, err) < 0)
		return -1;
	if (s && !token_view_is_sha8(s))
		return cf_err_set(err, "%s.%s: want 8 lowercase hex digits", where, key);
	memcpy(out, s ? s : "", s ? TOKEN_VIEW_SHA_SIZE : 1);
	return 0;
}

int token_view_read(struct json_object *doc, struct token_view *out, struct cf_err *err)
{
	struct token_view v = {0};
	struct json_object *promote = NULL;
	const char *at = NULL;
	time_t t;

	if (!json_object_is_type(doc, json_type_object))
		return cf_err_set(err, WHERE ": not a JSON object");
	if (read_sha(doc, WHERE, "current", JSONPARSE_OPTIONAL, v.current, err) < 0 ||
	    read_sha(doc, WHERE, "next", JSONPARSE_OPTIONAL, v.next, err) < 0 ||
	    read_sha(doc, WHERE, "prev", JSONPARSE_OPTIONAL, v.prev, err) < 0 ||
	    jsonparse_get_object(doc, WHERE, "lastPromote", JSONPARSE_OPTIONAL, &promote, err) < 0)
		return -1;
	if (promote) {
		if (jsonparse_get_string(promote, WHERE ".lastPromote", "at", JSONPARSE_REQUIRED, &at,
					 err) < 0 ||
		    read_sha(promote, WHERE ".lastPromote", "sha256", JSONPARSE_OPTIONAL,
			     v.promoted_sha, err) < 0)
			return -1;
		if (rfc3339_parse(at, &t, err) < 0)
			return cf_err_prefix(err, WHERE ".lastPromote.at");
		v.promoted = true;
		v.promoted_ms = (int64_t)t * 1000;
	}
	*out = v;
	return 0;
}
