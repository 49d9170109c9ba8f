/* audit_internal: private to record/audit.c (the writer) and record/audit_chain.c (reading the
 * whole chain back): the walk over every line of a log and its comparison with an anchor. */
#ifndef CLAWFLEET_AUDIT_INTERNAL_H
#define CLAWFLEET_AUDIT_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "contracts/audit_line.h"

struct json_object;

/* One pass over the log. The caller sets at_line and find_hash; audit_walk fills the rest. */
struct audit_walk {
	uint64_t at_line;      /* keep the hash of this line in at_hash (0: none) */
	const char *find_hash; /* note the first line that hashes to this in found_line (NULL: none) */

	struct audit_anchor end; /* the complete lines that chain, and the last one's hash */
	char at_hash[65];	 /* "" when the log has fewer than at_line lines */
	uint64_t found_line;	 /* 0: no line hashes to find_hash */
	off_t good_end;		 /* the bytes those lines take */
	/* The one bad line after them when it is the log's last: a write a crash interrupted (why
	 * "it has no newline") or one that is not JSON. why NULL: none. tail says it as verify
	 * does ("PATH:LINE: ..."). */
	const char *why;
	struct cf_err tail;
	/* Damage deeper than that ("PATH:LINE: ..."); the walk stops there. */
	bool broken;
	struct cf_err damage;
};

/* Reads every line of the log open on fd (from offset 0, with pread) and checks the chain. -1
 * only when the file cannot be read; damage is reported in w. */
int audit_walk(int fd, const char *path, struct audit_walk *w, struct cf_err *err);
/* Whether a walk ends at want: at want->lines lines hashing to want->head, or one line later when
 * one_more. On a mismatch -1 with err saying what was lost or changed. */
int audit_walk_matches(const char *path, const struct audit_walk *w,
		       const struct audit_anchor *want, bool one_more, struct cf_err *err);
/* One line (lineno from 1, without its newline) against the hash of the line before it
 * (AUDIT_GENESIS before the first): canonical JSON whose prev is want_prev. */
int audit_check_line(const char *line, size_t len, uint64_t lineno, const char *want_prev,
		     struct cf_err *err);
/* Parses one line as exactly one JSON object, strictly. */
int audit_parse_line(const char *line, size_t len, struct json_object **out, struct cf_err *err);

#endif
