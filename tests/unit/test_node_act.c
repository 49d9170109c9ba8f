/* node_act: whole passes against a simulated Mac (hack/sim/mkmac.sh: the fake npm,
 * openclaw, launchctl and gateway) and a GitOps repository made by the git CLI from the example
 * repository, tagged v2026.7.1 (lock 2026.7.1, skills 1.4.2) and v2026.8.0 (lock 2026.8.0,
 * skills 1.4.3). Each test asserts the exact actions a pass performs, that a second pass over the
 * same target performs none, and that a pass cut short still owes its kickstart. */
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
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "act/node_act.h"
#include "base/compat.h"
#include "base/fsutil.h"
#include "desired/agentcfg.h"
#include "desired/schema.h"
#include "source/gitsource.h"

#define REAP_ROUNDS 500 /* of 10 ms: the launchd supervisors' exits after bootout */
#define MAX_EXPECTED 16

static char tmp[PATH_MAX];	    /* everything lives here */
static char up[PATH_MAX + 8];	    /* the GitOps repository */
static char sim_bin[PATH_MAX];	    /* $BUILD/sim */
static char v1[41], v2[41];	    /* the commits of v2026.7.1 and v2026.8.0 */
static struct schema_set *schemas;
static int mac_count;

/* One simulated Mac and the agent configuration pointing into it. */
struct mac {
	char root[PATH_MAX + 32];
	struct agent_config cfg;
	struct node_env env;
	enum node_step stop_before; /* NODE_STEPS: never stop */
};

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void capture(char out[41], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0)
		fail_msg("command failed (%d): %s", rc, cmd);
}

static void capture(char out[41], const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	if (!p || !fgets(out, 41, p) || pclose(p) != 0)
		fail_msg("command failed: %s", cmd);
	out[strcspn(out, "\n")] = '\0';
}

static void put(const char *dir, const char *rel, const char *text)
{
	char path[PATH_MAX * 2], parent[PATH_MAX * 2];
	struct cf_err err = {{0}};
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	snprintf(parent, sizeof(parent), "%s", path);
	*strrchr(parent, '/') = '\0';
	if (fsutil_mkdir_p(parent, 0755, &err) < 0 ||
	    fsutil_write_atomic(path, text, strlen(text), 0644, &err) < 0)
		fail_msg("%s", err.msg);
}

static char *slurp(const char *dir, const char *rel)
{
	char path[PATH_MAX * 2], *text = NULL;
	size_t len;
	struct cf_err err = {{0}};
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (fsutil_read_file(path, 1 << 20, &text, &len, &err) < 0)
		fail_msg("%s", err.msg);
	return text;
}

static bool exists(const char *dir, const char *rel)
{
	char path[PATH_MAX * 2];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return lstat(path, &st) == 0;
}

