/* install: brings OpenClaw and its plugins to the versions openclaw.lock pins. install_observe
 * reads what is installed (`npm ls -g --depth=1 --json`: versions, duplicate copies and unmet
 * dependencies, install_tree.h); install_plan is pure and returns the
 * lock's install order restricted to what differs: core first (`npm install -g
 * openclaw@<version>`), then each plugin in lock order (`openclaw plugins install
 * <name>@<version>`); an empty plan means the node matches. Names and versions from Git are
 * checked (npm package names, exact versions) before they become arguments. install_apply first
 * records a rollback bookmark, atomically: the versions installed before,
 * {"openclaw","plugins":{name:version},"target":{name:version},"at":epoch}; a bookmark whose
 * target already covers the plan is kept, so a run resumed after a crash or a failure still
 * points back at the state from before the first attempt. It then runs the actions in order and
 * stops at the first failure, naming the package. Plugins the lock does not name are left alone.
 *
 * When the lock pins openclaw.sha256 and a cache directory is configured, OpenClaw is installed
 * from the artifact cache (artifact_cache.h): the tarball of the lock's version is taken from the
 * cache, else fetched with `npm pack openclaw@<version> --pack-destination <tmp>`, and must hash
 * to openclaw.sha256 before `npm install -g --prefer-offline <tarball>` runs; a package that does
 * not is refused (INSTALL_DIGEST_MISMATCH, both digests named) and nothing is installed. After
 * the install the build is recorded as the cache's current one and the cache is trimmed, so a
 * rollback to the previous build reinstalls its bytes without the registry. */
#ifndef CLAWFLEET_INSTALL_H
#define CLAWFLEET_INSTALL_H
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "desired/desired.h"
#include "reconcilers/artifact_cache.h"

#define INSTALL_TIMEOUT_DEFAULT_MS (10 * 60 * 1000)
#define INSTALL_PACKAGES_MAX 1024
#define INSTALL_CORE_PACKAGE "openclaw"

struct install_config {
	const char *npm;      /* NULL: "npm" in PATH */
	const char *openclaw; /* the CLI that installs plugins; NULL: "openclaw" in PATH */
	char *const *env;     /* KEY=VALUE overlay for every command; may be NULL */
	int timeout_ms;	      /* per command; <= 0: INSTALL_TIMEOUT_DEFAULT_MS */
	const char *cache_dir;	 /* the artifact cache; NULL: OpenClaw from the registry as named */
	int64_t cache_max_bytes; /* <= 0: ARTIFACT_CACHE_DEFAULT_MAX_BYTES */
};

/* install_apply's status when the package fetched is not the bytes openclaw.sha256 pins. */
#define INSTALL_DIGEST_MISMATCH ARTIFACT_DIGEST_MISMATCH

/* What npm reports as installed globally. */
struct installed_state {
	char *openclaw;		     /* version; NULL when OpenClaw is not installed */
	struct lock_plugin *plugins; /* every other global package */
	size_t nplugins;
	char *duplicates; /* global packages installed a second time inside another; NULL: none */
	char *unmet;	  /* dependencies and peers npm marks missing or invalid; NULL: none */
};

enum install_kind { INSTALL_CORE, INSTALL_PLUGIN };

struct install_action {
	enum install_kind kind;
	char *name;    /* "openclaw" or the plugin's npm name */
	char *version; /* the lock's */
	char *from;    /* the installed version; NULL when not installed */
	char *sha256;  /* the core's openclaw.sha256; NULL for a plugin or when the lock has none */
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
/* Puts back the versions an applied plan installed over, in reverse order (plugins before the
 * core they load into), after a check before the restart refused the new ones: each action's
 * `from` is installed again; OpenClaw from the artifact cache when builds.json names the tarball
 * of that version (the build just replaced is the cache's previous), else from the registry. A
 * package the plan installed where there was none is left: nothing ran it. Stops at the first
 * failure, naming the package. */
int install_revert(const struct install_config *cfg, const struct install_plan *applied,
		   struct cf_err *err);
void install_plan_free(struct install_plan *plan);
void installed_state_free(struct installed_state *st);

#endif
