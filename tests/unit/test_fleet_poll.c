/* fleet_poll: the controller's poll of every node's /readyz against a libmicrohttpd server in
 * this process on 127.0.0.1, which plays every agent at once: each MacNode's address is
 * http://127.0.0.1:<port>/<name>, and the documents it serves are rendered by the real probe
 * module, so the poller reads exactly what an agent writes. Some paths misbehave on purpose (a
 * node that sleeps, garbage, another node's name, an oversized body, a redirect, a 404), and the
 * server counts the connections it accepts and the requests it holds at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/compat.h"
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "observe/fleet_poll.h"
#include "observe/node_probe.h"

#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define FLEET 200	    /* nodes behind one server */
#define GATED 32	    /* nodes behind the gate: twice its width */
#define GATE_WIDTH 16
#define GATE_WAIT_SEC 5	    /* a gate that never fills opens anyway */
#define SLOW_HOLD_MS 3000   /* how long /slow holds its answer, well past the test's timeout */
#define BIG_BODY 8192
#define SMALL_MAX_BODY 4096
#define HOSTS 6		    /* servers on ports of their own, for a fleet of many hosts */

struct rendered {
	char *json;
	int status;
	char probe_sha[65];
	char codes[PROBE_MAX_REASONS + 1][64];
	size_t ncodes;
};