static void expect_link(const char *dir, const char *rel, const char *want)
{
	char path[PATH_MAX * 2], got[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	ssize_t n = readlink(path, got, sizeof(got) - 1);
	if (n < 0)
		fail_msg("%s is not a link", path);
	got[n] = '\0';
	assert_string_equal(got, want);
}

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

static const char lock_v2[] =
	"{\n"
	"  \"openclaw\": {\"version\": \"2026.8.0\", \"commit\": \"5e8d1aa\"},\n"
	"  \"plugins\": [\n"
	"    {\"name\": \"@openclaw/plugin-bundle\", \"version\": \"2026.8.0\"},\n"
	"    {\"name\": \"@openclaw/plugin-slack\", \"version\": \"2026.7.0\"}\n"
	"  ],\n"
	"  \"skills\": {\"semver\": \"1.4.3\"}\n"
	"}\n";

static int group_setup(void **state)
{
	(void)state;
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];
	struct cf_err err = {{0}};

	snprintf(rel, sizeof(rel), "%s/sim", build && *build ? build : "build");
	if (!realpath(rel, sim_bin) || access("manifests/example-repo/openclaw.lock", R_OK) < 0) {
		fprintf(stderr, "run from the repository root after building %s\n", rel);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s/clawfleet-node-reconcile.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp) || schema_set_load_embedded(&schemas, &err) < 0)
		return -1;
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("GIT_AUTHOR_NAME", "Test Author", 1);
	setenv("GIT_AUTHOR_EMAIL", "author@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "Test Committer", 1);
	setenv("GIT_COMMITTER_EMAIL", "committer@example.com", 1);
	snprintf(up, sizeof(up), "%s/up", tmp);
	sh("git -c init.defaultBranch=main init -q %s && cp -R manifests/example-repo/. %s", up,
	   up);
	put(up, "skills/1.4.2/summarise/SKILL.md", "# summarise 1.4.2\n");
	sh("git -C %s add -A && git -C %s commit -q -m v1 && git -C %s tag -a -m v1 v2026.7.1", up,
	   up, up);
	capture(v1, "git -C %s rev-parse HEAD", up);
	put(up, "openclaw.lock", lock_v2);
	put(up, "skills/1.4.3/summarise/SKILL.md", "# summarise 1.4.3\n");
	sh("sed -i 's/tag: v2026.7.1/tag: v2026.8.0/; s/skillSemver: 1.4.2/skillSemver: 1.4.3/' "
	   "%s/clawfleet/promotion.yaml",
	   up);
	sh("git -C %s add -A && git -C %s commit -q -m v2 && git -C %s tag -a -m v2 v2026.8.0", up,
	   up, up);
	capture(v2, "git -C %s rev-parse HEAD", up);
	/* The launchd supervisors outlive launchctl; as orphans they come to us to be reaped
	 * instead of to this machine's PID 1, which never reaps. */
	return compat_adopt_orphans() == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	struct cf_err err = {{0}};
	schema_set_free(schemas);
	return fsutil_remove_tree(tmp, &err);
}

static bool stop_at(void *ctx, enum node_step next)
{
	return next != ((struct mac *)ctx)->stop_before;
}

/* A fresh simulated Mac (gateway not started, OpenClaw not installed) and its configuration. */
static int mac_setup(void **state)
{
	struct mac *m = calloc(1, sizeof(*m));
	struct diag_list diags = {0};
	char config[PATH_MAX + 64], yaml[PATH_MAX * 3];
	int port = free_port();

	if (!m || port < 0)
		return -1;
	snprintf(m->root, sizeof(m->root), "%s/mac-%d", tmp, ++mac_count);
	sh("hack/sim/mkmac.sh %s --sim %s --port %d --node canary-gw --commit 2026.7.1=3f9c2ab "
	   "--commit 2026.8.0=5e8d1aa",
	   m->root, sim_bin, port);
	setenv("OPENCLAW_SIM_ROOT", m->root, 1);
	/* The Mac's OpenClaw configuration goes into the simulated Mac, never the user's. */
	snprintf(yaml, sizeof(yaml), "%s/.openclaw/openclaw.json", m->root);
	setenv("OPENCLAW_CONFIG_PATH", yaml, 1);
	snprintf(yaml, sizeof(yaml),
		 "node: canary-gw\nroot: %s\ninfra: {remote: %s}\ngateway: {port: %d}\n"
		 "tokens: {current: /etc/clawfleet/token.current}\nfetchTimeout: 20s\n",
		 m->root, up, port);
	snprintf(config, sizeof(config), "%s/agent.yaml", m->root);
	put(m->root, "agent.yaml", yaml);
	if (agentcfg_load(config, &m->cfg, &diags) < 0) {
		diag_list_print(&diags, stderr);
		diag_list_free(&diags);
		return -1;
	}
	m->stop_before = NODE_STEPS;
	m->env = (struct node_env){
		.cfg = &m->cfg, .schemas = schemas, .proceed = stop_at, .ctx = m};
	*state = m;
	return 0;
}

