#!/usr/bin/env python3
"""Differential testing of thetorrent's torrent validation against libtorrent 2.1.1.

Derives variants of the corpus (and of small torrents it builds itself) by structure-aware
mutations, and asks libtorrent's Python binding (`lt.torrent_info(bytes)`, default
`load_torrent_limits`: the call the corpus manifest's verdicts were produced with) for each
one's verdict and info hashes. tests/differential.rs runs it and compares thetorrent's verdict
on every variant; docs/differential.md explains the modes.

Commands:
  stream  --seed S --count N [--first I]   variants as records on stdout (for the Rust test)
  write   --seed S --count N --out DIR     variants as files plus verdicts.tsv (to look at them)
  oracle                                   answers verdicts for inputs on stdin (for shrinking)
  manifest DIR                             MANIFEST.tsv (corpus format) for every file under DIR

Record format (stream): one header line
  INDEX \t LENGTH \t VERDICT \t V1 \t V2 \t ERROR \t DESCRIPTION \n
followed by exactly LENGTH bytes. Oracle: input "LENGTH\n" + bytes, answer one line
  VERDICT \t V1 \t V2 \t ERROR \n
VERDICT is accept or reject, hashes are lower-case hex or "-", ERROR is libtorrent's message
in the manifest's form (first 60 characters, the " [libtorrent:N]" suffix removed).

Every variant is derived from its own generator seeded with "SEED:INDEX", so one variant can be
produced again alone (`write --seed S --first I --count 1`).
"""

import hashlib
import os
import random
import re
import sys

sys.setrecursionlimit(20000)

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "data", "corpus")
FIXTURES = os.path.join(HERE, "..", "data", "differential")

# Seeds larger than this are left out: mutating and hashing them costs time without reaching
# code that the smaller ones do not reach.
MAX_SEED_BYTES = 128 * 1024
# Most mutations stacked on one variant.
MAX_MUTATIONS = 3
# libtorrent's error messages are cut to this many characters in the manifests.
ERROR_CHARS = 60


def libtorrent():
    try:
        import libtorrent as lt
    except ImportError as e:
        sys.exit(
            "gen.py: the libtorrent Python binding is missing (%s); "
            "install it with tests/setup.sh (pip install libtorrent==2.1.1)" % e
        )
    if not lt.__version__.startswith("2.1.1"):
        sys.exit("gen.py: libtorrent %s found, 2.1.1 needed" % lt.__version__)
    return lt


LT = None


def verdict(data):
    """libtorrent's verdict on `data`: (verdict, v1 hex or '-', v2 hex or '-', error)."""
    global LT
    if LT is None:
        LT = libtorrent()
    try:
        ti = LT.torrent_info(bytes(data))
    except Exception as e:  # libtorrent raises RuntimeError with the error code's message
        msg = str(e)[:ERROR_CHARS]
        msg = re.sub(r" \[libtorrent(:\d*)?\]?$", "", msg)
        msg = msg.replace("\t", " ").replace("\n", " ")
        return ("reject", "-", "-", msg)
    ih = ti.info_hashes()
    v1 = str(ih.v1) if ih.has_v1() else "-"
    v2 = str(ih.v2) if ih.has_v2() else "-"
    return ("accept", v1, v2, "")


# ---------------------------------------------------------------------------------------------
# Bencode as a tree that keeps each value's written form, so a seed encodes back to its exact
# bytes and a mutation can write a value in any (also malformed) form.
#   ["i", raw]             integer; raw is what stands between 'i' and 'e' (b"03", b"-0", …)
#   ["s", data, lenraw]    string; lenraw None means the canonical decimal length
#   ["l", [node, …]]
#   ["d", [[key, value], …]]  key is an "s" node
#   ["r", bytes]           raw bytes written as they are (truncations, junk)


class ParseError(Exception):
    pass


def parse(buf, pos=0, depth=0):
    """Parses one value at `pos` (lenient: any digits in integers and lengths)."""
    if depth > 1000:
        raise ParseError("too deep")
    if pos >= len(buf):
        raise ParseError("eof")
    c = buf[pos : pos + 1]
    if c == b"i":
        end = buf.find(b"e", pos + 1)
        if end < 0:
            raise ParseError("eof in int")
        raw = buf[pos + 1 : end]
        if not re.fullmatch(rb"-?[0-9]+", raw):
            raise ParseError("bad int")
        return ["i", raw], end + 1
    if c.isdigit():
        colon = buf.find(b":", pos)
        if colon < 0:
            raise ParseError("no colon")
        lenraw = buf[pos:colon]
        if not lenraw.isdigit():
            raise ParseError("bad length")
        n = int(lenraw)
        if colon + 1 + n > len(buf):
            raise ParseError("eof in string")
        canon = str(n).encode()
        return ["s", buf[colon + 1 : colon + 1 + n], None if lenraw == canon else lenraw], colon + 1 + n
    if c == b"l":
        items = []
        p = pos + 1
        while buf[p : p + 1] != b"e":
            v, p = parse(buf, p, depth + 1)
            items.append(v)
        return ["l", items], p + 1
    if c == b"d":
        items = []
        p = pos + 1
        while buf[p : p + 1] != b"e":
            k, p = parse(buf, p, depth + 1)
            if k[0] != "s":
                raise ParseError("key not a string")
            v, p = parse(buf, p, depth + 1)
            items.append([k, v])
        return ["d", items], p + 1
    raise ParseError("bad byte")


