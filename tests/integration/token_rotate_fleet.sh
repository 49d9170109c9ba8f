#!/usr/bin/env bash
# clawfleet token rotate-fleet on a simulated fleet (hack/fleet.sh: three real agents with a
# tokens.dir, a real controller): a controller token the agents refuse changes nothing; a
# rotation cut short after one agent staged the new token is continued by the next run; every
# agent stages, the controller's agentToken file switches, every agent promotes after two green
# passes; the old token stays accepted until the overlap (--now moves the clock) and two more
# green passes, then is revoked everywhere; audit lines name every node and never a token. The
# controller's /status shows the rotation per node (tokenRotation): an agent that refuses the
# staged token is unacknowledged while the others are, and the controller is not switched. Then
# the agent side of bad token files: an agent whose token files hold nothing does not start, a
# token file every user may read is refused, and emptying a running agent's files keeps the
# token it accepted, with a note on /readyz.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up tokens 1s
fleet_controller "$fleet"
within "bring-up: every node green" 90 \
	'd["phase"] == "Succeeded" and all(n["status"] == "green" for n in d["nodes"].values())'

agent_url() { echo "http://127.0.0.1:$(eval echo "\$FLEET_AGENT_PORT_$(fleet_var "$1")")"; }
# code NODE TOKEN: the HTTP status of the agent's GET /v1/token with TOKEN.
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $2" "$(agent_url "$1")/v1/token"; }
sha8() { printf '%s' "$1" | sha256sum | cut -c1-8; }
tokdir() { echo "$fleet/macs/$1/etc/clawfleet"; }
token_file=$fleet/agent-token
audit_file=$fleet/rotation.jsonl
rotate() { "$FLEET_BIN" token rotate-fleet --repo "$FLEET_REPO" --controller "$FLEET_URL" \
	--actor "Alice Example" --ticket OPS-7 --overlap 1m --wait 60s "$@"; }
old=$(cat "$token_file")

# --- failure paths first: nothing changes
tap_eq "--agent-token is required (usage, exit 2)" 2 "$(rotate >/dev/null 2>&1; echo $?)"
(umask 077 && echo not-the-agents-token >"$fleet/wrong-token")
out=$(rotate --agent-token "$fleet/wrong-token" 2>&1)
rc=$?
tap_eq "a controller token the agents refuse: exit 1" 1 "$rc"
tap_contains "and each node says the agent refuses the token" \
	"node stable-gw-b: the agent refuses the token (401)" "$out"
tap_check "and nothing is staged anywhere" test ! -e "$fleet/wrong-token.next" -a \
	"$(cat "$fleet/wrong-token")" = not-the-agents-token
for n in $FLEET_NODES; do
	[ -e "$(tokdir "$n")/token.prev" ] && tap_fail "no token.prev on $n"
done

# --- a rotation cut short: the new token waits beside the controller's, one agent staged it
new=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
(umask 077 && printf '%s\n' "$new" >"$token_file.next")
body=$(printf '{"token":"%s","actor":"Alice Example","ticket":"OPS-7"}' "$new")
staged=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT -H "Authorization: Bearer $old" \
	--data "$body" "$(agent_url canary-gw)/v1/token/next")
tap_eq "PUT /v1/token/next with the current token stages a token" 200 "$staged"
tap_eq "the staged token is accepted at once" 200 "$(code canary-gw "$new")"
tap_eq "token.next on the agent is mode 0600" 600 "$(stat -c %a "$(tokdir canary-gw)/token.next")"

# --- one agent refuses to stage (the new token is its token.prev): the others acknowledge it,
# the controller does not switch, and /status says so per node
(umask 077 && printf '%s\n' "$new" >"$(tokdir stable-gw-b)/token.prev")
out=$(rotate --agent-token "$token_file" 2>&1)
rc=$?
tap_eq "an agent that refuses the staged token stops the switch (exit 1)" 1 "$rc"
tap_eq "and the controller still holds the old token" "$old" "$(cat "$token_file")"
tap_eq "the progress beside it is mode 0600" 600 "$(stat -c %a "$token_file.rotation.json")"
within "/status: staging, canary-gw and stable-gw-a acknowledged, stable-gw-b not, with its error" 20 \
	'((r := d["tokenRotation"])["phase"] == "staging" and r["sha256"] == "'"$(sha8 "$new")"'" and
	 r["nodes"]["canary-gw"]["acknowledged"] and r["nodes"]["stable-gw-a"]["acknowledged"] and
	 not r["nodes"]["stable-gw-b"]["acknowledged"] and not r["nodes"]["stable-gw-b"]["staged"] and
	 "409" in r["nodes"]["stable-gw-b"]["error"] and r["nodes"]["canary-gw"]["error"] is None and
	 "stable-gw-b" in r["waitingFor"] and r["actor"] == "Alice Example")'
table=$("$FLEET_BIN" status --url "$FLEET_URL" 2>&1)
tap_contains "clawfleet status: one line for the rotation" \
	"tokens      rotation staging, 2 of 3 agents acknowledged; waiting for stable-gw-b" "$table"
tap_contains "and a line for the node that failed" "            stable-gw-b: PUT /v1/token/next answered 409" "$table"
rm -f "$(tokdir stable-gw-b)/token.prev"

