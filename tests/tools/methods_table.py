#!/usr/bin/python3
"""The table of docs/methods.md for the shell tests, read from that file
(tests/unit/test_methods.c reads the same lines): which method connects
each pair of NAT classes alone.

  methods_table.py rows DOC
      the table as TSV: class a, class b, then success|fail per method
  methods_table.py generate DOC MATRIX [ROWS...]
      a topology on stdout for `natbed run`: per row of the table (all, or
      the row numbers given, from 0) a pair of agents behind NATs of the
      row's classes, built from MATRIX's NAT blocks, infrastructure hosts
      and serve line, and one explicit pair per method
  methods_table.py compare DOC RESULTS
      each attempt of results.json against its cell; prints one line per
      mismatch (exit 1 when there is one) and, on a line starting with
      "retry:", the rows of probabilistic cells that failed (exit 3 when
      only those failed): birthday's success has the chance P = 0.99975
      (docs/methods.md), so a failed birthday cell gets one more try
  methods_table.py relay DOC RESULTS
      the matrix's attempts that took the relay: each must be a pair whose
      table row says every other method fails (exit 1 otherwise)

Classes are the table's; the matrix's presets map onto them by RFC 4787
behaviour: cgnat is endpoint-independent mapping and filtering (the
full-cone class), linux-masquerade endpoint-independent mapping and
port-restricted filtering (the port-restricted class), a symmetric NAT
with pcp: true is symmetric+pcp, two hosts behind one NAT same-LAN.
`generate` adds rows for cgnat and linux-masquerade (each against every
class, itself and the other), expected as their class's rows.
"""
import json
import sys

# the table's classes: natbed-agent's --nat name, and how the test builds
# one (a NAT preset of the matrix, "public" for none, "lan" for two hosts
# behind the matrix's one shared NAT, "pcp" for its NAT with pcp: true)
CLASSES = {
    "full-cone": ("full-cone", "full-cone"),
    "restricted-cone": ("restricted-cone", "restricted-cone"),
    "port-restricted": ("port-restricted", "port-restricted"),
    "symmetric": ("symmetric-random", "symmetric"),
    "symmetric-sequential": ("symmetric-sequential", "symmetric-sequential"),
    "public": ("open", "public"),
    "same-LAN": ("port-restricted", "lan"),
    "symmetric+pcp": ("symmetric-random", "pcp"),
}

# presets of the matrix that the table has no row of: their RFC 4787
# class, whose row they follow, and natbed-agent's --nat name
ALIASES = {
    "cgnat": ("full-cone", "full-cone"),
    "linux-masquerade": ("port-restricted", "port-restricted"),
}

# results.json's NAT behaviours (natbed run: the preset, " (pcp)" when it
# grants mappings, "lan" for two hosts behind one NAT) as the table's
# classes
BEHAVIOURS = {
    "full-cone": "full-cone",
    "restricted-cone": "restricted-cone",
    "port-restricted": "port-restricted",
    "symmetric": "symmetric",
    "symmetric-sequential": "symmetric-sequential",
    "public": "public",
    "lan": "same-LAN",
    "symmetric (pcp)": "symmetric+pcp",
    "cgnat": "full-cone",
    "linux-masquerade": "port-restricted",
}

# cells whose success is a draw, with the chance docs/methods.md gives
PROBABILISTIC = {"birthday": 0.99975}


def read_table(doc):
    """[(a, b, {method: bool})] in the table's order, and the methods."""
    rows, methods, inside = [], None, False
    with open(doc, encoding="utf-8") as f:
        for line in f:
            if "<!-- methods-table" in line:
                inside = True
                continue
            if "<!-- /methods-table" in line:
                break
            if not inside or not line.startswith("|"):
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if methods is None:
                if cells[:2] != ["a", "b"] or cells[-1] != "why":
                    sys.exit(f"{doc}: the methods table's header is {cells}")
                methods = cells[2:-1]
                continue
            if cells[0].startswith("---"):
                continue
            if len(cells) != len(methods) + 3:
                sys.exit(f"{doc}: a row of {len(cells)} cells: {line.strip()}")
            for c in cells[:2]:
                if c not in CLASSES:
                    sys.exit(f"{doc}: unknown class {c!r}")
            cell = {}
            for m, text in zip(methods, cells[2:-1]):
                word = text.split()[0] if text else ""
                if word not in ("success", "fail"):
                    sys.exit(f"{doc}: {cells[0]} x {cells[1]}: {m}: {text!r}")
                cell[m] = word == "success"
            rows.append((cells[0], cells[1], cell))
    if not rows:
        sys.exit(f"{doc}: no methods table between <!-- methods-table --> markers")
    return rows, methods


