/* The HAProxy Runtime API's connections (haproxy_internal.h): a connection per command, or a
 * session in interactive mode for many. */
#include "reconcilers/weights/haproxy_internal.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/compat.h"

#define PROMPT "> "

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - clock_mono_ms();
	return left > 0 ? (int)left : 0;
}

const char *hap_endpoint(const struct load_balancer *lb)
{
	return lb->haproxy.socket ? lb->haproxy.socket : lb->haproxy.address;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, remaining_ms(deadline));
		if (n > 0)
			return 0;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* A connect bounded by the deadline; the socket stays non-blocking for the exchange. */
static int connect_addr(const struct sockaddr *sa, socklen_t salen, int64_t deadline)
{
	int fd = compat_socket(sa->sa_family, SOCK_STREAM, 0, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (connect(fd, sa, salen) == 0)
		return fd;
	if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
			return fd;
		errno = soerr ? soerr : errno;
	}
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static int connect_unix(const char *path, int64_t deadline, struct cf_err *err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path))
		return cf_err_set(err, "socket path is longer than %zu bytes",
				  sizeof(sun.sun_path) - 1);
	strcpy(sun.sun_path, path);
	int fd = connect_addr((struct sockaddr *)&sun, sizeof(sun), deadline);
	if (fd < 0)
		return cf_err_errno(err, "connecting");
	return fd;
}

/* "host:port" or "[v6]:port". The resolver is asked only for a name that is not numeric, and it
 * has its own timeout (resolv.conf); loopback names resolve from /etc/hosts. */
static int connect_tcp(const char *address, int64_t deadline, struct cf_err *err)
{
	char host[262];
	const char *colon = strrchr(address, ':');
	if (!colon || colon == address || (size_t)(colon - address) >= sizeof(host) || !colon[1])
		return cf_err_set(err, "address must be host:port");
	const char *h = address;
	size_t hlen = (size_t)(colon - address);
	if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';

	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host, colon + 1, &hints, &res);
	if (gai != 0)
		return cf_err_set(err, "resolving %s: %s", host, gai_strerror(gai));
	int fd = -1;
	errno = ETIMEDOUT;
	for (struct addrinfo *ai = res; ai && fd < 0 && remaining_ms(deadline) > 0; ai = ai->ai_next)
		fd = connect_addr(ai->ai_addr, ai->ai_addrlen, deadline);
	if (fd < 0)
		cf_err_errno(err, "connecting");
	freeaddrinfo(res);
	return fd;
}

static int send_all(int fd, const char *data, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -1;
		if (wait_fd(fd, POLLOUT, deadline) < 0)
			return -1;
	}
	return 0;
}

