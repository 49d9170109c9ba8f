/* clawfleet rollout get|history: the reading verbs, built on another branch; here a usage error
 * so that the writing verbs link. */
#include <stdio.h>

#include "cmd/commands.h"

int cmd_rollout_read(int argc, char **argv)
{
	fprintf(stderr, "clawfleet rollout: unknown verb \"%s\": want pause, resume, abort, promote, "
			"undo or retry\n",
		argc > 1 ? argv[1] : "");
	return 2;
}
