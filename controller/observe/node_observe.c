#include "observe/node_observe.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/compat.h"
#include "base/log.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "observe/node_observe_internal.h"
#include "observe/node_parity.h"
#include "reconcilers/pull.h"
#include "source/gitsource.h"
#include "source/treefiles.h"

#define SERVICE_STATUS_TIMEOUT_MS 10000
#define BASELINE_FILE "/latency-baseline.json"

/* ---- the infra tree and its desired state ---- */

static struct infra_snapshot *snapshot_get(struct infra_snapshot *s)
{
	atomic_fetch_add(&s->refs, 1);
	return s;
}

/* Observations are freed by whichever thread serves them last, hence the atomic count. */
static void snapshot_put(struct infra_snapshot *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	desired_free(s->ds);
	free(s);
}

static void describe_diags(char buf[ERROR_MAX], const char *commit, struct diag_list *dl)
{
	char more[48] = "";

	if (!dl->n) {
		errorf(buf, "the infra tree at %.12s does not load", commit);
		return;
	}
	diag_list_sort(dl);
	const struct diag *d = &dl->v[0];
	if (dl->n + dl->dropped > 1)
		snprintf(more, sizeof(more), " (and %zu more)", dl->n + dl->dropped - 1);
	errorf(buf, "the infra tree at %.12s does not load (run clawfleet validate on it): "
		    "%s:%d:%d: %s: %s%s",
	       commit, d->file ? d->file : "-", d->line, d->col, d->field ? d->field : "-",
	       d->msg, more);
}

static struct infra_snapshot *snapshot_load(const struct node_observer *obs, const char *commit,
					    bool clean)
{
	struct treefiles files = {0};
	struct diag_list diags = {0};
	struct cf_err err;
	struct infra_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	snprintf(s->commit, sizeof(s->commit), "%s", commit);
	s->clean = clean;
	if (treefiles_from_dir(obs->infra_path, &files, &err) < 0)
		errorf(s->error, "reading the infra tree %s: %s", obs->infra_path, err.msg);
	else if (desired_load(&files, obs->schemas, NULL, &s->ds, &diags) < 0)
		describe_diags(s->error, commit, &diags);
	treefiles_free(&files);
	diag_list_free(&diags);
	return s;
}

/* The cached state while HEAD is the same clean commit; a dirty tree is read every time,
 * because its files are not what HEAD names. */
static struct infra_snapshot *snapshot_for(struct node_observer *obs, const char *commit, bool clean)
{
	struct infra_snapshot *s = obs->infra;
	if (s && s->clean && clean && strcmp(s->commit, commit) == 0)
		return snapshot_get(s);
	s = snapshot_load(obs, commit, clean);
	if (!s)
		return NULL;
	snapshot_put(obs->infra);
	obs->infra = s;
	return snapshot_get(s);
}

/* 0, or -1 when out of memory. */
static int observe_infra(struct node_observer *obs, const char *tag, struct observation *o)
{
	struct pull_state st;
	struct cf_err err;
	struct probe_inputs *in = &o->in;
	const char *why = NULL;

	if (pull_observe(obs->infra_path, tag, &st, &err) < 0) {
		why = errorf(o->infra_error, "%s", err.msg);
	} else if (!st.repo) {
		why = errorf(o->infra_error,
			     "infra tree not checked out yet: %s holds no repository",
			     obs->infra_path);
	} else if (!st.head[0]) {
		why = errorf(o->infra_error, "infra tree %s has no commit checked out",
			     obs->infra_path);
	} else if (st.interrupted) {
		why = errorf(o->infra_error,
			     "a checkout of the infra tree %s was cut short; the agent's next pull "
			     "finishes it",
			     obs->infra_path);
	}
	if (st.repo && st.head[0]) {
		snprintf(o->infra_commit, sizeof(o->infra_commit), "%s", st.head);
		in->infra.commit = o->infra_commit;
	}
	if (st.repo && st.tag[0]) {
		snprintf(o->infra_tag, sizeof(o->infra_tag), "%s", st.tag);
		in->infra.tag = o->infra_tag;
	}
	if (why) {
		in->infra.error = why;
		in->lock_error = errorf(o->lock_error, "%s", why);
		return 0;
	}
	in->infra.dirty = st.dirty;
	o->snap = snapshot_for(obs, st.head, !st.dirty);
	if (!o->snap)
		return -1;
	if (!o->snap->ds) {
		in->lock_error = errorf(o->lock_error, "%s", o->snap->error);
		return 0;
	}
	/* The node is judged with the thresholds of the Promotion at the tag it runs. */
	const struct desired_state *ds = o->snap->ds;
	probe_thresholds_of(ds->npromotions ? &ds->promotions[0] : NULL, &o->thresholds);
	in->lock = &ds->lock;
	if (!in->lock->present)
		in->lock_error = errorf(o->lock_error, "openclaw.lock missing in the infra tree");
	return 0;
}

