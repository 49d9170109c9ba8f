/* clawfleet controller: the fleet reconciler. One loop on monotonic deadlines, as OpenBSD's ntpd
 * runs: each pass refreshes the desired state from Git (the last good one is kept when a commit is
 * bad; a URL is fetched by a child process beside the loop, which tends it and never waits on
 * it, and read between fetches), observes every node's merged probe and the load balancer's weights, plans (planner.h,
 * pure), acts and records; then it sleeps until the next deadline: the source's interval with
 * 5 % jitter, one second while the rollout is under way, at once when woken through the wake
 * pipe (the Flux receiver, a signal) or when a fetch brings a new commit; an event that arrives
 * during a pass starts the next one as soon as it ends (see run).
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
 * the file has errors. The HTTP threads serve /status, /metrics and the page (/) from documents
 * the loop renders after every pass, under a mutex, and never wait on the loop.
 *
 * The files: this one, the loop, signals, configuration, start and stop; controller_pass.c, one
 * pass (source, observe, plan, act); act/fleet_act.c, the act step, and controller_world.c, the
 * real world it changes; controller_http.c, the documents and the routes that serve them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "act/fleet_act.h"
#include "act/target_client.h"
#include "act/webhook_runner.h"
#include "base/backoff.h"
#include "base/clock.h"
#include "base/compat.h"
#include "base/fsutil.h"
#include "base/httpc.h"
#include "base/log.h"
#include "cmd/commands.h"
#include "contracts/tokens.h"
#include "daemon/controller_internal.h"
#include "daemon/ctlcfg.h"
#include "desired/desired_cache.h"
#include "observe/fleet_poll.h"
#include "plan/rollout.h"
#include "record/audit.h"
#include "serve/fluxhook.h"
#include "serve/httpd.h"
#include "source/source.h"

#define STATE_FILE "rollout.json"
#define AUDIT_FILE "promotions.jsonl"
#define MIRROR_DIR "mirror"
#define BUSY_INTERVAL_MS 1000	 /* passes while the rollout is under way */
#define JITTER_PERCENT 5
/* Blocks this large or larger get pages of their own (compat_malloc_map_large): the documents
 * a pass renders, the probe slots, the metrics poller. */
#define LARGE_BLOCK_BYTES (128u << 10)

static const char controller_usage[] =
	"usage: clawfleet controller --config FILE [--listen ADDR] [--state DIR] [--source URL]\n"
	"  reconciles the fleet with the desired state in Git: rollouts, weights, audit, status;\n"
	"  the flags override the configuration's listen, state and source.url\n";

/* ---- time and signals ---- */

static volatile sig_atomic_t got_term, got_hup;
static int wake_pipe[2] = {-1, -1};

void controller_wake(void)
{
	int saved = errno;
	/* A write that fails finds the pipe full: a wake-up is already waiting. */
	ssize_t n = write(wake_pipe[1], "w", 1);
	(void)n;
	errno = saved;
}

