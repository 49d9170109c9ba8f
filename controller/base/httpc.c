#include "base/httpc.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const char HTTPC_PROXY_FROM_ENV[] = "(environment)";

/* httpc_easy_again keeps a reply's memory up to this for the next request on the handle. */
#define REUSED_REPLY_MAX (16u << 10)

/* What one transfer needs to outlive the call that set it up. */
struct xfer {
	struct httpc_reply *reply;
	struct curl_slist *headers;
	const char *method, *url; /* url as errors show it */
	size_t max_reply;
	bool over; /* the reply passed max_reply: the write callback stopped the transfer */
	void *private;
	char errbuf[CURL_ERROR_SIZE];
};

struct httpc {
	CURL *easy;
};

int httpc_global_init(struct cf_err *err)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return cf_err_set(err, "libcurl could not initialise");
	return 0;
}

void httpc_global_cleanup(void)
{
	curl_global_cleanup();
}

/* A header line may carry a bearer token: wiped before its memory goes back to malloc. */
static void free_headers(struct curl_slist *headers)
{
	for (struct curl_slist *h = headers; h; h = h->next)
		OPENSSL_cleanse(h->data, strlen(h->data));
	curl_slist_free_all(headers);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (buf_append(&x->reply->body, data, len, NULL) < 0) {
		x->over = true;
		return 0;
	}
	return len;
}

static const char *shown(const struct httpc_request *req)
{
	return req->url_shown ? req->url_shown : req->url;
}

static int check_request(const struct httpc_request *req, struct cf_err *err)
{
	if (!req->url || !req->url[0])
		return cf_err_set(err, "HTTP request without a URL");
	if (req->connect_timeout_ms <= 0 || req->timeout_ms <= 0 || req->max_reply == 0)
		return cf_err_set(err, "%s %s: a request needs a connect timeout, a timeout and a "
				       "reply limit",
				  req->method ? req->method : "GET", shown(req));
	return 0;
}

/* Every option of the policy in httpc.h, on a handle that is new or was reset. */
static int setup(CURL *e, const struct httpc_request *req, struct xfer *x, struct cf_err *err)
{
	const char *method = req->method ? req->method : "GET";

	x->method = method;
	x->url = shown(req);
	x->max_reply = req->max_reply;
	x->errbuf[0] = '\0';
	for (const char *const *h = req->headers; h && *h; h++) {
		struct curl_slist *l = curl_slist_append(x->headers, *h);
		if (!l)
			return cf_err_set(err, "out of memory");
		x->headers = l;
	}
	x->reply->status = 0;
	buf_free(&x->reply->body);
	x->reply->body.max = req->max_reply;

	bool ok = curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms) ==
			  CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_reply) ==
			  CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_USERAGENT,
				   req->user_agent ? req->user_agent : "clawfleet") == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_WRITEDATA, x) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_PRIVATE, x) == CURLE_OK;
	if (ok && req->proxy != HTTPC_PROXY_FROM_ENV)
		ok = curl_easy_setopt(e, CURLOPT_PROXY, req->proxy ? req->proxy : "") == CURLE_OK;
	if (ok && req->ca_file)
		ok = curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file) == CURLE_OK;
	if (ok && req->cert_file)
		ok = curl_easy_setopt(e, CURLOPT_SSLCERT, req->cert_file) == CURLE_OK;
	if (ok && req->key_file)
		ok = curl_easy_setopt(e, CURLOPT_SSLKEY, req->key_file) == CURLE_OK;
	if (ok && x->headers)
		ok = curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers) == CURLE_OK;
	if (ok && strcmp(method, "GET") != 0)
		ok = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
	if (ok && req->body)
		ok = curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body) == CURLE_OK &&
		     curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) ==
			     CURLE_OK;
	if (!ok)
		return cf_err_set(err, "%s %s: libcurl refused an option (is it built with http?)",
				  method, x->url);
	return 0;
}

