/* node_act against a recording fake of its world (node_ops): tables of passes, as the planner's
 * tests are. Each row is one pass: the target, what changes in the world before it (an install
 * that fails, skills already linked, a stop before the kickstart...), the exact, ordered calls
 * the pass makes, its result and the generation the node has applied after it
 * (node_act_generation, carried to the next row as the agent does). The fakes keep a small model
 * of the Mac: the infra checkout, npm's packages, the skills links and packs, the tenants root,
 * the OpenClaw configuration file and the restart-pending record; the plans are the reconcilers' real, pure ones, over the
 * example repository's desired state (lock 2026.7.1, skills 1.4.2, tenants acme and globex).
 * A row may also check the world after its pass (a refused restart puts the Mac back as it was).
 * Every row is also checked for the record's discipline: nothing the gateway runs changes before
 * the record is on disk, and the record goes only right after a kickstart, or last in a pass
 * whose refused restart put back everything it changed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "act/node_act.h"
#include "base/canon.h"
#include "desired/agentcfg.h"
#include "desired/schema.h"

#define C1 "1111111111111111111111111111111111111111"
#define EXAMPLE_REPO "manifests/example-repo"
#define MAX_CALLS 32
#define MAX_PKGS 8
#define MAX_PACKS 4
#define MAX_ENTRIES 16

struct pkg {
	char name[64], version[32];
};

struct entry {
	enum materialise_entry_kind kind;
	char name[64], target[64];
};

struct world {
	char head[41], tag[64];			/* the infra checkout; "" before the first pull */
	struct pkg pkgs[MAX_PKGS];		/* npm's global packages */
	size_t npkgs;
	char links[SKILLS_LINKS][16];		/* the skills links' semvers; "" when absent */
	char packs[MAX_PACKS][16];		/* complete skill packs */
	size_t npacks;
	struct entry entries[MAX_ENTRIES];	/* the tenants root */
	size_t nentries;
	char *openclaw_config;			/* the OpenClaw configuration file; NULL: none */
	bool pending;				/* the restart-pending record is on disk */
	bool fail_pull, fail_install, fail_kickstart, fail_revert;
	const char *refuse_restart; /* the prerestart check's code; NULL: it passes */
	enum node_step stop_before;		/* NODE_STEPS: never */
	char *calls[MAX_CALLS + 1];
	size_t ncalls;
};

/* The fakes have no context argument, as the reconcilers they stand for have none. */
static struct world *world;
static struct schema_set *schemas;

static void call(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void call(const char *fmt, ...)
{
	va_list ap;
	if (world->ncalls == MAX_CALLS)
		fail_msg("more than %d calls in one pass", MAX_CALLS);
	va_start(ap, fmt);
	assert_true(vasprintf(&world->calls[world->ncalls], fmt, ap) >= 0);
	va_end(ap);
	world->calls[++world->ncalls] = NULL;
}

static void clear_calls(struct world *w)
{
	for (size_t i = 0; i < w->ncalls; i++)
		free(w->calls[i]);
	w->ncalls = 0;
	w->calls[0] = NULL;
}

/* ---- the fakes ---- */

static int fake_pull_observe(const char *infra_path, const char *prefer_tag,
			     struct pull_state *out, struct cf_err *err)
{
	(void)infra_path;
	(void)err;
	call("pull observe");
	memset(out, 0, sizeof(*out));
	out->repo = world->head[0] != '\0';
	snprintf(out->head, sizeof(out->head), "%s", world->head);
	if (prefer_tag && strcmp(prefer_tag, world->tag) == 0)
		snprintf(out->tag, sizeof(out->tag), "%s", world->tag);
	return 0;
}

static int fake_pull_apply(const struct pull_config *cfg, const struct pull_target *t,
			   struct cf_err *err)
{
	(void)cfg;
	call("pull apply %s@%.7s", t->tag, t->commit);
	if (world->fail_pull)
		return cf_err_set(err, "pulling %s: the remote hung up", t->tag);
	snprintf(world->head, sizeof(world->head), "%s", t->commit);
	snprintf(world->tag, sizeof(world->tag), "%s", t->tag);
	return 0;
}

static int fake_read_tree(const char *infra_path, struct treefiles *out, struct cf_err *err)
{
	(void)infra_path;
	call("read tree");
	return treefiles_from_dir(EXAMPLE_REPO, out, err);
}

static struct pkg *pkg_find(const char *name)
{
	for (size_t i = 0; i < world->npkgs; i++)
		if (strcmp(world->pkgs[i].name, name) == 0)
			return &world->pkgs[i];
	return NULL;
}

static void pkg_set(const char *name, const char *version)
{
	struct pkg *p = pkg_find(name);
	if (!p) {
		assert_true(world->npkgs < MAX_PKGS);
		p = &world->pkgs[world->npkgs++];
		snprintf(p->name, sizeof(p->name), "%s", name);
	}
	snprintf(p->version, sizeof(p->version), "%s", version);
}

static int fake_install_observe(const struct install_config *cfg, struct installed_state *out,
				struct cf_err *err)
{
	(void)cfg;
	(void)err;
	call("install observe");
	memset(out, 0, sizeof(*out));
	out->plugins = calloc(MAX_PKGS, sizeof(*out->plugins));
	assert_non_null(out->plugins);
	for (size_t i = 0; i < world->npkgs; i++) {
		const struct pkg *p = &world->pkgs[i];
		if (strcmp(p->name, INSTALL_CORE_PACKAGE) == 0) {
			out->openclaw = strdup(p->version);
			continue;
		}
		out->plugins[out->nplugins].name = strdup(p->name);
		out->plugins[out->nplugins++].version = strdup(p->version);
	}
	return 0;
}

static int fake_install_apply(const struct install_config *cfg,
			      const struct installed_state *installed,
			      const struct install_plan *plan, const char *bookmark_path,
			      struct cf_err *err)
{
	char line[512] = "install apply";
	(void)cfg;
	(void)installed;
	(void)bookmark_path;
	for (size_t i = 0; i < plan->n; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s@%s",
			 plan->actions[i].name, plan->actions[i].version);
	call("%s", line);
	if (world->fail_install)
		return cf_err_set(err, "`npm install -g openclaw@%s` exited 1",
				  plan->actions[0].version);
	for (size_t i = 0; i < plan->n; i++)
		pkg_set(plan->actions[i].name, plan->actions[i].version);
	return 0;
}

static int fake_install_revert(const struct install_config *cfg,
			       const struct install_plan *applied, struct cf_err *err)
{
	char line[512] = "install revert";
	(void)cfg;
	for (size_t i = applied->n; i-- > 0;)
		if (applied->actions[i].from)
			snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s@%s",
				 applied->actions[i].name, applied->actions[i].from);
	call("%s", line);
	if (world->fail_revert)
		return cf_err_set(err, "putting back OpenClaw openclaw@2026.7.0: the registry is down");
	for (size_t i = applied->n; i-- > 0;)
		if (applied->actions[i].from)
			pkg_set(applied->actions[i].name, applied->actions[i].from);
	return 0;
}

