/* install: brings OpenClaw and its plugins to the versions openclaw.lock pins. install_observe
 * reads what is installed (`npm ls -g --depth=0 --json`); install_plan is pure and returns the
 * lock's install order restricted to what differs: core first (`npm install -g
 * openclaw@<version>`), then each plugin in lock order (`openclaw plugins install
 * <name>@<version>`); an empty plan means the node matches. Names and versions from Git are
 * checked (npm package names, exact versions) before they become arguments. install_apply first
 * records a rollback bookmark, atomically: the versions installed before,
 * {"openclaw","plugins":{name:version},"target":{name:version},"at":epoch}; a bookmark whose
 * target already covers the plan is kept, so a run resumed after a crash or a failure still
 * points back at the state from before the first attempt. It then runs the actions in order and
 * stops at the first failure, naming the package. Plugins the lock does not name are left alone. */
#ifndef CLAWFLEET_INSTALL_H
#define CLAWFLEET_INSTALL_H
#include <stddef.h>

#include "base/err.h"
#include "desired/desired.h"

#define INSTALL_TIMEOUT_DEFAULT_MS (10 * 60 * 1000)
#define INSTALL_PACKAGES_MAX 1024
#define INSTALL_CORE_PACKAGE "openclaw"

struct install_config {
	const char *npm;      /* NULL: "npm" in PATH */
	const char *openclaw; /* the CLI that installs plugins; NULL: "openclaw" in PATH */
	char *const *env;     /* KEY=VALUE overlay for every command; may be NULL */
	int timeout_ms;	      /* per command; <= 0: INSTALL_TIMEOUT_DEFAULT_MS */
};

/* What npm reports as installed globally. */
struct installed_state {
	char *openclaw;		     /* version; NULL when OpenClaw is not installed */
	struct lock_plugin *plugins; /* every other global package */
	size_t nplugins;
};

enum install_kind { INSTALL_CORE, INSTALL_PLUGIN };

struct install_action {
	enum install_kind kind;
	char *name;    /* "openclaw" or the plugin's npm name */
	char *version; /* the lock's */
	char *from;    /* the installed version; NULL when not installed */
};

struct install_plan {
	struct install_action *actions;
	size_t n;
};

int install_plan(const struct openclaw_lock *lock, const struct installed_state *installed,
		 struct install_plan *out, struct cf_err *err);
int install_observe(const struct install_config *cfg, struct installed_state *out,
		    struct cf_err *err);
/* installed is what install_plan was given: the bookmark records it. Nothing runs and nothing is
 * written for an empty plan. */
int install_apply(const struct install_config *cfg, const struct installed_state *installed,
		  const struct install_plan *plan, const char *bookmark_path, struct cf_err *err);
void install_plan_free(struct install_plan *plan);
void installed_state_free(struct installed_state *st);

#endif
