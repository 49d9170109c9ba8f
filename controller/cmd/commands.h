/* commands: the subcommands of the clawfleet binary. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit status: 0 success, 1 the command
 * ran and found a problem (invalid configuration, failed action), 2 a usage error. */
#ifndef CLAWFLEET_COMMANDS_H
#define CLAWFLEET_COMMANDS_H

int cmd_validate(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_audit(int argc, char **argv);
/* clawfleet audit export (cmd_audit hands it its arguments; argv[1] is "export") */
int cmd_audit_export(int argc, char **argv);
/* clawfleet store migrate */
int cmd_store(int argc, char **argv);
int cmd_notifier(int argc, char **argv);
int cmd_token(int argc, char **argv);
/* clawfleet token rotate-fleet (cmd_token hands it the arguments from "rotate-fleet" on) */
int cmd_token_fleet(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_controller(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_demo(int argc, char **argv);
/* clawfleet rollout: the writing verbs (one commit each); any other verb goes to
 * cmd_rollout_read (get, history). */
int cmd_rollout(int argc, char **argv);
/* clawfleet rollout get|history: reads the rollout from the controller (argv[1] is the verb). */
int cmd_rollout_read(int argc, char **argv);
/* Not in the usage: the failpoints (base/failpoint.h), one name a line, for the tests. */
int cmd_failpoints(int argc, char **argv);

#endif
