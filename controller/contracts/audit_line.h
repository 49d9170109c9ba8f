/* audit_line: the limits of one line of promotions.jsonl (record/audit.h has its format and the
 * chain), which the rollout state (plan/rollout.h) and the controller carry before a line is
 * written, and the anchor: where the chain ended when the controller last wrote it, kept beside
 * the rollout state (record/rollout_store.h) so that a log that lost lines or had one changed is
 * noticed. */
#ifndef CLAWFLEET_AUDIT_LINE_H
#define CLAWFLEET_AUDIT_LINE_H
#include <stdint.h>

/* Longest line, newline excluded. */
#define AUDIT_LINE_MAX (64u << 10)
/* prev of the first line. */
#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"
/* A ticket ID from a commit trailer, NUL included. */
#define AUDIT_TICKET_MAX 128

/* The chain's end: lines complete lines, the last of which hashes to head (AUDIT_GENESIS and 0
 * for an empty log). */
struct audit_anchor {
	char head[65];
	uint64_t lines;
};

#endif
