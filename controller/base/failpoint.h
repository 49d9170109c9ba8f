/* failpoint: named places at the side effects of the controller and the agent where a test can
 * make the process die, to show that a crash at any of them leaves nothing a restart does not
 * finish. CLAWFLEET_FAILPOINT=NAME arms the failpoint NAME, NAME:N its N-th hit in this process
 * (1 to FAILPOINT_NTH_MAX); main reads the variable once, before any thread starts, and refuses
 * to run with a value that names no failpoint, so a typo never passes for a crash survived. When
 * the process reaches the armed failpoint it logs "failpoint NAME: killing myself" and raises
 * SIGKILL: no handler, no cleanup, nothing flushed, as a power cut or the OOM killer would. A
 * ".before" failpoint comes right before a side effect, its ".after" as soon as the call that
 * makes it returns (also when it failed). With the variable unset (always, outside tests)
 * failpoint_hit reads one flag that never changes after start.
 *
 * The names are one table, failpoint_names in failpoint.c, in the order a rollout reaches them;
 * `clawfleet failpoints` prints it for the tests that walk them (tests/integration/failpoints.sh),
 * and test_failpoint checks that each name is in exactly one failpoint_hit() of the source and
 * that every failpoint_hit() names an entry. */
#ifndef CLAWFLEET_FAILPOINT_H
#define CLAWFLEET_FAILPOINT_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define FAILPOINT_ENV "CLAWFLEET_FAILPOINT"
#define FAILPOINT_NTH_MAX 1000000

extern const char *const failpoint_names[];
extern const size_t failpoint_count;

/* Arms the failpoint that value ("NAME" or "NAME:N") names, replacing any armed before; NULL or
 * "" disarms. -1 with err saying what is wrong, and nothing armed, when value names no entry of
 * the table or N is not a number from 1 to FAILPOINT_NTH_MAX. Not thread-safe: call it before
 * any thread that may reach a failpoint starts. */
int failpoint_arm(const char *value, struct cf_err *err);
/* failpoint_arm(getenv(FAILPOINT_ENV)), the message naming the variable. */
int failpoint_init(struct cf_err *err);

/* Whether a failpoint is armed; written only by failpoint_arm. */
extern bool failpoint_armed;
/* Counts a hit of name when it is the armed failpoint, and kills the process on the N-th. */
void failpoint_reached(const char *name);

/* The place name: dies here when armed to (see above), else returns at once. */
static inline void failpoint_hit(const char *name)
{
	if (failpoint_armed)
		failpoint_reached(name);
}

#endif
