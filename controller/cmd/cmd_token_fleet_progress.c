/* The progress document of `clawfleet token rotate-fleet` (contracts/token_rotation.h): what
 * each node holds as the run last heard it, and what the rotation waits for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cmd/token_fleet_internal.h"

static int64_t now_ms(const struct run *r)
{
	return r->clock_given ? r->o.now_ms : clock_epoch_ms();
}

/* The node as the document shows it: what it holds when it answered in this run, else as the
 * last run left it (before, NULL: unknown). */
static struct token_rotation_node node_progress(const struct run *r,
						const struct fleet_node *node,
						const struct token_rotation_node *before)
{
	struct token_rotation_node p = {.name = node->name,
					.error = node->error[0] ? node->error : NULL};
	if (!node->answered) {
		if (before) {
			p.staged = before->staged;
			p.acknowledged = before->acknowledged;
			p.promoted = before->promoted;
			p.revoked = before->revoked;
		}
		return p;
	}
	p.promoted = strcmp(node->v.current, r->new_sha) == 0;
	p.staged = p.promoted || strcmp(node->v.next, r->new_sha) == 0;
	p.acknowledged = p.staged && (node->acknowledged || (before && before->acknowledged));
	p.revoked = p.promoted && !node->v.prev[0];
	return p;
}

/* "A, B" into out: the nodes still to take the phase's step, at most a few hundred bytes. */
static bool nodes_behind(const struct token_rotation *doc, char *out, size_t size)
{
	size_t len = 0, listed = 0, behind = 0;
	out[0] = '\0';
	for (size_t i = 0; i < doc->nnodes; i++) {
		const struct token_rotation_node *n = &doc->nodes[i];
		bool done = doc->phase == TOKEN_ROTATION_STAGING    ? n->acknowledged
			    : doc->phase == TOKEN_ROTATION_SWITCHED ? n->promoted
								    : n->revoked;
		if (done)
			continue;
		behind++;
		if (len + strlen(n->name) + 2 < size / 2) {
			len += (size_t)snprintf(out + len, size - len, "%s%s", listed ? ", " : "",
						n->name);
			listed++;
		}
	}
	if (behind > listed)
		snprintf(out + len, size - len, " and %zu more", behind - listed);
	return behind > 0;
}

void token_fleet_progress(struct run *r, enum token_rotation_phase phase, const char *waiting)
{
	const struct token_rotation *prev =
		r->prev_found && r->prev.phase != TOKEN_ROTATION_ROTATED &&
				strcmp(r->prev.sha256, r->new_sha) == 0
			? &r->prev
			: NULL;
	struct token_rotation_node *nodes = calloc(r->n ? r->n : 1, sizeof(*nodes));
	char names[512], words[640];
	struct cf_err err;
	if (!nodes) {
		cf_err_set(&err, "out of memory");
		goto failed;
	}
	if (!r->started_ms)
		r->started_ms = prev ? prev->started_ms : now_ms(r);
	for (size_t i = 0; i < r->n; i++) {
		const struct token_rotation_node *before = NULL;
		for (size_t k = 0; prev && !before && k < prev->nnodes; k++)
			if (strcmp(prev->nodes[k].name, r->nodes[i].name) == 0)
				before = &prev->nodes[k];
		nodes[i] = node_progress(r, &r->nodes[i], before);
	}
	struct token_rotation doc = {
		.phase = phase,
		.started_ms = r->started_ms,
		.updated_ms = now_ms(r),
		.actor = r->o.actor,
		.ticket = r->o.ticket,
		.waiting_for = waiting,
		.nodes = nodes,
		.nnodes = r->n,
	};
	memcpy(doc.sha256, r->new_sha, sizeof(doc.sha256));
	if (!waiting && phase != TOKEN_ROTATION_ROTATED && nodes_behind(&doc, names, sizeof(names))) {
		snprintf(words, sizeof(words), "%s to %s", names,
			 phase == TOKEN_ROTATION_STAGING
				 ? "acknowledge the new token; the controller switches once every "
				   "agent has"
			 : phase == TOKEN_ROTATION_SWITCHED ? "promote the new token"
							    : "revoke the old token");
		doc.waiting_for = words;
	}
	if (token_rotation_write(r->progress_file, &doc, &err) == 0) {
		free(nodes);
		return;
	}
failed:
	free(nodes);
	if (!r->progress_failed)
		fprintf(stderr, "clawfleet token rotate-fleet: the progress /status shows: %s\n",
			err.msg);
	r->progress_failed = true;
}

void token_fleet_load_progress(struct run *r)
{
	struct cf_err err;
	if (token_rotation_load(r->progress_file, &r->arena, &r->prev, &r->prev_found, &err) < 0) {
		fprintf(stderr, "clawfleet token rotate-fleet: %s; it is written anew\n", err.msg);
		r->prev_found = false;
	}
}

void token_fleet_progress_unanswered(struct run *r, bool staging)
{
	if (staging) {
		token_fleet_progress(r, TOKEN_ROTATION_STAGING, NULL);
		return;
	}
	if (!r->prev_found || r->prev.phase == TOKEN_ROTATION_ROTATED ||
	    strcmp(r->prev.sha256, r->sha) != 0)
		return;
	/* Staging without the staged token beside the controller's: the switch happened. */
	token_fleet_progress(r, r->prev.phase == TOKEN_ROTATION_STAGING ? TOKEN_ROTATION_SWITCHED
							    : r->prev.phase,
		 NULL);
}
