/* One pass of the fleet controller: refresh the desired state from Git (the last good one is
 * kept when a commit is bad) and what Git says about the Promotion, observe every node's merged
 * probe and the load balancer's weights, plan (plan/planner.h, pure), act (act/fleet_act.h:
 * intent before, done after) and record (controller_http.c renders what the pass saw). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act/fleet_act.h"
#include "base/canon.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/utf8.h"
#include "daemon/controller_internal.h"
#include "observe/fleet_poll.h"
#include "plan/planner.h"
#include "plan/rollout.h"
#include "reconcilers/weights/weights.h"
#include "record/audit.h"
#include "source/source.h"

#define DIAGS_LOGGED 20
#define DIAG_LINE_LOGGED 2048 /* a log line holds no more */

/* ---- the source and what Git says about the Promotion ---- */

/* A local repository is read through Git, at the ref, never as a work tree; a URL is fetched
 * beside the loop. */
static struct source_spec source_spec_of(const struct controller *c)
{
	return (struct source_spec){
		.location = c->cfg.source_url,
		.ref = c->cfg.source_ref,
		.force_git = gitsource_is_local_repo(c->cfg.source_url),
		.mirror_dir = c->mirror_dir,
		.timeout_ms = (int)c->cfg.source_timeout_ms,
		.background = true,
		.interval_ms = c->cfg.source_interval_ms,
	};
}

int controller_open_source(struct controller *c, struct cf_err *err)
{
	struct source_spec spec = source_spec_of(c);
	source_free(c->src);
	c->src = NULL;
	/* Opening never fetches (a URL's first fetch is due at once, beside the loop); a source
	 * that cannot be opened is tried again an interval later. */
	c->next_fetch_mono_ms = clock_mono_ms() + c->cfg.source_interval_ms;
	return source_open(&c->src, &spec, err);
}

/* Text from Git into the audit: well-formed UTF-8 (utf8.h) without control characters; any
 * other byte becomes "?". */
static void copy_utf8(char *dst, size_t size, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = 0, avail = strlen(src);
	while (avail && n + 4 < size) {
		size_t len = utf8_seq_len(s, avail);
		if (len && (*s >= 0x20 || *s == '\t') && *s != 0x7f) {
			memcpy(dst + n, s, len);
			n += len;
		} else {
			dst[n++] = '?';
			len = 1;
		}
		s += len;
		avail -= len;
	}
	dst[n] = '\0';
}

/* The commit the Promotion's tag names, the sha256 of openclaw.lock there, and the author and
 * Ticket: trailer of the commit the desired state was read at. */
static void resolve_facts(struct controller *c, const struct desired_state *ds)
{
	struct promo_facts *f = &c->facts;
	const struct promotion *promo = ds->npromotions ? &ds->promotions[0] : NULL;
	const char *commit = ds->commit ? ds->commit : "";
	if (!promo || !c->src ||
	    (f->valid && strcmp(f->key_commit, commit) == 0 && strcmp(f->key_tag, promo->tag) == 0))
		return;
	memset(f, 0, sizeof(*f));
	snprintf(f->key_commit, sizeof(f->key_commit), "%s", commit);
	snprintf(f->key_tag, sizeof(f->key_tag), "%s", promo->tag);
	f->valid = true;
	if (!c->src->is_git) {
		log_warn("%s is a directory: Promotion %s's tag %s cannot be resolved to a commit; "
			 "read the repository through Git",
			 c->cfg.source_url, promo->name, promo->tag);
		return;
	}
	struct gitref ref = {0};
	struct treefiles files = {0};
	struct cf_err err;
	char revision[GITSOURCE_REVISION_MAX], spec[ROLLOUT_TEXT_MAX + 8];
	char *author = NULL, *message = NULL;
	snprintf(spec, sizeof(spec), "tag:%s", promo->tag);
	if (gitref_parse(spec, &ref, &err) < 0 ||
	    gitsource_resolve(c->src->gs, &ref, f->commit, revision, &err) < 0) {
		/* Not retried before the desired state changes: the planner says TagUnresolved. */
		log_warn("Promotion %s: tag %s: %s", promo->name, promo->tag, err.msg);
		f->commit[0] = '\0';
		goto done;
	}
	if (gitsource_read_files(c->src->gs, f->commit, &files, &err) < 0) {
		log_warn("Promotion %s: reading %s: %s", promo->name, revision, err.msg);
	} else {
		const struct treefile *lock = treefiles_find(&files, "openclaw.lock");
		if (lock)
			canon_sha256_hex(lock->data, lock->len, f->lock_sha256);
	}
	if (*commit && gitsource_commit_info(c->src->gs, commit, &author, &message, &err) == 0) {
		copy_utf8(f->actor, sizeof(f->actor), author);
		if (audit_ticket_from_message(message, f->ticket) != 1)
			f->ticket[0] = '\0';
	}
done:
	free(author);
	free(message);
	treefiles_free(&files);
	gitref_free(&ref);
}

