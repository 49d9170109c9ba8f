/* The Flux receiver's reading of a body: a notification-controller event, every field it uses
 * checked (DNS names, printable ASCII, lengths), and the eventId its redeliveries share. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "base/canon.h"
#include "base/jsonparse.h"
#include "base/names.h"
#include "serve/fluxhook_internal.h"

/* A Flux event is three levels deep; anything far deeper is not one. */
#define JSON_DEPTH 16
#define KIND_MAX 63
#define REVISION_MAX (ROLLOUT_REVISION_MAX - 1)

/* Identifiers and refs: printable ASCII without spaces, at most max bytes; "" counts as absent
 * (*out NULL). */
static int json_text(const char *field, struct json_object *v, size_t max, const char **out,
		     struct cf_err *err)
{
	*out = NULL;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return cf_err_set(err, "%s must be a string", field);
	const char *s = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	if (len > max)
		return cf_err_set(err, "%s is longer than %zu bytes", field, max);
	for (size_t i = 0; i < len; i++)
		if (s[i] < '!' || s[i] > '~')
			return cf_err_set(err, "%s must be printable ASCII without spaces", field);
	if (len)
		*out = s;
	return 0;
}

/* o[key], NULL when absent or null; -1 when it is not a string. */
static int optional_string(struct json_object *o, const char *field, const char *key,
			   struct json_object **out, struct cf_err *err)
{
	struct json_object *v = NULL;
	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return cf_err_set(err, "%s must be a string", field);
	*out = v;
	return 0;
}

/* metadata[key], or else the first "<group>/key", as notification-controllers before the
 * prefix was stripped sent it; NULL when neither is there. */
static struct json_object *metadata_get(struct json_object *meta, const char *key)
{
	struct json_object *prefixed = NULL;
	json_object_object_foreach(meta, mkey, mval) {
		const char *slash = strchr(mkey, '/');
		if (strcmp(mkey, key) == 0)
			return mval;
		if (!prefixed && slash && slash != mkey && strcmp(slash + 1, key) == 0)
			prefixed = mval;
	}
	return prefixed;
}

/* A JSON string may carry \u0000, which C strings would silently cut short. */
static bool holds_nul(struct json_object *v)
{
	return strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v);
}

/* An object kind is a Go type name: a letter, then letters and digits. */
static int check_kind(const char *kind, struct cf_err *err)
{
	size_t len = strlen(kind);
	bool ok = len > 0 && len <= KIND_MAX &&
		  ((kind[0] >= 'A' && kind[0] <= 'Z') || (kind[0] >= 'a' && kind[0] <= 'z'));
	for (size_t i = 1; ok && i < len; i++)
		ok = (kind[i] >= 'A' && kind[i] <= 'Z') || (kind[i] >= 'a' && kind[i] <= 'z') ||
		     (kind[i] >= '0' && kind[i] <= '9');
	if (!ok)
		return cf_err_set(err, "involvedObject.kind must be a letter and up to %d more "
				  "letters or digits", KIND_MAX - 1);
	return 0;
}

static int parse_object(const char *body, size_t len, struct json_object **out,
			struct cf_err *err)
{
	return jsonparse_object(body, len, JSON_DEPTH, out, err) < 0
		       ? cf_err_prefix(err, "the body")
		       : 0;
}

