#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/compat.h"
#include "base/err.h"
#include "cmd/commands.h"

/* A build tree keeps the binary in BUILD/ below the source tree, BUILD being one or a few
 * directories (build, build/san): the source tree is the nearest ancestor holding the demo. */
#define MAX_BUILD_DEPTH 3
#define DEMO_SCRIPT "hack/demo.sh"

/* The source tree the running binary was built in, into root; the binary's directory, into exe
 * (both PATH_MAX bytes); *build points into exe at BUILD, the directory relative to root. */
static int find_demo(char *root, char *exe, const char **build, struct cf_err *err)
{
	if (compat_self_exe_path(exe, PATH_MAX) < 0)
		return cf_err_errno(err, "cannot tell where this program lives (run `make demo` in a "
					 "clawfleet source tree)");
	char *slash = strrchr(exe, '/');
	if (!slash || slash == exe)
		return cf_err_set(err, "%s is not in a clawfleet build tree; run `make demo` in a "
				  "clawfleet source tree", exe);
	*slash = '\0';
	strcpy(root, exe);
	for (int depth = 1; depth <= MAX_BUILD_DEPTH; depth++) {
		char *up = strrchr(root, '/');
		if (!up || up == root)
			break;
		*up = '\0';
		char script[PATH_MAX];
		if (snprintf(script, sizeof(script), "%s/%s", root, DEMO_SCRIPT) >=
		    (int)sizeof(script))
			break;
		if (access(script, X_OK) == 0) {
			*build = exe + strlen(root) + 1;
			return 0;
		}
	}
	return cf_err_set(err, "%s is not in a clawfleet build tree (no %s above it); the demo "
			  "needs the source tree's simulated Macs: clone clawfleet and run `make demo`",
			  exe, DEMO_SCRIPT);
}

int cmd_demo(int argc, char **argv)
{
	int fast = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--fast") == 0) {
			fast = 1;
		} else {
			fprintf(stderr, "usage: clawfleet demo [--fast]\n");
			return 2;
		}
	}
	static char root[PATH_MAX], exe[PATH_MAX], script[PATH_MAX + sizeof(DEMO_SCRIPT) + 1];
	const char *build = NULL;
	struct cf_err err = {{0}};
	if (find_demo(root, exe, &build, &err) < 0) {
		fprintf(stderr, "clawfleet demo: %s\n", err.msg);
		return 1;
	}
	snprintf(script, sizeof(script), "%s/%s", root, DEMO_SCRIPT);
	if (setenv("BUILD", build, 1) < 0 || (fast && setenv("DEMO_FAST", "1", 1) < 0)) {
		fprintf(stderr, "clawfleet demo: setting the environment: %s\n", strerror(errno));
		return 1;
	}
	char *demo_argv[] = {script, NULL};
	execv(script, demo_argv);
	fprintf(stderr, "clawfleet demo: running %s: %s\n", script, strerror(errno));
	return 1;
}
