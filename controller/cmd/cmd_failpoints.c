#include <stdio.h>

#include "base/failpoint.h"
#include "cmd/commands.h"

int cmd_failpoints(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: clawfleet failpoints\n");
		return 2;
	}
	for (size_t i = 0; i < failpoint_count; i++)
		printf("%s\n", failpoint_names[i]);
	return 0;
}
