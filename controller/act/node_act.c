#include "act/node_act.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act/node_act_internal.h"
#include "base/failpoint.h"
#include "base/log.h"
#include "desired/desired.h"
#include "reconcilers/install.h"
#include "reconcilers/materialise.h"
#include "reconcilers/openclaw_config.h"
#include "reconcilers/pull.h"
#include "reconcilers/service.h"
#include "reconcilers/skills.h"
#include "source/treefiles.h"

/* More than the reconcilers' own caps allow in one pass (packages, tenants, entries). */
#define NODE_ACTIONS_MAX 8192

static const char *const step_names[NODE_STEPS] = {
	"pull", "desired", "install", "skills", "materialise", "kickstart",
};

const char *node_step_name(enum node_step s)
{
	return s < NODE_STEPS ? step_names[s] : "unknown";
}


int pass_action(struct pass *p, struct cf_err *err, const char *fmt, ...)
{
	struct node_actions *a = p->out;
	if (a->n == NODE_ACTIONS_MAX)
		return cf_err_set(err, "more than %d actions in one pass", NODE_ACTIONS_MAX);
	char **v = realloc(a->v, (a->n + 1) * sizeof(*v));
	if (!v)
		return cf_err_set(err, "out of memory");
	a->v = v;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&a->v[a->n], fmt, ap);
	va_end(ap);
	if (n < 0)
		return cf_err_set(err, "out of memory");
	a->n++;
	return 0;
}

void node_actions_free(struct node_actions *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
	a->reason = NULL;
}

int64_t node_act_generation(int rc, const struct target *t, int64_t applied_generation)
{
	return rc == 0 ? t->generation : applied_generation;
}

static int state_file(const struct pass *p, const char *name, char **out, struct cf_err *err)
{
	if (asprintf(out, "%s/%s", p->state, name) < 0) {
		*out = NULL;
		return cf_err_set(err, "out of memory");
	}
	return 0;
}

/* Called before anything the gateway runs changes: from here on the pass owes a kickstart, and
 * the record passes the debt on to the next pass should this one end before paying it. */
static int will_change(struct pass *p, struct cf_err *err)
{
	p->changed = true;
	if (p->pending)
		return 0;
	failpoint_hit("agent.pending.write.before");
	if (p->ops->pending_write(p->state, p->t->generation, err) < 0)
		return cf_err_prefix(err, "recording that a kickstart is owed");
	failpoint_hit("agent.pending.write.after");
	p->pending = true;
	return 0;
}

/* ---- the steps ---- */

static int step_pull(struct pass *p, struct cf_err *err)
{
	const struct agent_config *cfg = p->env->cfg;
	struct pull_target pt = {.tag = p->t->tag, .commit = p->t->commit};
	struct pull_state st;
	struct pull_plan plan;

	if (p->ops->pull_observe(p->infra, p->t->tag, &st, err) < 0)
		return -1;
	pull_plan(&st, &pt, &plan);
	if (plan.n == 0)
		return 0;
	if (st.dirty)
		return cf_err_set(err,
				  "the infra tree %s has changes clawfleet did not make (%s); "
				  "commit or remove them, clawfleet never pulls over them",
				  p->infra, st.dirty_paths);
	char *mirror = NULL;
	if (state_file(p, NODE_MIRROR_DIR, &mirror, err) < 0)
		return -1;
	int64_t timeout = cfg->fetch_timeout_ms < INT_MAX ? cfg->fetch_timeout_ms : INT_MAX;
	struct pull_config pc = {
		.remote = cfg->infra_remote,
		.mirror_dir = mirror,
		.infra_path = p->infra,
		.timeout_ms = (int)timeout,
	};
	int rc = will_change(p, err);
	if (rc == 0)
		rc = p->ops->pull_apply(&pc, &pt, err);
	free(mirror);
	if (rc < 0)
		return -1;
	return pass_action(p, err, "pull %s@%.7s", p->t->tag, p->t->commit);
}

