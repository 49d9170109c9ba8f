/* clawfleet store migrate: copies a controller's state directory (the file store: rollout.json,
 * audit-anchor.json, promotions.jsonl) into the etcd store under a prefix, so replicas can take
 * over from one controller (README "High availability"); clawfleet audit export --store: writes
 * the audit chain kept in etcd as JSON lines that audit verify reads.
 *
 * What migrate promises:
 *   - it refuses while a controller holds the state directory (promotions.jsonl is locked), and
 *     holds that lock itself until it is done, so no controller starts on the directory halfway;
 *   - it refuses a chain that does not verify, or a log that does not end where the saved state
 *     says (a controller killed between its audit line and its save: start the controller once
 *     so it settles that line);
 *   - it writes nothing to a prefix that holds keys unless --force, which deletes them first;
 *   - it writes as a leader would: it takes <prefix>/leader with a lease (refusing while a
 *     replica leads there), writes the chain and the state in transactions fenced on it, and
 *     revokes the lease at the end, so a replica started meanwhile waits and then takes over
 *     the chain and the state as written.
 * Exit codes: 0 done, 1 refused or failed (nothing or a consistent prefix of the chain written),
 * 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/canon.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "cmd/commands.h"
#include "plan/rollout.h"
#include "record/audit.h"
#include "record/etcd.h"
#include "record/rollout_store.h"

#define STORE_TIMEOUT_MS 5000
#define MIGRATE_LEASE_S 30
#define MIGRATE_BATCH 100 /* audit lines a transaction: etcd allows 128 operations */
#define DELETE_BATCH 100
#define URL_MAX 1024

static const char store_usage[] =
	"usage: clawfleet store migrate --from file:DIR --to etcd://HOST:PORT[,HOST:PORT]/PREFIX\n"
	"         [--force] [--ca FILE] [--cert FILE] [--key FILE]\n"
	"  copies a controller's state directory DIR (rollout state, audit anchor and the audit\n"
	"  chain of promotions.jsonl) into the etcd store under PREFIX, such as /clawfleet/prod.\n"
	"  Refuses while a controller runs on DIR or a replica leads on PREFIX, and refuses a\n"
	"  PREFIX that holds keys unless --force, which deletes them first. --ca (and --cert,\n"
	"  --key for a client certificate) speak https to the members.\n"
	"  Exits 0 when copied, 1 when refused or failed, 2 on a usage error\n";

static const char export_usage[] =
	"usage: clawfleet audit export --store etcd://HOST:PORT[,HOST:PORT]/PREFIX [--out FILE]\n"
	"         [--ca FILE] [--cert FILE] [--key FILE]\n"
	"  writes the audit chain kept in etcd under PREFIX as JSON lines (to FILE, or to standard\n"
	"  output), which clawfleet audit verify checks. Exits 0 when written, 1 when etcd cannot\n"
	"  be read or the chain has a gap, 2 on a usage error\n";

/* etcd://HOST:PORT[,HOST:PORT]/PREFIX, parsed in place: the members as http:// (https:// with a
 * CA) URLs and the prefix. */
struct etcd_url {
	char endpoints[ETCD_MAX_ENDPOINTS][URL_MAX];
	const char *list[ETCD_MAX_ENDPOINTS];
	char prefix[URL_MAX];
	struct rollout_store_etcd_config cfg;
};

static int parse_etcd_url(const char *url, const char *ca, const char *cert, const char *key,
			  struct etcd_url *out, struct cf_err *err)
{
	static const char scheme[] = "etcd://";
	const char *hosts = url + strlen(scheme), *slash;
	size_t n = 0;
	memset(out, 0, sizeof(*out));
	if (strncmp(url, scheme, strlen(scheme)) != 0 || !(slash = strchr(hosts, '/')) ||
	    slash == hosts || strlen(slash) >= sizeof(out->prefix))
		return cf_err_set(err, "%s: not etcd://HOST:PORT[,HOST:PORT]/PREFIX", url);
	for (const char *p = hosts; p < slash;) {
		size_t len = strcspn(p, ",/");
		if (len == 0 || n == ETCD_MAX_ENDPOINTS)
			return cf_err_set(err, "%s: one to %d members, HOST:PORT each", url,
					  ETCD_MAX_ENDPOINTS);
		snprintf(out->endpoints[n], URL_MAX, "%s://%.*s", ca ? "https" : "http", (int)len,
			 p);
		out->list[n] = out->endpoints[n];
		n++;
		p += len + (p[len] == ',');
	}
	snprintf(out->prefix, sizeof(out->prefix), "%s", slash);
	out->cfg = (struct rollout_store_etcd_config){
		.endpoints = out->list,
		.n_endpoints = n,
		.prefix = out->prefix,
		.timeout_ms = STORE_TIMEOUT_MS,
		.ca_file = ca,
		.cert_file = cert,
		.key_file = key,
	};
	return 0;
}

