/* openclaw_config: the Mac's OpenClaw configuration file, the merge of openclaw/base.d and
 * openclaw/nodes/<host>.d (desired_openclaw_config), where the gateway reads it: the path
 * OPENCLAW_CONFIG_PATH names in the agent's environment, else $HOME/.openclaw/openclaw.json, as
 * OpenClaw resolves it (the same path `openclaw config validate` checks before a restart). The
 * file is canonical JSON (canon.h; JSON is JSON5) and a newline, written atomically (mode 0600)
 * only when its bytes change. A repository without such fragments leaves the file as it is:
 * clawfleet never removes an operator's configuration. The plan keeps the bytes it replaces,
 * so openclaw_config_restore can put them back when a check before the restart refuses. observe and plan are pure of the merge;
 * apply is idempotent. */
#ifndef CLAWFLEET_OPENCLAW_CONFIG_H
#define CLAWFLEET_OPENCLAW_CONFIG_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "desired/desired.h"

#define OPENCLAW_CONFIG_MAX (1u << 20)

struct openclaw_config_plan {
	char *path;
	char *data; /* NULL: nothing to write */
	size_t len;
	/* What the file held when data is set, so a refused restart can put it back: its bytes,
	 * or before_absent when there was none; neither when it could not be read. */
	char *before;
	size_t before_len;
	bool before_absent;
};

/* The path the gateway reads (malloc'd), or NULL with err. */
char *openclaw_config_path(struct cf_err *err);
/* What host's file must hold, compared with what it holds: plan->data set when it differs. */
int openclaw_config_plan(const struct desired_state *ds, const char *host,
			 struct openclaw_config_plan *plan, struct cf_err *err);
int openclaw_config_apply(const struct openclaw_config_plan *plan, struct cf_err *err);
/* Puts back what plan->before says the file held (its bytes, atomically, or no file); an error
 * when that is unknown, naming the file to check by hand. */
int openclaw_config_restore(const struct openclaw_config_plan *plan, struct cf_err *err);
void openclaw_config_plan_free(struct openclaw_config_plan *plan);

#endif
