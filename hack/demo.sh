#!/usr/bin/env bash
# make demo (and `clawfleet demo`): the main job on a simulated fleet, live in the terminal.
# hack/fleet.sh brings up three simulated Macs (canary-gw, stable-gw-a in zone-a, stable-gw-b in
# zone-b) with real agents, a real HAProxy in front of their gateways, the real notifier, and a
# Git repository of the example manifests; the controller brings the fleet up on v2026.7.1, then
# rolls out v2026.8.0 step by step (the traffic split measured through HAProxy at each step),
# then v2026.8.1, whose canary doctor turns red: weights and skill links roll back together and
# the tag is quarantined. Intervals are seconds, so the whole run takes about a minute.
#
#   BUILD=build hack/demo.sh      needs BUILD/clawfleet and BUILD/sim (make demo builds them)
#   DEMO_FAST=1                   shorter holds and samples, and no wait at the end (tests)
#   DEMO_LB=file                  the `file` LoadBalancer driver instead of HAProxy, as on a
#                                 machine without HAProxy: weights only, no traffic measured
#
# hack/fleet.sh keeps the pid of every process it starts (with its start time) in the demo
# directory; Ctrl-C, an error or the end stops them all, with their children. Each also carries
# CLAWFLEET_DEMO in its environment, for a test to look for leftovers. Logs, the Git repository
# and the audit file stay in the demo directory, printed at the end; each run makes a fresh one.
# It runs under macOS's own bash 3.2 and BSD userland as well as on Linux
# (hack/macos_shell_check.sh guards that).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export BUILD
FAST=${DEMO_FAST:-0}
if [ "$FAST" = 1 ]; then
	ANALYSIS=1s SAMPLE=200 POLL=0.2
else
	ANALYSIS=2s SAMPLE=400 POLL=0.3
fi
DEMO_NAME=demo
. hack/demo_common.sh
demo_need "run hack/install-deps.sh" git python3 curl

. hack/fleet.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-demo.XXXXXX") || exit 1
export CLAWFLEET_DEMO=${CLAWFLEET_DEMO:-$work}
stopped=0
stop() {
	[ "$stopped" = 1 ] && return
	stopped=1
	fleet_down "$work"
}
trap stop EXIT
trap 'echo; echo "demo: interrupted; every process it started is stopped; logs in $work/logs"; exit 130' INT
trap 'exit 143' TERM

