/* simstate: what the simulated Mac's fake programs share. A simulated Mac is a directory (env
 * OPENCLAW_SIM_ROOT, or the gateway's --root); its state and the tests' control files live in
 * <root>/sim/. Every program calls sim_open first: it fixes that directory and appends one line
 * "<epoch_ms> <program> <args...>" to sim/log so tests can assert what ran.
 *
 * gateway.state is written by the supervisor launchctl leaves behind each gateway and by
 * launchctl itself, so every read-modify-write of it happens under sim/gateway.lock.
 *
 * Header-only because the Makefile builds each .c file in hack/sim into its own program. */
#ifndef CLAWFLEET_SIM_SIMSTATE_H
#define CLAWFLEET_SIM_SIMSTATE_H
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "base/jsonparse.h"

#define SIM_READ_MAX (64 * 1024)
/* As JSON.stringify writes it: "/" stays unescaped, so paths read as paths. */
#define SIM_JSON (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define SIM_RESTARTS_MAX 20
#define SIM_LOCK_WAIT_MS 10000
/* A simulator mis-set by its test is a harness bug, not an OpenClaw failure: EX_SOFTWARE. */
#define SIM_EXIT_HARNESS 70

static char sim_dir[PATH_MAX];

static inline long long sim_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline long long sim_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sim_sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Builds <sim dir>/<name>. sim_open leaves room for any name sim_safe_name accepts; should one
 * not fit anyway, the empty path fails loudly at open instead of naming another file. */
static inline const char *sim_path(char *buf, size_t size, const char *name)
{
	if (snprintf(buf, size, "%s/%s", sim_dir, name) >= (int)size)
		buf[0] = '\0';
	return buf;
}

