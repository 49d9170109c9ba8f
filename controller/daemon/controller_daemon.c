/* clawfleet controller: the fleet reconciler. One loop on monotonic deadlines, as OpenBSD's ntpd
 * runs: each pass refreshes the desired state from Git (the last good one is kept when a commit is
 * bad), observes every node's merged probe and the load balancer's weights, plans (planner.h,
 * pure), acts and records; then it sleeps until the next deadline: the source's interval with
 * 5 % jitter, one second while the rollout is under way, at once when woken through the wake
 * pipe (a signal now, the Flux webhook later).
 *
 * Intent before, done after: the planner's next state, which files every one-shot action
 * (audit line, tenant route, broadcast) in its pending list, is saved before anything is done;
 * each one-shot action is reported done and the state saved again as soon as it succeeds. Node
 * targets and weights need no record: their generation is in the saved state and the next
 * observation shows whether they took. A controller killed anywhere therefore hands the pending
 * actions out again on restart, and the one audit line whose write could have beaten the save
 * (the last line of promotions.jsonl) is recognised and not written twice.
 *
 * Actions run in the planner's order. A failed audit line stops the pass, since the planner lists
 * a step's record before the motion it records; any other failure is counted, logged and retried
 * by the next pass (level-triggered: the planner asks again), a node that failed backing off on
 * its own, so one unreachable Mac never holds back a rollback of the others. SIGTERM finishes the
 * action under way and exits 0; SIGHUP reloads the configuration, keeping the running one when
 * the file has errors. The HTTP threads serve /status, /metrics and the page (/) from documents the loop
 * renders after every pass, under a mutex, and never wait on the loop. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "act/target_client.h"
#include "base/canon.h"
#include "base/clock.h"
#include "base/embedded.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/timeparse.h"
#include "base/utf8.h"
#include "cmd/commands.h"
#include "contracts/tokens.h"
#include "daemon/ctlcfg.h"
#include "desired/desired_cache.h"
#include "desired/schema.h"
#include "observe/fleet_poll.h"
#include "plan/planner.h"
#include "plan/rollout.h"
#include "reconcilers/weights/weights.h"
#include "record/audit.h"
#include "record/rollout_store.h"
#include "record/status.h"
#include "record/statuspage.h"
#include "serve/fluxhook.h"
#include "serve/httpd.h"
#include "source/source.h"

#define STATE_FILE "rollout.json"
#define AUDIT_FILE "promotions.jsonl"
#define MIRROR_DIR "mirror"
#define BUSY_INTERVAL_MS 1000	 /* passes while the rollout is under way */
#define MIN_GAP_MS 200		 /* between two passes, however often the loop is woken */
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 300000
#define JITTER_PERCENT 5
#define BROADCAST_ATTEMPTS 5
#define BROADCASTS_TRACKED 16
#define NOTIFY_CONNECT_MS 2000
#define NOTIFY_TIMEOUT_MS 5000
#define NOTIFY_REPLY_MAX 65536
#define DIAGS_LOGGED 20
#define JSON_PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char controller_usage[] =
	"usage: clawfleet controller --config FILE [--listen ADDR] [--state DIR] [--source URL]\n"
	"  reconciles the fleet with the desired state in Git: rollouts, weights, audit, status;\n"
	"  the flags override the configuration's listen, state and source.url\n";

struct flags {
	const char *config, *listen, *state, *source;
};

/* A node whose target could not be sent waits before the next try. */
struct node_backoff {
	char name[ROLLOUT_NODE_NAME_MAX];
	unsigned int failures;
	int64_t retry_mono_ms;
	int64_t sent_generation; /* the last generation logged as sent */
};

/* A pending broadcast the notifier refused, and how often. */
struct broadcast_retry {
	uint64_t id; /* 0: a free slot */
	unsigned int attempts;
};

/* What Git says about the Promotion, cached by the desired commit and the tag. */
struct promo_facts {
	bool valid;
	char key_commit[41];
	char key_tag[ROLLOUT_TEXT_MAX];
	char commit[41];	/* "" when the tag cannot be resolved */
	char lock_sha256[65];	/* "" when the tag's commit has no openclaw.lock */
	char actor[ROLLOUT_TEXT_MAX];
	char ticket[AUDIT_TICKET_MAX];
};

/* Receiver outcomes waiting for the next pass to tell the notifier; more are only logged. */
#define HOOK_EVENTS_MAX 16

struct controller {
	const char *config_path;
	struct flags flags;
	struct controller_config cfg;

	struct schema_set *schemas;
	struct source *src;
	char *mirror_dir, *state_path, *audit_path;
	struct desired_cache cache;
	struct promo_facts facts;
	struct fleet_poll *probe;
	struct target_client *agents;
	struct rollout_store store;
	struct rollout_state state;
	char *saved; /* the state's JSON as last saved */
	struct audit_log *audit;
	struct httpd *httpd;

	struct node_backoff *backoff;
	size_t nbackoff;
	unsigned int pass_failures;
	struct broadcast_retry retries[BROADCASTS_TRACKED];
	int64_t next_fetch_mono_ms;
	char *source_error;
	int64_t source_error_since_ms;
	char last_progress[ROLLOUT_MESSAGE_MAX];
	char last_stall[ROLLOUT_MESSAGE_MAX];
	char *last_weights; /* the last weight map logged as applied */
	char *lb_warning;   /* the last failure to read the weights, as logged */
	char *action_warning[STATUS_ACTION_KINDS]; /* the last failure of each kind, as logged */
	unsigned int seed;

	struct status_metrics metrics;
	struct status_pass passes[STATUS_PASSES_MAX];
	size_t npasses;

	struct tokens *hook_tokens; /* the Flux receiver's; NULL when it is off */
	struct fluxhook *hook;

	pthread_mutex_t mu; /* guards the documents below */
	char *status_doc, *metrics_doc, *page_doc;
	size_t status_len, metrics_len, page_len;
	bool ready;
	struct fluxhook_snapshot hook_snap; /* the last pass, as the receiver judges an event */
	/* Receiver outcomes the notifier must hear of; the loop sends them, never an HTTP thread. */
	struct fluxhook_outcome hook_events[HOOK_EVENTS_MAX];
	size_t nhook_events;
};

/* ---- time and signals ---- */

static volatile sig_atomic_t got_term, got_hup;
static int wake_pipe[2] = {-1, -1};

/* Makes the loop run a pass now; async-signal-safe, callable from any thread. */
static void controller_wake(void)
{
	int saved = errno;
	/* A write that fails finds the pipe full: a wake-up is already waiting. */
	ssize_t n = write(wake_pipe[1], "w", 1);
	(void)n;
	errno = saved;
}

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
	controller_wake();
}

