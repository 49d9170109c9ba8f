#!/usr/bin/env bash
# The files that install the daemons and watch them: the launchd property lists
# (manifests/launchd), the systemd units (manifests/systemd) and the Grafana dashboard
# (manifests/grafana). plutil and Grafana do not run here, so the plists are read with python3's
# plistlib (and xmllint against Apple's DTD when installed), the units with a parser of their INI
# form (and `systemd-analyze verify` when it works in this environment), and the dashboard with
# python3's json; its queries may name only the metrics a running controller serves on /metrics.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
tap_tmpdir
bin=${CLAWFLEET:-$PWD/${BUILD:-build}/clawfleet}
dashboard=manifests/grafana/clawfleet.json
ROLES="controller agent notifier"
# The controller's metrics the dashboard is drawn from; a renamed metric must break this test.
METRICS="clawfleet_rollout_phase clawfleet_canary_weight clawfleet_canary_percent
clawfleet_node_status clawfleet_reconcile_duration_seconds clawfleet_reconcile_total
clawfleet_actions_total clawfleet_rollbacks_total clawfleet_git_fetch_duration_seconds
clawfleet_build_info clawfleet_analysis_metric clawfleet_analysis_metric_verdict
clawfleet_analysis_metric_failures"

checks=$TAP_TMP/checks.py
cat >"$checks" <<'EOF'
import json, plistlib, re, shlex, sys

BINARY = "/usr/local/bin/clawfleet"
CONFIG = "/usr/local/etc/clawfleet/%s.yaml"
LOGS = "/usr/local/var/log/clawfleet/"
# launchd.plist(5) keys these files may use; anything else is a typo launchd would ignore.
LAUNCHD_KEYS = {"Label", "ProgramArguments", "UserName", "GroupName", "InitGroups", "RunAtLoad",
                "KeepAlive", "ThrottleInterval", "ExitTimeOut", "StandardOutPath",
                "StandardErrorPath", "EnvironmentVariables", "SoftResourceLimits",
                "HardResourceLimits", "WorkingDirectory", "Umask", "ProcessType"}
problems = []


def problem(msg):
    problems.append(msg)


def check_config_args(args, role):
    if args[:2] != [BINARY, role]:
        problem("the command must start %s %s, not %s" % (BINARY, role, " ".join(args[:2])))
    if "--config" not in args[:-1] or args[args.index("--config") + 1] != CONFIG % role:
        problem("the arguments must hold --config %s" % (CONFIG % role))


def plist(path, role):
    with open(path, "rb") as f:
        p = plistlib.load(f)
    if not isinstance(p, dict):
        return problem("the top level is not a dict")
    for key in sorted(set(p) - LAUNCHD_KEYS):
        problem("unknown key %s" % key)
    if p.get("Label") != "ai.clawfleet." + role:
        problem("Label is %r, not ai.clawfleet.%s" % (p.get("Label"), role))
    args = p.get("ProgramArguments")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return problem("ProgramArguments is not a list of strings")
    check_config_args(args, role)
    keep = p.get("KeepAlive")
    if keep is not True and not (isinstance(keep, dict) and keep.get("SuccessfulExit") is False):
        problem("KeepAlive must be true or {SuccessfulExit: false}, not %r" % (keep,))
    if p.get("RunAtLoad") is not True:
        problem("RunAtLoad must be true")
    if not isinstance(p.get("ThrottleInterval"), int) or p["ThrottleInterval"] < 1:
        problem("ThrottleInterval must be a whole number of seconds")
    for key in ("StandardOutPath", "StandardErrorPath"):
        if p.get(key) != LOGS + role + ".log":
            problem("%s is %r, not %s%s.log" % (key, p.get(key), LOGS, role))
    # The agent kickstarts the gateway in its user's gui domain; the others are daemons that
    # drop root.
    if role == "agent" and "UserName" in p:
        problem("the agent is a LaunchAgent of its user: no UserName")
    if role != "agent" and p.get("UserName") in (None, "root"):
        problem("a LaunchDaemon must name an unprivileged UserName")


