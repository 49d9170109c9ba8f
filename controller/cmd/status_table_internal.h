/* status_table_internal: private to cmd/status_table.c and cmd/status_table_hooks.c; nothing
 * else includes it. How the table reads a time from the document and says a span, shared so
 * that every line of the table says times alike, and the webhook gate's line. */
#ifndef CLAWFLEET_STATUS_TABLE_INTERNAL_H
#define CLAWFLEET_STATUS_TABLE_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_object;

/* Milliseconds since the epoch of an RFC 3339 member; -1 when there is none. */
int64_t status_table_time_of(struct json_object *o, const char *key);
/* A span for people: "45s", "12m5s", "3h4m", "2d3h"; a negative one (clocks apart) is "0s". */
void status_table_span(char *out, size_t size, int64_t ms);
/* While a webhook gate holds the rollout (hold.reason webhook.<type>), what the hook said, in
 * words: `gate        confirm-promotion "qa-gate": HTTP 503 (3 attempts, 12s ago)`; nothing
 * otherwise. */
void status_table_gate(FILE *out, struct json_object *doc, int64_t now_ms);

#endif
