/* ctlclient: one GET of a JSON document from the fleet controller's HTTP server (GET /status,
 * GET /v1/plan), for the commands that read it: `clawfleet status`, `clawfleet rollout get` and
 * `history`, `clawfleet plan --controller`. The controller is fleet-internal: no proxy (httpc's
 * default), a connect timeout of 2 s and 5 s in all, at most 8 MiB; anything but HTTP 200 with a
 * JSON object is an error that names the URL. The caller runs httpc_global_init first. */
#ifndef CLAWFLEET_CTLCLIENT_H
#define CLAWFLEET_CTLCLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

#define CTLCLIENT_DEFAULT_URL "http://127.0.0.1:8088"

struct json_object;

/* base (the controller's URL, trailing slashes ignored) and path ("/status") into *doc. */
int ctlclient_get(const char *base, const char *path, const char *user_agent,
		  struct json_object **doc, struct cf_err *err);

/* The whole of `clawfleet status` and `plan --controller`: GETs base+path and prints it, as
 * indented JSON with as_json, else through table (now: the wall clock); 0, or 1 with
 * "clawfleet PROG: why" on standard error. Runs httpc_global_init and cleanup itself. */
int ctlclient_show(const char *base, const char *path, const char *prog, bool as_json,
		   void (*table)(FILE *out, struct json_object *doc, int64_t now_ms));

#endif
