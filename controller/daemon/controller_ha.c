/* The fleet controller as one of several replicas sharing the etcd store (README "High
 * availability"): the renew thread that campaigns for the leader key and keeps its lease, the
 * pass's view of it (lead, follow, take over), the hand-over thread that passes a Flux event a
 * follower received on to the leader, and the mirror of the audit chain kept in etcd into this
 * replica's promotions.jsonl.
 *
 * The renew thread has its own etcd client and never waits on the loop; the loop never waits on
 * etcd for the lease: it reads the timing under a mutex and compares the deadline with the
 * monotonic clock itself, so a renew thread stuck in a slow request cannot stretch the
 * leader's time to act. A leader that steps down (deadline passed, lease gone) stops acting at
 * once; its fence is cleared at the next pass, and any write it still tries is refused by etcd. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/compat.h"
#include "base/log.h"
#include "daemon/controller_internal.h"
#include "plan/rollout.h"
#include "record/audit.h"
#include "record/etcd.h"
#include "record/leader.h"
#include "record/rollout_store.h"

#define HOLDER_MAX 256
#define KEY_MAX 320
/* How often the leader reads <prefix>/trigger: a Flux event a follower received starts the
 * leader's pass within this. One read of one small key: etcd serves thousands a second. */
#define TRIGGER_POLL_MS 250

struct controller_ha {
	struct etcd *etcd; /* the renew thread's own client */
	char leader_key[KEY_MAX];
	char holder[HOLDER_MAX]; /* this replica's value on the key: "ID ADDRESS" */
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* CLOCK_MONOTONIC: wakes the thread to stop */
	/* The hand-over thread: a follower's Flux events to the leader through <prefix>/trigger. */
	struct etcd *hook_etcd; /* its own client */
	char trigger_key[KEY_MAX];
	pthread_t hook_thread;
	bool hook_started;
	pthread_cond_t hook_cond; /* CLOCK_MONOTONIC: an event to pass on, or stop */

	/* Guarded by mu. */
	bool stop;
	struct leader_timing timing;
	int64_t lease, term;	      /* while leading */
	char leader[HOLDER_MAX];      /* the key's value as last read ("" none) */
	int64_t leader_term;	      /* its create revision */
	int64_t failover_ms;	      /* when the term last changed (epoch ms; 0: not seen) */
	uint64_t failovers;	      /* changes of term seen by this replica */
	char error[CF_ERR_MSG];	      /* the last etcd failure of the thread, "" when it answers */
	bool hook_pending;	      /* a follower's Flux event not yet passed on */
	/* The local audit log is sealed: a leader hands the lead over (resign) and the replica
	 * does not campaign until its log is the chain in etcd again. */
	bool sealed, resign;
	int64_t trigger_seen;	      /* the trigger key's mod revision the leader last acted on */

	/* The pass's (the loop thread) only. */
	int64_t fenced_term; /* the term the store's fence holds, 0 none */
	char pass_error[CF_ERR_MSG]; /* the last failure to follow, logged once */
};

/* ---- the renew thread ---- */

static void saw_leader(struct controller_ha *ha, const char *value, int64_t term)
{
	if (term && ha->leader_term && term != ha->leader_term) {
		ha->failover_ms = clock_epoch_ms();
		ha->failovers++;
	}
	snprintf(ha->leader, sizeof(ha->leader), "%s", value);
	if (term)
		ha->leader_term = term;
}

/* Logged when etcd stops answering, and again when it answers (each member's failure differs
 * from one try to the next: not logged each time). */
static void thread_failed(struct controller_ha *ha, const struct cf_err *err)
{
	if (!ha->error[0])
		log_warn("leader election: %s", err->msg);
	snprintf(ha->error, sizeof(ha->error), "%s", err->msg);
}

static void thread_answered(struct controller_ha *ha)
{
	if (ha->error[0])
		log_info("leader election: etcd answers again");
	ha->error[0] = '\0';
}

/* Called with mu held, which it drops around the requests. Reads the key; when it is free, takes
 * it with a new lease in one transaction (another replica may win the race: then its value is
 * what the transaction read). */
