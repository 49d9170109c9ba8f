# demo_test.sh: what the scripts that run the demo check after it. Source it after tap.sh and
# hack/fleet.sh, with $marker set to the CLAWFLEET_DEMO value the demo runs with.
#   leftovers: the /proc/PID/environ of every process still carrying the marker (zombies have
#     no environment left to match).
#   no_process_left NAME: "ok" once none is left (5 s at most), else "not ok" naming them.
leftovers() { env -u CLAWFLEET_DEMO grep -lsxz "CLAWFLEET_DEMO=$marker" /proc/[0-9]*/environ; }
none_left() { [ -z "$(leftovers)" ]; }
no_process_left() {
	if fleet_wait 5 none_left; then
		tap_ok "$1"
	else
		tap_fail "$1" "$(leftovers | sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p' |
			xargs -r ps -o pid=,ppid=,stat=,etime=,args= -p)"
	fi
}
