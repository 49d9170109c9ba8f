/* audit: the promotions.jsonl hash chain as an SRE checks it, torn writes after a crash,
 * tampering, and the Ticket: trailer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/canon.h"
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "cmd/commands.h"
#include "record/audit.h"


/* 2026-11-21T03:40:00.123Z */
#define TS0 INT64_C(1795232400123)
#define PROBE "5f2b1c0d5f2b1c0d5f2b1c0d5f2b1c0d5f2b1c0d5f2b1c0d5f2b1c0d5f2b1c0d"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_audit.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/promotions.jsonl", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct cf_err err;
	int rc = fsutil_remove_tree(f->dir, &err);
	free(f);
	return rc;
}

static const struct audit_weight weights[] = {
	{"canary-gw", 20},
	{"gw-a", 80},
	{"gw-b", 80},
};

/* The i-th step of a rollout from 1.4.1 to 1.4.2. */
static struct audit_entry step_entry(int i)
{
	static const int percents[] = {5, 20, 40, 60, 80, 100};
	return (struct audit_entry){
		.ts_ms = TS0 + (int64_t)i * 600000,
		.event = "step",
		.promotion = "gateway",
		.revision = "main@sha1:2f0c9e4d2f0c9e4d2f0c9e4d2f0c9e4d2f0c9e4d",
		.phase = "Promoting",
		.step = i,
		.percent = percents[i % 6],
		.actor = "Alice Example <alice@example.com>",
		.ticket = "OPS-1042",
		.from = {"1.4.1", "v2026.6.3"},
		.to = {"1.4.2", "v2026.7.1"},
		.weights = weights,
		.nweights = 3,
		.probe_sha256 = PROBE,
	};
}

static void append_steps(const char *path, int n)
{
	struct audit_log *log = NULL;
	struct cf_err err = {{0}};
	char warning[256];

	assert_int_equal(audit_open(&log, path, warning, sizeof(warning), &err), 0);
	assert_string_equal(warning, "");
	for (int i = 0; i < n; i++) {
		struct audit_entry e = step_entry(i);
		if (audit_append(log, &e, &err) < 0)
			fail_msg("append %d: %s", i, err.msg);
	}
	audit_close(log);
}

static char *read_all(const char *path, size_t *len)
{
	char *data = NULL;
	struct cf_err err;
	assert_int_equal(fsutil_read_file(path, 1 << 20, &data, len, &err), 0);
	return data;
}

static void write_all(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void append_raw(const char *path, const char *data)
{
	FILE *fp = fopen(path, "ab");
	assert_non_null(fp);
	fputs(data, fp);
	assert_int_equal(fclose(fp), 0);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Start of line n (1-based) in data, and its length without the newline. */
static const char *nth_line(const char *data, int n, size_t *len)
{
	const char *p = data;
	for (int i = 1; i < n; i++) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	*len = (size_t)(strchr(p, '\n') - p);
	return p;
}

static void expect_verify_error(const char *path, const char *want)
{
	struct audit_verify_result res;
	struct cf_err err = {{0}};
	char prefixed[512];

	snprintf(prefixed, sizeof(prefixed), "%s:%s", path, want);
	assert_int_equal(audit_verify(path, &res, &err), -1);
	if (strncmp(err.msg, prefixed, strlen(prefixed)) != 0)
		fail_msg("expected \"%s...\", got \"%s\"", prefixed, err.msg);
}

static void test_appended_entries_verify(void **state)
{
	struct fixture *f = *state;
	struct audit_log *log = NULL;
	struct audit_verify_result res;
	struct cf_err err = {{0}};
	char warning[256], head[65];

	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), 0);
	assert_string_equal(audit_head(log), AUDIT_GENESIS);
	for (int i = 0; i < 4; i++) {
		struct audit_entry e = step_entry(i);
		assert_int_equal(audit_append(log, &e, &err), 0);
	}
	memcpy(head, audit_head(log), sizeof(head));
	audit_close(log);

	assert_int_equal(audit_verify(f->path, &res, &err), 0);
	assert_int_equal(res.entries, 4);
	assert_string_equal(res.last, head);
}

