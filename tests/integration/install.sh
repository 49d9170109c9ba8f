#!/usr/bin/env bash
# make install and make uninstall, staged under DESTDIR as a package build would: exactly the
# files README "Installing on a Mac fleet" lists, with their modes; property lists that load and
# name the installed binary and configurations (for another PREFIX too); a man page that renders
# and documents every command and flag the binary has, and nothing else; example configurations
# the daemons start on; a configuration edited by hand that a second install keeps; an uninstall
# that removes what install wrote and nothing else. Also the Homebrew formula's shape.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
tap_tmpdir
BUILD=${BUILD:-build}
bin=$PWD/$BUILD/clawfleet
[ -x "$bin" ] || { tap_fail "the binary is built" "$bin is missing: make all"; exit 1; }

# make from inside `make test` must not inherit its jobserver or command-line variables, nor
# relink the binary other scripts are running: -o takes it as it is.
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -o "$BUILD/clawfleet" \
		BUILD="$BUILD" INSTALL_GEN="$TAP_TMP/gen" "$@"
}
# Every file and link under DIR with its mode, one "mode path" a line.
manifest() { (cd "$1" && find . ! -type d -printf '%m %P\n' | LC_ALL=C sort -k2); }

dest=$TAP_TMP/dest
P=usr/local
EXPECTED="755 $P/bin/clawfleet
600 $P/etc/clawfleet/agent.yaml
600 $P/etc/clawfleet/controller.yaml
600 $P/etc/clawfleet/notifier.yaml
644 $P/share/clawfleet/examples/agent.yaml
644 $P/share/clawfleet/examples/controller.yaml
644 $P/share/clawfleet/examples/notifier.yaml
644 $P/share/clawfleet/haproxy/haproxy.cfg
644 $P/share/clawfleet/launchd/ai.clawfleet.agent.plist
644 $P/share/man/man1/clawfleet.1
644 Library/LaunchDaemons/ai.clawfleet.controller.plist
644 Library/LaunchDaemons/ai.clawfleet.notifier.plist"
EXPECTED=$(LC_ALL=C sort -k2 <<<"$EXPECTED")

if out=$(mk install DESTDIR="$dest" PREFIX=/usr/local LAUNCHDAEMONSDIR=/Library/LaunchDaemons 2>&1)
then tap_ok "make install DESTDIR PREFIX=/usr/local"
else tap_fail "make install DESTDIR PREFIX=/usr/local" "$out"
fi
tap_eq "it installs exactly the listed files, with their modes" "$EXPECTED" "$(manifest "$dest")"
tap_eq "the installed binary runs" "clawfleet" \
	"$("$dest/$P/bin/clawfleet" version 2>&1 | cut -d' ' -f1)"
for f in haproxy/haproxy.cfg; do
	tap_check "share/clawfleet/$f is manifests/${f%%/*}/${f##*/}" \
		cmp "$dest/$P/share/clawfleet/$f" "manifests/haproxy/haproxy.cfg"
done

# --- the property lists: they load, and every path they name is one install wrote (or a
# log under PREFIX/var).
plists=$TAP_TMP/plists.py
cat >"$plists" <<'EOF'
import plistlib, sys
dest, prefix = sys.argv[1], sys.argv[2]
files = {"controller": "Library/LaunchDaemons/ai.clawfleet.controller.plist",
         "notifier": "Library/LaunchDaemons/ai.clawfleet.notifier.plist",
         "agent": prefix.lstrip("/") + "/share/clawfleet/launchd/ai.clawfleet.agent.plist"}
problems = []
for role, rel in files.items():
    try:
        with open("%s/%s" % (dest, rel), "rb") as f:
            p = plistlib.load(f)
    except Exception as e:
        problems.append("%s: %s" % (rel, e))
        continue
    want = [prefix + "/bin/clawfleet", role, "--config", "%s/etc/clawfleet/%s.yaml" % (prefix, role)]
    if p.get("ProgramArguments") != want:
        problems.append("%s: ProgramArguments %r, not %r" % (rel, p.get("ProgramArguments"), want))
    for path in want[0], want[3]:
        try:
            open(dest + path).close()
        except OSError as e:
            problems.append("%s names %s, which install did not write: %s" % (rel, path, e))
    log = "%s/var/log/clawfleet/%s.log" % (prefix, role)
    for key in "StandardOutPath", "StandardErrorPath":
        if p.get(key) != log:
            problems.append("%s: %s is %r, not %s" % (rel, key, p.get(key), log))
    if (role == "agent") == ("UserName" in p):
        problems.append("%s: UserName %r: the daemons drop root, the agent runs as its user"
                        % (rel, p.get("UserName")))
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
tap_check "the plists load and name the installed binary, configurations and logs" \
	python3 "$plists" "$dest" /usr/local

