/* fluxhook_internal: private to fluxhook.c (authentication, the reply cache, the request's
 * order of checks), fluxhook_event.c (reading a notification-controller event and its eventId)
 * and fluxhook_verdict.c (the verdict and the 202 envelope); nothing outside them includes it. */
#ifndef CLAWFLEET_FLUXHOOK_INTERNAL_H
#define CLAWFLEET_FLUXHOOK_INTERNAL_H
#include <stddef.h>

#include "base/err.h"
#include "serve/fluxhook.h"

struct json_object;

/* The fields of one event this module reads, borrowed from the parsed document. */
struct flux_event {
	const char *kind, *namespace, *name, *uid;
	struct json_object *reason, *message, *timestamp; /* NULL when absent */
	const char *revision, *image_ref; /* NULL when absent */
};

/* out->message, cut to fit: one line without secrets for the caller's log. */
void fluxhook_describe(struct fluxhook_outcome *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parses body into *doc (the caller's to release, also on failure) and reads the event out of
 * it; ev borrows from *doc. The reason names the field that is wrong. */
int fluxhook_event_parse(const char *body, size_t len, struct json_object **doc,
			 struct flux_event *ev, struct cf_err *err);
/* The eventId fluxhook.h defines, 64 hex digits and a NUL. */
int fluxhook_event_id(const struct flux_event *ev, char out[65], struct cf_err *err);

/* The answer to a new event: decides the verdict, fills out (status 202, trigger, verdict, ids,
 * message) and renders the envelope into a malloc'd *reply. out->event_id is already set. */
int fluxhook_answer(const struct flux_event *ev, const struct fluxhook_snapshot *snap,
		    struct fluxhook_outcome *out, char **reply, size_t *len, struct cf_err *err);

#endif
