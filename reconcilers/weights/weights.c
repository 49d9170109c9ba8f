#include "reconcilers/weights/weights.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/failpoint.h"

const struct weights_driver *weights_driver_find(enum lb_driver driver)
{
	switch (driver) {
	case LB_HAPROXY:
		return &weights_haproxy;
	case LB_HTTP:
		return &weights_http;
	case LB_FILE:
		return &weights_file;
	case LB_COMMAND:
		return &weights_command;
	}
	return NULL;
}

static const struct weights_driver *driver_of(const struct load_balancer *lb, struct cf_err *err)
{
	const struct weights_driver *drv = weights_driver_find(lb->driver);
	if (!drv)
		cf_err_set(err, "LoadBalancer/%s: unknown driver %d", lb->name ? lb->name : "-",
			   (int)lb->driver);
	return drv;
}

int weights_get(const struct load_balancer *lb, struct weight_map *out, struct cf_err *err)
{
	weight_map_clear(out);
	const struct weights_driver *drv = driver_of(lb, err);
	if (!drv)
		return -1;
	return drv->get(lb, out, err);
}

int weights_apply(const struct load_balancer *lb, const struct weight_map *want,
		  struct cf_err *err)
{
	struct weight_map got = {0};
	int rc = -1;
	const struct weights_driver *drv = driver_of(lb, err);
	if (!drv)
		goto done;
	failpoint_hit("controller.weights.set.before");
	if ((drv->apply ? drv->apply(lb, want, &got, err) : drv->set(lb, want, err)) < 0)
		goto done;
	failpoint_hit("controller.weights.set.after");
	if (!drv->apply && drv->get(lb, &got, err) < 0) {
		cf_err_prefix(err, "reading weights back");
		goto done;
	}
	for (size_t i = 0; i < want->n; i++) {
		const struct weight_entry *w = &want->v[i];
		const struct weight_entry *g = weight_map_find(&got, w->server);
		if (!g) {
			cf_err_set(err, "%s load balancer: server %s: weight %d was set, but the load "
				   "balancer does not list the server", drv->name, w->server,
				   w->weight);
			goto done;
		}
		if (g->weight != w->weight) {
			cf_err_set(err, "%s load balancer: server %s: want weight %d, got %d on "
				   "reading back", drv->name, w->server, w->weight, g->weight);
			goto done;
		}
	}
	rc = 0;
done:
	weight_map_free(&got);
	return rc;
}

int weights_route_tenant(const struct load_balancer *lb, const char *header_value,
			 const char *pool, struct cf_err *err)
{
	const struct weights_driver *drv = driver_of(lb, err);
	if (!drv)
		return -1;
	if (!drv->route_tenant)
		return cf_err_set(err, "the %s load-balancer driver cannot route tenants; use "
				  "haproxy, file or command", drv->name);
	if (!weights_tenant_value_ok(header_value))
		return cf_err_set(err, "tenant header value \"%.64s\": want 1 to %d of "
				  "A-Z a-z 0-9 _ . : @ + = -", header_value, WEIGHTS_TENANT_VALUE_MAX);
	if (!weights_name_ok(pool))
		return cf_err_set(err, "pool \"%.80s\": want 1 to %d of A-Z a-z 0-9 _ . : -", pool,
				  WEIGHTS_SERVER_NAME_MAX);
	return drv->route_tenant(lb, header_value, pool, err);
}


int weights_servers(const struct load_balancer *lb, struct lb_servers *out, struct cf_err *err)
{
	lb_servers_clear(out);
	const struct weights_driver *drv = driver_of(lb, err);
	if (!drv)
		return -1;
	if (!drv->servers)
		return cf_err_set(err, "the %s load-balancer driver does not report its servers' "
				  "state", drv->name);
	return drv->servers(lb, out, err);
}

int weights_drain(const struct load_balancer *lb, const char *server, bool drain,
		  struct cf_err *err)
{
	const struct weights_driver *drv = driver_of(lb, err);
	if (!drv)
		return -1;
	return drv->drain ? drv->drain(lb, server, drain, err) : 0;
}

int weights_routes(const struct load_balancer *lb, struct lb_routes *out, struct cf_err *err)
{
	lb_routes_clear(out);
	const struct weights_driver *drv = driver_of(lb, err);
	if (!drv)
		return -1;
	if (!drv->routes)
		return cf_err_set(err, "the %s load-balancer driver cannot read its tenant routes "
				  "back", drv->name);
	return drv->routes(lb, out, err);
}

bool weights_has_servers(const struct load_balancer *lb)
{
	const struct weights_driver *drv = weights_driver_find(lb->driver);
	return drv && drv->servers;
}

bool weights_has_drain(const struct load_balancer *lb)
{
	const struct weights_driver *drv = weights_driver_find(lb->driver);
	return drv && drv->drain;
}

bool weights_has_routes(const struct load_balancer *lb)
{
	const struct weights_driver *drv = weights_driver_find(lb->driver);
	return drv && drv->routes;
}
