/* etcd_member: a real single-member etcd for a unit test, started on free loopback ports with
 * its own data directory (cmocka group setup and teardown), and skipped when etcd is not
 * installed (NEED_ETCD). client_url is where it answers, dead_url a port nothing listens on. */
#ifndef CLAWFLEET_TEST_ETCD_MEMBER_H
#define CLAWFLEET_TEST_ETCD_MEMBER_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/httpc.h"
#include "record/etcd.h"

static pid_t etcd_pid;
static char client_url[64], dead_url[64], data_dir[64];

/* A port nothing listens on right now: bound, read, closed. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static struct etcd *client(const char *const *endpoints, size_t n, long timeout_ms)
{
	struct etcd *e = NULL;
	struct etcd_options opts = {.endpoints = endpoints, .n_endpoints = n,
				    .timeout_ms = timeout_ms};
	struct cf_err err = {{0}};
	assert_int_equal(etcd_new(&e, &opts, &err), 0);
	return e;
}

static int start_etcd(void **state)
{
	(void)state;
	if (system("command -v etcd >/dev/null 2>&1") != 0)
		return 0;
	struct cf_err err = {{0}};
	assert_int_equal(httpc_global_init(&err), 0);
	snprintf(data_dir, sizeof(data_dir), "/tmp/test_etcd.XXXXXX");
	assert_non_null(mkdtemp(data_dir));
	int cport = free_port(), pport = free_port();
	char peer_url[64], cluster[96], dir[96];
	snprintf(client_url, sizeof(client_url), "http://127.0.0.1:%d", cport);
	snprintf(dead_url, sizeof(dead_url), "http://127.0.0.1:%d", free_port());
	snprintf(peer_url, sizeof(peer_url), "http://127.0.0.1:%d", pport);
	snprintf(cluster, sizeof(cluster), "t=%s", peer_url);
	snprintf(dir, sizeof(dir), "%s/data", data_dir);
	etcd_pid = fork();
	assert_true(etcd_pid >= 0);
	if (etcd_pid == 0) {
		if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout))
			_exit(127);
		execlp("etcd", "etcd", "--name", "t", "--data-dir", dir, "--listen-client-urls",
		       client_url, "--advertise-client-urls", client_url, "--listen-peer-urls",
		       peer_url, "--initial-advertise-peer-urls", peer_url, "--initial-cluster",
		       cluster, (char *)NULL);
		_exit(127);
	}
	const char *eps[] = {client_url};
	struct etcd *e = client(eps, 1, 1000);
	for (int i = 0; i < 100; i++) {
		struct etcd_kv kv;
		bool found = false;
		if (etcd_get(e, "ready", &kv, &found, &err) == 0)
			break;
		usleep(100 * 1000);
	}
	etcd_free(e);
	return 0;
}

static int stop_etcd(void **state)
{
	(void)state;
	if (etcd_pid > 0) {
		kill(etcd_pid, SIGTERM);
		waitpid(etcd_pid, NULL, 0);
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", data_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", data_dir);
		httpc_global_cleanup();
	}
	return 0;
}

#define NEED_ETCD()                                                                            \
	do {                                                                                   \
		if (etcd_pid <= 0)                                                             \
			skip();                                                                \
	} while (0)

#endif