static bool has_pack(const char *semver)
{
	for (size_t i = 0; semver && i < world->npacks; i++)
		if (strcmp(world->packs[i], semver) == 0)
			return true;
	return false;
}

static int fake_skills_observe(const char *root, const char *semver, struct skills_state *out,
			       struct cf_err *err)
{
	(void)root;
	(void)err;
	call("skills observe %s", semver);
	memset(out, 0, sizeof(*out));
	for (int l = 0; l < SKILLS_LINKS; l++) {
		const char *to = world->links[l];
		out->links[l].status = !to[0]	      ? SKILLS_LINK_ABSENT
				       : has_pack(to) ? SKILLS_LINK_OK
						      : SKILLS_LINK_MISSING;
		snprintf(out->links[l].target, sizeof(out->links[l].target), "%s", to);
	}
	out->pack_complete = has_pack(semver);
	return 0;
}

static int fake_skills_apply(const char *root, const struct skills_target *t,
			     const struct skills_plan *plan, struct cf_err *err)
{
	(void)root;
	(void)err;
	for (size_t i = 0; i < plan->n; i++) {
		const struct skills_action *a = &plan->v[i];
		switch (a->kind) {
		case SKILLS_CLEAN:
			call("skills apply clean");
			break;
		case SKILLS_INSTALL:
			call("skills apply install %s", t->semver);
			assert_true(world->npacks < MAX_PACKS);
			snprintf(world->packs[world->npacks++], sizeof(world->packs[0]), "%s",
				 t->semver);
			break;
		case SKILLS_ADOPT:
			call("skills apply adopt %s", t->semver);
			assert_true(world->npacks < MAX_PACKS);
			snprintf(world->packs[world->npacks++], sizeof(world->packs[0]), "%s",
				 t->semver);
			break;
		case SKILLS_LINK:
			call("skills apply link %s -> %s", skills_link_name(a->link), t->semver);
			snprintf(world->links[a->link], sizeof(world->links[0]), "%s", t->semver);
			break;
		}
	}
	return 0;
}

static int fake_skills_restore(const char *root, const struct skills_state *before,
			       struct cf_err *err)
{
	(void)root;
	(void)err;
	call("skills restore");
	for (int l = 0; l < SKILLS_LINKS; l++)
		snprintf(world->links[l], sizeof(world->links[0]), "%s", before->links[l].target);
	return 0;
}

static int fake_mkdir_p(const char *path, mode_t mode, struct cf_err *err)
{
	(void)mode;
	(void)err;
	call("mkdir %s", path);
	return 0;
}

static int fake_materialise_observe(const char *root, struct materialise_state *out,
				    struct cf_err *err)
{
	(void)root;
	(void)err;
	call("materialise observe");
	out->v = calloc(MAX_ENTRIES, sizeof(*out->v));
	assert_non_null(out->v);
	out->n = world->nentries;
	for (size_t i = 0; i < world->nentries; i++) {
		const struct entry *e = &world->entries[i];
		out->v[i].kind = e->kind;
		out->v[i].name = strdup(e->name);
		out->v[i].target = e->kind == MAT_ENTRY_LINK ? strdup(e->target) : NULL;
	}
	return 0;
}

