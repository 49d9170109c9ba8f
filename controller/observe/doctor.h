/* doctor: judges one run of `openclaw doctor --json --non-interactive` from what proc_run
 * collected, without I/O. The report's shape is OpenClaw's
 *   {"ok":bool,"checksRun":N,"checksSkipped":N,"findings":[{"checkId","severity","message",
 *    "path?","line?","column?","fixHint?"}]}
 * and doctor exits 0 even when unhealthy, so the verdict comes from the body: "ok":false or any
 * "error" finding is red, else any "warning" (or a severity this agent does not know) is yellow,
 * else green. A report is judged whatever the exit status. Output that cannot be judged (a hung
 * doctor, a missing CLI, a CLI older than a flag, {"ok":false,"error":{...}}, text that is not
 * JSON, output cut at the cap, a crash) gets an outcome of its own, verdict red and a reason a user
 * can act on. Stdout over DOCTOR_OUTPUT_MAX counts as cut; JSON deeper than DOCTOR_JSON_DEPTH or
 * not valid UTF-8 is refused. Texts in the result are escaped (doctor_escape_text) and cut at a
 * character boundary to their buffers. */
#ifndef CLAWFLEET_DOCTOR_H
#define CLAWFLEET_DOCTOR_H
#include <stdbool.h>
#include <stddef.h>

#include "base/proc.h"

#define DOCTOR_OUTPUT_MAX PROC_OUTPUT_MAX
#define DOCTOR_JSON_DEPTH 16
#define DOCTOR_TEXT_MAX 512
#define DOCTOR_PATH_MAX 1024
#define DOCTOR_EXCERPT_CHARS 80

enum doctor_verdict { DOCTOR_GREEN, DOCTOR_YELLOW, DOCTOR_RED };

enum doctor_outcome {
	DOCTOR_NOT_RUN,		 /* the zero value: no run has finished yet */
	DOCTOR_JUDGED,		 /* a report was read; the counts and first_bad hold */
	DOCTOR_TIMED_OUT,	 /* killed at the caller's deadline */
	DOCTOR_CLI_MISSING,	 /* exit 127 or 126: no runnable CLI at the configured path */
	DOCTOR_FLAG_UNSUPPORTED, /* "unknown option": a CLI older than a flag the agent passes */
	DOCTOR_CLI_ERROR,	 /* {"ok":false,"error":{"type","message"}} */
	DOCTOR_NOT_JSON,	 /* stdout empty or not one JSON value */
	DOCTOR_BAD_REPORT,	 /* JSON, but not the report's shape */
	DOCTOR_TRUNCATED,	 /* stdout cut at the capture cap */
	DOCTOR_FAILED,		 /* another non-zero exit, or a signal */
};

struct doctor_finding {
	char check_id[128];
	char severity[16];
	char message[DOCTOR_TEXT_MAX];
	char path[DOCTOR_PATH_MAX]; /* "" when the finding names no file */
	char fix_hint[DOCTOR_TEXT_MAX];
	int line, column; /* 0 when the finding names none */
};

struct doctor_result {
	enum doctor_outcome outcome;
	enum doctor_verdict verdict; /* DOCTOR_RED for every outcome but DOCTOR_JUDGED */
	bool ok;		     /* the report's "ok" */
	int checks_run, checks_skipped; /* -1 when the report leaves them out */
	unsigned errors, warnings, infos;
	/* The first "error" finding, else the first finding judged a warning. */
	bool has_first_bad;
	struct doctor_finding first_bad;
	char reason[DOCTOR_TEXT_MAX]; /* why the run could not be judged; "" when judged */
};

/* timeout_ms is the deadline the run had, for the message; <= 0 means proc's default. */
void doctor_judge(const struct proc_result *run, int timeout_ms, struct doctor_result *out);
const char *doctor_verdict_name(enum doctor_verdict v); /* "green", "yellow", "red" */
/* The machine-readable reason code of a result: NULL for a green report, "doctor.yellow",
 * "doctor.red", or for a run that could not be judged "doctor.pending", "doctor.timeout",
 * "doctor.unavailable", "doctor.unsupported", "doctor.cli_error", "doctor.not_json",
 * "doctor.bad_report", "doctor.truncated", "doctor.failed". */
const char *doctor_reason_code(const struct doctor_result *r);
/* Copies untrusted text (CLI output, file names) into dst for a message: well-formed UTF-8 is
 * kept, control characters become \n, \r, \t or \xNN and bytes that are not UTF-8 become \xNN.
 * At most max_chars characters of src are taken (0: no limit); the copy is always terminated and
 * ends at a character boundary. Returns how many bytes of src were taken. */
size_t doctor_escape_text(char *dst, size_t size, const char *src, size_t len, size_t max_chars);

#endif
