/* openclaw (simulated): the OpenClaw CLI as clawfleet drives it on a Mac (see
 * /work/shared/OPENCLAW.md for the real interface).
 *
 *   openclaw --version | -V | -v                 "OpenClaw <sim/version line>"
 *   openclaw doctor [--json] [--non-interactive] [--deep]
 *   openclaw gateway status [--json] [--require-rpc]
 *   openclaw gateway restart                     runs launchctl kickstart -k (the fake beside us)
 *   openclaw plugins install <name>@<version>    records into sim/plugins.json
 *   openclaw config validate [--json] | config lint
 *       steered by sim/config, or sim/config.<profile> under OPENCLAW_PROFILE:
 *       {"valid":false,"path":"gateway.port","message":"expected integer"} makes the
 *       configuration invalid ({"valid":false,"issues":[{path,message}]}, exit 1);
 *       {"cli":"old"} is a release before `config validate` (unknown command, exit 2) that
 *       still has `config lint`. A missing file is a valid configuration.
 *
 * Without sim/version OpenClaw is not installed: every command fails as the shell would, with
 * "openclaw: command not found" and 127. Unknown commands and options exit 2 with usage.
 *
 * Doctor is steered by sim/doctor, or sim/doctor.<profile> when OPENCLAW_PROFILE names a profile
 * that has one: {"verdict":"green|yellow|red","latencyMs":N,"mode":"json|garbage|hang|
 * cli_error|old_cli","message":"...","findings":[...]}. A missing file is green json; "findings"
 * replaces the canned findings (ok is then false when one has severity error); "message" is the
 * cli_error text. old_cli is a release that predates --non-interactive: it fails only when the
 * flag is given. garbage prints the human report instead of JSON. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "base/compat.h"
#include "simstate.h"

#define EXIT_USAGE 2
#define MAX_LATENCY_MS 600000
#define PORT_PROBE_MS 500
#define CHECKS 14
#define DEEP_CHECKS 3

static void usage(void)
{
	fprintf(stderr, "Usage: openclaw [options] [command]\n\n"
			"Commands:\n"
			"  doctor [--json] [--non-interactive] [--deep]\n"
			"  gateway status [--json] [--require-rpc]\n"
			"  gateway restart\n"
			"  plugins install <spec>\n\n"
			"Options:\n"
			"  -V, --version  output the version number\n");
}

static int unknown_option(const char *opt)
{
	fprintf(stderr, "error: unknown option '%s'\n", opt);
	return EXIT_USAGE;
}

/* The LaunchAgent label: a profile runs its own gateway. */
static const char *service_label(char *buf, size_t size)
{
	const char *profile = getenv("OPENCLAW_PROFILE");
	if (profile && *profile)
		snprintf(buf, size, "ai.openclaw.%s", profile);
	else
		snprintf(buf, size, "ai.openclaw.gateway");
	return buf;
}

static int load_doctor_control(struct json_object **ctl)
{
	char name[256];
	const char *profile = getenv("OPENCLAW_PROFILE");
	if (profile && *profile && sim_safe_name(profile)) {
		snprintf(name, sizeof(name), "doctor.%s", profile);
		int rc = sim_read_json(name, ctl);
		if (rc != 0)
			return rc;
	}
	return sim_read_json("doctor", ctl);
}

static struct json_object *finding(const char *id, const char *severity, const char *message,
				   const char *fix_hint)
{
	struct json_object *f = json_object_new_object();
	json_object_object_add(f, "checkId", json_object_new_string(id));
	json_object_object_add(f, "severity", json_object_new_string(severity));
	json_object_object_add(f, "message", json_object_new_string(message));
	if (fix_hint)
		json_object_object_add(f, "fixHint", json_object_new_string(fix_hint));
	return f;
}

static struct json_object *canned_findings(const char *verdict)
{
	char label[256], msg[300], path[PATH_MAX];
	struct json_object *list = json_object_new_array();
	snprintf(msg, sizeof(msg), "LaunchAgent %s is loaded",
		 service_label(label, sizeof(label)));
	json_object_array_add(list, finding("gateway.service", "info", msg, NULL));
	json_object_array_add(list, finding("config.valid", "info", "openclaw.json is valid", NULL));
	if (strcmp(verdict, "yellow") == 0)
		json_object_array_add(list, finding("gateway.latency", "warning", "p95 above target",
						    "check channel backlogs with openclaw health"));
	if (strcmp(verdict, "red") == 0) {
		struct json_object *f = finding("skills.semver", "error",
						"skill pack 1.4.3 does not match openclaw.lock 1.4.2",
						"reinstall the skill pack pinned by openclaw.lock");
		snprintf(path, sizeof(path), "%s/var/db/openclaw/skills/current/openclaw.lock",
			 getenv("OPENCLAW_SIM_ROOT"));
		json_object_object_add(f, "path", json_object_new_string(path));
		json_object_object_add(f, "line", json_object_new_int(3));
		json_object_object_add(f, "column", json_object_new_int(12));
		json_object_array_add(list, f);
	}
	return list;
}

