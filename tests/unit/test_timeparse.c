#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timeparse.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define DAY_MS (24LL * 3600 * 1000)

static void test_duration_valid(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int64_t ms;
	} cases[] = {
		{ "1ms", 1 },
		{ "250ms", 250 },
		{ "1s", 1000 },
		{ "5m", 300000 },
		{ "1h", 3600000 },
		{ "1h30m", 5400000 },
		{ "1m30s", 90000 },
		{ "1h0m0s", 3600000 },
		{ "1h2m3s4ms", 3723004 },
		{ "30m1h", 5400000 },
		{ "1m1m", 120000 },
		{ "1.5h", 5400000 },
		{ "1.5s", 1500 },
		{ "0.5s", 500 },
		{ "1.0005s", 1000 },
		{ "0.001s", 1 },
		{ "2.25m", 135000 },
		{ "0.1ms1ms", 1 },
		{ "010s", 10000 },
		{ "1.000000000000000000001h", 3600000 },
		{ "0.999999999999h", 3599999 },
		{ "744h", 31 * DAY_MS },
		{ "743h60m", 31 * DAY_MS },
		{ "2678400000ms", 31 * DAY_MS },
		{ "2678400s", 31 * DAY_MS },
		{ "44640m", 31 * DAY_MS },
		{ "743.99h", 2678364000 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		int64_t ms = -1;
		struct cf_err err = { "" };
		if (duration_parse(cases[i].s, &ms, &err) < 0)
			fail_msg("%s: %s", cases[i].s, err.msg);
		if (ms != cases[i].ms)
			fail_msg("%s: got %lld, want %lld", cases[i].s, (long long)ms, (long long)cases[i].ms);
	}
}

static void test_duration_invalid(void **state)
{
	(void)state;
	static const struct {
		const char *s, *msg;
	} cases[] = {
		{ "5", "\"5\": a duration needs a unit (ms, s, m, h)" },
		{ "1h30", "\"1h30\": a duration needs a unit (ms, s, m, h)" },
		{ "", "\"\": a duration must not be empty" },
		{ "0s", "\"0s\": a duration must be at least 1ms" },
		{ "0h0m", "must be at least 1ms" },
		{ "0.0001s", "must be at least 1ms" },
		{ "-5m", "\"-5m\": a duration must be positive" },
		{ "+5m", "a duration is numbers with units, like 5m, 1.5h or 1h30m" },
		{ "h", "a duration is numbers with units" },
		{ ".5s", "a duration is numbers with units" },
		{ " 5m", "\" 5m\": no whitespace in a duration" },
		{ "5m ", "no whitespace in a duration" },
		{ "5.s", "\"5.s\": a \".\" in a duration needs digits after it" },
		{ "5..5s", "needs digits after it" },
		{ "1d", "\"1d\": unknown unit \"d\" in a duration (use ms, s, m or h)" },
		{ "5 m", "no whitespace in a duration" },
		{ "5m\n", "no whitespace in a duration" },
		{ "5us", "unknown unit \"us\"" },
		{ "5ns", "unknown unit \"ns\"" },
		{ "5min", "unknown unit \"min\"" },
		{ "5M", "unknown unit \"M\"" },
		{ "5sec", "unknown unit \"sec\"" },
		{ "5m5", "needs a unit" },
		{ "744h1ms", "\"744h1ms\": a duration must be at most 31 days (744h)" },
		{ "745h", "at most 31 days" },
		{ "744.0001h", "at most 31 days" },
		{ "2678400001ms", "at most 31 days" },
		{ "99999999999999999999999999999h", "at most 31 days" },
		{ "99999999999999999999999999999ms", "at most 31 days" },
		{ "9223372036854775807ms", "at most 31 days" },
		{ "400h400h", "at most 31 days" },
		{ "1.5.5h", "needs a unit" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		int64_t ms = 42;
		struct cf_err err = { "" };
		if (duration_parse(cases[i].s, &ms, &err) == 0)
			fail_msg("%s: accepted as %lld", cases[i].s, (long long)ms);
		assert_int_equal(ms, 42);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].s, err.msg, cases[i].msg);
	}
	int64_t ms;
	assert_int_equal(duration_parse("x", &ms, NULL), -1);
}

