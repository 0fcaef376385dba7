#!/usr/bin/env python3
"""Send COUNT UDP datagrams "TAG-N" (N = 1..COUNT) from a fixed source port,
GAP seconds apart, so every run is the same flow: natbed's link decisions
are keyed by (flow, packet number) and a fixed seed must repeat them."""
import socket
import sys
import time

def main():
    if len(sys.argv) != 7:
        sys.exit("usage: udpsend.py SRC_PORT DST_IP DST_PORT COUNT GAP_S TAG")
    sport, dst, dport, count, gap, tag = sys.argv[1:]
    count = min(int(count), 100000)  # bounded
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(sport)))
    for n in range(1, count + 1):
        s.sendto(f"{tag}-{n}".encode(), (dst, int(dport)))
        time.sleep(float(gap))

main()
