#!/usr/bin/env bash
# The Flux receiver in the real controller, on a simulated fleet: real notification-controller
# bodies (tests/fixtures/flux) with a bearer token from a rotated token directory and with the
# generic-hmac golden vector; every auth failure answers 401 with one body; x-flux-event is
# required; 413 comes before authentication; a redelivered event gets the same bytes and no new
# pass; the envelope carries the verdict of the fleet as it is (green canary: promote); a
# canaryHeader is not echoed (it routes nothing); with webhook.accept (applied by SIGHUP) an
# object no entry names is answered 202 "ignored" and logged, a named one as before.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
BUILD=${BUILD:-build}
fixtures=tests/fixtures/flux
fleet=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-ctl-flux.XXXXXX")
cleanup() {
	fleet_down "$fleet"
	rm -rf "$fleet"
}
trap cleanup EXIT

if ! fleet_up "$fleet" 1s; then
	tap_fail "the simulated fleet comes up" "$(tail -n 20 "$fleet"/logs/*.log)"
	
gitrepo_event() { # TIMESTAMP [METADATA]
	printf '{"involvedObject":{"kind":"GitRepository","namespace":"flux-system","name":"openclaw-fleet","uid":"u-1"},"severity":"info","reason":"NewArtifact","message":"stored artifact","metadata":{%s},"timestamp":"%s"}' "${2:-}" "$1"
}
code=$(post "$fleet/c" -H "Authorization: Bearer $key" -H 'x-flux-event: true' -H 'X-Canary-Header: X-Tenant: acme' \
	--data-binary "$(gitrepo_event 2026-11-21T04:00:01Z '"canaryHeader":"X-Tenant: acme"')")
tap_eq "an event with a canaryHeader is accepted" 202 "$code"
if grep -q 'anaryHeader\|acme' "$fleet/c"; then tap_fail "and the header is not echoed: it routes nothing" "$(cat "$fleet/c")"; else tap_ok "and the header is not echoed: it routes nothing"; fi

fleet_sed "$FLEET_CONFIG" "s|^webhook: .*|webhook: {path: /hook/flux, tokens: {dir: $tokens}, accept: [{kind: GitRepository, namespace: flux-system, name: openclaw-fleet}]}|"
kill -HUP "$FLEET_CONTROLLER_PID"
ignored() {
	[ "$(post "$fleet/i" -H "Authorization: Bearer $key" -H 'x-flux-event: true' --data-binary "@$body")" = 202 ] &&
		grep -q '"verdict":"ignored"' "$fleet/i"
}
tap_check "webhook.accept by SIGHUP: another object is answered 202 ignored" fleet_wait 10 ignored
tap_contains "with the reason" "no webhook.accept entry names this object" "$(cat "$fleet/i")"
tap_contains "and logged" "Flux Kustomization apps/webapp: ignored" "$(cat "$fleet/logs/controller.log")"
code=$(post "$fleet/a" -H "Authorization: Bearer $key" -H 'x-flux-event: true' --data-binary "$(gitrepo_event 2026-11-21T04:00:02Z)")
tap_eq "the object accept names is answered as before" "202 promote" "$code $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$fleet/a" 2>&1)"
tap_done
	exit
fi
. "$fleet/fleet.env"

# The golden vector's key is the current token; a second, staged token is accepted beside it.
tokens="$fleet/flux-tokens"
key=$(sed -n 's/.*HMAC key \([0-9a-f]*\).*/\1/p' "$fixtures/nc-event-hmac-golden-signature.txt.source.txt" | head -1)
printf '%s' "$key" | "$FLEET_BIN" token stage --dir "$tokens" --actor test --ticket T-1 --stdin >/dev/null
"$FLEET_BIN" token promote --dir "$tokens" --actor test --ticket T-1 >/dev/null
"$FLEET_BIN" token stage --dir "$tokens" --actor test --ticket T-2 >/dev/null
next=$(cat "$tokens/token.next")
printf 'webhook: {path: /hook/flux, tokens: {dir: %s}}\n' "$tokens" >>"$FLEET_CONFIG"
fleet_controller "$fleet"
if fleet_wait 30 fleet_status "$FLEET_URL" "d['phase'] == 'Succeeded'"; then
	tap_ok "the controller brings the fleet up before events arrive"
else
	tap_fail "the controller brings the fleet up" "$(tail -n 20 "$fleet/logs/controller.log")"
fi

hook="$FLEET_URL/hook/flux"
body="$fixtures/nc-event-generic-kustomization-error.json"
# post OUT_FILE CURL_ARGS...: prints the status code, the body goes to OUT_FILE.
post() {
	local out=$1
	shift
	curl -s --max-time 10 -o "$out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' "$@" "$hook"
}

code=$(post "$fleet/r1" -H "Authorization: Bearer $key" -H 'x-flux-event: true' --data-binary "@$body")
tap_eq "a real Flux event with the current token is accepted" 202 "$code"
verdict=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["verdict"], len(d["eventId"]), d["phase"], sorted(d["probes"]))' "$fleet/r1" 2>&1)
tap_contains "the envelope carries the verdict, the eventId and the probes" "promote 64 Succeeded" "$verdict"
tap_contains "and the gateway, latency and image probes" "gateway.health" "$verdict"

