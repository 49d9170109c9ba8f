/* spec.canary.analysis.webhooks: the schema has checked each item's shape (name pattern, type
 * enum, http or https URL, string metadata) and desired_check_secrets the metadata keys; this
 * turns them into typed webhooks and applies the rules a schema cannot state: names unique in
 * the Promotion, a timeout of at most 60s. */
#include "desired/desired_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timeparse.h"
#include "base/yamltree.h"

#define WEBHOOKS_PATH "spec.canary.analysis.webhooks"
#define WEBHOOK_TIMEOUT_DEFAULT_MS 10000

static const char *const webhook_type_names[WEBHOOK_TYPES] = {
	"pre-rollout",	     "rollout",	     "confirm-rollout", "confirm-traffic-increase",
	"confirm-promotion", "post-rollout", "rollback",	"event",
};

const char *webhook_type_name(enum webhook_type t)
{
	return t < WEBHOOK_TYPES ? webhook_type_names[t] : "?";
}

static bool type_of(const char *s, enum webhook_type *out)
{
	for (int i = 0; s && i < WEBHOOK_TYPES; i++)
		if (strcmp(s, webhook_type_names[i]) == 0) {
			*out = (enum webhook_type)i;
			return true;
		}
	return false;
}

static void located(struct loader *ld, const struct loaded_object *o, const struct ynode *at,
		    size_t i, const char *field, const char *msg)
{
	char path[96];
	snprintf(path, sizeof(path), WEBHOOKS_PATH "[%zu].%s", i, field);
	diag_add(ld->diags, o->file, at->line, at->col, o->label, path, "%s", msg);
}

static bool load_metadata(struct loader *ld, const struct ynode *meta, struct promotion_webhook *w)
{
	if (!meta || meta->kind != YNODE_MAP || !meta->n)
		return true;
	w->metadata = calloc(meta->n, sizeof(*w->metadata));
	if (!w->metadata) {
		ld->out_of_memory = true;
		return false;
	}
	for (size_t k = 0; k < meta->n; k++) {
		const char *value = ynode_str(meta->pairs[k].value);
		if (!value)
			return false; /* the schema reports a value that is not a string */
		struct header_kv *kv = &w->metadata[w->nmetadata++];
		kv->name = desired_strdup(ld, meta->pairs[k].key->str);
		kv->value = desired_strdup(ld, value);
	}
	return true;
}

static bool load_one(struct loader *ld, const struct loaded_object *o, const struct ynode *item,
		     size_t i, struct promotion_webhook *w)
{
	const struct ynode *timeout = ynode_get(item, "timeout");
	long long limit = 1;
	const char *type = ynode_str(ynode_get(item, "type"));
	w->name = desired_strdup(ld, ynode_str(ynode_get(item, "name")));
	w->url = desired_strdup(ld, ynode_str(ynode_get(item, "url")));
	w->timeout_ms = WEBHOOK_TIMEOUT_DEFAULT_MS;
	if (!w->name || !w->url || !type_of(type, &w->type))
		return false; /* the schema reports a missing or malformed field */
	if (timeout && ynode_type(timeout) != YT_NULL) {
		const char *s = ynode_str(timeout);
		if (!s || duration_parse(s, &w->timeout_ms, NULL) < 0)
			return false;
		if (w->timeout_ms > WEBHOOK_TIMEOUT_MAX_MS || w->timeout_ms < 1) {
			located(ld, o, timeout, i, "timeout",
				"a webhook call may take at most 60s: the rollout waits on its answer");
			return false;
		}
	}
	if (ynode_get(item, "failureLimit") && ynode_int(ynode_get(item, "failureLimit"), &limit) < 0)
		return false; /* the schema reports a failureLimit that is not an integer */
	w->failure_limit = limit >= 1 && limit <= 100 ? (int)limit : 1;
	return load_metadata(ld, ynode_get(item, "metadata"), w);
}

bool desired_load_webhooks(struct loader *ld, const struct loaded_object *o, struct promotion *p)
{
	const struct ynode *hooks = desired_value_at(o->node, WEBHOOKS_PATH);
	bool ok = true;
	if (!hooks || hooks->kind != YNODE_SEQ || !hooks->n)
		return true;
	p->webhooks = calloc(hooks->n, sizeof(*p->webhooks));
	if (!p->webhooks) {
		ld->out_of_memory = true;
		return false;
	}
	for (size_t i = 0; i < hooks->n; i++) {
		const struct ynode *item = hooks->items[i];
		struct promotion_webhook *w = &p->webhooks[p->nwebhooks++];
		if (item->kind != YNODE_MAP || !load_one(ld, o, item, i, w)) {
			ok = false;
			continue;
		}
		for (size_t k = 0; k + 1 < p->nwebhooks; k++) {
			if (!p->webhooks[k].name || strcmp(p->webhooks[k].name, w->name) != 0)
				continue;
			char msg[160];
			snprintf(msg, sizeof(msg),
				 "\"%s\" names webhooks[%zu] too: /status and holds name a webhook "
				 "by its name",
				 w->name, k);
			located(ld, o, ynode_get(item, "name"), i, "name", msg);
			ok = false;
			break;
		}
	}
	return ok;
}

void desired_free_webhooks(struct promotion *p)
{
	for (size_t i = 0; i < p->nwebhooks; i++) {
		struct promotion_webhook *w = &p->webhooks[i];
		free(w->name);
		free(w->url);
		for (size_t k = 0; k < w->nmetadata; k++) {
			free(w->metadata[k].name);
			free(w->metadata[k].value);
		}
		free(w->metadata);
	}
	free(p->webhooks);
	p->webhooks = NULL;
	p->nwebhooks = 0;
}