/* The first problem of an invalid tree, as `clawfleet validate` prints it. */
static void first_diag(struct diag_list *diags, char *out, size_t size)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	out[0] = '\0';
	if (!f)
		return;
	diag_list_sort(diags);
	diag_list_print(diags, f);
	fclose(f);
	if (text)
		snprintf(out, size, "%.*s", (int)strcspn(text, "\n"), text);
	free(text);
}

static int step_desired(struct pass *p, struct cf_err *err)
{
	struct diag_list diags = {0};
	char first[512];

	if (p->ops->read_tree(p->infra, &p->files, err) < 0)
		return cf_err_prefix(err, "reading the infra tree %s", p->infra);
	if (desired_load(&p->files, p->env->schemas, NULL, &p->ds, &diags) < 0) {
		size_t n = diags.n + diags.dropped;
		first_diag(&diags, first, sizeof(first));
		diag_list_free(&diags);
		p->ds = NULL;
		return cf_err_set(err,
				  "the infra tree at %s holds invalid desired state, %zu problem%s "
				  "(`clawfleet validate %s` lists them): %s",
				  p->t->tag, n, n == 1 ? "" : "s", p->infra, first);
	}
	if (!p->ds->lock.present)
		return cf_err_set(err, "the infra tree at %s has no openclaw.lock", p->t->tag);
	for (size_t i = 0; i < p->t->ntenants; i++)
		if (!desired_tenant(p->ds, p->t->tenants[i].name))
			return cf_err_set(err,
					  "the target sets a channel for tenant \"%s\", which "
					  "has no TenantSlice at %s",
					  p->t->tenants[i].name, p->t->tag);
	return 0;
}

int pass_install_config(const struct pass *p, struct install_config *ic, char *paths[3],
			     struct cf_err *err)
{
	const struct agent_config *cfg = p->env->cfg;
	paths[0] = agentcfg_path(cfg, cfg->npm);
	paths[1] = agentcfg_path(cfg, cfg->openclaw);
	paths[2] = NULL;
	if (!paths[0] || !paths[1] || state_file(p, NODE_ARTIFACT_CACHE_DIR, &paths[2], err) < 0)
		return cf_err_set(err, "out of memory");
	*ic = (struct install_config){.npm = paths[0],
				      .openclaw = paths[1],
				      .cache_dir = paths[2],
				      .cache_max_bytes = cfg->artifact_cache_max_mib * 1024 * 1024};
	return 0;
}

void pass_free_paths(char *paths[3])
{
	for (int i = 0; i < 3; i++)
		free(paths[i]);
}

static int step_install(struct pass *p, struct cf_err *err)
{
	char *bookmark = NULL, *paths[3];
	struct installed_state installed = {0};
	struct install_plan plan = {0};
	struct install_config ic;
	int rc = -1;

	if (pass_install_config(p, &ic, paths, err) < 0 ||
	    state_file(p, NODE_INSTALL_BOOKMARK_FILE, &bookmark, err) < 0 ||
	    p->ops->install_observe(&ic, &installed, err) < 0 ||
	    install_plan(&p->ds->lock, &installed, &plan, err) < 0)
		goto done;
	/* A tree this pass leaves as it is must be sound as it is; one it installs into is judged
	 * after the install, before the restart. */
	if (!plan.n && (installed.duplicates || installed.unmet)) {
		p->reason = installed.duplicates ? "packages.duplicate" : "packages.peer";
		cf_err_set(err, "%s: %s", installed.duplicates ? "a package is installed twice" :
								 "unmet dependencies",
			   installed.duplicates ? installed.duplicates : installed.unmet);
		goto done;
	}
	if (plan.n && will_change(p, err) < 0)
		goto done;
	int applied = plan.n ? p->ops->install_apply(&ic, &installed, &plan, bookmark, err) : 0;
	if (applied == INSTALL_DIGEST_MISMATCH)
		p->reason = "install.digest_mismatch";
	if (applied < 0)
		goto done;
	p->installed = plan;
	plan = (struct install_plan){0};
	for (size_t i = 0; i < p->installed.n; i++)
		if (pass_action(p, err, "install %s@%s", p->installed.actions[i].name,
			       p->installed.actions[i].version) < 0)
			goto done;
	rc = 0;
done:
	install_plan_free(&plan);
	installed_state_free(&installed);
	free(bookmark);
	pass_free_paths(paths);
	return rc;
}