static int install_signals(struct cf_err *err)
{
	struct sigaction sa = {.sa_handler = on_signal};
	if (pipe(wake_pipe) < 0)
		return cf_err_errno(err, "pipe");
	for (int i = 0; i < 2; i++)
		if (fcntl(wake_pipe[i], F_SETFL, O_NONBLOCK) < 0 ||
		    fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC) < 0)
			return cf_err_errno(err, "pipe");
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGHUP, &sa, NULL) < 0)
		return cf_err_errno(err, "sigaction");
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void close_signals(void)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	for (int i = 0; i < 2; i++)
		if (wake_pipe[i] >= 0)
			close(wake_pipe[i]);
	wake_pipe[0] = wake_pipe[1] = -1;
}

/* Sleeps until the monotonic deadline or a wake-up; true when woken. */
static bool sleep_until(int64_t deadline)
{
	char buf[64];
	int64_t left = deadline - clock_mono_ms();
	struct pollfd pfd = {.fd = wake_pipe[0], .events = POLLIN};
	if (left > 0 && poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left) <= 0)
		return false;
	bool woken = false;
	while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
		woken = true;
	return woken;
}

/* Between half and all of d, so that what failed together does not retry together. */
static int64_t backoff_ms(unsigned int failures, unsigned int *seed)
{
	int64_t d = BACKOFF_FIRST_MS;
	for (unsigned int i = 1; i < failures && d < BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	return d / 2 + rand_r(seed) % (d / 2 + 1);
}

static int64_t jittered(int64_t interval, unsigned int *seed)
{
	int64_t spread = interval * JITTER_PERCENT / 100;
	return interval - spread + (spread ? rand_r(seed) % (2 * spread + 1) : 0);
}

static char *join(const char *dir, const char *name)
{
	char *path = NULL;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	return path;
}

/* Logs msg unless it repeats the last one logged in *last (NULL: nothing failed since): a
 * failure repeated every pass would drown the log. */
static void warn_changed(char **last, const char *msg)
{
	if (*last && strcmp(*last, msg) == 0)
		return;
	log_warn("%s", msg);
	free(*last);
	*last = strdup(msg);
}

static void forget_warning(char **last)
{
	free(*last);
	*last = NULL;
}

/* ---- the rollout state ---- */

/* Saves s unless it is what was saved last: a pass that changed nothing writes nothing. */
static int save_state(struct controller *c, const struct rollout_state *s, struct cf_err *err)
{
	char *json = NULL;
	size_t len = 0;
	if (rollout_state_to_json(s, &json, &len, err) < 0)
		return -1;
	if (c->saved && strcmp(c->saved, json) == 0) {
		free(json);
		return 0;
	}
	if (rollout_store_save(&c->store, s, err) < 0) {
		free(json);
		return -1;
	}
	free(c->saved);
	c->saved = json;
	return 0;
}

static void format_ms(int64_t ms, char out[40])
{
	char secs[32];
	rfc3339_format((time_t)(ms / 1000), secs, sizeof(secs));
	snprintf(out, 40, "%.19s.%03dZ", secs, (int)(ms % 1000));
}

static bool json_str_is(struct json_object *o, const char *key, const char *want)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) &&
	       strcmp(json_object_get_string(v), want) == 0;
}

static bool json_int_is(struct json_object *o, const char *key, int64_t want)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int) &&
	       json_object_get_int64(v) == want;
}

/* The last line of the audit log, parsed; NULL when the log is empty or unreadable. */
static struct json_object *audit_tail(const char *path)
{
	struct json_object *o = NULL;
	char *buf = malloc(AUDIT_LINE_MAX + 2);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (!buf || fd < 0 || fstat(fd, &st) < 0 || st.st_size < 2)
		goto done;
	size_t want = (size_t)st.st_size < AUDIT_LINE_MAX + 2 ? (size_t)st.st_size
							      : AUDIT_LINE_MAX + 2;
	ssize_t n = pread(fd, buf, want, st.st_size - (off_t)want);
	if (n != (ssize_t)want || buf[n - 1] != '\n')
		goto done;
	buf[n - 1] = '\0';
	char *line = strrchr(buf, '\n');
	o = json_tokener_parse(line ? line + 1 : buf);
done:
	if (fd >= 0)
		close(fd);
	free(buf);
	return o;
}

/* A controller killed between appending an audit line and saving that it did leaves the line's
 * action pending: the first pending audit line, when it is the log's last line, was written. */
static int settle_written_audit(struct controller *c, struct cf_err *err)
{
	const struct rollout_audit *au = NULL;
	uint64_t id = 0;
	for (size_t i = 0; i < c->state.npending && !au; i++)
		if (c->state.pending[i].kind == ACTION_AUDIT) {
			au = c->state.pending[i].u.audit;
			id = c->state.pending[i].id;
		}
	if (!au)
		return 0;
	struct json_object *last = audit_tail(c->audit_path);
	char ts[40];
	format_ms(au->ts_ms, ts);
	bool written = last && json_str_is(last, "ts", ts) &&
		       json_str_is(last, "event", audit_event_name(au->event)) &&
		       json_str_is(last, "phase", rollout_phase_name(au->phase)) &&
		       json_str_is(last, "promotion", au->promotion) &&
		       json_str_is(last, "reason", au->reason) && json_int_is(last, "step", au->step) &&
		       json_int_is(last, "percent", au->percent);
	json_object_put(last);
	if (!written)
		return 0;
	log_info("the audit line \"%s\" of %s was written before the controller stopped; it is not "
		 "written again",
		 audit_event_name(au->event), ts);
	rollout_pending_done(&c->state, id);
	return save_state(c, &c->state, err);
}

/* ---- the source and what Git says about the Promotion ---- */

/* A local repository is read through Git, at the ref, never as a work tree. */
static struct source_spec source_spec_of(const struct controller *c)
{
	return (struct source_spec){
		.location = c->cfg.source_url,
		.ref = c->cfg.source_ref,
		.force_git = gitsource_is_local_repo(c->cfg.source_url),
		.mirror_dir = c->mirror_dir,
		.timeout_ms = (int)c->cfg.source_timeout_ms,
	};
}

