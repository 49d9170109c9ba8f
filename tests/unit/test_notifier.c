/* notifier: ingest lines, status families, windows on a fake clock, dedupe, the digest document,
 * correlation ids, controller events, broadcast bodies, backoff and delivery, and the config. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/jsonparse.h"
#include "daemon/notifycfg.h"
#include "notify/notifier.h"

/* 2026-11-21T03:40:00Z, a multiple of five minutes. */
#define T0 INT64_C(1795232400000)
#define MIN5 INT64_C(300000)

static void fail_with(const char *line, const char *expected)
{
	struct nf_failure f;
	struct cf_err err = {{0}};
	if (nf_failure_parse(line, strlen(line), &f, &err) == 0)
		fail_msg("accepted: %s", line);
	if (!strstr(err.msg, expected))
		fail_msg("line %s: error \"%s\" does not say \"%s\"", line, err.msg, expected);
}

static struct nf_failure failure(const char *endpoint, const char *status, const char *event)
{
	char line[1024];
	struct nf_failure f;
	struct cf_err err;
	snprintf(line, sizeof(line),
		 "{\"tenant\":\"acme\",\"endpoint\":\"%s\",\"status\":%s,\"eventId\":\"%s\"}",
		 endpoint, status, event);
	if (nf_failure_parse(line, strlen(line), &f, &err) < 0)
		fail_msg("%s: %s", line, err.msg);
	return f;
}

static void test_line_parses_every_field(void **state)
{
	(void)state;
	const char *line = "{\"tenant\":\"acme\",\"endpoint\":\"https://hooks.partner.example/in\","
			   "\"status\":502,\"eventId\":\"3f2a\",\"correlationId\":\"req-7\","
			   "\"time\":\"2026-11-21T03:40:00Z\",\"attempt\":3}";
	struct nf_failure f;
	struct cf_err err;
	assert_int_equal(nf_failure_parse(line, strlen(line), &f, &err), 0);
	assert_string_equal(f.tenant, "acme");
	assert_string_equal(f.endpoint, "https://hooks.partner.example/in");
	assert_int_equal(f.family, NF_5XX);
	assert_int_equal(f.status, 502);
	assert_string_equal(f.event_id, "3f2a");
	assert_string_equal(f.correlation_id, "req-7");
}

static void test_endpoint_loses_credentials_query_and_fragment(void **state)
{
	(void)state;
	struct nf_failure f = failure("https://bot:s3cret@hooks.example/in?token=abc#x", "401", "");
	assert_string_equal(f.endpoint, "https://hooks.example/in");
	/* Found by fuzzing: user information cut at its first '@' left "user:pw" in the endpoint. */
	f = failure("https://@bot:s3cret@hooks.example/in", "500", "");
	assert_string_equal(f.endpoint, "https://hooks.example/in");
	f = failure("https://a@b:c@hooks.example", "500", "");
	assert_string_equal(f.endpoint, "https://hooks.example");
	f = failure("partner-gw:8443?key=1", "\"timeout\"", "");
	assert_string_equal(f.endpoint, "partner-gw:8443");
	assert_int_equal(f.family, NF_TIMEOUT);
	assert_int_equal(f.status, 0);
}

