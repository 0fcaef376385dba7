# capture: tshark in the server namespace records an exchange with
# natbed-stund (plain, CHANGE-REQUEST, PADDING, FINGERPRINT, RFC 3489,
# a 420 and a 400); every packet natbed-stund sends decodes as STUN and
# tshark's expert analysis finds no warning or error in them.
. "${NATBED_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/interop/stun_env.sh"
stun_need natbed-stund natbed-stunclient tshark
stun_net
P1=$STUN_PORT
P2=$((STUN_PORT + 1))
pcap="$NB_TMP/stun.pcapng"

nb_bg ip netns exec "${NB_PREFIX}srv" tshark -q -n -i "${NB_PREFIX}s" -f udp -w "$pcap" 2>"$NB_TMP/tshark.log"
TSHARK_PID=${NB_PIDS[-1]}
nb_poll 10 grep -q "Capturing on" "$NB_TMP/tshark.log" ||
	nb_skip "tshark cannot capture: $(cat "$NB_TMP/tshark.log")"

stun_start_natbed --software natbed-capture
# "Capturing on" can come before packets really are (a busy kernel, many
# namespaces made or removed by other tests): send to a closed port until
# one such datagram is in the file, then begin
warm() {
	nb_x cli natbed-stunclient --timeout 100 "$STUN_A1:9" >/dev/null 2>&1
	[ "$(tshark -r "$pcap" -Y 'udp.dstport == 9' 2>/dev/null | wc -l)" -ge 1 ]
}
nb_wait_for 20 "tshark to capture a first datagram" warm
c() { nb_x cli natbed-stunclient --timeout 2000 "$@" >>"$NB_TMP/client.log" 2>&1; }
c "$STUN_A1" || nb_fail "plain request unanswered"
c --change-ip --change-port "$STUN_A1" || nb_fail "change request unanswered"
c --padding 64 --fingerprint "$STUN_A1" || nb_fail "padded request unanswered"
c --response-port 40123 "$STUN_A1" || nb_fail "response-port request unanswered"
c --classic --change-port "$STUN_A1" || nb_fail "classic request unanswered"
c --attr 0031:0102 --fingerprint "$STUN_A1"; [ $? -eq 3 ] || nb_fail "no 420"
c --attr 0003:00 "$STUN_A1"; [ $? -eq 3 ] || nb_fail "no 400"
stun_stop
# tshark stops once its file holds the 7 packets natbed-stund sent, or
# after 10 s: a loaded machine's dumpcap may hold them in its buffer until
# it is told to stop, and it writes them out then
sent_in_file() { [ "$(tshark -r "$pcap" -Y "ip.src==$STUN_A1 || ip.src==$STUN_A2" 2>/dev/null | wc -l)" -ge 7 ]; }
nb_poll 10 sent_in_file || true
kill -INT "$TSHARK_PID"
nb_wait_gone 20 "$TSHARK_PID"

# RFC 3489 messages have no cookie for the heuristic: decode both ports as
# STUN (the STUN dissector hands cookie-less messages to CLASSIC-STUN)
da=(-d "udp.port==$P1,stun" -d "udp.port==$P2,stun")
sent="ip.src==$STUN_A1 || ip.src==$STUN_A2"
tshark -n -r "$pcap" "${da[@]}" -Y "$sent" -w "$NB_TMP/sent.pcapng" 2>/dev/null ||
	nb_fail "cannot read the capture"
total=$(tshark -n -r "$NB_TMP/sent.pcapng" | wc -l)
# a loaded machine may make the client retransmit, and natbed-stund answers
# each copy: count the answers by transaction
txids=$(tshark -n -r "$NB_TMP/sent.pcapng" "${da[@]}" -T fields -e stun.id -e classicstun.id | sort -u | wc -l)
# RFC 3489 answers decode as Wireshark's CLASSIC-STUN, the RFC 3489 dissector
stun=$(tshark -n -r "$NB_TMP/sent.pcapng" "${da[@]}" -Y 'stun || classicstun' | wc -l)
e420=$(tshark -n -r "$NB_TMP/sent.pcapng" "${da[@]}" -Y 'stun.att.error.class == 4 && stun.att.error == 20' | wc -l)
e400=$(tshark -n -r "$NB_TMP/sent.pcapng" "${da[@]}" -Y 'stun.att.error.class == 4 && stun.att.error == 0' | wc -l)
[ "$txids" -eq 7 ] || nb_fail "natbed-stund answered $txids transactions ($total packets), want 7"
if [ "$stun" -ne "$total" ]; then
	tshark -n -r "$NB_TMP/sent.pcapng" "${da[@]}"
	nb_fail "only $stun of $total packets decode as STUN"
fi
[ "$e420" -ge 1 ] && [ "$e400" -ge 1 ] || nb_fail "420 seen $e420 times, 400 $e400 times"
tshark -n -r "$NB_TMP/sent.pcapng" "${da[@]}" -q -z expert >"$NB_TMP/expert.txt" 2>&1
cat "$NB_TMP/expert.txt"
if grep -qE '^(Errors|Warnings) \(' "$NB_TMP/expert.txt"; then
	cat "$NB_TMP/expert.txt"
	nb_fail "tshark expert info has warnings or errors"
fi
nb_pass "$txids answers ($total packets) from natbed-stund, all STUN, a 420, a 400, no expert warnings"
