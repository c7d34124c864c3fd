#!/usr/bin/env python3
"""Write the seed inputs of tests/fuzz/corpus-sessions/ for fuzz_sessions.

Seeds are programs in fuzz_sessions' input format (README.md): a flags
byte (1: small quotas, 2: --priv-domid 4), then operations: one byte (bits
0-2 the connection: 0, 1 dom0, 2-5 guests 1-4; bits 3-7 what), then its
arguments.  A path selector picks a base (bits 4-6: own home, another
guest's home, /shared, relative, /, /tool, /local/domain, special) and a
suffix (bits 0-3).  Files named seed-* are rewritten.

Usage: make-corpus-sessions.py [OUTDIR]
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

(READ, WRITE, MKDIR, RM, DIRECTORY, GET_PERMS, SET_PERMS, WATCH, UNWATCH,
 TX_START, TX_COMMIT, TX_ABORT, CLOSE, RELEASE, INTRODUCE, STATE, TICK,
 RESET_WATCHES, GET_DOMAIN_PATH, IS_INTRODUCED, SET_TARGET, DIRECTORY_PART,
 CHECK, RESUME) = range(24)
OWN, OTHER, SHARED, RELATIVE, ROOT, TOOL, DOMAINS, SPECIAL = range(8)
SUFFIX = {"": 0, "a": 1, "b": 2, "a/c": 3, "a/c/d": 4, "b/e": 5, "a/b": 6,
          "c": 7, "a/c/d/e": 8, "x": 9, "a/": 10, "a//b": 11, "../a": 12,
          "a b": 13, "data": 14, "b/e/f/g": 15}
NO_TX, BOGUS = 0, 0xff


def p(base, suffix=""):
    return (base << 4) | SUFFIX[suffix]


def op(slot, kind, *args):
    return bytes([slot | kind << 3] + list(args))


def req(slot, kind, path, tx=NO_TX, extra=b""):
    return op(slot, kind, tx, path) + extra


def write(slot, path, value, tx=NO_TX):
    value = value.encode()
    return req(slot, WRITE, path, tx, bytes([len(value)]) + value)


def watch(slot, path, token=0, kind=WATCH):
    return req(slot, kind, path, NO_TX, bytes([token]))


def seeds():
    s = {}
    # Guests write their homes and /shared; dom0 watches everything.
    s["watches"] = bytes([0]) + b"".join([
        watch(0, p(ROOT)), watch(1, p(SHARED), 1), watch(2, p(OWN), 2),
        watch(3, p(RELATIVE, "a"), 0), watch(2, p(SPECIAL), 1),
        write(2, p(OWN, "a"), "1"), write(3, p(RELATIVE, "a/c"), "2"),
        write(4, p(SHARED, "a"), "3"), write(5, p(OTHER, "a"), "nope"),
        req(2, RM, p(OWN, "a")), req(4, RM, p(SHARED)),
        watch(0, p(ROOT), 0, UNWATCH), write(2, p(OWN, "b"), "4"),
        op(3, RESET_WATCHES), write(3, p(OWN, "x"), "5"),
    ])
    # Transactions from guests and dom0, interleaved and conflicting.
    s["transactions"] = bytes([0]) + b"".join([
        op(2, TX_START, 0), op(3, TX_START, 0), op(0, TX_START, 0),
        write(2, p(SHARED, "c"), "a", 1), write(3, p(SHARED, "c"), "b", 1),
        req(2, READ, p(SHARED, "c"), 1), req(3, READ, p(SHARED, "c"), 1),
        write(0, p(OWN, "data"), "x", 1), req(0, READ, p(OWN, "data"), 1),
        op(2, TX_COMMIT, 1), op(3, TX_COMMIT, 1), op(0, TX_ABORT, 1),
        req(4, READ, p(SHARED, "c")), op(4, TX_COMMIT, BOGUS),
        req(5, WRITE, p(OWN, "a"), BOGUS, b"\1z"),
    ])
    s["tx-rm-and-mkdir"] = bytes([0]) + b"".join([
        write(2, p(OWN, "a/c/d"), "deep"), op(2, TX_START, 0),
        req(2, RM, p(OWN, "a"), 1), req(2, READ, p(OWN, "a/c/d"), 1),
        req(2, MKDIR, p(OWN, "a/c"), 1), req(2, DIRECTORY, p(OWN, "a"), 1),
        write(2, p(OWN, "a/c/d"), "again", 1),
        req(2, READ, p(OWN, "a/c/d"), 1), op(2, TX_COMMIT, 1),
        req(2, DIRECTORY_PART, p(OWN), NO_TX, b"\0"),
    ])
    # Quotas: transactions, watches, nodes, node size.
    s["quotas"] = bytes([1]) + b"".join(
        [op(2, TX_START, 0) for _ in range(4)] +
        [watch(3, p(OWN, k), 0) for k in ("a", "b", "c", "x", "data")] +
        [write(4, p(OWN, k), "v" * 60) for k in SUFFIX] +
        [write(5, p(OWN, "a"), "w" * 200), op(2, TX_COMMIT, 1),
         op(2, TX_ABORT, 1), op(0, CHECK)])
    # Permissions between guests.
    s["permissions"] = bytes([0]) + b"".join([
        write(2, p(OWN, "a"), "mine"),
        req(2, SET_PERMS, p(OWN, "a"), NO_TX, b"\3"),
        req(3, READ, p(OTHER, "a")), write(3, p(OTHER, "a"), "w1"),
        req(2, SET_PERMS, p(OWN, "a"), NO_TX, b"\6"),
        req(2, GET_PERMS, p(OWN, "a")), req(0, SET_PERMS, p(SHARED),
                                           NO_TX, b"\2"),
        write(3, p(SHARED, "b"), "ro now"),
        op(0, SET_TARGET, 0x11), write(2, p(OTHER, "c"), "target"),
    ])
    # Domains come and go with watches and transactions open.
    s["lifecycle"] = bytes([0]) + b"".join([
        watch(0, p(SPECIAL, ""), 0), watch(1, p(SPECIAL, "a"), 1),
        watch(2, p(OWN), 0), op(2, TX_START, 0),
        write(2, p(OWN, "a"), "1", 1),
        op(0, STATE, 0x81), op(0, STATE, 0x01), op(2, WRITE, 0, 0),
        op(0, INTRODUCE, 0x11), op(0, RELEASE, 0x01),
        op(2, CLOSE), op(0, INTRODUCE, 0x11), op(0, STATE, 0x41),
        op(0, INTRODUCE, 0x11), write(2, p(OWN, "b"), "back"),
        op(3, CLOSE), op(3, CLOSE), op(0, CLOSE), op(0, CLOSE),
        op(0, GET_DOMAIN_PATH, 3), op(0, IS_INTRODUCED, 2),
        op(0, RESUME, 3), op(0, TICK, 25), op(1, CHECK),
    ])
    # Events left unread by a guest until they expire.
    s["unread-events"] = bytes([1]) + b"".join(
        [watch(2, p(SHARED), 0)] +
        [write(3, p(SHARED, "a"), str(i) * 50) for i in range(10)] +
        [op(0, TICK, 21), op(0, TICK, 21), write(2, p(OWN, "a"), "x")])
    s["bad-paths"] = bytes([2]) + b"".join(
        [req(2 + i % 4, k, (b << 4) | sfx)
         for i, (k, b, sfx) in enumerate(
             [(READ, 3, 0), (WRITE, 0, 10), (MKDIR, 0, 11), (RM, 0, 12),
              (DIRECTORY, 3, 13), (WATCH, 0, 0x0e), (RM, 4, 0),
              (RM, 6, 0), (READ, 0, 0x8e), (WRITE, 2, 0x8e)])] +
        [write(5, p(OTHER, "a"), "priv"), op(5, INTRODUCE, 0x21)])
    return s


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "corpus-sessions")
    os.makedirs(outdir, exist_ok=True)
    for name in os.listdir(outdir):
        if name.startswith("seed-"):
            os.unlink(os.path.join(outdir, name))
    made = seeds()
    for name, data in sorted(made.items()):
        with open(os.path.join(outdir, "seed-" + name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(made), outdir))


if __name__ == "__main__":
    main()
