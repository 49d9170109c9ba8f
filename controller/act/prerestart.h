/* prerestart: the checks a node passes before its gateway is restarted onto what a pass
 * installed, so a build that cannot start is never kickstarted (runbooks 001-003: "config lint
 * --tenant", "bounce launchd only after local Doctor passes", "rerun npm ls -g --depth=1 and fail
 * on duplicates"). In order, stopping at the first refusal:
 *   1. the global tree (install_observe): a duplicate copy is packages.duplicate, an unmet
 *      dependency or peer packages.peer;
 *   2. the configuration of each profile (the gateway's own, then each tenant's, with
 *      OPENCLAW_PROFILE): `openclaw config validate --json`, or on a CLI that has no `config
 *      validate` (it answers "unknown command"), `openclaw config lint`; an invalid one is
 *      config.invalid naming the tenant and the first issue ("tenant acme: gateway.port:
 *      expected integer"), a check that cannot run config.unavailable;
 *   3. `openclaw doctor --json --non-interactive` on the new install, judged by doctor.h: red,
 *      or a run that cannot be judged, refuses with the doctor's own code; yellow passes.
 * prerestart_judge_config is the pure reading of one validate or lint run. */
#ifndef CLAWFLEET_PRERESTART_H
#define CLAWFLEET_PRERESTART_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/proc.h"
#include "reconcilers/install.h"

#define PRERESTART_PROFILES_MAX 256

struct prerestart_profile {
	const char *tenant;  /* NULL: the gateway's own configuration */
	const char *profile; /* OPENCLAW_PROFILE; NULL: the default */
};

struct prerestart_config {
	const struct install_config *install; /* npm and openclaw, as the install step ran them */
	const struct prerestart_profile *profiles;
	size_t nprofiles;
	int timeout_ms; /* per command; <= 0: proc's default */
};

/* 0 when every check passed; -1 with *code (static: "packages.duplicate", "config.invalid",
 * "doctor.red", ...) and err saying what was found. */
int prerestart_check(const struct prerestart_config *cfg, const char **code, struct cf_err *err);

enum prerestart_config_verdict {
	PRERESTART_CONFIG_VALID,
	PRERESTART_CONFIG_INVALID,	/* the CLI named a problem: finding holds it */
	PRERESTART_CONFIG_UNSUPPORTED, /* no such command: an older CLI */
	PRERESTART_CONFIG_UNKNOWN,	/* no answer to judge: finding says why */
};

/* One run of `config validate --json` (json true) or `config lint`: exit 0 and, in JSON, "valid"
 * or "ok" not false is valid; the first of "issues" or "errors" ({path, message}) or the first
 * line the CLI printed is the finding. */
enum prerestart_config_verdict prerestart_judge_config(const struct proc_result *run, bool json,
							char *finding, size_t size);

#endif
