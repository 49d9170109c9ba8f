/* source in the background: the backoff schedule of failed fetches, and a URL source tended
 * through its first clone, a hung fetch killed at its deadline, and a fetch that succeeds again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "source/gitsource.h"
#include "source/source.h"

static char tmp[] = "/tmp/test-source-XXXXXX";

static void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* The n-th failure waits between half and all of the interval doubled n - 1 times, up to five
 * minutes (or the interval, when that is longer); a success starts over. */
static void test_retry_schedule(void **state)
{
	(void)state;
	unsigned int seed = 7;
	for (int round = 0; round < 200; round++) {
		int64_t full = 1000;
		for (unsigned int n = 1; n <= 12; n++) {
			int64_t d = source_retry_ms(1000, n, &seed);
			int64_t cap = full < SOURCE_RETRY_MAX_MS ? full : SOURCE_RETRY_MAX_MS;
			if (d < cap / 2 || d > cap)
				fail_msg("failure %u: %lld ms outside [%lld, %lld]", n, (long long)d,
					 (long long)cap / 2, (long long)cap);
			full *= 2;
		}
		int64_t d = source_retry_ms(3600000, 4, &seed);
		assert_true(d >= 1800000 && d <= 3600000);
	}
}

static struct source_spec spec_for(const char *url, const char *state_dir, int timeout_ms)
{
	return (struct source_spec){.location = url,
				    .mirror_dir = state_dir,
				    .timeout_ms = timeout_ms,
				    .background = true,
				    .interval_ms = 200};
}

/* Tends until something finishes (bounded): the event. */
static enum source_fetch_event tend_until_end(struct source *src, const struct source_spec *spec,
					      struct cf_err *err)
{
	for (int i = 0; i < 2000; i++) {
		enum source_fetch_event ev = source_fetch_tend(src, spec, true, err);
		if (ev != SOURCE_FETCH_NONE)
			return ev;
		usleep(5000);
	}
	fail_msg("no fetch finished in 10 s");
	return SOURCE_FETCH_NONE;
}

static void test_background_fetches(void **state)
{
	(void)state;
	char up[PATH_MAX], dir[PATH_MAX], url[PATH_MAX + 8], hang[128];
	char commit[41], revision[GITSOURCE_REVISION_MAX];
	struct source *src = NULL;
	struct cf_err err = {""};
	snprintf(up, sizeof(up), "%s/up", tmp);
	snprintf(dir, sizeof(dir), "%s/state", tmp);
	snprintf(url, sizeof(url), "file://%s", up);
	sh("git init -q -b main %s && mkdir -p %s/clawfleet && echo 'a: 1' >%s/clawfleet/a.yaml && "
	   "git -C %s add -A && git -C %s -c user.name=t -c user.email=t@t commit -q -m one",
	   up, up, up, up, up);

	/* Opening fetches nothing: not readable until the first clone finishes. */
	struct source_spec spec = spec_for(url, dir, 5000);
	assert_int_equal(source_open(&src, &spec, &err), 0);
	assert_true(src->info.remote);
	assert_false(source_readable(src));
	assert_true(source_fetch_due_ms(src) <= clock_mono_ms());
	assert_int_equal(source_fetch_tend(src, &spec, false, &err), SOURCE_FETCH_NONE);
	assert_false(src->info.fetching);
	assert_int_equal(source_fetch_tend(src, &spec, true, &err), SOURCE_FETCH_NONE);
	assert_true(src->info.fetching);
	assert_true(source_fetch_fd(src) >= 0);
	assert_false(source_readable(src));
	assert_int_equal(tend_until_end(src, &spec, &err), SOURCE_FETCH_DONE);
	assert_true(source_readable(src));
	assert_true(src->info.last_ok);
	assert_int_equal(src->info.failures, 0);
	assert_int_equal(source_resolve(src, commit, revision, &err), 0);
	assert_string_equal(src->info.revision, revision);
	source_free(src);

	/* The remote now hangs: a mirror from before is readable at once, the fetch is killed at
	 * its deadline, and failures back off. */
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(hang, sizeof(hang), "http://127.0.0.1:%d/repo.git", ntohs(a.sin_port));
	struct source_spec hung = spec_for(hang, dir, 300);
	assert_int_equal(source_open(&src, &hung, &err), 0);
	assert_true(source_readable(src));
	assert_string_equal(src->info.revision, revision);
	int64_t started = clock_mono_ms();
	assert_int_equal(source_fetch_tend(src, &hung, true, &err), SOURCE_FETCH_NONE);
	assert_true(clock_mono_ms() - started < 1000);
	assert_false(source_readable(src));
	assert_true(source_fetch_due_ms(src) >= started + 300);
	assert_int_equal(tend_until_end(src, &hung, &err), SOURCE_FETCH_FAILED);
	assert_non_null(strstr(err.msg, "timed out after 0.3s"));
	assert_string_equal(src->info.error, err.msg);
	assert_int_equal(src->info.failures, 1);
	assert_false(src->info.last_ok);
	assert_true(source_readable(src));
	int64_t wait = src->info.next_mono_ms - clock_mono_ms();
	assert_true(wait >= 50 && wait <= 200);
	assert_int_equal(tend_until_end(src, &hung, &err), SOURCE_FETCH_FAILED);
	assert_int_equal(src->info.failures, 2);
	wait = src->info.next_mono_ms - clock_mono_ms();
	assert_true(wait >= 150 && wait <= 400);
	assert_int_equal(source_resolve(src, commit, revision, &err), 0);

	/* The remote answers again: the next fetch succeeds and resets the backoff. */
	close(fd);
	assert_int_equal(tend_until_end(src, &spec, &err), SOURCE_FETCH_DONE);
	assert_int_equal(src->info.failures, 0);
	assert_string_equal(src->info.error, "");
	source_free(src);
}

static int teardown_all(void **state)
{
	(void)state;
	sh("rm -rf %s", tmp);
	return 0;
}

int main(int argc, char **argv)
{
	/* The Git fetch child is this program run again. */
	if (argc > 1 && strcmp(argv[1], GITSOURCE_FETCH_COMMAND) == 0)
		return gitsource_fetch_child_main(argc - 1, argv + 1);
	if (!mkdtemp(tmp))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_schedule),
		cmocka_unit_test(test_background_fetches),
	};
	return cmocka_run_group_tests(tests, NULL, teardown_all);
}
