#!/usr/bin/env bash
# baseline_probe.sh: the merged readiness probe as the source documents' runbooks write it (the
# "Merging health probes" snippets of 001, 002 and 003), run as a CGI script is, once per request:
# readlink of skills/current, `openclaw doctor --json` for the canary tenant's profile, curl of
# the queue snapshot and the webhook digest (--max-time 3 each), and python3 judging the lot
# against openclaw.lock and printing the JSON with the sha256 of its inputs. It is the baseline
# bench_readyz.sh measures the agent's /readyz against, so it reads the same simulated Mac.
#
#   ROOT=DIR OPENCLAW_SIM_ROOT=DIR QUEUE_URL=URL DIGEST_URL=URL PROBE_DIR=DIR [TENANT=acme] \
#       baseline_probe.sh
#
# ROOT is the Mac's root (the agent's `root`), PROBE_DIR the scratch directory the runbooks use
# /tmp for (one per concurrent caller). Prints a CGI answer: Status and Content-Type lines, a
# blank line, the JSON; 200 for green and degraded, 503 for red.
set -euo pipefail
: "${ROOT:?}" "${QUEUE_URL:?}" "${DIGEST_URL:?}" "${PROBE_DIR:?}"
TENANT=${TENANT:-acme}
# The runbooks call /usr/bin/python3, not whatever wrapper (pyenv, a venv) comes first in PATH.
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=python3

readlink "$ROOT/var/db/openclaw/skills/current" >"$PROBE_DIR/skill_path.txt"
# doctor --json exits 0 even when unhealthy; its body is judged below.
OPENCLAW_PROFILE=$TENANT "$ROOT/usr/local/bin/openclaw" doctor --json --non-interactive \
	>"$PROBE_DIR/doctor.json"
curl -fsS --noproxy '*' --max-time 3 "$QUEUE_URL" -o "$PROBE_DIR/queue.json"
curl -fsS --noproxy '*' --max-time 3 "$DIGEST_URL" -o "$PROBE_DIR/digest.json"
"$PYTHON" - "$ROOT" "$PROBE_DIR" <<'PY'
import datetime, hashlib, json, os, pathlib, sys

root, tmp = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
parts = [(tmp / f).read_bytes() for f in ("doctor.json", "queue.json", "digest.json")]
doctor, queue, digest = (json.loads(p) for p in parts)
lock = json.loads((root / "usr/local/share/openclaw-infra/openclaw.lock").read_text())
current = pathlib.Path((tmp / "skill_path.txt").read_text().strip()).name
st = os.statvfs(root)
free = 100.0 * st.f_bavail / st.f_blocks

reasons = []
bad = [f for f in doctor.get("findings", []) if f.get("severity") in ("error", "warning")]
if doctor.get("ok") is False or any(f["severity"] == "error" for f in bad):
    verdict = "red"
elif bad:
    verdict = "yellow"
else:
    verdict = "green"
if current != lock["skills"]["semver"]:
    reasons.append({"code": "skills.semver_mismatch", "severity": "red"})
if verdict != "green":
    reasons.append({"code": "doctor." + verdict, "severity": "red" if verdict == "red" else "degraded"})
if free < 10:
    reasons.append({"code": "disk.low", "severity": "red"})
if queue.get("limit") and queue.get("depth", 0) > queue["limit"]:
    reasons.append({"code": "queue.over_limit", "severity": "degraded"})
if digest.get("age_sec", 0) > 900:
    reasons.append({"code": "digest.stale", "severity": "degraded"})
severities = {r["severity"] for r in reasons}
status = "red" if "red" in severities else "degraded" if severities else "green"

doc = {
    "status": status,
    "reasons": reasons,
    "skills": {"current": current, "lockSemver": lock["skills"]["semver"],
               "match": current == lock["skills"]["semver"]},
    "doctor": {"verdict": verdict, "firstBad": bad[0] if bad else None},
    "queue": {"depth": queue.get("depth"), "limit": queue.get("limit")},
    "digest": {"ageSec": digest.get("age_sec"), "top": digest.get("top", [])},
    "disk": {"freePercent": round(free, 1)},
    "checkedAt": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "probeSha256": hashlib.sha256(b"".join(parts)).hexdigest(),
}
print("Status: %s" % ("503 Service Unavailable" if status == "red" else "200 OK"))
print("Content-Type: application/json")
print()
print(json.dumps(doc))
PY
