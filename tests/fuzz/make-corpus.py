#!/usr/bin/env python3
"""Write the seed inputs of tests/fuzz/corpus/ for fuzz_dispatch.

Seeds are programs in the target's input format (see the comment at the top
of fuzz_dispatch.c): a flags byte, then operations on four connection slots
(0 and 1: dom0 sockets, 2 and 3: the rings of domains 7 and 8, which
dom0 introduces before the input runs).  Message types and
the payload limit come from xs_wire.h, parsed here at run time, so nothing
is retyped.  Files named seed-* are rewritten; anything else (crash-*
reproducers) is left alone.

Usage: make-corpus.py [OUTDIR] [--xs-wire PATH]
"""
import argparse
import ast
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# --- the target's input format (fuzz_dispatch.c) ---------------------------
OP_RAW, OP_MSG, OP_ROOM, OP_FULL = 0, 1, 2, 3
OP_HANGUP, OP_WRITE_GONE, OP_CLOSE, OP_BACKEND = 4, 5, 6, 7

# OP_BACKEND events, in the size-class bits.
(EV_RECONNECT, EV_RESET, EV_TICK, EV_TIMEOUT, EV_SHUTDOWN, EV_DYING,
 EV_RUNNING, EV_SPURIOUS) = range(8)

FLAG_PRIV_DOMID = 1
FLAG_TRACE = 2
FLAG_VERBOSE = 4
FLAG_SMALL_QUOTAS = 8
FLAG_NOT_INTRODUCED = 16
FLAG_MEMORY_LIMIT = 32

# Size classes, by index: unlimited, 1, 3, 7, header, header+1, 64, max+1.
WHOLE, BYTE, THREE, SEVEN, HEADER, HEADER1, SIXTY4, HUGE = range(8)

BOGUS_TX = 0xff


def parse_xs_wire(path):
    """The message types (name -> number) and XENSTORE_PAYLOAD_MAX."""
    with open(path) as f:
        text = f.read()
    body = re.search(r"enum\s+xsd_sockmsg_type\s*\{(.*?)\};", text, re.S)
    if not body:
        sys.exit("%s: no enum xsd_sockmsg_type" % path)
    enum_text = re.sub(r"/\*.*?\*/", "", body.group(1), flags=re.S)
    enum_text = "\n".join(line for line in enum_text.splitlines()
                          if not line.strip().startswith("#"))
    types, value = {}, -1
    for item in enum_text.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, expr = item.partition("=")
        name = name.strip()
        if expr.strip():
            value = eval_expr(expr.strip(), types)
        else:
            value += 1
        types[name] = value
    limit = re.search(r"#define\s+XENSTORE_PAYLOAD_MAX\s+(\d+)", text)
    if not limit:
        sys.exit("%s: no XENSTORE_PAYLOAD_MAX" % path)
    return types, int(limit.group(1))


def eval_expr(expr, names):
    """Integer arithmetic over earlier enum names, nothing else."""
    tree = ast.parse(expr, mode="eval")

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id in names:
            return names[node.id]
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            a, b = ev(node.left), ev(node.right)
            return a + b if isinstance(node.op, ast.Add) else a - b
        raise ValueError("unsupported enum expression: %s" % expr)

    return ev(tree)


class Seed:
    """One input: a flags byte and a list of operations."""

    def __init__(self, flags=0, headroom=None):
        """@headroom (0-255: 1 to 256 KiB) limits the core's memory."""
        self.data = bytearray([flags])
        if headroom is not None:
            self.data[0] |= FLAG_MEMORY_LIMIT
            self.data.append(headroom)

    def op(self, slot, kind, size=WHOLE):
        self.data.append(slot | kind << 2 | size << 5)
        return self

    def msg(self, slot, type_, *args, tx=0, size=WHOLE, payload=None):
        """A message whose header the target builds (req_id, len)."""
        if payload is None:
            payload = b"".join(strz(a) for a in args)
        self.op(slot, OP_MSG, size)
        self.data += bytes([type_ & 0xff, tx]) + struct.pack("<H", len(payload))
        self.data += payload
        return self

    def raw(self, slot, data, size=WHOLE):
        self.op(slot, OP_RAW, size)
        self.data += struct.pack("<H", len(data)) + data
        return self

    def room(self, slot, size=WHOLE):
        return self.op(slot, OP_ROOM, size)

    def full(self, slot):
        return self.op(slot, OP_FULL)

    def hangup(self, slot):
        return self.op(slot, OP_HANGUP)

    def write_gone(self, slot):
        return self.op(slot, OP_WRITE_GONE)

    def close(self, slot):
        return self.op(slot, OP_CLOSE)

    def backend(self, slot, event):
        return self.op(slot, OP_BACKEND, event)

    def reconnect(self, slot):
        return self.backend(slot, EV_RECONNECT)


def strz(s):
    if isinstance(s, bytes):
        return s + b"\0"
    return s.encode() + b"\0"


def header(type_, req_id, tx_id, length):
    return struct.pack("=IIII", type_, req_id, tx_id, length)


