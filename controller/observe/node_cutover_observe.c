/* The I/O half of the cutover checks (the contract is node_cutover.h): reads the plist launchd
 * names, the gateway's log since its last restart, who listens on its port and the certificate
 * it serves, and hands each to its judge. Part of node_observe (node_observe_internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "observe/node_cutover.h"
#include "observe/node_observe_internal.h"
#include "reconcilers/plist.h"

#define LISTENERS_MAX 16
#define SHEBANG_MAX 256

int cutover_cert_not_after(const char *path, int64_t *not_after, struct cf_err *err)
{
	struct tm tm;
	int rc = -1;
	BIO *bio = BIO_new_file(path, "r");
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

	if (!bio)
		cf_err_set(err, "cannot open %s", path);
	else if (!cert)
		cf_err_set(err, "%s holds no PEM certificate", path);
	else if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
		cf_err_set(err, "%s: the certificate's notAfter does not parse", path);
	else
		rc = 0;
	if (rc == 0)
		*not_after = (int64_t)timegm(&tm);
	X509_free(cert);
	BIO_free(bio);
	return rc;
}

/* ---- the plist and the runtime it names ---- */

/* The interpreter a script's #! line names, into buf; "" when the file is not a script. */
static void shebang(const char *program, char *buf, size_t size)
{
	char head[SHEBANG_MAX];
	ssize_t n = 0;
	int fd = open(program, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	buf[0] = '\0';
	if (fd < 0)
		return;
	n = read(fd, head, sizeof(head) - 1);
	close(fd);
	if (n < 3 || head[0] != '#' || head[1] != '!')
		return;
	head[n] = '\0';
	char *s = head + 2 + strspn(head + 2, " \t");
	snprintf(buf, size, "%.*s", (int)strcspn(s, " \t\r\n"), s);
}

static bool same_file(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];
	return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

static void cutover_plist(struct observation *o)
{
	struct plist_info info;
	struct cf_err err;
	char interp[SHEBANG_MAX];
	const char *path = o->service_seen ? o->service.plist_path : "";

	if (!path[0] || access(path, F_OK) < 0)
		return;
	if (plist_read(path, &info, &err) < 0) {
		cutover_judge_plist(err.msg, &o->cutover);
		return;
	}
	const char *pinned = o->in.lock && o->in.lock->present ? o->in.lock->runtime_node : NULL;
	if (!pinned || !info.program[0])
		return;
	struct cutover_runtime rt = {.program = info.program};
	if (cutover_is_node(info.program)) {
		rt.node = info.program;
	} else {
		shebang(info.program, interp, sizeof(interp));
		if (interp[0] == '/' && cutover_is_node(interp))
			rt.node = interp;
	}
	rt.same_file = rt.node && same_file(rt.node, pinned);
	cutover_judge_runtime(pinned, &rt, &o->cutover);
}

/* ---- the log since the last restart ---- */

static int64_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* Moves the window when the gateway's pid changed since the last look (a restart, a crash, a
 * stop): its lines start after what the log held then. What the log held before the agent's
 * first look is not judged. */
static void move_window(struct cutover_state *cs, const char *path, int pid)
{
	int64_t size = file_size(path);

	if (strcmp(cs->log_path, path) != 0) {
		snprintf(cs->log_path, sizeof(cs->log_path), "%s", path);
		cs->log_start = size;
		cs->pid = pid;
	} else if (pid != cs->pid) {
		cs->log_start = cs->log_size;
		cs->pid = pid;
	}
	if (size < cs->log_start) /* rotated or truncated: the run's lines start at its top */
		cs->log_start = 0;
	cs->log_size = size;
}

static void cutover_log(struct node_observer *obs, struct observation *o, int pid)
{
	struct cutover_state *cs = &obs->cutover;
	struct cutover_log_scan scan;
	char *configured = obs->cfg->gateway_log ? agentcfg_path(obs->cfg, obs->cfg->gateway_log)
						 : NULL;
	const char *path = configured ? configured
				      : o->service_seen ? o->service.stderr_path : "";
	char *text = NULL;
	int fd = -1;

	if (!path[0])
		goto done;
	move_window(cs, path, pid);
	int64_t want = cs->log_size - cs->log_start;
	if (want <= 0 || (fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		goto done;
	if (want > CUTOVER_LOG_READ_MAX)
		want = CUTOVER_LOG_READ_MAX;
	if (!(text = malloc((size_t)want)))
		goto done;
	ssize_t n = pread(fd, text, (size_t)want, (off_t)cs->log_start);
	if (n <= 0)
		goto done;
	cutover_scan_log(text, (size_t)n, &scan);
	cutover_judge_log(path, &scan, &o->cutover);
done:
	if (fd >= 0)
		close(fd);
	free(text);
	free(configured);
}

/* ---- the port and the certificate ---- */

/* Another holder of the gateway's port is red only when two looks in a row find the same one
 * beside the same gateway: a restart has a moment when the old process still listens while the
 * service manager names the new one (or none), and that must not drain the gateway. */
static void cutover_port(struct node_observer *obs, struct observation *o, int pid)
{
	struct compat_listener listeners[LISTENERS_MAX];
	struct cutover_state *cs = &obs->cutover;
	size_t n;
	int port = (int)obs->cfg->gateway_port, other = 0;

	if (compat_port_listeners(port, (pid_t)pid, listeners, LISTENERS_MAX, &n) < 0)
		return;
	for (size_t i = 0; i < n && !other; i++)
		if (listeners[i].pid != (pid_t)pid || pid <= 0)
			other = (int)listeners[i].pid;
	bool again = other && other == cs->port_other && pid == cs->port_gateway;
	cs->port_other = other;
	cs->port_gateway = pid;
	if (again)
		cutover_judge_port(port, (pid_t)pid, listeners, n, &o->cutover);
}

static void cutover_tls(struct node_observer *obs, struct observation *o)
{
	struct cf_err err;
	int64_t not_after = 0;

	if (!obs->cfg->gateway_tls_cert)
		return;
	char *path = agentcfg_path(obs->cfg, obs->cfg->gateway_tls_cert);
	if (!path)
		return;
	bool read = cutover_cert_not_after(path, &not_after, &err) == 0;
	cutover_judge_tls(path, not_after, clock_epoch_ms() / 1000, read ? NULL : err.msg,
			  &o->cutover);
	free(path);
}

void observe_cutover(struct node_observer *obs, struct observation *o)
{
	int pid = o->service_seen && o->service.running ? o->service.pid : 0;

	cutover_plist(o);
	cutover_log(obs, o, pid);
	cutover_port(obs, o, pid);
	cutover_tls(obs, o);
	o->in.checks = o->cutover.v;
	o->in.nchecks = o->cutover.n;
}
