/* clawfleet audit verify: checks a controller's promotions.jsonl for edits and lost lines. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "record/audit.h"


static const char audit_usage[] =
	"usage: clawfleet audit verify FILE\n"
	"  checks that every line of FILE (a controller's promotions.jsonl) is canonical JSON\n"
	"  whose prev is the sha256 of the line before it; exits 1 at the first broken line\n";

static bool is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cmd_audit(int argc, char **argv)
{
	struct audit_verify_result res;
	struct cf_err err;

	if ((argc == 2 || argc == 3) && is_help(argv[argc - 1])) {
		fputs(audit_usage, stdout);
		return 0;
	}
	if (argc != 3 || strcmp(argv[1], "verify") != 0 || argv[2][0] == '-') {
		fputs(audit_usage, stderr);
		return 2;
	}
	if (audit_verify(argv[2], &res, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	printf("audit chain OK: %zu %s, last %s\n", res.entries,
	       res.entries == 1 ? "entry" : "entries", res.last);
	return 0;
}