static struct entry *entry_find(const char *name)
{
	for (size_t i = 0; i < world->nentries; i++)
		if (strcmp(world->entries[i].name, name) == 0)
			return &world->entries[i];
	return NULL;
}

static void entry_put(enum materialise_entry_kind kind, const char *name, const char *target)
{
	struct entry *e = entry_find(name);
	if (!e) {
		assert_true(world->nentries < MAX_ENTRIES);
		e = &world->entries[world->nentries++];
	}
	e->kind = kind;
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->target, sizeof(e->target), "%s", target ? target : "");
}

static void entry_remove(const char *name)
{
	struct entry *e = entry_find(name);
	if (e)
		*e = world->entries[--world->nentries];
}

static int fake_materialise_apply(const char *root, const struct materialise_plan *p,
				  struct cf_err *err)
{
	(void)root;
	(void)err;
	for (size_t i = 0; i < p->n; i++) {
		const struct materialise_action *a = &p->v[i];
		call("materialise apply %s %s", materialise_action_name(a->kind), a->name);
		if (a->kind == MAT_WRITE) {
			entry_put(MAT_ENTRY_DIR, a->dir, NULL);
			entry_put(MAT_ENTRY_LINK, a->name, a->dir);
		} else {
			entry_remove(a->name);
		}
	}
	return 0;
}

/* The real plan's decision, against the modelled file instead of the disk. */
static int fake_openclaw_config_plan(const struct desired_state *ds, const char *host,
				     struct openclaw_config_plan *plan, struct cf_err *err)
{
	struct json_object *merged = NULL;
	char *text = NULL;
	memset(plan, 0, sizeof(*plan));
	if (desired_openclaw_config(ds, host, &merged, err) < 0)
		return -1;
	if (!merged)
		return 0;
	int rc = canon_json(merged, &text, NULL, err);
	json_object_put(merged);
	if (rc < 0)
		return -1;
	if (world->openclaw_config && strcmp(world->openclaw_config, text) == 0) {
		free(text);
		return 0;
	}
	plan->path = strdup("/openclaw.json");
	plan->data = text;
	plan->len = strlen(text);
	plan->before = world->openclaw_config ? strdup(world->openclaw_config) : NULL;
	plan->before_len = plan->before ? strlen(plan->before) : 0;
	plan->before_absent = !world->openclaw_config;
	return 0;
}

static int fake_openclaw_config_apply(const struct openclaw_config_plan *plan, struct cf_err *err)
{
	(void)err;
	call("openclaw config write");
	free(world->openclaw_config);
	world->openclaw_config = strdup(plan->data);
	return 0;
}

static int fake_openclaw_config_restore(const struct openclaw_config_plan *plan,
					struct cf_err *err)
{
	(void)err;
	call("openclaw config restore");
	free(world->openclaw_config);
	world->openclaw_config = plan->before ? strdup(plan->before) : NULL;
	assert_true(plan->before || plan->before_absent);
	return 0;
}

static int fake_service_restart(const struct service_config *cfg, struct cf_err *err)
{
	(void)cfg;
	call("kickstart");
	if (world->fail_kickstart)
		return cf_err_set(err, "`launchctl kickstart -k %s` exited 113", cfg->label);
	return 0;
}

static int fake_prerestart_check(const struct prerestart_config *cfg, const char **code,
				 struct cf_err *err)
{
	call("prerestart %zu profile%s", cfg->nprofiles, cfg->nprofiles == 1 ? "" : "s");
	*code = world->refuse_restart;
	if (world->refuse_restart)
		return cf_err_set(err, "tenant acme: gateway.port: expected integer");
	return 0;
}

static int fake_pending_read(const char *state_dir, bool *present, struct cf_err *err)
{
	(void)state_dir;
	(void)err;
	call("pending read");
	*present = world->pending;
	return 0;
}

static int fake_pending_write(const char *state_dir, int64_t generation, struct cf_err *err)
{
	(void)state_dir;
	(void)err;
	call("pending write %lld", (long long)generation);
	world->pending = true;
	return 0;
}

static int fake_pending_clear(const char *state_dir, struct cf_err *err)
{
	(void)state_dir;
	(void)err;
	call("pending clear");
	world->pending = false;
	return 0;
}

static const struct node_ops recording_ops = {
	.pull_observe = fake_pull_observe,
	.pull_apply = fake_pull_apply,
	.read_tree = fake_read_tree,
	.install_observe = fake_install_observe,
	.install_apply = fake_install_apply,
	.install_revert = fake_install_revert,
	.skills_observe = fake_skills_observe,
	.skills_apply = fake_skills_apply,
	.skills_restore = fake_skills_restore,
	.mkdir_p = fake_mkdir_p,
	.materialise_observe = fake_materialise_observe,
	.materialise_apply = fake_materialise_apply,
	.prerestart_check = fake_prerestart_check,
	.openclaw_config_plan = fake_openclaw_config_plan,
	.openclaw_config_apply = fake_openclaw_config_apply,
	.openclaw_config_restore = fake_openclaw_config_restore,
	.service_restart = fake_service_restart,
	.pending_read = fake_pending_read,
	.pending_write = fake_pending_write,
	.pending_clear = fake_pending_clear,
};

