#!/usr/bin/env bash
# clawfleet token stage, promote and revoke on a token directory, as an operator runs them: the
# files the servers read, their modes, the audit lines (never holding a token), revoke refused
# before the overlap and before a controller (a python3 stand-in serving /status) reports two
# green passes since the promote. The clock is set with the --now test hook.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tap_tmpdir
bin=${CLAWFLEET:-$PWD/build/clawfleet}
dir="$TAP_TMP/tokens"
audit="$dir/rotation.jsonl"
who=(--dir "$dir" --actor "Alice Example" --ticket OPS-1042)
t0=2026-01-01T00:00:00Z

# run ARGS...: the command's standard error, then "exit N".
run() { "$bin" token "$@" 2>&1 >/dev/null; echo "exit $?"; }
mode() { stat -c %a "$1"; }
sha8() { printf '%s' "$1" | sha256sum | cut -c1-8; }

mkdir -m 700 "$dir"
old=old-Token.current_1
printf '%s\n' "$old" >"$dir/token.current"
chmod 600 "$dir/token.current"

# stage
out=$(run stage "${who[@]}")
tap_eq "stage writes a new token" "exit 0" "$out"
next=$(cat "$dir/token.next")
tap_eq "token.next is mode 0600" "600" "$(mode "$dir/token.next")"
tap_check "the staged token is 64 hex digits" grep -qxE '[0-9a-f]{64}' "$dir/token.next"
tap_check "and differs from the current one" test "$next" != "$old"
tap_eq "stage appends one audit line" "1" "$(wc -l <"$audit")"
tap_contains "which names the staged token by its sha256 prefix" \
	"\"sha256\":\"$(sha8 "$next")\"" "$(cat "$audit")"

out=$(run stage "${who[@]}")
tap_contains "a second stage is refused while token.next exists" \
	"refused: $dir/token.next already exists" "$out"
tap_contains "and says how to replace it" "--force" "$out"
tap_contains "and exits 1" "exit 1" "$out"
tap_eq "and token.next is unchanged" "$next" "$(cat "$dir/token.next")"

out=$(printf 'two words\n' | run stage "${who[@]}" --stdin --force)
tap_contains "a token with a space inside is refused" "white space or control characters" "$out"
tap_eq "and token.next is still the staged one" "$next" "$(cat "$dir/token.next")"

out=$(run stage --dir "$dir" --ticket OPS-1042)
tap_contains "--actor is required" "--actor and --ticket are required" "$out"
tap_contains "a usage error exits 2" "exit 2" "$out"

given=given-Token_3
out=$(printf '  %s\n' "$given" | run stage "${who[@]}" --stdin --force)
tap_eq "stage --stdin --force takes the token from standard input" "exit 0" "$out"
tap_eq "trimmed" "$given" "$(cat "$dir/token.next")"
next=$given

# promote
out=$(run promote "${who[@]}" --now "$t0")
tap_eq "promote succeeds" "exit 0" "$out"
tap_eq "token.current is the staged token" "$next" "$(cat "$dir/token.current")"
tap_eq "token.prev is the old current token" "$old" "$(cat "$dir/token.prev")"
tap_check "token.next is gone" test ! -e "$dir/token.next"
tap_eq "token.current and token.prev are mode 0600" "600 600" \
	"$(mode "$dir/token.current") $(mode "$dir/token.prev")"

# revoke: the overlap
out=$(run revoke "${who[@]}" --now 2026-01-01T11:00:00Z)
tap_contains "revoke is refused before the 12h overlap has passed" \
	"refused: the overlap has not passed: promoted at 2026-01-01T00:00:00.000Z, the 12h overlap ends at 2026-01-01T12:00:00.000Z (in 1h)" \
	"$out"
tap_contains "and exits 1" "exit 1" "$out"
tap_check "token.prev is still there" test -e "$dir/token.prev"
tap_contains "the refusal is audited with its reason" \
	'"action":"revoke","actor":"Alice Example","dir":"'"$dir"'","outcome":"refused","reason":"the overlap has not passed' \
	"$(tail -1 "$audit")"

out=$(run revoke "${who[@]}" --overlap 30s --now 2026-01-01T11:00:00Z)
tap_contains "an overlap under 1m is a usage error" "below the 1m minimum" "$out"
tap_contains "exiting 2" "exit 2" "$out"

# revoke: the controller's passes
status="$TAP_TMP/status.json"
portfile="$TAP_TMP/port"
python3 - "$status" "$portfile" <<'EOF' &
import http.server, os, sys
status, portfile = sys.argv[1], sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/status":
            self.send_error(404)
            return
        with open(status, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_port))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
EOF
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; rm -rf "$TAP_TMP"' EXIT
for _ in $(seq 100); do
	[ -s "$portfile" ] && break
	sleep 0.1
done
controller="http://127.0.0.1:$(cat "$portfile" 2>/dev/null)"

printf '%s' '{"phase":"Idle","passes":[{"at":"2025-12-31T23:58:00Z","green":true},
 {"at":"2026-01-01T00:01:00Z","green":true}]}' >"$status"
out=$(run revoke "${who[@]}" --overlap 1m --now 2026-01-01T00:02:00Z --controller "$controller")
tap_contains "with --controller, one green pass since the promote is not enough" \
	"refused: the controller reports one green pass since the promote" "$out"
tap_check "token.prev is kept" test -e "$dir/token.prev"

printf '%s' '{"passes":[{"at":"2026-01-01T00:01:00Z","green":true},
 {"at":"2026-01-01T00:02:00Z","green":false},{"at":"2026-01-01T00:03:00Z","green":true}]}' >"$status"
out=$(run revoke "${who[@]}" --overlap 1m --now 2026-01-01T00:04:00Z --controller "$controller")
tap_contains "green passes must be consecutive" "before its last, was not green" "$out"

printf '%s' '{"passes":[{"at":"2026-01-01T00:03:00Z","green":true},
 {"at":"2026-01-01T00:04:00Z","green":true}]}' >"$status"
out=$(run revoke "${who[@]}" --overlap 1m --now 2026-01-01T00:05:00Z --controller "$controller")
tap_eq "two consecutive green passes after the promote allow the revoke" "exit 0" "$out"
tap_check "token.prev is gone" test ! -e "$dir/token.prev"
tap_eq "token.current is untouched" "$next" "$(cat "$dir/token.current")"

out=$(run revoke "${who[@]}" --overlap 1m --now 2026-01-01T00:06:00Z)
tap_contains "a second revoke has nothing to do" "nothing to revoke" "$out"

# the audit trail
tap_eq "every step left one line, refusals included" \
	"stage:ok stage:refused stage:ok promote:ok revoke:refused revoke:refused revoke:refused revoke:ok revoke:refused" \
	"$(sed -n 's/.*"action":"\([a-z]*\)".*"outcome":"\([a-z]*\)".*/\1:\2/p' "$audit" | paste -sd' ')"
leaks=$(grep -c -F -e "$old" -e "$next" -e "two words" "$audit")
tap_eq "no line holds a token" "0" "$leaks"
tap_eq "every line names the actor and the ticket" "9" \
	"$(grep -c '"actor":"Alice Example".*"ticket":"OPS-1042"' "$audit")"

tap_done
