/* token_fleet_internal: private to `clawfleet token rotate-fleet`'s files in cmd/
 * (cmd_token_fleet.c, the state machine and the calls to the agents; cmd_token_fleet_progress.c,
 * the progress document it writes after every step, contracts/token_rotation.h). */
#ifndef CLAWFLEET_TOKEN_FLEET_INTERNAL_H
#define CLAWFLEET_TOKEN_FLEET_INTERNAL_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/httpc.h"
#include "contracts/token_rotation.h"
#include "contracts/token_view.h"
#include "contracts/tokens.h"
#include "reconcilers/tokens_rotate.h"

struct fleet_node {
	const char *name, *address;
	bool answered;	   /* it answered GET /v1/token in this run: v is what it holds */
	bool acknowledged; /* it answered a call made with the new token in this run */
	struct token_view v;
	char error[CF_ERR_MSG]; /* why its last step in this run failed; "": none did */
};

struct run {
	struct tokens_rotate_opts o; /* actor, ticket, audit, now_ms, overlap_ms */
	const char *token_file, *controller;
	char next_file[PATH_MAX];
	int64_t wait_ms;
	struct httpc *http;
	struct fleet_node *nodes;
	size_t n;
	char token[TOKENS_FILE_MAX + 1]; /* the controller's */
	char sha[9];
	/* The progress document: its path, the one the last run left (in arena, when prev_found)
	 * and the token this rotation puts in (new_sha). */
	char progress_file[PATH_MAX];
	struct arena arena;
	struct token_rotation prev;
	bool prev_found, progress_failed, clock_given;
	int64_t started_ms;
	char new_sha[9];
};

/* cmd_token_fleet_progress.c */
/* Reads the progress the last run left, to carry on from (its start, what it knew of the nodes
 * that do not answer now); one that cannot be read is said and replaced. */
void token_fleet_load_progress(struct run *r);
/* Writes the progress after a step: phase, what the run waits for (NULL: the nodes still to
 * take the phase's step) and every node. A write that fails is said once and stops nothing:
 * the agents hold the rotation's real state, and the next run reads it from them. */
void token_fleet_progress(struct run *r, enum token_rotation_phase phase, const char *waiting);
/* After agents did not answer: a rotation under way (staging: the new token waits beside the
 * controller's; or the last run's progress) shows which, and what the others hold. */
void token_fleet_progress_unanswered(struct run *r, bool staging);

#endif
