#!/usr/bin/env bash
# hack/macos_shell_check.sh, the guard that keeps the scripts `make demo` runs on a Mac (demo.sh,
# fleet.sh, mkmac.sh, install-deps.sh, browser.sh) free of what breaks under macOS's bash 3.2 and BSD tools:
# it passes on them as they are; a copy of demo.sh with a `sed -i` planted in it fails, naming
# the copy, the line and the construct; each construct it knows is found on its line, and the
# portable spelling next to it is not. Debian has no bash 3.2, so this is a reading of the text,
# not a run: a real Mac confirms the rest (README, "On a Mac").
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
tap_tmpdir
check=hack/macos_shell_check.sh

out=$($check 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
	tap_ok "the scripts make demo runs on a Mac pass the check"
else
	tap_fail "the scripts make demo runs on a Mac pass the check" "exit $rc" "$out"
fi

# --- a sed -i without a suffix planted in a copy of demo.sh, on a known line
copy=$TAP_TMP/demo.sh
line=$(grep -n '^say "4/6' hack/demo.sh | cut -d: -f1)
awk -v at="$line" '{ print } NR == at { print "sed -i \"s/1.4.3/1.4.4/\" \"$FLEET_REPO/openclaw.lock\"" }' \
	hack/demo.sh >"$copy"
out=$($check "$copy" 2>&1)
rc=$?
tap_eq "a planted sed -i fails the check (exit 1)" 1 "$rc"
tap_contains "the failure names the file, the line and the construct" \
	"$copy:$((line + 1)): sed -i without a suffix" "$out"
tap_contains "and says what to write instead" "fleet_sed in hack/fleet.sh" "$out"
tap_eq "nothing else in the copy is reported" 1 "$(grep -c "^$copy:" <<<"$out")"
tap_contains "it says why on stderr" "break under macOS's bash 3.2 or BSD userland" "$out"

# --- each construct on its line of one file; the portable spellings after it are left alone
bad=$TAP_TMP/bad.sh
cat >"$bad" <<'EOF'
sed -i 's/a/b/' f
sed -e 's/a/b/' -i f
sed -E 's/a/b/' f | sed -r 's/b/c/'
sed 's/a/b\nc/' f
cut -d' ' -f2 /proc/$$/stat
stat -c %s f
date +%s%N
realpath -m x
readlink -f x
mapfile -t lines <f
echo "${name,,}"
declare -A seen
local -n ref=x
wait -n
echo "$EPOCHREALTIME"
timeout 5 true
grep -P '\d' f
xargs -r echo <f
d=$(mktemp -d)
cmd |& tee log
for i in {1..9..2}; do :; done
[[ -v name ]]
echo "${a[-1]}"
head -n -1 f
find . -printf '%p\n'
n=$(nproc)
sha256sum f
sed -e "s|a|b\
c|" \
	-i f
EOF
out=$($check "$bad" 2>&1)
tap_eq "every planted construct fails the check" 1 $?
problems=""
n=0
while IFS= read -r want; do
	n=$((n + 1))
	grep -qF "$bad:$n: $want" <<<"$out" || problems="$problems line $n ($want) not reported;"
done <<'EOF'
sed -i without a suffix
sed -i without a suffix
sed -r
\n in a sed replacement
/proc
stat -c
date +%N
realpath with options
readlink -f
mapfile/readarray
${var,,}
associative array
nameref or global declare
wait -n
bash 4/5 variable
timeout
grep -P
xargs -r
mktemp without a template
|& or &>>
{a..b..step}
[[ -v var ]]
negative array index
head -n -N
find -printf
a command macOS lacks
a command macOS lacks
sed -i without a suffix
EOF
[ -z "$problems" ] && tap_ok "each construct is reported on its line ($n)" ||
	tap_fail "each construct is reported on its line ($n)" "$problems" "$out"

good=$TAP_TMP/good.sh
cat >"$good" <<'EOF'
# sed -i and /proc in a comment are fine
sed -i.bak 's/a/b/' f && rm f.bak
fleet_sed f 's/a/b/'
sed -E 's/a/b/' f
work=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-demo.XXXXXX")
python3 -c 'import urllib.request; urllib.request.urlopen(url, timeout=2)'
echo "${name:-a,b}" "${commits[@]+"${commits[@]}"}"
[ -n "${name+set}" ]
ps -A -o pid= -o ppid= -o pgid=
shasum -a 256 f
for i in $(seq 1 2 9); do :; done
od -An -N24 -tx1 /dev/urandom
sed -e "s|a|b\\
c|" f
EOF
out=$($check "$good" 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
	tap_ok "the portable spellings pass"
else
	tap_fail "the portable spellings pass" "exit $rc" "$out"
fi

tap_eq "a file it cannot read is exit 2" 2 "$($check "$TAP_TMP/missing.sh" >/dev/null 2>&1; echo $?)"
tap_done
