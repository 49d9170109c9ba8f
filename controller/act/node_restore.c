#include "act/node_act_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- the directories a restore links back ---- */

/* Whether a tenant link in st names the directory `name`: the gateway reads it. */
static bool linked(const struct materialise_state *st, const char *name)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->v[i].kind == MAT_ENTRY_LINK && strcmp(st->v[i].target, name) == 0)
			return true;
	return false;
}

bool pass_prune_deferred(const struct pass *p, const struct materialise_action *a)
{
	return a->kind == MAT_PRUNE && linked(&p->tenants_before, a->name);
}

int pass_prune_now(struct pass *p, struct cf_err *err)
{
	for (size_t i = 0; i < p->tenants_applied.n; i++) {
		const struct materialise_action *a = &p->tenants_applied.v[i];
		struct materialise_plan one = {.v = &p->tenants_applied.v[i], .n = 1};
		if (pass_prune_deferred(p, a) &&
		    (p->ops->materialise_apply(p->tenants, &one, err) < 0 ||
		     pass_action(p, err, "materialise prune %s", a->name) < 0))
			return -1;
	}
	return 0;
}

/* ---- the restore ---- */

/* The directory the tenant's link named when the pass began, if it was one of ours. */
static char *old_dir(const struct materialise_state *st, const char *tenant)
{
	for (size_t i = 0; i < st->n; i++) {
		if (st->v[i].kind != MAT_ENTRY_LINK || strcmp(st->v[i].name, tenant) != 0)
			continue;
		for (size_t k = 0; k < st->n; k++)
			if (st->v[k].kind == MAT_ENTRY_DIR && strcmp(st->v[k].name, st->v[i].target) == 0)
				return st->v[k].name;
		return NULL;
	}
	return NULL;
}

static int restore_config(struct pass *p, struct cf_err *err)
{
	if (!p->config.data)
		return 0;
	if (p->ops->openclaw_config_restore(&p->config, err) < 0)
		return -1;
	return pass_action(p, err, "restore openclaw config %s", p->config.path);
}

/* Each tenant the pass linked anew or unlinked gets its old directory back (still there: its
 * prune waits for the checks); one that had none loses its link. */
static int restore_tenants(struct pass *p, struct cf_err *err)
{
	for (size_t i = 0; i < p->tenants_applied.n; i++) {
		const struct materialise_action *a = &p->tenants_applied.v[i];
		if (a->kind != MAT_WRITE && a->kind != MAT_UNLINK)
			continue;
		char *dir = old_dir(&p->tenants_before, a->name);
		struct materialise_action back = {
			.kind = dir ? MAT_WRITE : MAT_UNLINK, .name = a->name, .dir = dir};
		struct materialise_plan one = {.v = &back, .n = 1};
		if (p->ops->materialise_apply(p->tenants, &one, err) < 0 ||
		    (dir && pass_action(p, err, "restore tenant %s -> %s", a->name, dir) < 0) ||
		    (!dir && pass_action(p, err, "restore tenant %s unlinked", a->name) < 0))
			return -1;
	}
	return 0;
}

static int restore_skills(struct pass *p, struct cf_err *err)
{
	if (!p->skills_flipped)
		return 0;
	if (p->ops->skills_restore(p->skills, &p->skills_before, err) < 0)
		return -1;
	return pass_action(p, err, "restore skills links");
}

static int restore_install(struct pass *p, struct cf_err *err)
{
	char *paths[3];
	struct install_config ic;
	if (!p->installed.n)
		return 0;
	int rc = pass_install_config(p, &ic, paths, err);
	if (rc == 0)
		rc = p->ops->install_revert(&ic, &p->installed, err);
	pass_free_paths(paths);
	for (size_t i = 0; rc == 0 && i < p->installed.n; i++)
		if (p->installed.actions[i].from)
			rc = pass_action(p, err, "restore %s@%s", p->installed.actions[i].name,
					 p->installed.actions[i].from);
	return rc;
}

int pass_restore(struct pass *p, struct cf_err *err)
{
	static int (*const parts[])(struct pass *, struct cf_err *) = {
		restore_config, restore_tenants, restore_skills, restore_install,
	};
	struct cf_err part_err;
	int rc = 0;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i](p, &part_err) < 0 && rc == 0) {
			*err = part_err;
			rc = -1;
		}
	if (rc == 0 && !p->pending_before) {
		rc = p->ops->pending_clear(p->state, err);
		p->pending = rc < 0;
	}
	return rc;
}
