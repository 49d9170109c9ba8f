/* The Promotion's metrics in `clawfleet status` and `clawfleet rollout get` (status_table.h):
 * one line for each metric whose last window failed or had no data, in words as /status gives
 * them, with the failed windows counted against failureLimit. Passing metrics print nothing:
 * the table says what needs a person's eyes. */
#include "cmd/status_table.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>

static const char *member_str(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	json_object_object_get_ex(o, key, &v);
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int member_int(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	json_object_object_get_ex(o, key, &v);
	return json_object_is_type(v, json_type_int) ? json_object_get_int(v) : 0;
}

/* The text without control characters (C0, DEL): a message cannot move the cursor. */
static void put_clean(FILE *out, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		fputc(*c < 0x20 || *c == 0x7f ? '?' : *c, out);
}

void status_table_metrics(FILE *out, struct json_object *doc)
{
	struct json_object *analysis = NULL, *metrics = NULL;
	json_object_object_get_ex(doc, "analysis", &analysis);
	json_object_object_get_ex(analysis, "metrics", &metrics);
	if (!json_object_is_type(metrics, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(metrics); i++) {
		struct json_object *m = json_object_array_get_idx(metrics, i);
		const char *verdict = member_str(m, "verdict"), *message = member_str(m, "message");
		bool failed = verdict && strcmp(verdict, "fail") == 0;
		if (!message || (!failed && (!verdict || strcmp(verdict, "noData") != 0)))
			continue;
		fprintf(out, "%-11s ", "metric");
		put_clean(out, message);
		if (failed)
			fprintf(out, " [%d of %d failed windows]", member_int(m, "failures"),
				member_int(m, "failureLimit"));
		fputc('\n', out);
	}
}
