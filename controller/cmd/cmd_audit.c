/* clawfleet audit verify: checks a controller's promotions.jsonl for edits and lost lines, on its
 * own or against an anchor (the head and the line count) an operator kept elsewhere; clawfleet
 * audit head prints that anchor; clawfleet audit export (cmd_store.c) writes the chain the etcd
 * store keeps. Exit codes: 0 the chain holds, 1 it does not (or the file
 * cannot be read), 2 usage. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "record/audit.h"


static const char audit_usage[] =
	"usage: clawfleet audit verify FILE [--head HASH [--lines N]]\n"
	"       clawfleet audit head FILE\n"
	"       clawfleet audit export --store etcd://HOST:PORT[,HOST:PORT]/PREFIX [--out FILE]\n"
	"         [--ca FILE] [--cert FILE] [--key FILE]\n"
	"  verify checks that every line of FILE (a controller's promotions.jsonl) is canonical\n"
	"  JSON whose prev is the sha256 of the line before it; with --head, that line N (or,\n"
	"  without --lines, some line) still hashes to HASH, an anchor kept elsewhere, so lines\n"
	"  lost from the end or a line changed with the chain rebuilt after it are caught too.\n"
	"  head verifies FILE and prints its anchor as verify's flags, to keep somewhere else.\n"
	"  export writes the chain kept in etcd under PREFIX (replicas on the etcd store) as JSON\n"
	"  lines to FILE or standard output, for verify; --ca (and --cert, --key) speak https.\n"
	"  Exits 0 when the chain holds, 1 when it does not, 2 on a usage error\n";

static bool is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

static bool parse_head(const char *s, char out[65])
{
	if (strspn(s, "0123456789abcdef") != 64 || s[64])
		return false;
	memcpy(out, s, 65);
	return true;
}

static bool parse_lines(const char *s, uint64_t *out)
{
	char *end = NULL;
	if (s[0] < '0' || s[0] > '9')
		return false;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || v > INT64_MAX)
		return false;
	*out = v;
	return true;
}

/* verify FILE [--head HASH] [--lines N]: argv[2] is FILE. */
static int parse_anchor(int argc, char **argv, struct audit_anchor *want, bool *have_head,
			bool *have_lines)
{
	*have_head = *have_lines = false;
	want->lines = 0;
	for (int i = 3; i < argc; i += 2) {
		bool ok = false;
		if (i + 1 == argc)
			return -1;
		if (strcmp(argv[i], "--head") == 0 && !*have_head)
			ok = *have_head = parse_head(argv[i + 1], want->head);
		else if (strcmp(argv[i], "--lines") == 0 && !*have_lines)
			ok = *have_lines = parse_lines(argv[i + 1], &want->lines);
		if (!ok)
			return -1;
	}
	return *have_lines && !*have_head ? -1 : 0;
}

static void print_ok(const struct audit_verify_result *res)
{
	printf("audit chain OK: %zu %s, last %s\n", res->entries,
	       res->entries == 1 ? "entry" : "entries", res->last);
}

int cmd_audit(int argc, char **argv)
{
	struct audit_verify_result res;
	struct audit_anchor want;
	bool have_head, have_lines;
	uint64_t line = 0;
	struct cf_err err;

	if (argc >= 2 && is_help(argv[argc - 1])) {
		fputs(audit_usage, stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "export") == 0)
		return cmd_audit_export(argc, argv);
	if (argc < 3 || argv[2][0] == '-' ||
	    !(strcmp(argv[1], "verify") == 0 || (strcmp(argv[1], "head") == 0 && argc == 3)) ||
	    parse_anchor(argc, argv, &want, &have_head, &have_lines) < 0) {
		fputs(audit_usage, stderr);
		return 2;
	}
	if (strcmp(argv[1], "head") == 0) {
		if (audit_verify(argv[2], &res, &err) < 0) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		printf("--head %s --lines %zu\n", res.last, res.entries);
		return 0;
	}
	if (have_head ? audit_verify_anchor(argv[2], &want, &res, &line, &err) < 0
		      : audit_verify(argv[2], &res, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	print_ok(&res);
	if (have_head)
		printf("anchor OK: line %" PRIu64 " hashes to %s\n", line, want.head);
	return 0;
}
