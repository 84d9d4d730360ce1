# Shared by the benchmarks (sourced): ports on 127.0.0.1.
#
# free_port picks from 10000-19999: below the runner's container ports
# (20000 up) and the kernel's ephemeral range (32768 up), so a port a
# benchmark picks is not taken a moment later by a container or by an
# outgoing connection.
free_port() {
	local p
	for _ in $(seq 1 500); do
		p=$(( (RANDOM << 1 | RANDOM & 1) % 10000 + 10000 ))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	echo "$(basename "$0"): no free port in 10000-19999" >&2; exit 1
}
# Wait up to 10 s for something to listen on port $1; exit if nothing does.
wait_port() {
	for _ in $(seq 1 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "$(basename "$0"): nothing listens on $1" >&2; exit 1
}
