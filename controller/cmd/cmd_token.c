/* clawfleet token stage|promote|revoke: the operator's commands for rotating the bearer tokens
 * in a directory (tokens_rotate.h holds the rules). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/clock.h"
#include "base/httpc.h"
#include "base/timeparse.h"
#include "cmd/commands.h"
#include "reconcilers/tokens_rotate.h"

static const char token_usage[] =
	"usage: clawfleet token stage|promote|revoke --dir DIR --actor A --ticket T\n"
	"         [--audit FILE] [--controller URL] [--overlap D] [--stdin] [--force]\n"
	"  stage       write a new random token (64 hex digits) to DIR/token.next, mode 0600;\n"
	"              --stdin reads the token from standard input instead; --force replaces an\n"
	"              existing token.next\n"
	"  promote     token.next becomes token.current; the old current stays accepted as\n"
	"              token.prev\n"
	"  revoke      delete token.prev, once --overlap (default 12h, at least 1m and never\n"
	"              shorter than Flux's ImageUpdateAutomation interval) has passed since the\n"
	"              promote and, with --controller URL, once URL/status shows two consecutive\n"
	"              green passes since it\n"
	"  --audit     the JSON-lines audit file (default DIR/rotation.jsonl)\n"
	"exit status: 0 done, 1 refused or failed (the reason on standard error), 2 usage\n"
	"       clawfleet token rotate-fleet ...: the agents' token on every agent (--help)\n";

enum action { ACTION_NONE, ACTION_STAGE, ACTION_PROMOTE, ACTION_REVOKE };

static int usage_error(const char *fmt, const char *arg)
{
	fputs("clawfleet token: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n", stderr);
	fputs(token_usage, stderr);
	return 2;
}

static bool takes_value(const char *arg)
{
	static const char *const valued[] = {
		"--dir", "--actor", "--ticket", "--audit", "--controller", "--overlap", "--now",
	};
	for (size_t i = 0; i < sizeof(valued) / sizeof(valued[0]); i++)
		if (strcmp(arg, valued[i]) == 0)
			return true;
	return false;
}

/* Reads standard input, at most one byte past the limit so that an over-long token is
 * refused rather than cut. */
static int read_stdin(char *buf, size_t cap, size_t *len)
{
	*len = 0;
	while (*len < cap) {
		ssize_t r = read(STDIN_FILENO, buf + *len, cap - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		*len += (size_t)r;
	}
	return 0;
}

static int run(enum action action, const struct tokens_rotate_opts *o, struct cf_err *done_msg,
	       struct cf_err *err)
{
	switch (action) {
	case ACTION_STAGE:
		return tokens_rotate_stage(o, done_msg, err);
	case ACTION_PROMOTE:
		return tokens_rotate_promote(o, done_msg, err);
	default:
		return tokens_rotate_revoke(o, done_msg, err);
	}
}

int cmd_token(int argc, char **argv)
{
	static const char *const names[] = {"", "stage", "promote", "revoke"};
	struct tokens_rotate_opts o = {0};
	enum action action = ACTION_NONE;
	bool from_stdin = false, now_given = false;
	char token[TOKENS_ROTATE_INPUT_MAX + 1];
	size_t token_len = 0;
	struct cf_err err = {{0}}, done_msg = {{0}};

	if (argc > 1 && strcmp(argv[1], "rotate-fleet") == 0)
		return cmd_token_fleet(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			fputs(token_usage, stdout);
			return 0;
		} else if (strcmp(arg, "--stdin") == 0) {
			from_stdin = true;
		} else if (strcmp(arg, "--force") == 0) {
			o.force = true;
		} else if (takes_value(arg) && !value) {
			return usage_error("%s needs a value", arg);
		} else if (strcmp(arg, "--dir") == 0) {
			o.dir = argv[++i];
		} else if (strcmp(arg, "--actor") == 0) {
			o.actor = argv[++i];
		} else if (strcmp(arg, "--ticket") == 0) {
			o.ticket = argv[++i];
		} else if (strcmp(arg, "--audit") == 0) {
			o.audit = argv[++i];
		} else if (strcmp(arg, "--controller") == 0) {
			o.controller = argv[++i];
		} else if (strcmp(arg, "--overlap") == 0) {
			if (duration_parse(argv[++i], &o.overlap_ms, &err) < 0)
				return usage_error("--overlap: %s", err.msg);
			if (o.overlap_ms < TOKENS_ROTATE_OVERLAP_MIN_MS)
				return usage_error("--overlap %s is below the 1m minimum", value);
		} else if (strcmp(arg, "--now") == 0) {
			/* A test hook (README, "Rotating tokens"): the clock the rules read. */
			time_t t;
			if (rfc3339_parse(argv[++i], &t, &err) < 0)
				return usage_error("--now: %s", err.msg);
			o.now_ms = (int64_t)t * 1000;
			now_given = true;
		} else if (arg[0] == '-' || action != ACTION_NONE) {
			return usage_error("unexpected argument \"%s\"", arg);
		} else if (strcmp(arg, "stage") == 0) {
			action = ACTION_STAGE;
		} else if (strcmp(arg, "promote") == 0) {
			action = ACTION_PROMOTE;
		} else if (strcmp(arg, "revoke") == 0) {
			action = ACTION_REVOKE;
		} else {
			return usage_error("unknown action \"%s\"", arg);
		}
	}
	if (action == ACTION_NONE)
		return usage_error("%s", "stage, promote or revoke is required");
	if (!o.dir || !o.actor || !o.ticket)
		return usage_error("%s", "--dir, --actor and --ticket are required");
	if ((from_stdin || o.force) && action != ACTION_STAGE)
		return usage_error("%s", "--stdin and --force apply to stage only");
	if ((o.controller || o.overlap_ms) && action != ACTION_REVOKE)
		return usage_error("%s", "--controller and --overlap apply to revoke only");
	if (!now_given)
		o.now_ms = clock_epoch_ms();

	if (from_stdin) {
		if (read_stdin(token, sizeof(token), &token_len) < 0) {
			fprintf(stderr, "clawfleet token stage: reading standard input: %s\n",
				strerror(errno));
			return 1;
		}
		o.token = token;
		o.token_len = token_len;
	}
	if (o.controller && httpc_global_init(&err) < 0) {
		fprintf(stderr, "clawfleet token %s: %s\n", names[action], err.msg);
		return 1;
	}
	int rc = run(action, &o, &done_msg, &err);
	if (o.controller)
		httpc_global_cleanup();
	OPENSSL_cleanse(token, sizeof(token));
	if (rc == 0) {
		printf("%s\n", done_msg.msg);
		return 0;
	}
	fprintf(stderr, "clawfleet token %s: %s%s\n", names[action],
		rc == TOKENS_ROTATE_REFUSED ? "refused: " : "", err.msg);
	return 1;
}