static void test_duration_format(void **state)
{
	(void)state;
	static const struct {
		int64_t ms;
		const char *s;
	} cases[] = {
		{ 90000, "1m30s" },
		{ 250, "250ms" },
		{ 3600000, "1h" },
		{ 5400000, "1h30m" },
		{ 3605000, "1h5s" },
		{ 1500, "1s500ms" },
		{ 1, "1ms" },
		{ 1000, "1s" },
		{ 60000, "1m" },
		{ 3723004, "1h2m3s4ms" },
		{ 31 * DAY_MS, "744h" },
		{ 0, "0s" },
		{ -90000, "-1m30s" },
		{ INT64_MAX, "2562047788015h12m55s807ms" },
		{ INT64_MIN, "-2562047788015h12m55s808ms" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		char out[32];
		duration_format(cases[i].ms, out, sizeof(out));
		assert_string_equal(out, cases[i].s);
	}
	/* a small buffer truncates and stays terminated; zero length writes nothing */
	char small[4] = "zzz";
	duration_format(90000, small, sizeof(small));
	assert_string_equal(small, "1m3");
	duration_format(90000, small, 0);
	assert_string_equal(small, "1m3");
}

static void test_duration_round_trip(void **state)
{
	(void)state;
	/* every positive value up to the limit formats into something that parses back to it */
	static const int64_t samples[] = { 1, 999, 1000, 1001, 59999, 60000, 61001, 3599999,
					   3600000, 86400000, 31 * DAY_MS - 1, 31 * DAY_MS };
	for (size_t i = 0; i < N(samples); i++) {
		char out[32];
		int64_t back = 0;
		struct cf_err err = { "" };
		duration_format(samples[i], out, sizeof(out));
		if (duration_parse(out, &back, &err) < 0)
			fail_msg("%s: %s", out, err.msg);
		assert_int_equal(back, samples[i]);
	}
	for (int64_t ms = 1; ms <= 31 * DAY_MS; ms = ms * 3 + 7) {
		char out[32];
		int64_t back = 0;
		duration_format(ms, out, sizeof(out));
		assert_int_equal(duration_parse(out, &back, NULL), 0);
		assert_int_equal(back, ms);
	}
}

static void test_rfc3339_valid(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		long long t;
	} cases[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1970-01-01T00:00:01Z", 1 },
		{ "1969-12-31T23:59:59Z", -1 },
		{ "2026-11-21T03:00:00Z", 1795230000 },
		{ "2026-11-21T05:00:00+02:00", 1795230000 },
		{ "2026-11-20T22:30:00-04:30", 1795230000 },
		{ "2026-11-21T03:00:00-00:00", 1795230000 },
		{ "2026-11-21t03:00:00z", 1795230000 },
		{ "2026-11-21T03:00:00.5Z", 1795230000 },
		{ "2026-11-21T03:00:00.999999999Z", 1795230000 },
		{ "2026-11-21T03:00:00.123456789012345678901234567890+00:00", 1795230000 },
		{ "2000-02-29T00:00:00Z", 951782400 },
		{ "2024-02-29T12:00:00Z", 1709208000 },
		{ "2001-09-09T01:46:40Z", 1000000000 },
		{ "2038-01-19T03:14:08Z", 2147483648LL },
		{ "2016-12-31T23:59:60Z", 1483228800 },
		{ "2017-01-01T00:00:00Z", 1483228800 },
		{ "1600-02-29T00:00:00Z", -11670998400LL },
		{ "0000-01-01T00:00:00Z", -62167219200LL },
		{ "9999-12-31T23:59:59Z", 253402300799LL },
		{ "0000-01-01T00:00:00+23:59", -62167219200LL - 86340 },
		{ "9999-12-31T23:59:59-23:59", 253402300799LL + 86340 },
		{ "1996-12-19T16:39:57-08:00", 851042397 },
		{ "1990-12-31T23:59:60Z", 662688000 },
		{ "1990-12-31T15:59:60-08:00", 662688000 },
		{ "1937-01-01T12:00:27.87+00:20", -1041336000 + 27 - 1200 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		time_t t = 7;
		struct cf_err err = { "" };
		if (rfc3339_parse(cases[i].s, &t, &err) < 0)
			fail_msg("%s: %s", cases[i].s, err.msg);
		if ((long long)t != cases[i].t)
			fail_msg("%s: got %lld, want %lld", cases[i].s, (long long)t, cases[i].t);
	}
}

static void test_rfc3339_invalid(void **state)
{
	(void)state;
	static const char shape[] = "not an RFC 3339 timestamp like 2026-11-21T03:00:00Z";
	static const struct {
		const char *s, *msg;
	} cases[] = {
		{ "", shape },
		{ "2026-11-21", shape },
		{ "2026-11-21 03:00:00Z", shape },
		{ "2026-11-21X03:00:00Z", shape },
		{ "26-11-21T03:00:00Z", shape },
		{ "2026-1-21T03:00:00Z", shape },
		{ "2026-11-21T3:00:00Z", shape },
		{ "2026-11-21T03:00Z", shape },
		{ "2026/11/21T03:00:00Z", shape },
		{ "+2026-11-21T03:00:00Z", shape },
		{ " 2026-11-21T03:00:00Z", shape },
		{ "2026-11-21T03:00:00+0200", shape },
		{ "2026-11-21T03:00:00+2:00", shape },
		{ "2026-11-21T03:00:00+02", shape },
		{ "2026-11-21T03:00:00", "a timestamp needs a time zone: Z or an offset like +02:00" },
		{ "2026-11-21T03:00:00UTC", "needs a time zone" },
		{ "2026-11-21T03:00:00.Z", "a \".\" after the seconds needs digits" },
		{ "2026-11-21T03:00:00,5Z", "needs a time zone" },
		{ "2026-11-21T03:00:00Z ", "unexpected text after the time zone" },
		{ "2026-11-21T03:00:00ZZ", "unexpected text after the time zone" },
		{ "2026-11-21T03:00:00+02:00:00", "unexpected text after the time zone" },
		{ "2026-00-21T03:00:00Z", "month 0 out of range 1-12" },
		{ "2026-13-21T03:00:00Z", "\"2026-13-21T03:00:00Z\": month 13 out of range 1-12" },
		{ "2026-11-00T03:00:00Z", "day 0 out of range for 2026-11 (30 days)" },
		{ "2026-11-31T03:00:00Z", "day 31 out of range for 2026-11 (30 days)" },
		{ "2026-01-32T03:00:00Z", "day 32 out of range for 2026-01 (31 days)" },
		{ "2023-02-29T00:00:00Z", "day 29 out of range for 2023-02 (28 days)" },
		{ "1900-02-29T00:00:00Z", "day 29 out of range for 1900-02 (28 days)" },
		{ "2024-02-30T00:00:00Z", "day 30 out of range for 2024-02 (29 days)" },
		{ "2026-04-31T00:00:00Z", "(30 days)" },
		{ "2026-06-31T00:00:00Z", "(30 days)" },
		{ "2026-09-31T00:00:00Z", "(30 days)" },
		{ "2026-11-21T24:00:00Z", "hour 24 out of range 0-23" },
		{ "2026-11-21T03:60:00Z", "minute 60 out of range 0-59" },
		{ "2026-11-21T03:00:61Z", "second 61 out of range 0-60" },
		{ "2026-11-21T03:00:00+24:00", "offset hour 24 out of range 0-23" },
		{ "2026-11-21T03:00:00-01:60", "offset minute 60 out of range 0-59" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		time_t t = 7;
		struct cf_err err = { "" };
		if (rfc3339_parse(cases[i].s, &t, &err) == 0)
			fail_msg("%s: accepted as %lld", cases[i].s, (long long)t);
		assert_int_equal(t, 7);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].s, err.msg, cases[i].msg);
	}
	time_t t;
	assert_int_equal(rfc3339_parse("x", &t, NULL), -1);
}

