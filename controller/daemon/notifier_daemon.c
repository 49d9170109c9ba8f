/* clawfleet notifier: the daemon around notifier.h. The main thread owns the UNIX socket: a
 * poll() loop over non-blocking clients, each with a capped line buffer, an idle timeout and a
 * per-pass read budget, so a slow, stuck or chatty gateway never holds up the others; it also
 * ticks the digest once a second. The HTTP server's threads serve the digest and take
 * controller events. Broadcasts go through a bounded outbox to one sender thread, so neither
 * ingest nor HTTP ever waits on the channel. SIGTERM and SIGINT reach the loop through a pipe.
 * This file holds the command, the socket intake and shutdown; notifier_api.c the HTTP side,
 * notifier_sender.c the outbox and its sender. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/httpc.h"
#include "base/log.h"
#include "base/timeparse.h"
#include "cmd/commands.h"
#include "daemon/notifier_daemon_internal.h"

#define CLIENT_IDLE_MS 120000
#define READ_BUDGET (4 * NF_LINE_MAX)	/* bytes read from one client per loop pass */
#define ACCEPT_BUDGET 32		/* connections accepted per loop pass */
#define TICK_MS 1000

struct client {
	int fd;
	size_t len;
	bool discarding;	/* inside a line already refused as too long */
	int64_t active_ms;	/* monotonic */
	char buf[NF_LINE_MAX + 2];	/* a whole line, one byte past it to see it is too
					 * long, and a NUL */
};

static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
	int saved = errno;
	(void)sig;
	if (write(stop_pipe[1], "x", 1) < 0) {
		/* The pipe already holds a byte: the loop will stop anyway. */
	}
	errno = saved;
}

/* Logs the first problem of a kind and then at every power of two, so a broken gateway
 * cannot flood the log. */
static bool worth_logging(uint64_t count)
{
	return (count & (count - 1)) == 0;
}

static void client_close(struct notifier *n, size_t i)
{
	close(n->clients[i]->fd);
	free(n->clients[i]);
	n->clients[i] = NULL;
	pthread_mutex_lock(&n->mu);
	n->nclients--;
	pthread_mutex_unlock(&n->mu);
}

static void handle_line(struct notifier *n, char *line, size_t len)
{
	struct nf_failure f;
	struct cf_err err;

	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	if (strspn(line, " \t") == len)
		return;
	int rc = nf_failure_parse(line, len, &f, &err);
	pthread_mutex_lock(&n->mu);
	uint64_t malformed = rc < 0 ? ++n->malformed : 0;
	if (rc == 0) {
		n->failures++;
		nf_digest_record(n->digest, &f, clock_epoch_ms(), notifier_window_closed, n);
	}
	pthread_mutex_unlock(&n->mu);
	if (rc < 0 && worth_logging(malformed))
		log_warn("dropped a malformed line from a gateway (%s); %" PRIu64 " so far",
			 err.msg, malformed);
}

/* Splits what the buffer holds into lines, keeps a trailing partial line. */
static void client_lines(struct notifier *n, struct client *c)
{
	size_t start = 0;
	char *nl;
	while ((nl = memchr(c->buf + start, '\n', c->len - start))) {
		size_t end = (size_t)(nl - c->buf);
		*nl = '\0';
		if (c->discarding)
			c->discarding = false;
		else
			handle_line(n, c->buf + start, end - start);
		start = end + 1;
	}
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	if (c->len > NF_LINE_MAX) {
		if (!c->discarding) {
			pthread_mutex_lock(&n->mu);
			uint64_t malformed = ++n->malformed;
			pthread_mutex_unlock(&n->mu);
			if (worth_logging(malformed))
				log_warn("dropped a line over %d bytes from a gateway; %" PRIu64
					 " malformed so far", NF_LINE_MAX, malformed);
		}
		c->discarding = true;
		c->len = 0;
	}
}

/* Reads what one client has, within the budget; false when the client is done. */
static bool client_read(struct notifier *n, struct client *c, int64_t mono)
{
	size_t budget = READ_BUDGET;
	while (budget > 0) {
		ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		if (r == 0) {
			/* A last line without its newline still counts. */
			if (c->len && !c->discarding) {
				c->buf[c->len] = '\0';
				handle_line(n, c->buf, c->len);
			}
			return false;
		}
		c->active_ms = mono;
		c->len += (size_t)r;
		budget -= (size_t)r < budget ? (size_t)r : budget;
		client_lines(n, c);
	}
	return true;
}

