#include "base/lbstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for one more entry of size bytes in *v (n used of *cap). */
static int grow(void **v, size_t n, size_t *cap, size_t size, struct cf_err *err)
{
	if (n < *cap)
		return 0;
	if (n >= WEIGHTS_MAX_SERVERS)
		return cf_err_set(err, "more than %d entries", WEIGHTS_MAX_SERVERS);
	size_t want = *cap ? *cap * 2 : 8;
	void *nv = realloc(*v, want * size);
	if (!nv)
		return cf_err_set(err, "out of memory");
	*v = nv;
	*cap = want;
	return 0;
}

int lb_servers_put(struct lb_servers *l, const struct lb_server *s, struct cf_err *err)
{
	if (!weights_name_ok(s->server))
		return cf_err_set(err, "server name \"%.80s\": want 1 to %d of A-Z a-z 0-9 _ . : -",
				  s->server, WEIGHTS_SERVER_NAME_MAX);
	struct lb_server *e = (struct lb_server *)lb_servers_find(l, s->server);
	if (!e) {
		if (grow((void **)&l->v, l->n, &l->cap, sizeof(*l->v), err) < 0)
			return -1;
		e = &l->v[l->n++];
		*e = *s;
		name_index_added(&l->index, l->v, l->n, sizeof(*l->v));
		return 0;
	}
	*e = *s;
	return 0;
}

const struct lb_server *lb_servers_find(const struct lb_servers *l, const char *server)
{
	size_t i = name_index_find(&l->index, l->v, l->n, sizeof(*l->v), server);
	return i == NAME_INDEX_NONE ? NULL : &l->v[i];
}

void lb_servers_clear(struct lb_servers *l)
{
	l->n = 0;
	name_index_clear(&l->index);
}

void lb_servers_free(struct lb_servers *l)
{
	free(l->v);
	name_index_free(&l->index);
	memset(l, 0, sizeof(*l));
}

int lb_routes_put(struct lb_routes *l, const char *tenant, const char *pool, struct cf_err *err)
{
	if (!weights_tenant_value_ok(tenant))
		return cf_err_set(err, "tenant header value \"%.64s\": want 1 to %d of "
				  "A-Z a-z 0-9 _ . : @ + = -", tenant ? tenant : "",
				  WEIGHTS_TENANT_VALUE_MAX);
	if (!weights_name_ok(pool))
		return cf_err_set(err, "tenant %s: pool \"%.80s\": want 1 to %d of "
				  "A-Z a-z 0-9 _ . : -", tenant, pool ? pool : "",
				  WEIGHTS_SERVER_NAME_MAX);
	struct lb_route *e = (struct lb_route *)lb_routes_find(l, tenant);
	if (!e) {
		if (grow((void **)&l->v, l->n, &l->cap, sizeof(*l->v), err) < 0)
			return -1;
		e = &l->v[l->n++];
		snprintf(e->tenant, sizeof(e->tenant), "%s", tenant);
		name_index_added(&l->index, l->v, l->n, sizeof(*l->v));
	}
	snprintf(e->pool, sizeof(e->pool), "%s", pool);
	return 0;
}

const struct lb_route *lb_routes_find(const struct lb_routes *l, const char *tenant)
{
	size_t i = name_index_find(&l->index, l->v, l->n, sizeof(*l->v), tenant);
	return i == NAME_INDEX_NONE ? NULL : &l->v[i];
}

void lb_routes_clear(struct lb_routes *l)
{
	l->n = 0;
	name_index_clear(&l->index);
}

void lb_routes_free(struct lb_routes *l)
{
	free(l->v);
	name_index_free(&l->index);
	memset(l, 0, sizeof(*l));
}

const char *lb_health_name(enum lb_health h)
{
	switch (h) {
	case LB_HEALTH_UP:
		return "up";
	case LB_HEALTH_DOWN:
		return "down";
	case LB_HEALTH_MAINT:
		return "maint";
	case LB_HEALTH_UNKNOWN:
		break;
	}
	return "unknown";
}
