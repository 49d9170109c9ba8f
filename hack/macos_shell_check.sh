#!/usr/bin/env bash
# macos_shell_check.sh: the scripts a user's Mac runs for `make demo` must work with macOS's own
# bash 3.2 and its BSD userland, and CI runs on Linux with bash 5 and GNU tools, where a GNU-only
# construct works and goes unnoticed. This is the guard: it looks for the constructs that break
# there and fails naming FILE:LINE, the construct and what to write instead.
#
#   hack/macos_shell_check.sh [FILE...]   default: the scripts `make demo` runs on a Mac
#
# It reads lines, not the shell's grammar: a full-line comment is skipped, code in a heredoc or a
# quoted python program is read like the rest. It cannot prove a script runs on a Mac (only
# running it there does); it catches what has broken there before. Exit 0 when nothing is found,
# 1 when something is, 2 when a file cannot be read. Runs under bash 3.2 and BSD grep itself.
set -u

mac_scripts="hack/demo.sh hack/demo-ha.sh hack/demo_common.sh tests/lib/etcd.sh hack/fleet.sh hack/sim/mkmac.sh hack/install-deps.sh hack/browser.sh"

# The file as logical lines: a line ending in a backslash is joined with the next, so that a
# construct split over a continuation is seen whole; $scratch/lines maps each logical line to
# the file's line where it starts.
logical_lines() { # FILE
	awk -v map="$scratch/lines" '
	{
		if (joined == "") start = NR
		else joined = joined " "
		if ($0 ~ /\\$/) { joined = joined substr($0, 1, length($0) - 1); next }
		print joined $0
		print start >map
		joined = ""
	}
	END { if (joined != "") { print joined; print start >map } }' "$1" >"$scratch/text"
	# The same with each quoted string on a line replaced by Q, for the options of a command
	# whose quoted script may hold | or ; (sed "s|a|b|" -i).
	sed -e "s/'[^']*'/Q/g" -e 's/"[^"]*"/Q/g' "$scratch/text" >"$scratch/bare"
}

# rule FILE NAME ERE ADVICE [bare]: every logical line of FILE matching the POSIX ERE (grep -E on
# Linux and macOS alike), but a full-line comment, as "FILE:LINE: NAME: ADVICE" and the line;
# with bare, the ERE is matched against the line without its quoted strings.
rule() {
	grep -nE -- "$3" "$scratch/${5:-text}" | grep -vE '^[0-9]+:[[:space:]]*#' |
		while IFS= read -r hit; do
			printf '%s:%s: %s: %s\n    %s\n' "$1" "$(sed -n "${hit%%:*}p" "$scratch/lines")" \
				"$2" "$4" "$(sed -n "${hit%%:*}p" "$scratch/text" | sed 's/^[[:space:]]*//')"
		done
}

# Where a command starts: the line's start, after ; & | ( or a backquote, or after then, do,
# else or !, then blanks.
cmd='(^|[;&|(`]|then|do|else|!)[[:space:]]*'

