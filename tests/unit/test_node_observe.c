/* observe: every source of the merged probe gathered from a simulated Mac (hack/sim: the fake
 * openclaw CLI and launchctl, a real gateway on a free loopback port) in a temporary root, with
 * the example GitOps repository committed and tagged by the git CLI and cloned as the infra tree,
 * a skills root holding complete 1.4.2 and 1.4.3 packs, and a small HTTP server in this process
 * standing in for the notifier's queue and digest APIs (and for a page that is not a gateway).
 * Each test loads the agent config, observes and merges, and checks what a reader of /readyz
 * would see. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/compat.h"
#include "base/fsutil.h"
#include "base/httpc.h"
#include "base/proc.h"
#include "desired/agentcfg.h"
#include "desired/schema.h"
#include "observe/node_observe.h"
#include "observe/node_probe.h"
#include "reconcilers/skills.h"

#define TAG "v2026.7.1"
#define COMMAND_TIMEOUT_MS 20000
#define LIVE_WAIT_ROUNDS 100	/* of 50 ms: a fresh gateway binding its port */
#define CONTROL_SETTLE_US 300000 /* the gateway re-reads its control file every 200 ms */
#define REAP_ROUNDS 500		/* of 10 ms: the supervisors' exits after bootout */

static char tmp[64];
static char mac[PATH_MAX], ctl[PATH_MAX], infra[PATH_MAX], skills[PATH_MAX];
static char config_path[PATH_MAX], baseline[PATH_MAX], sim_bin[PATH_MAX];
static char launchctl[PATH_MAX], target[64], head[41], lock_sha[65];
static int gateway_port;
static struct MHD_Daemon *feeds;
static int feeds_port;

static void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= PATH_MAX)
		fail_msg("path too long");
}

/* The first word a command prints. */
static void capture_word(char *out, size_t size, const char *cmd)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, (int)size, p));
	assert_int_equal(pclose(p), 0);
	out[strcspn(out, " \n")] = '\0';
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	struct cf_err err;
	pathf(path, "%s/%s", dir, name);
	if (fsutil_write_atomic(path, text, strlen(text), 0644, &err) < 0)
		fail_msg("%s", err.msg);
}

