/* clawfleet agent: the node reconciler of one Mac. Three threads share one struct agent: the
 * probe thread observes the node every refresh and keeps the rendered /readyz document in a
 * cache; the reconcile thread applies the target (node_act) when a new one arrives and
 * checks for drift every refresh, backing off after failures; the HTTP server's threads
 * (agent_http.c) answer from memory and never wait on I/O for /readyz. The main thread waits for
 * SIGTERM or SIGINT, lets the running reconcile step finish, and frees everything. */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "act/node_act.h"
#include "base/backoff.h"
#include "base/clock.h"
#include "base/compat.h"
#include "base/failpoint.h"
#include "base/fsutil.h"
#include "base/httpc.h"
#include "base/jsonparse.h"
#include "base/log.h"
#include "base/names.h"
#include "base/timeparse.h"
#include "cmd/commands.h"
#include "contracts/target.h"
#include "contracts/tokens.h"
#include "daemon/agent_internal.h"
#include "desired/agentcfg.h"
#include "desired/schema.h"
#include "observe/node_observe.h"
#include "observe/node_probe.h"
#include "serve/httpd.h"
#include "source/gitsource.h"

#define TARGET_FILE "target.json"
#define APPLIED_FILE "applied.json"
#define APPLIED_MAX (1u << 20)
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define TOKENS_RECHECK_MS 1000
#define SETTLE_PERIODS 3

static const char agent_usage[] =
	"usage: clawfleet agent --config FILE [--listen ADDR] [--root DIR] [--node NAME]\n"
	"  serves the merged readiness probe (GET /readyz) and applies the target the controller\n"
	"  sends (PUT /v1/target); the flags override the configuration's keys of that name\n";

/* Waits on cond until woken or until the monotonic deadline; mu is held. */
static void wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t deadline_ms)
{
	struct timespec ts = clock_timespec(deadline_ms);
	compat_cond_timedwait_monotonic(cond, mu, &ts);
}

static int cond_init_monotonic(pthread_cond_t *cond)
{
	return compat_cond_init_monotonic(cond) == 0 ? 0 : -1;
}

static void apply_record_clear(struct apply_record *r)
{
	node_actions_free(&r->actions);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

struct json_object *agent_actions_json(const struct node_actions *a)
{
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; i < a->n; i++)
		json_object_array_add(arr, json_object_new_string(a->v[i]));
	return arr;
}

/* ---- the applied record ---- */

static int save_applied(const struct agent *a, struct cf_err *err)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "generation", json_object_new_int64(a->last.generation));
	json_object_object_add(o, "actions", agent_actions_json(&a->last.actions));
	json_object_object_add(o, "at", json_object_new_string(a->last.at));
	size_t len = 0;
	const char *s = json_object_to_json_string_length(o, JSON_PLAIN, &len);
	failpoint_hit("agent.applied.save.before");
	int rc = fsutil_write_atomic(a->applied_path, s, len, 0600, err);
	failpoint_hit("agent.applied.save.after");
	json_object_put(o);
	return rc;
}