static void test_first_line_is_canonical(void **state)
{
	struct fixture *f = *state;
	size_t len;

	append_steps(f->path, 1);
	char *data = read_all(f->path, &len);
	assert_string_equal(
		data,
		"{\"actor\":\"Alice Example <alice@example.com>\",\"event\":\"step\","
		"\"from\":{\"semver\":\"1.4.1\",\"tag\":\"v2026.6.3\"},\"percent\":5,\"phase\":"
		"\"Promoting\",\"prev\":\"" AUDIT_GENESIS "\",\"probeSha256\":\"" PROBE "\","
		"\"promotion\":\"gateway\",\"reason\":\"\",\"revision\":\"main@sha1:"
		"2f0c9e4d2f0c9e4d2f0c9e4d2f0c9e4d2f0c9e4d\",\"step\":0,\"ticket\":\"OPS-1042\","
		"\"to\":{\"semver\":\"1.4.2\",\"tag\":\"v2026.7.1\"},\"ts\":"
		"\"2026-11-21T03:40:00.123Z\",\"weights\":{\"canary-gw\":20,\"gw-a\":80,"
		"\"gw-b\":80}}\n");
	free(data);
}

/* A drain's line names the gateway; the others have no node. */
static void test_drain_names_the_node(void **state)
{
	struct fixture *f = *state;
	struct audit_log *log = NULL;
	struct cf_err err = {{0}};
	char warning[256];
	size_t len;

	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), 0);
	struct audit_entry e = step_entry(1);
	e.event = "drained";
	e.reason = "doctor.red";
	e.node = "gw-a";
	assert_int_equal(audit_append(log, &e, &err), 0);
	audit_close(log);
	char *data = read_all(f->path, &len);
	assert_non_null(strstr(data, "\"event\":\"drained\",\"from\""));
	assert_non_null(strstr(data, "\"node\":\"gw-a\",\"percent\":20,"));
	free(data);
}

static void test_chain_links_exactly(void **state)
{
	struct fixture *f = *state;
	char want[65] = AUDIT_GENESIS;
	size_t len;

	append_steps(f->path, 5);
	char *data = read_all(f->path, &len);
	for (int n = 1; n <= 5; n++) {
		size_t line_len;
		const char *line = nth_line(data, n, &line_len);
		struct json_object *v = NULL, *prev;
		assert_int_equal(jsonparse_object(line, line_len, JSONPARSE_DEPTH, &v, NULL), 0);
		assert_true(json_object_object_get_ex(v, "prev", &prev));
		assert_string_equal(json_object_get_string(prev), want);
		json_object_put(v);
		canon_sha256_hex(line, line_len, want);
	}
	free(data);
}

static void test_reopen_continues_chain(void **state)
{
	struct fixture *f = *state;
	struct audit_log *log = NULL;
	struct audit_verify_result res;
	struct cf_err err = {{0}};
	char warning[256], want[65];
	size_t len, line_len;

	append_steps(f->path, 2);
	char *data = read_all(f->path, &len);
	const char *line = nth_line(data, 2, &line_len);
	canon_sha256_hex(line, line_len, want);
	free(data);

	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), 0);
	assert_string_equal(warning, "");
	assert_string_equal(audit_head(log), want);
	struct audit_entry e = step_entry(2);
	assert_int_equal(audit_append(log, &e, &err), 0);
	audit_close(log);
	assert_int_equal(audit_verify(f->path, &res, &err), 0);
	assert_int_equal(res.entries, 3);
}

static void test_torn_last_line_is_cut(void **state)
{
	struct fixture *f = *state;
	struct audit_log *log = NULL;
	struct audit_verify_result res;
	struct cf_err err = {{0}};
	char warning[256];
	size_t len, line_len;

	append_steps(f->path, 3);
	off_t good = file_size(f->path);
	/* Half of a fourth line, as a crash in the middle of write() leaves it. */
	char *data = read_all(f->path, &len);
	const char *line = nth_line(data, 3, &line_len);
	char half[4096];
	snprintf(half, sizeof(half), "%.*s", (int)(line_len / 2), line);
	free(data);
	append_raw(f->path, half);
	expect_verify_error(f->path, "4: the last line has no newline");

	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), 0);
	assert_non_null(strstr(warning, "cut a torn last line"));
	assert_non_null(strstr(warning, "it has no newline"));
	assert_int_equal(file_size(f->path), good);
	struct audit_entry e = step_entry(3);
	assert_int_equal(audit_append(log, &e, &err), 0);
	audit_close(log);
	assert_int_equal(audit_verify(f->path, &res, &err), 0);
	assert_int_equal(res.entries, 4);
}

