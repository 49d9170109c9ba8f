#include "daemon/ctlcfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cfgtable.h"
#include "base/names.h"
#include "base/timeparse.h"
#include "observe/fleet_poll.h"
#include "reconcilers/weights/weights.h"
#include "source/gitsource.h"

#define TEXT_MAX 4096
#define MS_MIN 100
#define HOUR_MS 3600000
#define DAY_MS (24 * HOUR_MS)

#define K(name, type, field, def, req) \
	{name, type, offsetof(struct controller_config, field), def, req, 0, 0, NULL}

/* In the order of CTLCFG_ACCEPT_*. */
static const char *const accept_keys[] = {"kind", "namespace", "name", NULL};
/* In the order of CTLCFG_STORE_*. */
static const char *const store_types[] = {"file", "etcd", NULL};

static const struct cfg_key keys[] = {
	K("source.url", CFG_STRING, source_url, NULL, true),
	K("source.ref", CFG_STRING, source_ref, "main", false),
	K("source.interval", CFG_DURATION, source_interval_ms, "30s", false),
	K("source.timeout", CFG_DURATION, source_timeout_ms, "60s", false),
	K("source.writeBack.author", CFG_STRING, writeback_author, NULL, false),
	K("source.writeBack.branch", CFG_STRING, writeback_branch, NULL, false),
	K("source.writeBack.credentials", CFG_PATH, writeback_credentials, NULL, false),
	K("state", CFG_PATH, state, "/var/db/clawfleet/controller", false),
	K("listen", CFG_STRING, listen, "127.0.0.1:8088", false),
	K("agentToken", CFG_PATH, agent_token, NULL, true),
	/* 30 days, runbook 002's rotation cadence. */
	K("tokens.maxAge", CFG_DURATION, token_max_age_ms, "720h", false),
	K("analysisInterval", CFG_DURATION, analysis_interval_ms, NULL, false),
	{"maxParallel", CFG_INT, offsetof(struct controller_config, max_parallel), "64", false, 1,
	 FLEET_POLL_MAX_PARALLEL, NULL},
	K("notifier", CFG_STRING, notifier, NULL, false),
	K("canaryBackend", CFG_STRING, canary_backend, NULL, false),
	K("prometheus.url", CFG_STRING, prometheus_url, NULL, false),
	K("prometheus.timeout", CFG_DURATION, prometheus_timeout_ms, "5s", false),
	K("webhook.path", CFG_STRING, webhook_path, "/hook/flux", false),
	K("webhook.tokens.current", CFG_PATH, webhook_token_current, NULL, false),
	K("webhook.tokens.next", CFG_PATH, webhook_token_next, NULL, false),
	K("webhook.tokens.prev", CFG_PATH, webhook_token_prev, NULL, false),
	K("webhook.tokens.dir", CFG_PATH, webhook_token_dir, NULL, false),
	K("webhook.requireEventHeader", CFG_BOOL, webhook_require_event_header, "true", false),
	{"webhook.accept", CFG_RECORDS, offsetof(struct controller_config, webhook_accept), NULL,
	 false, 0, 0, accept_keys},
	{"store.type", CFG_ENUM, offsetof(struct controller_config, store_type), "file", false, 0,
	 0, store_types},
	K("store.endpoints", CFG_ARGV, store_endpoints, NULL, false),
	K("store.prefix", CFG_STRING, store_prefix, NULL, false),
	K("store.leaseTTL", CFG_DURATION, store_lease_ttl_ms, "15s", false),
	K("store.timeout", CFG_DURATION, store_timeout_ms, "5s", false),
	K("store.tls.ca", CFG_PATH, store_tls_ca, NULL, false),
	K("store.tls.cert", CFG_PATH, store_tls_cert, NULL, false),
	K("store.tls.key", CFG_PATH, store_tls_key, NULL, false),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

typedef int check_fn(const char *value, struct cf_err *err);

static int check_text(const char *value, struct cf_err *err)
{
	if (!*value)
		return cf_err_set(err, "must not be empty");
	if (strlen(value) > TEXT_MAX)
		return cf_err_set(err, "must be at most %d bytes", TEXT_MAX);
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return cf_err_set(err, "must not hold control characters");
	return 0;
}

static int check_ref(const char *value, struct cf_err *err)
{
	struct gitref ref = {0};
	int rc = check_text(value, err) < 0 ? -1 : gitref_parse(value, &ref, err);
	gitref_free(&ref);
	return rc;
}

/* host:port or [v6]:port, port 0..65535 (0 picks a free port). */
static int check_listen(const char *value, struct cf_err *err)
{
	const char *colon = strrchr(value, ':');
	if (!colon || colon == value)
		return cf_err_set(err, "must be host:port, such as 127.0.0.1:8088");
	const char *p = colon + 1;
	size_t digits = strspn(p, "0123456789");
	if (digits == 0 || digits > 5 || p[digits] != '\0' || atol(p) > 65535)
		return cf_err_set(err, "the port must be a number from 0 to 65535");
	return check_text(value, err);
}

static int check_url(const char *value, struct cf_err *err)
{
	if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
		return cf_err_set(err, "must be an http:// or https:// URL");
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return cf_err_set(err, "must not hold white space or control characters");
	return check_text(value, err);
}

static int check_http_path(const char *value, struct cf_err *err)
{
	if (value[0] != '/' || strchr(value, '?') || strchr(value, '#'))
		return cf_err_set(err, "must be an absolute URL path such as /hook/flux");
	return check_text(value, err);
}

/* "Name <email>", as a commit's author line has it. */
static int check_author(const char *value, struct cf_err *err)
{
	const char *lt = strchr(value, '<');
	size_t len = strlen(value);
	if (!lt || lt == value || lt[-1] != ' ' || len < 4 || value[len - 1] != '>' ||
	    !strchr(lt, '@') || strchr(lt + 1, '<') || strchr(value, '>') != value + len - 1)
		return cf_err_set(err, "must be \"Name <email>\"");
	return check_text(value, err);
}

/* A branch name as Git takes one after refs/heads/. */
static int check_branch(const char *value, struct cf_err *err)
{
	if (check_text(value, err) < 0)
		return -1;
	if (value[0] == '-' || value[0] == '/' || strstr(value, "..") || strstr(value, "//") ||
	    strpbrk(value, " ~^:?*[\\@") || value[strlen(value) - 1] == '/' ||
	    strncmp(value, "refs/", 5) == 0)
		return cf_err_set(err, "must be a branch name such as main");
	return 0;
}

static int check_backend(const char *value, struct cf_err *err)
{
	if (!weights_name_ok(value))
		return cf_err_set(err, "must be 1 to %d of A-Z a-z 0-9 _ . : -",
				  WEIGHTS_SERVER_NAME_MAX);
	return 0;
}

/* An etcd key prefix: /clawfleet/prod, no trailing slash. */
static int check_store_prefix(const char *value, struct cf_err *err)
{
	size_t len = strlen(value);
	if (len < 2 || value[0] != '/' || value[len - 1] == '/' || len > 255)
		return cf_err_set(err, "must start with / and not end with one, at most 255 bytes, "
				       "such as /clawfleet/prod");
	return check_text(value, err);
}

/* What a value must be beyond its type: a check for text, a range for durations. */
static const struct rule {
	const char *key;
	check_fn *check;
	int64_t min_ms, max_ms;
} rules[] = {
	{"source.url", check_text, 0, 0},
	{"source.ref", check_ref, 0, 0},
	{"source.interval", NULL, MS_MIN, DAY_MS},
	{"source.timeout", NULL, 1000, HOUR_MS},
	{"source.writeBack.author", check_author, 0, 0},
	{"source.writeBack.branch", check_branch, 0, 0},
	{"source.writeBack.credentials", check_text, 0, 0},
	{"state", check_text, 0, 0},
	{"listen", check_listen, 0, 0},
	{"agentToken", check_text, 0, 0},
	{"analysisInterval", NULL, MS_MIN, DAY_MS},
	{"notifier", check_url, 0, 0},
	{"canaryBackend", check_backend, 0, 0},
	{"prometheus.url", check_url, 0, 0},
	{"prometheus.timeout", NULL, MS_MIN, 60000},
	{"webhook.path", check_http_path, 0, 0},
	{"webhook.tokens.current", check_text, 0, 0},
	{"webhook.tokens.next", check_text, 0, 0},
	{"webhook.tokens.prev", check_text, 0, 0},
	{"webhook.tokens.dir", check_text, 0, 0},
	{"store.prefix", check_store_prefix, 0, 0},
	{"store.leaseTTL", NULL, 2000, 3600000},
	{"store.timeout", NULL, MS_MIN, 60000},
	{"store.tls.ca", check_text, 0, 0},
	{"store.tls.cert", check_text, 0, 0},
	{"store.tls.key", check_text, 0, 0},
};

static const struct cfg_key *key_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static const struct rule *rule_find(const char *name)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (strcmp(rules[i].key, name) == 0)
			return &rules[i];
	return NULL;
}