static int finish(CURL *e, CURLcode result, struct xfer *x, struct cf_err *err)
{
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	x->reply->status = status;
	if (x->over || result == CURLE_FILESIZE_EXCEEDED)
		return cf_err_set(err, "%s %s: reply over the %zu byte limit", x->method, x->url,
				  x->max_reply);
	if (result != CURLE_OK)
		return cf_err_set(err, "%s %s: %s", x->method, x->url,
				  x->errbuf[0] ? x->errbuf : curl_easy_strerror(result));
	return 0;
}

int httpc_new(struct httpc **out, struct cf_err *err)
{
	*out = NULL;
	struct httpc *h = calloc(1, sizeof(*h));
	if (!h)
		return cf_err_set(err, "out of memory");
	h->easy = curl_easy_init();
	if (!h->easy) {
		free(h);
		return cf_err_set(err, "libcurl could not make a handle (was httpc_global_init "
				       "called?)");
	}
	*out = h;
	return 0;
}

void httpc_free(struct httpc *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->easy);
	free(h);
}

int httpc_do(struct httpc *h, const struct httpc_request *req, struct httpc_reply *reply,
	     struct cf_err *err)
{
	struct xfer x = {.reply = reply};
	CURL *e = NULL;
	int rc = -1;

	reply->status = 0;
	buf_reset(&reply->body);
	if (check_request(req, err) < 0)
		return -1;
	if (h) {
		e = h->easy;
		curl_easy_reset(e);
	} else if (!(e = curl_easy_init())) {
		return cf_err_set(err, "libcurl could not make a handle (was httpc_global_init "
				       "called?)");
	}
	if (setup(e, req, &x, err) < 0)
		goto done;
	rc = finish(e, curl_easy_perform(e), &x, err);
done:
	/* The handle outlives this call: nothing in it may point at x any more. */
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	free_headers(x.headers);
	if (!h)
		curl_easy_cleanup(e);
	return rc;
}

void httpc_reply_free(struct httpc_reply *reply)
{
	buf_free(&reply->body);
	reply->status = 0;
}

static struct xfer *xfer_of(CURL *easy)
{
	char *p = NULL;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p);
	return (struct xfer *)(void *)p;
}

int httpc_easy_new(CURL **out, const struct httpc_request *req, struct httpc_reply *reply,
		   void *private, struct cf_err *err)
{
	struct xfer *x = NULL;
	CURL *e = NULL;

	*out = NULL;
	if (check_request(req, err) < 0)
		return -1;
	if (!(x = calloc(1, sizeof(*x))))
		return cf_err_set(err, "out of memory");
	x->reply = reply;
	x->private = private;
	if (!(e = curl_easy_init())) {
		free(x);
		return cf_err_set(err, "libcurl could not make a handle (was httpc_global_init "
				       "called?)");
	}
	if (setup(e, req, x, err) < 0) {
		curl_easy_cleanup(e);
		free_headers(x->headers);
		free(x);
		return -1;
	}
	*out = e;
	return 0;
}


int httpc_easy_again(CURL *easy, const char *url, struct cf_err *err)
{
	struct xfer *x = xfer_of(easy);
	if (!url || !url[0])
		return cf_err_set(err, "HTTP request without a URL");
	x->url = url;
	x->over = false;
	x->errbuf[0] = '\0';
	x->reply->status = 0;
	/* The memory of a usual reply is reused; one that grew large is not kept for the next. */
	if (x->reply->body.cap > REUSED_REPLY_MAX)
		buf_free(&x->reply->body);
	else
		buf_reset(&x->reply->body);
	if (curl_easy_setopt(easy, CURLOPT_URL, url) != CURLE_OK)
		return cf_err_set(err, "%s %s: out of memory", x->method, url);
	return 0;
}

void *httpc_easy_private(CURL *easy)
{
	struct xfer *x = xfer_of(easy);
	return x ? x->private : NULL;
}

int httpc_easy_finish(CURL *easy, CURLcode result, struct cf_err *err)
{
	return finish(easy, result, xfer_of(easy), err);
}

void httpc_easy_free(CURL *easy)
{
	if (!easy)
		return;
	struct xfer *x = xfer_of(easy);
	curl_easy_cleanup(easy);
	if (x) {
		free_headers(x->headers);
		free(x);
	}
}
