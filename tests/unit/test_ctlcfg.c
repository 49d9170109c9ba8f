/* ctlcfg: defaults, the example, flag overrides, and every error reported at its key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/ctlcfg.h"

static char path[64];

static void write_config(const char *text)
{
	snprintf(path, sizeof(path), "/tmp/test-ctlcfg-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Loads text that must fail; returns the printed problems with the file name cut to "F". */
static char *errors_of(const char *text)
{
	write_config(text);
	struct controller_config cfg;
	struct diag_list dl = {0};
	assert_int_equal(ctlcfg_load(path, &cfg, &dl), -1);
	assert_null(cfg.listen);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	diag_list_sort(&dl);
	for (size_t i = 0; i < dl.n; i++) {
		assert_string_equal(dl.v[i].file, path);
		fprintf(f, "F:%d:%d: %s: %s\n", dl.v[i].line, dl.v[i].col,
			dl.v[i].field ? dl.v[i].field : "-", dl.v[i].msg);
	}
	fclose(f);
	diag_list_free(&dl);
	unlink(path);
	return buf;
}

static void load_ok(const char *text, struct controller_config *cfg)
{
	write_config(text);
	struct diag_list dl = {0};
	int rc = ctlcfg_load(path, cfg, &dl);
	diag_list_print(&dl, stderr);
	diag_list_free(&dl);
	unlink(path);
	assert_int_equal(rc, 0);
}

static void test_minimal_config_gets_defaults(void **state)
{
	(void)state;
	struct controller_config cfg;
	load_ok("source: {url: /srv/fleet.git}\n"
		"agentToken: /etc/clawfleet/agent-token\n",
		&cfg);
	assert_string_equal(cfg.source_url, "/srv/fleet.git");
	assert_string_equal(cfg.source_ref, "main");
	assert_int_equal(cfg.source_interval_ms, 30000);
	assert_int_equal(cfg.source_timeout_ms, 60000);
	assert_string_equal(cfg.state, "/var/db/clawfleet/controller");
	assert_string_equal(cfg.listen, "127.0.0.1:8088");
	assert_string_equal(cfg.agent_token, "/etc/clawfleet/agent-token");
	assert_int_equal(cfg.analysis_interval_ms, 0);
	assert_null(cfg.notifier);
	assert_null(cfg.canary_backend);
	ctlcfg_free(&cfg);
}

static void test_the_documented_example(void **state)
{
	(void)state;
	struct controller_config cfg;
	load_ok("source: {url: 'https://git.example.com/fleet.git', ref: main, interval: 30s, "
		"timeout: 60s}   # interval gets 5 % jitter\n"
		"state: /var/db/clawfleet/controller\n"
		"listen: 127.0.0.1:8088\n"
		"agentToken: /etc/clawfleet/agent-token\n"
		"analysisInterval: 5m\n"
		"notifier: http://127.0.0.1:9099/v1/events\n"
		"canaryBackend: openclaw_canary\n",
		&cfg);
	assert_string_equal(cfg.source_url, "https://git.example.com/fleet.git");
	assert_int_equal(cfg.analysis_interval_ms, 300000);
	assert_string_equal(cfg.notifier, "http://127.0.0.1:9099/v1/events");
	assert_string_equal(cfg.canary_backend, "openclaw_canary");
	ctlcfg_free(&cfg);
}

