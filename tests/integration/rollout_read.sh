#!/usr/bin/env bash
# `clawfleet rollout get|history` and `clawfleet plan --controller` against the real controller
# on a simulated fleet (hack/fleet.sh): after the bring-up the plan says nothing is left; during
# a promotion `rollout get` shows the phase and step, its --json parses with the plan in it, and
# `plan --controller` lists the steps left in order with earliest times that never go back;
# `rollout get --watch` on a pipe prints a line per change of phase and ends with 0 on SIGINT,
# and said so when the controller did not answer; `rollout history` shows the rollout with its
# tags, outcome, actor and ticket; and after it the plan says nothing is left again.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up rollout-read 2s
cf() { "$FLEET_BIN" "$@" --controller "$FLEET_URL"; }

# --- a controller that does not answer yet: the watch says so and keeps asking
# Run directly (not through a function): $! is then the command itself, which SIGINT reaches.
"$FLEET_BIN" rollout get --watch --controller "$FLEET_URL" >"$fleet/watch.out" 2>"$fleet/watch.err" &
watch_pid=$!
fleet_track "$fleet" "$watch_pid"
fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'
tap_check "plan --controller after the bring-up: nothing is left" \
	fleet_wait 5 sh -c "'$FLEET_BIN' plan --controller '$FLEET_URL' | grep -q 'nothing is left of the rollout'"

# --- a promotion, read while it runs
fleet_promote "$fleet" v2026.8.0 "fleet: promote v2026.8.0"
within "the promotion reaches a canary step" 30 \
	'd["phase"] in ("Promoting", "Analysing") and d["step"] == 1'
out=$(cf rollout get 2>&1)
tap_check "rollout get shows the phase and the step" \
	grep -Eq '^phase +(Promoting|Analysing), step [1-3] \((10|50|100) %\)' <<<"$out"
tap_contains "and each node's row" "canary-gw" "$out"
tap_contains "and its next step at the earliest" "at the earliest" "$out"
tap_check "rollout get --json parses, with the plan in it" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["phase"] in ("Promoting", "Analysing", "Mirroring", "Finalising", "Succeeded"), d["phase"]
assert "nodes" in d and "plan" in d' "$(cf rollout get --json)"
plan=$(cf plan --json)
tap_check "plan --controller: the steps left in order, earliest times never going back" \
	python3 -c '
import json, sys
from datetime import datetime
p = json.loads(sys.argv[1])
rem = p["remaining"]
names = [r["phase"] if r["step"] is None else "step%d" % r["step"] for r in rem]
assert names[-3:] == ["Mirroring", "Finalising", "Succeeded"], names
steps = [r["step"] for r in rem if r["step"] is not None]
assert steps == sorted(steps), steps
at = [datetime.strptime(r["earliestAt"], "%Y-%m-%dT%H:%M:%S.%fZ") for r in rem]
assert at == sorted(at), at
stepped = [t for r, t in zip(rem, at) if r["step"] is not None] + [at[-1]]
assert all(a < b for a, b in zip(stepped, stepped[1:])), stepped' "$plan"
out=$(cf plan 2>&1)
tap_contains "plan --controller prints the steps left" "remaining if everything stays green" "$out"

within "the promotion ends Succeeded on v2026.8.0" 90 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.8.0"'
sleep 1.5
kill -INT "$watch_pid"
wait "$watch_pid"
tap_eq "rollout get --watch ends with 0 on SIGINT" 0 "$?"
tap_contains "the watch said the controller did not answer, and kept asking" \
	"asking again every second" "$(cat "$fleet/watch.err")"
tap_check "the watch printed a line per phase change, in order" tap_in_order \
	"$(cat "$fleet/watch.out")" "Z Succeeded" "Z Shadow" "Z Analysing, step 1 (10 %)" \
	"Z Analysing, step 3 (100 %)" "Z Mirroring, step 3" "Z Succeeded"
tap_check "one line per change: no two lines the same in a row" python3 -c '
import sys
lines = [l.split(" ", 1)[1] for l in open(sys.argv[1]).read().splitlines()]
assert all(a != b for a, b in zip(lines, lines[1:])), lines' "$fleet/watch.out"

# --- the history, with who asked for it
out=$(cf rollout history 2>&1)
tap_contains "rollout history shows the rollout" "v2026.7.1 -> v2026.8.0" "$out"
tap_contains "with its outcome" "succeeded" "$out"
tap_contains "and the ticket" "OPS-1042" "$out"
tap_check "history --json names the actor and ticket the audit lines name" python3 -c '
import json, sys
h = json.loads(sys.argv[1])[-1]
last = [json.loads(l) for l in open(sys.argv[2])][-1]
assert h["to"]["tag"] == "v2026.8.0" and h["outcome"] == "succeeded", h
assert h["actor"] and h["actor"] == last["actor"], (h["actor"], last["actor"])
assert h["ticket"] == last["ticket"] == "OPS-1042" and h["durationSeconds"] >= 0, h' \
	"$(cf rollout history --json)" "$audit"
tap_check "after the rollout, plan --controller says nothing is left" \
	fleet_wait 5 sh -c "'$FLEET_BIN' plan --controller '$FLEET_URL' | grep -q 'nothing is left of the rollout'"
tap_eq "a verb it does not know is a usage error" 2 "$("$FLEET_BIN" rollout frobnicate >/dev/null 2>&1; echo $?)"
tap_done