void controller_log_diags(const struct diag_list *diags)
{
	char line[DIAG_LINE_LOGGED];
	for (size_t i = 0; i < diags->n && i < DIAGS_LOGGED; i++) {
		diag_format(&diags->v[i], line, sizeof(line));
		log_warn("%s", line);
	}
	if (diags->n + diags->dropped > DIAGS_LOGGED)
		log_warn("... and %zu more problems", diags->n + diags->dropped - DIAGS_LOGGED);
}

/* sourceError is msg followed by the first problems where they are (desired_error_text); the log
 * gets msg and up to DIAGS_LOGGED problems, once while that text repeats. */
void controller_source_failed(struct controller *c, const char *msg,
			      const struct diag_list *diags)
{
	char *text = desired_error_text(msg, diags);
	if (text && c->source_error && strcmp(c->source_error, text) == 0) {
		free(text);
		return;
	}
	if (!text)
		log_error("describing why the source failed: out of memory");
	log_warn("%s", msg);
	if (diags)
		controller_log_diags(diags);
	free(c->source_error);
	c->source_error = text;
	if (!c->source_error_since_ms)
		c->source_error_since_ms = clock_epoch_ms();
}

/* A fetch that ended: its duration is the fetch metric, a failure the sourceError (the desired
 * state stays the mirror's as the last good fetch left it). */
static void note_fetch(struct controller *c, enum source_fetch_event ev, const struct cf_err *err)
{
	if (ev == SOURCE_FETCH_NONE)
		return;
	c->metrics.git_fetch_seconds = c->src->info.last_seconds;
	if (ev == SOURCE_FETCH_FAILED)
		controller_source_failed(c, err->msg, NULL);
}

/* Takes in a fetch that ended, then reads the ref when the source is readable; the last good
 * desired state stays in the cache whatever fails, a failed fetch leaves the mirror as it was,
 * and a source that cannot be opened is tried again an interval later, so an unreachable or
 * hung Git server never holds up the passes of a rollout. No fetch starts inside a pass (the
 * loop starts them, controller_tend_source): what is read here stays as it is while the pass
 * resolves the Promotion's tag. */
static void refresh_desired(struct controller *c)
{
	struct cf_err err;
	struct diag_list diags = {0};
	int64_t started = clock_mono_ms();
	if (!c->src && started < c->next_fetch_mono_ms)
		return;
	if (!c->src && controller_open_source(c, &err) < 0) {
		source_free(c->src);
		c->src = NULL;
		controller_source_failed(c, err.msg, NULL);
		return;
	}
	struct source_spec spec = source_spec_of(c);
	note_fetch(c, source_fetch_tend(c->src, &spec, false, &err), &err);
	/* A fetch is writing the mirror, or the first clone has not finished. */
	if (!source_readable(c->src))
		return;
	int rc = desired_cache_refresh(&c->cache, c->src, NULL, &diags, &err);
	if (!c->src->info.remote)
		c->metrics.git_fetch_seconds = (double)(clock_mono_ms() - started) / 1000.0;
	if (rc < 0) {
		controller_source_failed(c, err.msg, &diags);
	} else if (c->src->info.failures) {
		/* Read from the mirror as the last good fetch left it: still out of date. */
		controller_source_failed(c, c->src->info.error, NULL);
	} else {
		if (c->source_error)
			log_info("the source is readable again");
		free(c->source_error);
		c->source_error = NULL;
		c->source_error_since_ms = 0;
		if (rc == DESIRED_CHANGED)
			log_info("desired state %s: %zu nodes, %zu tenants, %zu promotions",
				 c->cache.revision, c->cache.ds->nnodes, c->cache.ds->ntenants,
				 c->cache.ds->npromotions);
	}
	diag_list_free(&diags);
}

bool controller_tend_source(struct controller *c)
{
	struct cf_err err;
	if (!c->src)
		return false;
	struct source_spec spec = source_spec_of(c);
	enum source_fetch_event ev = source_fetch_tend(c->src, &spec, true, &err);
	note_fetch(c, ev, &err);
	/* Fetched a commit the desired state was not read at, or a first one: read it now. */
	return ev == SOURCE_FETCH_DONE &&
	       (!c->cache.ds || strcmp(c->src->info.revision, c->cache.revision) != 0);
}

int64_t controller_source_due_ms(const struct controller *c)
{
	return c->src ? source_fetch_due_ms(c->src) : INT64_MAX;
}

int controller_source_fd(const struct controller *c)
{
	return c->src ? source_fetch_fd(c->src) : -1;
}