static int parse_involved(struct json_object *doc, struct flux_event *ev, struct cf_err *err)
{
	struct json_object *obj = NULL, *kind, *name, *ns, *uid;
	struct cf_err why;

	if (!json_object_object_get_ex(doc, "involvedObject", &obj) || !obj)
		return cf_err_set(err, "involvedObject is missing");
	if (!json_object_is_type(obj, json_type_object))
		return cf_err_set(err, "involvedObject must be an object");
	if (optional_string(obj, "involvedObject.kind", "kind", &kind, err) < 0 ||
	    optional_string(obj, "involvedObject.name", "name", &name, err) < 0 ||
	    optional_string(obj, "involvedObject.namespace", "namespace", &ns, err) < 0 ||
	    optional_string(obj, "involvedObject.uid", "uid", &uid, err) < 0)
		return -1;
	if (!kind)
		return cf_err_set(err, "involvedObject.kind is missing");
	if (!name)
		return cf_err_set(err, "involvedObject.name is missing");
	if (holds_nul(kind) || holds_nul(name) || (ns && holds_nul(ns)))
		return cf_err_set(err, "involvedObject's kind, name and namespace may not hold "
				  "NUL characters");
	ev->kind = json_object_get_string(kind);
	ev->name = json_object_get_string(name);
	if (check_kind(ev->kind, err) < 0)
		return -1;
	if (name_check_dns_subdomain(ev->name, &why) < 0)
		return cf_err_set(err, "involvedObject.name: %s", why.msg);
	if (ns) {
		ev->namespace = json_object_get_string(ns);
		if (name_check_dns_label(ev->namespace, &why) < 0)
			return cf_err_set(err, "involvedObject.namespace: %s", why.msg);
	}
	return json_text("involvedObject.uid", uid, NF_ID_MAX - 1, &ev->uid, err);
}

static int parse_metadata(struct json_object *doc, struct flux_event *ev, struct cf_err *err)
{
	struct json_object *meta = NULL;

	if (!json_object_object_get_ex(doc, "metadata", &meta) || !meta)
		return 0;
	if (!json_object_is_type(meta, json_type_object))
		return cf_err_set(err, "metadata must be an object");
	if (json_text("metadata.revision", metadata_get(meta, "revision"), REVISION_MAX,
		      &ev->revision, err) < 0 ||
	    json_text("metadata.imageRef", metadata_get(meta, "imageRef"),
		      FLUXHOOK_IMAGE_REF_MAX - 1, &ev->image_ref, err) < 0)
		return -1;
	return 0;
}

/* Reads the event in doc (owned by the caller, which keeps it while ev is used). */
static int parse_event(struct json_object *doc, struct flux_event *ev, struct cf_err *err)
{
	memset(ev, 0, sizeof(*ev));
	if (parse_involved(doc, ev, err) < 0 ||
	    optional_string(doc, "reason", "reason", &ev->reason, err) < 0 ||
	    optional_string(doc, "message", "message", &ev->message, err) < 0 ||
	    optional_string(doc, "timestamp", "timestamp", &ev->timestamp, err) < 0 ||
	    parse_metadata(doc, ev, err) < 0)
		return -1;
	return 0;
}

int fluxhook_event_parse(const char *body, size_t len, struct json_object **doc,
			 struct flux_event *ev, struct cf_err *err)
{
	if (parse_object(body, len, doc, err) < 0 || parse_event(*doc, ev, err) < 0)
		return -1;
	return 0;
}

static int add_text(struct json_object *array, const char *s)
{
	struct json_object *v = NULL;
	if (s && !(v = json_object_new_string(s)))
		return -1;
	return json_object_array_add(array, v);
}

int fluxhook_event_id(const struct flux_event *ev, char out[65], struct cf_err *err)
{
	struct json_object *a = json_object_new_array_ext(7);
	int rc = -1;

	if (!a)
		return cf_err_set(err, "out of memory");
	if (add_text(a, ev->kind) < 0 || add_text(a, ev->namespace) < 0 ||
	    add_text(a, ev->name) < 0 ||
	    json_object_array_add(a, json_object_get(ev->reason)) < 0 ||
	    json_object_array_add(a, json_object_get(ev->message)) < 0 ||
	    add_text(a, ev->revision) < 0 ||
	    json_object_array_add(a, json_object_get(ev->timestamp)) < 0) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	rc = canon_json_sha256(a, out, err);
done:
	json_object_put(a);
	return rc;
}
