/* lockcheck: lock parity, the check that the OpenClaw a node runs is the one openclaw.lock pins.
 * lockcheck_file_sha256 hashes the lock file's bytes (what peers compare); the rest is pure.
 * `openclaw --version` prints "OpenClaw 2026.7.1 (3f9c2ab)", "OpenClaw 2026.7.1" or, on old
 * builds, the bare "2026.7.1": one line, calendar versions YYYY.M.PATCH with an optional
 * "-beta.N" or "-N" correction. Versions match when equal; commits are compared only when both
 * sides name one, and then the shorter must be a prefix of the longer (abbreviations differ). */
#ifndef CLAWFLEET_LOCKCHECK_H
#define CLAWFLEET_LOCKCHECK_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "desired/desired.h"

#define LOCKCHECK_VERSION_MAX 64
#define LOCKCHECK_REASON_MAX 256
/* More than `openclaw --version` ever prints; longer output is not a version. */
#define LOCKCHECK_OUTPUT_MAX 4096

struct openclaw_version {
	char version[LOCKCHECK_VERSION_MAX]; /* "2026.7.1", "2026.7.1-beta.2", "2026.5.3-1" */
	char commit[41];                     /* lower-case short or full hex; "" when not printed */
};

/* sha256 (hex) of <infra_path>/openclaw.lock, read whole up to TREEFILES_MAX_FILE bytes. */
int lockcheck_file_sha256(const char *infra_path, char out[65], struct cf_err *err);
/* Parses the output of `openclaw --version`; unparseable output is an error quoting its first
 * line. */
int lockcheck_parse_version(const char *output, size_t len, struct openclaw_version *out,
			    struct cf_err *err);
/* True when v matches the lock; otherwise false with reason filled ("openclaw --version reports
 * 2026.7.0, openclaw.lock pins 2026.7.1"). A lock without a version never matches. */
bool lockcheck_matches(const struct openclaw_version *v, const struct openclaw_lock *lock,
		       char reason[LOCKCHECK_REASON_MAX]);

#endif
