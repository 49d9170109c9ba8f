/* service: the gateway's service manager behind one table of drivers, as curl's TLS backends, so
 * callers never know which one runs. launchd: `launchctl kickstart -k <target>` and `launchctl
 * print <target>`; systemd: `systemctl --user restart <unit>` and `systemctl --user show`;
 * openclaw: `openclaw gateway restart` and `openclaw gateway status --json`; command: argv lists
 * from the configuration, the status command printing {"running":bool,"pid":N,"lastExit":N}.
 * launchd's restart lints the plist launchd loaded the job from first (reconcilers/plist.h: the
 * path `launchctl print` names, else the configured one, service.plist) and refuses the reload
 * when it does not pass, with an error starting "plist.invalid: "; a plist file that does not
 * exist is not linted (launchd runs the copy it loaded). Only launchd lints: systemd, openclaw
 * and command managers reload no plist, so they restart without one, and their status names
 * none (plist_path ""), so the probe's plist checks skip them too. restart returns once the manager has done it. status returns 0 whenever the manager answered,
 * a service it does not know included (not running, with the reason in error); -1 when it could
 * not answer (a failing or hung command, output that does not parse). Every command runs through
 * proc with the configuration's deadline and environment overlay. */
#ifndef CLAWFLEET_SERVICE_H
#define CLAWFLEET_SERVICE_H
#include <stdbool.h>

#include "base/err.h"

#define SERVICE_TIMEOUT_DEFAULT_MS 30000
#define SERVICE_ERROR_MAX 512
#define SERVICE_PATH_MAX 1024
#define SERVICE_DEFAULT_LAUNCHD_LABEL "ai.openclaw.gateway" /* in the domain gui/<uid> */
#define SERVICE_DEFAULT_SYSTEMD_UNIT "openclaw-gateway.service"

struct service_config {
	const char *manager; /* launchd | systemd | openclaw | command */
	/* launchd: a service target (gui/501/ai.openclaw.gateway); systemd: a unit name. NULL: the
	 * manager's default (gui/<uid>/ai.openclaw.gateway, openclaw-gateway.service). */
	const char *label;
	/* Executables; NULL: "launchctl", "systemctl", "openclaw" searched in PATH. */
	const char *launchctl;
	const char *systemctl;
	const char *openclaw;
	char *const *restart_argv; /* the command manager's, NULL-terminated */
	char *const *status_argv;
	/* launchd: the job's plist when `launchctl print` names none (older releases, a job
	 * loaded from a path launchd does not report); NULL: none. Other managers ignore it. */
	const char *plist;
	char *const *env; /* KEY=VALUE overlay for every command (OPENCLAW_PROFILE, ...); may be NULL */
	int timeout_ms;	  /* per command; <= 0: SERVICE_TIMEOUT_DEFAULT_MS */
};

struct service_status {
	bool running;
	int pid; /* 0 when not running or not reported */
	bool has_last_exit;
	int last_exit; /* a death by signal N is 128 + N */
	/* The signal that ended the last run, as the manager reported it (launchd's "last
	 * terminating signal", systemd's killed or dumped); 0 when it exited or nobody said. */
	int last_signal;
	/* One line on why the gateway is not running or its state is unknown; "" otherwise. */
	char error[SERVICE_ERROR_MAX];
	/* What launchd says the job is made of ("path", "stderr path"; the path service_config's
	 * plist when launchd names none); "" when it did not say or another manager answered. */
	char plist_path[SERVICE_PATH_MAX];
	char stderr_path[SERVICE_PATH_MAX];
};

struct service_driver {
	const char *name;
	int (*restart)(const struct service_config *cfg, struct cf_err *err);
	int (*status)(const struct service_config *cfg, struct service_status *st,
		      struct cf_err *err);
};

/* The driver of that name, or NULL. */
const struct service_driver *service_driver_find(const char *name);
/* Through the driver cfg->manager names; an unknown manager is an error listing the known ones. */
int service_restart(const struct service_config *cfg, struct cf_err *err);
int service_status(const struct service_config *cfg, struct service_status *st,
		   struct cf_err *err);

#endif
