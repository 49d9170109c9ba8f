/* audit: promotions.jsonl, the tamper-evident record of every rollout step and rollback. Each
 * line is one canonical JSON object (canon.h: sorted keys, no white space) with the fields
 *   ts actor ticket event promotion revision phase step percent reason
 *   from {semver, tag}  to {semver, tag}  weights {server: weight}  probeSha256  prev
 * and node, the gateway, on the lines of a drain or a restore,
 * where prev is the sha256 (hex) of the previous line's bytes without its newline, and 64 zeros
 * on the first line, so any edit, insertion or deletion before the last line breaks the chain.
 * No line is longer than AUDIT_LINE_MAX bytes: a longer one is refused when it is appended and
 * when the log is opened or verified.
 *
 * The chain alone cannot tell a log that lost its last lines from a shorter one, nor a line
 * changed with every prev after it rebuilt: the anchor (contracts/audit_line.h: the head and the
 * line count) kept elsewhere can. audit_open_anchored reads the whole log, checks every line and
 * compares the end with the anchor the caller kept; a log that does not match is sealed (nothing
 * is cut, appends are refused) and audit_broken says what was lost or changed. audit_check,
 * cheap while the file is untouched, notices a log changed while it is open.
 *
 * audit_append writes a line with one write() on an O_APPEND descriptor and fsyncs it before
 * returning 0: only then does the step count. Opening cuts a torn last line (a write a crash
 * interrupted) and continues the chain from the last good line. One writer per file: the
 * controller loop owns the handle (not thread-safe) and flock keeps a second process out.
 * Reading the log streams it, so its size is bounded by the disk, not by memory. */
#ifndef CLAWFLEET_AUDIT_H
#define CLAWFLEET_AUDIT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "contracts/audit_line.h"


struct audit_log;

struct audit_version {
	const char *semver;
	const char *tag;
};

struct audit_weight {
	const char *server;
	int weight;
};

/* One line. Strings may be NULL (recorded as "") and must be valid UTF-8; server names must be
 * unique. ts_ms is the wall-clock time in milliseconds since the epoch, written as RFC 3339 UTC
 * with milliseconds. */
struct audit_entry {
	int64_t ts_ms;
	const char *event; /* required: "step", "rollback", "succeeded", "adopted", ... */
	const char *promotion;
	const char *revision;
	const char *phase;
	int step;
	int percent;
	const char *reason; /* why a rollback or hold happened; "" for a plain step */
	const char *actor;  /* the promotion commit's author */
	const char *ticket;
	struct audit_version from, to;
	const struct audit_weight *weights;
	size_t nweights;
	const char *probe_sha256; /* the canary's merged probe */
	const char *node;	  /* a gateway drained or restored; the line has no "node" when NULL */
};

/* Opens (creating it, mode 0644) the log at path for appending, after checking every line. A
 * last line without a newline, or one that is not JSON, is cut off and described in warning
 * (empty otherwise) for the caller to log; damage deeper than that is an error that changes
 * nothing. */
int audit_open(struct audit_log **out, const char *path, char *warning, size_t warning_len,
	       struct cf_err *err);
/* audit_open for the writer that keeps an anchor (NULL: none kept yet). The log matches when it
 * ends at want, or one line later where that line's prev is want's head (a line appended before
 * a crash let the caller record it: the caller checks that it is the line it had pending, and
 * calls audit_seal when not). A log that does not match, or whose chain is broken, is still
 * opened and locked but sealed, with nothing cut: 0 is returned and audit_broken says why. -1
 * only when the file cannot be opened, locked or read. */
int audit_open_anchored(struct audit_log **out, const char *path, const struct audit_anchor *want,
			char *warning, size_t warning_len, struct cf_err *err);
/* Appends e after the current head. On failure nothing counts: a short write is undone, and
 * after a failed fsync the handle refuses further appends until the log is opened again. A log
 * changed behind the writer since its last append (audit_check) is sealed, not appended to. */
int audit_append(struct audit_log *log, const struct audit_entry *e, struct cf_err *err);
/* Appends a line another writer made (text, len bytes without the newline): a replica mirroring
 * the chain kept in the shared store (record/rollout_store.h). It must be canonical JSON whose
 * prev is the current head, or nothing is written and -1 returned. */
int audit_append_line(struct audit_log *log, const char *text, size_t len, struct cf_err *err);
/* sha256 of the last line (AUDIT_GENESIS for an empty log). */
const char *audit_head(const struct audit_log *log);
/* The head and the number of lines, for the caller to keep. */
void audit_anchor_of(const struct audit_log *log, struct audit_anchor *out);
/* Why the log is sealed ("PATH has 4 lines, the state recorded 33: ..."); NULL when it is not. */
const char *audit_broken(const struct audit_log *log);
/* Seals the log with why (appends refused from now on). */
void audit_seal(struct audit_log *log, const char *why);
/* Notices a log changed behind the writer: the file at the path replaced, or its size or
 * modification time not what the last append left, in which case the whole log is read again
 * and must still end at the writer's head. -1 (the log sealed, err saying why) when it does not;
 * a stat and nothing more while the file is untouched. */
int audit_check(struct audit_log *log, struct cf_err *err);
void audit_close(struct audit_log *log);

struct audit_verify_result {
	size_t entries;
	char last[65];
};

/* The last complete lines (at most max_lines) of the audit log at path, oldest first, each with
 * its newline, as a malloc'd NUL-terminated string; "" when the log does not exist yet. Only the
 * last max_bytes of the file are read: a line that does not fit in them is left out, and so is
 * a torn last line (a write in progress), so a reader never waits for or blocks the writer.
 * The one reader of the log's end for anyone but the writer: the status page, the controller
 * recognising the line it wrote last. */
int audit_read_tail(const char *path, size_t max_lines, size_t max_bytes, char **out,
		    size_t *len, struct cf_err *err);

/* Checks that every line of path is canonical JSON with a prev that matches the line before.
 * The first problem is returned as "PATH:LINE: message". */
int audit_verify(const char *path, struct audit_verify_result *res, struct cf_err *err);
/* audit_verify, then the anchor an operator kept elsewhere: line want->lines must hash to
 * want->head, or, when want->lines is 0, some line must (*line says which; 0 for AUDIT_GENESIS).
 * A log that grew since is fine; one that lost the line or changed it is not: -1 with err
 * saying which. */
int audit_verify_anchor(const char *path, const struct audit_anchor *want,
			struct audit_verify_result *res, uint64_t *line, struct cf_err *err);

/* The value of the last "Ticket:" trailer (key case-insensitive) in the final paragraph of a
 * commit message into out; returns 1 when found, 0 when not. The subject line is never a
 * trailer, and a value too long for out is not a ticket ID. */
int audit_ticket_from_message(const char *message, char out[AUDIT_TICKET_MAX]);

#endif