bool controller_stopping(void)
{
	return got_term;
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

/* Sleeps until the monotonic deadline, a wake-up or the end of the fetch reading on fetch_fd
 * (-1: none, else *fetch_ended says whether it ended); true when woken. */
static bool sleep_until(int64_t deadline, int fetch_fd, bool *fetch_ended)
{
	char buf[64];
	int64_t left = deadline - clock_mono_ms();
	struct pollfd pfd[2] = {{.fd = wake_pipe[0], .events = POLLIN},
				{.fd = fetch_fd, .events = POLLIN}};
	nfds_t n = fetch_fd >= 0 ? 2 : 1;
	*fetch_ended = false;
	if (left > 0 && poll(pfd, n, left > INT32_MAX ? INT32_MAX : (int)left) <= 0)
		return false;
	*fetch_ended = n == 2 && pfd[1].revents != 0;
	bool woken = false;
	while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
		woken = true;
	return woken;
}

static int64_t jittered(int64_t interval, unsigned int *seed)
{
	int64_t spread = interval * JITTER_PERCENT / 100;
	return interval - spread + (spread ? rand_r(seed) % (2 * spread + 1) : 0);
}

/* ---- configuration ---- */

static int parse_flags(int argc, char **argv, struct controller_flags *f)
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
	const struct controller_flags *f = &c->flags;
	if (ctlcfg_load(c->config_path, cfg, &diags) < 0) {
		diag_list_sort(&diags);
		if (running) {
			controller_log_diags(&diags);
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

/* The Flux receiver runs when the config names its tokens: *hook and *tokens stay NULL when it
 * does not. */
static int open_receiver(const struct controller_config *cfg, struct tokens **tokens,
			 struct fluxhook **hook, struct cf_err *err)
{
	struct tokens_config tc = TOKENS_CONFIG_INIT;
	struct fluxhook_accept accept[FLUXHOOK_ACCEPT_MAX];
	const struct cfg_records *r = &cfg->webhook_accept;
	*tokens = NULL;
	*hook = NULL;
	tc.current = cfg->webhook_token_current;
	tc.next = cfg->webhook_token_next;
	tc.prev = cfg->webhook_token_prev;
	tc.dir = cfg->webhook_token_dir;
	if (!tc.current && !tc.next && !tc.prev && !tc.dir)
		return 0;
	if (r->n > FLUXHOOK_ACCEPT_MAX)
		return cf_err_set(err, "webhook.accept: at most %d entries", FLUXHOOK_ACCEPT_MAX);
	for (size_t i = 0; i < r->n; i++) {
		char *const *row = &r->values[i * r->width];
		accept[i] = (struct fluxhook_accept){row[CTLCFG_ACCEPT_KIND],
						     row[CTLCFG_ACCEPT_NAMESPACE],
						     row[CTLCFG_ACCEPT_NAME]};
	}
	struct fluxhook_config hc = FLUXHOOK_CONFIG_INIT;
	hc.require_event_header = cfg->webhook_require_event_header;
	hc.accept = accept;
	hc.naccept = r->n;
	if (tokens_open(tokens, &tc, err) < 0)
		return cf_err_prefix(err, "webhook");
	hc.tokens = *tokens;
	if (fluxhook_new(hook, &hc, err) < 0) {
		tokens_free(*tokens);
		*tokens = NULL;
		return -1;
	}
	return 0;
}

static bool same_records(const struct cfg_records *a, const struct cfg_records *b)
{
	if (a->n != b->n || a->width != b->width)
		return false;
	for (size_t i = 0; i < a->n * a->width; i++)
		if (!same(a->values[i], b->values[i]))
			return false;
	return true;
}

static bool same_webhook(const struct controller_config *a, const struct controller_config *b)
{
	return same(a->webhook_path, b->webhook_path) &&
	       same(a->webhook_token_current, b->webhook_token_current) &&
	       same(a->webhook_token_next, b->webhook_token_next) &&
	       same(a->webhook_token_prev, b->webhook_token_prev) &&
	       same(a->webhook_token_dir, b->webhook_token_dir) &&
	       a->webhook_require_event_header == b->webhook_require_event_header &&
	       same_records(&a->webhook_accept, &b->webhook_accept);
}

/* SIGHUP: a clean file is swapped in whole, every section (the webhook's too: the server restarts
 * with the new route); the state directory stays until a restart. Whatever fails to open keeps
 * the running configuration. */
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
	/* A new maxParallel is a new poller: its kept connections are opened again. */
	struct fleet_poll *probe = NULL;
	struct fleet_poll_config pc = {.max_parallel = (unsigned int)next.max_parallel};
	if (next.max_parallel != c->cfg.max_parallel && fleet_poll_new(&probe, &pc, &err) < 0) {
		log_warn("%s; config file has errors, not reloading", err.msg);
		target_client_free(agents);
		ctlcfg_free(&next);
		return;
	}
	/* An unchanged receiver keeps its reply cache: Flux's redeliveries stay answered once. */
	bool new_hook = !same_webhook(&next, &c->cfg);
	struct tokens *hook_tokens = NULL;
	struct fluxhook *hook = NULL;
	if (new_hook && open_receiver(&next, &hook_tokens, &hook, &err) < 0) {
		log_warn("%s; config file has errors, not reloading", err.msg);
		fleet_poll_free(probe);
		target_client_free(agents);
		ctlcfg_free(&next);
		return;
	}
	bool new_source = !same(next.source_url, c->cfg.source_url) ||
			  !same(next.source_ref, c->cfg.source_ref) ||
			  next.source_timeout_ms != c->cfg.source_timeout_ms;
	bool new_listen = !same(next.listen, c->cfg.listen);
	target_client_free(c->agents);
	c->agents = agents;
	if (probe) {
		fleet_poll_free(c->probe);
		c->probe = probe;
	}
	/* The server's threads use the receiver: it is stopped before the receiver changes. */
	if (new_listen || new_hook) {
		httpd_stop(c->httpd);
		c->httpd = NULL;
	}
	if (new_hook) {
		fluxhook_free(c->hook);
		tokens_free(c->hook_tokens);
		c->hook = hook;
		c->hook_tokens = hook_tokens;
		log_info("webhook: %s", hook ? "the Flux receiver follows the new configuration"
					     : "no token source: the Flux receiver is off");
	}
	ctlcfg_free(&c->cfg);
	c->cfg = next;
	if (new_source) {
		source_free(c->src);
		c->src = NULL;
		desired_cache_clear(&c->cache);
		c->facts.valid = false;
		c->next_fetch_mono_ms = 0;
	}
	if (new_listen || new_hook) {
		if (controller_start_httpd(c, &err) < 0)
			log_error("listen %s: %s; /status is not served until the next reload",
				  c->cfg.listen, err.msg);
	}
	log_info("configuration reloaded from %s", c->config_path);
}

/* ---- start and stop ---- */

/* A temporary file a crash left in the state directory: logged as it goes. */
static void log_swept(const char *dir, const char *name, long long size, void *ctx)
{
	(void)ctx;
	log_info("removed %s/%s (%lld bytes), left by a write that a crash interrupted", dir, name,
		 size);
}

/* What the file store and the etcd store open alike: the probes, the agents, the source, the
 * Flux receiver and the HTTP server. The compiled CRDs are loaded only to read a new revision
 * (desired_cache_refresh). */
static int open_rest(struct controller *c, struct cf_err *err)
{
	struct fleet_poll_config pc = {.max_parallel = (unsigned int)c->cfg.max_parallel};
	struct target_client_config ac = {.token_file = c->cfg.agent_token};
	if (fleet_poll_new(&c->probe, &pc, err) < 0 || target_client_new(&c->agents, &ac, err) < 0 ||
	    webhook_runner_new(&c->webhooks, err) < 0)
		return -1;
	if (controller_open_source(c, err) < 0) {
		source_free(c->src);
		c->src = NULL;
		controller_source_failed(c, err->msg, NULL);
	}
	if (open_receiver(&c->cfg, &c->hook_tokens, &c->hook, err) < 0)
		return -1;
	controller_record(c, NULL, NULL, false);
	return controller_start_httpd(c, err);
}

/* The etcd store, shared by several replicas: the state, the anchor and the chain come from
 * etcd once this replica leads or follows (controller_ha.c), never from the state directory. */
static int open_shared(struct controller *c, struct cf_err *err)
{
	if (controller_ha_open(c, err) < 0)
		return -1;
	if (fsutil_sweep_temp(c->cfg.state, log_swept, NULL, err) < 0)
		log_warn("%s", err->msg);
	return open_rest(c, err);
}

static int controller_open(struct controller *c, struct cf_err *err)
{
	char warning[512] = "";
	bool found = false, anchor_found = false;
	struct audit_anchor anchor;
	c->seed = (unsigned int)(clock_epoch_ms() ^ getpid());
	controller_world_init(c, &c->world);
	fleet_act_init(&c->act, &c->world, &c->metrics, (unsigned int)rand_r(&c->seed));
	if (fsutil_join(c->state_path, c->cfg.state, STATE_FILE, err) < 0 ||
	    fsutil_join(c->audit_path, c->cfg.state, AUDIT_FILE, err) < 0 ||
	    fsutil_join(c->mirror_dir, c->cfg.state, MIRROR_DIR, err) < 0)
		return -1;
	if (fsutil_mkdir_p(c->cfg.state, 0700, err) < 0)
		return -1;
	if (c->cfg.store_type == CTLCFG_STORE_ETCD)
		return open_shared(c, err);
	if (rollout_store_open_file(&c->store, c->state_path, err) < 0)
		return -1;
	if (rollout_store_load_anchor(&c->store, &anchor, &anchor_found, err) < 0)
		return cf_err_prefix(err, "%s (move it away to take the audit log as it is)",
				     c->state_path);
	/* The audit log's lock keeps a second controller off this state directory. */
	if (audit_open_anchored(&c->audit, c->audit_path, anchor_found ? &anchor : NULL, warning,
				sizeof(warning), err) < 0)
		return -1;
	if (warning[0])
		log_warn("%s", warning);
	/* Under the lock: no other controller is writing here. */
	if (fsutil_sweep_temp(c->cfg.state, log_swept, NULL, err) < 0)
		log_warn("%s", err->msg);
	if (rollout_store_load(&c->store, &c->state, &found, err) < 0)
		return cf_err_prefix(err, "%s (move it away to start from an empty state)",
				     c->state_path);
	if (found) {
		log_info("rollout state: %s, %zu pending actions", rollout_phase_name(c->state.phase),
			 c->state.npending);
		if (controller_state_digest(&c->state, c->saved, err) < 0)
			return -1;
	}
	if (controller_anchor_audit(c, &anchor, anchor_found, err) < 0)
		return -1;
	/* Only monotonic time moves the rollout clock from here: the wall clock may step. */
	c->clock_resumed_ms = rollout_clock_resume(&c->state, clock_epoch_ms());
	c->clock_resumed_mono_ms = clock_mono_ms();
	return open_rest(c, err);
}

static void controller_close(struct controller *c)
{
	httpd_stop(c->httpd);
	controller_ha_close(c);
	fluxhook_free(c->hook);
	tokens_free(c->hook_tokens);
	target_client_free(c->agents);
	fleet_poll_free(c->probe);
	webhook_runner_free(c->webhooks);
	prom_poll_free(c->metrics_poll);
	source_free(c->src);
	desired_cache_clear(&c->cache);
	rollout_store_close(&c->store);
	rollout_state_free(&c->state);
	audit_close(c->audit);
	fleet_act_free(&c->act);
	free(c->source_error);
	free(c->lb_warning);
	status_since_free(&c->since);
	lb_servers_free(&c->lb_servers);
	free(c->status_doc);
	status_doc_free(&c->status_nodes);
	free(c->metrics_doc);
	free(c->page_doc);
	free(c->plan_doc);
	ctlcfg_free(&c->cfg);
}

/* Passes run on the deadline, or at once on an event: the Flux receiver or a signal writes to
 * the wake pipe, a fetch that brings a new commit brings the pass forward. The loop is the only
 * runner, so an event that arrives during a pass waits for that pass alone: its byte is still in
 * the pipe when the pass ends and the next one starts right after, with no gap. Wake-ups
 * coalesce (one read drains them all), so a burst of events costs one more pass, not one each. */
static int run(struct controller *c)
{
	int64_t next_pass = clock_mono_ms();
	bool fetch_ended = false;
	while (!got_term) {
		if (got_hup) {
			got_hup = 0;
			reload(c);
			next_pass = clock_mono_ms();
		}
		int64_t started = clock_mono_ms();
		if (started >= next_pass) {
			bool failed;
			bool busy = controller_run_pass(c, &failed);
			compat_malloc_release();
			c->pass_failures = failed ? c->pass_failures + 1 : 0;
			int64_t wait = failed ? backoff_ms(FLEET_BACKOFF_FIRST_MS, FLEET_BACKOFF_MAX_MS,
							   c->pass_failures, &c->seed)
				       : busy ? (c->cfg.source_interval_ms < BUSY_INTERVAL_MS
							 ? c->cfg.source_interval_ms
							 : BUSY_INTERVAL_MS)
					      : jittered(c->cfg.source_interval_ms, &c->seed);
			next_pass = started + wait;
		}
		/* The fetch runs beside the loop, which tends it when it ends, at its deadline and
		 * when the next one is due, and never waits on it; a new commit brings the next
		 * pass forward. */
		if ((fetch_ended || clock_mono_ms() >= controller_source_due_ms(c)) &&
		    controller_tend_source(c))
			next_pass = clock_mono_ms();
		int64_t deadline = next_pass;
		int64_t source_due = controller_source_due_ms(c);
		if (source_due < deadline)
			deadline = source_due;
		if (sleep_until(deadline, controller_source_fd(c), &fetch_ended) && !got_term &&
		    !got_hup)
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
	/* One arena for the loop and the HTTP threads, and one for each of the probe's threads:
	 * only the main arena's free pages all go back to the system after a pass
	 * (compat_malloc_release), as a thread's arena keeps its top (megabytes once a thread
	 * has built a page of /status for a large fleet); but the probe's threads allocate for
	 * every request, and sharing one arena costs a pass a fifth more time. */
	compat_malloc_arenas(1 + fleet_poll_threads());
	compat_malloc_map_large(LARGE_BLOCK_BYTES);
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
	if (httpc_global_init(&err) < 0) {
		fprintf(stderr, "clawfleet controller: %s\n", err.msg);
		ctlcfg_free(&c->cfg);
		free(c);
		return 1;
	}
	log_init("controller", LOG_INFO);
	rollout_state_init(&c->state);
	pthread_mutex_init(&c->mu, NULL);
	gitsource_global_init();
	got_term = got_hup = 0;
	if (install_signals(&err) < 0 || controller_open(c, &err) < 0)
		fprintf(stderr, "clawfleet controller: %s\n", err.msg);
	else
		status = run(c);
	controller_close(c);
	close_signals();
	gitsource_global_shutdown();
	httpc_global_cleanup();
	pthread_mutex_destroy(&c->mu);
	free(c);
	return status;
}
