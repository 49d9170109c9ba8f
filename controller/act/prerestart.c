#include "act/prerestart.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "base/jsonparse.h"
#include "desired/desired.h"
#include "observe/doctor.h"

#define CONFIG_OUTPUT_MAX (256 * 1024)
#define CONFIG_JSON_DEPTH 16
#define FINDING_MAX 512

/* The first line of text, escaped, into out. */
static void first_line(const char *text, size_t len, char *out, size_t size)
{
	size_t skip = strspn(text, " \t\r\n");
	if (skip > len)
		skip = len;
	size_t n = strcspn(text + skip, "\r\n");
	if (n > len - skip)
		n = len - skip;
	doctor_escape_text(out, size, text + skip, n, DOCTOR_EXCERPT_CHARS * 2);
}

static const char *json_str(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* The first issue of a validate report: {path, message} or a plain string. */
static bool first_issue(struct json_object *root, char *finding, size_t size)
{
	static const char *const lists[] = {"issues", "errors"};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct json_object *arr, *first;
		if (!json_object_object_get_ex(root, lists[i], &arr) ||
		    !json_object_is_type(arr, json_type_array) || !json_object_array_length(arr))
			continue;
		first = json_object_array_get_idx(arr, 0);
		char text[FINDING_MAX];
		const char *path = json_object_is_type(first, json_type_object)
					   ? json_str(first, "path")
					   : NULL;
		const char *msg = json_object_is_type(first, json_type_string)
					  ? json_object_get_string(first)
					  : json_str(first, "message");
		snprintf(text, sizeof(text), "%s%s%s", path ? path : "", path ? ": " : "",
			 msg ? msg : "invalid");
		doctor_escape_text(finding, size, text, strlen(text), 0);
		return true;
	}
	return false;
}

enum prerestart_config_verdict prerestart_judge_config(const struct proc_result *run, bool json,
							char *finding, size_t size)
{
	struct json_object *root = NULL, *v;
	enum prerestart_config_verdict verdict;

	finding[0] = '\0';
	if (run->timed_out) {
		snprintf(finding, size, "did not answer within its deadline");
		return PRERESTART_CONFIG_UNKNOWN;
	}
	if (!run->exited) {
		snprintf(finding, size, "died of signal %d", run->term_signal);
		return PRERESTART_CONFIG_UNKNOWN;
	}
	if (run->exit_code == PROC_EXIT_NOT_FOUND || run->exit_code == PROC_EXIT_NOT_EXECUTABLE) {
		snprintf(finding, size, "the OpenClaw CLI could not be run (exit %d)",
			 run->exit_code);
		return PRERESTART_CONFIG_UNKNOWN;
	}
	if (run->exit_code != 0 && (strstr(run->err, "unknown command") ||
				    strstr(run->out, "unknown command")))
		return PRERESTART_CONFIG_UNSUPPORTED;
	if (!json) {
		if (run->exit_code == 0)
			return PRERESTART_CONFIG_VALID;
		first_line(run->err_len ? run->err : run->out, run->err_len ? run->err_len : run->out_len,
			   finding, size);
		return PRERESTART_CONFIG_INVALID;
	}
	if (run->out_truncated ||
	    jsonparse_object(run->out, run->out_len, CONFIG_JSON_DEPTH, &root, NULL) < 0) {
		if (run->exit_code == 0) {
			snprintf(finding, size, "printed no JSON report");
			return PRERESTART_CONFIG_UNKNOWN;
		}
		first_line(run->err_len ? run->err : run->out, run->err_len ? run->err_len : run->out_len,
			   finding, size);
		return PRERESTART_CONFIG_INVALID;
	}
	bool valid = run->exit_code == 0;
	if (json_object_object_get_ex(root, "valid", &v) ||
	    json_object_object_get_ex(root, "ok", &v))
		valid = valid && json_object_get_boolean(v);
	if (valid) {
		verdict = PRERESTART_CONFIG_VALID;
	} else {
		verdict = PRERESTART_CONFIG_INVALID;
		struct json_object *e;
		const char *msg = NULL;
		if (!first_issue(root, finding, size)) {
			if (json_object_object_get_ex(root, "error", &e))
				msg = json_object_is_type(e, json_type_object) ? json_str(e, "message")
									       : json_str(root, "error");
			snprintf(finding, size, "%s", msg ? msg : "invalid, with no issue named");
		}
	}
	json_object_put(root);
	return verdict;
}

/* ---- the checks ---- */