check() { # FILE
	local f=$1
	logical_lines "$f"
	rule "$f" "sed -i without a suffix" '(^|[^[:alnum:]_])sed[[:space:]]([^|;&]*[[:space:]])?-[a-zA-Z]*i([[:space:]]|$)' \
		"GNU and BSD sed read -i's suffix differently: write through a file beside it (fleet_sed in hack/fleet.sh), or attach one (-i.bak) and remove the backup" bare
	rule "$f" "sed --in-place" '(^|[^[:alnum:]_])sed[[:space:]].*--in-place' \
		"GNU only: write through a file beside it (fleet_sed in hack/fleet.sh)"
	rule "$f" "sed -r" '(^|[^[:alnum:]_])sed[[:space:]]([^|;&]*[[:space:]])?-[a-zA-Z]*r([[:space:]]|$)' \
		"use sed -E (GNU and BSD)" bare
	rule "$f" '\n in a sed replacement' '(^|[^[:alnum:]_])sed[[:space:]].*\\n' \
		"GNU only: a backslash, then a real newline"
	rule "$f" "/proc" '/proc(/|[[:space:]]|$|["'\''])' \
		"macOS has no /proc: keep pids in a file (fleet_track in hack/fleet.sh), ask ps -o, use process groups"
	rule "$f" "stat -c" '(^|[^[:alnum:]_])stat[[:space:]]+(-[a-zA-Z]*c|--format|--printf)' \
		"GNU only (BSD has stat -f): use wc -c <file, ls, or python3"
	rule "$f" "date +%N" '(^|[^[:alnum:]_])date[[:space:]].*%[0-9]*N' \
		"BSD date has no nanoseconds: use \$SECONDS or python3's time.time()"
	rule "$f" "date -d" '(^|[^[:alnum:]_])date[[:space:]]+(-[a-zA-Z]*d|--date)' \
		"GNU only (BSD: date -j -f): use python3"
	rule "$f" "realpath with options" '(^|[^[:alnum:]_])realpath[[:space:]]+-' \
		"macOS has realpath from 13 on, without -m, -e or -s: case \$p in /*) ;; *) p=\$PWD/\$p ;; esac, or \$(cd DIR && pwd)"
	rule "$f" "readlink -f" '(^|[^[:alnum:]_])readlink[[:space:]]+-[a-zA-Z]*[fem]' \
		"macOS has readlink -f from 13 on only: \$(cd \"\$(dirname \"\$p\")\" && pwd -P)"
	rule "$f" "mapfile/readarray" '(^|[^[:alnum:]_])(mapfile|readarray)([[:space:]]|$)' \
		"bash 4: a while read loop"
	rule "$f" '${var,,} / ${var^^}' '\$\{[[:alnum:]_]+(\[[^]]*\])?(,|\^)' \
		"bash 4: tr '[:upper:]' '[:lower:]'"
	rule "$f" "associative array" '(^|[^[:alnum:]_])(declare|typeset|local)[[:space:]]+-[a-zA-Z]*A' \
		"bash 4: one variable per key (fleet_var in hack/fleet.sh) or a file"
	rule "$f" "nameref or global declare" '(^|[^[:alnum:]_])(declare|typeset|local)[[:space:]]+-[a-zA-Z]*[ng]' \
		"bash 4.2/4.3: pass the name and use eval"
	rule "$f" "wait -n" '(^|[^[:alnum:]_])wait[[:space:]]+-[a-zA-Z]*n' \
		"bash 4.3: wait for one pid, or poll with kill -0"
	rule "$f" 'bash 4/5 variable ($EPOCHREALTIME, $EPOCHSECONDS, $BASHPID)' 'EPOCHREALTIME|EPOCHSECONDS|BASHPID' \
		"use \$SECONDS, python3's time.time(), \$\$"
	rule "$f" '${var@Q}' '\$\{[[:alnum:]_]+@[QEPAaKkUuL]\}' "bash 4.4: printf %q"
	rule "$f" '|& or &>>' '\|&|&>>' "bash 4: 2>&1 | and >>FILE 2>&1"
	rule "$f" ";;& in case" ';;&' "bash 4: repeat the pattern"
	rule "$f" "coproc" "${cmd}coproc([[:space:]]|\$)" "bash 4: a fifo or a background job"
	rule "$f" "shopt globstar or lastpipe" 'shopt[[:space:]]+-s[[:space:]].*(globstar|lastpipe)' \
		"bash 4: find; a command substitution"
	rule "$f" 'printf %(...)T' '%\([^)]*\)T' "bash 4.2: date"
	rule "$f" "{a..b..step}" '\{-?[0-9]+\.\.-?[0-9]+\.\.' "bash 4: seq"
	rule "$f" "[[ -v var ]]" '\[\[[[:space:]]+-v[[:space:]]' "bash 4.2: [ -n \"\${var+set}\" ]"
	rule "$f" "negative array index" '\$\{[[:alnum:]_]+\[-[0-9]' "bash 4.3: \${a[\${#a[@]}-1]}"
	rule "$f" "timeout" "${cmd}g?timeout[[:space:]]" \
		"macOS has no timeout (GNU coreutils): a bounded loop (fleet_wait), curl --max-time, python3's timeout="
	rule "$f" "grep -P" '(^|[^[:alnum:]_])grep[[:space:]]+(-[a-zA-Z]*P|--perl)' \
		"macOS grep has no -P: grep -E or python3"
	rule "$f" "xargs -r" '(^|[^[:alnum:]_])xargs[[:space:]]+(-[a-zA-Z]*r|--no-run-if-empty)' \
		"GNU only: test for input first"
	rule "$f" "head -n -N" '(^|[^[:alnum:]_])head[[:space:]]+-n[[:space:]]*-[0-9]' \
		"GNU only: sed '\$d' or awk"
	rule "$f" "find -printf" '(^|[^[:alnum:]_])find[[:space:]].*-printf' "GNU only: -exec or -print0"
	rule "$f" "a command macOS lacks" "${cmd}(setsid|flock|nproc|sha256sum|sha1sum|md5sum|tac)([[:space:]]|\)|\$)" \
		"shasum -a 256, sysctl -n hw.ncpu, tail -r, python3"
	# mktemp -d alone is GNU's default name; BSD wants a template. Not a rule: no ERE says "a
	# mktemp line without XXX".
	grep -nE '(^|[^[:alnum:]_])mktemp([[:space:]]|\)|$)' "$scratch/text" |
		grep -vE '^[0-9]+:[[:space:]]*#' | while IFS= read -r hit; do
		case ${hit#*:} in *mktemp*XXX*) continue ;; esac
		printf '%s:%s: mktemp without a template: mktemp -d "${TMPDIR:-/tmp}/name.XXXXXX"\n    %s\n' \
			"$f" "$(sed -n "${hit%%:*}p" "$scratch/lines")" \
			"$(printf '%s\n' "${hit#*:}" | sed 's/^[[:space:]]*//')"
	done
}

if [ $# -eq 0 ]; then
	cd "$(dirname "$0")/.." || exit 2
	# shellcheck disable=SC2086
	set -- $mac_scripts
fi
scratch=$(mktemp -d "${TMPDIR:-/tmp}/macos-shell-check.XXXXXX") || exit 2
trap 'rm -rf "$scratch"' EXIT
found=0
for file in "$@"; do
	if [ ! -r "$file" ]; then
		echo "macos_shell_check: cannot read $file" >&2
		exit 2
	fi
	out=$(check "$file")
	[ -z "$out" ] && continue
	printf '%s\n' "$out"
	found=1
done
[ "$found" = 0 ] && exit 0
echo "macos_shell_check: these break under macOS's bash 3.2 or BSD userland (see README, On a Mac)" >&2
exit 1
