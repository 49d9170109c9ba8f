#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "base/canon.h"
#include "base/fsutil.h"
#include "base/httpc.h"
#include "contracts/tokens.h"
#include "reconcilers/tokens_rotate.h"
#include "serve/httpd.h"

/* 2026-01-01T00:00:00Z: the fake clock every test starts from. */
#define T0 INT64_C(1767225600000)
#define MINUTE INT64_C(60000)
#define HOUR (60 * MINUTE)

#define OLD "old-Token.current_1"
#define NEW "new-Token.staged_2"

struct fixture {
	char dir[64];
	char path[4][PATH_MAX]; /* current, next, prev, audit */
	struct tokens_rotate_opts o;
	struct cf_err done, err;
	/* The fake controller: /status answers status_code with status_body. */
	struct httpd *srv;
	char base[64];
	pthread_mutex_t lock;
	char *status_body;
	unsigned int status_code;
};

enum { CURRENT, NEXT, PREV, AUDIT };

static int serve_status(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct fixture *f = ctx;
	(void)req;
	pthread_mutex_lock(&f->lock);
	resp->status = f->status_code;
	int rc = httpd_response_set_body(resp, f->status_body, strlen(f->status_body));
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static void set_status(struct fixture *f, unsigned int code, const char *body)
{
	pthread_mutex_lock(&f->lock);
	free(f->status_body);
	f->status_body = strdup(body);
	f->status_code = code;
	pthread_mutex_unlock(&f->lock);
	assert_non_null(f->status_body);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_tokens_rotate.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	const char *names[] = {"token.current", "token.next", "token.prev", "rotation.jsonl"};
	for (int i = 0; i < 4; i++)
		snprintf(f->path[i], sizeof(f->path[i]), "%s/%s", f->dir, names[i]);
	f->o.dir = f->dir;
	f->o.actor = "Alice Example <alice@example.com>";
	f->o.ticket = "OPS-1042";
	f->o.now_ms = T0;
	assert_int_equal(pthread_mutex_init(&f->lock, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct cf_err err = {{0}};
	if (f->srv)
		httpd_stop(f->srv);
	free(f->status_body);
	pthread_mutex_destroy(&f->lock);
	assert_int_equal(fsutil_remove_tree(f->dir, &err), 0);
	free(f);
	return 0;
}

static void start_controller(struct fixture *f)
{
	const struct httpd_route routes[] = {{"GET", "/status", serve_status, f, 0, NULL}};
	struct httpd_config cfg = {.listen = "127.0.0.1:0", .routes = routes, .n_routes = 1};
	struct cf_err err = {{0}};
	set_status(f, 200, "{}");
	if (httpd_start(&f->srv, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u/", httpd_port(f->srv));
	f->o.controller = f->base;
}

static void write_file(const char *path, const char *text)
{
	struct cf_err err = {{0}};
	assert_int_equal(fsutil_write_atomic(path, text, strlen(text), 0600, &err), 0);
}

/* The file's content, or NULL when it does not exist; the caller frees. */
static char *read_text(const char *path)
{
	char *data = NULL;
	size_t len;
	struct cf_err err;
	if (access(path, F_OK) < 0)
		return NULL;
	assert_int_equal(fsutil_read_file(path, 1 << 20, &data, &len, &err), 0);
	return data;
}

static void assert_file(const char *path, const char *want)
{
	char *got = read_text(path);
	if (!want) {
		if (got)
			fail_msg("%s exists, holding \"%s\"", path, got);
		return;
	}
	if (!got)
		fail_msg("%s does not exist", path);
	assert_string_equal(got, want);
	free(got);
}

static size_t count_lines(const char *path)
{
	char *text = read_text(path);
	size_t n = 0;
	for (const char *p = text; p && *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* The audit file's last line. */
static char *last_line(const char *path)
{
	char *text = read_text(path);
	assert_non_null(text);
	size_t len = strlen(text);
	assert_true(len > 0 && text[len - 1] == '\n');
	text[len - 1] = '\0';
	char *start = strrchr(text, '\n');
	char *line = strdup(start ? start + 1 : text);
	free(text);
	assert_non_null(line);
	return line;
}

static void assert_last_audit_contains(struct fixture *f, const char *needle)
{
	char *line = last_line(f->path[AUDIT]);
	if (!strstr(line, needle))
		fail_msg("audit line %s lacks %s", line, needle);
	free(line);
}

static void sha8_of(const char *token, char out[9])
{
	char hex[65];
	canon_sha256_hex(token, strlen(token), hex);
	snprintf(out, 9, "%.8s", hex);
}

/* Whether a server reading the directory, as the controller and agents do, accepts token. */
static bool runtime_accepts(struct fixture *f, const char *token)
{
	struct tokens_config cfg = TOKENS_CONFIG_INIT;
	struct tokens *set = NULL;
	struct cf_err err = {{0}};
	char header[TOKENS_FILE_MAX + 16];
	cfg.dir = f->dir;
	cfg.recheck_ms = 0;
	if (tokens_open(&set, &cfg, &err) < 0)
		fail_msg("the runtime refuses the directory: %s", err.msg);
	snprintf(header, sizeof(header), "Bearer %s", token);
	bool ok = tokens_check_bearer(set, header);
	tokens_free(set);
	return ok;
}

static int stage(struct fixture *f, const char *token)
{
	f->o.token = token;
	f->o.token_len = token ? strlen(token) : 0;
	int rc = tokens_rotate_stage(&f->o, &f->done, &f->err);
	f->o.token = NULL;
	return rc;
}

static void rotate_old_to_new(struct fixture *f)
{
	write_file(f->path[CURRENT], OLD);
	assert_int_equal(stage(f, NEW), 0);
	assert_int_equal(tokens_rotate_promote(&f->o, &f->done, &f->err), 0);
}

static void assert_err_contains(struct fixture *f, const char *needle)
{
	if (!strstr(f->err.msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", f->err.msg, needle);
}

static void test_stage_random_token(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char sha8[9], needle[32];

	write_file(f->path[CURRENT], OLD);
	assert_int_equal(stage(f, NULL), 0);
	assert_int_equal(stat(f->path[NEXT], &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	char *token = read_text(f->path[NEXT]);
	assert_int_equal(strlen(token), 64);
	assert_int_equal(strspn(token, "0123456789abcdef"), 64);
	assert_true(runtime_accepts(f, token));
	assert_true(runtime_accepts(f, OLD));

	sha8_of(token, sha8);
	assert_non_null(strstr(f->done.msg, sha8));
	assert_null(strstr(f->done.msg, token));
	snprintf(needle, sizeof(needle), "\"sha256\":\"%s\"", sha8);
	assert_last_audit_contains(f, needle);
	assert_last_audit_contains(f, "\"action\":\"stage\"");
	assert_last_audit_contains(f, "\"actor\":\"Alice Example <alice@example.com>\"");
	assert_last_audit_contains(f, "\"ticket\":\"OPS-1042\"");
	assert_last_audit_contains(f, "\"ts\":\"2026-01-01T00:00:00.000Z\"");
	char *audit = read_text(f->path[AUDIT]);
	assert_null(strstr(audit, token));
	free(audit);

	/* A second random token is another token. */
	f->o.force = true;
	assert_int_equal(stage(f, NULL), 0);
	char *again = read_text(f->path[NEXT]);
	assert_string_not_equal(again, token);
	free(again);
	free(token);
}

static void test_stage_refuses_existing_next_unless_forced(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(stage(f, NEW), 0);
	assert_int_equal(stage(f, "another-token"), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, "token.next already exists");
	assert_err_contains(f, "--force");
	assert_file(f->path[NEXT], NEW);
	assert_int_equal(count_lines(f->path[AUDIT]), 2);
	assert_last_audit_contains(f, "\"outcome\":\"refused\"");
	assert_last_audit_contains(f, "already exists");

	f->o.force = true;
	assert_int_equal(stage(f, "another-token"), 0);
	assert_file(f->path[NEXT], "another-token");
	assert_false(runtime_accepts(f, NEW));
}

static void test_stage_given_token_is_trimmed(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(stage(f, " \t" NEW "\r\n\n"), 0);
	assert_file(f->path[NEXT], NEW);
	assert_true(runtime_accepts(f, NEW));
}

static void test_stage_refuses_bad_tokens(void **state)
{
	struct fixture *f = *state;
	static char over[TOKENS_FILE_MAX + 2], padded[TOKENS_ROTATE_INPUT_MAX + 2];
	static const struct {
		const char *token;
		const char *why;
	} cases[] = {
		{"", "is empty"},
		{" \n\t", "is empty"},
		{"two words", "white space or control characters inside"},
		{"tab\tinside", "white space or control characters inside"},
		{"bell\x07", "white space or control characters inside"},
		{over, "over 4096 bytes"},
		{padded, "over 4096 bytes"},
	};
	memset(over, 'x', sizeof(over) - 1);
	memset(padded, ' ', sizeof(padded) - 1);
	padded[0] = 'p';

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (stage(f, cases[i].token) != -1)
			fail_msg("case %zu staged", i);
		assert_err_contains(f, cases[i].why);
		assert_file(f->path[NEXT], NULL);
		assert_file(f->path[AUDIT], NULL);
	}
	/* 4 KiB exactly is a token the runtime takes. */
	over[TOKENS_FILE_MAX] = '\0';
	assert_int_equal(stage(f, over), 0);
	assert_true(runtime_accepts(f, over));
}

static void test_stage_refuses_a_token_already_in_use(void **state)
{
	struct fixture *f = *state;

	write_file(f->path[CURRENT], OLD);
	assert_int_equal(stage(f, " " OLD), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, "is the one in");
	assert_err_contains(f, "token.current");
	assert_file(f->path[NEXT], NULL);
}

static void test_actor_and_ticket_required(void **state)
{
	struct fixture *f = *state;
	char long_ticket[TOKENS_ROTATE_TICKET_MAX + 1];

	f->o.actor = NULL;
	assert_int_equal(stage(f, NEW), -1);
	assert_err_contains(f, "--actor is required");
	f->o.actor = "alice";
	f->o.ticket = "";
	assert_int_equal(tokens_rotate_promote(&f->o, &f->done, &f->err), -1);
	assert_err_contains(f, "--ticket is required");
	f->o.ticket = "OPS-1\nforged line";
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), -1);
	assert_err_contains(f, "--ticket holds a control character");
	memset(long_ticket, 'T', sizeof(long_ticket) - 1);
	long_ticket[sizeof(long_ticket) - 1] = '\0';
	f->o.ticket = long_ticket;
	assert_int_equal(stage(f, NEW), -1);
	assert_err_contains(f, "--ticket is longer than 127 bytes");
	f->o.ticket = "OPS-\xff";
	assert_int_equal(stage(f, NEW), -1);
	assert_err_contains(f, "cannot be audited");
	assert_file(f->path[NEXT], NULL);
	assert_file(f->path[AUDIT], NULL);
}

static void test_promote_keeps_the_old_token_as_prev(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	rotate_old_to_new(f);
	assert_file(f->path[CURRENT], NEW);
	assert_file(f->path[PREV], OLD);
	assert_file(f->path[NEXT], NULL);
	assert_int_equal(stat(f->path[PREV], &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(runtime_accepts(f, NEW));
	assert_true(runtime_accepts(f, OLD));
	assert_last_audit_contains(f, "\"action\":\"promote\"");
	assert_non_null(strstr(f->done.msg, "token.prev"));

	char *audit = read_text(f->path[AUDIT]);
	assert_null(strstr(audit, OLD));
	assert_null(strstr(audit, NEW));
	free(audit);

	/* A second promote before the revoke would drop a token clients may still send. */
	assert_int_equal(stage(f, "third-token"), 0);
	assert_int_equal(tokens_rotate_promote(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, "revoke it first");
	assert_file(f->path[PREV], OLD);
	assert_file(f->path[CURRENT], NEW);
}

static void test_promote_without_next_refused(void **state)
{
	struct fixture *f = *state;

	write_file(f->path[CURRENT], OLD);
	assert_int_equal(tokens_rotate_promote(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, "to promote; stage one first");
	assert_last_audit_contains(f, "\"outcome\":\"refused\"");
	assert_file(f->path[CURRENT], OLD);
	assert_file(f->path[PREV], NULL);
}

static void test_first_promote_has_no_prev(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(stage(f, NEW), 0);
	assert_int_equal(tokens_rotate_promote(&f->o, &f->done, &f->err), 0);
	assert_file(f->path[CURRENT], NEW);
	assert_file(f->path[PREV], NULL);
	assert_true(runtime_accepts(f, NEW));
}

static void test_promote_finishes_an_interrupted_one(void **state)
{
	struct fixture *f = *state;

	/* A crash after token.prev was written and before the rename. */
	write_file(f->path[CURRENT], OLD);
	write_file(f->path[PREV], OLD);
	write_file(f->path[NEXT], NEW);
	assert_int_equal(tokens_rotate_promote(&f->o, &f->done, &f->err), 0);
	assert_file(f->path[CURRENT], NEW);
	assert_file(f->path[PREV], OLD);
	assert_file(f->path[NEXT], NULL);
}

static void test_promote_records_an_unaudited_one(void **state)
{
	struct fixture *f = *state;
	char needle[32], sha8[9];

	/* A crash after the rename and before the audit line. */
	write_file(f->path[CURRENT], NEW);
	write_file(f->path[PREV], OLD);
	f->o.overlap_ms = MINUTE;
	f->o.now_ms = T0 + HOUR;
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, "records no promote");
	assert_err_contains(f, "run clawfleet token promote to record it");

	f->o.now_ms = T0 + 2 * HOUR;
	assert_int_equal(tokens_rotate_promote(&f->o, &f->done, &f->err), 0);
	sha8_of(NEW, sha8);
	snprintf(needle, sizeof(needle), "\"sha256\":\"%s\"", sha8);
	assert_last_audit_contains(f, needle);
	assert_last_audit_contains(f, "\"action\":\"promote\"");
	assert_file(f->path[CURRENT], NEW);
	assert_file(f->path[PREV], OLD);

	/* The overlap counts from when it was recorded. */
	f->o.now_ms = T0 + 2 * HOUR + MINUTE - 1;
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	f->o.now_ms = T0 + 2 * HOUR + MINUTE;
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), 0);
}

static void test_revoke_waits_for_the_overlap(void **state)
{
	struct fixture *f = *state;

	rotate_old_to_new(f);
	f->o.now_ms = T0 + 12 * HOUR - 1000;
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	assert_string_equal(f->err.msg,
			    "the overlap has not passed: promoted at 2026-01-01T00:00:00.000Z, the "
			    "12h overlap ends at 2026-01-01T12:00:00.000Z (in 1s)");
	assert_file(f->path[PREV], OLD);
	assert_true(runtime_accepts(f, OLD));
	assert_last_audit_contains(f, "\"action\":\"revoke\"");
	assert_last_audit_contains(f, "\"outcome\":\"refused\"");
	assert_last_audit_contains(f, "the overlap has not passed");

	f->o.now_ms = T0 + 12 * HOUR;
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), 0);
	assert_file(f->path[PREV], NULL);
	assert_false(runtime_accepts(f, OLD));
	assert_true(runtime_accepts(f, NEW));
	assert_last_audit_contains(f, "\"outcome\":\"ok\"");
	assert_int_equal(count_lines(f->path[AUDIT]), 4);

	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, "nothing to revoke");
}

static void test_revoke_short_overlap(void **state)
{
	struct fixture *f = *state;

	rotate_old_to_new(f);
	f->o.overlap_ms = MINUTE - 1000;
	f->o.now_ms = T0 + HOUR;
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), -1);
	assert_err_contains(f, "below the 1m minimum");
	assert_file(f->path[PREV], OLD);

	f->o.overlap_ms = MINUTE;
	f->o.now_ms = T0 + MINUTE - 1;
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, "the 1m overlap ends at 2026-01-01T00:01:00.000Z");
	f->o.now_ms = T0 + MINUTE;
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), 0);
}

static void test_revoke_refuses_a_current_token_changed_by_hand(void **state)
{
	struct fixture *f = *state;

	rotate_old_to_new(f);
	write_file(f->path[CURRENT], "edited-by-hand\n");
	f->o.now_ms = T0 + 24 * HOUR;
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, "is not the token the last recorded promote installed");
	assert_file(f->path[PREV], OLD);
}

