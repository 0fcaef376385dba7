#!/usr/bin/env python3
"""A UDP request and a big answer, for fragments through the fabric.

  udpbig.py serve PORT SIZE TIMEOUT_S
      answers each datagram on PORT with SIZE bytes (the kernel fragments
      it past the MTU) until TIMEOUT_S passes without one; bounded.
  udpbig.py ask DST_IP DST_PORT SPORT TIMEOUT_S
      sends one request from SPORT, prints "got LEN" for the answer or
      "got none" after TIMEOUT_S.
Sends only to the address given or back to a datagram's source."""
import socket
import sys


def serve(port, size, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    s.settimeout(timeout)
    for _ in range(1000):  # bounded
        try:
            _, peer = s.recvfrom(2048)
        except socket.timeout:
            return
        s.sendto(b"f" * size, peer)


def ask(dst, dport, sport, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", sport))
    s.settimeout(timeout)
    s.sendto(b"ask", (dst, dport))
    try:
        data, _ = s.recvfrom(65536)
        print(f"got {len(data)}")
    except socket.timeout:
        print("got none")


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "serve":
        serve(int(a[1]), min(int(a[2]), 60000), float(a[3]))
    elif len(a) == 5 and a[0] == "ask":
        ask(a[1], int(a[2]), int(a[3]), float(a[4]))
    else:
        sys.exit(__doc__)


main()
