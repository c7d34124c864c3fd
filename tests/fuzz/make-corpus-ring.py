#!/usr/bin/env python3
"""Write the seed inputs of tests/fuzz/corpus-ring/ for fuzz_ring.

Seeds are programs in fuzz_ring's input format (README.md): a flags byte
(1: small quotas), then operations, each one byte (bits 0-3 what, bits
4-7 an argument) with its arguments.  Message types come from xs_wire.h,
through make-corpus.py's parser.  Files named seed-* are rewritten.

Usage: make-corpus-ring.py [OUTDIR] [--xs-wire PATH]
"""
import argparse
import importlib.util
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "make_corpus", os.path.join(HERE, "make-corpus.py"))
make_corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_corpus)

(OP_MSG, OP_RAW, OP_PUSH, OP_SIGNAL, OP_POKE_INDEX, OP_POKE_PAGE, OP_READ,
 OP_RUN, OP_ARM, OP_RECONNECT, OP_INTRODUCE, OP_RELEASE, OP_STATE,
 OP_TICK, OP_GOOD, OP_DOM0) = range(16)
REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD = range(4)
SET, ADD, APART, BEHIND = range(4)
RING = 1024
# Offsets in struct xenstore_domain_interface.
OFF_CONNECTION = 2 * RING + 4 * 5
OFF_ERROR = 2 * RING + 4 * 6
OFF_FEATURES = 2 * RING + 4 * 4


def op(kind, arg=0):
    return bytes([kind | (arg << 4)])


class Seeds:
    def __init__(self, types):
        self.t = types
        self.seeds = {}

    def msg(self, name, *args, raw_last=False):
        payload = b""
        for i, a in enumerate(args):
            a = a.encode() if isinstance(a, str) else a
            payload += a if raw_last and i == len(args) - 1 else a + b"\0"
        assert len(payload) < 256
        return (op(OP_MSG) + bytes([self.t["XS_" + name], len(payload)]) +
                payload)

    def send(self, name, *args, raw_last=False, turns=3):
        return (self.msg(name, *args, raw_last=raw_last) + op(OP_PUSH) +
                op(OP_SIGNAL) + op(OP_RUN, turns - 1) + op(OP_READ, 8))

    def add(self, name, flags, *parts):
        self.seeds["seed-" + name] = bytes([flags]) + b"".join(parts)


def poke(index, how, value=b""):
    return op(OP_POKE_INDEX, index | how << 2) + value


