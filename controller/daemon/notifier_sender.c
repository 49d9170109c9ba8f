/* The notifier's broadcasts: a bounded outbox filled by the ingest loop and the HTTP threads,
 * drained by one sender thread that posts each body to the channel through nf_deliver, so that
 * neither ingest nor HTTP ever waits on the channel. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/compat.h"
#include "base/httpc.h"
#include "base/log.h"
#include "daemon/notifier_daemon_internal.h"

#define CONNECT_TIMEOUT_MS 2000L
#define REQUEST_TIMEOUT_MS 5000L
#define CHANNEL_REPLY_MAX (64u << 10) /* Slack answers "ok"; a webhook, a short document */

void notifier_outbox_init(struct notifier *n)
{
	pthread_mutex_init(&n->out_mu, NULL);
	compat_cond_init_monotonic(&n->out_cv);
}

bool notifier_outbox_push(struct notifier *n, char *body, size_t len, const char *what)
{
	pthread_mutex_lock(&n->out_mu);
	if (n->stopping || n->out_n == OUTBOX_MAX) {
		bool stopping = n->stopping;
		uint64_t dropped = ++n->out_dropped;
		pthread_mutex_unlock(&n->out_mu);
		log_warn("broadcast %s dropped: %s (%" PRIu64 " dropped so far)", what,
			 stopping ? "shutting down" : "the outbox is full", dropped);
		free(body);
		return false;
	}
	struct outbox_item *it = &n->outbox[(n->out_head + n->out_n++) % OUTBOX_MAX];
	it->body = body;
	it->len = len;
	snprintf(it->what, sizeof(it->what), "%s", what);
	pthread_cond_broadcast(&n->out_cv);
	pthread_mutex_unlock(&n->out_mu);
	return true;
}

void notifier_window_closed(void *ctx, const struct nf_summary *s)
{
	struct notifier *n = ctx;
	char what[WHAT_MAX], *body = NULL;
	size_t len = 0;
	struct cf_err err;

	snprintf(what, sizeof(what), "digest %s %s", nf_family_name(s->family), s->correlation_id);
	if (nf_render_summary(s, n->cfg.channel_format, n->digest_url, &body, &len, &err) < 0) {
		log_error("broadcast %s not rendered: %s", what, err.msg);
		return;
	}
	notifier_outbox_push(n, body, len, what);
}

/* The one call that leaves the fleet: Slack or a generic webhook, reached the way this host
 * reaches the outside, so it honours http_proxy/https_proxy/no_proxy (HTTPC_PROXY_FROM_ENV);
 * every fleet-internal call goes direct. The channel's answer is not kept: only its status
 * counts, also when the transfer failed after it (a reply over the cap, a stall mid-body), since
 * the channel has taken the broadcast by then and a retry would post it twice. Errors name the
 * channel as logs show it: its URL may hold a credential. */
static long channel_post(void *ctx, const char *body, size_t len, struct cf_err *err)
{
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	struct notifier *n = ctx;
	const struct httpc_request req = {
		.method = "POST",
		.url = n->cfg.channel_url,
		.url_shown = n->channel_shown,
		.headers = headers,
		.body = body,
		.body_len = len,
		.connect_timeout_ms = CONNECT_TIMEOUT_MS,
		.timeout_ms = REQUEST_TIMEOUT_MS,
		.max_reply = CHANNEL_REPLY_MAX,
		.user_agent = "clawfleet-notifier",
		.proxy = HTTPC_PROXY_FROM_ENV,
	};
	struct httpc_reply reply = {0};

	httpc_do(NULL, &req, &reply, err);
	long status = reply.status;
	httpc_reply_free(&reply);
	return status;
}

static bool channel_wait(void *ctx, int64_t ms)
{
	struct notifier *n = ctx;
	const struct timespec deadline = clock_timespec(clock_mono_ms() + ms);

	pthread_mutex_lock(&n->out_mu);
	while (!n->stopping && compat_cond_timedwait_monotonic(&n->out_cv, &n->out_mu, &deadline) == 0)
		;
	bool go_on = !n->stopping;
	pthread_mutex_unlock(&n->out_mu);
	return go_on;
}

/* xorshift64*: jitter needs spread, not secrecy. */
static uint64_t channel_random(void *ctx)
{
	struct notifier *n = ctx;
	uint64_t x = n->jitter_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	n->jitter_state = x;
	return x * UINT64_C(2685821657736338717);
}

static void *sender_main(void *arg)
{
	struct notifier *n = arg;
	const struct nf_delivery_ops ops = {channel_post, channel_wait, channel_random, n};

	n->jitter_state = (uint64_t)clock_epoch_ms() ^ ((uint64_t)getpid() << 32) ^ 1;
	for (;;) {
		pthread_mutex_lock(&n->out_mu);
		while (!n->stopping && n->out_n == 0)
			pthread_cond_wait(&n->out_cv, &n->out_mu);
		if (n->stopping) {
			pthread_mutex_unlock(&n->out_mu);
			return NULL;
		}
		struct outbox_item it = n->outbox[n->out_head];
		n->out_head = (n->out_head + 1) % OUTBOX_MAX;
		n->out_n--;
		pthread_mutex_unlock(&n->out_mu);

		struct nf_delivery res;
		nf_deliver(&ops, it.body, it.len, &res);
		if (res.delivered)
			log_info("broadcast %s delivered to %s (attempt %u)", it.what,
				 n->channel_shown, res.attempts);
		else if (res.stopped)
			log_warn("broadcast %s not delivered to %s: shutting down after %u "
				 "attempt%s", it.what, n->channel_shown, res.attempts,
				 res.attempts == 1 ? "" : "s");
		else
			log_warn("broadcast %s: giving up after %u attempt%s to %s: %s", it.what,
				 res.attempts, res.attempts == 1 ? "" : "s", n->channel_shown,
				 res.last_error);
		free(it.body);
	}
}

int notifier_sender_start(struct notifier *n, struct cf_err *err)
{
	if (pthread_create(&n->sender, NULL, sender_main, n) != 0)
		return cf_err_set(err, "cannot start the broadcast thread");
	n->sender_started = true;
	return 0;
}

void notifier_sender_stop(struct notifier *n)
{
	pthread_mutex_lock(&n->out_mu);
	n->stopping = true;
	pthread_cond_broadcast(&n->out_cv);
	pthread_mutex_unlock(&n->out_mu);
	if (n->sender_started)
		pthread_join(n->sender, NULL);
	if (n->out_n)
		log_warn("%zu broadcast%s not sent at shutdown", n->out_n,
			 n->out_n == 1 ? "" : "s");
	for (; n->out_n; n->out_n--, n->out_head = (n->out_head + 1) % OUTBOX_MAX)
		free(n->outbox[n->out_head].body);
}