static void test_malformed_lines_are_refused_with_a_reason(void **state)
{
	(void)state;
	char long_line[NF_LINE_MAX + 64];
	fail_with("not json", "not valid JSON");
	fail_with("[1,2]", "not a JSON object");
	fail_with("{\"tenant\":\"acme\"} trailing", "not valid JSON");
	fail_with("{\"endpoint\":\"a\",\"status\":502}", "tenant is missing");
	fail_with("{\"tenant\":\"Acme!\",\"endpoint\":\"a\",\"status\":502}", "Acme!");
	fail_with("{\"tenant\":\"acme\",\"status\":502}", "endpoint is missing");
	fail_with("{\"tenant\":\"acme\",\"endpoint\":\"a b\",\"status\":502}",
		  "endpoint must be printable ASCII");
	fail_with("{\"tenant\":\"acme\",\"endpoint\":\"?q\",\"status\":502}",
		  "endpoint is empty once its query is removed");
	fail_with("{\"tenant\":\"acme\",\"endpoint\":\"a\"}", "status is missing");
	fail_with("{\"tenant\":\"acme\",\"endpoint\":\"a\",\"status\":302}", "status must be");
	fail_with("{\"tenant\":\"acme\",\"endpoint\":\"a\",\"status\":600}", "status must be");
	fail_with("{\"tenant\":\"acme\",\"endpoint\":\"a\",\"status\":\"502\"}", "status must be");
	fail_with("{\"tenant\":\"acme\",\"endpoint\":\"a\",\"status\":502.0}", "status must be");
	fail_with("{\"tenant\":\"acme\",\"endpoint\":\"a\",\"status\":502,\"time\":\"yesterday\"}",
		  "time");
	fail_with("{\"tenant\":\"acme\",\"endpoint\":\"a\",\"status\":502,\"eventId\":7}",
		  "eventId must be a string");
	memset(long_line, 'x', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	fail_with(long_line, "line longer than 16384 bytes");
}

static void test_status_families(void **state)
{
	(void)state;
	enum nf_family f;
	assert_int_equal(nf_family_of_status(404, &f), 0);
	assert_int_equal(f, NF_4XX);
	assert_string_equal(nf_family_name(f), "4xx");
	assert_int_equal(nf_family_of_status(502, &f), 0);
	assert_int_equal(f, NF_5XX);
	assert_string_equal(nf_family_name(f), "5xx");
	assert_int_equal(nf_family_of_status(400, &f), 0);
	assert_int_equal(nf_family_of_status(599, &f), 0);
	assert_int_equal(nf_family_of_status(399, &f), -1);
	assert_int_equal(nf_family_of_status(200, &f), -1);
	assert_int_equal(nf_family_of_status(600, &f), -1);
	assert_string_equal(nf_family_name(NF_TIMEOUT), "timeout");
}

/* What the window-closed callback saw, copied out of the call. */
struct closed {
	size_t calls;
	struct {
		enum nf_family family;
		uint64_t total, untracked;
		size_t nrows, nendpoints;
		int64_t window_start_ms;
		char first_endpoint[NF_ENDPOINT_MAX];
		uint64_t first_count;
		char correlation_id[NF_CORRELATION_MAX];
		char *generic, *slack;
	} s[8];
};

static void on_closed(void *ctx, const struct nf_summary *s)
{
	struct closed *c = ctx;
	struct cf_err err;
	size_t len;
	assert_true(c->calls < 8);
	c->s[c->calls].family = s->family;
	c->s[c->calls].total = s->total;
	c->s[c->calls].untracked = s->untracked;
	c->s[c->calls].nrows = s->nrows;
	c->s[c->calls].nendpoints = s->nendpoints;
	c->s[c->calls].window_start_ms = s->window_start_ms;
	snprintf(c->s[c->calls].first_endpoint, NF_ENDPOINT_MAX, "%s", s->rows[0]->endpoint);
	c->s[c->calls].first_count = s->rows[0]->count;
	memcpy(c->s[c->calls].correlation_id, s->correlation_id, NF_CORRELATION_MAX);
	assert_int_equal(nf_render_summary(s, NOTIFY_GENERIC, "http://n.example/v1/webhook-digest",
					   &c->s[c->calls].generic, &len, &err), 0);
	assert_int_equal(nf_render_summary(s, NOTIFY_SLACK, "http://n.example/v1/webhook-digest",
					   &c->s[c->calls].slack, &len, &err), 0);
	c->calls++;
}

static void closed_free(struct closed *c)
{
	for (size_t i = 0; i < c->calls; i++) {
		free(c->s[i].generic);
		free(c->s[i].slack);
	}
}

static struct json_object *render(struct nf_digest *d, int64_t now)
{
	char *text;
	size_t len;
	struct cf_err err;
	assert_int_equal(nf_digest_render(d, now, &text, &len, &err), 0);
	assert_int_equal(strlen(text), len);
	struct json_object *o = NULL;
	assert_int_equal(jsonparse_object(text, len, JSONPARSE_DEPTH, &o, &err), 0);
	free(text);
	return o;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no key %s in %s", key, json_object_to_json_string(o));
	return v;
}

static const char *get_str(struct json_object *o, const char *key)
{
	return json_object_get_string(get(o, key));
}

static void test_digest_document_shape(void **state)
{
	(void)state;
	struct nf_digest *d;
	struct cf_err err;
	struct nf_failure f = failure("https://hooks.example/in", "503", "ev-1");
	assert_int_equal(nf_digest_new(&d, MIN5, T0 + 1000, &err), 0);
	nf_digest_record(d, &f, T0 + 65000, NULL, NULL);
	struct json_object *o = render(d, T0 + 67500);
	assert_int_equal(json_object_object_length(o), 5);
	assert_int_equal(json_object_get_int64(get(o, "age_sec")), 2);
	assert_string_equal(get_str(o, "window"), "5m");
	assert_string_equal(get_str(o, "windowStart"), "2026-11-21T03:40:00Z");
	assert_int_equal(json_object_get_int64(get(o, "total")), 1);
	struct json_object *top = get(o, "top");
	assert_int_equal(json_object_array_length(top), 1);
	struct json_object *row = json_object_array_get_idx(top, 0);
	assert_int_equal(json_object_object_length(row), 6);
	assert_string_equal(get_str(row, "endpoint"), "https://hooks.example/in");
	assert_string_equal(get_str(row, "family"), "5xx");
	assert_int_equal(json_object_get_int64(get(row, "count")), 1);
	assert_string_equal(get_str(row, "first"), "2026-11-21T03:41:05Z");
	assert_string_equal(get_str(row, "last"), "2026-11-21T03:41:05Z");
	assert_string_equal(get_str(row, "sampleEventId"), "ev-1");
	json_object_put(o);
	nf_digest_free(d);
}

static void test_empty_digest_and_age_since_start(void **state)
{
	(void)state;
	struct nf_digest *d;
	struct cf_err err;
	assert_int_equal(nf_digest_new(&d, 90000, T0, &err), 0);
	struct json_object *o = render(d, T0 + 45000);
	assert_int_equal(json_object_get_int64(get(o, "age_sec")), 45);
	assert_string_equal(get_str(o, "window"), "1m30s");
	assert_int_equal(json_object_get_int64(get(o, "total")), 0);
	assert_int_equal(json_object_array_length(get(o, "top")), 0);
	json_object_put(o);
	nf_digest_tick(d, T0 + 45000, NULL, NULL);
	o = render(d, T0 + 45000);
	assert_int_equal(json_object_get_int64(get(o, "age_sec")), 0);
	json_object_put(o);
	nf_digest_free(d);
}

static void test_windows_out_of_range_are_refused(void **state)
{
	(void)state;
	struct nf_digest *d = NULL;
	struct cf_err err;
	assert_int_equal(nf_digest_new(&d, 999, T0, &err), -1);
	assert_null(d);
	assert_non_null(strstr(err.msg, "from 1s to 24h"));
	assert_int_equal(nf_digest_new(&d, NF_WINDOW_MAX_MS + 1, T0, &err), -1);
}

static void test_same_endpoint_and_family_is_one_row(void **state)
{
	(void)state;
	struct nf_digest *d;
	struct cf_err err;
	struct nf_failure a = failure("https://a.example/in", "502", "ev-1");
	struct nf_failure b = failure("https://a.example/in", "503", "");
	struct nf_failure c = failure("https://a.example/in", "\"timeout\"", "ev-3");
	struct nf_failure e = failure("https://a.example/in?sig=zz", "500", "ev-4");
	assert_int_equal(nf_digest_new(&d, MIN5, T0, &err), 0);
	nf_digest_record(d, &a, T0 + 1000, NULL, NULL);
	nf_digest_record(d, &b, T0 + 2000, NULL, NULL);
	nf_digest_record(d, &c, T0 + 3000, NULL, NULL);
	nf_digest_record(d, &e, T0 + 4000, NULL, NULL);
	nf_digest_record(d, &b, T0 + 5000, NULL, NULL);
	struct json_object *o = render(d, T0 + 5000);
	assert_int_equal(json_object_get_int64(get(o, "total")), 5);
	struct json_object *top = get(o, "top");
	assert_int_equal(json_object_array_length(top), 2);
	struct json_object *row = json_object_array_get_idx(top, 0);
	assert_string_equal(get_str(row, "family"), "5xx");
	assert_int_equal(json_object_get_int64(get(row, "count")), 4);
	assert_string_equal(get_str(row, "first"), "2026-11-21T03:40:01Z");
	assert_string_equal(get_str(row, "last"), "2026-11-21T03:40:05Z");
	/* The latest failure that carried an eventId is the sample. */
	assert_string_equal(get_str(row, "sampleEventId"), "ev-4");
	row = json_object_array_get_idx(top, 1);
	assert_string_equal(get_str(row, "family"), "timeout");
	assert_int_equal(json_object_get_int64(get(row, "count")), 1);
	json_object_put(o);
	nf_digest_free(d);
}

static void test_top_is_ordered_and_capped(void **state)
{
	(void)state;
	struct nf_digest *d;
	struct cf_err err;
	char ep[64];
	assert_int_equal(nf_digest_new(&d, MIN5, T0, &err), 0);
	/* 25 endpoints, ep-00 failing once ... ep-24 failing 25 times, and a tie at the top. */
	for (int i = 0; i < 25; i++) {
		snprintf(ep, sizeof(ep), "ep-%02d", i);
		struct nf_failure f = failure(ep, "500", "");
		for (int k = 0; k <= i; k++)
			nf_digest_record(d, &f, T0 + 1000, NULL, NULL);
	}
	struct nf_failure tie = failure("ep-aa", "404", "");
	for (int k = 0; k < 25; k++)
		nf_digest_record(d, &tie, T0 + 1000, NULL, NULL);
	struct json_object *o = render(d, T0 + 1000);
	struct json_object *top = get(o, "top");
	assert_int_equal(json_object_get_int64(get(o, "total")), 25 * 26 / 2 + 25);
	assert_int_equal(json_object_array_length(top), NF_TOP_MAX);
	assert_string_equal(get_str(json_object_array_get_idx(top, 0), "endpoint"), "ep-24");
	assert_string_equal(get_str(json_object_array_get_idx(top, 1), "endpoint"), "ep-aa");
	assert_string_equal(get_str(json_object_array_get_idx(top, 2), "endpoint"), "ep-23");
	assert_string_equal(get_str(json_object_array_get_idx(top, 19), "endpoint"), "ep-06");
	json_object_put(o);
	nf_digest_free(d);
}

static void test_window_rolls_over_on_the_fake_clock(void **state)
{
	(void)state;
	struct nf_digest *d;
	struct cf_err err;
	struct closed c = {0};
	struct nf_failure f = failure("https://a.example/in", "502", "ev-1");
	assert_int_equal(nf_digest_new(&d, MIN5, T0 + 10000, &err), 0);
	nf_digest_record(d, &f, T0 + 20000, on_closed, &c);
	nf_digest_record(d, &f, T0 + MIN5 - 1, on_closed, &c);
	nf_digest_tick(d, T0 + MIN5 - 1, on_closed, &c);
	assert_int_equal(c.calls, 0);
	nf_digest_tick(d, T0 + MIN5, on_closed, &c);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.s[0].total, 2);
	assert_int_equal(c.s[0].window_start_ms, T0);
	/* The new window starts empty; a second tick in it closes nothing. */
	struct json_object *o = render(d, T0 + MIN5);
	assert_int_equal(json_object_get_int64(get(o, "total")), 0);
	assert_string_equal(get_str(o, "windowStart"), "2026-11-21T03:45:00Z");
	json_object_put(o);
	nf_digest_tick(d, T0 + MIN5 + 1000, on_closed, &c);
	assert_int_equal(c.calls, 1);
	/* A failure after quiet windows lands in the window of its own time. */
	nf_digest_record(d, &f, T0 + 7 * MIN5 + 5, on_closed, &c);
	assert_int_equal(c.calls, 1);
	o = render(d, T0 + 7 * MIN5 + 5);
	assert_string_equal(get_str(o, "windowStart"), "2026-11-21T04:15:00Z");
	assert_int_equal(json_object_get_int64(get(o, "total")), 1);
	json_object_put(o);
	/* A clock stepped back keeps the open window and its counts. */
	nf_digest_tick(d, T0, on_closed, &c);
	o = render(d, T0 + 7 * MIN5 + 5);
	assert_int_equal(json_object_get_int64(get(o, "total")), 1);
	json_object_put(o);
	closed_free(&c);
	nf_digest_free(d);
}