/* ---- the node's configuration and the targets ---- */

/* Paths only name things to the fakes; nothing here is touched. */
static const struct agent_config cfg = {
	.node = (char *)"canary-gw",
	.infra_path = (char *)"/infra",
	.infra_remote = (char *)"/up",
	.skills = (char *)"/skills",
	.tenants = (char *)"/tenants",
	.openclaw = (char *)"/openclaw",
	.npm = (char *)"/npm",
	.service_manager = (char *)"launchd",
	.service_label = (char *)"gui/501/ai.openclaw.gateway",
	.service_launchctl = (char *)"/launchctl",
	.service_systemctl = (char *)"/systemctl",
	.state = (char *)"/state",
	.fetch_timeout_ms = 20000,
};

/* g1: the example repository's release, acme on the canary channel. */
static const struct target g1 = {
	.generation = 1,
	.tag = "v2026.7.1",
	.commit = C1,
	.skills_semver = "1.4.2",
	.skills_link = TARGET_LINK_CURRENT,
	.tenants = {{.name = "acme", .canary = true}, {.name = "globex"}},
	.ntenants = 2,
};

/* g2: the same release with acme back on the stable channel. */
static const struct target g2_acme_stable = {
	.generation = 2,
	.tag = "v2026.7.1",
	.commit = C1,
	.skills_semver = "1.4.2",
	.skills_link = TARGET_LINK_CURRENT,
	.tenants = {{.name = "acme"}, {.name = "globex"}},
	.ntenants = 2,
};

/* g2: the same release, and the controller asks for a restart. */
static const struct target g2_restart = {
	.generation = 2,
	.tag = "v2026.7.1",
	.commit = C1,
	.skills_semver = "1.4.2",
	.skills_link = TARGET_LINK_CURRENT,
	.tenants = {{.name = "acme", .canary = true}, {.name = "globex"}},
	.ntenants = 2,
	.restart = true,
};

/* ---- tweaks: what changes in the world before a pass ---- */

static void pull_fails(struct world *w)
{
	w->fail_pull = true;
}
static void pull_works(struct world *w)
{
	w->fail_pull = false;
}
static void install_fails(struct world *w)
{
	w->fail_install = true;
}
static void install_works(struct world *w)
{
	w->fail_install = false;
}
static void kickstart_fails(struct world *w)
{
	w->fail_kickstart = true;
}
static void kickstart_works(struct world *w)
{
	w->fail_kickstart = false;
}
static void config_invalid(struct world *w)
{
	w->refuse_restart = "config.invalid";
}
static void config_fixed(struct world *w)
{
	w->refuse_restart = NULL;
}
/* A Mac on the release before: OpenClaw 2026.7.0, skills 1.4.1, each tenant linked to a
 * directory of its own, an OpenClaw configuration of its own. */
static void runs_the_release_before(struct world *w)
{
	snprintf(w->head, sizeof(w->head), "%s", "0000000000000000000000000000000000000000");
	snprintf(w->tag, sizeof(w->tag), "v2026.7.0");
	w->npkgs = 0;
	snprintf(w->pkgs[w->npkgs++].name, sizeof(w->pkgs[0].name), "openclaw");
	snprintf(w->pkgs[w->npkgs++].name, sizeof(w->pkgs[0].name), "@openclaw/plugin-bundle");
	snprintf(w->pkgs[w->npkgs++].name, sizeof(w->pkgs[0].name), "@openclaw/plugin-slack");
	snprintf(w->pkgs[0].version, sizeof(w->pkgs[0].version), "2026.7.0");
	snprintf(w->pkgs[1].version, sizeof(w->pkgs[1].version), "2026.7.0");
	snprintf(w->pkgs[2].version, sizeof(w->pkgs[2].version), "2026.6.0");
	snprintf(w->packs[w->npacks++], sizeof(w->packs[0]), "1.4.1");
	snprintf(w->links[SKILLS_CURRENT], sizeof(w->links[0]), "1.4.1");
	entry_put(MAT_ENTRY_DIR, ".acme-0123456789ab", NULL);
	entry_put(MAT_ENTRY_LINK, "acme", ".acme-0123456789ab");
	entry_put(MAT_ENTRY_DIR, ".globex-0123456789ab", NULL);
	entry_put(MAT_ENTRY_LINK, "globex", ".globex-0123456789ab");
	w->openclaw_config = strdup("{\"gateway\":{\"port\":18789}}");
	w->refuse_restart = "config.invalid";
}

static void release_before_and_revert_fails(struct world *w)
{
	runs_the_release_before(w);
	w->fail_revert = true;
}

static const char *link_of(const struct world *w, const char *tenant)
{
	for (size_t i = 0; i < w->nentries; i++)
		if (w->entries[i].kind == MAT_ENTRY_LINK && strcmp(w->entries[i].name, tenant) == 0)
			return w->entries[i].target;
	return "";
}

static const char *version_of(const struct world *w, const char *name)
{
	for (size_t i = 0; i < w->npkgs; i++)
		if (strcmp(w->pkgs[i].name, name) == 0)
			return w->pkgs[i].version;
	return "";
}

