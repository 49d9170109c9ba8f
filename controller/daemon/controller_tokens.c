/* The fleet's token ages for /status (record/status_tokens.h) and the one broadcast a token over
 * tokens.maxAge earns: sent when the set of too-old tokens changes to a non-empty one, not
 * again while it stays the same (a restarted controller says it once more), so a fleet that
 * misses its rotation hears of it once, not every pass. */
#include "daemon/controller_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "base/compat.h"
#include "base/log.h"
#include "record/status_tokens.h"

/* The controller's agentToken file's age from its modification time, -1 when unknown. */
static int64_t agent_token_age_ms(const struct controller *c, int64_t now_ms)
{
	struct stat st;
	if (!c->cfg.agent_token || stat(c->cfg.agent_token, &st) < 0 || st.st_size == 0)
		return -1;
	struct timespec m = compat_stat_mtime(&st);
	int64_t born = (int64_t)m.tv_sec * 1000 + m.tv_nsec / 1000000;
	return now_ms > born ? now_ms - born : 0;
}

void controller_token_ages(struct controller *c, const struct fleet_poll_result *r,
			   struct status_tokens *out)
{
	char key[sizeof(c->token_age_sent)], message[ROLLOUT_MESSAGE_MAX];
	struct cf_err err;
	*out = (struct status_tokens){
		.max_age_ms = c->cfg.token_max_age_ms,
		.agent_token_age_ms = agent_token_age_ms(c, clock_epoch_ms()),
		.obs = r ? r->obs : NULL,
		.n = r ? r->nnodes : 0,
	};
	if (!status_tokens_too_old(out, key, sizeof(key))) {
		c->token_age_sent[0] = '\0';
		return;
	}
	if (strcmp(key, c->token_age_sent) == 0)
		return;
	snprintf(message, sizeof(message),
		 "bearer tokens older than tokens.maxAge (token.age): %s; rotate them with "
		 "clawfleet token rotate-fleet (GET /status, tokens.tooOld)",
		 key);
	if (controller_post_event(c, "verdict", "hold", TOKEN_AGE_REASON, "clawfleet-token-age",
				  message, NULL, NULL, &err) < 0) {
		log_warn("%s", err.msg);
		return;
	}
	snprintf(c->token_age_sent, sizeof(c->token_age_sent), "%s", key);
}
