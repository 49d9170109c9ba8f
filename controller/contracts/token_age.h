/* token_age: how old each bearer-token slot of a Mac is, as the agent's /readyz reports it and
 * the controller reads it for /status (record/status_tokens.h). Runbook 002 rotates the agents'
 * token every 30 days; the age is what shows whether that happened:
 *   "tokenAges": {"maxAgeSeconds": N, "current": N | null, "next": N | null, "prev": N | null}
 * Each slot's age is whole seconds since the token in it came to be (observe/node_token_age.h
 * says from what); null when the slot is empty. maxAgeSeconds is the agent's tokens.maxAge: a
 * current token older than it is the degraded reason token.age. next and prev are shown, never
 * judged: prev is the old token by design and next is newer than current.
 *
 * The reading is strict: the member may be absent (an older agent: ages unknown); present, it is
 * an object whose maxAgeSeconds is an integer > 0 and whose slots are integers >= 0 or null.
 * Members it does not know are not looked at. */
#ifndef CLAWFLEET_TOKEN_AGE_H
#define CLAWFLEET_TOKEN_AGE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct json_object;

#define TOKEN_AGE_MAX_DEFAULT_MS (30 * 86400 * INT64_C(1000))
#define TOKEN_AGE_REASON "token.age"

enum token_slot { TOKEN_SLOT_CURRENT, TOKEN_SLOT_NEXT, TOKEN_SLOT_PREV, TOKEN_SLOTS };

struct token_ages {
	bool known;			/* reported; false: nothing below is */
	int64_t max_age_sec;		/* > 0 when known */
	int64_t age_sec[TOKEN_SLOTS];	/* -1: the slot is empty */
};

const char *token_slot_name(enum token_slot slot); /* "current", "next", "prev" */

/* True when the current token is older than the limit; then "token.current is 41d old, over
 * tokens.maxAge 30d: rotate it (clawfleet token rotate-fleet)" into msg (cut to size). */
bool token_ages_too_old(const struct token_ages *a, char *msg, size_t size);

/* Adds "tokenAges" to doc (nothing when a is not known). Fails only when out of memory. */
int token_ages_render(struct json_object *doc, const struct token_ages *a, struct cf_err *err);
/* The "tokenAges" member of doc into *out (known false when absent); -1 with err naming it. */
int token_ages_read(struct json_object *doc, struct token_ages *out, struct cf_err *err);

#endif
