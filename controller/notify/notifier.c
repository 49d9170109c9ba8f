/* The notifier's intake: what a gateway's failure line and a controller's event say, refused
 * with a reason when they are not what notifier.h describes, and the correlation ids both carry. */
#include "base/compat.h"
#include "notify/notifier.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/canon.h"
#include "base/jsonparse.h"
#include "base/names.h"
#include "base/timeparse.h"
#include "notify/notifier_internal.h"

/* A line or an event is a flat object; anything deeper was not written by a gateway. */
#define JSON_DEPTH 4

static const char *const family_names[NF_FAMILIES] = {"4xx", "5xx", "timeout"};

const char *nf_family_name(enum nf_family f)
{
	return f < NF_FAMILIES ? family_names[f] : "unknown";
}

int nf_family_of_status(long status, enum nf_family *out)
{
	if (status >= 400 && status <= 499)
		*out = NF_4XX;
	else if (status >= 500 && status <= 599)
		*out = NF_5XX;
	else
		return -1;
	return 0;
}

static int parse_object(const char *text, size_t len, struct json_object **out,
			struct cf_err *err)
{
	return jsonparse_object(text, len, JSON_DEPTH, out, err);
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if (*s < '!' || *s > '~')
			return false;
	return true;
}

/* Copies the string at key into out (size bytes with the NUL); "" when absent and optional.
 * ids and endpoints are printable ASCII without spaces; free text (spaces true) may hold any
 * UTF-8 but no control characters. */
static int get_string(struct json_object *o, const char *key, bool required, bool spaces,
		      char *out, size_t size, struct cf_err *err)
{
	struct json_object *v;

	out[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return cf_err_set(err, "%s is missing", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return cf_err_set(err, "%s must be a string", key);
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	if (n >= size)
		return cf_err_set(err, "%s is longer than %zu bytes", key, size - 1);
	if (strlen(s) != n)
		return cf_err_set(err, "%s holds a NUL byte", key);
	if (required && n == 0)
		return cf_err_set(err, "%s is empty", key);
	if (!spaces && !printable_ascii(s))
		return cf_err_set(err, "%s must be printable ASCII without spaces", key);
	for (size_t i = 0; spaces && i < n; i++)
		if ((unsigned char)s[i] < ' ' && s[i] != '\n' && s[i] != '\t')
			return cf_err_set(err, "%s holds a control character", key);
	memcpy(out, s, n + 1);
	return 0;
}

/* scheme://host/path of a URL, without user information, query or fragment; other endpoints
 * (host:port, a name) lose only a query or fragment. */
static void endpoint_normalise(char *s)
{
	char *host = strstr(s, "://");
	if (host) {
		host += 3;
		size_t host_len = strcspn(host, "/?#");
		/* The last '@': user information may hold more ("https://@user:pw@host"). */
		char *at = compat_memrchr(host, '@', host_len);
		if (at)
			memmove(host, at + 1, strlen(at + 1) + 1);
	}
	s[strcspn(s, "?#")] = '\0';
}

int nf_failure_parse(const char *line, size_t len, struct nf_failure *out, struct cf_err *err)
{
	struct json_object *o = NULL, *status;
	char when[64];
	time_t t;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len > NF_LINE_MAX)
		return cf_err_set(err, "line longer than %d bytes", NF_LINE_MAX);
	if (parse_object(line, len, &o, err) < 0)
		goto done;
	if (get_string(o, "tenant", true, false, out->tenant, sizeof(out->tenant), err) < 0 ||
	    name_check_dns_label(out->tenant, err) < 0 ||
	    get_string(o, "endpoint", true, false, out->endpoint, sizeof(out->endpoint), err) < 0 ||
	    get_string(o, "eventId", false, false, out->event_id, sizeof(out->event_id), err) < 0 ||
	    get_string(o, "correlationId", false, false, out->correlation_id,
		       sizeof(out->correlation_id), err) < 0 ||
	    get_string(o, "time", false, false, when, sizeof(when), err) < 0)
		goto done;
	if (when[0] && rfc3339_parse(when, &t, err) < 0) {
		cf_err_prefix(err, "time");
		goto done;
	}
	endpoint_normalise(out->endpoint);
	if (!out->endpoint[0]) {
		cf_err_set(err, "endpoint is empty once its query is removed");
		goto done;
	}
	if (!json_object_object_get_ex(o, "status", &status)) {
		cf_err_set(err, "status is missing");
		goto done;
	}
	if (json_object_is_type(status, json_type_string) &&
	    strcmp(json_object_get_string(status), "timeout") == 0) {
		out->family = NF_TIMEOUT;
	} else if (!json_object_is_type(status, json_type_int) ||
		   nf_family_of_status((long)json_object_get_int64(status), &out->family) < 0) {
		cf_err_set(err, "status must be an HTTP status from 400 to 599 or \"timeout\"");
		goto done;
	} else {
		out->status = (int)json_object_get_int64(status);
	}
	rc = 0;
done:
	json_object_put(o);
	return rc;
}

void nf_correlation_id(const char *material, char out[NF_CORRELATION_MAX])
{
	char hex[65];
	canon_sha256_hex(material, strlen(material), hex);
	snprintf(out, NF_CORRELATION_MAX, "cf-%.32s", hex);
}

static const char *const kind_names[] = {"verdict", "rollback", "reply"};
/* drain and restore: the controller took a red gateway out of service or put it back. */
static const char *const verdicts[] = {"promote", "hold", "rollback", "drain", "restore"};
static const char *const event_keys[] = {"kind",     "verdict",	      "status", "fluxUid",
					 "eventId", "probeKey", "correlationId", "message"};

const char *nf_event_kind_name(enum nf_event_kind kind)
{
	return kind_names[kind];
}

static bool one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, set[i]) == 0)
			return true;
	return false;
}

