#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "observe/doctor.h"

/* What the simulated `openclaw doctor --json --non-interactive` prints (hack/sim/openclaw.c),
 * the shape OPENCLAW.md documents. */
static const char report_green[] =
	"{\"ok\":true,\"checksRun\":14,\"checksSkipped\":3,\"findings\":["
	"{\"checkId\":\"gateway.service\",\"severity\":\"info\","
	"\"message\":\"LaunchAgent ai.openclaw.gateway is loaded\"},"
	"{\"checkId\":\"config.valid\",\"severity\":\"info\","
	"\"message\":\"openclaw.json is valid\"}]}\n";
static const char report_yellow[] =
	"{\"ok\":true,\"checksRun\":14,\"checksSkipped\":3,\"findings\":["
	"{\"checkId\":\"gateway.service\",\"severity\":\"info\","
	"\"message\":\"LaunchAgent ai.openclaw.gateway is loaded\"},"
	"{\"checkId\":\"gateway.latency\",\"severity\":\"warning\","
	"\"message\":\"p95 above target\","
	"\"fixHint\":\"check channel backlogs with openclaw health\"}]}\n";
static const char report_red[] =
	"{\"ok\":false,\"checksRun\":14,\"checksSkipped\":3,\"findings\":["
	"{\"checkId\":\"gateway.latency\",\"severity\":\"warning\","
	"\"message\":\"p95 above target\"},"
	"{\"checkId\":\"skills.semver\",\"severity\":\"error\","
	"\"message\":\"skill pack 1.4.3 does not match openclaw.lock 1.4.2\","
	"\"fixHint\":\"reinstall the skill pack pinned by openclaw.lock\","
	"\"path\":\"/var/db/openclaw/skills/current/openclaw.lock\",\"line\":3,\"column\":12},"
	"{\"checkId\":\"config.schema\",\"severity\":\"error\",\"message\":\"second error\"}]}\n";
/* The human report a release prints when it ignores --json (sim mode "garbage"). */
static const char human_report[] =
	"\xe2\x94\x8c  OpenClaw doctor\n\xe2\x94\x82\n"
	"\xe2\x97\x87  LaunchAgent ai.openclaw.gateway is loaded\n\xe2\x94\x82\n"
	"\xe2\x97\x87  openclaw.json is valid\n\xe2\x94\x82\n\xe2\x94\x94  Doctor complete.\n";

static struct proc_result run_bytes(int exit_code, const char *out, size_t out_len,
				    const char *err_text)
{
	struct proc_result r;

	memset(&r, 0, sizeof(r));
	r.out = (char *)out;
	r.out_len = out_len;
	r.err = (char *)err_text;
	r.err_len = strlen(err_text);
	r.exited = true;
	r.exit_code = exit_code;
	return r;
}

static struct proc_result run_of(int exit_code, const char *out, const char *err_text)
{
	return run_bytes(exit_code, out, strlen(out), err_text);
}

static void judge(const struct proc_result *run, struct doctor_result *res)
{
	doctor_judge(run, 20000, res);
}

static void expect_failure(const struct proc_result *run, enum doctor_outcome outcome,
			   const char *code, const char *reason_part)
{
	struct doctor_result res;

	judge(run, &res);
	assert_int_equal(res.outcome, outcome);
	assert_int_equal(res.verdict, DOCTOR_RED);
	assert_string_equal(doctor_reason_code(&res), code);
	if (!strstr(res.reason, reason_part))
		fail_msg("reason \"%s\" lacks \"%s\"", res.reason, reason_part);
	assert_false(res.has_first_bad);
}

static void test_green_report(void **state)
{
	struct proc_result run = run_of(0, report_green, "");
	struct doctor_result res;
	(void)state;

	judge(&run, &res);
	assert_int_equal(res.outcome, DOCTOR_JUDGED);
	assert_int_equal(res.verdict, DOCTOR_GREEN);
	assert_null(doctor_reason_code(&res));
	assert_true(res.ok);
	assert_int_equal(res.checks_run, 14);
	assert_int_equal(res.checks_skipped, 3);
	assert_int_equal(res.infos, 2);
	assert_int_equal(res.warnings, 0);
	assert_int_equal(res.errors, 0);
	assert_false(res.has_first_bad);
	assert_string_equal(res.reason, "");
}

