/* loadgen: the HTTP load generator of the benchmarks. Keep-alive HTTP/1.1 GETs of one path on
 * 127.0.0.1 over plain sockets, one request in flight per connection (no pipelining), the
 * connections shared out among a few threads that each wait on their own: with epoll on Linux,
 * whose cost per wait follows the connections that are ready, not all of them (with poll() over
 * 1,000 descriptors a thread, sock_poll, tcp_poll and fdget were a fifth of the load generator's
 * profile at 2,000 connections, and a request cost it 11-12 us of CPU instead of 9-10); with
 * poll() elsewhere.
 *
 *   loadgen -p PORT [-P PATH] [-c CONNECTIONS] [-t THREADS] [-a ADDRESSES]
 *           (-d SECONDS | -n REQUESTS)
 *
 * -a spreads the connections over ADDRESSES source addresses, 127.0.1.1 onwards (all of
 * 127.0.0.0/8 reaches a server on 127.0.0.1), so that a server's per-client limit counts them
 * apart; without it every connection comes from 127.0.0.1.
 * -d keeps every connection busy for SECONDS; -n sends REQUESTS requests on each connection, one
 * after the other (with -c 1: single requests in sequence, for latency). Prints one line:
 *   requests=N errors=N non200=N seconds=S rps=R p50_us=N p99_us=N max_us=N cpu_s=C
 * (non200: answers, counted in requests, whose status was not 200; cpu_s: the CPU time, user and
 * system, the load generator itself spent over those seconds, so that a benchmark can tell its
 * cost from the server's).
 * A request's latency runs from its first byte written to the last byte of its answer; each one
 * goes into a histogram of 1 us buckets below 65.536 ms and 1 ms buckets above, so memory does
 * not grow with the run. Every request has REQUEST_TIMEOUT_MS; a connection that fails (refused,
 * reset, timed out, an answer that is not HTTP/1.x with a Content-Length, or over
 * RESPONSE_MAX bytes) counts one error and is closed, not reopened. Exit 0 when every request
 * was answered, 1 when any failed, 2 for usage. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/compat.h"
#ifdef COMPAT_HAVE_EPOLL
#include <sys/epoll.h>
#endif

#define MAX_CONNECTIONS 4000
#define MAX_ADDRESSES 250
#define MAX_THREADS 64
#define MAX_SECONDS 600
#define MAX_REQUESTS 10000000L
#define MAX_PATH 1024
#define REQUEST_TIMEOUT_MS 5000
#define RESPONSE_MAX (64 * 1024)
#define SCAN_MS 100		/* how often the request timeouts and the deadline are checked */
#ifdef COMPAT_HAVE_EPOLL
#define READY_MAX 256		/* events taken from one epoll_wait */
#endif
#define FINE_BUCKETS 65536	/* 1 us each */
#define COARSE_BUCKETS 65536	/* 1 ms each, from 0; only values >= FINE_BUCKETS us land here */

struct histogram {
	uint64_t fine[FINE_BUCKETS];
	uint64_t coarse[COARSE_BUCKETS];
	uint64_t max_us;
};

/* An open connection always has a request in flight: the next one starts as an answer ends. */
struct conn {
	int fd;
	bool want_write;	/* the request did not fit the socket at once: wait to send */
	size_t sent;
	size_t received;
	size_t expected;	/* header + body length, once the header is complete; 0 before */
	int64_t started_ns;
	long done;		/* requests answered on this connection */
	char buf[RESPONSE_MAX];
};

struct options {
	int port;
	const char *path;
	int connections;
	int threads;
	int addresses;		/* source addresses; 0: 127.0.0.1 */
	int seconds;		/* 0 in -n mode */
	long requests;		/* per connection; 0 in -d mode */
};

