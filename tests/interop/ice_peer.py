#!/usr/bin/python3
"""A small ICE peer for `natbed matrix` (docs/byo.md), on aioice.

aioice (Debian's python3-aioice) is a third-party ICE stack (RFC 8445):
this program gathers its candidates (host, server-reflexive from
NATBED_STUN, relayed from NATBED_TURN when there is one), swaps them with
its peer through files in NATBED_SIGNAL, runs the connectivity checks and,
once a pair is nominated, exchanges a few datagrams with the peer over it.

Signalling: each side writes ROLE.json (its ICE username fragment,
password and candidates in SDP form) into NATBED_SIGNAL, through a
temporary file renamed into place so the other never reads half of it,
and polls for the other side's file.

Both sides start their checks at a common time, START_AFTER_S after the
later of the two files was written (both read the same clock), the
answering side first and the offering side OFFER_LAG_S later, so that
whatever the NATs do with a datagram that arrives before their host sent
anything, it happens the same way every run. It matters behind a Linux
masquerade NAT, whose conntrack turns such a datagram into a reservation
that moves its host's next mapping (docs/topology.md, Linux masquerade):
there the side that sends first decides whether a hole punch works.

Relayed candidates are the last resort (RFC 8445 §5.1.2.2 gives them the
lowest preference): the peer's are added to the check list RELAY_DELAY_S
after the others, so that a direct path the checks can find wins over the
relay, as the controlling side nominates the first pair that succeeds.

Exit status: 0 when the datagrams went both ways over the nominated pair,
1 when not (ICE failed or the deadline came: NATBED_TIMEOUT less a margin
for natbed to see it end), 2 on a bad environment.
"""
import asyncio
import json
import logging
import os
import sys
import time

import aioice

START_AFTER_S = 0.3  # from the later signalling file to the answer's first check
OFFER_LAG_S = 0.1  # the offer's first check after the answer's
RELAY_DELAY_S = 2.0  # before the peer's relayed candidates join the checks
POLL_S = 0.05  # how often the peer's signalling file is looked for
HELLO_EVERY_S = 0.2  # how often a hello goes out until the peer acknowledged it
LINGER_S = 1.0  # answering the peer's hellos after ours was acknowledged
MARGIN_S = 2.0  # the deadline: NATBED_TIMEOUT less this


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} {os.environ.get('NATBED_ROLE', '?')}: {msg}", flush=True)


def endpoint(value):
    """'IP:PORT' as (IP, PORT), or None for an empty value."""
    if not value:
        return None
    host, port = value.rsplit(":", 1)
    return host, int(port)


def write_signal(path, obj):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, path)


async def read_signal(path, deadline):
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {os.path.basename(path)} from the peer")
        await asyncio.sleep(POLL_S)
    with open(path) as f:
        return json.load(f)


async def trickle(conn, relays):
    """The peer's relayed candidates, late, then the end of candidates."""
    if relays:
        await asyncio.sleep(RELAY_DELAY_S)
    for c in relays:
        await conn.add_remote_candidate(c)
    await conn.add_remote_candidate(None)


async def exchange(conn, role, deadline):
    """Hellos both ways: ours acknowledged, and the peer's received."""
    got_hello = got_ack = False
    done_at = None
    next_hello = 0.0
    while True:
        now = time.monotonic()
        if done_at is None and got_hello and got_ack:
            done_at = now
            log("datagrams went both ways")
        if now > deadline or (done_at is not None and now - done_at > LINGER_S):
            return done_at is not None
        if not got_ack and now >= next_hello:
            await conn.send(f"hello {role}".encode())
            next_hello = now + HELLO_EVERY_S
        try:
            data = await asyncio.wait_for(conn.recv(), timeout=HELLO_EVERY_S / 2)
        except asyncio.TimeoutError:
            continue
        word = data.decode(errors="replace").split()
        if word[:1] == ["hello"]:
            got_hello = True
            await conn.send(f"ack {role}".encode())
        elif word[:1] == ["ack"]:
            got_ack = True


async def run():
    try:
        role = os.environ["NATBED_ROLE"]
        signal = os.environ["NATBED_SIGNAL"]
        stun = endpoint(os.environ["NATBED_STUN"])
        turn = endpoint(os.environ.get("NATBED_TURN", ""))
        timeout = float(os.environ["NATBED_TIMEOUT"])
    except (KeyError, ValueError) as e:
        log(f"bad environment: {e!r}")
        return 2
    if role not in ("offer", "answer"):
        log(f"NATBED_ROLE={role}: offer or answer")
        return 2
    other = "answer" if role == "offer" else "offer"
    deadline = time.monotonic() + max(1.0, timeout - MARGIN_S)

    conn = aioice.Connection(
        ice_controlling=role == "offer",
        stun_server=stun,
        turn_server=turn,
        turn_username=os.environ.get("NATBED_TURN_USER") or None,
        turn_password=os.environ.get("NATBED_TURN_PASS") or None,
        use_ipv6=False,
    )
    try:
        await conn.gather_candidates()
        mine = [c.to_sdp() for c in conn.local_candidates]
        log(f"peer {os.environ.get('NATBED_PEER')}; candidates: {mine}")
        written = time.time()
        write_signal(
            os.path.join(signal, f"{role}.json"),
            {
                "ufrag": conn.local_username,
                "pwd": conn.local_password,
                "candidates": mine,
                "written": written,
            },
        )
        peer = await read_signal(os.path.join(signal, f"{other}.json"), deadline)
        conn.remote_username = peer["ufrag"]
        conn.remote_password = peer["pwd"]
        relays = []
        for sdp in peer["candidates"]:
            c = aioice.Candidate.from_sdp(sdp)
            if c.type == "relay":
                relays.append(c)
            else:
                await conn.add_remote_candidate(c)
        start = max(written, float(peer["written"])) + START_AFTER_S
        start += OFFER_LAG_S if role == "offer" else 0.0
        await asyncio.sleep(max(0.0, start - time.time()))
        late = asyncio.ensure_future(trickle(conn, relays))
        await asyncio.wait_for(conn.connect(), max(0.1, deadline - time.monotonic()))
        late.cancel()
        pair = conn._nominated.get(1)  # aioice keeps the nominated pair here
        log(f"connected: {pair}")
        ok = await exchange(conn, role, deadline)
    except (asyncio.TimeoutError, TimeoutError, ConnectionError) as e:
        log(f"not connected: {e or type(e).__name__}")
        ok = False
    finally:
        await conn.close()
    return 0 if ok else 1


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
