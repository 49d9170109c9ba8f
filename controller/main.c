/* clawfleet: one binary, several roles; this file only dispatches to them. */
#include <stdio.h>
#include <string.h>

#include "base/failpoint.h"
#include "cmd/commands.h"
#include "source/gitsource.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

static const struct command commands[] = {
	{"validate", cmd_validate, "validate [--ref REF] [--timeout DURATION] SOURCE"},
	{"version", cmd_version, "version [--json]"},
	{"audit", cmd_audit, "audit verify FILE [--head HASH [--lines N]] | audit head FILE | audit export --store etcd://HOST:PORT[,HOST:PORT]/PREFIX [--out FILE]"},
	{"store", cmd_store, "store migrate --from file:DIR --to etcd://HOST:PORT[,HOST:PORT]/PREFIX [--force]"},
	{"notifier", cmd_notifier, "notifier --config FILE"},
	{"token", cmd_token, "token stage|promote|revoke --dir DIR --actor A --ticket T [--audit FILE] [--controller URL] [--overlap D] [--stdin] | token rotate-fleet --repo SOURCE --controller URL --agent-token FILE --actor A --ticket T"},
	{"agent", cmd_agent, "agent --config FILE [--listen ADDR] [--root DIR] [--node NAME]"},
	{"controller", cmd_controller, "controller --config FILE [--listen ADDR] [--state DIR] [--source URL]"},
	{"status", cmd_status, "status [--url URL] [--json]"},
	{"plan", cmd_plan, "plan --observed FILE [--ref REF] SOURCE | plan --controller URL [--json]"},
	{"demo", cmd_demo, "demo [--fast]"},
	{"rollout", cmd_rollout, "rollout get [--watch] [--json] [--controller URL] | rollout history [--json] [--controller URL] | rollout pause|resume|abort|promote [--full]|undo [--to TAG]|retry TAG --ticket T [--source URL|PATH] [--ref BRANCH] [--author A] [--message M] [--controller URL] [--wait] [--json]"},
	{"failpoints", cmd_failpoints, NULL}, /* for the tests: not in the usage */
	/* The Git fetch child the controller and the agent start: not in the usage. */
	{GITSOURCE_FETCH_COMMAND, gitsource_fetch_child_main, NULL},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: clawfleet COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].usage)
			fprintf(out, "  clawfleet %s\n", commands[i].usage);
}

int main(int argc, char **argv)
{
	struct cf_err err;
	if (failpoint_init(&err) < 0) {
		fprintf(stderr, "clawfleet: %s\n", err.msg);
		return 2;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "clawfleet: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
