/* install_tree: what `npm ls -g --depth=1 --json` says about the global tree, read for install
 * (install_observe). The top level gives the installed versions: OpenClaw and every other global
 * package. The level below gives two problems the runbook's "rerun npm ls -g --depth=1 and fail
 * on duplicates" looks for, named so an operator can remove the stray copy:
 *   duplicates: a global package that is also installed inside another global package, so
 *     OpenClaw can load two copies of a plugin ("@openclaw/plugin-slack 2026.7.0 (global) and
 *     2026.6.0 (inside openclaw@2026.7.1)");
 *   unmet: a dependency or peer of a global package that npm marks missing or invalid
 *     ("openclaw@2026.7.1 needs @openclaw/sdk@^2 (missing)"); npm 6's peerMissing too.
 * Both texts are capped at INSTALL_TREE_TEXT_MAX bytes ("and N more" past it). */
#ifndef CLAWFLEET_INSTALL_TREE_H
#define CLAWFLEET_INSTALL_TREE_H

#include "base/err.h"
#include "reconcilers/install.h"

struct json_object;

#define INSTALL_TREE_TEXT_MAX 900

/* Fills out (zeroed by the caller) from the parsed document. */
int install_tree_read(struct json_object *root, struct installed_state *out, struct cf_err *err);

#endif
