#!/usr/bin/env python3
"""UDP datagrams sent as two IPv4 fragments, the later one first (out of
order, RFC 4787 REQ-14), from a raw socket (needs CAP_NET_RAW).

  fragudp.py send SRC_IP SPORT DST_IP DPORT SIZE TIMEOUT_S
      binds UDP SPORT, sends SIZE bytes to DST_IP:DPORT as reversed
      fragments, waits for one datagram on SPORT and prints
      "reply LEN FROM_IP FROM_PORT" (or "reply none").
  fragudp.py echo SRC_IP PORT TIMEOUT_S
      waits for one datagram on PORT, prints "got LEN FROM_IP FROM_PORT",
      sends it back as reversed fragments.
  fragudp.py later SRC_IP SPORT DST_IP DPORT
      sends only a later fragment (its first never comes).
Sends only to the address given or back to a datagram's source."""
import os
import socket
import struct
import sys
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def fragments(src, sport, dst, dport, payload, ident):
    """The UDP datagram as [first, later] IPv4 packets."""
    ulen = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, ulen)
    c = csum(pseudo + struct.pack("!HHHH", sport, dport, ulen, 0) + payload) or 0xFFFF
    udp = struct.pack("!HHHH", sport, dport, ulen, c) + payload
    cut = 8 * ((len(udp) // 2) // 8)  # first fragment's data: a multiple of 8 bytes
    parts = []
    for off, data, more in ((0, udp[:cut], 1), (cut, udp[cut:], 0)):
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident,
                          (more << 13) | (off // 8), 64, 17, 0,
                          socket.inet_aton(src), socket.inet_aton(dst))
        hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
        parts.append(hdr + data)
    return parts


def send_reversed(src, sport, dst, dport, payload, only_later=False):
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    first, later = fragments(src, sport, dst, dport, payload, int.from_bytes(os.urandom(2), "big"))
    r.sendto(later, (dst, 0))
    if not only_later:
        time.sleep(0.05)  # the NAT sees the later piece well before the first
        r.sendto(first, (dst, 0))
    r.close()


def udp_bound(ip, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.settimeout(timeout)
    return s


def main():
    a = sys.argv[1:]
    if len(a) == 7 and a[0] == "send":
        src, sport, dst, dport, size, timeout = a[1], int(a[2]), a[3], int(a[4]), int(a[5]), float(a[6])
        s = udp_bound(src, sport, timeout)
        send_reversed(src, sport, dst, dport, bytes(i % 251 for i in range(min(size, 8000))))
        try:
            data, frm = s.recvfrom(65535)
            print(f"reply {len(data)} {frm[0]} {frm[1]}")
        except socket.timeout:
            print("reply none")
    elif len(a) == 4 and a[0] == "echo":
        src, port, timeout = a[1], int(a[2]), float(a[3])
        s = udp_bound(src, port, timeout)
        try:
            data, frm = s.recvfrom(65535)
        except socket.timeout:
            print("got none")
            return 1
        print(f"got {len(data)} {frm[0]} {frm[1]}", flush=True)
        send_reversed(src, port, frm[0], frm[1], data)
    elif len(a) == 5 and a[0] == "later":
        send_reversed(a[1], int(a[2]), a[3], int(a[4]), bytes(1600), only_later=True)
    else:
        sys.exit(__doc__)
    return 0


sys.exit(main())
