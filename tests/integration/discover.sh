#!/usr/bin/env bash
# natbed-agent discover over real packets: from behind every NAT preset, an
# address-dependent mapping NAT, a sequential NAT with a stride of 3 and a
# NAT that hairpins (tests/data/discover.yaml), its verdict must be what
# the emulator plays. The expectation is read from the running emulator
# (`natbed ctl checkpoint`: each NAT's behaviour as it runs it), not
# written here. Also a public host (no NAT), a server without an
# alternate address and one that does not answer.
. "$NATBED_SRC/tests/lib.sh"
nb_need jq

x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }

topo=$NATBED_SRC/tests/data/discover.yaml
nb_up "$topo"
nb_stund_ready h-fc 198.51.100.10
nb_stund_ready h-fc 198.51.100.11:3479

# every host at once; each discovery bounds itself (3 s a test)
hosts=(h-fc h-rc h-pr h-sym h-symseq h-masq h-cgn h-adm h-seq3 h-hp pub)
pids=()
for h in "${hosts[@]}"; do
	(
		x "$h" timeout 120 natbed-agent discover --stun 198.51.100.10 \
			>"$NB_TMP/$h.json" 2>"$NB_TMP/$h.err"
		echo $? >"$NB_TMP/$h.rc"
	) &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

ckpt=$NB_TMP/ckpt.json
natbed ctl --prefix "$NB_PREFIX" checkpoint "$ckpt" >/dev/null || nb_fail "ctl checkpoint"
[ -s "$ckpt" ] || nb_fail "no checkpoint written"

# What a NAT's behaviour (numbers: enum topo_nat_map, topo_nat_ports) must
# be measured as. Port assignment: preserve (also Linux's preserve-random,
# random only when the port is taken) keeps the port; with port blocks
# (RFC 6888) an inside port outside the subscriber's block takes the
# block's next free one, in order: sequential, stride 1. Hairpin: a
# hairpinned datagram still meets the receiving mapping's filter, so it
# shows when mapping or filtering is endpoint-independent.
want_of() { # NAT
	jq -c --arg n "$1" '
		["endpoint-independent", "address-dependent", "address-and-port-dependent"] as $k
		| .nats[$n].behaviour as $b
		| ($b.ports == 1 or ($b.ports != 2 and $b.port_block > 0)) as $seq
		| {mapping: $k[$b.mapping], filtering: $k[$b.filtering],
		   ports: (if $seq then "sequential" elif $b.ports == 2 then "random" else "preserve" end),
		   stride: (if $b.ports == 1 then $b.stride elif $seq then 1 else null end),
		   hairpin: ($b.hairpin and ($b.mapping == 0 or $b.filtering == 0)),
		   mapped: .nats[$n].publics[0]}' "$ckpt"
}
got_of() { # HOST
	jq -c '{mapping, filtering, ports, stride, hairpin, mapped: (.mapped | sub(":[0-9]+$"; ""))}' \
		"$NB_TMP/$1.json"
}

fails=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
for h in "${hosts[@]}"; do
	rc=$(cat "$NB_TMP/$h.rc")
	[ "$rc" = 0 ] || { bad "$h: exit $rc: $(cat "$NB_TMP/$h.err")"; continue; }
	[ "$(wc -l <"$NB_TMP/$h.json")" = 1 ] || { bad "$h: not one line: $(cat "$NB_TMP/$h.json")"; continue; }
	if [ "$h" = pub ]; then
		want='{"mapping":"none","filtering":"none","ports":"preserve","stride":null,"hairpin":true,"mapped":"198.51.100.50"}'
	else
		want=$(want_of "${h#h-}")
	fi
	got=$(got_of "$h")
	[ "$got" = "$want" ] || bad "$h: got $got, want $want"
	[ "$(jq -r .other "$NB_TMP/$h.json")" = 198.51.100.11:3479 ] ||
		bad "$h: other $(jq -r .other "$NB_TMP/$h.json"), want 198.51.100.11:3479"
done

# the classes traversal keys its priors by
class() { jq -r .class "$NB_TMP/$1.json"; }
for pair in h-fc:full-cone h-rc:restricted-cone h-pr:port-restricted h-sym:symmetric-random \
	h-symseq:symmetric-sequential h-masq:port-restricted h-cgn:full-cone h-adm:addr-dependent \
	h-seq3:symmetric-sequential h-hp:port-restricted pub:open; do
	[ "$(class "${pair%%:*}")" = "${pair#*:}" ] || bad "${pair%%:*}: class $(class "${pair%%:*}"), want ${pair#*:}"
done
# the cases are what they claim to be
[ "$(jq .stride "$NB_TMP/h-seq3.json")" = 3 ] || bad "h-seq3: stride is not 3"
[ "$(jq .hairpin "$NB_TMP/h-hp.json")" = true ] || bad "h-hp: no hairpin"
[ "$(jq -r .mapping "$NB_TMP/h-adm.json")" = address-dependent ] || bad "h-adm: not address-dependent"

if [ "$fails" -gt 0 ]; then
	for h in "${hosts[@]}"; do echo "--- $h: $(cat "$NB_TMP/$h.json" "$NB_TMP/$h.err")"; done
	nb_fail "$fails discovery verdict(s) differ from what the emulator plays"
fi

# A server without an alternate address gives no OTHER-ADDRESS: exit 1,
# a clear error, and what could be measured (mapped address, ports).
nb_bg x stun natbed-stund --primary 198.51.100.10:4478
nb_wait_for 15 "natbed-stund on port 4478" \
	x h-pr timeout 2 natbed-stunclient --timeout 500 198.51.100.10:4478
x h-pr timeout 60 natbed-agent discover --stun 198.51.100.10:4478 >"$NB_TMP/noalt.json" 2>"$NB_TMP/noalt.err"
rc=$?
[ "$rc" = 1 ] || nb_fail "no alternate: exit $rc, want 1"
grep -q "OTHER-ADDRESS" "$NB_TMP/noalt.err" || nb_fail "no alternate: error does not say so: $(cat "$NB_TMP/noalt.err")"
jq -e '.mapping == "unknown" and .filtering == "unknown" and .ports == "preserve"
	and (.mapped | startswith("203.0.113.23:")) and .other == null and (.error | length > 0)' \
	"$NB_TMP/noalt.json" >/dev/null || nb_fail "no alternate: $(cat "$NB_TMP/noalt.json")"

# Nobody there: exit 1 within the test's bound (--timeout 500: sends at 0
# and 0.5 s), and an error naming the server.
t0=$(nb_now_ms)
x h-fc timeout 60 natbed-agent discover --stun 198.51.100.10:5999 --timeout 500 \
	>"$NB_TMP/mute.json" 2>"$NB_TMP/mute.err"
rc=$?
t=$(($(nb_now_ms) - t0))
[ "$rc" = 1 ] || nb_fail "no server: exit $rc, want 1"
grep -q "no answer from the STUN server (198.51.100.10:5999)" "$NB_TMP/mute.err" ||
	nb_fail "no server: error: $(cat "$NB_TMP/mute.err")"
[ "$t" -ge 500 ] || nb_fail "no server: gave up after $t ms, before its 500 ms"

natbed down --prefix "$NB_PREFIX" || nb_fail "natbed down"
for h in "${hosts[@]}"; do echo "$h: $(cat "$NB_TMP/$h.json")"; done
nb_pass "discover agrees with what each NAT plays: every preset, address-dependent mapping, stride 3, hairpin, no NAT"
