# prometheus.sh: a real Prometheus scraping the simulated fleet's HAProxy exporter every second,
# and light traffic through HAProxy, for the metric-analysis tests. Source it after
# tests/lib/fleet_test.sh.
#   prom_require: ends the test (a failed TAP check) when Debian's prometheus is missing.
#   prom_setup TIMEOUT: after fleet_test_up, prom_port and prom_url on a free port, the
#     controller's `prometheus: {url, timeout: TIMEOUT}`, and $fleet/prometheus.yml.
#   prom_start: starts Prometheus on them; its pid in prom_pid, tracked as the fleet's.
#   prom_load: one request at a time through HAProxy, a few dozen a second, while the fleet
#     runs; its pid in prom_load_pid, for the caller's EXIT trap to kill.

prom_require() {
	command -v prometheus >/dev/null && return 0
	tap_fail "prometheus is installed" "run hack/install-deps.sh (Debian package prometheus)"
	tap_done
	exit
}

prom_setup() {
	prom_port=$(fleet_free_port)
	prom_url=http://127.0.0.1:$prom_port
	echo "prometheus: {url: $prom_url, timeout: $1}" >>"$FLEET_CONFIG"
	cat >"$fleet/prometheus.yml" <<PROMEOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: haproxy
    static_configs: [{targets: ["$FLEET_HAPROXY_METRICS"]}]
PROMEOF
}

prom_start() {
	prometheus --config.file="$fleet/prometheus.yml" --storage.tsdb.path="$fleet/prom" \
		--web.listen-address="127.0.0.1:$prom_port" >>"$fleet/logs/prometheus.log" 2>&1 &
	prom_pid=$!
	disown
	fleet_track "$fleet" "$prom_pid"
}

prom_load() {
	(
		while [ -d "$fleet/logs" ]; do
			curl -s -o /dev/null --max-time 2 "$FLEET_FRONTEND/whoami"
			sleep 0.02
		done
	) </dev/null >/dev/null 2>&1 &
	prom_load_pid=$!
}