static void test_shared_audit_file_counts_per_directory(void **state)
{
	struct fixture *f = *state;
	char other[PATH_MAX], other_prev[PATH_MAX + 16];

	rotate_old_to_new(f);
	/* A second directory whose rotation was never recorded in the shared file. */
	snprintf(other, sizeof(other), "%s/other", f->dir);
	snprintf(other_prev, sizeof(other_prev), "%s/token.prev", other);
	struct tokens_rotate_opts o = f->o;
	o.dir = other;
	o.audit = f->path[AUDIT];
	assert_int_equal(tokens_rotate_stage(&o, &f->done, &f->err), 0);
	write_file(other_prev, OLD);
	o.now_ms = T0 + 24 * HOUR;
	assert_int_equal(tokens_rotate_revoke(&o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, "records no promote of");
	assert_err_contains(f, "/other");
	assert_file(other_prev, OLD);
}

static void test_one_rotation_at_a_time(void **state)
{
	struct fixture *f = *state;

	int fd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(stage(f, NEW), -1);
	assert_err_contains(f, "another clawfleet token is rotating");
	close(fd);
	assert_int_equal(stage(f, NEW), 0);
}

static void test_check_passes(void **state)
{
	static const struct {
		const char *body;
		int rc;
		const char *why;
	} cases[] = {
		{"{\"passes\":[{\"at\":\"2026-01-01T00:01:00Z\",\"green\":true},"
		 "{\"at\":\"2026-01-01T00:02:00Z\",\"green\":true}]}",
		 0, ""},
		/* any order; the last two by time decide */
		{"{\"passes\":[{\"at\":\"2026-01-01T00:02:00Z\",\"green\":true},"
		 "{\"at\":\"2025-12-31T23:00:00Z\",\"green\":false},"
		 "{\"at\":\"2026-01-01T00:01:00+00:00\",\"green\":true}]}",
		 0, ""},
		{"{\"phase\":\"Idle\",\"passes\":[]}", TOKENS_ROTATE_REFUSED,
		 "no pass since the promote"},
		{"{\"passes\":[{\"at\":\"2026-01-01T00:01:00Z\",\"green\":true}]}",
		 TOKENS_ROTATE_REFUSED, "one green pass since the promote"},
		/* the pass before the promote does not count */
		{"{\"passes\":[{\"at\":\"2025-12-31T23:59:00Z\",\"green\":true},"
		 "{\"at\":\"2026-01-01T00:01:00Z\",\"green\":true}]}",
		 TOKENS_ROTATE_REFUSED, "one green pass since the promote"},
		{"{\"passes\":[{\"at\":\"2026-01-01T00:01:00Z\",\"green\":true},"
		 "{\"at\":\"2026-01-01T00:02:00Z\",\"green\":false}]}",
		 TOKENS_ROTATE_REFUSED, "last pass (at 2026-01-01T00:02:00Z) was not green"},
		/* not consecutive */
		{"{\"passes\":[{\"at\":\"2026-01-01T00:01:00Z\",\"green\":true},"
		 "{\"at\":\"2026-01-01T00:02:00Z\",\"green\":false},"
		 "{\"at\":\"2026-01-01T00:03:00Z\",\"green\":true}]}",
		 TOKENS_ROTATE_REFUSED,
		 "pass at 2026-01-01T00:02:00Z, before its last, was not green"},
		{"{\"phase\":\"Idle\"}", TOKENS_ROTATE_REFUSED, "has no passes array"},
		{"{\"passes\":[{\"at\":\"2026-01-01T00:01:00Z\",\"green\":\"yes\"}]}",
		 TOKENS_ROTATE_REFUSED, "passes[0] is not"},
		{"{\"passes\":[{\"at\":\"yesterday\",\"green\":true}]}", TOKENS_ROTATE_REFUSED,
		 "passes[0].at"},
		{"{\"passes\":[{\"at\":\"2026-01-01T00:01:00Z\",\"green\":true},",
		 TOKENS_ROTATE_REFUSED, "the controller's status: not valid JSON"},
		{"[]", TOKENS_ROTATE_REFUSED, "not a JSON object"},
	};
	struct cf_err why;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why.msg[0] = '\0';
		int rc = tokens_rotate_check_passes(cases[i].body, strlen(cases[i].body), T0, &why);
		if (rc != cases[i].rc || !strstr(why.msg, cases[i].why))
			fail_msg("case %zu: %d \"%s\", want %d \"%s\"", i, rc, why.msg, cases[i].rc,
				 cases[i].why);
	}
}

