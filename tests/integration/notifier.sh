#!/usr/bin/env bash
# clawfleet notifier as a real process on loopback: gateways' failure lines over the UNIX socket
# (with malformed, overlong and stuck clients beside a good one), the digest API, window summaries
# and controller events broadcast to a local receiver that fails three times and then succeeds,
# a receiver that always fails (four attempts, then a logged give-up), and SIGTERM.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
tap_tmpdir
bin=${CLAWFLEET:-$PWD/build/clawfleet}
helper=$TAP_TMP/helper.py
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$TAP_TMP"
}
trap cleanup EXIT

cat >"$helper" <<'EOF'
import http.server, json, os, socket, sys, time

def receiver(port_file, log_file, failures):
    # Answers 503 to the first `failures` POSTs (-1: to all of them), then 200; logs each.
    state = {"seen": 0}
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state["seen"] += 1
            status = 503 if failures < 0 or state["seen"] <= failures else 200
            with open(log_file, "a") as f:
                f.write(json.dumps({"status": status, "type": self.headers.get("Content-Type"),
                                    "body": json.loads(body)}) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        def log_message(self, *args):
            pass
    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()

def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    return s

def stuck(path, ready_file):
    # Connects, sends half a line and then nothing at all.
    s = connect(path)
    s.sendall(b'{"tenant":"acme","endpoint":"https://stuck.example/in",')
    open(ready_file, "w").close()
    time.sleep(120)

def send(path, lines_file):
    s = connect(path)
    with open(lines_file, "rb") as f:
        s.sendall(f.read())
    s.close()

def align(window_sec):
    # Waits (at most one window) until a window has just begun, so what follows fits in it.
    while time.time() % window_sec > 0.2:
        time.sleep(0.02)

def summary(log_file):
    # One line per POST: answered status, kind, family or verdict, correlation id.
    for line in open(log_file):
        r = json.loads(line)
        b = r["body"]
        print(r["status"], r["type"], b["kind"], b.get("family") or b.get("verdict"),
              b["correlationId"])

globals()[sys.argv[1]](*[int(a) if a.lstrip("-").isdigit() else a for a in sys.argv[2:]])
EOF

wait_for() { # wait_for SECONDS CMD...: true once CMD succeeds
	local tries=$(($1 * 10))
	shift
	while [ "$tries" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		tries=$((tries - 1))
	done
	return 1
}

# start_receiver NAME FAILURES: a local channel; sets receiver_port.
start_receiver() {
	python3 "$helper" receiver "$TAP_TMP/$1.port" "$TAP_TMP/$1.log" "$2" &
	pids+=($!)
	wait_for 10 test -s "$TAP_TMP/$1.port" || return 1
	receiver_port=$(cat "$TAP_TMP/$1.port")
	: >>"$TAP_TMP/$1.log"
}

# start_notifier NAME CONFIG: sets notifier_pid and api (http://127.0.0.1:PORT).
start_notifier() {
	"$bin" notifier --config "$2" 2>"$TAP_TMP/$1.err" &
	notifier_pid=$!
	pids+=("$notifier_pid")
	wait_for 10 grep -qs 'digest API listening on' "$TAP_TMP/$1.err" || return 1
	api=$(sed -n 's/.*digest API listening on \(http:[^ ]*\).*/\1/p' "$TAP_TMP/$1.err")
	wait_for 10 grep -qs 'collecting failures on' "$TAP_TMP/$1.err"
}

digest_field() { # digest_field PYTHON-EXPRESSION-OVER-d
	curl -s --max-time 5 "$api/v1/webhook-digest" |
		python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"
}

digest_total_is() { [ "$(digest_field 'd["total"]')" = "$1" ]; }

post_event() { # post_event BODY [CURL-ARGS...]
	local body=$1
	shift
	curl -s --max-time 5 -X POST -H 'Content-Type: application/json' --data "$body" "$@" \
		"$api/v1/events"
}

lines_in() { [ "$(wc -l <"$1")" -ge "$2" ]; }

# --- a notifier with a 3 s window and a channel that fails three times, then succeeds ---
start_receiver flaky 3 || tap_fail "the flaky receiver starts"
sock=$TAP_TMP/notifier.sock
cat >"$TAP_TMP/a.yaml" <<EOF
socket: $sock
listen: 127.0.0.1:0
window: 3s
channel: {url: "http://127.0.0.1:$receiver_port/hook", format: generic}
digestUrl: https://notifier.fleet.example/v1/webhook-digest
EOF
if start_notifier a "$TAP_TMP/a.yaml"; then tap_ok "the notifier starts and serves the digest API"
else tap_fail "the notifier starts and serves the digest API" "$(cat "$TAP_TMP/a.err")"; fi
tap_eq "the socket is a socket, group-writable only" "srw-rw----" "$(stat -c %A "$sock")"

python3 "$helper" stuck "$sock" "$TAP_TMP/stuck.ready" &
pids+=($!)
wait_for 10 test -e "$TAP_TMP/stuck.ready"

partner='"endpoint":"https://hooks.partner.example/in'
other='"endpoint":"https://other.example/hook"'
{
	printf '{"tenant":"acme",%s?sig=abc","status":502,"eventId":"ev-1"}\n' "$partner"
	printf '{"tenant":"acme",%s","status":503,"eventId":"ev-2"}\n' "$partner"
	printf 'this is not json\n'
	printf '{"tenant":"beta",%s","status":500}\r\n' "$partner"
	printf '{"tenant":"acme"}\n'
	printf '%*s\n' 20000 '' | tr ' ' x
	printf '\n'
	printf '{"tenant":"beta",%s,"status":"timeout","eventId":"ev-3"}\n' "$other"
	# The last line has no newline: the client closes after it.
	printf '{"tenant":"beta",%s,"status":"timeout","time":"2026-11-21T03:40:00Z"}' "$other"
} >"$TAP_TMP/lines"
python3 "$helper" align 3
python3 "$helper" send "$sock" "$TAP_TMP/lines"
wait_for 2 digest_total_is 5
out=$(digest_field '"%s %s %d | " % (d["window"], type(d["age_sec"]).__name__, d["total"]) +
	" | ".join("%s %s %d %s" % (r["endpoint"], r["family"], r["count"], r["sampleEventId"])
		for r in d["top"])')
tap_eq "the digest counts by endpoint and family while a stuck client stays connected" \
	"3s int 5 | https://hooks.partner.example/in 5xx 3 ev-2 | \
https://other.example/hook timeout 2 ev-3" "$out"
health=$(curl -s --max-time 5 "$api/healthz")
tap_contains "malformed and overlong lines are counted and dropped" '"malformed":3' "$health"
tap_contains "the stuck client is still connected, not blocking" '"clients":1' "$health"

wait_for 30 lines_in "$TAP_TMP/flaky.log" 5
out=$(python3 "$helper" summary "$TAP_TMP/flaky.log")
ids=$(echo "$out" | awk '{print $5}' | sort -u | wc -l)
tap_eq "one summary per family: 5xx after three refusals, then timeout at once" \
	"503 application/json digest 5xx
503 application/json digest 5xx
503 application/json digest 5xx
200 application/json digest 5xx
200 application/json digest timeout" "$(echo "$out" | cut -d' ' -f1-4)"
tap_eq "each summary keeps its correlation id through the retries" 2 "$ids"
tap_contains "the notifier logs the delivery after retries" "(attempt 4)" "$(cat "$TAP_TMP/a.err")"
body=$(python3 -c 'import json, sys
b = json.loads(open(sys.argv[1]).readlines()[3])["body"]
print(b["text"]); print(b["probeKey"], b["eventId"], b["fluxUid"], b["digestUrl"])
print(" ".join("%s:%d" % (r["endpoint"], r["count"]) for r in b["rows"]))' "$TAP_TMP/flaky.log")
tap_contains "the summary says what failed" "3 webhook delivery failures (5xx) at 1 endpoint" \
	"$body"
tap_contains "and carries the probe key, a sample event and the digest link" \
	"webhook.digest ev-2 None https://notifier.fleet.example/v1/webhook-digest" "$body"
tap_contains "and never the endpoint's query" "https://hooks.partner.example/in:3" "$body"

python3 "$helper" align 3
event='{"kind":"verdict","verdict":"rollback","fluxUid":"7c1d9e2a-uid","eventId":"ev-9",'
event+='"probeKey":"canary.latency","message":"p95 6x baseline"}'
first=$(post_event "$event")
again=$(post_event "$event")
tap_contains "a red verdict is accepted for broadcast" '"broadcast":true' "$first"
tap_contains "the same verdict again in the window is not" \
	'"reason":"already broadcast in this window"' "$again"
status=$(post_event '{"kind":"verdict"}' -o /dev/null -w '%{http_code}')
tap_eq "an event without its verdict is a 400" 400 "$status"
wait_for 30 lines_in "$TAP_TMP/flaky.log" 6
tap_eq "the verdict reaches the channel once" "200 application/json verdict rollback" \
	"$(python3 "$helper" summary "$TAP_TMP/flaky.log" | sed -n '6,$p' | cut -d' ' -f1-4)"

kill -TERM "$notifier_pid"
wait "$notifier_pid"
tap_eq "SIGTERM stops the notifier with status 0" 0 "$?"
tap_check "and the socket file is gone" test ! -e "$sock"

# --- a channel that always fails: four attempts, then a logged give-up ---
start_receiver broken -1 || tap_fail "the broken receiver starts"
cat >"$TAP_TMP/b.yaml" <<EOF
socket: $sock
listen: 127.0.0.1:0
channel: {url: "http://127.0.0.1:$receiver_port/services/T0/B0/s3cret", format: slack}
tokens: {dir: $TAP_TMP/tokens}
EOF
mkdir -p "$TAP_TMP/tokens"
(umask 077 && printf 'tok-current-0123456789\n' >"$TAP_TMP/tokens/token.current")
start_notifier b "$TAP_TMP/b.yaml" ||
	tap_fail "the second notifier starts" "$(cat "$TAP_TMP/b.err")"
reply='{"kind":"reply","status":401,"message":"unauthorized delivery"}'
status=$(post_event "$reply" -o /dev/null -w '%{http_code}' \
	-H 'Authorization: Bearer tok-current-012345678')
tap_eq "with tokens configured, an event with a wrong bearer is a 401" 401 "$status"
status=$(post_event "$reply" -o /dev/null -w '%{http_code}' \
	-H 'Authorization: Bearer tok-current-0123456789')
tap_eq "and one with the current token is taken" 202 "$status"
wait_for 30 grep -q 'giving up after 4 attempts' "$TAP_TMP/b.err"
tap_contains "the give-up is logged after four attempts" \
	"giving up after 4 attempts to http://127.0.0.1:$receiver_port: HTTP 503" \
	"$(cat "$TAP_TMP/b.err")"
tap_eq "the channel saw exactly four attempts" 4 "$(wc -l <"$TAP_TMP/broken.log")"
tap_eq "each a Slack body" "text blocks" \
	"$(python3 -c 'import json, sys
print(" ".join(json.loads(open(sys.argv[1]).readline())["body"]))' "$TAP_TMP/broken.log")"
if grep -q s3cret "$TAP_TMP/b.err"; then tap_fail "the channel's secret path is never logged"
else tap_ok "the channel's secret path is never logged"; fi

kill -TERM "$notifier_pid"
wait "$notifier_pid"
tap_eq "the second notifier stops with status 0" 0 "$?"
tap_check "and removes its socket" test ! -e "$sock"

out=$("$bin" notifier --config "$TAP_TMP/missing.yaml" 2>&1; echo "exit $?")
tap_contains "a missing config is named" "$TAP_TMP/missing.yaml" "$out"
tap_contains "and the notifier does not start" "exit 1" "$out"
out=$("$bin" notifier 2>&1; echo "exit $?")
tap_contains "no config is a usage error" "usage: clawfleet notifier --config FILE" "$out"
tap_contains "with exit status 2" "exit 2" "$out"
tap_done
