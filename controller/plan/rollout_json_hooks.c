/* The webhooks' part of the rollout state's JSON (rollout_internal.h): written and read here,
 * beside each other, so that what is written is what is read back. A key is checked to be one
 * the planner makes ("<checksum>/<question>"), so a hand-edited file cannot smuggle another
 * build's answer in; an owed call's checksum is its key's. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "base/names.h"
#include "plan/hooks.h"
#include "plan/rollout.h"
#include "plan/rollout_internal.h"

#define FAILURES_LIMIT 1000

static const char *const mark_keys[] = {"name", "key", "passed", "failures"};
static const char *const owed_keys[] = {"name", "type", "key", "phase", "eventMessage", "eventType"};
static const char *const flagger_phases[] = {"Initializing", "Waiting",	 "Progressing", "Promoting",
					     "Finalising",   "Succeeded", "Failed"};
static const char *const event_types[] = {"Normal", "Warning"};

/* Adds v under key; false (v released) when out of memory. */
static bool add(struct json_object *o, const char *key, struct json_object *v)
{
	if (v && json_object_object_add(o, key, v) == 0)
		return true;
	json_object_put(v);
	return false;
}

static struct json_object *mark_json(const struct hook_mark *m)
{
	struct json_object *o = json_object_new_object();
	if (!o || !add(o, "name", json_object_new_string(m->name)) ||
	    !add(o, "key", json_object_new_string(m->key)) ||
	    !add(o, "passed", json_object_new_boolean(m->passed)) ||
	    !add(o, "failures", json_object_new_int(m->failures))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *owed_json(const struct hook_call *c)
{
	struct json_object *o = json_object_new_object();
	if (!o || !add(o, "name", json_object_new_string(c->name)) ||
	    !add(o, "type", json_object_new_string(webhook_type_name(c->type))) ||
	    !add(o, "key", json_object_new_string(c->key)) ||
	    !add(o, "phase", json_object_new_string(c->phase)) ||
	    !add(o, "eventMessage", json_object_new_string(c->event_message)) ||
	    !add(o, "eventType", json_object_new_string(c->event_type ? c->event_type : ""))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

struct json_object *rollout_hooks_to_json(const struct hook_memory *h)
{
	struct json_object *o = json_object_new_object();
	struct json_object *marks = json_object_new_array(), *owed = json_object_new_array();
	bool ok = o && marks && owed;
	if (!ok) {
		json_object_put(marks);
		json_object_put(owed);
	} else {
		ok = add(o, "marks", marks);
		ok = add(o, "owed", owed) && ok;
	}
	for (size_t i = 0; ok && i < h->nmarks; i++) {
		struct json_object *m = mark_json(&h->marks[i]);
		ok = m && json_object_array_add(marks, m) == 0;
		if (!ok)
			json_object_put(m);
	}
	for (size_t i = 0; ok && i < h->nowed; i++) {
		struct json_object *c = owed_json(&h->owed[i]);
		ok = c && json_object_array_add(owed, c) == 0;
		if (!ok)
			json_object_put(c);
	}
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int one_of(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

/* Exactly keys[0..n), no other. */
static int shape(struct json_object *o, const char *where, const char *const *keys, size_t n,
		 struct cf_err *err)
{
	size_t seen = 0;
	if (!json_object_is_type(o, json_type_object))
		return cf_err_set(err, "%s: must be an object", where);
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		if (one_of(key, keys, n) < 0)
			return cf_err_set(err, "%s.%.100s: unknown field", where, key);
		seen++;
	}
	if (seen != n)
		return cf_err_set(err, "%s: must hold %zu fields (%s, ...)", where, n, keys[0]);
	return 0;
}

static int name_and_key(struct json_object *o, const char *where, char *name, char *key,
			struct cf_err *err)
{
	struct cf_err e;
	if (rollout_json_plain_text(o, where, "name", name, HOOK_NAME_MAX, err) < 0 ||
	    rollout_json_plain_text(o, where, "key", key, HOOK_KEY_MAX, err) < 0)
		return -1;
	if (name_check_dns_label(name, &e) < 0)
		return cf_err_set(err, "%s.name: %s", where, e.msg);
	if (strspn(key, "0123456789abcdef") != HOOK_CHECKSUM_LEN || key[HOOK_CHECKSUM_LEN] != '/' ||
	    !key[HOOK_CHECKSUM_LEN + 1])
		return cf_err_set(err, "%s.key: want %d hex digits, a slash and a question", where,
				  HOOK_CHECKSUM_LEN);
	return 0;
}

static int read_mark(struct json_object *o, const char *where, struct hook_mark *m,
		     struct cf_err *err)
{
	struct json_object *v = NULL;
	if (shape(o, where, mark_keys, COUNT(mark_keys), err) < 0 ||
	    name_and_key(o, where, m->name, m->key, err) < 0)
		return -1;
	if (!json_object_object_get_ex(o, "passed", &v) || !json_object_is_type(v, json_type_boolean))
		return cf_err_set(err, "%s.passed: must be true or false", where);
	m->passed = json_object_get_boolean(v);
	if (!json_object_object_get_ex(o, "failures", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 || json_object_get_int64(v) > FAILURES_LIMIT)
		return cf_err_set(err, "%s.failures: must be an integer from 0 to %d", where,
				  FAILURES_LIMIT);
	m->failures = (int)json_object_get_int64(v);
	return 0;
}

static int read_owed(struct json_object *o, const char *where, struct hook_call *c,
		     struct cf_err *err)
{
	char type[32], event_type[16];
	int i;
	if (shape(o, where, owed_keys, COUNT(owed_keys), err) < 0 ||
	    name_and_key(o, where, c->name, c->key, err) < 0 ||
	    rollout_json_plain_text(o, where, "type", type, sizeof(type), err) < 0 ||
	    rollout_json_plain_text(o, where, "phase", c->phase, sizeof(c->phase), err) < 0 ||
	    rollout_json_plain_text(o, where, "eventMessage", c->event_message, sizeof(c->event_message), err) < 0 ||
	    rollout_json_plain_text(o, where, "eventType", event_type, sizeof(event_type), err) < 0)
		return -1;
	if (strcmp(type, webhook_type_name(WEBHOOK_EVENT)) == 0)
		c->type = WEBHOOK_EVENT;
	else if (strcmp(type, webhook_type_name(WEBHOOK_POST_ROLLOUT)) == 0)
		c->type = WEBHOOK_POST_ROLLOUT;
	else
		return cf_err_set(err, "%s.type: want event or post-rollout", where);
	if (one_of(c->phase, flagger_phases, COUNT(flagger_phases)) < 0)
		return cf_err_set(err, "%s.phase: want one of Flagger's phases (Progressing, ...)",
				  where);
	i = one_of(event_type, event_types, COUNT(event_types));
	if (c->type == WEBHOOK_EVENT ? i < 0 : event_type[0] != '\0')
		return cf_err_set(err, "%s.eventType: Normal or Warning for an event, \"\" otherwise",
				  where);
	c->event_type = i < 0 ? NULL : event_types[i];
	memcpy(c->checksum, c->key, HOOK_CHECKSUM_LEN);
	c->checksum[HOOK_CHECKSUM_LEN] = '\0';
	return 0;
}

int rollout_hooks_from_json(struct json_object *o, struct hook_memory *h, struct cf_err *err)
{
	struct hook_memory m;
	struct json_object *marks = NULL, *owed = NULL;
	char where[48];
	static const char *const keys[] = {"marks", "owed"};
	if (!o)
		return 0;
	memset(&m, 0, sizeof(m));
	if (shape(o, "hooks", keys, COUNT(keys), err) < 0)
		return -1;
	json_object_object_get_ex(o, "marks", &marks);
	json_object_object_get_ex(o, "owed", &owed);
	if (!json_object_is_type(marks, json_type_array) ||
	    json_object_array_length(marks) > HOOK_MARKS_MAX)
		return cf_err_set(err, "hooks.marks: must be an array of at most %d", HOOK_MARKS_MAX);
	if (!json_object_is_type(owed, json_type_array) ||
	    json_object_array_length(owed) > HOOK_OWED_MAX)
		return cf_err_set(err, "hooks.owed: must be an array of at most %d", HOOK_OWED_MAX);
	for (; m.nmarks < json_object_array_length(marks); m.nmarks++) {
		snprintf(where, sizeof(where), "hooks.marks[%zu]", m.nmarks);
		if (read_mark(json_object_array_get_idx(marks, m.nmarks), where, &m.marks[m.nmarks],
			      err) < 0)
			return -1;
		for (size_t k = 0; k < m.nmarks; k++)
			if (strcmp(m.marks[k].name, m.marks[m.nmarks].name) == 0)
				return cf_err_set(err, "%s.name: marks[%zu] names it too", where, k);
	}
	for (; m.nowed < json_object_array_length(owed); m.nowed++) {
		snprintf(where, sizeof(where), "hooks.owed[%zu]", m.nowed);
		if (read_owed(json_object_array_get_idx(owed, m.nowed), where, &m.owed[m.nowed],
			      err) < 0)
			return -1;
	}
	*h = m;
	return 0;
}
