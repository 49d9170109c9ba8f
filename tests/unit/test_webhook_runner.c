/* webhook_runner: the webhook calls against a libmicrohttpd server in this process on
 * 127.0.0.1. Each path answers one way (200, 403, always 503, 500 twice then 200, too slow, a
 * reply over the cap) and the server keeps the last body POSTed and counts the requests, so the
 * tests see Flagger's payload, what is retried (no answer, a 5xx) and what is not (a 4xx), the
 * per-call timeout and the reply cap, a question asked once per key, and a gate asked again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "act/webhook_runner.h"
#include "base/clock.h"

#define SLOW_HOLD_MS 1500
#define BIG_BODY (WEBHOOK_REPLY_MAX + 4096)
#define DRIVE_LIMIT_MS 8000

static struct {
	struct MHD_Daemon *daemon;
	int port;
	atomic_int requests;
	atomic_int flaky;
	atomic_bool stopping;
	pthread_mutex_t mu;
	char last_body[4096];
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct upload {
	char body[4096];
	size_t len;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *body,
			     size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result answer(struct MHD_Connection *c, const char *url)
{
	static char big[BIG_BODY];
	if (strcmp(url, "/ok") == 0)
		return reply(c, 200, "{}", 2);
	if (strcmp(url, "/reject") == 0)
		return reply(c, 403, "no", 2);
	if (strcmp(url, "/down") == 0)
		return reply(c, 503, "later", 5);
	if (strcmp(url, "/flaky") == 0)
		return atomic_fetch_add(&srv.flaky, 1) < 2 ? reply(c, 500, "oops", 4)
							   : reply(c, 200, "ok", 2);
	if (strcmp(url, "/slow") == 0) {
		for (int waited = 0; waited < SLOW_HOLD_MS && !atomic_load(&srv.stopping);
		     waited += 10)
			usleep(10000);
		return reply(c, 200, "late", 4);
	}
	if (strcmp(url, "/big") == 0) {
		memset(big, 'x', sizeof(big));
		return reply(c, 200, big, sizeof(big));
	}
	return reply(c, 404, "not found", 9);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **ctx)
{
	struct upload *up = *ctx;
	(void)cls;
	(void)method;
	(void)version;
	if (!up) {
		*ctx = calloc(1, sizeof(struct upload));
		return *ctx ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size) {
		size_t room = sizeof(up->body) - 1 - up->len;
		size_t n = *upload_data_size < room ? *upload_data_size : room;
		memcpy(up->body + up->len, upload_data, n);
		up->len += n;
		*upload_data_size = 0;
		return MHD_YES;
	}
	atomic_fetch_add(&srv.requests, 1);
	pthread_mutex_lock(&srv.mu);
	memcpy(srv.last_body, up->body, up->len + 1);
	pthread_mutex_unlock(&srv.mu);
	return answer(c, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	free(*ctx);
	*ctx = NULL;
}

static int group_setup(void **state)
{
	(void)state;
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return -1;
	srv.daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0,
		NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
	const union MHD_DaemonInfo *info =
		srv.daemon ? MHD_get_daemon_info(srv.daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	srv.port = info ? info->port : 0;
	return srv.port ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	atomic_store(&srv.stopping, true);
	MHD_stop_daemon(srv.daemon);
	curl_global_cleanup();
	return 0;
}

/* ---- the Promotion and the calls ---- */

static char url[4][64];
static struct header_kv meta[] = {{"team", "payments"}, {"eventType", "mine"}};
static struct promotion_webhook hooks[4];
static struct promotion promo = {.name = "gateway", .webhooks = hooks, .nwebhooks = 1};

/* One webhook, hooks[0], of type at path with a timeout. */
static void one_hook(enum webhook_type type, const char *path, int64_t timeout_ms)
{
	snprintf(url[0], sizeof(url[0]), "http://127.0.0.1:%d%s", srv.port, path);
	hooks[0] = (struct promotion_webhook){.name = "hook", .type = type, .url = url[0],
					      .timeout_ms = timeout_ms, .metadata = meta,
					      .nmetadata = 2, .failure_limit = 1};
	atomic_store(&srv.requests, 0);
}