/* A record that cannot be read only costs a pass that finds nothing to do. */
static int load_applied(struct agent *a, struct cf_err *err)
{
	char *text = NULL;
	size_t len = 0;
	struct json_object *o = NULL, *gen, *actions, *at;
	struct cf_err perr;
	int rc = -1;

	if (fsutil_read_file(a->applied_path, APPLIED_MAX, &text, &len, err) < 0) {
		rc = errno == ENOENT ? 0 : -1;
		goto done;
	}
	if (jsonparse_object(text, len, JSONPARSE_DEPTH, &o, &perr) < 0 ||
	    !json_object_object_get_ex(o, "generation", &gen) ||
	    !json_object_is_type(gen, json_type_int) || json_object_get_int64(gen) < 0 ||
	    !json_object_object_get_ex(o, "actions", &actions) ||
	    !json_object_is_type(actions, json_type_array) ||
	    !json_object_object_get_ex(o, "at", &at) ||
	    !json_object_is_type(at, json_type_string)) {
		cf_err_set(err, "%s: not the {generation, actions, at} record the agent writes",
			   a->applied_path);
		goto done;
	}
	size_t n = json_object_array_length(actions);
	a->last.actions.v = calloc(n ? n : 1, sizeof(char *));
	if (!a->last.actions.v) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(actions, i));
		char *copy = strdup(s ? s : "");
		if (!copy) {
			cf_err_set(err, "out of memory");
			goto done;
		}
		a->last.actions.v[a->last.actions.n++] = copy;
	}
	a->last.present = true;
	a->last.generation = json_object_get_int64(gen);
	snprintf(a->last.at, sizeof(a->last.at), "%s", json_object_get_string(at));
	a->applied_generation = a->last.generation;
	a->reported_generation = a->applied_generation;
	rc = 0;
done:
	if (rc < 0)
		apply_record_clear(&a->last);
	json_object_put(o);
	free(text);
	return rc;
}

/* ---- the probe thread ---- */

/* A refused token file, or tokens held over because no file holds one, is a note on /readyz:
 * the agent still answers the controller, but the operator should fix the files. */
static void note_token_problem(struct agent *a, struct probe_result *res)
{
	struct cf_err problem;
	if (tokens_status(a->tokens, &problem) == 0)
		return;
	if (res->nreasons == PROBE_MAX_REASONS) {
		res->dropped++;
		return;
	}
	struct probe_reason *r = &res->reasons[res->nreasons++];
	r->code = "tokens.files";
	r->severity = PROBE_GREEN;
	size_t n = strnlen(problem.msg, sizeof(r->message) - 1);
	memcpy(r->message, problem.msg, n);
	r->message[n] = '\0';
}

/* What the last pass refused (a tampered package, an invalid configuration, a red doctor on the
 * new install, a duplicate package) is red until a pass gets past it. */
static void note_refusal(const struct agent *a, struct probe_result *res)
{
	if (!a->refused)
		return;
	if (res->nreasons == PROBE_MAX_REASONS) {
		res->dropped++;
	} else {
		/* Red reasons come first: the refusal goes before the notes and degraded ones. */
		memmove(&res->reasons[1], &res->reasons[0], res->nreasons * sizeof(res->reasons[0]));
		res->reasons[0] = a->refusal;
		res->nreasons++;
	}
	res->status = PROBE_RED;
}

/* Keeps the refusal of a finished pass of target t for the probe; takes cache_mu. */
static void keep_refusal(struct agent *a, const struct target *t, int rc, const char *reason,
			 const struct cf_err *err)
{
	pthread_mutex_lock(&a->cache_mu);
	a->refused = rc == -1 && reason;
	if (a->refused) {
		a->refused_generation = t->generation;
		a->refusal.code = reason;
		a->refusal.severity = PROBE_RED;
		size_t n = strnlen(err->msg, sizeof(a->refusal.message) - 1);
		memcpy(a->refusal.message, err->msg, n);
		a->refusal.message[n] = '\0';
	}
	pthread_mutex_unlock(&a->cache_mu);
}

void agent_render_cache(struct agent *a)
{
	const struct probe_inputs *in = observation_inputs(a->obs, clock_epoch_ms());
	/* A refused target was seen and judged: the probe answers for its generation, red, so the
	 * controller takes the refusal as the node's answer to it (a red canary rolls back) instead
	 * of waiting for a generation that will never come. */
	if (a->refused && a->refused_generation > in->observed_generation)
		observation_set_generation(a->obs, a->refused_generation);
	struct probe_result res;
	struct cf_err err;
	char *doc = NULL;
	size_t len = 0;
	int status = 503;

	probe_merge(in, &res);
	note_refusal(a, &res);
	note_token_problem(a, &res);
	if (probe_render_json(in, &res, &doc, &len, &status, &err) < 0) {
		log_error("rendering the probe: %s", err.msg);
		return;
	}
	free(a->doc);
	a->doc = doc;
	a->doc_len = len;
	a->doc_status = status;
	a->rendered_mono_ms = clock_mono_ms();
}

