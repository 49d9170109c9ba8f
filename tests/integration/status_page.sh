#!/usr/bin/env bash
# The controller's read-only status page (GET /) on a simulated fleet (hack/fleet.sh), once the
# bring-up has Succeeded: a headless Chromium-family browser (hack/browser.sh: Chromium, Google
# Chrome or Edge) renders it, and the rendered DOM shows what /status says (the phase, every node
# with its probe status, each gateway's weight, the Git revision) with nothing on it that could
# change anything; a screenshot is kept in $BUILD/status-page.png for a person to look at. With
# no browser (Homebrew's chromium cask is disabled), those checks are one "ok - ... # SKIP" line
# saying what to install. Then /metrics passes `promtool check metrics`, lint included.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
BUILD=${BUILD:-build}
fleet=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-status-page.XXXXXX")
cleanup() {
	fleet_down "$fleet"
	rm -rf "$fleet"
}
trap cleanup EXIT

missing=
for tool in haproxy promtool; do
	command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	tap_fail "haproxy and promtool are installed" "missing:$missing" \
		"run hack/install-deps.sh (Debian packages haproxy, prometheus; Homebrew haproxy, prometheus)"
	tap_done
	exit
fi
if ! fleet_up "$fleet" 1s; then
	tap_fail "the simulated fleet comes up" "$(tail -n 20 "$fleet"/logs/*.log)"
	tap_done
	exit
fi
. "$fleet/fleet.env"
status() { fleet_status "$FLEET_URL" "$@"; }

fleet_controller "$fleet"
if fleet_wait 60 status 'd["phase"] == "Succeeded" and len(d["nodes"]) == 3'; then
	tap_ok "the bring-up Succeeded"
else
	tap_fail "the bring-up Succeeded" "last /status: $(status)" \
		"$(tail -n 15 "$fleet/logs/controller.log")"
	tap_done
	exit
fi

# --- the page as served
headers=$(curl -s -D - -o "$fleet/page.html" --max-time 2 "$FLEET_URL/")
tap_contains "GET / is HTML" "Content-Type: text/html; charset=utf-8" "$headers"
tap_check "the page is small (under 64 KiB for three nodes)" \
	test "$(wc -c <"$fleet/page.html")" -lt 65536
tap_eq "HEAD / answers without a body" 200 \
	"$(curl -s -I -o /dev/null -w '%{http_code}' --max-time 2 "$FLEET_URL/")"

# --- rendered by the browser; the fleet tracks it (timeout leads its process group), so cleanup
# stops any of its processes left over
chrome() {
	timeout -k 5 60 "$browser" --headless --no-sandbox --disable-gpu \
		--disable-quic --no-first-run --disable-background-networking \
		--disable-component-update --disable-sync --user-data-dir="$(mktemp -d "$fleet/chrome.XXXXXX")" \
		"$@" 2>>"$fleet/logs/chromium.log" &
	fleet_track "$fleet" $!
	wait $!
}
if ! browser=$(hack/browser.sh 2>&1); then
	tap_ok "the page rendered in a headless browser # SKIP skipped: ${browser#browser.sh: }"