static void test_one_summary_per_family_per_window(void **state)
{
	(void)state;
	struct nf_digest *d;
	struct cf_err err;
	struct closed c = {0};
	char ep[64];
	assert_int_equal(nf_digest_new(&d, MIN5, T0, &err), 0);
	for (int i = 0; i < 12; i++) {
		snprintf(ep, sizeof(ep), "https://h%02d.example/in", i);
		struct nf_failure f = failure(ep, i % 2 ? "502" : "504", "");
		for (int k = 0; k < (i == 7 ? 5 : 1); k++)
			nf_digest_record(d, &f, T0 + 1000, on_closed, &c);
	}
	struct nf_failure t = failure("https://h00.example/in", "\"timeout\"", "");
	nf_digest_record(d, &t, T0 + 2000, on_closed, &c);
	nf_digest_record(d, &t, T0 + 3000, on_closed, &c);
	nf_digest_tick(d, T0 + MIN5 + 1, on_closed, &c);
	assert_int_equal(c.calls, 2);
	assert_int_equal(c.s[0].family, NF_5XX);
	assert_int_equal(c.s[0].total, 16);
	assert_int_equal(c.s[0].nendpoints, 12);
	assert_int_equal(c.s[0].nrows, NF_SUMMARY_ROWS_MAX);
	assert_string_equal(c.s[0].first_endpoint, "https://h07.example/in");
	assert_int_equal(c.s[0].first_count, 5);
	assert_int_equal(c.s[1].family, NF_TIMEOUT);
	assert_int_equal(c.s[1].total, 2);
	assert_int_equal(c.s[1].nendpoints, 1);
	closed_free(&c);
	nf_digest_free(d);
}

