#include "base/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Appends sep and tail, truncating what does not fit: a long message loses its end, not all. */
static void append(struct cf_err *err, const char *sep, const char *tail)
{
	size_t len = strnlen(err->msg, sizeof(err->msg) - 1);
	size_t room = sizeof(err->msg) - 1 - len;
	char *p = err->msg + len;
	for (const char *s = sep; *s && room; s++, room--)
		*p++ = *s;
	for (const char *s = tail; *s && room; s++, room--)
		*p++ = *s;
	*p = '\0';
}

int cf_err_set(struct cf_err *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int cf_err_errno(struct cf_err *err, const char *fmt, ...)
{
	int saved = errno;
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	append(err, ": ", strerror(saved));
	errno = saved;
	return -1;
}

int cf_err_prefix(struct cf_err *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char tail[CF_ERR_MSG];
	memcpy(tail, err->msg, sizeof(tail));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	append(err, ": ", tail);
	return -1;
}