static int check_duration(const struct rule *r, int64_t ms, struct cf_err *err)
{
	char lo[32], hi[32];
	if (ms >= r->min_ms && ms <= r->max_ms)
		return 0;
	duration_format(r->min_ms, lo, sizeof(lo));
	duration_format(r->max_ms, hi, sizeof(hi));
	return cf_err_set(err, "must be from %s to %s", lo, hi);
}

/* A Flux kind is a CamelCase word (GitRepository, ImageUpdateAutomation). */
static int check_kind(const char *value, struct cf_err *err)
{
	size_t len = strlen(value);
	if (len == 0 || len > 63 || value[0] < 'A' || value[0] > 'Z' ||
	    strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != len)
		return cf_err_set(err, "must be a Flux kind such as GitRepository");
	return 0;
}

static void check_accept(const char *path, const struct cfg_records *r, struct diag_list *diags)
{
	static int (*const checks[])(const char *, struct cf_err *) = {
		[CTLCFG_ACCEPT_KIND] = check_kind,
		[CTLCFG_ACCEPT_NAMESPACE] = name_check_dns_label,
		[CTLCFG_ACCEPT_NAME] = name_check_dns_subdomain,
	};
	for (size_t i = 0; i < r->n; i++)
		for (size_t col = 0; col < r->width; col++) {
			const char *v = r->values[i * r->width + col];
			struct cf_err err;
			char msg[CF_ERR_MSG + 64];
			if (!v || checks[col](v, &err) == 0)
				continue;
			snprintf(msg, sizeof(msg), "item %zu: %s: %s", i, accept_keys[col],
				 err.msg);
			cfgtable_report(diags, path, "webhook.accept", msg);
		}
}

