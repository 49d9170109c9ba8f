#include "observe/doctor.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonparse.h"
#include "base/timeparse.h"
#include "base/utf8.h"

/* Room for the fixed words of a reason around an escaped excerpt. */
#define REASON_WORDS 120
#define LINE_EXCERPT_CHARS 160
#define FLAG_MAX 64

enum severity_class { SEV_INFO, SEV_WARNING, SEV_ERROR };

size_t doctor_escape_text(char *dst, size_t size, const char *src, size_t len, size_t max_chars)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t in = 0, out = 0, chars = 0;

	if (!size)
		return 0;
	while (in < len && (!max_chars || chars < max_chars)) {
		char esc[8];
		const char *piece = (const char *)s + in;
		size_t take = 1, put;
		unsigned char c = s[in];

		if (c == '\n' || c == '\r' || c == '\t') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			piece = esc;
			put = 2;
		} else if (c < 0x20 || c == 0x7f || !(take = utf8_seq_len(s + in, len - in))) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			piece = esc;
			put = 4;
			take = 1;
		} else {
			put = take;
		}
		if (out + put >= size)
			break;
		memcpy(dst + out, piece, put);
		out += put;
		in += take;
		chars++;
	}
	dst[out] = '\0';
	return in;
}

const char *doctor_verdict_name(enum doctor_verdict v)
{
	switch (v) {
	case DOCTOR_GREEN:
		return "green";
	case DOCTOR_YELLOW:
		return "yellow";
	case DOCTOR_RED:
		break;
	}
	return "red";
}

const char *doctor_reason_code(const struct doctor_result *r)
{
	switch (r->outcome) {
	case DOCTOR_NOT_RUN:
		return "doctor.pending";
	case DOCTOR_JUDGED:
		return r->verdict == DOCTOR_GREEN    ? NULL
		       : r->verdict == DOCTOR_YELLOW ? "doctor.yellow"
						     : "doctor.red";
	case DOCTOR_TIMED_OUT:
		return "doctor.timeout";
	case DOCTOR_CLI_MISSING:
		return "doctor.unavailable";
	case DOCTOR_FLAG_UNSUPPORTED:
		return "doctor.unsupported";
	case DOCTOR_CLI_ERROR:
		return "doctor.cli_error";
	case DOCTOR_NOT_JSON:
		return "doctor.not_json";
	case DOCTOR_BAD_REPORT:
		return "doctor.bad_report";
	case DOCTOR_TRUNCATED:
		return "doctor.truncated";
	case DOCTOR_FAILED:
		break;
	}
	return "doctor.failed";
}

static void fail(struct doctor_result *out, enum doctor_outcome outcome, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct doctor_result *out, enum doctor_outcome outcome, const char *fmt, ...)
{
	va_list ap;

	out->outcome = outcome;
	out->verdict = DOCTOR_RED;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
}

/* The first line of s that is not blank, escaped; "" when there is none. */
static void first_line(char *dst, size_t size, const char *s, size_t len)
{
	size_t i = 0, end;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	for (end = i; end < len && s[end] != '\n' && s[end] != '\r'; end++)
		;
	doctor_escape_text(dst, size, s + i, end - i, LINE_EXCERPT_CHARS);
}

static void copy_text(char *dst, size_t size, const char *s)
{
	doctor_escape_text(dst, size, s, strlen(s), 0);
}

static const char *str_member(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A non-negative integer member, or fallback when absent or of another type. */
static int int_member(struct json_object *o, const char *key, int fallback)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return fallback;
	int64_t n = json_object_get_int64(v);
	return n < 0 ? fallback : n > INT_MAX ? INT_MAX : (int)n;
}

/* Severities OpenClaw may add later count as warnings: worth a look, not a rollback. */
static enum severity_class classify(const char *severity)
{
	if (severity && strcmp(severity, "error") == 0)
		return SEV_ERROR;
	if (severity && strcmp(severity, "info") == 0)
		return SEV_INFO;
	return SEV_WARNING;
}