static void campaign(struct controller_ha *ha, int64_t sent)
{
	struct etcd_kv kv = {0};
	struct etcd_txn_result r = {0};
	struct cf_err err;
	bool found = false, won = false;
	int64_t lease = 0, granted = 0, ttl_s = ha->timing.ttl_ms / 1000;
	bool may_lead = !ha->sealed;
	pthread_mutex_unlock(&ha->mu);
	int rc = etcd_get(ha->etcd, ha->leader_key, &kv, &found, &err);
	if (rc == 0 && !found && may_lead) {
		rc = etcd_lease_grant(ha->etcd, ttl_s, &lease, &granted, &err);
		struct etcd_cmp cmp = {.key = ha->leader_key, .target = ETCD_CMP_CREATE, .number = 0};
		struct etcd_op put = {ETCD_OP_PUT, ha->leader_key, ha->holder, strlen(ha->holder),
				      lease};
		struct etcd_op get = {.kind = ETCD_OP_GET, .key = ha->leader_key};
		if (rc == 0)
			rc = etcd_txn(ha->etcd, &cmp, 1, &put, 1, &get, 1, &r, &err);
		won = rc == 0 && r.succeeded;
		if (rc == 0 && !won && r.n_kvs) {
			kv = r.kvs[0];
			r.kvs[0] = (struct etcd_kv){0};
			found = true;
		}
		if (!won && lease)
			etcd_lease_revoke(ha->etcd, lease, &(struct cf_err){0});
	}
	pthread_mutex_lock(&ha->mu);
	if (rc < 0) {
		thread_failed(ha, &err);
	} else if (won) {
		thread_answered(ha);
		ha->timing.leading = true;
		ha->timing.sent_ms = sent;
		ha->lease = lease;
		ha->term = r.revision;
		saw_leader(ha, ha->holder, r.revision);
		log_info("leader election: this replica leads (term %" PRId64 ", lease %" PRId64
			 "s)", r.revision, granted);
		controller_wake();
	} else {
		thread_answered(ha);
		saw_leader(ha, found ? kv.value : "", found ? kv.create_revision : 0);
	}
	pthread_mutex_unlock(&ha->mu);
	free(kv.key);
	free(kv.value);
	etcd_txn_result_free(&r);
	pthread_mutex_lock(&ha->mu);
}

static void step_down(struct controller_ha *ha, const char *why)
{
	int64_t lease = ha->lease;
	log_warn("leader election: %s; this replica takes no action from now until it leads again",
		 why);
	ha->timing.leading = false;
	ha->timing.tried_ms = 0;
	ha->lease = ha->term = 0;
	ha->leader[0] = '\0';
	controller_wake();
	pthread_mutex_unlock(&ha->mu);
	/* Whatever the lease still has, the key goes with it: another replica need not wait. */
	if (lease)
		etcd_lease_revoke(ha->etcd, lease, &(struct cf_err){0});
	pthread_mutex_lock(&ha->mu);
}

static void renew(struct controller_ha *ha, int64_t sent)
{
	struct cf_err err;
	int64_t ttl_s = 0, lease = ha->lease;
	pthread_mutex_unlock(&ha->mu);
	int rc = etcd_lease_keepalive(ha->etcd, lease, &ttl_s, &err);
	pthread_mutex_lock(&ha->mu);
	if (!ha->timing.leading || ha->lease != lease)
		return;
	if (rc < 0)
		thread_failed(ha, &err);
	else if (ttl_s <= 0)
		step_down(ha, "the lease expired before it was renewed");
	else {
		thread_answered(ha);
		ha->timing.sent_ms = sent;
	}
}

static void *renew_thread(void *arg)
{
	struct controller_ha *ha = arg;
	pthread_mutex_lock(&ha->mu);
	while (!ha->stop) {
		int64_t now = clock_mono_ms(), at = now;
		if (ha->resign) {
			ha->resign = false;
			if (ha->timing.leading)
				step_down(ha, "the audit log is sealed, so this replica hands the lead "
					      "over rather than hold it and act on nothing");
			continue;
		}
		switch (leader_next(&ha->timing, now, &at)) {
		case LEADER_WAIT: {
			struct timespec ts = clock_timespec(at);
			compat_cond_timedwait_monotonic(&ha->cond, &ha->mu, &ts);
			break;
		}
		case LEADER_CAMPAIGN:
			ha->timing.tried_ms = now;
			campaign(ha, now);
			break;
		case LEADER_RENEW:
			ha->timing.tried_ms = now;
			renew(ha, now);
			break;
		case LEADER_STEP_DOWN:
			step_down(ha, "the lease could not be renewed before the renew deadline");
			break;
		}
	}
	pthread_mutex_unlock(&ha->mu);
	return NULL;
}