/* ---- the data volume ---- */

/* The data volume is the state directory's; before the agent has made it, the root's. */
static void observe_disk(const struct node_observer *obs, struct observation *o)
{
	uint64_t total, avail;
	const char *path = obs->state_dir;

	if (compat_disk_free(path, &total, &avail) < 0) {
		path = obs->cfg->root && *obs->cfg->root ? obs->cfg->root : "/";
		if (compat_disk_free(path, &total, &avail) < 0) {
			o->in.disk.error = errorf(o->disk_error, "statvfs %s: %s", path,
						  strerror(errno));
			return;
		}
	}
	if (total == 0) {
		o->in.disk.error = errorf(o->disk_error, "%s: the filesystem reports no blocks",
					  path);
		return;
	}
	o->in.disk.free_percent = (double)avail * 100.0 / (double)total;
}

/* ---- the node_observer and its observations ---- */

int node_observer_new(struct node_observer **out, const struct agent_config *cfg,
		      const struct schema_set *schemas, struct cf_err *err)
{
	struct node_observer *obs = calloc(1, sizeof(*obs));

	*out = NULL;
	if (!obs)
		return cf_err_set(err, "out of memory");
	obs->cfg = cfg;
	probe_thresholds_of(NULL, &obs->thresholds);
	pthread_mutex_init(&obs->lock, NULL);
	obs->infra_path = agentcfg_path(cfg, cfg->infra_path);
	obs->skills_root = agentcfg_path(cfg, cfg->skills);
	obs->state_dir = agentcfg_path(cfg, cfg->state);
	if (!obs->infra_path || !obs->skills_root || !obs->state_dir) {
		cf_err_set(err, "out of memory");
		goto fail;
	}
	if (asprintf(&obs->baseline_path, "%s%s", obs->state_dir, BASELINE_FILE) < 0) {
		obs->baseline_path = NULL;
		cf_err_set(err, "out of memory");
		goto fail;
	}
	obs->openclaw = agentcfg_path(cfg, cfg->openclaw);
	obs->launchctl = cfg->service_launchctl ? agentcfg_path(cfg, cfg->service_launchctl) : NULL;
	obs->systemctl = cfg->service_systemctl ? agentcfg_path(cfg, cfg->service_systemctl) : NULL;
	obs->plist = cfg->service_plist ? agentcfg_path(cfg, cfg->service_plist) : NULL;
	if (!obs->openclaw || (cfg->service_launchctl && !obs->launchctl) ||
	    (cfg->service_systemctl && !obs->systemctl) || (cfg->service_plist && !obs->plist)) {
		cf_err_set(err, "out of memory");
		goto fail;
	}
	obs->svc = (struct service_config){.manager = cfg->service_manager,
					   .label = cfg->service_label,
					   .launchctl = obs->launchctl,
					   .systemctl = obs->systemctl,
					   .openclaw = obs->openclaw,
					   .plist = obs->plist,
					   .restart_argv = cfg->service_restart,
					   .status_argv = cfg->service_status,
					   .timeout_ms = SERVICE_STATUS_TIMEOUT_MS};
	obs->schemas = schemas;
	if (httpc_new(&obs->http, err) < 0)
		goto fail;
	/* Held for the node_observer's life, so each pull_observe does not start libgit2 afresh. */
	gitsource_global_init();
	obs->git_ready = true;
	observe_baseline_load(obs);
	*out = obs;
	return 0;
fail:
	node_observer_free(obs);
	return -1;
}

