/* node_cutover: the cutover checks of the agent's probe, the signals an operator reads before and
 * after a gateway restart (the production cutover runbook), each judged here as a pure function
 * of what node_cutover_observe.c read, into probe checks (node_probe.h) the merge adds as they
 * are. Thresholds:
 *   plist.invalid      red: the plist launchd loaded the job from does not lint (plutil -lint
 *                      on macOS, reconcilers/plist.h everywhere); the agent's restart refuses
 *                      to reload the gateway while it does not (reconcilers/service.h).
 *   runtime.mismatch   red: openclaw.lock pins runtime.node and the node binary the plist runs
 *                      (ProgramArguments[0] when it is node, else the #! line of the program)
 *                      is another file; runtime.unknown (degraded) when the plist leaves the
 *                      choice to PATH (`#!/usr/bin/env node`).
 *   service.crash_log  red: a line of the first CUTOVER_LOG_LINES (200) the gateway logged
 *                      after its last restart looks like a stack trace: a Node.js frame
 *                      ("    at ..."), "Error:", "FATAL ERROR" or "Uncaught". It stays until the
 *                      next restart: a build that crashed on its way up is not made good by
 *                      running on.
 *   port.owner         red: a process other than the gateway's own pid listens on the gateway
 *                      port (a stale gateway, another program).
 *   tls.expiring       degraded when the certificate the gateway serves (gateway.tlsCert)
 *                      expires within 14 days, red within 2 days or once expired; red when it
 *                      cannot be read.
 * synthetic.p95 (maxSyntheticP95) is judged by node_probe.c with the other latency figures. */
#ifndef CLAWFLEET_NODE_CUTOVER_H
#define CLAWFLEET_NODE_CUTOVER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/compat.h"
#include "base/err.h"
#include "observe/node_probe.h"

#define CUTOVER_LOG_LINES 200
#define CUTOVER_LOG_READ_MAX (256 * 1024) /* bytes read from the restart on */
#define CUTOVER_TLS_DEGRADED_DAYS 14
#define CUTOVER_TLS_RED_DAYS 2
#define CUTOVER_CHECKS_MAX 8
#define CUTOVER_LINE_MAX 200

struct cutover_checks {
	struct probe_check v[CUTOVER_CHECKS_MAX];
	size_t n;
};

/* What the scan of the log since a restart found. */
struct cutover_log_scan {
	int lines;	/* lines scanned, at most CUTOVER_LOG_LINES */
	int matches;	/* of them, lines that look like a stack trace */
	int first_line; /* 1-based, within the scan; 0: none */
	char first[CUTOVER_LINE_MAX]; /* that line, cut to fit */
};

/* Whether one log line looks like part of a stack trace. */
bool cutover_line_is_trace(const char *line, size_t len);
/* Scans the first CUTOVER_LOG_LINES lines of text (a last line without its newline counts). */
void cutover_scan_log(const char *text, size_t len, struct cutover_log_scan *out);
void cutover_judge_log(const char *path, const struct cutover_log_scan *scan,
		       struct cutover_checks *out);

/* not_after and now in epoch seconds; why is set (and the rest unused) when the certificate
 * could not be read. */
void cutover_judge_tls(const char *path, int64_t not_after, int64_t now, const char *why,
		       struct cutover_checks *out);

/* The listeners compat_port_listeners found on the gateway's port, against the pid the service
 * manager reports for the gateway (0: not running). */
void cutover_judge_port(int port, pid_t gateway_pid, const struct compat_listener *listeners,
			size_t n, struct cutover_checks *out);

void cutover_judge_plist(const char *why, struct cutover_checks *out);

/* What the plist runs, as node_cutover_observe.c resolved it. */
struct cutover_runtime {
	const char *program; /* Program or ProgramArguments[0] */
	const char *node;    /* the node binary it runs; NULL when PATH decides (env node) or
				the program is no node script */
	bool same_file;	     /* node and the lock's pin are one file (after symlinks) */
};
/* pinned: the lock's runtime.node (NULL: nothing to check). */
void cutover_judge_runtime(const char *pinned, const struct cutover_runtime *rt,
			   struct cutover_checks *out);

/* The basename of path starts with "node" (node, node22): the program is the runtime itself. */
bool cutover_is_node(const char *path);

/* node_cutover_observe.c, the I/O half: the certificate's notAfter (epoch seconds) from a PEM
 * file, read with OpenSSL. */
int cutover_cert_not_after(const char *path, int64_t *not_after, struct cf_err *err);

#endif
