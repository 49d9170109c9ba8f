/* clawfleet plan: what the controller would do now, changing nothing. The desired state is read
 * as validate reads it; the fleet as the controller would have observed it comes from a file:
 *   {"nodes": {"<name>": <GET /readyz document> | null}, "weights": {"<server>": N},
 *    "state": <the controller's rollout.json>}
 * (a node that is null or absent did not answer; without "weights" the load balancer could not
 * be read; without "state" the rollout starts from nothing). The planner runs once at the current
 * time and the ordered actions are printed, then the phase it would move to. */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/fsutil.h"
#include "cmd/commands.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "plan/planner.h"
#include "source/source.h"

#define OBSERVED_MAX (ROLLOUT_STATE_MAX_BYTES + (16u << 20))

static const char plan_usage[] =
	"usage: clawfleet plan --observed FILE [--ref REF] SOURCE\n"
	"  SOURCE      the desired state, as validate reads it (read it through Git, with --ref\n"
	"              or a bare repository, for the Promotion's tag to resolve to a commit)\n"
	"  --observed  {\"nodes\": {name: /readyz document}, \"weights\": {server: weight},\n"
	"              \"state\": rollout state}: the fleet as the controller would see it\n";

struct observed {
	struct json_object *root;
	struct node_observation *nodes;
	const char ***reasons; /* per node, the codes its reasons[] carried */
	size_t nnodes;
	struct weight_map weights;
	bool weights_ok;
	struct rollout_state state;
};

