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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fsutil.h"
#include "contracts/tokens.h"

/* The generic-hmac golden vector from fluxcd/notification-controller (see the .source.txt files
 * in tests/fixtures/flux). The sha512 value is not Flux's: it was computed for this body and key
 * with both `openssl dgst -sha512 -hmac` and python3's hmac module. */
#define GOLDEN_KEY "7152fed34dd6149a7c75a276c510da27cb6f82b0"
#define GOLDEN_SHA512                                                                  \
	"sha512=adcb78591691a4f5239504d5ca0770fcfe92bf2dca3180e42fc282d3abe7d4e3edad99944c" \
	"c10ddb11c70484fad35c02402e1f713767d2ad32d4674cf18b4330"

#define CURRENT "c0ffee-current-Token.1"
#define NEXT "n3xt-Token_2~"

struct fixture {
	char dir[64];
	char current[PATH_MAX];
	char next[PATH_MAX];
	char prev[PATH_MAX];
	struct tokens *set;
};

static void write_file(const char *path, const char *text)
{
	struct cf_err err = { { 0 } };
	assert_int_equal(fsutil_write_atomic(path, text, strlen(text), 0600, &err), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_tokens.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->current, sizeof(f->current), "%s/current", f->dir);
	snprintf(f->next, sizeof(f->next), "%s/next", f->dir);
	snprintf(f->prev, sizeof(f->prev), "%s/prev", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct cf_err err = { { 0 } };
	tokens_free(f->set);
	assert_int_equal(fsutil_remove_tree(f->dir, &err), 0);
	free(f);
	return 0;
}

/* Opens the fixture's current/next/prev files, checked on every call. */
static void open_files(struct fixture *f)
{
	struct tokens_config cfg = TOKENS_CONFIG_INIT;
	struct cf_err err = { { 0 } };
	cfg.current = f->current;
	cfg.next = f->next;
	cfg.prev = f->prev;
	cfg.recheck_ms = 0;
	assert_int_equal(tokens_open(&f->set, &cfg, &err), 0);
}

static void test_current_and_next_accepted(void **state)
{
	struct fixture *f = *state;
	write_file(f->current, CURRENT "\n");
	write_file(f->next, NEXT "\n");
	open_files(f);
	assert_true(tokens_check_bearer(f->set, "Bearer " CURRENT));
	assert_true(tokens_check_bearer(f->set, "Bearer " NEXT));
	assert_false(tokens_check_bearer(f->set, "Bearer some-other-token"));
}

static void test_deleted_next_no_longer_accepted(void **state)
{
	struct fixture *f = *state;
	write_file(f->current, CURRENT);
	write_file(f->next, NEXT);
	open_files(f);
	assert_true(tokens_check_bearer(f->set, "Bearer " NEXT));
	assert_int_equal(unlink(f->next), 0);
	assert_false(tokens_check_bearer(f->set, "Bearer " NEXT));
	assert_true(tokens_check_bearer(f->set, "Bearer " CURRENT));
}

/* The rotation of issue 5: next is renamed over current, and the old current is gone. */
static void test_rotation_by_rename(void **state)
{
	struct fixture *f = *state;
	write_file(f->current, CURRENT);
	write_file(f->next, NEXT);
	open_files(f);
	assert_int_equal(rename(f->next, f->current), 0);
	assert_true(tokens_check_bearer(f->set, "Bearer " NEXT));
	assert_false(tokens_check_bearer(f->set, "Bearer " CURRENT));
	write_file(f->prev, CURRENT);
	assert_true(tokens_check_bearer(f->set, "Bearer " CURRENT));
}

static void test_file_rewritten_in_place(void **state)
{
	struct fixture *f = *state;
	write_file(f->current, CURRENT);
	open_files(f);
	FILE *fp = fopen(f->current, "w");
	assert_non_null(fp);
	fputs("replaced-in-place", fp);
	fclose(fp);
	assert_true(tokens_check_bearer(f->set, "Bearer replaced-in-place"));
	assert_false(tokens_check_bearer(f->set, "Bearer " CURRENT));
}

static void test_changes_wait_for_the_recheck_interval(void **state)
{
	struct fixture *f = *state;
	struct tokens_config cfg = TOKENS_CONFIG_INIT;
	struct cf_err err = { { 0 } };
	write_file(f->current, CURRENT);
	write_file(f->next, NEXT);
	cfg.current = f->current;
	cfg.next = f->next;
	cfg.recheck_ms = 3600 * 1000;
	assert_int_equal(tokens_open(&f->set, &cfg, &err), 0);
	assert_int_equal(unlink(f->next), 0);
	assert_true(tokens_check_bearer(f->set, "Bearer " NEXT));
}

static void test_prefix_and_extension_rejected(void **state)
{
	struct fixture *f = *state;
	write_file(f->current, CURRENT);
	open_files(f);
	assert_false(tokens_check_bearer(f->set, "Bearer c0ffee"));
	assert_false(tokens_check_bearer(f->set, "Bearer c0ffee-current-Token."));
	assert_false(tokens_check_bearer(f->set, "Bearer " CURRENT "1"));
	assert_false(tokens_check_bearer(f->set, "Bearer C0FFEE-CURRENT-TOKEN.1"));
}

/* A server that would accept nothing does not start: the message names every file. */
static void test_no_token_at_all_refuses_to_open(void **state)
{
	struct fixture *f = *state;
	struct tokens_config cfg = TOKENS_CONFIG_INIT;
	struct cf_err err = { { 0 } };
	write_file(f->current, " \n\n");
	cfg.current = f->current;
	cfg.next = f->next;
	assert_int_equal(tokens_open(&f->set, &cfg, &err), -1);
	assert_null(f->set);
	assert_non_null(strstr(err.msg, f->current));
	assert_non_null(strstr(err.msg, f->next));
	assert_non_null(strstr(err.msg, "holds a token"));
}

/* Emptying or deleting every file keeps what was accepted, says so once, and a file holding a
 * token again ends it; blank tokens and HMACs keyed with nothing never pass. */
static void test_files_emptied_keep_the_old_tokens(void **state)
{
	struct fixture *f = *state;
	struct cf_err err = { { 0 } };
	write_file(f->current, CURRENT);
	write_file(f->next, NEXT);
	open_files(f);
	write_file(f->current, " \n");
	assert_int_equal(unlink(f->next), 0);
	assert_true(tokens_check_bearer(f->set, "Bearer " CURRENT));
	assert_true(tokens_check_bearer(f->set, "Bearer " NEXT));
	assert_int_equal(tokens_status(f->set, &err), -1);
	assert_non_null(strstr(err.msg, "stay accepted"));
	assert_non_null(strstr(err.msg, f->current));
	assert_null(strstr(err.msg, CURRENT));
	/* Still held on the next checks, with the files unchanged. */
	assert_true(tokens_check_bearer(f->set, "Bearer " CURRENT));
	assert_false(tokens_check_bearer(f->set, "Bearer "));
	assert_false(tokens_check_bearer(f->set, "Bearer  "));
	assert_false(tokens_check_bearer(f->set, "Bearer x"));
	assert_false(tokens_check_hmac(f->set,
				       "sha256=b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c7"
				       "12144292c5ad",
				       "", 0));
	write_file(f->current, "fresh-token");
	assert_true(tokens_check_bearer(f->set, "Bearer fresh-token"));
	assert_false(tokens_check_bearer(f->set, "Bearer " CURRENT));
	assert_false(tokens_check_bearer(f->set, "Bearer " NEXT));
	assert_int_equal(tokens_status(f->set, &err), 0);
}

/* Others may neither read nor change a token: refused at start and on a check; a group may,
 * with a warning. */
static void test_file_modes(void **state)
{
	struct fixture *f = *state;
	struct tokens_config cfg = TOKENS_CONFIG_INIT;
	struct cf_err err = { { 0 } };
	write_file(f->current, CURRENT);
	assert_int_equal(chmod(f->current, 0644), 0);
	cfg.current = f->current;
	cfg.recheck_ms = 0;
	assert_int_equal(tokens_open(&f->set, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, f->current));
	assert_non_null(strstr(err.msg, "0644"));
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_int_equal(chmod(f->current, 0602), 0);
	assert_int_equal(tokens_open(&f->set, &cfg, &err), -1);
	assert_int_equal(chmod(f->current, 0640), 0);
	assert_int_equal(tokens_open(&f->set, &cfg, &err), 0);
	assert_true(tokens_check_bearer(f->set, "Bearer " CURRENT));
	write_file(f->next, NEXT);
	tokens_free(f->set);
	cfg.next = f->next;
	assert_int_equal(tokens_open(&f->set, &cfg, &err), 0);
	assert_int_equal(chmod(f->next, 0604), 0);
	assert_false(tokens_check_bearer(f->set, "Bearer " NEXT));
	assert_true(tokens_check_bearer(f->set, "Bearer " CURRENT));
	assert_int_equal(tokens_status(f->set, &err), -1);
	assert_non_null(strstr(err.msg, f->next));
}

/* tokens_recheck reads a file written a moment ago, whatever the interval. */
static void test_recheck_now(void **state)
{
	struct fixture *f = *state;
	struct tokens_config cfg = TOKENS_CONFIG_INIT;
	struct cf_err err = { { 0 } };
	write_file(f->current, CURRENT);
	cfg.current = f->current;
	cfg.next = f->next;
	cfg.recheck_ms = 3600 * 1000;
	assert_int_equal(tokens_open(&f->set, &cfg, &err), 0);
	write_file(f->next, NEXT);
	assert_false(tokens_check_bearer(f->set, "Bearer " NEXT));
	tokens_recheck(f->set);
	assert_true(tokens_check_bearer(f->set, "Bearer " NEXT));
}

static void test_scheme_any_case(void **state)
{
	struct fixture *f = *state;
	write_file(f->current, CURRENT);
	open_files(f);
	assert_true(tokens_check_bearer(f->set, "bearer " CURRENT));
	assert_true(tokens_check_bearer(f->set, "BEARER " CURRENT));
	assert_false(tokens_check_bearer(f->set, "Basic " CURRENT));
	assert_false(tokens_check_bearer(f->set, "Token " CURRENT));
}

static void test_missing_or_malformed_header(void **state)
{
	struct fixture *f = *state;
	write_file(f->current, CURRENT);
	open_files(f);
	assert_false(tokens_check_bearer(f->set, NULL));
	assert_false(tokens_check_bearer(f->set, ""));
	assert_false(tokens_check_bearer(f->set, "Bearer"));
	assert_false(tokens_check_bearer(f->set, "Bearer" CURRENT));
	assert_false(tokens_check_bearer(f->set, CURRENT));
	assert_false(tokens_check_bearer(f->set, " Bearer " CURRENT));
}

static void test_whitespace(void **state)
{
	struct fixture *f = *state;
	write_file(f->current, "\t " CURRENT " \r\n");
	open_files(f);
	assert_true(tokens_check_bearer(f->set, "Bearer " CURRENT));
	/* RFC 6750: one or more spaces after the scheme. */
	assert_true(tokens_check_bearer(f->set, "Bearer   " CURRENT));
	assert_false(tokens_check_bearer(f->set, "Bearer\t" CURRENT));
	assert_false(tokens_check_bearer(f->set, "Bearer " CURRENT " "));
	assert_false(tokens_check_bearer(f->set, "Bearer " CURRENT "\n"));
	assert_false(tokens_check_bearer(f->set, "Bearer " CURRENT " extra"));
}

static void test_token_with_inner_space_refused_without_echo(void **state)
{
	struct fixture *f = *state;
	struct tokens_config cfg = TOKENS_CONFIG_INIT;
	struct cf_err err = { { 0 } };
	write_file(f->current, "s3cr3t-half other-half\n");
	cfg.current = f->current;
	assert_int_equal(tokens_open(&f->set, &cfg, &err), -1);
	assert_null(f->set);
	assert_non_null(strstr(err.msg, f->current));
	assert_non_null(strstr(err.msg, "white space"));
	assert_null(strstr(err.msg, "s3cr3t"));
}

static void test_oversized_file_refused(void **state)
{
	struct fixture *f = *state;
	struct tokens_config cfg = TOKENS_CONFIG_INIT;
	struct cf_err err = { { 0 } };
	char big[TOKENS_FILE_MAX + 2];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file(f->current, big);
	cfg.current = f->current;
	assert_int_equal(tokens_open(&f->set, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, f->current));
	assert_non_null(strstr(err.msg, "4096"));
	assert_null(strstr(err.msg, "kkkk"));
}

/* A file that grows past the limit while the server runs stops being accepted, and the status
 * says why. */
static void test_file_turning_bad_fails_closed(void **state)
{
	struct fixture *f = *state;
	struct cf_err err = { { 0 } };
	char big[TOKENS_FILE_MAX + 2];
	write_file(f->current, CURRENT);
	write_file(f->next, NEXT);
	open_files(f);
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, NEXT, strlen(NEXT));
	write_file(f->next, big);
	assert_false(tokens_check_bearer(f->set, "Bearer " NEXT));
	assert_true(tokens_check_bearer(f->set, "Bearer " CURRENT));
	assert_int_equal(tokens_status(f->set, &err), -1);
	assert_non_null(strstr(err.msg, f->next));
	write_file(f->next, NEXT);
	assert_true(tokens_check_bearer(f->set, "Bearer " NEXT));
	assert_int_equal(tokens_status(f->set, &err), 0);
}