static int mac_teardown(void **state)
{
	struct mac *m = *state;
	struct cf_err err = {{0}};
	int rc = system("\"$OPENCLAW_SIM_ROOT/bin/launchctl\" bootout gui/501/ai.openclaw.gateway "
			">/dev/null 2>&1");
	(void)rc;
	for (int i = 0; i < REAP_ROUNDS && waitpid(-1, NULL, WNOHANG) >= 0; i++)
		usleep(10000);
	agentcfg_free(&m->cfg);
	rc = fsutil_remove_tree(m->root, &err);
	free(m);
	return rc;
}

static struct target make_target(int64_t generation, const char *tag, const char *commit,
				 const char *semver, enum target_link link, bool acme_canary)
{
	struct target t = {.generation = generation, .skills_link = link, .ntenants = 2};
	snprintf(t.tag, sizeof(t.tag), "%s", tag);
	snprintf(t.commit, sizeof(t.commit), "%s", commit);
	snprintf(t.skills_semver, sizeof(t.skills_semver), "%s", semver);
	t.tenants[0] = (struct target_tenant){.name = "acme", .canary = acme_canary};
	t.tenants[1] = (struct target_tenant){.name = "globex", .canary = false};
	return t;
}

/* want is NULL-terminated; an entry ending in "*" matches any action it starts (content
 * addresses). */
static void expect_actions(const struct node_actions *got, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	for (size_t i = 0; i < got->n && i < n; i++) {
		size_t len = strlen(want[i]);
		bool prefix = len && want[i][len - 1] == '*';
		if (prefix ? strncmp(got->v[i], want[i], len - 1) != 0
			   : strcmp(got->v[i], want[i]) != 0)
			fail_msg("action %zu is \"%s\", expected \"%s\"", i, got->v[i], want[i]);
	}
	if (got->n != n)
		fail_msg("%zu actions (last \"%s\"), expected %zu", got->n,
			 got->n ? got->v[got->n - 1] : "", n);
}

/* One pass that must succeed with exactly the actions want lists (NULL-terminated). */
static void pass_ok(struct mac *m, const struct target *t, int64_t applied,
		    const char *const *want)
{
	struct node_actions got = {0};
	struct cf_err err = {{0}};
	int rc = node_act(&m->env, t, applied, &got, &err);
	if (rc != 0)
		fail_msg("pass failed (%d): %s", rc, err.msg);
	expect_actions(&got, want);
	node_actions_free(&got);
}

/* Lines of the simulated Mac's log holding needle: what the fake programs were asked to do. */
static int count(const struct mac *m, const char *needle)
{
	if (!exists(m->root, "sim/log"))
		return 0;
	char *log = slurp(m->root, "sim/log");
	int n = 0;
	for (const char *p = log; (p = strstr(p, needle)); p++)
		n++;
	free(log);
	return n;
}

static int kickstarts(const struct mac *m)
{
	return count(m, " launchctl kickstart -k ");
}

static void short_pull(char out[64], const char *tag, const char *commit)
{
	snprintf(out, 64, "pull %s@%.7s", tag, commit);
}

static void test_first_pass_then_nothing(void **state)
{
	struct mac *m = *state;
	struct target t = make_target(1, "v2026.7.1", v1, "1.4.2", TARGET_LINK_CURRENT, true);
	char pull[64];
	short_pull(pull, "v2026.7.1", v1);
	const char *const first[] = {
		pull,
		"install openclaw@2026.7.1",
		"install @openclaw/plugin-bundle@2026.7.1",
		"install @openclaw/plugin-slack@2026.7.0",
		"skills install 1.4.2",
		"skills link current -> 1.4.2",
		"materialise acme",
		"materialise globex",
		"openclaw config *",
		"kickstart",
		NULL,
	};
	const char *const none[] = {NULL};

	pass_ok(m, &t, 0, first);
	char *lock = slurp(m->root, "usr/local/share/openclaw-infra/openclaw.lock");
	assert_non_null(strstr(lock, "\"2026.7.1\""));
	free(lock);
	expect_link(m->root, "var/db/openclaw/skills/current", "1.4.2");
	assert_true(exists(m->root, "var/db/openclaw/skills/1.4.2/summarise/SKILL.md"));
	char *version = slurp(m->root, "sim/version");
	assert_string_equal(version, "2026.7.1 (3f9c2ab)\n");
	free(version);
	/* acme is on the canary channel: its gateway loads skills/next. */
	char *skills = slurp(m->root, "etc/openclaw/tenants/acme/skills.json");
	assert_non_null(strstr(skills, "/var/db/openclaw/skills/next\""));
	free(skills);
	assert_true(exists(m->root, "etc/openclaw/tenants/globex/gateway.json"));
	assert_true(exists(m->root, "var/db/clawfleet/agent/install-bookmark.json"));
	assert_false(exists(m->root, "var/db/clawfleet/agent/restart-pending.json"));
	assert_int_equal(kickstarts(m), 1);

	/* The same target again: nothing to do, not even a restart. */
	int installs = count(m, " npm install ") + count(m, " openclaw plugins install ");
	pass_ok(m, &t, 1, none);
	assert_int_equal(kickstarts(m), 1);
	assert_int_equal(count(m, " npm install ") + count(m, " openclaw plugins install "),
			 installs);
}

