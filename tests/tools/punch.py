#!/usr/bin/env python3
"""One side of a UDP hole-punching exchange, as peer-to-peer programs do it:
each side sends to the other's public endpoint, learned out of band (here:
given on the command line, the inside port assumed preserved).

  punch.py PORT PEER_IP PEER_PORT TAG [options]

Binds UDP PORT on every address, then
  1. sends --first datagrams "TAG-first-N" to the peer (the side that sends
     first gives 1, the other 0), prints "first-sent N";
  2. waits until the file --go exists (at most --wait seconds; exit 2 if it
     never does);
  3. after --delay seconds (listening), sends --count datagrams "TAG-N",
     --gap seconds apart, then keeps listening --linger seconds.
Every datagram received at any time is printed as
"recv SRC_IP:SRC_PORT PAYLOAD"; the last line is
"summary sent=S received=R from=IP:PORT,..." (from= lists each distinct
source, "-" when none). Sends only to PEER_IP. Bounded: --count <= 1000,
--gap, --delay, --linger and --wait <= 60 s."""
import argparse
import os
import select
import socket
import sys
import time


def bounded(lo, hi, conv):
    def parse(text):
        v = conv(text)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{text} is not in {lo}..{hi}")
        return v
    return parse


def main():
    ap = argparse.ArgumentParser(description="one side of a UDP hole punch")
    ap.add_argument("port", type=bounded(1, 65535, int))
    ap.add_argument("peer_ip")
    ap.add_argument("peer_port", type=bounded(1, 65535, int))
    ap.add_argument("tag")
    ap.add_argument("--first", type=bounded(0, 100, int), default=0)
    ap.add_argument("--go", help="file whose existence starts step 3")
    ap.add_argument("--wait", type=bounded(0, 60, float), default=10.0)
    ap.add_argument("--delay", type=bounded(0, 60, float), default=0.0)
    ap.add_argument("--count", type=bounded(0, 1000, int), default=5)
    ap.add_argument("--gap", type=bounded(0, 60, float), default=0.1)
    ap.add_argument("--linger", type=bounded(0, 60, float), default=0.5)
    a = ap.parse_args()

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", a.port))
    peer = (a.peer_ip, a.peer_port)
    sent = received = 0
    sources = []

    def send(payload):
        nonlocal sent
        try:
            s.sendto(payload.encode(), peer)
            sent += 1
        except OSError as e:  # an ICMP error reported on the socket
            print(f"send-error {e.errno} {e.strerror}", flush=True)

    def drain(until):
        """Receive and print until the monotonic time `until`."""
        nonlocal received
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([s], [], [], left)
            if not r:
                return
            try:
                data, (ip, port) = s.recvfrom(2048)
            except OSError as e:  # ECONNREFUSED from an earlier ICMP error
                print(f"recv-error {e.errno} {e.strerror}", flush=True)
                continue
            received += 1
            src = f"{ip}:{port}"
            if src not in sources:
                sources.append(src)
            print(f"recv {src} {data.decode(errors='replace')}", flush=True)

    for n in range(1, a.first + 1):
        send(f"{a.tag}-first-{n}")
    print(f"first-sent {a.first}", flush=True)

    if a.go:
        deadline = time.monotonic() + a.wait
        while not os.path.exists(a.go):
            if time.monotonic() >= deadline:
                print(f"summary sent={sent} received={received} from=-", flush=True)
                sys.exit(f"punch: {a.go} did not appear within {a.wait} s")
            drain(min(deadline, time.monotonic() + 0.02))

    drain(time.monotonic() + a.delay)
    for n in range(1, a.count + 1):
        send(f"{a.tag}-{n}")
        drain(time.monotonic() + a.gap)
    drain(time.monotonic() + a.linger)
    print(f"summary sent={sent} received={received} from={','.join(sources) or '-'}",
          flush=True)


main()
