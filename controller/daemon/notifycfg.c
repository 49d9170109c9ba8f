#include "daemon/notifycfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "base/cfgtable.h"
#include "notify/notifier.h"

#define URL_MAX 2048

#define K(name, type, field, def, req) \
	{name, type, offsetof(struct notifier_config, field), def, req, 0, 0, NULL}

/* In the order of enum notify_format. */
static const char *const formats[] = {"generic", "slack", NULL};

static const struct cfg_key keys[] = {
	K("socket", CFG_PATH, socket, NULL, true),
	K("listen", CFG_STRING, listen, "127.0.0.1:9099", false),
	K("window", CFG_DURATION, window_ms, "5m", false),
	K("channel.url", CFG_STRING, channel_url, NULL, true),
	{"channel.format", CFG_ENUM, offsetof(struct notifier_config, channel_format), "generic",
	 false, 0, 0, formats},
	K("digestUrl", CFG_STRING, digest_url, NULL, false),
	K("tokens.dir", CFG_PATH, tokens_dir, NULL, false),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static bool url_ok(const char *url)
{
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return false;
	for (const char *p = url; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	const char *host = strstr(url, "://") + 3;
	return strlen(url) <= URL_MAX && *host && *host != '/';
}

static void check_values(const char *path, void *cfg, struct diag_list *dl)
{
	struct notifier_config *c = cfg;
	if (c->socket && strlen(c->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		cfgtable_report(dl, path, "socket", "the path is too long for a UNIX socket");
	if (c->listen && !c->listen[0])
		cfgtable_report(dl, path, "listen", "must be host:port");
	if (c->window_ms && (c->window_ms < NF_WINDOW_MIN_MS || c->window_ms > NF_WINDOW_MAX_MS))
		cfgtable_report(dl, path, "window", "must be from 1s to 24h");
	if (c->channel_url && !url_ok(c->channel_url))
		cfgtable_report(dl, path, "channel.url",
			 "must be an http:// or https:// URL of at most 2048 bytes, no spaces");
	if (c->digest_url && !url_ok(c->digest_url))
		cfgtable_report(dl, path, "digestUrl",
			 "must be an http:// or https:// URL of at most 2048 bytes, no spaces");
}

int notifycfg_load(const char *path, struct notifier_config *cfg, struct diag_list *diags)
{
	memset(cfg, 0, sizeof(*cfg));
	return cfgtable_load(keys, NKEYS, path, cfg, check_values, diags);
}

void notifycfg_free(struct notifier_config *cfg)
{
	cfgtable_free(keys, NKEYS, cfg);
	memset(cfg, 0, sizeof(*cfg));
}