static struct hook_call call(enum webhook_type type, const char *question)
{
	struct hook_call c = {.type = type};
	snprintf(c.name, sizeof(c.name), "hook");
	snprintf(c.key, sizeof(c.key), "0123456789abcdef/%s", question);
	snprintf(c.phase, sizeof(c.phase), "Progressing");
	snprintf(c.checksum, sizeof(c.checksum), "0123456789abcdef");
	return c;
}

/* Tends the runner on the wall clock until no call is in flight or waiting. */
static void drive(struct webhook_runner *r)
{
	int64_t until = clock_mono_ms() + DRIVE_LIMIT_MS;
	webhook_runner_tend(r, clock_epoch_ms());
	while (webhook_runner_busy(r)) {
		if (clock_mono_ms() > until)
			fail_msg("the calls did not end within %d ms", DRIVE_LIMIT_MS);
		usleep(5000);
		webhook_runner_tend(r, clock_epoch_ms());
	}
}

static const struct hook_result *only_result(const struct webhook_runner *r)
{
	size_t n = 0;
	const struct hook_result *res = webhook_runner_results(r, &n);
	assert_int_equal(n, 1);
	return res;
}

/* The answer to one question, asked once. */
static const struct hook_result *ask_once(struct webhook_runner *r, enum webhook_type type)
{
	struct hook_call c = call(type, "q");
	webhook_runner_ask(r, &promo, &c, 1, clock_epoch_ms());
	drive(r);
	return only_result(r);
}

static struct webhook_runner *runner(void)
{
	struct webhook_runner *r = NULL;
	struct cf_err err;
	assert_int_equal(webhook_runner_new(&r, &err), 0);
	return r;
}

static const char *member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("the payload has no %s", key);
	return json_object_get_string(v);
}

/* ---- tests ---- */

/* A 2xx passes at the first attempt; the payload is Flagger's, the hook's metadata in it. */
static void test_passes_with_flaggers_payload(void **state)
{
	(void)state;
	struct webhook_runner *r = runner();
	one_hook(WEBHOOK_PRE_ROLLOUT, "/ok", 2000);
	const struct hook_result *res = ask_once(r, WEBHOOK_PRE_ROLLOUT);
	assert_int_equal(res->verdict, HOOK_PASSED);
	assert_int_equal(res->status, 200);
	assert_int_equal(res->attempts, 1);
	assert_string_equal(res->error, "");
	assert_true(res->at_ms > 0);
	struct json_object *o = json_tokener_parse(srv.last_body);
	assert_non_null(o);
	assert_string_equal(member(o, "name"), "gateway");
	assert_string_equal(member(o, "namespace"), WEBHOOK_NAMESPACE);
	assert_string_equal(member(o, "phase"), "Progressing");
	assert_string_equal(member(o, "checksum"), "0123456789abcdef");
	struct json_object *m = NULL;
	assert_true(json_object_object_get_ex(o, "metadata", &m));
	assert_string_equal(member(m, "team"), "payments");
	assert_string_equal(member(m, "eventType"), "mine");
	assert_int_equal(json_object_object_length(o), 5);
	json_object_put(o);
	size_t n = 0;
	const struct hook_count *counts = webhook_runner_counts(r, &n);
	assert_int_equal(n, 1);
	assert_int_equal(counts[0].ok, 1);
	webhook_runner_free(r);
}

/* An event carries eventMessage, eventType and timestamp; its own eventType wins over the
 * hook's metadata of that name. */