static int open_source(struct controller *c, struct cf_err *err)
{
	struct source_spec spec = source_spec_of(c);
	source_free(c->src);
	c->src = NULL;
	/* Opening a URL source fetches it: the next fetch, or the next try after a failure, is an
	 * interval away. */
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

static void log_diags(const struct diag_list *diags)
{
	for (size_t i = 0; i < diags->n && i < DIAGS_LOGGED; i++) {
		const struct diag *d = &diags->v[i];
		log_warn("%s:%d:%d: %s: %s: %s", d->file, d->line, d->col,
			 d->object ? d->object : "-", d->field ? d->field : "-", d->msg);
	}
	if (diags->n + diags->dropped > DIAGS_LOGGED)
		log_warn("... and %zu more problems", diags->n + diags->dropped - DIAGS_LOGGED);
}

static void source_failed(struct controller *c, const char *msg, const struct diag_list *diags)
{
	if (c->source_error && strcmp(c->source_error, msg) == 0)
		return;
	log_warn("%s", msg);
	if (diags)
		log_diags(diags);
	free(c->source_error);
	c->source_error = strdup(msg);
	if (!c->source_error_since_ms)
		c->source_error_since_ms = clock_epoch_ms();
}

/* Fetches when the interval is due, then reads the ref; the last good desired state stays in
 * the cache whatever fails, and a source that failed is tried again an interval later, so an
 * unreachable Git server never holds up the passes of a rollout. */
static void refresh_desired(struct controller *c)
{
	struct cf_err err;
	struct diag_list diags = {0};
	int64_t started = clock_mono_ms();
	if (!c->src && started < c->next_fetch_mono_ms)
		return;
	if (!c->src && open_source(c, &err) < 0) {
		source_free(c->src);
		c->src = NULL;
		source_failed(c, err.msg, NULL);
		return;
	}
	if (started >= c->next_fetch_mono_ms) {
		struct source_spec spec = source_spec_of(c);
		c->next_fetch_mono_ms = started + c->cfg.source_interval_ms;
		if (source_refresh(c->src, &spec, &err) < 0) {
			/* source_refresh closed the mirror: it is opened again an interval later. */
			source_free(c->src);
			c->src = NULL;
			source_failed(c, err.msg, NULL);
			return;
		}
	}
	int rc = desired_cache_refresh(&c->cache, c->src, c->schemas, &diags, &err);
	c->metrics.git_fetch_seconds = (double)(clock_mono_ms() - started) / 1000.0;
	if (rc < 0) {
		source_failed(c, err.msg, &diags);
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

/* ---- acting ---- */

/* The node's entry in the backoff table, added when missing; -1 when out of memory. The table
 * may move: callers keep the index, not a pointer. */
static int backoff_index(struct controller *c, const char *node, size_t *out)
{
	for (size_t i = 0; i < c->nbackoff; i++)
		if (strcmp(c->backoff[i].name, node) == 0) {
			*out = i;
			return 0;
		}
	struct node_backoff *v = realloc(c->backoff, (c->nbackoff + 1) * sizeof(*v));
	if (!v)
		return -1;
	c->backoff = v;
	memset(&v[c->nbackoff], 0, sizeof(v[0]));
	snprintf(v[c->nbackoff].name, sizeof(v[0].name), "%s", node);
	*out = c->nbackoff++;
	return 0;
}

/* Forgets nodes that left the fleet, so the table stays as large as the fleet. */
static void prune_backoff(struct controller *c, const struct desired_state *ds)
{
	size_t k = 0;
	for (size_t i = 0; i < c->nbackoff; i++)
		if (desired_node(ds, c->backoff[i].name))
			c->backoff[k++] = c->backoff[i];
	c->nbackoff = k;
}

/* The NODE_TARGET actions acts[0..n): sent together, each node but those backing off. */
static void send_targets(struct controller *c, const struct desired_state *ds,
			 const struct rollout_action *acts, size_t n)
{
	struct agent_put *puts = calloc(n ? n : 1, sizeof(*puts));
	size_t *who = calloc(n ? n : 1, sizeof(*who));
	struct cf_err err;
	size_t k = 0;
	int64_t now = clock_mono_ms();
	if (!puts || !who) {
		log_error("sending targets: out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const struct mac_node *m = desired_node(ds, acts[i].u.node_target.node);
		size_t b;
		if (!m || backoff_index(c, m->name, &b) < 0 || now < c->backoff[b].retry_mono_ms)
			continue;
		puts[k] = (struct agent_put){.node = m->name, .address = m->address,
					     .target = acts[i].u.node_target.target};
		who[k++] = b;
	}
	if (k && target_client_put(c->agents, puts, k, &err) < 0) {
		log_error("sending targets: %s", err.msg);
		for (size_t i = 0; i < k; i++)
			status_metrics_count_action(&c->metrics, ACTION_NODE_TARGET, false);
		goto done;
	}
	for (size_t i = 0; i < k; i++) {
		struct node_backoff *b = &c->backoff[who[i]];
		int64_t gen = puts[i].target->generation;
		status_metrics_count_action(&c->metrics, ACTION_NODE_TARGET, puts[i].result == 0);
		if (puts[i].result == 0) {
			if (b->sent_generation != gen || b->failures)
				log_info("node %s accepted target generation %lld: %s %.7s, skills %s "
					 "-> %s",
					 b->name, (long long)gen, puts[i].target->tag,
					 puts[i].target->commit,
					 target_link_name(puts[i].target->skills_link),
					 puts[i].target->skills_semver);
			b->sent_generation = gen;
			b->failures = 0;
			b->retry_mono_ms = 0;
			continue;
		}
		int64_t wait = backoff_ms(++b->failures, &c->seed);
		b->retry_mono_ms = now + wait;
		log_warn("%s; retrying in %lld ms", puts[i].err.msg, (long long)wait);
	}
done:
	free(puts);
	free(who);
}

static const struct load_balancer *lb_of(const struct desired_state *ds)
{
	return ds->nlbs ? &ds->lbs[0] : NULL;
}

static int apply_weights(struct controller *c, const struct desired_state *ds,
			 const struct rollout_action *a, struct cf_err *err)
{
	const struct load_balancer *lb = lb_of(ds);
	if (!lb)
		return cf_err_set(err, "the plan moves weights but the repository has no "
				       "LoadBalancer");
	if (weights_apply(lb, &a->u.weights, err) < 0)
		return cf_err_prefix(err, "LoadBalancer/%s", lb->name);
	char *line = rollout_action_describe(a);
	if (line && (!c->last_weights || strcmp(line, c->last_weights) != 0))
		log_info("%s: read back", line);
	free(c->last_weights);
	c->last_weights = line;
	return 0;
}

/* Pools are backend names for HAProxy: the LoadBalancer's backend for the stable pool and
 * canaryBackend for the canary one; other drivers take the pool's name. */
static int route_tenant(struct controller *c, const struct desired_state *ds,
			const struct rollout_route *r, struct cf_err *err)
{
	const struct load_balancer *lb = lb_of(ds);
	if (!lb)
		return cf_err_set(err, "tenant %s: the repository has no LoadBalancer to route it",
				  r->tenant);
	const char *pool = r->canary ? "canary" : "stable";
	if (lb->driver == LB_HAPROXY) {
		pool = r->canary ? c->cfg.canary_backend : lb->haproxy.backend;
		if (!pool)
			return cf_err_set(err, "tenant %s: set canaryBackend in the controller's "
					       "configuration to the HAProxy backend of the canary "
					       "pool",
					  r->tenant);
	}
	if (weights_route_tenant(lb, r->tenant, pool, err) < 0)
		return cf_err_prefix(err, "tenant %s", r->tenant);
	log_info("tenant %s routed to the %s pool (%s)", r->tenant, r->canary ? "canary" : "stable",
		 pool);
	return 0;
}

static int append_audit(struct controller *c, const struct rollout_audit *au, struct cf_err *err)
{
	struct audit_weight *w = calloc(au->weights.n ? au->weights.n : 1, sizeof(*w));
	if (!w)
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < au->weights.n; i++)
		w[i] = (struct audit_weight){au->weights.v[i].server, au->weights.v[i].weight};
	struct audit_entry e = {
		.ts_ms = au->ts_ms,
		.event = audit_event_name(au->event),
		.promotion = au->promotion,
		.revision = au->revision,
		.phase = rollout_phase_name(au->phase),
		.step = au->step,
		.percent = au->percent,
		.reason = au->reason,
		.actor = au->actor,
		.ticket = au->ticket,
		.from = {au->from.semver, au->from.tag},
		.to = {au->to.semver, au->to.tag},
		.weights = w,
		.nweights = au->weights.n,
		.probe_sha256 = au->probe_sha256,
	};
	int rc = audit_append(c->audit, &e, err);
	free(w);
	if (rc == 0)
		log_info("audit: %s %s step %d (%d %%)%s%s", e.event, e.phase, e.step, e.percent,
			 *e.reason ? ": " : "", e.reason);
	return rc;
}

static size_t ignore_reply(char *data, size_t size, size_t nmemb, void *arg)
{
	size_t *total = arg;
	(void)data;
	*total += size * nmemb;
	return *total > NOTIFY_REPLY_MAX ? 0 : size * nmemb;
}

/* POST /v1/events to the notifier (its contract: README, "The notifier"), or the log when none
 * is configured. flux_uid and event_id may be NULL. */
static int post_event(struct controller *c, const char *kind, const char *verdict,
		      const char *probe_key, const char *correlation, const char *message,
		      const char *flux_uid, const char *event_id, struct cf_err *err)
{
	if (!c->cfg.notifier) {
		log_info("broadcast (%s %s): %s", kind, verdict, message);
		return 0;
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string(kind));
	json_object_object_add(o, "verdict", json_object_new_string(verdict));
	json_object_object_add(o, "probeKey", json_object_new_string(probe_key));
	json_object_object_add(o, "correlationId", json_object_new_string(correlation));
	json_object_object_add(o, "message", json_object_new_string(message));
	if (flux_uid && *flux_uid)
		json_object_object_add(o, "fluxUid", json_object_new_string(flux_uid));
	if (event_id && *event_id)
		json_object_object_add(o, "eventId", json_object_new_string(event_id));
	const char *body = json_object_to_json_string_ext(o, JSON_PLAIN);
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	size_t total = 0;
	long status = 0;
	int rc = -1;
	if (!curl || !headers || !body) {
		cf_err_set(err, "broadcast: out of memory");
		goto done;
	}
	curl_easy_setopt(curl, CURLOPT_URL, c->cfg.notifier);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)NOTIFY_CONNECT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)NOTIFY_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ignore_reply);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &total);
	CURLcode cc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK)
		cf_err_set(err, "broadcast to the notifier: %s", curl_easy_strerror(cc));
	else if (status < 200 || status >= 300)
		cf_err_set(err, "broadcast to the notifier: HTTP %ld", status);
	else
		rc = 0;
	if (rc == 0)
		log_info("broadcast (%s %s) sent: %s", kind, verdict, message);