/* Reads until HAProxy closes the connection, which it does after answering one command. */
static int recv_all(int fd, char **out, int64_t deadline, struct cf_err *err)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		return cf_err_set(err, "out of memory");
	for (;;) {
		if (len == cap) {
			if (cap >= WEIGHTS_REPLY_MAX) {
				free(buf);
				return cf_err_set(err, "reply is over %u bytes", WEIGHTS_REPLY_MAX);
			}
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return cf_err_set(err, "out of memory");
			}
			buf = nb;
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || wait_fd(fd, POLLIN, deadline) < 0) {
			if (errno == ETIMEDOUT)
				cf_err_set(err, "no complete reply within %d ms",
					   WEIGHTS_REQUEST_TIMEOUT_MS);
			else
				cf_err_errno(err, "reading the reply");
			free(buf);
			return -1;
		}
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* One command, one connection, one reply (malloc'd). */
int hap_command(const struct load_balancer *lb, const char *cmd, char **reply,
		struct cf_err *err)
{
	int64_t start = clock_mono_ms();
	int64_t deadline = start + WEIGHTS_REQUEST_TIMEOUT_MS;
	int64_t connect_deadline = start + WEIGHTS_CONNECT_TIMEOUT_MS;
	char *line = NULL;
	int fd = -1, rc = -1;

	*reply = NULL;
	fd = lb->haproxy.socket ? connect_unix(lb->haproxy.socket, connect_deadline, err)
				: connect_tcp(lb->haproxy.address, connect_deadline, err);
	if (fd < 0)
		goto done;
	if (asprintf(&line, "%s\n", cmd) < 0) {
		line = NULL;
		cf_err_set(err, "out of memory");
		goto done;
	}
	if (send_all(fd, line, strlen(line), deadline) < 0) {
		cf_err_errno(err, "sending \"%s\"", cmd);
		goto done;
	}
	if (recv_all(fd, reply, deadline, err) < 0) {
		cf_err_prefix(err, "\"%s\"", cmd);
		goto done;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	free(line);
	if (rc < 0)
		cf_err_prefix(err, "haproxy runtime API at %s", hap_endpoint(lb));
	return rc;
}


/* The next answer from s->pos, when it is all there: its lines up to the empty line, and the
 * prompt after it. 1: one more answer; 0: more to read; -1: not an interactive-mode reply. */
static int take_answer(struct hap_session *s, struct cf_err *err)
{
	size_t p = s->pos;
	while (p < s->len && s->buf[p] != '\n') {
		const char *nl = memchr(s->buf + p, '\n', s->len - p);
		if (!nl)
			return 0;
		p = (size_t)(nl - s->buf) + 1;
	}
	if (p + strlen(PROMPT) + 1 > s->len)
		return 0;
	if (memcmp(s->buf + p + 1, PROMPT, strlen(PROMPT)) != 0)
		return cf_err_set(err, "answer %zu: no prompt after it (not HAProxy's interactive "
				  "mode?)", s->nanswers + 1);
	if (s->nanswers == s->acap) {
		size_t acap = s->acap ? s->acap * 2 : 64;
		char **a = realloc(s->answers, acap * sizeof(*a));
		if (!a)
			return cf_err_set(err, "out of memory");
		s->answers = a;
		s->acap = acap;
	}
	/* As a reply of its own would read: the lines and the empty line. */
	char *answer = strndup(s->buf + s->pos, p + 1 - s->pos);
	if (!answer)
		return cf_err_set(err, "out of memory");
	s->answers[s->nanswers++] = answer;
	s->pos = p + 1 + strlen(PROMPT);
	return 1;
}

static int read_some(struct hap_session *s, struct cf_err *err)
{
	if (s->cap - s->len < 4096) {
		if (s->cap >= 2 * (size_t)WEIGHTS_REPLY_MAX)
			return cf_err_set(err, "the session's answers are over %u bytes",
					  2 * WEIGHTS_REPLY_MAX);
		size_t cap = s->cap ? s->cap * 2 : 16384;
		char *b = realloc(s->buf, cap);
		if (!b)
			return cf_err_set(err, "out of memory");
		s->buf = b;
		s->cap = cap;
	}
	ssize_t n = recv(s->fd, s->buf + s->len, s->cap - s->len, 0);
	if (n > 0) {
		s->len += (size_t)n;
		return 0;
	}
	if (n == 0)
		return cf_err_set(err, "HAProxy closed the connection after %zu answers",
				  s->nanswers);
	if (errno == EINTR || errno == EAGAIN)
		return 0;
	return cf_err_errno(err, "reading the answers");
}

int hap_session_run(struct hap_session *s, const char *script, size_t len, size_t nanswers,
		    struct cf_err *err)
{
	size_t want = s->nanswers + nanswers, sent = 0;
	for (;;) {
		int got = 1;
		while (s->nanswers < want && (got = take_answer(s, err)) == 1)
			;
		if (got < 0)
			return -1;
		if (s->nanswers >= want && sent == len)
			return 0;
		struct pollfd p = {.fd = s->fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
		int n = poll(&p, 1, remaining_ms(s->deadline));
		if (n == 0)
			return cf_err_set(err, "%zu of %zu answers within %d ms", nanswers -
					  (want - s->nanswers), nanswers, WEIGHTS_REQUEST_TIMEOUT_MS);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cf_err_errno(err, "waiting for the answers");
		}
		if ((p.revents & POLLOUT) && sent < len) {
			ssize_t w = send(s->fd, script + sent, len - sent, MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EINTR && errno != EAGAIN)
				return cf_err_errno(err, "sending the commands");
		}
		if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && read_some(s, err) < 0)
			return -1;
	}
}

int hap_session_open(const struct load_balancer *lb, struct hap_session *s, struct cf_err *err)
{
	int64_t start = clock_mono_ms();
	*s = (struct hap_session){.fd = -1, .deadline = start + WEIGHTS_REQUEST_TIMEOUT_MS,
				  .endpoint = hap_endpoint(lb)};
	s->fd = lb->haproxy.socket
			? connect_unix(lb->haproxy.socket, start + WEIGHTS_CONNECT_TIMEOUT_MS, err)
			: connect_tcp(lb->haproxy.address, start + WEIGHTS_CONNECT_TIMEOUT_MS, err);
	if (s->fd < 0)
		return cf_err_prefix(err, "haproxy runtime API at %s", s->endpoint);
	if (hap_session_run(s, "prompt\n", strlen("prompt\n"), 1, err) < 0)
		return cf_err_prefix(err, "haproxy runtime API at %s: \"prompt\"", s->endpoint);
	return 0;
}

void hap_session_close(struct hap_session *s)
{
	if (s->fd >= 0)
		close(s->fd);
	for (size_t i = 0; i < s->nanswers; i++)
		free(s->answers[i]);
	free(s->answers);
	free(s->buf);
	*s = (struct hap_session){.fd = -1};
}
