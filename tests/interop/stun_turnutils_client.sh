# interop: coturn's turnutils_stunclient gets the right reflexive address
# from natbed-stund, with and without RFC 5780 processing, and the same
# answer as from coturn's own turnserver (the reference).
. "${NATBED_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/interop/stun_env.sh"
stun_need turnutils_stunclient turnserver natbed-stund
stun_net

# reflexive IP printed by turnutils_stunclient [-f]
refl() {
	nb_x cli timeout 10 turnutils_stunclient "$@" -L "$STUN_CLI" "$STUN_A1" >"$NB_TMP/out" 2>&1
	sed -n 's/.*UDP reflexive addr: \([0-9.]*\):[0-9]*.*/\1/p' "$NB_TMP/out" | head -n 1
}

stun_start_natbed
n_plain=$(refl)
n_5780=$(refl -f)
grep -q "Other addr: : $STUN_A2:$((STUN_PORT + 1))" "$NB_TMP/out" ||
	nb_fail "natbed-stund: no OTHER-ADDRESS $STUN_A2:$((STUN_PORT + 1)) in: $(cat "$NB_TMP/out")"
stun_stop
stun_start_coturn
c_plain=$(refl)
c_5780=$(refl -f)
stun_stop

[ "$c_plain" = "$STUN_CLI" ] && [ "$c_5780" = "$STUN_CLI" ] ||
	nb_fail "coturn (reference) said '$c_plain' / '$c_5780', not $STUN_CLI: setup problem"
[ "$n_plain" = "$STUN_CLI" ] || nb_fail "natbed-stund: reflexive '$n_plain', want $STUN_CLI"
[ "$n_5780" = "$STUN_CLI" ] || nb_fail "natbed-stund (-f): reflexive '$n_5780', want $STUN_CLI"
nb_pass "turnutils_stunclient: $n_plain from natbed-stund and from coturn"
