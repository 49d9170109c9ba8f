# fleet_test.sh: how the integration scripts that drive a simulated fleet start. Source it after
# tap.sh and hack/fleet.sh.
#   fleet_test_up NAME ANALYSIS [notifier]: a fleet in a new temporary directory ($fleet),
#     removed with every process at exit, the analysis interval ANALYSIS, the notifier too when
#     asked; fails the script (one "not ok") when HAProxy is missing or the fleet does not come
#     up. Then fleet.env is sourced, and $log (the controller's log) and $audit
#     (promotions.jsonl) are set. Environment such as FLEET_MIN_SAMPLES=2 goes before the call.
#   status: the controller's /status document.
#   within NAME SECONDS EXPR: "ok" once /status satisfies the Python EXPR (d) within SECONDS,
#     else "not ok" with the last document and the controller's log.
#   haproxy_weights [json]: the weights HAProxy's runtime API gives the servers of
#     openclaw_gateways, in server order ("100 0 100"), or as JSON {"server": weight}.
BUILD=${BUILD:-build}

fleet_test_up() {
	local name=$1 analysis=$2 notifier=${3:-}
	fleet=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-$name.XXXXXX")
	trap 'fleet_down "$fleet"; rm -rf "$fleet"' EXIT
	if ! command -v haproxy >/dev/null; then
		tap_fail "haproxy is installed" "run hack/install-deps.sh (Debian package haproxy)"
		tap_done
		exit
	fi
	if ! fleet_up "$fleet" "$analysis" ||
		{ [ "$notifier" = notifier ] && ! fleet_notifier "$fleet"; }; then
		tap_fail "the simulated fleet comes up" "$(tail -n 20 "$fleet"/logs/*.log)"
		tap_done
		exit
	fi
	. "$fleet/fleet.env"
	log=$fleet/logs/controller.log
	audit=$FLEET_STATE/promotions.jsonl
}

status() { fleet_status "$FLEET_URL" "$@"; }

within() {
	if fleet_wait "$2" status "$3"; then
		tap_ok "$1"
	else
		tap_fail "$1" "expected: $3" "last /status: $(status)" "$(tail -n 15 "$log")"
	fi
}

haproxy_weights() {
	python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"show servers state openclaw_gateways\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
rows = sorted((l.split() for l in out.decode().splitlines() if l[:1].isdigit() and len(l.split()) > 7),
              key=lambda r: r[3])
if sys.argv[2] == "json":
    print(json.dumps({r[3]: int(r[7]) for r in rows}, sort_keys=True))
else:
    print(" ".join(r[7] for r in rows))' "$FLEET_SOCKET" "${1:-}"
}
