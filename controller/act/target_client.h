/* target_client: the controller's side of PUT /v1/target. target_client_put sends a batch of
 * targets, each to its node's agent (MacNode spec.address + /v1/target) with the bearer token
 * read from the token file at that moment (so a rotated token is used without a restart),
 * concurrently through one libcurl multi handle that keeps connections alive between batches,
 * with a connect and a total timeout per request and replies capped. A 2xx answer means the
 * agent accepted the generation (it then applies it on its own; observedGeneration in its probe
 * says when it is done). Every other outcome is an error for that node alone, saying what to do:
 * 401 (the agent refuses the token), 409 (the generation is stale: the agent holds a newer target
 * than this controller's state knows), 400, no answer. The token never appears in a message,
 * and never goes to a proxy: requests go straight to the agent whatever HTTP_PROXY says (httpc's
 * policy for fleet-internal calls). httpc_global_init must have been called; not thread-safe. */
#ifndef CLAWFLEET_TARGET_CLIENT_H
#define CLAWFLEET_TARGET_CLIENT_H
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "contracts/target.h"

#define TARGET_CLIENT_REPLY_MAX (64u << 10)
#define TARGET_CLIENT_URL_MAX 2048

struct target_client_config {
	const char *token_file;	   /* required */
	int connect_timeout_ms;	   /* 0: 1000 */
	int timeout_ms;		   /* 0: 5000 */
	unsigned int max_parallel; /* 0: 32 */
};

struct agent_put {
	const char *node;
	const char *address; /* the agent's base URL */
	const struct target *target;
	/* filled by target_client_put */
	int result;		     /* 0: accepted; -1: see err */
	int http_status;	     /* 0 when there was no answer */
	int64_t observed_generation; /* from an accepting answer; -1 when it said none */
	struct cf_err err;
};

struct target_client;

int target_client_new(struct target_client **out, const struct target_client_config *cfg,
		     struct cf_err *err);
void target_client_free(struct target_client *c);
/* Sends every put and fills its result. Fails as a whole, sending nothing, only when the token
 * file cannot be used or memory runs out. */
int target_client_put(struct target_client *c, struct agent_put *puts, size_t n, struct cf_err *err);

/* Judges one answer to PUT /v1/target of generation (pure, for tests and the client): 0 when
 * accepted, with *observed from the body (-1 when absent), else -1 with the reason in err. */
int target_client_judge(const char *node, int64_t generation, int http_status, const char *body,
		       size_t len, int64_t *observed, struct cf_err *err);
/* The token in a token file's bytes: white space around it trimmed; empty, longer than 4 KiB, or
 * holding white space or control characters inside is an error naming path. */
int target_client_token(const char *path, char *out, size_t size, struct cf_err *err);

#endif