start=$(date +%s)
out=$(rotate --agent-token "$token_file" 2>&1)
rc=$?
took=$(($(date +%s) - start))
tap_eq "the next run continues it and waits for the overlap (exit 3)" 3 "$rc"
tap_eq "the controller's agentToken file holds the new token" "$new" "$(cat "$token_file")"
tap_check "and the waiting copy is gone" test ! -e "$token_file.next"
for n in $FLEET_NODES; do
	tap_contains "$n acknowledged: staged, accepted, promoted" \
		"node $n: promoted (sha256 $(sha8 "$new"))" "$out"
	tap_eq "$n: token.current is the new token" "$new" "$(cat "$(tokdir "$n")/token.current")"
	tap_eq "$n: the old token stays accepted as token.prev" 200 "$(code "$n" "$old")"
done
tap_contains "it says when the overlap ends" "run again then to revoke it" "$out"
within "/status: promoted on every node, waiting for the overlap" 20 \
	'((r := d["tokenRotation"])["phase"] == "promoted" and "overlap" in r["waitingFor"] and
	 all(n["acknowledged"] and n["promoted"] and not n["revoked"] and n["error"] is None
	     for n in r["nodes"].values()))'
tap_contains "clawfleet status: 3 of 3 acknowledged" "rotation promoted, 3 of 3 agents acknowledged, 0 revoked" \
	"$("$FLEET_BIN" status --url "$FLEET_URL" 2>&1)"
echo "# stage, switch, two green passes and promote on three agents took ${took}s"

out=$(rotate --agent-token "$token_file" --now "$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%SZ)" 2>&1)
rc=$?
tap_eq "after the overlap and two green passes the old token is revoked (exit 0)" 0 "$rc"
for n in $FLEET_NODES; do
	tap_eq "$n refuses the old token" 401 "$(code "$n" "$old")"
	tap_eq "$n accepts the new one" 200 "$(code "$n" "$new")"
	tap_check "$n has no token.prev" test ! -e "$(tokdir "$n")/token.prev"
done
tap_contains "the run says the rotation is done" "rotated: every agent accepts only" "$out"
within "/status: rotated, every node revoked, nothing to wait for" 20 \
	'((r := d["tokenRotation"])["phase"] == "rotated" and r["waitingFor"] is None and
	 all(n["revoked"] for n in r["nodes"].values()))'
tap_check "the progress names no token" test -z "$(grep -e "$new" -e "$old" "$token_file.rotation.json")"
within "the controller's passes stay green with the new token" 20 \
	'd["passes"][-1]["green"] and all(n["status"] == "green" for n in d["nodes"].values())'

steps=$(python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
print(" ".join(sorted({l["action"] + ":" + l.get("node", "-") for l in lines if l["outcome"] == "ok"})))
' "$audit_file")
tap_eq "an audit line for every step on every node" \
	"promote:canary-gw promote:stable-gw-a promote:stable-gw-b revoke:canary-gw revoke:stable-gw-a revoke:stable-gw-b stage:stable-gw-a stage:stable-gw-b start:- switch:-" \
	"$steps"
tap_check "actor and ticket on every line" python3 -c '
import json, sys
sys.exit(0 if all(l["actor"] == "Alice Example" and l["ticket"] == "OPS-7"
                  for l in map(json.loads, open(sys.argv[1]))) else 1)' "$audit_file"
if grep -rqs -e "$new" -e "$old" "$audit_file" "$fleet"/logs/ $(for n in $FLEET_NODES; do echo "$(tokdir "$n")/rotation.jsonl"; done) ||
	grep -q -e "$new" -e "$old" <<<"$out"; then
	tap_fail "no token in any output, audit line or log"
else
	tap_ok "no token in any output, audit line or log"
fi

# --- token files that accept nothing
cfg=$fleet/bad-agent.yaml
mkdir -m 700 "$fleet/empty-tokens"
sed -e "s|^tokens: .*|tokens: {dir: $fleet/empty-tokens}|" -e "s|^listen: .*|listen: 127.0.0.1:0|" \
	-e "s|^root: .*|root: /|" -e "s|^state: .*||" "$(tokdir canary-gw)/agent.yaml" >"$cfg"
echo "state: $fleet/bad-agent-state" >>"$cfg"
out=$(timeout 10 "$FLEET_BIN" agent --config "$cfg" 2>&1)
rc=$?
tap_eq "an agent whose token files hold no token does not start (exit 1)" 1 "$rc"
tap_contains "and names the files" "$fleet/empty-tokens/token.current" "$out"
printf 'a-token-everyone-reads\n' >"$fleet/empty-tokens/token.current"
chmod 644 "$fleet/empty-tokens/token.current"
out=$(timeout 10 "$FLEET_BIN" agent --config "$cfg" 2>&1)
tap_contains "a token file every user may read is refused at start" "mode 0644" "$out"

dir=$(tokdir canary-gw)
: >"$dir/token.current"
rm -f "$dir/token.next"
sleep 2
tap_eq "emptying a running agent's token files keeps the token it accepted" 200 "$(code canary-gw "$new")"
reasons=$(curl -s --max-time 5 "$(agent_url canary-gw)/readyz")
tap_contains "and /readyz says so" '"code":"tokens.files"' "$reasons"
tap_eq "the agent logs it once" 1 "$(grep -c 'no token file holds a usable token' "$fleet/logs/agent-canary-gw.log")"
tap_done