static inline void sim_log(const char *prog, int argc, char **argv)
{
	char line[4096], path[PATH_MAX];
	int n = snprintf(line, sizeof(line), "%lld %s", sim_now_ms(), prog);
	for (int i = 1; i < argc && n > 0 && (size_t)n < sizeof(line); i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %s", argv[i]);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One O_APPEND write per line keeps concurrent programs' lines whole. */
	int fd = open(sim_path(path, sizeof(path), "log"), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		      0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0)
		fprintf(stderr, "%s: appending to %s: %s\n", prog, path, strerror(errno));
	close(fd);
}

/* root may be NULL: then OPENCLAW_SIM_ROOT names the simulated Mac. */
static inline int sim_open(const char *prog, const char *root, int argc, char **argv)
{
	if (!root || !*root)
		root = getenv("OPENCLAW_SIM_ROOT");
	if (!root || !*root) {
		fprintf(stderr, "%s (simulated): OPENCLAW_SIM_ROOT is not set\n", prog);
		return -1;
	}
	if (strlen(root) > PATH_MAX - 512) {
		fprintf(stderr, "%s (simulated): OPENCLAW_SIM_ROOT is too long\n", prog);
		return -1;
	}
	snprintf(sim_dir, sizeof(sim_dir), "%s/sim", root);
	struct cf_err err;
	if (fsutil_mkdir_p(sim_dir, 0755, &err) < 0) {
		fprintf(stderr, "%s (simulated): %s\n", prog, err.msg);
		return -1;
	}
	sim_log(prog, argc, argv);
	return 0;
}

/* A file name part taken from outside (profile, version) must not leave sim/. */
static inline bool sim_safe_name(const char *s)
{
	return *s && *s != '.' && !strchr(s, '/') && strlen(s) < 200;
}

/* Reads sim/<name> into *out (malloc'd). 1 when read, 0 when missing, -1 on error. */
static inline int sim_read_text(const char *name, char **out)
{
	char path[PATH_MAX];
	struct cf_err err;
	size_t len;
	if (fsutil_read_file(sim_path(path, sizeof(path), name), SIM_READ_MAX, out, &len, &err) == 0)
		return 1;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	fprintf(stderr, "simulator: %s\n", err.msg);
	return -1;
}

/* The first line of sim/<name> without surrounding blanks, or NULL when missing or empty. */
static inline char *sim_read_line(const char *name)
{
	char *text = NULL;
	if (sim_read_text(name, &text) <= 0)
		return NULL;
	char *s = text + strspn(text, " \t\r\n");
	size_t n = strcspn(s, "\r\n");
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	memmove(text, s, n);
	text[n] = '\0';
	if (!*text) {
		free(text);
		return NULL;
	}
	return text;
}

/* Parses sim/<name>. 1 with *out set, 0 when the file is missing, -1 when it is not JSON. */
static inline int sim_read_json(const char *name, struct json_object **out)
{
	char *text = NULL;
	*out = NULL;
	int rc = sim_read_text(name, &text);
	if (rc <= 0)
		return rc;
	rc = jsonparse_value(text, strlen(text), JSONPARSE_DEPTH, out, NULL);
	free(text);
	if (rc < 0) {
		fprintf(stderr, "simulator: sim/%s is not valid JSON\n", name);
		return -1;
	}
	return 1;
}

static inline int sim_write_text(const char *name, const char *text)
{
	char path[PATH_MAX];
	struct cf_err err;
	if (fsutil_write_atomic(sim_path(path, sizeof(path), name), text, strlen(text), 0644, &err) <
	    0) {
		fprintf(stderr, "simulator: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static inline int sim_write_json(const char *name, struct json_object *obj)
{
	char *text = NULL;
	if (asprintf(&text, "%s\n", json_object_to_json_string_ext(obj, SIM_JSON)) < 0)
		return -1;
	int rc = sim_write_text(name, text);
	free(text);
	return rc;
}

static inline const char *sim_json_str(struct json_object *obj, const char *key, const char *def)
{
	struct json_object *v;
	if (obj && json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return def;
}

static inline long long sim_json_int(struct json_object *obj, const char *key, long long def)
{
	struct json_object *v;
	if (obj && json_object_object_get_ex(obj, key, &v) &&
	    (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return json_object_get_int64(v);
	return def;
}

/* True when sim/fail-install has a line equal to name or to name@version. */
static inline bool sim_install_fails(const char *name, const char *version)
{
	char *text = NULL, *save = NULL, spec[512];
	if (sim_read_text("fail-install", &text) <= 0)
		return false;
	snprintf(spec, sizeof(spec), "%s@%s", name, version);
	bool hit = false;
	for (char *l = strtok_r(text, "\r\n", &save); l && !hit; l = strtok_r(NULL, "\r\n", &save))
		hit = strcmp(l, name) == 0 || strcmp(l, spec) == 0;
	free(text);
	return hit;
}

/* Takes an exclusive lock on sim/<name>; the fd is the lock. Waits at most SIM_LOCK_WAIT_MS. */
static inline int sim_lock(const char *name)
{
	char path[PATH_MAX];
	int fd = open(sim_path(path, sizeof(path), name), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "simulator: %s: %s\n", path, strerror(errno));
		return -1;
	}
	long long deadline = sim_mono_ms() + SIM_LOCK_WAIT_MS;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || sim_mono_ms() >= deadline) {
			fprintf(stderr, "simulator: cannot lock %s\n", path);
			close(fd);
			return -1;
		}
		sim_sleep_ms(10);
	}
	return fd;
}

/* The gateway's supervisor (launchctl.c) holds this file locked for as long as it lives; the
 * lock goes with its last descriptor, even when it dies a zombie. */
#define SIM_GW_SUPERVISOR "gateway.supervisor"

/* The gateway with that pid is running. kill(pid, 0) alone would call a zombie running: one
 * killed together with its supervisor stays a zombie under an init that does not reap. While
 * its supervisor lives, the gateway is reaped within moments of its end and gateway.state says
 * whether it runs; without one, nobody can tell, and a gateway nobody supervises is not
 * running, as for launchd. No /proc: the same on macOS. */
static inline bool sim_gateway_alive(pid_t pid)
{
	char path[PATH_MAX];
	if (pid <= 0 || kill(pid, 0) < 0)
		return false;
	int fd = open(sim_path(path, sizeof(path), SIM_GW_SUPERVISOR), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

struct sim_gw_state {
	bool running;
	pid_t pid;
	bool has_exit; /* launchd prints "(never exited)" until the first exit */
	int last_exit;	 /* 128 + N for a death by signal N */
	int last_signal; /* the signal that ended the last run; 0 when it exited */
	int runs;
	int nrestarts;
	long long restarts[SIM_RESTARTS_MAX];
};

/* A missing gateway.state is a service that never ran. */
static inline int sim_gw_load(struct sim_gw_state *st)
{
	struct json_object *obj, *v;
	memset(st, 0, sizeof(*st));
	int rc = sim_read_json("gateway.state", &obj);
	if (rc <= 0)
		return rc;
	st->running = strcmp(sim_json_str(obj, "state", "stopped"), "running") == 0;
	st->pid = (pid_t)sim_json_int(obj, "pid", 0);
	st->has_exit = json_object_object_get_ex(obj, "lastExitStatus", &v) &&
		       json_object_is_type(v, json_type_int);
	st->last_exit = (int)sim_json_int(obj, "lastExitStatus", 0);
	st->last_signal = (int)sim_json_int(obj, "lastSignal", 0);
	st->runs = (int)sim_json_int(obj, "runs", 0);
	if (json_object_object_get_ex(obj, "restarts", &v) && json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		size_t first = n > SIM_RESTARTS_MAX ? n - SIM_RESTARTS_MAX : 0;
		for (size_t i = first; i < n; i++)
			st->restarts[st->nrestarts++] =
				json_object_get_int64(json_object_array_get_idx(v, i));
	}
	json_object_put(obj);
	return 0;
}

static inline int sim_gw_save(const struct sim_gw_state *st)
{
	struct json_object *obj = json_object_new_object(), *r = json_object_new_array();
	json_object_object_add(obj, "state", json_object_new_string(st->running ? "running" : "stopped"));
	json_object_object_add(obj, "pid", json_object_new_int(st->running ? st->pid : 0));
	json_object_object_add(obj, "lastExitStatus",
			       st->has_exit ? json_object_new_int(st->last_exit) : NULL);
	if (st->has_exit && st->last_signal)
		json_object_object_add(obj, "lastSignal", json_object_new_int(st->last_signal));
	json_object_object_add(obj, "runs", json_object_new_int(st->runs));
	for (int i = 0; i < st->nrestarts; i++)
		json_object_array_add(r, json_object_new_int64(st->restarts[i]));
	json_object_object_add(obj, "restarts", r);
	int rc = sim_write_json("gateway.state", obj);
	json_object_put(obj);
	return rc;
}

#define SIM_CMD_MAX_ARGS 64

/* Splits sim/gateway.cmd (one argument per line) in place into argv, NULL-terminated. *text owns
 * the strings. Returns argc, 0 when the file is missing (the service is not installed), -1. */
static inline int sim_gw_cmd(char **text, char *argv[SIM_CMD_MAX_ARGS + 1])
{
	char *save = NULL;
	int argc = 0;
	int rc = sim_read_text("gateway.cmd", text);
	if (rc <= 0)
		return rc;
	for (char *l = strtok_r(*text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (argc == SIM_CMD_MAX_ARGS) {
			fprintf(stderr, "simulator: sim/gateway.cmd has too many arguments\n");
			return -1;
		}
		argv[argc++] = l;
	}
	argv[argc] = NULL;
	if (argc == 0) {
		fprintf(stderr, "simulator: sim/gateway.cmd is empty\n");
		return -1;
	}
	return argc;
}

/* The gateway's default port, as OpenClaw's. */
#define SIM_GW_DEFAULT_PORT 18789

static inline int sim_gw_port(int argc, char **argv)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], "--port") == 0)
			return atoi(argv[i + 1]);
	return SIM_GW_DEFAULT_PORT;
}

#endif