# watch UNTIL TIMEOUT [RED_AT]: the rollout live, from the controller's /status, until the python
# expression UNTIL holds for d (the document). At each new canary step it sends SAMPLE requests
# through HAProxy and prints the split; with RED_AT, the canary's doctor turns red once the
# rollout holds at that percent and the split there was measured.
watch() {
	python3 -c '
import json, os, subprocess, sys, time, urllib.request
url, frontend, until, timeout, red_at, canary_root, sample, poll, skills_py = sys.argv[1:10]
timeout, red_at, sample, poll = float(timeout), int(red_at), int(sample), float(poll)
tty = sys.stdout.isatty()
col = (lambda c, s: "\033[%sm%s\033[0m" % (c, s)) if tty else (lambda c, s: s)
colours = {"green": "32", "degraded": "33", "red": "31", "unreachable": "31"}
def status():
    try:
        return json.loads(urllib.request.urlopen(url + "/status", timeout=2).read())
    except Exception:
        return None
def bar(share, width=24):
    full = round(share * width)
    return "\u2588" * full + "\u2591" * (width - full)
def render(d):
    promo = d.get("promotion") or {}
    head = "%s  %s" % (col("1", d["phase"]), promo.get("tag", "-"))
    if d["phase"] in ("Promoting", "Analysing", "Held"):
        head += "  step %d, %d %% to the canary" % (d["step"], d["percent"])
    lines = [head + "   " + col("2", d.get("revision") or "")]
    weights = d.get("weights") or {}
    total = sum(weights.values())
    for name in sorted(weights, key=lambda n: (not n.startswith("canary"), n)):
        w = weights[name]
        share = w / total if total else 0
        lines.append("   %-12s %s %5.1f %%  weight %d" % (name, bar(share), 100 * share, w))
    for name, n in sorted(d.get("nodes", {}).items()):
        reasons = ", ".join(dict.fromkeys(n.get("reasons") or []))
        lines.append("   %-12s %-20s %-10s skills %-6s %s" % (name,
                     col(colours.get(n["status"], "0"), n["status"]) + " " * (11 - len(n["status"])),
                     n.get("tag") or "-", n.get("skills") or "-", reasons))
    return lines
def measure():
    out = subprocess.run(["bash", "-c", ". hack/fleet.sh; fleet_measure \"$1\" \"$2\"", "-",
                          frontend, str(sample)], capture_output=True, text=True, timeout=120)
    counts = [int(x) for x in out.stdout.split()]
    n = sum(counts) or 1
    names = ["canary-gw", "stable-gw-a", "stable-gw-b"]
    return "   measured through HAProxy, %d requests: " % sum(counts) + ", ".join(
        "%s %.0f %%" % (name, 100.0 * c / n) for name, c in zip(names, counts))
shown, drawn, measured, red = None, 0, set(), False
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    d = status()
    if d is None:
        time.sleep(poll)
        continue
    lines = render(d)
    key = (d["phase"], d.get("step"))
    if lines != shown:
        if tty and drawn and key == shownkey:
            sys.stdout.write("\033[%dA" % drawn)
        elif drawn or shown is not None:
            sys.stdout.write("\n")
        sys.stdout.write("".join("\r\033[K" * tty + l + "\n" for l in lines))
        sys.stdout.flush()
        shown, shownkey, drawn = lines, key, len(lines)
    if eval(until):
        sys.exit(0)
    if frontend and d["phase"] == "Analysing" and d["percent"] not in measured and d["percent"] < 100:
        measured.add(d["percent"])
        print(measure(), flush=True)
        drawn = 0
    if red_at and not red and d["phase"] == "Analysing" and d["percent"] == red_at and (red_at in measured or not frontend):
        view = subprocess.run([sys.executable, "-c", skills_py, canary_root], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        print("   canary-gw during the canary: " + view, flush=True)
        with open(os.path.join(canary_root, "sim", "doctor"), "w") as f:
            f.write("{\"verdict\":\"red\"}\n")
        red = True
        print(col("31", "   the canary doctor turns red: %s/sim/doctor holds {\"verdict\":\"red\"}" % canary_root), flush=True)
        drawn = 0
    time.sleep(poll)
print("demo: the rollout did not get there in %d s; see the logs" % timeout, file=sys.stderr)
sys.exit(1)
' "$FLEET_URL" "$FLEET_FRONTEND" "$1" "$2" "${3:-0}" "$canary" "$SAMPLE" "$POLL" "$SKILLS_PY"
}

# A Mac's skill links and the pack its canary tenant acme reads, as python (ROOT in argv[1]).
SKILLS_PY='
import json, os, sys
root = sys.argv[1]
skills = os.path.join(root, "var/db/openclaw/skills")
links = ["%s -> %s" % (l, os.readlink(os.path.join(skills, l)))
         for l in ("current", "next") if os.path.islink(os.path.join(skills, l))]
try:
    with open(os.path.join(root, "etc/openclaw/tenants/acme/skills.json")) as f:
        tenant = json.load(f)["skillsDir"]
    reads = "acme reads skills/%s (%s)" % (os.path.basename(tenant), os.path.basename(os.path.realpath(tenant)))
except (OSError, ValueError, KeyError):
    reads = "acme not materialised"
print("skills/" + ", skills/".join(links) + "; " + reads)'

t0=$SECONDS
say "clawfleet demo: a canary promotion on a simulated fleet of three Macs"
note "work directory: $work"
if [ "${DEMO_LB:-haproxy}" != file ] && command -v haproxy >/dev/null; then
	note "load balancer: a real HAProxy ($(haproxy -v 2>/dev/null | head -1 | cut -d' ' -f1-3))"
else
	export FLEET_LB=file
	note "load balancer: HAProxy is not installed, so the controller drives the \`file\` driver:"
	note "the weights are written to $work/lb/weights.json and no traffic split is measured"
	note "(hack/install-deps.sh installs HAProxy: apt-get install haproxy, brew install haproxy)"
fi

say "1/6  the fleet: three simulated Macs, a load balancer, a Git repository, the notifier"
fleet_up "$work" "$ANALYSIS" || die "the simulated fleet did not come up"
fleet_notifier "$work" || die "the notifier did not start"
. "$work/fleet.env"
canary=$work/macs/canary-gw
note "canary-gw     canary gateway, zone-a   agent http://127.0.0.1:$FLEET_AGENT_PORT_canary_gw"
note "stable-gw-a   stable gateway, zone-a   agent http://127.0.0.1:$FLEET_AGENT_PORT_stable_gw_a"
note "stable-gw-b   stable gateway, zone-b   agent http://127.0.0.1:$FLEET_AGENT_PORT_stable_gw_b"
if [ -n "$FLEET_FRONTEND" ]; then
	note "HAProxy       $FLEET_FRONTEND (runtime API $FLEET_SOCKET)"
else
	note "weights file  $work/lb/weights.json (the file driver)"
fi
note "notifier      $FLEET_NOTIFIER (broadcasts land in $FLEET_CHANNEL)"
note "Git           $FLEET_REPO, tags: $(git -C "$FLEET_REPO" tag | tr '\n' ' ')"
git -C "$FLEET_REPO" log --format='                 %h %s' | sed 's/^/  /'

say "2/6  the controller starts; no Mac runs OpenClaw yet, so it brings them up one at a time"
note "clawfleet controller --config $FLEET_CONFIG   (log: $work/logs/controller.log)"
fleet_controller "$work"
watch 'd["phase"] == "Succeeded" and (d.get("lastGood") or {}).get("tag") == "v2026.7.1"' 90 ||
	die "the bring-up did not finish"

say "3/6  a promotion through Git: v2026.8.0 (OpenClaw 2026.8.0, skills 1.4.3)"
fleet_promote "$work" v2026.8.0 "fleet: promote v2026.8.0"
note "git commit: $(git -C "$FLEET_REPO" log -1 --format='%h %s (%an)')"
note "Shadow on the canary, canary steps 10, 50, 100 %, then the stable gateways one at a time"
watch 'd["phase"] == "Succeeded" and (d.get("lastGood") or {}).get("tag") == "v2026.8.0"' 90 ||
	die "v2026.8.0 did not finish its rollout"

say "4/6  a second promotion, v2026.8.1 (skills 1.4.4), whose canary doctor turns red"
mkdir -p "$FLEET_REPO/skills/1.4.4/summarise"
echo "# summarise 1.4.4" >"$FLEET_REPO/skills/1.4.4/summarise/SKILL.md"
fleet_sed "$FLEET_REPO/openclaw.lock" 's/"semver": "1.4.3"/"semver": "1.4.4"/'
fleet_sed "$FLEET_REPO/clawfleet/promotion.yaml" \
	's/tag: v2026.8.0/tag: v2026.8.1/; s/skillSemver: 1.4.3/skillSemver: 1.4.4/'
git -C "$FLEET_REPO" add -A
git -C "$FLEET_REPO" commit -qm "fleet: promote v2026.8.1" -m "Ticket: OPS-2002"
git -C "$FLEET_REPO" tag -a -m v2026.8.1 v2026.8.1
note "git commit: $(git -C "$FLEET_REPO" log -1 --format='%h %s (%an)'), tagged v2026.8.1"
watch 'd["phase"] == "RolledBack"' 90 50 || die "the red canary was not rolled back"

say "5/6  the automatic rollback: weights and skill links together, the tag quarantined"
rm -f "$canary/sim/doctor"
# The canary, drained while its doctor was red, takes traffic again after two green passes.
# Every node green in the same pass as every weight above 0: the canary may still be drained
# after the rollback by a pass that saw it red, and a pass that sees it green drains nothing.
fleet_wait 30 fleet_status "$FLEET_URL" \
	'all(n["tag"] == "v2026.8.0" and n["skills"] == "1.4.3" and n["status"] == "green" for n in d["nodes"].values()) and all(w > 0 for w in d["weights"].values())' ||
	die "the fleet did not return to v2026.8.0 with every gateway serving"
note "canary-gw after the rollback: $(python3 -c "$SKILLS_PY" "$canary")"
fleet_status "$FLEET_URL" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("   weights now:  " + ", ".join("%s %d" % kv for kv in sorted(d["weights"].items())))
print("   quarantined:  " + ", ".join(d["quarantined"]) + " (not promoted again until Git names another tag or commit)")
h = d["history"][-1]
print("   history:      %s -> %s %s (%s)" % (h["from"]["tag"], h["to"]["tag"], h["outcome"], h["reason"]))'
fleet_wait 10 grep -q rollback "$FLEET_CHANNEL" &&
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("kind") in ("rollback", "verdict"):
        print("   notifier broadcast: " + m["text"][:150])' "$FLEET_CHANNEL"

say "6/6  where to look"
audit=$FLEET_STATE/promotions.jsonl
note "status page:   $FLEET_URL/   (JSON: $FLEET_URL/status, metrics: $FLEET_URL/metrics)"
note "status:        $FLEET_BIN status --url $FLEET_URL"
note "audit file:    $audit ($(awk 'END { print NR }' "$audit") lines)"
note "\$ clawfleet audit verify $audit"
"$FLEET_BIN" audit verify "$audit" 2>&1 | sed 's/^/   /'
note "logs:          $work/logs"
printf '\n%sThe demo took %d s.%s\n' "$BOLD" $((SECONDS - t0)) "$RESET"
if [ "$FAST" != 1 ] && [ -t 0 ] && [ -t 1 ]; then
	echo "The fleet keeps running for 10 minutes so you can look; Ctrl-C stops it now."
	sleep 600
fi