struct worker {
	const struct options *opt;
	const char *request;
	size_t request_len;
	int n_conns;
	int open;		/* connections not yet closed */
	int64_t deadline_ns;	/* -d mode: no request starts after it; 0 in -n mode */
	struct conn *conns;
#ifdef COMPAT_HAVE_EPOLL
	int epfd;
	struct epoll_event ready[READY_MAX];
#else
	struct pollfd *pfds;
#endif
	struct histogram *hist;
	long requests;
	long errors;
	long non200;
	pthread_t thread;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* User and system CPU time of the whole process so far. */
static double cpu_seconds(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void record(struct histogram *h, int64_t elapsed_ns)
{
	uint64_t us = elapsed_ns > 0 ? (uint64_t)elapsed_ns / 1000 : 0;
	if (us < FINE_BUCKETS)
		h->fine[us]++;
	else
		h->coarse[us / 1000 < COARSE_BUCKETS ? us / 1000 : COARSE_BUCKETS - 1]++;
	if (us > h->max_us)
		h->max_us = us;
}

/* The smallest latency (us) at or below which at least share of the samples lie. */
static uint64_t percentile(const struct histogram *h, uint64_t total, double share)
{
	uint64_t rank = (uint64_t)(share * (double)total);
	uint64_t seen = 0;
	if (rank == 0)
		rank = 1;
	for (size_t i = 0; i < FINE_BUCKETS; i++) {
		seen += h->fine[i];
		if (seen >= rank)
			return i;
	}
	for (size_t i = 0; i < COARSE_BUCKETS; i++) {
		seen += h->coarse[i];
		if (seen >= rank)
			return i * 1000;
	}
	return h->max_us;
}

/* A blocking connect bounded by SO_SNDTIMEO (Linux applies it to connect), then non-blocking. */
static int open_conn(int port, int source)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct sockaddr_in from = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(0x7f000101u + (uint32_t)source),
	};
	struct timeval tv = {.tv_sec = REQUEST_TIMEOUT_MS / 1000};
	int one = 1;
	int fd = compat_socket(AF_INET, SOCK_STREAM, 0, O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    (source >= 0 && bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0) ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static void close_conn(struct worker *w, struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	w->open--;
}

static void fail_conn(struct worker *w, struct conn *c)
{
	w->errors++;
	close_conn(w, c);
}

/* Whether c waits to write (the rest of its request) or to read (its answer). */
static void want_write(struct worker *w, struct conn *c, bool writing)
{
	if (c->want_write == writing)
		return;
	c->want_write = writing;
#ifdef COMPAT_HAVE_EPOLL
	struct epoll_event ev = {.events = writing ? EPOLLOUT : EPOLLIN, .data.ptr = c};
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		fail_conn(w, c);
#else
	(void)w;
#endif
}

/* The value of header name in the complete header block hdr, or NULL. */
static const char *header_value(const char *hdr, const char *name)
{
	size_t name_len = strlen(name);
	for (const char *line = strstr(hdr, "\r\n"); line; line = strstr(line, "\r\n")) {
		line += 2;
		if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
			const char *v = line + name_len + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	}
	return NULL;
}

/* Once the header block is in: the whole answer's length, or 0 when it cannot be framed. */
static size_t framed_length(struct worker *w, struct conn *c, size_t header_len)
{
	char saved = c->buf[header_len];
	c->buf[header_len] = '\0';
	const char *length = header_value(c->buf, "Content-Length");
	const char *encoding = header_value(c->buf, "Transfer-Encoding");
	bool http = strncmp(c->buf, "HTTP/1.", 7) == 0 && c->buf[8] == ' ';
	int status = http ? atoi(c->buf + 9) : 0;
	char *end = NULL;
	unsigned long long body = length ? strtoull(length, &end, 10) : 0;
	bool framed = http && length && end != length && !encoding &&
		      body <= RESPONSE_MAX - header_len;
	c->buf[header_len] = saved;
	if (!framed)
		return 0;
	if (status != 200)
		w->non200++;
	return header_len + (size_t)body;
}

static void on_writable(struct worker *w, struct conn *c)
{
	ssize_t n = send(c->fd, w->request + c->sent, w->request_len - c->sent, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		want_write(w, c, true);
		return;
	}
	if (n <= 0) {
		fail_conn(w, c);
		return;
	}
	c->sent += (size_t)n;
	want_write(w, c, c->sent < w->request_len);
}

/* Sends the next request on c at once (it fits an idle socket's buffer), or closes c when no
 * more are due. */
static void next_request(struct worker *w, struct conn *c)
{
	int64_t now = now_ns();
	bool more = w->deadline_ns ? now < w->deadline_ns : c->done < w->opt->requests;
	if (!more) {
		close_conn(w, c);
		return;
	}
	c->sent = 0;
	c->received = 0;
	c->expected = 0;
	c->started_ns = now;
	on_writable(w, c);
}

static void on_readable(struct worker *w, struct conn *c)
{
	size_t room = sizeof(c->buf) - 1 - c->received;
	ssize_t n = recv(c->fd, c->buf + c->received, room, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* Closed, reset, or an answer that does not fit: this connection is done. */
	if (n <= 0 || (size_t)n == room) {
		fail_conn(w, c);
		return;
	}
	c->received += (size_t)n;
	c->buf[c->received] = '\0';
	if (c->expected == 0) {
		const char *end = strstr(c->buf, "\r\n\r\n");
		if (!end)
			return;
		c->expected = framed_length(w, c, (size_t)(end - c->buf) + 4);
		if (c->expected == 0) {
			fail_conn(w, c);
			return;
		}
	}
	if (c->received < c->expected)
		return;
	if (c->received > c->expected) {
		/* Bytes past the answer on a connection with one request in flight. */
		fail_conn(w, c);
		return;
	}
	record(w->hist, now_ns() - c->started_ns);
	w->requests++;
	c->done++;
	next_request(w, c);
}

/* Fails the connections whose request has waited longer than REQUEST_TIMEOUT_MS. */
static void expire(struct worker *w, int64_t now)
{
	for (int i = 0; i < w->n_conns; i++) {
		struct conn *c = &w->conns[i];
		if (c->fd >= 0 && now - c->started_ns > (int64_t)REQUEST_TIMEOUT_MS * 1000000)
			fail_conn(w, c);
	}
}

static void on_ready(struct worker *w, struct conn *c, bool writable)
{
	if (c->fd < 0)
		return;
	if (writable && c->want_write)
		on_writable(w, c);
	else
		on_readable(w, c);
}

#ifdef COMPAT_HAVE_EPOLL
static int watch_all(struct worker *w)
{
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -1;
	for (int i = 0; i < w->n_conns; i++) {
		struct conn *c = &w->conns[i];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (c->fd >= 0 && epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			return -1;
	}
	return 0;
}

/* Serves the connections that are ready within timeout_ms; -1 when the wait itself fails. */
static int serve_ready(struct worker *w, int timeout_ms)
{
	int n = epoll_wait(w->epfd, w->ready, READY_MAX, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++)
		on_ready(w, w->ready[i].data.ptr, w->ready[i].events & EPOLLOUT);
	return 0;
}

static void unwatch_all(struct worker *w)
{
	if (w->epfd >= 0)
		close(w->epfd);
}
#else
static int watch_all(struct worker *w)
{
	w->pfds = calloc((size_t)w->n_conns, sizeof(*w->pfds));
	return w->pfds ? 0 : -1;
}

static int serve_ready(struct worker *w, int timeout_ms)
{
	for (int i = 0; i < w->n_conns; i++) {
		struct conn *c = &w->conns[i];
		w->pfds[i].fd = c->fd;
		w->pfds[i].events = c->want_write ? POLLOUT : POLLIN;
		w->pfds[i].revents = 0;
	}
	int ready = poll(w->pfds, (nfds_t)w->n_conns, timeout_ms);
	if (ready < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; ready > 0 && i < w->n_conns; i++) {
		short ev = w->pfds[i].revents;
		if (ev == 0)
			continue;
		ready--;
		on_ready(w, &w->conns[i], ev & POLLOUT);
	}
	return 0;
}

static void unwatch_all(struct worker *w)
{
	free(w->pfds);
}
#endif

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < w->n_conns; i++)
		w->open += w->conns[i].fd >= 0;
	if (watch_all(w) < 0) {
		w->errors += w->open;
		goto done;
	}
	for (int i = 0; i < w->n_conns; i++) {
		if (w->conns[i].fd >= 0)
			next_request(w, &w->conns[i]);
	}
	int64_t last_scan = now_ns();
	while (w->open > 0) {
		if (serve_ready(w, SCAN_MS) < 0) {
			w->errors += w->open;
			break;
		}
		int64_t now = now_ns();
		if (now - last_scan >= (int64_t)SCAN_MS * 1000000) {
			expire(w, now);
			last_scan = now;
		}
	}
done:
	unwatch_all(w);
	for (int i = 0; i < w->n_conns; i++) {
		if (w->conns[i].fd >= 0) {
			close(w->conns[i].fd);
			w->conns[i].fd = -1;
		}
	}
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: loadgen -p PORT [-P PATH] [-c CONNECTIONS] [-t THREADS] "
			"[-a ADDRESSES] (-d SECONDS | -n REQUESTS)\n");
	return 2;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	long v = 0;
	int ch;
	*opt = (struct options){.path = "/readyz", .connections = 1, .threads = 1};
	while ((ch = getopt(argc, argv, "p:P:c:t:a:d:n:")) != -1) {
		switch (ch) {
		case 'p':
			if (!parse_long(optarg, 1, 65535, &v))
				return -1;
			opt->port = (int)v;
			break;
		case 'P':
			if (optarg[0] != '/' || strlen(optarg) > MAX_PATH ||
			    strpbrk(optarg, " \r\n"))
				return -1;
			opt->path = optarg;
			break;
		case 'c':
			if (!parse_long(optarg, 1, MAX_CONNECTIONS, &v))
				return -1;
			opt->connections = (int)v;
			break;
		case 't':
			if (!parse_long(optarg, 1, MAX_THREADS, &v))
				return -1;
			opt->threads = (int)v;
			break;
		case 'a':
			if (!parse_long(optarg, 1, MAX_ADDRESSES, &v))
				return -1;
			opt->addresses = (int)v;
			break;
		case 'd':
			if (!parse_long(optarg, 1, MAX_SECONDS, &v))
				return -1;
			opt->seconds = (int)v;
			break;
		case 'n':
			if (!parse_long(optarg, 1, MAX_REQUESTS, &v))
				return -1;
			opt->requests = v;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc || opt->port == 0 || (opt->seconds == 0) == (opt->requests == 0))
		return -1;
	if (opt->threads > opt->connections)
		opt->threads = opt->connections;
	return 0;
}

int main(int argc, char **argv)
{
	struct options opt;
	struct worker *workers = NULL;
	struct conn *conns = NULL;
	struct histogram *total = NULL;
	char request[MAX_PATH + 128];
	int started = 0, status = 1;

	if (parse_options(argc, argv, &opt) < 0)
		return usage();
	int request_len = snprintf(request, sizeof(request),
				   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
				   "User-Agent: clawfleet-loadgen\r\nAccept: */*\r\n\r\n",
				   opt.path, opt.port);
	workers = calloc((size_t)opt.threads, sizeof(*workers));
	conns = calloc((size_t)opt.connections, sizeof(*conns));
	total = calloc(1, sizeof(*total));
	if (!workers || !conns || !total) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto done;
	}
	for (int i = 0; i < opt.connections; i++)
		conns[i].fd = -1;
	long connect_errors = 0;
	for (int i = 0; i < opt.connections; i++) {
		conns[i].fd = open_conn(opt.port, opt.addresses ? i % opt.addresses : -1);
		if (conns[i].fd < 0)
			connect_errors++;
	}
	if (connect_errors == opt.connections) {
		fprintf(stderr, "loadgen: cannot connect to 127.0.0.1:%d: %s\n", opt.port,
			strerror(errno));
		goto done;
	}

	int64_t t0 = now_ns();
	double cpu0 = cpu_seconds();
	for (int i = 0, first = 0; i < opt.threads; i++) {
		struct worker *w = &workers[i];
		int share = opt.connections / opt.threads + (i < opt.connections % opt.threads);
		*w = (struct worker){
			.opt = &opt,
			.request = request,
			.request_len = (size_t)request_len,
			.n_conns = share,
			.deadline_ns = opt.seconds ? t0 + (int64_t)opt.seconds * 1000000000 : 0,
			.conns = conns + first,
#ifdef COMPAT_HAVE_EPOLL
			.epfd = -1,
#endif
			.hist = calloc(1, sizeof(struct histogram)),
		};
		first += share;
		if (!w->hist || pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			free(w->hist);
			w->hist = NULL;
			fprintf(stderr, "loadgen: cannot start thread %d\n", i + 1);
			break;
		}
		started++;
	}
	long requests = 0, errors = connect_errors, non200 = 0;
	for (int i = 0; i < started; i++) {
		struct worker *w = &workers[i];
		pthread_join(w->thread, NULL);
		requests += w->requests;
		errors += w->errors;
		non200 += w->non200;
		for (size_t b = 0; b < FINE_BUCKETS; b++)
			total->fine[b] += w->hist->fine[b];
		for (size_t b = 0; b < COARSE_BUCKETS; b++)
			total->coarse[b] += w->hist->coarse[b];
		if (w->hist->max_us > total->max_us)
			total->max_us = w->hist->max_us;
	}
	double seconds = (double)(now_ns() - t0) / 1e9;
	double cpu = cpu_seconds() - cpu0;
	if (started < opt.threads)
		goto done;
	printf("requests=%ld errors=%ld non200=%ld seconds=%.3f rps=%.0f p50_us=%llu p99_us=%llu "
	       "max_us=%llu cpu_s=%.3f\n",
	       requests, errors, non200, seconds, seconds > 0 ? (double)requests / seconds : 0.0,
	       (unsigned long long)percentile(total, (uint64_t)requests, 0.50),
	       (unsigned long long)percentile(total, (uint64_t)requests, 0.99),
	       (unsigned long long)total->max_us, cpu);
	status = errors == 0 && requests > 0 ? 0 : 1;
done:
	for (int i = 0; i < started; i++)
		free(workers[i].hist);
	for (int i = 0; conns && i < opt.connections; i++) {
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	}
	free(workers);
	free(conns);
	free(total);
	return status;
}