static void *probe_main(void *arg)
{
	struct agent *a = arg;
	char tag[TARGET_NAME_MAX];

	while (!atomic_load(&a->stopping)) {
		int64_t started = clock_mono_ms();
		pthread_mutex_lock(&a->mu);
		int64_t applied = a->applied_generation;
		int64_t applied_at = a->applied_mono_ms;
		bool judge_next = a->have_target && a->target.skills_link == TARGET_LINK_NEXT &&
				  a->target.generation == applied;
		bool have_tag = a->have_target;
		snprintf(tag, sizeof(tag), "%s", a->target.tag);
		a->probe_kick = false;
		pthread_mutex_unlock(&a->mu);

		struct observation *o = NULL;
		struct cf_err err;
		if (node_observe_run(a->node_observer, a->reported_generation, have_tag ? tag : NULL, &o,
				&err) < 0) {
			log_error("observing the node: %s", err.msg);
		} else {
			observation_set_judge_next(o, judge_next);
			pthread_mutex_lock(&a->cache_mu);
			observation_free(a->obs);
			a->obs = o;
			agent_render_cache(a);
			bool settled = started >= applied_at && a->doc_status != 503;
			bool waited = clock_mono_ms() - applied_at >= SETTLE_PERIODS * a->cfg.refresh_ms;
			if (applied != a->reported_generation && (settled || waited)) {
				a->reported_generation = applied;
				observation_set_generation(o, applied);
				agent_render_cache(a);
			}
			pthread_mutex_unlock(&a->cache_mu);
		}

		pthread_mutex_lock(&a->mu);
		int64_t deadline = started + a->cfg.refresh_ms;
		while (!atomic_load(&a->stopping) && !a->probe_kick && clock_mono_ms() < deadline)
			wait_until(&a->probe_wake, &a->mu, deadline);
		pthread_mutex_unlock(&a->mu);
	}
	return NULL;
}

/* ---- the reconcile thread ---- */

static bool keep_going(void *ctx, enum node_step next)
{
	(void)next;
	return !atomic_load(&((struct agent *)ctx)->stopping);
}

/* Records a finished pass; mu is held. */
static void record_pass(struct agent *a, const struct target *t, int rc,
			struct node_actions *actions, const struct cf_err *err)
{
	int64_t applied = node_act_generation(rc, t, a->applied_generation);
	bool advanced = applied != a->applied_generation;
	bool worth_saving = rc == 0 && (advanced || actions->n);

	apply_record_clear(&a->last);
	a->last.present = true;
	a->last.generation = t->generation;
	a->last.actions = *actions;
	memset(actions, 0, sizeof(*actions));
	a->last.error = rc == 0 ? NULL : strdup(err->msg);
	rfc3339_format_ms(clock_epoch_ms(), a->last.at, sizeof(a->last.at));
	a->applied_generation = applied;
	if (advanced)
		a->applied_mono_ms = clock_mono_ms();
	if (worth_saving) {
		struct cf_err serr;
		if (save_applied(a, &serr) < 0)
			log_error("recording the applied generation: %s", serr.msg);
	}
	if (advanced || a->last.actions.n) {
		a->probe_kick = true;
		pthread_cond_signal(&a->probe_wake);
	}
}

static void log_pass(const struct target *t, int rc, const struct node_actions *actions,
		     const struct cf_err *err, int64_t retry_ms)
{
	for (size_t i = 0; i < actions->n; i++)
		log_info("generation %lld: %s", (long long)t->generation, actions->v[i]);
	if (rc == 0 && actions->n)
		log_info("generation %lld applied", (long long)t->generation);
	else if (rc == -1)
		log_warn("generation %lld: %s; retrying in %lld ms", (long long)t->generation,
			 err->msg, (long long)retry_ms);
}