static void test_every_error_at_its_key(void **state)
{
	(void)state;
	char *out = errors_of("source:\n"
			      "  url: /srv/fleet.git\n"
			      "  ref: 'semver:not a range'\n"
			      "  interval: 30\n"
			      "  timeout: 2h\n"
			      "  depth: 1\n"
			      "state: var/db\n"
			      "listen: localhost\n"
			      "analysisInterval: 10ms\n"
			      "notifier: ftp://notifier.example\n"
			      "canaryBackend: 'openclaw canary'\n"
			      "agenttoken: /etc/token\n");
	assert_non_null(strstr(out, "F:0:0: source.ref: "));
	assert_non_null(strstr(out, "F:4:13: source.interval: must be a duration such as 30s or 5m\n"));
	assert_non_null(strstr(out, "F:0:0: source.timeout: must be from 1s to 1h\n"));
	assert_non_null(strstr(out, "F:6:3: source.depth: unknown key\n"));
	assert_non_null(strstr(out, "F:7:8: state: must be an absolute path\n"));
	assert_non_null(strstr(out, "F:0:0: listen: must be host:port, such as 127.0.0.1:8088\n"));
	assert_non_null(strstr(out, "F:0:0: analysisInterval: must be from 100ms to 24h\n"));
	assert_non_null(strstr(out, "F:0:0: notifier: must be an http:// or https:// URL\n"));
	assert_non_null(strstr(out, "F:0:0: canaryBackend: must be 1 to 64 of"));
	assert_non_null(strstr(out, "F:12:1: agenttoken: unknown key\n"));
	assert_non_null(strstr(out, "F:0:0: agentToken: required key is missing\n"));
	free(out);
}

static void test_structure_errors(void **state)
{
	(void)state;
	char *out = errors_of("source: /srv/fleet.git\nagentToken: [a, b]\n");
	assert_string_equal(out, "F:0:0: source.url: required key is missing\n"
				 "F:1:1: source: must be a map\n"
				 "F:2:13: agentToken: must be a single value\n");
	free(out);
	out = errors_of("- source\n");
	assert_string_equal(out, "F:1:1: -: the configuration is one YAML map\n");
	free(out);
	out = errors_of("source: {url: a\n");
	assert_non_null(strstr(out, "F:2:1: -: "));
	free(out);
}

static void test_missing_file_names_it(void **state)
{
	(void)state;
	struct controller_config cfg;
	struct diag_list dl = {0};
	assert_int_equal(ctlcfg_load("/nonexistent/controller.yaml", &cfg, &dl), -1);
	assert_int_equal(dl.n, 1);
	assert_string_equal(dl.v[0].file, "/nonexistent/controller.yaml");
	assert_non_null(strstr(dl.v[0].msg, "No such file"));
	diag_list_free(&dl);
}

static void test_flags_override_with_the_same_checks(void **state)
{
	(void)state;
	struct controller_config cfg;
	struct cf_err err;
	load_ok("source: {url: /srv/fleet.git}\nagentToken: /etc/token\n", &cfg);
	assert_int_equal(ctlcfg_set(&cfg, "listen", "127.0.0.1:0", &err), 0);
	assert_string_equal(cfg.listen, "127.0.0.1:0");
	assert_int_equal(ctlcfg_set(&cfg, "source.url", "file:///srv/other.git", &err), 0);
	assert_string_equal(cfg.source_url, "file:///srv/other.git");
	assert_int_equal(ctlcfg_set(&cfg, "state", "relative/dir", &err), -1);
	assert_string_equal(err.msg, "state: must be an absolute path");
	assert_string_equal(cfg.state, "/var/db/clawfleet/controller");
	assert_int_equal(ctlcfg_set(&cfg, "listen", "127.0.0.1:70000", &err), -1);
	assert_string_equal(cfg.listen, "127.0.0.1:0");
	assert_int_equal(ctlcfg_set(&cfg, "nosuch", "x", &err), -1);
	assert_string_equal(err.msg, "nosuch: unknown key");
	ctlcfg_free(&cfg);
}

/* webhook.accept: a list of {kind, namespace, name} maps, a left-out key matching anything. */
/* source.writeBack is on with its author; the branch defaults to source.ref's; a token needs
 * an https URL; a bad value is refused at its key. */
