/* probe_server: a thousand agents in one process, for the reconcile benchmark. Serves
 * GET /n/<i>/readyz (i = 1..NODES) on 127.0.0.1 with libmicrohttpd (epoll, a few threads,
 * keep-alive as the agent's server), each answer the /readyz document the probe module renders
 * for a healthy gateway named mac-<i>: infra TAG at COMMIT, openclaw.lock of INFRA (its sha256,
 * version and skills semver), two tenants' doctor runs, queue and digest. The agent's own
 * server (httpd) routes a fixed table of a few paths, hence libmicrohttpd directly here.
 *
 *   probe_server NODES INFRA TAG COMMIT PORT_FILE
 *
 * Writes the port it bound to PORT_FILE (atomically) once it serves; SIGTERM or SIGINT stops
 * it. */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "observe/node_probe.h"
#include "reconcilers/lockcheck.h"
#include "source/treefiles.h"

#define MAX_NODES 10000
#define SERVER_THREADS 4
#define SERVER_CONNECTIONS 2048
#define SERVER_IDLE_SEC 10

/* The notifier digest's top failures, as a busy gateway reports them: with them the document is
 * about the 1.2 KB an agent serves. */
#define DIGEST_TOP                                                                               \
	"[{\"family\":\"5xx\",\"count\":4,\"target\":\"hooks.example.com\","                       \
	"\"lastSeen\":\"2026-08-01T11:58:02Z\",\"sample\":\"POST /hook/acme: 502 Bad Gateway\"},"     \
	"{\"family\":\"timeout\",\"count\":2,\"target\":\"hooks.slack.com\","                      \
	"\"lastSeen\":\"2026-08-01T11:41:17Z\",\"sample\":\"POST /services/T0/B0: timed out\"},"      \
	"{\"family\":\"4xx\",\"count\":1,\"target\":\"api.globex.example\","                       \
	"\"lastSeen\":\"2026-08-01T10:03:55Z\",\"sample\":\"GET /v2/status: 429 Too Many\"}]"

struct doc {
	char *json;
	size_t len;
	int status;
	struct MHD_Response *response; /* made once, queued for every request */
};

struct fleet {
	struct doc *docs;
	int n;
	struct MHD_Response *not_found;
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **ctx)
{
	static int seen;
	const struct fleet *f = cls;
	char *end = NULL;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;

	/* Answered on the second call, as the agent's server does: a response queued before the
	 * whole request was read closes the connection. */
	if (!*ctx) {
		*ctx = &seen;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 || strncmp(url, "/n/", 3) != 0)
		return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, f->not_found);
	long i = strtol(url + 3, &end, 10);
	if (i < 1 || i > f->n || strcmp(end, "/readyz") != 0)
		return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, f->not_found);
	const struct doc *d = &f->docs[i - 1];
	return MHD_queue_response(c, (unsigned int)d->status, d->response);
}

static int load_lock(const char *infra, struct desired_state **ds, struct cf_err *err)
{
	struct treefiles files = {0};
	struct schema_set *schemas = NULL;
	struct diag_list diags = {0};
	int rc = -1;

	if (treefiles_from_dir(infra, &files, err) < 0 ||
	    schema_set_load_embedded(&schemas, err) < 0)
		goto done;
	if (desired_load(&files, schemas, NULL, ds, &diags) < 0) {
		diag_list_print(&diags, stderr);
		cf_err_set(err, "%s: not a loadable infra tree", infra);
		goto done;
	}
	if (!(*ds)->lock.present) {
		cf_err_set(err, "%s: no openclaw.lock", infra);
		goto done;
	}
	rc = 0;
done:
	diag_list_free(&diags);
	schema_set_free(schemas);
	treefiles_free(&files);
	return rc;
}

/* A healthy gateway's document as its agent renders it. */
static int render(const char *node, const struct openclaw_lock *lock, const char *tag,
		  const char *commit, struct json_object *top, struct doc *out,
		  struct cf_err *err)
{
	struct openclaw_version cli = {0};
	struct probe_doctor doctor[2] = {{.tenant = "acme", .profile = "acme"},
					 {.tenant = "globex"}};
	struct probe_inputs in = {0};
	struct probe_result res;
	int64_t now_ms = (int64_t)time(NULL) * 1000;

