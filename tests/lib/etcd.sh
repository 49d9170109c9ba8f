# etcd.sh: a three-member etcd cluster on free loopback ports for the high-availability tests,
# each member with its own data directory under DIR/etcd. Source it after hack/fleet.sh.
#   etcd_up DIR [N]: starts members e1 e2 e3 (N of them: 3 unless told; their pids tracked as the
#     fleet's, so fleet_down stops them), waits until the cluster answers; sets ETCD_ENDPOINTS ("http://127.0.0.1:P1 ...")
#     and ETCD_ENDPOINTS_YAML ("[http://..., ...]"). 1 when etcd is missing or does not come up.
#   etcd_test_up [N]: etcd_up on the test's fleet directory as a TAP check ("N etcd members come
#     up"); a test that cannot get them fails that check and ends there.
#   etcd_kill DIR N: SIGKILL to member eN; etcd_start DIR N: starts it again on its data.
#   etcdctl_: etcdctl (API v3) on the cluster's endpoints.
#   ha_replicas N: N controller replicas on the fleet's configuration with the etcd store
#     (prefix /clawfleet/test, leaseTTL 3s), replica K in DIR/replicaK with its log in
#     logs/replicaK.log, its URL in HA_URL_K and its pid in HA_PID_K.
#   ha_leader: the number of the replica whose /status says it leads; 1 when none does.
#   ha_status K [EXPR]: fleet_status of replica K.
#   etcd_wait SECONDS CMD...: fleet_wait bounded by the clock rather than by tries.
etcd_up() {
	local dir=$1 members=${2:-3} n cluster=""
	command -v etcd >/dev/null || return 1
	mkdir -p "$dir/etcd" "$dir/logs"
	ETCD_ENDPOINTS=""
	for n in $(seq "$members"); do
		eval "ETCD_CLIENT_PORT_$n=$(fleet_free_port) ETCD_PEER_PORT_$n=$(fleet_free_port)"
		cluster="$cluster${cluster:+,}e$n=http://127.0.0.1:$(eval echo "\$ETCD_PEER_PORT_$n")"
		ETCD_ENDPOINTS="$ETCD_ENDPOINTS${ETCD_ENDPOINTS:+ }http://127.0.0.1:$(eval echo "\$ETCD_CLIENT_PORT_$n")"
	done
	ETCD_CLUSTER=$cluster
	ETCD_ENDPOINTS_YAML="[$(echo "$ETCD_ENDPOINTS" | sed 's/ /, /g')]"
	for n in $(seq "$members"); do
		etcd_start "$dir" "$n" new
	done
	etcd_wait 20 etcd_healthy
}

# etcd_healthy: every member says it is healthy (GET /health answers within a second each).
etcd_healthy() {
	local ep
	for ep in $ETCD_ENDPOINTS; do
		curl -sf --max-time 1 "$ep/health" | grep -q '"health":"true"' || return 1
	done
}

# etcd_wait SECONDS CMD...: CMD every 0.2 s until it succeeds; 1 once SECONDS have passed (however
# long each try takes).
etcd_wait() {
	local end=$((SECONDS + $1))
	while [ "$SECONDS" -lt "$end" ]; do
		"${@:2}" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

etcd_start() {
	local dir=$1 n=$2 state=${3:-existing} client peer
	client=http://127.0.0.1:$(eval echo "\$ETCD_CLIENT_PORT_$n")
	peer=http://127.0.0.1:$(eval echo "\$ETCD_PEER_PORT_$n")
	etcd --name "e$n" --data-dir "$dir/etcd/e$n" --listen-client-urls "$client" \
		--advertise-client-urls "$client" --listen-peer-urls "$peer" \
		--initial-advertise-peer-urls "$peer" --initial-cluster "$ETCD_CLUSTER" \
		--initial-cluster-state "$state" --initial-cluster-token "clawfleet-$$" \
		--heartbeat-interval 50 --election-timeout 500 \
		>>"$dir/logs/etcd-e$n.log" 2>&1 &
	eval "ETCD_PID_$n=$!"
	fleet_track "$dir" "$!"
}

etcd_kill() {
	local pid
	pid=$(eval echo "\$ETCD_PID_$2")
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

etcdctl_() {
	ETCDCTL_API=3 etcdctl --endpoints "$(echo "$ETCD_ENDPOINTS" | tr ' ' ,)" \
		--dial-timeout 1s --command-timeout 2s "$@"
}

ha_replicas() {
	local n port
	for n in $(seq "$1"); do
		port=$(fleet_free_port)
		sed -e "s|^state: .*|state: $fleet/replica$n|" \
			-e "s|^listen: .*|listen: 127.0.0.1:$port|" "$FLEET_CONFIG" >"$fleet/replica$n.yaml"
		echo "store: {type: etcd, endpoints: $ETCD_ENDPOINTS_YAML, prefix: /clawfleet/test," \
			"leaseTTL: 3s, timeout: 500ms}" >>"$fleet/replica$n.yaml"
		eval "HA_URL_$n=http://127.0.0.1:$port"
		"$FLEET_BIN" controller --config "$fleet/replica$n.yaml" \
			>>"$fleet/logs/replica$n.log" 2>&1 &
		eval "HA_PID_$n=$!"
		fleet_track "$fleet" "$!"
	done
}

ha_leader() {
	local n
	for n in 1 2 3; do
		ha_status "$n" 'd["leader"]["self"]' && { echo "$n"; return 0; }
	done
	return 1
}

ha_status() { fleet_status "$(eval echo "\$HA_URL_$1")" "${@:2}" 2>/dev/null; }

etcd_test_up() {
	local n=${1:-3}
	if ! etcd_up "$fleet" "$n"; then
		tap_fail "$n etcd members come up" "run hack/install-deps.sh (Debian etcd-server)" \
			"$(tail -n 5 "$fleet"/logs/etcd-*.log 2>/dev/null)"
		tap_done
		exit
	fi
	tap_ok "$n etcd members come up"
}