static struct {
	struct MHD_Daemon *daemon;
	int port;
	atomic_int connections;
	atomic_bool stopping;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int held, max_held;
	bool gate_open;
	struct rendered green, red, liar, moved, slow;
	struct rendered fleet[FLEET], gated[GATED];
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static char file_root[64];

/* ---- documents ---- */

/* A healthy gateway as an agent would render it; red breaks the skills link, the service and the
 * gateway, so the document carries several red reasons in the probe's order. */
static void render(struct rendered *out, const char *node, bool red)
{
	static char lock_version[] = "2026.7.1", lock_semver[] = "1.4.2";
	struct openclaw_lock lock = {.present = true, .version = lock_version,
				     .skills_semver = lock_semver};
	struct openclaw_version cli = {.version = "2026.7.1"};
	struct probe_doctor doctor = {.tenant = "acme", .profile = "acme"};
	struct probe_inputs in = {0};
	struct probe_result res;
	struct cf_err err = {{0}};
	size_t len = 0;

	memset(lock.file_sha256, 'a', 64);
	doctor.result.outcome = DOCTOR_JUDGED;
	doctor.result.verdict = DOCTOR_GREEN;
	doctor.result.ok = true;
	in.node = node;
	in.observed_generation = 7;
	in.checked_at_ms = in.now_ms = 1785585600000;
	in.infra.tag = "v2026.7.1";
	in.infra.commit = COMMIT;
	in.lock = &lock;
	in.cli = &cli;
	in.skills.current = red ? "1.4.1" : "1.4.2";
	in.skills.next = "1.4.3";
	in.doctor = &doctor;
	in.ndoctor = 1;
	in.disk.free_percent = 55;
	in.service.running = !red;
	in.gateway.healthz_ok = !red;
	in.gateway.ready = !red;
	in.tcp.ok = true;
	in.tcp.ms = 1;
	probe_merge(&in, &res);
	assert_int_equal(res.status, red ? PROBE_RED : PROBE_GREEN);
	if (probe_render_json(&in, &res, &out->json, &len, &out->status, &err) < 0)
		fail_msg("%s", err.msg);
	out->ncodes = res.nreasons;
	for (size_t i = 0; i < res.nreasons; i++)
		snprintf(out->codes[i], sizeof(out->codes[i]), "%s", res.reasons[i].code);
	struct json_object *doc = NULL, *sha = NULL;
	if (jsonparse_object(out->json, len, READYZ_DEPTH, &doc, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(json_object_object_get_ex(doc, "probeSha256", &sha));
	snprintf(out->probe_sha, sizeof(out->probe_sha), "%s", json_object_get_string(sha));
	json_object_put(doc);
}

/* ---- the server ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *body,
			     size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result serve_doc(struct MHD_Connection *c, const struct rendered *d)
{
	return reply(c, (unsigned int)d->status, d->json, strlen(d->json));
}

/* Holds the first requests until GATE_WIDTH of them are held together (or GATE_WAIT_SEC passed);
 * later ones pass. Records the most requests ever inside at once. */
static void gate(void)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += GATE_WAIT_SEC;
	pthread_mutex_lock(&srv.mu);
	if (++srv.held > srv.max_held)
		srv.max_held = srv.held;
	if (srv.held >= GATE_WIDTH && !srv.gate_open) {
		srv.gate_open = true;
		pthread_cond_broadcast(&srv.cond);
	}
	while (!srv.gate_open && pthread_cond_timedwait(&srv.cond, &srv.mu, &until) == 0)
		;
	srv.held--;
	pthread_mutex_unlock(&srv.mu);
}

static void hold_slow(void)
{
	for (int waited = 0; waited < SLOW_HOLD_MS && !atomic_load(&srv.stopping); waited += 10)
		usleep(10000);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **ctx)
{
	static char big[BIG_BODY + 1];
	static int seen;
	int i = -1;
	(void)cls;
	(void)method;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;

	/* Answered on the second call: a response queued before libmicrohttpd has read the whole
	 * request closes the connection. */
	if (!*ctx) {
		*ctx = &seen;
		return MHD_YES;
	}

	if (strcmp(url, "/green/readyz") == 0)
		return serve_doc(c, &srv.green);
	if (strcmp(url, "/red/readyz") == 0)
		return serve_doc(c, &srv.red);
	if (strcmp(url, "/liar/readyz") == 0)
		return serve_doc(c, &srv.liar);
	if (strcmp(url, "/moved-here/readyz") == 0)
		return serve_doc(c, &srv.moved);
	if (strcmp(url, "/slow/readyz") == 0) {
		hold_slow();
		return serve_doc(c, &srv.slow);
	}
	if (strcmp(url, "/pending/readyz") == 0) {
		static const char pending[] =
			"{\"node\":\"pending\",\"status\":\"red\",\"reasons\":[{\"code\":"
			"\"probe.pending\",\"message\":\"the agent has not finished its first "
			"observation of this node yet\"}]}";
		return reply(c, 503, pending, sizeof(pending) - 1);
	}
	if (strcmp(url, "/garbage/readyz") == 0)
		return reply(c, 200, "<html>It works!</html>", 22);
	if (strcmp(url, "/typed/readyz") == 0) {
		static const char typed[] =
			"{\"node\":\"typed\",\"status\":\"green\",\"observedGeneration\":\"7\"}";
		return reply(c, 200, typed, sizeof(typed) - 1);
	}
	if (strcmp(url, "/big/readyz") == 0) {
		memset(big, ' ', BIG_BODY);
		static const char head[] = "{\"node\":\"big\",\"status\":\"green\"}";
		memcpy(big, head, sizeof(head) - 1);
		return reply(c, 200, big, BIG_BODY);
	}
	if (strcmp(url, "/moved/readyz") == 0) {
		struct MHD_Response *r =
			MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, "Location", "/moved-here/readyz");
		enum MHD_Result rc = MHD_queue_response(c, 302, r);
		MHD_destroy_response(r);
		return rc;
	}
	if (sscanf(url, "/n/%d/readyz", &i) == 1 && i >= 0 && i < FLEET)
		return serve_doc(c, &srv.fleet[i]);
	if (sscanf(url, "/gate/%d/readyz", &i) == 1 && i >= 0 && i < GATED) {
		gate();
		return serve_doc(c, &srv.gated[i]);
	}
	return reply(c, 404, "not found", 9);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)c;
	(void)socket_ctx;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&srv.connections, 1);
}

/* A TCP socket (compat_socket flags) bound to a free loopback port, *port; listening with
 * backlog when it is above 0. */
static int loopback_socket(int flags, int backlog, int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = compat_socket(AF_INET, SOCK_STREAM, 0, flags);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	if (backlog > 0)
		assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A loopback port nothing listens on. */
static int refused_port(void)
{
	int port;
	close(loopback_socket(O_CLOEXEC, 0, &port));
	return port;
}

/* A server on a free loopback port, thread per connection so a held request holds no one
 * else; NULL when it does not start. */
static struct MHD_Daemon *start_server(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0,
		NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_END);
	const union MHD_DaemonInfo *info =
		d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	*port = info ? info->port : 0;
	return d;
}

