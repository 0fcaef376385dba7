#!/usr/bin/env bash
# The control socket against a stranger: mode 0600, and garbage, bad JSON,
# unknown commands, an endless line and idle connections each get a clear
# error or are cut off, while natbed-emu keeps answering.
. "$NATBED_SRC/tests/lib.sh"
PY=/usr/bin/python3
[ -x $PY ] || nb_skip "python3 not installed"
nb_up "$NATBED_SRC/topologies/routed.yaml"
sock="/run/natbed/$NB_PREFIX/ctl"
[ "$(stat -c %a "$sock")" = 600 ] || nb_fail "control socket mode $(stat -c %a "$sock"), want 600"

$PY - "$sock" <<'PY' || nb_fail "control socket robustness"
import json, socket, sys, time
path = sys.argv[1]

def ask(data, want_error=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # connect blocking: with a timeout set, a full accept queue is EAGAIN
    # at once, while a blocking connect waits for the emulator to accept
    s.connect(path)
    s.settimeout(5)
    buf = b""
    try:
        s.sendall(data)
    except (ConnectionResetError, BrokenPipeError):
        return buf  # cut off while sending: what a flood deserves
    try:
        while not buf.endswith(b"\n"):
            b = s.recv(65536)
            if not b:
                break
            buf += b
    except (ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    if want_error is None:
        return buf
    ans = json.loads(buf)
    assert ans["ok"] is False, ans
    assert want_error in ans["error"], (want_error, ans)

ask(b"\x00\xff garbage\n", "JSON array")
ask(b"{\"show\": 1}\n", "JSON array")
ask(b"[]\n", "JSON array")
ask(b"[1, 2]\n", "not a string")
ask(b"[\"rm\", \"-rf\"]\n", "unknown command")
ask(b"[\"nat\", \"nosuch\", \"mappings\"]\n", "no NAT")
ask(b"[\"link\", \"nosuch\", \"down\"]\n", "no link")
ask(json.dumps(["a"] * 20).encode() + b"\n", "JSON array of 1 to")
# an endless line is cut off, not buffered forever
r = ask(b"[" + b"\"x\"," * 100000)
assert r == b"" or b"too long" in r, r[:100]
# idle strangers do not block others
idle = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(20)]
for s in idle:
    s.connect(path)
ans = json.loads(ask(b"[\"show\", \"stats\"]\n"))
assert ans["ok"] is True, ans
for s in idle:
    s.close()
PY
natbed ctl --prefix "$NB_PREFIX" show stats >/dev/null || nb_fail "natbed-emu stopped answering"
natbed exec --prefix "$NB_PREFIX" a -- ping -c 1 -W 2 198.51.100.2 >/dev/null || nb_fail "forwarding stopped"
nb_pass "control socket: strangers get errors, the emulator goes on"
