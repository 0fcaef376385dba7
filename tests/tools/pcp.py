#!/usr/bin/env python3
"""A small PCP (RFC 6887) client for natbed's tests: one request, the
answer printed as key=value words.

  pcp.py map GATEWAY CLIENT_IP PROTO INTERNAL_PORT SUGGESTED_PORT LIFETIME NONCE_BYTE
      MAP request; prints "result=R lifetime=L epoch=E external=IP:PORT"
  pcp.py announce GATEWAY CLIENT_IP
      ANNOUNCE; prints "result=R epoch=E"
Sends only to GATEWAY:5351 (the NAT's inside address), waits 2 s at most."""
import socket
import struct
import sys


def ask(gw, msg):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(msg, (gw, 5351))
    data, _ = s.recvfrom(1100)
    return data


def hdr(op, lifetime, client):
    return struct.pack("!BBHI", 2, op, 0, lifetime) + b"\0" * 10 + b"\xff\xff" + socket.inet_aton(client)


def main():
    a = sys.argv[1:]
    if len(a) == 8 and a[0] == "map":
        gw, client, proto, inport, want, life, nonce = a[1:]
        proto = {"udp": 17, "tcp": 6}.get(proto, None) or int(proto)
        msg = hdr(1, int(life), client) + bytes([int(nonce)]) * 12 + struct.pack(
            "!B3xHH", proto, int(inport), int(want)) + b"\0" * 16
        r = ask(gw, msg)
        result, lifetime, epoch = r[3], struct.unpack("!I", r[4:8])[0], struct.unpack("!I", r[8:12])[0]
        port = struct.unpack("!H", r[42:44])[0] if len(r) >= 60 else 0
        ext = socket.inet_ntoa(r[56:60]) if len(r) >= 60 else "0.0.0.0"
        print(f"result={result} lifetime={lifetime} epoch={epoch} external={ext}:{port}")
    elif len(a) == 3 and a[0] == "announce":
        r = ask(a[1], hdr(0, 0, a[2]))
        print(f"result={r[3]} epoch={struct.unpack('!I', r[8:12])[0]}")
    else:
        sys.exit(__doc__)


main()
