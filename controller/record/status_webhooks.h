/* status_webhooks: the Promotion's webhooks in /status and /metrics, from the answers the
 * controller keeps (plan/hooks.h). /status gets analysis.webhooks: one entry per webhook, its
 * latest call (name, type, verdict, the HTTP status or the error, attempts, when it ended);
 * /metrics gets clawfleet_webhook_calls_total{webhook,result} (result ok: a 2xx, rejected:
 * another status, error: no answer). */
#ifndef CLAWFLEET_STATUS_WEBHOOKS_H
#define CLAWFLEET_STATUS_WEBHOOKS_H
#include <json-c/json.h>

#include "record/status.h"

/* Adds "webhooks" to root's "analysis" object (made when there is none). */
void status_webhooks_add(struct json_object *root, const struct status_view *v);
/* The metric family as exposition text, malloc'd; NULL when out of memory. */
char *status_webhooks_metrics(const struct status_view *v);

#endif