def build(types, payload_max):
    T = types
    seeds = {}

    def add(name, seed):
        if name in seeds:
            raise ValueError("duplicate seed " + name)
        seeds[name] = bytes(seed.data)

    # --- every request type, well formed, privileged and not ------------
    for slot, who in ((0, "dom0"), (2, "guest")):
        home = "/local/domain/7" if slot == 2 else "/local/domain/0"
        prep = Seed()
        if slot == 2:
            prep.msg(0, T["XS_MKDIR"], home)
            prep.msg(0, T["XS_SET_PERMS"], home, "n7")
        s = Seed()
        s.data += prep.data[1:]
        s.msg(0, T["XS_WRITE"], payload=strz(home + "/a") + b"value")
        s.msg(slot, T["XS_READ"], home + "/a")
        s.msg(slot, T["XS_READ"], "a")
        s.msg(slot, T["XS_READ"], "/tool/xenstored")
        add("seed-read-%s" % who, s)
        s = Seed()
        s.data += prep.data[1:]
        s.msg(slot, T["XS_WRITE"], payload=strz(home + "/x/y/z") + b"hello")
        s.msg(slot, T["XS_WRITE"], payload=strz("rel/node") + b"")
        s.msg(slot, T["XS_READ"], home + "/x/y/z")
        s.msg(slot, T["XS_DIRECTORY"], home + "/x")
        add("seed-write-%s" % who, s)
        s = Seed()
        s.data += prep.data[1:]
        s.msg(slot, T["XS_MKDIR"], home + "/m/n")
        s.msg(slot, T["XS_MKDIR"], home + "/m/n")
        s.msg(slot, T["XS_DIRECTORY"], home + "/m")
        s.msg(slot, T["XS_RM"], home + "/m")
        s.msg(slot, T["XS_RM"], home + "/m")
        s.msg(slot, T["XS_RM"], home + "/nope/deeper")
        add("seed-mkdir-rm-%s" % who, s)
        s = Seed()
        s.data += prep.data[1:]
        for i in range(12):
            s.msg(slot, T["XS_MKDIR"], "%s/d/child%02d" % (home, i))
        s.msg(slot, T["XS_DIRECTORY"], home + "/d")
        s.msg(slot, T["XS_DIRECTORY_PART"], home + "/d", "0")
        s.msg(slot, T["XS_DIRECTORY_PART"], home + "/d", "16")
        s.msg(slot, T["XS_DIRECTORY_PART"], home + "/d", "99999")
        add("seed-directory-%s" % who, s)
        s = Seed()
        s.data += prep.data[1:]
        s.msg(slot, T["XS_WRITE"], payload=strz(home + "/p") + b"v")
        s.msg(slot, T["XS_GET_PERMS"], home + "/p")
        s.msg(slot, T["XS_SET_PERMS"], home + "/p", "n%d" % (7 if slot else 0), "r8", "w0")
        s.msg(slot, T["XS_GET_PERMS"], home + "/p")
        s.msg(slot, T["XS_SET_PERMS"], home + "/p", "b8")
        s.msg(slot, T["XS_GET_PERMS"], "@introduceDomain")
        s.msg(slot, T["XS_SET_PERMS"], "@releaseDomain", "n0", "r7")
        add("seed-perms-%s" % who, s)
        s = Seed()
        s.data += prep.data[1:]
        s.msg(slot, T["XS_WATCH"], home + "/w", "tok")
        s.msg(slot, T["XS_WATCH"], "w", "reltok")
        s.msg(slot, T["XS_WATCH"], home + "/w", "tok")
        s.msg(slot, T["XS_WRITE"], payload=strz(home + "/w/x") + b"1")
        s.msg(slot, T["XS_UNWATCH"], home + "/w", "tok")
        s.msg(slot, T["XS_UNWATCH"], home + "/w", "tok")
        s.msg(slot, T["XS_WATCH"], "@introduceDomain", "intro")
        s.msg(slot, T["XS_WATCH"], "@releaseDomain", "rel")
        s.msg(slot, T["XS_RESET_WATCHES"], payload=b"\0")
        s.msg(slot, T["XS_WRITE"], payload=strz(home + "/w/x") + b"2")
        add("seed-watch-%s" % who, s)
        s = Seed()
        s.data += prep.data[1:]
        s.msg(slot, T["XS_TRANSACTION_START"], payload=b"\0")
        s.msg(slot, T["XS_WRITE"], tx=1, payload=strz(home + "/t") + b"in-tx")
        s.msg(slot, T["XS_READ"], home + "/t", tx=1)
        s.msg(slot, T["XS_READ"], home + "/t")
        s.msg(slot, T["XS_TRANSACTION_START"], tx=1, payload=b"\0")
        s.msg(slot, T["XS_TRANSACTION_END"], "T", tx=1)
        s.msg(slot, T["XS_READ"], home + "/t")
        s.msg(slot, T["XS_TRANSACTION_START"], payload=b"\0")
        s.msg(slot, T["XS_RM"], home + "/t", tx=2)
        s.msg(slot, T["XS_TRANSACTION_END"], "F", tx=2)
        s.msg(slot, T["XS_TRANSACTION_END"], "T", tx=2)
        add("seed-transaction-%s" % who, s)
        s = Seed()
        s.msg(slot, T["XS_GET_DOMAIN_PATH"], "7")
        s.msg(slot, T["XS_GET_DOMAIN_PATH"], "")
        s.msg(slot, T["XS_GET_DOMAIN_PATH"], "abc")
        s.msg(slot, T["XS_GET_DOMAIN_PATH"], "4294967295")
        add("seed-get-domain-path-%s" % who, s)
        s = Seed()
        s.msg(slot, T["XS_INTRODUCE"], "9", "12345", "3")
        s.msg(slot, T["XS_IS_DOMAIN_INTRODUCED"], "9")
        s.msg(slot, T["XS_RESUME"], "9")
        s.msg(slot, T["XS_SET_TARGET"], "9", "7")
        s.msg(slot, T["XS_RELEASE"], "9")
        add("seed-domain-requests-%s" % who, s)

    # --- CONTROL, each sub-command ---------------------------------------
    controls = [
        ("help",), ("print", "hello"), ("check",), ("log", "on"),
        ("log", "off"), ("log", "bogus"), ("logfile", "tracefile"),
        ("logfile", "bad.name"), ("logfile", ""), ("memreport",),
        ("memreport", "reportfile"), ("memreport", "bad.name"), ("quota",),
        ("quota", "7"), ("quota", "set", "nodes", "5"),
        ("quota", "set", "bogus", "5"), ("quota", "set", "nodes", "x"),
        ("quota-soft",), ("quota-soft", "set", "memory", "100"),
        ("no-such-command",),
    ]
    s = Seed()
    for args in controls:
        s.msg(0, T["XS_CONTROL"], *args)
    s.msg(2, T["XS_CONTROL"], "help")
    add("seed-control-all", s)
    s = Seed(FLAG_TRACE | FLAG_VERBOSE)
    s.msg(0, T["XS_CONTROL"], "log", "off")
    s.msg(0, T["XS_WRITE"], payload=strz("/traced") + b"\x01\x7f\xff")
    s.msg(0, T["XS_CONTROL"], "log", "on")
    s.msg(0, T["XS_CONTROL"], "check")
    s.msg(0, T["XS_CONTROL"], "memreport")
    add("seed-control-trace", s)
    s = Seed()
    s.msg(0, T["XS_CONTROL"], "quota", "set", "nodes", "3")
    s.msg(0, T["XS_CONTROL"], "quota", "set", "path-max", "5")
    s.msg(2, T["XS_WRITE"], payload=strz("a/b/c/d") + b"x")
    s.msg(2, T["XS_WRITE"], payload=strz("toolongname") + b"x")
    s.msg(0, T["XS_CONTROL"], "quota", "7")
    add("seed-control-quota-effect", s)

    # --- transactions across connections ---------------------------------
    s = Seed()
    s.msg(0, T["XS_WRITE"], payload=strz("/shared/a") + b"0")
    s.msg(0, T["XS_TRANSACTION_START"], payload=b"\0")
    s.msg(0, T["XS_READ"], "/shared/a", tx=1)
    s.msg(0, T["XS_WRITE"], tx=1, payload=strz("/shared/b") + b"from-tx")
    s.msg(1, T["XS_WRITE"], payload=strz("/shared/a") + b"1")
    s.msg(0, T["XS_TRANSACTION_END"], "T", tx=1)
    s.msg(0, T["XS_READ"], "/shared/b")
    add("seed-tx-conflict", s)
    s = Seed()
    s.msg(0, T["XS_MKDIR"], "/parent")
    s.msg(0, T["XS_TRANSACTION_START"], payload=b"\0")
    s.msg(1, T["XS_TRANSACTION_START"], payload=b"\0")
    s.msg(0, T["XS_WRITE"], tx=1, payload=strz("/parent/a") + b"a")
    s.msg(1, T["XS_WRITE"], tx=1, payload=strz("/parent/b") + b"b")
    s.msg(0, T["XS_TRANSACTION_END"], "T", tx=1)
    s.msg(1, T["XS_TRANSACTION_END"], "T", tx=1)
    s.msg(0, T["XS_DIRECTORY"], "/parent")
    add("seed-tx-disjoint-children", s)
    s = Seed()
    s.msg(0, T["XS_MKDIR"], "/parent")
    s.msg(0, T["XS_TRANSACTION_START"], payload=b"\0")
    s.msg(0, T["XS_DIRECTORY"], "/parent", tx=1)
    s.msg(0, T["XS_WRITE"], tx=1, payload=strz("/parent/a") + b"a")
    s.msg(1, T["XS_WRITE"], payload=strz("/parent/b") + b"b")
    s.msg(0, T["XS_TRANSACTION_END"], "T", tx=1)
    add("seed-tx-listing-conflict", s)
    s = Seed()
    s.msg(0, T["XS_WATCH"], "/watched", "w")
    s.msg(1, T["XS_TRANSACTION_START"], payload=b"\0")
    s.msg(1, T["XS_WRITE"], tx=1, payload=strz("/watched/x") + b"1")
    s.msg(1, T["XS_RM"], "/watched/x", tx=1)
    s.msg(1, T["XS_MKDIR"], "/watched/y", tx=1)
    s.msg(1, T["XS_SET_PERMS"], "/watched/y", "n0", "r7", tx=1)
    s.msg(1, T["XS_TRANSACTION_END"], "T", tx=1)
    s.msg(1, T["XS_TRANSACTION_START"], payload=b"\0")
    s.msg(1, T["XS_WRITE"], tx=2, payload=strz("/watched/z") + b"1")
    s.msg(1, T["XS_TRANSACTION_END"], "F", tx=2)
    add("seed-tx-events", s)
    s = Seed()
    s.msg(0, T["XS_TRANSACTION_START"], payload=b"\0")
    s.msg(0, T["XS_WRITE"], tx=1, payload=strz("/gone/x") + b"1")
    s.msg(0, T["XS_WATCH"], "/gone", "tok", tx=1)
    s.msg(0, T["XS_RESET_WATCHES"], payload=b"\0")
    s.msg(0, T["XS_TRANSACTION_END"], "T", tx=1)
    s.msg(0, T["XS_TRANSACTION_START"], payload=b"\0")
    s.close(0)
    s.reconnect(0)
    s.msg(0, T["XS_READ"], "/gone/x")
    add("seed-tx-reset-and-close", s)
    s = Seed(FLAG_SMALL_QUOTAS)
    s.msg(0, T["XS_MKDIR"], "/local/domain/7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/7", "n7")
    for _ in range(3):
        s.msg(2, T["XS_TRANSACTION_START"], payload=b"\0")
    for i in range(12):
        s.msg(2, T["XS_WRITE"], tx=1, payload=strz("n%d" % i) + b"x")
    s.msg(2, T["XS_TRANSACTION_END"], "T", tx=1)
    s.msg(2, T["XS_WRITE"], tx=2, payload=strz("big") + b"x" * 100)
    s.msg(2, T["XS_TRANSACTION_END"], "T", tx=2)
    add("seed-tx-quotas-guest", s)
    s = Seed()
    s.msg(0, T["XS_WRITE"], payload=strz("/r/x") + b"1")
    s.msg(0, T["XS_TRANSACTION_START"], payload=b"\0")
    s.msg(0, T["XS_RM"], "/r", tx=1)
    s.msg(0, T["XS_WRITE"], tx=1, payload=strz("/r/x/y") + b"2")
    s.msg(0, T["XS_READ"], "/r/x", tx=1)
    s.msg(0, T["XS_GET_PERMS"], "/r/x/y", tx=1)
    s.msg(1, T["XS_SET_PERMS"], "/r", "n0", "r7")
    s.msg(0, T["XS_TRANSACTION_END"], "T", tx=1)
    s.msg(0, T["XS_DIRECTORY"], "/r/x")
    add("seed-tx-rm-recreate", s)

    # --- permissions between guests --------------------------------------
    s = Seed()
    s.msg(0, T["XS_MKDIR"], "/local/domain/7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/7", "n7")
    s.msg(0, T["XS_MKDIR"], "/local/domain/8")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/8", "n8", "r7")
    s.msg(2, T["XS_READ"], "/tool")
    s.msg(2, T["XS_READ"], "/tool/missing")
    s.msg(2, T["XS_WRITE"], payload=strz("/tool/x") + b"no")
    s.msg(2, T["XS_DIRECTORY"], "/local/domain/8")
    s.msg(2, T["XS_WRITE"], payload=strz("/local/domain/8/x") + b"no")
    s.msg(3, T["XS_WRITE"], payload=strz("/local/domain/8/x") + b"yes")
    s.msg(3, T["XS_SET_PERMS"], "/local/domain/8/x", "n7")
    s.msg(3, T["XS_SET_PERMS"], "/local/domain/8/x", "n8", "b7")
    s.msg(2, T["XS_WRITE"], payload=strz("/local/domain/8/x") + b"now")
    s.msg(2, T["XS_WATCH"], "/local/domain/8", "guestwatch")
    s.msg(3, T["XS_RM"], "/local/domain/8/x")
    s.msg(2, T["XS_SET_PERMS"], "/local/domain/7", "n0")
    s.msg(2, T["XS_SET_PERMS"], "/local/domain/7", "n7", "r0", "r8", "r9", "r10", "r11")
    add("seed-perms-guests", s)
    s = Seed(FLAG_PRIV_DOMID)
    s.msg(3, T["XS_READ"], "/tool")
    s.msg(3, T["XS_CONTROL"], "check")
    s.msg(3, T["XS_WRITE"], payload=strz("/priv") + b"8")
    s.msg(2, T["XS_READ"], "/priv")
    add("seed-priv-domid", s)
    s = Seed(FLAG_NOT_INTRODUCED)
    s.msg(0, T["XS_MKDIR"], "/local/domain/7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/7", "n7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/8", "n0", "r7")
    s.msg(2, T["XS_WRITE"], payload=strz("x") + b"1")
    s.msg(2, T["XS_SET_PERMS"], "x", "n7", "r8")
    add("seed-not-introduced", s)
    s = Seed(FLAG_SMALL_QUOTAS)
    s.msg(0, T["XS_MKDIR"], "/local/domain/7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/7", "n7")
    for i in range(14):
        s.msg(2, T["XS_MKDIR"], "q%d" % i)
    for i in range(5):
        s.msg(2, T["XS_WATCH"], "q%d" % i, "t")
    s.msg(2, T["XS_WRITE"], payload=strz("q0") + b"x" * 90)
    s.msg(2, T["XS_SET_PERMS"], "q1", "n7", "r0", "r8")
    s.msg(2, T["XS_WRITE"], payload=strz("a" * 30) + b"x")
    add("seed-quotas-guest", s)

    # --- watches and events ------------------------------------------------
    s = Seed()
    s.msg(1, T["XS_WATCH"], "/", "root")
    s.msg(1, T["XS_WATCH"], "/a", "a")
    s.msg(1, T["XS_WATCH"], "/a/b/c", "c")
    s.msg(2, T["XS_WATCH"], "/a", "guest")
    s.msg(0, T["XS_WRITE"], payload=strz("/a/b/c/d") + b"1")
    s.msg(0, T["XS_SET_PERMS"], "/a", "n0", "r7")
    s.msg(0, T["XS_WRITE"], payload=strz("/a/b") + b"2")
    s.msg(0, T["XS_RM"], "/a")
    add("seed-watch-fanout", s)
    s = Seed()
    s.msg(1, T["XS_WATCH"], "/e", "t")
    s.full(1)
    for i in range(6):
        s.msg(0, T["XS_WRITE"], payload=strz("/e") + bytes([48 + i]))
    s.msg(1, T["XS_READ"], "/e")
    s.room(1, BYTE)
    s.msg(0, T["XS_WRITE"], payload=strz("/e") + b"x")
    s.room(1, SEVEN)
    s.room(1, SIXTY4)
    s.room(1)
    add("seed-watch-event-dedup", s)
    s = Seed()
    s.msg(0, T["XS_MKDIR"], "/local/domain/7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/7", "n7")
    s.msg(2, T["XS_WATCH"], "rel", "r")
    s.msg(2, T["XS_WATCH"], "/local/domain/7/rel", "abs")
    s.msg(2, T["XS_WRITE"], payload=strz("rel/x") + b"1")
    s.msg(0, T["XS_WRITE"], payload=strz("/local/domain/7/rel") + b"2")
    add("seed-watch-relative", s)
    long_token = "t" * (payload_max - 20)
    s = Seed()
    s.msg(0, T["XS_WATCH"], "/lt", long_token)
    s.msg(0, T["XS_WRITE"], payload=strz("/lt/" + "x" * 40) + b"1")
    add("seed-watch-event-too-big", s)

    # --- framing -------------------------------------------------------------
    pipelined = b"".join(
        header(T["XS_READ"], i, 0, 6) + b"/tool\0" for i in range(5))
    add("seed-pipelined", Seed().raw(0, pipelined))
    add("seed-pipelined-byte-reads", Seed().raw(0, pipelined, BYTE))
    add("seed-pipelined-header-reads", Seed().raw(0, pipelined, HEADER1))
    s = Seed()
    msg = header(T["XS_WRITE"], 77, 0, 9) + b"/split\0ab"
    s.raw(0, msg[:5]).raw(0, msg[5:16]).raw(0, msg[16:20]).raw(0, msg[20:])
    add("seed-split-message", s)
    s = Seed()
    s.raw(0, header(T["XS_READ"], 1, 0, payload_max + 1))
    s.msg(0, T["XS_READ"], "/tool")
    s.reconnect(0)
    s.msg(0, T["XS_READ"], "/tool")
    add("seed-len-over-max", s)
    s = Seed()
    s.raw(1, header(T["XS_READ"], 1, 0, 0xffffffff), THREE)
    add("seed-len-huge", s)
    s = Seed()
    s.msg(0, T["XS_READ"], "/tool")
    s.raw(0, header(T["XS_WRITE"], 2, 0, payload_max) + b"/x\0" + b"v" * (payload_max - 3), HUGE)
    s.msg(0, T["XS_READ"], "/x")
    add("seed-len-max", s)
    s = Seed()
    s.raw(0, header(T["XS_READ"], 1, 0, 6) + b"/to")
    s.hangup(0)
    s.reconnect(0)
    s.msg(0, T["XS_READ"], "/tool")
    add("seed-hangup-mid-message", s)

    # --- malformed requests -----------------------------------------------
    bad = Seed()
    for type_ in ("XS_READ", "XS_DIRECTORY", "XS_GET_PERMS", "XS_MKDIR", "XS_RM"):
        bad.msg(0, T[type_], payload=b"/tool")                 # no NUL
        bad.msg(0, T[type_], payload=b"")                      # empty
        bad.msg(0, T[type_], payload=b"/tool\0x\0")            # extra arg
        bad.msg(0, T[type_], payload=b"/to\0ol\0")
    add("seed-malformed-single-path", bad)
    s = Seed()
    for path in ("//a", "/a/", "/a b", "/a//b", "/\xff", "", "@foo", "/a\x01",
                 "/" + "a" * 3000, "@introduceDomain"):
        p = path.encode("latin-1")
        s.msg(0, T["XS_WRITE"], payload=p + b"\0v")
        s.msg(0, T["XS_READ"], payload=p + b"\0")
        s.msg(2, T["XS_MKDIR"], payload=p + b"\0")
    add("seed-malformed-paths", s)
    s = Seed()
    s.msg(0, T["XS_WATCH"], payload=b"/a\0")
    s.msg(0, T["XS_WATCH"], payload=b"/a\0t\0extra\0")
    s.msg(0, T["XS_WATCH"], payload=b"/a\0t")
    s.msg(0, T["XS_UNWATCH"], payload=b"/a")
    s.msg(0, T["XS_DIRECTORY_PART"], payload=b"/tool\0")
    s.msg(0, T["XS_DIRECTORY_PART"], payload=b"/tool\0-1\0")
    s.msg(0, T["XS_SET_PERMS"], payload=b"/tool\0")
    s.msg(0, T["XS_SET_PERMS"], payload=b"/tool\0x0\0")
    s.msg(0, T["XS_SET_PERMS"], payload=b"/tool\0r\0")
    s.msg(0, T["XS_SET_PERMS"], payload=b"/tool\0r1x\0")
    s.msg(0, T["XS_SET_PERMS"], payload=b"/tool\0r99999999999\0")
    s.msg(0, T["XS_SET_PERMS"], payload=b"/tool\0n0")
    s.msg(0, T["XS_WRITE"], payload=b"/novalue")
    s.msg(0, T["XS_TRANSACTION_START"], payload=b"")
    s.msg(0, T["XS_TRANSACTION_START"], payload=b"junk\0")
    s.msg(0, T["XS_TRANSACTION_END"], payload=b"T\0", tx=1)
    s.msg(0, T["XS_TRANSACTION_START"], payload=b"\0")
    s.msg(0, T["XS_TRANSACTION_END"], payload=b"X\0", tx=1)
    s.msg(0, T["XS_TRANSACTION_END"], payload=b"T", tx=1)
    s.msg(0, T["XS_TRANSACTION_END"], payload=b"", tx=1)
    s.msg(0, T["XS_GET_DOMAIN_PATH"], payload=b"7")
    s.msg(0, T["XS_CONTROL"], payload=b"")
    s.msg(0, T["XS_CONTROL"], payload=b"help")
    s.msg(0, T["XS_CONTROL"], payload=b"a\0b\0c\0d\0e\0f\0g\0h\0i\0")
    add("seed-malformed-args", s)
    s = Seed()
    for tx in (1, 2, 3, BOGUS_TX):
        s.msg(0, T["XS_READ"], "/tool", tx=tx)
        s.msg(0, T["XS_WATCH"], "/tool", "t%d" % tx, tx=tx)
        s.msg(2, T["XS_WRITE"], tx=tx, payload=b"x\0y")
    s.raw(0, header(T["XS_READ"], 9, 0x80000000, 6) + b"/tool\0")
    add("seed-bogus-tx-ids", s)
    s = Seed()
    for t in (T["XS_WATCH_EVENT"], T["XS_ERROR"], 20, T["XS_TYPE_COUNT"],
              100, 0xff):
        s.msg(0, t, "/tool", "x")
    s.raw(0, header(T["XS_INVALID"], 5, 0, 0))
    s.raw(0, header(0xffffffff, 6, 0, 2) + b"\0\0")
    add("seed-unknown-types", s)
    s = Seed()
    s.msg(0, T["XS_WRITE"], payload=strz("/x/y") + b"1")
    s.msg(0, T["XS_RM"], "/x/y")
    s.msg(0, T["XS_READ"], payload=b"/tool\0x\0")
    add("seed-rm-then-bad-read", s)

    # --- size limits ----------------------------------------------------------
    s = Seed()
    for i in range(200):
        s.msg(0, T["XS_MKDIR"], "/big/child-with-a-long-name-%03d" % i)
    s.msg(0, T["XS_DIRECTORY"], "/big")
    s.msg(0, T["XS_DIRECTORY_PART"], "/big", "0")
    s.msg(0, T["XS_DIRECTORY_PART"], "/big", "4000")
    s.msg(0, T["XS_RM"], "/big")
    add("seed-directory-e2big", s)
    s = Seed()
    s.msg(0, T["XS_WRITE"], payload=strz("/v") + b"z" * (payload_max - 3))
    s.msg(0, T["XS_READ"], "/v")
    s.msg(0, T["XS_WRITE"], payload=strz("/" + "d/" * 600 + "leaf") + b"deep")
    s.msg(0, T["XS_RM"], "/d")
    add("seed-value-max", s)

    # --- the backend misbehaving ------------------------------------------
    s = Seed()
    s.msg(1, T["XS_WATCH"], "/", "all")
    s.full(1)
    s.msg(0, T["XS_WRITE"], payload=strz("/f") + b"1")
    s.write_gone(1)
    s.msg(0, T["XS_WRITE"], payload=strz("/f") + b"2")
    s.reconnect(1)
    s.msg(1, T["XS_READ"], "/f")
    add("seed-write-gone", s)
    s = Seed()
    s.msg(1, T["XS_WATCH"], "/", "all")
    s.write_gone(1)
    s.msg(0, T["XS_WRITE"], payload=strz("/g") + b"1")
    s.msg(0, T["XS_READ"], "/g")
    add("seed-peer-gone-during-other", s)
    s = Seed()
    s.full(0)
    for i in range(20):
        s.msg(0, T["XS_READ"], "/tool", size=BYTE)
    s.room(0, HEADER)
    s.room(0, HEADER1)
    s.msg(0, T["XS_READ"], "/tool")
    s.room(0, THREE)
    add("seed-short-writes", s)
    s = Seed()
    s.msg(0, T["XS_MKDIR"], "/local/domain/7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/7", "n7")
    s.msg(2, T["XS_WATCH"], "w", "t")
    s.msg(2, T["XS_TRANSACTION_START"], payload=b"\0")
    s.msg(2, T["XS_WRITE"], tx=1, payload=strz("w/x") + b"1")
    s.close(2)
    s.msg(0, T["XS_WRITE"], payload=strz("/local/domain/7/w") + b"1")
    s.reconnect(2)
    s.msg(2, T["XS_TRANSACTION_END"], "T", tx=1)
    s.close(2)
    s.close(2)
    s.hangup(3)
    s.close(0)
    s.close(1)
    add("seed-close-everything", s)

    # --- out of memory: the same conversations with little headroom ---------
    def busy(s):
        s.msg(1, T["XS_WATCH"], "/", "all")
        s.msg(0, T["XS_TRANSACTION_START"], payload=b"\0")
        for i in range(8):
            s.msg(0, T["XS_WRITE"], tx=1, payload=strz("/m/%d/x" % i) + b"v" * 200)
        s.msg(0, T["XS_DIRECTORY"], "/m", tx=1)
        s.msg(0, T["XS_TRANSACTION_END"], "T", tx=1)
        s.msg(2, T["XS_WATCH"], "w", "guest")
        s.msg(0, T["XS_SET_PERMS"], "/m", "n0", "r7")
        s.msg(0, T["XS_RM"], "/m/1")
        s.msg(0, T["XS_CONTROL"], "memreport")
        s.msg(0, T["XS_DIRECTORY_PART"], "/m", "0")
        s.msg(0, T["XS_GET_PERMS"], "/m")
        s.reconnect(3)
        return s
    for headroom in (0, 16, 40, 100, 255):
        add("seed-memory-limit-%d" % headroom, busy(Seed(headroom=headroom)))

    # --- domains: introduction, release, death, rings -----------------------
    s = Seed(FLAG_NOT_INTRODUCED)
    s.msg(0, T["XS_WATCH"], "@introduceDomain", "in")
    s.msg(0, T["XS_WATCH"], "@releaseDomain", "out")
    s.msg(0, T["XS_INTRODUCE"], "7", "1", "0")          # port 0: fails
    s.msg(0, T["XS_INTRODUCE"], "7", "1", "5")
    s.msg(0, T["XS_INTRODUCE"], "8", "1", "6")
    s.msg(0, T["XS_IS_DOMAIN_INTRODUCED"], "7")
    s.msg(2, T["XS_WRITE"], payload=strz("data") + b"7")
    s.msg(0, T["XS_INTRODUCE"], "7", "1", "5")          # again: a new ring
    s.msg(2, T["XS_READ"], "data")
    s.msg(0, T["XS_RELEASE"], "8")
    s.msg(0, T["XS_RELEASE"], "8")
    s.msg(0, T["XS_RELEASE"], "0")
    s.msg(0, T["XS_IS_DOMAIN_INTRODUCED"], "8")
    s.msg(0, T["XS_INTRODUCE"], "32752", "1", "1")
    add("seed-domain-introduce-release", s)
    s = Seed()
    s.msg(0, T["XS_MKDIR"], "/local/domain/7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/7", "n7")
    s.msg(2, T["XS_WRITE"], payload=strz("device/vif/0") + b"up")
    s.msg(2, T["XS_WATCH"], "device", "dev")
    s.msg(1, T["XS_WATCH"], "/local/domain/7", "w7")
    s.msg(1, T["XS_WATCH"], "@releaseDomain", "rel")
    s.msg(2, T["XS_TRANSACTION_START"], payload=b"\0")
    s.backend(2, EV_SHUTDOWN)
    s.backend(2, EV_SHUTDOWN)
    s.msg(0, T["XS_RESUME"], "7")
    s.backend(2, EV_SHUTDOWN)
    s.backend(2, EV_DYING)
    s.msg(0, T["XS_DIRECTORY"], "/local/domain")
    s.msg(0, T["XS_GET_PERMS"], "/local/domain/7/device")
    s.backend(2, EV_RUNNING)
    s.msg(0, T["XS_INTRODUCE"], "7", "1", "5")
    s.msg(2, T["XS_READ"], "device/vif/0")
    add("seed-domain-death", s)
    s = Seed()
    s.msg(0, T["XS_INTRODUCE"], "9", "1", "9")
    s.msg(0, T["XS_WRITE"], payload=strz("/local/domain/9/x") + b"1")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/9/x", "n9", "r7")
    s.msg(0, T["XS_SET_TARGET"], "7", "9")
    s.msg(2, T["XS_READ"], "/local/domain/9/x")
    s.msg(2, T["XS_WRITE"], payload=strz("/local/domain/9/x") + b"as-target")
    s.msg(0, T["XS_SET_TARGET"], "7", "99")
    s.msg(0, T["XS_SET_TARGET"], "7")
    s.backend(0, EV_DYING)
    s.msg(2, T["XS_READ"], "/local/domain/9/x")
    s.msg(0, T["XS_INTRODUCE"], "9", "1", "9")
    s.msg(0, T["XS_GET_PERMS"], "/local/domain/9/x")
    add("seed-domain-target", s)
    s = Seed(FLAG_PRIV_DOMID)
    s.msg(3, T["XS_INTRODUCE"], "8", "1", "1")          # replaces its own ring
    s.msg(3, T["XS_READ"], "/tool")
    s.msg(0, T["XS_INTRODUCE"], "8", "1", "1")
    s.msg(3, T["XS_INTRODUCE"], "7", "1", "1")
    s.msg(3, T["XS_RELEASE"], "7")
    add("seed-domain-priv-reintroduce", s)
    s = Seed()
    s.msg(0, T["XS_MKDIR"], "/local/domain/7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/7", "n7")
    s.msg(2, T["XS_WATCH"], "w", "t")
    s.msg(2, T["XS_TRANSACTION_START"], payload=b"\0")
    s.full(2)
    s.msg(2, T["XS_WRITE"], tx=1, payload=strz("w/x") + b"1")
    s.raw(2, header(T["XS_READ"], 50, 0, 2) + b"w")
    s.backend(2, EV_RESET)
    s.msg(2, T["XS_TRANSACTION_END"], "T", tx=1)
    s.msg(2, T["XS_UNWATCH"], "w", "t")
    s.room(2)
    s.backend(2, EV_SPURIOUS)
    s.backend(0, EV_RESET)
    add("seed-ring-reset", s)
    s = Seed()
    s.msg(0, T["XS_MKDIR"], "/local/domain/7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/7", "n7")
    s.msg(2, T["XS_WATCH"], "ev", "t")
    s.full(2)
    for i in range(4):
        s.msg(2, T["XS_WRITE"], payload=strz("ev/%d" % i) + b"x")
        s.backend(2, EV_TICK)
    s.msg(0, T["XS_WRITE"], payload=strz("/local/domain/7/ev") + b"dom0")
    s.backend(2, EV_TIMEOUT)
    s.room(2, SEVEN)
    s.backend(2, EV_TIMEOUT)
    s.room(2)
    s.msg(1, T["XS_WATCH"], "/", "dom0")
    s.full(1)
    s.msg(0, T["XS_WRITE"], payload=strz("/x") + b"1")
    s.backend(1, EV_TIMEOUT)
    s.room(1)
    add("seed-event-timeout", s)
    s = Seed(FLAG_SMALL_QUOTAS)
    s.msg(0, T["XS_MKDIR"], "/local/domain/7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/7", "n7")
    s.full(2)
    for i in range(6):
        s.msg(2, T["XS_READ"], "/local/domain/7")
    s.room(2, HEADER1)
    s.room(2, SIXTY4)
    s.room(2)
    s.msg(0, T["XS_CONTROL"], "quota", "set", "memory", "10")
    s.msg(2, T["XS_READ"], "/local/domain/7")
    s.msg(0, T["XS_CONTROL"], "quota", "set", "memory", "100000")
    s.backend(2, EV_SPURIOUS)
    add("seed-guest-held-back", s)
    s = Seed()
    s.msg(2, T["XS_WATCH"], "@introduceDomain", "g-in")
    s.msg(2, T["XS_SET_PERMS"], "@introduceDomain", "n7")
    s.msg(0, T["XS_SET_PERMS"], "@introduceDomain", "n0", "r7")
    s.msg(0, T["XS_INTRODUCE"], "9", "1", "9")
    s.msg(0, T["XS_SET_PERMS"], "@introduceDomain", "n0")
    s.msg(0, T["XS_INTRODUCE"], "10", "1", "9")
    s.msg(0, T["XS_CONTROL"], "quota-soft", "set", "memory", "1")
    s.msg(2, T["XS_WATCH"], "@releaseDomain", "g-out")
    s.msg(0, T["XS_CONTROL"], "live-update", "-s")
    s.msg(0, T["XS_RM"], "/")
    add("seed-special-watch-perms", s)
    s = Seed()
    s.msg(0, T["XS_WRITE"], payload=strz("/old") + b"1")
    s.msg(0, T["XS_SET_PERMS"], "/old", "n0", "r9")
    s.msg(0, T["XS_INTRODUCE"], "9", "1", "9")
    s.msg(0, T["XS_WRITE"], payload=strz("/new") + b"1")
    s.msg(0, T["XS_SET_PERMS"], "/new", "n0", "r9")
    s.msg(0, T["XS_GET_PERMS"], "/old")
    s.msg(0, T["XS_SET_TARGET"], "7", "9")
    s.msg(2, T["XS_READ"], "/old")
    s.msg(2, T["XS_READ"], "/new")
    add("seed-perms-predate-domain", s)
    s = Seed()
    s.msg(0, T["XS_WRITE"], payload=strz("/a/b") + b"1")
    s.msg(0, T["XS_TRANSACTION_START"], payload=b"\0")
    s.msg(0, T["XS_DIRECTORY"], "/a", tx=1)
    s.msg(0, T["XS_GET_PERMS"], "/a", tx=1)
    s.msg(0, T["XS_READ"], "/a/b", tx=1)
    s.msg(1, T["XS_WRITE"], payload=strz("/a") + b"changed")
    s.msg(1, T["XS_WRITE"], payload=strz("/a/b") + b"1")
    s.msg(0, T["XS_WRITE"], tx=1, payload=strz("/a/c") + b"2")
    s.msg(0, T["XS_TRANSACTION_END"], "T", tx=1)
    s.msg(0, T["XS_DIRECTORY"], "/a")
    add("seed-tx-unchanged-content", s)
    s = Seed(FLAG_SMALL_QUOTAS)
    s.msg(0, T["XS_MKDIR"], "/local/domain/7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/7", "n7")
    for i in range(10):
        s.msg(2, T["XS_MKDIR"], "p/child-number-%d" % i)
    s.msg(2, T["XS_TRANSACTION_START"], payload=b"\0")
    s.msg(2, T["XS_WRITE"], tx=1, payload=strz("q") + b"x")
    s.msg(0, T["XS_CONTROL"], "quota", "set", "nodes", "1")
    s.msg(2, T["XS_TRANSACTION_END"], "T", tx=1)
    add("seed-quota-reached-before-commit", s)
    s = Seed()
    s.msg(0, T["XS_MKDIR"], "/local/domain/7")
    s.msg(0, T["XS_SET_PERMS"], "/local/domain/7", "n7")
    s.msg(2, T["XS_WATCH"], "out", "t" * 200)
    s.room(2, SEVEN)
    s.full(2)
    for i in range(30):
        s.msg(0, T["XS_WRITE"], payload=strz("/local/domain/7/out/%d" % i) + b"x")
    s.room(2, SIXTY4)
    for i in range(30):
        s.msg(0, T["XS_WRITE"], payload=strz("/local/domain/7/out/%d" % i) + b"y")
    s.backend(2, EV_TIMEOUT)
    s.room(2, HUGE)
    add("seed-guest-output-compaction", s)
    return seeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", default=os.path.join(HERE, "corpus"))
    parser.add_argument("--xs-wire", default="/usr/include/xen/io/xs_wire.h")
    args = parser.parse_args()
    types, payload_max = parse_xs_wire(args.xs_wire)
    seeds = build(types, payload_max)
    os.makedirs(args.outdir, exist_ok=True)
    for name in os.listdir(args.outdir):
        if name.startswith("seed-"):
            os.unlink(os.path.join(args.outdir, name))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(args.outdir, name), "wb") as f:
            f.write(data)
    print("%d seeds, %d bytes in %s" % (len(seeds), sum(map(len, seeds.values())),
                                        args.outdir))


if __name__ == "__main__":
    main()
