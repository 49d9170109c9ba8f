#!/usr/bin/env bash
# make bench: figures and ratios against a baseline run side by side on this machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
for b in hack/bench/bench_*.sh; do
	bash "$b"
done