static void test_warning_is_yellow(void **state)
{
	struct proc_result run = run_of(0, report_yellow, "");
	struct doctor_result res;
	(void)state;

	judge(&run, &res);
	assert_int_equal(res.verdict, DOCTOR_YELLOW);
	assert_string_equal(doctor_reason_code(&res), "doctor.yellow");
	assert_true(res.has_first_bad);
	assert_string_equal(res.first_bad.check_id, "gateway.latency");
	assert_string_equal(res.first_bad.severity, "warning");
	assert_string_equal(res.first_bad.message, "p95 above target");
	assert_string_equal(res.first_bad.fix_hint, "check channel backlogs with openclaw health");
	assert_string_equal(res.first_bad.path, "");
	assert_int_equal(res.first_bad.line, 0);
}

/* The first error wins over an earlier warning; its location comes along. */
static void test_error_is_red_and_first_bad(void **state)
{
	struct proc_result run = run_of(0, report_red, "");
	struct doctor_result res;
	(void)state;

	judge(&run, &res);
	assert_int_equal(res.outcome, DOCTOR_JUDGED);
	assert_int_equal(res.verdict, DOCTOR_RED);
	assert_string_equal(doctor_reason_code(&res), "doctor.red");
	assert_false(res.ok);
	assert_int_equal(res.errors, 2);
	assert_int_equal(res.warnings, 1);
	assert_string_equal(res.first_bad.check_id, "skills.semver");
	assert_string_equal(res.first_bad.severity, "error");
	assert_string_equal(res.first_bad.message,
			    "skill pack 1.4.3 does not match openclaw.lock 1.4.2");
	assert_string_equal(res.first_bad.path, "/var/db/openclaw/skills/current/openclaw.lock");
	assert_int_equal(res.first_bad.line, 3);
	assert_int_equal(res.first_bad.column, 12);
	assert_string_equal(res.first_bad.fix_hint,
			    "reinstall the skill pack pinned by openclaw.lock");
}

/* Doctor exits 0 when unhealthy: ok:false alone is red even without an error finding. */
static void test_ok_false_without_findings_is_red(void **state)
{
	struct proc_result run = run_of(0, "{\"ok\":false,\"findings\":[]}", "");
	struct doctor_result res;
	(void)state;

	judge(&run, &res);
	assert_int_equal(res.outcome, DOCTOR_JUDGED);
	assert_int_equal(res.verdict, DOCTOR_RED);
	assert_false(res.has_first_bad);
	assert_int_equal(res.checks_run, -1);
}

static void test_unknown_severity_is_yellow(void **state)
{
	struct proc_result run = run_of(0,
		"{\"ok\":true,\"findings\":[{\"checkId\":\"x.new\",\"severity\":\"notice\","
		"\"message\":\"a severity from a later release\"}]}", "");
	struct doctor_result res;
	(void)state;

	judge(&run, &res);
	assert_int_equal(res.verdict, DOCTOR_YELLOW);
	assert_string_equal(res.first_bad.severity, "notice");
}

/* A report is judged even when the exit status is not 0. */
static void test_report_with_nonzero_exit_is_judged(void **state)
{
	struct proc_result run = run_of(1, report_red, "");
	struct doctor_result res;
	(void)state;

	judge(&run, &res);
	assert_int_equal(res.outcome, DOCTOR_JUDGED);
	assert_int_equal(res.verdict, DOCTOR_RED);
}

static void test_human_report_is_not_json(void **state)
{
	struct proc_result run = run_of(0, human_report, "");
	struct doctor_result res;
	(void)state;

	judge(&run, &res);
	assert_int_equal(res.outcome, DOCTOR_NOT_JSON);
	assert_string_equal(doctor_reason_code(&res), "doctor.not_json");
	/* The first 80 characters, newlines escaped, UTF-8 kept whole, then "...". */
	assert_string_equal(res.reason,
			    "doctor printed non-JSON output: \"\xe2\x94\x8c  OpenClaw doctor\\n"
			    "\xe2\x94\x82\\n\xe2\x97\x87  LaunchAgent ai.openclaw.gateway is loaded"
			    "\\n\xe2\x94\x82\\n\xe2\x97\x87  openclaw.\"...");
}

static void test_binary_garbage_is_escaped(void **state)
{
	static const char junk[] = "\xff\xfe\x01ok\x00zz";
	struct proc_result run = run_bytes(0, junk, sizeof(junk) - 1, "");
	(void)state;

	expect_failure(&run, DOCTOR_NOT_JSON, "doctor.not_json",
		       "non-JSON output: \"\\xff\\xfe\\x01ok\\x00zz\"");
}

static void test_trailing_text_after_report_is_not_json(void **state)
{
	struct proc_result run = run_of(0, "{\"ok\":true,\"findings\":[]}\nDone.\n", "");
	(void)state;

	expect_failure(&run, DOCTOR_NOT_JSON, "doctor.not_json", "non-JSON output");
}