static int group_setup(void **state)
{
	char name[32];
	(void)state;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return -1;
	render(&srv.green, "green", false);
	render(&srv.red, "red", true);
	render(&srv.liar, "someone-else", false);
	render(&srv.moved, "moved", false);
	render(&srv.slow, "slow", false);
	for (int i = 0; i < FLEET; i++) {
		snprintf(name, sizeof(name), "node-%d", i);
		render(&srv.fleet[i], name, false);
	}
	for (int i = 0; i < GATED; i++) {
		snprintf(name, sizeof(name), "gate-%d", i);
		render(&srv.gated[i], name, false);
	}
	srv.daemon = start_server(&srv.port);
	if (!srv.daemon)
		return -1;

	/* A directory that would answer as a probe if file:// were followed. */
	snprintf(file_root, sizeof(file_root), "/tmp/fleet-probe-test.XXXXXX");
	if (!mkdtemp(file_root))
		return -1;
	char path[PATH_MAX];
	struct cf_err err;
	snprintf(path, sizeof(path), "%s/readyz", file_root);
	if (fsutil_write_atomic(path, srv.green.json, strlen(srv.green.json), 0644, &err) < 0)
		return -1;
	return srv.port > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	struct cf_err err;
	(void)state;
	atomic_store(&srv.stopping, true);
	MHD_stop_daemon(srv.daemon);
	fsutil_remove_tree(file_root, &err);
	free(srv.green.json);
	free(srv.red.json);
	free(srv.liar.json);
	free(srv.moved.json);
	free(srv.slow.json);
	for (int i = 0; i < FLEET; i++)
		free(srv.fleet[i].json);
	for (int i = 0; i < GATED; i++)
		free(srv.gated[i].json);
	curl_global_cleanup();
	return 0;
}

/* ---- a desired state of nodes ---- */

struct fleet {
	struct mac_node nodes[FLEET];
	char names[FLEET][32];
	char addresses[FLEET][PATH_MAX];
	struct desired_state ds;
};

