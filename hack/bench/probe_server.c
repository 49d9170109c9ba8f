/* probe_server: thousands of agents in one process, for the reconcile benchmarks. Each answer
 * is the /readyz document the probe module renders for a healthy gateway named mac-<i>: infra TAG
 * at COMMIT, openclaw.lock of INFRA (its sha256, version and skills semver), two tenants' doctor
 * runs, queue and digest. Two shapes:
 *   - one port: GET /n/<i>/readyz (i = 1..NODES) on 127.0.0.1 with libmicrohttpd (epoll, a few
 *     threads, keep-alive as the agent's server); the port goes to PORT_FILE;
 *   - a port per node, as real Macs are (FIRST given): nodes mac-FIRST .. mac-(FIRST+NODES-1),
 *     each on its own listening socket on 127.0.0.1, all served by one epoll loop (Linux) that
 *     answers every request on a connection with that node's document and keeps the connection
 *     open; PORT_FILE gets one port a line, in node order. The descriptor limit is raised to
 *     fit (two a node). The agent's own server (httpd) routes a fixed table of a few paths,
 *     hence libmicrohttpd or plain sockets here.
 *
 *   probe_server NODES INFRA TAG COMMIT PORT_FILE [FIRST]
 *
 * Writes PORT_FILE (atomically) once it serves; SIGTERM or SIGINT stops it. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/compat.h"
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
	char *wire;		       /* the whole HTTP answer, for the port-per-node shape */
	size_t wire_len;
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

#if defined(COMPAT_HAVE_EPOLL)
#include <sys/epoll.h>
#include <sys/signalfd.h>

#define LISTEN_BACKLOG 64
#define EVENTS 256
#define STOP_TAG UINT64_MAX /* the epoll tag of the signals; every other tag is a descriptor */

/* The HTTP answer of d: status line, headers, the document. */
static int wire_of(struct doc *d)
{
	char head[160];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: "
			 "%zu\r\n\r\n",
			 d->status, d->status == 200 ? "OK" : "Service Unavailable", d->len);
	d->wire_len = (size_t)n + d->len;
	if (!(d->wire = malloc(d->wire_len)))
		return -1;
	memcpy(d->wire, head, (size_t)n);
	memcpy(d->wire + n, d->json, d->len);
	return 0;
}

/* Writes all of buf on a non-blocking socket; false when the peer is gone. */
static bool write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			poll(&p, 1, 1000);
			continue;
		}
		if (w <= 0)
			return false;
		buf += w;
		len -= (size_t)w;
	}
	return true;
}

/* A descriptor's node, whether it is the node's listening socket, and for a connection how much
 * of the "\r\n\r\n" ending a request it has seen. */
struct conn {
	int node;
	int matched;
	bool listener;
};

/* Takes every connection waiting on a node's listening socket. */
static void on_accept(int ep, int lfd, struct conn *conns, uint64_t have)
{
	int fd;
	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if ((uint64_t)fd >= have) {
			close(fd);
			continue;
		}
		conns[fd] = (struct conn){.node = conns[lfd].node};
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)fd};
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
}

/* Reads what the connection has; answers each request it ends. false: close it. */
static bool on_readable(int fd, struct conn *c, const struct fleet *f)
{
	static const char end[] = "\r\n\r\n";
	char buf[4096];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		for (ssize_t k = 0; k < n; k++) {
			c->matched = buf[k] == end[c->matched] ? c->matched + 1 : buf[k] == '\r';
			if (c->matched == 4) {
				c->matched = 0;
				const struct doc *d = &f->docs[c->node];
				if (!write_all(fd, d->wire, d->wire_len))
					return false;
			}
		}
	}
}

static int listen_on_loopback(unsigned int *port)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(addr.sin_port);
	return fd;
}

