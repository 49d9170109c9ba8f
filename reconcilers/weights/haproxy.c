/* The haproxy driver's operations (weights.h); the connections are haproxy_cli.c's. */
#include "reconcilers/weights/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "reconcilers/weights/haproxy_internal.h"

/* A map path goes into the CLI as one word: no space, separator, escape or control character,
 * and not the "#<id>" form. */
static bool map_path_ok(const char *s)
{
	if (!s || !*s || *s == '#' || strlen(s) > 4096)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || *s == ';' || *s == '\\' || *s == '"' || *s == '\'')
			return false;
	return true;
}

static int check_map(const struct load_balancer *lb, struct cf_err *err)
{
	if (map_path_ok(lb->haproxy.tenant_map))
		return 0;
	return cf_err_set(err, "LoadBalancer/%s: haproxy.tenantMap \"%.80s\" holds a space, quote, "
			  "';' or '\\', or starts with '#'", lb->name ? lb->name : "-",
			  lb->haproxy.tenant_map);
}

static int check_config(const struct load_balancer *lb, struct cf_err *err)
{
	if (!lb->haproxy.socket && !lb->haproxy.address)
		return cf_err_set(err, "LoadBalancer/%s: haproxy needs socket or address",
				  lb->name ? lb->name : "-");
	if (!weights_name_ok(lb->haproxy.backend))
		return cf_err_set(err, "LoadBalancer/%s: haproxy.backend \"%.80s\": want 1 to %d of "
				  "A-Z a-z 0-9 _ . : -", lb->name ? lb->name : "-",
				  lb->haproxy.backend ? lb->haproxy.backend : "",
				  WEIGHTS_SERVER_NAME_MAX);
	return 0;
}

static int hap_get(const struct load_balancer *lb, struct weight_map *out, struct cf_err *err)
{
	char cmd[128], *reply = NULL;
	int rc = -1;
	if (check_config(lb, err) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "show servers state %s", lb->haproxy.backend);
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (weights_haproxy_parse_state(reply, lb->haproxy.backend, out, err) < 0) {
		cf_err_prefix(err, "haproxy runtime API at %s", hap_endpoint(lb));
		goto done;
	}
	rc = 0;
done:
	free(reply);
	return rc;
}

/* The failures of a batch of set weight commands, each server named: the first in full as the
 * message has room for, the count of the others. */
struct set_failures {
	size_t n;
	char msg[CF_ERR_MSG];
	size_t shown;
};

static void note_failure(struct set_failures *f, const char *endpoint, const char *cmd,
			 const char *reply)
{
	struct cf_err one = {{0}};
	weights_haproxy_check_empty(reply, &one);
	size_t used = strlen(f->msg);
	int n = f->n == 0 ? snprintf(f->msg, sizeof(f->msg), "haproxy runtime API at %s: \"%s\": %s",
				     endpoint, cmd, one.msg)
			  : snprintf(f->msg + used, sizeof(f->msg) - used, "; \"%s\": %s", cmd,
				     one.msg);
	f->n++;
	/* A failure that does not fit is only counted; the message is cut at the last one shown. */
	if (n > 0 && used + (size_t)n < sizeof(f->msg) - 64)
		f->shown = f->n;
	else
		f->msg[used] = '\0';
}

/* One session: the servers' state, a `set weight` for each server of want whose weight differs
 * (';'-separated on lines of at most HAP_LINE_MAX bytes), and, when got is not NULL, the state
 * again into *got. Every command is answered apart, so a failed one names its server; the
 * others are still applied, as HAProxy runs every command of a line. */
static int hap_exchange(const struct load_balancer *lb, const struct weight_map *want,
			struct weight_map *got, struct cf_err *err)
{
	struct hap_session s;
	struct weight_map have = {0};
	struct buf script = BUF_INIT(WEIGHTS_REPLY_MAX);
	struct set_failures failures = {0};
	char show[128], cmd[256];
	size_t line_start = 0, nsets = 0, first = 0;
	int rc = -1;

