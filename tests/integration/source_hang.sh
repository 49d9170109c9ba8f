#!/usr/bin/env bash
# A Git remote that hangs never holds up the fleet, on a simulated fleet (hack/fleet.sh): the
# controller mirrors the repository over smart HTTP (git http-backend behind a small Python
# server) and, once that remote starts accepting connections and never answering, passes keep
# their one-second cadence, a red canary rolls back within two intervals, /status shows the
# source going stale with the fetch's error, `clawfleet status` says so in one line, and the
# first fetch after the remote answers again makes the source fresh.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up source-hang 1s
doctor() { # NODE green|red
	local file=$fleet/macs/$1/sim/doctor
	if [ "$2" = green ]; then rm -f "$file"; else echo "{\"verdict\":\"$2\"}" >"$file"; fi
}
now_ms() { date +%s%3N; }

# The remote: git http-backend over HTTP; while $hang exists, requests are read and never
# answered.
hang=$fleet/remote-hangs
git_port=$(fleet_free_port)
python3 -c '
import http.server, os, subprocess, sys, time
root, hang = sys.argv[2], sys.argv[3]
class Git(http.server.BaseHTTPRequestHandler):
    def cgi(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if os.path.exists(hang):
            time.sleep(3600)
            return
        path, _, query = self.path.partition("?")
        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command, REMOTE_ADDR="127.0.0.1",
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)),
                   GIT_PROTOCOL=self.headers.get("Git-Protocol", ""))
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, rest = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.split(b"\r\n"):
            k, _, v = line.decode().partition(":")
            if k.lower() == "status":
                status = int(v.split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)
    do_GET = do_POST = cgi
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Git).serve_forever()' \
	"$git_port" "$fleet" "$hang" >"$fleet/logs/remote.log" 2>&1 &
disown
fleet_track "$fleet" $!
fleet_wait 10 curl -sf --max-time 2 -o /dev/null \
	"http://127.0.0.1:$git_port/repo/info/refs?service=git-upload-pack" ||
	tap_fail "the Git remote answers" "$(cat "$fleet/logs/remote.log")"
sed -i "s|^source: .*|source: {url: \"http://127.0.0.1:$git_port/repo\", ref: main, interval: 1s, timeout: 10s}|" \
	"$FLEET_CONFIG"

fleet_controller "$fleet"
within "bring-up from the HTTP remote: Succeeded on v2026.7.1, the source fresh" 60 \
	'd["phase"] == "Succeeded" and d["source"]["fetched"] and d["source"]["consecutiveFailures"] == 0 and d["source"]["staleSeconds"] <= 2'
fleet_promote "$fleet" v2026.8.0
within "v2026.8.0 reaches its first step" 30 'd["phase"] == "Analysing" and d["percent"] == 10'

# --- the remote hangs
touch "$hang"
within "a fetch hangs on the remote" 10 'd["source"]["fetching"]'
sleep 1
tap_check "no fetch has finished yet: the hang is under way" status \
	'd["source"]["consecutiveFailures"] == 0 and d["source"]["fetching"]'
red_at=$(now_ms)
doctor canary-gw red
within "a red canary while the fetch hangs: the rollback starts" 10 \
	'd["phase"] in ("RollingBack", "RolledBack")'
took=$(($(now_ms) - red_at))
echo "# the rollback started ${took} ms after the canary turned red, the fetch hanging"
tap_check "within two intervals and the probe's refresh, not the fetch's 10 s timeout (${took} ms)" \
	test "$took" -lt 5000
within "and completes" 15 'd["phase"] == "RolledBack"'
within "the hung fetch is killed at its deadline: /status says why" 15 \
	'd["source"]["consecutiveFailures"] >= 1 and "timed out after 10s" in d["source"]["error"] and d["source"]["lastFetchOk"] is False and "timed out after 10s" in d["sourceError"]'
stale1=$(status | python3 -c 'import json, sys; print(json.load(sys.stdin)["source"]["staleSeconds"])')
sleep 2
stale2=$(status | python3 -c 'import json, sys; print(json.load(sys.stdin)["source"]["staleSeconds"])')
tap_check "staleSeconds grows while the remote hangs ($stale1 s, then $stale2 s)" \
	test "$stale2" -gt "$stale1" -a "$stale1" -ge 5
tap_check "passes kept their cadence all along: no gap over 2 s in the last 10 s" python3 -c '
import datetime, json, sys
d = json.loads(sys.argv[1])
ts = [datetime.datetime.strptime(p["at"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() for p in d["passes"]]
recent = [t for t in ts if t >= ts[-1] - 10]
gaps = [b - a for a, b in zip(recent, recent[1:])]
assert len(recent) >= 8 and max(gaps) <= 2.0, (len(recent), max(gaps))' "$(status)"
out=$("$FLEET_BIN" status --url "$FLEET_URL")
tap_contains "clawfleet status says the source is stale in one line" "fetch       stale for " "$out"
metric=$(curl -sf --max-time 2 "$FLEET_URL/metrics" | grep '^clawfleet_source_stale_seconds ')
tap_check "/metrics: clawfleet_source_stale_seconds ($metric)" python3 -c '
import sys; assert float(sys.argv[1].split()[1]) >= 5' "$metric"

# --- the remote answers again
rm -f "$hang"
doctor canary-gw green
within "the next fetch succeeds: the source is fresh and the error gone" 20 \
	'd["source"]["consecutiveFailures"] == 0 and d["source"]["error"] is None and d["source"]["staleSeconds"] <= 2 and d["sourceError"] is None'

kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_eq "SIGTERM while fetching or not: exit 0" 0 $?
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -40
tap_done