static void test_rows_past_the_cap_are_counted_not_lost(void **state)
{
	(void)state;
	struct nf_digest *d;
	struct cf_err err;
	struct closed c = {0};
	char ep[64];
	assert_int_equal(nf_digest_new(&d, MIN5, T0, &err), 0);
	for (int i = 0; i < NF_ROWS_MAX + 3; i++) {
		snprintf(ep, sizeof(ep), "ep-%04d", i);
		struct nf_failure f = failure(ep, "500", "");
		nf_digest_record(d, &f, T0 + 1, on_closed, &c);
	}
	struct json_object *o = render(d, T0 + 1);
	assert_int_equal(json_object_get_int64(get(o, "total")), NF_ROWS_MAX + 3);
	json_object_put(o);
	nf_digest_tick(d, T0 + MIN5, on_closed, &c);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.s[0].total, NF_ROWS_MAX + 3);
	assert_int_equal(c.s[0].untracked, 3);
	assert_non_null(strstr(c.s[0].generic, "and more not tracked"));
	closed_free(&c);
	nf_digest_free(d);
}

static void test_correlation_ids_are_stable_per_family_and_window(void **state)
{
	(void)state;
	struct nf_digest *a, *b;
	struct cf_err err;
	struct closed ca = {0}, cb = {0};
	struct nf_failure x = failure("https://a.example/in", "502", "");
	struct nf_failure y = failure("https://b.example/in", "500", "other");
	struct nf_failure z = failure("https://b.example/in", "404", "");
	/* Two notifiers started at different times, seeing different failures of one family. */
	assert_int_equal(nf_digest_new(&a, MIN5, T0, &err), 0);
	assert_int_equal(nf_digest_new(&b, MIN5, T0 + 120000, &err), 0);
	nf_digest_record(a, &x, T0 + 1000, on_closed, &ca);
	nf_digest_record(b, &y, T0 + 130000, on_closed, &cb);
	nf_digest_record(b, &z, T0 + 130000, on_closed, &cb);
	nf_digest_tick(a, T0 + MIN5, on_closed, &ca);
	nf_digest_tick(b, T0 + MIN5, on_closed, &cb);
	assert_int_equal(ca.calls, 1);
	assert_int_equal(cb.calls, 2);
	assert_string_equal(ca.s[0].correlation_id, cb.s[1].correlation_id);
	assert_string_not_equal(cb.s[0].correlation_id, cb.s[1].correlation_id);
	assert_int_equal(strlen(ca.s[0].correlation_id), 35);
	assert_memory_equal(ca.s[0].correlation_id, "cf-", 3);
	assert_int_equal(strspn(ca.s[0].correlation_id + 3, "0123456789abcdef"), 32);
	/* The next window of the same family gets another id. */
	nf_digest_record(a, &x, T0 + MIN5 + 1, on_closed, &ca);
	nf_digest_tick(a, T0 + 2 * MIN5, on_closed, &ca);
	assert_int_equal(ca.calls, 2);
	assert_string_not_equal(ca.s[0].correlation_id, ca.s[1].correlation_id);
	closed_free(&ca);
	closed_free(&cb);
	nf_digest_free(a);
	nf_digest_free(b);
}

static struct json_object *parse_json(const char *text)
{
	struct json_object *o = NULL;
	struct cf_err err;
	if (jsonparse_value(text, strlen(text), JSONPARSE_DEPTH, &o, &err) < 0)
		fail_msg("%s: %s", err.msg, text);
	return o;
}

