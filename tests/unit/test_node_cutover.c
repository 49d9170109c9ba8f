/* The cutover checks' decisions, table by table: which log lines read as a stack trace and what
 * 200 lines after a restart say; the TLS thresholds (14 days degraded, 2 red); who holds the
 * gateway port (the rows of /proc/net/tcp, lsof's output, a socket this test listens on) and
 * what that makes the node; which plists launchd could load; the runtime a plist names against
 * the lock's pin. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/compat.h"
#include "observe/node_cutover.h"
#include "reconcilers/plist.h"

#define DAY 86400

static const char *codes(const struct cutover_checks *c, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < c->n; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s:%s", i ? " " : "", c->v[i].code,
				      probe_status_name(c->v[i].severity));
	return buf;
}

static void test_trace_lines(void **state)
{
	static const struct {
		const char *line;
		bool trace;
	} cases[] = {
		{"    at loadPlugin (/usr/local/lib/node_modules/openclaw/dist/plugins.js:88:21)", true},
		{"\tat async Gateway.start (gateway.js:1:1)", true},
		{"TypeError: Cannot read properties of undefined (reading 'x')", true},
		{"Error: listen EADDRINUSE: address already in use 127.0.0.1:18789", true},
		{"FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory", true},
		{"Uncaught exception in plugin slack", true},
		{"gateway: listening on http://127.0.0.1:18789", false},
		{"at the start of the day", false}, /* no indent: prose, not a frame */
		{"    at  ", false},
		{"errors: 0", false},
		{"", false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cutover_line_is_trace(cases[i].line, strlen(cases[i].line)) != cases[i].trace)
			fail_msg("\"%s\": want %s", cases[i].line, cases[i].trace ? "trace" : "clean");
}

static void test_log_scan_window(void **state)
{
	struct cutover_log_scan scan;
	struct cutover_checks out = {0};
	char buf[256];
	(void)state;

	const char *clean = "gateway: starting\ngateway: listening\n";
	cutover_scan_log(clean, strlen(clean), &scan);
	assert_int_equal(scan.lines, 2);
	assert_int_equal(scan.matches, 0);
	cutover_judge_log("/var/log/gw.log", &scan, &out);
	assert_int_equal(out.n, 0);

	const char *crash = "gateway: starting\r\nUncaught TypeError: x\n    at f (a.js:1:2)\n"
			    "    at g (b.js:3:4)";
	cutover_scan_log(crash, strlen(crash), &scan);
	assert_int_equal(scan.lines, 4);
	assert_int_equal(scan.matches, 3);
	assert_int_equal(scan.first_line, 2);
	assert_string_equal(scan.first, "Uncaught TypeError: x");
	cutover_judge_log("/var/log/gw.log", &scan, &out);
	assert_string_equal(codes(&out, buf, sizeof(buf)), "service.crash_log:red");
	assert_non_null(strstr(out.v[0].message, "line 2 of the first 4: \"Uncaught TypeError: x\""));

	/* A trace past the first 200 lines after the restart is not the restart's. */
	size_t len = 0, cap = 300 * 16;
	char *late = malloc(cap);
	for (int i = 0; i < 200; i++)
		len += (size_t)snprintf(late + len, cap - len, "line %d ok\n", i);
	len += (size_t)snprintf(late + len, cap - len, "Error: late\n");
	cutover_scan_log(late, len, &scan);
	assert_int_equal(scan.lines, CUTOVER_LOG_LINES);
	assert_int_equal(scan.matches, 0);
	free(late);
}

static void test_tls_thresholds(void **state)
{
	static const struct {
		int64_t left_s;
		const char *want;
	} cases[] = {
		{90 * DAY, ""},
		{14 * DAY, ""},
		{14 * DAY - 1, "tls.expiring:degraded"},
		{2 * DAY, "tls.expiring:degraded"},
		{2 * DAY - 1, "tls.expiring:red"},
		{3600, "tls.expiring:red"},
		{0, "tls.expiring:red"},
		{-5 * DAY, "tls.expiring:red"},
	};
	char buf[256];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cutover_checks out = {0};
		cutover_judge_tls("/etc/gw.crt", 1000000000 + cases[i].left_s, 1000000000, NULL, &out);
		if (strcmp(codes(&out, buf, sizeof(buf)), cases[i].want) != 0)
			fail_msg("%lld s left: got \"%s\", want \"%s\"", (long long)cases[i].left_s,
				 buf, cases[i].want);
	}
	struct cutover_checks out = {0};
	cutover_judge_tls("/etc/gw.crt", 0, 0, "cannot open /etc/gw.crt", &out);
	assert_string_equal(codes(&out, buf, sizeof(buf)), "tls.expiring:red");
	assert_non_null(strstr(out.v[0].message, "could not be read: cannot open"));
}

