/* timeparse: the two time syntaxes desired state uses. Durations are Go/Flux style: one or more
 * <number><unit> with unit ms, s, m or h ("5m", "1h30m", "1.5s", "250ms"), positive, at most 31
 * days. Timestamps are RFC 3339 ("2026-11-21T03:00:00Z", "...+02:00", fractional seconds
 * allowed, "T" or "t", "Z" or "z") turned into UTC seconds. */
#ifndef CLAWFLEET_TIMEPARSE_H
#define CLAWFLEET_TIMEPARSE_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"

int duration_parse(const char *s, int64_t *ms, struct cf_err *err);
/* Formats ms back as the shortest duration string ("1h30m", "250ms") into out (>= 32 bytes). */
void duration_format(int64_t ms, char *out, size_t outlen);
int rfc3339_parse(const char *s, time_t *out, struct cf_err *err);
/* Formats as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into out (>= 21 bytes). */
void rfc3339_format(time_t t, char *out, size_t outlen);
/* Formats milliseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into out (>= 25
 * bytes; RFC3339_MS_MAX holds any year): the one timestamp of logs, audit lines and status. */
#define RFC3339_MS_MAX 40
void rfc3339_format_ms(int64_t ms, char *out, size_t outlen);

#endif
