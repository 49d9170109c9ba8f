/* statuspage: the controller's read-only HTML page, GET /. It is rendered from the /status
 * document itself (status.h), so the page shows exactly what /status says, plus the last lines
 * of the audit log. The page is self-contained HTML5: inline CSS, no script, no external asset,
 * a meta refresh every STATUSPAGE_REFRESH_SEC seconds; nothing on it changes anything (no form,
 * button or input). Every string that came from Git, a probe or the audit log is HTML-escaped.
 * Both functions are pure apart from the one read of the audit log's end; the controller loop
 * renders the page when it publishes /status, so serving it never waits on the loop. */
#ifndef CLAWFLEET_STATUSPAGE_H
#define CLAWFLEET_STATUSPAGE_H
#include <stddef.h>

#include "base/err.h"

#define STATUSPAGE_REFRESH_SEC 5
/* Audit lines the page shows, newest first. */
#define STATUSPAGE_AUDIT_LINES 10
/* How much of the audit log's end is read to find them; longer lines are left out. */
#define STATUSPAGE_AUDIT_TAIL_BYTES (32u << 10)

/* audit_read_tail with the page's limits: the last complete lines (at most
 * STATUSPAGE_AUDIT_LINES) of the audit log at path, oldest first, as a malloc'd NUL-terminated
 * string; "" when the log does not exist yet. */
int statuspage_audit_tail(const char *path, char **out, size_t *len, struct cf_err *err);

/* The page, a malloc'd NUL-terminated string, from the /status document (status_json, len
 * bytes) and the audit lines from statuspage_audit_tail, or NULL when they could not be read
 * (the page then says so). */
int statuspage_render(const char *status_json, size_t status_len, const char *audit_lines,
		      char **out, size_t *len, struct cf_err *err);

#endif