static void *reconcile_main(void *arg)
{
	struct agent *a = arg;
	struct node_env env = {
		.cfg = &a->cfg,
		.schemas = a->schemas,
		.node_observer = a->node_observer,
		.proceed = keep_going,
		.ctx = a,
	};
	struct target *t = &a->pass_target;
	unsigned failures = 0;
	unsigned int seed = (unsigned int)(clock_epoch_ms() ^ getpid());
	int64_t next_run = clock_mono_ms();

	for (;;) {
		pthread_mutex_lock(&a->mu);
		while (!atomic_load(&a->stopping) && !a->target_changed && clock_mono_ms() < next_run)
			wait_until(&a->reconcile_wake, &a->mu, next_run);
		if (atomic_load(&a->stopping)) {
			pthread_mutex_unlock(&a->mu);
			break;
		}
		if (a->target_changed)
			failures = 0;
		a->target_changed = false;
		bool have = a->have_target;
		if (have)
			*t = a->target;
		int64_t applied = a->applied_generation;
		pthread_mutex_unlock(&a->mu);
		if (!have) {
			next_run = clock_mono_ms() + a->cfg.refresh_ms;
			continue;
		}

		struct node_actions actions = {0};
		struct cf_err err = {{0}};
		int rc = node_act(&env, t, applied, &actions, &err);
		int64_t delay = a->cfg.refresh_ms;
		if (rc == -1)
			delay = backoff_ms(BACKOFF_FIRST_MS, BACKOFF_MAX_MS, ++failures, &seed);
		else if (rc == 0)
			failures = 0;
		log_pass(t, rc, &actions, &err, delay);
		next_run = clock_mono_ms() + delay;
		if (rc != NODE_ACT_STOPPED) {
			const char *refusal = actions.reason;
			keep_refusal(a, t, rc, refusal, &err);
			pthread_mutex_lock(&a->mu);
			record_pass(a, t, rc, &actions, &err);
			if (refusal) {
				a->probe_kick = true;
				pthread_cond_signal(&a->probe_wake);
			}
			pthread_mutex_unlock(&a->mu);
		}
		node_actions_free(&actions);
	}
	return NULL;
}

/* ---- start and stop ---- */

struct agent_flags {
	const char *config, *listen, *root, *node;
};

static int parse_flags(int argc, char **argv, struct agent_flags *f)
{
	for (int i = 1; i < argc; i++) {
		const char **slot = strcmp(argv[i], "--config") == 0   ? &f->config
				    : strcmp(argv[i], "--listen") == 0 ? &f->listen
				    : strcmp(argv[i], "--root") == 0   ? &f->root
				    : strcmp(argv[i], "--node") == 0   ? &f->node
								       : NULL;
		if (!slot || i + 1 == argc)
			return -1;
		*slot = argv[++i];
	}
	return f->config ? 0 : -1;
}

