/* status_table: the controller's documents for people, one renderer for every command that reads
 * them. GET /status (record/status.h) as the table `clawfleet status` and `clawfleet rollout get`
 * print: the rollout (phase, promotion, revision, why the source cannot be
 * read, how stale it is while its fetches fail, what a hold waits for and how long until maxHold
 * ends it), the conditions worth reading, the agents' token rotation while one is under way (its
 * phase, how many agents acknowledged, what it waits for, each node's error),
 * one row per node (status, tag, skills, generation, how long it has had that status, its first
 * reason) with the reason's detail below a row that has one (the doctor's first bad finding when
 * doctor is the reason), and the weights.
 *
 * Only out is written: now_ms is the reader's wall clock, against which the document's times are
 * shown as durations. A member that is absent, null or of another type prints as "-"; text from
 * the document is printed without control characters, so a message cannot move the cursor. */
#ifndef CLAWFLEET_STATUS_TABLE_H
#define CLAWFLEET_STATUS_TABLE_H
#include <stdint.h>
#include <stdio.h>

struct json_object;

void status_table_print(FILE *out, struct json_object *doc, int64_t now_ms);
/* The Promotion's metrics that failed their last window or had no data, one line each in
 * words ("metric      request-success-rate 91.2 % < 99 % (canary-gw, 5m) [1 of 2 failed
 * windows]"); nothing for the others (status_table_analysis.c). */
void status_table_metrics(FILE *out, struct json_object *doc);
/* `clawfleet rollout get`: the same table, with the next step of the plan (GET /v1/plan: plan,
 * NULL when the controller serves none) and when the rollout can end, both at the earliest. */
void status_table_rollout(FILE *out, struct json_object *doc, struct json_object *plan,
			  int64_t now_ms);
/* The rollout on one line for `rollout get --watch` on a pipe, a new line whenever it changes:
 * "Analysing, step 1 (10 %): <what it waits for>; <each node not green and its status>" (no
 * step before the first; the step or phase the message starts with is not said twice). */
void status_table_line(char *dst, size_t size, struct json_object *doc);
/* The document's history (the last rollouts) as a table, the newest first: when each finished,
 * its outcome, the tags from and to, how long it took, who asked for it (the promotion commit's
 * author) and the ticket, and the reason of a rollback. */
void status_table_history(FILE *out, struct json_object *doc);
/* GET /v1/plan for `clawfleet plan --controller`: the phase change and the ordered actions the
 * next pass would take, what the rollout then waits for, and the steps left with their earliest
 * times (or that nothing is left). */
void status_table_plan(FILE *out, struct json_object *plan, int64_t now_ms);

#endif
