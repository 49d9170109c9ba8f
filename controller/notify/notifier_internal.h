/* notifier_internal: private to notifier.c (parsing what gateways and the controller send),
 * notifier_digest.c (the windowed counts and their document) and notifier_broadcast.c (the
 * channel's bodies and their delivery); nothing outside notify/ includes it. These are the JSON
 * pieces the digest document and the broadcast bodies share, so a row reads the same in both. */
#ifndef CLAWFLEET_NOTIFIER_INTERNAL_H
#define CLAWFLEET_NOTIFIER_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "notify/notifier.h"

struct json_object;

/* "verdict", "rollback", "reply": the kind as POST /v1/events names it. */
const char *nf_event_kind_name(enum nf_event_kind kind);

/* A JSON string, or NULL (JSON null) for an absent or empty s. */
struct json_object *nf_string_or_null(const char *s);
/* One row: {endpoint, family, count, first, last, sampleEventId}, and for a broadcast also
 * tenant and sampleCorrelationId. */
struct json_object *nf_row_json(const struct nf_row *r, bool broadcast);
/* Serialises o into a fresh string and releases o. */
int nf_json_finish(struct json_object *o, char **out, size_t *len, struct cf_err *err);

#endif
