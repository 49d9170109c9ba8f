/* plist: the gateway's launchd property list, linted and read before anything reloads it. A plist
 * that launchd would refuse leaves the gateway down after the next reload, so the agent lints it
 * first and refuses the reload (reason plist.invalid) rather than finding out from the probe.
 *
 * On macOS `plutil -lint` judges the file first (compat_plist_lint). Everywhere, plist_parse
 * reads XML property lists: well-formed XML of the plist elements (plist, dict, key, string,
 * array, integer, real, true, false, date, data), one root value, every key of a dict followed
 * by a value, and what launchd needs to start a job: a string Label and a Program or a non-empty
 * ProgramArguments of strings. It takes from the top-level dict what the cutover checks use:
 * the program launchd runs (Program, else ProgramArguments[0]), the program's first argument
 * (ProgramArguments[1]: the script when the program is node) and the log paths. A binary plist
 * that plutil accepted is valid but not read (its fields stay empty). Errors read
 * "PATH:LINE: what is wrong". Files over PLIST_FILE_MAX are refused. */
#ifndef CLAWFLEET_PLIST_H
#define CLAWFLEET_PLIST_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define PLIST_FILE_MAX (1024 * 1024)
#define PLIST_TEXT_MAX 1024
#define PLIST_DEPTH_MAX 32

struct plist_info {
	bool binary; /* a binary plist: valid per plutil, fields not read */
	char label[PLIST_TEXT_MAX];
	char program[PLIST_TEXT_MAX]; /* Program, else ProgramArguments[0] */
	char first_arg[PLIST_TEXT_MAX]; /* ProgramArguments[1]; "" when absent */
	char stdout_path[PLIST_TEXT_MAX];
	char stderr_path[PLIST_TEXT_MAX];
};

/* Parses text (len bytes, the contents of the file name) into *out; -1 with
 * "name:LINE: message" when it is not a plist launchd could load. */
int plist_parse(const char *name, const char *text, size_t len, struct plist_info *out,
		struct cf_err *err);
/* Lints and reads the file at path: plutil on macOS, then plist_parse. */
int plist_read(const char *path, struct plist_info *out, struct cf_err *err);

#endif
