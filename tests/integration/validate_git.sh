#!/usr/bin/env bash
# clawfleet validate against real Git repositories made with the git CLI: refs with Flux
# precedence, tags that must exist, URLs mirrored into a bare repository, the example repository.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tap_tmpdir
bin=${CLAWFLEET:-$PWD/build/clawfleet}
repo="$TAP_TMP/repo"

run() { "$bin" validate "$@" 2>&1; echo "exit $?"; }

out=$(run manifests/example-repo)
tap_eq "example repository validates clean" \
	"configuration OK: 3 nodes, 2 tenants, 1 promotion
exit 0" "$out"

cp -R manifests/example-repo "$repo"
git -C "$repo" -c init.defaultBranch=main init -q
git -C "$repo" add -A
git -C "$repo" commit -qm "fleet: first promotion"
first=$(git -C "$repo" rev-parse HEAD)

out=$(run --ref main "$repo")
tap_contains "a Promotion whose tag is not in the repository is an error" \
	'clawfleet/promotion.yaml:8:8: Promotion/gateway: spec.tag: tag "v2026.7.1" does not exist in the repository (push it first)' "$out"
tap_contains "and the command exits 1" "exit 1" "$out"

git -C "$repo" tag -a v2026.7.1 -m "release 2026.7.1"
out=$(run --ref main "$repo")
tap_eq "the branch resolves to a Flux revision once the tag exists" \
	"configuration OK: 3 nodes, 2 tenants, 1 promotion at main@sha1:$first
exit 0" "$out"

# A second commit on main breaks a node; the tag still points at the good commit.
sed -i 's/role: gateway/role: gatway/' "$repo/openclaw/nodes/canary-gw.yaml"
git -C "$repo" commit -qam "fleet: typo"
second=$(git -C "$repo" rev-parse HEAD)
out=$(run --ref main "$repo")
tap_contains "the branch head is read from Git, not from the work tree" \
	'openclaw/nodes/canary-gw.yaml:7:9: MacNode/canary-gw: spec.role: must be one of' "$out"
out=$(run --ref v2026.7.1 "$repo")
tap_eq "a bare tag name resolves to the annotated tag's commit" \
	"configuration OK: 3 nodes, 2 tenants, 1 promotion at v2026.7.1@sha1:$first
exit 0" "$out"
out=$(run --ref "commit:$first" "$repo")
tap_eq "commit refs print as sha1:<hex>" \
	"configuration OK: 3 nodes, 2 tenants, 1 promotion at sha1:$first
exit 0" "$out"
git -C "$repo" tag v2026.7.2 "$first"
git -C "$repo" tag v2026.8.0-rc.1 "$second"
out=$(run --ref "semver:>=2026.7.0 <2026.8.0" "$repo")
tap_eq "a semver range picks the highest matching tag" \
	"configuration OK: 3 nodes, 2 tenants, 1 promotion at v2026.7.2@sha1:$first
exit 0" "$out"
out=$(run --ref no-such-branch "$repo")
tap_contains "an unknown ref is a clear error" "no-such-branch" "$out"
tap_contains "and exits 1" "exit 1" "$out"

# The work tree itself is read when no --ref is given: the typo is there too.
out=$(run "$repo")
tap_contains "a directory source reads the files as they are" "spec.role: must be one of" "$out"

out=$(run --ref "tag:v2026.7.1" "file://$repo")
tap_eq "a URL is mirrored into a bare repository and read at the tag" \
	"configuration OK: 3 nodes, 2 tenants, 1 promotion at v2026.7.1@sha1:$first
exit 0" "$out"
git clone -q --bare "$repo" "$TAP_TMP/bare.git"
out=$(run "$TAP_TMP/bare.git")
tap_contains "a bare repository is read through Git at main" "at main@sha1:$second" "$out" 
out=$(run "$TAP_TMP/does-not-exist")
tap_contains "a missing source says so" "does-not-exist: No such file or directory" "$out"
out=$(run)
tap_contains "no SOURCE is a usage error" "exit 2" "$out"
tap_done