static void test_directory_form(void **state)
{
	struct fixture *f = *state;
	struct tokens_config cfg = TOKENS_CONFIG_INIT;
	struct cf_err err = { { 0 } };
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/token.current", f->dir);
	write_file(path, CURRENT);
	snprintf(path, sizeof(path), "%s/token.prev", f->dir);
	write_file(path, "old-prev-token");
	cfg.dir = f->dir;
	cfg.recheck_ms = 0;
	assert_int_equal(tokens_open(&f->set, &cfg, &err), 0);
	assert_true(tokens_check_bearer(f->set, "Bearer " CURRENT));
	assert_true(tokens_check_bearer(f->set, "Bearer old-prev-token"));
	assert_false(tokens_check_bearer(f->set, "Bearer " NEXT));
	snprintf(path, sizeof(path), "%s/token.next", f->dir);
	write_file(path, NEXT);
	assert_true(tokens_check_bearer(f->set, "Bearer " NEXT));
}

static void test_config_errors(void **state)
{
	struct fixture *f = *state;
	struct tokens_config cfg = TOKENS_CONFIG_INIT;
	struct cf_err err = { { 0 } };
	assert_int_equal(tokens_open(&f->set, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "no token file"));
	cfg.dir = f->dir;
	cfg.current = f->current;
	assert_int_equal(tokens_open(&f->set, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "not both"));
	assert_null(f->set);
}

