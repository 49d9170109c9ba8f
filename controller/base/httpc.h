/* httpc: the one HTTP client, over libcurl. Every request clawfleet makes goes through it, so
 * every request has the same policy:
 *   - a connect timeout and a whole-exchange timeout, both required;
 *   - a cap on the reply body (a longer reply is an error, never a bigger allocation);
 *   - http and https only, no redirects followed, no signals (safe in threads), TCP keep-alive;
 *   - no proxy unless the request names one: fleet-internal calls (an agent's /readyz and
 *     /v1/target with its bearer token, the controller's /status, a load balancer's API, the
 *     notifier) never go through HTTP_PROXY/HTTPS_PROXY/ALL_PROXY from the environment, so a
 *     token cannot leak to a proxy someone exported. A call that leaves the fleet (the broadcast
 *     channel) may ask for HTTPC_PROXY_FROM_ENV, libcurl's environment rules (NO_PROXY included).
 * httpc_do runs one request to completion on a reusable handle (keep-alive between calls on the
 * same handle) or on a fresh one. httpc_easy_new/httpc_easy_finish are the same policy for
 * callers that drive many requests at once through a libcurl multi handle: the caller adds the
 * handle to its multi, and on completion turns libcurl's result into the reply and an error.
 * Errors name the method and URL: "GET http://gw-a:8443/readyz: Connection refused"; a request
 * whose URL carries a credential (a webhook's secret path, user information, a query) gives
 * url_shown, and errors name that instead. */
#ifndef CLAWFLEET_HTTPC_H
#define CLAWFLEET_HTTPC_H
#include <curl/curl.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

extern const char HTTPC_PROXY_FROM_ENV[];

struct httpc_request {
	const char *method;	    /* NULL: GET; else "PUT", "POST", ... */
	const char *url;
	const char *url_shown;	    /* NULL: url; else what errors name in its place */
	const char *const *headers; /* NULL-terminated "Name: value" lines; NULL: none */
	const char *body;	    /* sent when not NULL */
	size_t body_len;
	long connect_timeout_ms; /* > 0 */
	long timeout_ms;	 /* > 0: the whole exchange, connect included */
	size_t max_reply;	 /* > 0: the most reply body bytes accepted */
	const char *user_agent;	 /* NULL: "clawfleet" */
	const char *proxy;	 /* NULL: none; HTTPC_PROXY_FROM_ENV; else a proxy URL */
	/* https: NULL for each: the system's CAs and no client certificate; else PEM files (a
	 * private CA such as an etcd cluster's, and the certificate and key it asks clients for). */
	const char *ca_file, *cert_file, *key_file;
};

/* Zero-initialise. body holds the reply body (NUL-terminated), capped at max_reply. */
struct httpc_reply {
	long status; /* the HTTP status; 0 when no response arrived */
	struct buf body;
};

/* Once per process, before any thread starts, as libcurl requires; cleanup at exit. */
int httpc_global_init(struct cf_err *err);
void httpc_global_cleanup(void);

/* A reusable handle: connections to the same host stay open between requests. */
struct httpc;
int httpc_new(struct httpc **out, struct cf_err *err);
void httpc_free(struct httpc *h);

/* Runs req on h (NULL: a handle made and freed for this request) and fills *reply (emptied
 * first). Returns 0 when a response arrived, whatever its status; -1 when none did or the reply
 * was over max_reply. The caller frees reply with httpc_reply_free either way. */
int httpc_do(struct httpc *h, const struct httpc_request *req, struct httpc_reply *reply,
	     struct cf_err *err);
void httpc_reply_free(struct httpc_reply *reply);

/* For a multi handle: a new easy handle set up for req, writing into *reply (which must stay
 * where it is until httpc_easy_finish), carrying private for httpc_easy_private. The request's
 * strings and headers must live until the transfer is finished. */
int httpc_easy_new(CURL **out, const struct httpc_request *req, struct httpc_reply *reply,
		   void *private, struct cf_err *err);
/* The same request again on a handle made by httpc_easy_new whose transfer is finished and out
 * of its multi, to url (which must live until the transfer is finished, and carry no
 * credential: errors name it): every other option, the reply and private are kept, and the
 * reply's memory is reused. No new handle, no option parsed again: for a short request that is
 * most of what libcurl costs. */
int httpc_easy_again(CURL *easy, const char *url, struct cf_err *err);
/* After the multi reported the transfer done with result: reply->status, and the same return
 * and message as httpc_do. Does not free the handle (remove it from the multi, then
 * httpc_easy_free). */
int httpc_easy_finish(CURL *easy, CURLcode result, struct cf_err *err);
/* The private pointer the handle was made with (libcurl's own CURLOPT_PRIVATE is httpc's). */
void *httpc_easy_private(CURL *easy);
void httpc_easy_free(CURL *easy);

#endif
