#include "observe/node_observe_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/proc.h"
#include "observe/doctor.h"
#include "reconcilers/lockcheck.h"
#include "reconcilers/service.h"
#include "reconcilers/skills.h"

#define VERSION_TIMEOUT_MS 5000
#define RESTART_WINDOW_MS (5 * 60 * 1000)
/* A kickstart the agent announced excuses the next start seen within this many refresh periods
 * (at least KICKSTART_GRACE_MIN_MS): the restart may land after the observation that follows
 * the note, but a note must not excuse a crash long after. */
#define KICKSTART_GRACE_PERIODS 3
#define KICKSTART_GRACE_MIN_MS 60000

/* ---- the CLI's version ---- */

void observe_cli(const struct node_observer *obs, struct observation *o)
{
	char *argv[] = {obs->openclaw, "--version", NULL};
	struct proc_spec spec = {.argv = argv,
				 .timeout_ms = VERSION_TIMEOUT_MS,
				 .output_max = LOCKCHECK_OUTPUT_MAX};
	struct proc_result res;
	struct cf_err err;

	if (proc_run(&spec, &res, &err) < 0 || proc_check(&spec, &res, &err) < 0)
		o->in.cli_error = errorf(o->cli_error, "%s", err.msg);
	else if (res.out_truncated)
		o->in.cli_error = errorf(o->cli_error, "`%s --version` printed more than %d bytes",
					 obs->openclaw, LOCKCHECK_OUTPUT_MAX);
	else if (lockcheck_parse_version(res.out, res.out_len, &o->cli, &err) < 0)
		o->in.cli_error = errorf(o->cli_error, "%s", err.msg);
	else
		o->in.cli = &o->cli;
	proc_result_free(&res);
}

/* ---- doctor, one run per profile, in parallel ---- */

static void doctor_run(const struct node_observer *obs, struct probe_doctor *d)
{
	/* Profiles are DNS labels (the TenantSlice schema checks them), so this always fits. */
	char profile[sizeof("OPENCLAW_PROFILE=") + DESIRED_NAME_MAX];
	char *env[] = {profile, NULL};
	char *argv[] = {obs->openclaw, "doctor", "--json", "--non-interactive",
			obs->cfg->doctor_deep ? "--deep" : NULL, NULL};
	struct proc_spec spec = {.argv = argv,
				 .env = d->profile ? env : NULL,
				 .timeout_ms = (int)obs->cfg->doctor_timeout_ms,
				 .output_max = DOCTOR_OUTPUT_MAX};
	struct proc_result res;

	if (d->profile)
		snprintf(profile, sizeof(profile), "OPENCLAW_PROFILE=%s", d->profile);
	/* A CLI that cannot start still fills res (exit 127), which doctor_judge explains. */
	proc_run(&spec, &res, NULL);
	doctor_judge(&res, spec.timeout_ms, &d->result);
	proc_result_free(&res);
}

static void *doctor_worker(void *arg)
{
	struct doctor_job *job = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&job->next, 1);
		if (i >= job->n)
			return NULL;
		doctor_run(job->obs, &job->runs[i]);
	}
}

/* The node's own run first, then one per tenant that names a profile. -1: out of memory. */
static int doctor_prepare(const struct observation *o, struct probe_doctor **out, size_t *n)
{
	const struct desired_state *ds = o->snap ? o->snap->ds : NULL;
	size_t count = 1;
	for (size_t i = 0; ds && i < ds->ntenants; i++)
		count += ds->tenants[i].profile != NULL;
	struct probe_doctor *runs = calloc(count, sizeof(*runs));
	if (!runs)
		return -1;
	*n = 1;
	for (size_t i = 0; ds && i < ds->ntenants; i++) {
		const struct tenant_slice *t = &ds->tenants[i];
		if (!t->profile)
			continue;
		runs[*n].tenant = t->name;
		runs[*n].profile = t->profile;
		runs[*n].maintenance_until = t->maintenance_until;
		(*n)++;
	}
	*out = runs;
	return 0;
}

/* Up to DOCTOR_THREADS_MAX workers; the caller's thread joins in at observe_doctor_end, so a
 * failed pthread_create only costs parallelism. */
int observe_doctor_begin(struct doctor_job *job, const struct node_observer *obs,
			 struct observation *o)
{
	job->obs = obs;
	job->started = 0;
	if (doctor_prepare(o, &o->doctor, &job->n) < 0)
		return -1;
	job->runs = o->doctor;
	atomic_init(&job->next, 0);
	size_t want = job->n < DOCTOR_THREADS_MAX ? job->n : DOCTOR_THREADS_MAX;
	while (job->started < want &&
	       pthread_create(&job->threads[job->started], NULL, doctor_worker, job) == 0)
		job->started++;
	return 0;
}

void observe_doctor_end(struct doctor_job *job, struct observation *o)
{
	doctor_worker(job);
	for (size_t i = 0; i < job->started; i++)
		pthread_join(job->threads[i], NULL);
	o->in.doctor = o->doctor;
	o->in.ndoctor = job->n;
}

/* ---- the service manager ---- */

/* A start is a pid that differs from the last one seen, or a running service that was stopped;
 * the first answer only sets the scene. A start the agent announced is not counted. */
