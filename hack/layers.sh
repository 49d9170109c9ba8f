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
steps="base source desired contracts reconcilers observe plan record act notify serve cmd daemon main"
files=$(find controller reconcilers -name '*.[ch]' | sort)
[ -n "$files" ] || { echo "layers: no files under controller/ or reconcilers/" >&2; exit 2; }
# shellcheck disable=SC2086
awk -v steps="$steps" '
function step_of(path,    parts, n) {
	if (path == "controller/main.c") return "main"
	if (path ~ /^reconcilers\//) return "reconcilers"
	if (path ~ /^controller\/[^\/]+\/./) { split(path, parts, "/"); return parts[2] }
	return ""
}
# Resolves "a/b/../c" so a relative include lands where the compiler would find it.
function normal(path,    parts, n, i, out, k) {
	n = split(path, parts, "/"); k = 0
	for (i = 1; i <= n; i++) {
		if (parts[i] == "." || parts[i] == "") continue
		if (parts[i] == ".." && k > 0) { k--; continue }
		out[++k] = parts[i]
	}
	path = ""
	for (i = 1; i <= k; i++) path = path (i > 1 ? "/" : "") out[i]
	return path
}
BEGIN {
	n = split(steps, names, " ")
	for (i = 1; i <= n; i++) rank[names[i]] = i
	bad = 0
}
FNR == 1 {
	own = step_of(FILENAME)
	dir = FILENAME; sub(/\/[^\/]*$/, "", dir)
	if (own == "" || !(own in rank)) {
		print FILENAME ":1: not in a known step (" steps ")"
		bad = 1
		nextfile
	}
	nfiles++
}
/^[ \t]*#[ \t]*include/ {
	line = $0
	if (match(line, /<[^>]*>/)) {
		inc = substr(line, RSTART + 1, RLENGTH - 2)
		if (own == "plan" && inc ~ /^(curl\/|git2(\.h|\/)|microhttpd\.h$|pthread\.h$|unistd\.h$)/) {
			print FILENAME ":" FNR ": plan/ is pure and may not include <" inc ">"
			bad = 1
		}
		next
	}
	if (!match(line, /"[^"]*"/)) next
	inc = substr(line, RSTART + 1, RLENGTH - 2)
	if (inc ~ /\//) target = (inc ~ /^reconcilers\// ? inc : "controller/" inc)
	else target = dir "/" inc
	target = normal(target)
	if (target !~ /^(controller|reconcilers)\//) {
		print FILENAME ":" FNR ": " own "/ includes \"" inc "\", which is in no step"
		bad = 1
		next
	}
	theirs = step_of(target)
	if (theirs == "" || !(theirs in rank)) {
		print FILENAME ":" FNR ": " own "/ includes \"" inc "\", which is in no step"
		bad = 1
	} else if (rank[theirs] > rank[own]) {
		print FILENAME ":" FNR ": " own "/ includes \"" inc "\" from a later step (" theirs ")"
		bad = 1
	} else if (own == "plan" && theirs == "reconcilers") {
		print FILENAME ":" FNR ": plan/ is pure and may not include the driver header \"" inc "\""
		bad = 1
	}
}
END {
	if (bad) {
		print "layers: back-arrows found (order: " steps ")" > "/dev/stderr"
		exit 1
	}
	print "layers: ok (" nfiles " files, order: " steps ")"
}' $files