def build(types):
    s = Seeds(types)
    home = "/local/domain/1"
    s.add("requests", 0,
          s.send("WRITE", home + "/a", "1", raw_last=True),
          s.send("READ", home + "/a"),
          s.send("DIRECTORY", home),
          s.send("WATCH", home, "tok"),
          s.send("WRITE", home + "/a/b", "22", raw_last=True),
          op(OP_GOOD), op(OP_DOM0))
    s.add("transactions", 0,
          s.send("TRANSACTION_START", ""),
          s.send("WRITE", home + "/t", "x", raw_last=True),
          s.send("TRANSACTION_END", "T"), op(OP_GOOD))
    s.add("never-read", 1,
          *[s.msg("WRITE", home + "/n%d" % i, "v" * 40, raw_last=True) +
            op(OP_PUSH) + op(OP_SIGNAL) + op(OP_RUN, 2)
            for i in range(12)],
          op(OP_GOOD), op(OP_READ, 0), op(OP_SIGNAL), op(OP_RUN, 3),
          op(OP_GOOD))
    s.add("watch-storm", 1,
          s.send("WATCH", home, "a"), s.send("WATCH", home + "/x", "b"),
          *[s.msg("WRITE", home + "/x", "%d" % i, raw_last=True) +
            op(OP_PUSH) + op(OP_SIGNAL) + op(OP_RUN, 1)
            for i in range(10)],
          op(OP_GOOD), op(OP_TICK, 15), op(OP_TICK, 15), op(OP_GOOD))
    big = struct.pack("<IIII", types["XS_WRITE"], 9, 0, 5000)
    s.add("oversized-header", 0,
          op(OP_RAW) + bytes([len(big)]) + big, op(OP_PUSH), op(OP_SIGNAL),
          op(OP_RUN, 2), op(OP_GOOD), op(OP_INTRODUCE, 0), op(OP_RUN, 2),
          s.send("READ", home), op(OP_GOOD))
    s.add("garbage-bytes", 0,
          op(OP_RAW) + bytes([200]) + bytes(range(200)), op(OP_PUSH),
          op(OP_SIGNAL), op(OP_RUN, 3), op(OP_GOOD))
    s.add("req-prod-far-ahead", 0,
          s.send("READ", home),
          poke(REQ_PROD, APART, b"\1"), op(OP_SIGNAL), op(OP_RUN, 2),
          op(OP_GOOD), op(OP_DOM0), op(OP_INTRODUCE, 3), op(OP_RUN, 2),
          s.send("READ", home), op(OP_GOOD))
    s.add("req-prod-exactly-a-ring", 0,
          poke(REQ_PROD, APART, b"\0"), op(OP_SIGNAL), op(OP_RUN, 3),
          op(OP_GOOD))
    s.add("req-cons-behind", 0,
          s.msg("READ", home), op(OP_PUSH),
          poke(REQ_CONS, BEHIND, b"\3"), op(OP_SIGNAL), op(OP_RUN, 2),
          op(OP_GOOD))
    s.add("rsp-cons-ahead", 0,
          poke(RSP_CONS, SET, struct.pack("<I", 0x80000000)),
          s.send("READ", home), op(OP_GOOD))
    s.add("rsp-prod-moved", 0,
          s.msg("DIRECTORY", "/"), op(OP_PUSH),
          poke(RSP_PROD, ADD, b"\x7f"), op(OP_SIGNAL), op(OP_RUN, 2),
          op(OP_GOOD))
    s.add("wraparound", 0,
          poke(REQ_CONS, SET, struct.pack("<I", 0xfffffff0)),
          poke(REQ_PROD, SET, struct.pack("<I", 0xfffffff0)),
          poke(RSP_CONS, SET, struct.pack("<I", 0xfffffff8)),
          poke(RSP_PROD, SET, struct.pack("<I", 0xfffffff8)),
          s.send("WRITE", home + "/w", "wrap", raw_last=True),
          s.send("READ", home + "/w"), op(OP_GOOD))
    s.add("armed-during-work", 0,
          s.msg("READ", home), op(OP_PUSH),
          op(OP_ARM, 1) + bytes([REQ_PROD]) + struct.pack("<I", 0x4000),
          op(OP_SIGNAL), op(OP_RUN, 3),
          op(OP_ARM, 2) + bytes([RSP_CONS]) + struct.pack("<I", 7),
          s.send("READ", home), op(OP_GOOD))
    s.add("reconnect", 0,
          s.send("WATCH", home, "w"), s.msg("READ", home), op(OP_PUSH),
          op(OP_RECONNECT), op(OP_RUN, 2), s.send("READ", home),
          op(OP_GOOD))
    s.add("scribble-fields", 0,
          op(OP_POKE_PAGE) + struct.pack("<HB", OFF_FEATURES, 12) +
          struct.pack("<III", 0, 0xffffffff, 5),
          s.send("READ", home), op(OP_GOOD),
          op(OP_POKE_PAGE) + struct.pack("<HB", OFF_ERROR, 4) +
          struct.pack("<I", 1), s.send("READ", home), op(OP_GOOD))
    s.add("lifecycle", 0,
          s.send("WATCH", "@releaseDomain", "r"),
          op(OP_STATE, 1), op(OP_RUN, 2), op(OP_GOOD),
          op(OP_STATE, 2), op(OP_RUN, 2), op(OP_INTRODUCE, 4),
          op(OP_STATE, 0), op(OP_RUN, 1), op(OP_INTRODUCE, 4),
          op(OP_RUN, 2), s.send("READ", home), op(OP_RELEASE),
          op(OP_RUN, 2), op(OP_GOOD), op(OP_DOM0))
    return s.seeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outdir", nargs="?",
                        default=os.path.join(HERE, "corpus-ring"))
    parser.add_argument("--xs-wire", default="/usr/include/xen/io/xs_wire.h")
    args = parser.parse_args()
    types, _ = make_corpus.parse_xs_wire(args.xs_wire)
    os.makedirs(args.outdir, exist_ok=True)
    for name in os.listdir(args.outdir):
        if name.startswith("seed-"):
            os.unlink(os.path.join(args.outdir, name))
    for name, data in sorted(build(types).items()):
        with open(os.path.join(args.outdir, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(build(types)), args.outdir))


if __name__ == "__main__":
    main()
