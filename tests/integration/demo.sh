#!/usr/bin/env bash
# Runs alone (tests/run): it follows rollout phases and timings that a second fleet's load would blur.
# make demo, as `make demo` runs it (BUILD=... hack/demo.sh) in its short mode (DEMO_FAST=1):
# it finishes within the two minutes the README promises, shows every milestone (the fleet, the
# bring-up, the canary steps with the split measured through HAProxy, the red canary, the
# rollback of weights and skill links, the quarantine, the verified audit chain, where to look),
# and leaves no process behind. demo_plain.sh runs it without HAProxy and stops it with Ctrl-C.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/demo_test.sh
BUILD=${BUILD:-build}
tap_tmpdir
marker=demo-test-$$-$RANDOM

if ! command -v haproxy >/dev/null; then
	tap_fail "haproxy is installed" "run hack/install-deps.sh (Debian package haproxy)"
	tap_done
	exit
fi

out=$(CLAWFLEET_DEMO=$marker DEMO_FAST=1 TMPDIR=$TAP_TMP timeout 120 hack/demo.sh 2>&1)
rc=$?
tap_eq "hack/demo.sh finishes within two minutes and exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || printf '    | %s\n' "${out//$'\n'/$'\n'    | }" | tail -40
tap_check "it shows the milestones in order" tap_in_order "$out" \
	"1/6  the fleet" "canary-gw     canary gateway, zone-a" "HAProxy       http://127.0.0.1:" \
	"notifier      http://127.0.0.1:" \
	"2/6  the controller starts" "Succeeded  v2026.7.1" \
	"3/6  a promotion through Git: v2026.8.0" "Shadow  v2026.8.0" \
	"Analysing  v2026.8.0  step 1, 10 % to the canary" "measured through HAProxy" \
	"Analysing  v2026.8.0  step 2, 50 % to the canary" "measured through HAProxy" \
	"Mirroring  v2026.8.0" "Succeeded  v2026.8.0" \
	"4/6  a second promotion, v2026.8.1" \
	"canary-gw during the canary: skills/current -> 1.4.3, skills/next -> 1.4.4; acme reads skills/next (1.4.4)" \
	"the canary doctor turns red" \
	"RollingBack  v2026.8.1" "RolledBack  v2026.8.1" \
	"5/6  the automatic rollback" \
	"canary-gw after the rollback: skills/current -> 1.4.3, skills/next -> 1.4.4; acme reads skills/current (1.4.3)" \
	"weights now:  canary-gw 100, stable-gw-a 100, stable-gw-b 100" "quarantined:  v2026.8.1" \
	"history:      v2026.8.0 -> v2026.8.1 rolled_back (doctor.red)" \
	"notifier broadcast: clawfleet: verdict rollback" \
	"6/6  where to look" "status page:   http://127.0.0.1:" "audit chain OK: "
tap_check "a weight bar per gateway at 10 %" tap_in_order "$out" \
	"step 1, 10 % to the canary" "canary-gw    ██░░" "stable-gw-a  ███████████░"
tap_check "the split measured at 10 % is within 5 points" python3 -c '
import re, sys
m = re.search(r"10 % to the canary.*?measured through HAProxy, (\d+) requests: canary-gw (\d+) %", sys.argv[1], re.S)
assert m and abs(int(m.group(2)) - 10) <= 5, m and m.groups()' "$out"
no_process_left "no process of the demo is left"
work=$(sed -n 's/^   work directory: //p' <<<"$out")
tap_check "the audit file it names verifies" "$BUILD/clawfleet" audit verify \
	"$work/controller/promotions.jsonl"
tap_check "the logs stay in the demo directory" test -s "$work/logs/controller.log"

tap_done