static void test_write_back(void **state)
{
	(void)state;
	struct controller_config cfg;
	char branch[64];
	struct cf_err err;
	load_ok("source: {url: /srv/fleet.git, ref: branch:prod, writeBack: {author: \"Fleet <f@example.com>\"}}\n"
		"agentToken: /etc/clawfleet/agent-token\n",
		&cfg);
	assert_string_equal(cfg.writeback_author, "Fleet <f@example.com>");
	assert_null(cfg.writeback_branch);
	assert_int_equal(ctlcfg_writeback_branch(&cfg, branch, sizeof(branch), &err), 0);
	assert_string_equal(branch, "prod");
	ctlcfg_free(&cfg);
	load_ok("source: {url: /srv/fleet.git}\nagentToken: /etc/clawfleet/agent-token\n", &cfg);
	assert_null(cfg.writeback_author);
	ctlcfg_free(&cfg);

	char *out = errors_of("source: {url: /srv/fleet.git, writeBack: {branch: main}}\n"
			      "agentToken: /etc/clawfleet/agent-token\n");
	assert_non_null(strstr(out, "source.writeBack.author: required with source.writeBack"));
	free(out);
	out = errors_of("source: {url: /srv/fleet.git, ref: tag:v1, writeBack: {author: \"A <a@b.c>\"}}\n"
			"agentToken: /etc/clawfleet/agent-token\n");
	assert_non_null(strstr(out, "source.writeBack.branch: source.ref tag:v1 names no branch"));
	free(out);
	out = errors_of("source: {url: /srv/fleet.git, writeBack: {author: nobody, branch: \"a..b\", "
			"credentials: /etc/token}}\n"
			"agentToken: /etc/clawfleet/agent-token\n");
	assert_non_null(strstr(out, "source.writeBack.author: must be \"Name <email>\""));
	assert_non_null(strstr(out, "source.writeBack.branch: must be a branch name"));
	assert_non_null(strstr(out, "source.writeBack.credentials: a token goes into an https://"));
	free(out);
}

static void test_webhook_accept(void **state)
{
	(void)state;
	struct controller_config cfg;
	load_ok("source: {url: /srv/fleet.git}\n"
		"agentToken: /etc/clawfleet/agent-token\n"
		"webhook:\n"
		"  tokens: {dir: /var/db/clawfleet/tokens}\n"
		"  accept:\n"
		"    - {kind: GitRepository, namespace: flux-system, name: openclaw-fleet}\n"
		"    - kind: ImageUpdateAutomation\n",
		&cfg);
	const struct cfg_records *r = &cfg.webhook_accept;
	assert_int_equal(r->n, 2);
	assert_int_equal(r->width, 3);
	assert_string_equal(r->values[CTLCFG_ACCEPT_KIND], "GitRepository");
	assert_string_equal(r->values[CTLCFG_ACCEPT_NAMESPACE], "flux-system");
	assert_string_equal(r->values[CTLCFG_ACCEPT_NAME], "openclaw-fleet");
	assert_string_equal(r->values[r->width + CTLCFG_ACCEPT_KIND], "ImageUpdateAutomation");
	assert_null(r->values[r->width + CTLCFG_ACCEPT_NAMESPACE]);
	assert_null(r->values[r->width + CTLCFG_ACCEPT_NAME]);
	ctlcfg_free(&cfg);
	assert_int_equal(cfg.webhook_accept.n, 0);

	/* Without the key: any object. */
	load_ok("source: {url: /srv/fleet.git}\nagentToken: /etc/clawfleet/agent-token\n", &cfg);
	assert_int_equal(cfg.webhook_accept.n, 0);
	ctlcfg_free(&cfg);

	char *out = errors_of("source: {url: /srv/fleet.git}\n"
			      "agentToken: /etc/clawfleet/agent-token\n"
			      "webhook:\n"
			      "  accept:\n"
			      "    - {kind: GitRepository, nmespace: flux-system}\n");
	assert_string_equal(out, "F:5:29: webhook.accept: item 0: unknown key nmespace\n");
	free(out);
	out = errors_of("source: {url: /srv/fleet.git}\n"
			"agentToken: /etc/clawfleet/agent-token\n"
			"webhook: {accept: GitRepository}\n");
	assert_string_equal(out, "F:3:19: webhook.accept: must be a list of 1 to 64 maps\n");
	free(out);
	out = errors_of("source: {url: /srv/fleet.git}\n"
			"agentToken: /etc/clawfleet/agent-token\n"
			"webhook: {accept: [{}, {kind: [a]}]}\n");
	assert_string_equal(out, "F:3:20: webhook.accept: item 0 must be a map with at least one "
				 "key\n");
	free(out);
	out = errors_of("source: {url: /srv/fleet.git}\n"
			"agentToken: /etc/clawfleet/agent-token\n"
			"webhook: {accept: [{kind: gitrepository, namespace: Flux_System}]}\n");
	assert_non_null(strstr(out, "webhook.accept: item 0: kind: must be a Flux kind"));
	assert_non_null(strstr(out, "webhook.accept: item 0: namespace: "));
	free(out);
}