int nf_event_parse(const char *body, size_t len, struct nf_event *out, struct cf_err *err)
{
	struct json_object *o = NULL, *status;
	char kind[16], material[1024];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (parse_object(body, len, &o, err) < 0)
		goto done;
	json_object_object_foreach(o, key, value) {
		(void)value;
		if (!one_of(key, event_keys, sizeof(event_keys) / sizeof(event_keys[0]))) {
			cf_err_set(err, "unknown key \"%.64s\"", key);
			goto done;
		}
	}
	if (get_string(o, "kind", true, false, kind, sizeof(kind), err) < 0 ||
	    get_string(o, "verdict", false, false, out->verdict, sizeof(out->verdict), err) < 0 ||
	    get_string(o, "fluxUid", false, false, out->flux_uid, sizeof(out->flux_uid), err) < 0 ||
	    get_string(o, "eventId", false, false, out->event_id, sizeof(out->event_id), err) < 0 ||
	    get_string(o, "probeKey", false, false, out->probe_key, sizeof(out->probe_key),
		       err) < 0 ||
	    get_string(o, "correlationId", false, false, out->correlation_id,
		       sizeof(out->correlation_id), err) < 0 ||
	    get_string(o, "message", false, true, out->message, sizeof(out->message), err) < 0)
		goto done;
	if (!one_of(kind, kind_names, 3)) {
		cf_err_set(err, "kind must be verdict, rollback or reply");
		goto done;
	}
	out->kind = strcmp(kind, "verdict") == 0    ? NF_EVENT_VERDICT
		    : strcmp(kind, "rollback") == 0 ? NF_EVENT_ROLLBACK
						    : NF_EVENT_REPLY;
	if (out->verdict[0] ? !one_of(out->verdict, verdicts, sizeof(verdicts) / sizeof(verdicts[0]))
			    : out->kind == NF_EVENT_VERDICT) {
		cf_err_set(err, "verdict must be promote, hold, rollback, drain or restore");
		goto done;
	}
	if (json_object_object_get_ex(o, "status", &status)) {
		int64_t v = json_object_get_int64(status);
		if (!json_object_is_type(status, json_type_int) || v < 100 || v > 599) {
			cf_err_set(err, "status must be an HTTP status from 100 to 599");
			goto done;
		}
		out->status = (int)v;
	} else if (out->kind == NF_EVENT_REPLY) {
		cf_err_set(err, "status is missing (a reply needs the HTTP status it answered)");
		goto done;
	}
	if (!out->correlation_id[0]) {
		snprintf(material, sizeof(material), "event|%s|%s|%d|%s|%s|%s|%.512s", kind,
			 out->verdict, out->status, out->flux_uid, out->event_id, out->probe_key,
			 out->message);
		nf_correlation_id(material, out->correlation_id);
	}
	rc = 0;
done:
	json_object_put(o);
	return rc;
}

bool nf_event_broadcasts(const struct nf_event *ev)
{
	switch (ev->kind) {
	case NF_EVENT_VERDICT:
		return strcmp(ev->verdict, "promote") != 0;
	case NF_EVENT_ROLLBACK:
		return true;
	case NF_EVENT_REPLY:
		return ev->status < 200 || ev->status > 299;
	}
	return false;
}