static void test_invalid_json_last_line_is_cut(void **state)
{
	struct fixture *f = *state;
	struct audit_log *log = NULL;
	struct audit_verify_result res;
	struct cf_err err = {{0}};
	char warning[256];

	append_steps(f->path, 2);
	off_t good = file_size(f->path);
	append_raw(f->path, "{\"actor\":\"Alice\",\"ev\n");
	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), 0);
	assert_non_null(strstr(warning, "it is not valid JSON"));
	assert_int_equal(file_size(f->path), good);
	struct audit_entry e = step_entry(2);
	assert_int_equal(audit_append(log, &e, &err), 0);
	audit_close(log);
	assert_int_equal(audit_verify(f->path, &res, &err), 0);
	assert_int_equal(res.entries, 3);
}

static void test_torn_line_of_an_empty_log_is_cut(void **state)
{
	struct fixture *f = *state;
	struct audit_log *log = NULL;
	struct cf_err err = {{0}};
	char warning[256];

	append_raw(f->path, "{\"actor\":");
	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), 0);
	assert_non_null(strstr(warning, "cut a torn last line (9 bytes at offset 0"));
	assert_string_equal(audit_head(log), AUDIT_GENESIS);
	assert_int_equal(file_size(f->path), 0);
	audit_close(log);
}

static void test_deeper_damage_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct audit_log *log = NULL;
	struct cf_err err = {{0}};
	char warning[256];

	append_steps(f->path, 2);
	append_raw(f->path, "not json\n{\"half\":");
	off_t size = file_size(f->path);
	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), -1);
	assert_null(log);
	assert_non_null(strstr(err.msg, "the last two lines are damaged"));
	assert_non_null(strstr(err.msg, "clawfleet audit verify"));
	assert_int_equal(file_size(f->path), size);
}

/* Changes one byte of line n: the line stays JSON, its hash changes. */
static void tamper(const char *path, int n, const char *from, const char *to)
{
	size_t len, line_len;
	char *data = read_all(path, &len);
	const char *line = nth_line(data, n, &line_len);
	char *at = strstr(line, from);
	assert_non_null(at);
	assert_true(at < line + line_len);
	memcpy(at, to, strlen(to));
	write_all(path, data, len);
	free(data);
}

static void test_tampered_middle_line_fails(void **state)
{
	struct fixture *f = *state;

	append_steps(f->path, 5);
	tamper(f->path, 3, "Alice", "Alicf");
	expect_verify_error(f->path, "4: prev does not match line 3");
}

static void test_tampered_weight_fails(void **state)
{
	struct fixture *f = *state;

	append_steps(f->path, 5);
	tamper(f->path, 2, "\"canary-gw\":20", "\"canary-gw\":90");
	expect_verify_error(f->path, "3: prev does not match line 2");
}

static void delete_line(const char *path, int n)
{
	size_t len, line_len;
	char *data = read_all(path, &len);
	char *line = (char *)nth_line(data, n, &line_len);
	memmove(line, line + line_len + 1, len - (size_t)(line - data) - line_len);
	write_all(path, data, len - line_len - 1);
	free(data);
}

static void test_deleted_line_fails(void **state)
{
	struct fixture *f = *state;

	append_steps(f->path, 5);
	delete_line(f->path, 3);
	expect_verify_error(f->path, "3: prev does not match line 2");
}

static void test_deleted_first_line_fails(void **state)
{
	struct fixture *f = *state;

	append_steps(f->path, 3);
	delete_line(f->path, 1);
	expect_verify_error(f->path, "1: prev of the first line is ");
}

static void test_edited_last_line_is_noticed_when_not_canonical(void **state)
{
	struct fixture *f = *state;

	append_steps(f->path, 2);
	tamper(f->path, 2, "\"percent\":20", "\"percent\": 2");
	expect_verify_error(f->path, "2: not in canonical JSON form");
}

