/* prom_poll against a Prometheus played by the test on a loopback socket, the poller never
 * waiting on it: a step and a drive return at once whatever the server does; a reply that
 * arrived between two passes is read by the next one even when that pass comes after the
 * query's deadline; a query with no reply by its deadline ends with no data and says why; a
 * Prometheus that refuses the connection is no data too. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/httpc.h"
#include "observe/prom_poll.h"

#define TIMEOUT_MS 300
#define STEP_BUDGET_MS 40 /* a step or drive that waits on the server would take TIMEOUT_MS */

static const char reply_body[] =
	"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
	"[{\"metric\":{},\"value\":[1700000000.0,\"99.5\"]}]}}";

struct fixture {
	int listener;
	char address[64];
	struct promotion promo;
	struct desired_state ds;
	struct prom_poll *pp;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	struct cf_err err;
	assert_non_null(f);
	f->listener = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->listener >= 0);
	assert_int_equal(bind(f->listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listener, 4), 0);
	assert_int_equal(getsockname(f->listener, (struct sockaddr *)&sa, &len), 0);
	snprintf(f->address, sizeof(f->address), "http://127.0.0.1:%u", ntohs(sa.sin_port));
	f->promo.name = "gateway";
	f->promo.analysis_interval_ms = 60000;
	f->promo.analysis.nmetrics = 1;
	snprintf(f->promo.analysis.metrics[0].name, DESIRED_METRIC_NAME_MAX, "%s", "ok-rate");
	f->promo.analysis.metrics[0].query = "vector(99.5)";
	f->promo.analysis.provider_address = f->address;
	f->promo.analysis.provider_timeout_ms = TIMEOUT_MS;
	f->ds.promotions = &f->promo;
	f->ds.npromotions = 1;
	assert_int_equal(prom_poll_new(&f->pp, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	prom_poll_free(f->pp);
	if (f->listener >= 0)
		close(f->listener);
	free(f);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* One step at now_ms, timed: it must not wait on the server. */
static void step(struct fixture *f, int64_t now_ms)
{
	struct prom_poll_defaults defaults = {NULL, 0};
	struct cf_err err;
	int64_t started = clock_mono_ms();
	assert_int_equal(prom_poll_step(f->pp, &f->ds, &defaults, true, now_ms, &err), 0);
	assert_true(clock_mono_ms() - started < STEP_BUDGET_MS);
}

static void drive(struct fixture *f)
{
	int64_t started = clock_mono_ms();
	prom_poll_drive(f->pp);
	assert_true(clock_mono_ms() - started < STEP_BUDGET_MS);
}

/* The query the poller sent, accepted and read by the test's server. */
static int accept_query(struct fixture *f)
{
	struct pollfd pfd = {.fd = f->listener, .events = POLLIN};
	char request[4096] = "";
	size_t got = 0;
	/* The connection may still be on its way: the poller moves it on without waiting. */
	for (int i = 0; i < 50 && poll(&pfd, 1, 10) == 0; i++)
		drive(f);
	int conn = accept(f->listener, NULL, NULL);
	assert_true(conn >= 0);
	while (!strstr(request, "\r\n\r\n")) {
		struct pollfd cp = {.fd = conn, .events = POLLIN};
		if (poll(&cp, 1, 10) == 0) {
			drive(f);
			continue;
		}
		ssize_t n = read(conn, request + got, sizeof(request) - 1 - got);
		assert_true(n > 0);
		got += (size_t)n;
		request[got] = '\0';
	}
	assert_non_null(strstr(request, "GET /api/v1/query?query=vector%2899.5%29 HTTP/1.1"));
	return conn;
}

static const struct metric_sample *only_sample(struct fixture *f)
{
	size_t n;
	const struct metric_sample *s = prom_poll_samples(f->pp, &n);
	assert_int_equal(n, 1);
	assert_string_equal(s[0].metric, "ok-rate");
	return &s[0];
}

static void test_reply_between_passes_counts_after_deadline(void **state)
{
	struct fixture *f = *state;
	char reply[512];
	step(f, 1000);
	int conn = accept_query(f);
	int len = snprintf(reply, sizeof(reply),
			   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			   "Content-Length: %zu\r\n\r\n%s",
			   strlen(reply_body), reply_body);
	assert_int_equal(write(conn, reply, (size_t)len), len);
	/* Nobody drives the poller until well past the deadline, as between two slow passes. */
	sleep_ms(TIMEOUT_MS + 200);
	step(f, 2000);
	const struct metric_sample *s = only_sample(f);
	assert_true(s->has_value);
	assert_true(s->value == 99.5);
	assert_int_equal(s->taken_ms, 1000);
	assert_int_equal(s->interval_ms, 60000);
	close(conn);
}

static void test_silent_prometheus_ends_at_deadline(void **state)
{
	struct fixture *f = *state;
	step(f, 1000);
	int conn = accept_query(f); /* accepted, never answered: a stopped Prometheus */
	size_t n;
	prom_poll_samples(f->pp, &n);
	assert_int_equal(n, 0); /* no window measured yet */
	sleep_ms(TIMEOUT_MS / 3);
	step(f, 1100);
	prom_poll_samples(f->pp, &n);
	assert_int_equal(n, 0); /* still within its deadline */
	sleep_ms(TIMEOUT_MS);
	step(f, 1500);
	const struct metric_sample *s = only_sample(f);
	assert_false(s->has_value);
	assert_non_null(strstr(s->why, "/api/v1/query: no answer within 300 ms"));
	assert_non_null(strstr(s->why, f->address));
	close(conn);
}

static void test_refused_is_no_data(void **state)
{
	struct fixture *f = *state;
	close(f->listener); /* nothing listens on the port any more */
	f->listener = -1;
	step(f, 1000);
	const struct metric_sample *s = NULL;
	size_t n = 0;
	for (int i = 0; i < 50 && n == 0; i++) {
		sleep_ms(10);
		drive(f);
		step(f, 1000 + i);
		s = prom_poll_samples(f->pp, &n);
	}
	assert_int_equal(n, 1);
	assert_false(s->has_value);
	assert_non_null(strstr(s->why, "Couldn't connect to server"));
}

int main(void)
{
	struct cf_err err;
	if (httpc_global_init(&err) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reply_between_passes_counts_after_deadline,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_prometheus_ends_at_deadline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refused_is_no_data, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	httpc_global_cleanup();
	return rc;
}
