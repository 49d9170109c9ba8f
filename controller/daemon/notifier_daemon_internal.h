/* notifier_daemon_internal: private to notifier_daemon.c (the command, the ingest loop over the
 * UNIX socket and shutdown), notifier_api.c (the HTTP digest API and controller events) and
 * notifier_sender.c (the outbox and the thread that broadcasts to the channel); nothing else
 * includes it. They share one struct notifier, whose mutexes say which thread may touch what. */
#ifndef CLAWFLEET_NOTIFIER_DAEMON_INTERNAL_H
#define CLAWFLEET_NOTIFIER_DAEMON_INTERNAL_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "contracts/tokens.h"
#include "daemon/notifycfg.h"
#include "notify/notifier.h"
#include "serve/httpd.h"

#define CLIENTS_MAX 256
#define OUTBOX_MAX 64
#define SHOWN_MAX 256
#define WHAT_MAX 160	/* what a broadcast is, for logs */

struct client;

struct outbox_item {
	char *body;
	size_t len;
	char what[WHAT_MAX];
};

struct notifier {
	struct notifier_config cfg;
	char *digest_url;
	char channel_shown[SHOWN_MAX];	/* scheme://host of the channel, for logs */
	struct tokens *tokens;
	struct httpd *http;

	pthread_mutex_t mu;	/* the digest and the counters below */
	struct nf_digest *digest;
	uint64_t failures, malformed, evicted;
	size_t nclients;

	pthread_mutex_t out_mu;	/* the outbox */
	pthread_cond_t out_cv;
	struct outbox_item outbox[OUTBOX_MAX];
	size_t out_head, out_n;
	uint64_t out_dropped;
	bool stopping;
	uint64_t jitter_state;	/* sender thread only */

	pthread_t sender;
	bool sender_started;

	int listener;
	bool socket_created;
	struct client *clients[CLIENTS_MAX];
};

/* notifier_sender.c */

/* Initialises the outbox's mutex and its condition variable, which waits on the monotonic
 * clock so that a retry's pause is not stretched or cut short when the wall clock is set. */
void notifier_outbox_init(struct notifier *n);
/* Queues body (taken over) for the sender; false, and body freed, when it was dropped. */
bool notifier_outbox_push(struct notifier *n, char *body, size_t len, const char *what);
/* The digest's nf_window_closed_fn (ctx is the notifier): renders each summary and queues it.
 * Called with n->mu held, on the ingest thread. */
void notifier_window_closed(void *ctx, const struct nf_summary *s);
int notifier_sender_start(struct notifier *n, struct cf_err *err);
/* Tells the sender to stop (a delivery waiting to retry ends at once), joins it, then logs and
 * frees what the outbox still holds. */
void notifier_sender_stop(struct notifier *n);

/* notifier_api.c */

/* Serves GET /v1/webhook-digest, GET /healthz and POST /v1/events on cfg.listen and sets
 * digest_url. */
int notifier_api_start(struct notifier *n, struct cf_err *err);

#endif