static char *read_fixture(const char *name, size_t *len)
{
	/* __FILE__ is tests/unit/test_tokens.c, relative to where make runs, or absolute. */
	char path[PATH_MAX];
	const char *slash = strrchr(__FILE__, '/');
	int dir_len = slash ? (int)(slash - __FILE__) : 1;
	snprintf(path, sizeof(path), "%.*s/../fixtures/flux/%s", dir_len,
		 slash ? __FILE__ : ".", name);
	char *data = NULL;
	struct cf_err err = { { 0 } };
	if (fsutil_read_file(path, 1 << 16, &data, len, &err) < 0)
		fail_msg("%s", err.msg);
	return data;
}

static void test_hmac_flux_golden_vector(void **state)
{
	struct fixture *f = *state;
	size_t body_len, sig_len;
	char *body = read_fixture("nc-event-hmac-golden-body.json", &body_len);
	char *sig = read_fixture("nc-event-hmac-golden-signature.txt", &sig_len);
	sig[strcspn(sig, "\r\n")] = '\0';
	write_file(f->current, CURRENT);
	write_file(f->next, GOLDEN_KEY "\n");
	open_files(f);

	assert_true(tokens_check_hmac(f->set, sig, body, body_len));
	assert_true(tokens_check_hmac(f->set, GOLDEN_SHA512, body, body_len));
	/* The same signature over another body, or over the body cut short. */
	assert_false(tokens_check_hmac(f->set, sig, "{}", 2));
	assert_false(tokens_check_hmac(f->set, sig, body, body_len - 1));
	assert_false(tokens_check_hmac(f->set, GOLDEN_SHA512, "{}", 2));
	/* The key is no longer accepted once its file is gone. */
	assert_int_equal(unlink(f->next), 0);
	assert_false(tokens_check_hmac(f->set, sig, body, body_len));
	free(body);
	free(sig);
}

