#include "plan/hooks.h"

#include <stdio.h>

void hook_result_describe(const struct hook_result *r, char *dst, size_t size)
{
	if (r->status)
		snprintf(dst, size, "HTTP %ld", r->status);
	else if (r->error[0])
		snprintf(dst, size, "%s", r->error);
	else
		snprintf(dst, size, "no answer yet");
}

const char *hook_verdict_name(enum hook_verdict v)
{
	switch (v) {
	case HOOK_PENDING:
		return "pending";
	case HOOK_PASSED:
		return "passed";
	case HOOK_FAILED:
		return "failed";
	}
	return "?";
}