def row_of(rows, a, b):
    for ra, rb, cell in rows:
        if (ra, rb) in ((a, b), (b, a)):
            return cell
    return None


def cmd_rows(doc):
    rows, methods = read_table(doc)
    print("\t".join(["a", "b"] + methods))
    for a, b, cell in rows:
        print("\t".join([a, b] + ["success" if cell[m] else "fail" for m in methods]))


def serve_line(matrix, name, nat_class):
    """The matrix's serve line of its first agent, as agent `name` told
    its class (no discovery: docs/agents.md, --nat)."""
    for h in matrix["hosts"].values():
        words = str(h.get("run", "")).split()
        if words[:2] == ["natbed-agent", "serve"]:
            i = words.index("--name")
            words[i + 1] = name
            return " ".join(words + ["--nat", nat_class])
    sys.exit("the matrix has no natbed-agent serve line")


def nat_block(matrix, kind):
    """The matrix's NAT block for a preset ("pcp": the one granting
    mappings, "lan": the one two hosts share), less its addresses."""
    users = {}
    for h in matrix["hosts"].values():
        if "nat" in h:
            users[h["nat"]] = users.get(h["nat"], 0) + 1
    for name, n in matrix["nats"].items():
        if kind == "pcp":
            ok = n.get("pcp") is True
        elif kind == "lan":
            ok = users.get(name, 0) >= 2
        else:
            ok = n.get("preset") == kind and not n.get("pcp") and users.get(name, 0) == 1
        if ok:
            return {k: v for k, v in n.items() if k not in ("public", "inside", "upstream")}
    sys.exit(f"the matrix has no NAT for {kind}")


def flow(d):
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dict):
            return flow(v)
        return str(v)

    return "{ " + ", ".join(f"{k}: {val(v)}" for k, v in d.items()) + " }"


def all_rows(doc):
    """The table's rows as (a, b), then the aliases' rows: each alias
    against every class but same-LAN, itself and the aliases after it."""
    rows, methods = read_table(doc)
    pairs = [(a, b) for a, b, _ in rows]
    names = list(ALIASES)
    for i, x in enumerate(names):
        pairs += [(x, c) for c in CLASSES if c != "same-LAN"] + [(x, y) for y in names[i:]]
    return pairs, methods


def kind_of(label):
    """--nat name and how to build it, for a class or an alias."""
    if label in ALIASES:
        return ALIASES[label][1], label
    return CLASSES[label]