static int check_tree(const struct prerestart_config *cfg, const char **code, struct cf_err *err)
{
	struct installed_state st;
	int rc = 0;
	if (install_observe(cfg->install, &st, err) < 0) {
		*code = "packages.unreadable";
		return cf_err_prefix(err, "reading the installed packages");
	}
	if (st.duplicates) {
		*code = "packages.duplicate";
		rc = cf_err_set(err, "a package is installed twice: %s", st.duplicates);
	} else if (st.unmet) {
		*code = "packages.peer";
		rc = cf_err_set(err, "unmet dependencies: %s", st.unmet);
	}
	installed_state_free(&st);
	return rc;
}

static const char *openclaw_of(const struct prerestart_config *cfg)
{
	const char *o = cfg->install->openclaw;
	return o && *o ? o : "openclaw";
}

/* One run of the openclaw CLI with the profile's environment; res is filled. */
static void run_cli(const struct prerestart_config *cfg, const struct prerestart_profile *p,
		    char **argv, struct proc_result *res)
{
	char profile[sizeof("OPENCLAW_PROFILE=") + DESIRED_NAME_MAX];
	char *env[PROC_ENV_OVERLAY_MAX + 2];
	size_t n = 0;
	for (char *const *e = cfg->install->env; e && *e && n < PROC_ENV_OVERLAY_MAX; e++)
		env[n++] = *e;
	if (p && p->profile) {
		snprintf(profile, sizeof(profile), "OPENCLAW_PROFILE=%s", p->profile);
		env[n++] = profile;
	}
	env[n] = NULL;
	struct proc_spec spec = {.argv = argv,
				 .env = env,
				 .timeout_ms = cfg->timeout_ms,
				 .output_max = CONFIG_OUTPUT_MAX};
	/* A CLI that cannot start still fills res (exit 127), which the judges explain. */
	proc_run(&spec, res, NULL);
}

static int check_config(const struct prerestart_config *cfg, const struct prerestart_profile *p,
			const char **code, struct cf_err *err)
{
	char *validate[] = {(char *)openclaw_of(cfg), "config", "validate", "--json", NULL};
	char *lint[] = {(char *)openclaw_of(cfg), "config", "lint", NULL};
	char finding[FINDING_MAX], who[DESIRED_NAME_MAX + 16];
	struct proc_result res;

	run_cli(cfg, p, validate, &res);
	enum prerestart_config_verdict v = prerestart_judge_config(&res, true, finding,
								    sizeof(finding));
	proc_result_free(&res);
	if (v == PRERESTART_CONFIG_UNSUPPORTED) {
		run_cli(cfg, p, lint, &res);
		v = prerestart_judge_config(&res, false, finding, sizeof(finding));
		proc_result_free(&res);
	}
	if (v == PRERESTART_CONFIG_VALID)
		return 0;
	snprintf(who, sizeof(who), "%s%s", p->tenant ? "tenant " : "the gateway",
		 p->tenant ? p->tenant : "");
	if (v == PRERESTART_CONFIG_INVALID) {
		*code = "config.invalid";
		return cf_err_set(err, "%s: %s", who, finding);
	}
	*code = "config.unavailable";
	if (v == PRERESTART_CONFIG_UNSUPPORTED)
		return cf_err_set(err, "%s: this OpenClaw CLI has neither `config validate` nor "
				       "`config lint`",
				  who);
	return cf_err_set(err, "%s: `openclaw config validate --json` %s", who, finding);
}

static int check_doctor(const struct prerestart_config *cfg, const char **code,
			struct cf_err *err)
{
	char *argv[] = {(char *)openclaw_of(cfg), "doctor", "--json", "--non-interactive", NULL};
	struct proc_result res;
	struct doctor_result d;

	run_cli(cfg, NULL, argv, &res);
	doctor_judge(&res, cfg->timeout_ms, &d);
	proc_result_free(&res);
	if (d.verdict != DOCTOR_RED)
		return 0;
	*code = doctor_reason_code(&d);
	if (d.outcome != DOCTOR_JUDGED)
		return cf_err_set(err, "doctor on the new install: %s", d.reason);
	if (!d.has_first_bad)
		return cf_err_set(err, "doctor on the new install reports ok:false");
	return cf_err_set(err, "doctor on the new install: %s: %s", d.first_bad.check_id,
			  d.first_bad.message);
}

int prerestart_check(const struct prerestart_config *cfg, const char **code, struct cf_err *err)
{
	*code = NULL;
	if (cfg->nprofiles > PRERESTART_PROFILES_MAX) {
		*code = "config.unavailable";
		return cf_err_set(err, "more than %d profiles to validate", PRERESTART_PROFILES_MAX);
	}
	if (check_tree(cfg, code, err) < 0)
		return -1;
	for (size_t i = 0; i < cfg->nprofiles; i++)
		if (check_config(cfg, &cfg->profiles[i], code, err) < 0)
			return -1;
	return check_doctor(cfg, code, err);
}