static void note_status(struct node_observer *obs, const struct service_status *st, int64_t now)
{
	bool started = obs->status_seen && st->running &&
		       (!obs->last_running || (st->pid > 0 && st->pid != obs->last_pid));
	int64_t grace = KICKSTART_GRACE_PERIODS * obs->cfg->refresh_ms;
	if (grace < KICKSTART_GRACE_MIN_MS)
		grace = KICKSTART_GRACE_MIN_MS;

	pthread_mutex_lock(&obs->lock);
	if (obs->kickstart_notes > 0 && now - obs->kickstart_note_ms > grace)
		obs->kickstart_notes = 0;
	if (started && obs->kickstart_notes > 0) {
		obs->kickstart_notes--;
	} else if (started) {
		if (obs->nrestarts == RESTARTS_MAX) {
			memmove(obs->restarts, obs->restarts + 1,
				(RESTARTS_MAX - 1) * sizeof(obs->restarts[0]));
			obs->nrestarts--;
		}
		obs->restarts[obs->nrestarts++] = now;
	}
	pthread_mutex_unlock(&obs->lock);
	obs->status_seen = true;
	obs->last_running = st->running;
	obs->last_pid = st->pid;
}

static int restarts_within_window(const struct node_observer *obs, int64_t now)
{
	int n = 0;
	for (size_t i = 0; i < obs->nrestarts; i++)
		n += now - obs->restarts[i] <= RESTART_WINDOW_MS;
	return n;
}

void observe_service(struct node_observer *obs, struct observation *o)
{
	struct service_status st;
	struct cf_err err = {{0}};
	int64_t now = clock_mono_ms();

	if (service_status(&obs->svc, &st, &err) < 0) {
		o->in.service.error =
			errorf(o->service_error, "%s", st.error[0] ? st.error : err.msg);
	} else {
		o->in.service.running = st.running;
		o->in.service.has_last_exit = st.has_last_exit;
		o->in.service.last_exit = st.last_exit;
		o->in.service.last_signal = st.last_signal;
		o->service = st;
		o->service_seen = true;
		note_status(obs, &st, now);
	}
	o->in.service.restarts_5m = restarts_within_window(obs, now);
}

/* ---- the skills links ---- */

static const char *lock_semver(const struct observation *o)
{
	return o->in.lock && o->in.lock->present ? o->in.lock->skills_semver : NULL;
}

static const char *link_problem(char buf[ERROR_MAX], const char *root, enum skills_link l,
				const struct skills_link_state *ls)
{
	const char *name = skills_link_name(l);
	switch (ls->status) {
	case SKILLS_LINK_OK:
		return NULL;
	case SKILLS_LINK_ABSENT:
		return errorf(buf, "%s/%s does not exist", root, name);
	case SKILLS_LINK_MISSING:
		return errorf(buf, "%s/%s -> %s, which does not exist", root, name, ls->target);
	case SKILLS_LINK_INCOMPLETE:
		return errorf(buf,
			      "%s/%s -> %s, an incomplete pack (no %s; an install was cut short)",
			      root, name, ls->target, SKILLS_MARKER);
	case SKILLS_LINK_FOREIGN:
		return errorf(buf, "%s/%s does not name a <semver> directory of the skills root",
			      root, name);
	case SKILLS_LINK_NOT_LINK:
		break;
	}
	return errorf(buf, "%s/%s is not a symbolic link", root, name);
}

void observe_skills(const struct node_observer *obs, struct observation *o)
{
	struct skills_state st;
	struct cf_err err;
	const char *why;
	const char *sha256 = lock_semver(o) ? o->in.lock->skills_sha256 : NULL;

	if (skills_observe(obs->skills_root, lock_semver(o), &st, &err) < 0) {
		o->in.skills.current_error = errorf(o->current_error, "%s", err.msg);
		o->in.skills.next_error = errorf(o->next_error, "%s", err.msg);
		return;
	}
	/* Only a pack waiting to be adopted is hashed (bounded: pack_digest.h); a marked one is
	 * not, so a healthy node pays nothing per refresh. */
	if (sha256 && st.pack_present && !st.pack_complete &&
	    skills_verify(obs->skills_root, lock_semver(o), sha256, &err) < 0)
		o->in.skills.digest_error = errorf(o->pack_digest_error, "%s", err.msg);
	why = link_problem(o->current_error, obs->skills_root, SKILLS_CURRENT,
			   &st.links[SKILLS_CURRENT]);
	if (why) {
		o->in.skills.current_error = why;
	} else {
		snprintf(o->skills_current, sizeof(o->skills_current), "%s",
			 st.links[SKILLS_CURRENT].target);
		o->in.skills.current = o->skills_current;
	}
	/* next exists only while a canary runs: its absence is no problem. */
	if (st.links[SKILLS_NEXT].status == SKILLS_LINK_ABSENT)
		return;
	why = link_problem(o->next_error, obs->skills_root, SKILLS_NEXT, &st.links[SKILLS_NEXT]);
	if (why) {
		o->in.skills.next_error = why;
	} else {
		snprintf(o->skills_next, sizeof(o->skills_next), "%s",
			 st.links[SKILLS_NEXT].target);
		o->in.skills.next = o->skills_next;
	}
}
