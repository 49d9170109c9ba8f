/* status_table: the controller's GET /status document (record/status.h) as the table `clawfleet
 * status` prints for people: the rollout (phase, promotion, revision, why the source cannot be
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

#endif
