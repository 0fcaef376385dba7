#!/usr/bin/env bash
# Wireshark decodes the framing of natbed's rendezvous messages and knows
# none of their numbers: every message of the fuzz corpus (one of each
# kind, as rdvmsg_build writes it) is written into a pcap with text2pcap
# and read back with tshark as STUN, each method "Unknown" and every
# natbed attribute "Unknown attribute 0xc0eN". A Wireshark that learns one
# of these numbers fails here: agents/nbstun.h then picks another.
# No namespaces: no root needed.
set -u
src=${NATBED_SRC:?}
tmp=$(mktemp -d /tmp/natbed-dissect.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
skip() {
	if [ "${CI:-}" = true ]; then echo "FAIL: cannot run, and CI=true forbids skipping: $*" >&2; exit 1; fi
	echo "SKIP: $*"; exit 77
}
for c in tshark text2pcap; do
	command -v "$c" >/dev/null || skip "$c not installed (scripts/setup.sh installs it)"
done
corpus=$src/tests/fuzz/corpus/rdv
kinds="register register-ok register-error connect connect-ok connect-error introduce introduce-ok introduce-error
	lookup lookup-ok lookup-error cancel cancel-ok"
for k in $kinds; do
	[ -f "$corpus/$k" ] || { echo "FAIL: no corpus file $k"; exit 1; }
	# text2pcap's hex dump: an offset, then the bytes
	printf '000000'
	od -An -tx1 -v "$corpus/$k" | tr -d '\n'
	printf '\n\n'
done >"$tmp/hex"
text2pcap -q -4 198.51.100.30,198.51.100.20 -u 40000,4787 "$tmp/hex" "$tmp/rdv.pcap" ||
	{ echo "FAIL: text2pcap"; exit 1; }
tshark -r "$tmp/rdv.pcap" -d udp.port==4787,stun -V >"$tmp/v" 2>/dev/null ||
	{ echo "FAIL: tshark cannot read what text2pcap wrote"; exit 1; }
n=$(echo "$kinds" | wc -w)
fail=0
got=$(grep -c "^Session Traversal Utilities for NAT$" "$tmp/v")
[ "$got" -eq "$n" ] || { echo "FAIL: $got of $n messages decoded as STUN"; fail=1; }
# the method line reads "Message Method: 0x02c0 Unknown (0x0e0)"
for m in 0e0 0e1 0e2 0e3 0e4; do
	grep -q "Message Method: 0x[0-9a-f]* Unknown (0x$m)" "$tmp/v" ||
		{ echo "FAIL: method 0x$m is not unknown to tshark: $(grep "(0x$m)" "$tmp/v" | head -1)"; fail=1; }
done
if grep -E "Message Method: .*\(0x0e[0-9a-f]\)" "$tmp/v" | grep -v Unknown; then
	echo "FAIL: tshark names a natbed method"; fail=1
fi
# every attribute of ours in the corpus: unknown, none named
for a in $(grep -o "attribute 0xc0e[0-9a-f]" "$tmp/v" | sort -u | awk '{print $2}'); do
	grep -q "^        Unknown attribute $a$" "$tmp/v" || { echo "FAIL: tshark names $a"; fail=1; }
done
for a in c0e0 c0e1 c0e2 c0e3 c0e4 c0e5 c0e6 c0e7 c0e8 c0e9 c0eb c0ec; do
	grep -q "Unknown attribute 0x$a" "$tmp/v" || { echo "FAIL: attribute 0x$a not seen as unknown"; fail=1; }
done
# no malformed packet, no bad FINGERPRINT
grep -qiE "Malformed|incorrect" "$tmp/v" && { echo "FAIL: tshark finds fault"; grep -iE "Malformed|incorrect" "$tmp/v" | head; fail=1; }
[ $fail -eq 0 ] || exit 1
echo "PASS: tshark decodes the rendezvous' framing and knows none of its numbers"
