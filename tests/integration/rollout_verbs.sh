#!/usr/bin/env bash
# clawfleet rollout's writing verbs against a real bare repository made with the git CLI: each
# verb is one commit changing only the lines it must, with the Ticket: trailer and the author,
# comments and the Flux setter marker kept; "nothing to do" pushes nothing; concurrent pushers
# are rebased, never forced (every commit stays, the history stays linear).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tap_tmpdir
bin=${CLAWFLEET:-$PWD/build/clawfleet}
work="$TAP_TMP/work" remote="$TAP_TMP/remote.git"
export GIT_AUTHOR_NAME=Setup GIT_AUTHOR_EMAIL=setup@example.com
export GIT_COMMITTER_NAME=Setup GIT_COMMITTER_EMAIL=setup@example.com

git -c init.defaultBranch=main init -q "$work"
cp -R manifests/example-repo/. "$work/"
git -C "$work" add -A && git -C "$work" commit -qm "fleet: v2026.7.1" && git -C "$work" tag v2026.7.1
sed -i.bak 's/v2026.7.1/v2026.8.0/; s/skillSemver: 1.4.2/skillSemver: 1.4.3/; s/gateway:2026.7.1/gateway:2026.8.0/' \
	"$work/clawfleet/promotion.yaml" && rm "$work/clawfleet/promotion.yaml.bak"
sed -i.bak 's/"version": "2026.7.1"/"version": "2026.8.0"/' "$work/openclaw.lock" && rm "$work/openclaw.lock.bak"
git -C "$work" commit -qam "fleet: v2026.8.0" && git -C "$work" tag v2026.8.0
git clone -q --bare "$work" "$remote"

verb() { "$bin" rollout "$@" --source "$remote" --ref main --ticket OPS-7 \
	--author "Night Ops <ops@example.com>" 2>&1; echo "exit $?"; }
stat() { git -C "$remote" show --stat --format='%an <%ae>%n%B' HEAD | grep -v '^$'; }
diff_lines() { git -C "$remote" show --format= HEAD | grep '^[-+] ' ; }

out=$(verb pause)
tap_contains "pause pushes" "exit 0" "$out"
tap_eq "pause: one line of the Promotion, the author and the Ticket trailer" \
	"Night Ops <ops@example.com>
rollout pause: Pause the rollout
Ticket: OPS-7
 clawfleet/promotion.yaml | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)" "$(stat)"
tap_eq "pause: suspend false becomes true" "-  suspend: false
+  suspend: true" "$(diff_lines)"
before=$(git -C "$remote" rev-parse main)
out=$(verb pause)
tap_eq "pause again: nothing to do, exit 3, nothing pushed" "nothing to do: main already says so
exit 3" "$out"
tap_eq "pause again: the branch did not move" "$before" "$(git -C "$remote" rev-parse main)"

verb resume >/dev/null
tap_eq "resume: true becomes false" "-  suspend: true
+  suspend: false" "$(diff_lines)"
verb abort >/dev/null
tap_eq "abort: abort becomes true" "-  abort: false
+  abort: true" "$(diff_lines)"

out=$(verb promote --full)
tap_contains "promote --full pushes" "spec.approval: v2026.8.0 through full" "$out"
tap_eq "promote --full: the approval inserted under spec" "+  approval:
+    tag: v2026.8.0
+    through: full" "$(git -C "$remote" show --format= HEAD | grep '^+ ')"
out=$(verb promote --controller http://127.0.0.1:1)
tap_contains "promote with no gate in the Promotion is refused" "has no gate left to approve" "$out"
tap_contains "promote refused: exit 1" "exit 1" "$out"

out=$(verb undo --to v2026.7.1)
tap_contains "undo pushes" "exit 0" "$out"
tap_eq "undo: tag, skillSemver, imageRef and openclaw.lock as the tag has them" \
	" clawfleet/promotion.yaml | 6 +++---
 openclaw.lock            | 4 ++--" "$(git -C "$remote" show --stat --format= HEAD | grep '|')"
show=$(git -C "$remote" show HEAD:clawfleet/promotion.yaml)
tap_contains "undo keeps the Flux setter marker" \
	'imageRef: ghcr.io/example/openclaw-gateway:2026.7.1 # {"$imagepolicy": "flux-system:openclaw-gateway"}' "$show"
tap_contains "undo keeps the comments" "# The build the fleet should run." "$show"
tap_eq "undo: openclaw.lock is the tag's" "$(git -C "$work" show v2026.7.1:openclaw.lock)" \
	"$(git -C "$remote" show HEAD:openclaw.lock)"

out=$(verb retry v2026.8.0 --quarantined-at 2026-12-07T05:10:00.000Z)
tap_contains "retry pushes" "exit 0" "$out"
show=$(git -C "$remote" show HEAD:clawfleet/promotion.yaml)
tap_contains "retry: spec.retry with the quarantine's time" '  retry:
    tag: v2026.8.0
    quarantinedAt: "2026-12-07T05:10:00.000Z"' "$show"
tap_contains "retry names the tag again" "  tag: v2026.8.0" "$show"

out=$(verb retry v9.9.9 --quarantined-at 2026-12-07T05:10:00.000Z)
tap_contains "retry of a tag that does not exist is refused" "there is no tag v9.9.9" "$out"
out=$("$bin" rollout pause --source "$remote" 2>&1; echo "exit $?")
tap_contains "no --ticket: a usage error" "--ticket is required" "$out"
tap_contains "no --ticket: exit 2" "exit 2" "$out"
out=$("$bin" rollout pause --source "$TAP_TMP/nowhere" --ref main --ticket T --author "A <a@b>" 2>&1; echo "exit $?")
tap_contains "a remote that does not exist: exit 1" "exit 1" "$out"

# Three writers at once, each with a change whatever lands first: a push that lost the race is
# rebased onto the new tip and retried, never forced, so all three commits land on one linear
# history.
n0=$(git -C "$remote" rev-list --count main)
race() { "$bin" rollout "$@" --source "$remote" --ref main --ticket RACE \
	--author "Racer <racer@example.com>" 2>&1; }
race pause >"$TAP_TMP/race1" & race undo --to v2026.7.1 >"$TAP_TMP/race2" &
race retry v2026.8.0 --quarantined-at 2026-12-08T00:00:00.000Z >"$TAP_TMP/race3" &
wait
tap_eq "concurrent pushers: each pushed" "3" "$(grep -l '^pushed' "$TAP_TMP"/race* | wc -l | tr -d ' ')"
tap_eq "concurrent pushers: three more commits, no merge" "$((n0 + 3)) 0" \
	"$(git -C "$remote" rev-list --count main) $(git -C "$remote" rev-list --merges --count main)"
tap_check "concurrent pushers: every earlier commit is still on main" \
	git -C "$remote" merge-base --is-ancestor "$before" main
show=$(git -C "$remote" show main:clawfleet/promotion.yaml)
tap_contains "concurrent pushers: all three changes are there" "suspend: true" "$show"
tap_contains "concurrent pushers: the retry is there" 'quarantinedAt: "2026-12-08T00:00:00.000Z"' "$show"
echo "# attempts: $(sed -n 's/.*(\([0-9]*\) attempts*).*/\1/p' "$TAP_TMP"/race* | tr '\n' ' ')"
tap_done