static bool has_error(struct json_object *findings)
{
	size_t n = json_object_array_length(findings);
	for (size_t i = 0; i < n; i++)
		if (strcmp(sim_json_str(json_object_array_get_idx(findings, i), "severity", ""),
			   "error") == 0)
			return true;
	return false;
}

/* The human report; also what a release that ignores --json prints. */
static void print_doctor_human(struct json_object *findings)
{
	size_t n = json_object_array_length(findings);
	printf("┌  OpenClaw doctor\n│\n");
	for (size_t i = 0; i < n; i++) {
		struct json_object *f = json_object_array_get_idx(findings, i);
		const char *sev = sim_json_str(f, "severity", "info");
		printf("%s  %s\n│\n", strcmp(sev, "info") == 0 ? "◇" : "▲",
		       sim_json_str(f, "message", ""));
	}
	printf("└  Doctor complete.\n");
}

/* How the real CLI fails in JSON mode: non-zero exit and this object on stdout. */
static void print_cli_error(const char *message)
{
	struct json_object *out = json_object_new_object(), *e = json_object_new_object();
	json_object_object_add(e, "type", json_object_new_string("cli_error"));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(out, "ok", json_object_new_boolean(false));
	json_object_object_add(out, "error", e);
	printf("%s\n", json_object_to_json_string_ext(out, SIM_JSON));
	json_object_put(out);
}

static int cmd_doctor(int argc, char **argv)
{
	bool json = false, non_interactive = false, deep = false;
	struct json_object *ctl = NULL, *findings = NULL, *out = NULL, *v;
	int rc = 1;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--non-interactive") == 0)
			non_interactive = true;
		else if (strcmp(argv[i], "--deep") == 0)
			deep = true;
		else
			return unknown_option(argv[i]);
	}
	if (load_doctor_control(&ctl) < 0)
		return SIM_EXIT_HARNESS;
	const char *mode = sim_json_str(ctl, "mode", "json");
	if (strcmp(mode, "old_cli") == 0 && non_interactive) {
		rc = unknown_option("--non-interactive");
		goto done;
	}
	long long latency = sim_json_int(ctl, "latencyMs", 0);
	if (latency > 0)
		sim_sleep_ms(latency < MAX_LATENCY_MS ? (long)latency : MAX_LATENCY_MS);
	if (strcmp(mode, "hang") == 0)
		for (;;)
			pause();
	if (strcmp(mode, "cli_error") == 0) {
		print_cli_error(sim_json_str(ctl, "message", "gateway config could not be loaded"));
		goto done;
	}
	bool custom = json_object_object_get_ex(ctl, "findings", &v) &&
		      json_object_is_type(v, json_type_array);
	const char *verdict = sim_json_str(ctl, "verdict", "green");
	findings = custom ? json_object_get(v) : canned_findings(verdict);
	if (!json || strcmp(mode, "garbage") == 0) {
		print_doctor_human(findings);
		rc = 0;
		goto done;
	}
	out = json_object_new_object();
	json_object_object_add(out, "ok", json_object_new_boolean(custom ? !has_error(findings) :
									   strcmp(verdict, "red") != 0));
	json_object_object_add(out, "checksRun", json_object_new_int(deep ? CHECKS + DEEP_CHECKS : CHECKS));
	json_object_object_add(out, "checksSkipped", json_object_new_int(deep ? 0 : DEEP_CHECKS));
	json_object_object_add(out, "findings", json_object_get(findings));
	printf("%s\n", json_object_to_json_string_ext(out, SIM_JSON));
	rc = 0;
done:
	json_object_put(out);
	json_object_put(findings);
	json_object_put(ctl);
	return rc;
}