static void accept_clients(struct notifier *n, int64_t mono)
{
	for (int k = 0; k < ACCEPT_BUDGET; k++) {
		int fd = accept(n->listener, NULL, NULL);
		if (fd < 0)
			return;
		if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			close(fd);
			continue;
		}
		size_t slot = CLIENTS_MAX, idlest = CLIENTS_MAX;
		for (size_t i = 0; i < CLIENTS_MAX; i++) {
			if (!n->clients[i]) {
				slot = i;
				break;
			}
			if (idlest == CLIENTS_MAX ||
			    n->clients[i]->active_ms < n->clients[idlest]->active_ms)
				idlest = i;
		}
		if (slot == CLIENTS_MAX) {
			/* Full: the longest-idle connection is the likeliest to be stuck. */
			client_close(n, idlest);
			pthread_mutex_lock(&n->mu);
			uint64_t evicted = ++n->evicted;
			pthread_mutex_unlock(&n->mu);
			if (worth_logging(evicted))
				log_warn("%d gateway connections open: closed the longest idle "
					 "(%" PRIu64 " so far)", CLIENTS_MAX, evicted);
			slot = idlest;
		}
		struct client *c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->len = 0;
		c->discarding = false;
		c->active_ms = mono;
		n->clients[slot] = c;
		pthread_mutex_lock(&n->mu);
		n->nclients++;
		pthread_mutex_unlock(&n->mu);
	}
}

/* Runs until SIGTERM or SIGINT (0) or poll fails (-1). */
static int ingest_loop(struct notifier *n)
{
	struct pollfd pfd[CLIENTS_MAX + 2];
	size_t owner[CLIENTS_MAX + 2];

	for (;;) {
		size_t np = 0;
		pfd[np++] = (struct pollfd){.fd = stop_pipe[0], .events = POLLIN};
		pfd[np++] = (struct pollfd){.fd = n->listener, .events = POLLIN};
		for (size_t i = 0; i < CLIENTS_MAX; i++) {
			if (!n->clients[i])
				continue;
			owner[np] = i;
			pfd[np++] = (struct pollfd){.fd = n->clients[i]->fd, .events = POLLIN};
		}
		if (poll(pfd, (nfds_t)np, TICK_MS) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			return -1;
		}
		if (pfd[0].revents)
			return 0;
		int64_t mono = clock_mono_ms();
		for (size_t p = 2; p < np; p++) {
			struct client *c = n->clients[owner[p]];
			if (pfd[p].revents && !client_read(n, c, mono))
				client_close(n, owner[p]);
			else if (mono - c->active_ms > CLIENT_IDLE_MS)
				client_close(n, owner[p]);
		}
		if (pfd[1].revents & POLLIN)
			accept_clients(n, mono);
		pthread_mutex_lock(&n->mu);
		nf_digest_tick(n->digest, clock_epoch_ms(), notifier_window_closed, n);
		pthread_mutex_unlock(&n->mu);
	}
}