static void test_verify_reports_bad_lines(void **state)
{
	struct fixture *f = *state;

	append_steps(f->path, 1);
	append_raw(f->path, "\n");
	expect_verify_error(f->path, "2: not valid JSON");

	write_all(f->path, "[1]\n", 4);
	expect_verify_error(f->path, "1: not a JSON object");

	write_all(f->path, "{\"a\":1}\n", 8);
	expect_verify_error(f->path, "1: prev is missing or not a string");

	write_all(f->path, "{\"prev\":\"\\u001b[2J\"}\n", 21);
	expect_verify_error(f->path, "1: prev is not a sha256");

	write_all(f->path, "{} {}\n", 6);
	expect_verify_error(f->path, "1: not valid JSON");

	size_t big = AUDIT_LINE_MAX + 10;
	char *huge = malloc(big + 1);
	assert_non_null(huge);
	memset(huge, 'x', big);
	huge[big] = '\n';
	write_all(f->path, huge, big + 1);
	free(huge);
	expect_verify_error(f->path, "1: line is longer than 65536 bytes");
}

static void test_empty_log_verifies(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result res;
	struct cf_err err = {{0}};

	write_all(f->path, "", 0);
	assert_int_equal(audit_verify(f->path, &res, &err), 0);
	assert_int_equal(res.entries, 0);
	assert_string_equal(res.last, AUDIT_GENESIS);
}

static void test_missing_file_is_an_error(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result res;
	struct cf_err err = {{0}};

	assert_int_equal(audit_verify(f->path, &res, &err), -1);
	assert_non_null(strstr(err.msg, "No such file"));
}

static void test_bad_entries_write_nothing(void **state)
{
	struct fixture *f = *state;
	struct audit_log *log = NULL;
	struct cf_err err = {{0}};
	char warning[256];
	static const struct audit_weight twice[] = {{"gw-a", 1}, {"gw-a", 2}};

	append_steps(f->path, 1);
	off_t size = file_size(f->path);
	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), 0);

	struct audit_entry e = step_entry(1);
	e.event = NULL;
	assert_int_equal(audit_append(log, &e, &err), -1);
	assert_non_null(strstr(err.msg, "needs an event"));

	e = step_entry(1);
	e.weights = twice;
	e.nweights = 2;
	assert_int_equal(audit_append(log, &e, &err), -1);
	assert_non_null(strstr(err.msg, "server \"gw-a\" appears twice"));

	e = step_entry(1);
	e.actor = "Ren\xe9 (Latin-1)";
	assert_int_equal(audit_append(log, &e, &err), -1);
	assert_non_null(strstr(err.msg, "not valid UTF-8"));

	e = step_entry(1);
	e.ts_ms = -1;
	assert_int_equal(audit_append(log, &e, &err), -1);
	assert_non_null(strstr(err.msg, "outside years 1970 to 9999"));

	char *long_actor = malloc(AUDIT_LINE_MAX + 1);
	assert_non_null(long_actor);
	memset(long_actor, 'a', AUDIT_LINE_MAX);
	long_actor[AUDIT_LINE_MAX] = '\0';
	e = step_entry(1);
	e.actor = long_actor;
	assert_int_equal(audit_append(log, &e, &err), -1);
	assert_non_null(strstr(err.msg, "over the 65536 byte line limit"));
	free(long_actor);

	assert_int_equal(file_size(f->path), size);
	/* The chain still continues from the last line that was written. */
	e = step_entry(1);
	assert_int_equal(audit_append(log, &e, &err), 0);
	audit_close(log);
	struct audit_verify_result res;
	assert_int_equal(audit_verify(f->path, &res, &err), 0);
	assert_int_equal(res.entries, 2);
}

static void test_strings_that_need_escaping_keep_one_line(void **state)
{
	struct fixture *f = *state;
	struct audit_log *log = NULL;
	struct audit_verify_result res;
	struct cf_err err = {{0}};
	char warning[256];

	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), 0);
	struct audit_entry e = step_entry(0);
	e.actor = "Mallory \"}\n{\"event\":\"forged\"";
	e.reason = NULL;
	assert_int_equal(audit_append(log, &e, &err), 0);
	audit_close(log);
	assert_int_equal(audit_verify(f->path, &res, &err), 0);
	assert_int_equal(res.entries, 1);
}

static void test_second_writer_is_refused(void **state)
{
	struct fixture *f = *state;
	struct audit_log *log = NULL, *other = NULL;
	struct cf_err err = {{0}};
	char warning[256];

	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), 0);
	assert_int_equal(audit_open(&other, f->path, warning, sizeof(warning), &err), -1);
	assert_null(other);
	assert_non_null(strstr(err.msg, "open in another process"));
	audit_close(log);
	assert_int_equal(audit_open(&other, f->path, warning, sizeof(warning), &err), 0);
	audit_close(other);
}