static void add_node(struct fleet *f, const char *name, const char *address_fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_node(struct fleet *f, const char *name, const char *address_fmt, ...)
{
	size_t i = f->ds.nnodes++;
	va_list ap;
	assert_true(i < FLEET);
	snprintf(f->names[i], sizeof(f->names[i]), "%s", name);
	va_start(ap, address_fmt);
	vsnprintf(f->addresses[i], sizeof(f->addresses[i]), address_fmt, ap);
	va_end(ap);
	f->nodes[i] = (struct mac_node){.name = f->names[i], .address = f->addresses[i],
					.role = NODE_GATEWAY};
	f->ds.nodes = f->nodes;
}

/* A node served by the test server under its own name. */
static void add_served(struct fleet *f, const char *name)
{
	add_node(f, name, "http://127.0.0.1:%d/%s", srv.port, name);
}

static struct fleet_poll *new_probe(unsigned max_parallel, int timeout_ms, size_t max_body)
{
	struct fleet_poll_config cfg = {.max_parallel = max_parallel, .timeout_ms = timeout_ms,
					 .max_body = max_body};
	struct fleet_poll *fp = NULL;
	struct cf_err err = {{0}};
	if (fleet_poll_new(&fp, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	return fp;
}

static struct fleet_poll_result *poll_fleet(struct fleet_poll *fp, const struct fleet *f)
{
	struct fleet_poll_result *r = NULL;
	struct cf_err err = {{0}};
	if (fleet_poll_poll(fp, &f->ds, &r, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(r->nnodes, f->ds.nnodes);
	return r;
}

/* Polls one served node with a timeout of timeout_ms and a body cap of max_body. */
static struct fleet_poll_result *poll_one(const char *name, int timeout_ms, size_t max_body)
{
	static struct fleet f;
	memset(&f, 0, sizeof(f));
	add_served(&f, name);
	struct fleet_poll *fp = new_probe(0, timeout_ms, max_body);
	struct fleet_poll_result *r = poll_fleet(fp, &f);
	fleet_poll_free(fp);
	return r;
}

/* Node i of r is unreachable, and its error says why. */
static void assert_unreachable(const struct fleet_poll_result *r, size_t i, const char *why)
{
	const struct fleet_poll_node *n = &r->nodes[i];
	assert_false(r->obs[i].reachable);
	assert_non_null(n->error);
	if (!strstr(n->error, why))
		fail_msg("%s: \"%s\" does not say \"%s\"", r->obs[i].name, n->error, why);
}

/* ---- tests ---- */

static void test_green_node_read_whole(void **state)
{
	(void)state;
	struct fleet_poll_result *r = poll_one("green", 0, 0);
	const struct fleet_poll_node *n = &r->nodes[0];
	const struct node_observation *o = &r->obs[0];

	assert_null(n->error);
	assert_int_equal(n->http_status, 200);
	assert_true(n->latency_us > 0);
	assert_true(o->reachable);
	assert_string_equal(o->name, "green");
	assert_int_equal(o->status, PROBE_GREEN);
	assert_int_equal(o->nreasons, 0);
	assert_int_equal(o->observed_generation, 7);
	assert_string_equal(o->tag, "v2026.7.1");
	assert_string_equal(o->commit, COMMIT);
	assert_string_equal(o->skills_current, "1.4.2");
	assert_string_equal(o->skills_next, "1.4.3");
	assert_string_equal(o->lock_sha256,
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_true(o->version_match);
	assert_string_equal(o->probe_sha256, srv.green.probe_sha);
	fleet_poll_result_free(r);
}

static void test_red_node_keeps_reasons_in_order(void **state)
{
	(void)state;
	struct fleet_poll_result *r = poll_one("red", 0, 0);
	const struct node_observation *o = &r->obs[0];

	assert_int_equal(srv.red.status, 503);
	assert_int_equal(r->nodes[0].http_status, 503);
	assert_true(o->reachable);
	assert_int_equal(o->status, PROBE_RED);
	assert_true(srv.red.ncodes >= 3);
	assert_int_equal(o->nreasons, srv.red.ncodes);
	for (size_t i = 0; i < o->nreasons; i++)
		assert_string_equal(o->reasons[i], srv.red.codes[i]);
	assert_string_equal(o->skills_current, "1.4.1");
	fleet_poll_result_free(r);
}

/* An agent that has not observed its node yet answers 503 with a bare document. */
static void test_pending_agent_is_red_not_unreachable(void **state)
{
	(void)state;
	struct fleet_poll_result *r = poll_one("pending", 0, 0);
	const struct node_observation *o = &r->obs[0];

	assert_true(o->reachable);
	assert_int_equal(o->status, PROBE_RED);
	assert_int_equal(o->nreasons, 1);
	assert_string_equal(o->reasons[0], "probe.pending");
	assert_int_equal(o->observed_generation, 0);
	assert_null(o->tag);
	assert_null(o->commit);
	assert_null(o->skills_current);
	assert_null(o->lock_sha256);
	assert_false(o->version_match);
	assert_null(o->probe_sha256);
	fleet_poll_result_free(r);
}

static void test_slow_node_times_out(void **state)
{
	(void)state;
	struct fleet_poll_result *r = poll_one("slow", 300, 0);
	assert_unreachable(r, 0, "timed out");
	assert_int_equal(r->nodes[0].http_status, 0);
	fleet_poll_result_free(r);
}

static void test_refused_port_is_unreachable(void **state)
{
	(void)state;
	static struct fleet f;
	memset(&f, 0, sizeof(f));
	add_node(&f, "gone", "http://127.0.0.1:%d", refused_port());
	struct fleet_poll *fp = new_probe(0, 0, 0);
	struct fleet_poll_result *r = poll_fleet(fp, &f);
	assert_unreachable(r, 0, "connect");
	assert_int_equal(r->nodes[0].http_status, 0);
	fleet_poll_result_free(r);
	fleet_poll_free(fp);
}

static void test_garbage_is_not_a_probe_document(void **state)
{
	(void)state;
	struct fleet_poll_result *r = poll_one("garbage", 0, 0);
	assert_unreachable(r, 0, "not a probe document");
	assert_int_equal(r->nodes[0].http_status, 200);
	fleet_poll_result_free(r);

	r = poll_one("typed", 0, 0);
	assert_unreachable(r, 0, "not a probe document: \"observedGeneration\"");
	fleet_poll_result_free(r);
}

/* A misrouted address must never pass for the node it names. */
static void test_other_node_name_is_unreachable(void **state)
{
	(void)state;
	struct fleet_poll_result *r = poll_one("liar", 0, 0);
	assert_unreachable(r, 0, "answered as someone-else");
	assert_null(r->obs[0].tag);
	assert_null(r->obs[0].probe_sha256);
	fleet_poll_result_free(r);
}

static void test_body_over_cap_is_unreachable(void **state)
{
	(void)state;
	struct fleet_poll_result *r = poll_one("big", 0, SMALL_MAX_BODY);
	assert_unreachable(r, 0, "over 4096 bytes");
	fleet_poll_result_free(r);

	/* The same document within a larger cap is read. */
	r = poll_one("big", 0, 0);
	assert_true(r->obs[0].reachable);
	fleet_poll_result_free(r);
}

static void test_other_statuses_and_redirects_are_unreachable(void **state)
{
	(void)state;
	struct fleet_poll_result *r = poll_one("nowhere", 0, 0);
	assert_unreachable(r, 0, "HTTP 404");
	assert_int_equal(r->nodes[0].http_status, 404);
	fleet_poll_result_free(r);

	r = poll_one("moved", 0, 0);
	assert_unreachable(r, 0, "HTTP 302");
	fleet_poll_result_free(r);
}

static void test_only_http_and_https(void **state)
{
	(void)state;
	static struct fleet f;
	memset(&f, 0, sizeof(f));
	add_node(&f, "green", "file://%s", file_root);
	struct fleet_poll *fp = new_probe(0, 0, 0);
	struct fleet_poll_result *r = poll_fleet(fp, &f);
	assert_unreachable(r, 0, "not supported");
	assert_int_equal(r->nodes[0].http_status, 0);
	fleet_poll_result_free(r);
	fleet_poll_free(fp);
}

/* A proxy named in the environment would swallow loopback probes; the poller goes direct. */
static void test_environment_proxy_is_ignored(void **state)
{
	(void)state;
	char proxy[64];
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", refused_port());
	setenv("http_proxy", proxy, 1);
	setenv("HTTP_PROXY", proxy, 1);
	setenv("ALL_PROXY", proxy, 1);
	unsetenv("NO_PROXY");
	unsetenv("no_proxy");
	struct fleet_poll_result *r = poll_one("green", 0, 0);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("ALL_PROXY");
	assert_null(r->nodes[0].error);
	assert_true(r->obs[0].reachable);
	fleet_poll_result_free(r);
}

/* One poll over a mixed fleet: every node gets its own verdict, in the desired order, and a
 * node that does not answer holds up nobody's result but its own. */
static void test_mixed_fleet_in_desired_order(void **state)
{
	(void)state;
	static struct fleet f;
	memset(&f, 0, sizeof(f));
	add_served(&f, "slow");
	add_served(&f, "green");
	add_node(&f, "gone", "http://127.0.0.1:%d/", refused_port());
	add_served(&f, "red");
	add_served(&f, "liar");
	struct fleet_poll *fp = new_probe(2, 300, 0);
	struct fleet_poll_result *r = poll_fleet(fp, &f);

	const char *names[] = {"slow", "green", "gone", "red", "liar"};
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(r->obs[i].name, names[i]);
	}
	assert_unreachable(r, 0, "timed out");
	assert_true(r->obs[1].reachable);
	assert_int_equal(r->obs[1].status, PROBE_GREEN);
	assert_false(r->obs[2].reachable);
	assert_true(r->obs[3].reachable);
	assert_int_equal(r->obs[3].status, PROBE_RED);
	assert_unreachable(r, 4, "answered as someone-else");
	fleet_poll_result_free(r);
	fleet_poll_free(fp);
}

static void test_max_parallel_bounds_requests_in_flight(void **state)
{
	(void)state;
	static struct fleet f;
	char name[32];
	memset(&f, 0, sizeof(f));
	for (int i = 0; i < GATED; i++) {
		snprintf(name, sizeof(name), "gate-%d", i);
		add_node(&f, name, "http://127.0.0.1:%d/gate/%d", srv.port, i);
	}
	pthread_mutex_lock(&srv.mu);
	srv.max_held = 0;
	srv.gate_open = false;
	pthread_mutex_unlock(&srv.mu);
	/* The gate opens only when GATE_WIDTH requests are held together: a poller running fewer
	 * at once would wait GATE_WAIT_SEC, one running more would push max_held past it. */
	struct fleet_poll *fp = new_probe(GATE_WIDTH, 30000, 0);
	struct fleet_poll_result *r = poll_fleet(fp, &f);
	for (size_t i = 0; i < GATED; i++)
		assert_true(r->obs[i].reachable);
	pthread_mutex_lock(&srv.mu);
	int max_held = srv.max_held;
	pthread_mutex_unlock(&srv.mu);
	assert_int_equal(max_held, GATE_WIDTH);
	fleet_poll_result_free(r);
	fleet_poll_free(fp);
}

static void test_large_fleet_answered_over_kept_connections(void **state)
{
	(void)state;
	static struct fleet f;
	char name[32];
	memset(&f, 0, sizeof(f));
	for (int i = 0; i < FLEET; i++) {
		snprintf(name, sizeof(name), "node-%d", i);
		add_node(&f, name, "http://127.0.0.1:%d/n/%d", srv.port, i);
	}
	struct fleet_poll *fp = new_probe(16, 0, 0);

	int before = atomic_load(&srv.connections);
	struct fleet_poll_result *r = poll_fleet(fp, &f);
	int first = atomic_load(&srv.connections) - before;
	for (size_t i = 0; i < FLEET; i++) {
		assert_true(r->obs[i].reachable);
		assert_string_equal(r->obs[i].probe_sha256, srv.fleet[i].probe_sha);
	}
	fleet_poll_result_free(r);
	assert_true(first <= 16);

	before = atomic_load(&srv.connections);
	r = poll_fleet(fp, &f);
	int second = atomic_load(&srv.connections) - before;
	for (size_t i = 0; i < FLEET; i++)
		assert_true(r->obs[i].reachable);
	fleet_poll_result_free(r);
	/* Kept from the first pass: a poller that reconnected every pass would open as many. */
	if (second >= first)
		fail_msg("the second pass opened %d connections, the first %d", second, first);
	fleet_poll_free(fp);
}

/* More hosts than connections allowed: idle connections to other hosts make way, every pass. */
static void test_more_hosts_than_connections(void **state)
{
	(void)state;
	static struct fleet f;
	struct MHD_Daemon *hosts[HOSTS];
	char name[32];
	memset(&f, 0, sizeof(f));
	for (int i = 0; i < HOSTS; i++) {
		int port = 0;
		hosts[i] = start_server(&port);
		assert_non_null(hosts[i]);
		snprintf(name, sizeof(name), "node-%d", i);
		add_node(&f, name, "http://127.0.0.1:%d/n/%d", port, i);
	}
	struct fleet_poll *fp = new_probe(2, 5000, 0);
	for (int pass = 0; pass < 2; pass++) {
		struct fleet_poll_result *r = poll_fleet(fp, &f);
		for (size_t i = 0; i < HOSTS; i++) {
			assert_null(r->nodes[i].error);
			assert_true(r->obs[i].reachable);
		}
		fleet_poll_result_free(r);
	}
	fleet_poll_free(fp);
	for (int i = 0; i < HOSTS; i++)
		MHD_stop_daemon(hosts[i]);
}

/* ---- a port per agent ---- */

/* Agents each on a listening socket of their own on 127.0.0.1, as real Macs are each their own
 * host:port, served by one thread: every request on a connection gets its node's document, and
 * connections stay open. More of them than one of the poller's shards holds (512). */
#define PORTS 600
#define PORT_CONN_BUF 2048

static struct {
	int listeners[PORTS], ports[PORTS];
	struct rendered docs[PORTS];
	atomic_int accepted;
	atomic_bool stop;
	pthread_t thread;
} agents;

struct agent_conn {
	int fd, node;
	size_t len;
	char in[PORT_CONN_BUF];
};

/* Answers every whole request in c's buffer; false when the connection is done. */
static bool agent_answer(struct agent_conn *c)
{
	char *end;
	while ((end = memmem(c->in, c->len, "\r\n\r\n", 4))) {
		const struct rendered *d = &agents.docs[c->node];
		char head[128];
		size_t body = strlen(d->json);
		int n = snprintf(head, sizeof(head), "HTTP/1.1 %d OK\r\nContent-Type: application/"
				 "json\r\nContent-Length: %zu\r\n\r\n", d->status, body);
		if (write(c->fd, head, (size_t)n) != n ||
		    write(c->fd, d->json, body) != (ssize_t)body)
			return false;
		size_t used = (size_t)(end + 4 - c->in);
		memmove(c->in, c->in + used, c->len - used);
		c->len -= used;
	}
	return c->len < sizeof(c->in);
}

static void *agents_serve(void *arg)
{
	static struct pollfd fds[2 * PORTS];
	static struct agent_conn conns[PORTS];
	size_t nconns = 0;
	(void)arg;
	while (!atomic_load(&agents.stop)) {
		for (size_t i = 0; i < PORTS; i++)
			fds[i] = (struct pollfd){.fd = agents.listeners[i], .events = POLLIN};
		for (size_t i = 0; i < nconns; i++)
			fds[PORTS + i] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
		if (poll(fds, PORTS + nconns, 50) <= 0)
			continue;
		for (size_t i = nconns; i-- > 0;) {
			struct agent_conn *c = &conns[i];
			if (!fds[PORTS + i].revents)
				continue;
			ssize_t got = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
			if (got > 0)
				c->len += (size_t)got;
			if (got <= 0 || !agent_answer(c)) {
				close(c->fd);
				conns[i] = conns[--nconns];
			}
		}
		for (size_t i = 0; i < PORTS; i++) {
			if (!fds[i].revents)
				continue;
			int fd = accept(agents.listeners[i], NULL, NULL);
			if (fd < 0)
				continue;
			if (nconns == PORTS) {
				close(fd);
				continue;
			}
			atomic_fetch_add(&agents.accepted, 1);
			conns[nconns++] = (struct agent_conn){.fd = fd, .node = (int)i};
		}
	}
	for (size_t i = 0; i < nconns; i++)
		close(conns[i].fd);
	return NULL;
}

/* A fleet larger than a shard, each agent on its own port: the second pass finds every
 * connection of the first still open and opens none. A connection cache even one short of its
 * shard would reconnect to every agent on every pass (the pass asks them in the same order). */
static void test_port_per_agent_keeps_every_connection(void **state)
{
	(void)state;
	uint64_t have = 0;
	/* Each agent costs three descriptors here: its listener, its end and ours. */
	if (compat_raise_fd_limit(3 * PORTS + 256, &have) < 0) {
		print_message("skipped: %d agents in one process need %d open files, the limit is "
			      "%llu\n", PORTS, 3 * PORTS + 256, (unsigned long long)have);
		skip();
	}
	static struct mac_node nodes[PORTS];
	static char names[PORTS][32], addresses[PORTS][64];
	for (int i = 0; i < PORTS; i++) {
		int port;
		agents.listeners[i] = loopback_socket(O_CLOEXEC | O_NONBLOCK, 64, &port);
		snprintf(names[i], sizeof(names[i]), "port-%d", i);
		snprintf(addresses[i], sizeof(addresses[i]), "http://127.0.0.1:%d", port);
		render(&agents.docs[i], names[i], false);
		nodes[i] = (struct mac_node){.name = names[i], .address = addresses[i],
					     .role = NODE_GATEWAY};
	}
	assert_int_equal(pthread_create(&agents.thread, NULL, agents_serve, NULL), 0);
	struct desired_state ds = {.nodes = nodes, .nnodes = PORTS};
	struct fleet_poll *fp = new_probe(0, 5000, 0);
	struct cf_err err = {{0}};
	int opened[2];
	for (int pass = 0; pass < 2; pass++) {
		struct fleet_poll_result *r = NULL;
		int before = atomic_load(&agents.accepted);
		if (fleet_poll_poll(fp, &ds, &r, &err) < 0)
			fail_msg("%s", err.msg);
		opened[pass] = atomic_load(&agents.accepted) - before;
		for (size_t i = 0; i < PORTS; i++) {
			if (r->nodes[i].error)
				fail_msg("%s: %s", names[i], r->nodes[i].error);
			assert_string_equal(r->obs[i].probe_sha256, agents.docs[i].probe_sha);
		}
		fleet_poll_result_free(r);
	}
	fleet_poll_free(fp);
	atomic_store(&agents.stop, true);
	pthread_join(agents.thread, NULL);
	for (int i = 0; i < PORTS; i++) {
		close(agents.listeners[i]);
		free(agents.docs[i].json);
	}
	assert_int_equal(opened[0], PORTS);
	if (opened[1] != 0)
		fail_msg("the second pass opened %d connections to %d agents", opened[1], PORTS);
}

/* A fleet larger than a shard whose agents never answer (a listener that never accepts): the
 * pass's threads get uneven shares of it (512 and 88 nodes on two), and each still asks every
 * node of its share before its deadline: every node is "timed out", none "not asked". */
static void test_silent_fleet_is_asked_whole(void **state)
{
	(void)state;
	static struct mac_node nodes[PORTS];
	static char names[PORTS][32], addresses[PORTS][64];
	int port;
	int fd = loopback_socket(O_CLOEXEC, PORTS, &port);
	for (int i = 0; i < PORTS; i++) {
		snprintf(names[i], sizeof(names[i]), "silent-%d", i);
		snprintf(addresses[i], sizeof(addresses[i]), "http://127.0.0.1:%d/n/%d", port, i);
		nodes[i] = (struct mac_node){.name = names[i], .address = addresses[i],
					     .role = NODE_GATEWAY};
	}
	struct desired_state ds = {.nodes = nodes, .nnodes = PORTS};
	struct fleet_poll *fp = new_probe(0, 300, 0);
	struct fleet_poll_result *r = NULL;
	struct cf_err err = {{0}};
	if (fleet_poll_poll(fp, &ds, &r, &err) < 0)
		fail_msg("%s", err.msg);
	for (size_t i = 0; i < PORTS; i++) {
		assert_false(r->obs[i].reachable);
		assert_string_equal(r->obs[i].name, names[i]);
		if (!r->nodes[i].error || !strstr(r->nodes[i].error, "timed out") ||
		    strstr(r->nodes[i].error, "not asked"))
			fail_msg("%s: %s", names[i], r->nodes[i].error ? r->nodes[i].error : "no error");
	}
	fleet_poll_result_free(r);
	fleet_poll_free(fp);
	close(fd);
}

static void test_empty_fleet(void **state)
{
	(void)state;
	static struct fleet f;
	memset(&f, 0, sizeof(f));
	struct fleet_poll *fp = new_probe(0, 0, 0);
	struct fleet_poll_result *r = poll_fleet(fp, &f);
	assert_int_equal(r->nnodes, 0);
	fleet_poll_result_free(r);
	fleet_poll_free(fp);
}

static void test_config_limits(void **state)
{
	(void)state;
	struct fleet_poll *fp = NULL;
	struct cf_err err = {{0}};
	struct fleet_poll_config many = {.max_parallel = 5000};
	assert_int_equal(fleet_poll_new(&fp, &many, &err), -1);
	assert_null(fp);
	assert_non_null(strstr(err.msg, "at most 1024"));
	struct fleet_poll_config negative = {.timeout_ms = -1};
	assert_int_equal(fleet_poll_new(&fp, &negative, &err), -1);
	assert_non_null(strstr(err.msg, "timeouts"));
	struct fleet_poll_config huge = {.max_body = (size_t)1 << 30};
	assert_int_equal(fleet_poll_new(&fp, &huge, &err), -1);
	assert_non_null(strstr(err.msg, "body limit"));
	assert_int_equal(fleet_poll_new(&fp, NULL, &err), 0);
	fleet_poll_free(fp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_green_node_read_whole),
		cmocka_unit_test(test_red_node_keeps_reasons_in_order),
		cmocka_unit_test(test_pending_agent_is_red_not_unreachable),
		cmocka_unit_test(test_slow_node_times_out),
		cmocka_unit_test(test_refused_port_is_unreachable),
		cmocka_unit_test(test_garbage_is_not_a_probe_document),
		cmocka_unit_test(test_other_node_name_is_unreachable),
		cmocka_unit_test(test_body_over_cap_is_unreachable),
		cmocka_unit_test(test_other_statuses_and_redirects_are_unreachable),
		cmocka_unit_test(test_only_http_and_https),
		cmocka_unit_test(test_environment_proxy_is_ignored),
		cmocka_unit_test(test_mixed_fleet_in_desired_order),
		cmocka_unit_test(test_max_parallel_bounds_requests_in_flight),
		cmocka_unit_test(test_large_fleet_answered_over_kept_connections),
		cmocka_unit_test(test_more_hosts_than_connections),
		cmocka_unit_test(test_port_per_agent_keeps_every_connection),
		cmocka_unit_test(test_silent_fleet_is_asked_whole),
		cmocka_unit_test(test_empty_fleet),
		cmocka_unit_test(test_config_limits),
	};
	return cmocka_run_group_tests_name("fleet_poll", tests, group_setup, group_teardown);
}