static void test_rfc3339_format(void **state)
{
	(void)state;
	static const struct {
		long long t;
		const char *s;
	} cases[] = {
		{ 0, "1970-01-01T00:00:00Z" },
		{ -1, "1969-12-31T23:59:59Z" },
		{ -86400, "1969-12-31T00:00:00Z" },
		{ -86401, "1969-12-30T23:59:59Z" },
		{ 1795230000, "2026-11-21T03:00:00Z" },
		{ 951782400, "2000-02-29T00:00:00Z" },
		{ 2147483648LL, "2038-01-19T03:14:08Z" },
		{ -11670998400LL, "1600-02-29T00:00:00Z" },
		{ -62167219200LL, "0000-01-01T00:00:00Z" },
		{ 253402300799LL, "9999-12-31T23:59:59Z" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		char out[32];
		rfc3339_format((time_t)cases[i].t, out, sizeof(out));
		assert_string_equal(out, cases[i].s);
	}
	/* exactly the documented 21 bytes suffice */
	char out[21];
	rfc3339_format(1795230000, out, sizeof(out));
	assert_string_equal(out, "2026-11-21T03:00:00Z");
	/* extremes must not trip the arithmetic (checked by the sanitizers) */
	char big[64];
	rfc3339_format((time_t)INT64_MAX, big, sizeof(big));
	rfc3339_format((time_t)INT64_MIN, big, sizeof(big));
	rfc3339_format(0, big, 0);
}

/* The log's, the audit's and the status's timestamp: milliseconds after the seconds. */
static void test_rfc3339_format_ms(void **state)
{
	(void)state;
	static const struct {
		long long ms;
		const char *s;
	} cases[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ 1, "1970-01-01T00:00:00.001Z" },
		{ -1, "1969-12-31T23:59:59.999Z" },
		{ -1000, "1969-12-31T23:59:59.000Z" },
		{ -1001, "1969-12-31T23:59:58.999Z" },
		{ 1795232400123LL, "2026-11-21T03:40:00.123Z" },
		{ 253402300799999LL, "9999-12-31T23:59:59.999Z" },
		{ 253402300800000LL, "10000-01-01T00:00:00.000Z" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		char out[RFC3339_MS_MAX];
		rfc3339_format_ms(cases[i].ms, out, sizeof(out));
		assert_string_equal(out, cases[i].s);
	}
	/* exactly the documented 25 bytes suffice for a four-digit year */
	char out[25];
	rfc3339_format_ms(1795232400123LL, out, sizeof(out));
	assert_string_equal(out, "2026-11-21T03:40:00.123Z");
}

static void test_rfc3339_round_trip(void **state)
{
	(void)state;
	/* every day from 1800 to 2300 at a time that changes day to day, both directions */
	for (long long t = -5364662400LL; t < 10413792000LL; t += 86400 + 3607) {
		char out[32];
		time_t back = 0;
		struct cf_err err = { "" };
		rfc3339_format((time_t)t, out, sizeof(out));
		if (rfc3339_parse(out, &back, &err) < 0)
			fail_msg("%s: %s", out, err.msg);
		if ((long long)back != t)
			fail_msg("%s: got %lld, want %lld", out, (long long)back, t);
	}
}

/* The answer must not depend on the local time zone. */
static void test_rfc3339_ignores_tz(void **state)
{
	(void)state;
	time_t t = 0;
	char out[32];
	setenv("TZ", "Pacific/Chatham", 1);
	assert_int_equal(rfc3339_parse("2026-11-21T03:00:00Z", &t, NULL), 0);
	assert_int_equal((long long)t, 1795230000);
	rfc3339_format(t, out, sizeof(out));
	assert_string_equal(out, "2026-11-21T03:00:00Z");
	unsetenv("TZ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_valid),   cmocka_unit_test(test_duration_invalid),
		cmocka_unit_test(test_duration_format),  cmocka_unit_test(test_duration_round_trip),
		cmocka_unit_test(test_rfc3339_valid),    cmocka_unit_test(test_rfc3339_invalid),
		cmocka_unit_test(test_rfc3339_format),   cmocka_unit_test(test_rfc3339_format_ms),
		cmocka_unit_test(test_rfc3339_round_trip),
		cmocka_unit_test(test_rfc3339_ignores_tz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
