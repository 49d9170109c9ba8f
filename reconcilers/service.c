#include "reconcilers/service.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/jsonparse.h"
#include "base/proc.h"
#include "reconcilers/plist.h"

/* A status answer is a few hundred bytes; a megabyte of it is not a status. */
#define STATUS_OUTPUT_MAX (64 * 1024)
#define SERVICE_JSON_DEPTH 32
#define NAME_MAX_LEN 255
/* launchctl's exit status for "Could not find service ... in domain". */
#define LAUNCHCTL_NO_SERVICE 113
#define SYSTEMD_PROPERTIES "LoadState,ActiveState,MainPID,ExecMainCode,ExecMainStatus"
/* ExecMainCode is a waitid si_code: the main process exited, was killed, or dumped core. */
#define CODE_EXITED 1
#define CODE_KILLED 2
#define CODE_DUMPED 3

static int timeout_of(const struct service_config *cfg)
{
	return cfg->timeout_ms > 0 ? cfg->timeout_ms : SERVICE_TIMEOUT_DEFAULT_MS;
}

static const char *exe(const char *configured, const char *fallback)
{
	return configured && *configured ? configured : fallback;
}

static int run_checked(const struct service_config *cfg, char *const *argv, struct cf_err *err)
{
	struct proc_spec spec = {.argv = argv, .env = cfg->env, .timeout_ms = timeout_of(cfg)};
	struct proc_result res;
	int rc = proc_run(&spec, &res, err);
	if (rc == 0)
		rc = proc_check(&spec, &res, err);
	proc_result_free(&res);
	return rc;
}

/* Runs a status command. 0 with *res when it ran to its end with all its output; -1 otherwise.
 * The exit status is the caller's to judge: launchctl's 113 is an answer. */
static int run_status(const struct service_config *cfg, char *const *argv,
		      struct proc_result *res, struct cf_err *err)
{
	struct proc_spec spec = {.argv = argv,
				 .env = cfg->env,
				 .timeout_ms = timeout_of(cfg),
				 .output_max = STATUS_OUTPUT_MAX};
	if (proc_run(&spec, res, err) < 0)
		return -1;
	if (res->timed_out || !res->exited)
		return proc_check(&spec, res, err);
	if (res->out_truncated)
		return cf_err_set(err, "`%s` printed more than %d bytes", argv[0], STATUS_OUTPUT_MAX);
	return 0;
}

/* The manager could not answer: the reason goes in st->error as well, where the probe shows it,
 * cut to fit at a character boundary. */
static int unknown(struct service_status *st, struct cf_err *err)
{
	size_t n = strnlen(err->msg, sizeof(st->error) - 1);
	while (err->msg[n] && n && ((unsigned char)err->msg[n] & 0xC0) == 0x80)
		n--;
	memcpy(st->error, err->msg, n);
	st->error[n] = '\0';
	return -1;
}

/* A name that becomes an argument must not read as an option. */
static int check_name(const char *what, const char *name, struct cf_err *err)
{
	if (!*name || name[0] == '-' || strlen(name) > NAME_MAX_LEN || strpbrk(name, " \t\r\n"))
		return cf_err_set(err, "%s \"%s\" is not a valid name", what, name);
	return 0;
}

/* Parses a decimal int filling the whole of s (or, with rest, followed by rest's text). */
static bool parse_int(const char *s, int *out, const char **rest)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || v < INT_MIN || v > INT_MAX || (!rest && *end))
		return false;
	if (rest)
		*rest = end;
	*out = (int)v;
	return true;
}

/* ---- launchd ---- */

static int launchd_target(const struct service_config *cfg, char *buf, size_t size,
			  struct cf_err *err)
{
	if (!cfg->label || !*cfg->label) {
		snprintf(buf, size, "gui/%u/%s", (unsigned)getuid(), SERVICE_DEFAULT_LAUNCHD_LABEL);
		return 0;
	}
	if (check_name("launchd service target", cfg->label, err) < 0)
		return -1;
	if (!strchr(cfg->label, '/'))
		return cf_err_set(err, "launchd service target \"%s\" needs its domain: "
				       "gui/<uid>/%s, user/<uid>/%s or system/%s",
				  cfg->label, cfg->label, cfg->label, cfg->label);
	snprintf(buf, size, "%s", cfg->label);
	return 0;
}

static int launchd_status(const struct service_config *cfg, struct service_status *st,
			  struct cf_err *err);

/* A job whose plist launchd would refuse stays down after the reload: lint it first. A plist
 * that cannot be located (launchd does not answer, or has no such job) is left for kickstart to
 * report; one that no longer exists is not what launchd runs. */
