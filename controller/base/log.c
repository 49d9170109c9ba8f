#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/clock.h"
#include "base/timeparse.h"

static const char *log_role = "clawfleet";
static enum log_level log_min = LOG_INFO;

void log_init(const char *role, enum log_level min)
{
	log_role = role;
	log_min = min;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	if (level < log_min)
		return;
	char line[2048], ts[RFC3339_MS_MAX];
	rfc3339_format_ms(clock_epoch_ms(), ts, sizeof(ts));
	int n = snprintf(line, sizeof(line), "%s %s %s: ", ts, log_role, names[level]);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs per line: stdio locks the stream, so threads never interleave a line. */
	fprintf(stderr, "%s\n", line);
}