	if (check_config(lb, err) < 0)
		return -1;
	snprintf(show, sizeof(show), "show servers state %s\n", lb->haproxy.backend);
	if (hap_session_open(lb, &s, err) < 0)
		goto done;
	if (hap_session_run(&s, show, strlen(show), 1, err) < 0 ||
	    weights_haproxy_parse_state(s.answers[s.nanswers - 1], lb->haproxy.backend, &have,
					err) < 0) {
		cf_err_prefix(err, "haproxy runtime API at %s", s.endpoint);
		goto done;
	}
	first = s.nanswers;
	for (size_t i = 0; i < want->n; i++) {
		const struct weight_entry *w = &want->v[i];
		const struct weight_entry *h = weight_map_find(&have, w->server);
		if (h && h->weight == w->weight)
			continue;
		if (!weights_name_ok(w->server)) {
			cf_err_set(err, "server name \"%.80s\" is not safe to send", w->server);
			goto done;
		}
		int n = snprintf(cmd, sizeof(cmd), "set weight %s/%s %d", lb->haproxy.backend,
				 w->server, w->weight);
		size_t line = script.len - line_start;
		if (line && line + 1 + (size_t)n + 1 > HAP_LINE_MAX) {
			if (buf_append(&script, "\n", 1, err) < 0)
				goto done;
			line_start = script.len;
		} else if (line && buf_append(&script, ";", 1, err) < 0) {
			goto done;
		}
		if (buf_append(&script, cmd, (size_t)n, err) < 0)
			goto done;
		nsets++;
	}
	if (nsets && buf_append(&script, "\n", 1, err) < 0)
		goto done;
	if (got && buf_append(&script, show, strlen(show), err) < 0)
		goto done;
	if (script.len && hap_session_run(&s, script.p, script.len, nsets + (got ? 1 : 0),
					  err) < 0) {
		cf_err_prefix(err, "haproxy runtime API at %s: %zu set weight commands", s.endpoint,
			      nsets);
		goto done;
	}
	/* The answers come in the order of the commands: the k-th set is want's k-th change. */
	size_t k = first;
	for (size_t i = 0; i < want->n && k < first + nsets; i++) {
		const struct weight_entry *w = &want->v[i];
		const struct weight_entry *h = weight_map_find(&have, w->server);
		if (h && h->weight == w->weight)
			continue;
		const char *reply = s.answers[k++];
		if (weights_haproxy_check_empty(reply, NULL) == 0)
			continue;
		snprintf(cmd, sizeof(cmd), "set weight %s/%s %d", lb->haproxy.backend, w->server,
			 w->weight);
		note_failure(&failures, s.endpoint, cmd, reply);
	}
	if (failures.n) {
		if (failures.n > failures.shown)
			cf_err_set(err, "%s (%zu of %zu set weight commands failed; %zu more not "
				   "shown)", failures.msg, failures.n, nsets,
				   failures.n - failures.shown);
		else
			cf_err_set(err, "%s", failures.msg);
		goto done;
	}
	if (got && weights_haproxy_parse_state(s.answers[s.nanswers - 1], lb->haproxy.backend, got,
					       err) < 0) {
		cf_err_prefix(err, "haproxy runtime API at %s", s.endpoint);
		goto done;
	}
	rc = 0;
done:
	hap_session_close(&s);
	weight_map_free(&have);
	buf_free(&script);
	return rc;
}

static int hap_set(const struct load_balancer *lb, const struct weight_map *want,
		   struct cf_err *err)
{
	return hap_exchange(lb, want, NULL, err);
}

static int hap_apply(const struct load_balancer *lb, const struct weight_map *want,
		     struct weight_map *got, struct cf_err *err)
{
	return hap_exchange(lb, want, got, err);
}

static int hap_route_tenant(const struct load_balancer *lb, const char *header_value,
			    const char *pool, struct cf_err *err)
{
	char *cmd = NULL, *reply = NULL, got[WEIGHTS_SERVER_NAME_MAX + 1];
	const char *map = lb->haproxy.tenant_map;
	bool found;
	int rc = -1;

	if (check_config(lb, err) < 0)
		return -1;
	if (!map)
		return cf_err_set(err, "LoadBalancer/%s: haproxy.tenantMap is needed to route "
				  "tenants", lb->name ? lb->name : "-");
	if (check_map(lb, err) < 0)
		return -1;
	if (asprintf(&cmd, "set map %s %s %s", map, header_value, pool) < 0)
		goto oom;
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (strncmp(reply, "entry not found", 15) == 0) {
		free(cmd);
		free(reply);
		reply = NULL;
		if (asprintf(&cmd, "add map %s %s %s", map, header_value, pool) < 0)
			goto oom;
		if (hap_command(lb, cmd, &reply, err) < 0)
			goto done;
	}
	if (weights_haproxy_check_empty(reply, err) < 0)
		goto fail;
	free(cmd);
	free(reply);
	reply = NULL;
	if (asprintf(&cmd, "get map %s %s", map, header_value) < 0)
		goto oom;
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (weights_haproxy_parse_get_map(reply, &found, got, sizeof(got), err) < 0)
		goto fail;
	if (!found || strcmp(got, pool) != 0) {
		cf_err_set(err, "tenant %s: want pool %s, got %s on reading back", header_value, pool,
			   found ? got : "no route");
		goto fail;
	}
	rc = 0;
	goto done;
oom:
	cmd = NULL;
	cf_err_set(err, "out of memory");
	goto done;
fail:
	cf_err_prefix(err, "haproxy runtime API at %s: \"%s\"", hap_endpoint(lb), cmd);
done:
	free(cmd);
	free(reply);
	return rc;
}

