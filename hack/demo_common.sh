# demo_common.sh: what hack/demo.sh and hack/demo-ha.sh share, sourced from the repository's top
# with DEMO_NAME set (the name their messages start with): the demo's Git identity, the headings
# (say, note), die, and demo_need, which checks the built binaries and the tools a demo runs.
# It runs under macOS's own bash 3.2 as well (hack/macos_shell_check.sh guards that).

export GIT_AUTHOR_NAME="Dana Operator" GIT_AUTHOR_EMAIL="dana@example.com"
export GIT_COMMITTER_NAME="Dana Operator" GIT_COMMITTER_EMAIL="dana@example.com"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

if [ -t 1 ]; then
	BOLD=$'\033[1m' RESET=$'\033[0m'
else
	BOLD="" RESET=""
fi
say() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$RESET"; }
note() { printf '   %s\n' "$*"; }
die() {
	printf '\n%s: %s\n' "$DEMO_NAME" "$*" >&2
	[ -n "${work:-}" ] && printf '%s: logs in %s/logs\n' "$DEMO_NAME" "$work" >&2
	exit 1
}

# demo_need HINT TOOL...: exits with a message when the demo's binaries (make builds them) or a
# tool is missing; HINT says what installs the tools.
demo_need() {
	local hint=$1 f tool
	shift
	for f in "$BUILD/clawfleet" "$BUILD/sim/gateway" "$BUILD/sim/openclaw" "$BUILD/sim/npm" \
		"$BUILD/sim/launchctl"; do
		[ -x "$f" ] || { echo "$DEMO_NAME: $f is missing: run make $DEMO_NAME (it builds it)" >&2; exit 1; }
	done
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "$DEMO_NAME: $tool is missing: $hint" >&2; exit 1; }
	done
}
