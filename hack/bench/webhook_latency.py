#!/usr/bin/env python3
"""Webhook to first action: how long a Flux event waits before the controller acts on it.

  webhook_latency.py [--baseline] REPO HOOK_URL TOKEN LOG EVENTS [SEED]

For each of EVENTS events, at a random offset into the controller's pass cycle (0-1 s after
the last one was acted on), a new commit becomes REPO's main (its ref replaced in one rename, as
a push lands) and a Flux GitRepository NewArtifact event naming it is POSTed to HOOK_URL with
the bearer TOKEN, as notification-controller sends it. The latency is from just before the POST
to the controller's first log line for that commit in LOG ("desired state main@sha1:COMMIT":
the pass the event started reading it), both on the wall clock of this machine, the log's to
the millisecond. The commits are empty (the same tree), so the rollout under way goes on.

With --baseline, every other commit is published with no event: the pass that reads it is one
the controller runs on its own (every second during a rollout), which is what an event saves.

Prints one latency in ms per line ("event 1.6", "baseline 480.2"), then for each kind
"event p50=... p99=... max=..." in ms; exits 1 when an event is refused or a commit is not read
within 10 s."""
import json
import math
import os
import random
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def new_commit(repo, parent, n):
    """A commit on parent with parent's tree; no ref moves yet."""
    return git(repo, "commit-tree", parent + "^{tree}", "-p", parent, "-m", f"bench: event {n}")


def publish(repo, commit):
    """main becomes commit in one rename: a pass reads the old commit or the new one."""
    ref = os.path.join(repo, ".git", "refs", "heads", "main")
    tmp = ref + ".bench"
    with open(tmp, "w") as f:
        f.write(commit + "\n")
    os.replace(tmp, ref)


def post(url, token, commit, n):
    body = json.dumps({
        "involvedObject": {"kind": "GitRepository", "namespace": "flux-system",
                           "name": "openclaw-fleet", "uid": "u-bench"},
        "severity": "info", "reason": "NewArtifact", "message": f"stored artifact {n}",
        "metadata": {"revision": f"main@sha1:{commit}"},
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}",
        "x-flux-event": "true"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status


def acted_at(log, offset, commit, deadline):
    """The wall-clock time (s) of the first log line naming commit after offset, or None."""
    needle = f"desired state main@sha1:{commit}"
    while time.time() < deadline:
        with open(log, "rb") as f:
            f.seek(offset)
            for line in f.read().decode(errors="replace").splitlines():
                if needle in line:
                    stamp = line.split(" ", 1)[0]
                    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
                    return when.replace(tzinfo=timezone.utc).timestamp()
        time.sleep(0.002)
    return None


def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]  # nearest rank


def main():
    args = sys.argv[1:]
    baseline = bool(args) and args[0] == "--baseline"
    args = args[1:] if baseline else args
    if len(args) not in (5, 6):
        sys.exit(__doc__)
    repo, url, token, log, events = args[:5]
    rng = random.Random(int(args[5]) if len(args) == 6 else 1)
    head = git(repo, "rev-parse", "main")
    latencies = {"event": [], "baseline": []}
    for n in range(1, int(events) + 1):
        kind = "baseline" if baseline and n % 2 == 0 else "event"
        commit = new_commit(repo, head, n)
        time.sleep(rng.uniform(0, 1.0))
        offset = os.path.getsize(log)
        publish(repo, commit)
        sent = time.time()
        if kind == "event":
            status = post(url, token, commit, n)
            if status != 202:
                sys.exit(f"event {n}: the receiver answered {status}, not 202")
        when = acted_at(log, offset, commit, sent + 10)
        if when is None:
            sys.exit(f"{kind} {n}: no pass read {commit} within 10 s")
        # The log has whole milliseconds: a commit read within the millisecond it was
        # published can read as up to 1 ms early.
        latencies[kind].append(max(0.0, (when - sent) * 1000))
        print(f"{kind} {latencies[kind][-1]:.1f}", flush=True)
        head = commit
    for kind, values in latencies.items():
        if values:
            print(f"{kind} p50={percentile(values, 50):.1f} p99={percentile(values, 99):.1f} "
                  f"max={max(values):.1f} n={len(values)}")


if __name__ == "__main__":
    main()