def unit_sections(path):
    sections, current, pending = {}, None, ""
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = pending + raw.strip()
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                if not line.endswith("]") or line[1:-1] in sections:
                    problem("line %d: bad or repeated section %s" % (number, line))
                current = sections.setdefault(line[1:-1], {})
            elif current is None or "=" not in line:
                problem("line %d: not KEY=VALUE inside a section: %s" % (number, line))
            else:
                key, value = (s.strip() for s in line.split("=", 1))
                current.setdefault(key, []).append(value)
    return sections


def unit(path, role):
    s = unit_sections(path)
    if sorted(s) != ["Install", "Service", "Unit"]:
        return problem("sections are %s, not [Unit], [Service], [Install]" % sorted(s))
    one = lambda sec, key: (s[sec].get(key) or [None])[-1]
    service = s["Service"]
    args = shlex.split(one("Service", "ExecStart") or "")
    check_config_args(args, role)
    expect = {"Restart": "on-failure", "NoNewPrivileges": "yes"}
    if role == "agent":
        expect["WantedBy"] = "default.target"
        if "User" in service:
            problem("the agent is a user unit of its user: no User=")
    else:
        expect.update(WantedBy="multi-user.target", ProtectSystem="strict", ProtectHome="yes",
                      PrivateTmp="yes")
        if one("Service", "User") in (None, "root"):
            problem("a system unit must name an unprivileged User=")
    for key, value in expect.items():
        got = one("Install" if key == "WantedBy" else "Service", key)
        if got != value:
            problem("%s=%s, not %s" % (key, got, value))
    # Under ProtectSystem=strict only the StateDirectory is writable, so the state must be there.
    if role == "controller":
        state = args[args.index("--state") + 1] if "--state" in args[:-1] else None
        want = "/var/lib/%s" % one("Service", "StateDirectory")
        if state != want:
            problem("--state is %s, not the StateDirectory %s" % (state, want))
    if role == "notifier" and not one("Service", "RuntimeDirectory"):
        problem("the notifier's socket needs a RuntimeDirectory")


def exprs_of(d):
    """(where, expr) for every PromQL query of the dashboard: targets, variables, annotations."""
    for p in d.get("panels", []):
        for t in p.get("targets", []):
            yield "panel %r target %s" % (p.get("title"), t.get("refId")), t.get("expr")
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            yield "variable %s" % v.get("name"), q.get("query") if isinstance(q, dict) else q
    for a in d.get("annotations", {}).get("list", []):
        if "expr" in a:
            yield "annotation %r" % a.get("name"), a["expr"]


def dashboard(path, metrics):
    allowed = set(metrics.split())
    with open(path) as f:
        d = json.load(f)
    for key, kind in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list),
                      ("templating", dict), ("time", dict)):
        if not isinstance(d.get(key), kind):
            problem("%s is missing or not a %s" % (key, kind.__name__))
    if problems:
        return
    variables = {v.get("name"): v for v in d["templating"].get("list", [])}
    ds = variables.get("datasource", {})
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problem("no datasource variable of type prometheus")
    ids, cells = set(), {}
    for p in d["panels"]:
        title = p.get("title")
        if not isinstance(p.get("id"), int) or p["id"] in ids:
            problem("panel %r: id missing or repeated" % title)
        ids.add(p.get("id"))
        if not title or not p.get("type"):
            problem("panel %r: title or type missing" % title)
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "xywh") or g["x"] + g["w"] > 24 or \
                min(g["x"], g["y"]) < 0 or min(g["w"], g["h"]) < 1:
            problem("panel %r: gridPos %r is not inside the 24 columns" % (title, g))
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    problem("panel %r overlaps panel %r" % (title, cells[(x, y)]))
                    break
                cells[(x, y)] = title
            else:
                continue
            break
        targets = p.get("targets") or []
        if not targets:
            problem("panel %r: no query" % title)
        if len({t.get("refId") for t in targets}) != len(targets):
            problem("panel %r: refIds missing or repeated" % title)
        for holder in [p] + targets:
            if holder.get("datasource", {}).get("uid") != "${datasource}":
                problem("panel %r: not on the ${datasource} variable" % title)
    used = set()
    for where, expr in exprs_of(d):
        if not isinstance(expr, str) or not expr:
            problem("%s: no expr" % where)
            continue
        names = set(re.findall(r"\bclawfleet_\w+", expr))
        if not names:
            problem("%s: names no clawfleet metric: %s" % (where, expr))
        for name in names:
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            metric = name if name in allowed else base
            if metric not in allowed:
                problem("%s: %s is not a metric the controller serves" % (where, name))
            used.add(metric)
        for var in re.findall(r"\$\{?(\w+)", expr):
            if not var.startswith("__") and var not in variables:
                problem("%s: $%s is not a variable of the dashboard" % (where, var))
    for metric in sorted(allowed - used):
        problem("no panel shows %s" % metric)


