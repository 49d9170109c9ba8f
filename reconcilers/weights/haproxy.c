#include "reconcilers/weights/weights.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/compat.h"

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - clock_mono_ms();
	return left > 0 ? (int)left : 0;
}

/* A map path goes into the CLI as one word: no space, separator, escape or control character,
 * and not the "#<id>" form. */
static bool map_path_ok(const char *s)
{
	if (!s || !*s || *s == '#' || strlen(s) > 4096)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || *s == ';' || *s == '\\' || *s == '"' || *s == '\'')
			return false;
	return true;
}

static int check_map(const struct load_balancer *lb, struct cf_err *err)
{
	if (map_path_ok(lb->haproxy.tenant_map))
		return 0;
	return cf_err_set(err, "LoadBalancer/%s: haproxy.tenantMap \"%.80s\" holds a space, quote, "
			  "';' or '\\', or starts with '#'", lb->name ? lb->name : "-",
			  lb->haproxy.tenant_map);
}

static const char *endpoint(const struct load_balancer *lb)
{
	return lb->haproxy.socket ? lb->haproxy.socket : lb->haproxy.address;
}

static int check_config(const struct load_balancer *lb, struct cf_err *err)
{
	if (!lb->haproxy.socket && !lb->haproxy.address)
		return cf_err_set(err, "LoadBalancer/%s: haproxy needs socket or address",
				  lb->name ? lb->name : "-");
	if (!weights_name_ok(lb->haproxy.backend))
		return cf_err_set(err, "LoadBalancer/%s: haproxy.backend \"%.80s\": want 1 to %d of "
				  "A-Z a-z 0-9 _ . : -", lb->name ? lb->name : "-",
				  lb->haproxy.backend ? lb->haproxy.backend : "",
				  WEIGHTS_SERVER_NAME_MAX);
	return 0;
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
static int hap_command(const struct load_balancer *lb, const char *cmd, char **reply,
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
		cf_err_prefix(err, "haproxy runtime API at %s", endpoint(lb));
	return rc;
}

static int hap_get(const struct load_balancer *lb, struct weight_map *out, struct cf_err *err)
{
	char cmd[128], *reply = NULL;
	int rc = -1;
	if (check_config(lb, err) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "show servers state %s", lb->haproxy.backend);
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (weights_haproxy_parse_state(reply, lb->haproxy.backend, out, err) < 0) {
		cf_err_prefix(err, "haproxy runtime API at %s", endpoint(lb));
		goto done;
	}
	rc = 0;
done:
	free(reply);
	return rc;
}

static int hap_set(const struct load_balancer *lb, const struct weight_map *want,
		   struct cf_err *err)
{
	struct weight_map have = {0};
	char cmd[256], *reply = NULL;
	int rc = -1;

	if (hap_get(lb, &have, err) < 0)
		goto done;
	for (size_t i = 0; i < want->n; i++) {
		const struct weight_entry *w = &want->v[i];
		const struct weight_entry *h = weight_map_find(&have, w->server);
		if (h && h->weight == w->weight)
			continue;
		if (!weights_name_ok(w->server)) {
			cf_err_set(err, "server name \"%.80s\" is not safe to send", w->server);
			goto done;
		}
		snprintf(cmd, sizeof(cmd), "set weight %s/%s %d", lb->haproxy.backend, w->server,
			 w->weight);
		if (hap_command(lb, cmd, &reply, err) < 0)
			goto done;
		if (weights_haproxy_check_empty(reply, err) < 0) {
			cf_err_prefix(err, "haproxy runtime API at %s: \"%s\"", endpoint(lb), cmd);
			goto done;
		}
		free(reply);
		reply = NULL;
	}
	rc = 0;
done:
	free(reply);
	weight_map_free(&have);
	return rc;
}

static int hap_route_tenant(const struct load_balancer *lb, const char *header_value,
			    const char *pool, struct cf_err *err)
{
	char *cmd = NULL, *reply = NULL, got[WEIGHTS_SERVER_NAME_MAX + 1];
	const char *map = lb->haproxy.tenant_map;
	bool found;
	int rc = -1;

	if (check_config(lb, err) < 0)
		return -1;
	if (!map)
		return cf_err_set(err, "LoadBalancer/%s: haproxy.tenantMap is needed to route "
				  "tenants", lb->name ? lb->name : "-");
	if (check_map(lb, err) < 0)
		return -1;
	if (asprintf(&cmd, "set map %s %s %s", map, header_value, pool) < 0)
		goto oom;
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (strncmp(reply, "entry not found", 15) == 0) {
		free(cmd);
		free(reply);
		reply = NULL;
		if (asprintf(&cmd, "add map %s %s %s", map, header_value, pool) < 0)
			goto oom;
		if (hap_command(lb, cmd, &reply, err) < 0)
			goto done;
	}
	if (weights_haproxy_check_empty(reply, err) < 0)
		goto fail;
	free(cmd);
	free(reply);
	reply = NULL;
	if (asprintf(&cmd, "get map %s %s", map, header_value) < 0)
		goto oom;
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (weights_haproxy_parse_get_map(reply, &found, got, sizeof(got), err) < 0)
		goto fail;
	if (!found || strcmp(got, pool) != 0) {
		cf_err_set(err, "tenant %s: want pool %s, got %s on reading back", header_value, pool,
			   found ? got : "no route");
		goto fail;
	}
	rc = 0;
	goto done;
oom:
	cmd = NULL;
	cf_err_set(err, "out of memory");
	goto done;
fail:
	cf_err_prefix(err, "haproxy runtime API at %s: \"%s\"", endpoint(lb), cmd);
done:
	free(cmd);
	free(reply);
	return rc;
}

/* show servers state, then show stat for the sessions. */
static int hap_servers(const struct load_balancer *lb, struct lb_servers *out, struct cf_err *err)
{
	char cmd[128], *reply = NULL;
	int rc = -1;
	if (check_config(lb, err) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "show servers state %s", lb->haproxy.backend);
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (weights_haproxy_parse_servers(reply, lb->haproxy.backend, out, err) < 0)
		goto fail;
	free(reply);
	reply = NULL;
	snprintf(cmd, sizeof(cmd), "show stat %s 4 -1", lb->haproxy.backend);
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (weights_haproxy_parse_sessions(reply, lb->haproxy.backend, out, err) < 0)
		goto fail;
	rc = 0;
	goto done;
fail:
	cf_err_prefix(err, "haproxy runtime API at %s", endpoint(lb));
done:
	free(reply);
	return rc;
}

/* `set server <backend>/<server> state drain|ready`, read back with show servers state. "ready"
 * also ends a maintenance set by hand: HAProxy has one admin state for both. */
static int hap_drain(const struct load_balancer *lb, const char *server, bool drain,
		     struct cf_err *err)
{
	struct lb_servers got = {0};
	char cmd[256], *reply = NULL;
	const char *state = drain ? "drain" : "ready";
	int rc = -1;
	if (check_config(lb, err) < 0)
		return -1;
	if (!weights_name_ok(server))
		return cf_err_set(err, "server name \"%.80s\" is not safe to send", server);
	snprintf(cmd, sizeof(cmd), "set server %s/%s state %s", lb->haproxy.backend, server, state);
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (weights_haproxy_check_empty(reply, err) < 0) {
		cf_err_prefix(err, "haproxy runtime API at %s: \"%s\"", endpoint(lb), cmd);
		goto done;
	}
	if (hap_servers(lb, &got, err) < 0) {
		cf_err_prefix(err, "reading the state of %s back", server);
		goto done;
	}
	const struct lb_server *s = lb_servers_find(&got, server);
	if (!s || s->draining != drain) {
		cf_err_set(err, "haproxy load balancer: server %s: want state %s, %s on reading back",
			   server, state, !s ? "not listed" : s->draining ? "drain" : "ready");
		goto done;
	}
	rc = 0;
done:
	free(reply);
	lb_servers_free(&got);
	return rc;
}

/* show map: every entry of haproxy.tenantMap; none without a tenant map. */
static int hap_routes(const struct load_balancer *lb, struct lb_routes *out, struct cf_err *err)
{
	char *cmd = NULL, *reply = NULL;
	const char *map = lb->haproxy.tenant_map;
	int rc = -1;
	if (check_config(lb, err) < 0)
		return -1;
	if (!map)
		return 0;
	if (check_map(lb, err) < 0)
		return -1;
	if (asprintf(&cmd, "show map %s", map) < 0) {
		cmd = NULL;
		cf_err_set(err, "out of memory");
		goto done;
	}
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (weights_haproxy_parse_map(reply, out, err) < 0) {
		cf_err_prefix(err, "haproxy runtime API at %s: \"%s\"", endpoint(lb), cmd);
		goto done;
	}
	rc = 0;
done:
	free(cmd);
	free(reply);
	return rc;
}

const struct weights_driver weights_haproxy = {
	.name = "haproxy",
	.get = hap_get,
	.set = hap_set,
	.route_tenant = hap_route_tenant,
	.servers = hap_servers,
	.drain = hap_drain,
	.routes = hap_routes,
};
