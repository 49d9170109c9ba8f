#!/usr/bin/env bash
# The fuzz targets still build and still run: `make fuzz` builds every harness in tests/fuzz/
# (clang, libFuzzer, ASan, UBSan, in build-fuzz/), then each runs 1 second over its committed
# corpus, so a harness broken by a change, or an input of the corpus that crashes again, fails
# here. Finding new crashes is the job of longer runs (make fuzz FUZZ_SECONDS=600).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tap_tmpdir

FUZZ_BUILD=build-fuzz
probe='int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }'
if ! out=$(printf '%s\n' "$probe" | clang -x c -fsanitize=fuzzer -o "$TAP_TMP/probe" - 2>&1); then
	tap_fail "clang links libFuzzer" "install libclang-rt-dev (hack/install-deps.sh)" "$out"
	tap_done
	exit
fi
tap_ok "clang links libFuzzer"

if out=$(make --no-print-directory FUZZ_BUILD="$FUZZ_BUILD" FUZZ_SECONDS=0 fuzz 2>&1); then
	tap_ok "make fuzz builds every target"
else
	tap_fail "make fuzz builds every target" "$(printf '%s\n' "$out" | tail -20)"
	tap_done
	exit
fi
targets=$(ls tests/fuzz/fuzz_*.c | wc -l)
built=$(ls "$FUZZ_BUILD"/fuzz/fuzz_* | grep -vc '\.d$')
tap_eq "one binary a harness" "$targets" "$built"
for h in tests/fuzz/fuzz_*.c; do
	name=$(basename "$h" .c)
	n=$(ls "tests/fuzz/${name#fuzz_}" 2>/dev/null | wc -l)
	if [ "$n" -gt 0 ]; then tap_ok "$name has a corpus ($n inputs)"; else tap_fail "$name has a corpus"; fi
done

# Each target over its corpus: run.sh prints one TAP line a target.
BUILD=$FUZZ_BUILD tests/fuzz/run.sh 1 || TAP_FAILED=$((TAP_FAILED + 1))
tap_done
