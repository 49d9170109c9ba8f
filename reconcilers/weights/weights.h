/* weights: the load-balancer drivers, one table of functions per LoadBalancer driver (haproxy,
 * http, file, command) so the controller never knows which one runs. A weight map names servers
 * (the MacNodes' loadBalancer.server) and their weights, 0..256; 0 drains a server. set changes
 * the servers the map names and leaves every other server as it is; get reports every server the
 * load balancer knows. weights_apply is what the controller calls: set, then read back with get,
 * and any server whose weight differs from the one asked for is an error naming it, so no step
 * counts as done on a weight the load balancer did not take. A server the load balancer's own
 * health checks hold down keeps the weight it was given: its weight reads back as set.
 * route_tenant (optional) sends the requests whose tenant header carries a value to one pool,
 * sticky until changed; the controller reasserts routes and weights every pass, since a load
 * balancer restart forgets runtime changes. Optional too: servers (each server's health, drain
 * state and sessions, base/lbstate.h), drain (the load balancer's own drain state: no new
 * sessions, weight kept; a driver without one drains by weight 0 alone) and routes (the tenant
 * routes read back). Every network call and command is bounded in time and every reply in size.
 *
 * haproxy: the Runtime API on haproxy.socket (UNIX) or haproxy.address ("host:port"). A weight
 *   map goes over one connection in interactive mode: `show servers state <backend>`, a
 *   `set weight <backend>/<server> <w>` for each server whose weight differs (';'-separated,
 *   on lines of at most 8 KiB, so 10,000 changes take a few lines, not 10,000 connections),
 *   and `show servers state <backend>` again for the read-back; each command's answer is read
 *   apart, so every server whose change failed is named. srv_uweight is the weight;
 *   srv_op_state, srv_admin_state and srv_check_state give the health and the drain state.
 *   One command per connection for the rest: sessions from `show stat <backend> 4 -1` (scur),
 *   `set server <backend>/<server> state drain|ready`. Tenant routes go into the
 *   runtime map haproxy.tenantMap (`set map`, else `add map`, read back with `get map`; all of
 *   them with `show map`), whose values are backend names, used by haproxy.cfg as in
 *   hack/haproxy/clawfleet.cfg.in:
 *     use_backend %[req.hdr(X-Tenant-Canary),map(/etc/haproxy/canary-tenants.map,gateways)]
 *   The map file must exist when HAProxy starts; runtime changes do not rewrite it.
 * http: GET url answers {"weights": {"server": N}}; PUT url sends the same shape, the whole map
 *   in one request (and one GET reads it back). Values of
 *   http.headers may hold "${NAME}", replaced at request time by the environment variable NAME
 *   (so tokens stay out of Git); an unset variable is an error. No tenant routing.
 * file: the embedded default, {"weights": {...}, "tenants": {...}, "updatedAt": RFC 3339}
 *   written atomically at file.path; a missing file is an empty map. Routes read back.
 * command: runs command.argv plus "get" (prints {"weights": {...}} on stdout), plus "set"
 *   "server=weight"... (at most WEIGHTS_COMMAND_SERVERS_PER_RUN pairs per run), or plus "route"
 *   VALUE POOL; exit status 0 means done. No shell, no stdin. */
#ifndef CLAWFLEET_WEIGHTS_H
#define CLAWFLEET_WEIGHTS_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/lbstate.h"
#include "base/weightmap.h"
#include "desired/desired.h"


#define WEIGHTS_CONNECT_TIMEOUT_MS 2000
#define WEIGHTS_REQUEST_TIMEOUT_MS 5000 /* a whole exchange, connect included */
#define WEIGHTS_COMMAND_TIMEOUT_MS 10000
#define WEIGHTS_COMMAND_SERVERS_PER_RUN 200

