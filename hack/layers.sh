#!/usr/bin/env bash
# make layers: the include graph follows the pipeline. Every file under controller/ and
# reconcilers/ may include only headers of its own step or of earlier steps, in this order:
#   base source desired contracts reconcilers observe plan record act notify serve cmd daemon main
# reconcilers/ (the node actions and the load-balancer drivers, each with its own observe and act
# halves) sit before observe/, which reads the node through them. plan/ is pure: it includes
# nothing from reconcilers/ and none of the headers that do I/O (libcurl, libgit2, libmicrohttpd,
# pthread, unistd). Prints every back-arrow as FILE:LINE: message and exits 1 when there is one.
# Usage: hack/layers.sh [ROOT]   (ROOT defaults to the repository; tests plant files in a copy)
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2
steps=(base source desired contracts reconcilers observe plan record act notify serve cmd daemon main)

rank_of() { # rank_of PATH: the step of a file or include path, or nothing when outside the layers
	local path=$1 step i
	case $path in
	controller/main.c) step=main ;;
	controller/*/*) step=${path#controller/}; step=${step%%/*} ;;
	reconcilers/*) step=reconcilers ;;
	*) return ;;
	esac
	for i in "${!steps[@]}"; do
		if [ "${steps[$i]}" = "$step" ]; then echo "$i"; return; fi
	done
	echo unknown
}

bad=0
while IFS= read -r file; do
	own=$(rank_of "$file")
	[ -n "$own" ] || continue
	if [ "$own" = unknown ]; then
		echo "$file:1: not in a known step (${steps[*]})"
		bad=1
		continue
	fi
	while IFS=: read -r line text; do
		inc=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]([^">]*)[">].*/\1/' <<<"$text")
		case $text in
		*'<'*)
			if [ "${steps[$own]}" = plan ]; then
				case $inc in
				curl/* | git2.h | git2/* | microhttpd.h | pthread.h | unistd.h)
					echo "$file:$line: plan/ is pure and may not include <$inc>"
					bad=1 ;;
				esac
			fi
			continue ;;
		esac
		case $inc in
		*/*) target=controller/$inc; [ "${inc%%/*}" = reconcilers ] && target=$inc ;;
		*) target=$(dirname "$file")/$inc ;;
		esac
		theirs=$(rank_of "$target")
		[ -n "$theirs" ] || continue
		if [ "$theirs" = unknown ]; then
			echo "$file:$line: ${steps[$own]}/ includes \"$inc\", which is in no step"
			bad=1
		elif [ "$theirs" -gt "$own" ]; then
			echo "$file:$line: ${steps[$own]}/ includes \"$inc\" from a later step (${steps[$theirs]})"
			bad=1
		elif [ "${steps[$own]}" = plan ] && [ "${steps[$theirs]}" = reconcilers ]; then
			echo "$file:$line: plan/ is pure and may not include the driver header \"$inc\""
			bad=1
		fi
	done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include' "$file")
done < <(find controller reconcilers -name '*.[ch]' | sort)
if [ "$bad" -ne 0 ]; then
	echo "layers: back-arrows found (order: ${steps[*]})" >&2
	exit 1
fi
echo "layers: ok ($(find controller reconcilers -name '*.[ch]' | wc -l) files, order: ${steps[*]})"
