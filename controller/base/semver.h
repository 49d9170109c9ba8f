/* semver: strict Semantic Versioning 2.0.0 (no "v" prefix, no leading zeros, no missing parts),
 * precedence as the spec defines it (build metadata ignored), and version ranges in the syntax
 * Flux's GitRepository spec.ref.semver accepts (Masterminds/semver): comparisons = != > >= < <=,
 * ~ and ^, the wildcards x, X and *, partial versions, hyphen ranges "1.2 - 1.4", comma or space for AND,
 * "||" for OR. semver_parse_tag also accepts a leading "v" for choosing among git tags. */
#ifndef CLAWFLEET_SEMVER_H
#define CLAWFLEET_SEMVER_H
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

#define SEMVER_MAX 256

struct semver {
	uint64_t major, minor, patch;
	char pre[SEMVER_MAX];   /* "" when none; dot-separated identifiers */
	char build[SEMVER_MAX]; /* "" when none */
};

int semver_parse(const char *s, struct semver *out, struct cf_err *err);
int semver_parse_tag(const char *tag, struct semver *out); /* "v1.2.3" or "1.2.3"; -1 otherwise */
int semver_compare(const struct semver *a, const struct semver *b); /* <0, 0, >0 */

struct semver_range;
int semver_range_parse(const char *expr, struct semver_range **out, struct cf_err *err);
/* Pre-releases match only a comparator that names a pre-release of the same major.minor.patch,
 * as in Masterminds/semver. */
bool semver_range_match(const struct semver_range *r, const struct semver *v);
void semver_range_free(struct semver_range *r);

#endif
