#!/usr/bin/env bash
# The HTTP servers under abuse, on a simulated fleet (hack/fleet.sh, the file load balancer):
# with 500 slowloris connections open to the controller and 500 to an agent (from 20 loopback
# addresses each, a header byte a second, reopened when cut), the controller's /healthz and the
# agent's /readyz, timed from another address, answer with a median under 100 ms and none over
# 1 s; 2,000 connections at once to the controller are each answered 200 or refused 503 with
# Retry-After (or, past the refusals in flight, closed), none hangs and none gets another status,
# and /healthz answers afterwards; 250 unauthenticated 1 MiB bodies to the Flux receiver are
# refused 401 from their headers and do not raise the controller's peak memory.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
BUILD=${BUILD:-build}
abuse=$PWD/tests/lib/http_abuse.py
fleet=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-slowloris.XXXXXX")
slow_pid=
trap '[ -n "$slow_pid" ] && kill "$slow_pid" 2>/dev/null; fleet_down "$fleet"; rm -rf "$fleet"' EXIT

export FLEET_LB=file
if ! fleet_up "$fleet" 5m; then
	tap_fail "the simulated fleet comes up" "$(tail -n 20 "$fleet"/logs/*.log)"
	tap_done
	exit
fi
. "$fleet/fleet.env"
(umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$fleet/hook-token")
printf 'webhook:\n  tokens:\n    current: %s\n' "$fleet/hook-token" >>"$FLEET_CONFIG"
fleet_controller "$fleet"
if ! fleet_wait 20 curl -sf --max-time 1 "$FLEET_URL/healthz"; then
	tap_fail "the controller comes up" "$(tail -n 20 "$fleet/logs/controller.log")"
	tap_done
	exit
fi
controller_port=${FLEET_URL##*:}
agent_port=$FLEET_AGENT_PORT_canary_gw

# times URL N: N requests from 127.0.0.200 (not the local host, so no kept slot helps), one
# "status seconds" line each.
times() {
	local i
	for i in $(seq "$2"); do
		curl -s -o /dev/null --interface 127.0.0.200 --max-time 5 -w '%{http_code} %{time_total}\n' "$1"
		sleep 0.1
	done
}
# judge NAME FILE CODES: every answer has one of CODES, the median is under 100 ms, none is
# over 1 s.
judge() {
	local verdict
	verdict=$(python3 -c '
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ms = sorted(float(r[1]) * 1000 for r in rows)
bad = [r[0] for r in rows if r[0] not in sys.argv[2].split()]
median = ms[len(ms) // 2] if ms else 0
ok = len(rows) == 20 and not bad and median < 100 and ms[-1] < 1000
print(("ok" if ok else "bad") + " median %.1f ms, max %.1f ms, %d answers, others: %s" % (median, ms[-1] if ms else 0, len(rows), bad))' "$2" "$3")
	case $verdict in
	ok*) tap_ok "$1 (${verdict#ok })" ;;
	*) tap_fail "$1" "${verdict#bad }" ;;
	esac
}

# --- 500 slowloris connections on each server
python3 "$abuse" slowloris "$controller_port,$agent_port" 500 "$fleet/slow.status" 25 &
slow_pid=$!
fleet_wait 15 grep -qs '^open=1000 ' "$fleet/slow.status"
tap_contains "1,000 slowloris connections are open" "open=1000 " "$(cat "$fleet/slow.status" 2>/dev/null)"
times "$FLEET_URL/healthz" 20 >"$fleet/controller.times"
judge "the controller's /healthz answers beside 500 slowloris connections" "$fleet/controller.times" 200
# A Mac with no build yet is red: 503 is its answer.
times "http://127.0.0.1:$agent_port/readyz" 20 >"$fleet/agent.times"
judge "an agent's /readyz answers beside 500 slowloris connections" "$fleet/agent.times" "200 503"
# Past the 10 s deadline of the first ones (and the watchdog's second), every connection has
# been cut once and opened again.
fleet_wait 15 python3 -c 'import sys; d = dict(kv.split("=") for kv in open(sys.argv[1]).read().split()); sys.exit(int(d["reopened"]) < 1000 or d["open"] != "1000")' "$fleet/slow.status"
status=$(cat "$fleet/slow.status")
case $status in
open=1000\ reopened=[1-9][0-9][0-9][0-9]*) tap_ok "each slowloris connection is cut at its deadline ($status)" ;;
*) tap_fail "each slowloris connection is cut at its deadline" "$status" ;;
esac
kill "$slow_pid" 2>/dev/null
wait "$slow_pid" 2>/dev/null
slow_pid=

# --- 2,000 connections at once
flood=$(python3 "$abuse" flood "$controller_port" 2000)
verdict=$(python3 -c '
import sys
c = dict(kv.split("=") for kv in sys.argv[1].splitlines()[0].split())
c = {k: int(v) for k, v in c.items()}
ok = c["hung"] == 0 and c["other"] == 0 and c["ok"] >= 800 and sum(c.values()) == 2000
print("ok" if ok else "bad")' "$flood")
if [ "$verdict" = ok ]; then
	tap_ok "2,000 connections at once: each answered or refused cleanly ($(echo "$flood" | head -1))"
else
	tap_fail "2,000 connections at once: each answered or refused cleanly" "$flood"
fi
tap_eq "and the controller answers /healthz afterwards" 200 \
	"$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$FLEET_URL/healthz")"

# --- unauthenticated bodies: refused from their headers
# The peak (VmHWM): a server that buffered the bodies frees them once each is refused.
peak() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$FLEET_CONTROLLER_PID/status"; }
before=$(peak)
bodies=$(python3 "$abuse" bodies "$controller_port" /hook/flux 250 $((1 << 20)))
after=$(peak)
case $bodies in
*" hung=0 other=0") tap_ok "250 unauthenticated 1 MiB bodies are refused at once ($bodies)" ;;
*) tap_fail "250 unauthenticated 1 MiB bodies are refused at once" "$bodies" ;;
esac
if [ $((after - before)) -lt 16384 ]; then
	tap_ok "and the controller's peak RSS stays put ($((before / 1024)) -> $((after / 1024)) MiB)"
else
	tap_fail "and the controller's peak RSS stays put" "$((before / 1024)) -> $((after / 1024)) MiB"
fi
tap_contains "the controller logs the refusals" "flux event: unauthorized: neither Authorization nor X-Signature given" \
	"$(cat "$fleet/logs/controller.log")"
tap_done