/* A crash after the link flip and before the kickstart: the next pass finds every plan empty
 * and still restarts the gateway, once. */
static void test_stopped_before_kickstart_still_owes_it(void **state)
{
	struct mac *m = *state;
	struct target t = make_target(1, "v2026.7.1", v1, "1.4.2", TARGET_LINK_CURRENT, true);
	struct node_actions got = {0};
	struct cf_err err = {{0}};
	const char *const kick[] = {"kickstart", NULL};
	const char *const none[] = {NULL};

	m->stop_before = NODE_STEP_KICKSTART;
	assert_int_equal(node_act(&m->env, &t, 0, &got, &err), NODE_ACT_STOPPED);
	assert_int_equal(got.n, 9);
	assert_string_equal(got.v[7], "materialise globex");
	assert_string_equal(err.msg, "stopped before the kickstart step");
	node_actions_free(&got);
	assert_true(exists(m->root, "var/db/clawfleet/agent/restart-pending.json"));
	expect_link(m->root, "var/db/openclaw/skills/current", "1.4.2");
	assert_true(exists(m->root, "var/db/openclaw/skills/1.4.2/.clawfleet-complete"));
	assert_int_equal(kickstarts(m), 0);

	m->stop_before = NODE_STEPS;
	pass_ok(m, &t, 0, kick);
	assert_false(exists(m->root, "var/db/clawfleet/agent/restart-pending.json"));
	assert_int_equal(kickstarts(m), 1);
	pass_ok(m, &t, 1, none);
	assert_int_equal(kickstarts(m), 1);
}

static void test_stopped_before_skills_resumes_there(void **state)
{
	struct mac *m = *state;
	struct target t = make_target(1, "v2026.7.1", v1, "1.4.2", TARGET_LINK_CURRENT, false);
	struct node_actions got = {0};
	struct cf_err err = {{0}};
	const char *const rest[] = {
		"skills install 1.4.2", "skills link current -> 1.4.2", "materialise acme",
		"materialise globex", "openclaw config *", "kickstart", NULL,
	};

	m->stop_before = NODE_STEP_SKILLS;
	assert_int_equal(node_act(&m->env, &t, 0, &got, &err), NODE_ACT_STOPPED);
	assert_int_equal(got.n, 4);
	node_actions_free(&got);
	assert_false(exists(m->root, "var/db/openclaw/skills/current"));

	m->stop_before = NODE_STEPS;
	pass_ok(m, &t, 0, rest);
	/* acme follows its target channel, stable, over its TenantSlice's canary. */
	char *skills = slurp(m->root, "etc/openclaw/tenants/acme/skills.json");
	assert_non_null(strstr(skills, "/var/db/openclaw/skills/current\""));
	free(skills);
	assert_int_equal(kickstarts(m), 1);
}

/* Shadow (next -> 1.4.3 on the new tag), promotion (current -> 1.4.3), rollback (v2026.7.1,
 * current -> 1.4.2): each pass does only what changed. */
