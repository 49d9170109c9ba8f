#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
	char head[CF_ERR_MSG];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	snprintf(err->msg, sizeof(err->msg), "%s: %s", head, strerror(saved));
	errno = saved;
	return -1;
}

int cf_err_prefix(struct cf_err *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char head[CF_ERR_MSG], tail[CF_ERR_MSG];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	memcpy(tail, err->msg, sizeof(tail));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", head, tail);
	return -1;
}
