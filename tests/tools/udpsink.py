#!/usr/bin/env python3
"""Bind each UDP PORT (SO_REUSEADDR, so a sender may bind it too) and read
and discard what arrives, for at most SECONDS: with a socket on the port,
the host's kernel sends no ICMP port unreachable back into the test."""
import select
import socket
import sys
import time

def main():
    if len(sys.argv) < 3:
        sys.exit("usage: udpsink.py SECONDS PORT...")
    end = time.monotonic() + min(float(sys.argv[1]), 600)  # bounded
    socks = []
    for port in sys.argv[2:]:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(port)))
        socks.append(s)
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select(socks, [], [], left)
        for s in ready:
            s.recv(65536)

main()