else
	doc=$(status)
	chrome --dump-dom "$FLEET_URL/" >"$fleet/dom.html"
	tap_check "the browser renders the page" grep -q '<td id="promotion">' "$fleet/dom.html"
	out=$(python3 - "$fleet/dom.html" "$doc" <<'EOF' 2>&1
import html.parser, json, sys

class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.nodes, self.weights, self.tags = {}, {}, {}, set()
        self.stack, self.row = [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "tr" and a.get("class") == "node":
            self.row = ("node", a["data-node"], a["data-status"])
            self.nodes[a["data-node"]] = {"status": a["data-status"], "text": ""}
        elif tag == "tr" and a.get("class") == "weight":
            self.row = ("weight", a["data-server"], a["data-weight"])
            self.weights[a["data-server"]] = {"weight": int(a["data-weight"]), "text": ""}
        if tag not in ("meta", "br", "img", "input", "link"):
            self.stack.append(a.get("id"))

    def handle_endtag(self, tag):
        if tag == "tr":
            self.row = None
        if tag not in ("meta", "br", "img", "input", "link") and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        for i in self.stack:
            if i:
                self.ids[i] = self.ids.get(i, "") + data
        if self.row:
            kind, key, _ = self.row
            (self.nodes if kind == "node" else self.weights)[key]["text"] += data

p = Page()
p.feed(open(sys.argv[1]).read())
d = json.loads(sys.argv[2])
problems = []
def want(what, expected, actual):
    if expected != actual:
        problems.append("%s: /status says %r, the page %r" % (what, expected, actual))
want("phase", d["phase"], p.ids.get("phase"))
want("revision", d["revision"], p.ids.get("revision"))
want("step", "step %d, %d %% to the canary" % (d["step"], d["percent"]), p.ids.get("step"))
want("nodes", sorted(d["nodes"]), sorted(p.nodes))
for name, n in d["nodes"].items():
    row = p.nodes.get(name, {"status": None, "text": ""})
    want(name + " status", n["status"], row["status"])
    if n["status"] not in row["text"] or (n["tag"] or "\u2014") not in row["text"]:
        problems.append("%s: the row does not say %s and %s: %r" % (name, n["status"], n["tag"], row["text"]))
want("gateways", sorted(d["weights"]), sorted(p.weights))
total = sum(w for w in d["weights"].values() if w > 0)
for server, w in d["weights"].items():
    row = p.weights.get(server, {"weight": None, "text": ""})
    want(server + " weight", w, row["weight"])
    share = "%d (%.1f %%)" % (w, int(w * 1000 / total) / 10 if total else 0)
    if share not in row["text"]:
        problems.append("%s: expected %r in %r" % (server, share, row["text"]))
for tag in ("form", "button", "input", "select", "textarea", "script"):
    if tag in p.tags:
        problems.append("the page has a <%s>" % tag)
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
	)
	if [ $? -eq 0 ]; then
		tap_ok "the rendered DOM shows what /status says: phase, nodes and statuses, weights, revision"
	else
		tap_fail "the rendered DOM shows what /status says: phase, nodes and statuses, weights, revision" \
			"$out"
	fi
	lines=$(wc -l <"$FLEET_STATE/promotions.jsonl")
	tap_eq "the page shows the audit log's last lines ($lines here, 10 at most)" \
		"$((lines < 10 ? lines : 10))" "$(grep -o '<tr class="audit">' "$fleet/dom.html" | wc -l)"
	tap_contains "the newest first" "<td>$(python3 -c '
import json, sys
print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["ts"])' "$FLEET_STATE/promotions.jsonl")</td>" \
		"$(grep -o '<tr class="audit">.*' "$fleet/dom.html" | head -1)"
	tap_check "the rendered page has no form, button or input" \
		bash -c '! grep -qiE "<(form|button|input)[ >]" "$1"' _ "$fleet/dom.html"

	chrome --screenshot="$fleet/status-page.png" --window-size=1280,900 "$FLEET_URL/" >/dev/null
	if [ -s "$fleet/status-page.png" ] && cp "$fleet/status-page.png" "$BUILD/status-page.png"; then
		tap_ok "a screenshot of the page is saved in $BUILD/status-page.png"
	else
		tap_fail "a screenshot of the page is saved in $BUILD/status-page.png" \
			"$(tail -n 5 "$fleet/logs/chromium.log")"
	fi
fi

# --- /metrics through promtool: errors and lint warnings both fail
out=$(curl -s --max-time 2 "$FLEET_URL/metrics" | promtool check metrics 2>&1)
if [ $? -eq 0 ] && [ -z "$out" ]; then
	tap_ok "/metrics passes promtool check metrics"
else
	tap_fail "/metrics passes promtool check metrics" "$out"
fi

kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_eq "SIGTERM: the controller exits 0" 0 $?

[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$fleet/logs/controller.log" | tail -20
tap_done
