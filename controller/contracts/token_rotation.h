/* token_rotation: the progress of `clawfleet token rotate-fleet` (README, "Rotating the agents'
 * token"), which the command writes and the controller shows in /status as tokenRotation. The
 * command is the state machine and the controller does not drive it; this document is how a
 * person watching /status or `clawfleet status` learns where a rotation stands and what it waits
 * for. It lives beside the controller's agentToken FILE as FILE.rotation.json (mode 0600,
 * written atomically and durably after every step, so a reader sees one whole step or the one
 * before) and holds no token and no token hash beyond the first 8 hex digits of the new token's
 * sha256, as the audit lines name it:
 *   {"phase": "staging" | "switched" | "promoted" | "rotated",
 *    "startedAt": RFC 3339, "updatedAt": RFC 3339, "actor": "...", "ticket": "...",
 *    "sha256": SHA8 | null, "waitingFor": "..." | null,
 *    "nodes": {NAME: {"staged": bool, "acknowledged": bool, "promoted": bool, "revoked": bool,
 *                     "error": "..." | null}}}
 * phase: staging while the new token goes to the agents (the controller still sends the old
 * one); switched once the controller's agentToken file holds it (the agents promote it after two
 * green passes); promoted once every agent did (the old token stays accepted as token.prev until
 * the overlap and two more green passes, then it is revoked); rotated when every agent accepts
 * only the new token. staged: the agent holds the new token; acknowledged: it accepts the new
 * token (it answered a call made with it); promoted: the new token is its token.current;
 * revoked: and it holds no token.prev. error: why the node's last step in the last run failed.
 * waitingFor: what the rotation waits for, in words; null once rotated.
 *
 * The reader is strict (base/jsonparse, at most TOKEN_ROTATION_FILE_MAX bytes and
 * TOKEN_ROTATION_NODES_MAX nodes): every member above is required, of its type, and a phase or
 * a time it does not know is refused with the member named; members it does not know are not
 * looked at. */
#ifndef CLAWFLEET_TOKEN_ROTATION_H
#define CLAWFLEET_TOKEN_ROTATION_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "contracts/token_view.h"

struct json_object;

#define TOKEN_ROTATION_FILE_MAX (256u << 10)
#define TOKEN_ROTATION_NODES_MAX 1024
#define TOKEN_ROTATION_SUFFIX ".rotation.json"

enum token_rotation_phase {
	TOKEN_ROTATION_STAGING,
	TOKEN_ROTATION_SWITCHED,
	TOKEN_ROTATION_PROMOTED,
	TOKEN_ROTATION_ROTATED,
};

/* "staging", "switched", "promoted", "rotated". */
const char *token_rotation_phase_name(enum token_rotation_phase p);

struct token_rotation_node {
	const char *name;
	bool staged, acknowledged, promoted, revoked;
	const char *error; /* NULL: none */
};

/* Strings are borrowed (the writer's) or in the reader's arena. */
struct token_rotation {
	enum token_rotation_phase phase;
	int64_t started_ms, updated_ms; /* ms since the epoch */
	const char *actor, *ticket;
	char sha256[TOKEN_VIEW_SHA_SIZE]; /* the new token's SHA8; "": not known */
	const char *waiting_for;	  /* NULL: nothing */
	struct token_rotation_node *nodes;
	size_t nnodes;
};

/* FILE.rotation.json for the agentToken file token_file into out; -1 when it does not fit. */
int token_rotation_path(const char *token_file, char out[PATH_MAX], struct cf_err *err);

/* The document, a new object the caller puts; NULL when out of memory. */
struct json_object *token_rotation_json(const struct token_rotation *r);

/* Writes the document to path, mode 0600, atomically (base/fsutil). */
int token_rotation_write(const char *path, const struct token_rotation *r, struct cf_err *err);

/* Reads the document in text (len bytes) into *out, its strings and nodes in a; -1 with err
 * naming what is wrong ("token rotation: nodes.gw-a.staged: want a boolean"). */
int token_rotation_parse(const char *text, size_t len, struct arena *a,
			 struct token_rotation *out, struct cf_err *err);

/* Reads the file at path the same way; *found false (and 0) when there is none. A file that
 * cannot be read is -1 with err naming it. */
int token_rotation_load(const char *path, struct arena *a, struct token_rotation *out,
			bool *found, struct cf_err *err);

#endif
