#!/usr/bin/env bash
# natbed-agent clients on real sockets through natbed-emu: 50 clients at
# 10 a second, 25 behind a port-restricted NAT and 25 behind a symmetric
# one (one clients process on each site, its schedule fed on stdin while
# it runs), all connecting to one public serving agent. Each client is an
# agent of its own: it measures its NAT, registers NAME.ID, connects
# through the cascade, probes, and gives its name up.
#  - 50 result lines, each id once, every one connected (with direct: the
#    server is public), t_s no earlier than the client's time, both
#    processes exit 0 once their stdin is closed;
#  - a bad schedule line (in a file) is refused (stderr names its number,
#    exit 2) while the good ones still run;
#  - the server answered 50 tries, the rendezvous introduced 50 and holds
#    no client's name afterwards.
. "$NATBED_SRC/tests/lib.sh"
nb_need jq

RDV=198.51.100.20 STUN=198.51.100.10 SRV=198.51.100.30
common=(--rendezvous "$RDV" --stun "$STUN")
topo=$NB_TMP/clients.yaml
cat >"$topo" <<'YAML'
name: clients
seed: 5
defaults:
  link: { delay: 2ms }
internet:
  link: { delay: 10ms }
nats:
  home: { preset: port-restricted, public: 203.0.113.51, inside: 10.51.0.0/24 }
  office: { preset: symmetric, public: 203.0.113.52, inside: 10.52.0.0/24 }
hosts:
  stun:
    addresses: [198.51.100.10, 198.51.100.11]
    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11
  rdv: { address: 198.51.100.20 }
  srv: { address: 198.51.100.30 }
  home1: { nat: home, address: 10.51.0.10 }
  office1: { nat: office, address: 10.52.0.10 }
YAML
nb_up "$topo"
nb_stund_ready home1 "$STUN"

bg() { local h=$1 log=$2; shift 2; nb_bg natbed exec --prefix "$NB_PREFIX" "$h" -- "$@" 2>"$log"; }
bg rdv "$NB_TMP/rdv.log" natbed-rendezvous --listen "$RDV" --stats "$NB_TMP/rdv.stats"
rdv_pid=${NB_PIDS[-1]}
nb_wait_for 10 "the rendezvous' ready line" grep -q "listening on $RDV:4787" "$NB_TMP/rdv.log"
bg srv "$NB_TMP/srv.log" natbed-agent serve --name srv "${common[@]}" --nat open \
	--stats "$NB_TMP/srv.stats"
srv_pid=${NB_PIDS[-1]}
nb_wait_for 30 "srv registered" grep -q "registered as srv" "$NB_TMP/srv.log"

# Each site's process reads its schedule from a pipe the test writes as
# the time goes: 4 s of lines at once, the rest once a first client has
# reported (the process starts each at its time, or at once when its
# line came late).
# Clients 0, 2, 4, ... at home, 1, 3, ... at the office, 0.1 s apart.
start_site() { # HOST PARITY
	local fifo=$NB_TMP/$1.fifo
	mkfifo "$fifo"
	natbed exec --prefix "$NB_PREFIX" "$1" -- timeout 120 natbed-agent clients --name "$1" \
		"${common[@]}" --probes 3 --max-clients 64 <"$fifo" >"$NB_TMP/$1.out" 2>"$NB_TMP/$1.err" &
	NB_PIDS+=($!)
	exec {fd}>"$fifo"
	eval "fd_$1=$fd"
}
lines() { # PARITY FROM TO
	local i
	for ((i = $2; i < $3; i += 1)); do
		[ $((i % 2)) = "$1" ] && printf 'c%d %d.%d srv\n' "$i" $((i / 10)) $((i % 10))
	done
	true
}
start_site home1 0
home_pid=${NB_PIDS[-1]}
start_site office1 1
office_pid=${NB_PIDS[-1]}
lines 0 0 40 >&"$fd_home1"
lines 1 0 40 >&"$fd_office1"
# the rest once the first results are in: still within the schedule
nb_wait_for 30 "the first result line" test -s "$NB_TMP/home1.out"
lines 0 40 50 >&"$fd_home1"
lines 1 40 50 >&"$fd_office1"
exec {fd_home1}>&- {fd_office1}>&-

