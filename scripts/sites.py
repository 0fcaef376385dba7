#!/usr/bin/env python3
"""Writes a topology of N sites, each a host behind a NAT of its own, for
natbed sim's "a site per client" population (docs/sim.md): the seed's NAT
mix (full cone 30%, restricted cone 20%, port-restricted 25%, symmetric
15%, carrier-grade 10%) dealt out in that proportion, each NAT behind a
zero-trust gate with the seed's auth model, every client connecting to a
public server agent, as topologies/sim-scale.yaml has it with five shared
sites. Arrivals pick the sites in equal shares. (`natbed sim
--site-per-client` gives each client a NAT of its own from any topology's
sites, copies made before the run; this script gives the population
many distinct sites to start from.)

    scripts/sites.py 500 > /tmp/sites.yaml
    natbed sim /tmp/sites.yaml --clients 500
"""
import sys

MIX = [  # preset, share of the sites
    ("full-cone", 30),
    ("restricted-cone", 20),
    ("port-restricted", 25),
    ("symmetric", 15),
    ("cgnat", 10),
]
SITES_MAX = 4096  # TOPO_SITES_MAX (include/natbed/topo.h)


def preset_of(i, n):
    """The preset of site i of n: the mix's shares dealt in order, so that
    any n has them as nearly as whole sites allow."""
    acc = 0
    for preset, share in MIX:
        acc += share
        if i * 100 < acc * n:
            return preset
    return MIX[-1][0]


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or not 1 <= int(sys.argv[1]) <= SITES_MAX:
        sys.exit(f"usage: {sys.argv[0]} N  (1 to {SITES_MAX} sites)")
    n = int(sys.argv[1])
    out = [
        f"# {n} sites, each behind a NAT of its own (scripts/sites.py {n})",
        f"name: sites-{n}",
        "seed: 15",
        "defaults:",
        "  link: { delay: 2ms }",
        "internet:",
        "  link: { delay: 10ms }",
        "nats:",
    ]
    for i in range(n):
        # public 198.19.0.0/16 (RFC 2544's range, beside the emulator's
        # gateway in 198.18.0.0/16), inside 10.A.B.0/24
        out.append(
            f"  n{i}: {{ preset: {preset_of(i, n)}, public: 198.19.{i // 250}.{i % 250 + 1}, "
            f"inside: 10.{i // 250}.{i % 250}.0/24, gate: {{ key: k{i} }} }}"
        )
    out += [
        "hosts:",
        "  stun:",
        "    addresses: [198.51.100.10, 198.51.100.11]",
        "    run: natbed-stund --primary 198.51.100.10 --alternate 198.51.100.11",
        "  rdv:",
        "    address: 198.51.100.20",
        "    run: natbed-rendezvous --listen 198.51.100.20",
        "  server:",
        "    address: 198.51.100.30",
        "    run: natbed-agent serve --name server --rendezvous 198.51.100.20"
        " --stun 198.51.100.10 --bind 0.0.0.0:40000",
    ]
    for i in range(n):
        out += [
            f"  s{i}:",
            f"    nat: n{i}",
            f"    run: natbed-agent serve --name s{i} --rendezvous 198.51.100.20"
            f" --stun 198.51.100.10 --gate 10.{i // 250}.{i % 250}.1 --gate-key k{i}",
        ]
    out += [
        "scenario:",
        f"  clients: {n}",
        "  arrival-rate: 2.0/s",
        f"  duration: {n}s",  # room for n arrivals at 2.0/s
        "  to: server",
        "  sites:",
    ]
    # equal shares, in millionths of a percent; the last takes the rest
    share = round(100.0 / n, 6)
    for i in range(n):
        s = share if i + 1 < n else 100.0 - share * (n - 1)
        out.append(f"    s{i}: {s:.6f}%")
    print("\n".join(out))


if __name__ == "__main__":
    main()
