# interop: the classic RFC 3489 client `stun` (stun-client 0.97) classifies
# the path through natbed-stund as "Primary: Open", the same as through
# coturn's turnserver on the same addresses.
. "${NATBED_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/interop/stun_env.sh"
stun_need stun turnserver natbed-stund
stun_net

classify() {
	nb_x cli timeout 30 stun "$STUN_A1" -v >"$NB_TMP/out" 2>&1
	grep -E '^Primary:|^test I|^test II|^Return value' "$NB_TMP/out" | tr -d '\t'
}

stun_start_natbed --software natbed
n=$(classify)
n_raw=$(cat "$NB_TMP/out")
stun_stop
stun_start_coturn
c=$(classify)
stun_stop

echo "$c" | grep -qx 'Primary: Open' || nb_fail "coturn (reference): '$c': setup problem"
echo "$n" | grep -qx 'Primary: Open' || nb_fail "natbed-stund: '$n'"
echo "$n_raw" | grep -qiE 'problem parsing|bad length' &&
	nb_fail "stun could not parse natbed-stund's answers: $n_raw"
[ "$n" = "$c" ] || nb_fail "natbed-stund '$n' differs from coturn '$c'"
nb_pass "stun -v: Primary: Open from natbed-stund and coturn"
