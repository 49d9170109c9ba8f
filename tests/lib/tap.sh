# tap.sh: the few helpers integration tests share. Each check prints "ok - NAME" or
# "not ok - NAME" (with what went wrong indented below); tests/run counts those lines.
# Source it; call tap_done at the end so the script's exit status reflects the checks.

TAP_FAILED=0

tap_ok() { echo "ok - $1"; }

tap_fail() {
	echo "not ok - $1"
	shift
	for line in "$@"; do printf '    %s\n' "$line"; done
	TAP_FAILED=$((TAP_FAILED + 1))
}

# tap_check NAME CMD...: ok when CMD exits 0.
tap_check() {
	local name=$1
	shift
	local out
	if out=$("$@" 2>&1); then tap_ok "$name"; else tap_fail "$name" "command: $*" "$out"; fi
}

# tap_eq NAME EXPECTED ACTUAL
tap_eq() {
	if [ "$2" = "$3" ]; then tap_ok "$1"; else tap_fail "$1" "expected: $2" "actual:   $3"; fi
}

# tap_contains NAME NEEDLE HAYSTACK
tap_contains() {
	case "$3" in
	*"$2"*) tap_ok "$1" ;;
	*) tap_fail "$1" "expected to contain: $2" "actual: $3" ;;
	esac
}

# tap_in_order TEXT LINES...: each line appears in TEXT, in this order.
tap_in_order() {
	python3 -c '
import sys
text, at = sys.argv[1], 0
for want in sys.argv[2:]:
    i = text.find(want, at)
    if i < 0:
        sys.exit("missing after offset %d: %s" % (at, want))
    at = i + len(want)' "$@"
}

tap_done() { [ "$TAP_FAILED" -eq 0 ]; }

# A scratch directory removed when the script exits.
tap_tmpdir() {
	TAP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-test.XXXXXX")
	trap 'rm -rf "$TAP_TMP"' EXIT
}

# Deterministic git identities and dates for repositories made by tests.
export GIT_AUTHOR_NAME="Test Author" GIT_AUTHOR_EMAIL="author@example.com"
export GIT_COMMITTER_NAME="Test Committer" GIT_COMMITTER_EMAIL="committer@example.com"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