static void test_generic_summary_payload(void **state)
{
	(void)state;
	struct nf_digest *d;
	struct cf_err err;
	struct closed c = {0};
	struct nf_failure f = failure("https://a.example/in", "502", "ev-9");
	assert_int_equal(nf_digest_new(&d, MIN5, T0, &err), 0);
	nf_digest_record(d, &f, T0 + 1000, on_closed, &c);
	nf_digest_record(d, &f, T0 + 2000, on_closed, &c);
	nf_digest_tick(d, T0 + MIN5, on_closed, &c);
	struct json_object *o = parse_json(c.s[0].generic);
	assert_string_equal(get_str(o, "text"),
			    "clawfleet: 2 webhook delivery failures (5xx) at 1 endpoint in the 5m "
			    "window from 2026-11-21T03:40:00Z to 2026-11-21T03:45:00Z");
	assert_string_equal(get_str(o, "kind"), "digest");
	assert_string_equal(get_str(o, "family"), "5xx");
	assert_string_equal(get_str(o, "windowStart"), "2026-11-21T03:40:00Z");
	assert_string_equal(get_str(o, "windowEnd"), "2026-11-21T03:45:00Z");
	assert_int_equal(json_object_get_int64(get(o, "total")), 2);
	assert_true(json_object_is_type(get(o, "fluxUid"), json_type_null));
	assert_string_equal(get_str(o, "eventId"), "ev-9");
	assert_string_equal(get_str(o, "probeKey"), "webhook.digest");
	assert_string_equal(get_str(o, "correlationId"), c.s[0].correlation_id);
	assert_string_equal(get_str(o, "digestUrl"), "http://n.example/v1/webhook-digest");
	struct json_object *rows = get(o, "rows");
	assert_int_equal(json_object_array_length(rows), 1);
	struct json_object *row = json_object_array_get_idx(rows, 0);
	assert_string_equal(get_str(row, "endpoint"), "https://a.example/in");
	assert_int_equal(json_object_get_int64(get(row, "count")), 2);
	assert_string_equal(get_str(row, "tenant"), "acme");
	assert_null(strstr(c.s[0].generic, "\\/"));
	json_object_put(o);
	closed_free(&c);
	nf_digest_free(d);
}

static void test_slack_summary_payload(void **state)
{
	(void)state;
	struct nf_digest *d;
	struct cf_err err;
	struct closed c = {0};
	struct nf_failure f = failure("https://a.example/x<y>&z", "404", "ev-2");
	assert_int_equal(nf_digest_new(&d, MIN5, T0, &err), 0);
	nf_digest_record(d, &f, T0 + 1000, on_closed, &c);
	nf_digest_tick(d, T0 + MIN5, on_closed, &c);
	struct json_object *o = parse_json(c.s[0].slack);
	assert_int_equal(json_object_object_length(o), 2);
	assert_non_null(strstr(get_str(o, "text"), "1 webhook delivery failure (4xx)"));
	struct json_object *blocks = get(o, "blocks");
	assert_int_equal(json_object_array_length(blocks), 2);
	struct json_object *section = json_object_array_get_idx(blocks, 0);
	assert_string_equal(get_str(section, "type"), "section");
	assert_string_equal(get_str(get(section, "text"), "type"), "mrkdwn");
	const char *body = get_str(get(section, "text"), "text");
	assert_non_null(strstr(body, "https://a.example/x&lt;y&gt;&amp;z: 1 (4xx), tenant acme"));
	struct json_object *context = json_object_array_get_idx(blocks, 1);
	assert_string_equal(get_str(context, "type"), "context");
	const char *refs = get_str(json_object_array_get_idx(get(context, "elements"), 0), "text");
	char want[256];
	snprintf(want, sizeof(want), "flux uid - | event ev-2 | probe webhook.digest | "
		 "correlation %s | <http://n.example/v1/webhook-digest|digest>",
		 c.s[0].correlation_id);
	assert_string_equal(refs, want);
	json_object_put(o);
	closed_free(&c);
	nf_digest_free(d);
}

static void event_of(const char *body, struct nf_event *ev)
{
	struct cf_err err;
	if (nf_event_parse(body, strlen(body), ev, &err) < 0)
		fail_msg("%s: %s", body, err.msg);
}

static void event_refused(const char *body, const char *expected)
{
	struct nf_event ev;
	struct cf_err err = {{0}};
	if (nf_event_parse(body, strlen(body), &ev, &err) == 0)
		fail_msg("accepted: %s", body);
	if (!strstr(err.msg, expected))
		fail_msg("%s: error \"%s\" does not say \"%s\"", body, err.msg, expected);
}

static void test_events_parse_and_filter(void **state)
{
	(void)state;
	struct nf_event ev;
	event_of("{\"kind\":\"verdict\",\"verdict\":\"rollback\",\"fluxUid\":\"7c1d-uid\","
		 "\"eventId\":\"ev-1\",\"probeKey\":\"canary.latency\",\"correlationId\":\"c-1\","
		 "\"message\":\"p95 6.2x baseline\"}", &ev);
	assert_int_equal(ev.kind, NF_EVENT_VERDICT);
	assert_string_equal(ev.verdict, "rollback");
	assert_string_equal(ev.flux_uid, "7c1d-uid");
	assert_string_equal(ev.correlation_id, "c-1");
	assert_true(nf_event_broadcasts(&ev));
	event_of("{\"kind\":\"verdict\",\"verdict\":\"hold\"}", &ev);
	assert_true(nf_event_broadcasts(&ev));
	event_of("{\"kind\":\"verdict\",\"verdict\":\"promote\"}", &ev);
	assert_false(nf_event_broadcasts(&ev));
	event_of("{\"kind\":\"rollback\",\"message\":\"restarts 3 in 5m\"}", &ev);
	assert_true(nf_event_broadcasts(&ev));
	event_of("{\"kind\":\"reply\",\"status\":401}", &ev);
	assert_true(nf_event_broadcasts(&ev));
	event_of("{\"kind\":\"reply\",\"status\":202}", &ev);
	assert_false(nf_event_broadcasts(&ev));

	event_of("{\"kind\":\"verdict\",\"verdict\":\"drain\",\"probeKey\":\"doctor.red\"}", &ev);
	assert_true(nf_event_broadcasts(&ev));
	event_of("{\"kind\":\"verdict\",\"verdict\":\"restore\"}", &ev);
	assert_true(nf_event_broadcasts(&ev));
	event_refused("{\"kind\":\"verdict\"}",
		      "verdict must be promote, hold, rollback, drain or restore");
	event_refused("{\"kind\":\"verdict\",\"verdict\":\"red\"}", "verdict must be");
	event_refused("{\"kind\":\"reply\"}", "status is missing");
	event_refused("{\"kind\":\"reply\",\"status\":99}", "status must be");
	event_refused("{\"kind\":\"alert\"}", "kind must be verdict, rollback or reply");
	event_refused("{\"kind\":\"rollback\",\"flux_uid\":\"x\"}", "unknown key \"flux_uid\"");
	event_refused("{\"kind\":\"rollback\",\"message\":\"a\\u0007b\"}", "control character");
	event_refused("{}", "kind is missing");
	event_refused("", "not valid JSON");
}