static struct etcd_options client_options(const struct etcd_url *u)
{
	return (struct etcd_options){
		.endpoints = u->cfg.endpoints,
		.n_endpoints = u->cfg.n_endpoints,
		.timeout_ms = u->cfg.timeout_ms,
		.ca_file = u->cfg.ca_file,
		.cert_file = u->cfg.cert_file,
		.key_file = u->cfg.key_file,
	};
}

/* ---- audit export ---- */

struct export {
	FILE *out;
	uint64_t next;
	struct cf_err *err;
};

static int export_line(void *ctx, uint64_t seq, const char *text, size_t len)
{
	struct export *x = ctx;
	if (seq != x->next)
		return cf_err_set(x->err, "the chain in etcd has no line %" PRIu64, x->next);
	if (fwrite(text, 1, len, x->out) != len || fputc('\n', x->out) == EOF)
		return cf_err_errno(x->err, "writing line %" PRIu64, seq);
	x->next++;
	return 0;
}

static int export_chain(const struct etcd_url *u, const char *path, struct cf_err *err)
{
	struct rollout_store st = {0};
	struct audit_anchor anchor;
	bool found = false;
	FILE *out = stdout;
	int rc = -1;
	if (rollout_store_open_etcd(&st, &u->cfg, err) < 0)
		return -1;
	if (rollout_store_load_anchor(&st, &anchor, &found, err) < 0)
		goto done;
	if (path && !(out = fopen(path, "w"))) {
		cf_err_errno(err, "%s", path);
		goto done;
	}
	struct export x = {.out = out, .next = 1, .err = err};
	if (rollout_store_read_audit(&st, 0, export_line, &x, err) != 0)
		goto done;
	if (x.next - 1 != anchor.lines) {
		cf_err_set(err, "etcd holds %" PRIu64 " audit lines, its anchor counts %" PRIu64,
			   x.next - 1, anchor.lines);
		goto done;
	}
	rc = 0;
done:
	if (path && out && fclose(out) != 0 && rc == 0)
		rc = cf_err_errno(err, "%s", path);
	if (!path && fflush(stdout) != 0 && rc == 0)
		rc = cf_err_errno(err, "standard output");
	rollout_store_close(&st);
	return rc;
}

/* Flags of the form --name VALUE into the slots names[i] points at; NULL names ends. *force
 * (NULL: not accepted) takes --force. */
static int parse_flags(int argc, char **argv, const char *const *names, const char ***slots,
		       bool *force)
{
	for (int i = 2; i < argc; i++) {
		if (force && strcmp(argv[i], "--force") == 0) {
			*force = true;
			continue;
		}
		size_t k = 0;
		while (names[k] && strcmp(argv[i], names[k]) != 0)
			k++;
		if (!names[k] || i + 1 == argc || *slots[k])
			return -1;
		*slots[k] = argv[++i];
	}
	return 0;
}

int cmd_audit_export(int argc, char **argv)
{
	const char *store = NULL, *out = NULL, *ca = NULL, *cert = NULL, *key = NULL;
	static const char *const names[] = {"--store", "--out", "--ca", "--cert", "--key", NULL};
	const char **slots[] = {&store, &out, &ca, &cert, &key};
	struct etcd_url u;
	struct cf_err err;
	if (argc == 3 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
		fputs(export_usage, stdout);
		return 0;
	}
	if (parse_flags(argc, argv, names, slots, NULL) < 0 || !store) {
		fputs(export_usage, stderr);
		return 2;
	}
	if (parse_etcd_url(store, ca, cert, key, &u, &err) < 0) {
		fprintf(stderr, "clawfleet audit export: %s\n", err.msg);
		return 2;
	}
	if (export_chain(&u, out, &err) < 0) {
		fprintf(stderr, "clawfleet audit export: %s\n", err.msg);
		return 1;
	}
	return 0;
}

/* ---- store migrate ---- */

struct migrate {
	const char *dir;
	char log_path[PATH_MAX], state_path[PATH_MAX];
	int lock_fd;
	struct etcd_url url;
	struct etcd *etcd;
	struct rollout_store st;
	bool st_open;
	char leader_key[URL_MAX + 16], holder[64];
	int64_t lease, term;
	bool force;
};

