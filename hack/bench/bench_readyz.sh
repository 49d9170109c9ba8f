#!/usr/bin/env bash
# The agent's merged readiness probe: `clawfleet agent` on a simulated Mac (hack/sim/mkmac.sh)
# that has applied a target from a real Git repository, with the notifier's digest and a queue
# snapshot beside it, answering GET /readyz from its cache. Against it, the baseline the runbooks
# imply: hack/bench/baseline_probe.sh, their merged probe script run once per answer (bash,
# readlink, the simulated `openclaw doctor --json`, two curls, python3) on the same Mac.
# Measures (1) single-request latency: REQUESTS sequential GETs over one keep-alive connection
# against RUNS runs of the baseline; (2) throughput: CONNECTIONS keep-alive connections for
# LOAD_SECONDS, the load generator on the same two cores as the agent; (3) the agent's RSS after
# that load. Figures and aims are printed; a missed aim does not fail the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
RUNS=${RUNS:-20}
REQUESTS=${REQUESTS:-200}
CONNECTIONS=${CONNECTIONS:-32}
LOAD_SECONDS=${LOAD_SECONDS:-5}
bin=$PWD/$BUILD/clawfleet
sim=$PWD/$BUILD/sim
loadgen=$PWD/$BUILD/bench/loadgen
work=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-bench.XXXXXX")
root=$work/mac
config=$root/etc/clawfleet/agent.yaml
agent_pid=
sampler=
children=()
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

