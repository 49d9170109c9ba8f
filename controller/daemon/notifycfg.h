/* notifycfg: the notifier's configuration file (YAML), one table of keys with types and
 * defaults (README.md, "The notifier"). Every problem is reported as FILE:LINE:COL: -: KEY:
 * message, all at once; a config with errors is never half-applied. */
#ifndef CLAWFLEET_NOTIFYCFG_H
#define CLAWFLEET_NOTIFYCFG_H
#include <stdint.h>

#include "base/diag.h"
#include "desired/desired.h"

struct notifier_config {
	char *socket;		/* UNIX stream socket the gateways write to */
	char *listen;		/* host:port of the digest API */
	int64_t window_ms;
	char *channel_url;	/* where broadcasts go; may hold a credential: never logged */
	enum notify_format channel_format;
	char *digest_url;	/* the link in broadcasts; NULL: the digest API's own URL */
	char *tokens_dir;	/* token.current/next/prev guarding POST /v1/events; NULL: open */
};

/* Loads path; 0 when clean, else -1 with every problem in diags (cfg then freed). */
int notifycfg_load(const char *path, struct notifier_config *cfg, struct diag_list *diags);
void notifycfg_free(struct notifier_config *cfg);

#endif
