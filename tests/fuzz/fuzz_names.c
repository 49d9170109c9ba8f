/* Names, versions and times from Git: every check of base/names, semver and timeparse on the
 * input as one C string, and the round trips they promise: a duration or an RFC 3339 time that
 * parses formats back to text that parses to the same value; a version equals itself, and a
 * range that parses is asked about it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"
#include "base/names.h"
#include "base/semver.h"
#include "base/timeparse.h"
#include "tests/fuzz/fuzz.h"

/* 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z, in seconds since the epoch. */
#define RFC3339_YEAR_0 (-62167219200LL)
#define RFC3339_YEAR_10000 253402300800LL

static void names(const char *s)
{
	struct cf_err err = {{0}};

	(void)name_check_dns_label(s, &err);
	(void)name_check_dns_subdomain(s, &err);
	(void)name_check_git_tag(s, &err);
	(void)name_check_git_ref(s, &err);
	(void)name_check_path_component(s, &err);
	if (name_check_relative_path(s, &err) == 0)
		fuzz_require(s[0] != '/' && strcmp(s, "..") && strncmp(s, "../", 3) &&
				     !strstr(s, "/../"),
			     "relative path %s escapes its root", s);
	(void)name_is_secret_key(s);
	(void)name_is_secret_value(s);
}

static void versions(const char *s)
{
	struct cf_err err = {{0}};
	struct semver v, tag;
	struct semver_range *r = NULL;
	bool have_v = semver_parse(s, &v, &err) == 0;

	if (have_v)
		fuzz_require(semver_compare(&v, &v) == 0, "%s differs from itself", s);
	if (semver_parse_tag(s, &tag) == 0 && have_v)
		fuzz_require(semver_compare(&v, &tag) == 0, "%s as a tag differs", s);
	if (semver_range_parse(s, &r, &err) == 0) {
		struct semver probe = {1, 2, 3, "", ""};
		(void)semver_range_match(r, have_v ? &v : &probe);
		semver_range_free(r);
	}
}

static void times(const char *s)
{
	struct cf_err err = {{0}};
	int64_t ms, again_ms;
	time_t t, again_t;
	char text[64];

	if (duration_parse(s, &ms, &err) == 0) {
		fuzz_require(ms > 0, "duration %s is %lld ms", s, (long long)ms);
		duration_format(ms, text, sizeof(text));
		fuzz_require(duration_parse(text, &again_ms, &err) == 0 && again_ms == ms,
			     "%s is %lld ms, formats as %s", s, (long long)ms, text);
	}
	/* An offset or a leap second may carry a time written in the years 0000-9999 just outside
	 * them, which parses (test_timeparse accepts it on purpose) but formats with a year RFC 3339
	 * cannot hold: the round trip is promised for the years 0000-9999 in UTC. */
	if (rfc3339_parse(s, &t, &err) == 0 && t >= RFC3339_YEAR_0 && t < RFC3339_YEAR_10000) {
		rfc3339_format(t, text, sizeof(text));
		fuzz_require(rfc3339_parse(text, &again_t, &err) == 0 && again_t == t,
			     "%s formats as %s, which reads back differently", s, text);
	}
	rfc3339_format_ms((int64_t)strlen(s) * 86400000LL * 365 * 37, text, sizeof(text));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstring(data, size);

	names(s);
	versions(s);
	times(s);
	free(s);
	return 0;
}