code=$(post "$fleet/r2" -H "Authorization: Bearer $key" -H 'x-flux-event: true' --data-binary "@$body")
tap_eq "a redelivery is accepted again" 202 "$code"
if cmp -s "$fleet/r1" "$fleet/r2"; then tap_ok "with the same bytes"; else tap_fail "with the same bytes" "$(diff "$fleet/r1" "$fleet/r2")"; fi

code=$(post "$fleet/r3" -H "Authorization: Bearer $next" -H 'x-flux-event: true' --data-binary '{"involvedObject":{"kind":"GitRepository","namespace":"flux-system","name":"openclaw-fleet","uid":"u-1"},"severity":"info","reason":"NewArtifact","message":"stored artifact","metadata":{"revision":"main@sha1:0123"},"timestamp":"2026-11-21T04:00:00Z"}')
tap_eq "the staged next token is accepted while it exists" 202 "$code"

golden="$fixtures/nc-event-hmac-golden-body.json"
sig=$(head -1 "$fixtures/nc-event-hmac-golden-signature.txt")
code=$(post "$fleet/r4" -H "X-Signature: $sig" -H 'x-flux-event: true' --data-binary "@$golden")
tap_eq "the generic-hmac golden vector is accepted" 202 "$code"

unauthorized=
for variant in "" "Bearer " "Bearer ${key:0:20}" "Bearer wrong-token" "Basic $key"; do
	code=$(post "$fleet/u" ${variant:+-H "Authorization: $variant"} -H 'x-flux-event: true' --data-binary "@$body")
	unauthorized="$unauthorized $code:$(cat "$fleet/u")"
done
tap_eq "every auth failure answers 401 with one body" \
	"$(printf ' 401:{"error":"unauthorized"}%.0s' 1 2 3 4 5)" "$unauthorized"
code=$(post "$fleet/s" -H "X-Signature: sha256=$(printf 'other body' | openssl dgst -sha256 -hmac "$key" | sed 's/.* //')" -H 'x-flux-event: true' --data-binary "@$golden")
tap_eq "the signature of another body is refused" 401 "$code"

code=$(post "$fleet/h" -H "Authorization: Bearer $key" --data-binary "@$body")
tap_eq "x-flux-event is required" 400 "$code"
tap_contains "and the reply names it" "x-flux-event" "$(cat "$fleet/h")"
code=$(post "$fleet/m" -H "Authorization: Bearer $key" -H 'x-flux-event: true' --data-binary '{"involvedObject": ')
tap_eq "malformed JSON answers 400" 400 "$code"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$fleet/big"
code=$(post "$fleet/b" -H 'x-flux-event: true' --data-binary "@$fleet/big")
tap_eq "a body over 1 MiB answers 413 before any token is asked for" 413 "$code"
tap_contains "the controller logs each event without its token" "flux event" "$(cat "$fleet/logs/controller.log")"
if grep -q "$key" "$fleet/logs/controller.log"; then tap_fail "no token in the log"; else tap_ok "no token in the log"; fi

gitrepo_event() { # TIMESTAMP [METADATA]
	printf '{"involvedObject":{"kind":"GitRepository","namespace":"flux-system","name":"openclaw-fleet","uid":"u-1"},"severity":"info","reason":"NewArtifact","message":"stored artifact","metadata":{%s},"timestamp":"%s"}' "${2:-}" "$1"
}
code=$(post "$fleet/c" -H "Authorization: Bearer $key" -H 'x-flux-event: true' -H 'X-Canary-Header: X-Tenant: acme' \
	--data-binary "$(gitrepo_event 2026-11-21T04:00:01Z '"canaryHeader":"X-Tenant: acme"')")
tap_eq "an event with a canaryHeader is accepted" 202 "$code"
if grep -q 'anaryHeader\|acme' "$fleet/c"; then tap_fail "and the header is not echoed: it routes nothing" "$(cat "$fleet/c")"; else tap_ok "and the header is not echoed: it routes nothing"; fi

fleet_sed "$FLEET_CONFIG" "s|^webhook: .*|webhook: {path: /hook/flux, tokens: {dir: $tokens}, accept: [{kind: GitRepository, namespace: flux-system, name: openclaw-fleet}]}|"
kill -HUP "$FLEET_CONTROLLER_PID"
ignored() {
	[ "$(post "$fleet/i" -H "Authorization: Bearer $key" -H 'x-flux-event: true' --data-binary "@$body")" = 202 ] &&
		grep -q '"verdict":"ignored"' "$fleet/i"
}
tap_check "webhook.accept by SIGHUP: another object is answered 202 ignored" fleet_wait 10 ignored
tap_contains "with the reason" "no webhook.accept entry names this object" "$(cat "$fleet/i")"
tap_contains "and logged" "Flux Kustomization apps/webapp: ignored" "$(cat "$fleet/logs/controller.log")"
code=$(post "$fleet/a" -H "Authorization: Bearer $key" -H 'x-flux-event: true' --data-binary "$(gitrepo_event 2026-11-21T04:00:02Z)")
tap_eq "the object accept names is answered as before" "202 promote" "$code $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$fleet/a" 2>&1)"
tap_done
