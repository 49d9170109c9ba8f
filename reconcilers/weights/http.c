#include "reconcilers/weights/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/httpc.h"

#define HEADER_LINE_MAX 8192
#define ENV_NAME_MAX 128
#define URL_SHOWN 256
#define BODY_SHOWN 200

/* The URL as errors show it: no user information, no query (either may carry a credential). */
static void url_shown(const char *url, char *out, size_t size)
{
	const char *host = strstr(url, "://");
	host = host ? host + 3 : url;
	const char *path = host + strcspn(host, "/?#");
	const char *at = memchr(host, '@', (size_t)(path - host));
	size_t scheme_len = (size_t)(host - url);
	const char *rest = at ? at + 1 : host;
	snprintf(out, size, "%.*s%.*s", (int)scheme_len, url, (int)strcspn(rest, "?#"), rest);
}

static bool header_name_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || strchr("()<>@,;:\\\"/[]?={}", *s))
			return false;
	return true;
}

/* "Name: value" with every "${VAR}" of value replaced by the environment variable VAR. Errors
 * name the header and the variable, never the value. */
static int header_line(const struct header_kv *h, char *out, size_t size, struct cf_err *err)
{
	if (!header_name_ok(h->name))
		return cf_err_set(err, "header name \"%.64s\" is not an HTTP token",
				  h->name ? h->name : "");
	int n = snprintf(out, size, "%s: ", h->name);
	if (n < 0 || (size_t)n >= size)
		return cf_err_set(err, "header %s: name too long", h->name);
	size_t len = (size_t)n;
	for (const char *p = h->value ? h->value : ""; *p;) {
		const char *piece = p;
		size_t piece_len = 1;
		if (p[0] == '$' && p[1] == '{') {
			const char *close = strchr(p + 2, '}');
			size_t name_len = close ? (size_t)(close - p - 2) : 0;
			char name[ENV_NAME_MAX];
			if (!close || name_len == 0 || name_len >= sizeof(name))
				return cf_err_set(err, "header %s: \"${\" must be followed by an "
						  "environment variable name and \"}\"", h->name);
			memcpy(name, p + 2, name_len);
			name[name_len] = '\0';
			piece = getenv(name);
			if (!piece)
				return cf_err_set(err, "header %s: environment variable %s is not set",
						  h->name, name);
			piece_len = strlen(piece);
			p = close + 1;
		} else {
			p++;
		}
		if (len + piece_len >= size)
			return cf_err_set(err, "header %s: longer than %zu bytes", h->name, size - 1);
		for (size_t i = 0; i < piece_len; i++)
			if (piece[i] == '\r' || piece[i] == '\n')
				return cf_err_set(err, "header %s: the value holds a line break",
						  h->name);
		memcpy(out + len, piece, piece_len);
		len += piece_len;
	}
	out[len] = '\0';
	return 0;
}

/* One request; body NULL for GET. On 2xx, the reply body (capped) is in *reply. The load
 * balancer's API is fleet-internal: no proxy (httpc's default). */
static int request(const struct load_balancer *lb, const char *method, const char *body,
		   size_t body_len, struct httpc_reply *reply, struct cf_err *err)
{
	char shown[URL_SHOWN];
	size_t n = lb->http.nheaders, h = 0;
	char(*lines)[HEADER_LINE_MAX] = NULL;
	const char **headers = NULL;
	int rc = -1;

	if (!lb->http.url)
		return cf_err_set(err, "LoadBalancer/%s: http.url is needed",
				  lb->name ? lb->name : "-");
	url_shown(lb->http.url, shown, sizeof(shown));
	/* Accept, Content-Type with a body, the configured ones, the NULL that ends them. */
	if (!(headers = calloc(n + 3, sizeof(*headers))) ||
	    (n && !(lines = calloc(n, sizeof(*lines))))) {
		cf_err_set(err, "out of memory");
		goto named;
	}
	headers[h++] = "Accept: application/json";
	if (body)
		headers[h++] = "Content-Type: application/json";
	for (size_t i = 0; i < n; i++) {
		if (header_line(&lb->http.headers[i], lines[i], sizeof(lines[i]), err) < 0)
			goto named;
		headers[h++] = lines[i];
	}
	const struct httpc_request req = {
		.method = method,
		.url = lb->http.url,
		.url_shown = shown,
		.headers = headers,
		.body = body,
		.body_len = body_len,
		.connect_timeout_ms = WEIGHTS_CONNECT_TIMEOUT_MS,
		.timeout_ms = WEIGHTS_REQUEST_TIMEOUT_MS,
		.max_reply = WEIGHTS_REPLY_MAX,
		.user_agent = "clawfleet",
	};
	if (httpc_do(NULL, &req, reply, err) < 0) {
		cf_err_prefix(err, "http load balancer"); /* httpc named the method and URL */
		goto done;
	}
	if (reply->status < 200 || reply->status > 299) {
		const char *data = buf_str(&reply->body);
		char excerpt[BODY_SHOWN + 1];
		size_t k = 0;
		for (size_t i = 0; i < reply->body.len && k < BODY_SHOWN && data[i] != '\n'; i++)
			excerpt[k++] = data[i] >= ' ' && data[i] <= '~' ? data[i] : '?';
		excerpt[k] = '\0';
		cf_err_set(err, "status %ld%s%s", reply->status, k ? ": " : "", excerpt);
		goto named;
	}
	rc = 0;
	goto done;
named:
	cf_err_prefix(err, "http load balancer: %s %s", method, shown);
done:
	free(lines);
	free(headers);
	return rc;
}

static int http_get(const struct load_balancer *lb, struct weight_map *out, struct cf_err *err)
{
	struct httpc_reply reply = {0};
	char what[URL_SHOWN + 4];
	int rc = -1;
	if (request(lb, "GET", NULL, 0, &reply, err) < 0)
		goto done;
	url_shown(lb->http.url, what + 4, sizeof(what) - 4);
	memcpy(what, "GET ", 4);
	rc = weights_parse_doc(buf_str(&reply.body), reply.body.len, what, out, err);
done:
	httpc_reply_free(&reply);
	return rc;
}

static int http_set(const struct load_balancer *lb, const struct weight_map *want,
		    struct cf_err *err)
{
	struct httpc_reply reply = {0};
	char *body = NULL;
	size_t len;
	int rc = -1;
	if (weights_render_doc(want, &body, &len, err) < 0)
		goto done;
	rc = request(lb, "PUT", body, len, &reply, err);
done:
	free(body);
	httpc_reply_free(&reply);
	return rc;
}

const struct weights_driver weights_http = {
	.name = "http",
	.get = http_get,
	.set = http_set,
};