static void test_event_payload(void **state)
{
	(void)state;
	struct webhook_runner *r = runner();
	one_hook(WEBHOOK_EVENT, "/ok", 2000);
	struct hook_call c = call(WEBHOOK_EVENT, "event/1/Shadow");
	snprintf(c.event_message, sizeof(c.event_message), "gateway v2: Idle -> Shadow");
	c.event_type = "Normal";
	webhook_runner_ask(r, &promo, &c, 1, clock_epoch_ms());
	drive(r);
	struct json_object *o = json_tokener_parse(srv.last_body), *m = NULL;
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "metadata", &m));
	assert_string_equal(member(m, "eventMessage"), "gateway v2: Idle -> Shadow");
	assert_string_equal(member(m, "eventType"), "Normal");
	assert_true(atoll(member(m, "timestamp")) > 0);
	assert_string_equal(member(m, "team"), "payments");
	json_object_put(o);
	webhook_runner_free(r);
}

/* A 5xx is retried with backoff; the third attempt's 200 passes. */
static void test_5xx_retried(void **state)
{
	(void)state;
	struct webhook_runner *r = runner();
	one_hook(WEBHOOK_ROLLOUT, "/flaky", 2000);
	atomic_store(&srv.flaky, 0);
	const struct hook_result *res = ask_once(r, WEBHOOK_ROLLOUT);
	assert_int_equal(res->verdict, HOOK_PASSED);
	assert_int_equal(res->attempts, 3);
	assert_int_equal(atomic_load(&srv.requests), 3);
	size_t n = 0;
	const struct hook_count *counts = webhook_runner_counts(r, &n);
	assert_int_equal(counts[0].ok, 1);
	assert_int_equal(counts[0].rejected, 2);
	webhook_runner_free(r);
}

/* A 5xx every time fails after WEBHOOK_ATTEMPTS attempts, with the last status. */
static void test_5xx_gives_up(void **state)
{
	(void)state;
	struct webhook_runner *r = runner();
	one_hook(WEBHOOK_PRE_ROLLOUT, "/down", 2000);
	const struct hook_result *res = ask_once(r, WEBHOOK_PRE_ROLLOUT);
	assert_int_equal(res->verdict, HOOK_FAILED);
	assert_int_equal(res->status, 503);
	assert_int_equal(res->attempts, WEBHOOK_ATTEMPTS);
	assert_int_equal(atomic_load(&srv.requests), WEBHOOK_ATTEMPTS);
	webhook_runner_free(r);
}

/* A 4xx is an answer: no retry. */
static void test_4xx_not_retried(void **state)
{
	(void)state;
	struct webhook_runner *r = runner();
	one_hook(WEBHOOK_PRE_ROLLOUT, "/reject", 2000);
	const struct hook_result *res = ask_once(r, WEBHOOK_PRE_ROLLOUT);
	assert_int_equal(res->verdict, HOOK_FAILED);
	assert_int_equal(res->status, 403);
	assert_int_equal(res->attempts, 1);
	assert_int_equal(atomic_load(&srv.requests), 1);
	webhook_runner_free(r);
}

/* A hook slower than its timeout gets no answer, each attempt cut at the timeout, and the loop
 * is never held: every tend returns at once. */
static void test_timeout(void **state)
{
	(void)state;
	struct webhook_runner *r = runner();
	one_hook(WEBHOOK_PRE_ROLLOUT, "/slow", 200);
	struct hook_call c = call(WEBHOOK_PRE_ROLLOUT, "q");
	int64_t started = clock_mono_ms(), slowest = 0;
	webhook_runner_ask(r, &promo, &c, 1, clock_epoch_ms());
	while (webhook_runner_busy(r)) {
		int64_t t = clock_mono_ms();
		webhook_runner_tend(r, clock_epoch_ms());
		if (clock_mono_ms() - t > slowest)
			slowest = clock_mono_ms() - t;
		assert_true(clock_mono_ms() - started < DRIVE_LIMIT_MS);
		usleep(5000);
	}
	const struct hook_result *res = only_result(r);
	assert_int_equal(res->verdict, HOOK_FAILED);
	assert_int_equal(res->status, 0);
	assert_int_equal(res->attempts, WEBHOOK_ATTEMPTS);
	assert_true(res->error[0] != '\0');
	assert_true(slowest < 150); /* generous: a tend does what is ready, nothing more */
	size_t n = 0;
	const struct hook_count *counts = webhook_runner_counts(r, &n);
	assert_int_equal(counts[0].error, WEBHOOK_ATTEMPTS);
	webhook_runner_free(r);
}