/* store: file by default; etcd with its members, prefix, lease and TLS, every cross-key rule. */
static void test_store(void **state)
{
	(void)state;
	struct controller_config cfg;
	load_ok("source: {url: /srv/fleet.git}\nagentToken: /etc/clawfleet/agent-token\n", &cfg);
	assert_int_equal(cfg.store_type, CTLCFG_STORE_FILE);
	assert_int_equal(cfg.store_lease_ttl_ms, 15000);
	assert_int_equal(cfg.store_timeout_ms, 5000);
	ctlcfg_free(&cfg);

	load_ok("source: {url: /srv/fleet.git}\n"
		"agentToken: /etc/clawfleet/agent-token\n"
		"store:\n"
		"  type: etcd\n"
		"  endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]\n"
		"  prefix: /clawfleet/prod\n"
		"  tls: {ca: /etc/etcd/ca.pem, cert: /etc/etcd/c.pem, key: /etc/etcd/c.key}\n",
		&cfg);
	assert_int_equal(cfg.store_type, CTLCFG_STORE_ETCD);
	assert_string_equal(cfg.store_endpoints[1], "https://10.0.0.2:2379");
	assert_null(cfg.store_endpoints[2]);
	assert_string_equal(cfg.store_prefix, "/clawfleet/prod");
	assert_string_equal(cfg.store_tls_key, "/etc/etcd/c.key");
	ctlcfg_free(&cfg);

	char *out = errors_of("source: {url: /srv/fleet.git}\n"
			      "agentToken: /etc/clawfleet/agent-token\n"
			      "store: {type: etcd, leaseTTL: 3500ms, timeout: 2s, tls: {ca: /a}}\n");
	assert_string_equal(out, "F:0:0: store.endpoints: required with type: etcd: the members' "
				 "client URLs\n"
				 "F:0:0: store.leaseTTL: must be whole seconds\n"
				 "F:0:0: store.prefix: required with type: etcd, such as "
				 "/clawfleet/prod\n"
				 "F:0:0: store.timeout: must be at most half the renew window "
				 "(leaseTTL*2/3)\n");
	free(out);
	out = errors_of("source: {url: /srv/fleet.git}\n"
			"agentToken: /etc/clawfleet/agent-token\n"
			"store: {type: etcd, endpoints: [127.0.0.1:2379], prefix: clawfleet/, "
			"tls: {cert: /c}}\n");
	assert_string_equal(out, "F:0:0: store.endpoints: must be an http:// or https:// URL\n"
				 "F:0:0: store.prefix: must start with / and not end with one, at "
				 "most 255 bytes, such as /clawfleet/prod\n"
				 "F:0:0: store.tls: give cert and key together\n");
	free(out);
	out = errors_of("source: {url: /srv/fleet.git}\n"
			"agentToken: /etc/clawfleet/agent-token\n"
			"store: {type: consul, prefix: /x}\n");
	assert_non_null(strstr(out, "store.type"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_config_gets_defaults),
		cmocka_unit_test(test_the_documented_example),
		cmocka_unit_test(test_every_error_at_its_key),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_missing_file_names_it),
		cmocka_unit_test(test_flags_override_with_the_same_checks),
		cmocka_unit_test(test_webhook_accept),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_write_back),
	};
	return cmocka_run_group_tests_name("ctlcfg", tests, NULL, NULL);
}