def cmd_generate(doc, matrix_path, picks):
    import yaml  # python3-yaml; only to read the matrix

    rows, methods = all_rows(doc)
    with open(matrix_path, encoding="utf-8") as f:
        matrix = yaml.safe_load(f)
    picks = [int(p) for p in picks] if picks else range(len(rows))
    nats, hosts, pairs = [], [], []
    pub = 100
    for i in picks:
        a, b = rows[i]
        names = (f"r{i}a", f"r{i}b")
        # the side behind a sequential NAT connects: its fresh connect
        # agent's server-reflexive port is the anchor predict counts from
        if kind_of(b)[1] == "symmetric-sequential" and kind_of(a)[1] != "symmetric-sequential":
            names = names[::-1]
        classes = (a, b) if names[0].endswith("a") else (b, a)
        shared = None
        for side, (host, cls) in enumerate(zip(names, classes)):
            nat_class, kind = kind_of(cls)
            line = serve_line(matrix, host, nat_class)
            if kind == "public":
                hosts.append(f"  {host}: {{ address: 198.51.100.{pub}, run: {line} }}")
                pub += 1
                continue
            if kind == "lan" and shared:
                hosts.append(f"  {host}: {{ nat: {shared}, run: {line} }}")
                continue
            nat = "n" + host[1:]
            k = 2 * i + (host[-1] == "b") + 1
            block = dict(nat_block(matrix, kind))
            block["public"] = f"203.0.113.{k}"
            block["inside"] = f"10.{k}.0.0/24"
            nats.append(f"  {nat}: {flow(block)}")
            hosts.append(f"  {host}: {{ nat: {nat}, run: {line} }}")
            shared = nat
        for m in methods:
            pairs.append(f"    - {{ from: {names[0]}, to: {names[1]}, method: {m} }}")
    infra = []
    for name, h in matrix["hosts"].items():
        run = str(h.get("run", ""))
        if "nat" in h or run.startswith("natbed-agent"):
            continue
        infra.append(f"  {name}:")
        for k, v in h.items():
            if isinstance(v, list):
                v = "[" + ", ".join(str(x) for x in v) + "]"
            infra.append(f"    {k}: {v}")
    out = [
        "# generated by tests/tools/methods_table.py from docs/methods.md's table",
        f"# and {matrix_path}: one pair of agents per row, one connect per method",
        "name: method-table",
        f"seed: {matrix.get('seed', 1)}",
    ]
    for key in ("defaults", "internet"):
        if key in matrix:
            out.append(f"{key}: {flow(matrix[key])}")
    out += ["nats:"] + nats + ["hosts:"] + infra + hosts + ["scenario:", "  connect:"] + pairs
    print("\n".join(out))


def attempt_classes(att):
    """The table's classes of an attempt's two hosts, from results.json."""
    try:
        return tuple(BEHAVIOURS[n] for n in att["nat"])
    except KeyError as e:
        sys.exit(f"no class of the table for NAT behaviour {e}")


def cmd_compare(doc, results):
    rows, methods = read_table(doc)
    with open(results, encoding="utf-8") as f:
        res = json.load(f)
    bad, retry, seen = [], [], set()
    for att in res["attempts"]:
        a, b = attempt_classes(att)
        cell = row_of(rows, a, b)
        m = att["method"]
        if cell is None or m not in cell:
            bad.append(f"{att['pair']}: no cell for {a} x {b}, method {m}")
            continue
        row = int(att["pair"][0][1:-1])
        seen.add((row, m))
        want, got = cell[m], bool(att["success"])
        if want == got:
            continue
        why = att.get("reason") or ""
        line = f"{m}: {a} x {b} ({' -> '.join(att['pair'])}): {'success' if got else 'fail: ' + why}, table: {'success' if want else 'fail'}"
        if want and m in PROBABILISTIC:
            retry.append((row, line))
        else:
            bad.append(line)
    for line in bad:
        print(line)
    for _, line in retry:
        print(f"draw lost: {line}")
    if retry:
        print("retry: " + " ".join(sorted({str(r) for r, _ in retry})))
    print(f"{len(seen)} cells compared, {len(bad)} wrong, {len(retry)} draws lost")
    sys.exit(1 if bad else 3 if retry else 0)


def cmd_relay(doc, results):
    rows, methods = read_table(doc)
    with open(results, encoding="utf-8") as f:
        res = json.load(f)
    bad = 0
    for att in res["attempts"]:
        if att.get("method") != "relay":
            continue
        a, b = attempt_classes(att)
        cell = row_of(rows, a, b)
        others = [m for m in methods if m != "relay" and cell and cell[m]]
        if cell is None or others:
            bad += 1
            tried = [(t["method"], t["reason"]) for t in att["tried"] if t["ms"] > 0]
            print(f"{' -> '.join(att['pair'])} ({a} x {b}) took the relay, but the table "
                  f"says {', '.join(others) or '(no row)'} connects it; tried: {tried}")
    sys.exit(1 if bad else 0)


def main(argv):
    cmds = {
        "rows": (cmd_rows, 1),
        "generate": (cmd_generate, 2),
        "compare": (cmd_compare, 2),
        "relay": (cmd_relay, 2),
    }
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 < cmds[argv[1]][1]:
        sys.exit(__doc__)
    fn, n = cmds[argv[1]]
    if argv[1] == "generate":
        fn(argv[2], argv[3], argv[4:])
    elif len(argv) - 2 != n:
        sys.exit(__doc__)
    else:
        fn(*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