static void copy_finding(struct doctor_finding *f, struct json_object *o)
{
	const char *s;

	copy_text(f->check_id, sizeof(f->check_id), (s = str_member(o, "checkId")) ? s : "");
	copy_text(f->severity, sizeof(f->severity), (s = str_member(o, "severity")) ? s : "");
	copy_text(f->message, sizeof(f->message), (s = str_member(o, "message")) ? s : "");
	copy_text(f->path, sizeof(f->path), (s = str_member(o, "path")) ? s : "");
	copy_text(f->fix_hint, sizeof(f->fix_hint), (s = str_member(o, "fixHint")) ? s : "");
	f->line = int_member(o, "line", 0);
	f->column = int_member(o, "column", 0);
}

static void read_report(struct json_object *root, struct json_object *ok, struct doctor_result *out)
{
	struct json_object *findings = NULL, *first_error = NULL, *first_warning = NULL;
	size_t n = 0;

	if (json_object_object_get_ex(root, "findings", &findings) &&
	    !json_object_is_type(findings, json_type_array)) {
		fail(out, DOCTOR_BAD_REPORT, "doctor's report has \"findings\" that is not a list");
		return;
	}
	if (findings)
		n = json_object_array_length(findings);
	for (size_t i = 0; i < n; i++) {
		struct json_object *f = json_object_array_get_idx(findings, i);
		if (!json_object_is_type(f, json_type_object)) {
			fail(out, DOCTOR_BAD_REPORT,
			     "doctor's report has finding %zu that is not an object", i + 1);
			return;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *f = json_object_array_get_idx(findings, i);
		switch (classify(str_member(f, "severity"))) {
		case SEV_ERROR:
			out->errors++;
			if (!first_error)
				first_error = f;
			break;
		case SEV_WARNING:
			out->warnings++;
			if (!first_warning)
				first_warning = f;
			break;
		case SEV_INFO:
			out->infos++;
			break;
		}
	}
	out->outcome = DOCTOR_JUDGED;
	out->ok = json_object_get_boolean(ok);
	out->checks_run = int_member(root, "checksRun", -1);
	out->checks_skipped = int_member(root, "checksSkipped", -1);
	out->verdict = !out->ok || out->errors ? DOCTOR_RED
		       : out->warnings	       ? DOCTOR_YELLOW
					       : DOCTOR_GREEN;
	struct json_object *bad = first_error ? first_error : first_warning;
	if (bad) {
		out->has_first_bad = true;
		copy_finding(&out->first_bad, bad);
	}
}

static void read_cli_error(struct json_object *error, struct doctor_result *out)
{
	char msg[DOCTOR_TEXT_MAX - REASON_WORDS];
	const char *s = json_object_is_type(error, json_type_object) ? str_member(error, "message")
								      : NULL;

	if (!s)
		s = json_object_is_type(error, json_type_string) ? json_object_get_string(error)
								 : "no message";
	doctor_escape_text(msg, sizeof(msg), s, strlen(s), 0);
	fail(out, DOCTOR_CLI_ERROR, "openclaw doctor failed: %s", msg);
}

/* Commander-style CLIs say "error: unknown option '--non-interactive'"; an older OpenClaw
 * answers so when the agent passes a flag that arrived later. */
static bool unknown_option(const struct proc_result *run, char flag[FLAG_MAX])
{
	const char *p = strstr(run->err, "unknown option");
	size_t n = 0;

	if (!p)
		return false;
	p += strlen("unknown option");
	while (*p == ' ' || *p == ':')
		p++;
	if (*p == '\'' || *p == '"' || *p == '`')
		p++;
	while (p[n] == '-' || (n && p[n] && !strchr("'\"` \t\r\n", p[n])))
		n++;
	if (n < 2 || n >= FLAG_MAX || p[0] != '-') {
		snprintf(flag, FLAG_MAX, "a flag the agent passes");
		return true;
	}
	doctor_escape_text(flag, FLAG_MAX, p, n, 0);
	return true;
}

static void read_failed_exit(const struct proc_result *run, struct doctor_result *out)
{
	char flag[FLAG_MAX], line[DOCTOR_TEXT_MAX - REASON_WORDS];

	if (unknown_option(run, flag)) {
		fail(out, DOCTOR_FLAG_UNSUPPORTED,
		     "openclaw doctor does not support %s (the installed CLI is older than the "
		     "flag): upgrade OpenClaw to the version openclaw.lock pins", flag);
		return;
	}
	first_line(line, sizeof(line), run->err, run->err_len);
	if (!line[0])
		first_line(line, sizeof(line), run->out, run->out_len);
	fail(out, DOCTOR_FAILED, "openclaw doctor exited with status %d%s%s", run->exit_code,
	     line[0] ? ": " : " and printed nothing", line);
}

static void read_not_json(const struct proc_result *run, struct doctor_result *out)
{
	char excerpt[DOCTOR_TEXT_MAX - REASON_WORDS];
	size_t taken;

	if (strspn(run->out, " \t\r\n") == run->out_len) {
		fail(out, DOCTOR_NOT_JSON, "doctor printed no output (expected a JSON report)");
		return;
	}
	taken = doctor_escape_text(excerpt, sizeof(excerpt), run->out, run->out_len,
				   DOCTOR_EXCERPT_CHARS);
	fail(out, DOCTOR_NOT_JSON, "doctor printed non-JSON output: \"%s\"%s", excerpt,
	     taken < run->out_len ? "..." : "");
}

void doctor_judge(const struct proc_result *run, int timeout_ms, struct doctor_result *out)
{
	struct json_object *root = NULL, *error, *ok;
	char text[DOCTOR_TEXT_MAX - REASON_WORDS];

	memset(out, 0, sizeof(*out));
	out->checks_run = out->checks_skipped = -1;
	if (run->timed_out) {
		duration_format(timeout_ms > 0 ? timeout_ms : PROC_TIMEOUT_DEFAULT_MS, text,
				sizeof(text));
		fail(out, DOCTOR_TIMED_OUT, "doctor did not answer within %s", text);
		return;
	}
	if (!run->exited) {
		fail(out, DOCTOR_FAILED, "openclaw doctor was killed by signal %d",
		     run->term_signal);
		return;
	}
	if (run->exit_code == PROC_EXIT_NOT_FOUND || run->exit_code == PROC_EXIT_NOT_EXECUTABLE) {
		first_line(text, sizeof(text), run->err, run->err_len);
		fail(out, DOCTOR_CLI_MISSING,
		     "openclaw CLI %s (exit status %d; check `openclaw` in the agent config)%s%s",
		     run->exit_code == PROC_EXIT_NOT_FOUND ? "not found" : "is not executable",
		     run->exit_code, text[0] ? ": " : "", text);
		return;
	}
	if (run->out_truncated || run->out_len > DOCTOR_OUTPUT_MAX) {
		fail(out, DOCTOR_TRUNCATED,
		     "doctor printed more than %d KiB; the report was cut off and not judged",
		     DOCTOR_OUTPUT_MAX / 1024);
		return;
	}
	/* Any JSON value: a list or a string is JSON that is not a report. */
	int parsed = jsonparse_value(run->out, run->out_len, DOCTOR_JSON_DEPTH, &root, NULL);
	if (json_object_is_type(root, json_type_object)) {
		if (json_object_object_get_ex(root, "error", &error)) {
			read_cli_error(error, out);
			goto done;
		}
		if (json_object_object_get_ex(root, "ok", &ok) &&
		    json_object_is_type(ok, json_type_boolean)) {
			read_report(root, ok, out);
			goto done;
		}
	}
	if (run->exit_code != 0)
		read_failed_exit(run, out);
	else if (parsed == JSONPARSE_TOO_DEEP)
		fail(out, DOCTOR_BAD_REPORT, "doctor printed JSON nested deeper than %d levels",
		     DOCTOR_JSON_DEPTH);
	else if (!root)
		read_not_json(run, out);
	else
		fail(out, DOCTOR_BAD_REPORT,
		     "doctor printed JSON that is not a report (no boolean \"ok\")");
done:
	json_object_put(root);
}