static void test_empty_output(void **state)
{
	struct proc_result run = run_of(0, " \n", "");
	(void)state;

	expect_failure(&run, DOCTOR_NOT_JSON, "doctor.not_json", "doctor printed no output");
}

static void test_cli_error(void **state)
{
	struct proc_result run = run_of(1,
		"{\"ok\":false,\"error\":{\"type\":\"cli_error\","
		"\"message\":\"gateway config could not be loaded\"}}\n", "");
	(void)state;

	expect_failure(&run, DOCTOR_CLI_ERROR, "doctor.cli_error",
		       "openclaw doctor failed: gateway config could not be loaded");
}

static void test_timeout(void **state)
{
	struct proc_result run = run_of(0, "{\"ok\":", "");
	(void)state;

	run.timed_out = true;
	run.exited = false;
	run.term_signal = 9;
	expect_failure(&run, DOCTOR_TIMED_OUT, "doctor.timeout",
		       "doctor did not answer within 20s");
}

static void test_missing_cli(void **state)
{
	struct proc_result run = run_of(PROC_EXIT_NOT_FOUND, "", "openclaw: command not found\n");
	struct proc_result noexec = run_of(PROC_EXIT_NOT_EXECUTABLE, "", "");
	(void)state;

	expect_failure(&run, DOCTOR_CLI_MISSING, "doctor.unavailable",
		       "openclaw CLI not found (exit status 127; check `openclaw` in the agent "
		       "config): openclaw: command not found");
	expect_failure(&noexec, DOCTOR_CLI_MISSING, "doctor.unavailable",
		       "openclaw CLI is not executable (exit status 126");
}

static void test_older_cli_without_flag(void **state)
{
	struct proc_result run = run_of(2, "", "error: unknown option '--non-interactive'\n");
	(void)state;

	expect_failure(&run, DOCTOR_FLAG_UNSUPPORTED, "doctor.unsupported",
		       "openclaw doctor does not support --non-interactive (the installed CLI is "
		       "older than the flag): upgrade OpenClaw to the version openclaw.lock pins");
}

static void test_truncated_output(void **state)
{
	struct proc_result run = run_of(0, "{\"ok\":true,\"findings\":[", "");
	(void)state;

	run.out_truncated = true;
	expect_failure(&run, DOCTOR_TRUNCATED, "doctor.truncated", "more than 256 KiB");
}

static void test_other_failures(void **state)
{
	struct proc_result crash = run_of(3, "", "\n  TypeError: cannot read properties\n  at x\n");
	struct proc_result silent = run_of(4, "", "");
	struct proc_result killed = run_of(0, "", "");
	(void)state;

	expect_failure(&crash, DOCTOR_FAILED, "doctor.failed",
		       "openclaw doctor exited with status 3: TypeError: cannot read properties");
	expect_failure(&silent, DOCTOR_FAILED, "doctor.failed",
		       "exited with status 4 and printed nothing");
	killed.exited = false;
	killed.term_signal = 11;
	expect_failure(&killed, DOCTOR_FAILED, "doctor.failed", "killed by signal 11");
}

