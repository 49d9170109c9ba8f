/* The per-Mac OpenClaw configuration fragments: openclaw/base.d/NN-*.yaml for every Mac and
 * openclaw/nodes/<host>.d/NN-*.yaml for the MacNode named <host>, read as tenant fragments are
 * (one YAML map each, no secrets, NN-name.yaml) and kept for desired_openclaw_config, which
 * merges them with fragments.h's rules: base.d first, then the host's, each in file name order
 * (treefiles are sorted bytewise, so the order they come in is that order). */
#include "desired/desired.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"
#include "base/names.h"
#include "desired/desired_internal.h"
#include "desired/fragments.h"
#include "source/treefiles.h"

#define BASE_DIR "openclaw/base.d/"
#define NODES_DIR "openclaw/nodes/"

static struct openclaw_fragments *host_entry(struct loader *ld, const char *host, size_t len)
{
	struct desired_state *ds = ld->ds;
	for (size_t i = 0; i < ds->nopenclaw_hosts; i++)
		if (strlen(ds->openclaw_hosts[i].host) == len &&
		    strncmp(ds->openclaw_hosts[i].host, host, len) == 0)
			return &ds->openclaw_hosts[i];
	struct openclaw_fragments *v =
		desired_grow(ld, ds->openclaw_hosts, ds->nopenclaw_hosts, sizeof(*v));
	if (!v)
		return NULL;
	ds->openclaw_hosts = v;
	struct openclaw_fragments *e = &v[ds->nopenclaw_hosts];
	memset(e, 0, sizeof(*e));
	e->host = strndup(host, len);
	if (!e->host) {
		ld->out_of_memory = true;
		return NULL;
	}
	ds->nopenclaw_hosts++;
	return e;
}

static void add_file(struct loader *ld, struct openclaw_fragments *f, const struct treefile *tf,
		     const char *file)
{
	struct json_object *j = NULL;
	if (!desired_fragment_name_ok(file)) {
		diag_add(ld->diags, tf->path, 0, 0, NULL, NULL,
			 "fragment files are named NN-name.yaml (digits, \"-\", a name) so their "
			 "merge order is explicit");
		return;
	}
	if (desired_fragment_read(ld, tf, &j) < 0 || !j)
		return;
	struct json_object **v = desired_grow(ld, f->frags, f->n, sizeof(*v));
	if (!v) {
		json_object_put(j);
		return;
	}
	f->frags = v;
	f->frags[f->n++] = j;
}

void desired_load_openclaw_fragments(struct loader *ld, const struct treefiles *files)
{
	for (size_t i = 0; i < files->n && !ld->out_of_memory; i++) {
		const struct treefile *tf = &files->v[i];
		const char *p = tf->path;
		if (strncmp(p, BASE_DIR, strlen(BASE_DIR)) == 0) {
			const char *file = p + strlen(BASE_DIR);
			if (strchr(file, '/'))
				diag_add(ld->diags, p, 0, 0, NULL, NULL,
					 "openclaw/base.d holds fragment files, no directories");
			else
				add_file(ld, &ld->ds->openclaw_base, tf, file);
			continue;
		}
		if (strncmp(p, NODES_DIR, strlen(NODES_DIR)) != 0)
			continue;
		const char *host = p + strlen(NODES_DIR);
		const char *slash = strchr(host, '/');
		if (!slash)
			continue; /* openclaw/nodes/<host>.yaml: the MacNode */
		size_t len = (size_t)(slash - host);
		char name[DESIRED_NAME_MAX];
		struct cf_err err;
		if (len < 3 || strncmp(slash - 2, ".d", 2) != 0 || strchr(slash + 1, '/')) {
			diag_add(ld->diags, p, 0, 0, NULL, NULL,
				 "per-Mac fragments live in openclaw/nodes/<host>.d/NN-name.yaml");
			continue;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(len - 2), host);
		if (!desired_node(ld->ds, name)) {
			diag_add(ld->diags, p, 0, 0, NULL, NULL,
				 "openclaw/nodes/%s.d has no MacNode named \"%s\"", name, name);
			continue;
		}
		if (name_check_dns_label(name, &err) < 0)
			continue;
		struct openclaw_fragments *f = host_entry(ld, host, len - 2);
		if (f)
			add_file(ld, f, tf, slash + 1);
	}
}

int desired_openclaw_config(const struct desired_state *ds, const char *host,
			    struct json_object **out, struct cf_err *err)
{
	const struct openclaw_fragments *own = NULL;
	*out = NULL;
	for (size_t i = 0; i < ds->nopenclaw_hosts; i++)
		if (strcmp(ds->openclaw_hosts[i].host, host) == 0)
			own = &ds->openclaw_hosts[i];
	size_t n = ds->openclaw_base.n + (own ? own->n : 0);
	if (!n)
		return 0;
	struct json_object **all = calloc(n, sizeof(*all));
	if (!all)
		return cf_err_set(err, "out of memory merging the OpenClaw configuration");
	for (size_t i = 0; i < ds->openclaw_base.n; i++)
		all[i] = ds->openclaw_base.frags[i];
	for (size_t i = 0; own && i < own->n; i++)
		all[ds->openclaw_base.n + i] = own->frags[i];
	int rc = fragments_merge(all, n, out, err);
	free(all);
	return rc;
}

void desired_openclaw_free(struct desired_state *ds)
{
	for (size_t i = 0; i < ds->openclaw_base.n; i++)
		json_object_put(ds->openclaw_base.frags[i]);
	free(ds->openclaw_base.frags);
	for (size_t h = 0; h < ds->nopenclaw_hosts; h++) {
		struct openclaw_fragments *f = &ds->openclaw_hosts[h];
		for (size_t i = 0; i < f->n; i++)
			json_object_put(f->frags[i]);
		free(f->frags);
		free(f->host);
	}
	free(ds->openclaw_hosts);
}