static int launchd_lint(const struct service_config *cfg, struct cf_err *err)
{
	struct service_status st;
	struct plist_info info;

	if (launchd_status(cfg, &st, NULL) < 0 || !st.plist_path[0] ||
	    access(st.plist_path, F_OK) < 0)
		return 0;
	if (plist_read(st.plist_path, &info, err) < 0)
		return cf_err_prefix(err, "plist.invalid: not reloading the gateway");
	return 0;
}

static int launchd_restart(const struct service_config *cfg, struct cf_err *err)
{
	char target[NAME_MAX_LEN + 1];
	if (launchd_target(cfg, target, sizeof(target), err) < 0 || launchd_lint(cfg, err) < 0)
		return -1;
	char *argv[] = {(char *)exe(cfg->launchctl, "launchctl"), "kickstart", "-k", target, NULL};
	return run_checked(cfg, argv, err);
}

static char *trim(char *s)
{
	s += strspn(s, " \t");
	size_t n = strlen(s);
	while (n && strchr(" \t\r", s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* launchd names the signal as macOS's strsignal does, its number last: "Killed: 9",
 * "Segmentation fault: 11". 0 when the line does not end in a number. */
static int parse_signal(const char *value)
{
	const char *colon = strrchr(value, ':');
	int sig = 0;
	if (!colon || colon[1] != ' ' || !parse_int(colon + 2, &sig, NULL) || sig <= 0)
		return 0;
	return sig;
}

/* `launchctl print` describes the service as nested "key = value" blocks; only the outermost
 * block's keys describe the service itself (nested blocks have their own "state" lines). A run
 * that a signal ended shows "last terminating signal = Killed: 9", in place of or beside "last
 * exit code" (which may still read "(never exited)" or hold an older run's code): the signal
 * is the last run's end, and one that cannot be read leaves the end unknown rather than falling
 * back to the code it contradicts. */
static void parse_launchd_print(char *text, struct service_status *st)
{
	int depth = 0, sig = -1;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *s = trim(line);
		size_t n = strlen(s);
		if (n && s[n - 1] == '{') {
			depth++;
			continue;
		}
		if (strcmp(s, "}") == 0) {
			depth--;
			continue;
		}
		char *eq = strstr(s, " = ");
		if (depth != 1 || !eq)
			continue;
		*eq = '\0';
		const char *value = eq + 3, *rest;
		if (strcmp(s, "state") == 0)
			st->running = strcmp(value, "running") == 0;
		else if (strcmp(s, "pid") == 0 && !parse_int(value, &st->pid, NULL))
			st->pid = 0;
		/* "(never exited)" before the first exit; newer releases add ": <description>". */
		else if (strcmp(s, "last exit code") == 0)
			st->has_last_exit = parse_int(value, &st->last_exit, &rest) &&
					    (!*rest || *rest == ':');
		else if (strcmp(s, "last terminating signal") == 0)
			sig = parse_signal(value);
		else if (strcmp(s, "path") == 0)
			snprintf(st->plist_path, sizeof(st->plist_path), "%s", value);
		else if (strcmp(s, "stderr path") == 0)
			snprintf(st->stderr_path, sizeof(st->stderr_path), "%s", value);
	}
	if (sig >= 0) {
		st->has_last_exit = sig > 0;
		st->last_exit = sig > 0 ? 128 + sig : 0;
		st->last_signal = sig;
	}
	if (!st->running)
		st->pid = 0;
}

static int launchd_status(const struct service_config *cfg, struct service_status *st,
			  struct cf_err *err)
{
	struct cf_err own;
	struct proc_result res = {0};
	char target[NAME_MAX_LEN + 1];
	int rc = -1;

	if (!err)
		err = &own;
	memset(st, 0, sizeof(*st));
	if (launchd_target(cfg, target, sizeof(target), err) < 0)
		return unknown(st, err);
	char *argv[] = {(char *)exe(cfg->launchctl, "launchctl"), "print", target, NULL};
	if (run_status(cfg, argv, &res, err) < 0)
		goto done;
	if (res.exit_code == LAUNCHCTL_NO_SERVICE) {
		snprintf(st->error, sizeof(st->error), "launchd has no service %s (not loaded)",
			 target);
		rc = 0;
		goto done;
	}
	struct proc_spec spec = {.argv = argv, .timeout_ms = timeout_of(cfg)};
	if (proc_check(&spec, &res, err) < 0)
		goto done;
	if (!strstr(res.out, " = {")) {
		cf_err_set(err, "`launchctl print %s` printed no service description", target);
		goto done;
	}
	parse_launchd_print(res.out, st);
	if (!st->plist_path[0] && cfg->plist)
		snprintf(st->plist_path, sizeof(st->plist_path), "%s", cfg->plist);
	rc = 0;
done:
	proc_result_free(&res);
	return rc < 0 ? unknown(st, err) : 0;
}

/* ---- systemd ---- */

static int systemd_unit(const struct service_config *cfg, const char **unit, struct cf_err *err)
{
	*unit = cfg->label && *cfg->label ? cfg->label : SERVICE_DEFAULT_SYSTEMD_UNIT;
	if (check_name("systemd unit", *unit, err) < 0)
		return -1;
	if (strchr(*unit, '/'))
		return cf_err_set(err, "systemd unit \"%s\" is a path, not a unit name such as %s",
				  *unit, SERVICE_DEFAULT_SYSTEMD_UNIT);
	return 0;
}

static int systemd_restart(const struct service_config *cfg, struct cf_err *err)
{
	const char *unit;
	if (systemd_unit(cfg, &unit, err) < 0)
		return -1;
	char *argv[] = {(char *)exe(cfg->systemctl, "systemctl"), "--user", "restart",
			(char *)unit, NULL};
	return run_checked(cfg, argv, err);
}

static int systemd_status(const struct service_config *cfg, struct service_status *st,
			  struct cf_err *err)
{
	struct cf_err own;
	struct proc_result res = {0};
	const char *unit;
	const char *load = NULL, *active = NULL;
	int code = 0, status = 0, rc = -1;
	char *save = NULL;

	if (!err)
		err = &own;
	memset(st, 0, sizeof(*st));
	if (systemd_unit(cfg, &unit, err) < 0)
		return unknown(st, err);
	char *argv[] = {(char *)exe(cfg->systemctl, "systemctl"), "--user", "show", (char *)unit,
			"-p", SYSTEMD_PROPERTIES, NULL};
	struct proc_spec spec = {.argv = argv, .timeout_ms = timeout_of(cfg)};
	if (run_status(cfg, argv, &res, err) < 0 || proc_check(&spec, &res, err) < 0)
		goto done;
	for (char *line = strtok_r(res.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		const char *value = trim(eq + 1);
		if (strcmp(line, "LoadState") == 0)
			load = value;
		else if (strcmp(line, "ActiveState") == 0)
			active = value;
		else if (strcmp(line, "MainPID") == 0 && !parse_int(value, &st->pid, NULL))
			st->pid = 0;
		else if (strcmp(line, "ExecMainCode") == 0 && !parse_int(value, &code, NULL))
			code = 0;
		else if (strcmp(line, "ExecMainStatus") == 0 && !parse_int(value, &status, NULL))
			status = 0;
	}
	if (!active) {
		cf_err_set(err, "`systemctl --user show %s` printed no ActiveState", unit);
		goto done;
	}
	if (load && strcmp(load, "not-found") == 0)
		snprintf(st->error, sizeof(st->error), "systemd has no unit %s (not found)", unit);
	st->running = strcmp(active, "active") == 0 || strcmp(active, "reloading") == 0;
	if (!st->running)
		st->pid = 0;
	/* Code 0: the current main process has not exited, so there is no exit to report yet. */
	st->has_last_exit = code == CODE_EXITED || code == CODE_KILLED || code == CODE_DUMPED;
	st->last_exit = code == CODE_EXITED ? status : st->has_last_exit ? 128 + status : 0;
	st->last_signal = code == CODE_KILLED || code == CODE_DUMPED ? status : 0;
	rc = 0;
done:
	proc_result_free(&res);
	return rc < 0 ? unknown(st, err) : 0;
}

/* ---- JSON answers (openclaw, command) ---- */

static struct json_object *parse_json(const struct proc_result *res, const char *what,
				      struct cf_err *err)
{
	struct json_object *root = NULL;
	if (jsonparse_object(res->out, res->out_len, SERVICE_JSON_DEPTH, &root, NULL) < 0) {
		char first[120];
		snprintf(first, sizeof(first), "%.*s", (int)strcspn(res->out, "\r\n"), res->out);
		cf_err_set(err, "%s did not print a JSON object%s%s", what, first[0] ? ": " : "",
			   first);
		return NULL;
	}
	return root;
}

static struct json_object *member(struct json_object *obj, const char *key, json_type type)
{
	struct json_object *v;
	if (obj && json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, type))
		return v;
	return NULL;
}

static bool member_int(struct json_object *obj, const char *key, int *out)
{
	struct json_object *v = member(obj, key, json_type_int);
	if (!v)
		return false;
	int64_t n = json_object_get_int64(v);
	if (n < INT_MIN || n > INT_MAX)
		return false;
	*out = (int)n;
	return true;
}

/* ---- openclaw ---- */

static int openclaw_restart(const struct service_config *cfg, struct cf_err *err)
{
	char *argv[] = {(char *)exe(cfg->openclaw, "openclaw"), "gateway", "restart", NULL};
	return run_checked(cfg, argv, err);
}

/* {"service":{"label","loaded","runtime":{"status","pid","lastExitStatus"}},...} */
static int openclaw_status(const struct service_config *cfg, struct service_status *st,
			   struct cf_err *err)
{
	struct cf_err own;
	struct proc_result res = {0};
	struct json_object *root = NULL;
	int rc = -1;

	if (!err)
		err = &own;
	memset(st, 0, sizeof(*st));
	char *argv[] = {(char *)exe(cfg->openclaw, "openclaw"), "gateway", "status", "--json", NULL};
	struct proc_spec spec = {.argv = argv, .timeout_ms = timeout_of(cfg)};
	if (run_status(cfg, argv, &res, err) < 0 || proc_check(&spec, &res, err) < 0)
		goto done;
	root = parse_json(&res, "`openclaw gateway status --json`", err);
	if (!root)
		goto done;
	struct json_object *svc = member(root, "service", json_type_object);
	struct json_object *runtime = member(svc, "runtime", json_type_object);
	struct json_object *loaded = member(svc, "loaded", json_type_boolean);
	struct json_object *status = member(runtime, "status", json_type_string);
	if (loaded && !json_object_get_boolean(loaded)) {
		struct json_object *label = member(svc, "label", json_type_string);
		snprintf(st->error, sizeof(st->error), "the gateway service %s is not loaded",
			 label ? json_object_get_string(label) : "");
		rc = 0;
		goto done;
	}
	if (!status) {
		cf_err_set(err, "`openclaw gateway status --json` has no service.runtime.status");
		goto done;
	}
	st->running = strcmp(json_object_get_string(status), "running") == 0;
	if (st->running && !member_int(runtime, "pid", &st->pid))
		st->pid = 0;
	st->has_last_exit = member_int(runtime, "lastExitStatus", &st->last_exit);
	rc = 0;
done:
	json_object_put(root);
	proc_result_free(&res);
	return rc < 0 ? unknown(st, err) : 0;
}

/* ---- command ---- */

static int command_restart(const struct service_config *cfg, struct cf_err *err)
{
	if (!cfg->restart_argv || !cfg->restart_argv[0])
		return cf_err_set(err, "the command service manager needs a restart argv list");
	return run_checked(cfg, cfg->restart_argv, err);
}

static int command_status(const struct service_config *cfg, struct service_status *st,
			  struct cf_err *err)
{
	struct cf_err own;
	struct proc_result res = {0};
	struct json_object *root = NULL;
	int rc = -1;

	if (!err)
		err = &own;
	memset(st, 0, sizeof(*st));
	if (!cfg->status_argv || !cfg->status_argv[0]) {
		cf_err_set(err, "the command service manager needs a status argv list");
		return unknown(st, err);
	}
	struct proc_spec spec = {.argv = cfg->status_argv, .timeout_ms = timeout_of(cfg)};
	if (run_status(cfg, cfg->status_argv, &res, err) < 0 || proc_check(&spec, &res, err) < 0)
		goto done;
	root = parse_json(&res, cfg->status_argv[0], err);
	if (!root)
		goto done;
	struct json_object *running = member(root, "running", json_type_boolean);
	if (!running) {
		cf_err_set(err, "%s printed no boolean \"running\"", cfg->status_argv[0]);
		goto done;
	}
	st->running = json_object_get_boolean(running);
	if (!st->running || !member_int(root, "pid", &st->pid))
		st->pid = 0;
	st->has_last_exit = member_int(root, "lastExit", &st->last_exit);
	rc = 0;
done:
	json_object_put(root);
	proc_result_free(&res);
	return rc < 0 ? unknown(st, err) : 0;
}

static const struct service_driver drivers[] = {
	{"launchd", launchd_restart, launchd_status},
	{"systemd", systemd_restart, systemd_status},
	{"openclaw", openclaw_restart, openclaw_status},
	{"command", command_restart, command_status},
};

const struct service_driver *service_driver_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcmp(drivers[i].name, name) == 0)
			return &drivers[i];
	return NULL;
}

static const struct service_driver *driver_of(const struct service_config *cfg,
					      struct cf_err *err)
{
	const struct service_driver *d = service_driver_find(cfg->manager);
	if (!d)
		cf_err_set(err, "unknown service manager \"%s\": use launchd, systemd, openclaw or "
				"command",
			   cfg->manager ? cfg->manager : "");
	return d;
}

int service_restart(const struct service_config *cfg, struct cf_err *err)
{
	const struct service_driver *d = driver_of(cfg, err);
	return d ? d->restart(cfg, err) : -1;
}

int service_status(const struct service_config *cfg, struct service_status *st,
		   struct cf_err *err)
{
	struct cf_err own;
	if (!err)
		err = &own;
	const struct service_driver *d = driver_of(cfg, err);
	if (!d) {
		memset(st, 0, sizeof(*st));
		return unknown(st, err);
	}
	return d->status(cfg, st, err);
}