struct ticket_case {
	const char *message;
	const char *want; /* NULL: no ticket */
};

static const struct ticket_case ticket_cases[] = {
	{"fleet: promote v2026.7.1\n\nTicket: OPS-1042\n", "OPS-1042"},
	{"fleet: promote\n\nBody text.\n\nticket:OPS-7\nSigned-off-by: A <a@example.com>\n",
	 "OPS-7"},
	{"fleet: promote\n\nTICKET :  OPS-9  \r\n", "OPS-9"},
	{"fleet: promote\n\nTicket: OPS-1\nTicket: OPS-2\n", "OPS-2"},
	{"fleet: promote\r\n\r\nTicket: OPS-3\r\n", "OPS-3"},
	{"fleet: promote\n\nTicket: OPS-1\n\n\n", "OPS-1"},
	{"Ticket: OPS-1", NULL},
	{"fleet: promote\n\nTicket: OPS-1\n\nA closing paragraph.\n", NULL},
	{"fleet: promote\n\nTickets: OPS-1\nX-Ticket: OPS-2\nTicket OPS-3\n", NULL},
	{"fleet: promote\n\nTicket:\n", NULL},
	{"", NULL},
};

static void test_ticket_from_message(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ticket_cases) / sizeof(ticket_cases[0]); i++) {
		const struct ticket_case *c = &ticket_cases[i];
		char got[AUDIT_TICKET_MAX];
		int found = audit_ticket_from_message(c->message, got);
		if (found != (c->want != NULL) || (c->want && strcmp(got, c->want) != 0))
			fail_msg("case %zu: found %d, ticket \"%s\"", i, found, got);
	}
}

static void test_overlong_ticket_is_not_an_id(void **state)
{
	(void)state;
	char msg[512], got[AUDIT_TICKET_MAX];
	snprintf(msg, sizeof(msg), "subject\n\nTicket: OPS-1\nTicket: %0*d\n", AUDIT_TICKET_MAX,
		 0);
	assert_int_equal(audit_ticket_from_message(msg, got), 1);
	assert_string_equal(got, "OPS-1");
}

static int run_cmd(const char *a1, const char *a2)
{
	char *argv[] = {(char *)"audit", (char *)a1, (char *)a2, NULL};
	int argc = a1 ? (a2 ? 3 : 2) : 1;
	return cmd_audit(argc, argv);
}

static void test_cmd_audit_exit_codes(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run_cmd(NULL, NULL), 2);
	assert_int_equal(run_cmd("check", f->path), 2);
	assert_int_equal(run_cmd("verify", NULL), 2);
	assert_int_equal(run_cmd("verify", f->path), 1);
	append_steps(f->path, 3);
	assert_int_equal(run_cmd("verify", f->path), 0);
	tamper(f->path, 1, "Alice", "Alicf");
	assert_int_equal(run_cmd("verify", f->path), 1);
}

/* audit_read_tail: the last complete lines, whatever the writer was doing. */
static void test_read_tail(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name;
		const char *file; /* NULL: no log yet */
		size_t max_lines, max_bytes;
		const char *want;
	} cases[] = {
		{"no log yet", NULL, 10, 1024, ""},
		{"an empty log", "", 10, 1024, ""},
		{"fewer lines than asked for", "a\nb\nc\n", 10, 1024, "a\nb\nc\n"},
		{"the last lines", "a\nb\nc\n", 2, 1024, "b\nc\n"},
		{"no lines asked for", "a\nb\n", 0, 1024, ""},
		{"a torn last line", "a\nb\nc", 10, 1024, "a\nb\n"},
		{"only a torn line", "abc", 10, 1024, ""},
		{"the read starts mid-line", "aaaa\nbb\ncc\n", 10, 6, "cc\n"},
		{"the read starts just after a newline", "aaaa\nbb\ncc\n", 10, 6, "cc\n"},
		{"the newline before it is read", "aaaa\nbb\ncc\n", 10, 7, "bb\ncc\n"},
		{"a line longer than the read", "xxxxxxxxxxxxxxxxxxxx\n", 10, 10, ""},
		{"the whole file exactly", "aaaa\nbb\n", 10, 8, "aaaa\nbb\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		size_t len = 0;
		struct cf_err err = {{0}};
		unlink(f->path);
		if (cases[i].file)
			write_all(f->path, cases[i].file, strlen(cases[i].file));
		if (audit_read_tail(f->path, cases[i].max_lines, cases[i].max_bytes, &out, &len,
				    &err) < 0)
			fail_msg("%s: %s", cases[i].name, err.msg);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, out, cases[i].want);
		assert_int_equal(len, strlen(out));
		free(out);
	}
}

