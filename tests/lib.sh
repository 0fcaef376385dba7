# Shared helpers for natbed's shell tests. Source it first thing:
#   . "$NATBED_SRC/tests/lib.sh"
# It gives a unique namespace prefix ($NB_PREFIX), a scratch dir ($NB_TMP),
# skips (exit 77) when not root, and tears down on every exit: each
# namespace named with the prefix, each process started with nb_bg.
# Under CI=true a test that cannot run fails instead of skipping (nb_skip).
# Tests wait on conditions (nb_wait_for and the waits built on it), never
# on a fixed sleep.
set -u
NATBED_SRC=${NATBED_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
NATBED_BUILD=${NATBED_BUILD:-$NATBED_SRC/build}
export PATH="$NATBED_BUILD/cli:$NATBED_BUILD/emulator:$NATBED_BUILD/agents:$PATH"

# nb_skip REASON: this test cannot run here: exit 77, which ctest counts as
# skipped. Under CI=true it exits 1 instead: in CI a skipped acceptance test
# hides exactly what it was meant to catch (scripts/setup.sh installs every
# tool a test needs). Decided when the test runs, not when ctest was
# configured, so a build directory reused by CI and by hand is right.
nb_skip() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: cannot run, and CI=true forbids skipping: $*" >&2
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}
nb_fail() { echo "FAIL: $*" >&2; exit 1; }
nb_pass() { echo "PASS: $*"; }

# nb_need CMD...: skip (fail under CI=true) unless every CMD is installed.
nb_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || nb_skip "$c not installed (scripts/setup.sh installs it)"
	done
}

# A test that makes no namespaces (natbed sim) sets NB_NO_ROOT=1 first.
if [ "${NB_NO_ROOT:-}" != 1 ]; then
	[ "$(id -u)" -eq 0 ] || nb_skip "needs root to create network namespaces"
	command -v ip >/dev/null || nb_skip "iproute2 (ip) not installed"
fi

# Unique per test run: 't' + 4 hex + '-' keeps names short for IFNAMSIZ.
NB_PREFIX=${NB_PREFIX:-t$(printf '%04x' $(( (RANDOM << 1 ^ $$) & 0xffff )))-}
NB_TMP=$(mktemp -d "/tmp/natbed-test.XXXXXX")
NB_PIDS=()

# nb_bg CMD...: start CMD in the background and remember it for teardown.
nb_bg() { "$@" & NB_PIDS+=($!); }

# nb_ns NAME: create namespace $NB_PREFIX$NAME with loopback up.
nb_ns() {
	ip netns add "$NB_PREFIX$1" || nb_fail "ip netns add $NB_PREFIX$1"
	ip -n "$NB_PREFIX$1" link set lo up
}

# nb_x NAME CMD...: run CMD in namespace $NB_PREFIX$NAME.
nb_x() { local n=$1; shift; ip netns exec "$NB_PREFIX$n" "$@"; }

# nb_up FILE: natbed up FILE under $NB_PREFIX; captures and logs in $NB_TMP/out.
nb_up() {
	natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/out" "$1" >"$NB_TMP/up.log" 2>&1 \
		|| { cat "$NB_TMP/up.log"; nb_fail "natbed up $1"; }
}

# --- waiting on a condition ------------------------------------------------
# Each wait polls until what the test needs is there, with a deadline and a
# message naming it; the deadlines are generous (a pass returns at once),
# so a loaded machine slows a test down instead of failing it.

# Milliseconds since the epoch; SECONDS (may have a fraction) in ms.
nb_now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((t / 1000)); }
nb_ms() { awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'; }

# nb_poll SECONDS CMD...: run CMD every 50 ms until it succeeds (0), or
# until SECONDS have passed (1); CMD's last output is kept in $NB_POLL_OUT.
nb_poll() {
	local end
	end=$(($(nb_now_ms) + $(nb_ms "$1")))
	shift
	NB_POLL_OUT="$NB_TMP/poll.$BASHPID"
	until "$@" >"$NB_POLL_OUT" 2>&1; do
		[ "$(nb_now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# nb_wait_for SECONDS WHAT CMD...: nb_poll, failing the test with WHAT (and
# CMD's last output) if CMD has not succeeded within SECONDS. A ready line
# is `nb_wait_for 10 "the ready line" grep -q ready LOG`, a file
# `nb_wait_for 10 "FILE" test -s FILE`.
nb_wait_for() {
	local secs=$1 what=$2
	shift 2
	nb_poll "$secs" "$@" ||
		nb_fail "timed out after $secs s waiting for $what; '$*' said: $(tail -c 400 "$NB_POLL_OUT")"
}

# nb_listening udp|tcp PORT CMD...: whether a socket listens on PORT (UDP:
# bound) where CMD runs ss, e.g. `nb_x srv` or `natbed exec ... HOST --`.
nb_listening() {
	local proto=$1 port=$2 flags=-Hlun
	shift 2
	[ "$proto" = tcp ] && flags=-Hltn
	[ -n "$("$@" ss $flags "sport = :$port")" ]
}

# nb_wait_listen udp|tcp PORT CMD...: wait until a socket listens on PORT.
nb_wait_listen() { nb_wait_for 10 "a $1 socket listening on port $2" nb_listening "$@"; }

# nb_gone PID...: whether every PID has exited (a zombie has: it only
# waits for its parent to reap it).
nb_gone() {
	local p st
	for p in "$@"; do
		{ read -r st <"/proc/$p/stat"; } 2>/dev/null || continue
		st=${st##*) } # after "PID (COMM) ", whatever COMM holds
		[ "${st%% *}" = Z ] || return 1
	done
}

# nb_wait_gone SECONDS PID...: wait until every PID has exited.
nb_wait_gone() { local s=$1; shift; nb_wait_for "$s" "process(es) $* to exit" nb_gone "$@"; }

# nb_ctl_true JQ-EXPR ARGS...: whether the boolean jq expression holds over
# the JSON answer of `natbed ctl ARGS` under $NB_PREFIX (a ctl answer to
# wait for: a counter reached, a mapping made). Needs jq (nb_need jq).
nb_ctl_true() {
	local expr=$1
	shift
	[ "$(natbed ctl --prefix "$NB_PREFIX" --json "$@" | jq "$expr")" = true ]
}

# nb_captured PCAP FILTER [MIN]: whether at least MIN (1) packets of PCAP
# match the tshark display FILTER, once natbed-emu has flushed its captures
# (`ctl show ports` does).
nb_captured() {
	natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null || return 1
	[ "$(tshark -r "$1" -Y "$2" 2>/dev/null | wc -l)" -ge "${3:-1}" ]
}

# nb_stund_ready HOST ADDRESS: wait until natbed-stund on ADDRESS answers
# a Binding request from HOST.
nb_stund_ready() {
	nb_wait_for 15 "natbed-stund on $2 to answer $1" \
		natbed exec --prefix "$NB_PREFIX" "$1" -- timeout 2 natbed-stunclient --timeout 500 "$2"
}

nb_teardown() {
	local p ns
	for p in "${NB_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${NB_PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if command -v natbed >/dev/null 2>&1; then natbed down --prefix "$NB_PREFIX" >/dev/null 2>&1; fi
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NB_PREFIX"); do
		# processes still in the namespace go first
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "${NB_KEEP:-}" ] || rm -rf "$NB_TMP"
}
trap nb_teardown EXIT
trap 'exit 1' INT TERM