def encode(node, out=None):
    top = out is None
    if top:
        out = bytearray()
    t = node[0]
    if t == "i":
        out += b"i" + node[1] + b"e"
    elif t == "s":
        out += (node[2] if node[2] is not None else str(len(node[1])).encode()) + b":" + node[1]
    elif t == "l":
        out += b"l"
        for v in node[1]:
            encode(v, out)
        out += b"e"
    elif t == "d":
        out += b"d"
        for k, v in node[1]:
            encode(k, out)
            encode(v, out)
        out += b"e"
    else:
        out += node[1]
    return bytes(out) if top else out


def I(n):
    return ["i", str(n).encode()]


def S(b):
    return ["s", b if isinstance(b, bytes) else b.encode(), None]


def L(*items):
    return ["l", list(items)]


def D(pairs, sort=True):
    """A dict node from (key, node) pairs, keys sorted as canonical bencode wants."""
    items = [[S(k), v] for k, v in pairs]
    if sort:
        items.sort(key=lambda kv: kv[0][1])
    return ["d", items]


def clone(node):
    t = node[0]
    if t == "l":
        return ["l", [clone(v) for v in node[1]]]
    if t == "d":
        return ["d", [[clone(k), clone(v)] for k, v in node[1]]]
    return list(node)


def get(d, key):
    """The first value under `key` in dict node `d` (libtorrent's dict_find), or None."""
    if d is None or d[0] != "d":
        return None
    for k, v in d[1]:
        if k[1] == key:
            return v
    return None


def put(d, key, value):
    """Replaces the first `key` of `d` by `value`, or inserts it in sorted position."""
    for kv in d[1]:
        if kv[0][1] == key:
            kv[1] = value
            return
    items = d[1]
    i = 0
    while i < len(items) and items[i][0][1] < key:
        i += 1
    items.insert(i, [S(key), value])


def remove(d, key):
    d[1] = [kv for kv in d[1] if kv[0][1] != key]


def walk(node, path=()):
    """Every (container, index, node, path) below `node`; index is into the list or the
    dict's items (the value side)."""
    out = []
    stack = [(node, path)]
    while stack:
        n, p = stack.pop()
        if n[0] == "l":
            for i, v in enumerate(n[1]):
                out.append((n, i, v, p + (i,)))
                stack.append((v, p + (i,)))
        elif n[0] == "d":
            for i, (k, v) in enumerate(n[1]):
                kp = p + (k[1],)
                out.append((n, i, v, kp))
                stack.append((v, kp))
    return out


def set_child(container, index, value):
    if container[0] == "l":
        container[1][index] = value
    else:
        container[1][index][1] = value


def child(container, index):
    return container[1][index] if container[0] == "l" else container[1][index][1]


# ---------------------------------------------------------------------------------------------
# Torrents built from scratch: v1 single- and multi-file (with pad files), v2-only and hybrid,
# with correct piece layers, so mutations of v2 structures start from something libtorrent loads.

BLOCK = 16 * 1024


def sha256(b):
    return hashlib.sha256(b).digest()


def merkle_root(layer_hashes, blocks_per_piece):
    pad = bytes(32)
    n = 1
    while n < blocks_per_piece:
        pad = sha256(pad + pad)
        n *= 2
    level = list(layer_hashes)
    width = 1
    while width < len(level):
        width *= 2
    level += [pad] * (width - len(level))
    while len(level) > 1:
        level = [sha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0] if level else pad


def rand_bytes(rng, n):
    return bytes(rng.getrandbits(8) for _ in range(n))


NAMES = [b"a", b"b.txt", b"Readme", b"readme", b"dir", b"x.bin", b"\xc3\xa9t\xc3\xa9", b"sub", b"A"]
SIZES = [0, 1, 100, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK, 5 * BLOCK + 7, 100_000]


def rand_files(rng, n):
    files = {}
    for _ in range(n):
        depth = rng.choice([1, 1, 1, 2, 3])
        path = tuple(rng.choice(NAMES) + (b"%d" % rng.randrange(3) if rng.random() < 0.5 else b"") for _ in range(depth))
        files[path] = rng.choice(SIZES)
    # a path that is also a directory of another path would be a different (broken) torrent
    paths = sorted(files)
    keep = [p for p in paths if not any(q[: len(p)] == p and q != p for q in paths)]
    return [(p, files[p]) for p in keep]