static int replace(char **field, const char *value)
{
	char *copy = strdup(value);
	if (!copy)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

/* Flags override the file; they get the checks the file's keys get. */
static int apply_flags(struct agent_config *cfg, const struct agent_flags *f)
{
	struct cf_err err;
	if (f->root && f->root[0] != '/') {
		fprintf(stderr, "clawfleet agent: --root must be an absolute path, got \"%s\"\n",
			f->root);
		return -1;
	}
	if (f->node && name_check_dns_label(f->node, &err) < 0) {
		fprintf(stderr, "clawfleet agent: --node: %s\n", err.msg);
		return -1;
	}
	if ((f->root && replace(&cfg->root, f->root) < 0) ||
	    (f->node && replace(&cfg->node, f->node) < 0) ||
	    (f->listen && replace(&cfg->listen, f->listen) < 0)) {
		fprintf(stderr, "clawfleet agent: out of memory\n");
		return -1;
	}
	return 0;
}

static int load_config(const struct agent_flags *f, struct agent_config *cfg)
{
	struct diag_list diags = {0};
	if (agentcfg_load(f->config, cfg, &diags) < 0) {
		diag_list_sort(&diags);
		diag_list_print(&diags, stderr);
		fprintf(stderr, "clawfleet agent: %s has %zu %s\n", f->config,
			diags.n + diags.dropped, diags.n + diags.dropped == 1 ? "error" : "errors");
		diag_list_free(&diags);
		return -1;
	}
	return 0;
}

/* A temporary file a crash left in the state directory: logged as it goes. */
static void log_swept(const char *dir, const char *name, long long size, void *ctx)
{
	(void)ctx;
	log_info("removed %s/%s (%lld bytes), left by a write that a crash interrupted", dir, name,
		 size);
}

/* Everything the threads and handlers read, before any of them starts. */
static int agent_open(struct agent *a, struct cf_err *err)
{
	const struct agent_config *cfg = &a->cfg;
	char *current = cfg->token_current ? agentcfg_path(cfg, cfg->token_current) : NULL;
	char *next = cfg->token_next ? agentcfg_path(cfg, cfg->token_next) : NULL;
	char *prev = cfg->token_prev ? agentcfg_path(cfg, cfg->token_prev) : NULL;
	char *dir = cfg->token_dir ? agentcfg_path(cfg, cfg->token_dir) : NULL;
	struct tokens_config tc = TOKENS_CONFIG_INIT;
	struct cf_err lerr;
	int rc = -1;

	tc.current = current;
	tc.next = next;
	tc.prev = prev;
	tc.dir = dir;
	tc.recheck_ms = TOKENS_RECHECK_MS;
	a->state_dir = agentcfg_path(cfg, cfg->state);
	if ((cfg->token_current && !current) || (cfg->token_next && !next) ||
	    (cfg->token_prev && !prev) || (cfg->token_dir && !dir) || !a->state_dir) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	if (fsutil_join(a->target_path, a->state_dir, TARGET_FILE, err) < 0 ||
	    fsutil_join(a->applied_path, a->state_dir, APPLIED_FILE, err) < 0)
		goto done;
	if (fsutil_mkdir_p(a->state_dir, 0700, err) < 0 ||
	    schema_set_load_embedded(&a->schemas, err) < 0 || tokens_open(&a->tokens, &tc, err) < 0)
		goto done;
	/* One agent per Mac writes here: what a crash left half-written goes before the loop. */
	if (fsutil_sweep_temp(a->state_dir, log_swept, NULL, &lerr) < 0)
		log_warn("%s", lerr.msg);
	errno = 0;
	if (target_load(a->target_path, &a->target, &lerr) == 0) {
		a->have_target = true;
		a->target_changed = true;
	} else if (errno != ENOENT) {
		log_error("%s; waiting for the controller to send a target", lerr.msg);
	}
	if (load_applied(a, &lerr) < 0)
		log_warn("%s; the next pass will apply the target again", lerr.msg);
	if (node_observer_new(&a->node_observer, cfg, a->schemas, err) < 0)
		goto done;
	/* The observer holds libgit2 started for the agent's life, and the agent never speaks TLS
	 * through it. */
	gitsource_drop_tls_roots();
	rc = 0;
done:
	a->token_dir = dir;
	free(current);
	free(next);
	free(prev);
	return rc;
}

static void agent_close(struct agent *a)
{
	observation_free(a->obs);
	node_observer_free(a->node_observer);
	tokens_free(a->tokens);
	schema_set_free(a->schemas);
	apply_record_clear(&a->last);
	free(a->doc);
	free(a->state_dir);
	free(a->token_dir);
	agentcfg_free(&a->cfg);
}

/* The locks and condition variables the threads share; on failure nothing is left to destroy. */
static int sync_init(struct agent *a, struct cf_err *err)
{
	atomic_init(&a->stopping, false);
	if (cond_init_monotonic(&a->reconcile_wake) < 0)
		return cf_err_set(err, "cannot create a monotonic condition variable");
	if (cond_init_monotonic(&a->probe_wake) < 0) {
		pthread_cond_destroy(&a->reconcile_wake);
		return cf_err_set(err, "cannot create a monotonic condition variable");
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->cache_mu, NULL);
	return 0;
}

static void sync_destroy(struct agent *a)
{
	pthread_cond_destroy(&a->reconcile_wake);
	pthread_cond_destroy(&a->probe_wake);
	pthread_mutex_destroy(&a->cache_mu);
	pthread_mutex_destroy(&a->mu);
}

static int wait_for_stop(const sigset_t *set)
{
	int sig = 0;
	/* sigwait fails only for a set it cannot wait on: stop rather than run unstoppable. */
	return sigwait(set, &sig) == 0 ? sig : SIGTERM;
}

static int serve(struct agent *a, const sigset_t *signals)
{
	struct httpd *srv = NULL;
	pthread_t probe, reconcile;
	struct cf_err err;

	if (agent_http_start(a, &srv, &err) < 0) {
		fprintf(stderr, "clawfleet agent: %s\n", err.msg);
		return 1;
	}
	bool probe_started = pthread_create(&probe, NULL, probe_main, a) == 0;
	bool reconcile_started =
		probe_started && pthread_create(&reconcile, NULL, reconcile_main, a) == 0;
	int status = 1;
	if (reconcile_started) {
		log_info("node %s listening on %s (port %u)", a->cfg.node, a->cfg.listen,
			 httpd_port(srv));
		int sig = wait_for_stop(signals);
		log_info("%s: finishing the current step and stopping", strsignal(sig));
		status = 0;
	} else {
		fprintf(stderr, "clawfleet agent: cannot start its threads\n");
	}
	pthread_mutex_lock(&a->mu);
	atomic_store(&a->stopping, true);
	pthread_cond_broadcast(&a->reconcile_wake);
	pthread_cond_broadcast(&a->probe_wake);
	pthread_mutex_unlock(&a->mu);
	httpd_stop(srv);
	if (reconcile_started)
		pthread_join(reconcile, NULL);
	if (probe_started)
		pthread_join(probe, NULL);
	return status;
}

int cmd_agent(int argc, char **argv)
{
	struct agent_flags flags = {0};
	struct cf_err err;
	sigset_t signals;
	int status = 1;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(agent_usage, stdout);
		return 0;
	}
	/* Every thread that mallocs would get its own 64 MiB arena and keep what it touched; the
	 * agent's threads allocate little, and an agent runs on every Mac. */
	compat_malloc_arenas(1);
	if (parse_flags(argc, argv, &flags) < 0) {
		fputs(agent_usage, stderr);
		return 2;
	}
	struct agent *a = calloc(1, sizeof(*a));
	if (!a) {
		fprintf(stderr, "clawfleet agent: out of memory\n");
		return 1;
	}
	if (load_config(&flags, &a->cfg) < 0) {
		free(a);
		return 1;
	}
	if (apply_flags(&a->cfg, &flags) < 0) {
		agentcfg_free(&a->cfg);
		free(a);
		return 2;
	}
	log_init("agent", LOG_INFO);
	/* Blocked before any thread starts, so every thread inherits the mask and only sigwait
	 * takes them. SIGPIPE: a client that hangs up must not end the agent. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	bool http_ready = httpc_global_init(&err) == 0;
	bool sync_ready = http_ready && sync_init(a, &err) == 0;
	if (!sync_ready || agent_open(a, &err) < 0)
		fprintf(stderr, "clawfleet agent: %s\n", err.msg);
	else
		status = serve(a, &signals);
	agent_close(a);
	if (sync_ready)
		sync_destroy(a);
	free(a);
	if (http_ready)
		httpc_global_cleanup();
	return status;
}
