#include "base/jsonparse.h"

#include <json-c/json.h>
#include <limits.h>

int jsonparse_object(const char *text, size_t len, int depth, struct json_object **out,
		     struct cf_err *err)
{
	struct json_tokener *tok = NULL;
	struct json_object *v = NULL;
	int rc = -1;

	*out = NULL;
	if (len > INT_MAX)
		return cf_err_set(err, "not valid JSON: too large");
	tok = json_tokener_new_ex(depth);
	if (!tok)
		return cf_err_set(err, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	v = json_tokener_parse_ex(tok, text, (int)len);
	if (!v || json_tokener_get_parse_end(tok) != len) {
		enum json_tokener_error je = json_tokener_get_error(tok);
		cf_err_set(err, "not valid JSON: %s",
			   je == json_tokener_continue	? "unexpected end"
			   : je == json_tokener_success ? "trailing data after the object"
							: json_tokener_error_desc(je));
		goto done;
	}
	if (!json_object_is_type(v, json_type_object)) {
		cf_err_set(err, "not a JSON object");
		goto done;
	}
	*out = v;
	v = NULL;
	rc = 0;
done:
	json_object_put(v);
	json_tokener_free(tok);
	return rc;
}
