#include "record/status_parity.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

#include "contracts/parity_peers.h"

int status_parity_check(const struct node_observation *obs, size_t n, struct status_parity *out)
{
	const struct node_observation **nodes = calloc(n ? n : 1, sizeof(*nodes));
	*out = (struct status_parity){0};
	if (!nodes)
		return -1;
	for (size_t i = 0; i < n; i++)
		nodes[i] = &obs[i];
	size_t i = parity_peers_differ(nodes, NULL, n, out->message, sizeof(out->message));
	if (i < n) {
		out->differ = true;
		snprintf(out->node, sizeof(out->node), "%s", obs[i].name);
	}
	free(nodes);
	return 0;
}

struct json_object *status_parity_json(const struct status_parity *p)
{
	if (!p)
		return NULL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "agree", json_object_new_boolean(!p->differ));
	if (p->differ) {
		json_object_object_add(o, "reason", json_object_new_string("parity.mismatch"));
		json_object_object_add(o, "node", json_object_new_string(p->node));
		json_object_object_add(o, "message", json_object_new_string(p->message));
	}
	return o;
}
