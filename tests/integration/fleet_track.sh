#!/usr/bin/env bash
# A Ctrl-C while the simulated fleet's scripts record a process they just started (hack/fleet.sh
# fleet_track) leaves nothing running: the process is recorded and fleet_down stops it. A `make
# demo` interrupted as its controller started once left that controller running for good (a
# background job of a script ignores SIGINT, and the Ctrl-C killed the `ps` recording it). Here
# `ps` is slowed down by a second, so that the SIGINT lands inside it every time.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
tap_tmpdir

mkdir -p "$TAP_TMP/bin" "$TAP_TMP/fleet"
real_ps=$(command -v ps)
printf '#!/bin/sh\nsleep 1\nexec %s "$@"\n' "$real_ps" >"$TAP_TMP/bin/ps"
chmod +x "$TAP_TMP/bin/ps"
# What the demo does: an INT trap that exits, fleet_down at exit, a process started in the
# background and recorded.
cat >"$TAP_TMP/script.sh" <<'EOF'
. hack/fleet.sh
dir=$1
trap 'fleet_down "$dir"' EXIT
trap 'exit 130' INT
sleep 300 &
echo "$!" >"$dir/started"
PATH=$2:$PATH fleet_track "$dir" "$!"
sleep 30
EOF

# The terminal's Ctrl-C: SIGINT to the script's whole process group, half a second in.
set -m
bash "$TAP_TMP/script.sh" "$TAP_TMP/fleet" "$TAP_TMP/bin" &
script=$!
set +m
sleep 0.5
kill -INT -- "-$script"
wait "$script"
tap_eq "the interrupted script exits 130" 130 $?
started=$(cat "$TAP_TMP/fleet/started" 2>/dev/null)
tap_check "the process it started is recorded" grep -q "^ *$started " "$TAP_TMP/fleet/fleet.pids"
# Dead, or a zombie whose parent (the script) is gone and which nobody has reaped yet.
gone() { case $(ps -o stat= -p "$started") in '' | Z*) return 0 ;; *) return 1 ;; esac; }
tap_check "and stopped with the fleet: nothing left running" gone
gone || kill "$started" 2>/dev/null
tap_done