/* After a refused restart the Mac is as runs_the_release_before left it, record included. */
static void on_the_release_before(const struct world *w)
{
	assert_string_equal(version_of(w, "openclaw"), "2026.7.0");
	assert_string_equal(version_of(w, "@openclaw/plugin-bundle"), "2026.7.0");
	assert_string_equal(version_of(w, "@openclaw/plugin-slack"), "2026.6.0");
	assert_string_equal(w->links[SKILLS_CURRENT], "1.4.1");
	assert_string_equal(link_of(w, "acme"), ".acme-0123456789ab");
	assert_string_equal(link_of(w, "globex"), ".globex-0123456789ab");
	assert_non_null(entry_find(".acme-0123456789ab"));
	assert_non_null(entry_find(".globex-0123456789ab"));
	assert_string_equal(w->openclaw_config, "{\"gateway\":{\"port\":18789}}");
	assert_false(w->pending);
}

/* On a fresh Mac: nothing linked, no configuration, no record; the packages stay (nothing ran
 * them). */
static void nothing_linked(const struct world *w)
{
	assert_string_equal(w->links[SKILLS_CURRENT], "");
	assert_string_equal(link_of(w, "acme"), "");
	assert_string_equal(link_of(w, "globex"), "");
	assert_null(w->openclaw_config);
	assert_false(w->pending);
	assert_string_equal(version_of(w, "openclaw"), "2026.7.1");
}

/* A restore that failed leaves the record: the kickstart stays owed. */
static void still_owed(const struct world *w)
{
	assert_true(w->pending);
}

static void on_g1(const struct world *w)
{
	assert_string_equal(version_of(w, "openclaw"), "2026.7.1");
	assert_string_equal(w->links[SKILLS_CURRENT], "1.4.2");
	assert_null(entry_find(".acme-0123456789ab"));
	assert_null(entry_find(".globex-0123456789ab"));
	assert_false(w->pending);
}

static void skills_already_linked(struct world *w)
{
	snprintf(w->packs[w->npacks++], sizeof(w->packs[0]), "1.4.2");
	snprintf(w->links[SKILLS_CURRENT], sizeof(w->links[0]), "1.4.2");
}
static void stop_before_kickstart(struct world *w)
{
	w->stop_before = NODE_STEP_KICKSTART;
}
/* A new agent process: it does not stop, and the record on disk is all that survived. */
static void agent_restarted(struct world *w)
{
	w->stop_before = NODE_STEPS;
}
/* A pass wrote the record, then the agent died before the kickstart (kill -9, power loss). */
static void crashed_after_the_record(struct world *w)
{
	w->pending = true;
}

/* ---- the harness ---- */

struct row {
	const struct target *target;
	void (*tweak)(struct world *);
	const char *calls[MAX_CALLS + 1]; /* an entry ending in "*" matches any call it starts */
	int rc;
	int64_t generation;		  /* node_act_generation after the pass */
	const char *error;		  /* part of the message of a pass that failed */
	void (*expect)(const struct world *); /* checks the world after the pass; may be NULL */
};

static bool stop_at(void *ctx, enum node_step next)
{
	return next != ((struct world *)ctx)->stop_before;
}

static bool call_matches(const char *want, const char *got)
{
	size_t len = strlen(want);
	if (len && want[len - 1] == '*')
		return strncmp(want, got, len - 1) == 0;
	return strcmp(want, got) == 0;
}

static void expect_calls(const char *table, size_t rowno, char *const *got,
			 const char *const *want)
{
	size_t i = 0;
	for (; want[i] && got[i]; i++)
		if (!call_matches(want[i], got[i]))
			break;
	if (!want[i] && !got[i])
		return;
	print_message("%s, row %zu: the calls differ at %zu\n", table, rowno, i);
	for (size_t k = 0; want[k]; k++)
		print_message("  want: %s\n", want[k]);
	for (size_t k = 0; got[k]; k++)
		print_message("  got:  %s\n", got[k]);
	fail();
}

static bool has_call(char *const *calls, const char *want)
{
	for (size_t i = 0; calls[i]; i++)
		if (strcmp(calls[i], want) == 0)
			return true;
	return false;
}

/* What the gateway runs changes only while the record is on disk, and the record goes only right
 * after a kickstart, or last in a pass whose refused restart put everything back. */
static void expect_record_discipline(const char *table, size_t rowno, char *const *calls,
				     bool owed)
{
	bool restored = has_call(calls, "prerestart 2 profiles") && !has_call(calls, "kickstart");
	static const char *const changes[] = {
		"pull apply ",		     "install apply ",		"skills apply link ",
		"materialise apply write ", "materialise apply unlink ", "openclaw config write",
		"kickstart",
	};
	for (size_t i = 0; calls[i]; i++) {
		if (strcmp(calls[i], "pending clear") == 0 &&
		    (i == 0 || strcmp(calls[i - 1], "kickstart") != 0) && !(restored && !calls[i + 1]))
			fail_msg("%s, row %zu: the record is removed without a kickstart before it",
				 table, rowno);
		owed |= strncmp(calls[i], "pending write ", 14) == 0;
		for (size_t k = 0; k < sizeof(changes) / sizeof(changes[0]); k++)
			if (strncmp(calls[i], changes[k], strlen(changes[k])) == 0 && !owed)
				fail_msg("%s, row %zu: \"%s\" before the restart record is written",
					 table, rowno, calls[i]);
	}
}

