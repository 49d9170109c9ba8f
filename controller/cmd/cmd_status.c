/* clawfleet status: the controller's GET /status as a table for people, or as it came (--json). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "cmd/ctlclient.h"
#include "cmd/status_table.h"

static const char status_usage[] =
	"usage: clawfleet status [--url URL] [--json]\n"
	"  reads the controller's GET /status (default " CTLCLIENT_DEFAULT_URL ") and prints the\n"
	"  rollout, one row per node (status, since when, first reason) and the load balancer's\n"
	"  weights; --json prints the document itself\n";

int cmd_status(int argc, char **argv)
{
	const char *base = CTLCLIENT_DEFAULT_URL;
	bool as_json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
			base = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			as_json = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(status_usage, stdout);
			return 0;
		} else {
			fputs(status_usage, stderr);
			return 2;
		}
	}
	/* Every node, whatever the fleet's size: the table lists them all (README "GET /status"). */
	return ctlclient_show(base, "/status?nodes=all", "status", as_json, status_table_print);
}
