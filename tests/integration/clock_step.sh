#!/usr/bin/env bash
# The controller under a wall clock that steps (libfaketime, the monotonic clock left alone), on
# a simulated fleet (hack/fleet.sh) with analysis windows of 5s: +31 minutes during an analysis
# window skips no window, +31 minutes while Held rolls nothing back (maxHold is 30m), and a step
# back of 92 minutes freezes nothing: the rollout moves on as soon as its windows are green.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
faketime_lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
if [ -z "$faketime_lib" ]; then
	tap_fail "libfaketime is installed" "run hack/install-deps.sh (Debian package faketime)"
	tap_done
	exit
fi
fleet_test_up clock 5s
offset=$fleet/wall-offset
step_wall() { echo "$1" >"$offset"; } # OFFSET: the controller's wall clock, as "+31m", "-30m"
step_wall +0
doctor() { # NODE green|yellow
	local file=$fleet/macs/$1/sim/doctor
	if [ "$2" = green ]; then rm -f "$file"; else echo "{\"verdict\":\"$2\"}" >"$file"; fi
}
# stays SECONDS EXPR: /status satisfies EXPR at every look for SECONDS.
stays() {
	local i
	for i in $(seq $(($1 * 2))); do
		fleet_status "$FLEET_URL" "$2" >/dev/null 2>&1 || { fleet_status "$FLEET_URL"; return 1; }
		sleep 0.5
	done
}
audit_events() { python3 -c 'import json, sys; print(" ".join(json.loads(x)["event"] for x in open(sys.argv[1])))' "$audit"; }

LD_PRELOAD=$faketime_lib FAKETIME_TIMESTAMP_FILE=$offset FAKETIME_NO_CACHE=1 \
	FAKETIME_DONT_FAKE_MONOTONIC=1 fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'

# --- +31 minutes in the first window of the first step: two 5s windows still take 10s
fleet_promote "$fleet" v2026.8.0
within "v2026.8.0 reaches its first step" 40 'd["phase"] == "Analysing" and d["percent"] == 10'
step_wall +31m
within "its windows done, the rollout moves on to 50 %" 30 \
	'd["phase"] == "Analysing" and d["percent"] == 50'
# The audit lines' times are the controller's wall clock: less the offset, the real time.
tap_check "+31m skipped no analysis: the step at 10 % lasted its two 5s windows in real time" \
	python3 -c '
import datetime, json, sys
t = {}
for x in open(sys.argv[1]):
    a = json.loads(x)
    if a["event"] == "step" and a["phase"] == "Promoting":
        t[a["percent"]] = datetime.datetime.strptime(a["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
real = (t[50] - datetime.timedelta(minutes=31) - t[10]).total_seconds()
print("the step at 10 % lasted", real, "s")
sys.exit(0 if 9.5 <= real < 60 else 1)' "$audit"

# --- +31 minutes while Held: maxHold (30m) has not passed on the rollout clock
doctor canary-gw yellow
within "a yellow canary holds the rollout" 15 'd["phase"] == "Held"'
step_wall +62m
tap_check "+31m while Held: no rollback (5s later, still Held)" stays 5 'd["phase"] == "Held"'
tap_check "and no rollback in the audit log" eval '! audit_events | grep -qw rollback'
tap_check "the hold's deadline is still about 30m away on the wall clock people read" \
	fleet_status "$FLEET_URL" \
	'1700 < (__import__("datetime").datetime.strptime(d["hold"]["deadline"], "%Y-%m-%dT%H:%M:%S.%fZ") - __import__("datetime").datetime.strptime(d["hold"]["since"], "%Y-%m-%dT%H:%M:%S.%fZ")).total_seconds() <= 1800'

# --- 92 minutes back: nothing freezes
step_wall -30m
doctor canary-gw green
within "-92m: the canary green again, the rollout resumes" 15 'd["phase"] == "Analysing"'
within "and its windows complete: on to 100 %" 30 'd["percent"] == 100'
tap_check "the controller never said a window or hold was negative or stalled" \
	eval '! grep -q "ProgressDeadlineExceeded\|hold.timeout" "$log"'
tap_done