# --- the man page, rendered by groff or mandoc (macOS's man) with lines long enough that no
# heading wraps
page=$dest/$P/share/man/man1/clawfleet.1
if command -v groff >/dev/null; then
	render() { groff -man -Tascii -P-cbou -rLL=250n "$1"; }
	tap_eq "the man page renders without a warning" "" "$(groff -man -ww -z "$page" 2>&1)"
elif command -v mandoc >/dev/null; then
	render() { mandoc -Tascii -Owidth=250 "$1" | col -b; }
	tap_eq "the man page renders without a warning" "" "$(mandoc -Tlint -Wwarning "$page" 2>&1)"
fi
if command -v man >/dev/null; then
	tap_contains "man -l shows it" "clawfleet - GitOps reconciliation" \
		"$(MANWIDTH=100 man -l "$page" 2>&1 | col -b)"
fi
# What the page documents, against what the binary says: each command of --help has its
# subsection (token's two forms each theirs), and each flag a command's --help names is an
# item of it, not only in its heading.
page_check() { # TEXT: one line per difference
	local text=$1 have want cmd flag section
	have=$(sed -n 's/^   clawfleet \([a-z]*\).*/\1/p' <<<"$text" | sort -u)
	want=$("$bin" --help | sed -n 's/^  clawfleet \([a-z]*\).*/\1/p' | sort -u)
	diff <(echo "$want") <(echo "$have") | sed -n 's/^< /no subsection for clawfleet /p;
		s/^> /a subsection for clawfleet /p'
	for cmd in $want "token rotate-fleet"; do
		section=$(awk -v c="   clawfleet $cmd " 'index($0, c) == 1 { on = 1; next }
			/^   clawfleet / || /^[A-Z]/ { on = 0 } on && /^       -/' <<<"$text")
		for flag in $("$bin" $cmd --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u); do
			[ "$flag" = --help ] && continue
			grep -q -- "$flag\b" <<<"$section" || echo "clawfleet $cmd: $flag is not in the page"
		done
	done
}
if declare -F render >/dev/null; then
	tap_eq "the man page documents every command and flag of --help, and no other command" "" \
		"$(page_check "$(render "$page")")"
	sed -e '/^\.SS "clawfleet demo/,/^\.SS/{/^\.SS "clawfleet demo/d;}' \
		-e 's/^\.BI \\-\\-wait " D"/.BI \\-\\-linger " D"/' "$page" >"$TAP_TMP/stale.1"
	stale=$(page_check "$(render "$TAP_TMP/stale.1")")
	tap_contains "the page check catches a missing command" "no subsection for clawfleet demo" "$stale"
	tap_contains "the page check catches a missing flag" \
		"clawfleet token rotate-fleet: --wait is not in the page" "$stale"
else
	echo "# neither groff nor mandoc is installed: the man page is not checked"
fi

# --- the example configurations, their paths moved into the scratch directory, start the
# daemons (a configuration error would stop them at once with FILE:LINE:COL).
run=$TAP_TMP/run
mkdir -p "$run/etc/clawfleet/controller" "$run/etc/clawfleet/agent-tokens" "$run/var/run/clawfleet"
(umask 077 && echo install-test-token >"$run/etc/clawfleet/controller/agent-token" &&
	cp "$run/etc/clawfleet/controller/agent-token" "$run/etc/clawfleet/agent-tokens/token.current")
pids=
for role in controller agent notifier; do
	sed -e "s|/usr/local/|$run/|g" -e "s|/var/db/|$run/db/|g" \
		-e "s|https://git.example.com/fleet.git|$run/repo|" \
		-e 's|[0-9.]*:\(8088\|18081\|9099\)$|127.0.0.1:0|' \
		"$dest/$P/etc/clawfleet/$role.yaml" >"$run/$role.yaml"
	"$bin" "$role" --config "$run/$role.yaml" >"$run/$role.log" 2>&1 &
	pids+=" $!"
done
for role in controller agent notifier; do
	for _ in $(seq 50); do
		grep -q 'listening on\|serving the status page' "$run/$role.log" && break
		sleep 0.1
	done
	if grep -q 'listening on\|serving the status page' "$run/$role.log"; then
		tap_ok "clawfleet $role starts on the example $role.yaml"
	else
		tap_fail "clawfleet $role starts on the example $role.yaml" "$(head -n 20 "$run/$role.log")"
	fi
done
kill $pids 2>/dev/null
wait 2>/dev/null

# --- a second install keeps an edited configuration, and says so
conf=$dest/$P/etc/clawfleet/agent.yaml
echo "node: edited-by-hand" >>"$conf"
edited=$(cat "$conf")
out=$(mk install DESTDIR="$dest" PREFIX=/usr/local LAUNCHDAEMONSDIR=/Library/LaunchDaemons 2>&1)
tap_eq "a second install keeps the edited agent.yaml" "$edited" "$(cat "$conf")"
tap_contains "and says so" "kept $conf: it exists" "$out"
tap_eq "a second install leaves the same files" "$EXPECTED" "$(manifest "$dest")"

# --- uninstall: what install wrote goes, an edited configuration and others' files stay
echo other >"$dest/$P/bin/other-tool"
echo other >"$dest/$P/share/man/man1/other.1"
out=$(mk uninstall DESTDIR="$dest" PREFIX=/usr/local LAUNCHDAEMONSDIR=/Library/LaunchDaemons 2>&1)
tap_contains "make uninstall keeps the edited configuration, and says so" \
	"kept $conf: it differs from the example" "$out"
tap_eq "make uninstall removes what install wrote and nothing else" \
	"644 $P/bin/other-tool
600 $P/etc/clawfleet/agent.yaml
644 $P/share/man/man1/other.1" "$(manifest "$dest")"
tap_eq "and the directories of its own it emptied" "" \
	"$(ls -d "$dest/$P/share/clawfleet" "$dest/Library/LaunchDaemons/"* 2>/dev/null)"

# --- another PREFIX, no LaunchDaemons (the default off macOS, and for a Homebrew keg)
other=$TAP_TMP/other
if out=$(mk install DESTDIR="$other" PREFIX=/opt/cf LAUNCHDAEMONSDIR= 2>&1); then
	tap_check "PREFIX=/opt/cf: the agent's plist names /opt/cf's binary and configuration" \
		python3 -c '
import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
want = ["/opt/cf/bin/clawfleet", "agent", "--config", "/opt/cf/etc/clawfleet/agent.yaml"]
sys.exit(None if p["ProgramArguments"] == want else "%r" % p["ProgramArguments"])' \
		"$other/opt/cf/share/clawfleet/launchd/ai.clawfleet.agent.plist"
	tap_eq "PREFIX=/opt/cf: no installed file names /usr/local's clawfleet paths" "" \
		"$(grep -rl '/usr/local/\(bin/clawfleet\|etc/clawfleet\|var/\|share/clawfleet\)' \
			"$other" --exclude=clawfleet --exclude=haproxy.cfg)"
	tap_eq "LAUNCHDAEMONSDIR= installs no LaunchDaemon" "" "$(ls "$other" | grep -v '^opt$')"
else
	tap_fail "make install PREFIX=/opt/cf LAUNCHDAEMONSDIR=" "$out"
fi

# --- the Homebrew formula
formula=manifests/homebrew/clawfleet.rb
if command -v ruby >/dev/null; then
	tap_check "$formula: ruby -c" ruby -c "$formula"
else
	echo "# ruby is not installed: $formula is checked by its lines only"
fi
missing=
for line in 'class Clawfleet < Formula' 'head "' 'depends_on "pkg-config" => :build' \
	'depends_on "libgit2"' 'depends_on "libyaml"' 'depends_on "json-c"' 'depends_on "curl"' \
	'depends_on "openssl@3"' 'depends_on "libmicrohttpd"' 'service do' \
	'run [opt_bin/"clawfleet", "agent", "--config", etc/"clawfleet/agent.yaml"]' \
	'keep_alive true' 'test do' 'clawfleet version'; do
	grep -qF -- "$line" "$formula" || missing+=" [$line]"
done
tap_eq "$formula: the build's libraries, the agent's service block and a test" "" "$missing"

tap_done
