/* gateway (simulated): an OpenClaw gateway's HTTP surface on loopback.
 *
 *   gateway [--port P] --root DIR --node NAME      (P defaults to 18789, as OpenClaw's)
 *
 * GET /healthz, /health   200 {"ok":true,"status":"live"}
 * GET /readyz, /ready     200 {"ready":true,"uptimeMs"} or 503 {"ready":false,"failing":[...],...}
 * GET /sim/state          {"node","pid","version","skills":{"current","next"},"startedAt"}: what
 *                         this process saw when it started (startedAt in epoch ms)
 * GET /whoami             200 {"node":"NAME"}, or 500 for the failRate share of requests
 *                         (counted from the gateway's start), after whoamiSlowMs
 * GET /sim/slow?ms=N      a long request: answers after N ms (at most MAX_SLOW_MS; sooner when
 *                         the gateway is stopped) {"node","pid","sleptMs"}, and appends
 *                         "<epoch_ms> gateway served /sim/slow <sleptMs>" to sim/log as it
 *                         answers, so tests can order it against restarts
 * anything else           200 HTML, as the Control UI answers: probes must read the body
 *
 * DIR/sim/gateway.control steers it: {"ready":bool,"failing":[...],"slowMs":N,"crash":bool,
 * "failRate":0..1,"whoamiSlowMs":N,"crashLog":bool}, re-read at most every CONTROL_TTL_MS.
 * crash:true exits 1 at start. crashLog:true prints a Node.js uncaught-exception trace to stderr
 * at start (launchd's log) and runs on, as a gateway does whose plugin threw while loading.
 * slowMs delays every answer; whoamiSlowMs only /whoami's, the traffic users send through the
 * load balancer, so the load balancer sees a slow gateway that its agent's probes (of /healthz
 * and /readyz) do not. failRate fails exactly that share of /whoami requests, spread evenly and
 * deterministically (0.25: every 4th). SIGTERM or SIGINT: exit 0. */
#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>

#include "simstate.h"

#define CONTROL_TTL_MS 200
#define CONN_TIMEOUT_S 10
#define CONN_LIMIT 256
#define MAX_SLOW_MS 600000

static const char control_ui[] =
	"<!doctype html><html><head><title>OpenClaw Control</title></head>"
	"<body><div id=\"app\"></div></body></html>\n";

struct control {
	bool ready;
	long slow_ms, whoami_slow_ms;
	double fail_rate;
	struct json_object *failing; /* owned */
};

struct gateway {
	const char *node;
	char *version;
	char *skills_current, *skills_next;
	long long started_ms, started_mono;
	pthread_mutex_t mu; /* guards ctl, ctl_read_at, whoami_count */
	struct control ctl;
	long long ctl_read_at;
	unsigned long long whoami_count;
};

static atomic_bool stopping;

/* A missing file (obj NULL) is a healthy gateway. */
static struct control control_parse(struct json_object *obj)
{
	struct json_object *v;
	struct control c = {.ready = true};
	if (obj && json_object_object_get_ex(obj, "ready", &v))
		c.ready = json_object_get_boolean(v);
	c.slow_ms = (long)sim_json_int(obj, "slowMs", 0);
	if (c.slow_ms > MAX_SLOW_MS)
		c.slow_ms = MAX_SLOW_MS;
	c.whoami_slow_ms = (long)sim_json_int(obj, "whoamiSlowMs", 0);
	if (c.whoami_slow_ms > MAX_SLOW_MS)
		c.whoami_slow_ms = MAX_SLOW_MS;
	if (obj && json_object_object_get_ex(obj, "failRate", &v))
		c.fail_rate = fmin(fmax(json_object_get_double(v), 0.0), 1.0);
	if (obj && json_object_object_get_ex(obj, "failing", &v) &&
	    json_object_is_type(v, json_type_array))
		c.failing = json_object_get(v);
	else
		json_object_array_add(c.failing = json_object_new_array(),
				      json_object_new_string("gateway.control"));
	return c;
}