def build(rng):
    """A random valid torrent: (node, description)."""
    kind = rng.choice(["v1single", "v1multi", "v1pad", "v2", "hybrid", "v2single", "hybridsingle"])
    pl = rng.choice([BLOCK, 2 * BLOCK, 4 * BLOCK])
    top = []
    if rng.random() < 0.7:
        top.append((b"announce", S(b"http://tracker.example/announce")))
    if rng.random() < 0.3:
        top.append((b"announce-list", L(L(S(b"http://a/announce")), L(S(b"udp://b:80")))))
    if rng.random() < 0.3:
        top.append((b"comment", S(b"built by gen.py")))
    if rng.random() < 0.3:
        top.append((b"creation date", I(1700000000)))
    name = rng.choice([b"name", b"Torrent", b"t\xc3\xa9st"])
    if kind == "v1single":
        size = rng.choice([1, 1000, BLOCK, 3 * BLOCK + 5])
        pieces = -(-size // pl)
        info = D([(b"length", I(size)), (b"name", S(name)), (b"piece length", I(pl)), (b"pieces", S(rand_bytes(rng, 20 * pieces)))])
        if rng.random() < 0.3:
            put(info, b"private", I(1))
        top.append((b"info", info))
        return D(top), kind
    if kind == "hybridsingle":
        size = rng.choice([1, 1000, BLOCK, 3 * BLOCK + 5])
        npieces = -(-size // pl)
        leaf = [(b"length", I(size))]
        if size > pl:
            hashes = [rand_bytes(rng, 32) for _ in range(npieces)]
            root = merkle_root(hashes, pl // BLOCK)
            top.append((b"piece layers", D([(root, S(b"".join(hashes)))])))
        else:
            root = rand_bytes(rng, 32)
        leaf.append((b"pieces root", S(root)))
        info = D([
            (b"file tree", D([(name, D([(b"", D(leaf))]))])), (b"length", I(size)),
            (b"meta version", I(2)), (b"name", S(name)), (b"piece length", I(pl)),
            (b"pieces", S(rand_bytes(rng, 20 * npieces))),
        ])
        top.append((b"info", info))
        return D(top), kind
    files = rand_files(rng, rng.randint(1, 5))
    # now and then a file becomes a symlink to the first one (BEP 47)
    links = {}
    if len(files) > 1 and rng.random() < 0.2:
        i = rng.randrange(1, len(files))
        links[files[i][0]] = files[0][0]
        files[i] = (files[i][0], 0)
    if kind == "v2single":
        files = [((rng.choice(NAMES),), rng.choice([s for s in SIZES if s > 0]))]
    if all(s == 0 for _, s in files):
        files[0] = (files[0][0], 7)
    v1_entries = []
    offset = 0
    for i, (path, size) in enumerate(files):
        entry = [(b"length", I(size)), (b"path", L(*[S(c) for c in path]))]
        if path in links:
            entry += [(b"attr", S(b"l")), (b"symlink path", L(*[S(c) for c in links[path]]))]
        v1_entries.append(D(entry))
        offset += size
        aligned = kind in ("v1pad", "hybrid")
        last = i == len(files) - 1
        if aligned and offset % pl and (not last or rng.random() < 0.5) and size > 0:
            pad = pl - offset % pl
            v1_entries.append(D([(b"attr", S(b"p")), (b"length", I(pad)), (b"path", L(S(b".pad"), S(b"%d" % pad)))]))
            offset += pad
    info = [(b"name", S(name)), (b"piece length", I(pl))]
    layers = []
    if kind in ("v1multi", "v1pad", "hybrid"):
        info.append((b"files", L(*v1_entries)))
        info.append((b"pieces", S(rand_bytes(rng, 20 * -(-offset // pl)))))
    if kind in ("v2", "hybrid", "v2single"):
        tree = ["d", []]
        for path, size in files:
            node = tree
            for comp in path:
                sub = get(node, comp)
                if sub is None:
                    sub = ["d", []]
                    put(node, comp, sub)
                node = sub
            leaf = [(b"length", I(size))]
            if path in links:
                leaf += [(b"attr", S(b"l")), (b"symlink path", L(*[S(c) for c in links[path]]))]
            if size > 0:
                npieces = -(-size // pl)
                if size > pl:
                    hashes = [rand_bytes(rng, 32) for _ in range(npieces)]
                    root = merkle_root(hashes, pl // BLOCK)
                    layers.append((root, S(b"".join(hashes))))
                else:
                    root = rand_bytes(rng, 32)
                leaf.append((b"pieces root", S(root)))
            put(node, b"", D(leaf))
        info.append((b"file tree", tree))
        info.append((b"meta version", I(2)))
    top.append((b"info", D(info)))
    if layers:
        top.append((b"piece layers", D(layers)))
    return D(top), kind


# ---------------------------------------------------------------------------------------------
# Mutations. Each takes (rng, tree) and returns a short description, or None when it found
# nothing to act on. They change the tree in place.

INT_FORMS = [
    lambda r: b"0" + r,
    lambda r: b"00" + r,
    lambda r: b"-0" if r == b"0" else b"-" + r,
    lambda r: b"-0",
    lambda r: b"+" + r,
    lambda r: b"-0" + r.lstrip(b"-"),
    lambda r: b"0" * 18 + r,
    lambda r: b"0" * 25 + r,
    lambda r: b"",
    lambda r: b"-",
    lambda r: b" " + r,
    lambda r: r + b".0",
    lambda r: b"0x1",
    lambda r: r + b"0" * 30,
]

BIG_INTS = [
    0, 1, -1, 2, 3, 7, 16, 255, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK, 2**20, 2**29, 2**29 + 1,
    2**30, 2**31 - 1, 2**31, 2**32, 2**47, 2**48 - 2, 2**48 - 1, 2**48, 2**53, 2**62,
    2**63 - 1, 2**63, 2**63 + 1, -(2**63), -(2**63) - 1, 2**64, 10**19, 10**20 - 1, 10**20,
    -(10**20 - 1), -(10**20), 0x1FFFFF, 0x200000, 0x200001,
]


def weird_string(rng):
    return rng.choice([
        b"", b"a", b".", b"..", b"/", b"a/b", b"../a", b"\\", b"a\\b", b"\x00", b"\x00\x00",
        b"\x01a", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x80\xae", b"\xe2\x80\x8e", b"_",
        b"_____padding_file_0", b".pad", b"A", b"con", b" ", b"a.", b"x" * 20, b"x" * 32,
        bytes(32), b"x" * 239, b"x" * 240, b"x" * 241, b"x" * 250 + b".txt", b"x" * 300,
        b"x" * 4095, b"x" * 4096, b"p", b"l", b"x", b"h", b"pl", b"lp", b"ph", b"2",
        b"http://tracker.example/announce", b"\xc3\xa9", b"a" * 19, b"a" * 21, b"a" * 40,
        b"\x01", b"\x1f", b"\x7f", b"\xc2\x85", b"\xe2\x80\x8b", b"\xef\xbb\xbf", b"\xe2\x81\xa6",
        b"a\x00b", b"\xe2\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"...", b"_\x01", b"a" * 4100,
    ])


def weird_value(rng, depth=0):
    k = rng.random()
    if k < 0.35:
        if rng.random() < 0.2:
            return ["i", rng.choice(INT_FORMS)(str(rng.choice(BIG_INTS)).encode())]
        return I(rng.choice(BIG_INTS))
    if k < 0.7:
        return S(weird_string(rng))
    if k < 0.85 or depth > 2:
        n = rng.choice([0, 0, 1, 2])
        return ["l", [weird_value(rng, depth + 1) for _ in range(n)]]
    n = rng.choice([0, 0, 1, 2])
    return ["d", [[S(weird_string(rng)), weird_value(rng, depth + 1)] for _ in range(n)]]


def info_of(tree):
    return get(tree, b"info")


def m_int_form(rng, tree):
    ints = [w for w in walk(tree) if w[2][0] == "i"]
    if not ints:
        return None
    c, i, n, p = rng.choice(ints)
    form = rng.choice(INT_FORMS)(n[1])
    set_child(c, i, ["i", form])
    return "int %s %r->%r" % (pname(p), n[1], form)


def m_int_value(rng, tree):
    ints = [w for w in walk(tree) if w[2][0] == "i"]
    if not ints:
        return None
    c, i, n, p = rng.choice(ints)
    v = rng.choice(BIG_INTS)
    set_child(c, i, I(v))
    return "int %s=%d" % (pname(p), v)


def m_str_length(rng, tree):
    strs = [w for w in walk(tree) if w[2][0] == "s"]
    # keys are strings too
    keys = [(d, i, d[1][i][0], p) for d, i, _, p in walk(tree) if d[0] == "d"]
    pool = strs + keys
    if not pool:
        return None
    c, i, n, p = rng.choice(pool)
    ln = len(n[1])
    digits = str(ln).encode()
    form = rng.choice([
        b"0" + digits, b"00" + digits, b"0" * 20 + digits, digits.rjust(16, b"0"),
        digits.rjust(17, b"0"), digits.rjust(15, b"0"),
        str(ln + 1).encode(), str(ln + 2).encode(), str(max(ln - 1, 0)).encode(),
        str(ln + 10**6).encode(), b"9" * 19, b"9" * 21, b"-1", b"+" + str(ln).encode(), b"",
        b"1" + b"0" * 18,
    ])
    n2 = ["s", n[1], form]
    if c[0] == "d" and c[1][i][0] is n:
        c[1][i][0] = n2
    else:
        set_child(c, i, n2)
    return "strlen %s %d->%r" % (pname(p), ln, form)


def dicts(tree):
    out = [tree] if tree[0] == "d" else []
    out += [w[2] for w in walk(tree) if w[2][0] == "d"]
    return out


def m_key_order(rng, tree):
    ds = [d for d in dicts(tree) if len(d[1]) >= 2]
    if not ds:
        return None
    d = rng.choice(ds)
    how = rng.choice(["shuffle", "swap", "reverse"])
    if how == "shuffle":
        rng.shuffle(d[1])
    elif how == "swap":
        i = rng.randrange(len(d[1]) - 1)
        d[1][i], d[1][i + 1] = d[1][i + 1], d[1][i]
    else:
        d[1].reverse()
    return "keys %s %s" % (how, keyset(d))


def m_duplicate_key(rng, tree):
    ds = [d for d in dicts(tree) if d[1]]
    # the info dict and the top dict are the interesting places; favour them
    info = info_of(tree)
    if info is not None and info[0] == "d" and info[1] and rng.random() < 0.5:
        ds = [info, tree] if tree[1] else [info]
    if not ds:
        return None
    d = rng.choice(ds)
    i = rng.randrange(len(d[1]))
    k, v = d[1][i]
    nv = clone(v) if rng.random() < 0.4 else weird_value(rng)
    j = rng.choice([i, i + 1, len(d[1]), 0])
    d[1].insert(j, [clone(k), nv])
    return "dup key %r at %d of %d" % (k[1][:20], j, len(d[1]))


def m_delete(rng, tree):
    sites = walk(tree)
    if not sites:
        return None
    c, i, n, p = rng.choice(sites)
    del c[1][i]
    return "delete %s" % pname(p)


def m_replace(rng, tree):
    sites = walk(tree)
    if not sites:
        return None
    c, i, n, p = rng.choice(sites)
    v = weird_value(rng)
    set_child(c, i, v)
    return "replace %s=%s" % (pname(p), short(v))


FIELDS_INFO = [
    b"name", b"name.utf-8", b"piece length", b"pieces", b"length", b"files", b"meta version",
    b"file tree", b"private", b"md5sum", b"source", b"attr", b"symlink path", b"similar",
    b"collections", b"root hash",
]
FIELDS_TOP = [
    b"info", b"piece layers", b"announce", b"announce-list", b"url-list", b"httpseeds", b"nodes",
    b"comment", b"creation date", b"created by", b"encoding", b"magnet-uri", b"similar",
    b"collections",
]
FIELDS_FILE = [b"length", b"path", b"path.utf-8", b"attr", b"symlink path", b"md5sum", b"sha1", b"mtime"]
FIELDS_V2FILE = [b"length", b"pieces root", b"attr", b"symlink path"]


def field_value(rng, key, tree):
    """A value for a known field: a plausible one of the wrong size, or any weird value."""
    if rng.random() < 0.35:
        return weird_value(rng)
    if key in (b"length", b"piece length", b"private", b"meta version", b"creation date", b"mtime"):
        return I(rng.choice(BIG_INTS))
    if key == b"pieces":
        info = info_of(tree)
        cur = get(info, b"pieces")
        n = len(cur[1]) if cur is not None and cur[0] == "s" else 20
        return S(b"\x01" * max(0, rng.choice([0, n - 20, n - 1, n + 1, n + 20, 20, 19])))
    if key == b"pieces root":
        return S(rng.choice([bytes(32), b"\x01" * 31, b"\x01" * 33, b"", rand_bytes(rng, 32)]))
    if key in (b"path", b"path.utf-8", b"symlink path"):
        return path_value(rng)
    if key == b"attr":
        return S(rng.choice([b"p", b"l", b"x", b"h", b"pl", b"", b"P", b"pp"]))
    if key == b"files":
        return rng.choice([L(), L(L()), L(I(1)), L(D([(b"length", I(1))])), L(D([(b"length", I(1)), (b"path", L())]))])
    if key == b"magnet-uri":
        return S(rng.choice([b"magnet:?xt=urn:btih:" + b"a" * 40, b"magnet:?xt=urn:btih:" + b"A" * 32, b"magnet:?dn=x", b"http://x"]))
    if key == b"file tree":
        return rng.choice([D([]), D([(b"a", D([]))]), D([(b"", D([(b"", D([(b"length", I(1))]))]))]), D([(b"a", D([(b"", D([(b"length", I(0))]))]))])])
    return weird_value(rng)


def path_value(rng):
    n = rng.choice([0, 1, 1, 2, 3])
    comps = [S(rng.choice([weird_string(rng), b"a", b"b", b"..", b".", b""])) for _ in range(n)]
    if rng.random() < 0.1:
        comps.append(I(1))
    return ["l", comps]


def file_dicts(tree):
    """v1 file entries (dicts in info.files)."""
    info = info_of(tree)
    files = get(info, b"files")
    if files is None or files[0] != "l":
        return []
    return [f for f in files[1] if f[0] == "d"]


def tree_leaves(tree):
    """(parent dict, v2 file dict) pairs under info['file tree']."""
    ft = get(info_of(tree), b"file tree")
    out = []
    if ft is None or ft[0] != "d":
        return out
    stack = [ft]
    while stack:
        d = stack.pop()
        for k, v in d[1]:
            if v[0] != "d":
                continue
            if k[1] == b"":
                out.append((d, v))
            else:
                stack.append(v)
    return out


def tree_dirs(tree):
    ft = get(info_of(tree), b"file tree")
    if ft is None or ft[0] != "d":
        return []
    out = [ft]
    for w in walk(ft):
        if w[2][0] == "d":
            out.append(w[2])
    return out


def m_info_field(rng, tree):
    info = info_of(tree)
    if info is None or info[0] != "d":
        return None
    key = rng.choice(FIELDS_INFO)
    if rng.random() < 0.2:
        remove(info, key)
        return "info remove %r" % key
    v = field_value(rng, key, tree)
    put(info, key, v)
    return "info %r=%s" % (key, short(v))


def m_top_field(rng, tree):
    if tree[0] != "d":
        return None
    key = rng.choice(FIELDS_TOP)
    if rng.random() < 0.2:
        remove(tree, key)
        return "top remove %r" % key
    if key == b"info" and rng.random() < 0.5:
        info = info_of(tree)
        v = rng.choice([L(), S(b"x"), I(1), ["l", [info]] if info is not None else L()])
    else:
        v = field_value(rng, key, tree)
    put(tree, key, v)
    return "top %r=%s" % (key, short(v))


def m_file_field(rng, tree):
    fs = file_dicts(tree)
    if not fs:
        return None
    f = rng.choice(fs)
    key = rng.choice(FIELDS_FILE)
    if rng.random() < 0.2:
        remove(f, key)
        return "file remove %r" % key
    v = field_value(rng, key, tree)
    put(f, key, v)
    return "file %r=%s" % (key, short(v))


def m_path(rng, tree):
    fs = file_dicts(tree)
    if not fs:
        return None
    f = rng.choice(fs)
    p = get(f, b"path")
    how = rng.choice(["elem", "append", "whole", "dup", "case", "insert", "many"])
    if how == "insert" and p is not None and p[0] == "l":
        s = weird_string(rng) if rng.random() < 0.5 else rng.choice([b".", b"..", b"", b"\x01", b"\xe2\x80\x8b", b"/"])
        i = rng.randrange(len(p[1]) + 1)
        p[1].insert(i, S(s))
        return "path insert %r at %d" % (s[:20], i)
    if how == "many":
        files = get(info_of(tree), b"files")
        n = rng.choice([2, 10, 44, 45, 46, 47, 60, 118, 150])
        i = files[1].index(f)
        for _ in range(n):
            files[1].insert(i, clone(f))
        return "file repeated %d times" % n
    if how == "elem" and p is not None and p[0] == "l" and p[1]:
        i = rng.randrange(len(p[1]))
        s = rng.choice([b"..", b".", b"", b"/", b"a/b", b"/a", b"a/", b"\\", b"..\\a", b"\x00", b"\xff", b"x" * 4096, b"_____padding_file_1"])
        p[1][i] = S(s)
        return "path[%d]=%r" % (i, s[:20])
    if how == "append" and p is not None and p[0] == "l":
        s = rng.choice([b"..", b".", b"", b"x"])
        p[1].append(S(s))
        return "path append %r" % s
    if how == "dup" and len(fs) >= 2:
        g = rng.choice(fs)
        put(f, b"path", clone(get(g, b"path") or L()))
        return "path copied from another file"
    if how == "case" and p is not None and p[0] == "l" and p[1] and p[1][-1][0] == "s":
        p[1][-1] = S(p[1][-1][1].swapcase())
        return "path last swapcase"
    v = path_value(rng)
    put(f, b"path", v)
    return "path=%s" % short(v)


def m_pad(rng, tree):
    info = info_of(tree)
    files = get(info, b"files")
    if files is None or files[0] != "l":
        return None
    size = rng.choice([0, 1, BLOCK - 1, BLOCK, 3 * BLOCK, -1, 2**48])
    entry = [(b"length", I(size))]
    if rng.random() < 0.8:
        entry.append((b"attr", S(rng.choice([b"p", b"ph", b"px", b"lp"]))))
    choice = rng.random()
    if choice < 0.4:
        entry.append((b"path", L(S(b".pad"), S(b"%d" % size))))
    elif choice < 0.6:
        entry.append((b"path", L(S(b"_____padding_file_%d" % rng.randrange(3)))))
    elif choice < 0.7:
        entry.append((b"path", L()))
    i = rng.randrange(len(files[1]) + 1)
    files[1].insert(i, D(entry))
    return "pad file %s at %d" % (short(D(entry)), i)


def m_v2_leaf(rng, tree):
    leaves = tree_leaves(tree)
    if not leaves:
        return None
    parent, leaf = rng.choice(leaves)
    key = rng.choice(FIELDS_V2FILE)
    if rng.random() < 0.25:
        remove(leaf, key)
        return "v2 file remove %r" % key
    v = field_value(rng, key, tree)
    put(leaf, key, v)
    return "v2 file %r=%s" % (key, short(v))


def m_v2_tree(rng, tree):
    dirs = tree_dirs(tree)
    if not dirs:
        return None
    d = rng.choice(dirs)
    how = rng.choice(["emptykey", "nondict", "emptydir", "deep", "slash", "dotdot", "samename", "leafsibling"])
    if how == "emptykey":
        d[1].insert(0, [S(b""), D([(b"length", I(1))])])
    elif how == "nondict":
        d[1].append([S(b"zz"), weird_value(rng)])
    elif how == "emptydir":
        d[1].append([S(b"zz"), D([])])
    elif how == "deep":
        n = rng.choice([50, 98, 99, 100, 101, 102])
        node = D([(b"", D([(b"length", I(0))]))])
        for _ in range(n):
            node = D([(b"d", node)])
        d[1].append([S(b"zz"), node])
        how += " %d" % n
    elif how == "slash":
        d[1].append([S(rng.choice([b"/", b"a/b", b"/x", b"\\"])), D([(b"", D([(b"length", I(0))]))])])
    elif how == "dotdot":
        d[1].append([S(rng.choice([b"..", b".", b"\xff"])), D([(b"", D([(b"length", I(0))]))])])
    elif how == "samename":
        if not d[1]:
            return None
        k, v = rng.choice(d[1])
        if k[1] == b"":
            return None
        d[1].append([S(k[1].swapcase() if rng.random() < 0.5 else k[1]), clone(v)])
    else:
        d[1].append([S(b""), D([(b"length", I(0))])])
    if rng.random() < 0.5:
        d[1].sort(key=lambda kv: kv[0][1])
    return "v2 tree %s" % how


def m_layers(rng, tree):
    layers = get(tree, b"piece layers")
    if layers is None or layers[0] != "d":
        leaves = tree_leaves(tree)
        if not leaves or tree[0] != "d":
            return None
        # a layer for a file that has none
        _, leaf = rng.choice(leaves)
        root = get(leaf, b"pieces root")
        if root is None or root[0] != "s":
            return None
        put(tree, b"piece layers", D([(root[1], S(rand_bytes(rng, 32)))]))
        return "layers added for a small file"
    how = rng.choice(["drop", "flip", "cut", "extend", "badkey", "nonstr", "extra", "notdict", "dupe", "empty"])
    if how == "drop" and layers[1]:
        del layers[1][rng.randrange(len(layers[1]))]
    elif how == "flip" and layers[1]:
        kv = rng.choice(layers[1])
        if kv[1][0] != "s" or not kv[1][1]:
            return None
        b = bytearray(kv[1][1])
        b[rng.randrange(len(b))] ^= 1
        kv[1] = S(bytes(b))
    elif how == "cut" and layers[1]:
        kv = rng.choice(layers[1])
        if kv[1][0] != "s":
            return None
        kv[1] = S(kv[1][1][: rng.choice([0, 32, len(kv[1][1]) - 32, len(kv[1][1]) - 1])])
    elif how == "extend" and layers[1]:
        kv = rng.choice(layers[1])
        if kv[1][0] != "s":
            return None
        kv[1] = S(kv[1][1] + rng.choice([bytes(32), b"\x01", bytes(32) * 2]))
    elif how == "badkey" and layers[1]:
        kv = rng.choice(layers[1])
        kv[0] = S(kv[0][1][: rng.choice([0, 20, 31])] + (b"" if rng.random() < 0.5 else b"\x00\x00"))
    elif how == "nonstr" and layers[1]:
        rng.choice(layers[1])[1] = weird_value(rng)
    elif how == "extra":
        layers[1].append([S(rand_bytes(rng, 32)), S(rand_bytes(rng, 64))])
    elif how == "notdict":
        put(tree, b"piece layers", weird_value(rng))
    elif how == "dupe" and layers[1]:
        kv = rng.choice(layers[1])
        layers[1].append([clone(kv[0]), clone(kv[1])])
    elif how == "empty":
        layers[1] = []
    else:
        return None
    return "layers %s" % how


def m_nesting(rng, tree):
    sites = walk(tree)
    if not sites:
        return None
    c, i, n, p = rng.choice(sites)
    depth = rng.choice([1, 2, 50, 95, 97, 98, 99, 100, 101, 150])
    v = clone(n)
    for _ in range(depth):
        v = ["l", [v]] if rng.random() < 0.8 else D([(b"k", v)])
    set_child(c, i, v)
    return "nest %s in %d" % (pname(p), depth)


def m_version(rng, tree):
    info = info_of(tree)
    if info is None or info[0] != "d":
        return None
    v = rng.choice([I(0), I(1), I(2), I(3), I(-1), I(2**63), S(b"2"), ["i", b"02"], ["i", b"-0"], I(2**64 + 2)])
    put(info, b"meta version", v)
    return "meta version=%s" % short(v)


def m_hybrid_drop(rng, tree):
    info = info_of(tree)
    if get(info, b"file tree") is None:
        return None
    key = rng.choice([b"pieces", b"files", b"file tree", b"length", b"meta version"])
    remove(info, key)
    return "v2 remove %r" % key


MUTATIONS = [
    (m_int_form, 6), (m_int_value, 4), (m_str_length, 6), (m_key_order, 4), (m_duplicate_key, 5),
    (m_delete, 4), (m_replace, 5), (m_info_field, 10), (m_top_field, 3), (m_file_field, 6),
    (m_path, 6), (m_pad, 4), (m_v2_leaf, 5), (m_v2_tree, 5), (m_layers, 5), (m_nesting, 2),
    (m_version, 2), (m_hybrid_drop, 2),
]


def tokens_of(buf):
    """Offsets where a token starts or ends (structural cut points) in well-formed input."""
    cuts = set()
    p = 0
    n = len(buf)
    while p < n:
        cuts.add(p)
        c = buf[p : p + 1]
        if c == b"i":
            e = buf.find(b"e", p)
            if e < 0:
                break
            cuts.add(p + 1)
            cuts.add(e)
            p = e + 1
        elif c.isdigit():
            colon = buf.find(b":", p)
            if colon < 0 or not buf[p:colon].isdigit():
                break
            cuts.add(colon)
            cuts.add(colon + 1)
            p = colon + 1 + int(buf[p:colon])
        elif c in (b"l", b"d", b"e"):
            p += 1
        else:
            break
    cuts.add(n)
    return sorted(cuts)


def byte_mutation(rng, buf):
    """Mutations of the encoded bytes: truncation, trailing bytes, flipped bytes."""
    how = rng.choice(["cut", "cut", "trail", "flip", "insert", "remove"])
    b = bytearray(buf)
    if how == "cut":
        cuts = tokens_of(buf)
        at = rng.choice(cuts) if rng.random() < 0.8 else rng.randrange(len(buf) + 1)
        at += rng.choice([0, 0, 0, -1, 1])
        at = max(0, min(len(buf), at))
        return bytes(b[:at]), "cut at %d of %d" % (at, len(buf))
    if how == "trail":
        junk = rng.choice([b"\n", b"\r\n", b"e", b"ee", b"d", b"x", b"i1e", b"de", b"d4:infodee", b"\x00" * 10, b"<html>", b"garbage"])
        return bytes(b) + junk, "trailing %r" % junk
    if not b:
        return bytes(b), "empty"
    i = rng.randrange(len(b))
    if how == "flip":
        new = rng.choice([b"e"[0], b"i"[0], b"l"[0], b"d"[0], b"0"[0], b"9"[0], b":"[0], b"-"[0], rng.randrange(256)])
        old = b[i]
        b[i] = new
        return bytes(b), "byte %d %02x->%02x" % (i, old, new)
    if how == "insert":
        new = rng.choice([b"e", b"0", b"-", b"i0e", b"0:", b"le", b"de"])
        return bytes(b[:i]) + new + bytes(b[i:]), "insert %r at %d" % (new, i)
    return bytes(b[:i]) + bytes(b[i + 1 :]), "remove byte %d" % i


# ---------------------------------------------------------------------------------------------


def pname(p):
    parts = []
    for x in p:
        if isinstance(x, int):
            parts.append("[%d]" % x)
        else:
            parts.append("." + printable(x[:24]))
    s = "".join(parts)
    return s[:80]


def printable(b):
    return "".join(chr(c) if 32 <= c < 127 else "?" for c in b)


def short(node):
    e = encode(node)
    s = printable(e[:40])
    return s + ("…%d" % len(e) if len(e) > 40 else "")


def keyset(d):
    return ",".join(printable(k[1][:12]) for k, _ in d[1][:6])


def clean(s):
    return s.replace("\t", " ").replace("\n", " ")


def load_seeds():
    seeds = []
    manifest = os.path.join(CORPUS, "MANIFEST.tsv")
    with open(manifest, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    for r in rows:
        if not r or not r[0]:
            continue
        if int(r[1]) > MAX_SEED_BYTES:
            continue
        with open(os.path.join(CORPUS, r[0]), "rb") as f:
            data = f.read()
        try:
            tree, end = parse(data)
        except ParseError:
            tree = None
        seeds.append((r[0], data, tree))
    if not seeds:
        sys.exit("gen.py: no seeds in %s" % manifest)
    return seeds


def variant(seeds, seed, index):
    """Variant number `index` of the run with `seed`: (bytes, description)."""
    rng = random.Random("%s:%d" % (seed, index))
    if rng.random() < 0.35:
        tree, what = build(rng)
        origin = "built " + what
        data = None
    else:
        path, data, parsed = rng.choice(seeds)
        origin = path
        tree = clone(parsed) if parsed is not None else None
    steps = []
    if tree is not None and rng.random() < 0.95:
        mutations, weights = zip(*MUTATIONS)
        for _ in range(rng.randint(1, MAX_MUTATIONS)):
            for _attempt in range(5):
                m = rng.choices(mutations, weights)[0]
                d = m(rng, tree)
                if d is not None:
                    steps.append(d)
                    break
        data = encode(tree)
    elif tree is not None:
        data = encode(tree)
    if rng.random() < 0.15 or not steps:
        data, d = byte_mutation(rng, data)
        steps.append(d)
    return data, clean(origin + ": " + "; ".join(steps))


def out_bin():
    return sys.stdout.buffer


def cmd_stream(seed, count, first):
    seeds = load_seeds()
    out = out_bin()
    for i in range(first, first + count):
        data, desc = variant(seeds, seed, i)
        v = verdict(data)
        head = "%d\t%d\t%s\t%s\t%s\t%s\t%s\n" % (i, len(data), v[0], v[1], v[2], v[3], desc)
        out.write(head.encode("utf-8"))
        out.write(data)
    out.flush()


def cmd_write(seed, count, first, outdir):
    seeds = load_seeds()
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "verdicts.tsv"), "w", encoding="utf-8") as tsv:
        tsv.write("file\tbytes\tlibtorrent_2_1_1\tv1_infohash\tv2_infohash\tlibtorrent_error\tmutations\n")
        for i in range(first, first + count):
            data, desc = variant(seeds, seed, i)
            name = "%08d.torrent" % i
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(data)
            v = verdict(data)
            tsv.write("%s\t%d\t%s\t%s\t%s\t%s\t%s\n" % (name, len(data), v[0], v[1], v[2], v[3], desc))


def cmd_oracle():
    inp = sys.stdin.buffer
    out = out_bin()
    while True:
        line = inp.readline()
        if not line:
            return
        n = int(line)
        data = inp.read(n)
        if len(data) != n:
            sys.exit("gen.py oracle: input ended inside a file")
        v = verdict(data)
        out.write(("%s\t%s\t%s\t%s\n" % v).encode("utf-8"))
        out.flush()


def cmd_manifest(root):
    files = []
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            if rel in ("MANIFEST.tsv", "PROVENANCE.md"):
                continue
            files.append(rel)
    sys.stdout.write("path\tbytes\tlibtorrent_2_1_1\tv1_infohash\tv2_infohash\tlibtorrent_error\n")
    for rel in sorted(files):
        with open(os.path.join(root, rel), "rb") as f:
            data = f.read()
        v = verdict(data)
        sys.stdout.write("%s\t%d\t%s\t%s\t%s\t%s\n" % (rel, len(data), v[0], v[1], v[2], v[3]))


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("stream", "write"):
        p = sub.add_parser(name)
        p.add_argument("--seed", default="1")
        p.add_argument("--count", type=int, default=1000)
        p.add_argument("--first", type=int, default=0)
        if name == "write":
            p.add_argument("--out", required=True)
    sub.add_parser("oracle")
    p = sub.add_parser("manifest")
    p.add_argument("dir")
    a = ap.parse_args(argv)
    if a.cmd == "stream":
        cmd_stream(a.seed, a.count, a.first)
    elif a.cmd == "write":
        cmd_write(a.seed, a.count, a.first, a.out)
    elif a.cmd == "oracle":
        cmd_oracle()
    else:
        cmd_manifest(a.dir)


if __name__ == "__main__":
    main(sys.argv[1:])