/* The checks before the restart, over the gateway's own profile and each tenant's. */
static int prerestart(struct pass *p, struct cf_err *err)
{
	const struct agent_config *cfg = p->env->cfg;
	char *npm = agentcfg_path(cfg, cfg->npm), *openclaw = agentcfg_path(cfg, cfg->openclaw);
	struct prerestart_profile *profiles = calloc(1 + p->ds->ntenants, sizeof(*profiles));
	struct install_config ic = {.npm = npm, .openclaw = openclaw};
	size_t n = 1;
	int rc = -1;

	if (!npm || !openclaw || !profiles) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < p->ds->ntenants; i++)
		if (p->ds->tenants[i].profile)
			profiles[n++] = (struct prerestart_profile){
				.tenant = p->ds->tenants[i].name,
				.profile = p->ds->tenants[i].profile,
			};
	struct prerestart_config pc = {
		.install = &ic,
		.profiles = profiles,
		.nprofiles = n,
		.timeout_ms = (int)(cfg->doctor_timeout_ms < INT_MAX ? cfg->doctor_timeout_ms : INT_MAX),
	};
	rc = p->ops->prerestart_check(&pc, &p->reason, err);
	if (rc < 0 && p->t->rollback) {
		/* Staying would keep the build being rolled back; doctor after the restart reports
		 * what is still wrong. */
		log_warn("rollback to %s: restarting the gateway although %s: %s", p->t->tag,
			 p->reason ? p->reason : "the checks before the restart failed", err->msg);
		p->reason = NULL;
		rc = 0;
	} else if (rc < 0) {
		cf_err_prefix(err, "%s: not restarting the gateway, it keeps running what it ran",
			      p->reason ? p->reason : "checks before the restart");
	}
done:
	free(profiles);
	free(openclaw);
	free(npm);
	return rc;
}

static int step_skills(struct pass *p, struct cf_err *err)
{
	const struct target *t = p->t;
	char *source = NULL;
	struct skills_state st;
	struct skills_plan plan;
	int rc = -1;

	const struct openclaw_lock *lock = &p->ds->lock;

	if (asprintf(&source, "%s/skills/%s", p->infra, t->skills_semver) < 0)
		return cf_err_set(err, "out of memory");
	struct skills_target want = {
		.semver = t->skills_semver,
		.source_dir = source,
		.link = t->skills_link == TARGET_LINK_NEXT ? SKILLS_NEXT : SKILLS_CURRENT,
		/* the lock's digest describes the pack of its own semver only */
		.sha256 = lock->present && lock->skills_semver &&
					  strcmp(lock->skills_semver, t->skills_semver) == 0
				  ? lock->skills_sha256
				  : NULL,
	};
	if (p->ops->skills_observe(p->skills, t->skills_semver, &st, err) < 0)
		goto done;
	skills_plan(&st, &want, &plan);
	/* One action at a time, so the list says exactly what happened when a later one fails. */
	for (size_t i = 0; i < plan.n; i++) {
		const struct skills_action *a = &plan.v[i];
		struct skills_plan one = {.v = {*a}, .n = 1};
		if (a->kind == SKILLS_LINK && !p->skills_flipped) {
			p->skills_before = st;
			p->skills_flipped = true;
		}
		if ((a->kind == SKILLS_LINK && will_change(p, err) < 0) ||
		    p->ops->skills_apply(p->skills, &want, &one, err) < 0)
			goto done;
		if ((a->kind == SKILLS_CLEAN && pass_action(p, err, "skills clean") < 0) ||
		    (a->kind == SKILLS_INSTALL &&
		     pass_action(p, err, "skills install %s", t->skills_semver) < 0) ||
		    (a->kind == SKILLS_ADOPT &&
		     pass_action(p, err, "skills adopt %s (sha256 %s)", t->skills_semver,
				want.sha256) < 0) ||
		    (a->kind == SKILLS_LINK && pass_action(p, err, "skills link %s -> %s",
							  skills_link_name(a->link),
							  t->skills_semver) < 0))
			goto done;
	}
	rc = 0;
done:
	free(source);
	return rc;
}

