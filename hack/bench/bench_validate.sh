#!/usr/bin/env bash
# Loading and validating the desired state of a repository with 1,000 node files at a tag:
# `clawfleet validate --ref TAG` (a whole process: libgit2 reads the tree, libyaml parses, the
# CRD schemas validate) against the baseline the runbooks imply: `git worktree add` of the tag,
# then python3 + PyYAML loading the same files, with its pure-Python SafeLoader and with its
# libyaml CSafeLoader. The three alternate RUNS times; medians, and each baseline's ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
RUNS=${RUNS:-9}
NODES=${NODES:-1000}
bin="$PWD/$BUILD/clawfleet"
work=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-bench.XXXXXX")
trap 'git -C "$work/repo" worktree prune 2>/dev/null; rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

repo="$work/repo"
mkdir -p "$repo/openclaw/nodes" "$repo/clawfleet"
cp manifests/example-repo/clawfleet/*.yaml "$repo/clawfleet/"
cp manifests/example-repo/openclaw.lock "$repo/"
cp -R manifests/example-repo/tenants "$repo/"
for i in $(seq 1 "$NODES"); do
	canary=false
	[ "$i" -eq 1 ] && canary=true
	cat >"$repo/openclaw/nodes/mac-$i.yaml" <<EON
apiVersion: fleet.openclaw.io/v1alpha1
kind: MacNode
metadata:
  name: mac-$i
spec:
  address: http://127.0.0.1:$((20000 + i))
  role: gateway
  zone: zone-$((i % 3))
  canary: $canary
  loadBalancer:
    server: mac-$i
    weight: 100
EON
done
git -C "$repo" -c init.defaultBranch=main init -q
git -C "$repo" add -A
git -C "$repo" commit -qm "fleet of $NODES"
git -C "$repo" tag v2026.7.1
git -C "$repo" gc -q

# The clock into variable $1, in microseconds. Bash 5's EPOCHREALTIME reads it without a process:
# `$(date +%s%N)` costs a fork and an exec (1-4 ms on a busy machine), which fell inside the
# few milliseconds of clawfleet's run it timed.
now_us() {
	if [ -n "${EPOCHREALTIME:-}" ]; then
		local t=${EPOCHREALTIME/[.,]/}
		printf -v "$1" '%s' "$((10#$t))"
	else
		printf -v "$1" '%s' "$(($(date +%s%N) / 1000))"
	fi
}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# One PyYAML load of the worktree's files; $1: SafeLoader (pure Python) or CSafeLoader (libyaml).
pyyaml() {
	python3 - "$1" "$2" <<'PY'
import glob, sys, yaml
loader, root = getattr(yaml, sys.argv[1]), sys.argv[2]
n = 0
for pattern in ("clawfleet/*.yaml", "openclaw/nodes/*.yaml", "tenants/*/*.d/*.yaml"):
    for path in sorted(glob.glob(f"{root}/{pattern}")):
        with open(path) as f:
            n += sum(1 for doc in yaml.load_all(f, Loader=loader) if doc is not None)
assert n >= 1000, n
PY
}

# git worktree add of the tag, then PyYAML with loader $1 over it; microseconds.
baseline() {
	local wt="$work/wt-$2" t0 t1
	now_us t0
	git -C "$repo" worktree add -q --detach "$wt" v2026.7.1
	pyyaml "$1" "$wt"
	now_us t1
	git -C "$repo" worktree remove --force "$wt"
	echo $((t1 - t0))
}

# The three alternate within each run, so the machine's load falls on all of them alike.
ours=() base=() cbase=()
for r in $(seq 1 "$RUNS"); do
	now_us t0
	"$bin" validate --ref tag:v2026.7.1 "$repo" >/dev/null
	now_us t1
	ours+=($((t1 - t0)))
	base+=("$(baseline SafeLoader "py-$r")")
	cbase+=("$(baseline CSafeLoader "c-$r")")
done

ours_us=$(printf '%s\n' "${ours[@]}" | median)
base_us=$(printf '%s\n' "${base[@]}" | median)
cbase_us=$(printf '%s\n' "${cbase[@]}" | median)
inproc=$("$BUILD/bench/bench_desired" "$repo" tag:v2026.7.1 25)
echo "== desired state: $NODES node files at a tag (median of $RUNS alternated runs)"
awk -v o="$ours_us" -v b="$base_us" -v c="$cbase_us" 'BEGIN {
	printf "  clawfleet validate --ref TAG (whole process)            %8.2f ms\n", o / 1000
	printf "  baseline: git worktree add + PyYAML SafeLoader          %8.2f ms   ratio %6.1fx   (aim: >= 60x)\n", b / 1000, b / o
	printf "  baseline: git worktree add + PyYAML CSafeLoader (libyaml) %6.2f ms   ratio %6.1fx\n", c / 1000, c / o
}'
echo "  in-process refresh through the controller's cache: $inproc"
echo "  (aim: unchanged revision under 1 ms)"