/* Keeps the previous control when the file is unreadable or half-written. */
static void control_refresh(struct gateway *g)
{
	struct json_object *obj;
	long long now = sim_mono_ms();
	if (now - g->ctl_read_at < CONTROL_TTL_MS)
		return;
	g->ctl_read_at = now;
	if (sim_read_json("gateway.control", &obj) < 0)
		return;
	json_object_put(g->ctl.failing);
	g->ctl = control_parse(obj);
	json_object_put(obj);
}

/* Sleeps in small steps so SIGTERM is not held up by a slow answer. */
static void slow_down(long ms)
{
	long long deadline = sim_mono_ms() + ms;
	while (!atomic_load(&stopping) && sim_mono_ms() < deadline)
		sim_sleep_ms(10);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
			     const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned int status,
				  struct json_object *obj)
{
	enum MHD_Result rc = reply(conn, status, "application/json",
				   json_object_to_json_string_ext(obj, SIM_JSON));
	json_object_put(obj);
	return rc;
}

static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *readiness(struct gateway *g, const struct control *c,
				     unsigned int *status)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "ready", json_object_new_boolean(c->ready));
	if (!c->ready)
		json_object_object_add(o, "failing", json_object_get(c->failing));
	json_object_object_add(o, "uptimeMs", json_object_new_int64(sim_mono_ms() - g->started_mono));
	*status = c->ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
	return o;
}

static struct json_object *sim_state(struct gateway *g)
{
	struct json_object *o = json_object_new_object(), *skills = json_object_new_object();
	json_object_object_add(o, "node", json_object_new_string(g->node));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "version", str_or_null(g->version));
	json_object_object_add(skills, "current", str_or_null(g->skills_current));
	json_object_object_add(skills, "next", str_or_null(g->skills_next));
	json_object_object_add(o, "skills", skills);
	json_object_object_add(o, "startedAt", json_object_new_int64(g->started_ms));
	return o;
}

/* The share of failures stays exact for any rate: request n fails when floor(n * rate) steps. */
static bool whoami_fails(struct gateway *g, double rate)
{
	unsigned long long n = ++g->whoami_count;
	return floor((double)n * rate) > floor((double)(n - 1) * rate);
}

static struct json_object *slow_request(struct gateway *g, struct MHD_Connection *conn)
{
	const char *arg = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "ms");
	long ms = arg ? atol(arg) : 0;
	long long started = sim_mono_ms();
	char slept[32];
	slow_down(ms < 0 ? 0 : ms > MAX_SLOW_MS ? MAX_SLOW_MS : ms);
	snprintf(slept, sizeof(slept), "%lld", sim_mono_ms() - started);
	sim_log("gateway", 4, (char *[]){"gateway", "served", "/sim/slow", slept, NULL});
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "node", json_object_new_string(g->node));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "sleptMs", json_object_new_int64(atoll(slept)));
	return o;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_size, void **req_cls)
{
	struct gateway *g = cls;
	struct control c;
	unsigned int status = MHD_HTTP_OK;
	bool fail = false;
	(void)version;
	(void)upload_data;
	(void)upload_size;
	(void)req_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json",
			     "{\"error\":\"method not allowed\"}");
	bool whoami = strcmp(url, "/whoami") == 0;
	pthread_mutex_lock(&g->mu);
	control_refresh(g);
	c = g->ctl;
	c.failing = json_object_get(c.failing);
	if (whoami)
		fail = whoami_fails(g, c.fail_rate);
	pthread_mutex_unlock(&g->mu);
	slow_down(c.slow_ms + (whoami ? c.whoami_slow_ms : 0));
	struct json_object *body = NULL;
	if (!strcmp(url, "/healthz") || !strcmp(url, "/health")) {
		body = json_object_new_object();
		json_object_object_add(body, "ok", json_object_new_boolean(true));
		json_object_object_add(body, "status", json_object_new_string("live"));
	} else if (!strcmp(url, "/readyz") || !strcmp(url, "/ready")) {
		body = readiness(g, &c, &status);
	} else if (!strcmp(url, "/sim/state")) {
		body = sim_state(g);
	} else if (!strcmp(url, "/sim/slow")) {
		body = slow_request(g, conn);
	} else if (whoami && fail) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		body = json_object_new_object();
		json_object_object_add(body, "error", json_object_new_string("simulated failure"));
	} else if (whoami) {
		body = json_object_new_object();
		json_object_object_add(body, "node", json_object_new_string(g->node));
	}
	json_object_put(c.failing);
	if (!body)
		return reply(conn, MHD_HTTP_OK, "text/html; charset=utf-8", control_ui);
	return reply_json(conn, status, body);
}

