#include "act/target_client.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/fsutil.h"
#include "base/httpc.h"
#include "base/jsonparse.h"
#include "contracts/tokens.h"

#define DEFAULT_CONNECT_MS 1000
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_PARALLEL 32
#define REASON_MAX 200
#define POLL_MS 1000

struct target_client {
	CURLM *multi; /* its connection cache keeps agents' connections alive between batches */
	char *token_file;
	int connect_timeout_ms, timeout_ms;
	unsigned int max_parallel;
};

/* One PUT under way; what httpc_easy_new was given lives here until the transfer is cleared. */
struct transfer {
	struct agent_put *put;
	CURL *easy;
	const char *headers[4];
	char *body;
	char url[TARGET_CLIENT_URL_MAX];
	struct httpc_reply reply;
};

int target_client_new(struct target_client **out, const struct target_client_config *cfg,
		     struct cf_err *err)
{
	struct target_client *c = calloc(1, sizeof(*c));
	if (!c || !cfg->token_file || !(c->token_file = strdup(cfg->token_file)) ||
	    !(c->multi = curl_multi_init())) {
		target_client_free(c);
		return cf_err_set(err, cfg->token_file ? "cannot start libcurl"
						       : "no agent token file configured");
	}
	c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms
							   : DEFAULT_CONNECT_MS;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->max_parallel = cfg->max_parallel ? cfg->max_parallel : DEFAULT_PARALLEL;
	*out = c;
	return 0;
}

void target_client_free(struct target_client *c)
{
	if (!c)
		return;
	if (c->multi)
		curl_multi_cleanup(c->multi);
	free(c->token_file);
	free(c);
}

int target_client_token(const char *path, char *out, size_t size, struct cf_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = -1;
	if (fsutil_read_file(path, TOKENS_FILE_MAX, &text, &len, err) < 0)
		return cf_err_prefix(err, "agent token");
	const char *ws = " \t\r\n";
	char *start = text + strspn(text, ws);
	size_t n = strlen(start);
	while (n && strchr(ws, start[n - 1]))
		n--;
	if (n == 0) {
		cf_err_set(err, "agent token %s is empty", path);
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)start[i] <= ' ' || start[i] == 0x7f) {
			cf_err_set(err, "agent token %s holds white space or a control character "
					"inside the token",
				   path);
			goto done;
		}
	if (n >= size) {
		cf_err_set(err, "agent token %s is longer than %zu bytes", path, size - 1);
		goto done;
	}
	memcpy(out, start, n);
	out[n] = '\0';
	rc = 0;
done:
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

/* The agent's {"error": reason}, kept to printable ASCII and cut, since it is logged. */
static void reason_of(const char *body, size_t len, char out[REASON_MAX + 1])
{
	struct json_object *o = NULL;
	const char *s = "no reason given";
	if (len && jsonparse_object(body, len, JSONPARSE_DEPTH, &o, NULL) == 0)
		jsonparse_get_string(o, "reply", "error", JSONPARSE_OPTIONAL, &s, NULL);
	size_t n = 0;
	for (; s[n] && n < REASON_MAX; n++)
		out[n] = (unsigned char)s[n] >= 0x20 && (unsigned char)s[n] < 0x7f ? s[n] : '?';
	out[n] = '\0';
	json_object_put(o);
}

int target_client_judge(const char *node, int64_t generation, int http_status, const char *body,
		       size_t len, int64_t *observed, struct cf_err *err)
{
	char reason[REASON_MAX + 1];
	*observed = -1;
	if (http_status >= 200 && http_status < 300) {
		struct json_object *o = NULL;
		/* A body that is not JSON, or a member that is not a generation, says none. */
		if (len && jsonparse_object(body, len, JSONPARSE_DEPTH, &o, NULL) == 0)
			jsonparse_get_int(o, "reply", "observedGeneration", JSONPARSE_OPTIONAL, 0,
					  INT64_MAX, observed, NULL);
		json_object_put(o);
		return 0;
	}
	reason_of(body, len, reason);
	switch (http_status) {
	case 401:
		return cf_err_set(err, "node %s: the agent refuses the controller's token (401): "
				       "put the agent's token.current or token.next in the file "
				       "agentToken names",
				  node);
	case 409:
		return cf_err_set(err, "node %s: generation %lld is stale (409: %s): the agent holds "
				       "a newer target than the controller's state records; was the "
				       "state directory lost, or does another controller send "
				       "targets?",
				  node, (long long)generation, reason);
	case 400:
		return cf_err_set(err, "node %s: the agent refuses target generation %lld (400: %s)",
				  node, (long long)generation, reason);
	default:
		return cf_err_set(err, "node %s: PUT /v1/target answered %d: %s", node, http_status,
				  reason);
	}
}