static void test_hmac_malformed_signatures(void **state)
{
	struct fixture *f = *state;
	size_t body_len, sig_len;
	char *body = read_fixture("nc-event-hmac-golden-body.json", &body_len);
	char *sig = read_fixture("nc-event-hmac-golden-signature.txt", &sig_len);
	char bad[256];
	sig[strcspn(sig, "\r\n")] = '\0';
	write_file(f->current, GOLDEN_KEY);
	open_files(f);

	/* Hex digits in upper case are the same signature. */
	snprintf(bad, sizeof(bad), "sha256=%s", sig + 7);
	for (char *c = bad + 7; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	assert_true(tokens_check_hmac(f->set, bad, body, body_len));

	snprintf(bad, sizeof(bad), "%s", sig);
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '7' ? '8' : '7';
	assert_false(tokens_check_hmac(f->set, bad, body, body_len));
	snprintf(bad, sizeof(bad), "%.*s", (int)strlen(sig) - 2, sig);
	assert_false(tokens_check_hmac(f->set, bad, body, body_len));
	snprintf(bad, sizeof(bad), "%s00", sig);
	assert_false(tokens_check_hmac(f->set, bad, body, body_len));
	snprintf(bad, sizeof(bad), "sha1=%s", sig + 7);
	assert_false(tokens_check_hmac(f->set, bad, body, body_len));
	snprintf(bad, sizeof(bad), "sha512=%s", sig + 7);
	assert_false(tokens_check_hmac(f->set, bad, body, body_len));
	snprintf(bad, sizeof(bad), "%s", sig + 7);
	assert_false(tokens_check_hmac(f->set, bad, body, body_len));
	snprintf(bad, sizeof(bad), "%s", sig);
	bad[10] = 'g';
	assert_false(tokens_check_hmac(f->set, bad, body, body_len));
	assert_false(tokens_check_hmac(f->set, NULL, body, body_len));
	assert_false(tokens_check_hmac(f->set, "", body, body_len));
	free(body);
	free(sig);
}

struct checker {
	struct tokens *set;
	int accepted;
};

static void *check_many(void *arg)
{
	struct checker *c = arg;
	for (int i = 0; i < 500; i++)
		c->accepted += tokens_check_bearer(c->set, "Bearer " CURRENT);
	return NULL;
}

/* HTTP threads check while the next token is being rotated underneath them. */
static void test_concurrent_checks_during_rotation(void **state)
{
	struct fixture *f = *state;
	enum { THREADS = 4 };
	pthread_t threads[THREADS];
	struct checker checkers[THREADS];
	write_file(f->current, CURRENT);
	open_files(f);
	for (int i = 0; i < THREADS; i++) {
		checkers[i] = (struct checker){f->set, 0};
		assert_int_equal(pthread_create(&threads[i], NULL, check_many, &checkers[i]), 0);
	}
	for (int i = 0; i < 200; i++) {
		char token[32];
		snprintf(token, sizeof(token), "next-%d", i);
		write_file(f->next, token);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(checkers[i].accepted, 500);
	}
	assert_true(tokens_check_bearer(f->set, "Bearer next-199"));
	assert_false(tokens_check_bearer(f->set, "Bearer next-198"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_current_and_next_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_next_no_longer_accepted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rotation_by_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_rewritten_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changes_wait_for_the_recheck_interval, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_prefix_and_extension_rejected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_token_at_all_refuses_to_open, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_files_emptied_keep_the_old_tokens, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recheck_now, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scheme_any_case, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_or_malformed_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whitespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_with_inner_space_refused_without_echo,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_turning_bad_fails_closed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_directory_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hmac_flux_golden_vector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hmac_malformed_signatures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_checks_during_rotation, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("tokens", tests, NULL, NULL);
}
