#!/usr/bin/env python3
"""A guest's view over its ring (sim platform): its operations, relative
paths, the errors an unprivileged domain gets, watches and transactions,
values larger than the ring, pipelined requests.

Expected answers follow ../shared/spec/PROTOCOL.md, checked against Xen
4.17's C xenstored where the reference can be driven over a ring."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import simguest  # noqa: E402
import xsd  # noqa: E402
from xsd import (XS_DIRECTORY, XS_READ, XS_WRITE, XS_RM, XS_MKDIR,  # noqa: E402
                 XS_GET_PERMS, XS_SET_PERMS, XS_WATCH, XS_UNWATCH,
                 XS_TRANSACTION_START, XS_TRANSACTION_END, XS_INTRODUCE,
                 XS_RELEASE, XS_RESUME, XS_IS_DOMAIN_INTRODUCED, XS_CONTROL,
                 XS_SET_TARGET, XS_GET_DOMAIN_PATH, XS_ERROR,
                 XENSTORE_SERVER_FEATURE_RECONNECTION,
                 XENSTORE_SERVER_FEATURE_ERROR, XENSTORE_ERROR_NONE)


def main(tap, daemon):
    dom0 = daemon.toolstack()
    g5 = daemon.new_guest(dom0, 5)
    g6 = daemon.new_guest(dom0, 6)

    want = XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR
    tap.ok(g5.get("server_features") & want == want,
           "the ring advertises RECONNECTION and ERROR",
           "server_features=%#x" % g5.get("server_features"))
    tap.ok(g5.get("error") == XENSTORE_ERROR_NONE, "error field is clear")

    # -- reads and writes, relative and absolute --------------------------
    tap.ok(g5.call(XS_READ, b"domid\0") == b"5", "relative READ of domid")
    tap.ok(g5.call(XS_READ, b"/local/domain/5/name\0") == b"guest5",
           "absolute READ in its home")
    tap.ok(g5.call(XS_WRITE, b"data/hello\0world") == b"OK\0",
           "relative WRITE under data/")
    tap.ok(dom0.call(XS_READ, b"/local/domain/5/data/hello\0") == b"world",
           "the toolstack sees the guest's write")
    got = g5.call(XS_GET_PERMS, b"data/hello\0")
    tap.ok(got == b"n5\0", "the guest owns what it created", got)
    tap.ok(g5.call(XS_MKDIR, b"data/dir/sub\0") == b"OK\0",
           "MKDIR creates missing parents")
    got = g5.call(XS_DIRECTORY, b"data\0")
    tap.ok(got == b"hello\0dir\0", "DIRECTORY in creation order", got)
    tap.ok(g5.call(XS_READ, b"data/missing\0") == b"E:ENOENT",
           "a missing node it could read is ENOENT")
    tap.ok(g5.call(XS_RM, b"data/dir\0") == b"OK\0", "RM of a subtree")
    tap.ok(g5.call(XS_READ, b"data/dir/sub\0") == b"E:ENOENT",
           "the subtree went")

    # -- what an unprivileged domain may not do ---------------------------
    dom0.call(XS_WRITE, b"/tool/secret\0x")
    tap.ok(g5.call(XS_READ, b"/tool/secret\0") == b"E:EACCES",
           "a dom0 node is unreadable (EACCES)")
    tap.ok(g5.call(XS_READ, b"/tool/missing\0") == b"E:EACCES",
           "a missing node under an unreadable parent is EACCES, not ENOENT")
    tap.ok(g5.call(XS_WRITE, b"name\0evil") == b"E:EACCES",
           "its home's dom0-owned entries are read-only")
    tap.ok(g5.call(XS_WRITE, b"/local/domain/5/newdir\0v") == b"E:EACCES",
           "creating under its dom0-owned home is EACCES")
    g6.call(XS_WRITE, b"data/private\0six")
    tap.ok(g5.call(XS_READ, b"/local/domain/6/data/private\0") == b"E:EACCES",
           "another guest's data is EACCES")
    tap.ok(g5.call(XS_WRITE, b"/local/domain/6/data/x\0v") == b"E:EACCES",
           "writing into another guest's data is EACCES")
    got = g5.call(XS_SET_PERMS, b"data/hello\0n6\0")
    tap.ok(got == b"E:EPERM", "giving a node away (new owner) is EPERM", got)
    tap.ok(g5.call(XS_SET_PERMS, b"data/hello\0n5\0r6\0") == b"OK\0",
           "granting read to another domain")
    tap.ok(g6.call(XS_READ, b"/local/domain/5/data/hello\0") == b"world",
           "the other domain can read it then")
    tap.ok(g6.call(XS_WRITE, b"/local/domain/5/data/hello\0x") == b"E:EACCES",
           "but not write it")
    for mtype, payload, name in (
            (XS_INTRODUCE, b"9\0" b"0\0" b"1\0", "INTRODUCE"),
            (XS_RELEASE, b"6\0", "RELEASE"),
            (XS_RESUME, b"6\0", "RESUME"),
            (XS_IS_DOMAIN_INTRODUCED, b"6\0", "IS_DOMAIN_INTRODUCED"),
            (XS_SET_TARGET, b"5\0" b"6\0", "SET_TARGET"),
            (XS_CONTROL, b"print\0hello\0", "CONTROL")):
        got = g5.call(mtype, payload)
        tap.ok(got == b"E:EACCES", "%s from a guest is EACCES" % name, got)
    tap.ok(g5.call(XS_GET_DOMAIN_PATH, b"7\0") == b"/local/domain/7\0",
           "GET_DOMAIN_PATH is open to guests")

    # -- watches ------------------------------------------------------------
    tap.ok(g5.call(XS_WATCH, b"data\0tok\0") == b"OK\0", "relative WATCH")
    tap.ok(g5.read_event() == b"data\0tok\0",
           "its first event names the relative path")
    dom0.call(XS_WRITE, b"/local/domain/5/data/w\0" b"1")
    ev = g5.read_event()
    tap.ok(ev == b"data/w\0tok\0", "a change below fires, path relative", ev)
    g5.call(XS_WRITE, b"data/own\0x")
    tap.ok(g5.events and g5.events[0] == b"data/own\0tok\0",
           "its own write's event came before the reply", g5.events)
    g5.events.clear()
    tap.ok(g5.call(XS_UNWATCH, b"data\0tok\0") == b"OK\0", "UNWATCH")
    dom0.call(XS_WRITE, b"/local/domain/5/data/w\0" b"2")
    g5.call(XS_READ, b"domid\0")
    tap.ok(g5.no_event(), "no event after UNWATCH")

    # Special watches: the first event always, the others only with read
    # permission on the special node (XSA-115's ruling).
    tap.ok(g6.call(XS_WATCH, b"@introduceDomain\0intro\0") == b"OK\0",
           "a guest may watch @introduceDomain")
    tap.ok(g6.read_event() == b"@introduceDomain\0intro\0",
           "and gets the initial event")
    g7 = daemon.new_guest(dom0, 7)
    g6.call(XS_READ, b"domid\0")
    tap.ok(g6.no_event(), "but not other domains' introductions")
    tap.ok(dom0.call(XS_SET_PERMS, b"@introduceDomain\0n0\0r6\0") == b"OK\0",
           "dom0 grants it read on @introduceDomain")
    g8 = daemon.new_guest(dom0, 8)
    ev = g6.read_event()
    tap.ok(ev == b"@introduceDomain\0intro\0",
           "then it sees introductions", ev)

    # -- transactions -------------------------------------------------------
    tx = g5.call(XS_TRANSACTION_START, b"\0")
    tap.ok(tx.endswith(b"\0") and tx[:-1].isdigit(), "TRANSACTION_START", tx)
    txid = int(tx[:-1] or 0)
    tap.ok(g5.call(XS_WRITE, b"data/tx\0inside", txid) == b"OK\0",
           "WRITE inside the transaction")
    tap.ok(dom0.call(XS_READ, b"/local/domain/5/data/tx\0") == b"E:ENOENT",
           "invisible outside before commit")
    tap.ok(g5.call(XS_TRANSACTION_END, b"T\0", txid) == b"OK\0", "commit")
    tap.ok(dom0.call(XS_READ, b"/local/domain/5/data/tx\0") == b"inside",
           "visible after commit")

    # -- values larger than the ring (1 KiB) --------------------------------
    big = bytes(ord("a") + i % 26 for i in range(2000))
    tap.ok(g5.call(XS_WRITE, b"data/big\0" + big) == b"OK\0",
           "a 2000-byte WRITE crosses the request ring in pieces")
    tap.ok(g5.call(XS_READ, b"data/big\0") == big,
           "and its READ reply crosses the reply ring")
    tap.ok(g5.call(XS_WRITE, b"data/bigger\0" + b"x" * 3000) == b"E:ENOSPC",
           "3000 bytes is over the guest node-size quota (ENOSPC)")
    huge = bytes(ord("A") + i % 26 for i in range(4000))
    dom0.call(XS_WRITE, b"/local/domain/5/data/huge\0" + huge)
    tap.ok(g5.call(XS_READ, b"data/huge\0") == huge,
           "a 4000-byte reply written by dom0 reaches the guest whole")

    # -- pipelining ---------------------------------------------------------
    for i in range(12):
        g5.send_raw(g5.pack(XS_WRITE, b"data/p%d\0%d" % (i, i), 100 + i))
    replies = [g5.read_reply() for _ in range(12)]
    tap.ok([r.req_id for r in replies] == list(range(100, 112)) and
           all(r.payload == b"OK\0" for r in replies),
           "12 pipelined requests answered in order",
           [(r.req_id, r.payload) for r in replies])
    tap.ok(dom0.call(XS_READ, b"/local/domain/5/data/p11\0") == b"11",
           "and applied")

    for g in (g5, g6, g7, g8):
        g.close()
    dom0.close()


if __name__ == "__main__":
    sys.exit(simguest.run_sim_tests(main))