static int step_materialise(struct pass *p, struct cf_err *err)
{
	const struct target *t = p->t;
	struct materialise_channel channels[TARGET_MAX_TENANTS];
	struct materialise_state *st = &p->tenants_before;
	struct materialise_plan *plan = &p->tenants_applied;

	for (size_t i = 0; i < t->ntenants; i++)
		channels[i] = (struct materialise_channel){
			.tenant = t->tenants[i].name,
			.channel = t->tenants[i].canary ? CHANNEL_CANARY : CHANNEL_STABLE,
		};
	struct materialise_input in = {
		.ds = p->ds,
		.files = &p->files,
		.channels = channels,
		.nchannels = t->ntenants,
		.skills_dir = p->skills,
	};
	if (p->ops->materialise_observe(p->tenants, st, err) < 0 ||
	    materialise_plan(&in, st, plan, err) < 0 ||
	    (plan->n && p->ops->mkdir_p(p->tenants, 0755, err) < 0))
		return -1;
	for (size_t i = 0; i < plan->n; i++) {
		const struct materialise_action *a = &plan->v[i];
		struct materialise_plan one = {.v = &plan->v[i], .n = 1};
		/* Cleaning strays and pruning unlinked directories change nothing the gateway
		 * reads. */
		bool gateway_reads = a->kind == MAT_WRITE || a->kind == MAT_UNLINK;
		if (pass_prune_deferred(p, a))
			continue;
		failpoint_hit("agent.materialise.before");
		if ((gateway_reads && will_change(p, err) < 0) ||
		    p->ops->materialise_apply(p->tenants, &one, err) < 0)
			return -1;
		failpoint_hit("agent.materialise.after");
		int added = a->kind == MAT_WRITE
				    ? pass_action(p, err, "materialise %s", a->name)
				    : pass_action(p, err, "materialise %s %s",
						 materialise_action_name(a->kind), a->name);
		if (added < 0)
			return -1;
	}
	return 0;
}

/* The Mac's own OpenClaw configuration (openclaw/base.d and openclaw/nodes/<host>.d), part of
 * what the gateway reads: a change owes a kickstart, as a tenant's does. */
static int write_openclaw_config(struct pass *p, struct cf_err *err)
{
	struct openclaw_config_plan *plan = &p->config;
	if (p->ops->openclaw_config_plan(p->ds, p->env->cfg->node, plan, err) < 0)
		return -1;
	if (!plan->data)
		return 0;
	if (will_change(p, err) < 0 || p->ops->openclaw_config_apply(plan, err) < 0) {
		/* Not written: nothing to put back. */
		openclaw_config_plan_free(plan);
		return -1;
	}
	return pass_action(p, err, "openclaw config %s", plan->path);
}

