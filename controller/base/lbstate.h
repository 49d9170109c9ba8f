/* lbstate: what a load balancer reports beyond its weights (base/weightmap.h), in the one shape
 * its drivers (reconcilers/weights/weights.h), the planner and the status document share:
 *
 *   servers  per server, whether its own health checks have it down, whether it is draining (it
 *            takes no new sessions while its weight stays) and how many sessions it serves now;
 *   routes   the tenant map: which pool each tenant's header value is sent to.
 *
 * Both are lists with unique names, in the order names were first added, each capped at
 * WEIGHTS_MAX_SERVERS entries and indexed by name (base/nameindex.h); zero-initialise them ({0}),
 * change them only through their _put, and free them with their _free. */
#ifndef CLAWFLEET_LBSTATE_H
#define CLAWFLEET_LBSTATE_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/nameindex.h"
#include "base/weightmap.h"

enum lb_health {
	LB_HEALTH_UNKNOWN, /* the load balancer does not check it (HAProxy "no check") */
	LB_HEALTH_UP,
	LB_HEALTH_DOWN,	   /* its health checks fail: the load balancer sends it nothing */
	LB_HEALTH_MAINT,   /* taken out by hand or by configuration */
};

struct lb_server {
	char server[WEIGHTS_SERVER_NAME_MAX + 1];
	enum lb_health health;
	bool draining;
	int sessions; /* current sessions; -1 when not known */
};

struct lb_servers {
	struct lb_server *v;
	size_t n, cap;
	struct name_index index;
};

struct lb_route {
	char tenant[WEIGHTS_TENANT_VALUE_MAX + 1]; /* the header value */
	char pool[WEIGHTS_SERVER_NAME_MAX + 1];    /* a pool or backend name */
};

struct lb_routes {
	struct lb_route *v;
	size_t n, cap;
	struct name_index index;
};

/* Adds s, or replaces the entry of the same name; a bad name or a full list is an error. */
int lb_servers_put(struct lb_servers *l, const struct lb_server *s, struct cf_err *err);
const struct lb_server *lb_servers_find(const struct lb_servers *l, const char *server);
void lb_servers_clear(struct lb_servers *l); /* keeps the storage */
void lb_servers_free(struct lb_servers *l);

/* Adds tenant -> pool, or changes the pool of tenant; bad names or a full list are errors. */
int lb_routes_put(struct lb_routes *l, const char *tenant, const char *pool, struct cf_err *err);
const struct lb_route *lb_routes_find(const struct lb_routes *l, const char *tenant);
void lb_routes_clear(struct lb_routes *l); /* keeps the storage */
void lb_routes_free(struct lb_routes *l);

const char *lb_health_name(enum lb_health h); /* "unknown", "up", "down", "maint" */

#endif