static void drop(const char *dir, const char *name)
{
	char path[PATH_MAX];
	pathf(path, "%s/%s", dir, name);
	unlink(path);
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = compat_socket(AF_INET, SOCK_STREAM, 0, O_CLOEXEC);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

/* ---- the simulated Mac ---- */

static int run_launchctl(const char *verb, const char *flag)
{
	char *argv[] = {launchctl, (char *)verb, (char *)(flag ? flag : target),
			flag ? target : NULL, NULL};
	struct proc_spec spec = {.argv = argv, .timeout_ms = COMMAND_TIMEOUT_MS};
	struct proc_result res;
	struct cf_err err;
	int rc = proc_run(&spec, &res, &err);
	if (rc == 0)
		rc = proc_check(&spec, &res, &err);
	if (rc < 0)
		fprintf(stderr, "launchctl %s: %s\n", verb, err.msg);
	proc_result_free(&res);
	return rc;
}

static bool gateway_live(void)
{
	char url[64];
	struct httpc_request req = {.url = url,
				    .connect_timeout_ms = 1000,
				    .timeout_ms = 1000,
				    .max_reply = 4096};
	struct httpc_reply reply = {0};
	struct cf_err err;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", gateway_port);
	bool ok = httpc_do(NULL, &req, &reply, &err) == 0 && reply.status == 200;
	httpc_reply_free(&reply);
	return ok;
}

/* `launchctl kickstart -k`, as an operator (or a crash-looping gateway's KeepAlive) would. */
static int kickstart(void)
{
	if (run_launchctl("kickstart", "-k") < 0)
		return -1;
	for (int i = 0; i < LIVE_WAIT_ROUNDS; i++) {
		if (gateway_live())
			return 0;
		usleep(50000);
	}
	return -1;
}

static void set_gateway_control(const char *json)
{
	put(ctl, "gateway.control", json);
	usleep(CONTROL_SETTLE_US);
}

/* ---- the notifier's feeds, and a page that is not a gateway ---- */

static const char html_page[] = "<!doctype html><html><head><title>OpenClaw Control</title>"
				"</head><body><div id=\"app\"></div></body></html>\n";

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_size, void **req_cls)
{
	(void)cls, (void)method, (void)version, (void)upload, (void)upload_size, (void)req_cls;
	const char *body = html_page, *type = "text/html";
	if (strcmp(url, "/v1/queue-snapshot") == 0) {
		body = "{\"depth\": 3, \"limit\": 100}";
		type = "application/json";
	} else if (strcmp(url, "/v1/webhook-digest") == 0) {
		body = "{\"age_sec\": 42, \"window\": \"5m\", \"total\": 7, "
		       "\"top\": [{\"family\": \"5xx\", \"count\": 5, \"endpoint\": \"slack\"}]}";
		type = "application/json";
	} else if (strcmp(url, "/v1/digest-without-total") == 0) {
		body = "{\"age_sec\": 1, \"top\": [{\"family\": \"5xx\", \"count\": 3}, "
		       "{\"family\": \"timeout\", \"count\": 4}]}";
		type = "application/json";
	} else if (strcmp(url, "/v1/queue-no-limit") == 0) {
		body = "{\"depth\": 3}";
		type = "application/json";
	}
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", type);
	enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

/* A gateway that says it is ready but fails every other /healthz. */
static enum MHD_Result serve_flaky(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload,
				   size_t *upload_size, void **req_cls)
{
	(void)method, (void)version, (void)upload, (void)upload_size, (void)req_cls;
	atomic_int *healthz_count = cls;
	unsigned status = MHD_HTTP_OK;
	const char *body = "{\"ready\":true}";
	if (strcmp(url, "/healthz") == 0 && atomic_fetch_add(healthz_count, 1) % 2) {
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
		body = "{\"ok\":false}";
	} else if (strcmp(url, "/healthz") == 0) {
		body = "{\"ok\":true,\"status\":\"live\"}";
	}
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static struct MHD_Daemon *loopback_server(MHD_AccessHandlerCallback handler, void *cls, int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
						handler, cls, MHD_OPTION_SOCK_ADDR,
						(struct sockaddr *)&a, MHD_OPTION_END);
	const union MHD_DaemonInfo *info =
		d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	*port = info ? info->port : 0;
	return d;
}

static int feeds_start(void)
{
	feeds = loopback_server(serve, NULL, &feeds_port);
	return feeds && feeds_port > 0 ? 0 : -1;
}

/* ---- fixture ---- */

static void write_config(void)
{
	char text[4 * PATH_MAX];
	snprintf(text, sizeof(text),
		 "node: canary-gw\n"
		 "root: %s\n"
		 "infra: {path: /usr/local/share/openclaw-infra, remote: %s/up}\n"
		 "openclaw: /usr/local/bin/openclaw\n"
		 "service: {manager: launchd, label: %s, launchctl: /bin/launchctl}\n"
		 "gateway: {port: %d}\n"
		 "tokens: {current: /etc/clawfleet/token.current}\n"
		 "refresh: 1s\n",
		 mac, tmp, target, gateway_port);
	put(tmp, "agent.yaml", text);
	pathf(config_path, "%s/agent.yaml", tmp);
}

/* OpenClaw installed, its CLI and launchctl where the config says, the gateway service not
 * defined yet. */
static int make_mac(void)
{
	char cmd[8 * PATH_MAX];
	struct cf_err err;
	if (fsutil_mkdir_p(ctl, 0755, &err) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s/usr/local/bin' '%s/bin' && ln -s '%s/openclaw' "
		 "'%s/usr/local/bin/openclaw' && ln -s '%s/launchctl' '%s/bin/launchctl'",
		 mac, mac, sim_bin, mac, sim_bin, mac);
	if (system(cmd) != 0)
		return -1;
	put(ctl, "version", "2026.7.1 (3f9c2ab)\n");
	return 0;
}

/* The example repository committed and tagged, cloned as the infra tree at the tag. */
static int make_infra(void)
{
	char cmd[8 * PATH_MAX], up[PATH_MAX], src[PATH_MAX];
	if (!realpath("manifests/example-repo", src)) {
		fprintf(stderr, "manifests/example-repo: run from the repository root\n");
		return -1;
	}
	pathf(up, "%s/up", tmp);
	snprintf(cmd, sizeof(cmd),
		 "cp -R '%s' '%s' && cd '%s' && git init -q && git add -A && "
		 "git commit -q -m 'example fleet' && git tag -a -m " TAG " " TAG " && "
		 "git clone -q '%s' '%s' && git -C '%s' checkout -q --detach " TAG,
		 src, up, up, up, infra, infra);
	if (system(cmd) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse HEAD", infra);
	capture_word(head, sizeof(head), cmd);
	snprintf(cmd, sizeof(cmd), "sha256sum '%s/openclaw.lock'", infra);
	capture_word(lock_sha, sizeof(lock_sha), cmd);
	return 0;
}

/* Complete 1.4.2 and 1.4.3 packs, current -> 1.4.2 as the lock pins. */
static int make_skills(void)
{
	char pack[PATH_MAX], file[PATH_MAX];
	struct cf_err err;
	pathf(pack, "%s/pack", tmp);
	pathf(file, "%s/SKILL.md", pack);
	if (fsutil_mkdir_p(pack, 0755, &err) < 0 ||
	    fsutil_write_atomic(file, "# triage\n", 9, 0644, &err) < 0 ||
	    skills_install(skills, "1.4.2", pack, &err) < 0 ||
	    skills_install(skills, "1.4.3", pack, &err) < 0 ||
	    skills_link(skills, SKILLS_CURRENT, "1.4.2", &err) < 0) {
		fprintf(stderr, "skills: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* Another process may take the free port before the gateway binds it: try a fresh one. */
static int start_gateway(void)
{
	char cmd[3 * PATH_MAX];
	for (int i = 0; i < 3; i++) {
		gateway_port = free_port();
		snprintf(cmd, sizeof(cmd),
			 "%s/gateway\n--port\n%d\n--root\n%s\n--node\ncanary-gw\n", sim_bin,
			 gateway_port, mac);
		put(ctl, "gateway.cmd", cmd);
		if (kickstart() == 0)
			return 0;
	}
	return -1;
}

static int group_setup(void **state)
{
	(void)state;
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "%s/sim", build && *build ? build : "build");
	if (!realpath(rel, sim_bin)) {
		fprintf(stderr, "%s: no simulator binaries; build them first\n", rel);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "/tmp/test-observe-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	setenv("HOME", tmp, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("GIT_AUTHOR_NAME", "Ada Lovelace", 1);
	setenv("GIT_AUTHOR_EMAIL", "ada@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "Ada Lovelace", 1);
	setenv("GIT_COMMITTER_EMAIL", "ada@example.com", 1);
	unsetenv("OPENCLAW_PROFILE");
	pathf(mac, "%s/mac", tmp);
	pathf(ctl, "%s/sim", mac);
	pathf(infra, "%s/usr/local/share/openclaw-infra", mac);
	pathf(skills, "%s/var/db/openclaw/skills", mac);
	pathf(baseline, "%s/var/db/clawfleet/agent/latency-baseline.json", mac);
	pathf(launchctl, "%s/bin/launchctl", mac);
	snprintf(target, sizeof(target), "gui/%u/ai.openclaw.gateway", (unsigned)getuid());
	setenv("OPENCLAW_SIM_ROOT", mac, 1);
	/* The launchd supervisors outlive launchctl; as orphans they come to us to be reaped
	 * instead of to this machine's PID 1, which never reaps. */
	if (compat_adopt_orphans() < 0 || httpc_global_init(NULL) < 0)
		return -1;
	if (make_mac() < 0 || make_infra() < 0 || make_skills() < 0 || feeds_start() < 0 ||
	    start_gateway() < 0)
		return -1;
	write_config();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX];
	int rc = run_launchctl("bootout", NULL);
	for (int i = 0; i < REAP_ROUNDS && waitpid(-1, NULL, WNOHANG) >= 0; i++)
		usleep(10000);
	if (feeds)
		MHD_stop_daemon(feeds);
	httpc_global_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		rc = -1;
	return rc;
}

/* Puts the simulated Mac back as group_setup left it, whatever a test changed. */
static int restore(void **state)
{
	(void)state;
	char path[PATH_MAX];
	struct cf_err err;
	drop(ctl, "doctor");
	drop(ctl, "doctor.acme");
	put(ctl, "version", "2026.7.1 (3f9c2ab)\n");
	pathf(path, "%s/gateway.control", ctl);
	if (access(path, F_OK) == 0) {
		unlink(path);
		usleep(CONTROL_SETTLE_US);
	}
	drop(infra, "notes.txt");
	unlink(baseline);
	return skills_link(skills, SKILLS_CURRENT, "1.4.2", &err);
}

/* ---- observing ---- */

struct run {
	struct agent_config cfg;
	struct schema_set *schemas;
	struct node_observer *obs;
	struct observation *o;
	const struct probe_inputs *in;
	struct probe_result res;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void load_config(struct agent_config *cfg)
{
	struct diag_list dl = {0};
	if (agentcfg_load(config_path, cfg, &dl) < 0) {
		diag_list_print(&dl, stderr);
		diag_list_free(&dl);
		fail_msg("the test's agent config does not load");
	}
}

static void start(struct run *r)
{
	struct cf_err err;
	if (schema_set_load_embedded(&r->schemas, &err) < 0)
		fail_msg("loading the compiled CRDs: %s", err.msg);
	if (node_observer_new(&r->obs, &r->cfg, r->schemas, &err) < 0)
		fail_msg("node_observer_new: %s", err.msg);
}

/* One observation, merged as /readyz would merge it now. */
static void observe(struct run *r)
{
	struct cf_err err;
	observation_free(r->o);
	r->o = NULL;
	if (node_observe_run(r->obs, 7, TAG, &r->o, &err) < 0)
		fail_msg("node_observe_run: %s", err.msg);
	r->in = observation_inputs(r->o, now_ms());
	probe_merge(r->in, &r->res);
}

static void finish(struct run *r)
{
	observation_free(r->o);
	node_observer_free(r->obs);
	schema_set_free(r->schemas);
	agentcfg_free(&r->cfg);
}

static void print_reasons(const struct probe_result *res)
{
	for (size_t i = 0; i < res->nreasons; i++)
		fprintf(stderr, "  %s: %s\n", res->reasons[i].code, res->reasons[i].message);
}

static const struct probe_reason *reason(const struct probe_result *res, const char *code)
{
	for (size_t i = 0; i < res->nreasons; i++)
		if (strcmp(res->reasons[i].code, code) == 0)
			return &res->reasons[i];
	return NULL;
}

static void expect_reason(const struct probe_result *res, const char *code)
{
	if (!reason(res, code)) {
		print_reasons(res);
		fail_msg("no reason %s", code);
	}
}

static void expect_status(const struct probe_result *res, enum probe_status want)
{
	if (res->status != want) {
		print_reasons(res);
		fail_msg("status %s, want %s", probe_status_name(res->status),
			 probe_status_name(want));
	}
}

/* ---- tests ---- */

static void test_healthy_mac_is_green_with_every_field(void **state)
{
	(void)state;
	struct run r = {0};
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	const struct probe_inputs *in = r.in;

	expect_status(&r.res, PROBE_GREEN);
	assert_string_equal(in->node, "canary-gw");
	assert_int_equal(in->observed_generation, 7);
	assert_int_equal(in->refresh_ms, 1000);
	assert_null(in->infra.error);
	assert_string_equal(in->infra.commit, head);
	assert_string_equal(in->infra.tag, TAG);
	assert_false(in->infra.dirty);
	assert_null(in->lock_error);
	assert_non_null(in->lock);
	assert_string_equal(in->lock->file_sha256, lock_sha);
	assert_string_equal(in->lock->skills_semver, "1.4.2");
	assert_null(in->cli_error);
	assert_string_equal(in->cli->version, "2026.7.1");
	assert_string_equal(in->cli->commit, "3f9c2ab");
	assert_true(r.res.version_match);
	assert_string_equal(in->skills.current, "1.4.2");
	assert_null(in->skills.next);
	assert_null(in->skills.current_error);
	assert_true(r.res.skills_match);
	/* The node's own run, then acme's (globex names no profile). */
	assert_int_equal(in->ndoctor, 2);
	assert_null(in->doctor[0].tenant);
	assert_null(in->doctor[0].profile);
	assert_string_equal(in->doctor[1].tenant, "acme");
	assert_string_equal(in->doctor[1].profile, "acme");
	for (size_t i = 0; i < in->ndoctor; i++) {
		assert_int_equal(in->doctor[i].result.outcome, DOCTOR_JUDGED);
		assert_int_equal(in->doctor[i].result.verdict, DOCTOR_GREEN);
		assert_true(in->doctor[i].result.checks_run > 0);
	}
	assert_false(in->queue.configured);
	assert_false(in->digest.configured);
	assert_null(in->disk.error);
	assert_true(in->disk.free_percent > 0 && in->disk.free_percent <= 100);
	assert_null(in->service.error);
	assert_true(in->service.running);
	assert_int_equal(in->service.restarts_5m, 0);
	assert_null(in->gateway.error);
	assert_true(in->gateway.healthz_ok);
	assert_true(in->gateway.ready);
	assert_true(in->tcp.ok);
	assert_null(in->tcp.error);
	assert_true(in->tcp.ms >= 0);
	assert_int_equal(in->latency.samples, 5);
	assert_true(in->latency.p95_ms > 0);
	assert_true(in->latency.synthetic_failure_percent == 0);
	assert_true(in->latency.baseline_p95_ms == 0);
	assert_true(in->checked_at_ms > 0 && in->checked_at_ms <= in->now_ms);

	char *json = NULL;
	int status = 0;
	struct cf_err err;
	assert_int_equal(probe_render_json(in, &r.res, &json, NULL, &status, &err), 0);
	assert_int_equal(status, 200);
	assert_non_null(strstr(json, head));
	free(json);
	finish(&r);
}

static void test_doctor_red_turns_the_node_red(void **state)
{
	(void)state;
	struct run r = {0};
	put(ctl, "doctor", "{\"verdict\":\"red\"}\n");
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	expect_status(&r.res, PROBE_RED);
	expect_reason(&r.res, "doctor.red");
	assert_int_equal(r.res.doctor_verdict, DOCTOR_RED);
	assert_int_equal(r.res.doctor_first_bad, 0);
	assert_string_equal(r.in->doctor[0].result.first_bad.check_id, "skills.semver");
	finish(&r);
}

/* Each tenant's doctor runs under its profile: only acme's is red, and the reason says so. */
static void test_tenant_doctor_runs_with_its_profile(void **state)
{
	(void)state;
	struct run r = {0};
	put(ctl, "doctor.acme", "{\"verdict\":\"red\"}\n");
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	expect_status(&r.res, PROBE_RED);
	assert_int_equal(r.in->doctor[0].result.verdict, DOCTOR_GREEN);
	assert_int_equal(r.in->doctor[1].result.verdict, DOCTOR_RED);
	const struct probe_reason *why = reason(&r.res, "doctor.red");
	assert_non_null(why);
	assert_non_null(strstr(why->message, "tenant acme"));
	finish(&r);
}

static void test_doctor_yellow_degrades(void **state)
{
	(void)state;
	struct run r = {0};
	put(ctl, "doctor", "{\"verdict\":\"yellow\"}\n");
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	expect_status(&r.res, PROBE_DEGRADED);
	expect_reason(&r.res, "doctor.yellow");
	finish(&r);
}

/* Both runs hang; they run side by side, so each is cut at the one timeout. */
static void test_hung_doctor_is_cut_at_its_timeout(void **state)
{
	(void)state;
	struct run r = {0};
	put(ctl, "doctor", "{\"mode\":\"hang\"}\n");
	load_config(&r.cfg);
	r.cfg.doctor_timeout_ms = 1000;
	start(&r);
	observe(&r);
	expect_status(&r.res, PROBE_RED);
	expect_reason(&r.res, "doctor.timeout");
	assert_int_equal(r.in->ndoctor, 2);
	assert_int_equal(r.in->doctor[0].result.outcome, DOCTOR_TIMED_OUT);
	assert_int_equal(r.in->doctor[1].result.outcome, DOCTOR_TIMED_OUT);
	/* The other sources were still read. */
	assert_true(r.in->gateway.ready);
	assert_string_equal(r.in->skills.current, "1.4.2");
	finish(&r);
}

static void test_garbage_doctor_is_not_json(void **state)
{
	(void)state;
	struct run r = {0};
	put(ctl, "doctor", "{\"mode\":\"garbage\"}\n");
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	expect_status(&r.res, PROBE_RED);
	expect_reason(&r.res, "doctor.not_json");
	finish(&r);
}

static void test_gateway_not_ready(void **state)
{
	(void)state;
	struct run r = {0};
	set_gateway_control("{\"ready\":false,\"failing\":[\"channels.slack\"]}\n");
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	expect_status(&r.res, PROBE_RED);
	expect_reason(&r.res, "gateway.not_ready");
	assert_null(r.in->gateway.error);
	assert_true(r.in->gateway.healthz_ok);
	assert_false(r.in->gateway.ready);
	/* A gateway that is not ready is judged by that, not by failed synthetic checks that would
	 * linger in the window once it is ready again. */
	assert_int_equal(r.in->latency.samples, 0);
	finish(&r);
}

/* A 200 HTML page where the gateway should answer is not a ready gateway. */
static void test_html_page_is_not_a_ready_gateway(void **state)
{
	(void)state;
	struct run r = {0};
	load_config(&r.cfg);
	r.cfg.gateway_port = feeds_port;
	start(&r);
	observe(&r);
	expect_status(&r.res, PROBE_RED);
	expect_reason(&r.res, "gateway.not_ready");
	assert_false(r.in->gateway.ready);
	assert_non_null(r.in->gateway.error);
	assert_non_null(strstr(r.in->gateway.error, "HTTP 200"));
	assert_non_null(strstr(r.in->gateway.error, "<!doctype html>"));
	assert_non_null(strstr(r.in->gateway.error, "not ready"));
	assert_int_equal(r.in->latency.samples, 0); /* no synthetic checks of a page */
	finish(&r);
}

static void test_failing_synthetic_checks_are_red(void **state)
{
	(void)state;
	struct run r = {0};
	atomic_int healthz_count = 0;
	int port = 0;
	struct MHD_Daemon *flaky = loopback_server(serve_flaky, &healthz_count, &port);
	assert_non_null(flaky);
	load_config(&r.cfg);
	r.cfg.gateway_port = port;
	start(&r);
	observe(&r);
	MHD_stop_daemon(flaky);
	assert_true(r.in->gateway.ready);
	assert_int_equal(r.in->latency.samples, 5);
	/* Checks 2 to 6 of this server's /healthz: the 2nd, 4th and 6th fail. */
	assert_true(fabs(r.in->latency.synthetic_failure_percent - 60.0) < 0.001);
	expect_status(&r.res, PROBE_RED);
	expect_reason(&r.res, "synthetic.failures");
	finish(&r);
}

static void test_stopped_gateway_is_red(void **state)
{
	(void)state;
	struct run r = {0};
	load_config(&r.cfg);
	r.cfg.gateway_port = free_port();
	start(&r);
	observe(&r);
	expect_status(&r.res, PROBE_RED);
	expect_reason(&r.res, "tcp.connect_failed");
	expect_reason(&r.res, "gateway.not_ready");
	assert_false(r.in->tcp.ok);
	assert_non_null(strstr(r.in->tcp.error, "refused"));
	finish(&r);
}

static void test_restart_counted_unless_announced(void **state)
{
	(void)state;
	struct run r = {0};
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	assert_int_equal(r.in->service.restarts_5m, 0);
	assert_int_equal(kickstart(), 0);
	observe(&r);
	assert_true(r.in->service.running);
	assert_int_equal(r.in->service.restarts_5m, 1);
	node_observer_note_kickstart(r.obs);
	assert_int_equal(kickstart(), 0);
	observe(&r);
	assert_true(r.in->service.running);
	assert_int_equal(r.in->service.restarts_5m, 1);
	assert_null(reason(&r.res, "service.crash_loop"));
	finish(&r);
}

static void test_three_restarts_are_a_crash_loop(void **state)
{
	(void)state;
	struct run r = {0};
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(kickstart(), 0);
		observe(&r);
	}
	assert_int_equal(r.in->service.restarts_5m, 3);
	expect_status(&r.res, PROBE_RED);
	expect_reason(&r.res, "service.crash_loop");
	finish(&r);
}

static void test_skills_semver_mismatch_is_red(void **state)
{
	(void)state;
	struct run r = {0};
	struct cf_err err;
	assert_int_equal(skills_link(skills, SKILLS_CURRENT, "1.4.3", &err), 0);
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	assert_string_equal(r.in->skills.current, "1.4.3");
	assert_false(r.res.skills_match);
	expect_status(&r.res, PROBE_RED);
	expect_reason(&r.res, "skills.semver_mismatch");
	finish(&r);
}

static void test_dirty_infra_is_red(void **state)
{
	(void)state;
	struct run r = {0};
	put(infra, "notes.txt", "a hand edit\n");
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	assert_true(r.in->infra.dirty);
	assert_null(r.in->infra.error);
	assert_string_equal(r.in->infra.commit, head);
	expect_status(&r.res, PROBE_RED);
	expect_reason(&r.res, "infra.dirty");
	finish(&r);
}

static void test_missing_infra_tree(void **state)
{
	(void)state;
	struct run r = {0};
	load_config(&r.cfg);
	free(r.cfg.infra_path);
	r.cfg.infra_path = strdup("/srv/no-infra-here");
	start(&r);
	observe(&r);
	expect_status(&r.res, PROBE_RED);
	expect_reason(&r.res, "infra.unreadable");
	expect_reason(&r.res, "lock.unreadable");
	assert_non_null(strstr(r.in->infra.error, "not checked out yet"));
	assert_null(r.in->lock);
	assert_int_equal(r.in->ndoctor, 1);
	finish(&r);
}

static void test_cli_version_against_the_lock(void **state)
{
	(void)state;
	struct run r = {0};
	put(ctl, "version", "2026.7.0\n");
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	assert_string_equal(r.in->cli->version, "2026.7.0");
	expect_status(&r.res, PROBE_RED);
	expect_reason(&r.res, "lock.version_mismatch");

	drop(ctl, "version"); /* OpenClaw not installed: the CLI is not found */
	observe(&r);
	assert_null(r.in->cli);
	assert_non_null(r.in->cli_error);
	expect_reason(&r.res, "cli.version_unknown");
	expect_reason(&r.res, "doctor.unavailable");
	finish(&r);
}

static void set_url(char **slot, const char *path)
{
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", feeds_port, path);
	free(*slot);
	*slot = strdup(url);
}

static void test_queue_and_digest_fill_their_fields(void **state)
{
	(void)state;
	struct run r = {0};
	load_config(&r.cfg);
	set_url(&r.cfg.queue, "/v1/queue-snapshot");
	set_url(&r.cfg.digest, "/v1/webhook-digest");
	start(&r);
	observe(&r);
	expect_status(&r.res, PROBE_GREEN);
	assert_true(r.in->queue.configured);
	assert_null(r.in->queue.error);
	assert_int_equal(r.in->queue.depth, 3);
	assert_int_equal(r.in->queue.limit, 100);
	assert_true(r.in->digest.configured);
	assert_null(r.in->digest.error);
	assert_int_equal(r.in->digest.age_sec, 42);
	assert_int_equal(r.in->digest.total, 7); /* the notifier's total, not the rows' 5 */
	assert_int_equal(json_object_array_length(r.in->digest.top), 1);

	char *json = NULL;
	int status = 0;
	struct cf_err err;
	assert_int_equal(probe_render_json(r.in, &r.res, &json, NULL, &status, &err), 0);
	assert_non_null(strstr(json, "\"endpoint\":\"slack\""));
	free(json);
	finish(&r);

	/* A notifier that gives no total: the rows' counts. */
	memset(&r, 0, sizeof(r));
	load_config(&r.cfg);
	set_url(&r.cfg.digest, "/v1/digest-without-total");
	start(&r);
	observe(&r);
	assert_null(r.in->digest.error);
	assert_int_equal(r.in->digest.total, 7);
	finish(&r);
}

/* Every call is on loopback: a proxy the environment names (here one that refuses) is not used,
 * for the gateway nor for the feeds. */
static void test_loopback_calls_never_use_a_proxy(void **state)
{
	(void)state;
	struct run r = {0};
	char proxy[64];
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", free_port());
	setenv("http_proxy", proxy, 1);
	setenv("ALL_PROXY", proxy, 1);
	load_config(&r.cfg);
	set_url(&r.cfg.queue, "/v1/queue-snapshot");
	set_url(&r.cfg.digest, "/v1/webhook-digest");
	start(&r);
	observe(&r);
	unsetenv("http_proxy");
	unsetenv("ALL_PROXY");
	assert_null(r.in->gateway.error);
	assert_true(r.in->gateway.ready);
	assert_null(r.in->queue.error);
	assert_null(r.in->digest.error);
	finish(&r);
}

static void test_unreadable_feeds_degrade(void **state)
{
	(void)state;
	struct run r = {0};
	char closed[128];
	load_config(&r.cfg);
	set_url(&r.cfg.queue, "/v1/queue-no-limit");
	snprintf(closed, sizeof(closed), "http://127.0.0.1:%d/v1/webhook-digest", free_port());
	r.cfg.digest = strdup(closed);
	start(&r);
	observe(&r);
	expect_status(&r.res, PROBE_DEGRADED);
	expect_reason(&r.res, "digest.unavailable");
	expect_reason(&r.res, "queue.unavailable");
	assert_non_null(strstr(r.in->queue.error, "\"limit\""));
	assert_non_null(strstr(r.in->digest.error, closed));
	finish(&r);

	/* An HTML page is no digest either. */
	memset(&r, 0, sizeof(r));
	load_config(&r.cfg);
	set_url(&r.cfg.digest, "/");
	start(&r);
	observe(&r);
	expect_status(&r.res, PROBE_DEGRADED);
	expect_reason(&r.res, "digest.unavailable");
	assert_non_null(strstr(r.in->digest.error, "not a JSON object"));
	finish(&r);
}

/* The p95 before a kickstart is the baseline, kept on disk for the next agent. */
static void test_kickstart_records_the_latency_baseline(void **state)
{
	(void)state;
	struct run r = {0};
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	node_observer_note_kickstart(r.obs); /* 5 samples are too few for a baseline */
	assert_int_not_equal(access(baseline, F_OK), 0);
	observe(&r);
	observe(&r);
	assert_int_equal(r.in->latency.samples, 10);
	double p95 = r.in->latency.p95_ms;
	node_observer_note_kickstart(r.obs);
	assert_int_equal(access(baseline, F_OK), 0);
	observe(&r);
	assert_int_equal(r.in->latency.samples, 5); /* the new build is judged on its own */
	assert_true(fabs(r.in->latency.baseline_p95_ms - p95) < 0.001);
	finish(&r);

	memset(&r, 0, sizeof(r));
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	assert_true(fabs(r.in->latency.baseline_p95_ms - p95) < 0.001);
	finish(&r);
}

/* ---- the Promotion's thresholds and the baseline's build ---- */

static char head_analysis[41]; /* a commit after the tag whose Promotion sets analysis */

/* Checks out TAG's commit (want NULL) or the analysis commit, made on first use. */
static void infra_at(const char *want)
{
	char cmd[4 * PATH_MAX];
	if (!want) {
		snprintf(cmd, sizeof(cmd), "git -C '%s' checkout -q --detach " TAG, infra);
		assert_int_equal(system(cmd), 0);
		return;
	}
	if (!head_analysis[0]) {
		snprintf(cmd, sizeof(cmd),
			 "git -C '%s' checkout -q --detach " TAG " && sed -i 's/^    analysis:$/"
			 "    analysis:\\n      maxP95Ratio: 1\\n      maxRestarts5m: 7\\n"
			 "      minDiskFreePercent: 0.5\\n      maxSyntheticFailurePercent: 50/' "
			 "'%s/clawfleet/promotion.yaml' && git -C '%s' commit -qam 'analysis'",
			 infra, infra, infra);
		assert_int_equal(system(cmd), 0);
		snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse HEAD", infra);
		capture_word(head_analysis, sizeof(head_analysis), cmd);
		return;
	}
	snprintf(cmd, sizeof(cmd), "git -C '%s' checkout -q --detach %s", infra, head_analysis);
	assert_int_equal(system(cmd), 0);
}

/* The node is judged with the thresholds of the Promotion at the commit it runs. */
static void test_thresholds_come_from_the_promotion(void **state)
{
	(void)state;
	struct run r = {0};
	load_config(&r.cfg);
	start(&r);
	observe(&r);
	assert_non_null(r.in->thresholds);
	assert_int_equal(r.in->thresholds->max_restarts_5m, 3);
	assert_true(r.in->thresholds->min_disk_free_percent == 10.0);
	infra_at(head_analysis);
	observe(&r);
	expect_status(&r.res, PROBE_GREEN);
	assert_string_equal(r.in->infra.commit, head_analysis);
	assert_true(r.in->thresholds->max_p95_ratio == 1.0);
	assert_int_equal(r.in->thresholds->max_restarts_5m, 7);
	assert_true(r.in->thresholds->min_disk_free_percent == 0.5);
	assert_true(r.in->thresholds->max_synthetic_failure_percent == 50.0);
	finish(&r);
	infra_at(NULL);
}

static void baseline_file(double *p95, char commit[41])
{
	char *text = NULL;
	size_t len;
	struct cf_err err;
	struct json_object *doc, *v;
	if (fsutil_read_file(baseline, 4096, &text, &len, &err) < 0)
		fail_msg("%s", err.msg);
	doc = json_tokener_parse(text);
	assert_non_null(doc);
	assert_true(json_object_object_get_ex(doc, "p95Ms", &v));
	*p95 = json_object_get_double(v);
	assert_true(json_object_object_get_ex(doc, "commit", &v));
	snprintf(commit, 41, "%s", json_object_get_string(v));
	json_object_put(doc);
	free(text);
}

/* A kickstart back to the build the baseline was measured on (a rollback) keeps the baseline,
 * and so does one after a build that is red by its own samples; any other takes the running
 * build's p95, stamped with that build. */
static void test_kickstart_never_baselines_a_rolled_back_or_red_build(void **state)
{
	(void)state;
	struct run r = {0};
	double p95, kept;
	char commit[41];
	load_config(&r.cfg);
	infra_at(head_analysis);
	infra_at(NULL);
	start(&r);
	observe(&r);
	observe(&r);
	node_observer_note_kickstart(r.obs); /* the tag's build restarted */
	baseline_file(&kept, commit);
	assert_string_equal(commit, head);

	/* The new build comes, and is rolled back: its p95 never becomes the baseline. */
	infra_at(head_analysis);
	observe(&r);
	observe(&r);
	node_observer_note_kickstart(r.obs); /* the tag's samples, taken before the new build */
	baseline_file(&kept, commit);
	assert_string_equal(commit, head);
	observe(&r);
	observe(&r);
	infra_at(NULL);
	node_observer_note_kickstart(r.obs);
	baseline_file(&p95, commit);
	assert_true(p95 == kept);
	assert_string_equal(commit, head);

	/* Forward again, then the new build turns slow (over 1x the baseline its Promotion
	 * allows): a restart of it keeps the baseline too. */
	observe(&r);
	observe(&r);
	infra_at(head_analysis);
	node_observer_note_kickstart(r.obs);
	baseline_file(&kept, commit);
	set_gateway_control("{\"slowMs\": 80}");
	observe(&r);
	observe(&r);
	assert_true(r.in->latency.p95_ms > 50);
	node_observer_note_kickstart(r.obs);
	baseline_file(&p95, commit);
	assert_true(p95 == kept);
	assert_string_equal(commit, head);
	finish(&r);
	infra_at(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_healthy_mac_is_green_with_every_field, restore),
		cmocka_unit_test_teardown(test_doctor_red_turns_the_node_red, restore),
		cmocka_unit_test_teardown(test_tenant_doctor_runs_with_its_profile, restore),
		cmocka_unit_test_teardown(test_doctor_yellow_degrades, restore),
		cmocka_unit_test_teardown(test_hung_doctor_is_cut_at_its_timeout, restore),
		cmocka_unit_test_teardown(test_garbage_doctor_is_not_json, restore),
		cmocka_unit_test_teardown(test_gateway_not_ready, restore),
		cmocka_unit_test_teardown(test_html_page_is_not_a_ready_gateway, restore),
		cmocka_unit_test_teardown(test_failing_synthetic_checks_are_red, restore),
		cmocka_unit_test_teardown(test_stopped_gateway_is_red, restore),
		cmocka_unit_test_teardown(test_restart_counted_unless_announced, restore),
		cmocka_unit_test_teardown(test_three_restarts_are_a_crash_loop, restore),
		cmocka_unit_test_teardown(test_skills_semver_mismatch_is_red, restore),
		cmocka_unit_test_teardown(test_dirty_infra_is_red, restore),
		cmocka_unit_test_teardown(test_missing_infra_tree, restore),
		cmocka_unit_test_teardown(test_cli_version_against_the_lock, restore),
		cmocka_unit_test_teardown(test_queue_and_digest_fill_their_fields, restore),
		cmocka_unit_test_teardown(test_loopback_calls_never_use_a_proxy, restore),
		cmocka_unit_test_teardown(test_unreadable_feeds_degrade, restore),
		cmocka_unit_test_teardown(test_kickstart_records_the_latency_baseline, restore),
		cmocka_unit_test_teardown(test_thresholds_come_from_the_promotion, restore),
		cmocka_unit_test_teardown(test_kickstart_never_baselines_a_rolled_back_or_red_build,
					  restore),
	};
	return cmocka_run_group_tests_name("observe", tests, group_setup, group_teardown);
}
