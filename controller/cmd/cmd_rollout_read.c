/* clawfleet rollout get|history: the rollout as the controller reports it, read from its HTTP
 * server (GET /status and GET /v1/plan, cmd/ctlclient.h) and printed by the renderer `clawfleet
 * status` uses (cmd/status_table.h). Reading changes nothing: the verbs that change the rollout
 * write commits to Git.
 *
 * get --watch polls once a second. On a terminal it clears the screen and redraws whenever what
 * it would print changes; on a pipe it prints one line per change of the rollout (its phase,
 * step, what it waits for, the nodes not green), each with the reader's time, so a log of it
 * reads as the rollout's story. A controller that does not answer is said (once per different
 * error) and asked again a second later; SIGINT ends the watch with status 0. */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/httpc.h"
#include "base/timeparse.h"
#include "cmd/commands.h"
#include "cmd/ctlclient.h"
#include "cmd/status_table.h"

#define POLL_MS 1000
#define LINE_MAX_BYTES 8192
#define USER_AGENT "clawfleet-rollout"
#define JSON_OUT (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char rollout_read_usage[] =
	"usage: clawfleet rollout get [--watch] [--json] [--controller URL]\n"
	"       clawfleet rollout history [--json] [--controller URL]\n"
	"  get      the phase, step, weights, each node's status and reason, what the rollout\n"
	"           waits for and until when, and its next step at the earliest (GET /status and\n"
	"           GET /v1/plan of the controller, default " CTLCLIENT_DEFAULT_URL ")\n"
	"  --watch  ask again every second: redraw on a terminal, a line per change on a pipe;\n"
	"           Ctrl-C ends it\n"
	"  history  the last rollouts: outcome, tags, how long, who, ticket, reason\n"
	"  --json   the documents as the controller serves them\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct read_opts {
	const char *controller;
	bool watch, json;
};

/* /status, and /v1/plan beside it when the controller serves one (*plan NULL otherwise: a
 * controller from before it still answers get). */
static int fetch_rollout(const struct read_opts *o, struct json_object **doc,
			 struct json_object **plan, struct cf_err *err)
{
	struct cf_err ignored;
	*plan = NULL;
	if (ctlclient_get(o->controller, "/status", USER_AGENT, doc, err) < 0)
		return -1;
	if (ctlclient_get(o->controller, "/v1/plan", USER_AGENT, plan, &ignored) < 0)
		*plan = NULL;
	return 0;
}

/* get --json: the /status document with the plan in it as "plan" (null when none). */
static void print_json_get(FILE *out, struct json_object *doc, struct json_object *plan,
			   int flags)
{
	json_object_object_add(doc, "plan", json_object_get(plan));
	fprintf(out, "%s\n", json_object_to_json_string_ext(doc, flags));
}

static int get_once(const struct read_opts *o)
{
	struct json_object *doc = NULL, *plan = NULL;
	struct cf_err err;
	if (fetch_rollout(o, &doc, &plan, &err) < 0) {
		fprintf(stderr, "clawfleet rollout: %s\n", err.msg);
		return 1;
	}
	if (o->json)
		print_json_get(stdout, doc, plan, JSON_OUT);
	else
		status_table_rollout(stdout, doc, plan, clock_epoch_ms());
	json_object_put(doc);
	json_object_put(plan);
	return 0;
}