static void run_rows(const char *table, const struct row *rows, size_t n)
{
	struct world *w = calloc(1, sizeof(*w));
	struct node_env env = {
		.cfg = &cfg, .schemas = schemas, .proceed = stop_at, .ctx = w, .ops = &recording_ops};
	int64_t applied = 0;

	assert_non_null(w);
	w->stop_before = NODE_STEPS;
	world = w;
	for (size_t r = 0; r < n; r++) {
		const struct row *row = &rows[r];
		struct node_actions actions = {0};
		struct cf_err err = {{0}};

		if (row->tweak)
			row->tweak(w);
		clear_calls(w);
		bool owed = w->pending;
		int rc = node_act(&env, row->target, applied, &actions, &err);
		node_actions_free(&actions);
		expect_calls(table, r, w->calls, row->calls);
		expect_record_discipline(table, r, w->calls, owed);
		if (rc != row->rc)
			fail_msg("%s, row %zu: node_act returned %d (%s), want %d", table, r, rc,
				 rc ? err.msg : "", row->rc);
		if (row->error && !strstr(err.msg, row->error))
			fail_msg("%s, row %zu: \"%s\" lacks \"%s\"", table, r, err.msg, row->error);
		if (row->expect)
			row->expect(w);
		applied = node_act_generation(rc, row->target, applied);
		if (applied != row->generation)
			fail_msg("%s, row %zu: generation %lld applied, want %lld", table, r,
				 (long long)applied, (long long)row->generation);
	}
	clear_calls(w);
	world = NULL;
	free(w->openclaw_config);
	free(w);
}

#define RUN(rows) run_rows(#rows, rows, sizeof(rows) / sizeof(rows[0]))

/* The calls of a pass over a node that already runs g1 (or the same release). */
#define OBSERVE_ALL                                                                         \
	"pending read", "pull observe", "read tree", "install observe", "skills observe 1.4.2", \
		"materialise observe"

#define INSTALL_LOCK                                                               \
	"install apply openclaw@2026.7.1 @openclaw/plugin-bundle@2026.7.1 "         \
	"@openclaw/plugin-slack@2026.7.0"

/* g1 on a fresh Mac, as full_pass spells it out. */
#define FIRST_PASS                                                                               \
	"pending read", "pull observe", "pending write 1", "pull apply v2026.7.1@1111111",         \
		"read tree", "install observe", INSTALL_LOCK, "skills observe 1.4.2",              \
		"skills apply install 1.4.2", "skills apply link current -> 1.4.2",                \
		"materialise observe", "mkdir /tenants", "materialise apply write acme",           \
		"materialise apply write globex", "openclaw config write", "prerestart 2 profiles", "kickstart", "pending clear"

/* ---- the tables ---- */

/* A fresh Mac: every step in order, the record before the first change and gone after the
 * kickstart; then the same target again does nothing at all. */
static const struct row full_pass[] = {
	{&g1, NULL,
	 {"pending read", "pull observe", "pending write 1", "pull apply v2026.7.1@1111111",
	  "read tree", "install observe", INSTALL_LOCK, "skills observe 1.4.2",
	  "skills apply install 1.4.2", "skills apply link current -> 1.4.2", "materialise observe",
	  "mkdir /tenants", "materialise apply write acme", "materialise apply write globex", "openclaw config write",
	  "prerestart 2 profiles", "kickstart", "pending clear"},
	 0, 1, NULL, NULL},
	{&g1, NULL, {OBSERVE_ALL}, 0, 1, NULL, NULL},
};

static const struct row pull_fails_then_works[] = {
	{&g1, pull_fails,
	 {"pending read", "pull observe", "pending write 1", "pull apply v2026.7.1@1111111"},
	 -1, 0, "pull: pulling v2026.7.1: the remote hung up", NULL},
	/* The record stayed: the next pass owes the kickstart without writing it again. */
	{&g1, pull_works,
	 {"pending read", "pull observe", "pull apply v2026.7.1@1111111", "read tree",
	  "install observe", INSTALL_LOCK, "skills observe 1.4.2", "skills apply install 1.4.2",
	  "skills apply link current -> 1.4.2", "materialise observe", "mkdir /tenants",
	  "materialise apply write acme", "materialise apply write globex", "openclaw config write", "prerestart 2 profiles", "kickstart",
	  "pending clear"},
	 0, 1, NULL, NULL},
};

