#!/usr/bin/env bash
# clawfleet audit verify on a promotions.jsonl chained with nothing but printf and sha256sum (the
# format is reproducible by any tool), then edited, shortened and torn as a tamperer or a crash
# would leave it.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tap_tmpdir
bin=${CLAWFLEET:-$PWD/build/clawfleet}
good="$TAP_TMP/promotions.jsonl"
zeros=0000000000000000000000000000000000000000000000000000000000000000

# line PREV STEP PERCENT: one audit line in canonical JSON (keys in bytewise order, no spaces).
line() {
	printf '{"actor":"Alice Example <alice@example.com>","event":"step",'
	printf '"from":{"semver":"1.4.1","tag":"v2026.6.3"},"percent":%d,"phase":"Promoting",' "$3"
	printf '"prev":"%s","probeSha256":"%s","promotion":"gateway","reason":"",' "$1" "$zeros"
	printf '"revision":"main@sha1:2f0c9e4d2f0c9e4d2f0c9e4d2f0c9e4d2f0c9e4d","step":%d,' "$2"
	printf '"ticket":"OPS-1042","to":{"semver":"1.4.2","tag":"v2026.7.1"},'
	printf '"ts":"2026-11-21T03:%02d:00.000Z","weights":{"canary-gw":%d,"gw-a":100}}' "$2" "$3"
}

prev=$zeros
: >"$good"
step=0
for percent in 5 20 40 60; do
	text=$(line "$prev" "$step" "$percent")
	printf '%s\n' "$text" >>"$good"
	prev=$(printf '%s' "$text" | sha256sum | cut -d' ' -f1)
	step=$((step + 1))
done

verify() { "$bin" audit verify "$@" 2>&1; echo "exit $?"; }

out=$(verify "$good")
tap_eq "an intact chain verifies and names its last hash" \
	"audit chain OK: 4 entries, last $prev
exit 0" "$out"

bad="$TAP_TMP/tampered.jsonl"
sed '2s/"canary-gw":20/"canary-gw":90/' "$good" >"$bad"
out=$(verify "$bad")
tap_contains "a weight changed on line 2 is caught at line 3" \
	"$bad:3: prev does not match line 2" "$out"
tap_contains "and verify exits 1" "exit 1" "$out"

sed '3d' "$good" >"$bad"
out=$(verify "$bad")
tap_contains "a deleted line is caught where the chain breaks" \
	"$bad:3: prev does not match line 2" "$out"
tap_contains "and verify exits 1 for it" "exit 1" "$out"

sed '1d' "$good" >"$bad"
out=$(verify "$bad")
tap_contains "a deleted first line is caught" "$bad:1: prev of the first line is" "$out"

head -c -40 "$good" >"$bad"
out=$(verify "$bad")
tap_contains "a torn last line is reported, not passed" "$bad:4: the last line has no newline" \
	"$out"

sed '4s/"percent":60/"percent": 60/' "$good" >"$bad"
out=$(verify "$bad")
tap_contains "a last line edited by hand is not canonical JSON" \
	"$bad:4: not in canonical JSON form" "$out"

: >"$bad"
out=$(verify "$bad")
tap_eq "an empty log verifies" "audit chain OK: 0 entries, last $zeros
exit 0" "$out"

out=$(verify "$TAP_TMP/missing.jsonl")
tap_contains "a missing file is an error naming it" "$TAP_TMP/missing.jsonl: No such file" "$out"
tap_contains "and exits 1 too" "exit 1" "$out"

out=$("$bin" audit 2>&1; echo "exit $?")
tap_contains "audit without a subcommand is a usage error" "usage: clawfleet audit verify FILE [--head HASH [--lines N]]
       clawfleet audit head FILE" "$out"
tap_contains "and exits 2" "exit 2" "$out"

tap_done
