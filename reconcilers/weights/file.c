#include "reconcilers/weights/weights.h"

#include <errno.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/canon.h"
#include "base/clock.h"
#include "base/fsutil.h"
#include "base/timeparse.h"

#define FILE_MODE 0644
#define DIR_MODE 0755

static int check_path(const struct load_balancer *lb, struct cf_err *err)
{
	if (!lb->file.path || !lb->file.path[0])
		return cf_err_set(err, "LoadBalancer/%s: file.path is needed",
				  lb->name ? lb->name : "-");
	return 0;
}

/* The document at file.path, or a fresh empty object when there is none yet. */
static int load(const char *path, struct json_object **doc, struct cf_err *err)
{
	char *text = NULL;
	size_t len;
	*doc = NULL;
	errno = 0;
	if (fsutil_read_file(path, WEIGHTS_REPLY_MAX, &text, &len, err) < 0) {
		if (errno != ENOENT)
			return -1;
		*doc = json_object_new_object();
		return *doc ? 0 : cf_err_set(err, "out of memory");
	}
	int rc = weights_json_parse(text, len, path, doc, err);
	free(text);
	return rc;
}

/* The "tenants" member: an object of header values to pool names; absent is empty. */
static int tenants_of(struct json_object *doc, const char *path, struct json_object **out,
		      struct cf_err *err)
{
	*out = NULL;
	if (!json_object_object_get_ex(doc, "tenants", out))
		return 0;
	if (!json_object_is_type(*out, json_type_object))
		return cf_err_set(err, "%s: \"tenants\" must be an object of header values to pools",
				  path);
	json_object_object_foreach(*out, value, pool)
	{
		if (!json_object_is_type(pool, json_type_string) ||
		    !weights_name_ok(json_object_get_string(pool)))
			return cf_err_set(err, "%s: tenants.%.80s: want a pool name", path, value);
	}
	return 0;
}

/* Writes {"weights", "tenants", "updatedAt"} canonically and atomically; tenants may be NULL. */
static int store(const char *path, const struct weight_map *weights, struct json_object *tenants,
		 struct cf_err *err)
{
	char stamp[32], *text = NULL, *dir = NULL;
	size_t len;
	int rc = -1;
	struct json_object *doc = json_object_new_object();
	struct json_object *w = weights_to_json(weights);

	rfc3339_format((time_t)(clock_epoch_ms() / 1000), stamp, sizeof(stamp));
	if (!doc || !w || json_object_object_add(doc, "weights", w) < 0) {
		json_object_put(w);
		goto oom;
	}
	if (tenants && json_object_object_add(doc, "tenants", json_object_get(tenants)) < 0) {
		json_object_put(tenants);
		goto oom;
	}
	struct json_object *updated = json_object_new_string(stamp);
	if (!updated || json_object_object_add(doc, "updatedAt", updated) < 0) {
		json_object_put(updated);
		goto oom;
	}
	if (canon_json(doc, &text, &len, err) < 0)
		goto done;
	/* canon_json leaves room for the NUL only; a file ends with a newline. */
	char *line = realloc(text, len + 2);
	if (!line)
		goto oom;
	text = line;
	text[len++] = '\n';
	text[len] = '\0';
	dir = strdup(path);
	if (!dir)
		goto oom;
	if (fsutil_mkdir_p(dirname(dir), DIR_MODE, err) < 0 ||
	    fsutil_write_atomic(path, text, len, FILE_MODE, err) < 0)
		goto done;
	rc = 0;
	goto done;
oom:
	cf_err_set(err, "out of memory");
done:
	json_object_put(doc);
	free(text);
	free(dir);
	return rc;
}

static int file_get(const struct load_balancer *lb, struct weight_map *out, struct cf_err *err)
{
	struct json_object *doc = NULL;
	if (check_path(lb, err) < 0 || load(lb->file.path, &doc, err) < 0)
		return -1;
	int rc = weights_from_json(doc, lb->file.path, out, err);
	json_object_put(doc);
	return rc;
}

static int file_set(const struct load_balancer *lb, const struct weight_map *want,
		    struct cf_err *err)
{
	struct json_object *doc = NULL, *tenants;
	struct weight_map weights = {0};
	int rc = -1;

	if (check_path(lb, err) < 0 || load(lb->file.path, &doc, err) < 0)
		goto done;
	if (weights_from_json(doc, lb->file.path, &weights, err) < 0 ||
	    tenants_of(doc, lb->file.path, &tenants, err) < 0)
		goto done;
	for (size_t i = 0; i < want->n; i++)
		if (weight_map_set(&weights, want->v[i].server, want->v[i].weight, err) < 0)
			goto done;
	rc = store(lb->file.path, &weights, tenants, err);
done:
	json_object_put(doc);
	weight_map_free(&weights);
	return rc;
}

static int file_route_tenant(const struct load_balancer *lb, const char *header_value,
			     const char *pool, struct cf_err *err)
{
	struct json_object *doc = NULL, *tenants, *fresh = NULL, *got;
	struct weight_map weights = {0};
	int rc = -1;

	if (check_path(lb, err) < 0 || load(lb->file.path, &doc, err) < 0)
		goto done;
	if (weights_from_json(doc, lb->file.path, &weights, err) < 0 ||
	    tenants_of(doc, lb->file.path, &tenants, err) < 0)
		goto done;
	if (!tenants) {
		tenants = fresh = json_object_new_object();
		if (!fresh) {
			cf_err_set(err, "out of memory");
			goto done;
		}
	}
	struct json_object *route = json_object_new_string(pool);
	if (!route || json_object_object_add(tenants, header_value, route) < 0) {
		json_object_put(route);
		cf_err_set(err, "out of memory");
		goto done;
	}
	if (store(lb->file.path, &weights, tenants, err) < 0)
		goto done;
	json_object_put(doc);
	doc = NULL;
	if (load(lb->file.path, &doc, err) < 0 || tenants_of(doc, lb->file.path, &tenants, err) < 0)
		goto done;
	if (!tenants || !json_object_object_get_ex(tenants, header_value, &got) ||
	    strcmp(json_object_get_string(got), pool) != 0) {
		cf_err_set(err, "%s: tenant %s: want pool %s, not there on reading back",
			   lb->file.path, header_value, pool);
		goto done;
	}
	rc = 0;
done:
	json_object_put(fresh);
	json_object_put(doc);
	weight_map_free(&weights);
	return rc;
}

/* The "tenants" member as routes; entries clawfleet could not have written are skipped. */
static int file_routes(const struct load_balancer *lb, struct lb_routes *out, struct cf_err *err)
{
	struct json_object *doc = NULL, *tenants;
	int rc = -1;
	if (check_path(lb, err) < 0 || load(lb->file.path, &doc, err) < 0 ||
	    tenants_of(doc, lb->file.path, &tenants, err) < 0)
		goto done;
	if (tenants) {
		json_object_object_foreach(tenants, value, pool)
		{
			if (weights_tenant_value_ok(value) &&
			    lb_routes_put(out, value, json_object_get_string(pool), err) < 0)
				goto done;
		}
	}
	rc = 0;
done:
	json_object_put(doc);
	return rc;
}

const struct weights_driver weights_file = {
	.name = "file",
	.get = file_get,
	.set = file_set,
	.route_tenant = file_route_tenant,
	.routes = file_routes,
};
