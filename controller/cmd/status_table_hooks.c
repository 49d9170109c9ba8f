/* The webhook gate's line of the status table (status_table_internal.h): a confirm-* hook that
 * holds the rollout, named, with what it answered, how often it was tried and how long ago, so
 * the person reading knows whom to ask without reading /status's JSON. */
#include "cmd/status_table_internal.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>

#define HOOK_TEXT_MAX 256 /* a name or an error as printed */

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* src without control characters (C0, DEL, C1), cut to size. */
static void clean(char *dst, size_t size, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = 0;
	for (; *s && n + 1 < size; s++) {
		bool c1 = s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
		dst[n++] = *s < 0x20 || *s == 0x7f || c1 ? '?' : (char)*s;
		s += c1;
	}
	dst[n] = '\0';
}

/* The first webhook of type that said no. */
static struct json_object *refusing(struct json_object *doc, const char *type)
{
	struct json_object *hooks = get(get(doc, "analysis"), "webhooks");
	size_t n = json_object_is_type(hooks, json_type_array) ? json_object_array_length(hooks) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *h = json_object_array_get_idx(hooks, i);
		const char *t = str(h, "type"), *verdict = str(h, "verdict");
		if (t && verdict && strcmp(t, type) == 0 && strcmp(verdict, "failed") == 0)
			return h;
	}
	return NULL;
}

void status_table_gate(FILE *out, struct json_object *doc, int64_t now_ms)
{
	const char *reason = str(get(doc, "hold"), "reason");
	char type[64], name[HOOK_TEXT_MAX], said[HOOK_TEXT_MAX], ago[32];
	if (!reason || strncmp(reason, "webhook.confirm-", 16) != 0)
		return;
	clean(type, sizeof(type), reason + 8);
	struct json_object *h = refusing(doc, type), *status = get(h, "status");
	if (!h)
		return;
	clean(name, sizeof(name), str(h, "name") ? str(h, "name") : "-");
	if (json_object_is_type(status, json_type_int))
		snprintf(said, sizeof(said), "HTTP %d", json_object_get_int(status));
	else
		clean(said, sizeof(said), str(h, "error") ? str(h, "error") : "no answer");
	int attempts = json_object_get_int(get(h, "attempts"));
	int64_t at = status_table_time_of(h, "at");
	fprintf(out, "%-11s %s \"%s\": %s (%d attempt%s", "gate", type, name, said, attempts,
		attempts == 1 ? "" : "s");
	if (at >= 0) {
		status_table_span(ago, sizeof(ago), now_ms - at);
		fprintf(out, ", %s ago", ago);
	}
	fprintf(out, ")\n");
}
