#!/usr/bin/env bash
# Rollback that Git agrees with (source.writeBack), on a simulated fleet (hack/fleet.sh) whose
# controller reads a bare remote: a red canary rolls v2026.8.0 back, and the controller then
# pushes one commit to the remote that points the Promotion back at v2026.7.1 (tag, skillSemver,
# imageRef and openclaw.lock, as `clawfleet rollout undo` writes them) with the trailers
# Rollback-Of, Rollback-Reason and the rollout's Ticket; /status reports the write-back done and
# Git no longer naming the quarantined tag; a restarted controller writes nothing twice.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up writeback 1s
remote=$fleet/remote.git
doctor() { # green|red: the canary's simulated doctor
	local file=$fleet/macs/canary-gw/sim/doctor
	if [ "$1" = green ]; then rm -f "$file"; else echo "{\"verdict\":\"$1\"}" >"$file"; fi
}
commits() { git -C "$remote" rev-list --count main; }

git clone -q --bare "$FLEET_REPO" "$remote"
git -C "$FLEET_REPO" remote add origin "$remote"
sed -i "s|^source: .*|source: {url: \"$remote\", ref: main, interval: 1s, timeout: 10s, writeBack: {author: \"Fleet Controller <fleet@example.com>\"}}|" \
	"$FLEET_CONFIG"

fleet_controller "$fleet"
within "bring-up from the bare remote: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1" and d["writeBack"] is None'
fleet_promote "$fleet" v2026.8.0
git -C "$FLEET_REPO" push -q origin main
before=$(commits)
doctor red
within "a red canary: v2026.8.0 RolledBack and quarantined" 30 \
	'd["phase"] == "RolledBack" and d["quarantined"] == ["v2026.8.0"]'
within "the write-back is done within a few seconds" 10 \
	'd["writeBack"] and d["writeBack"]["state"] == "done" and d["writeBack"]["commit"]'
tap_eq "one commit on the remote" $((before + 1)) "$(commits)"
tap_check "it points the Promotion back at v2026.7.1, carrying the trailers" python3 -c '
import json, subprocess, sys
remote, st = sys.argv[1], json.loads(sys.argv[2])
git = lambda *a: subprocess.run(["git", "-C", remote] + list(a), capture_output=True, text=True, check=True).stdout
head = git("rev-parse", "main").strip()
assert head == st["writeBack"]["commit"], (head, st["writeBack"])
msg = git("show", "-s", "--format=%B", "main")
trailers = msg.strip().splitlines()[-3:]
assert trailers == ["Ticket: " + st["history"][-1]["ticket"], "Rollback-Of: v2026.8.0", "Rollback-Reason: " + st["history"][-1]["reason"]], msg
assert "Fleet Controller <fleet@example.com>" in git("show", "-s", "--format=%an <%ae>", "main"), msg
changed = [l for l in git("show", "--format=", "main", "--", "clawfleet").splitlines()
           if l[:1] in "+-" and l[:3] not in ("+++", "---")]
good = git("show", "v2026.7.1:clawfleet/promotion.yaml").splitlines()
want = [l for l in good if l.strip().split(":")[0] in ("tag", "skillSemver", "imageRef")]
assert len(want) == 3 and sorted(l[1:] for l in changed if l[0] == "+") == sorted(want), (changed, want)
assert len([l for l in changed if l[0] == "-"]) == 3, changed
assert git("diff", "v2026.7.1", "main", "--", "openclaw.lock") == "", "openclaw.lock differs from v2026.7.1"
' "$remote" "$(status)"
within "/status: Git names the last good tag again" 10 \
	'd["gitNamesQuarantinedTag"] is False and d["gitNamesMessage"] is None and d["quarantined"] == ["v2026.8.0"]'

kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_eq "SIGTERM: exit 0" 0 $?
fleet_controller "$fleet"
within "restarted: the write-back is remembered as done" 20 \
	'd["writeBack"]["state"] == "done" and d["phase"] == "RolledBack"'
sleep 3
tap_eq "no second commit after the restart" $((before + 1)) "$(commits)"
tap_check "the audit chain verifies" "$FLEET_BIN" audit verify "$audit"
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -60
tap_done
