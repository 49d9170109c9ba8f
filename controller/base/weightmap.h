/* weightmap: load-balancer weights by server name, the one shape the planner, the rollout state,
 * the status document and every load-balancer driver share (reconcilers/weights/weights.h). A
 * weight map names servers (the MacNodes' loadBalancer.server) and their weights, 0..256; 0
 * drains a server. Its JSON form is {"weights": {"server": N, ...}}. */
#ifndef CLAWFLEET_WEIGHTMAP_H
#define CLAWFLEET_WEIGHTMAP_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/nameindex.h"

struct json_object;

#define WEIGHT_MAX 256
#define WEIGHTS_SERVER_NAME_MAX 64 /* as MacNode spec.loadBalancer.server allows */
/* The most servers a map, a load balancer's server list and so the rollout (ROLLOUT_MAX_NODES)
 * take: 16,384, room for a fleet of 10,000 Macs and growth. A full map costs 1.2 MB (72 bytes an
 * entry) and its name index 128 KB; a rollout state holds three maps and a node entry of 300
 * bytes per node (4.8 MB at the limit). Past it, the planner refuses the desired state with a
 * message naming the limit, and a driver refuses a reply that lists more servers. */
#define WEIGHTS_MAX_SERVERS 16384
#define WEIGHTS_TENANT_VALUE_MAX 253
/* The largest reply a driver reads: HAProxy's `show stat` of WEIGHTS_MAX_SERVERS servers runs to
 * about 5 MB (a CSV line of some 300 bytes each). */
#define WEIGHTS_REPLY_MAX (8u << 20)

struct weight_entry {
	char server[WEIGHTS_SERVER_NAME_MAX + 1];
	int weight;
};

/* Zero-initialise ({0}); entries keep the order they were first set in. Change it only through
 * these functions (they keep the name index); a copy by value may be read, never changed. */
struct weight_map {
	struct weight_entry *v;
	size_t n, cap;
	struct name_index index;
};

/* Adds server or changes its weight; a bad name, a weight outside 0..256 or a full map is an
 * error and leaves the map as it was. */
int weight_map_set(struct weight_map *m, const char *server, int weight, struct cf_err *err);
const struct weight_entry *weight_map_find(const struct weight_map *m, const char *server);
void weight_map_clear(struct weight_map *m); /* keeps the storage */
/* dst becomes a copy of src (what dst held is freed); out of memory leaves dst as it was. */
int weight_map_copy(struct weight_map *dst, const struct weight_map *src, struct cf_err *err);
void weight_map_free(struct weight_map *m);

/* Server and backend names: 1..64 of [A-Za-z0-9_.:-], as the CRDs allow. Tenant header values:
 * 1..253 of [A-Za-z0-9_.:@+=-]. Both are safe as HAProxy CLI words and command arguments. */
bool weights_name_ok(const char *s);
bool weights_tenant_value_ok(const char *s);

/* The drivers' shared JSON forms; what names the source in errors ("GET <url>", a path, a
 * command line). weights_json_parse: a JSON object document of at most WEIGHTS_REPLY_MAX bytes,
 * white space allowed around it. weights_from_json: its "weights" member (absent: no servers) into
 * out. weights_to_json: {"server": N, ...}, NULL when out of memory. */
int weights_json_parse(const char *text, size_t len, const char *what, struct json_object **out,
		       struct cf_err *err);
int weights_from_json(struct json_object *doc, const char *what, struct weight_map *out,
		      struct cf_err *err);
struct json_object *weights_to_json(const struct weight_map *m);
/* Both of the above on text, and {"weights": {...}} as a malloc'd string in map order. */
int weights_parse_doc(const char *text, size_t len, const char *what, struct weight_map *out,
		      struct cf_err *err);
int weights_render_doc(const struct weight_map *m, char **out, size_t *len, struct cf_err *err);

#endif