	snprintf(cli.version, sizeof(cli.version), "%s", lock->version);
	for (int i = 0; i < 2; i++) {
		doctor[i].result.outcome = DOCTOR_JUDGED;
		doctor[i].result.verdict = DOCTOR_GREEN;
		doctor[i].result.ok = true;
		doctor[i].result.checks_run = 42;
	}
	in.node = node;
	in.observed_generation = 3;
	in.refresh_ms = PROBE_DEFAULT_REFRESH_MS;
	in.checked_at_ms = in.now_ms = now_ms;
	in.infra.tag = tag;
	in.infra.commit = commit;
	in.lock = lock;
	in.cli = &cli;
	in.skills.current = lock->skills_semver;
	in.doctor = doctor;
	in.ndoctor = 2;
	in.queue.configured = true;
	in.queue.depth = 3;
	in.queue.limit = 500;
	in.digest.configured = true;
	in.digest.age_sec = 42;
	in.digest.top = top;
	in.disk.free_percent = 61.5;
	in.service.running = true;
	in.service.has_last_exit = true;
	in.service.restarts_5m = 1;
	in.gateway.healthz_ok = true;
	in.gateway.ready = true;
	in.tcp.ok = true;
	in.tcp.ms = 1;
	in.latency.samples = 20;
	in.latency.p95_ms = 118.5;
	in.latency.baseline_p95_ms = 104.2;
	probe_merge(&in, &res);
	return probe_render_json(&in, &res, &out->json, &out->len, &out->status, err);
}

static int serve(const char *port_file, struct fleet *f, const sigset_t *stop,
		 struct cf_err *err)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	struct MHD_Daemon *d;
	char port[16];
	int sig;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, f,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
			     MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)SERVER_THREADS,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)SERVER_CONNECTIONS,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)SERVER_IDLE_SEC,
			     MHD_OPTION_END);
	if (!d)
		return cf_err_set(err, "the HTTP server did not start on 127.0.0.1");
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(port, sizeof(port), "%u\n", info ? (unsigned int)info->port : 0u);
	int rc = fsutil_write_atomic(port_file, port, strlen(port), 0644, err);
	if (rc == 0)
		sigwait(stop, &sig);
	MHD_stop_daemon(d);
	return rc;
}

static struct MHD_Response *json_response(const char *json, size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)json, MHD_RESPMEM_PERSISTENT);
	if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") ==
			 MHD_NO) {
		MHD_destroy_response(r);
		r = NULL;
	}
	return r;
}

int main(int argc, char **argv)
{
	struct cf_err err = {{0}};
	struct desired_state *ds = NULL;
	struct json_object *top = NULL;
	struct fleet f = {0};
	static const char not_found[] = "{\"error\":\"not found\"}";
	sigset_t stop;
	int n = 0, rc = 1;

	if (argc != 6 || (n = atoi(argv[1])) < 1 || n > MAX_NODES) {
		fprintf(stderr, "usage: probe_server NODES(1-%d) INFRA TAG COMMIT PORT_FILE\n",
			MAX_NODES);
		return 2;
	}
	/* Blocked before the server's threads start, so only sigwait sees them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	jsonparse_value(DIGEST_TOP, strlen(DIGEST_TOP), JSONPARSE_DEPTH, &top, NULL);
	f.docs = calloc((size_t)n, sizeof(*f.docs));
	f.not_found = json_response(not_found, sizeof(not_found) - 1);
	if (!top || !f.docs || !f.not_found) {
		fprintf(stderr, "probe_server: out of memory\n");
		goto done;
	}
	if (load_lock(argv[2], &ds, &err) < 0)
		goto fail;
	for (f.n = 0; f.n < n; f.n++) {
		struct doc *d = &f.docs[f.n];
		char node[32];
		snprintf(node, sizeof(node), "mac-%d", f.n + 1);
		if (render(node, &ds->lock, argv[3], argv[4], top, d, &err) < 0)
			goto fail;
		if (!(d->response = json_response(d->json, d->len))) {
			cf_err_set(&err, "out of memory");
			goto fail;
		}
	}
	if (serve(argv[5], &f, &stop, &err) < 0)
		goto fail;
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "probe_server: %s\n", err.msg);
done:
	for (int i = 0; f.docs && i < n; i++) {
		if (f.docs[i].response)
			MHD_destroy_response(f.docs[i].response);
		free(f.docs[i].json);
	}
	free(f.docs);
	if (f.not_found)
		MHD_destroy_response(f.not_found);
	json_object_put(top);
	desired_free(ds);
	return rc;
}