static const char *str_at(struct json_object *o, const char *obj, const char *key)
{
	struct json_object *v = o;
	if (obj && !json_object_object_get_ex(o, obj, &v))
		return NULL;
	if (!json_object_object_get_ex(v, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int read_node(struct json_object *doc, const char *name, struct node_observation *o,
		     const char ***reasons, struct cf_err *err)
{
	struct json_object *v;
	o->name = name;
	if (!doc)
		return 0;
	if (!json_object_is_type(doc, json_type_object))
		return cf_err_set(err, "nodes.%s: want a /readyz document or null", name);
	const char *status = str_at(doc, NULL, "status");
	if (!status || (strcmp(status, "green") && strcmp(status, "degraded") &&
			strcmp(status, "red")))
		return cf_err_set(err, "nodes.%s.status: want green, degraded or red", name);
	o->reachable = true;
	o->status = strcmp(status, "green") == 0	? PROBE_GREEN
		    : strcmp(status, "degraded") == 0 ? PROBE_DEGRADED
						      : PROBE_RED;
	if (json_object_object_get_ex(doc, "observedGeneration", &v) &&
	    json_object_is_type(v, json_type_int))
		o->observed_generation = json_object_get_int64(v);
	o->tag = str_at(doc, "infra", "tag");
	o->commit = str_at(doc, "infra", "commit");
	o->skills_current = str_at(doc, "skills", "current");
	o->skills_next = str_at(doc, "skills", "next");
	o->lock_sha256 = str_at(doc, "lock", "sha256");
	o->probe_sha256 = str_at(doc, NULL, "probeSha256");
	if (json_object_object_get_ex(doc, "lock", &v) &&
	    json_object_object_get_ex(v, "versionMatch", &v))
		o->version_match = json_object_get_boolean(v);
	struct json_object *list;
	if (!json_object_object_get_ex(doc, "reasons", &list) ||
	    !json_object_is_type(list, json_type_array))
		return 0;
	size_t n = json_object_array_length(list);
	*reasons = calloc(n ? n : 1, sizeof(**reasons));
	if (!*reasons)
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *code = str_at(json_object_array_get_idx(list, i), NULL, "code");
		if (!code)
			return cf_err_set(err, "nodes.%s.reasons[%zu].code: want a string", name, i);
		(*reasons)[o->nreasons++] = code;
	}
	o->reasons = *reasons;
	return 0;
}

static int read_observed(const char *path, struct observed *ob, struct cf_err *err)
{
	char *text = NULL;
	size_t len = 0;
	struct json_object *nodes, *v;
	int rc = -1;
	if (fsutil_read_file(path, OBSERVED_MAX, &text, &len, err) < 0)
		return -1;
	ob->root = json_tokener_parse(text);
	if (!json_object_is_type(ob->root, json_type_object)) {
		cf_err_set(err, "%s: not a JSON object", path);
		goto done;
	}
	if (json_object_object_get_ex(ob->root, "nodes", &nodes)) {
		if (!json_object_is_type(nodes, json_type_object)) {
			cf_err_set(err, "%s: nodes: want an object of node names", path);
			goto done;
		}
		size_t n = (size_t)json_object_object_length(nodes);
		ob->nodes = calloc(n ? n : 1, sizeof(*ob->nodes));
		ob->reasons = calloc(n ? n : 1, sizeof(*ob->reasons));
		if (!ob->nodes || !ob->reasons) {
			cf_err_set(err, "out of memory");
			goto done;
		}
		json_object_object_foreach(nodes, name, doc)
		{
			size_t i = ob->nnodes++;
			if (read_node(doc, name, &ob->nodes[i], &ob->reasons[i], err) < 0) {
				cf_err_prefix(err, "%s", path);
				goto done;
			}
		}
	}
	if (json_object_object_get_ex(ob->root, "weights", NULL)) {
		if (weights_from_json(ob->root, path, &ob->weights, err) < 0)
			goto done;
		ob->weights_ok = true;
	}
	if (json_object_object_get_ex(ob->root, "state", &v)) {
		size_t slen = 0;
		const char *s = json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN, &slen);
		if (!s || rollout_state_from_json(s, slen, &ob->state, err) < 0) {
			cf_err_prefix(err, "%s: state", path);
			goto done;
		}
	}
	rc = 0;
done:
	free(text);
	return rc;
}

static void observed_free(struct observed *ob)
{
	for (size_t i = 0; ob->reasons && i < ob->nnodes; i++)
		free(ob->reasons[i]);
	free(ob->reasons);
	free(ob->nodes);
	weight_map_free(&ob->weights);
	rollout_state_free(&ob->state);
	json_object_put(ob->root);
}

/* The commit the Promotion's tag names, as the controller resolves it; "" when it cannot. */
static void resolve_tag(struct source *src, const struct desired_state *ds, char commit[41])
{
	char spec[DESIRED_NAME_MAX + 8], revision[GITSOURCE_REVISION_MAX];
	struct gitref ref = {0};
	struct cf_err err;
	commit[0] = '\0';
	if (!src->is_git || !ds->npromotions)
		return;
	snprintf(spec, sizeof(spec), "tag:%s", ds->promotions[0].tag);
	if (gitref_parse(spec, &ref, &err) < 0 ||
	    gitsource_resolve(src->gs, &ref, commit, revision, &err) < 0) {
		fprintf(stderr, "clawfleet plan: Promotion %s: %s\n", ds->promotions[0].name, err.msg);
		commit[0] = '\0';
	}
	gitref_free(&ref);
}

static void print_plan(const struct desired_state *ds, const struct rollout_state *was,
		       const struct plan_output *out)
{
	const struct rollout_state *s = &out->next;
	const struct rollout_condition *stalled = &s->conditions[COND_STALLED];
	printf("plan at %s: %s -> %s, %zu %s\n", ds->revision ? ds->revision : "the directory",
	       rollout_phase_name(was->phase), rollout_phase_name(s->phase), out->nactions,
	       out->nactions == 1 ? "action" : "actions");
	for (size_t i = 0; i < out->nactions; i++) {
		char *line = rollout_action_describe(&out->actions[i]);
		printf("  %s\n", line ? line : "(out of memory)");
		free(line);
	}
	if (s->conditions[COND_RECONCILING].message[0])
		printf("%s\n", s->conditions[COND_RECONCILING].message);
	if (stalled->status == COND_TRUE)
		printf("stalled (%s): %s\n", stalled->reason, stalled->message);
}

int cmd_plan(int argc, char **argv)
{
	struct source_spec spec = {0};
	const char *observed_path = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ref") == 0 && i + 1 < argc) {
			spec.ref = argv[++i];
			spec.force_git = true;
		} else if (strcmp(argv[i], "--observed") == 0 && i + 1 < argc) {
			observed_path = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(plan_usage, stdout);
			return 0;
		} else if (argv[i][0] == '-' || spec.location) {
			fputs(plan_usage, stderr);
			return 2;
		} else {
			spec.location = argv[i];
		}
	}
	if (!spec.location || !observed_path) {
		fputs(plan_usage, stderr);
		return 2;
	}

	int status = 1;
	struct cf_err err;
	struct schema_set *schemas = NULL;
	struct source *src = NULL;
	struct treefiles files = {0};
	struct desired_state *ds = NULL;
	struct diag_list diags = {0};
	struct observed ob = {0};
	struct plan_output out = {0};
	char commit[41], revision[GITSOURCE_REVISION_MAX], tag_commit[41];

	rollout_state_init(&ob.state);
	rollout_state_init(&out.next);
	if (read_observed(observed_path, &ob, &err) < 0) {
		fprintf(stderr, "clawfleet plan: %s\n", err.msg);
		goto done;
	}
	if (schema_set_load_embedded(&schemas, &err) < 0 || source_open(&src, &spec, &err) < 0 ||
	    source_resolve(src, commit, revision, &err) < 0 ||
	    source_read(src, commit, &files, &err) < 0) {
		fprintf(stderr, "clawfleet plan: %s\n", err.msg);
		goto done;
	}
	struct desired_hooks hooks = {.tag_exists = source_tag_exists, .ctx = src};
	if (desired_load(&files, schemas, &hooks, &ds, &diags) < 0) {
		diag_list_sort(&diags);
		diag_list_print(&diags, stderr);
		fprintf(stderr, "clawfleet plan: the desired state has %zu errors\n",
			diags.n + diags.dropped);
		goto done;
	}
	if (src->is_git) {
		ds->revision = strdup(revision);
		ds->commit = strdup(commit);
		if (!ds->revision || !ds->commit) {
			fprintf(stderr, "clawfleet plan: out of memory\n");
			goto done;
		}
	}
	resolve_tag(src, ds, tag_commit);
	struct fleet_observation fo = {
		.nodes = ob.nodes,
		.nnodes = ob.nnodes,
		.weights = ob.weights,
		.weights_ok = ob.weights_ok,
		.promotion_commit = tag_commit[0] ? tag_commit : NULL,
	};
	if (plan(ds, &fo, &ob.state, clock_epoch_ms(), &out, &err) < 0) {
		fprintf(stderr, "clawfleet plan: %s\n", err.msg);
		goto done;
	}
	print_plan(ds, &ob.state, &out);
	status = 0;
done:
	plan_output_free(&out);
	observed_free(&ob);
	diag_list_free(&diags);
	desired_free(ds);
	treefiles_free(&files);
	source_free(src);
	schema_set_free(schemas);
	gitsource_global_shutdown();
	return status;
}
