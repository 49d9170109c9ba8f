#include "desired/desired.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"
#include "desired/desired_internal.h"

static void diag_at_origin(struct loader *ld, const struct origin *o, const char *label,
			   const char *fieldname, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void diag_at_origin(struct loader *ld, const struct origin *o, const char *label,
			   const char *fieldname, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(ld->diags, o->file, o->line, o->col, label, fieldname, "%s", msg);
}

struct keyed {
	const char *key;
	size_t index;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->index < y->index ? -1 : 1);
}

/* Reports every object whose key (a char * at key_off in each element of base) repeats an
 * earlier object's. Sorting keeps it O(n log n) for fleets of thousands of nodes. */
struct unique_spec {
	size_t stride, key_off, name_off, origin_off;
	const char *kindname, *fieldname;
};

static void check_unique(struct loader *ld, const void *base, size_t n,
			 const struct unique_spec *u)
{
	struct keyed *v = n ? calloc(n, sizeof(*v)) : NULL;
	size_t m = 0;
	if (n && !v) {
		ld->out_of_memory = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *key = *(char *const *)((const char *)base + i * u->stride + u->key_off);
		if (key)
			v[m++] = (struct keyed){key, i};
	}
	if (m > 1)
		qsort(v, m, sizeof(*v), keyed_cmp);
	for (size_t i = 1, first = 0; i < m; i++) {
		if (strcmp(v[i].key, v[first].key) != 0) {
			first = i;
			continue;
		}
		const char *elem = (const char *)base + v[i].index * u->stride;
		const char *first_elem = (const char *)base + v[first].index * u->stride;
		const struct origin *o = (const struct origin *)(elem + u->origin_off);
		const struct origin *fo = (const struct origin *)(first_elem + u->origin_off);
		const char *name = *(char *const *)(elem + u->name_off);
		const char *first_name = *(char *const *)(first_elem + u->name_off);
		char label[DESIRED_NAME_MAX + 32];
		snprintf(label, sizeof(label), "%s/%s", u->kindname, name);
		diag_at_origin(ld, o, label, u->fieldname, "\"%s\" is already used by %s/%s at %s:%d",
			       v[i].key, u->kindname, first_name, fo->file, fo->line);
	}
	free(v);
}

#define CHECK_NAMES(ld, arr, n, kindname)                                                  \
	check_unique(ld, arr, n,                                                           \
		     &(struct unique_spec){sizeof(*(arr)), offsetof(__typeof__(*(arr)), name), \
					   offsetof(__typeof__(*(arr)), name),                  \
					   offsetof(__typeof__(*(arr)), origin), kindname,      \
					   "metadata.name"})

static void check_singletons(struct loader *ld)
{
	struct desired_state *ds = ld->ds;
	char label[DESIRED_NAME_MAX + 32];
	if (ds->npromotions > 1) {
		snprintf(label, sizeof(label), "Promotion/%s", ds->promotions[1].name);
		diag_at_origin(ld, &ds->promotions[1].origin, label, NULL,
			       "one Promotion per repository drives the fleet (another is at %s:%d)",
			       ds->promotions[0].origin.file, ds->promotions[0].origin.line);
	}
	if (ds->nlbs > 1) {
		snprintf(label, sizeof(label), "LoadBalancer/%s", ds->lbs[1].name);
		diag_at_origin(ld, &ds->lbs[1].origin, label, NULL,
			       "one LoadBalancer per repository (another is at %s:%d)",
			       ds->lbs[0].origin.file, ds->lbs[0].origin.line);
	}
}

static void check_nodes(struct loader *ld)
{
	struct desired_state *ds = ld->ds;
	CHECK_NAMES(ld, ds->nodes, ds->nnodes, "MacNode");
	check_unique(ld, ds->nodes, ds->nnodes,
		     &(struct unique_spec){sizeof(struct mac_node), offsetof(struct mac_node, lb_server),
					   offsetof(struct mac_node, name),
					   offsetof(struct mac_node, origin), "MacNode",
					   "spec.loadBalancer.server"});
}

static void check_promotion(struct loader *ld)
{
	struct desired_state *ds = ld->ds;
	if (ds->npromotions == 0)
		return;
	const struct promotion *p = &ds->promotions[0];
	char label[DESIRED_NAME_MAX + 32];
	snprintf(label, sizeof(label), "Promotion/%s", p->name);
	bool canary_gateway = false;
	for (size_t i = 0; i < ds->nnodes; i++)
		canary_gateway |= ds->nodes[i].canary && ds->nodes[i].role == NODE_GATEWAY;
	if (ds->nnodes && !canary_gateway)
		diag_at_origin(ld, &p->origin, label, NULL,
			       "a Promotion starts on a canary gateway: mark one gateway MacNode "
			       "with spec.canary: true");
	if (!ds->lock.present) {
		diag_at_origin(ld, &p->origin, label, NULL,
			       "a Promotion needs openclaw.lock at the repository root to pin the "
			       "build");
	}
}

void desired_check_objects(struct loader *ld)
{
	struct desired_state *ds = ld->ds;
	CHECK_NAMES(ld, ds->promotions, ds->npromotions, "Promotion");
	CHECK_NAMES(ld, ds->tenants, ds->ntenants, "TenantSlice");
	CHECK_NAMES(ld, ds->lbs, ds->nlbs, "LoadBalancer");
	check_nodes(ld);
	check_singletons(ld);
	check_promotion(ld);
}