/* The state directory's lock: the one the controller takes on promotions.jsonl. */
static int lock_dir(struct migrate *m, struct cf_err *err)
{
	if (fsutil_join(m->log_path, m->dir, "promotions.jsonl", err) < 0 ||
	    fsutil_join(m->state_path, m->dir, "rollout.json", err) < 0)
		return -1;
	m->lock_fd = open(m->log_path, O_RDONLY | O_CLOEXEC);
	if (m->lock_fd < 0 && errno != ENOENT)
		return cf_err_errno(err, "%s", m->log_path);
	if (m->lock_fd >= 0 && flock(m->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK
			       ? cf_err_set(err, "a controller is running on %s (%s is locked): stop "
						 "it first",
					    m->dir, m->log_path)
			       : cf_err_errno(err, "locking %s", m->log_path);
	return 0;
}

/* The log verifies and ends where the saved anchor says. */
static int check_chain(struct migrate *m, struct rollout_store *file, struct audit_anchor *end,
		       struct cf_err *err)
{
	struct audit_verify_result res = {.entries = 0};
	struct audit_anchor saved;
	bool found = false;
	memcpy(end->head, AUDIT_GENESIS, sizeof(end->head));
	end->lines = 0;
	if (m->lock_fd >= 0) {
		if (audit_verify(m->log_path, &res, err) < 0)
			return -1;
		memcpy(end->head, res.last, sizeof(end->head));
		end->lines = res.entries;
	}
	if (rollout_store_load_anchor(file, &saved, &found, err) < 0)
		return -1;
	if (found && (saved.lines != end->lines || strcmp(saved.head, end->head) != 0))
		return cf_err_set(err, "%s ends at line %" PRIu64 ", the saved state at line %" PRIu64
				       ": start the controller on %s once (it settles the line a "
				       "controller killed mid-save wrote), stop it, and migrate again",
				  m->log_path, end->lines, saved.lines, m->dir);
	return 0;
}

/* Takes <prefix>/leader with a lease, as a replica would: refused while one leads. */
static int take_leader(struct migrate *m, struct cf_err *err)
{
	struct etcd_txn_result r = {0};
	snprintf(m->leader_key, sizeof(m->leader_key), "%s%s", m->url.prefix,
		 ROLLOUT_STORE_KEY_LEADER);
	snprintf(m->holder, sizeof(m->holder), "store-migrate-%ld migrate", (long)getpid());
	if (etcd_lease_grant(m->etcd, MIGRATE_LEASE_S, &m->lease, &(int64_t){0}, err) < 0)
		return -1;
	struct etcd_cmp cmp = {.key = m->leader_key, .target = ETCD_CMP_CREATE, .number = 0};
	struct etcd_op put = {ETCD_OP_PUT, m->leader_key, m->holder, strlen(m->holder), m->lease};
	struct etcd_op get = {.kind = ETCD_OP_GET, .key = m->leader_key};
	if (etcd_txn(m->etcd, &cmp, 1, &put, 1, &get, 1, &r, err) < 0)
		return -1;
	if (!r.succeeded) {
		cf_err_set(err, "a controller replica leads on %s (%s): stop every replica first",
			   m->url.prefix, r.n_kvs ? r.kvs[0].value : "?");
		etcd_txn_result_free(&r);
		return -1;
	}
	m->term = r.revision;
	etcd_txn_result_free(&r);
	return 0;
}

/* Every key under the prefix but the leader key: refused without --force, else deleted in
 * transactions fenced on the leader key. */
static int empty_prefix(struct migrate *m, struct cf_err *err)
{
	char under[URL_MAX + 2];
	snprintf(under, sizeof(under), "%s/", m->url.prefix);
	for (;;) {
		struct etcd_kv *kvs = NULL;
		struct etcd_op ops[DELETE_BATCH];
		struct etcd_txn_result r = {0};
		size_t n = 0, nops = 0;
		bool more = false;
		int rc = etcd_range_prefix(m->etcd, under, NULL, DELETE_BATCH + 1, &kvs, &n, &more,
					   &(int64_t){0}, err);
		for (size_t i = 0; rc == 0 && i < n && nops < DELETE_BATCH; i++)
			if (strcmp(kvs[i].key, m->leader_key) != 0)
				ops[nops++] = (struct etcd_op){.kind = ETCD_OP_DELETE,
							       .key = kvs[i].key};
		if (rc == 0 && nops && !m->force)
			rc = cf_err_set(err, "%s already holds keys (%s): pass --force to delete them "
					     "and migrate",
					m->url.prefix, ops[0].key);
		struct etcd_cmp cmp = {.key = m->leader_key, .target = ETCD_CMP_CREATE,
				       .number = m->term};
		if (rc == 0 && nops)
			rc = etcd_txn(m->etcd, &cmp, 1, ops, nops, NULL, 0, &r, err);
		if (rc == 0 && nops && !r.succeeded)
			rc = cf_err_set(err, "lost %s while deleting: nothing more written",
					m->leader_key);
		etcd_txn_result_free(&r);
		etcd_kvs_free(kvs, n);
		if (rc < 0 || nops == 0)
			return rc;
	}
}

/* The chain, a batch of lines a transaction, each with the anchor it ends at. */
static int copy_chain(struct migrate *m, struct cf_err *err)
{
	char *lines[MIGRATE_BATCH] = {0};
	struct audit_anchor at = {.lines = 0};
	size_t n = 0, cap = 0;
	char *line = NULL;
	int rc = 0;
	FILE *f = m->lock_fd >= 0 ? fdopen(dup(m->lock_fd), "r") : NULL;
	if (m->lock_fd >= 0 && !f)
		return cf_err_errno(err, "%s", m->log_path);
	while (f && rc == 0) {
		ssize_t len = getline(&line, &cap, f);
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0) {
			if (!(lines[n] = strdup(line))) {
				rc = cf_err_set(err, "out of memory");
				break;
			}
			canon_sha256_hex(line, (size_t)len, at.head);
			at.lines++;
			n++;
		}
		if (n == MIGRATE_BATCH || (len < 0 && n > 0)) {
			rc = rollout_store_commit(&m->st, NULL, &at, (const char *const *)lines, n,
						  err);
			for (size_t i = 0; i < n; i++)
				free(lines[i]);
			n = 0;
		}
		if (len < 0)
			break;
	}
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(line);
	if (f)
		fclose(f);
	return rc;
}

static int migrate(struct migrate *m, struct cf_err *err)
{
	struct rollout_store file = {0};
	struct rollout_state state;
	struct audit_anchor end;
	bool found = false;
	struct etcd_options opts = client_options(&m->url);
	rollout_state_init(&state);
	int rc = -1;
	if (lock_dir(m, err) < 0 || rollout_store_open_file(&file, m->state_path, err) < 0)
		return -1;
	if (check_chain(m, &file, &end, err) < 0 ||
	    rollout_store_load(&file, &state, &found, err) < 0)
		goto done;
	if (etcd_new(&m->etcd, &opts, err) < 0 ||
	    rollout_store_open_etcd(&m->st, &m->url.cfg, err) < 0)
		goto done;
	m->st_open = true;
	if (take_leader(m, err) < 0 || empty_prefix(m, err) < 0 ||
	    rollout_store_set_fence(&m->st, m->holder, m->term, err) < 0 ||
	    copy_chain(m, err) < 0 ||
	    rollout_store_commit(&m->st, found ? &state : NULL, &end, NULL, 0, err) < 0)
		goto done;
	printf("migrated %s to etcd under %s: rollout state %s, audit chain of %" PRIu64
	       " lines (head %s)\n",
	       m->dir, m->url.prefix, found ? rollout_phase_name(state.phase) : "(none saved)",
	       end.lines, end.head);
	rc = 0;
done:
	rollout_state_free(&state);
	rollout_store_close(&file);
	return rc;
}

static void migrate_close(struct migrate *m)
{
	/* The key goes with the lease: a replica may lead at once. */
	if (m->lease)
		etcd_lease_revoke(m->etcd, m->lease, &(struct cf_err){0});
	if (m->st_open)
		rollout_store_close(&m->st);
	etcd_free(m->etcd);
	if (m->lock_fd >= 0)
		close(m->lock_fd);
}

int cmd_store(int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *ca = NULL, *cert = NULL, *key = NULL;
	static const char *const names[] = {"--from", "--to", "--ca", "--cert", "--key", NULL};
	const char **slots[] = {&from, &to, &ca, &cert, &key};
	struct migrate m = {.lock_fd = -1};
	struct cf_err err;
	if (argc >= 2 && (strcmp(argv[argc - 1], "-h") == 0 ||
			  strcmp(argv[argc - 1], "--help") == 0)) {
		fputs(store_usage, stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "migrate") != 0 ||
	    parse_flags(argc, argv, names, slots, &m.force) < 0 || !from || !to ||
	    strncmp(from, "file:", 5) != 0 || !from[5]) {
		fputs(store_usage, stderr);
		return 2;
	}
	m.dir = from + 5;
	if (parse_etcd_url(to, ca, cert, key, &m.url, &err) < 0) {
		fprintf(stderr, "clawfleet store migrate: %s\n", err.msg);
		return 2;
	}
	int rc = migrate(&m, &err);
	migrate_close(&m);
	if (rc < 0) {
		fprintf(stderr, "clawfleet store migrate: %s\n", err.msg);
		return 1;
	}
	return 0;
}
