# Shared set-up of the STUN interop tests (sourced, not a test itself).
# Builds two namespaces joined by a veth pair:
#   cli: 198.51.100.2/24            srv: 198.51.100.10/24 and 198.51.100.11/24
# and starts natbed-stund or coturn's turnserver in srv on both addresses.
. "${NATBED_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/tests/lib.sh"

STUN_CLI=198.51.100.2
STUN_A1=198.51.100.10
STUN_A2=198.51.100.11
STUN_PORT=3478

# stun_need CMD...: skip (fail under CI=true) unless every command exists.
stun_need() { nb_need "$@"; }

# stun_net: the two namespaces and the veth between them.
stun_net() {
	nb_ns cli
	nb_ns srv
	ip link add "${NB_PREFIX}c" type veth peer name "${NB_PREFIX}s" ||
		nb_fail "ip link add veth"
	ip link set "${NB_PREFIX}c" netns "${NB_PREFIX}cli"
	ip link set "${NB_PREFIX}s" netns "${NB_PREFIX}srv"
	nb_x cli ip addr add "$STUN_CLI/24" dev "${NB_PREFIX}c"
	nb_x srv ip addr add "$STUN_A1/24" dev "${NB_PREFIX}s"
	nb_x srv ip addr add "$STUN_A2/24" dev "${NB_PREFIX}s"
	nb_x cli ip link set "${NB_PREFIX}c" up
	nb_x srv ip link set "${NB_PREFIX}s" up
	# no IPv6 chatter (DAD, router solicitations) in the captures
	nb_x cli sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	nb_x srv sysctl -qw net.ipv6.conf.all.disable_ipv6=1
}

# stun_wait_port PORT: wait until something listens on UDP PORT in srv.
stun_wait_port() { nb_wait_listen udp "$1" nb_x srv; }

# stun_start_natbed [ARGS...]: natbed-stund on both addresses (RFC 5780).
stun_start_natbed() {
	stun_need natbed-stund
	# ip netns exec execs the server, so $! is the server itself
	nb_bg ip netns exec "${NB_PREFIX}srv" natbed-stund --primary "$STUN_A1:$STUN_PORT" --alternate "$STUN_A2" \
		--stats "$NB_TMP/stund.json" "$@" 2>>"$NB_TMP/stund.log"
	STUN_PID=${NB_PIDS[-1]}
	stun_wait_port $((STUN_PORT + 1))
}

# stun_start_coturn: coturn as the reference, the same two addresses, no
# config file, no auth, no TLS/DTLS, its log in the scratch dir.
stun_start_coturn() {
	stun_need turnserver
	nb_bg ip netns exec "${NB_PREFIX}srv" turnserver -n -L "$STUN_A1" -L "$STUN_A2" -p "$STUN_PORT" \
		--alt-listening-port $((STUN_PORT + 1)) --no-auth --no-tls --no-dtls --no-cli \
		--log-file "$NB_TMP/turnserver.log" --simple-log --no-stdout-log \
		--pidfile "$NB_TMP/turnserver.pid" ${COTURN_ARGS:-} >/dev/null 2>&1
	STUN_PID=${NB_PIDS[-1]}
	stun_wait_port $((STUN_PORT + 1))
}

# stun_stop: stop the server started last, wait for it, and check that
# nothing is left listening on the STUN ports.
stun_stop() {
	kill -TERM "$STUN_PID" 2>/dev/null
	nb_wait_for 5 "server $STUN_PID to exit on SIGTERM" nb_gone "$STUN_PID"
	wait "$STUN_PID" 2>/dev/null
	nb_wait_for 5 "udp port $STUN_PORT closed in srv after the server stopped" \
		stun_port_closed
}
stun_port_closed() { ! nb_listening udp "$STUN_PORT" nb_x srv; }