/* Whether something accepts connections on the loopback port, within PORT_PROBE_MS. */
static bool port_listening(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = compat_socket(AF_INET, SOCK_STREAM, 0, O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (!ok && errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		ok = poll(&p, 1, PORT_PROBE_MS) == 1 &&
		     getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0;
	}
	close(fd);
	return ok;
}

static int cmd_gateway_status(int argc, char **argv)
{
	bool json = false, require_rpc = false;
	char *text = NULL, *cmd[SIM_CMD_MAX_ARGS + 1], label[256], url[64], err[128];
	struct sim_gw_state st;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--require-rpc") == 0)
			require_rpc = true;
		else
			return unknown_option(argv[i]);
	}
	int cmdc = sim_gw_cmd(&text, cmd);
	if (cmdc < 0 || sim_gw_load(&st) < 0) {
		free(text);
		return SIM_EXIT_HARNESS;
	}
	bool loaded = cmdc > 0;
	bool running = loaded && st.running && sim_gateway_alive(st.pid);
	int port = loaded ? sim_gw_port(cmdc, cmd) : SIM_GW_DEFAULT_PORT;
	bool listening = port_listening(port);
	bool rpc = running && listening;
	free(text);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", port);
	snprintf(err, sizeof(err), "gateway closed (1006): connect ECONNREFUSED 127.0.0.1:%d", port);
	service_label(label, sizeof(label));
	if (!json) {
		printf("Service: LaunchAgent (%s)\n", loaded ? "loaded" : "not loaded");
		printf("Runtime: %s", !loaded ? "unknown" : running ? "running" : "stopped");
		if (running)
			printf(" (pid %d)", (int)st.pid);
		printf("\nGateway: bind=127.0.0.1 port=%d probe=%s\nRPC probe: %s\n", port, url,
		       rpc ? "ok" : err);
		return require_rpc && !rpc;
	}
	struct json_object *out = json_object_new_object(), *svc = json_object_new_object();
	struct json_object *rt = json_object_new_object(), *gw = json_object_new_object();
	struct json_object *po = json_object_new_object(), *rp = json_object_new_object();
	json_object_object_add(svc, "label", json_object_new_string(label));
	json_object_object_add(svc, "loaded", json_object_new_boolean(loaded));
	json_object_object_add(rt, "status", json_object_new_string(!loaded ? "unknown" :
								   running ? "running" : "stopped"));
	if (running)
		json_object_object_add(rt, "pid", json_object_new_int(st.pid));
	if (st.has_exit)
		json_object_object_add(rt, "lastExitStatus", json_object_new_int(st.last_exit));
	json_object_object_add(svc, "runtime", rt);
	json_object_object_add(out, "service", svc);
	json_object_object_add(gw, "bindHost", json_object_new_string("127.0.0.1"));
	json_object_object_add(gw, "port", json_object_new_int(port));
	json_object_object_add(gw, "probeUrl", json_object_new_string(url));
	json_object_object_add(out, "gateway", gw);
	json_object_object_add(po, "status", json_object_new_string(listening ? "listening" : "free"));
	json_object_object_add(out, "port", po);
	json_object_object_add(rp, "ok", json_object_new_boolean(rpc));
	if (!rpc)
		json_object_object_add(rp, "error", json_object_new_string(err));
	json_object_object_add(out, "rpc", rp);
	printf("%s\n", json_object_to_json_string_ext(out, SIM_JSON));
	json_object_put(out);
	return require_rpc && !rpc;
}

/* As the real CLI does, restart is launchctl kickstart -k; the fake launchctl sits beside us. */
static int cmd_gateway_restart(int argc, char **argv)
{
	char self[PATH_MAX], launchctl[PATH_MAX + 16], label[256], target[300];
	if (argc > 0)
		return unknown_option(argv[0]);
	if (compat_self_exe_path(self, sizeof(self)) < 0) {
		fprintf(stderr, "openclaw (simulated): cannot tell where this program lives: %s\n",
			strerror(errno));
		return 1;
	}
	char *slash = strrchr(self, '/');
	*slash = '\0';
	snprintf(launchctl, sizeof(launchctl), "%s/launchctl", self);
	snprintf(target, sizeof(target), "gui/%d/%s", (int)getuid(), service_label(label, sizeof(label)));
	fflush(NULL);
	execl(launchctl, "launchctl", "kickstart", "-k", target, (char *)NULL);
	fprintf(stderr, "openclaw (simulated): exec %s: %s\n", launchctl, strerror(errno));
	return 1;
}

static int load_config_control(struct json_object **ctl)
{
	char name[256];
	const char *profile = getenv("OPENCLAW_PROFILE");
	if (profile && *profile && sim_safe_name(profile)) {
		snprintf(name, sizeof(name), "config.%s", profile);
		int rc = sim_read_json(name, ctl);
		if (rc != 0)
			return rc;
	}
	return sim_read_json("config", ctl);
}