int ctlcfg_writeback_branch(const struct controller_config *cfg, char *out, size_t cap,
			    struct cf_err *err)
{
	struct gitref ref = {0};
	int rc = -1;
	if (cfg->writeback_branch) {
		snprintf(out, cap, "%s", cfg->writeback_branch);
		return 0;
	}
	if (gitref_parse(cfg->source_ref ? cfg->source_ref : "main", &ref, err) < 0)
		goto done;
	if (!ref.branch || !*ref.branch || strlen(ref.branch) >= cap) {
		cf_err_set(err, "source.ref %s names no branch: set source.writeBack.branch",
			   cfg->source_ref);
		goto done;
	}
	snprintf(out, cap, "%s", ref.branch);
	rc = 0;
done:
	gitref_free(&ref);
	return rc;
}

/* The write-back needs its author, a branch to commit to, and for a token an https URL. */
static void check_writeback(const char *path, const struct controller_config *c,
			    struct diag_list *diags)
{
	char branch[256];
	struct cf_err err;
	if (!c->writeback_author) {
		if (c->writeback_branch || c->writeback_credentials)
			cfgtable_report(diags, path, "source.writeBack.author",
					"required with source.writeBack: \"Name <email>\"");
		return;
	}
	if (c->source_url && ctlcfg_writeback_branch(c, branch, sizeof(branch), &err) < 0)
		cfgtable_report(diags, path, "source.writeBack.branch", err.msg);
	if (c->writeback_credentials && c->source_url && strncmp(c->source_url, "https://", 8) != 0)
		cfgtable_report(diags, path, "source.writeBack.credentials",
				"a token goes into an https:// source.url only; for SSH or a local "
				"repository leave it out");
}