/* A log the writer appended to reads back as its last lines, whole. */
static void test_read_tail_of_a_written_log(void **state)
{
	struct fixture *f = *state;
	char *out = NULL, *file;
	size_t len = 0, flen = 0;
	struct cf_err err;

	append_steps(f->path, 5);
	assert_int_equal(audit_read_tail(f->path, 2, AUDIT_LINE_MAX + 2, &out, &len, &err), 0);
	file = read_all(f->path, &flen);
	assert_true(len > 0 && len < flen);
	assert_memory_equal(out, file + flen - len, len);
	assert_int_equal(file[flen - len - 1], '\n');
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += out[i] == '\n';
	assert_int_equal(lines, 2);
	free(out);
	free(file);
}

/* ---- the anchor: what the chain alone cannot tell ---- */

/* Writes n steps and returns the anchor the writer would keep. */
static struct audit_anchor anchored_steps(const char *path, int n)
{
	struct audit_log *log = NULL;
	struct cf_err err = {{0}};
	struct audit_anchor a;
	char warning[256];

	append_steps(path, n);
	assert_int_equal(audit_open(&log, path, warning, sizeof(warning), &err), 0);
	audit_anchor_of(log, &a);
	audit_close(log);
	assert_int_equal(a.lines, (uint64_t)n);
	return a;
}

/* Opens against want: the log must come back sealed with a message containing why, and the file
 * unchanged. */
static void expect_sealed(const char *path, const struct audit_anchor *want, const char *why)
{
	struct audit_log *log = NULL;
	struct cf_err err = {{0}};
	char warning[256];
	off_t size = file_size(path);

	assert_int_equal(audit_open_anchored(&log, path, want, warning, sizeof(warning), &err), 0);
	assert_non_null(log);
	const char *broken = audit_broken(log);
	if (!broken || !strstr(broken, why))
		fail_msg("expected sealed with \"%s\", got \"%s\"", why, broken ? broken : "(open)");
	struct audit_entry e = step_entry(9);
	assert_int_equal(audit_append(log, &e, &err), -1);
	assert_non_null(strstr(err.msg, why));
	audit_close(log);
	assert_int_equal(file_size(path), size);
}

static void cut_to(const char *path, off_t size)
{
	assert_int_equal(truncate(path, size), 0);
}

static off_t end_of_line(const char *path, int n)
{
	size_t len, line_len;
	char *data = read_all(path, &len);
	const char *line = nth_line(data, n, &line_len);
	off_t end = (off_t)(line - data) + (off_t)line_len + 1;
	free(data);
	return end;
}

static void test_anchor_lost_last_lines(void **state)
{
	struct fixture *f = *state;
	struct audit_anchor a = anchored_steps(f->path, 33);

	/* verify alone still calls the shorter chain fine: that is what the anchor is for. */
	cut_to(f->path, end_of_line(f->path, 4));
	struct audit_verify_result res;
	struct cf_err err;
	assert_int_equal(audit_verify(f->path, &res, &err), 0);
	expect_sealed(f->path, &a, "has 4 lines, the state recorded 33: 29 lines lost after line 4");
}

static void test_anchor_cut_mid_line(void **state)
{
	struct fixture *f = *state;
	struct audit_anchor a = anchored_steps(f->path, 33);

	/* A cut in the middle of line 17 is not a torn write to cut away: nothing is cut. */
	cut_to(f->path, end_of_line(f->path, 16) + 40);
	expect_sealed(f->path, &a, "has 16 lines and a piece of the next, the state recorded 33: "
				   "17 lines lost after line 16");
}

static void test_anchor_deleted_last_line(void **state)
{
	struct fixture *f = *state;
	struct audit_anchor a = anchored_steps(f->path, 5);

	delete_line(f->path, 5);
	expect_sealed(f->path, &a, "has 4 lines, the state recorded 5: 1 line lost after line 4");
}