static int cmd_config(const char *sub, int argc, char **argv)
{
	struct json_object *ctl = NULL, *v;
	bool json = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && strcmp(sub, "validate") == 0)
			json = true;
		else
			return unknown_option(argv[i]);
	}
	if (load_config_control(&ctl) < 0)
		return SIM_EXIT_HARNESS;
	bool old = strcmp(sim_json_str(ctl, "cli", "current"), "old") == 0;
	if ((old && strcmp(sub, "validate") == 0) ||
	    (strcmp(sub, "validate") != 0 && strcmp(sub, "lint") != 0)) {
		fprintf(stderr, "error: unknown command '%s'\n", sub);
		json_object_put(ctl);
		return EXIT_USAGE;
	}
	bool valid = !(json_object_object_get_ex(ctl, "valid", &v) && !json_object_get_boolean(v));
	const char *path = sim_json_str(ctl, "path", "gateway");
	const char *message = sim_json_str(ctl, "message", "invalid");
	if (json) {
		struct json_object *out = json_object_new_object(), *issues = json_object_new_array();
		if (!valid) {
			struct json_object *issue = json_object_new_object();
			json_object_object_add(issue, "path", json_object_new_string(path));
			json_object_object_add(issue, "message", json_object_new_string(message));
			json_object_array_add(issues, issue);
		}
		json_object_object_add(out, "valid", json_object_new_boolean(valid));
		json_object_object_add(out, "issues", issues);
		printf("%s\n", json_object_to_json_string_ext(out, SIM_JSON));
		json_object_put(out);
	} else if (valid) {
		printf("Config valid\n");
	} else {
		fprintf(stderr, "%s: %s\n", path, message);
	}
	json_object_put(ctl);
	return valid ? 0 : 1;
}

static int cmd_plugins_install(int argc, char **argv)
{
	char name[256];
	struct json_object *plugins = NULL;
	if (argc != 1) {
		fprintf(stderr, "error: plugins install takes exactly one <spec>\n");
		return EXIT_USAGE;
	}
	/* The version follows the last '@'; a scope's leading '@' is part of the name. */
	const char *spec = argv[0], *at = strrchr(spec, '@');
	if (!at || at == spec || !at[1] || (size_t)(at - spec) >= sizeof(name)) {
		fprintf(stderr, "npm error code ETARGET\nnpm error notarget No matching version "
				"found for %s (the simulator installs exact versions only)\n", spec);
		return 1;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(at - spec), spec);
	if (sim_install_fails(name, at + 1)) {
		fprintf(stderr, "npm error code ETARGET\nnpm error notarget No matching version "
				"found for %s.\nFailed to install plugin %s\n", spec, name);
		return 1;
	}
	if (sim_read_json("plugins.json", &plugins) < 0)
		return SIM_EXIT_HARNESS;
	if (!plugins)
		plugins = json_object_new_object();
	json_object_object_add(plugins, name, json_object_new_string(at + 1));
	int rc = sim_write_json("plugins.json", plugins);
	json_object_put(plugins);
	if (rc < 0)
		return 1;
	printf("Installed plugin: %s@%s\nRestart the gateway to load plugins.\n", name, at + 1);
	return 0;
}

int main(int argc, char **argv)
{
	if (sim_open("openclaw", NULL, argc, argv) < 0)
		return SIM_EXIT_HARNESS;
	char *version = sim_read_line("version");
	int rc = EXIT_USAGE;
	if (!version) {
		fprintf(stderr, "openclaw: command not found\n");
		return 127;
	}
	const char *cmd = argc > 1 ? argv[1] : "";
	const char *sub = argc > 2 ? argv[2] : "";
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V") || !strcmp(cmd, "-v")) {
		printf("OpenClaw %s\n", version);
		rc = 0;
	} else if (!strcmp(cmd, "doctor")) {
		rc = cmd_doctor(argc - 2, argv + 2);
	} else if (!strcmp(cmd, "gateway") && !strcmp(sub, "status")) {
		rc = cmd_gateway_status(argc - 3, argv + 3);
	} else if (!strcmp(cmd, "gateway") && !strcmp(sub, "restart")) {
		rc = cmd_gateway_restart(argc - 3, argv + 3);
	} else if (!strcmp(cmd, "config") && *sub) {
		rc = cmd_config(sub, argc - 3, argv + 3);
	} else if (!strcmp(cmd, "plugins") && !strcmp(sub, "install")) {
		rc = cmd_plugins_install(argc - 3, argv + 3);
	} else {
		bool group = !strcmp(cmd, "gateway") || !strcmp(cmd, "plugins");
		const char *unknown = group ? sub : cmd;
		if (*unknown)
			fprintf(stderr, "error: unknown command '%s'\n", unknown);
		usage();
	}
	free(version);
	return rc;
}