bool controller_source_status(const struct controller *c, struct status_source *out)
{
	const struct source_fetch_info *info = c->src ? &c->src->info : NULL;
	if (!info || !info->remote)
		return false;
	int64_t now = clock_mono_ms(), epoch = clock_epoch_ms();
	int64_t fresh = info->last_ok_mono_ms ? info->last_ok_mono_ms : info->opened_mono_ms;
	int64_t next_in = info->next_mono_ms > now ? info->next_mono_ms - now : 0;
	*out = (struct status_source){
		.fetched = c->src->gs != NULL,
		.revision = info->revision[0] ? info->revision : NULL,
		.fetching = info->fetching,
		.last_fetch_ms = info->last_end_epoch_ms,
		.last_fetch_ok = info->last_ok,
		.stale_ms = now - fresh,
		.next_fetch_ms = info->fetching ? 0 : epoch + next_in,
		.failures = info->failures,
		.error = info->error[0] ? info->error : NULL,
	};
	return true;
}

/* ---- the pass ---- */

/* A probe that names no tag gets the one its commit carries in the rollout (an agent that was
 * never targeted does not know the tag), copied into tags[i], which outlives the pass's state. */
static void name_tags(const struct controller *c, struct fleet_poll_result *r,
		      char (*tags)[ROLLOUT_TEXT_MAX])
{
	const struct rollout_state *s = &c->state;
	for (size_t i = 0; i < r->nnodes; i++) {
		struct node_observation *o = &r->obs[i];
		const char *tag = NULL;
		if (!o->reachable || (o->tag && *o->tag) || !o->commit)
			continue;
		if (c->facts.commit[0] && strcmp(o->commit, c->facts.commit) == 0)
			tag = c->facts.key_tag;
		else if (s->has_last_good && strcmp(o->commit, s->last_good.commit) == 0)
			tag = s->last_good.tag;
		else if (s->promotion.commit[0] && strcmp(o->commit, s->promotion.commit) == 0)
			tag = s->promotion.tag;
		if (!tag)
			continue;
		snprintf(tags[i], ROLLOUT_TEXT_MAX, "%s", tag);
		o->tag = tags[i];
	}
}

/* The desired state as the planner sees it: the config's analysisInterval replaces every
 * Promotion's, for demos and tests. */
static void apply_overrides(const struct controller *c, struct desired_state *ds)
{
	if (!c->cfg.analysis_interval_ms)
		return;
	for (size_t i = 0; i < ds->npromotions; i++)
		ds->promotions[i].analysis_interval_ms = c->cfg.analysis_interval_ms;
}

static bool under_way(const struct rollout_state *s)
{
	return s->phase != ROLLOUT_IDLE && s->phase != ROLLOUT_SUCCEEDED &&
	       s->phase != ROLLOUT_ROLLED_BACK;
}

/* The load balancer's weights; a failure to read them is logged once while it repeats. */
static bool read_weights(struct controller *c, const struct load_balancer *lb,
			 struct weight_map *weights)
{
	struct cf_err err;
	if (!lb || weights_get(lb, weights, &err) == 0) {
		free(c->lb_warning);
		c->lb_warning = NULL;
		return true;
	}
	cf_err_prefix(&err, "reading the weights of LoadBalancer/%s", lb->name);
	if (!c->lb_warning || strcmp(c->lb_warning, err.msg) != 0) {
		log_warn("%s", err.msg);
		free(c->lb_warning);
		c->lb_warning = strdup(err.msg);
	}
	return false;
}

/* The Promotion's metrics (observe/prom_poll.h): what came back since the last pass, and the
 * queries now due while the canary is at a step (held at the gate after one too: the planner
 * judges them there), moved on again at the pass's end. Never waits; a poller that cannot be
 * made leaves the metrics without data, which the planner holds on. */
static void measure_metrics(struct controller *c, const struct desired_state *ds, int64_t now,
			    struct fleet_observation *fo)
{
	struct prom_poll_defaults defaults = {c->cfg.prometheus_url, c->cfg.prometheus_timeout_ms};
	const struct rollout_state *s = &c->state;
	bool active = s->phase == ROLLOUT_ANALYSING || s->phase == ROLLOUT_PROMOTING ||
		      (s->phase == ROLLOUT_HELD && s->gate_percent &&
		       s->held_from == ROLLOUT_ANALYSING);
	struct cf_err err;
	if (!ds->npromotions || !ds->promotions[0].analysis.nmetrics)
		return;
	if ((!c->metrics_poll && prom_poll_new(&c->metrics_poll, &err) < 0) ||
	    prom_poll_step(c->metrics_poll, ds, &defaults, active, now, &err) < 0) {
		log_error("measuring the Promotion's metrics: %s", err.msg);
		return;
	}
	fo->metrics = prom_poll_samples(c->metrics_poll, &fo->nmetrics);
}

