/* agentcfg: defaults, root-relative paths, and every error reported at its key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "desired/agentcfg.h"

static char path[64];

static void write_config(const char *text)
{
	snprintf(path, sizeof(path), "/tmp/test-agentcfg-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static char *errors_of(const char *text)
{
	write_config(text);
	struct agent_config cfg;
	struct diag_list dl = {0};
	assert_int_equal(agentcfg_load(path, &cfg, &dl), -1);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	diag_list_sort(&dl);
	diag_list_print(&dl, f);
	fclose(f);
	diag_list_free(&dl);
	unlink(path);
	return buf;
}

static void test_minimal_config_gets_defaults(void **state)
{
	(void)state;
	write_config("node: canary-gw\n"
		     "root: /tmp/mac1\n"
		     "infra: {remote: 'file:///srv/fleet.git'}\n"
		     "tokens: {current: /etc/clawfleet/token.current}\n");
	struct agent_config cfg;
	struct diag_list dl = {0};
	int rc = agentcfg_load(path, &cfg, &dl);
	diag_list_print(&dl, stderr);
	assert_int_equal(rc, 0);
	assert_string_equal(cfg.node, "canary-gw");
	assert_string_equal(cfg.listen, "127.0.0.1:18081");
	assert_string_equal(cfg.service_manager, "launchd");
	assert_null(cfg.service_label);
	assert_int_equal(cfg.gateway_port, 18789);
	assert_int_equal(cfg.refresh_ms, 30000);
	assert_int_equal(cfg.doctor_timeout_ms, 20000);
	assert_false(cfg.doctor_deep);
	assert_null(cfg.queue);
	assert_null(cfg.token_next);
	assert_null(cfg.controller_addresses);
	char *skills = agentcfg_path(&cfg, cfg.skills);
	assert_string_equal(skills, "/tmp/mac1/var/db/openclaw/skills");
	free(skills);
	agentcfg_free(&cfg);
	unlink(path);
}

static void test_full_config(void **state)
{
	(void)state;
	write_config("node: stable-gw-a\n"
		     "listen: 127.0.0.1:19000\n"
		     "infra: {path: /srv/infra, remote: /srv/fleet.git}\n"
		     "service:\n  manager: command\n  restart: [/usr/local/bin/gw, restart]\n"
		     "  status: [/usr/local/bin/gw, status, --json]\n"
		     "gateway: {port: 18800}\n"
		     "queue: http://127.0.0.1:9099/v1/queue-snapshot\n"
		     "tokens: {current: /t/current, next: /t/next}\n"
		     "refresh: 2s\ndoctor: {timeout: 5s, deep: true}\n"
		     "controllerAddresses: [10.0.4.7, 'fd00::/64']\n");
	struct agent_config cfg;
	struct diag_list dl = {0};
	int rc = agentcfg_load(path, &cfg, &dl);
	diag_list_print(&dl, stderr);
	assert_int_equal(rc, 0);
	assert_string_equal(cfg.service_restart[1], "restart");
	assert_null(cfg.service_restart[2]);
	assert_string_equal(cfg.service_status[2], "--json");
	assert_int_equal(cfg.gateway_port, 18800);
	assert_int_equal(cfg.refresh_ms, 2000);
	assert_true(cfg.doctor_deep);
	assert_string_equal(cfg.token_next, "/t/next");
	assert_string_equal(cfg.controller_addresses[1], "fd00::/64");
	assert_null(cfg.controller_addresses[2]);
	char *infra = agentcfg_path(&cfg, cfg.infra_path);
	assert_string_equal(infra, "/srv/infra");
	free(infra);
	agentcfg_free(&cfg);
	unlink(path);
}

static void test_every_error_reported(void **state)
{
	(void)state;
	char *out = errors_of("node: Canary_GW\n"
			      "lisen: 127.0.0.1:1\n"
			      "infra: {remote: x}\n"
			      "skills: relative/path\n"
			      "gateway: {port: 70000}\n"
			      "refresh: soon\n"
			      "service: {manager: runit}\n");
	assert_non_null(strstr(out, ":2:1: -: lisen: unknown key"));
	assert_non_null(strstr(out, ":4:9: -: skills: must be an absolute path"));
	assert_non_null(strstr(out, ":5:17: -: gateway.port: must be 1..65535, got 70000"));
	assert_non_null(strstr(out, ":6:10: -: refresh: \"soon\""));
	assert_non_null(strstr(out, ":0:0: -: tokens: set tokens.dir (rotated with clawfleet token) or tokens.current"));
	assert_non_null(strstr(out, ": -: node: \"Canary_GW\": must be a DNS label"));
	assert_non_null(strstr(out, "service.manager: must be launchd, systemd, openclaw or command"));
	free(out);
}

static void test_command_manager_needs_argv(void **state)
{
	(void)state;
	char *out = errors_of("node: a\ninfra: {remote: x}\ntokens: {current: /t}\n"
			      "service: {manager: command, restart: [a]}\n");
	assert_non_null(strstr(out, "the command manager needs service.restart and service.status"));
	free(out);
}

/* Only launchd reloads a plist: service.plist with another manager is a mistake to say. */
static void test_plist_is_launchd_only(void **state)
{
	(void)state;
	char *out = errors_of("node: a\ninfra: {remote: x}\ntokens: {current: /t}\n"
			      "service: {manager: systemd, plist: /Library/LaunchDaemons/g.plist}\n");
	assert_non_null(strstr(out, "service.plist: only the launchd manager reloads a plist"));
	free(out);
}

static void test_controller_addresses_are_numeric(void **state)
{
	(void)state;
	char *out = errors_of("node: a\ninfra: {remote: x}\ntokens: {current: /t}\n"
			      "controllerAddresses: [10.0.4.7, controller.local, 10.0.4.7/8]\n");
	assert_non_null(strstr(out, "controllerAddresses: \"controller.local\": not a numeric"));
	assert_non_null(strstr(out, "controllerAddresses: \"10.0.4.7/8\": address bits past"));
	free(out);
}

static void test_not_a_map(void **state)
{
	(void)state;
	char *out = errors_of("- node\n");
	assert_non_null(strstr(out, ":1:1: -: -: the configuration is one YAML map"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_config_gets_defaults),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_every_error_reported),
		cmocka_unit_test(test_command_manager_needs_argv),
		cmocka_unit_test(test_plist_is_launchd_only),
		cmocka_unit_test(test_controller_addresses_are_numeric),
		cmocka_unit_test(test_not_a_map),
	};
	return cmocka_run_group_tests_name("agentcfg", tests, NULL, NULL);
}