static const struct row install_fails_then_works[] = {
	{&g1, install_fails,
	 {"pending read", "pull observe", "pending write 1", "pull apply v2026.7.1@1111111",
	  "read tree", "install observe", INSTALL_LOCK},
	 -1, 0, "install: `npm install -g openclaw@2026.7.1` exited 1", NULL},
	{&g1, install_works,
	 {"pending read", "pull observe", "read tree", "install observe", INSTALL_LOCK,
	  "skills observe 1.4.2", "skills apply install 1.4.2",
	  "skills apply link current -> 1.4.2", "materialise observe", "mkdir /tenants",
	  "materialise apply write acme", "materialise apply write globex", "openclaw config write", "prerestart 2 profiles", "kickstart",
	  "pending clear"},
	 0, 1, NULL, NULL},
};

/* The record is removed only once the restart worked. */
static const struct row kickstart_fails_then_works[] = {
	{&g1, kickstart_fails,
	 {"pending read", "pull observe", "pending write 1", "pull apply v2026.7.1@1111111",
	  "read tree", "install observe", INSTALL_LOCK, "skills observe 1.4.2",
	  "skills apply install 1.4.2", "skills apply link current -> 1.4.2", "materialise observe",
	  "mkdir /tenants", "materialise apply write acme", "materialise apply write globex", "openclaw config write",
	  "prerestart 2 profiles", "kickstart"},
	 -1, 0, "kickstart: kickstarting the gateway: `launchctl kickstart -k", NULL},
	{&g1, kickstart_works, {OBSERVE_ALL, "prerestart 2 profiles", "kickstart", "pending clear"}, 0, 1, NULL, NULL},
};

/* A check before the restart refuses on a fresh Mac: no kickstart, the links and the
 * configuration the pass made go again, the record it wrote too; the packages stay (nothing ran
 * them). Each pass tries again; the one that finds the configuration fixed restarts once. */
#define REFUSED_FRESH                                                                          \
	"prerestart 2 profiles", "openclaw config restore", "materialise apply unlink acme",   \
		"materialise apply unlink globex", "skills restore"
/* The pass after such a refusal: the packages and the pack are there, the links are not. */
#define RELINK                                                                                  \
	"pending read", "pull observe", "read tree", "install observe", "skills observe 1.4.2",   \
		"pending write 1", "skills apply link current -> 1.4.2", "materialise observe",   \
		"mkdir /tenants", "materialise apply write acme", "materialise apply write globex", \
		"openclaw config write"
static const struct row restart_refused[] = {
	{&g1, config_invalid,
	 {"pending read", "pull observe", "pending write 1", "pull apply v2026.7.1@1111111",
	  "read tree", "install observe", INSTALL_LOCK, "skills observe 1.4.2",
	  "skills apply install 1.4.2", "skills apply link current -> 1.4.2", "materialise observe",
	  "mkdir /tenants", "materialise apply write acme", "materialise apply write globex",
	  "openclaw config write", REFUSED_FRESH, "install revert", "pending clear"},
	 -1, 0,
	 "kickstart: config.invalid: not restarting the gateway, it keeps running what it ran: "
	 "tenant acme: gateway.port: expected integer",
	 nothing_linked},
	{&g1, NULL, {RELINK, REFUSED_FRESH, "pending clear"}, -1, 0, "config.invalid", nothing_linked},
	{&g1, config_fixed, {RELINK, "prerestart 2 profiles", "kickstart", "pending clear"}, 0, 1, NULL,
	 NULL},
};

/* On a Mac running the release before, a refusal puts back every part in the reverse order of
 * the pass: the configuration file's bytes, each tenant's old directory (not pruned: its prune
 * waits for the checks), the skills links, then the packages, the last installed first. Fixed,
 * the next pass installs, checks, prunes the old directories and restarts once. */
static const struct row refused_on_the_release_before[] = {
	{&g1, runs_the_release_before,
	 {"pending read", "pull observe", "pending write 1", "pull apply v2026.7.1@1111111",
	  "read tree", "install observe", INSTALL_LOCK, "skills observe 1.4.2",
	  "skills apply install 1.4.2", "skills apply link current -> 1.4.2", "materialise observe",
	  "mkdir /tenants", "materialise apply write acme", "materialise apply write globex",
	  "openclaw config write", "prerestart 2 profiles", "openclaw config restore",
	  "materialise apply write acme", "materialise apply write globex", "skills restore",
	  "install revert @openclaw/plugin-slack@2026.6.0 @openclaw/plugin-bundle@2026.7.0 "
	  "openclaw@2026.7.0",
	  "pending clear"},
	 -1, 0, "config.invalid: not restarting the gateway, it keeps running what it ran",
	 on_the_release_before},
	{&g1, config_fixed,
	 {"pending read", "pull observe", "read tree", "install observe", "pending write 1",
	  INSTALL_LOCK, "skills observe 1.4.2", "skills apply link current -> 1.4.2",
	  "materialise observe", "mkdir /tenants", "materialise apply write acme",
	  "materialise apply write globex", "openclaw config write", "prerestart 2 profiles",
	  "materialise apply prune .*", "materialise apply prune .*", "kickstart", "pending clear"},
	 0, 1, NULL, on_g1},
};

/* A part that cannot be put back is named beside the refusal, the others still go back, and
 * the record stays: the kickstart is owed. */
