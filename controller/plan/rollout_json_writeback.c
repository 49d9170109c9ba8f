/* The write-back's part of the rollout state's JSON (rollout_internal.h): written and read here,
 * beside each other, so that what is written is what is read back. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "base/names.h"
#include "plan/rollout.h"
#include "plan/rollout_internal.h"

#define WRITEBACK_ATTEMPTS_LIMIT 1000

static const char *const writeback_keys[] = {"state",  "tag",	"tagCommit", "to",
					     "commit", "error", "attempts",  "nextMs"};

struct json_object *rollout_writeback_to_json(const struct rollout_writeback *wb)
{
	struct json_object *o = json_object_new_object();
	struct json_object *v[] = {
		json_object_new_string(name_of(writeback_state_names, COUNT(writeback_state_names),
					       (int)wb->state)),
		json_object_new_string(wb->tag),
		json_object_new_string(wb->tag_commit),
		json_object_new_string(wb->to),
		json_object_new_string(wb->commit),
		json_object_new_string(wb->error),
		json_object_new_int(wb->attempts),
		json_object_new_int64(wb->next_ms),
	};
	bool oom = !o;
	for (size_t i = 0; i < COUNT(v); i++)
		if (oom || !v[i] || json_object_object_add(o, writeback_keys[i], v[i]) < 0) {
			json_object_put(v[i]);
			oom = true;
		}
	if (oom) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static bool is_hex40(const char *s)
{
	return !*s || (strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40);
}

/* A string member of at most size - 1 bytes without control characters. */
static const char *text(struct json_object *o, const char *key, size_t size)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) || strlen(s) >= size)
		return NULL;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return NULL;
	return s;
}

int rollout_writeback_from_json(struct json_object *o, struct rollout_writeback *wb,
				struct cf_err *err)
{
	struct rollout_writeback w = {0};
	struct json_object *v = NULL;
	const char *f[6];
	size_t nkeys = 0;
	struct cf_err e;
	if (!o)
		return 0;
	if (!json_object_is_type(o, json_type_object))
		return cf_err_set(err, "writeBack: must be an object");
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		size_t i = 0;
		while (i < COUNT(writeback_keys) && strcmp(writeback_keys[i], key) != 0)
			i++;
		if (i == COUNT(writeback_keys))
			return cf_err_set(err, "writeBack.%.100s: unknown field", key);
		nkeys++;
	}
	if (nkeys != COUNT(writeback_keys))
		return cf_err_set(err, "writeBack: must hold %s", "state, tag, tagCommit, to, commit, "
								 "error, attempts and nextMs");
	static const size_t sizes[] = {16, ROLLOUT_TEXT_MAX, 41, ROLLOUT_TEXT_MAX, 41,
				       ROLLOUT_MESSAGE_MAX};
	for (size_t i = 0; i < COUNT(f); i++)
		if (!(f[i] = text(o, writeback_keys[i], sizes[i])))
			return cf_err_set(err, "writeBack.%s: must be a string of at most %zu bytes "
					       "without control characters",
					  writeback_keys[i], sizes[i] - 1);
	int state = 0;
	while ((size_t)state < COUNT(writeback_state_names) &&
	       strcmp(writeback_state_names[state], f[0]) != 0)
		state++;
	if (state == WRITEBACK_NONE || (size_t)state == COUNT(writeback_state_names))
		return cf_err_set(err, "writeBack.state: want pending, done or failed");
	if (name_check_git_tag(f[1], &e) < 0 || name_check_git_tag(f[3], &e) < 0)
		return cf_err_set(err, "writeBack: tag and to must be Git tags: %s", e.msg);
	if (!is_hex40(f[2]) || !is_hex40(f[4]))
		return cf_err_set(err, "writeBack: tagCommit and commit: want 40 lower-case hex "
				       "digits");
	if (!json_object_object_get_ex(o, "attempts", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 || json_object_get_int64(v) > WRITEBACK_ATTEMPTS_LIMIT)
		return cf_err_set(err, "writeBack.attempts: must be an integer from 0 to %d",
				  WRITEBACK_ATTEMPTS_LIMIT);
	w.attempts = (int)json_object_get_int64(v);
	if (!json_object_object_get_ex(o, "nextMs", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return cf_err_set(err, "writeBack.nextMs: must be an integer from 0");
	w.next_ms = json_object_get_int64(v);
	w.state = (enum rollout_writeback_state)state;
	snprintf(w.tag, sizeof(w.tag), "%s", f[1]);
	snprintf(w.tag_commit, sizeof(w.tag_commit), "%s", f[2]);
	snprintf(w.to, sizeof(w.to), "%s", f[3]);
	snprintf(w.commit, sizeof(w.commit), "%s", f[4]);
	snprintf(w.error, sizeof(w.error), "%s", f[5]);
	*wb = w;
	return 0;
}
