/* status_webhooks: the Promotion's webhooks in /status and /metrics, from the answers the
 * controller keeps (plan/hooks.h). /status gets analysis.webhooks: one entry per webhook, its
 * latest call (name, type, verdict, the HTTP status or the error, attempts, when it ended);
 * /metrics gets clawfleet_webhook_calls_total{webhook,result} (result ok: a 2xx, rejected:
 * another status, error: no answer); a hold at a gate says which hook it waits for. */
#ifndef CLAWFLEET_STATUS_WEBHOOKS_H
#define CLAWFLEET_STATUS_WEBHOOKS_H
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "record/status.h"

/* Adds "webhooks" to root's "analysis" object (made when there is none). */
void status_webhooks_add(struct json_object *root, const struct status_view *v);
/* While a confirm-* webhook holds the rollout (held_reason webhook.<type>), what the hold waits
 * for in words into dst: `confirm-promotion hook "qa-gate" to answer 2xx (it answered HTTP
 * 503)`; false (dst untouched) for any other hold. */
bool status_webhooks_waiting(const struct status_view *v, char *dst, size_t size);
/* The metric family as exposition text, malloc'd; NULL when out of memory. */
char *status_webhooks_metrics(const struct status_view *v);

#endif