static void test_events_without_an_id_get_a_stable_one(void **state)
{
	(void)state;
	struct nf_event a, b, c;
	const char *body = "{\"kind\":\"verdict\",\"verdict\":\"hold\",\"eventId\":\"ev-1\"}";
	event_of(body, &a);
	event_of(body, &b);
	event_of("{\"kind\":\"verdict\",\"verdict\":\"hold\",\"eventId\":\"ev-2\"}", &c);
	assert_string_equal(a.correlation_id, b.correlation_id);
	assert_string_not_equal(a.correlation_id, c.correlation_id);
	assert_memory_equal(a.correlation_id, "cf-", 3);
}

static void test_events_are_told_once_per_window(void **state)
{
	(void)state;
	struct nf_digest *d;
	struct cf_err err;
	struct nf_event hold, again, r401, r403, r502;
	assert_int_equal(nf_digest_new(&d, MIN5, T0, &err), 0);
	event_of("{\"kind\":\"verdict\",\"verdict\":\"hold\",\"eventId\":\"ev-1\"}", &hold);
	event_of("{\"kind\":\"verdict\",\"verdict\":\"hold\",\"eventId\":\"ev-2\"}", &again);
	event_of("{\"kind\":\"reply\",\"status\":401,\"correlationId\":\"r1\"}", &r401);
	event_of("{\"kind\":\"reply\",\"status\":403,\"correlationId\":\"r2\"}", &r403);
	event_of("{\"kind\":\"reply\",\"status\":502,\"correlationId\":\"r3\"}", &r502);
	assert_true(nf_digest_claim_event(d, &hold));
	assert_false(nf_digest_claim_event(d, &hold));
	assert_true(nf_digest_claim_event(d, &again));
	assert_true(nf_digest_claim_event(d, &r401));
	assert_false(nf_digest_claim_event(d, &r403));
	assert_true(nf_digest_claim_event(d, &r502));
	nf_digest_tick(d, T0 + MIN5, NULL, NULL);
	assert_true(nf_digest_claim_event(d, &hold));
	assert_true(nf_digest_claim_event(d, &r403));
	nf_digest_free(d);
}

static void test_event_payloads(void **state)
{
	(void)state;
	struct nf_event ev;
	char *text;
	size_t len;
	struct cf_err err;
	event_of("{\"kind\":\"verdict\",\"verdict\":\"rollback\",\"fluxUid\":\"7c1d-uid\","
		 "\"eventId\":\"ev-1\",\"probeKey\":\"canary.latency\",\"correlationId\":\"c-1\","
		 "\"message\":\"p95 6.2x baseline <!channel>\"}", &ev);
	assert_int_equal(nf_render_event(&ev, NOTIFY_GENERIC, "http://d/x", &text, &len, &err), 0);
	struct json_object *o = parse_json(text);
	assert_string_equal(get_str(o, "text"), "clawfleet: verdict rollback from probe "
						 "canary.latency: p95 6.2x baseline <!channel>");
	assert_string_equal(get_str(o, "kind"), "verdict");
	assert_string_equal(get_str(o, "verdict"), "rollback");
	assert_true(json_object_is_type(get(o, "status"), json_type_null));
	assert_string_equal(get_str(o, "fluxUid"), "7c1d-uid");
	assert_string_equal(get_str(o, "eventId"), "ev-1");
	assert_string_equal(get_str(o, "probeKey"), "canary.latency");
	assert_string_equal(get_str(o, "correlationId"), "c-1");
	assert_string_equal(get_str(o, "digestUrl"), "http://d/x");
	assert_int_equal(json_object_array_length(get(o, "rows")), 0);
	json_object_put(o);
	free(text);

	assert_int_equal(nf_render_event(&ev, NOTIFY_SLACK, "http://d/x", &text, &len, &err), 0);
	o = parse_json(text);
	struct json_object *blocks = get(o, "blocks");
	const char *body = get_str(get(json_object_array_get_idx(blocks, 0), "text"), "text");
	/* A message cannot ping a whole channel: Slack's control sequences are escaped. */
	assert_string_equal(body, "clawfleet: verdict rollback from probe canary.latency\n"
				  "p95 6.2x baseline &lt;!channel&gt;");
	const char *refs = get_str(
		json_object_array_get_idx(get(json_object_array_get_idx(blocks, 1), "elements"), 0),
		"text");
	assert_string_equal(refs, "flux uid 7c1d-uid | event ev-1 | probe canary.latency | "
				  "correlation c-1 | <http://d/x|digest>");
	json_object_put(o);
	free(text);

	event_of("{\"kind\":\"reply\",\"status\":401}", &ev);
	assert_int_equal(nf_render_event(&ev, NOTIFY_GENERIC, "http://d/x", &text, &len, &err), 0);
	o = parse_json(text);
	assert_string_equal(get_str(o, "text"),
			    "clawfleet: the controller answered a Flux delivery with HTTP 401");
	assert_int_equal(json_object_get_int(get(o, "status")), 401);
	assert_true(json_object_is_type(get(o, "fluxUid"), json_type_null));
	json_object_put(o);
	free(text);
}

