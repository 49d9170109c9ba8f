/* clawfleet plan: what the controller would do now, changing nothing. The desired state is read
 * as validate reads it; the fleet as the controller would have observed it comes from a file:
 *   {"nodes": {"<name>": <GET /readyz document> | null}, "weights": {"<server>": N},
 *    "state": <the controller's rollout.json>}
 * (a node that is null or absent did not answer; without "weights" the load balancer could not
 * be read; without "state" the rollout starts from nothing). Each document is read by the
 * controller's own reader (contracts/readyz.h), so plan sees what the controller would: a document
 * the controller would not accept is an error here, never read more loosely. The planner runs
 * once at the current time and the ordered actions are printed, then the phase it would move
 * to.
 *
 * With --controller URL, the live fleet instead: the controller's GET /v1/plan, what its next
 * pass would do from its last observation and the rest of the rollout if everything stays
 * green, each step with its earliest time (cmd/status_table.h prints it). */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "cmd/commands.h"
#include "cmd/ctlclient.h"
#include "cmd/status_table.h"
#include "contracts/readyz.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "plan/planner.h"
#include "source/source.h"

#define OBSERVED_MAX (ROLLOUT_STATE_MAX_BYTES + (16u << 20))
#define OBSERVED_DEPTH (READYZ_DEPTH + 2) /* nodes.<name> holds each /readyz document */

static const char plan_usage[] =
	"usage: clawfleet plan --observed FILE [--ref REF] SOURCE\n"
	"       clawfleet plan --controller URL [--json]\n"
	"  SOURCE        the desired state, as validate reads it (read it through Git, with --ref\n"
	"                or a bare repository, for the Promotion's tag to resolve to a commit)\n"
	"  --observed    {\"nodes\": {name: /readyz document}, \"weights\": {server: weight},\n"
	"                \"state\": rollout state}: the fleet as the controller would see it\n"
	"  --controller  the running controller's plan (GET /v1/plan): its next pass from its\n"
	"                last observation, and the steps left with their earliest times\n";

struct observed {
	struct json_object *root;
	struct arena arena; /* the nodes' strings and reason lists */
	struct node_observation *nodes;
	size_t nnodes;
	struct weight_map weights;
	bool weights_ok;
	struct rollout_state state;
};

/* nodes.<name>: null when the node did not answer, else its /readyz document, read by the
 * controller's own reader so that plan accepts and sees exactly what the controller would. */
static int read_node(struct json_object *doc, const char *name, struct arena *a,
		     struct node_observation *o, struct cf_err *err)
{
	o->name = name;
	if (!doc)
		return 0;
	int rc = readyz_read(doc, name, a, o, err);
	if (rc == READYZ_OTHER_NODE)
		return cf_err_set(err, "nodes.%s: the document is node %s's probe", name, o->name);
	if (rc < 0)
		return cf_err_prefix(err, "nodes.%s", name);
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
	if (jsonparse_object(text, len, OBSERVED_DEPTH, &ob->root, err) < 0) {
		cf_err_prefix(err, "%s", path);
		goto done;
	}
	if (json_object_object_get_ex(ob->root, "nodes", &nodes)) {
		if (!json_object_is_type(nodes, json_type_object)) {
			cf_err_set(err, "%s: nodes: want an object of node names", path);
			goto done;
		}
		size_t n = (size_t)json_object_object_length(nodes);
		ob->nodes = calloc(n ? n : 1, sizeof(*ob->nodes));
		if (!ob->nodes) {
			cf_err_set(err, "out of memory");
			goto done;
		}
		json_object_object_foreach(nodes, name, doc)
		{
			if (read_node(doc, name, &ob->arena, &ob->nodes[ob->nnodes++], err) < 0) {
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
	free(ob->nodes);
	arena_free(&ob->arena);
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
	const char *observed_path = NULL, *controller = NULL;
	bool as_json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--controller") == 0 && i + 1 < argc) {
			controller = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			as_json = true;
		} else if (strcmp(argv[i], "--ref") == 0 && i + 1 < argc) {
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
	if (controller && !observed_path && !spec.location && !spec.ref)
		return ctlclient_show(controller, "/v1/plan", "plan", as_json, status_table_plan);
	if (!spec.location || !observed_path || controller || as_json) {
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
		.wall_ms = clock_epoch_ms(),
	};
	/* What a controller started now would plan: the rollout clock resumed from the state. */
	int64_t now = rollout_clock_resume(&ob.state, fo.wall_ms);
	if (plan(ds, &fo, &ob.state, now, &out, &err) < 0) {
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