/* A reply over WEBHOOK_REPLY_MAX is no answer. */
static void test_reply_cap(void **state)
{
	(void)state;
	struct webhook_runner *r = runner();
	one_hook(WEBHOOK_PRE_ROLLOUT, "/big", 2000);
	const struct hook_result *res = ask_once(r, WEBHOOK_PRE_ROLLOUT);
	assert_int_equal(res->verdict, HOOK_FAILED);
	assert_int_equal(res->status, 0);
	assert_true(res->error[0] != '\0');
	webhook_runner_free(r);
}

/* A question is asked once per key, however often the planner lists it; a confirm-* gate that
 * said no is asked again WEBHOOK_REASK_MS after its answer, a pre-rollout hook is not. */
static void test_once_per_key_and_gates_reasked(void **state)
{
	(void)state;
	struct webhook_runner *r = runner();
	one_hook(WEBHOOK_CONFIRM_PROMOTION, "/reject", 2000);
	struct hook_call c = call(WEBHOOK_CONFIRM_PROMOTION, "confirm-promotion");
	webhook_runner_ask(r, &promo, &c, 1, clock_epoch_ms());
	webhook_runner_ask(r, &promo, &c, 1, clock_epoch_ms());
	drive(r);
	webhook_runner_ask(r, &promo, &c, 1, clock_epoch_ms());
	drive(r);
	assert_int_equal(atomic_load(&srv.requests), 1);
	int64_t at = only_result(r)->at_ms;
	webhook_runner_ask(r, &promo, &c, 1, at + WEBHOOK_REASK_MS);
	drive(r);
	assert_int_equal(atomic_load(&srv.requests), 2);
	assert_int_equal(only_result(r)->verdict, HOOK_FAILED);

	webhook_runner_free(r);

	r = runner();
	one_hook(WEBHOOK_PRE_ROLLOUT, "/reject", 2000);
	at = ask_once(r, WEBHOOK_PRE_ROLLOUT)->at_ms;
	struct hook_call pre = call(WEBHOOK_PRE_ROLLOUT, "q");
	webhook_runner_ask(r, &promo, &pre, 1, at + 10 * WEBHOOK_REASK_MS);
	drive(r);
	assert_int_equal(atomic_load(&srv.requests), 1);
	webhook_runner_free(r);
}

/* A call for a webhook the Promotion does not have is not made. */
static void test_unknown_hook_not_called(void **state)
{
	(void)state;
	struct webhook_runner *r = runner();
	one_hook(WEBHOOK_PRE_ROLLOUT, "/ok", 2000);
	struct hook_call c = call(WEBHOOK_PRE_ROLLOUT, "q");
	snprintf(c.name, sizeof(c.name), "other");
	webhook_runner_ask(r, &promo, &c, 1, clock_epoch_ms());
	assert_false(webhook_runner_busy(r));
	size_t n = 1;
	webhook_runner_results(r, &n);
	assert_int_equal(n, 0);
	webhook_runner_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passes_with_flaggers_payload),
		cmocka_unit_test(test_event_payload),
		cmocka_unit_test(test_5xx_retried),
		cmocka_unit_test(test_5xx_gives_up),
		cmocka_unit_test(test_4xx_not_retried),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_reply_cap),
		cmocka_unit_test(test_once_per_key_and_gates_reasked),
		cmocka_unit_test(test_unknown_hook_not_called),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