void node_observer_free(struct node_observer *obs)
{
	if (!obs)
		return;
	if (obs->git_ready)
		gitsource_global_shutdown();
	httpc_free(obs->http);
	snapshot_put(obs->infra);
	free(obs->infra_path);
	free(obs->skills_root);
	free(obs->state_dir);
	free(obs->baseline_path);
	free(obs->openclaw);
	free(obs->launchctl);
	free(obs->systemctl);
	free(obs->plist);
	pthread_mutex_destroy(&obs->lock);
	free(obs);
}

/* Logs why (NULL: nothing is wrong any more) when it differs from what was logged last. */
static void log_changed(char last[CF_ERR_MSG], const char *what, const char *why)
{
	if (strcmp(last, why ? why : "") == 0)
		return;
	if (why)
		log_warn("%s: %s", what, why);
	else
		log_info("%s again", what);
	snprintf(last, CF_ERR_MSG, "%s", why ? why : "");
}

/* After the lock, the CLI and the skills: the parity is made of them. A tenants root that cannot
 * be read leaves the node without a parity, and the log says why. */
static void observe_parity(struct node_observer *obs, struct observation *o)
{
	char *tenants = agentcfg_path(obs->cfg, obs->cfg->tenants);
	struct cf_err err = {{0}};
	const char *why = NULL;
	if (!tenants)
		why = "out of memory";
	else if (node_parity_compute(&o->in, tenants, &o->parity, &err) < 0)
		why = err.msg;
	else
		o->in.parity = &o->parity;
	log_changed(obs->parity_error, why ? "no parity reported" : "parity reported", why);
	free(tenants);
}

/* A token file the agent cannot look at leaves the ages unknown; the token check itself
 * (tokens.h) reports the file. */
static void observe_token_ages(struct node_observer *obs, struct observation *o)
{
	struct cf_err err;
	int rc = node_token_age_read(obs->cfg, &o->tokens, &err);
	log_changed(obs->token_age_error, rc < 0 ? "token ages unknown" : "token ages known",
		    rc < 0 ? err.msg : NULL);
}

int node_observe_run(struct node_observer *obs, int64_t applied_generation, const char *tag,
		struct observation **out, struct cf_err *err)
{
	struct observation *o = calloc(1, sizeof(*o));
	struct doctor_job job;
	unsigned kickstarts;

	*out = NULL;
	pthread_mutex_lock(&obs->lock);
	kickstarts = obs->kickstarts;
	pthread_mutex_unlock(&obs->lock);
	if (!o || !(o->node = strdup(obs->cfg->node)))
		goto oom;
	o->in.node = o->node;
	probe_thresholds_of(NULL, &o->thresholds);
	o->in.thresholds = &o->thresholds;
	o->in.observed_generation = applied_generation;
	o->in.refresh_ms = obs->cfg->refresh_ms;
	/* Doctor is the slow source: it runs while this thread reads the others. */
	if (observe_infra(obs, tag, o) < 0 || observe_doctor_begin(&job, obs, o) < 0)
		goto oom;
	observe_cli(obs, o);
	observe_skills(obs, o);
	observe_parity(obs, o);
	observe_token_ages(obs, o);
	if (obs->cfg->queue)
		observe_queue(obs, o);
	if (obs->cfg->digest)
		observe_digest(obs, o);
	observe_disk(obs, o);
	observe_service(obs, o);
	observe_gateway(obs, o);
	observe_tcp(obs, o);
	observe_latency(obs, o, kickstarts);
	observe_cutover(obs, o);
	observe_doctor_end(&job, o);
	o->in.checked_at_ms = clock_epoch_ms();
	o->checked_mono_ms = clock_mono_ms();
	*out = o;
	return 0;
oom:
	observation_free(o);
	return cf_err_set(err, "out of memory gathering the probe's inputs");
}

void observation_set_generation(struct observation *o, int64_t generation)
{
	o->in.observed_generation = generation;
}

void observation_set_judge_next(struct observation *o, bool judge_next)
{
	o->in.skills.judge_next = judge_next;
}

const struct probe_inputs *observation_inputs(struct observation *o, int64_t now_ms)
{
	o->in.now_ms = now_ms;
	o->in.checked_age_ms = clock_mono_ms() - o->checked_mono_ms;
	node_token_age_at(&o->tokens, now_ms, &o->in.tokens);
	return &o->in;
}

void observation_free(struct observation *o)
{
	if (!o)
		return;
	json_object_put(o->digest_top);
	snapshot_put(o->snap);
	free(o->doctor);
	free(o->node);
	free(o);
}