static void test_json_that_is_not_a_report(void **state)
{
	struct proc_result no_ok = run_of(0, "{\"checksRun\":3}", "");
	struct proc_result list = run_of(0, "[1,2]", "");
	struct proc_result bad_findings = run_of(0, "{\"ok\":true,\"findings\":{}}", "");
	struct proc_result bad_finding = run_of(0, "{\"ok\":true,\"findings\":[{},\"x\"]}", "");
	char deep[2 * DOCTOR_JSON_DEPTH + 40];
	size_t n = 0;
	(void)state;

	expect_failure(&no_ok, DOCTOR_BAD_REPORT, "doctor.bad_report", "no boolean \"ok\"");
	expect_failure(&list, DOCTOR_BAD_REPORT, "doctor.bad_report", "no boolean \"ok\"");
	expect_failure(&bad_findings, DOCTOR_BAD_REPORT, "doctor.bad_report",
		       "\"findings\" that is not a list");
	expect_failure(&bad_finding, DOCTOR_BAD_REPORT, "doctor.bad_report",
		       "finding 2 that is not an object");
	n += (size_t)snprintf(deep, sizeof(deep), "{\"ok\":true,\"x\":");
	for (int i = 0; i < DOCTOR_JSON_DEPTH; i++)
		deep[n++] = '[';
	for (int i = 0; i < DOCTOR_JSON_DEPTH; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	struct proc_result nested = run_of(0, deep, "");
	expect_failure(&nested, DOCTOR_BAD_REPORT, "doctor.bad_report", "nested deeper than 16");
}

static void test_invalid_utf8_inside_json_is_refused(void **state)
{
	struct proc_result run =
		run_of(0, "{\"ok\":true,\"findings\":[{\"message\":\"\xc3\x28\"}]}", "");
	(void)state;

	expect_failure(&run, DOCTOR_NOT_JSON, "doctor.not_json", "non-JSON output");
}

/* Long texts are cut at a character boundary; control characters in them are escaped. */
static void test_long_finding_text(void **state)
{
	char out[2048];
	size_t n = (size_t)snprintf(out, sizeof(out), "{\"ok\":true,\"findings\":[{\"checkId\":\"a\\nb\","
					"\"severity\":\"warning\",\"message\":\"x");
	struct doctor_result res;
	(void)state;

	for (int i = 0; i < 300; i++) {
		memcpy(out + n, "\xc3\xa9", 2); /* e-acute, 2 bytes */
		n += 2;
	}
	strcpy(out + n, "\"}]}");
	struct proc_result run = run_of(0, out, "");
	judge(&run, &res);
	assert_int_equal(res.verdict, DOCTOR_YELLOW);
	assert_string_equal(res.first_bad.check_id, "a\\nb");
	size_t len = strlen(res.first_bad.message);
	assert_true(len < DOCTOR_TEXT_MAX);
	assert_int_equal(res.first_bad.message[0], 'x');
	assert_int_equal((len - 1) % 2, 0); /* whole characters only */
	assert_memory_equal(res.first_bad.message + len - 2, "\xc3\xa9", 2);
}

static void test_zero_result_is_pending(void **state)
{
	struct doctor_result res;
	(void)state;

	memset(&res, 0, sizeof(res));
	assert_string_equal(doctor_reason_code(&res), "doctor.pending");
	assert_string_equal(doctor_verdict_name(DOCTOR_GREEN), "green");
	assert_string_equal(doctor_verdict_name(DOCTOR_YELLOW), "yellow");
	assert_string_equal(doctor_verdict_name(DOCTOR_RED), "red");
}

static void test_escape_text(void **state)
{
	char buf[16];
	(void)state;

	assert_int_equal(doctor_escape_text(buf, sizeof(buf), "a\tb\rc\x7f", 6, 0), 6);
	assert_string_equal(buf, "a\\tb\\rc\\x7f");
	/* Overlong and surrogate encodings are not UTF-8. */
	doctor_escape_text(buf, sizeof(buf), "\xc0\xaf\xed\xa0\x80", 5, 0);
	assert_string_equal(buf, "\\xc0\\xaf\\xed");
	/* max_chars counts characters, not bytes. */
	assert_int_equal(doctor_escape_text(buf, sizeof(buf), "\xc3\xa9\xc3\xa9\xc3\xa9", 6, 2), 4);
	assert_string_equal(buf, "\xc3\xa9\xc3\xa9");
	/* A character that does not fit is left out whole. */
	assert_int_equal(doctor_escape_text(buf, 4, "ab\xe2\x94\x8c", 5, 0), 2);
	assert_string_equal(buf, "ab");
	assert_int_equal(doctor_escape_text(buf, 1, "abc", 3, 0), 0);
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_green_report),
		cmocka_unit_test(test_warning_is_yellow),
		cmocka_unit_test(test_error_is_red_and_first_bad),
		cmocka_unit_test(test_ok_false_without_findings_is_red),
		cmocka_unit_test(test_unknown_severity_is_yellow),
		cmocka_unit_test(test_report_with_nonzero_exit_is_judged),
		cmocka_unit_test(test_human_report_is_not_json),
		cmocka_unit_test(test_binary_garbage_is_escaped),
		cmocka_unit_test(test_trailing_text_after_report_is_not_json),
		cmocka_unit_test(test_empty_output),
		cmocka_unit_test(test_cli_error),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_missing_cli),
		cmocka_unit_test(test_older_cli_without_flag),
		cmocka_unit_test(test_truncated_output),
		cmocka_unit_test(test_other_failures),
		cmocka_unit_test(test_json_that_is_not_a_report),
		cmocka_unit_test(test_invalid_utf8_inside_json_is_refused),
		cmocka_unit_test(test_long_finding_text),
		cmocka_unit_test(test_zero_result_is_pending),
		cmocka_unit_test(test_escape_text),
	};
	return cmocka_run_group_tests_name("doctor", tests, NULL, NULL);
}
