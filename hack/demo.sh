#!/usr/bin/env bash
# make demo: today the part of the main job that is built: a GitOps repository (the example in
# manifests/example-repo) committed and tagged with the git CLI, then read through Git at the
# tag and validated, and a broken commit showing the errors a platform team's CI would see.
# The simulated fleet (agents, controller, HAProxy) joins this script as it is built.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin="$PWD/$BUILD/clawfleet"
work=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
export GIT_AUTHOR_NAME="Demo Operator" GIT_AUTHOR_EMAIL="ops@example.com"
export GIT_COMMITTER_NAME="Demo Operator" GIT_COMMITTER_EMAIL="ops@example.com"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "a GitOps repository with three Macs, two tenants and a Promotion"
cp -R manifests/example-repo "$work/repo"
git -C "$work/repo" -c init.defaultBranch=main init -q
git -C "$work/repo" add -A
git -C "$work/repo" commit -qm "fleet: promote v2026.7.1" -m "Ticket: OPS-1042"
git -C "$work/repo" tag v2026.7.1
(cd "$work/repo" && find . -path ./.git -prune -o -type f -print | sort | sed 's|^\./|  |')

say "clawfleet validate --ref main (read through libgit2, no checkout)"
"$bin" validate --ref main "$work/repo"

say "the same through a URL, mirrored into a bare repository"
"$bin" validate --ref tag:v2026.7.1 "file://$work/repo"

say "a bad commit: a typo, a secret, a tag that was never pushed"
sed -i 's/weight: 100/wieght: 100/' "$work/repo/openclaw/nodes/canary-gw.yaml"
sed -i 's/tag: v2026.7.1/tag: v2026.8.0/' "$work/repo/clawfleet/promotion.yaml"
printf 'endpoints:\n  - url: https://acme.example.com/openclaw/events\n    apiToken: hunter2\n' \
	>"$work/repo/tenants/acme/webhook.d/10-endpoints.yaml"
git -C "$work/repo" commit -qam "fleet: promote v2026.8.0"
"$bin" validate --ref main "$work/repo" || echo "(exit $?: CI would block this commit)"
