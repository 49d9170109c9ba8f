#include "base/timeparse.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define DURATION_MAX_MS (31LL * 24 * 3600 * 1000)
/* Twelve fraction digits keep digits * unit within int64 even for hours (3.6e6 * 1e12). */
#define FRACTION_DIGITS 12
#define SECS_PER_DAY 86400

static const struct unit {
	const char *name;
	int64_t ms;
} units[] = {
	/* largest first, the order duration_format writes them in */
	{ "h", 3600000 },
	{ "m", 60000 },
	{ "s", 1000 },
	{ "ms", 1 },
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static const struct unit *find_unit(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].name) == n && !memcmp(units[i].name, s, n))
			return &units[i];
	return NULL;
}

static int too_long(const char *s, struct cf_err *err)
{
	return cf_err_set(err, "\"%s\": a duration must be at most 31 days (744h)", s);
}

/* One <number><unit>, truncated to whole milliseconds. The integer part saturates just past the
 * limit so no digit string can overflow. */
static int parse_term(const char *s, const char **p, int64_t *out, struct cf_err *err)
{
	const char *q = *p;
	int64_t whole = 0, frac = 0, scale = 1;
	if (!is_digit(*q))
		return cf_err_set(err, "\"%s\": a duration is numbers with units, like 5m, 1.5h or 1h30m",
				  s);
	for (; is_digit(*q); q++)
		if (whole <= DURATION_MAX_MS)
			whole = whole * 10 + (*q - '0');
	if (*q == '.') {
		q++;
		if (!is_digit(*q))
			return cf_err_set(err, "\"%s\": a \".\" in a duration needs digits after it", s);
		for (int n = 0; is_digit(*q); q++, n++) {
			if (n < FRACTION_DIGITS) {
				frac = frac * 10 + (*q - '0');
				scale *= 10;
			}
		}
	}
	size_t ulen = strcspn(q, "0123456789.");
	if (ulen == 0)
		return cf_err_set(err, "\"%s\": a duration needs a unit (ms, s, m, h)", s);
	const struct unit *u = find_unit(q, ulen);
	if (!u)
		return cf_err_set(err, "\"%s\": unknown unit \"%.*s\" in a duration (use ms, s, m or h)",
				  s, (int)ulen, q);
	if (whole > DURATION_MAX_MS / u->ms)
		return too_long(s, err);
	*out = whole * u->ms + frac * u->ms / scale;
	*p = q + ulen;
	return 0;
}

int duration_parse(const char *s, int64_t *ms, struct cf_err *err)
{
	const char *p = s;
	int64_t total = 0;
	if (!*s)
		return cf_err_set(err, "\"\": a duration must not be empty");
	if (*s == '-')
		return cf_err_set(err, "\"%s\": a duration must be positive", s);
	if (s[strcspn(s, " \t\n\r\v\f")])
		return cf_err_set(err, "\"%s\": no whitespace in a duration", s);
	while (*p) {
		int64_t term = 0;
		if (parse_term(s, &p, &term, err) < 0)
			return -1;
		total += term;
		if (total > DURATION_MAX_MS)
			return too_long(s, err);
	}
	if (total == 0)
		return cf_err_set(err, "\"%s\": a duration must be at least 1ms", s);
	*ms = total;
	return 0;
}

void duration_format(int64_t ms, char *out, size_t outlen)
{
	/* unsigned so that the magnitude of INT64_MIN is representable */
	uint64_t left = ms < 0 ? 0 - (uint64_t)ms : (uint64_t)ms;
	char buf[64];
	size_t n = 0;
	if (!outlen)
		return;
	if (ms == 0) {
		snprintf(out, outlen, "0s");
		return;
	}
	if (ms < 0)
		buf[n++] = '-';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		uint64_t count = left / (uint64_t)units[i].ms;
		left %= (uint64_t)units[i].ms;
		if (count)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%" PRIu64 "%s", count,
					      units[i].name);
	}
	snprintf(out, outlen, "%.*s", (int)n, buf);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil): pure
 * arithmetic, so neither TZ nor the C library's time functions can change the answer. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Reads exactly n digits; RFC 3339 fields have fixed widths. */
