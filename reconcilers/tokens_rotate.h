/* tokens_rotate: the operator's side of tokens.h, rotating the bearer tokens in a directory
 * (token.current, token.next, token.prev) so that a client holding the old or the new token is
 * never refused mid-rotation. stage writes token.next (mode 0600, atomically); promote copies
 * token.current to token.prev, then renames token.next over token.current, so at every instant
 * both the old and the new token are accepted; revoke deletes token.prev once the overlap has
 * passed since the promote and, when a controller is named, once its last two passes since the
 * promote were green. Every step, refused ones included, appends one JSON line (ts, action,
 * actor, ticket, dir, outcome, reason, sha256: the first 8 hex digits of the token's sha256,
 * never the token) to the audit file and fsyncs it; the promote time revoke counts from is read
 * back from that file. One rotation at a time per directory (flock on it). Time comes from the
 * caller (now_ms), so the rules are testable with a fake clock. */
#ifndef CLAWFLEET_TOKENS_ROTATE_H
#define CLAWFLEET_TOKENS_ROTATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Returned when a rule refused the step (nothing changed, the refusal is audited); -1 is a
 * failure (bad options, I/O). */
#define TOKENS_ROTATE_REFUSED (-2)

#define TOKENS_ROTATE_OVERLAP_DEFAULT_MS (12 * 3600 * INT64_C(1000))
/* One ImageUpdateAutomation interval is the real floor; 1m is the shortest Flux allows here. */
#define TOKENS_ROTATE_OVERLAP_MIN_MS (60 * INT64_C(1000))
#define TOKENS_ROTATE_ACTOR_MAX 256
#define TOKENS_ROTATE_TICKET_MAX 128
/* A given token, blanks around it included; the token itself is at most TOKENS_FILE_MAX. */
#define TOKENS_ROTATE_INPUT_MAX 8192
/* A controller's GET /status: body cap and timeouts. */
#define TOKENS_ROTATE_STATUS_MAX (1u << 20)
#define TOKENS_ROTATE_CONNECT_TIMEOUT_MS 2000L
#define TOKENS_ROTATE_TIMEOUT_MS 5000L
/* Entries of the controller's passes array looked at. */
#define TOKENS_ROTATE_PASSES_MAX 1024

struct tokens_rotate_opts {
	const char *dir;	/* required */
	const char *actor;	/* required: who, 1-255 bytes, no control characters */
	const char *ticket;	/* required: why, 1-127 bytes, no control characters */
	const char *audit;	/* the audit file; NULL: DIR/rotation.jsonl */
	int64_t now_ms;		/* wall clock, ms since the epoch */
	/* stage */
	const char *token;	/* the token as given (trimmed here); NULL: a new random one,
				 * 32 random bytes as 64 lowercase hex digits */
	size_t token_len;
	bool force;		/* replace an existing token.next */
	/* revoke */
	int64_t overlap_ms;	/* 0: TOKENS_ROTATE_OVERLAP_DEFAULT_MS */
	/* The caller counted the overlap itself (an agent revoking for `clawfleet token
	 * rotate-fleet`, which counts it from every agent's promote): overlap_ms is not used. */
	bool overlap_counted;
	/* base URL whose /status must show two green passes since the promote; NULL: none */
	const char *controller;
};

/* Each returns 0 when done, TOKENS_ROTATE_REFUSED or -1 with the reason in err, and a summary
 * without the token ("staged token.next (sha256 1a2b3c4d)") in done_msg on success. */
int tokens_rotate_stage(const struct tokens_rotate_opts *o, struct cf_err *done_msg,
			struct cf_err *err);
/* Also finishes a promote a crash interrupted: token.prev equal to token.current with a
 * token.next beside them continues it; a promoted token.current the audit file lacks gets its
 * promote recorded now (a later time, so the overlap only grows). */
int tokens_rotate_promote(const struct tokens_rotate_opts *o, struct cf_err *done_msg,
			  struct cf_err *err);
int tokens_rotate_revoke(const struct tokens_rotate_opts *o, struct cf_err *done_msg,
			 struct cf_err *err);

/* What a token directory holds, as an agent reports it: each file's first 8 hex digits of
 * sha256 ("" when the file is missing or empty) and the last promote of the directory recorded
 * in the audit file. */
struct tokens_rotate_view {
	char current[9], next[9], prev[9];
	bool promoted;		/* a promote is recorded */
	int64_t promoted_ms;	/* when, ms since the epoch */
	char promoted_sha[9];	/* the token it installed */
};

/* Reads o->dir and the audit file (o->audit, or DIR/rotation.jsonl) without changing anything
 * or taking the directory's lock; actor and ticket are not needed. -1 when a file cannot be
 * read or is refused. */
int tokens_rotate_inspect(const struct tokens_rotate_opts *o, struct tokens_rotate_view *out,
			  struct cf_err *err);

/* One audit line, in the format above, for a step taken elsewhere (`clawfleet token
 * rotate-fleet`: on an agent, where is its address and node its MacNode name; on the
 * controller's agentToken file, where is the file and node NULL). o->audit is required; a NULL
 * node leaves the member out. */
int tokens_rotate_audit(const struct tokens_rotate_opts *o, const char *where, const char *node,
			const char *action, const char *outcome, const char *reason,
			const char *sha8, struct cf_err *err);

/* Judges a controller's /status body: 0 when its passes array ({"at": RFC 3339, "green":
 * bool}, any order) ends, by time, in two green passes both at or after promote_ms;
 * TOKENS_ROTATE_REFUSED with the reason otherwise, malformed bodies included. */
int tokens_rotate_check_passes(const char *body, size_t len, int64_t promote_ms,
			       struct cf_err *why);

#endif