static void test_anchor_edited_middle_line(void **state)
{
	struct fixture *f = *state;
	struct audit_anchor a = anchored_steps(f->path, 33);

	tamper(f->path, 17, "\"canary-gw\":20", "\"canary-gw\":90");
	expect_sealed(f->path, &a, "prev does not match line 17");
	expect_sealed(f->path, &a, "line 17 was changed");
}

static void test_anchor_rebuilt_chain(void **state)
{
	struct fixture *f = *state;
	struct audit_anchor a = anchored_steps(f->path, 3);

	/* A chain rebuilt from scratch (another log of the same length) verifies on its own. */
	assert_int_equal(unlink(f->path), 0);
	struct audit_log *log = NULL;
	struct cf_err err = {{0}};
	char warning[256];
	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), 0);
	for (int i = 3; i < 6; i++) {
		struct audit_entry e = step_entry(i);
		assert_int_equal(audit_append(log, &e, &err), 0);
	}
	audit_close(log);
	expect_sealed(f->path, &a, "line 3 hashes to ");
	expect_sealed(f->path, &a, "a line up to 3 was changed and the chain rebuilt after it");
}

static void test_anchor_matches_and_one_line_more(void **state)
{
	struct fixture *f = *state;
	struct audit_anchor a = anchored_steps(f->path, 3), end;
	struct audit_log *log = NULL;
	struct cf_err err = {{0}};
	char warning[256];

	assert_int_equal(audit_open_anchored(&log, f->path, &a, warning, sizeof(warning), &err), 0);
	assert_null(audit_broken(log));
	struct audit_entry e = step_entry(3);
	assert_int_equal(audit_append(log, &e, &err), 0);
	audit_close(log);
	/* The line a crash let through before the anchor moved: opened, for the caller to settle. */
	assert_int_equal(audit_open_anchored(&log, f->path, &a, warning, sizeof(warning), &err), 0);
	assert_null(audit_broken(log));
	audit_anchor_of(log, &end);
	assert_int_equal(end.lines, 4);
	audit_close(log);
	/* Two lines past it were not written by this controller. */
	append_steps(f->path, 0);
	assert_int_equal(audit_open_anchored(&log, f->path, &end, warning, sizeof(warning), &err), 0);
	e = step_entry(4);
	assert_int_equal(audit_append(log, &e, &err), 0);
	audit_close(log);
	expect_sealed(f->path, &a, "lines 4 to 5 were not written by this controller");
}

static void test_anchor_torn_line_after_it_is_cut(void **state)
{
	struct fixture *f = *state;
	struct audit_anchor a = anchored_steps(f->path, 3);
	struct audit_log *log = NULL;
	struct cf_err err = {{0}};
	char warning[256];
	off_t size = file_size(f->path);

	append_raw(f->path, "{\"actor\":\"a torn write\",\"ev");
	assert_int_equal(audit_open_anchored(&log, f->path, &a, warning, sizeof(warning), &err), 0);
	assert_null(audit_broken(log));
	assert_non_null(strstr(warning, "cut a torn last line"));
	audit_close(log);
	assert_int_equal(file_size(f->path), size);
}

/* A line edited while the writer has the log open is caught before the next append. */
static void test_edit_while_open_is_caught(void **state)
{
	struct fixture *f = *state;
	struct audit_log *log = NULL;
	struct cf_err err = {{0}};
	char warning[256];

	append_steps(f->path, 5);
	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), 0);
	assert_int_equal(audit_check(log, &err), 0);
	tamper(f->path, 2, "\"canary-gw\":20", "\"canary-gw\":90");
	struct audit_entry e = step_entry(5);
	assert_int_equal(audit_append(log, &e, &err), -1);
	assert_non_null(strstr(err.msg, "line 2 was changed"));
	assert_int_equal(audit_check(log, &err), -1);
	assert_non_null(audit_broken(log));
	audit_close(log);
}

/* A chain line just over the limit: canonical, chained, and refused when the log is opened. */
static void test_overlong_line_refused_at_open(void **state)
{
	struct fixture *f = *state;
	struct audit_log *log = NULL;
	struct cf_err err = {{0}};
	char warning[256];
	size_t n = AUDIT_LINE_MAX + 1;
	char *line = malloc(n + 2);

	assert_non_null(line);
	int head = snprintf(line, n + 2, "{\"prev\":\"%s\",\"x\":\"", AUDIT_GENESIS);
	memset(line + head, 'a', n - (size_t)head - 2);
	memcpy(line + n - 2, "\"}\n", 4);
	write_all(f->path, line, n + 1);
	free(line);
	assert_int_equal(audit_open(&log, f->path, warning, sizeof(warning), &err), -1);
	assert_null(log);
	assert_non_null(strstr(err.msg, "1: line is longer than 65536 bytes"));
	expect_verify_error(f->path, "1: line is longer than 65536 bytes");
}

