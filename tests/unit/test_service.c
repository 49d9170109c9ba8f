/* service drivers. launchd and openclaw run against the simulated Mac (hack/sim: launchctl,
 * openclaw, a real gateway on a free loopback port) in a temporary root; systemd, command and a
 * macOS-shaped `launchctl print` run against small shell scripts that print what the real tools
 * print and record how they were called. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/compat.h"
#include "base/fsutil.h"
#include "base/proc.h"
#include "reconcilers/service.h"

#define TIMEOUT_MS 20000
#define REAP_ROUNDS 500 /* of 10 ms: the supervisors' exits after bootout */

static char tmp[PATH_MAX];          /* everything lives here */
static char mac[PATH_MAX + 8];      /* the simulated Mac's root */
static char mac_sim[PATH_MAX + 16]; /* its control files */
static char sim_bin[PATH_MAX];      /* $BUILD/sim */
static char launchctl[PATH_MAX + 16], openclaw[PATH_MAX + 16], gateway[PATH_MAX + 16];
static char root_env[PATH_MAX + 32];
static char *sim_env[] = {root_env, NULL};

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[PATH_MAX * 2];
	struct cf_err err = {{0}};
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (fsutil_write_atomic(path, text, strlen(text), mode, &err) < 0)
		fail_msg("%s", err.msg);
}

static char *read_text(const char *dir, const char *name)
{
	char path[PATH_MAX * 2], *text = NULL;
	size_t len;
	struct cf_err err = {{0}};
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (fsutil_read_file(path, 1 << 20, &text, &len, &err) < 0)
		fail_msg("%s", err.msg);
	return text;
}

/* The launchd supervisors outlive launchctl; as orphans they come to us to be reaped instead of
 * to PID 1, which in a container may never reap. Linux only (macOS's launchd reaps): belongs in
 * base/compat. */
static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = compat_socket(AF_INET, SOCK_STREAM, 0, O_CLOEXEC);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	close(fd);
	return ntohs(a.sin_port);
}

/* A process that exists and is not a zombie; the gateway is not our child, so /proc decides. */
static bool alive(int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return p && p[2] != 'Z' && p[2] != 'X';
}

static void sim_program(char *out, size_t size, const char *name)
{
	if (snprintf(out, size, "%s/%s", sim_bin, name) >= (int)size || access(out, X_OK) < 0)
		fail_msg("%s is missing: build the simulator first (make BUILD=... all)", out);
}