static const struct row refused_and_revert_fails[] = {
	{&g1, release_before_and_revert_fails,
	 {"pending read", "pull observe", "pending write 1", "pull apply v2026.7.1@1111111",
	  "read tree", "install observe", INSTALL_LOCK, "skills observe 1.4.2",
	  "skills apply install 1.4.2", "skills apply link current -> 1.4.2", "materialise observe",
	  "mkdir /tenants", "materialise apply write acme", "materialise apply write globex",
	  "openclaw config write", "prerestart 2 profiles", "openclaw config restore",
	  "materialise apply write acme", "materialise apply write globex", "skills restore",
	  "install revert @openclaw/plugin-slack@2026.6.0 @openclaw/plugin-bundle@2026.7.0 "
	  "openclaw@2026.7.0"},
	 -1, 0,
	 "tenant acme: gateway.port: expected integer; putting back what this pass changed failed "
	 "too, the kickstart stays owed: putting back OpenClaw openclaw@2026.7.0: the registry is "
	 "down",
	 still_owed},
};

static const struct row skills_linked[] = {
	{&g1, skills_already_linked,
	 {"pending read", "pull observe", "pending write 1", "pull apply v2026.7.1@1111111",
	  "read tree", "install observe", INSTALL_LOCK, "skills observe 1.4.2",
	  "materialise observe", "mkdir /tenants", "materialise apply write acme",
	  "materialise apply write globex", "openclaw config write", "prerestart 2 profiles", "kickstart", "pending clear"},
	 0, 1, NULL, NULL},
};

/* Cut short before the kickstart (SIGTERM between steps): the next agent finds every plan empty
 * and still restarts the gateway, once. */
static const struct row stopped_before_kickstart[] = {
	{&g1, stop_before_kickstart,
	 {"pending read", "pull observe", "pending write 1", "pull apply v2026.7.1@1111111",
	  "read tree", "install observe", INSTALL_LOCK, "skills observe 1.4.2",
	  "skills apply install 1.4.2", "skills apply link current -> 1.4.2", "materialise observe",
	  "mkdir /tenants", "materialise apply write acme", "materialise apply write globex", "openclaw config write"},
	 NODE_ACT_STOPPED, 0, "stopped before the kickstart step", NULL},
	{&g1, agent_restarted, {OBSERVE_ALL, "prerestart 2 profiles", "kickstart", "pending clear"}, 0, 1, NULL, NULL},
	{&g1, NULL, {OBSERVE_ALL}, 0, 1, NULL, NULL},
};

static const struct row crash_with_the_record[] = {
	{&g1, NULL, {FIRST_PASS}, 0, 1, NULL, NULL},
	{&g1, crashed_after_the_record, {OBSERVE_ALL, "prerestart 2 profiles", "kickstart", "pending clear"}, 0, 1, NULL, NULL},
	{&g1, NULL, {OBSERVE_ALL}, 0, 1, NULL, NULL},
};

/* A change in the last step still writes the record first, right before it. */
static const struct row channel_flip[] = {
	{&g1, NULL, {FIRST_PASS}, 0, 1, NULL, NULL},
	{&g2_acme_stable, NULL,
	 {OBSERVE_ALL, "mkdir /tenants", "pending write 2", "materialise apply write acme",
	  "prerestart 2 profiles", "materialise apply prune .acme-*", "kickstart", "pending clear"},
	 0, 2, NULL, NULL},
};

/* A restart the target asks for is owed once per generation. */
static const struct row restart_asked[] = {
	{&g1, NULL, {FIRST_PASS}, 0, 1, NULL, NULL},
	{&g2_restart, NULL, {OBSERVE_ALL, "pending write 2", "prerestart 2 profiles", "kickstart", "pending clear"}, 0, 2,
	 NULL, NULL},
	{&g2_restart, NULL, {OBSERVE_ALL}, 0, 2, NULL, NULL},
};

static void test_full_pass(void **state)
{
	(void)state;
	RUN(full_pass);
}

static void test_restart_refused(void **state)
{
	(void)state;
	RUN(restart_refused);
	RUN(refused_on_the_release_before);
	RUN(refused_and_revert_fails);
}

static void test_failures_stop_the_pass(void **state)
{
	(void)state;
	RUN(pull_fails_then_works);
	RUN(install_fails_then_works);
	RUN(kickstart_fails_then_works);
}

static void test_steps_with_nothing_to_do(void **state)
{
	(void)state;
	RUN(skills_linked);
	RUN(channel_flip);
}

static void test_owed_kickstarts(void **state)
{
	(void)state;
	RUN(stopped_before_kickstart);
	RUN(crash_with_the_record);
	RUN(restart_asked);
}

static int group_setup(void **state)
{
	struct cf_err err = {{0}};
	(void)state;
	return schema_set_load_embedded(&schemas, &err);
}

static int group_teardown(void **state)
{
	(void)state;
	schema_set_free(schemas);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_pass),
		cmocka_unit_test(test_failures_stop_the_pass),
		cmocka_unit_test(test_restart_refused),
		cmocka_unit_test(test_steps_with_nothing_to_do),
		cmocka_unit_test(test_owed_kickstarts),
	};
	return cmocka_run_group_tests_name("node_act_ops", tests, group_setup, group_teardown);
}