rc=0
wait "$home_pid" || rc=$?
[ "$rc" = 0 ] || nb_fail "home1's clients exited $rc: $(cat "$NB_TMP/home1.err") $(cat "$NB_TMP/home1.out")"
wait "$office_pid" || rc=$?
[ "$rc" = 0 ] || nb_fail "office1's clients exited $rc: $(cat "$NB_TMP/office1.err") $(cat "$NB_TMP/office1.out")"

all=$NB_TMP/all.jsonl
cat "$NB_TMP/home1.out" "$NB_TMP/office1.out" >"$all"
[ "$(wc -l <"$all")" = 50 ] || nb_fail "$(wc -l <"$all") result lines, want 50: $(cat "$all")"
jq -se 'map(.client) | unique | length == 50' "$all" >/dev/null || nb_fail "ids not 50 distinct: $(jq -c .client "$all" | tr '\n' ' ')"
jq -se 'map(.client | ltrimstr("c") | tonumber) | sort == [range(50)]' "$all" >/dev/null ||
	nb_fail "not every id 0..49 reported"
bad=$(jq -c 'select((.success and .method == "direct" and .path == "direct" and .loss == 0
	and .t_s >= ((.client | ltrimstr("c") | tonumber) / 10 - 0.001)) | not)' "$all")
[ -z "$bad" ] || nb_fail "clients not connected as expected: $bad"
# the two sites' public addresses, as the server saw them
jq -se '[.[] | .local | split(":")[0]] | unique == ["203.0.113.51", "203.0.113.52"]' "$all" >/dev/null ||
	nb_fail "paths not from the two NATs: $(jq -c .local "$all" | sort -u | tr '\n' ' ')"
nb_pass "clients: 50 at 10/s from two NATs, each reported once, all connected with direct"

# --- a bad line ------------------------------------------------------------
# (from a file: read whole at once, as it cannot be polled)
rc=0
printf 'ok1 0 nobody\nbad line\nok2 0.1 nobody direct\n' >"$NB_TMP/bad.sched"
natbed exec --prefix "$NB_PREFIX" home1 -- timeout 60 natbed-agent clients --name h "${common[@]}" \
	--nat port-restricted <"$NB_TMP/bad.sched" >"$NB_TMP/bad.out" 2>"$NB_TMP/bad.err" || rc=$?
[ "$rc" = 2 ] || nb_fail "a bad line: exit $rc, want 2: $(cat "$NB_TMP/bad.err")"
grep -q "stdin line 2: 2 fields" "$NB_TMP/bad.err" || nb_fail "no error naming line 2: $(cat "$NB_TMP/bad.err")"
[ "$(jq -s 'map(.client) | sort' "$NB_TMP/bad.out" | jq -c .)" = '["ok1","ok2"]' ] ||
	nb_fail "the good lines did not both report: $(cat "$NB_TMP/bad.out")"
jq -se 'all(.[]; .success == false and .reason == "rendezvous refused: peer not registered")' \
	"$NB_TMP/bad.out" >/dev/null ||
	nb_fail "a client to nobody: $(cat "$NB_TMP/bad.out")"
nb_pass "clients: a bad line refused by number, the others run"

# --- the server's and the rendezvous' view --------------------------------
# the rendezvous' counters now (SIGUSR1): srv's name is the only one left
kill -USR1 "$rdv_pid"
nb_wait_for 5 "the rendezvous' stats" test -s "$NB_TMP/rdv.stats"
jq -e '.connects == 50 and .introductions == 100 and .intro_acked == 100
	and .unregistered == 52 and .agents == 1' "$NB_TMP/rdv.stats" >/dev/null ||
	nb_fail "rendezvous counters: $(cat "$NB_TMP/rdv.stats")"
kill -TERM "$srv_pid" "$rdv_pid"
nb_wait_gone 10 "$srv_pid" "$rdv_pid"
nb_wait_for 5 "srv's stats" test -s "$NB_TMP/srv.stats"
jq -e '.tries.ok == 50 and .tries.failed == 0 and .tries.refused == 0' "$NB_TMP/srv.stats" >/dev/null ||
	nb_fail "srv's counters: $(cat "$NB_TMP/srv.stats")"
nb_pass "clients: the server answered 50 tries, every client's name given up"
