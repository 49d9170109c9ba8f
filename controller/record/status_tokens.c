#include "record/status_tokens.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "contracts/token_age.h"

static const struct token_ages *node_ages(const struct node_observation *o)
{
	return o->reachable && o->tokens.known ? &o->tokens : NULL;
}

/* The controller's own file as a token_ages with only the current slot. */
static void controller_ages(const struct status_tokens *t, struct token_ages *out)
{
	memset(out, 0, sizeof(*out));
	out->known = t->agent_token_age_ms >= 0;
	out->max_age_sec = t->max_age_ms / 1000 > 0 ? t->max_age_ms / 1000 : 1;
	out->age_sec[TOKEN_SLOT_CURRENT] = t->agent_token_age_ms / 1000;
	out->age_sec[TOKEN_SLOT_NEXT] = out->age_sec[TOKEN_SLOT_PREV] = -1;
}

static void append(char *key, size_t size, size_t *used, const char *name)
{
	int w = snprintf(key + *used, *used < size ? size - *used : 0, "%s%s", *used ? "," : "",
			 name);
	if (w > 0)
		*used += (size_t)w;
	if (size && *used >= size)
		*used = size - 1;
}

bool status_tokens_too_old(const struct status_tokens *t, char *key, size_t size)
{
	char msg[512];
	struct token_ages own;
	size_t used = 0;
	if (size)
		key[0] = '\0';
	controller_ages(t, &own);
	if (token_ages_too_old(&own, msg, sizeof(msg)))
		append(key, size, &used, "controller");
	for (size_t i = 0; i < t->n; i++) {
		const struct token_ages *a = node_ages(&t->obs[i]);
		if (a && token_ages_too_old(a, msg, sizeof(msg)))
			append(key, size, &used, t->obs[i].name);
	}
	return used > 0;
}

static struct json_object *age_or_null(int64_t sec)
{
	return sec < 0 ? NULL : json_object_new_int64(sec);
}

static void add_too_old(struct json_object *list, const char *node, const struct token_ages *a)
{
	char msg[512];
	if (!token_ages_too_old(a, msg, sizeof(msg)))
		return;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "node", node ? json_object_new_string(node) : NULL);
	json_object_object_add(o, "reason", json_object_new_string(TOKEN_AGE_REASON));
	json_object_object_add(o, "message", json_object_new_string(msg));
	json_object_array_add(list, o);
}

struct json_object *status_tokens_json(const struct status_tokens *t)
{
	if (!t)
		return NULL;
	struct json_object *o = json_object_new_object(), *nodes = json_object_new_object();
	struct json_object *own_json = json_object_new_object(), *too_old = json_object_new_array();
	struct token_ages own;
	controller_ages(t, &own);
	json_object_object_add(o, "maxAgeSeconds", json_object_new_int64(own.max_age_sec));
	json_object_object_add(own_json, "ageSeconds",
			       age_or_null(own.known ? own.age_sec[TOKEN_SLOT_CURRENT] : -1));
	json_object_object_add(o, "agentToken", own_json);
	add_too_old(too_old, NULL, &own);
	for (size_t i = 0; i < t->n; i++) {
		const struct token_ages *a = node_ages(&t->obs[i]);
		if (!a)
			continue;
		struct json_object *slots = json_object_new_object();
		json_object_object_add(slots, "maxAgeSeconds", json_object_new_int64(a->max_age_sec));
		for (int s = 0; s < TOKEN_SLOTS; s++)
			json_object_object_add(slots, token_slot_name(s), age_or_null(a->age_sec[s]));
		json_object_object_add(nodes, t->obs[i].name, slots);
		add_too_old(too_old, t->obs[i].name, a);
	}
	json_object_object_add(o, "nodes", nodes);
	json_object_object_add(o, "tooOld", too_old);
	return o;
}
