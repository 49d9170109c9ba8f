#!/usr/bin/env bash
# Golden tests for `clawfleet validate`, in the style of OpenBSD's config regress: each case
# directory holds `input/` (a desired-state tree) and `expected` (the exact output: stdout and
# stderr, then a line "exit N"). Set BLESS=1 to rewrite expected files after reviewing a change.
set -u
cd "$(dirname "$0")"
. ../lib/tap.sh
CLAWFLEET=${CLAWFLEET:-$PWD/../../${BUILD:-build}/clawfleet}
for case in */; do
	case=${case%/}
	[ -d "$case/input" ] || continue
	actual=$(cd "$case" && "$CLAWFLEET" validate input 2>&1; echo "exit $?")
	if [ "${BLESS:-0}" = 1 ]; then
		printf '%s\n' "$actual" >"$case/expected"
	fi
	expected=$(cat "$case/expected" 2>/dev/null)
	if [ "$actual" = "$expected" ]; then
		tap_ok "validate $case"
	else
		tap_fail "validate $case" "$(diff <(printf '%s\n' "$expected") <(printf '%s\n' "$actual"))"
	fi
done
tap_done
