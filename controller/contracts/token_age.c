#include "contracts/token_age.h"

#include <json-c/json.h>
#include <stdio.h>

#include "base/jsonparse.h"
#include "base/timeparse.h"

#define WHERE "readyz.tokenAges"

static const char *const slot_names[TOKEN_SLOTS] = {"current", "next", "prev"};

const char *token_slot_name(enum token_slot slot)
{
	return slot < TOKEN_SLOTS ? slot_names[slot] : "unknown";
}

bool token_ages_too_old(const struct token_ages *a, char *msg, size_t size)
{
	char age[32], limit[32];
	int64_t cur = a->age_sec[TOKEN_SLOT_CURRENT];
	if (size)
		msg[0] = '\0';
	if (!a->known || cur < 0 || cur <= a->max_age_sec)
		return false;
	/* Whole days read best at this scale; duration_format gives "960h" for 40 days. */
	snprintf(age, sizeof(age), "%lldd", (long long)(cur / 86400));
	if (a->max_age_sec % 86400 == 0)
		snprintf(limit, sizeof(limit), "%lldd", (long long)(a->max_age_sec / 86400));
	else
		duration_format(a->max_age_sec * 1000, limit, sizeof(limit));
	if (cur < 86400)
		duration_format(cur * 1000, age, sizeof(age));
	snprintf(msg, size,
		 "token.current is %s old, over tokens.maxAge %s: rotate it (clawfleet token "
		 "rotate-fleet)",
		 age, limit);
	return true;
}

int token_ages_render(struct json_object *doc, const struct token_ages *a, struct cf_err *err)
{
	if (!a->known)
		return 0;
	struct json_object *o = json_object_new_object();
	if (!o || json_object_object_add(doc, "tokenAges", o) < 0) {
		json_object_put(o);
		return cf_err_set(err, "out of memory rendering the token ages");
	}
	json_object_object_add(o, "maxAgeSeconds", json_object_new_int64(a->max_age_sec));
	for (int i = 0; i < TOKEN_SLOTS; i++)
		json_object_object_add(o, slot_names[i],
				       a->age_sec[i] < 0 ? NULL : json_object_new_int64(a->age_sec[i]));
	return 0;
}

int token_ages_read(struct json_object *doc, struct token_ages *out, struct cf_err *err)
{
	struct token_ages a = {.age_sec = {-1, -1, -1}};
	struct json_object *o = NULL;
	if (jsonparse_get_object(doc, "readyz", "tokenAges", JSONPARSE_OPTIONAL, &o, err) < 0)
		return -1;
	if (o) {
		if (jsonparse_get_int(o, WHERE, "maxAgeSeconds", JSONPARSE_REQUIRED, 1, INT64_MAX,
				      &a.max_age_sec, err) < 0)
			return -1;
		for (int i = 0; i < TOKEN_SLOTS; i++)
			if (jsonparse_get_int(o, WHERE, slot_names[i], JSONPARSE_OPTIONAL, 0,
					      INT64_MAX, &a.age_sec[i], err) < 0)
				return -1;
		a.known = true;
	}
	*out = a;
	return 0;
}