static int serve_ports(const char *port_file, struct fleet *f, const sigset_t *stop,
		       struct cf_err *err)
{
	uint64_t have = 0;
	struct epoll_event ev, evs[EVENTS];
	struct conn *conns = NULL;
	char *ports = NULL;
	size_t plen = 0;
	int ep = -1, sfd = -1, rc = -1;

	if (compat_raise_fd_limit((uint64_t)f->n * 2 + 64, &have) < 0) {
		cf_err_set(err, "%d nodes need %d open files (a listening socket and a connection "
				"each); the limit is %llu: raise it (ulimit -n)",
			   f->n, f->n * 2 + 64, (unsigned long long)have);
		goto done;
	}
	conns = calloc(have, sizeof(*conns));
	ports = malloc((size_t)f->n * 8 + 1);
	ep = epoll_create1(EPOLL_CLOEXEC);
	sfd = signalfd(-1, stop, SFD_CLOEXEC);
	if (!conns || !ports || ep < 0 || sfd < 0) {
		cf_err_set(err, "out of memory or descriptors starting the server");
		goto done;
	}
	ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = STOP_TAG};
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	for (int i = 0; i < f->n; i++) {
		unsigned int port = 0;
		int fd = listen_on_loopback(&port);
		if (fd < 0 || (uint64_t)fd >= have || wire_of(&f->docs[i]) < 0) {
			cf_err_set(err, "node %d: no listening socket on 127.0.0.1: %s", i,
				   strerror(errno));
			goto done;
		}
		conns[fd] = (struct conn){.node = i, .listener = true};
		ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = (uint64_t)fd};
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		plen += (size_t)sprintf(ports + plen, "%u\n", port);
	}
	if (fsutil_write_atomic(port_file, ports, plen, 0644, err) < 0)
		goto done;
	for (;;) {
		int n = epoll_wait(ep, evs, EVENTS, -1);
		for (int k = 0; k < n; k++) {
			uint64_t tag = evs[k].data.u64;
			if (tag == STOP_TAG) {
				rc = 0;
				goto done;
			}
			int fd = (int)tag;
			if (conns[fd].listener) {
				on_accept(ep, fd, conns, have);
				continue;
			}
			if (!on_readable(fd, &conns[fd], f)) {
				close(fd);
				conns[fd] = (struct conn){0};
			}
		}
	}
done:
	if (sfd >= 0)
		close(sfd);
	if (ep >= 0)
		close(ep);
	free(ports);
	free(conns);
	return rc;
}
#endif

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
	int n = 0, first = 0, rc = 1;

	if ((argc != 6 && argc != 7) || (n = atoi(argv[1])) < 1 || n > MAX_NODES ||
	    (argc == 7 && (first = atoi(argv[6])) < 1)) {
		fprintf(stderr, "usage: probe_server NODES(1-%d) INFRA TAG COMMIT PORT_FILE "
				"[FIRST]\n",
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
		snprintf(node, sizeof(node), "mac-%d", (first ? first : 1) + f.n);
		if (render(node, &ds->lock, argv[3], argv[4], top, d, &err) < 0)
			goto fail;
		if (!(d->response = json_response(d->json, d->len))) {
			cf_err_set(&err, "out of memory");
			goto fail;
		}
	}
	if (first) {
#if defined(COMPAT_HAVE_EPOLL)
		if (serve_ports(argv[5], &f, &stop, &err) < 0)
			goto fail;
#else
		cf_err_set(&err, "a port per node needs epoll (Linux)");
		goto fail;
#endif
	} else if (serve(argv[5], &f, &stop, &err) < 0) {
		goto fail;
	}
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "probe_server: %s\n", err.msg);
done:
	for (int i = 0; f.docs && i < n; i++) {
		if (f.docs[i].response)
			MHD_destroy_response(f.docs[i].response);
		free(f.docs[i].json);
		free(f.docs[i].wire);
	}
	free(f.docs);
	if (f.not_found)
		MHD_destroy_response(f.not_found);
	json_object_put(top);
	desired_free(ds);
	return rc;
}
