/* log: one line per event on standard error, "2026-11-21T03:40:00.123Z agent warn: message",
 * written whole (safe from several threads). Daemons under launchd/systemd get timestamps and
 * levels that grep well. Never pass tokens or request bodies. */
#ifndef CLAWFLEET_LOG_H
#define CLAWFLEET_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(const char *role, enum log_level min);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