static int step_kickstart(struct pass *p, int64_t applied_generation, struct cf_err *err)
{
	const struct agent_config *cfg = p->env->cfg;
	bool asked = p->t->restart && applied_generation != p->t->generation;
	struct cf_err why;
	if (!p->pending && !p->changed && !asked)
		return pass_prune_now(p, err);
	if (will_change(p, err) < 0)
		return -1;
	if (prerestart(p, err) < 0) {
		struct cf_err refused = *err;
		if (pass_restore(p, &why) < 0)
			cf_err_set(err, "%.400s; putting back what this pass changed failed too, the "
					"kickstart stays owed: %.400s",
				   refused.msg, why.msg);
		return -1;
	}
	if (pass_prune_now(p, err) < 0)
		return -1;
	char *launchctl = agentcfg_path(cfg, cfg->service_launchctl);
	char *systemctl = agentcfg_path(cfg, cfg->service_systemctl);
	char *plist = cfg->service_plist ? agentcfg_path(cfg, cfg->service_plist) : NULL;
	char *openclaw = agentcfg_path(cfg, cfg->openclaw);
	struct service_config sc = {
		.manager = cfg->service_manager,
		.label = cfg->service_label,
		.launchctl = launchctl,
		.systemctl = systemctl,
		.plist = plist,
		.openclaw = openclaw,
		.restart_argv = cfg->service_restart,
		.status_argv = cfg->service_status,
	};
	int rc = -1;
	if ((cfg->service_launchctl && !launchctl) || (cfg->service_systemctl && !systemctl) ||
	    (cfg->service_plist && !plist) || !openclaw) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	if (p->env->node_observer)
		node_observer_note_kickstart(p->env->node_observer);
	failpoint_hit("agent.kickstart.before");
	rc = p->ops->service_restart(&sc, err);
	failpoint_hit("agent.kickstart.after");
done:
	free(launchctl);
	free(systemctl);
	free(plist);
	free(openclaw);
	if (rc < 0 || p->ops->pending_clear(p->state, err) < 0)
		return cf_err_prefix(err, "kickstarting the gateway");
	return pass_action(p, err, "kickstart");
}

static bool proceed(const struct pass *p, enum node_step s)
{
	return !p->env->proceed || p->env->proceed(p->env->ctx, s);
}

static int run_step(struct pass *p, enum node_step s, int64_t applied_generation,
		    struct cf_err *err)
{
	switch (s) {
	case NODE_STEP_PULL:
		return step_pull(p, err);
	case NODE_STEP_DESIRED:
		return step_desired(p, err);
	case NODE_STEP_INSTALL:
		return step_install(p, err);
	case NODE_STEP_SKILLS:
		return step_skills(p, err);
	case NODE_STEP_MATERIALISE:
		return step_materialise(p, err) < 0 ? -1 : write_openclaw_config(p, err);
	case NODE_STEP_KICKSTART:
		return step_kickstart(p, applied_generation, err);
	case NODE_STEPS:
		break;
	}
	return cf_err_set(err, "unknown step %d", (int)s);
}

int node_act(const struct node_env *env, const struct target *t, int64_t applied_generation,
		   struct node_actions *out, struct cf_err *err)
{
	const struct agent_config *cfg = env->cfg;
	struct pass p = {
		.env = env,
		.ops = env->ops ? env->ops : &node_ops_reconcilers,
		.t = t,
		.out = out,
		.infra = agentcfg_path(cfg, cfg->infra_path),
		.skills = agentcfg_path(cfg, cfg->skills),
		.tenants = agentcfg_path(cfg, cfg->tenants),
		.state = agentcfg_path(cfg, cfg->state),
	};
	enum node_step s = NODE_STEP_PULL;
	int rc = -1;

	out->v = NULL;
	out->n = 0;
	out->reason = NULL;
	if (!p.infra || !p.skills || !p.tenants || !p.state) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	/* Any record owes a kickstart, whichever generation wrote it: that pass changed what the
	 * gateway runs and never restarted it. */
	if (p.ops->pending_read(p.state, &p.pending, err) < 0)
		goto done;
	p.pending_before = p.pending;
	for (; s < NODE_STEPS; s++) {
		if (!proceed(&p, s)) {
			rc = NODE_ACT_STOPPED;
			cf_err_set(err, "stopped before the %s step", node_step_name(s));
			goto done;
		}
		if (run_step(&p, s, applied_generation, err) < 0) {
			cf_err_prefix(err, "%s", node_step_name(s));
			out->reason = p.reason;
			goto done;
		}
	}
	rc = 0;
done:
	install_plan_free(&p.installed);
	materialise_plan_free(&p.tenants_applied);
	materialise_state_free(&p.tenants_before);
	openclaw_config_plan_free(&p.config);
	desired_free(p.ds);
	treefiles_free(&p.files);
	free(p.infra);
	free(p.skills);
	free(p.tenants);
	free(p.state);
	return rc;
}