static void test_slack_text_stays_under_its_limit(void **state)
{
	(void)state;
	struct nf_event ev;
	char body[2048], *text;
	size_t len;
	struct cf_err err;
	/* 1,000 bytes of "é" and "&": clipped on a character boundary, then escaped. */
	char msg[1001];
	for (int i = 0; i < 999; i += 3) {
		msg[i] = '&';
		msg[i + 1] = (char)0xc3;
		msg[i + 2] = (char)0xa9;
	}
	msg[999] = '\0';
	snprintf(body, sizeof(body), "{\"kind\":\"rollback\",\"message\":\"%s\"}", msg);
	event_of(body, &ev);
	assert_int_equal(nf_render_event(&ev, NOTIFY_SLACK, "http://d/x", &text, &len, &err), 0);
	struct json_object *o = parse_json(text);
	const char *section =
		get_str(get(json_object_array_get_idx(get(o, "blocks"), 0), "text"), "text");
	assert_true(strlen(section) < 3000);
	assert_non_null(strstr(section, "&amp;\xc3\xa9&amp;"));
	size_t n = strlen(section);
	assert_string_equal(section + n - 7, "\xc3\xa9&amp;");
	json_object_put(o);
	free(text);
}

static void test_backoff_is_full_jitter_within_bounds(void **state)
{
	(void)state;
	int64_t ceiling[] = {500, 1000, 2000, 4000, 8000, 8000, 8000};
	for (unsigned int r = 0; r < sizeof(ceiling) / sizeof(ceiling[0]); r++) {
		assert_int_equal(nf_backoff_ms(r, 0), 0);
		assert_int_equal(nf_backoff_ms(r, (uint64_t)ceiling[r]), ceiling[r]);
		assert_int_equal(nf_backoff_ms(r, (uint64_t)ceiling[r] + 1), 0);
		for (uint64_t x = 1; x < UINT64_C(1) << 62; x = x * 3 + 7) {
			int64_t w = nf_backoff_ms(r, x);
			assert_true(w >= 0 && w <= ceiling[r]);
		}
	}
	assert_int_equal(nf_backoff_ms(63, UINT64_MAX), (int64_t)(UINT64_MAX % 8001));
	assert_true(nf_backoff_ms(1000, UINT64_MAX) <= NF_BACKOFF_CAP_MS);
}

/* A channel that answers from a script and records the waits asked for. */
struct fake_channel {
	const long *answers;
	size_t nanswers, posts, waits;
	int64_t waited[8];
	bool stop_at_wait;
	uint64_t next_random;
};

static long fake_post(void *ctx, const char *body, size_t len, struct cf_err *err)
{
	struct fake_channel *f = ctx;
	assert_string_equal(body, "{\"text\":\"hi\"}");
	assert_int_equal(len, 13);
	long status = f->answers[f->posts < f->nanswers ? f->posts : f->nanswers - 1];
	f->posts++;
	if (status == 0)
		cf_err_set(err, "Timeout was reached");
	return status;
}

static bool fake_wait(void *ctx, int64_t ms)
{
	struct fake_channel *f = ctx;
	f->waited[f->waits++] = ms;
	return !f->stop_at_wait;
}

static uint64_t fake_random(void *ctx)
{
	struct fake_channel *f = ctx;
	return f->next_random++ * UINT64_C(0x9e3779b97f4a7c15);
}

static struct nf_delivery deliver(struct fake_channel *f)
{
	struct nf_delivery_ops ops = {fake_post, fake_wait, fake_random, f};
	struct nf_delivery res;
	nf_deliver(&ops, "{\"text\":\"hi\"}", 13, &res);
	return res;
}

static void test_delivery_retries_then_succeeds(void **state)
{
	(void)state;
	static const long answers[] = {503, 0, 500, 200};
	struct fake_channel f = {.answers = answers, .nanswers = 4};
	struct nf_delivery res = deliver(&f);
	assert_true(res.delivered);
	assert_int_equal(res.attempts, 4);
	assert_int_equal(f.posts, 4);
	assert_int_equal(f.waits, 3);
	for (unsigned int i = 0; i < 3; i++)
		assert_true(f.waited[i] >= 0 && f.waited[i] <= NF_BACKOFF_BASE_MS << i);
}

static void test_delivery_gives_up_after_four_attempts(void **state)
{
	(void)state;
	static const long answers[] = {502};
	struct fake_channel f = {.answers = answers, .nanswers = 1};
	struct nf_delivery res = deliver(&f);
	assert_false(res.delivered);
	assert_false(res.stopped);
	assert_int_equal(res.attempts, NF_ATTEMPTS_MAX);
	assert_int_equal(f.posts, 4);
	assert_int_equal(res.last_status, 502);
	assert_string_equal(res.last_error, "HTTP 502");

	static const long silent[] = {0};
	f = (struct fake_channel){.answers = silent, .nanswers = 1};
	res = deliver(&f);
	assert_int_equal(f.posts, 4);
	assert_string_equal(res.last_error, "Timeout was reached");
}

static void test_delivery_does_not_retry_a_refusal(void **state)
{
	(void)state;
	static const long answers[] = {404, 200};
	struct fake_channel f = {.answers = answers, .nanswers = 2};
	struct nf_delivery res = deliver(&f);
	assert_false(res.delivered);
	assert_int_equal(res.attempts, 1);
	assert_int_equal(f.waits, 0);
	assert_string_equal(res.last_error, "HTTP 404");

	static const long busy[] = {429, 204};
	f = (struct fake_channel){.answers = busy, .nanswers = 2};
	res = deliver(&f);
	assert_true(res.delivered);
	assert_int_equal(res.attempts, 2);
}

static void test_delivery_stops_when_the_notifier_stops(void **state)
{
	(void)state;
	static const long answers[] = {500};
	struct fake_channel f = {.answers = answers, .nanswers = 1, .stop_at_wait = true};
	struct nf_delivery res = deliver(&f);
	assert_false(res.delivered);
	assert_true(res.stopped);
	assert_int_equal(res.attempts, 1);
	assert_int_equal(f.posts, 1);
}