/* ---- Flux events received by a follower ---- */

/* The follower puts <prefix>/trigger (its ID, no fence: it says only "run a pass"); the leader
 * reads the key every TRIGGER_POLL_MS and wakes its loop when the key changed during its term.
 * Its own thread and client: a slow etcd delays neither the renewals nor the HTTP threads. */
static void pass_on(struct controller_ha *ha)
{
	struct cf_err err;
	size_t idlen = strcspn(ha->holder, " ");
	ha->hook_pending = false;
	pthread_mutex_unlock(&ha->mu);
	int rc = etcd_put(ha->hook_etcd, ha->trigger_key, ha->holder, idlen, 0, &err);
	if (rc < 0)
		log_warn("flux event: not passed on to the leader (%s); the leader reads Git at its "
			 "next pass",
			 err.msg);
	else
		log_info("flux event: passed on to the leader through %s", ha->trigger_key);
	pthread_mutex_lock(&ha->mu);
}

static void read_trigger(struct controller_ha *ha)
{
	struct etcd_kv kv = {0};
	bool found = false;
	int64_t term = ha->term;
	pthread_mutex_unlock(&ha->mu);
	/* A failed read is not logged: the renew thread says when etcd does not answer. */
	int rc = etcd_get(ha->hook_etcd, ha->trigger_key, &kv, &found, &(struct cf_err){0});
	pthread_mutex_lock(&ha->mu);
	if (rc == 0 && found && ha->timing.leading && kv.mod_revision > term &&
	    kv.mod_revision > ha->trigger_seen) {
		ha->trigger_seen = kv.mod_revision;
		log_info("flux event: received by replica %s, a pass starts now", kv.value);
		controller_wake();
	}
	free(kv.key);
	free(kv.value);
}

static void *hook_thread(void *arg)
{
	struct controller_ha *ha = arg;
	pthread_mutex_lock(&ha->mu);
	while (!ha->stop) {
		if (ha->hook_pending) {
			pass_on(ha);
			continue;
		}
		if (ha->timing.leading)
			read_trigger(ha);
		struct timespec ts = clock_timespec(clock_mono_ms() + TRIGGER_POLL_MS);
		if (!ha->stop && !ha->hook_pending)
			compat_cond_timedwait_monotonic(&ha->hook_cond, &ha->mu, &ts);
	}
	pthread_mutex_unlock(&ha->mu);
	return NULL;
}

void controller_ha_pass_on(struct controller *c)
{
	struct controller_ha *ha = c->ha;
	if (!ha)
		return;
	pthread_mutex_lock(&ha->mu);
	if (!leader_may_act(&ha->timing, clock_mono_ms())) {
		ha->hook_pending = true;
		pthread_cond_signal(&ha->hook_cond);
	}
	pthread_mutex_unlock(&ha->mu);
}

/* ---- the audit mirror ---- */

struct mirror {
	struct audit_log *log;
	uint64_t next, upto;
	bool diverged;
	struct cf_err why;
};

static int mirror_line(void *ctx, uint64_t seq, const char *text, size_t len)
{
	struct mirror *m = ctx;
	if (seq > m->upto)
		return 1;
	if (seq != m->next) {
		cf_err_set(&m->why, "line %" PRIu64 " is missing from etcd", m->next);
		m->diverged = true;
		return -2;
	}
	if (audit_append_line(m->log, text, len, &m->why) < 0) {
		m->diverged = true;
		return -2;
	}
	m->next++;
	return 0;
}

static bool same_anchor(const struct audit_anchor *a, const struct audit_anchor *b)
{
	return a->lines == b->lines && strcmp(a->head, b->head) == 0;
}

/* Appends etcd's lines after the local log's end, up to want. */
static int mirror_from(struct controller *c, const struct audit_anchor *want, struct mirror *m,
		       struct cf_err *err)
{
	struct audit_anchor have;
	audit_anchor_of(c->audit, &have);
	*m = (struct mirror){.log = c->audit, .next = have.lines + 1, .upto = want->lines};
	if (have.lines >= want->lines)
		return 0;
	int rc = rollout_store_read_audit(&c->store, have.lines, mirror_line, m, err);
	return rc < 0 && !m->diverged ? -1 : 0;
}