bool controller_run_pass(struct controller *c, bool *failed)
{
	struct fleet_poll_result *r = NULL;
	struct weight_map weights = {0};
	struct lb_servers servers = {0};
	struct lb_routes routes = {0};
	struct plan_output *out = NULL; /* ~100 KB: on the heap, as the stack keeps what it touched */
	char (*tags)[ROLLOUT_TEXT_MAX] = NULL;
	const struct load_balancer *lb = NULL;
	struct cf_err err;
	bool busy = false, weights_ok = false;
	int64_t started = clock_mono_ms();

	*failed = false;
	/* The webhook calls move on here and again before the plan, the fleet's poll between:
	 * a call asked for at the end of a pass is answered by the next one's plan. */
	webhook_runner_tend(c->webhooks, clock_epoch_ms());
	controller_send_hook_events(c);
	/* One replica of several acts: a follower shows the leader's state and takes no action. */
	if (!controller_ha_pass(c)) {
		controller_record(c, NULL, NULL, false);
		return under_way(&c->state);
	}
	/* A sealed audit log stops every action: /status says why (Stalled, AuditChainBroken); a
	 * replica of several hands the lead over. */
	if (!controller_audit_holds(c)) {
		controller_ha_sealed(c);
		controller_record(c, NULL, NULL, false);
		return false;
	}
	refresh_desired(c);
	struct desired_state *ds = c->cache.ds;
	if (!ds) {
		controller_record(c, NULL, NULL, false);
		return false;
	}
	apply_overrides(c, ds);
	fleet_act_prune(&c->act, ds);
	resolve_facts(c, ds);
	if (fleet_poll_poll(c->probe, ds, &r, &err) < 0) {
		log_error("observing the fleet: %s", err.msg);
		*failed = true;
		goto done;
	}
	tags = calloc(r->nnodes ? r->nnodes : 1, sizeof(*tags));
	if (!tags) {
		log_error("naming the nodes' tags: out of memory");
		*failed = true;
		goto done;
	}
	name_tags(c, r, tags);
	lb = controller_lb(ds);
	weights_ok = read_weights(c, lb, &weights);

	const struct promo_facts *f = &c->facts;
	if (!c->run_id)
		c->run_id = clock_epoch_ms();
	struct fleet_observation fo = {
		.nodes = r->obs,
		.nnodes = r->nnodes,
		.weights = weights,
		.weights_ok = weights_ok,
		.promotion_commit = f->valid && f->commit[0] ? f->commit : NULL,
		.promotion_lock_sha256 = f->valid && f->lock_sha256[0] ? f->lock_sha256 : NULL,
		.actor = f->valid ? f->actor : NULL,
		.ticket = f->valid && f->ticket[0] ? f->ticket : NULL,
		.run_id = c->run_id,
		.wall_ms = clock_epoch_ms(),
	};
	webhook_runner_tend(c->webhooks, fo.wall_ms);
	fo.hooks = webhook_runner_results(c->webhooks, &fo.nhooks);
	controller_observe_lb(c, lb, &fo, &servers, &routes);
	int64_t now = c->clock_resumed_ms + (clock_mono_ms() - c->clock_resumed_mono_ms);
	measure_metrics(c, ds, now, &fo);
	out = plan_output_new();
	if (!out) {
		log_error("planning: out of memory");
		*failed = true;
		goto done;
	}
	if (plan(ds, &fo, &c->state, now, out, &err) < 0) {
		log_error("planning: %s", err.msg);
		*failed = true;
		goto done;
	}
	*failed = fleet_act(&c->act, ds, out, &c->state, &err) < 0;
	webhook_runner_ask(c->webhooks, ds->npromotions ? &ds->promotions[0] : NULL, out->hook_calls,
			   out->nhook_calls, clock_epoch_ms());
	controller_forecast(c, ds, &fo, now);
	busy = controller_writeback(c, ds) || out->nactions > 0 || c->state.npending > 0 ||
	       under_way(&c->state) || webhook_runner_busy(c->webhooks);
	lb_servers_free(&c->lb_servers);
	c->lb_servers = servers;
	c->lb_servers_ok = fo.servers_ok;
	servers = (struct lb_servers){0};
done:
	if (c->metrics_poll)
		prom_poll_drive(c->metrics_poll); /* the queries this pass sent go out meanwhile */
	status_metrics_observe_pass(&c->metrics, (double)(clock_mono_ms() - started) / 1000.0);
	controller_record(c, r, weights_ok && lb ? &weights : NULL, !*failed);
	plan_output_delete(out);
	weight_map_free(&weights);
	lb_servers_free(&servers);
	lb_routes_free(&routes);
	fleet_poll_result_free(r);
	free(tags);
	return busy;
}