# Every process of the simulated Mac (the agent, launchd supervisors, gateways) carries
# OPENCLAW_SIM_ROOT=$root from its start; the supervisors and gateways are not our children.
ours() { env -u OPENCLAW_SIM_ROOT grep -lsxz "OPENCLAW_SIM_ROOT=$root" /proc/[0-9]*/environ | cut -d/ -f3; }
# stop PID: SIGTERM to a child of ours, SIGKILL if it is still there 10 s later.
stop() {
	local _
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	local p
	for p in ${sampler:+"$sampler"} ${agent_pid:+"$agent_pid"} ${children[@]+"${children[@]}"}; do
		stop "$p"
	done
	for p in $(ours); do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

free_port() {
	hack/free_port.py
}
# until_ok SECONDS CMD...: runs CMD every 0.2 s until it succeeds or the time is up.
until_ok() {
	local _
	for _ in $(seq $(($1 * 5))); do
		"${@:2}" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
die() {
	echo "bench_readyz: $*" >&2
	[ -s "$work/agent.log" ] && sed 's/^/  agent log: /' "$work/agent.log" | tail -20 >&2
	exit 1
}
# readyz_is PYTHON-EXPR: fetches /readyz into $work/readyz; true when EXPR holds for it (d).
readyz_is() {
	curl -s --max-time 2 "$base/readyz" >"$work/readyz"
	python3 -c "import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$work/readyz"
}
# readyz_summary FILE...: the distinct statuses of these /readyz answers, each with its reason
# codes ("green", "red (tcp.failed)"); answers that are not a probe document do not count.
readyz_summary() {
	python3 -c 'import json, sys
seen = []
for path in sys.argv[1:]:
    try:
        d = json.load(open(path))
    except ValueError:
        continue
    if not isinstance(d, dict) or "status" not in d:
        continue
    codes = [r.get("code", "?") for r in d.get("reasons") or []]
    s = d["status"] + (" (" + ", ".join(codes) + ")" if codes else "")
    if s not in seen:
        seen.append(s)
print("; ".join(seen) or "no answer")' "$@"
}
# stamp: now_us = the wall clock in microseconds, without a fork where bash 5 can tell.
stamp() {
	if [ -n "${EPOCHREALTIME:-}" ]; then now_us=${EPOCHREALTIME/./}; else now_us=$(($(date +%s%N) / 1000)); fi
}
percentile() { sort -n | awk -v p="$1" '{v[NR] = $1} END {i = int(NR * p + 0.999999); print v[i < 1 ? 1 : i]}'; }
# field OUTPUT KEY: the value of KEY in loadgen's key=value line.
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
status_kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$agent_pid/status"; }
# The agent and the load generator share two cores, as on a two-core Mac.
cores=$(nproc)
pin=()
if [ "$cores" -gt 2 ] && command -v taskset >/dev/null; then
	pin=(taskset -c "$(python3 -c 'import os; print(",".join(map(str, sorted(os.sched_getaffinity(0))[:2])))')")
	cores=2
fi

# --- the GitOps repository: the example repository, skills pack 1.4.2, tag v2026.7.1
up=$work/up
git -c init.defaultBranch=main init -q "$up"
cp -R manifests/example-repo/. "$up/"
mkdir -p "$up/skills/1.4.2/summarise"
echo "# summarise 1.4.2" >"$up/skills/1.4.2/summarise/SKILL.md"
git -C "$up" add -A
git -C "$up" commit -qm v2026.7.1
git -C "$up" tag -a -m v2026.7.1 v2026.7.1
commit=$(git -C "$up" rev-parse HEAD)

# --- the queue snapshot (a stand-in: nothing in clawfleet serves one) and the notifier's digest
cat >"$work/queue.py" <<'EOF'
import http.server, json, os, sys
body = json.dumps({"depth": 3, "limit": 1000}).encode()
class Snapshot(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/v1/queue-snapshot":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Snapshot)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
EOF
python3 "$work/queue.py" "$work/queue.port" &
children+=($!)
until_ok 10 test -s "$work/queue.port" || die "the queue snapshot server did not start"
queue_url=http://127.0.0.1:$(cat "$work/queue.port")/v1/queue-snapshot

cat >"$work/notifier.yaml" <<EOF
socket: $work/notifier.sock
listen: 127.0.0.1:0
window: 5m
channel: {url: "http://127.0.0.1:9/unused"}
EOF
"$bin" notifier --config "$work/notifier.yaml" 2>"$work/notifier.log" &
children+=($!)
until_ok 10 grep -qs 'digest API listening on' "$work/notifier.log" || die "the notifier did not start"
digest_url=$(sed -n 's/.*digest API listening on \(http:[^ ]*\).*/\1/p' "$work/notifier.log")/v1/webhook-digest

# --- the simulated Mac, its running gateway, and its agent
gw_port=$(free_port)
port=$(free_port)
hack/sim/mkmac.sh "$root" --sim "$sim" --port "$gw_port" --node canary-gw \
	--commit 2026.7.1=3f9c2ab --remote "$up" --listen "127.0.0.1:$port" --refresh 1s
printf 'queue: "%s"\ndigest: "%s"\n' "$queue_url" "$digest_url" >>"$config"
token=$(cat "$root/etc/clawfleet/token.current")
base=http://127.0.0.1:$port
OPENCLAW_SIM_ROOT=$root "$root/bin/launchctl" kickstart gui/501/ai.openclaw.gateway >/dev/null
OPENCLAW_SIM_ROOT=$root OPENCLAW_CONFIG_PATH=$root/.openclaw/openclaw.json ${pin[@]+"${pin[@]}"} "$bin" agent --config "$config" >"$work/agent.log" 2>&1 &
agent_pid=$!
until_ok 10 curl -sf --max-time 1 "$base/healthz" || die "the agent did not start"

# A few seconds of probes against the running gateway first: its latency baseline.
until_ok 10 readyz_is 'd["tcp"]["ok"] and d["service"]["running"]' || die "the agent does not see the gateway"
sleep 2
target=$(printf '{"generation":1,"tag":"v2026.7.1","commit":"%s","skills":{"semver":"1.4.2","link":"current"},"tenants":{"acme":"canary","globex":"stable"}}' "$commit")
curl -sf --max-time 10 -X PUT -H "Authorization: Bearer $token" --data-binary "$target" \
	"$base/v1/target" >/dev/null || die "PUT /v1/target was refused"
if ! until_ok 60 readyz_is 'd["status"] == "green" and d["observedGeneration"] == 1'; then
	echo "bench_readyz: /readyz is not green after 60 s; measuring it as it is:" >&2
	sed 's/^/  /' "$work/readyz" >&2
	echo >&2
fi
agent_status=$(readyz_summary "$work/readyz")

# --- (1) latency: the baseline script, RUNS runs, each one answer
probe_env=(ROOT="$root" OPENCLAW_SIM_ROOT="$root" QUEUE_URL="$queue_url" DIGEST_URL="$digest_url"
	PROBE_DIR="$work")
env "${probe_env[@]}" bash hack/bench/baseline_probe.sh >"$work/baseline.out" ||
	die "the baseline probe failed"
base_status=$(sed -n '$p' "$work/baseline.out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
base_us=()
for _ in $(seq 1 "$RUNS"); do
	stamp
	t0=$now_us
	env "${probe_env[@]}" bash hack/bench/baseline_probe.sh >/dev/null
	stamp
	t1=$now_us
	base_us+=($((t1 - t0)))
done
base_p50=$(printf '%s\n' "${base_us[@]}" | percentile 0.50)
base_p99=$(printf '%s\n' "${base_us[@]}" | percentile 0.99)

# --- (1) latency: the agent, REQUESTS single requests in sequence over one connection
idle_kib=$(status_kib VmRSS)
seq_out=$(${pin[@]+"${pin[@]}"} "$loadgen" -p "$port" -c 1 -n "$REQUESTS") || die "loadgen: $seq_out"
# --- (2) throughput: CONNECTIONS connections, two load generator threads, LOAD_SECONDS; what
# /readyz says meanwhile is sampled every half second
mkdir "$work/during"
(for i in $(seq $((LOAD_SECONDS * 2))); do
	sleep 0.5
	curl -s --max-time 2 -o "$work/during/$i" "$base/readyz" || true
done) &
sampler=$!
load_out=$(${pin[@]+"${pin[@]}"} "$loadgen" -p "$port" -c "$CONNECTIONS" -t 2 -d "$LOAD_SECONDS") ||
	echo "bench_readyz: some requests failed under load: $load_out" >&2
wait "$sampler" || true
sampler=
during_status=$(readyz_summary "$work"/during/*)
# --- (3) memory after the load
rss_kib=$(ps -o rss= -p "$agent_pid" | tr -d ' ')
hwm_kib=$(status_kib VmHWM)
anon_kib=$(status_kib RssAnon)
file_kib=$(status_kib RssFile)
readyz_is True || true
after_status=$(readyz_summary "$work/readyz")

echo "== merged readiness probe: the agent's GET /readyz (status $agent_status) vs the runbooks' script (status $base_status)"
awk -v ap50="$(field "$seq_out" p50_us)" -v ap99="$(field "$seq_out" p99_us)" \
	-v bp50="$base_p50" -v bp99="$base_p99" -v n="$REQUESTS" -v runs="$RUNS" \
	-v rps="$(field "$load_out" rps)" -v lp50="$(field "$load_out" p50_us)" \
	-v lp99="$(field "$load_out" p99_us)" -v lerr="$(field "$load_out" errors)" \
	-v lnon="$(field "$load_out" non200)" -v conns="$CONNECTIONS" -v secs="$LOAD_SECONDS" \
	-v cores="$cores" -v during="$during_status" -v after="$after_status" -v rss="$rss_kib" -v hwm="$hwm_kib" \
	-v idle="$idle_kib" -v anon="$anon_kib" -v file="$file_kib" 'BEGIN {
	met = "met"; missed = "MISSED"
	ratio = bp50 / (ap50 > 0 ? ap50 : 1)
	printf "  agent /readyz, %d sequential requests on one connection: p50 %7.3f ms, p99 %7.3f ms\n", n, ap50 / 1000, ap99 / 1000
	printf "  baseline: baseline_probe.sh, %d runs:                     p50 %7.1f ms, p99 %7.1f ms\n", runs, bp50 / 1000, bp99 / 1000
	printf "  ratio of p50s baseline / agent                 %8.0fx   (aim: >= 300x)      %s\n", ratio, (ratio >= 300 ? met : missed)
	printf "  throughput, %d keep-alive connections, %d s     %8.0f req/s (aim: > 10,000/s)  %s\n", conns, secs, rps, (rps > 10000 ? met : missed)
	printf "    on %d cores shared by the agent and the load generator; under load p50 %.3f ms, p99 %.3f ms;\n", cores, lp50 / 1000, lp99 / 1000
	printf "    %d failed, %d not 200; /readyz during the load: %s; afterwards: %s\n", lerr, lnon, during, after
	printf "  agent RSS after the load                       %8.1f MiB  (aim: < 16 MiB)      %s\n", rss / 1024, (rss < 16384 ? met : missed)
	printf "    peak (VmHWM) %.1f MiB; before the load %.1f MiB; now %.1f MiB anonymous (heap, stacks),\n", hwm / 1024, idle / 1024, anon / 1024
	printf "    %.1f MiB mapped files (the binary and its shared libraries)\n", file / 1024
}'