/* etcd needs its members and a prefix; the lease is whole seconds (etcd's unit) and a request
 * must fit twice in the renew window (leaseTTL*2/3), so a leader can retry a renewal on the
 * next member before it has to stop acting. */
static void check_store(const char *path, const struct controller_config *c,
			struct diag_list *diags)
{
	struct cf_err err;
	if (c->store_type != CTLCFG_STORE_ETCD) {
		if (c->store_endpoints || c->store_prefix)
			cfgtable_report(diags, path, "store.type",
					"store.endpoints and store.prefix are for type: etcd");
		return;
	}
	if (!c->store_endpoints)
		cfgtable_report(diags, path, "store.endpoints",
				"required with type: etcd: the members' client URLs");
	for (char **ep = c->store_endpoints; ep && *ep; ep++)
		if (check_url(*ep, &err) < 0)
			cfgtable_report(diags, path, "store.endpoints", err.msg);
	if (!c->store_prefix)
		cfgtable_report(diags, path, "store.prefix",
				"required with type: etcd, such as /clawfleet/prod");
	if (c->store_lease_ttl_ms % 1000)
		cfgtable_report(diags, path, "store.leaseTTL", "must be whole seconds");
	if (c->store_timeout_ms * 2 > c->store_lease_ttl_ms * 2 / 3)
		cfgtable_report(diags, path, "store.timeout",
				"must be at most half the renew window (leaseTTL*2/3)");
	if (!c->store_tls_cert != !c->store_tls_key)
		cfgtable_report(diags, path, "store.tls", "give cert and key together");
}

/* Values are not echoed back: a URL may carry a credential. */
static void check_values(const char *path, void *cfg, struct diag_list *diags)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct rule *r = rule_find(keys[i].name);
		const void *slot = (const char *)cfg + keys[i].offset;
		bool text = keys[i].type == CFG_STRING || keys[i].type == CFG_PATH;
		struct cf_err err;
		int rc = 0;
		if (!r)
			continue;
		if (keys[i].type == CFG_DURATION && *(const int64_t *)slot)
			rc = check_duration(r, *(const int64_t *)slot, &err);
		else if (text && *(char *const *)slot)
			rc = r->check(*(char *const *)slot, &err);
		if (rc < 0)
			cfgtable_report(diags, path, keys[i].name, err.msg);
	}
	const struct controller_config *c = cfg;
	if (c->webhook_token_dir &&
	    (c->webhook_token_current || c->webhook_token_next || c->webhook_token_prev))
		cfgtable_report(diags, path, "webhook.tokens",
				"give tokens.dir or token files, not both");
	check_accept(path, &c->webhook_accept, diags);
	check_writeback(path, c, diags);
	check_store(path, c, diags);
}

int ctlcfg_load(const char *path, struct controller_config *cfg, struct diag_list *diags)
{
	memset(cfg, 0, sizeof(*cfg));
	return cfgtable_load(keys, NKEYS, path, cfg, check_values, diags);
}

int ctlcfg_set(struct controller_config *cfg, const char *key, const char *value,
	       struct cf_err *err)
{
	const struct cfg_key *k = key_find(key);
	const struct rule *r = k ? rule_find(key) : NULL;
	void *slot = (char *)cfg + (k ? k->offset : 0);
	int64_t ms;
	if (!k)
		return cf_err_set(err, "%s: unknown key", key);
	if (k->type == CFG_DURATION) {
		if (duration_parse(value, &ms, err) < 0 || check_duration(r, ms, err) < 0)
			return cf_err_prefix(err, "%s", key);
		*(int64_t *)slot = ms;
		return 0;
	}
	if (k->type == CFG_PATH && value[0] != '/')
		return cf_err_set(err, "%s: must be an absolute path", key);
	if (r->check(value, err) < 0)
		return cf_err_prefix(err, "%s", key);
	char *copy = strdup(value);
	if (!copy)
		return cf_err_set(err, "out of memory");
	free(*(char **)slot);
	*(char **)slot = copy;
	return 0;
}

void ctlcfg_free(struct controller_config *cfg)
{
	cfgtable_free(keys, NKEYS, cfg);
	memset(cfg, 0, sizeof(*cfg));
}
