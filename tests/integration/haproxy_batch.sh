#!/usr/bin/env bash
# A weight map of 1,000 servers through the haproxy driver against a real HAProxy whose one
# backend holds them: the driver sends the whole map over one Runtime API connection (the
# changes ';'-separated in lines under HAProxy's buffer) and reads every weight back; this test
# then reads `show servers state` on its own and checks each of the 1,000 weights, over the UNIX
# socket and over TCP. A map naming servers the backend lacks fails, naming them, while the
# changes HAProxy could take are taken.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
tap_tmpdir
BUILD=${BUILD:-build}
apply_bin=$PWD/$BUILD/bench/haproxy_apply
SERVERS=1000
hap=

cleanup() {
	if [ -n "$hap" ]; then
		kill -9 "$hap" 2>/dev/null
		wait "$hap" 2>/dev/null
	fi
	rm -rf "$TAP_TMP"
}
trap cleanup EXIT

if ! command -v haproxy >/dev/null; then
	tap_fail "haproxy is installed" "run hack/install-deps.sh (Debian package haproxy)"
	tap_done
	exit
fi
if [ ! -x "$apply_bin" ]; then
	tap_fail "$apply_bin is built" "run make BUILD=$BUILD $BUILD/bench/haproxy_apply first"
	tap_done
	exit
fi

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

socket=$TAP_TMP/admin.sock
runtime_port=$(free_port)
frontend_port=$(free_port)
{
	cat <<EOC
global
	stats socket $socket mode 600 level admin
	stats socket ipv4@127.0.0.1:$runtime_port level admin
defaults
	mode http
	timeout connect 1s
	timeout client 5s
	timeout server 5s
frontend fe
	bind 127.0.0.1:$frontend_port
	default_backend gateways
backend gateways
EOC
	for i in $(seq -f %04g 1 "$SERVERS"); do
		printf '\tserver mac-%s 127.0.0.1:9 weight 1\n' "$i"
	done
} >"$TAP_TMP/haproxy.cfg"
tap_check "a configuration of $SERVERS servers is valid" haproxy -c -q -f "$TAP_TMP/haproxy.cfg"
haproxy -db -f "$TAP_TMP/haproxy.cfg" >"$TAP_TMP/haproxy.log" 2>&1 &
hap=$!
for _ in $(seq 50); do
	[ -S "$socket" ] && break
	sleep 0.1
done
if [ ! -S "$socket" ]; then
	tap_fail "haproxy starts" "$(cat "$TAP_TMP/haproxy.log")"
	tap_done
	exit
fi

# Every server's weight as HAProxy reports it, against (i * seed) % 257 (haproxy_apply's map).
check_weights() {
	python3 - "$socket" "$SERVERS" "$1" <<'EOP'
import socket, sys
path, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(b"show servers state gateways\n")
out = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    out += d
got = {}
for line in out.decode().splitlines()[2:]:
    w = line.split()
    if len(w) > 7:
        got[w[3]] = int(w[7])
bad = [(n, got.get(n), w) for n, w in
       (("mac-%04d" % i, (i * seed) % 257) for i in range(1, count + 1)) if got.get(n) != w]
if bad or len(got) != count:
    sys.exit("%d servers listed, %d weights differ, first: %s" % (len(got), len(bad), bad[:3]))
EOP
}

tap_check "$SERVERS weights set over the UNIX socket" "$apply_bin" "$socket" gateways mac- "$SERVERS" 7
tap_check "each of the $SERVERS weights reads back" check_weights 7
tap_check "$SERVERS weights set over TCP" "$apply_bin" "127.0.0.1:$runtime_port" gateways mac- "$SERVERS" 11
tap_check "each of the $SERVERS weights reads back after TCP" check_weights 11

out=$("$apply_bin" "$socket" gateways mac- $((SERVERS + 2)) 13 2>&1)
tap_eq "a map naming 2 servers the backend lacks fails" 1 "$?"
tap_contains "the error names the first missing server" \
	"\"set weight gateways/mac-1001 163\": No such server.; \"set weight gateways/mac-1002 176\": No such server." "$out"
tap_check "the changes HAProxy could take were taken" check_weights 13
tap_done
