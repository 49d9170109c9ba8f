#include "record/status_webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timeparse.h"

static struct json_object *webhook_json(const struct hook_result *r)
{
	struct json_object *o = json_object_new_object();
	char at[RFC3339_MS_MAX];
	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(o, "type", json_object_new_string(webhook_type_name(r->type)));
	json_object_object_add(o, "verdict", json_object_new_string(hook_verdict_name(r->verdict)));
	json_object_object_add(o, "status", r->status ? json_object_new_int64(r->status) : NULL);
	json_object_object_add(o, "error", r->error[0] ? json_object_new_string(r->error) : NULL);
	json_object_object_add(o, "attempts", json_object_new_int(r->attempts));
	json_object_object_add(o, "key", json_object_new_string(r->key));
	if (r->at_ms > 0)
		rfc3339_format_ms(r->at_ms, at, sizeof(at));
	json_object_object_add(o, "at", r->at_ms > 0 ? json_object_new_string(at) : NULL);
	return o;
}

/* A webhook's latest call: one still waiting for its answer, else the one that ended last. */
static bool later(const struct hook_result *a, const struct hook_result *b)
{
	if (a->verdict == HOOK_PENDING || b->verdict == HOOK_PENDING)
		return a->verdict == HOOK_PENDING && b->verdict != HOOK_PENDING;
	return a->at_ms > b->at_ms;
}

void status_webhooks_add(struct json_object *root, const struct status_view *v)
{
	struct json_object *analysis = NULL, *arr = json_object_new_array();
	if (!json_object_object_get_ex(root, "analysis", &analysis) || !analysis) {
		analysis = json_object_new_object();
		json_object_object_add(root, "analysis", analysis);
	}
	for (size_t i = 0; i < v->nwebhooks; i++) {
		const struct hook_result *r = &v->webhooks[i];
		bool latest = true;
		/* The first of equally late calls stands for the webhook. */
		for (size_t k = 0; k < v->nwebhooks && latest; k++)
			if (k != i && strcmp(v->webhooks[k].name, r->name) == 0)
				latest = k < i ? later(r, &v->webhooks[k]) : !later(&v->webhooks[k], r);
		if (latest)
			json_object_array_add(arr, webhook_json(r));
	}
	json_object_object_add(analysis, "webhooks", arr);
}

bool status_webhooks_waiting(const struct status_view *v, char *dst, size_t size)
{
	const char *reason = v->state->held_reason;
	const struct hook_result *refused = NULL;
	if (strncmp(reason, "webhook.confirm-", 16) != 0)
		return false;
	for (size_t i = 0; i < v->nwebhooks && !refused; i++)
		if (v->webhooks[i].verdict == HOOK_FAILED &&
		    strcmp(webhook_type_name(v->webhooks[i].type), reason + 8) == 0)
			refused = &v->webhooks[i];
	if (!refused) {
		snprintf(dst, size, "the %s hooks to answer 2xx", reason + 8);
		return true;
	}
	char said[HOOK_ERROR_MAX];
	hook_result_describe(refused, said, sizeof(said));
	snprintf(dst, size, "%s hook \"%s\" to answer 2xx (it answered %s)", reason + 8,
		 refused->name, said);
	return true;
}

char *status_webhooks_metrics(const struct status_view *v)
{
	size_t cap = 256 + v->nwebhook_counts * 3 * (HOOK_NAME_MAX + 96);
	char *text = malloc(cap);
	size_t used = 0;
	if (!text)
		return NULL;
	used += (size_t)snprintf(text, cap,
				 "# HELP clawfleet_webhook_calls_total Webhook calls, by webhook and "
				 "result: ok (2xx), rejected (another status), error (no answer).\n"
				 "# TYPE clawfleet_webhook_calls_total counter\n");
	for (size_t i = 0; i < v->nwebhook_counts && used < cap; i++) {
		const struct hook_count *c = &v->webhook_counts[i];
		const char *names[] = {"ok", "rejected", "error"};
		unsigned long long n[] = {c->ok, c->rejected, c->error};
		for (int k = 0; k < 3 && used < cap; k++)
			used += (size_t)snprintf(text + used, cap - used,
						 "clawfleet_webhook_calls_total{webhook=\"%s\","
						 "result=\"%s\"} %llu\n",
						 c->name, names[k], n[k]);
	}
	return text;
}
