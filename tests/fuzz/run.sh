#!/usr/bin/env bash
# Runs every fuzz target built in $BUILD/fuzz (make fuzz) for SECONDS on its corpus
# tests/fuzz/<name>/, or only the targets named. What a run finds that is new goes to
# $BUILD/fuzz-corpus/<name>/ (the tree's corpus stays as committed), a crash to
# $BUILD/fuzz-crashes/<name>-crash-<sha1>. Prints one TAP line a target with its runs and
# coverage; exits 1 when any target crashed. SECONDS 0 runs nothing.
#   tests/fuzz/run.sh SECONDS [fuzz_NAME...]
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-fuzz}
seconds=${1:?usage: tests/fuzz/run.sh SECONDS [fuzz_NAME...]}
shift
[ "$seconds" -gt 0 ] || exit 0
if [ $# -eq 0 ]; then
	set -- $(cd "$BUILD/fuzz" && ls fuzz_* | grep -v '\.d$')
fi
failed=0
for target in "$@"; do
	name=${target#fuzz_}
	bin=$BUILD/fuzz/fuzz_$name
	work=$BUILD/fuzz-corpus/$name
	crashes=$BUILD/fuzz-crashes
	log=$BUILD/fuzz-logs/$name.log
	mkdir -p "$work" "$crashes" "$(dirname "$log")"
	if [ ! -x "$bin" ]; then
		echo "not ok - fuzz_$name: $bin is not built (make fuzz)"
		failed=1
		continue
	fi
	# -timeout: one input taking longer is a hang, a crash of its own; the run's new inputs go
	# to the first directory, the committed corpus is read only.
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$crashes/$name-" "$work" "tests/fuzz/$name" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if [ "$rc" -eq 0 ]; then
		echo "ok - fuzz_$name: ${runs:-?} runs in ${seconds}s, ${cov:-cov: ?}"
	else
		echo "not ok - fuzz_$name: exit $rc (log $log)"
		grep -E 'ERROR|broken promise|SUMMARY|Test unit written|^ *#[0-9]+ 0x' "$log" | head -20 |
			sed 's/^/    /'
		failed=1
	fi
done
exit "$failed"