/* The local log holds lines etcd does not (written by this replica as a leader whose commit
 * then failed) or differs: it is moved aside, kept for people to read, and written anew. */
static int rebuild(struct controller *c, const struct audit_anchor *want, const char *why,
		   struct cf_err *err)
{
	char aside[PATH_MAX + 64];
	char warning[256];
	struct mirror m;
	snprintf(aside, sizeof(aside), "%s.diverged-%" PRId64, c->audit_path, clock_epoch_ms());
	audit_close(c->audit);
	c->audit = NULL;
	if (rename(c->audit_path, aside) < 0)
		return cf_err_errno(err, "moving %s aside", c->audit_path);
	log_warn("the audit log %s is not the chain kept in etcd (%s): moved to %s, and written "
		 "again from etcd",
		 c->audit_path, why, aside);
	if (audit_open_anchored(&c->audit, c->audit_path, NULL, warning, sizeof(warning), err) < 0 ||
	    mirror_from(c, want, &m, err) < 0)
		return -1;
	if (m.diverged)
		return cf_err_set(err, "the audit chain in etcd does not verify: %s", m.why.msg);
	return 0;
}

/* Makes promotions.jsonl end where etcd's anchor says the chain ends. */
static int mirror_audit(struct controller *c, struct audit_anchor *want, struct cf_err *err)
{
	struct audit_anchor have;
	struct mirror m = {0};
	bool found = false;
	if (rollout_store_load_anchor(&c->store, want, &found, err) < 0)
		return -1;
	audit_anchor_of(c->audit, &have);
	if (same_anchor(&have, want) && !audit_broken(c->audit))
		return 0;
	if (audit_broken(c->audit))
		return rebuild(c, want, audit_broken(c->audit), err);
	if (mirror_from(c, want, &m, err) < 0)
		return -1;
	audit_anchor_of(c->audit, &have);
	if (m.diverged || !same_anchor(&have, want))
		return rebuild(c, want,
			       m.diverged ? m.why.msg : "it holds lines the chain does not", err);
	return 0;
}

/* ---- the pass ---- */

/* The shared state, as the leader saved it: a follower shows it, a new leader goes on from it. */
static int load_shared(struct controller *c, struct cf_err *err)
{
	struct rollout_state s;
	bool found = false;
	char digest[65] = "";
	if (rollout_store_load(&c->store, &s, &found, err) < 0)
		return -1;
	if (found && controller_state_digest(&s, digest, err) < 0) {
		rollout_state_free(&s);
		return -1;
	}
	rollout_state_free(&c->state);
	c->state = s;
	memcpy(c->saved, digest, sizeof(c->saved));
	c->clock_resumed_ms = rollout_clock_resume(&c->state, clock_epoch_ms());
	c->clock_resumed_mono_ms = clock_mono_ms();
	return 0;
}

static void follow_failed(struct controller_ha *ha, const struct cf_err *err)
{
	if (!ha->pass_error[0])
		log_warn("reading the shared state from etcd: %s", err->msg);
	snprintf(ha->pass_error, sizeof(ha->pass_error), "%s", err->msg);
}

static void follow_answered(struct controller_ha *ha)
{
	if (ha->pass_error[0])
		log_info("the shared state is read from etcd again");
	ha->pass_error[0] = '\0';
}

/* A new term: the store's fence, the chain and the state as the last leader left them. */
static int take_over(struct controller *c, int64_t term, struct cf_err *err)
{
	struct controller_ha *ha = c->ha;
	struct audit_anchor anchor;
	if (rollout_store_set_fence(&c->store, ha->holder, term, err) < 0 ||
	    mirror_audit(c, &anchor, err) < 0 || load_shared(c, err) < 0) {
		rollout_store_set_fence(&c->store, NULL, 0, &(struct cf_err){0});
		return -1;
	}
	ha->fenced_term = term;
	c->anchor = anchor;
	c->anchor_saved = true;
	log_info("leading from term %" PRId64 ": rollout state %s, %zu pending actions, audit chain "
		 "of %llu lines",
		 term, rollout_phase_name(c->state.phase), c->state.npending,
		 (unsigned long long)anchor.lines);
	return 0;
}