done:
	curl_slist_free_all(headers);
	if (curl)
		curl_easy_cleanup(curl);
	json_object_put(o);
	return rc;
}

static int broadcast(struct controller *c, const struct rollout_action *a, struct cf_err *err)
{
	const struct rollout_broadcast *b = &a->u.broadcast;
	char correlation[64];
	snprintf(correlation, sizeof(correlation), "clawfleet-%llu", (unsigned long long)a->id);
	return post_event(c, "verdict", broadcast_verdict_name(b->verdict), b->reason, correlation,
			  b->message, NULL, NULL, err);
}

/* Tells the notifier what the Flux receiver answered: rollback verdicts and refused events.
 * One attempt each: the notifier itself retries its channel, and Flux redelivers. */
static void send_hook_events(struct controller *c)
{
	struct fluxhook_outcome events[HOOK_EVENTS_MAX];
	pthread_mutex_lock(&c->mu);
	size_t n = c->nhook_events;
	memcpy(events, c->hook_events, n * sizeof(events[0]));
	c->nhook_events = 0;
	pthread_mutex_unlock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		const struct fluxhook_outcome *o = &events[i];
		bool reply = o->status != 202;
		char status[16];
		snprintf(status, sizeof(status), "%u", o->status);
		struct cf_err err;
		if (post_event(c, reply ? "reply" : "rollback",
			       reply ? "hold" : broadcast_verdict_name(o->verdict),
			       reply ? status : o->probe_key,
			       o->correlation_id[0] ? o->correlation_id : "flux-receiver", o->message,
			       o->flux_uid, o->event_id, &err) < 0)
			log_warn("%s", err.msg);
	}
}

/* A broadcast the notifier keeps refusing is given up after a few passes, so that a notifier
 * outage never fills the pending list. True when the action is to count as done. */
static bool broadcast_given_up(struct controller *c, const struct rollout_action *a,
			       const struct cf_err *err)
{
	struct broadcast_retry *r = NULL, *victim = &c->retries[0];
	for (size_t i = 0; i < BROADCASTS_TRACKED && !r; i++) {
		struct broadcast_retry *e = &c->retries[i];
		if (e->id == a->id)
			r = e;
		else if (victim->id && (!e->id || e->attempts < victim->attempts))
			victim = e; /* a free slot, else the one tried least */
	}
	if (!r) {
		r = victim;
		*r = (struct broadcast_retry){a->id, 0};
	}
	if (++r->attempts < BROADCAST_ATTEMPTS) {
		log_warn("%s; trying again next pass", err->msg);
		return false;
	}
	*r = (struct broadcast_retry){0, 0};
	log_warn("%s; giving up after %d attempts: %s", err->msg, BROADCAST_ATTEMPTS,
		 a->u.broadcast.message);
	return true;
}

