#!/usr/bin/env bash
# make layers on the tree as it is (no back-arrow), then on copies with one planted back-arrow
# each: a step including a later step's header, plan/ including a driver header or an I/O header,
# a file outside every step. Each must fail with FILE:LINE and a reason.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tap_tmpdir

out=$(hack/layers.sh 2>&1)
tap_eq "the tree has no back-arrow" 0 $?
tap_contains "it says how many files it read" "layers: ok" "$out"

# plant NAME FILE LINE WHY: a copy of controller/ and reconcilers/ with LINE appended to FILE;
# layers must exit 1 naming FILE and saying WHY.
plant() {
	local name=$1 file=$2 line=$3 why=$4 copy rc
	copy=$(mktemp -d "$TAP_TMP/copy.XXXXXX")
	cp -r controller reconcilers "$copy"/
	mkdir -p "$copy/$(dirname "$file")"
	printf '%s\n' "$line" >>"$copy/$file"
	out=$(hack/layers.sh "$copy" 2>&1)
	rc=$?
	tap_eq "$name: exits 1" 1 "$rc"
	tap_contains "$name: names the file and line" "$file:" "$out"
	tap_contains "$name: says why" "$why" "$out"
}

later="from a later step"
pure="plan/ is pure"
plant "plan/ including act/" controller/plan/planner.c '#include "act/target_client.h"' "$later (act)"
plant "observe/ including plan/" controller/observe/fleet_poll.c '#include "plan/planner.h"' \
	"$later (plan)"
plant "base/ including desired/" controller/base/clock.c '#include "desired/desired.h"' \
	"$later (desired)"
plant "a command including a daemon's config" controller/cmd/cmd_plan.c \
	'#include "daemon/ctlcfg.h"' "$later (daemon)"
plant "plan/ including a driver header" controller/plan/rollout.c \
	'#include "reconcilers/weights/weights.h"' "$pure and may not include the driver header"
plant "plan/ including libcurl" controller/plan/planner.c '#include <curl/curl.h>' \
	"$pure and may not include <curl/curl.h>"
plant "plan/ including unistd" controller/plan/rollout.h '#include <unistd.h>' \
	"$pure and may not include <unistd.h>"
plant "a header by a relative path" controller/base/log.c '#include "../daemon/ctlcfg.h"' \
	"which is in no step"
plant "a folder that is no step" controller/misc/extra.c '#include "base/err.h"' \
	"not in a known step"
tap_done