static void test_canary_promote_and_roll_back(void **state)
{
	struct mac *m = *state;
	struct target g1 = make_target(1, "v2026.7.1", v1, "1.4.2", TARGET_LINK_CURRENT, true);
	struct target g2 = make_target(2, "v2026.8.0", v2, "1.4.3", TARGET_LINK_NEXT, true);
	struct target g3 = make_target(3, "v2026.8.0", v2, "1.4.3", TARGET_LINK_CURRENT, true);
	struct target g4 = make_target(4, "v2026.7.1", v1, "1.4.2", TARGET_LINK_CURRENT, false);
	char pull1[64], pull2[64];
	short_pull(pull1, "v2026.7.1", v1);
	short_pull(pull2, "v2026.8.0", v2);
	const char *const first[] = {
		pull1, "install openclaw@2026.7.1", "install @openclaw/plugin-bundle@2026.7.1",
		"install @openclaw/plugin-slack@2026.7.0", "skills install 1.4.2",
		"skills link current -> 1.4.2", "materialise acme", "materialise globex",
		"openclaw config *", "kickstart", NULL,
	};
	const char *const shadow[] = {
		pull2, "install openclaw@2026.8.0", "install @openclaw/plugin-bundle@2026.8.0",
		"skills install 1.4.3", "skills link next -> 1.4.3", "kickstart", NULL,
	};
	const char *const promote[] = {"skills link current -> 1.4.3", "kickstart", NULL};
	const char *const rollback[] = {
		pull1, "install openclaw@2026.7.1", "install @openclaw/plugin-bundle@2026.7.1",
		"skills link current -> 1.4.2", "materialise acme", "materialise prune .acme-*",
		"kickstart", NULL,
	};
	const char *const none[] = {NULL};

	pass_ok(m, &g1, 0, first);
	pass_ok(m, &g2, 1, shadow);
	expect_link(m->root, "var/db/openclaw/skills/current", "1.4.2");
	expect_link(m->root, "var/db/openclaw/skills/next", "1.4.3");
	char *version = slurp(m->root, "sim/version");
	assert_string_equal(version, "2026.8.0 (5e8d1aa)\n");
	free(version);
	pass_ok(m, &g2, 2, none);

	pass_ok(m, &g3, 2, promote);
	expect_link(m->root, "var/db/openclaw/skills/current", "1.4.3");
	expect_link(m->root, "var/db/openclaw/skills/current.prev", "1.4.2");

	pass_ok(m, &g4, 3, rollback);
	expect_link(m->root, "var/db/openclaw/skills/current", "1.4.2");
	expect_link(m->root, "var/db/openclaw/skills/current.prev", "1.4.3");
	char *lock = slurp(m->root, "usr/local/share/openclaw-infra/openclaw.lock");
	assert_non_null(strstr(lock, "\"1.4.2\""));
	free(lock);
	version = slurp(m->root, "sim/version");
	assert_string_equal(version, "2026.7.1 (3f9c2ab)\n");
	free(version);
	pass_ok(m, &g4, 4, none);
	assert_int_equal(kickstarts(m), 4);
}

static void test_restart_asked_once_per_generation(void **state)
{
	struct mac *m = *state;
	struct target t = make_target(1, "v2026.7.1", v1, "1.4.2", TARGET_LINK_CURRENT, true);
	const char *const kick[] = {"kickstart", NULL};
	const char *const none[] = {NULL};
	struct node_actions got = {0};
	struct cf_err err = {{0}};

	assert_int_equal(node_act(&m->env, &t, 0, &got, &err), 0);
	node_actions_free(&got);
	t.generation = 2;
	t.restart = true;
	pass_ok(m, &t, 1, kick);
	pass_ok(m, &t, 2, none);
	assert_int_equal(kickstarts(m), 2);
}