bool controller_ha_pass(struct controller *c)
{
	struct controller_ha *ha = c->ha;
	struct cf_err err;
	struct audit_anchor anchor;
	if (!ha)
		return true;
	pthread_mutex_lock(&ha->mu);
	bool leading = leader_may_act(&ha->timing, clock_mono_ms());
	int64_t term = ha->term;
	pthread_mutex_unlock(&ha->mu);
	if (!leading && ha->fenced_term) {
		rollout_store_set_fence(&c->store, NULL, 0, &err);
		ha->fenced_term = 0;
		c->anchor_saved = false;
	}
	if (leading && term != ha->fenced_term) {
		if (take_over(c, term, &err) == 0) {
			follow_answered(ha);
			return true;
		}
		follow_failed(ha, &err);
		return false;
	}
	if (leading)
		return true;
	if (mirror_audit(c, &anchor, &err) < 0 || load_shared(c, &err) < 0) {
		follow_failed(ha, &err);
		return false;
	}
	follow_answered(ha);
	pthread_mutex_lock(&ha->mu);
	bool repaired = ha->sealed && !audit_broken(c->audit);
	if (repaired)
		ha->sealed = false;
	pthread_mutex_unlock(&ha->mu);
	if (repaired) {
		c->audit_broken_since_ms = 0;
		log_info("the audit log is the chain kept in etcd again: this replica may lead again");
	}
	return false;
}

void controller_ha_sealed(struct controller *c)
{
	struct controller_ha *ha = c->ha;
	if (!ha)
		return;
	pthread_mutex_lock(&ha->mu);
	if (!ha->sealed) {
		ha->sealed = true;
		ha->resign = ha->timing.leading;
		pthread_cond_signal(&ha->cond);
	}
	pthread_mutex_unlock(&ha->mu);
}

bool controller_may_act(struct controller *c)
{
	struct controller_ha *ha = c->ha;
	if (!ha)
		return true;
	pthread_mutex_lock(&ha->mu);
	bool ok = leader_may_act(&ha->timing, clock_mono_ms()) && ha->term == ha->fenced_term;
	pthread_mutex_unlock(&ha->mu);
	return ok;
}

void controller_ha_view(struct controller *c, struct controller_ha_view *out)
{
	struct controller_ha *ha = c->ha;
	*out = (struct controller_ha_view){0};
	if (!ha)
		return;
	out->shared = true;
	pthread_mutex_lock(&ha->mu);
	int64_t now = clock_mono_ms();
	out->leading = leader_may_act(&ha->timing, now);
	const char *sp = strchr(ha->leader, ' ');
	size_t idlen = sp ? (size_t)(sp - ha->leader) : strlen(ha->leader);
	snprintf(out->id, sizeof(out->id), "%.*s", (int)idlen, ha->leader);
	snprintf(out->address, sizeof(out->address), "%s", sp ? sp + 1 : "");
	snprintf(out->self, sizeof(out->self), "%.*s", (int)strcspn(ha->holder, " "), ha->holder);
	out->term = ha->leader_term;
	if (out->leading)
		out->lease_deadline_ms = clock_epoch_ms() +
					 (leader_deadline_ms(ha->timing.sent_ms, ha->timing.ttl_ms) -
					  now);
	out->last_failover_ms = ha->failover_ms;
	out->failovers = ha->failovers;
	snprintf(out->error, sizeof(out->error), "%s", ha->error[0] ? ha->error : ha->pass_error);
	pthread_mutex_unlock(&ha->mu);
}

/* ---- start and stop ---- */

static void ha_free(struct controller_ha *ha)
{
	if (!ha)
		return;
	etcd_free(ha->etcd);
	etcd_free(ha->hook_etcd);
	pthread_cond_destroy(&ha->hook_cond);
	pthread_cond_destroy(&ha->cond);
	pthread_mutex_destroy(&ha->mu);
	free(ha);
}