static void transfer_clear(struct target_client *c, struct transfer *t)
{
	if (t->easy) {
		curl_multi_remove_handle(c->multi, t->easy);
		httpc_easy_free(t->easy);
	}
	free(t->body);
	httpc_reply_free(&t->reply);
	memset(t, 0, sizeof(*t));
}

static int transfer_start(struct target_client *c, struct transfer *t, const char *auth)
{
	struct agent_put *p = t->put;
	size_t body_len = 0;
	size_t alen = strlen(p->address);
	while (alen && p->address[alen - 1] == '/')
		alen--;
	if (alen + sizeof("/v1/target") > sizeof(t->url))
		return cf_err_set(&p->err, "node %s: the address is longer than %d bytes", p->node,
				  TARGET_CLIENT_URL_MAX);
	snprintf(t->url, sizeof(t->url), "%.*s/v1/target", (int)alen, p->address);
	if (target_render(p->target, &t->body, &body_len, &p->err) < 0)
		return cf_err_prefix(&p->err, "node %s", p->node);
	/* No "Expect: 100-continue": a larger target would wait a second for nothing. */
	t->headers[0] = "Content-Type: application/json";
	t->headers[1] = "Expect:";
	t->headers[2] = auth;
	t->headers[3] = NULL;
	const struct httpc_request req = {
		.method = "PUT",
		.url = t->url,
		.headers = t->headers,
		.body = t->body,
		.body_len = body_len,
		.connect_timeout_ms = c->connect_timeout_ms,
		.timeout_ms = c->timeout_ms,
		.max_reply = TARGET_CLIENT_REPLY_MAX,
		.user_agent = "clawfleet-controller",
	};
	if (httpc_easy_new(&t->easy, &req, &t->reply, t, &p->err) < 0)
		return cf_err_prefix(&p->err, "node %s", p->node);
	if (curl_multi_add_handle(c->multi, t->easy) != CURLM_OK)
		return cf_err_set(&p->err, "node %s: cannot start the request", p->node);
	return 0;
}

static void transfer_done(struct transfer *t, CURLcode cc)
{
	struct agent_put *p = t->put;
	int rc = httpc_easy_finish(t->easy, cc, &p->err);
	p->http_status = (int)t->reply.status;
	if (rc < 0) {
		p->result = cf_err_prefix(&p->err, "node %s", p->node);
		return;
	}
	p->result = target_client_judge(p->node, p->target->generation, p->http_status,
				       buf_str(&t->reply.body), t->reply.body.len,
				       &p->observed_generation, &p->err);
}

int target_client_put(struct target_client *c, struct agent_put *puts, size_t n, struct cf_err *err)
{
	char token[TOKENS_FILE_MAX + 1], auth[TOKENS_FILE_MAX + 32];
	struct transfer *slots = NULL;
	size_t next = 0, running = 0, width = n < c->max_parallel ? n : c->max_parallel;
	int rc = -1;

	for (size_t i = 0; i < n; i++) {
		puts[i].result = -1;
		puts[i].http_status = 0;
		puts[i].observed_generation = -1;
		cf_err_set(&puts[i].err, "node %s: not sent", puts[i].node);
	}
	if (n == 0)
		return 0;
	if (target_client_token(c->token_file, token, sizeof(token), err) < 0)
		return -1;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	OPENSSL_cleanse(token, sizeof(token));
	slots = calloc(width, sizeof(*slots));
	if (!slots) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	/* Each transfer ends by its own timeout; the deadline only guards against a stuck multi. */
	int64_t deadline = clock_mono_ms() + (int64_t)(n / width + 1) *
					       (c->connect_timeout_ms + c->timeout_ms + 1000);
	while ((next < n || running) && clock_mono_ms() < deadline) {
		for (size_t s = 0; s < width && next < n; s++) {
			if (slots[s].put)
				continue;
			slots[s].put = &puts[next++];
			if (transfer_start(c, &slots[s], auth) < 0)
				transfer_clear(c, &slots[s]);
			else
				running++;
		}
		int still = 0;
		curl_multi_perform(c->multi, &still);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(c->multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct transfer *t = httpc_easy_private(msg->easy_handle);
			transfer_done(t, msg->data.result);
			transfer_clear(c, t);
			running--;
		}
		if (running)
			curl_multi_poll(c->multi, NULL, 0, POLL_MS, NULL);
	}
	rc = 0;
done:
	for (size_t s = 0; slots && s < width; s++)
		if (slots[s].put)
			transfer_clear(c, &slots[s]);
	free(slots);
	OPENSSL_cleanse(auth, sizeof(auth));
	return rc;
}
