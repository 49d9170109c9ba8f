#!/usr/bin/env bash
# The demo where HAProxy is missing and when it is cut short (demo.sh runs it as `make demo`
# does): a run through `clawfleet demo --fast` with the `file` LoadBalancer driver, which a
# machine without HAProxy gets, works and says so plainly; Ctrl-C in the middle of a run stops
# every process it started. Neither measures a split, so this runs beside other scripts.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/demo_test.sh
BUILD=${BUILD:-build}
tap_tmpdir
marker=demo-plain-$$-$RANDOM

if ! command -v haproxy >/dev/null; then
	tap_fail "haproxy is installed" "run hack/install-deps.sh (Debian package haproxy)"
	tap_done
	exit
fi

out2=$(CLAWFLEET_DEMO=$marker DEMO_LB=file TMPDIR=$TAP_TMP timeout 120 "$BUILD/clawfleet" demo \
	--fast 2>&1)
rc=$?
tap_eq "a run through clawfleet demo --fast, with the file driver, exits 0" 0 "$rc"
tap_contains "it says plainly that it runs without HAProxy" \
	"HAProxy is not installed, so the controller drives the \`file\` driver" "$out2"
tap_check "and still rolls the red canary back" tap_in_order "$out2" "the canary doctor turns red" \
	"RolledBack  v2026.8.1" "weights now:  canary-gw 100, stable-gw-a 100, stable-gw-b 100" \
	"audit chain OK: "
tap_check "measuring nothing, as it said" test "$(grep -c 'measured through HAProxy' <<<"$out2")" = 0
work2=$(sed -n 's/^   work directory: //p' <<<"$out2")
tap_check "in a fresh directory" test -n "$work2" -a -d "$work2"
no_process_left "leaving no process either"

# Ctrl-C: the terminal sends SIGINT to the demo's whole process group.
set -m
CLAWFLEET_DEMO=$marker DEMO_FAST=1 TMPDIR=$TAP_TMP hack/demo.sh >"$TAP_TMP/interrupted.out" 2>&1 &
demo=$!
set +m
if fleet_wait 60 grep -q "2/6  the controller starts" "$TAP_TMP/interrupted.out"; then
	tap_ok "another run gets under way"
else
	tap_fail "another run gets under way" "$(tail -20 "$TAP_TMP/interrupted.out")"
fi
tap_check "its fleet is running" test -n "$(leftovers)"
kill -INT -- "-$demo"
wait "$demo"
tap_eq "Ctrl-C: the demo exits 130" 130 $?
tap_contains "and says what it did" "every process it started is stopped" \
	"$(cat "$TAP_TMP/interrupted.out")"
no_process_left "Ctrl-C leaves no process of the demo running"
tap_done