static int ha_new(struct controller *c, const struct rollout_store_etcd_config *sc,
		  struct cf_err *err)
{
	char host[128];
	struct controller_ha *ha = calloc(1, sizeof(*ha));
	if (!ha)
		return cf_err_set(err, "out of memory");
	pthread_mutex_init(&ha->mu, NULL);
	if (compat_cond_init_monotonic(&ha->cond) != 0) {
		pthread_mutex_destroy(&ha->mu);
		free(ha);
		return cf_err_set(err, "leader election: cannot make a condition variable");
	}
	if (compat_cond_init_monotonic(&ha->hook_cond) != 0) {
		pthread_cond_destroy(&ha->cond);
		pthread_mutex_destroy(&ha->mu);
		free(ha);
		return cf_err_set(err, "leader election: cannot make a condition variable");
	}
	c->ha = ha;
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "replica");
	host[sizeof(host) - 1] = '\0';
	/* The value is "ID ADDRESS": a space in the host name would end the ID early. */
	for (char *p = host; *p; p++)
		if (*p == ' ')
			*p = '-';
	snprintf(ha->holder, sizeof(ha->holder), "%s-%ld %s", host, (long)getpid(),
		 c->cfg.listen);
	snprintf(ha->leader_key, sizeof(ha->leader_key), "%s%s", sc->prefix,
		 ROLLOUT_STORE_KEY_LEADER);
	snprintf(ha->trigger_key, sizeof(ha->trigger_key), "%s%s", sc->prefix,
		 ROLLOUT_STORE_KEY_TRIGGER);
	ha->timing.ttl_ms = c->cfg.store_lease_ttl_ms;
	struct etcd_options opts = {
		.endpoints = sc->endpoints,
		.n_endpoints = sc->n_endpoints,
		.timeout_ms = sc->timeout_ms,
		.ca_file = sc->ca_file,
		.cert_file = sc->cert_file,
		.key_file = sc->key_file,
	};
	if (etcd_new(&ha->etcd, &opts, err) < 0)
		return -1;
	return etcd_new(&ha->hook_etcd, &opts, err);
}

int controller_ha_open(struct controller *c, struct cf_err *err)
{
	const struct controller_config *cfg = &c->cfg;
	char warning[512] = "";
	struct audit_anchor anchor;
	size_t n = 0;
	while (cfg->store_endpoints && cfg->store_endpoints[n])
		n++;
	struct rollout_store_etcd_config sc = {
		.endpoints = (const char *const *)cfg->store_endpoints,
		.n_endpoints = n,
		.prefix = cfg->store_prefix,
		.timeout_ms = cfg->store_timeout_ms,
		.ca_file = cfg->store_tls_ca,
		.cert_file = cfg->store_tls_cert,
		.key_file = cfg->store_tls_key,
	};
	if (rollout_store_open_etcd(&c->store, &sc, err) < 0 || ha_new(c, &sc, err) < 0)
		return -1;
	/* The local promotions.jsonl is a mirror of the chain in etcd; its lock still keeps a
	 * second controller off this state directory. */
	if (audit_open_anchored(&c->audit, c->audit_path, NULL, warning, sizeof(warning), err) < 0)
		return -1;
	if (warning[0])
		log_warn("%s", warning);
	/* etcd may be down at start: the replica serves what it has and follows once it answers. */
	struct cf_err why;
	if (mirror_audit(c, &anchor, &why) < 0 || load_shared(c, &why) < 0)
		follow_failed(c->ha, &why);
	else
		log_info("etcd store %s: rollout state %s, audit chain of %llu lines", cfg->store_prefix,
			 rollout_phase_name(c->state.phase), (unsigned long long)anchor.lines);
	if (pthread_create(&c->ha->thread, NULL, renew_thread, c->ha) != 0)
		return cf_err_set(err, "leader election: cannot start the renew thread");
	c->ha->started = true;
	if (pthread_create(&c->ha->hook_thread, NULL, hook_thread, c->ha) != 0)
		return cf_err_set(err, "leader election: cannot start the hand-over thread");
	c->ha->hook_started = true;
	log_info("leader election: campaigning for %s as %s (lease %" PRId64 " s)",
		 c->ha->leader_key, c->ha->holder, cfg->store_lease_ttl_ms / 1000);
	return 0;
}

void controller_ha_close(struct controller *c)
{
	struct controller_ha *ha = c->ha;
	if (!ha)
		return;
	pthread_mutex_lock(&ha->mu);
	ha->stop = true;
	pthread_cond_signal(&ha->cond);
	pthread_cond_signal(&ha->hook_cond);
	pthread_mutex_unlock(&ha->mu);
	if (ha->started)
		pthread_join(ha->thread, NULL);
	if (ha->hook_started)
		pthread_join(ha->hook_thread, NULL);
	/* A leader that stops hands the key over at once rather than a lease later. */
	if (ha->lease && etcd_lease_revoke(ha->etcd, ha->lease, &(struct cf_err){0}) == 0)
		log_info("leader election: the lease is revoked, another replica may lead at once");
	ha_free(ha);
	c->ha = NULL;
}
