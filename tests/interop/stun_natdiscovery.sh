# interop: coturn's turnutils_natdiscovery -m -f, run against natbed-stund
# and against coturn's turnserver on the same two addresses, reports
# endpoint-independent mapping and filtering from both (no NAT between).
. "${NATBED_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/interop/stun_env.sh"
stun_need turnutils_natdiscovery turnserver natbed-stund
stun_net

# the verdict lines, in order
verdicts() {
	nb_x cli timeout 30 turnutils_natdiscovery "$@" "$STUN_A1" >"$NB_TMP/out.$1$2" 2>&1
	grep -E '^NAT with|^No NAT|NAT .*(Mapping|Filtering)' "$NB_TMP/out.$1$2"
}

stun_start_natbed
n=$(verdicts -m -f)
n_pad=$(verdicts -m -f -P)
stun_stop
stun_start_coturn
c=$(verdicts -m -f)
c_pad=$(verdicts -m -f -P)
stun_stop

want="NAT with Endpoint Independent Mapping!
NAT with Endpoint Independent Filtering!"
[ "$c" = "$want" ] || nb_fail "coturn (reference) verdicts: '$c': setup problem"
[ "$n" = "$want" ] || nb_fail "natbed-stund verdicts: '$n'; want '$want'"
[ "$n_pad" = "$c_pad" ] || nb_fail "with -P (padding): natbed-stund '$n_pad', coturn '$c_pad'"
nb_pass "turnutils_natdiscovery -m -f: same verdicts as coturn: $(echo $n)"
