#include "reconcilers/weights/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/proc.h"

/* "server=weight": a name, "=", up to three digits, NUL. */
#define PAIR_MAX (WEIGHTS_SERVER_NAME_MAX + 5)

/* Runs command.argv followed by the words of extra; 0 when it exited 0, with its stdout in *out
 * (malloc'd) when out is not NULL. verb names the run in errors. */
static int run(const struct load_balancer *lb, const char *verb, char *const *extra,
	       size_t nextra, char **out, size_t *out_len, struct cf_err *err)
{
	struct proc_spec spec = {.timeout_ms = WEIGHTS_COMMAND_TIMEOUT_MS,
				 .output_max = WEIGHTS_REPLY_MAX};
	struct proc_result res = {0};
	char **argv = NULL;
	int rc = -1;

	if (!lb->command.argv || lb->command.argc == 0) {
		cf_err_set(err, "LoadBalancer/%s: command.argv is needed",
			   lb->name ? lb->name : "-");
		goto done;
	}
	argv = calloc(lb->command.argc + nextra + 1, sizeof(*argv));
	if (!argv) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	memcpy(argv, lb->command.argv, lb->command.argc * sizeof(*argv));
	memcpy(argv + lb->command.argc, extra, nextra * sizeof(*argv));
	spec.argv = argv;
	if (proc_run(&spec, &res, err) < 0 || proc_check(&spec, &res, err) < 0)
		goto fail;
	if (out && res.out_truncated) {
		cf_err_set(err, "printed more than %u bytes", WEIGHTS_REPLY_MAX);
		goto fail;
	}
	if (out) {
		*out = res.out;
		*out_len = res.out_len;
		res.out = NULL;
	}
	rc = 0;
	goto done;
fail:
	cf_err_prefix(err, "command load balancer (%s)", verb);
done:
	proc_result_free(&res);
	free(argv);
	return rc;
}

static int cmd_get(const struct load_balancer *lb, struct weight_map *out, struct cf_err *err)
{
	char *verb = "get", *text = NULL;
	size_t len = 0;
	int rc = -1;
	if (run(lb, verb, &verb, 1, &text, &len, err) < 0)
		goto done;
	rc = weights_parse_doc(text, len, "command load balancer (get): its output", out, err);
done:
	free(text);
	return rc;
}

/* Room for the set words after command.argv and "set" within PROC_ARGS_MAX. */
static size_t pairs_per_run(const struct load_balancer *lb)
{
	size_t fixed = lb->command.argc + 1;
	if (fixed >= PROC_ARGS_MAX)
		return 0;
	size_t room = PROC_ARGS_MAX - fixed;
	return room < WEIGHTS_COMMAND_SERVERS_PER_RUN ? room : WEIGHTS_COMMAND_SERVERS_PER_RUN;
}

static int cmd_set(const struct load_balancer *lb, const struct weight_map *want,
		   struct cf_err *err)
{
	size_t per_run = pairs_per_run(lb);
	char (*pairs)[PAIR_MAX] = NULL;
	char **words = NULL;
	int rc = -1;

	if (want->n == 0)
		return 0;
	if (per_run == 0)
		return cf_err_set(err, "LoadBalancer/%s: command.argv has more than %d words",
				  lb->name ? lb->name : "-", PROC_ARGS_MAX - 2);
	pairs = calloc(per_run, sizeof(*pairs));
	words = calloc(per_run + 1, sizeof(*words));
	if (!pairs || !words) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	words[0] = "set";
	for (size_t from = 0; from < want->n; from += per_run) {
		size_t n = want->n - from < per_run ? want->n - from : per_run;
		for (size_t i = 0; i < n; i++) {
			const struct weight_entry *e = &want->v[from + i];
			snprintf(pairs[i], PAIR_MAX, "%s=%d", e->server, e->weight);
			words[i + 1] = pairs[i];
		}
		if (run(lb, "set", words, n + 1, NULL, NULL, err) < 0)
			goto done;
	}
	rc = 0;
done:
	free(pairs);
	free(words);
	return rc;
}

static int cmd_route_tenant(const struct load_balancer *lb, const char *header_value,
			    const char *pool, struct cf_err *err)
{
	char *words[] = {"route", (char *)header_value, (char *)pool};
	return run(lb, "route", words, 3, NULL, NULL, err);
}

const struct weights_driver weights_command = {
	.name = "command",
	.get = cmd_get,
	.set = cmd_set,
	.route_tenant = cmd_route_tenant,
};