static void test_revoke_waits_for_two_green_controller_passes(void **state)
{
	struct fixture *f = *state;

	rotate_old_to_new(f);
	start_controller(f);
	f->o.overlap_ms = MINUTE;
	f->o.now_ms = T0 + 10 * MINUTE;
	set_status(f, 200,
		   "{\"phase\":\"Idle\",\"passes\":["
		   "{\"at\":\"2025-12-31T23:59:00Z\",\"green\":true},"
		   "{\"at\":\"2026-01-01T00:05:00Z\",\"green\":true}]}");
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, "one green pass since the promote");
	assert_last_audit_contains(f, "one green pass since the promote");
	assert_file(f->path[PREV], OLD);

	set_status(f, 500, "{\"error\":\"internal error\"}");
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, "the controller cannot confirm green passes");
	assert_err_contains(f, "/status: HTTP status 500");

	set_status(f, 200,
		   "{\"passes\":[{\"at\":\"2026-01-01T00:05:00Z\",\"green\":true},"
		   "{\"at\":\"2026-01-01T00:06:00Z\",\"green\":true}]}");
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), 0);
	assert_file(f->path[PREV], NULL);
}

static void test_revoke_with_an_unreachable_or_oversized_controller(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	char url[64];

	rotate_old_to_new(f);
	f->o.overlap_ms = MINUTE;
	f->o.now_ms = T0 + HOUR;

	/* A port that was free a moment ago: nothing listens there. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&addr, &len), 0);
	close(s);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(addr.sin_port));
	f->o.controller = url;
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, url);
	assert_file(f->path[PREV], OLD);

	start_controller(f);
	size_t big = TOKENS_ROTATE_STATUS_MAX + 10;
	char *body = malloc(big + 1);
	assert_non_null(body);
	memset(body, ' ', big);
	memcpy(body, "{\"passes\":[]}", 13);
	body[big] = '\0';
	set_status(f, 200, body);
	free(body);
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	assert_err_contains(f, "/status: reply over the 1048576 byte limit");
	assert_file(f->path[PREV], OLD);
}

/* What an agent reports on GET /v1/token, and revoke for rotate-fleet, which counted the overlap
 * itself: at once after the promote, audited with the node. */
static void test_inspect_and_revoke_with_the_overlap_counted(void **state)
{
	struct fixture *f = *state;
	struct tokens_rotate_view v;
	char sha_old[9], sha_new[9];
	write_file(f->path[CURRENT], OLD);
	assert_int_equal(tokens_rotate_inspect(&f->o, &v, &f->err), 0);
	snprintf(sha_old, sizeof(sha_old), "%s", v.current);
	assert_int_equal(strlen(sha_old), 8);
	assert_string_equal(v.next, "");
	assert_false(v.promoted);
	f->o.token = NEW;
	f->o.token_len = strlen(NEW);
	assert_int_equal(tokens_rotate_stage(&f->o, &f->done, &f->err), 0);
	assert_int_equal(tokens_rotate_promote(&f->o, &f->done, &f->err), 0);
	assert_int_equal(tokens_rotate_inspect(&f->o, &v, &f->err), 0);
	snprintf(sha_new, sizeof(sha_new), "%s", v.current);
	assert_string_equal(v.prev, sha_old);
	assert_string_equal(v.next, "");
	assert_true(v.promoted);
	assert_true(v.promoted_ms == T0);
	assert_string_equal(v.promoted_sha, sha_new);

	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), TOKENS_ROTATE_REFUSED);
	f->o.overlap_counted = true;
	assert_int_equal(tokens_rotate_revoke(&f->o, &f->done, &f->err), 0);
	assert_file(f->path[PREV], NULL);

	f->o.audit = f->path[AUDIT];
	assert_int_equal(tokens_rotate_audit(&f->o, "http://gw-a:18081", "gw-a", "promote", "ok", "",
					     sha_new, &f->err),
			 0);
	char *text = read_text(f->path[AUDIT]);
	assert_non_null(strstr(text, "\"node\":\"gw-a\""));
	assert_non_null(strstr(text, "\"dir\":\"http://gw-a:18081\""));
	assert_null(strstr(text, NEW));
	free(text);
	f->o.ticket = "OPS\n1";
	assert_int_equal(tokens_rotate_audit(&f->o, "x", NULL, "start", "ok", "", "", &f->err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inspect_and_revoke_with_the_overlap_counted,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_random_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_refuses_existing_next_unless_forced,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_given_token_is_trimmed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_refuses_bad_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_refuses_a_token_already_in_use, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_actor_and_ticket_required, setup, teardown),
		cmocka_unit_test_setup_teardown(test_promote_keeps_the_old_token_as_prev, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_promote_without_next_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_promote_has_no_prev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_promote_finishes_an_interrupted_one, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_promote_records_an_unaudited_one, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_revoke_waits_for_the_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_short_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_refuses_a_current_token_changed_by_hand,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_audit_file_counts_per_directory, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_rotation_at_a_time, setup, teardown),
		cmocka_unit_test(test_check_passes),
		cmocka_unit_test_setup_teardown(test_revoke_waits_for_two_green_controller_passes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_revoke_with_an_unreachable_or_oversized_controller, setup, teardown),
	};
	struct cf_err err;
	if (httpc_global_init(&err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	int rc = cmocka_run_group_tests_name("tokens_rotate", tests, NULL, NULL);
	httpc_global_cleanup();
	return rc;
}
