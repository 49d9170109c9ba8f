/* audit_line: the limits of one line of promotions.jsonl (record/audit.h has its format and the
 * chain), which the rollout state (plan/rollout.h) and the controller carry before a line is
 * written. */
#ifndef CLAWFLEET_AUDIT_LINE_H
#define CLAWFLEET_AUDIT_LINE_H

/* Longest line, newline excluded. */
#define AUDIT_LINE_MAX (64u << 10)
/* prev of the first line. */
#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"
/* A ticket ID from a commit trailer, NUL included. */
#define AUDIT_TICKET_MAX 128

#endif