/* Binds the UNIX socket, replacing a stale socket file but nothing else. */
static int listen_unix(struct notifier *n, struct cf_err *err)
{
	const char *path = n->cfg.socket;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;

	memcpy(addr.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return cf_err_set(err, "%s exists and is not a socket; not replacing it",
					  path);
		int probe = socket(AF_UNIX, SOCK_STREAM, 0);
		bool live = probe >= 0 &&
			    connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0;
		if (probe >= 0)
			close(probe);
		if (live)
			return cf_err_set(err, "%s: another notifier is listening there", path);
		if (unlink(path) < 0)
			return cf_err_errno(err, "removing the stale socket %s", path);
	}
	n->listener = socket(AF_UNIX, SOCK_STREAM, 0);
	if (n->listener < 0)
		return cf_err_errno(err, "socket");
	/* 0660: gateways reach the notifier through the socket's group. */
	mode_t old = umask(0117);
	int rc = bind(n->listener, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (rc < 0)
		return cf_err_errno(err, "binding %s", path);
	n->socket_created = true;
	if (listen(n->listener, 128) < 0 || fcntl(n->listener, F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(n->listener, F_SETFD, FD_CLOEXEC) < 0)
		return cf_err_errno(err, "listening on %s", path);
	return 0;
}

/* scheme://host of a URL: user information and path may carry a credential (a Slack webhook's
 * path is one). */
static void url_shown(const char *url, char *out, size_t size)
{
	const char *sep = strstr(url, "://");
	const char *host = sep ? sep + 3 : url;
	const char *end = host + strcspn(host, "/?#");
	const char *at = memchr(host, '@', (size_t)(end - host));
	const char *shown = at ? at + 1 : host;
	snprintf(out, size, "%.*s%.*s", (int)(host - url), url, (int)(end - shown), shown);
}

static int install_signals(struct cf_err *err)
{
	struct sigaction sa = {.sa_handler = on_stop_signal};
	if (pipe(stop_pipe) < 0)
		return cf_err_errno(err, "pipe");
	for (int i = 0; i < 2; i++)
		if (fcntl(stop_pipe[i], F_SETFL, O_NONBLOCK) < 0 ||
		    fcntl(stop_pipe[i], F_SETFD, FD_CLOEXEC) < 0)
			return cf_err_errno(err, "pipe");
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return cf_err_errno(err, "sigaction");
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void shutdown_notifier(struct notifier *n)
{
	if (n->listener >= 0)
		close(n->listener);
	if (n->socket_created && unlink(n->cfg.socket) < 0)
		log_warn("removing %s: %s", n->cfg.socket, strerror(errno));
	for (size_t i = 0; i < CLIENTS_MAX; i++)
		if (n->clients[i])
			client_close(n, i);
	if (n->http)
		httpd_stop(n->http);
	notifier_sender_stop(n);
	for (int i = 0; i < 2; i++)
		if (stop_pipe[i] >= 0)
			close(stop_pipe[i]);
	stop_pipe[0] = stop_pipe[1] = -1;
	nf_digest_free(n->digest);
	tokens_free(n->tokens);
	free(n->digest_url);
	notifycfg_free(&n->cfg);
	pthread_cond_destroy(&n->out_cv);
	pthread_mutex_destroy(&n->out_mu);
	pthread_mutex_destroy(&n->mu);
}

static const char notifier_usage[] =
	"usage: clawfleet notifier --config FILE\n"
	"  collects gateways' webhook delivery failures on a UNIX socket, serves the digest\n"
	"  (GET /v1/webhook-digest) and broadcasts summaries to one channel; stops on SIGTERM\n";

int cmd_notifier(int argc, char **argv)
{
	struct notifier *n = NULL;
	struct diag_list diags = {0};
	struct cf_err err;
	int status = 1;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(notifier_usage, stdout);
		return 0;
	}
	if (argc != 3 || strcmp(argv[1], "--config") != 0) {
		fputs(notifier_usage, stderr);
		return 2;
	}
	log_init("notifier", LOG_INFO);
	n = calloc(1, sizeof(*n));
	if (!n) {
		fprintf(stderr, "clawfleet notifier: out of memory\n");
		return 1;
	}
	n->listener = -1;
	pthread_mutex_init(&n->mu, NULL);
	notifier_outbox_init(n);
	if (notifycfg_load(argv[2], &n->cfg, &diags) < 0) {
		diag_list_sort(&diags);
		diag_list_print(&diags, stderr);
		fprintf(stderr, "%s: configuration has errors, not starting\n", argv[2]);
		goto done;
	}
	url_shown(n->cfg.channel_url, n->channel_shown, sizeof(n->channel_shown));
	if (httpc_global_init(&err) < 0) {
		log_error("cannot start libcurl");
		goto done;
	}
	if (nf_digest_new(&n->digest, n->cfg.window_ms, clock_epoch_ms(), &err) < 0 ||
	    install_signals(&err) < 0)
		goto failed;
	if (n->cfg.tokens_dir) {
		struct tokens_config tc = TOKENS_CONFIG_INIT;
		tc.dir = n->cfg.tokens_dir;
		if (tokens_open(&n->tokens, &tc, &err) < 0)
			goto failed;
	}
	if (listen_unix(n, &err) < 0 || notifier_api_start(n, &err) < 0)
		goto failed;
	if (notifier_sender_start(n, &err) < 0)
		goto failed;
	char window[32];
	duration_format(n->cfg.window_ms, window, sizeof(window));
	log_info("collecting failures on %s, window %s, broadcasting %s to %s", n->cfg.socket,
		 window, n->cfg.channel_format == NOTIFY_SLACK ? "slack" : "generic",
		 n->channel_shown);
	if (ingest_loop(n) == 0)
		status = 0;
	log_info("stopping");
	goto done;
failed:
	log_error("%s", err.msg);
done:
	shutdown_notifier(n);
	diag_list_free(&diags);
	free(n);
	httpc_global_cleanup();
	return status;
}
