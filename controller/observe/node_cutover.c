#include "observe/node_cutover.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DAY_S 86400

static void check(struct cutover_checks *out, enum probe_status severity, const char *code,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void check(struct cutover_checks *out, enum probe_status severity, const char *code,
		  const char *fmt, ...)
{
	va_list ap;

	if (out->n == CUTOVER_CHECKS_MAX)
		return;
	struct probe_check *c = &out->v[out->n++];
	c->code = code;
	c->severity = severity;
	va_start(ap, fmt);
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	va_end(ap);
}

static bool contains(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(s + i, lit, n) == 0)
			return true;
	return false;
}

/* Node.js prints a frame as blanks, "at ", then the function or location; an uncaught error as
 * "TypeError: ...", "Error: ...", V8's own end as "FATAL ERROR: ...". */
bool cutover_line_is_trace(const char *line, size_t len)
{
	size_t blanks = 0;
	while (blanks < len && (line[blanks] == ' ' || line[blanks] == '\t'))
		blanks++;
	if (blanks && len - blanks > 3 && memcmp(line + blanks, "at ", 3) == 0 &&
	    line[blanks + 3] != ' ')
		return true;
	return contains(line, len, "Error:") || contains(line, len, "FATAL ERROR") ||
	       contains(line, len, "Uncaught");
}

void cutover_scan_log(const char *text, size_t len, struct cutover_log_scan *out)
{
	const char *p = text, *end = text + len;

	memset(out, 0, sizeof(*out));
	while (p < end && out->lines < CUTOVER_LOG_LINES) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		out->lines++;
		if (n && p[n - 1] == '\r')
			n--;
		if (cutover_line_is_trace(p, n) && out->matches++ == 0) {
			size_t cut = n < sizeof(out->first) ? n : sizeof(out->first) - 1;
			memcpy(out->first, p, cut);
			out->first[cut] = '\0';
			out->first_line = out->lines;
		}
		p = nl ? nl + 1 : end;
	}
}

void cutover_judge_log(const char *path, const struct cutover_log_scan *scan,
		       struct cutover_checks *out)
{
	if (!scan->matches)
		return;
	check(out, PROBE_RED, "service.crash_log",
	      "the gateway's log %s shows a stack trace after its last restart: line %d of the "
	      "first %d: \"%s\" (%d line%s of the first %d look like a trace)",
	      path, scan->first_line, scan->lines, scan->first, scan->matches,
	      scan->matches == 1 ? "" : "s", CUTOVER_LOG_LINES);
}

void cutover_judge_tls(const char *path, int64_t not_after, int64_t now, const char *why,
		       struct cutover_checks *out)
{
	if (why) {
		check(out, PROBE_RED, "tls.expiring",
		      "the gateway's TLS certificate %s could not be read: %s", path, why);
		return;
	}
	int64_t left = not_after - now;
	if (left <= 0)
		check(out, PROBE_RED, "tls.expiring",
		      "the gateway's TLS certificate %s expired %lld days ago", path,
		      (long long)(-left / DAY_S));
	else if (left < (int64_t)CUTOVER_TLS_RED_DAYS * DAY_S)
		check(out, PROBE_RED, "tls.expiring",
		      "the gateway's TLS certificate %s expires in %lld hours (red under %d days)",
		      path, (long long)(left / 3600), CUTOVER_TLS_RED_DAYS);
	else if (left < (int64_t)CUTOVER_TLS_DEGRADED_DAYS * DAY_S)
		check(out, PROBE_DEGRADED, "tls.expiring",
		      "the gateway's TLS certificate %s expires in %lld days (degraded under %d "
		      "days)",
		      path, (long long)(left / DAY_S), CUTOVER_TLS_DEGRADED_DAYS);
}

void cutover_judge_port(int port, pid_t gateway_pid, const struct compat_listener *listeners,
			size_t n, struct cutover_checks *out)
{
	char who[256] = "";
	size_t len = 0;

	for (size_t i = 0; i < n && len < sizeof(who); i++)
		if (listeners[i].pid != gateway_pid || gateway_pid <= 0)
			len += (size_t)snprintf(who + len, sizeof(who) - len, "%spid %d (%s)",
						len ? ", " : "", (int)listeners[i].pid,
						listeners[i].name[0] ? listeners[i].name : "?");
	if (!len)
		return;
	if (gateway_pid > 0)
		check(out, PROBE_RED, "port.owner",
		      "gateway port %d is held by %s, not only by the gateway (pid %d)", port, who,
		      (int)gateway_pid);
	else
		check(out, PROBE_RED, "port.owner",
		      "gateway port %d is held by %s while the gateway is not running", port, who);
}

void cutover_judge_plist(const char *why, struct cutover_checks *out)
{
	if (why)
		check(out, PROBE_RED, "plist.invalid", "%s; the agent will not reload the gateway",
		      why);
}

void cutover_judge_runtime(const char *pinned, const struct cutover_runtime *rt,
			   struct cutover_checks *out)
{
	if (!pinned || !rt->program)
		return;
	if (!rt->node)
		check(out, PROBE_DEGRADED, "runtime.unknown",
		      "the plist runs %s, and which node binary that runs is left to PATH or "
		      "cannot be told: openclaw.lock pins runtime.node %s; name that binary as "
		      "ProgramArguments[0]",
		      rt->program, pinned);
	else if (strcmp(rt->node, pinned) != 0 && !rt->same_file)
		check(out, PROBE_RED, "runtime.mismatch",
		      "the plist runs node at %s, openclaw.lock pins runtime.node %s", rt->node,
		      pinned);
}

bool cutover_is_node(const char *path)
{
	const char *base = strrchr(path, '/');
	return strncmp(base ? base + 1 : path, "node", 4) == 0;
}
