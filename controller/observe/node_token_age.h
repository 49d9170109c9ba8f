/* node_token_age: the agent's side of contracts/token_age.h, when each token slot it accepts
 * came to be. With tokens.dir the rotation record (reconcilers/tokens_rotate.h: the audit file's
 * last promote) dates the current token when that promote installed it, since a copy or a
 * restore can reset a file's times; otherwise, and for next and prev, the slot file's
 * modification time (a stage writes token.next afresh; a promote copies the old current to
 * token.prev). An empty or missing file is an empty slot. Read with every observation; the
 * ages are taken at the answer's time (node_token_age_at), so a cached observation does not
 * make a token look younger. */
#ifndef CLAWFLEET_NODE_TOKEN_AGE_H
#define CLAWFLEET_NODE_TOKEN_AGE_H
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "contracts/token_age.h"
#include "desired/agentcfg.h"

struct node_tokens {
	bool known;
	int64_t max_age_ms;
	int64_t born_ms[TOKEN_SLOTS]; /* ms since the epoch; -1: the slot is empty */
};

/* The slots cfg's tokens.* name (under its root) into *out; -1 with err when a slot file cannot
 * be looked at (out->known then false). */
int node_token_age_read(const struct agent_config *cfg, struct node_tokens *out,
			struct cf_err *err);
/* The ages at now_ms into *out (known false when t is NULL or not known). */
void node_token_age_at(const struct node_tokens *t, int64_t now_ms, struct token_ages *out);

#endif