static char cfg_path[64];

static void write_config(const char *text)
{
	snprintf(cfg_path, sizeof(cfg_path), "/tmp/test-notifycfg-XXXXXX");
	int fd = mkstemp(cfg_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_config_defaults(void **state)
{
	(void)state;
	struct notifier_config cfg;
	struct diag_list dl = {0};
	write_config("socket: /var/run/clawfleet/notifier.sock\n"
		     "channel: {url: 'https://hooks.slack.com/services/T0/B0/XYZ'}\n");
	int rc = notifycfg_load(cfg_path, &cfg, &dl);
	diag_list_print(&dl, stderr);
	assert_int_equal(rc, 0);
	assert_string_equal(cfg.socket, "/var/run/clawfleet/notifier.sock");
	assert_string_equal(cfg.listen, "127.0.0.1:9099");
	assert_int_equal(cfg.window_ms, 300000);
	assert_int_equal(cfg.channel_format, NOTIFY_GENERIC);
	assert_null(cfg.digest_url);
	assert_null(cfg.tokens_dir);
	notifycfg_free(&cfg);
	unlink(cfg_path);

	write_config("socket: /tmp/n.sock\nlisten: 0.0.0.0:9099\nwindow: 1m\n"
		     "channel: {url: 'http://127.0.0.1:8080/hook', format: slack}\n"
		     "digestUrl: https://notifier.fleet.example/v1/webhook-digest\n"
		     "tokens: {dir: /etc/clawfleet/notifier}\n");
	assert_int_equal(notifycfg_load(cfg_path, &cfg, &dl), 0);
	assert_int_equal(cfg.window_ms, 60000);
	assert_int_equal(cfg.channel_format, NOTIFY_SLACK);
	assert_string_equal(cfg.digest_url, "https://notifier.fleet.example/v1/webhook-digest");
	assert_string_equal(cfg.tokens_dir, "/etc/clawfleet/notifier");
	notifycfg_free(&cfg);
	unlink(cfg_path);
}

static void test_config_reports_every_error_without_the_url(void **state)
{
	(void)state;
	struct notifier_config cfg;
	struct diag_list dl = {0};
	char *buf = NULL;
	size_t len = 0;
	char expected[2048];
	write_config("socket: relative.sock\n"
		     "window: 500ms\n"
		     "channel: {url: 'ftp://hooks.example/T0/s3cret', format: teams}\n"
		     "digestUrl: [a]\n"
		     "tokens: /etc/x\n"
		     "colour: blue\n");
	assert_int_equal(notifycfg_load(cfg_path, &cfg, &dl), -1);
	FILE *f = open_memstream(&buf, &len);
	diag_list_sort(&dl);
	diag_list_print(&dl, f);
	fclose(f);
	snprintf(expected, sizeof(expected),
		 "%1$s:0:0: -: channel.url: must be an http:// or https:// URL of at most 2048 "
		 "bytes, no spaces\n"
		 "%1$s:0:0: -: window: must be from 1s to 24h\n"
		 "%1$s:1:9: -: socket: must be an absolute path\n"
		 "%1$s:3:57: -: channel.format: must be one of generic, slack\n"
		 "%1$s:4:12: -: digestUrl: must be a single value\n"
		 "%1$s:5:1: -: tokens: must be a map\n"
		 "%1$s:6:1: -: colour: unknown key\n",
		 cfg_path);
	assert_string_equal(buf, expected);
	assert_null(strstr(buf, "s3cret"));
	free(buf);
	diag_list_free(&dl);
	unlink(cfg_path);

	write_config("listen: 127.0.0.1:1\n");
	assert_int_equal(notifycfg_load(cfg_path, &cfg, &dl), -1);
	assert_int_equal(dl.n, 2);
	diag_list_free(&dl);
	unlink(cfg_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_parses_every_field),
		cmocka_unit_test(test_endpoint_loses_credentials_query_and_fragment),
		cmocka_unit_test(test_malformed_lines_are_refused_with_a_reason),
		cmocka_unit_test(test_status_families),
		cmocka_unit_test(test_digest_document_shape),
		cmocka_unit_test(test_empty_digest_and_age_since_start),
		cmocka_unit_test(test_windows_out_of_range_are_refused),
		cmocka_unit_test(test_same_endpoint_and_family_is_one_row),
		cmocka_unit_test(test_top_is_ordered_and_capped),
		cmocka_unit_test(test_window_rolls_over_on_the_fake_clock),
		cmocka_unit_test(test_one_summary_per_family_per_window),
		cmocka_unit_test(test_rows_past_the_cap_are_counted_not_lost),
		cmocka_unit_test(test_correlation_ids_are_stable_per_family_and_window),
		cmocka_unit_test(test_generic_summary_payload),
		cmocka_unit_test(test_slack_summary_payload),
		cmocka_unit_test(test_events_parse_and_filter),
		cmocka_unit_test(test_events_without_an_id_get_a_stable_one),
		cmocka_unit_test(test_events_are_told_once_per_window),
		cmocka_unit_test(test_event_payloads),
		cmocka_unit_test(test_slack_text_stays_under_its_limit),
		cmocka_unit_test(test_backoff_is_full_jitter_within_bounds),
		cmocka_unit_test(test_delivery_retries_then_succeeds),
		cmocka_unit_test(test_delivery_gives_up_after_four_attempts),
		cmocka_unit_test(test_delivery_does_not_retry_a_refusal),
		cmocka_unit_test(test_delivery_stops_when_the_notifier_stops),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_reports_every_error_without_the_url),
	};
	return cmocka_run_group_tests_name("notifier", tests, NULL, NULL);
}
