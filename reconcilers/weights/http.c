#include "reconcilers/weights/weights.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_LINE_MAX 8192
#define ENV_NAME_MAX 128
#define URL_SHOWN 256
#define BODY_SHOWN 200

struct reply {
	char *data;
	size_t len, cap;
	bool over;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct reply *r = userdata;
	size_t n = size * nmemb;
	if (r->len + n > WEIGHTS_REPLY_MAX) {
		r->over = true;
		return 0;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n + 1)
			cap *= 2;
		char *d = realloc(r->data, cap);
		if (!d)
			return 0;
		r->data = d;
		r->cap = cap;
	}
	memcpy(r->data + r->len, ptr, n);
	r->len += n;
	r->data[r->len] = '\0';
	return n;
}

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

static int add_header(struct curl_slist **list, const char *line, struct cf_err *err)
{
	struct curl_slist *l = curl_slist_append(*list, line);
	if (!l)
		return cf_err_set(err, "out of memory");
	*list = l;
	return 0;
}

/* One request; body NULL for GET. On 2xx, the reply body (capped) goes to *reply. */
static int request(const struct load_balancer *lb, const char *method, const char *body,
		   size_t body_len, struct reply *reply, struct cf_err *err)
{
	char shown[URL_SHOWN], line[HEADER_LINE_MAX];
	struct curl_slist *headers = NULL;
	CURL *curl = NULL;
	long status = 0;
	int rc = -1;

	if (!lb->http.url)
		return cf_err_set(err, "LoadBalancer/%s: http.url is needed",
				  lb->name ? lb->name : "-");
	url_shown(lb->http.url, shown, sizeof(shown));
	if (add_header(&headers, "Accept: application/json", err) < 0 ||
	    (body && add_header(&headers, "Content-Type: application/json", err) < 0))
		goto done;
	for (size_t i = 0; i < lb->http.nheaders; i++)
		if (header_line(&lb->http.headers[i], line, sizeof(line), err) < 0 ||
		    add_header(&headers, line, err) < 0)
			goto done;
	curl = curl_easy_init();
	if (!curl) {
		cf_err_set(err, "cannot start libcurl");
		goto done;
	}
	curl_easy_setopt(curl, CURLOPT_URL, lb->http.url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)WEIGHTS_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)WEIGHTS_REQUEST_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "clawfleet");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
	if (body) {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	CURLcode cc = curl_easy_perform(curl);
	if (reply->over) {
		cf_err_set(err, "the reply is over %u bytes", WEIGHTS_REPLY_MAX);
		goto done;
	}
	if (cc != CURLE_OK) {
		cf_err_set(err, "%s", curl_easy_strerror(cc));
		goto done;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		char excerpt[BODY_SHOWN + 1];
		size_t n = 0;
		for (size_t i = 0; i < reply->len && n < BODY_SHOWN && reply->data[i] != '\n'; i++)
			excerpt[n++] = reply->data[i] >= ' ' && reply->data[i] <= '~' ? reply->data[i]
										  : '?';
		excerpt[n] = '\0';
		cf_err_set(err, "status %ld%s%s", status, n ? ": " : "", excerpt);
		goto done;
	}
	rc = 0;
done:
	if (rc < 0)
		cf_err_prefix(err, "http load balancer: %s %s", method, shown);
	curl_slist_free_all(headers);
	if (curl)
		curl_easy_cleanup(curl);
	return rc;
}

static int http_get(const struct load_balancer *lb, struct weight_map *out, struct cf_err *err)
{
	struct reply reply = {0};
	char what[URL_SHOWN + 4];
	int rc = -1;
	if (request(lb, "GET", NULL, 0, &reply, err) < 0)
		goto done;
	url_shown(lb->http.url, what + 4, sizeof(what) - 4);
	memcpy(what, "GET ", 4);
	rc = weights_parse_doc(reply.data ? reply.data : "", reply.len, what, out, err);
done:
	free(reply.data);
	return rc;
}

static int http_set(const struct load_balancer *lb, const struct weight_map *want,
		    struct cf_err *err)
{
	struct reply reply = {0};
	char *body = NULL;
	size_t len;
	int rc = -1;
	if (weights_render_doc(want, &body, &len, err) < 0)
		goto done;
	rc = request(lb, "PUT", body, len, &reply, err);
done:
	free(body);
	free(reply.data);
	return rc;
}

const struct weights_driver weights_http = {
	.name = "http",
	.get = http_get,
	.set = http_set,
};