/* show servers state, then show stat for the sessions. */
static int hap_servers(const struct load_balancer *lb, struct lb_servers *out, struct cf_err *err)
{
	char cmd[128], *reply = NULL;
	int rc = -1;
	if (check_config(lb, err) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "show servers state %s", lb->haproxy.backend);
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (weights_haproxy_parse_servers(reply, lb->haproxy.backend, out, err) < 0)
		goto fail;
	free(reply);
	reply = NULL;
	snprintf(cmd, sizeof(cmd), "show stat %s 4 -1", lb->haproxy.backend);
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (weights_haproxy_parse_sessions(reply, lb->haproxy.backend, out, err) < 0)
		goto fail;
	rc = 0;
	goto done;
fail:
	cf_err_prefix(err, "haproxy runtime API at %s", hap_endpoint(lb));
done:
	free(reply);
	return rc;
}

/* `set server <backend>/<server> state drain|ready`, read back with show servers state. "ready"
 * also ends a maintenance set by hand: HAProxy has one admin state for both. */
static int hap_drain(const struct load_balancer *lb, const char *server, bool drain,
		     struct cf_err *err)
{
	struct lb_servers got = {0};
	char cmd[256], *reply = NULL;
	const char *state = drain ? "drain" : "ready";
	int rc = -1;
	if (check_config(lb, err) < 0)
		return -1;
	if (!weights_name_ok(server))
		return cf_err_set(err, "server name \"%.80s\" is not safe to send", server);
	snprintf(cmd, sizeof(cmd), "set server %s/%s state %s", lb->haproxy.backend, server, state);
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (weights_haproxy_check_empty(reply, err) < 0) {
		cf_err_prefix(err, "haproxy runtime API at %s: \"%s\"", hap_endpoint(lb), cmd);
		goto done;
	}
	if (hap_servers(lb, &got, err) < 0) {
		cf_err_prefix(err, "reading the state of %s back", server);
		goto done;
	}
	const struct lb_server *s = lb_servers_find(&got, server);
	if (!s || s->draining != drain) {
		cf_err_set(err, "haproxy load balancer: server %s: want state %s, %s on reading back",
			   server, state, !s ? "not listed" : s->draining ? "drain" : "ready");
		goto done;
	}
	rc = 0;
done:
	free(reply);
	lb_servers_free(&got);
	return rc;
}

/* show map: every entry of haproxy.tenantMap; none without a tenant map. */
static int hap_routes(const struct load_balancer *lb, struct lb_routes *out, struct cf_err *err)
{
	char *cmd = NULL, *reply = NULL;
	const char *map = lb->haproxy.tenant_map;
	int rc = -1;
	if (check_config(lb, err) < 0)
		return -1;
	if (!map)
		return 0;
	if (check_map(lb, err) < 0)
		return -1;
	if (asprintf(&cmd, "show map %s", map) < 0) {
		cmd = NULL;
		cf_err_set(err, "out of memory");
		goto done;
	}
	if (hap_command(lb, cmd, &reply, err) < 0)
		goto done;
	if (weights_haproxy_parse_map(reply, out, err) < 0) {
		cf_err_prefix(err, "haproxy runtime API at %s: \"%s\"", hap_endpoint(lb), cmd);
		goto done;
	}
	rc = 0;
done:
	free(cmd);
	free(reply);
	return rc;
}

const struct weights_driver weights_haproxy = {
	.name = "haproxy",
	.get = hap_get,
	.set = hap_set,
	.apply = hap_apply,
	.route_tenant = hap_route_tenant,
	.servers = hap_servers,
	.drain = hap_drain,
	.routes = hap_routes,
};