static int setup(void **state)
{
	(void)state;
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/sim", build && *build ? build : "build");
	if (!realpath(rel, sim_bin)) {
		fprintf(stderr, "%s: no simulator binaries; build them first\n", rel);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s/clawfleet-service.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(mac, sizeof(mac), "%s/mac", tmp);
	snprintf(mac_sim, sizeof(mac_sim), "%s/sim", mac);
	snprintf(root_env, sizeof(root_env), "OPENCLAW_SIM_ROOT=%s", mac);
	/* The launchd supervisors outlive launchctl; as orphans they come to us to be reaped
	 * instead of to this machine's PID 1, which never reaps. */
	return compat_adopt_orphans() == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* A fresh simulated Mac with OpenClaw installed and the gateway service defined. */
static int mac_setup(void **state)
{
	(void)state;
	char cmd[PATH_MAX * 3];
	struct cf_err err = {{0}};
	int port = free_port();
	sim_program(launchctl, sizeof(launchctl), "launchctl");
	sim_program(openclaw, sizeof(openclaw), "openclaw");
	sim_program(gateway, sizeof(gateway), "gateway");
	if (port < 0 || fsutil_mkdir_p(mac_sim, 0755, &err) < 0)
		return -1;
	write_file(mac_sim, "version", "2026.7.1 (3f9c2ab)\n", 0644);
	snprintf(cmd, sizeof(cmd), "%s\n--port\n%d\n--root\n%s\n--node\ntest-gw\n", gateway, port,
		 mac);
	write_file(mac_sim, "gateway.cmd", cmd, 0644);
	return 0;
}

/* Stops the gateway (a Mac whose service is gone has none to stop), reaps the supervisors that
 * came to us, and removes the simulated Mac. */
static int mac_teardown(void **state)
{
	(void)state;
	char target[64];
	struct proc_result res;
	struct cf_err err = {{0}};
	snprintf(target, sizeof(target), "gui/%u/ai.openclaw.gateway", (unsigned)getuid());
	char *argv[] = {launchctl, "bootout", target, NULL};
	struct proc_spec spec = {.argv = argv, .env = sim_env, .timeout_ms = TIMEOUT_MS};
	int rc = proc_run(&spec, &res, &err);
	proc_result_free(&res);
	for (int i = 0; i < REAP_ROUNDS && waitpid(-1, NULL, WNOHANG) >= 0; i++)
		usleep(10000);
	if (fsutil_remove_tree(mac, &err) < 0)
		rc = -1;
	return rc;
}

static struct service_config sim_config(const char *manager)
{
	return (struct service_config){.manager = manager,
				       .launchctl = launchctl,
				       .openclaw = openclaw,
				       .env = sim_env,
				       .timeout_ms = TIMEOUT_MS};
}

static void status_ok(const struct service_config *cfg, struct service_status *st)
{
	struct cf_err err = {{0}};
	if (service_status(cfg, st, &err) != 0)
		fail_msg("status: %s", err.msg);
}

static void restart_ok(const struct service_config *cfg)
{
	struct cf_err err = {{0}};
	if (service_restart(cfg, &err) != 0)
		fail_msg("restart: %s", err.msg);
}

static void set_crash(bool crash)
{
	write_file(mac_sim, "gateway.control", crash ? "{\"crash\":true}\n" : "{}\n", 0644);
}

/* The same life through either driver: never started, started, restarted, crashed. */
static void exercise(const char *manager)
{
	struct service_config cfg = sim_config(manager);
	struct service_status st;

	status_ok(&cfg, &st);
	assert_false(st.running);
	assert_int_equal(st.pid, 0);
	assert_false(st.has_last_exit);

	restart_ok(&cfg);
	status_ok(&cfg, &st);
	assert_true(st.running);
	assert_true(st.pid > 0);
	assert_true(alive(st.pid));
	assert_string_equal(st.error, "");
	int first = st.pid;

	restart_ok(&cfg);
	status_ok(&cfg, &st);
	assert_true(st.running);
	assert_true(st.pid > 0);
	assert_int_not_equal(st.pid, first);
	assert_false(alive(first));
	/* The first gateway ended on SIGTERM, cleanly. */
	assert_true(st.has_last_exit);
	assert_int_equal(st.last_exit, 0);

	set_crash(true);
	restart_ok(&cfg);
	status_ok(&cfg, &st);
	assert_false(st.running);
	assert_int_equal(st.pid, 0);
	assert_true(st.has_last_exit);
	assert_int_equal(st.last_exit, 1);
	set_crash(false);
}

static void test_launchd_on_sim(void **state)
{
	(void)state;
	exercise("launchd");
}

static void test_openclaw_on_sim(void **state)
{
	(void)state;
	exercise("openclaw");
}

/* Both drivers see the one service: what launchd started, openclaw reports, pid for pid. */
static void test_drivers_agree(void **state)
{
	(void)state;
	struct service_config launchd = sim_config("launchd"), oc = sim_config("openclaw");
	struct service_status a, b;
	restart_ok(&launchd);
	status_ok(&launchd, &a);
	status_ok(&oc, &b);
	assert_true(a.running && b.running);
	assert_int_equal(a.pid, b.pid);
}

static void test_launchd_not_loaded(void **state)
{
	(void)state;
	char path[PATH_MAX * 2];
	struct service_config cfg = sim_config("launchd");
	struct service_status st;
	struct cf_err err = {{0}};
	snprintf(path, sizeof(path), "%s/gateway.cmd", mac_sim);
	unlink(path);

	status_ok(&cfg, &st);
	assert_false(st.running);
	assert_non_null(strstr(st.error, "not loaded"));
	assert_int_equal(service_restart(&cfg, &err), -1);
	assert_non_null(strstr(err.msg, "kickstart -k gui/"));
	assert_non_null(strstr(err.msg, "exited with status 113: Could not find service"));
}

/* The CLI missing on the Mac: the sim answers as a shell, exit 127. The manager cannot answer. */
static void test_openclaw_not_installed(void **state)
{
	(void)state;
	char path[PATH_MAX * 2];
	struct service_config cfg = sim_config("openclaw");
	struct service_status st;
	struct cf_err err = {{0}};
	snprintf(path, sizeof(path), "%s/version", mac_sim);
	unlink(path);

	assert_int_equal(service_status(&cfg, &st, &err), -1);
	assert_false(st.running);
	assert_non_null(strstr(err.msg, "exited with status 127: openclaw: command not found"));
	assert_string_equal(st.error, err.msg);
	assert_int_equal(service_restart(&cfg, &err), -1);
	assert_non_null(strstr(err.msg, "gateway restart` exited with status 127"));

	cfg.openclaw = "/nonexistent/bin/openclaw";
	assert_int_equal(service_status(&cfg, &st, &err), -1);
	assert_string_equal(err.msg, "openclaw: not found at /nonexistent/bin/openclaw");
}

/* ---- fakes ---- */

/* A fake tool: records its arguments in <tmp>/<name>.args and prints <tmp>/<name>.out. */
static void fake_tool(char *path, size_t size, const char *name)
{
	char script[PATH_MAX * 4];
	snprintf(path, size, "%s/%s", tmp, name);
	snprintf(script, sizeof(script),
		 "#!/bin/sh\necho \"$*\" > '%s/%s.args'\ncat '%s/%s.out' 2>/dev/null\n"
		 "exit $(cat '%s/%s.rc' 2>/dev/null || echo 0)\n",
		 tmp, name, tmp, name, tmp, name);
	write_file(tmp, name, script, 0755);
}

static void fake_answer(const char *name, const char *out, int rc)
{
	char file[128], code[16];
	snprintf(file, sizeof(file), "%s.out", name);
	write_file(tmp, file, out, 0644);
	snprintf(file, sizeof(file), "%s.rc", name);
	snprintf(code, sizeof(code), "%d\n", rc);
	write_file(tmp, file, code, 0644);
}

static void assert_args(const char *name, const char *want)
{
	char file[128];
	snprintf(file, sizeof(file), "%s.args", name);
	char *got = read_text(tmp, file);
	assert_string_equal(got, want);
	free(got);
}

static void test_systemd(void **state)
{
	(void)state;
	char systemctl[PATH_MAX + 16];
	struct service_status st;
	struct cf_err err = {{0}};
	fake_tool(systemctl, sizeof(systemctl), "systemctl");
	struct service_config cfg = {.manager = "systemd", .systemctl = systemctl,
				     .timeout_ms = TIMEOUT_MS};

	restart_ok(&cfg);
	assert_args("systemctl", "--user restart openclaw-gateway.service\n");

	/* systemctl prints the properties in its own order, not the order asked. */
	fake_answer("systemctl", "MainPID=4242\nExecMainCode=0\nExecMainStatus=0\n"
				 "LoadState=loaded\nActiveState=active\n", 0);
	status_ok(&cfg, &st);
	assert_args("systemctl", "--user show openclaw-gateway.service -p "
				 "LoadState,ActiveState,MainPID,ExecMainCode,ExecMainStatus\n");
	assert_true(st.running);
	assert_int_equal(st.pid, 4242);
	assert_false(st.has_last_exit);

	fake_answer("systemctl", "LoadState=loaded\nActiveState=failed\nMainPID=0\n"
				 "ExecMainCode=1\nExecMainStatus=3\n", 0);
	status_ok(&cfg, &st);
	assert_false(st.running);
	assert_true(st.has_last_exit);
	assert_int_equal(st.last_exit, 3);

	/* Killed by SIGKILL: reported as a shell does, 128 + 9. */
	fake_answer("systemctl", "LoadState=loaded\nActiveState=inactive\nMainPID=0\n"
				 "ExecMainCode=2\nExecMainStatus=9\n", 0);
	status_ok(&cfg, &st);
	assert_int_equal(st.last_exit, 137);

	cfg.label = "openclaw-gateway-acme.service";
	fake_answer("systemctl", "LoadState=not-found\nActiveState=inactive\nMainPID=0\n", 0);
	status_ok(&cfg, &st);
	assert_false(st.running);
	assert_string_equal(st.error, "systemd has no unit openclaw-gateway-acme.service (not found)");

	fake_answer("systemctl", "Failed to connect to bus: No medium found\n", 1);
	assert_int_equal(service_status(&cfg, &st, &err), -1);
	assert_non_null(strstr(err.msg, "exited with status 1: Failed to connect to bus"));
	assert_int_equal(service_restart(&cfg, &err), -1);

	fake_answer("systemctl", "", 0);
	assert_int_equal(service_status(&cfg, &st, &err), -1);
	assert_non_null(strstr(err.msg, "printed no ActiveState"));

	cfg.label = "--now";
	assert_int_equal(service_restart(&cfg, &err), -1);
	assert_string_equal(err.msg, "systemd unit \"--now\" is not a valid name");
	cfg.label = "gui/501/ai.openclaw.gateway";
	assert_int_equal(service_status(&cfg, &st, &err), -1);
	assert_non_null(strstr(err.msg, "is a path, not a unit name"));
}

/* What launchctl print prints on macOS: nested blocks with their own "state" lines, and a last
 * exit code followed by its description. */
static void test_launchd_print_macos(void **state)
{
	(void)state;
	char fake[PATH_MAX + 16];
	struct service_status st;
	fake_tool(fake, sizeof(fake), "launchctl");
	struct service_config cfg = {.manager = "launchd", .launchctl = fake,
				     .label = "gui/501/ai.openclaw.gateway", .timeout_ms = TIMEOUT_MS};
	fake_answer("launchctl",
		    "gui/501/ai.openclaw.gateway = {\n"
		    "\tactive count = 1\n"
		    "\tpath = /Users/ops/Library/LaunchAgents/ai.openclaw.gateway.plist\n"
		    "\tstate = running\n"
		    "\n"
		    "\tprogram = /usr/local/bin/openclaw\n"
		    "\targuments = {\n"
		    "\t\t/usr/local/bin/openclaw\n"
		    "\t\tgateway\n"
		    "\t}\n"
		    "\n"
		    "\tendpoints = {\n"
		    "\t\t\"ai.openclaw.gateway.rpc\" = {\n"
		    "\t\t\tport = 0x5e03\n"
		    "\t\t\tstate = active\n"
		    "\t\t\tpid = 1\n"
		    "\t\t}\n"
		    "\t}\n"
		    "\n"
		    "\truns = 4\n"
		    "\tpid = 8123\n"
		    "\timmediate reason = speculative\n"
		    "\tlast exit code = 78: EX_CONFIG\n"
		    "}\n",
		    0);
	status_ok(&cfg, &st);
	assert_args("launchctl", "print gui/501/ai.openclaw.gateway\n");
	assert_true(st.running);
	assert_int_equal(st.pid, 8123);
	assert_true(st.has_last_exit);
	assert_int_equal(st.last_exit, 78);

	fake_answer("launchctl",
		    "gui/501/ai.openclaw.gateway = {\n\tstate = not running\n\truns = 0\n"
		    "\tlast exit code = (never exited)\n}\n",
		    0);
	status_ok(&cfg, &st);
	assert_false(st.running);
	assert_false(st.has_last_exit);
	/* No path in the answer: the job's plist is the configured one (service.plist), if any. */
	assert_string_equal(st.plist_path, "");
	cfg.plist = "/Library/LaunchDaemons/ai.openclaw.gateway.plist";
	status_ok(&cfg, &st);
	assert_string_equal(st.plist_path, "/Library/LaunchDaemons/ai.openclaw.gateway.plist");
	fake_answer("launchctl",
		    "gui/501/ai.openclaw.gateway = {\n\tpath = /Users/ops/a.plist\n\tstate = running\n}\n",
		    0);
	status_ok(&cfg, &st);
	assert_string_equal(st.plist_path, "/Users/ops/a.plist");
	cfg.plist = NULL;

	struct cf_err err = {{0}};
	fake_answer("launchctl", "", 0);
	assert_int_equal(service_status(&cfg, &st, &err), -1);
	assert_non_null(strstr(err.msg, "printed no service description"));

	cfg.label = "ai.openclaw.gateway";
	assert_int_equal(service_restart(&cfg, &err), -1);
	assert_non_null(strstr(err.msg, "needs its domain: gui/<uid>/ai.openclaw.gateway"));
}

static void test_command(void **state)
{
	(void)state;
	char restart[PATH_MAX + 16], status[PATH_MAX + 16];
	struct service_status st;
	struct cf_err err = {{0}};
	fake_tool(restart, sizeof(restart), "gw-restart");
	fake_tool(status, sizeof(status), "gw-status");
	char *restart_argv[] = {restart, "--label", "ai.openclaw.gateway", NULL};
	char *status_argv[] = {status, "--json", NULL};
	char *env[] = {"OPENCLAW_PROFILE=acme", NULL};
	struct service_config cfg = {.manager = "command", .restart_argv = restart_argv,
				     .status_argv = status_argv, .env = env,
				     .timeout_ms = TIMEOUT_MS};

	restart_ok(&cfg);
	assert_args("gw-restart", "--label ai.openclaw.gateway\n");

	fake_answer("gw-status", "{\"running\":true,\"pid\":77,\"lastExit\":0}\n", 0);
	status_ok(&cfg, &st);
	assert_args("gw-status", "--json\n");
	assert_true(st.running);
	assert_int_equal(st.pid, 77);
	assert_true(st.has_last_exit);
	assert_int_equal(st.last_exit, 0);

	fake_answer("gw-status", "{\"running\":false,\"pid\":77,\"lastExit\":null}", 0);
	status_ok(&cfg, &st);
	assert_false(st.running);
	assert_int_equal(st.pid, 0);
	assert_false(st.has_last_exit);

	fake_answer("gw-status", "Service: LaunchAgent (loaded)\n", 0);
	assert_int_equal(service_status(&cfg, &st, &err), -1);
	assert_non_null(strstr(err.msg, "gw-status did not print a JSON object: "
					"Service: LaunchAgent (loaded)"));
	assert_string_equal(st.error, err.msg);

	fake_answer("gw-status", "{\"pid\":77}", 0);
	assert_int_equal(service_status(&cfg, &st, &err), -1);
	assert_non_null(strstr(err.msg, "printed no boolean \"running\""));

	/* The environment overlay reaches the commands. */
	char *env_argv[] = {"sh", "-c", "echo \"{\\\"running\\\":$([ \"$OPENCLAW_PROFILE\" = acme ] "
					 "&& echo true || echo false)}\"",
			    NULL};
	cfg.status_argv = env_argv;
	status_ok(&cfg, &st);
	assert_true(st.running);

	/* A hung status command is killed at the deadline and reported, not waited for. */
	char *hang_argv[] = {"sleep", "30", NULL};
	cfg.status_argv = hang_argv;
	cfg.timeout_ms = 200;
	assert_int_equal(service_status(&cfg, &st, &err), -1);
	assert_non_null(strstr(err.msg, "`sleep 30` did not finish within 200 ms"));

	cfg.restart_argv = NULL;
	assert_int_equal(service_restart(&cfg, &err), -1);
	assert_string_equal(err.msg, "the command service manager needs a restart argv list");
}

static void test_driver_table(void **state)
{
	(void)state;
	const char *names[] = {"launchd", "systemd", "openclaw", "command"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct service_driver *d = service_driver_find(names[i]);
		assert_non_null(d);
		assert_string_equal(d->name, names[i]);
	}
	assert_null(service_driver_find("upstart"));
	assert_null(service_driver_find(NULL));

	struct service_config cfg = {.manager = "upstart"};
	struct service_status st;
	struct cf_err err = {{0}};
	assert_int_equal(service_restart(&cfg, &err), -1);
	assert_string_equal(err.msg, "unknown service manager \"upstart\": use launchd, systemd, "
				     "openclaw or command");
	assert_int_equal(service_status(&cfg, &st, &err), -1);
	assert_false(st.running);
	assert_string_equal(st.error, err.msg);
}

/* A run that a signal ended, as `launchctl print` shows it. launchctl(1) says its output is not
 * API; these samples follow what macOS 13 to 15 print, as published in captures of real runs
 * (projects parsing launchd's output, Apple developer forum threads): the signal is named as
 * macOS's strsignal(3) names it, its number after a colon ("Killed: 9", "Terminated: 15",
 * "Segmentation fault: 11"), on a "last terminating signal" line that replaces "last exit code"
 * or stands beside an older "(never exited)". */
static const char launchd_killed[] =
	"gui/501/ai.openclaw.gateway = {\n"
	"\tactive count = 0\n"
	"\tpath = /Users/ops/Library/LaunchAgents/ai.openclaw.gateway.plist\n"
	"\ttype = LaunchAgent\n"
	"\tstate = not running\n"
	"\n"
	"\tprogram = /opt/homebrew/bin/openclaw\n"
	"\targuments = {\n"
	"\t\t/opt/homebrew/bin/openclaw\n"
	"\t\tgateway\n"
	"\t}\n"
	"\n"
	"\tdomain = gui/501 [100005]\n"
	"\tasid = 100005\n"
	"\tminimum runtime = 10\n"
	"\texit timeout = 5\n"
	"\truns = 6\n"
	"\tlast terminating signal = Killed: 9\n"
	"\tspawn type = daemon (3)\n"
	"\tjetsam priority = 40\n"
	"}\n";
static const char launchd_segv_never_exited[] =
	"gui/501/ai.openclaw.gateway = {\n"
	"\tstate = spawn scheduled\n"
	"\truns = 3\n"
	"\tlast exit code = (never exited)\n"
	"\tlast terminating signal = Segmentation fault: 11\n"
	"}\n";
static const char launchd_term_running[] =
	"gui/501/ai.openclaw.gateway = {\n"
	"\tstate = running\n"
	"\truns = 4\n"
	"\tpid = 9120\n"
	"\tlast terminating signal = Terminated: 15\n"
	"}\n";

static void test_launchd_print_signal(void **state)
{
	(void)state;
	char fake[PATH_MAX + 16];
	struct service_status st;
	fake_tool(fake, sizeof(fake), "launchctl");
	struct service_config cfg = {.manager = "launchd", .launchctl = fake,
				     .label = "gui/501/ai.openclaw.gateway", .timeout_ms = TIMEOUT_MS};

	fake_answer("launchctl", launchd_killed, 0);
	status_ok(&cfg, &st);
	assert_false(st.running);
	assert_true(st.has_last_exit);
	assert_int_equal(st.last_signal, 9);
	assert_int_equal(st.last_exit, 128 + 9);

	/* The signal is the last run's end, whatever the exit code line says. */
	fake_answer("launchctl", launchd_segv_never_exited, 0);
	status_ok(&cfg, &st);
	assert_false(st.running);
	assert_true(st.has_last_exit);
	assert_int_equal(st.last_signal, 11);
	assert_int_equal(st.last_exit, 128 + 11);

	/* After kickstart -k: running again, the previous run ended by SIGTERM. */
	fake_answer("launchctl", launchd_term_running, 0);
	status_ok(&cfg, &st);
	assert_true(st.running);
	assert_int_equal(st.pid, 9120);
	assert_int_equal(st.last_signal, 15);

	/* A signal line without its number leaves the end unknown. */
	fake_answer("launchctl",
		    "gui/501/ai.openclaw.gateway = {\n\tstate = not running\n"
		    "\tlast exit code = 1\n\tlast terminating signal = Killed\n}\n",
		    0);
	status_ok(&cfg, &st);
	assert_false(st.has_last_exit);
	assert_int_equal(st.last_signal, 0);

	/* An exit is still an exit. */
	fake_answer("launchctl",
		    "gui/501/ai.openclaw.gateway = {\n\tstate = not running\n"
		    "\tlast exit code = 1\n}\n",
		    0);
	status_ok(&cfg, &st);
	assert_true(st.has_last_exit);
	assert_int_equal(st.last_exit, 1);
	assert_int_equal(st.last_signal, 0);
}

/* The simulated launchctl prints what launchd prints for a gateway killed by SIGKILL, and the
 * driver reads the signal from it. */
static void test_launchd_sim_signal_death(void **state)
{
	(void)state;
	struct service_config cfg = sim_config("launchd");
	struct service_status st;
	struct proc_result res;
	struct cf_err err = {{0}};
	char target[64];

	restart_ok(&cfg);
	status_ok(&cfg, &st);
	assert_true(st.running);
	assert_int_equal(kill(st.pid, SIGKILL), 0);
	for (int i = 0; i < 500 && st.running; i++) {
		usleep(10000);
		status_ok(&cfg, &st);
	}
	assert_false(st.running);
	assert_true(st.has_last_exit);
	assert_int_equal(st.last_signal, SIGKILL);
	assert_int_equal(st.last_exit, 128 + SIGKILL);

	snprintf(target, sizeof(target), "gui/%u/ai.openclaw.gateway", (unsigned)getuid());
	char *argv[] = {launchctl, "print", target, NULL};
	struct proc_spec spec = {.argv = argv, .env = sim_env, .timeout_ms = TIMEOUT_MS};
	assert_int_equal(proc_run(&spec, &res, &err), 0);
	char want[64];
	snprintf(want, sizeof(want), "\tlast terminating signal = Killed: %d\n", SIGKILL);
	if (!strstr(res.out, want) || strstr(res.out, "last exit code"))
		fail_msg("launchctl print said:\n%s", res.out);
	proc_result_free(&res);

	/* A run that then exits shows its exit code again. */
	set_crash(true);
	restart_ok(&cfg);
	status_ok(&cfg, &st);
	assert_false(st.running);
	assert_int_equal(st.last_exit, 1);
	assert_int_equal(st.last_signal, 0);
	set_crash(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_launchd_on_sim, mac_setup, mac_teardown),
		cmocka_unit_test_setup_teardown(test_openclaw_on_sim, mac_setup, mac_teardown),
		cmocka_unit_test_setup_teardown(test_drivers_agree, mac_setup, mac_teardown),
		cmocka_unit_test_setup_teardown(test_launchd_not_loaded, mac_setup, mac_teardown),
		cmocka_unit_test_setup_teardown(test_openclaw_not_installed, mac_setup,
						mac_teardown),
		cmocka_unit_test(test_systemd),
		cmocka_unit_test(test_launchd_print_macos),
		cmocka_unit_test(test_launchd_print_signal),
		cmocka_unit_test_setup_teardown(test_launchd_sim_signal_death, mac_setup,
						mac_teardown),
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_driver_table),
	};
	return cmocka_run_group_tests_name("service", tests, setup, teardown);
}