static bool fixed_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool expect(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

static bool expect_either(const char **p, char a, char b)
{
	return expect(p, a) || expect(p, b);
}

static int bad_shape(const char *s, struct cf_err *err)
{
	return cf_err_set(err, "\"%s\": not an RFC 3339 timestamp like 2026-11-21T03:00:00Z", s);
}

static int out_of_range(const char *s, const char *field, int v, int lo, int hi, struct cf_err *err)
{
	return cf_err_set(err, "\"%s\": %s %d out of range %d-%d", s, field, v, lo, hi);
}

/* The zone: "Z" or "z", or "+HH:MM" / "-HH:MM"; sets the offset east of UTC in seconds. */
static int parse_zone(const char *s, const char **p, int64_t *offset, struct cf_err *err)
{
	int sign, oh, om;
	if (expect_either(p, 'Z', 'z')) {
		*offset = 0;
		return 0;
	}
	if (**p != '+' && **p != '-')
		return cf_err_set(err, "\"%s\": a timestamp needs a time zone: Z or an offset like +02:00",
				  s);
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (!fixed_digits(p, 2, &oh) || !expect(p, ':') || !fixed_digits(p, 2, &om))
		return bad_shape(s, err);
	if (oh > 23)
		return out_of_range(s, "offset hour", oh, 0, 23, err);
	if (om > 59)
		return out_of_range(s, "offset minute", om, 0, 59, err);
	*offset = sign * (oh * 3600 + om * 60);
	return 0;
}

int rfc3339_parse(const char *s, time_t *out, struct cf_err *err)
{
	const char *p = s;
	int year, mon, day, hour, min, sec;
	int64_t offset = 0;
	if (!fixed_digits(&p, 4, &year) || !expect(&p, '-') || !fixed_digits(&p, 2, &mon) ||
	    !expect(&p, '-') || !fixed_digits(&p, 2, &day) || !expect_either(&p, 'T', 't') ||
	    !fixed_digits(&p, 2, &hour) || !expect(&p, ':') || !fixed_digits(&p, 2, &min) ||
	    !expect(&p, ':') || !fixed_digits(&p, 2, &sec))
		return bad_shape(s, err);
	if (mon < 1 || mon > 12)
		return out_of_range(s, "month", mon, 1, 12, err);
	if (day < 1 || day > days_in_month(year, mon))
		return cf_err_set(err, "\"%s\": day %d out of range for %04d-%02d (%d days)", s, day, year,
				  mon, days_in_month(year, mon));
	if (hour > 23)
		return out_of_range(s, "hour", hour, 0, 23, err);
	if (min > 59)
		return out_of_range(s, "minute", min, 0, 59, err);
	/* 60 is a leap second; without a leap table it counts as the first second after it */
	if (sec > 60)
		return out_of_range(s, "second", sec, 0, 60, err);
	if (expect(&p, '.')) {
		if (!is_digit(*p))
			return cf_err_set(err, "\"%s\": a \".\" after the seconds needs digits", s);
		while (is_digit(*p))
			p++;
	}
	if (parse_zone(s, &p, &offset, err) < 0)
		return -1;
	if (*p)
		return cf_err_set(err, "\"%s\": unexpected text after the time zone", s);
	int64_t t = days_from_civil(year, mon, day) * SECS_PER_DAY + hour * 3600 + min * 60 + sec -
		    offset;
	if ((int64_t)(time_t)t != t)
		return cf_err_set(err, "\"%s\": outside the times this system can represent", s);
	*out = (time_t)t;
	return 0;
}

void rfc3339_format(time_t t, char *out, size_t outlen)
{
	int64_t days = (int64_t)t / SECS_PER_DAY, secs = (int64_t)t % SECS_PER_DAY, y;
	int m, d;
	if (!outlen)
		return;
	/* floor division, so times before 1970 land on the right day */
	if (secs < 0) {
		secs += SECS_PER_DAY;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	snprintf(out, outlen, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(secs / 3600),
		 (int)(secs / 60 % 60), (int)(secs % 60));
}

void rfc3339_format_ms(int64_t ms, char *out, size_t outlen)
{
	char secs[32];
	/* floor, as rfc3339_format does: -1 ms is 23:59:59.999 the day before */
	int64_t frac = ms % 1000;
	if (frac < 0)
		frac += 1000;
	rfc3339_format((time_t)((ms - frac) / 1000), secs, sizeof(secs));
	/* "...:SSZ" becomes "...:SS.mmmZ" */
	snprintf(out, outlen, "%.*s.%03dZ", (int)strlen(secs) - 1, secs, (int)frac);
}