/* Sleeps until POLL_MS after started (CLOCK_MONOTONIC ms), or until SIGINT. */
static void pause_poll(int64_t started)
{
	int64_t left = started + POLL_MS - clock_mono_ms();
	if (left <= 0 || interrupted)
		return;
	struct timespec ts = {left / 1000, (long)(left % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !interrupted)
		;
}

/* The rollout's one-line summary (status_table_line), malloc'd; NULL when out of memory. */
static char *summary(struct json_object *doc)
{
	char *line = malloc(LINE_MAX_BYTES);
	if (line)
		status_table_line(line, LINE_MAX_BYTES, doc);
	return line;
}

/* What one poll shows: on a terminal the whole table (or the error), on a pipe one line (the
 * summary, or the document on one line with --json). */
static char *render(const struct read_opts *o, bool tty, struct json_object *doc,
		    struct json_object *plan, const char *error)
{
	char *text = NULL, *line = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return NULL;
	if (error)
		fprintf(m, "clawfleet rollout: %s; asking again every second (Ctrl-C stops)\n", error);
	else if (o->json)
		print_json_get(m, doc, plan, tty ? JSON_OUT : JSON_C_TO_STRING_PLAIN);
	else if (tty)
		status_table_rollout(m, doc, plan, clock_epoch_ms());
	else if ((line = summary(doc)))
		fprintf(m, "%s\n", line);
	free(line);
	if (fclose(m) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void show(bool tty, bool failed, bool json, const char *text)
{
	char at[RFC3339_MS_MAX];
	if (tty) {
		fputs("\033[H\033[2J", stdout);
		fputs(text, stdout);
	} else if (failed) {
		fputs(text, stderr);
	} else if (json) {
		fputs(text, stdout);
	} else {
		rfc3339_format_ms(clock_epoch_ms(), at, sizeof(at));
		printf("%s %s", at, text);
	}
	fflush(stdout);
}

/* A change is what the screen shows on a terminal; on a pipe, the summary line (a document on
 * one line changes at every pass: --json prints it when the summary changes). */
static int watch(const struct read_opts *o)
{
	bool tty = isatty(STDOUT_FILENO);
	char *last = NULL;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint; /* no SA_RESTART: the sleep ends at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	while (!interrupted) {
		int64_t started = clock_mono_ms();
		struct json_object *doc = NULL, *plan = NULL;
		struct cf_err err;
		bool failed = fetch_rollout(o, &doc, &plan, &err) < 0;
		char *text = render(o, tty, doc, plan, failed ? err.msg : NULL);
		char *key = !tty && !failed && o->json ? summary(doc) : NULL;
		const char *now = key ? key : text;
		if (text && now && (!last || strcmp(now, last) != 0) && !interrupted)
			show(tty, failed, o->json, text);
		if (text && now) {
			free(last);
			last = strdup(now);
		}
		free(key);
		free(text);
		json_object_put(doc);
		json_object_put(plan);
		pause_poll(started);
	}
	free(last);
	return 0;
}

static int history(const struct read_opts *o)
{
	struct json_object *doc = NULL, *h = NULL;
	struct cf_err err;
	if (ctlclient_get(o->controller, "/status", USER_AGENT, &doc, &err) < 0) {
		fprintf(stderr, "clawfleet rollout: %s\n", err.msg);
		return 1;
	}
	if (o->json) {
		if (!json_object_object_get_ex(doc, "history", &h) ||
		    !json_object_is_type(h, json_type_array))
			h = NULL;
		printf("%s\n", h ? json_object_to_json_string_ext(h, JSON_OUT) : "[]");
	} else {
		status_table_history(stdout, doc);
	}
	json_object_put(doc);
	return 0;
}

int cmd_rollout_read(int argc, char **argv)
{
	struct read_opts o = {.controller = CTLCLIENT_DEFAULT_URL};
	const char *verb = argc > 1 ? argv[1] : "";
	bool is_get = strcmp(verb, "get") == 0, is_history = strcmp(verb, "history") == 0;
	if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0) {
		fputs(rollout_read_usage, stdout);
		return 0;
	}
	if (!is_get && !is_history) {
		fputs(rollout_read_usage, stderr);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--controller") == 0 && i + 1 < argc)
			o.controller = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			o.json = true;
		else if (is_get && strcmp(argv[i], "--watch") == 0)
			o.watch = true;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(rollout_read_usage, stdout);
			return 0;
		} else {
			fputs(rollout_read_usage, stderr);
			return 2;
		}
	}
	struct cf_err err;
	int status = 1;
	if (httpc_global_init(&err) < 0) {
		fprintf(stderr, "clawfleet rollout: %s\n", err.msg);
		goto done;
	}
	status = is_history ? history(&o) : o.watch ? watch(&o) : get_once(&o);
done:
	httpc_global_cleanup();
	return status;
}
