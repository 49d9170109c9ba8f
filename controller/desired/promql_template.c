#include "desired/promql_template.h"

#include <stdio.h>
#include <string.h>

#define SHOWN_MAX 32 /* characters of an unknown placeholder quoted back */

static const char *const NAMES[] = {[PROMQL_CANARY] = "canary", [PROMQL_STABLE] = "stable",
				    [PROMQL_BACKEND] = "backend", [PROMQL_INTERVAL] = "interval"};

bool promql_next_placeholder(const char *text, struct promql_placeholder *ph)
{
	const char *open = strstr(text, "{{");
	if (!open)
		return false;
	const char *word = open + 2;
	const char *close = strstr(word, "}}");
	ph->open = open;
	ph->end = close ? close + 2 : word + strlen(word);
	ph->closed = close != NULL;
	ph->var = PROMQL_UNKNOWN;
	for (size_t v = 0; close && v < sizeof(NAMES) / sizeof(NAMES[0]); v++)
		if ((size_t)(close - word) == strlen(NAMES[v]) &&
		    strncmp(word, NAMES[v], (size_t)(close - word)) == 0)
			ph->var = (enum promql_var)v;
	return true;
}

void promql_unknown_message(const struct promql_placeholder *ph, char *msg, size_t size)
{
	size_t len = ph->closed ? (size_t)(ph->end - ph->open) - 4 : 0;
	bool whole = ph->closed && len <= SHOWN_MAX;
	snprintf(msg, size,
		 "unknown placeholder {{%.*s%s: the query may use {{canary}}, {{stable}}, "
		 "{{backend}} and {{interval}}",
		 (int)(whole ? len : SHOWN_MAX), ph->open + 2, whole ? "}}" : "...");
}

bool promql_find_unknown(const char *text, struct promql_placeholder *ph)
{
	for (const char *c = text; promql_next_placeholder(c, ph); c = ph->end)
		if (ph->var == PROMQL_UNKNOWN)
			return true;
	return false;
}
