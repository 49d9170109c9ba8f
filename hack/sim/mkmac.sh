#!/usr/bin/env bash
# mkmac.sh: makes a simulated Mac, a directory that `clawfleet agent` uses as its root. The fake
# openclaw, npm and launchctl sit where the agent's defaults look for them (symlinks into the
# simulator's build directory), launchd's service runs the fake gateway on PORT, and the
# directories the agent writes to exist. OpenClaw is not installed: the agent's install step
# does that. Anything run against the Mac needs OPENCLAW_SIM_ROOT=ROOT in its environment.
#
#   hack/sim/mkmac.sh ROOT --sim DIR --port PORT [--node NAME] [--commit VERSION=SHA]...
#                     [--remote URL --listen ADDR [--refresh DURATION] [--tls-days N]]
#
# launchd's job is also written as the plist `launchctl print` names,
# ROOT/Library/LaunchAgents/ai.openclaw.gateway.plist (ProgramArguments as sim/gateway.cmd, the
# log sim/gateway.out), so the agent's plist lint reads a real file.
#
# --commit  the short commit `openclaw --version` prints once npm installed VERSION
# --remote  also writes ROOT/etc/clawfleet/agent.yaml (every path inside ROOT, the gateway on
#           PORT, doctor timeout 2s) and two random tokens in ROOT/etc/clawfleet/token.current
#           and token.next; run `clawfleet agent --config ROOT/etc/clawfleet/agent.yaml`
# --tls-days  the gateway terminates TLS with a self-signed certificate valid N days, made by
#           `openssl req -x509 -days N` in ROOT/etc/openclaw/tls/ and named as gateway.tlsCert
set -eu

usage() {
	sed -n '2,/^set -eu/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2
	exit 2
}

[ $# -ge 1 ] || usage
root=$1
shift
sim="" port="" node=canary-gw remote="" listen="" refresh=1s tls_days=""
commits=()
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--sim) sim=$2 ;;
	--port) port=$2 ;;
	--node) node=$2 ;;
	--commit) commits+=("$2") ;;
	--remote) remote=$2 ;;
	--listen) listen=$2 ;;
	--refresh) refresh=$2 ;;
	--tls-days) tls_days=$2 ;;
	*) usage ;;
	esac
	shift 2
done
if [ -z "$sim" ] || [ -z "$port" ]; then usage; fi
case $root in /*) ;; *) root=$PWD/$root ;; esac
sim=$(cd "$sim" && pwd)
for prog in openclaw npm launchctl gateway; do
	[ -x "$sim/$prog" ] || { echo "mkmac.sh: $sim/$prog is missing; build the simulator" >&2; exit 1; }
done

mkdir -p "$root/sim" "$root/usr/local/bin" "$root/bin" "$root/usr/local/share" \
	"$root/var/db/openclaw/skills" "$root/etc/openclaw/tenants" "$root/var/db/clawfleet"
ln -sfn "$sim/openclaw" "$root/usr/local/bin/openclaw"
ln -sfn "$sim/npm" "$root/usr/local/bin/npm"
ln -sfn "$sim/launchctl" "$root/bin/launchctl"
printf '%s\n' "$sim/gateway" --port "$port" --root "$root" --node "$node" >"$root/sim/gateway.cmd"
plist=$root/Library/LaunchAgents/ai.openclaw.gateway.plist
mkdir -p "${plist%/*}"
{
	printf '%s\n' '<?xml version="1.0" encoding="UTF-8"?>' \
		'<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">' \
		'<plist version="1.0">' '<dict>' \
		'	<key>Label</key><string>ai.openclaw.gateway</string>' \
		'	<key>ProgramArguments</key>' '	<array>'
	while IFS= read -r arg; do printf '\t\t<string>%s</string>\n' "$arg"; done <"$root/sim/gateway.cmd"
	printf '%s\n' '	</array>' \
		'	<key>RunAtLoad</key><true/>' '	<key>KeepAlive</key><true/>' \
		"	<key>StandardOutPath</key><string>$root/sim/gateway.out</string>" \
		"	<key>StandardErrorPath</key><string>$root/sim/gateway.out</string>" \
		'</dict>' '</plist>'
} >"$plist"
for c in ${commits[@]+"${commits[@]}"}; do
	echo "${c#*=}" >"$root/sim/commit-for-${c%%=*}"
done

[ -n "$remote" ] || exit 0
[ -n "$listen" ] || usage
mkdir -p "$root/etc/clawfleet"
for t in current next; do
	(umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$root/etc/clawfleet/token.$t")
done
gateway="{port: $port}"
if [ -n "$tls_days" ]; then
	mkdir -p "$root/etc/openclaw/tls"
	openssl req -x509 -days "$tls_days" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$node" \
		-keyout "$root/etc/openclaw/tls/gateway.key" -out "$root/etc/openclaw/tls/gateway.crt" \
		2>/dev/null
	gateway="{port: $port, tlsCert: /etc/openclaw/tls/gateway.crt}"
fi
cat >"$root/etc/clawfleet/agent.yaml" <<EOF
node: $node
listen: "$listen"
root: $root
infra: {remote: "$remote"}
service: {manager: launchd, label: gui/501/ai.openclaw.gateway}
gateway: $gateway
tokens: {dir: /etc/clawfleet}
refresh: $refresh
doctor: {timeout: 2s}
fetchTimeout: 20s
EOF