static void expect_failure(struct mac *m, const struct target *t, int64_t applied,
			   const char *needle, size_t nactions)
{
	struct node_actions got = {0};
	struct cf_err err = {{0}};
	assert_int_equal(node_act(&m->env, t, applied, &got, &err), -1);
	if (!strstr(err.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
	assert_int_equal(got.n, nactions);
	node_actions_free(&got);
}

/* Someone edited the infra tree by hand: nothing is pulled over it and nothing restarts. */
static void test_dirty_tree_is_refused(void **state)
{
	struct mac *m = *state;
	struct target g1 = make_target(1, "v2026.7.1", v1, "1.4.2", TARGET_LINK_CURRENT, true);
	struct target g2 = make_target(2, "v2026.8.0", v2, "1.4.3", TARGET_LINK_NEXT, true);
	struct node_actions got = {0};
	struct cf_err err = {{0}};

	assert_int_equal(node_act(&m->env, &g1, 0, &got, &err), 0);
	node_actions_free(&got);
	put(m->root, "usr/local/share/openclaw-infra/hotfix.yaml", "debug: true\n");
	expect_failure(m, &g2, 1, "pull: the infra tree", 0);
	expect_failure(m, &g2, 1, "hotfix.yaml", 0);
	assert_false(exists(m->root, "var/db/clawfleet/agent/restart-pending.json"));
	assert_false(exists(m->root, "var/db/openclaw/skills/next"));
	char *lock = slurp(m->root, "usr/local/share/openclaw-infra/openclaw.lock");
	assert_non_null(strstr(lock, "\"2026.7.1\""));
	free(lock);
	assert_int_equal(kickstarts(m), 1);
}

static void test_bad_targets_stop_early(void **state)
{
	struct mac *m = *state;
	struct target t = make_target(1, "v2026.7.1", v1, "1.4.2", TARGET_LINK_CURRENT, true);

	/* A tenant the tree does not declare: refused before anything is installed. */
	snprintf(t.tenants[1].name, sizeof(t.tenants[1].name), "initech");
	expect_failure(m, &t, 0, "desired: the target sets a channel for tenant \"initech\"", 1);
	assert_int_equal(count(m, " npm install "), 0);

	/* A skill pack the tag does not carry. */
	t = make_target(1, "v2026.7.1", v1, "1.4.9", TARGET_LINK_CURRENT, true);
	expect_failure(m, &t, 0, "skills: installing skill pack 1.4.9", 3);
	assert_false(exists(m->root, "var/db/openclaw/skills/current"));

	/* A tag that does not lead to the commit the controller named. */
	t = make_target(2, "v2026.7.1", v2, "1.4.2", TARGET_LINK_CURRENT, true);
	expect_failure(m, &t, 0, "pull: pulling v2026.7.1", 0);
	char *lock = slurp(m->root, "usr/local/share/openclaw-infra/openclaw.lock");
	assert_non_null(strstr(lock, "\"2026.7.1\""));
	free(lock);
}

int main(int argc, char **argv)
{
	/* The Git fetch child is this program run again. */
	if (argc > 1 && strcmp(argv[1], GITSOURCE_FETCH_COMMAND) == 0)
		return gitsource_fetch_child_main(argc - 1, argv + 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_pass_then_nothing, mac_setup,
						mac_teardown),
		cmocka_unit_test_setup_teardown(test_stopped_before_kickstart_still_owes_it,
						mac_setup, mac_teardown),
		cmocka_unit_test_setup_teardown(test_stopped_before_skills_resumes_there, mac_setup,
						mac_teardown),
		cmocka_unit_test_setup_teardown(test_canary_promote_and_roll_back, mac_setup,
						mac_teardown),
		cmocka_unit_test_setup_teardown(test_restart_asked_once_per_generation, mac_setup,
						mac_teardown),
		cmocka_unit_test_setup_teardown(test_dirty_tree_is_refused, mac_setup,
						mac_teardown),
		cmocka_unit_test_setup_teardown(test_bad_targets_stop_early, mac_setup,
						mac_teardown),
	};
	return cmocka_run_group_tests_name("node_act", tests, group_setup, group_teardown);
}
