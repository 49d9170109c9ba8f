#!/usr/bin/env bash
# docs/runbooks.md cannot rot: every file the table says implements a rule exists, every test
# script and unit test file it cites exists, every unit test it names (`test_x.c: name`) is a
# function of that file, and every TAP line it quotes (`script.sh: "ok - ..."`) is one that
# script can print (a word N in the quote stands for a number or a value the script fills in).
# Rows that say "being built" are refused: a rule is implemented, or the row says why not.
# Reads files only; runs in well under a second.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

out=$(python3 - <<'EOF'
import glob, os, re

ROOTS = ["controller", "reconcilers", "."]


def find_path(token, folder):
    """The file or folder a table cell names: "plan/plan_judge.c", "reconcilers/weights/",
    a bare name after one with a folder in the same cell ("serve/fluxhook.c, fluxhook_event.c"),
    or a glob ("node_observe*.c")."""
    token = token.rstrip("/")
    candidates = [os.path.join(r, token) for r in ROOTS]
    if folder and "/" not in token:
        candidates += [os.path.join(r, folder, token) for r in ROOTS]
    for c in candidates:
        if glob.glob(c):
            return True
    if "/" not in token:
        return bool(glob.glob("controller/*/" + token) + glob.glob("reconcilers/**/" + token,
                                                                    recursive=True))
    return False


def tap_pattern(text):
    """A quoted TAP line as a regex over the script's source: N (or Ns) stands for anything the
    script fills in, and a quote may be escaped there."""
    parts = re.split(r"\b(N|Ns)\b", text)
    rx = ""
    for i, p in enumerate(parts):
        if i % 2:
            rx += ".+"
        else:
            rx += "".join('\\\\?"' if ch == '"' else re.escape(ch) for ch in p)
    return re.compile(rx)


problems = []
checked = 0
rows = [l for l in open("docs/runbooks.md") if re.match(r"\| \d{3}\.\d+ \|", l)]
if len(rows) < 50:
    problems.append("docs/runbooks.md: only %d rows found" % len(rows))
for line in rows:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) != 4:
        problems.append("%s: %d columns, not 4" % (cells[0], len(cells)))
        continue
    rule, _, where, test = cells
    if "being built" in where or "being built" in test:
        problems.append("%s: says \"being built\": name what implements it, or why it does not "
                        "apply" % rule)
    folder = None
    for token in re.findall(r"[\w.*-]+(?:/[\w.*-]*)*", re.sub(r"`[^`]*`", "", where)):
        if "/" in token:
            folder = os.path.dirname(token.rstrip("/")) or token.rstrip("/")
        if not re.search(r"\.(c|h|sh|yaml)$|/$", token):
            continue
        checked += 1
        if not find_path(token, folder):
            problems.append("%s: %s does not exist" % (rule, token))
    # the tests column: "script.sh: "ok - ...", "ok - ..."; test_x.c: name; other.sh"
    script = None
    for m in re.finditer(r'([\w-]+\.sh)|(test_\w+\.c)(?::\s*(test_\w+))?|"ok - ([^"]*)"', test):
        checked += 1
        if m.group(1):
            script = "tests/integration/" + m.group(1)
            if not os.path.isfile(script):
                problems.append("%s: %s does not exist" % (rule, script))
                script = None
        elif m.group(2):
            unit = "tests/unit/" + m.group(2)
            if not os.path.isfile(unit):
                problems.append("%s: %s does not exist" % (rule, unit))
            elif m.group(3) and not re.search(r"\b%s\s*\(" % m.group(3), open(unit).read()):
                problems.append("%s: %s has no test %s" % (rule, unit, m.group(3)))
        elif script is None:
            problems.append("%s: \"ok - %s\" names no script before it" % (rule, m.group(4)))
        elif not tap_pattern(m.group(4)).search(open(script).read()):
            problems.append("%s: %s prints no \"ok - %s\"" % (rule, script, m.group(4)))
print("checked %d rows, %d pointers" % (len(rows), checked))
for p in problems:
    print("PROBLEM " + p)
EOF
)
echo "# ${out%%$'\n'*}"
problems=$(printf '%s\n' "$out" | sed -n 's/^PROBLEM //p')
if [ -z "$problems" ]; then
	tap_ok "every file, test script, unit test and TAP line docs/runbooks.md cites exists"
else
	mapfile -t lines <<<"$problems"
	tap_fail "every file, test script, unit test and TAP line docs/runbooks.md cites exists" \
		"${lines[@]}"
fi
tap_done