struct weights_driver {
	const char *name;
	int (*get)(const struct load_balancer *lb, struct weight_map *out, struct cf_err *err);
	int (*set)(const struct load_balancer *lb, const struct weight_map *want,
		   struct cf_err *err);
	/* NULL: weights_apply calls set, then get. Else set and get in one exchange with the load
	 * balancer: *got (empty, the caller frees it) is what it reports after the changes. */
	int (*apply)(const struct load_balancer *lb, const struct weight_map *want,
		     struct weight_map *got, struct cf_err *err);
	/* NULL when the driver cannot route tenants. */
	int (*route_tenant)(const struct load_balancer *lb, const char *header_value,
			    const char *pool, struct cf_err *err);
	/* NULL when the driver knows the weights only. */
	int (*servers)(const struct load_balancer *lb, struct lb_servers *out, struct cf_err *err);
	/* NULL when weight 0 is the driver's only drain. */
	int (*drain)(const struct load_balancer *lb, const char *server, bool drain,
		     struct cf_err *err);
	/* NULL when the driver cannot read its routes back. */
	int (*routes)(const struct load_balancer *lb, struct lb_routes *out, struct cf_err *err);
};

extern const struct weights_driver weights_haproxy, weights_http, weights_file, weights_command;

const struct weights_driver *weights_driver_find(enum lb_driver driver);

/* get into *out (emptied first; the caller frees it either way). */
int weights_get(const struct load_balancer *lb, struct weight_map *out, struct cf_err *err);
/* set, then read back and compare every server of want. */
int weights_apply(const struct load_balancer *lb, const struct weight_map *want,
		  struct cf_err *err);
/* Checks both names, then the driver's route_tenant; an error when the driver has none. */
int weights_route_tenant(const struct load_balancer *lb, const char *header_value,
			 const char *pool, struct cf_err *err);

/* Each server's health, drain state and sessions into *out (emptied first; the caller frees it
 * either way); an error when the driver reports none. */
int weights_servers(const struct load_balancer *lb, struct lb_servers *out, struct cf_err *err);
/* Puts server in the load balancer's own drain state (drain) or back to ready, and reads it
 * back; 0 without doing anything when the driver has none (weights_has_drain). */
int weights_drain(const struct load_balancer *lb, const char *server, bool drain,
		  struct cf_err *err);
/* The tenant routes into *out (emptied first; the caller frees it either way); an error when
 * the driver cannot read them (weights_has_routes). */
int weights_routes(const struct load_balancer *lb, struct lb_routes *out, struct cf_err *err);
/* What the LoadBalancer's driver can do beyond weights. */
bool weights_has_servers(const struct load_balancer *lb);
bool weights_has_drain(const struct load_balancer *lb);
bool weights_has_routes(const struct load_balancer *lb);

/* HAProxy Runtime API replies, pure, for the haproxy driver and its tests. */
/* `show servers state <backend>`: the servers of backend and their srv_uweight. */
int weights_haproxy_parse_state(const char *reply, const char *backend, struct weight_map *out,
				struct cf_err *err);
/* A command that answers nothing on success (set weight, set/add map): 0 when reply is blank,
 * else -1 with the reply's first line as the message. */
int weights_haproxy_check_empty(const char *reply, struct cf_err *err);
/* `get map <map> <key>`: *found, and the value (truncated to size) when found. */
int weights_haproxy_parse_get_map(const char *reply, bool *found, char *value, size_t size,
				  struct cf_err *err);
/* `show servers state <backend>`: each server's health and drain state into out, the sessions
 * of a server already there kept. */
int weights_haproxy_parse_servers(const char *reply, const char *backend,
				  struct lb_servers *out, struct cf_err *err);
/* `show stat <backend> 4 -1`: each server's scur as its sessions in io (added when missing). */
int weights_haproxy_parse_sessions(const char *reply, const char *backend,
				   struct lb_servers *io, struct cf_err *err);
/* `show map <map>`: "<id> <key> <value>" lines into out; entries whose key is no tenant header
 * value or whose value is no backend name are skipped. */
int weights_haproxy_parse_map(const char *reply, struct lb_routes *out, struct cf_err *err);

#endif
