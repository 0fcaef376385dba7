#!/usr/bin/env bash
# Issue 9: a stateful firewall lets the later fragments of a flow it
# accepted follow their first. A 4 KB UDP answer (three fragments) crosses
# a NAT firewall and a host firewall, both with default drop and only
# outbound traffic accepted; before the fix the fragments without ports
# fell to the default drop and the answer never arrived.
. "$NATBED_SRC/tests/lib.sh"
command -v python3 >/dev/null || nb_skip "python3 not installed"
command -v ss >/dev/null || nb_skip "ss (iproute2) not installed"
TOOL=$NATBED_SRC/tests/tools/udpbig.py

cat >"$NB_TMP/frag.yaml" <<'YAML'
name: fwfrag
nats:
  home:
    preset: port-restricted
    public: 203.0.113.10
    inside: 192.168.1.0/24
    firewall:
      default: drop
      rules:
        - { dir: out, action: accept }
hosts:
  alice:
    nat: home
    address: 192.168.1.10
  carol:
    address: 198.51.100.30
    firewall:
      default: drop
      rules:
        - { dir: out, action: accept }
  bob:
    address: 198.51.100.20
YAML
nb_up "$NB_TMP/frag.yaml"
x() { local h=$1; shift; natbed exec --prefix "$NB_PREFIX" "$h" -- "$@"; }

nb_bg x bob python3 "$TOOL" serve 7000 4000 20
for _ in $(seq 1 50); do
	x bob ss -lun | grep -q ':7000 ' && break
	sleep 0.1
done
x bob ss -lun | grep -q ':7000 ' || nb_fail "the answering server never listened"

for h in alice carol; do
	out=$(x "$h" python3 "$TOOL" ask 198.51.100.20 7000 5555 3) || nb_fail "$h: ask"
	[ "$out" = "got 4000" ] || nb_fail "$h: want the 4000-byte answer through its firewall, $out"
done
for fw in home carol; do
	stats=$(natbed ctl --prefix "$NB_PREFIX" --json firewall "$fw") || nb_fail "ctl firewall $fw"
	python3 - "$stats" <<'PY' || nb_fail "$fw firewall counters: $stats"
import json, sys
s = json.loads(sys.argv[1])
# the answer's three fragments pass as established; nothing hit the policy
assert s["established"]["packets"] >= 3, s
assert s["default"]["packets"] == 0, s
PY
done
natbed down --prefix "$NB_PREFIX" >/dev/null || nb_fail "natbed down"
nb_pass "4 KB UDP answers in fragments cross default-drop firewalls (NAT and host)"