/* One one-shot action succeeded: off the pending list, and saved before the next. */
static int one_shot_done(struct controller *c, uint64_t id, struct cf_err *err)
{
	rollout_pending_done(&c->state, id);
	return save_state(c, &c->state, err);
}

/* Performs the plan; false when a failure stopped it before the end. */
static bool act(struct controller *c, const struct desired_state *ds, const struct plan_output *out)
{
	struct cf_err err;
	for (size_t i = 0; i < out->nactions; i++) {
		const struct rollout_action *a = &out->actions[i];
		bool done = false;
		int rc = 0;
		if (got_term)
			return true;
		switch (a->kind) {
		case ACTION_NODE_TARGET: {
			size_t j = i;
			while (j < out->nactions && out->actions[j].kind == ACTION_NODE_TARGET)
				j++;
			send_targets(c, ds, a, j - i);
			i = j - 1;
			continue;
		}
		case ACTION_SET_WEIGHTS:
			rc = apply_weights(c, ds, a, &err);
			break;
		case ACTION_ROUTE_TENANT:
			rc = route_tenant(c, ds, &a->u.route, &err);
			done = rc == 0;
			break;
		case ACTION_AUDIT:
			rc = append_audit(c, a->u.audit, &err);
			done = rc == 0;
			if (rc == 0 && a->u.audit->event == AUDIT_ROLLBACK)
				status_metrics_count_rollback(&c->metrics, a->u.audit->reason);
			break;
		case ACTION_BROADCAST:
			rc = broadcast(c, a, &err);
			done = rc == 0 || broadcast_given_up(c, a, &err);
			break;
		}
		status_metrics_count_action(&c->metrics, a->kind, rc == 0);
		if (rc < 0 && a->kind != ACTION_BROADCAST)
			warn_changed(&c->action_warning[a->kind], err.msg);
		else if (rc == 0)
			forget_warning(&c->action_warning[a->kind]);
		if (done && one_shot_done(c, a->id, &err) < 0) {
			log_error("saving the rollout state: %s", err.msg);
			return false;
		}
		if (rc < 0 && a->kind == ACTION_AUDIT)
			return false;
	}
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
		o->tag = r->nodes[i].obs.tag = tags[i];
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

static void log_plan(struct controller *c, enum rollout_phase was, const struct rollout_state *s)
{
	const struct rollout_condition *rec = &s->conditions[COND_RECONCILING];
	const struct rollout_condition *st = &s->conditions[COND_STALLED];
	if (was != s->phase)
		log_info("phase %s -> %s", rollout_phase_name(was), rollout_phase_name(s->phase));
	if (strcmp(rec->message, c->last_progress) != 0 && rec->message[0])
		log_info("%s", rec->message);
	snprintf(c->last_progress, sizeof(c->last_progress), "%s", rec->message);
	char stall[ROLLOUT_MESSAGE_MAX];
	snprintf(stall, sizeof(stall), "%s", st->status == COND_TRUE ? st->message : "");
	if (stall[0] && strcmp(stall, c->last_stall) != 0)
		log_warn("stalled (%s): %s", st->reason, stall);
	snprintf(c->last_stall, sizeof(c->last_stall), "%s", stall);
}

static bool under_way(const struct rollout_state *s)
{
	return s->phase != ROLLOUT_IDLE && s->phase != ROLLOUT_SUCCEEDED &&
	       s->phase != ROLLOUT_ROLLED_BACK;
}

static int canary_weight(const struct desired_state *ds, const struct weight_map *m)
{
	int sum = 0;
	for (size_t i = 0; ds && i < ds->nnodes; i++) {
		const struct mac_node *n = &ds->nodes[i];
		const struct weight_entry *e = n->canary && n->role == NODE_GATEWAY && n->lb_server
						       ? weight_map_find(m, n->lb_server)
						       : NULL;
		sum += e ? e->weight : 0;
	}
	return sum;
}

static void publish(struct controller *c, char *status_doc, size_t status_len, char *metrics_doc,
		    size_t metrics_len, char *page_doc, size_t page_len, bool ready)
{
	pthread_mutex_lock(&c->mu);
	free(c->status_doc);
	free(c->metrics_doc);
	free(c->page_doc);
	c->status_doc = status_doc;
	c->status_len = status_len;
	c->metrics_doc = metrics_doc;
	c->metrics_len = metrics_len;
	c->page_doc = page_doc;
	c->page_len = page_len;
	c->ready = c->ready || ready;
	pthread_mutex_unlock(&c->mu);
}

static void copy_text(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static enum probe_status worse(enum probe_status a, enum probe_status b)
{
	return a > b ? a : b;
}

/* What the Flux receiver judges an event against: the pass just finished. */
static void snapshot_for_receiver(const struct controller *c, const struct fleet_poll_result *r,
				  struct fluxhook_snapshot *snap)
{
	const struct desired_state *ds = c->cache.ds;
	const struct promotion *promo = ds && ds->npromotions ? &ds->promotions[0] : NULL;
	const struct rollout_state *st = &c->state;
	memset(snap, 0, sizeof(*snap));
	snap->observed = r != NULL;
	if (promo) {
		copy_text(snap->promotion, sizeof(snap->promotion), promo->name);
		copy_text(snap->tag, sizeof(snap->tag), promo->tag);
		copy_text(snap->image_ref, sizeof(snap->image_ref), promo->image_ref);
		copy_text(snap->skill_semver, sizeof(snap->skill_semver), promo->skill_semver);
		snap->suspended = promo->suspend;
	}
	copy_text(snap->revision, sizeof(snap->revision), ds ? c->cache.revision : NULL);
	snap->phase = st->phase;
	copy_text(snap->phase_reason, sizeof(snap->phase_reason),
		  st->rollback_reason[0] ? st->rollback_reason : st->held_reason);
	snap->step = st->step;
	snap->percent = st->percent;
	snap->gateways = PROBE_GREEN;
	for (size_t i = 0; r && ds && i < r->nnodes && i < ds->nnodes; i++) {
		const struct mac_node *m = &ds->nodes[i];
		const struct node_observation *o = &r->obs[i];
		enum probe_status status = o->reachable ? o->status : PROBE_RED;
		if (m->role != NODE_GATEWAY)
			continue;
		snap->gateways = worse(snap->gateways, status);
		if (!m->canary || snap->ncanaries == FLUXHOOK_CANARIES_MAX)
			continue;
		struct fluxhook_canary *k = &snap->canaries[snap->ncanaries++];
		copy_text(k->node, sizeof(k->node), m->name);
		k->reachable = o->reachable;
		k->status = o->status;
		copy_text(k->reason, sizeof(k->reason), o->nreasons ? o->reasons[0] : NULL);
	}
}

/* Renders /status and /metrics from the pass just finished. */
static void record(struct controller *c, const struct fleet_poll_result *r,
		   const struct weight_map *weights, bool passed)
{
	const struct desired_state *ds = c->cache.ds;
	const struct promotion *promo = ds && ds->npromotions ? &ds->promotions[0] : NULL;
	size_t n = r ? r->nnodes : 0;
	struct status_node *nodes = calloc(n ? n : 1, sizeof(*nodes));
	char *sdoc = NULL, *mdoc = NULL, *pdoc = NULL, *audit_lines = NULL;
	size_t slen = 0, mlen = 0, plen = 0, alen = 0;
	struct cf_err err;
	bool green = n > 0;
	if (!nodes) {
		log_error("rendering the status: out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct node_observation *o = &r->obs[i];
		nodes[i] = (struct status_node){
			.name = o->name,
			.status = o->reachable ? probe_status_name(o->status) : "unreachable",
			.tag = o->reachable ? o->tag : NULL,
			.skills = o->reachable ? o->skills_current : NULL,
			.observed_generation = o->reachable ? o->observed_generation : 0,
			.reasons = o->reachable ? o->reasons : NULL,
			.nreasons = o->reachable ? o->nreasons : 0,
		};
		green = green && o->reachable && o->status == PROBE_GREEN;
	}
	if (passed) {
		if (c->npasses == STATUS_PASSES_MAX) {
			memmove(&c->passes[0], &c->passes[1], (c->npasses - 1) * sizeof(c->passes[0]));
			c->npasses--;
		}
		c->passes[c->npasses++] = (struct status_pass){clock_epoch_ms(), green};
	}
	struct status_view v = {
		.revision = ds ? c->cache.revision : NULL,
		.source_error = c->source_error,
		.source_error_since_ms = c->source_error_since_ms,
		.promotion_name = promo ? promo->name : NULL,
		.promotion_tag = promo ? promo->tag : NULL,
		.promotion_semver = promo ? promo->skill_semver : NULL,
		.state = &c->state,
		.weights = weights,
		.canary_weight = weights ? canary_weight(ds, weights) : 0,
		.nodes = nodes,
		.nnodes = n,
		.passes = c->passes,
		.npasses = c->npasses,
		.metrics = &c->metrics,
		.version = clawfleet_version,
	};
	/* The page is rendered from the /status document itself, so the two never disagree; an
	 * unreadable audit log costs the page its audit lines, not the page. */
	if (statuspage_audit_tail(c->audit_path, &audit_lines, &alen, &err) < 0)
		log_error("the status page: %s", err.msg);
	if (status_render_json(&v, &sdoc, &slen, &err) < 0 ||
	    status_render_metrics(&v, &mdoc, &mlen, &err) < 0 ||
	    statuspage_render(sdoc, slen, audit_lines, &pdoc, &plen, &err) < 0) {
		log_error("%s", err.msg);
		free(sdoc);
		free(mdoc);
	} else {
		publish(c, sdoc, slen, mdoc, mlen, pdoc, plen, passed && ds);
	}
	free(audit_lines);
	if (c->hook) {
		struct fluxhook_snapshot snap;
		snapshot_for_receiver(c, r, &snap);
		pthread_mutex_lock(&c->mu);
		c->hook_snap = snap;
		pthread_mutex_unlock(&c->mu);
	}
	free(nodes);
}

/* One pass; returns true when the rollout is under way and the next pass should come soon. */
static bool run_pass(struct controller *c, bool *failed)
{
	struct fleet_poll_result *r = NULL;
	struct weight_map weights = {0};
	struct plan_output out = {0};
	char (*tags)[ROLLOUT_TEXT_MAX] = NULL;
	const struct load_balancer *lb = NULL;
	struct cf_err err;
	bool busy = false, weights_ok = false;
	int64_t started = clock_mono_ms();

	*failed = false;
	rollout_state_init(&out.next);
	send_hook_events(c);
	refresh_desired(c);
	struct desired_state *ds = c->cache.ds;
	if (!ds) {
		record(c, NULL, NULL, false);
		return false;
	}
	apply_overrides(c, ds);
	prune_backoff(c, ds);
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
	lb = lb_of(ds);
	if (!lb || weights_get(lb, &weights, &err) == 0) {
		weights_ok = true;
		forget_warning(&c->lb_warning);
	} else {
		cf_err_prefix(&err, "reading the weights of LoadBalancer/%s", lb->name);
		warn_changed(&c->lb_warning, err.msg);
	}

	const struct promo_facts *f = &c->facts;
	struct fleet_observation fo = {
		.nodes = r->obs,
		.nnodes = r->nnodes,
		.weights = weights,
		.weights_ok = weights_ok,
		.promotion_commit = f->valid && f->commit[0] ? f->commit : NULL,
		.promotion_lock_sha256 = f->valid && f->lock_sha256[0] ? f->lock_sha256 : NULL,
		.actor = f->valid ? f->actor : NULL,
		.ticket = f->valid && f->ticket[0] ? f->ticket : NULL,
	};
	enum rollout_phase was = c->state.phase;
	if (plan(ds, &fo, &c->state, clock_epoch_ms(), &out, &err) < 0) {
		log_error("planning: %s", err.msg);
		*failed = true;
		goto done;
	}
	/* Intent: the next state, with its one-shot actions pending, is saved before any act. */
	if (save_state(c, &out.next, &err) < 0) {
		log_error("saving the rollout state (nothing done this pass): %s", err.msg);
		*failed = true;
		goto done;
	}
	rollout_state_free(&c->state);
	c->state = out.next;
	rollout_state_init(&out.next);
	log_plan(c, was, &c->state);
	*failed = !act(c, ds, &out);
	busy = out.nactions > 0 || c->state.npending > 0 || under_way(&c->state);
done:
	status_metrics_observe_pass(&c->metrics, (double)(clock_mono_ms() - started) / 1000.0);
	record(c, r, weights_ok && lb ? &weights : NULL, !*failed);
	plan_output_free(&out);
	weight_map_free(&weights);
	fleet_poll_result_free(r);
	free(tags);
	return busy;
}

/* ---- HTTP ---- */

static int serve_doc(struct controller *c, struct httpd_response *resp, bool metrics)
{
	int rc;
	pthread_mutex_lock(&c->mu);
	if (!c->status_doc || !c->metrics_doc)
		rc = httpd_json_error(resp, 503, "the controller is starting");
	else if (metrics)
		rc = httpd_response_set_type(resp, "text/plain; version=0.0.4; charset=utf-8") < 0
			     ? -1
			     : httpd_response_set_body(resp, c->metrics_doc, c->metrics_len);
	else
		rc = httpd_response_set_body(resp, c->status_doc, c->status_len);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int h_page(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct controller *c = ctx;
	int rc;
	(void)req;
	pthread_mutex_lock(&c->mu);
	if (!c->page_doc)
		rc = httpd_json_error(resp, 503, "the controller is starting");
	else
		rc = httpd_response_set_type(resp, "text/html; charset=utf-8") < 0
			     ? -1
			     : httpd_response_set_body(resp, c->page_doc, c->page_len);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int h_status(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)req;
	return serve_doc(ctx, resp, false);
}

static int h_metrics(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)req;
	return serve_doc(ctx, resp, true);
}

static int h_healthz(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)ctx;
	(void)req;
	static const char ok[] = "{\"ok\":true}";
	return httpd_response_set_body(resp, ok, sizeof(ok) - 1);
}

static int h_readyz(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct controller *c = ctx;
	(void)req;
	static const char ready[] = "{\"ready\":true}";
	static const char waiting[] = "{\"ready\":false,\"reason\":\"no desired state has loaded "
				      "and been reconciled yet\"}";
	pthread_mutex_lock(&c->mu);
	bool is_ready = c->ready;
	pthread_mutex_unlock(&c->mu);
	resp->status = is_ready ? 200 : 503;
	return is_ready ? httpd_response_set_body(resp, ready, sizeof(ready) - 1)
			: httpd_response_set_body(resp, waiting, sizeof(waiting) - 1);
}

/* POST /hook/flux: judged against the last pass; a new event wakes the loop at once. */
static int h_flux(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct controller *c = ctx;
	struct fluxhook_snapshot snap;
	struct fluxhook_outcome out;
	pthread_mutex_lock(&c->mu);
	snap = c->hook_snap;
	pthread_mutex_unlock(&c->mu);
	if (fluxhook_handle(c->hook, req, &snap, resp, &out) < 0)
		return -1;
	log_info("flux event: %s", out.message);
	if (out.trigger)
		controller_wake();
	if (!out.redelivery && (out.status != 202 || out.verdict == VERDICT_ROLLBACK)) {
		pthread_mutex_lock(&c->mu);
		if (c->nhook_events < HOOK_EVENTS_MAX)
			c->hook_events[c->nhook_events++] = out;
		pthread_mutex_unlock(&c->mu);
	}
	return 0;
}

static int start_httpd(struct controller *c, struct cf_err *err)
{
	const struct httpd_route routes[] = {
		{"GET", "/", h_page, c, 0},
		{"GET", "/status", h_status, c, 0},
		{"GET", "/metrics", h_metrics, c, 0},
		{"GET", "/healthz", h_healthz, c, 0},
		{"GET", "/readyz", h_readyz, c, 0},
		{"POST", c->cfg.webhook_path, h_flux, c, FLUXHOOK_MAX_BODY},
	};
	struct httpd_config hc = {
		.listen = c->cfg.listen,
		.routes = routes,
		.n_routes = sizeof(routes) / sizeof(routes[0]) - (c->hook ? 0 : 1),
	};
	if (httpd_start(&c->httpd, &hc, err) < 0)
		return -1;
	log_info("serving the status page, /status and /metrics%s on %s (port %u)",
		 c->hook ? " and the Flux receiver" : "", c->cfg.listen, httpd_port(c->httpd));
	return 0;
}

/* ---- configuration ---- */

static int parse_flags(int argc, char **argv, struct flags *f)
{
	for (int i = 1; i < argc; i++) {
		const char **slot = strcmp(argv[i], "--config") == 0   ? &f->config
				    : strcmp(argv[i], "--listen") == 0 ? &f->listen
				    : strcmp(argv[i], "--state") == 0  ? &f->state
				    : strcmp(argv[i], "--source") == 0 ? &f->source
								       : NULL;
		if (!slot || i + 1 == argc)
			return -1;
		*slot = argv[++i];
	}
	return f->config ? 0 : -1;
}

/* Loads the file and applies the flags; every problem is printed (or logged once running). */
static int load_config(const struct controller *c, struct controller_config *cfg, bool running)
{
	struct diag_list diags = {0};
	struct cf_err err;
	const struct flags *f = &c->flags;
	if (ctlcfg_load(c->config_path, cfg, &diags) < 0) {
		diag_list_sort(&diags);
		if (running) {
			log_diags(&diags);
		} else {
			diag_list_print(&diags, stderr);
			fprintf(stderr, "clawfleet controller: %s has %zu %s\n", c->config_path,
				diags.n + diags.dropped,
				diags.n + diags.dropped == 1 ? "error" : "errors");
		}
		diag_list_free(&diags);
		return -1;
	}
	if ((f->listen && ctlcfg_set(cfg, "listen", f->listen, &err) < 0) ||
	    (f->state && ctlcfg_set(cfg, "state", f->state, &err) < 0) ||
	    (f->source && ctlcfg_set(cfg, "source.url", f->source, &err) < 0)) {
		if (running)
			log_warn("--%s", err.msg);
		else
			fprintf(stderr, "clawfleet controller: --%s\n", err.msg);
		ctlcfg_free(cfg);
		return -1;
	}
	return 0;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* SIGHUP: a clean file is swapped in whole; the state directory stays until a restart. */
static void reload(struct controller *c)
{
	struct controller_config next;
	struct cf_err err;
	if (load_config(c, &next, true) < 0) {
		log_warn("%s: config file has errors, not reloading", c->config_path);
		return;
	}
	if (!same(next.state, c->cfg.state)) {
		log_warn("state: the state directory changes only with a restart; keeping %s",
			 c->cfg.state);
		free(next.state);
		next.state = strdup(c->cfg.state);
		if (!next.state) {
			log_error("reloading: out of memory; not reloading");
			ctlcfg_free(&next);
			return;
		}
	}
	struct target_client *agents = NULL;
	struct target_client_config ac = {.token_file = next.agent_token};
	if (target_client_new(&agents, &ac, &err) < 0) {
		log_warn("%s; config file has errors, not reloading", err.msg);
		ctlcfg_free(&next);
		return;
	}
	bool new_source = !same(next.source_url, c->cfg.source_url) ||
			  !same(next.source_ref, c->cfg.source_ref) ||
			  next.source_timeout_ms != c->cfg.source_timeout_ms;
	bool new_listen = !same(next.listen, c->cfg.listen);
	target_client_free(c->agents);
	c->agents = agents;
	ctlcfg_free(&c->cfg);
	c->cfg = next;
	if (new_source) {
		source_free(c->src);
		c->src = NULL;
		desired_cache_clear(&c->cache);
		c->facts.valid = false;
		c->next_fetch_mono_ms = 0;
	}
	if (new_listen) {
		httpd_stop(c->httpd);
		c->httpd = NULL;
		if (start_httpd(c, &err) < 0)
			log_error("listen %s: %s; /status is not served until the next reload",
				  c->cfg.listen, err.msg);
	}
	log_info("configuration reloaded from %s", c->config_path);
}

/* ---- start and stop ---- */

/* The Flux receiver runs when the config names its tokens. */
static int open_receiver(struct controller *c, struct cf_err *err)
{
	const struct controller_config *cfg = &c->cfg;
	struct tokens_config tc = TOKENS_CONFIG_INIT;
	tc.current = cfg->webhook_token_current;
	tc.next = cfg->webhook_token_next;
	tc.prev = cfg->webhook_token_prev;
	tc.dir = cfg->webhook_token_dir;
	if (!tc.current && !tc.next && !tc.prev && !tc.dir)
		return 0;
	struct fluxhook_config hc = FLUXHOOK_CONFIG_INIT;
	hc.require_event_header = cfg->webhook_require_event_header;
	if (tokens_open(&c->hook_tokens, &tc, err) < 0)
		return cf_err_prefix(err, "webhook");
	hc.tokens = c->hook_tokens;
	return fluxhook_new(&c->hook, &hc, err);
}

static int controller_open(struct controller *c, struct cf_err *err)
{
	char warning[512] = "";
	bool found = false;
	c->seed = (unsigned int)(clock_epoch_ms() ^ getpid());
	c->state_path = join(c->cfg.state, STATE_FILE);
	c->audit_path = join(c->cfg.state, AUDIT_FILE);
	c->mirror_dir = join(c->cfg.state, MIRROR_DIR);
	if (!c->state_path || !c->audit_path || !c->mirror_dir)
		return cf_err_set(err, "out of memory");
	if (fsutil_mkdir_p(c->cfg.state, 0700, err) < 0)
		return -1;
	/* The audit log's lock keeps a second controller off this state directory. */
	if (audit_open(&c->audit, c->audit_path, warning, sizeof(warning), err) < 0)
		return -1;
	if (warning[0])
		log_warn("%s", warning);
	if (rollout_store_open_file(&c->store, c->state_path, err) < 0)
		return -1;
	if (rollout_store_load(&c->store, &c->state, &found, err) < 0)
		return cf_err_prefix(err, "%s (move it away to start from an empty state)",
				     c->state_path);
	if (found) {
		log_info("rollout state: %s, %zu pending actions", rollout_phase_name(c->state.phase),
			 c->state.npending);
		if (rollout_state_to_json(&c->state, &c->saved, &(size_t){0}, err) < 0 ||
		    settle_written_audit(c, err) < 0)
			return -1;
	}
	struct fleet_poll_config pc = {0};
	struct target_client_config ac = {.token_file = c->cfg.agent_token};
	if (schema_set_load_embedded(&c->schemas, err) < 0 ||
	    fleet_poll_new(&c->probe, &pc, err) < 0 || target_client_new(&c->agents, &ac, err) < 0)
		return -1;
	if (open_source(c, err) < 0) {
		source_free(c->src);
		c->src = NULL;
		source_failed(c, err->msg, NULL);
	}
	if (open_receiver(c, err) < 0)
		return -1;
	record(c, NULL, NULL, false);
	return start_httpd(c, err);
}

static void controller_close(struct controller *c)
{
	httpd_stop(c->httpd);
	fluxhook_free(c->hook);
	tokens_free(c->hook_tokens);
	target_client_free(c->agents);
	fleet_poll_free(c->probe);
	source_free(c->src);
	desired_cache_clear(&c->cache);
	schema_set_free(c->schemas);
	rollout_store_close(&c->store);
	rollout_state_free(&c->state);
	audit_close(c->audit);
	free(c->saved);
	free(c->backoff);
	free(c->source_error);
	free(c->last_weights);
	free(c->lb_warning);
	for (size_t i = 0; i < STATUS_ACTION_KINDS; i++)
		free(c->action_warning[i]);
	free(c->status_doc);
	free(c->metrics_doc);
	free(c->page_doc);
	free(c->state_path);
	free(c->audit_path);
	free(c->mirror_dir);
	ctlcfg_free(&c->cfg);
}

static int run(struct controller *c)
{
	int64_t next_pass = clock_mono_ms(), last_pass = 0;
	while (!got_term) {
		if (got_hup) {
			got_hup = 0;
			reload(c);
			next_pass = clock_mono_ms();
		}
		int64_t now = clock_mono_ms();
		if (now >= next_pass && now - last_pass >= MIN_GAP_MS) {
			bool failed;
			last_pass = now;
			bool busy = run_pass(c, &failed);
			c->pass_failures = failed ? c->pass_failures + 1 : 0;
			int64_t wait = failed ? backoff_ms(c->pass_failures, &c->seed)
				       : busy ? (c->cfg.source_interval_ms < BUSY_INTERVAL_MS
							 ? c->cfg.source_interval_ms
							 : BUSY_INTERVAL_MS)
					      : jittered(c->cfg.source_interval_ms, &c->seed);
			next_pass = last_pass + wait;
		}
		int64_t deadline = next_pass > last_pass + MIN_GAP_MS ? next_pass
								      : last_pass + MIN_GAP_MS;
		if (sleep_until(deadline) && !got_term && !got_hup)
			next_pass = clock_mono_ms();
	}
	log_info("stopping: the action under way is done");
	return 0;
}

int cmd_controller(int argc, char **argv)
{
	struct controller *c = NULL;
	struct cf_err err;
	int status = 1;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(controller_usage, stdout);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		fprintf(stderr, "clawfleet controller: out of memory\n");
		return 1;
	}
	if (parse_flags(argc, argv, &c->flags) < 0) {
		fputs(controller_usage, stderr);
		free(c);
		return 2;
	}
	c->config_path = c->flags.config;
	if (load_config(c, &c->cfg, false) < 0) {
		free(c);
		return 1;
	}
	log_init("controller", LOG_INFO);
	rollout_state_init(&c->state);
	pthread_mutex_init(&c->mu, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	gitsource_global_init();
	got_term = got_hup = 0;
	if (install_signals(&err) < 0 || controller_open(c, &err) < 0)
		fprintf(stderr, "clawfleet controller: %s\n", err.msg);
	else
		status = run(c);
	controller_close(c);
	close_signals();
	gitsource_global_shutdown();
	curl_global_cleanup();
	pthread_mutex_destroy(&c->mu);
	free(c);
	return status;
}
