#!/usr/bin/env python3
"""Write tests/fuzz/corpus/nat/udp_zero_csum: a fuzz_nat input (format in
tests/fuzz/fuzz_nat.c) whose UDP datagrams all get a checksum that computes
to zero once the NAT has rewritten them, which RFC 768 sends as 0xFFFF:
one going out, one coming in, and one quoted by an ICMP error each way.
An endpoint-independent NAT preserving ports, 192.168.1.0/24 behind
203.0.113.1. Usage: nat_corpus_udp_zero.py OUTPUT"""
import struct
import sys

PUBLIC, HOST, REMOTE = "203.0.113.1", "192.168.1.10", "198.51.100.1"
HOST_PORT, REMOTE_PORT = 5000, 3478  # the NAT preserves 5000
STEER, FIX, INBOUND = 0x02, 0x04, 0x01


def a4(s):
    return bytes(int(x) for x in s.split("."))


def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def sum16(b):
    if len(b) % 2:
        b += b"\0"
    return fold(sum(struct.unpack(f"!{len(b) // 2}H", b)))


def ip_hdr(src, dst, proto, l4_len):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + l4_len, 1, 0, 64, proto, 0, a4(src), a4(dst))
    return h[:10] + struct.pack("!H", 0xFFFF ^ sum16(h)) + h[12:]


def udp(src, sport, dst, dport, payload):
    """A whole IPv4 UDP datagram with its checksum (RFC 768)."""
    n = 8 + len(payload)
    pseudo = a4(src) + a4(dst) + struct.pack("!BBH", 0, 17, n)
    c = 0xFFFF ^ sum16(pseudo + struct.pack("!HHHH", sport, dport, n, 0) + payload)
    return ip_hdr(src, dst, 17, n) + struct.pack("!HHHH", sport, dport, n, c or 0xFFFF) + payload


def zero_after(src, sport, dst, dport, xsrc, xsport, xdst, xdport):
    """src:sport -> dst:dport, with a first payload word chosen so that the
    datagram rewritten to xsrc:xsport -> xdst:xdport sums to 0xffff."""
    rest = b"natbed"
    n = 8 + 2 + len(rest)
    s = sum16(a4(xsrc) + a4(xdst) + struct.pack("!BBHHHHH", 0, 17, n, xsport, xdport, n, 0) + rest)
    w = 0xFFFF ^ s
    d = udp(src, sport, dst, dport, struct.pack("!H", w) + rest)
    assert struct.unpack("!H", d[26:28])[0] not in (0, 0xFFFF)
    return d


def icmp_error(src, dst, quoted):
    # the harness repairs the ICMP checksum (FIX): leave it zero here
    return ip_hdr(src, dst, 1, 8 + len(quoted)) + struct.pack("!BBHI", 3, 3, 0, 0) + quoted


def step(ctl, ip_packet):
    frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip_packet
    return struct.pack("!BH", ctl, len(frame)) + frame + b"\0"  # no time advance


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    # mapping, filtering: EIM; ports: preserve; no parity, no hairpin
    cfg = struct.pack("!BBHHHB", 0, 0, 1024, 64511, 0, 0)
    cfg += bytes([60, 60, 60, 60])  # timeouts, seconds
    cfg += a4(PUBLIC) + a4("192.168.1.0") + bytes([24]) + struct.pack("!I", 42)
    out = cfg
    # out: 192.168.1.10:5000 -> 198.51.100.1:3478 becomes 203.0.113.1:5000 -> ...
    out += step(STEER | FIX, zero_after(HOST, HOST_PORT, REMOTE, REMOTE_PORT,
                                        PUBLIC, HOST_PORT, REMOTE, REMOTE_PORT))
    # in: the reply, to the host
    out += step(INBOUND | STEER | FIX, zero_after(REMOTE, REMOTE_PORT, PUBLIC, HOST_PORT,
                                                  REMOTE, REMOTE_PORT, HOST, HOST_PORT))
    # in: an error quoting what the NAT sent; the quote goes back to the host
    q = zero_after(PUBLIC, HOST_PORT, REMOTE, REMOTE_PORT, HOST, HOST_PORT, REMOTE, REMOTE_PORT)
    out += step(INBOUND | STEER | FIX, icmp_error(REMOTE, PUBLIC, q))
    # out: the host's error quoting what came in; the quote goes out
    q = zero_after(REMOTE, REMOTE_PORT, HOST, HOST_PORT, REMOTE, REMOTE_PORT, PUBLIC, HOST_PORT)
    out += step(STEER | FIX, icmp_error(HOST, REMOTE, q))
    with open(sys.argv[1], "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main()