static char *skills_link(const char *root, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/var/db/openclaw/skills/%s", root, name);
	return realpath(path, NULL);
}

static int parse_args(int argc, char **argv, int *port, const char **root, const char **node)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			*port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--root"))
			*root = argv[i + 1];
		else if (!strcmp(argv[i], "--node"))
			*node = argv[i + 1];
		else
			return -1;
	}
	return argc % 2 == 1 && *port > 0 && *port < 65536 && *root && *node ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct gateway g = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct json_object *ctl = NULL;
	struct MHD_Daemon *d = NULL;
	const char *root = NULL, *node = NULL;
	int port = SIM_GW_DEFAULT_PORT, sig, rc = 1;
	sigset_t set;
	if (parse_args(argc, argv, &port, &root, &node) < 0) {
		fprintf(stderr, "usage: gateway [--port P] --root DIR --node NAME\n");
		return 2;
	}
	if (sim_open("gateway", root, argc, argv) < 0)
		return SIM_EXIT_HARNESS;
	if (sim_read_json("gateway.control", &ctl) < 0)
		return SIM_EXIT_HARNESS;
	struct json_object *crash;
	if (ctl && json_object_object_get_ex(ctl, "crash", &crash) && json_object_get_boolean(crash)) {
		fprintf(stderr, "gateway: crash requested by sim/gateway.control\n");
		goto done;
	}
	if (ctl && json_object_object_get_ex(ctl, "crashLog", &crash) &&
	    json_object_get_boolean(crash))
		fprintf(stderr, "gateway: loading plugins\n"
				"Uncaught TypeError: Cannot read properties of undefined (reading "
				"'channels')\n"
				"    at loadPlugin (/usr/local/lib/node_modules/openclaw/dist/plugins.js:"
				"88:21)\n"
				"    at async Gateway.start (/usr/local/lib/node_modules/openclaw/dist/"
				"gateway.js:142:5)\n");
	g.ctl = control_parse(ctl);
	g.ctl_read_at = sim_mono_ms();
	g.node = node;
	g.version = sim_read_line("version");
	g.skills_current = skills_link(root, "current");
	g.skills_next = skills_link(root, "next");
	g.started_ms = sim_now_ms();
	g.started_mono = sim_mono_ms();
	/* Blocked before MHD starts its threads, so only sigwait below sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
				     MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
			     (uint16_t)port, NULL, NULL, handle, &g, MHD_OPTION_SOCK_ADDR, &addr,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONN_TIMEOUT_S,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONN_LIMIT, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "gateway: cannot listen on 127.0.0.1:%d\n", port);
		goto done;
	}
	fprintf(stderr, "gateway: node %s listening on http://127.0.0.1:%d\n", node, port);
	while (sigwait(&set, &sig) != 0)
		;
	atomic_store(&stopping, true);
	fprintf(stderr, "gateway: signal %d, shutting down\n", sig);
	MHD_stop_daemon(d);
	rc = 0;
done:
	json_object_put(g.ctl.failing);
	json_object_put(ctl);
	free(g.version);
	free(g.skills_current);
	free(g.skills_next);
	return rc;
}
