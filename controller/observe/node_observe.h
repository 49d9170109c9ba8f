/* node_observe: the I/O half of the agent's merged probe. node_observe_run gathers every signal
 * the /readyz contract names, each source bounded by its own timeout and output cap, into a struct
 * observation that owns its strings and can be handed to probe_merge/probe_render_json through
 * observation_inputs. An node_observer keeps what must survive between refreshes: the gateway's
 * last pid and restart times (maxRestarts5m, 3 by default, in 5 minutes is a crash loop; restarts
 * the agent itself caused through node_observer_note_kickstart are not counted), synthetic-check
 * latency samples over the last 15 minutes (taken while the gateway answers ready), the p95
 * baseline recorded before the last kickstart and the build it was measured on (persisted in the
 * state directory so a restarted agent keeps them), and the infra tree's desired state cached by
 * HEAD commit, whose Promotion gives the thresholds the node is judged with (probe_thresholds_of;
 * the defaults without one). node_observe_run never blocks longer than the sum of its sources'
 * timeouts and is called from one thread only (the agent's probe thread); the doctor runs inside
 * it go in parallel, so a hung doctor costs one timeout. node_observer_note_kickstart may be
 * called from another thread. The program must have called httpc_global_init before
 * node_observer_new, and cfg and schemas (the compiled CRDs the infra tree is checked against,
 * shared with the agent's other thread: read-only once loaded, and POSIX lets threads run one
 * compiled pattern at once) must outlive the node_observer. */
#ifndef CLAWFLEET_NODE_OBSERVE_H
#define CLAWFLEET_NODE_OBSERVE_H
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "desired/agentcfg.h"
#include "observe/node_probe.h"

struct node_observer;
struct observation; /* opaque; owns everything observation_inputs points into */

struct schema_set;
int node_observer_new(struct node_observer **out, const struct agent_config *cfg,
		      const struct schema_set *schemas, struct cf_err *err);
void node_observer_free(struct node_observer *obs);

/* The agent is about to restart the gateway: the pid change it causes is not a crash, and the
 * current p95 becomes the baseline the new build is compared with, unless fewer than 10 samples
 * stand behind it, the build it measures is red by them (synthetic failures or p95 over the
 * node's thresholds), or the node goes back to the build the baseline was measured on (the build
 * it leaves was rolled back). The samples start afresh, so the new build is judged on its own. */
void node_observer_note_kickstart(struct node_observer *obs);

/* Gathers one observation. applied_generation is reported as observedGeneration; tag is the
 * target's tag (for naming the infra HEAD), NULL when there is no target. Returns -1 only when
 * out of memory: a source that fails is recorded in the observation with its reason. */
int node_observe_run(struct node_observer *obs, int64_t applied_generation, const char *tag,
		struct observation **out, struct cf_err *err);
/* The probe inputs for this observation, valid until observation_free; now_ms may be later than
 * the observation (a cached document ages: probe.stale). It stores now_ms in the observation, so
 * one thread at a time per observation; threads sharing one take a copy of the struct. */
const struct probe_inputs *observation_inputs(struct observation *o, int64_t now_ms);
/* Reports another generation as observedGeneration: the agent announces a new generation only
 * once the node has settled on it (see daemon/agent_daemon.c), not the moment the apply returns. */
void observation_set_generation(struct observation *o, int64_t generation);
/* Judges the lock against skills/next instead of current: the applied target is a Shadow one. */
void observation_set_judge_next(struct observation *o, bool judge_next);
void observation_free(struct observation *o);

#endif
