#!/usr/bin/env bash
# Issue 9: an expired TTL is answered with ICMP time exceeded (RFC 792 type
# 11 code 0, RFC 1812 §5.3.1) by the router or NAT that expired it, from the
# address it plays toward the sender, so tracepath from a host behind a NAT
# chain (topologies/cgnat.yaml: alice behind home behind carrier) shows
# each hop:
#   1 192.168.1.1 (home's inside gateway)   2 100.64.0.1 (carrier's)
#   3 198.18.0.1 (the internet core)        4 198.51.100.10 reached
# `ping -t N` names the same hops. From outside, a reply whose TTL runs out
# inside a NAT comes back from the outermost NAT's public address (the
# error is translated on its way out, RFC 5508), and every expiry is a
# ttl_expired line in events.jsonl naming its router.
. "$NATBED_SRC/tests/lib.sh"
command -v tracepath >/dev/null || nb_skip "tracepath (iputils-tracepath) not installed"
command -v tshark >/dev/null || nb_skip "tshark not installed"
command -v jq >/dev/null || nb_skip "jq not installed"
PY=$(command -v /usr/bin/python3 || command -v python3) || nb_skip "python3 not installed"
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }

nb_up "$NATBED_SRC/topologies/cgnat.yaml"
x alice ping -c 1 -W 2 198.51.100.10 >/dev/null || nb_fail "alice cannot reach stun"

out=$(x alice timeout 30 tracepath -n -m 6 198.51.100.10) || nb_fail "tracepath: $out"
echo "$out"
# the hop lines, "N: ADDRESS", first answer per hop
hops=$(echo "$out" | awk '$1 ~ /^[0-9]+:$/ && $2 ~ /^[0-9.]+$/ && !seen[$1]++ { printf "%s%s ", $1, $2 }')
want="1:192.168.1.1 2:100.64.0.1 3:198.18.0.1 4:198.51.100.10 "
[ "$hops" = "$want" ] || nb_fail "tracepath hops: '$hops', want '$want'"
echo "$out" | grep -q '^ *4: *198\.51\.100\.10 .*reached' || nb_fail "tracepath did not reach stun at hop 4"

for t in 1:192.168.1.1 2:100.64.0.1 3:198.18.0.1; do
	p=$(x alice ping -n -c 1 -W 2 -t "${t%%:*}" 198.51.100.10 2>&1)
	echo "$p" | grep -q "From ${t#*:} icmp_seq=1 Time to live exceeded" ||
		nb_fail "ping -t ${t%%:*}: want time exceeded from ${t#*:}, got: $p"
done

# From outside: stun answers alice's datagram with TTL 2 (expires entering
# carrier) and 3 (entering home); both errors leave as carrier's.
cat >"$NB_TMP/echo.py" <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7000))
s.settimeout(5)
data, src = s.recvfrom(100)
for ttl in (2, 3):
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    s.sendto(b"ttl%d" % ttl, src)
PY
nb_bg x stun $PY "$NB_TMP/echo.py"
echo_pid=$!
for _ in $(seq 1 50); do # until the listener is bound
	x stun ss -Hun state unconnected sport = :7000 | grep -q . && break
	sleep 0.1
done
x alice $PY -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 40000)); s.sendto(b"hi", ("198.51.100.10", 7000))' ||
	nb_fail "alice: send"
wait "$echo_pid" || nb_fail "stun did not get alice's datagram"
natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null # flushes captures and events
errs=""
for _ in $(seq 1 50); do
	errs=$(tshark -r "$NB_TMP/out/stun.pcap" -Y 'icmp.type == 11 && icmp.code == 0' \
		-T fields -E occurrence=f -e ip.src -e ip.dst 2>/dev/null | sort | uniq -c | awk '{ print $1, $2, $3 }')
	[ "$errs" = "2 203.0.113.50 198.51.100.10" ] && break
	sleep 0.1
	natbed ctl --prefix "$NB_PREFIX" show ports >/dev/null
done
[ "$errs" = "2 203.0.113.50 198.51.100.10" ] ||
	nb_fail "want two time exceeded from 203.0.113.50 in stun.pcap, got: '$errs'"
for r in carrier home; do
	n=$(jq -s --arg r "$r" 'map(select(.event == "drop" and .reason == "ttl_expired" and
		.router == $r and .port == "stun" and .sport == 7000)) | length' "$NB_TMP/out/events.jsonl")
	[ "$n" -eq 1 ] || nb_fail "want one ttl_expired line for stun's reply at $r, got $n"
done
nb_pass "ttl: tracepath and ping -t show each hop of a NAT chain; errors from outside leave as the NAT"