def rules(path, out):
    """Every query as a recording rule, Grafana's variables and label_values() replaced, for
    promtool check rules."""
    with open(path) as f:
        d = json.load(f)
    subst = lambda e: re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1",
                             e.replace("$__rate_interval", "1m").replace("$instance", ".*"))
    group = [{"record": "dashboard:query_%d" % i, "expr": subst(e)}
             for i, (_, e) in enumerate(exprs_of(d))]
    with open(out, "w") as f:
        json.dump({"groups": [{"name": "dashboard", "rules": group}]}, f)


globals()[sys.argv[1]](*sys.argv[2:])
for msg in problems:
    print(msg)
sys.exit(1 if problems else 0)
EOF
check() { python3 "$checks" "$@"; }

# --- launchd
dtd=$TAP_TMP/plist.dtd
cat >"$dtd" <<'EOF'
<!ENTITY % plistObject "(array | data | date | dict | real | integer | string | true | false)">
<!ELEMENT plist %plistObject;>
<!ATTLIST plist version CDATA "1.0">
<!ELEMENT array (%plistObject;)*>
<!ELEMENT dict (key, %plistObject;)*>
<!ELEMENT key (#PCDATA)>
<!ELEMENT string (#PCDATA)>
<!ELEMENT data (#PCDATA)>
<!ELEMENT date (#PCDATA)>
<!ELEMENT true EMPTY>
<!ELEMENT false EMPTY>
<!ELEMENT real (#PCDATA)>
<!ELEMENT integer (#PCDATA)>
EOF
command -v xmllint >/dev/null ||
	echo "# xmllint is not installed (libxml2-utils): the plists are read with plistlib only"
for role in $ROLES; do
	plist=manifests/launchd/ai.clawfleet.$role.plist
	tap_check "$plist: Label, arguments, KeepAlive, logs, user" check plist "$plist" "$role"
	if command -v xmllint >/dev/null; then
		tap_check "$plist: valid against the property-list DTD" \
			xmllint --noout --nonet --dtdvalid "$dtd" "$plist"
	fi
done
sed 's/agent\.yaml/agnet.yaml/' manifests/launchd/ai.clawfleet.agent.plist >"$TAP_TMP/typo.plist"
tap_contains "the property-list checks catch a wrong config path" \
	"must hold --config /usr/local/etc/clawfleet/agent.yaml" "$(check plist "$TAP_TMP/typo.plist" agent)"

# --- systemd
for role in $ROLES; do
	unit=manifests/systemd/clawfleet-$role.service
	tap_check "$unit: sections, ExecStart, restart, hardening" check unit "$unit" "$role"
done

grep -v '^ProtectSystem=' manifests/systemd/clawfleet-controller.service >"$TAP_TMP/open.service"
tap_contains "the unit checks catch a unit without ProtectSystem" "ProtectSystem=None, not strict" \
	"$(check unit "$TAP_TMP/open.service" controller)"

# systemd-analyze verify reads the units as systemd would, but needs the ExecStart binary on
# disk and a manager it can set up; a unit known to be bad tells whether it works here.
verify_dir=$TAP_TMP/units
mkdir -p "$verify_dir" "$TAP_TMP/run"
chmod 0700 "$TAP_TMP/run"
printf '#!/bin/sh\n' >"$verify_dir/clawfleet"
chmod +x "$verify_dir/clawfleet"
for role in $ROLES; do
	sed "s|/usr/local/bin/clawfleet|$verify_dir/clawfleet|" "manifests/systemd/clawfleet-$role.service" \
		>"$verify_dir/clawfleet-$role.service"
done
printf '[Service]\nExecStart=%s\nNoSuchKey=yes\n' "$verify_dir/clawfleet" >"$verify_dir/bad.service"
verify() { # [--user] UNIT: what systemd-analyze says beyond silence, and its exit status
	XDG_RUNTIME_DIR=$TAP_TMP/run systemd-analyze verify "$@" 2>&1 || echo "exit $?"
}
if ! command -v systemd-analyze >/dev/null; then
	echo "# systemd-analyze is not installed: the units are checked by their INI form only"
elif ! verify "$verify_dir/bad.service" | grep -q NoSuchKey; then
	echo "# systemd-analyze verify does not work here: the units are checked by their INI form only"
	verify "$verify_dir/bad.service" | sed 's/^/#   /'
else
	tap_eq "systemd-analyze verify: the system units" "" \
		"$(verify "$verify_dir/clawfleet-controller.service" "$verify_dir/clawfleet-notifier.service")"
	tap_eq "systemd-analyze verify --user: the agent's user unit" "" \
		"$(verify --user "$verify_dir/clawfleet-agent.service")"
fi

# The flags the service files pass are ones the binary takes.
for role in $ROLES; do
	flags=$(grep '^ExecStart=' "manifests/systemd/clawfleet-$role.service" | grep -o -- ' --[a-z]*')
	flags+=$'\n'$(grep -o -- '<string>--[a-z]*' "manifests/launchd/ai.clawfleet.$role.plist" |
		sed 's/<string>/ /')
	usage=$("$bin" "$role" --help 2>&1)
	missing=
	for flag in $flags; do
		case "$usage" in *"$flag "*) ;; *) missing+=" $flag" ;; esac
	done
	tap_eq "clawfleet $role --help takes the flags the service files pass" "" "$missing"
done

# --- Grafana
tap_check "$dashboard: schema, layout, datasource variable, metric names" \
	check dashboard "$dashboard" "$METRICS"
sed 's/clawfleet_canary_weight/clawfleet_canary_wieght/' "$dashboard" >"$TAP_TMP/renamed.json"
tap_contains "the dashboard checks catch a renamed metric" \
	"clawfleet_canary_wieght is not a metric the controller serves" \
	"$(check dashboard "$TAP_TMP/renamed.json" "$METRICS")"
if command -v promtool >/dev/null; then
	check rules "$dashboard" "$TAP_TMP/rules.json"
	tap_check "promtool parses every query of the dashboard" promtool check rules "$TAP_TMP/rules.json"
else
	echo "# promtool is not installed (Debian's prometheus): the queries are not parsed"
fi

# A controller on the example repository, its nodes on a closed loopback port, says which
# metrics it serves.
repo=$TAP_TMP/repo
git -c init.defaultBranch=main init -q "$repo"
cp -R manifests/example-repo/. "$repo/"
sed -i 's|address: .*|address: http://127.0.0.1:9|' "$repo"/openclaw/nodes/*.yaml
# Weights go to a file of the test's own, never to a HAProxy this machine may run.
cat >"$repo/clawfleet/loadbalancer.yaml" <<EOF
apiVersion: fleet.openclaw.io/v1alpha1
kind: LoadBalancer
metadata:
  name: gateways
spec:
  driver: file
  file: {path: "$TAP_TMP/weights.json"}
EOF
git -C "$repo" add -A && git -C "$repo" commit -qm example && git -C "$repo" tag v2026.7.1
port=$(hack/free_port.py)
echo token-for-the-service-files-test >"$TAP_TMP/agent-token"
cat >"$TAP_TMP/controller.yaml" <<EOF
source: {url: "$repo", ref: main, interval: 1s}
state: $TAP_TMP/state
listen: 127.0.0.1:$port
agentToken: $TAP_TMP/agent-token
EOF
"$bin" controller --config "$TAP_TMP/controller.yaml" >"$TAP_TMP/controller.log" 2>&1 &
controller=$!
served=
for _ in $(seq 50); do
	served=$(curl -s --max-time 2 "http://127.0.0.1:$port/metrics" | sed -n 's/^# TYPE \([^ ]*\) .*/\1/p')
	[ -n "$served" ] && break
	sleep 0.2
done
kill "$controller" 2>/dev/null
wait "$controller" 2>/dev/null
missing=
for metric in $METRICS; do
	grep -qx "$metric" <<<"$served" || missing+=" $metric"
done
if [ -z "$served" ]; then
	tap_fail "the controller serves /metrics" "$(tail -n 20 "$TAP_TMP/controller.log")"
else
	tap_eq "the controller serves every metric the dashboard shows" "" "$missing"
fi

tap_done
