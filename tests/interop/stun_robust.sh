# robustness: 10,000 mutated and random datagrams (natbed-stunload
# --garbage) leave natbed-stund alive and answering, and every datagram is
# accounted for in its --stats counters: answered or dropped with a reason.
. "${NATBED_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/interop/stun_env.sh"
stun_need natbed-stund natbed-stunload natbed-stunclient jq
stun_net
N=10000

stun_start_natbed
udp_errs() { nb_x srv awk '/^Udp:/ && $2 ~ /^[0-9]/ {print $6 + $7}' /proc/net/snmp; }
before=$(udp_errs)
out=$(nb_x cli timeout 120 natbed-stunload --server "$STUN_A1:$STUN_PORT" --garbage $N --seed 5780 2>&1) ||
	nb_fail "natbed-stunload --garbage: $out"
echo "$out"
echo "$out" | grep -q "sent=$N .*probe=ok" || nb_fail "not all sent or no answer after: $out"
kill -0 "$STUN_PID" 2>/dev/null || nb_fail "natbed-stund died"
nb_x cli natbed-stunclient "$STUN_A1" >/dev/null || nb_fail "natbed-stund no longer answers"
after=$(udp_errs)
stun_stop
j="$NB_TMP/stund.json"
[ -s "$j" ] || nb_fail "no --stats after SIGTERM"
jq -c . "$j"
[ "$(jq '.datagrams >= '$N "$j")" = true ] || nb_fail "server saw fewer than $N datagrams"
[ "$(jq '.datagrams == .responses.success + .responses.error + .drops.total' "$j")" = true ] ||
	nb_fail "some datagrams neither answered nor counted as dropped"
[ "$(jq '.drops.total > 0 and .errors."400" > 0 and .errors."420" > 0' "$j")" = true ] ||
	nb_fail "the garbage should cause drops, 400s and 420s"
# the kernel dropped nothing either (receive buffer and checksum errors)
[ "$after" = "$before" ] || nb_fail "kernel UDP receive errors went from $before to $after"
nb_pass "$(jq -r '"\(.datagrams) datagrams: \(.responses.success) ok, \(.responses.error) errors, \(.drops.total) dropped"' "$j")"
