/* token_view: what an agent's token directory holds, as GET /v1/token and every step of its token
 * endpoints (README, "The token endpoints") report it, and as `clawfleet token rotate-fleet`
 * reads it. The agent writes the document with token_view_json, the command reads it with
 * token_view_read, so the two sides share one shape:
 *   {"current": SHA8 | null, "next": SHA8 | null, "prev": SHA8 | null,
 *    "lastPromote": {"at": RFC 3339, "sha256": SHA8 | null} | null}
 * where SHA8 is the first 8 hex digits of a token's sha256: a token itself never crosses this
 * wire. The reading is strict: a SHA8 is exactly 8 lowercase hex digits, lastPromote.at a valid
 * RFC 3339 time (read to the second); members it does not know are not looked at. */
#ifndef CLAWFLEET_TOKEN_VIEW_H
#define CLAWFLEET_TOKEN_VIEW_H
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct json_object;

/* The sha256 prefix of a token, NUL included. */
#define TOKEN_VIEW_SHA_SIZE 9

struct token_view {
	/* Each file's SHA8; "" when the file is missing or empty. */
	char current[TOKEN_VIEW_SHA_SIZE], next[TOKEN_VIEW_SHA_SIZE], prev[TOKEN_VIEW_SHA_SIZE];
	bool promoted;		/* a promote is recorded */
	int64_t promoted_ms;	/* when, ms since the epoch */
	char promoted_sha[TOKEN_VIEW_SHA_SIZE]; /* the token it installed; "" when unknown */
};

/* True when s is a SHA8: exactly 8 lowercase hex digits. */
bool token_view_is_sha8(const char *s);

/* The document for v, a new object the caller puts; NULL when out of memory. */
struct json_object *token_view_json(const struct token_view *v);

/* Reads doc into *out; -1 with err naming the member ("token view: next: want 8 lowercase hex
 * digits") when doc is not such a document, *out then as it was. */
int token_view_read(struct json_object *doc, struct token_view *out, struct cf_err *err);

#endif
