#include "base/failpoint.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* Every failpoint, in the order a rollout reaches them; README, "Failpoints", says where each
 * one is. */
const char *const failpoint_names[] = {
	/* the controller: act/fleet_act, daemon/controller_world, reconcilers/weights */
	"controller.intent.before",	 /* a pass that acts: its intent not yet saved */
	"controller.intent.after",	 /* the intent saved, no action taken */
	"controller.audit.append.before", /* an audit line about to be appended */
	"controller.audit.append.after", /* appended and fsynced, not yet saved as done */
	"controller.state.save.before",	 /* a changed rollout state about to be written */
	"controller.state.save.after",	 /* written and durable */
	"controller.weights.set.before", /* weights about to be set */
	"controller.weights.set.after",	 /* set, not yet read back */
	"controller.drain.before",	 /* a server about to be drained */
	"controller.drain.after",	 /* drained */
	"controller.target.send.before", /* a batch of targets about to go out */
	"controller.target.send.after",	 /* sent, the answers not yet recorded */
	"controller.route.before",	 /* a tenant about to be routed */
	"controller.route.after",	 /* routed, not yet saved as done */
	"controller.ready.before",	 /* a drained server about to take sessions again */
	"controller.ready.after",	 /* ready */
	"controller.broadcast.before",	 /* a broadcast about to be sent */
	"controller.broadcast.after",	 /* sent, not yet saved as done */
	/* the agent: daemon/agent_http, act/node_act, reconcilers, daemon/agent_daemon */
	"agent.target.accept.before",  /* a new target, target.json not yet written */
	"agent.target.accept.after",   /* target.json written, no answer sent */
	"agent.pending.write.before",  /* restart-pending.json about to be written */
	"agent.pending.write.after",   /* written: a kickstart is owed */
	"agent.pull.before",	       /* the tag fetched and the tree marked, not checked out */
	"agent.pull.after",	       /* checked out */
	"agent.install.before",	       /* the bookmark written, a package about to be installed */
	"agent.install.after",	       /* every package installed */
	"agent.skills.install.before", /* the pack's hidden directory made, nothing copied */
	"agent.skills.install.after",  /* the complete pack in place */
	"agent.link.flip.before",      /* current.prev kept, current or next about to flip */
	"agent.link.flip.after",       /* flipped and its directory fsynced */
	"agent.materialise.before",    /* a tenant tree about to be written or removed */
	"agent.materialise.after",     /* done */
	"agent.kickstart.before",      /* the gateway about to be restarted */
	"agent.kickstart.after",       /* restarted, restart-pending.json still there */
	"agent.applied.save.before",   /* applied.json about to record the pass */
	"agent.applied.save.after",    /* recorded */
};
const size_t failpoint_count = sizeof(failpoint_names) / sizeof(failpoint_names[0]);

bool failpoint_armed;
static const char *armed_name;
static long armed_nth;
static atomic_long hits;

int failpoint_arm(const char *value, struct cf_err *err)
{
	failpoint_armed = false;
	armed_name = NULL;
	atomic_store(&hits, 0);
	if (!value || !*value)
		return 0;
	size_t len = strcspn(value, ":");
	long nth = 1;
	if (value[len] == ':') {
		const char *digits = value + len + 1;
		char *end = NULL;
		errno = 0;
		nth = *digits >= '1' && *digits <= '9' ? strtol(digits, &end, 10) : 0;
		if (!end || *end || errno || nth > FAILPOINT_NTH_MAX)
			return cf_err_set(err, "\"%.200s\": want NAME or NAME:N, N from 1 to %d",
					  value, FAILPOINT_NTH_MAX);
	}
	for (size_t i = 0; i < failpoint_count; i++)
		if (strlen(failpoint_names[i]) == len &&
		    strncmp(failpoint_names[i], value, len) == 0) {
			armed_name = failpoint_names[i];
			armed_nth = nth;
			failpoint_armed = true;
			return 0;
		}
	return cf_err_set(err, "\"%.*s\" is no failpoint; `clawfleet failpoints` lists them",
			  (int)(len < 200 ? len : 200), value);
}

int failpoint_init(struct cf_err *err)
{
	if (failpoint_arm(getenv(FAILPOINT_ENV), err) < 0)
		return cf_err_prefix(err, "%s", FAILPOINT_ENV);
	return 0;
}

void failpoint_reached(const char *name)
{
	if (strcmp(name, armed_name) != 0 || atomic_fetch_add(&hits, 1) + 1 != armed_nth)
		return;
	log_error("failpoint %s: killing myself", name);
	raise(SIGKILL);
}