static void test_verify_against_a_kept_anchor(void **state)
{
	struct fixture *f = *state;
	struct audit_anchor a = anchored_steps(f->path, 5), at3, wrong;
	struct audit_verify_result res;
	struct cf_err err = {{0}};
	uint64_t line = 0;

	assert_int_equal(audit_verify_anchor(f->path, &a, &res, &line, &err), 0);
	assert_int_equal(line, 5);
	/* A log that grew since the anchor was kept still matches it. */
	append_steps(f->path, 0);
	at3 = a;
	at3.lines = 0;
	assert_int_equal(audit_verify_anchor(f->path, &at3, &res, &line, &err), 0);
	assert_int_equal(line, 5);
	wrong = a;
	wrong.lines = 3;
	assert_int_equal(audit_verify_anchor(f->path, &wrong, &res, &line, &err), -1);
	assert_non_null(strstr(err.msg, "line 3 hashes to "));
	cut_to(f->path, end_of_line(f->path, 4));
	assert_int_equal(audit_verify_anchor(f->path, &a, &res, &line, &err), -1);
	assert_non_null(strstr(err.msg, "has 4 lines, the anchor names line 5: 1 lines lost"));
	assert_int_equal(audit_verify_anchor(f->path, &at3, &res, &line, &err), -1);
	assert_non_null(strstr(err.msg, "no line hashes to"));
}

static int run_verify(const char *path, const char *flag, const char *value, const char *flag2,
		      const char *value2)
{
	char *argv[] = {(char *)"audit", (char *)"verify", (char *)path, (char *)flag,
			(char *)value, (char *)flag2, (char *)value2, NULL};
	int argc = 3;
	while (argv[argc])
		argc++;
	return cmd_audit(argc, argv);
}

static void test_cmd_audit_head_flags(void **state)
{
	struct fixture *f = *state;
	struct audit_anchor a = anchored_steps(f->path, 4);
	char lines[32];

	snprintf(lines, sizeof(lines), "%llu", (unsigned long long)a.lines);
	assert_int_equal(run_verify(f->path, "--head", a.head, "--lines", lines), 0);
	assert_int_equal(run_verify(f->path, "--head", a.head, NULL, NULL), 0);
	assert_int_equal(run_verify(f->path, "--head", a.head, "--lines", "2"), 1);
	assert_int_equal(run_verify(f->path, "--head", "abc", NULL, NULL), 2);
	assert_int_equal(run_verify(f->path, "--lines", "4", NULL, NULL), 2);
	assert_int_equal(run_verify(f->path, "--lines", "-4", "--head", a.head), 2);
	assert_int_equal(run_cmd("head", f->path), 0);
	cut_to(f->path, end_of_line(f->path, 3));
	assert_int_equal(run_verify(f->path, "--head", a.head, "--lines", lines), 1);
	assert_int_equal(run_verify(f->path, "--head", a.head, NULL, NULL), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_appended_entries_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_line_is_canonical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_names_the_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_links_exactly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_continues_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_last_line_is_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_json_last_line_is_cut, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_torn_line_of_an_empty_log_is_cut, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deeper_damage_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tampered_middle_line_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_weight_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_line_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_first_line_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edited_last_line_is_noticed_when_not_canonical,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_reports_bad_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_log_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_entries_write_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strings_that_need_escaping_keep_one_line,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_writer_is_refused, setup, teardown),
		cmocka_unit_test(test_ticket_from_message),
		cmocka_unit_test(test_overlong_ticket_is_not_an_id),
		cmocka_unit_test_setup_teardown(test_cmd_audit_exit_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_tail_of_a_written_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_lost_last_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_cut_mid_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_deleted_last_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_edited_middle_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_rebuilt_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_matches_and_one_line_more, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_anchor_torn_line_after_it_is_cut, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_edit_while_open_is_caught, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlong_line_refused_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_against_a_kept_anchor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_audit_head_flags, setup, teardown),
	};
	return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