/* A certificate made with OpenSSL's command line, as an operator's would be. */
static void test_tls_reads_a_certificate(void **state)
{
	char dir[] = "/tmp/cutover-tls.XXXXXX", cmd[512], crt[64];
	int64_t not_after = 0;
	struct cf_err err;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(crt, sizeof(crt), "%s/c.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -days 1 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
		 "-nodes -subj /CN=t -keyout %s/k.pem -out %s 2>/dev/null",
		 dir, crt);
	if (system(cmd) != 0)
		skip();
	assert_int_equal(cutover_cert_not_after(crt, &not_after, &err), 0);
	int64_t left = not_after - (int64_t)time(NULL);
	assert_true(left > DAY - 600 && left <= DAY + 600);
	assert_int_equal(cutover_cert_not_after(dir, &not_after, &err), -1);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_port_rows_and_lsof(void **state)
{
	unsigned long inode = 0;
	struct compat_listener l[4];
	(void)state;
	/* 18789 is 0x4965. */
	assert_true(compat_parse_proc_net_tcp_row(
		"   0: 0100007F:4965 00000000:0000 0A 00000000:00000000 00:00000000 00000000   501 "
		"       0 424242 1 0000000000000000 100 0 0 10 0",
		18789, &inode));
	assert_int_equal(inode, 424242);
	assert_false(compat_parse_proc_net_tcp_row( /* established, not listening */
		"   1: 0100007F:4965 0100007F:D431 01 00000000:00000000 00:00000000 00000000   501 "
		"       0 424243 1 0000000000000000 20 4 30 10 -1",
		18789, &inode));
	assert_false(compat_parse_proc_net_tcp_row( /* another port */
		"   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 "
		"       0 1234 1 0000000000000000 100 0 0 10 0",
		18789, &inode));
	assert_true(compat_parse_proc_net_tcp_row( /* IPv6 any */
		"   0: 00000000000000000000000000000000:4965 00000000000000000000000000000000:0000 "
		"0A 00000000:00000000 00:00000000 00000000   501        0 99 1 0 100 0 0 10 0",
		18789, &inode));
	assert_int_equal(inode, 99);

	assert_int_equal(compat_parse_lsof("p812\ncnode\np990\ncopenclaw-gateway\n", l, 4), 2);
	assert_int_equal(l[0].pid, 812);
	assert_string_equal(l[0].name, "node");
	assert_string_equal(l[1].name, "openclaw-gateway");
	assert_int_equal(compat_parse_lsof("", l, 4), 0);
	assert_int_equal(compat_parse_lsof("p1\ncx\np2\ncy\np3\n", l, 2), 2);
}

static void test_port_owner_judged(void **state)
{
	static const struct compat_listener gw = {812, "node"}, stale = {640, "node"};
	struct compat_listener both[] = {gw, stale};
	char buf[256];
	(void)state;
	struct cutover_checks out = {0};
	cutover_judge_port(18789, 812, &gw, 1, &out);
	assert_int_equal(out.n, 0); /* the gateway's own */
	cutover_judge_port(18789, 812, NULL, 0, &out);
	assert_int_equal(out.n, 0); /* nobody: tcp.connect_failed says it */
	cutover_judge_port(18789, 812, both, 2, &out);
	assert_string_equal(codes(&out, buf, sizeof(buf)), "port.owner:red");
	assert_string_equal(out.v[0].message, "gateway port 18789 is held by pid 640 (node), not "
					      "only by the gateway (pid 812)");
	out.n = 0;
	cutover_judge_port(18789, 0, &stale, 1, &out);
	assert_string_equal(out.v[0].message,
			    "gateway port 18789 is held by pid 640 (node) while the gateway is not "
			    "running");
}

/* This process listens on a port: compat finds it by its pid, as the probe finds the gateway. */
static void test_port_listeners_live(void **state)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t alen = sizeof(addr);
	struct compat_listener l[8];
	size_t n = 0;
	(void)state;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
	int port = ntohs(addr.sin_port);
	assert_int_equal(compat_port_listeners(port, getpid(), l, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(l[0].pid, getpid());
	/* Not told who to expect: found by the scan of every process. */
	assert_int_equal(compat_port_listeners(port, 0, l, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(l[0].pid, getpid());
	close(fd);
	assert_int_equal(compat_port_listeners(port, getpid(), l, 8, &n), 0);
	assert_int_equal(n, 0);
}

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD " \
	     "PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"

static void test_plist_parse(void **state)
{
	static const struct {
		const char *text;
		const char *error; /* NULL: valid */
	} cases[] = {
		{HEAD "<plist version=\"1.0\">\n<dict>\n<key>Label</key><string>ai.openclaw.gateway"
		      "</string>\n<key>ProgramArguments</key><array><string>/opt/homebrew/bin/node"
		      "</string><string>/opt/openclaw/dist/index.js</string><string>gateway</string>"
		      "</array>\n<!-- keep alive -->\n<key>KeepAlive</key><true/>\n<key>"
		      "EnvironmentVariables</key><dict><key>HOME</key><string>/Users/a&amp;b</string>"
		      "</dict>\n<key>StandardErrorPath</key><string>/tmp/gw.err.log</string>\n"
		      "<key>ThrottleInterval</key><integer>10</integer>\n</dict>\n</plist>\n",
		 NULL},
		{HEAD "<plist version=\"1.0\"><dict><key>Label</key><string>x</string><key>Program"
		      "</key><string>/usr/local/bin/openclaw</string></dict></plist>",
		 NULL},
		{HEAD "<plist version=\"1.0\">\n<dict>\n<key>Label</key><string>x</string>\n<key>"
		      "ProgramArguments</key><array><string>/bin/gw</string></array>\n",
		 "t.plist:7: unexpected end of file"},
		{HEAD "<plist version=\"1.0\">\n<dict>\n<key>Label</key>\n</dict></plist>",
		 "t.plist:6: key \"Label\" has no value"},
		{HEAD "<plist version=\"1.0\">\n<dict>\n<key>ProgramArguments</key><array><string>/b"
		      "</string></array>\n</dict></plist>",
		 "t.plist:6: the dict has no Label: launchd needs one to load the job"},
		{HEAD "<plist><dict><key>Label</key><string>x</string></dict></plist>",
		 "the dict has neither Program nor ProgramArguments"},
		{HEAD "<plist><dict><key>Label</key><string>x</string><key>ProgramArguments</key>"
		      "<array><integer>1</integer></array></dict></plist>",
		 "ProgramArguments must be a non-empty array of strings"},
		{HEAD "<plist><dict><key>Label</key><string>x</string><key>Program</key><string>/b"
		      "</strin></dict></plist>",
		 "</strin> where </string> belongs"},
		{HEAD "<plist><dict><string>x</string></dict></plist>", "where a <key> belongs"},
		{HEAD "<plist><dict><key>Label</key><string>a &nbsp; b</string></dict></plist>",
		 "unknown entity"},
		{"{\"Label\": \"x\"}", "text \"{\"Label\": \"x\"}\" where an element belongs"},
		{HEAD "<plist><array/></plist>", "not the <dict> of a launchd job"},
		{HEAD "<plist><dict><key>Label</key><string>x</string><key>Program</key><string>/b"
		      "</string></dict></plist><plist/>",
		 "content after </plist>"},
	};
	struct plist_info info;
	struct cf_err err;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = plist_parse("t.plist", cases[i].text, strlen(cases[i].text), &info, &err);
		if (!cases[i].error && rc != 0)
			fail_msg("case %zu: %s", i, err.msg);
		if (cases[i].error && (rc == 0 || !strstr(err.msg, cases[i].error)))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, rc ? err.msg : "valid",
				 cases[i].error);
	}
	assert_int_equal(plist_parse("t.plist", cases[0].text, strlen(cases[0].text), &info, &err),
			 0);
	assert_string_equal(info.label, "ai.openclaw.gateway");
	assert_string_equal(info.program, "/opt/homebrew/bin/node");
	assert_string_equal(info.first_arg, "/opt/openclaw/dist/index.js");
	assert_string_equal(info.stderr_path, "/tmp/gw.err.log");
	assert_int_equal(plist_parse("b", "bplist00\x01", 9, &info, &err), 0);
	assert_true(info.binary);
}

static void test_runtime_judged(void **state)
{
	static const struct {
		const char *pinned;
		struct cutover_runtime rt;
		const char *want;
	} cases[] = {
		{NULL, {"/usr/local/bin/node", "/usr/local/bin/node", false}, ""},
		{"/opt/homebrew/bin/node", {"/opt/homebrew/bin/node", "/opt/homebrew/bin/node", true},
		 ""},
		{"/opt/homebrew/bin/node", {"/usr/local/bin/node", "/usr/local/bin/node", false},
		 "runtime.mismatch:red"},
		/* Another name for the same file (a symlink into the Cellar) is the same runtime. */
		{"/opt/homebrew/bin/node",
		 {"/opt/homebrew/Cellar/node/22.3.0/bin/node", "/opt/homebrew/Cellar/node/22.3.0/bin/node",
		  true},
		 ""},
		{"/opt/homebrew/bin/node", {"/usr/local/bin/openclaw", NULL, false},
		 "runtime.unknown:degraded"},
	};
	char buf[256];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cutover_checks out = {0};
		cutover_judge_runtime(cases[i].pinned, &cases[i].rt, &out);
		if (strcmp(codes(&out, buf, sizeof(buf)), cases[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, buf, cases[i].want);
	}
	assert_true(cutover_is_node("/opt/homebrew/bin/node"));
	assert_true(cutover_is_node("node22"));
	assert_false(cutover_is_node("/usr/local/bin/openclaw"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_lines),
		cmocka_unit_test(test_log_scan_window),
		cmocka_unit_test(test_tls_thresholds),
		cmocka_unit_test(test_tls_reads_a_certificate),
		cmocka_unit_test(test_port_rows_and_lsof),
		cmocka_unit_test(test_port_owner_judged),
		cmocka_unit_test(test_port_listeners_live),
		cmocka_unit_test(test_plist_parse),
		cmocka_unit_test(test_runtime_judged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
