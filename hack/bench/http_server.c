/* http_server: the HTTP server of the daemons (serve/httpd.h) alone, serving GET /healthz on
 * 127.0.0.1, for the connection benchmark (bench_connections.sh).
 *
 *   http_server PORT_FILE MAX_CONNECTIONS PER_CLIENT [THREADS]
 *
 * Writes the port it is bound to into PORT_FILE once it answers, and serves until SIGTERM or
 * SIGINT. Exit 0 after a signal, 1 when the server cannot start, 2 for usage. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "serve/httpd.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static unsigned int number(const char *text)
{
	char *end = NULL;
	unsigned long v = strtoul(text, &end, 10);
	return *text && end && !*end && v <= 100000 ? (unsigned int)v : 0;
}

int main(int argc, char **argv)
{
	static const struct httpd_route route = {"GET", "/healthz", httpd_healthz, NULL, 0, NULL};
	struct httpd *srv = NULL;
	struct cf_err err;
	char port[16];
	if (argc < 4 || argc > 5 || !number(argv[2]) || !number(argv[3]) ||
	    (argc == 5 && !number(argv[4]))) {
		fprintf(stderr, "usage: http_server PORT_FILE MAX_CONNECTIONS PER_CLIENT [THREADS]\n");
		return 2;
	}
	struct httpd_config cfg = {
		.listen = "127.0.0.1:0",
		.routes = &route,
		.n_routes = 1,
		.max_connections = number(argv[2]),
		.per_client_connections = number(argv[3]),
		.threads = argc == 5 ? number(argv[4]) : 0,
	};
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (httpd_start(&srv, &cfg, &err) < 0) {
		fprintf(stderr, "http_server: %s\n", err.msg);
		return 1;
	}
	int len = snprintf(port, sizeof(port), "%u\n", httpd_port(srv));
	if (fsutil_write_atomic(argv[1], port, (size_t)len, 0644, &err) < 0) {
		fprintf(stderr, "http_server: %s\n", err.msg);
		httpd_stop(srv);
		return 1;
	}
	/* A signal between the test and a pause() would be lost; a short sleep bounds that. */
	while (!stop)
		usleep(100 * 1000);
	httpd_stop(srv);
	return 0;
}
