/* haproxy_internal: private to the haproxy driver's files (haproxy.c, the driver's operations;
 * haproxy_cli.c, the Runtime API's connections). Nothing else includes it.
 *
 * Two ways to talk to the Runtime API, both bounded by WEIGHTS_REQUEST_TIMEOUT_MS:
 *
 *   hap_command  one command, one connection, the reply until HAProxy closes it;
 *   a session    one connection in HAProxy's interactive mode ("prompt"), many commands.
 *                Each command's answer ends with an empty line (HAProxy never prints one
 *                inside an answer) and the prompt "> ", so every answer is read apart: an
 *                error stays with the command it answers. hap_session_run sends a script
 *                (commands separated by ';' on lines of at most HAP_LINE_MAX bytes, which
 *                fits HAProxy's default 16 KiB buffer) while it reads, so a long script never
 *                waits on a full socket, and returns when it holds the answers asked for. */
#ifndef CLAWFLEET_HAPROXY_INTERNAL_H
#define CLAWFLEET_HAPROXY_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "reconcilers/weights/weights.h"

#define HAP_LINE_MAX 8192

struct hap_session {
	int fd;
	int64_t deadline;
	const char *endpoint;
	char *buf;	    /* what HAProxy sent, from the session's start */
	size_t len, cap;
	size_t pos;	    /* where the next answer begins */
	char **answers;	    /* each answer as a reply: its lines and the empty line */
	size_t nanswers, acap;
};

const char *hap_endpoint(const struct load_balancer *lb);
/* One command, one connection, one reply (malloc'd). */
int hap_command(const struct load_balancer *lb, const char *cmd, char **reply,
		struct cf_err *err);

/* Connects and enters interactive mode; hap_session_close it whether or not this succeeds. */
int hap_session_open(const struct load_balancer *lb, struct hap_session *s, struct cf_err *err);
/* Sends script (len bytes, whole lines) and reads until s->nanswers grew by nanswers. */
int hap_session_run(struct hap_session *s, const char *script, size_t len, size_t nanswers,
		    struct cf_err *err);
void hap_session_close(struct hap_session *s);

#endif
