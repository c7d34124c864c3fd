#!/usr/bin/env python3
"""Guest quotas one by one, each small enough to reach from a test, with
the error PROTOCOL.md gives for it: nodes (-E), node size (-S), watches
(-W), transactions (-t), permissions per node (-A), path length (-M),
nodes per transaction (-Q transaction-nodes), memory (-Q memory: the
daemon stops reading the domain) and outstanding requests (-Q
outstanding: likewise until replies are taken).  Privileged callers are
not limited."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import simguest  # noqa: E402
from xsd import (XS_READ, XS_WRITE, XS_RM, XS_MKDIR, XS_SET_PERMS,  # noqa: E402
                 XS_WATCH, XS_TRANSACTION_START, XS_TRANSACTION_END,
                 XS_GET_DOMAIN_PATH)

NODES, NODE_SIZE, WATCHES, TRANSACTIONS, PERMS, PATH_MAX = 5, 300, 3, 2, 3, 40
ARGS = ["-E", str(NODES), "-S", str(NODE_SIZE), "-W", str(WATCHES),
        "-t", str(TRANSACTIONS), "-A", str(PERMS), "-M", str(PATH_MAX)]


def writes_until_refused(guest, limit):
    """WRITE new nodes until one is refused: (successes, the refusal)."""
    for i in range(limit):
        got = guest.call(XS_WRITE, b"data/n%d\0v" % i)
        if got != b"OK\0":
            return i, got
    return limit, None


def test_simple_quotas(tap, daemon, dom0):
    g = daemon.new_guest(dom0, 20)
    # data/ is the guest's already: NODES - 1 more fit.
    done, refusal = writes_until_refused(g, NODES + 5)
    tap.ok(done == NODES - 1 and refusal == b"E:ENOSPC",
           "nodes per domain (-E %d): ENOSPC once it owns %d" % (NODES, NODES),
           (done, refusal))
    tap.ok(g.call(XS_WRITE, b"data/n0\0new value") == b"OK\0",
           "rewriting a node it owns is still allowed at the limit")
    tap.ok(g.call(XS_RM, b"data/n0\0") == b"OK\0" and
           g.call(XS_WRITE, b"data/again\0v") == b"OK\0",
           "removing a node frees its place")
    tap.ok(dom0.call(XS_WRITE, b"/local/domain/20/data/by-dom0\0v") == b"OK\0",
           "dom0 is not held to the guest's quota")

    g = daemon.new_guest(dom0, 21)
    tap.ok(g.call(XS_WRITE, b"data/small\0" + b"x" * 100) == b"OK\0",
           "a node well under the size limit")
    tap.ok(g.call(XS_WRITE, b"data/large\0" + b"x" * 400) == b"E:ENOSPC",
           "node size (-S %d): ENOSPC" % NODE_SIZE)
    tap.ok(dom0.call(XS_WRITE, b"/local/domain/21/data/x\0" + b"x" * 400) ==
           b"OK\0", "dom0 may write a larger node")

    g = daemon.new_guest(dom0, 22)
    got = [g.call(XS_WATCH, b"data\0t%d\0" % i) for i in range(WATCHES + 1)]
    tap.ok(got[:WATCHES] == [b"OK\0"] * WATCHES and got[WATCHES] == b"E:E2BIG",
           "watches (-W %d): E2BIG" % WATCHES, got)

    g = daemon.new_guest(dom0, 23)
    got = [g.call(XS_TRANSACTION_START, b"\0")
           for _ in range(TRANSACTIONS + 1)]
    tap.ok(all(t[:-1].isdigit() for t in got[:TRANSACTIONS]) and
           got[TRANSACTIONS] == b"E:ENOSPC",
           "transactions (-t %d): ENOSPC" % TRANSACTIONS, got)
    g.call(XS_TRANSACTION_END, b"F\0", int(got[0][:-1]))
    tap.ok(g.call(XS_TRANSACTION_START, b"\0")[:-1].isdigit(),
           "ending one makes room for another")

    g = daemon.new_guest(dom0, 24)
    g.call(XS_WRITE, b"data/p\0v")
    entries = b"".join(b"r%d\0" % d for d in range(30, 30 + PERMS - 1))
    tap.ok(g.call(XS_SET_PERMS, b"data/p\0n24\0" + entries) == b"OK\0",
           "%d permission entries" % PERMS)
    tap.ok(g.call(XS_SET_PERMS, b"data/p\0n24\0" + entries + b"r99\0") ==
           b"E:ENOSPC", "permissions per node (-A %d): ENOSPC" % PERMS)

    g = daemon.new_guest(dom0, 25)
    short = b"data/" + b"s" * 20
    long_ = b"data/" + b"l" * (PATH_MAX * 2)
    tap.ok(g.call(XS_WRITE, short + b"\0v") == b"OK\0",
           "a path under the length limit")
    tap.ok(g.call(XS_WRITE, long_ + b"\0v") == b"E:EINVAL",
           "path length (-M %d): EINVAL" % PATH_MAX)
    tap.ok(g.call(XS_WRITE, b"/local/domain/25/" + long_ + b"\0v") ==
           b"E:EINVAL", "counted after /local/domain/N/ for absolute paths")


def test_transaction_nodes(tap):
    daemon = simguest.SimDaemon(["-Q", "transaction-nodes=4"])
    try:
        dom0 = daemon.toolstack()
        g = daemon.new_guest(dom0, 30)
        tx = int(g.call(XS_TRANSACTION_START, b"\0")[:-1])
        got = [g.call(XS_WRITE, b"data/t%d\0v" % i, tx) for i in range(8)]
        tap.ok(b"E:ENOSPC" in got, "nodes per transaction "
               "(-Q transaction-nodes=4): ENOSPC inside it", got)
        end = g.call(XS_TRANSACTION_END, b"T\0", tx)
        tap.ok(end.startswith(b"E:"), "and the transaction cannot commit",
               end)
        tap.ok(dom0.call(XS_READ, b"/local/domain/30/data/t0\0") ==
               b"E:ENOENT", "nothing of it was applied")
        dom0.close()
        g.close()
    finally:
        clean, why = daemon.stop()
        tap.ok(clean, "second daemon exits cleanly", why)


def test_memory(tap):
    daemon = simguest.SimDaemon(["-Q", "memory=16384"])
    try:
        dom0 = daemon.toolstack()
        g = daemon.new_guest(dom0, 31)
        other = daemon.new_guest(dom0, 32)
        value = b"m" * 500
        stopped = None
        for i in range(200):     # 100 KB: far past 16 KiB
            g.send_raw(g.pack(XS_WRITE, b"data/m%d\0" % i + value, 1000 + i))
            try:
                reply = g.read_reply(timeout=1.0)
            except TimeoutError:
                stopped = i
                break
            if reply.payload != b"OK\0":
                stopped = ("error", reply)
                break
        tap.ok(isinstance(stopped, int) and stopped > 0,
               "memory (-Q memory=16384): the daemon stops reading a "
               "guest over it", stopped)
        tap.ok(other.call(XS_GET_DOMAIN_PATH, b"32\0") ==
               b"/local/domain/32\0", "another guest is still served")
        # Free the guest's memory from dom0.  A Linux guest waiting for its
        # reply does not signal again: the daemon must notice by itself.
        for i in range(stopped if isinstance(stopped, int) else 0):
            dom0.call(XS_RM, b"/local/domain/31/data/m%d\0" % i)
        want = 1000 + (stopped if isinstance(stopped, int) else 0)
        try:
            reply = g.read_reply(timeout=3.0)
        except TimeoutError:
            reply = None
        tap.ok(reply is not None and reply.payload == b"OK\0" and
               reply.req_id == want, "under the quota again, its waiting "
               "request is answered without a new signal", reply)
        if reply is None:
            g.notify()
            try:
                reply = g.read_reply(timeout=5.0)
            except TimeoutError:
                reply = None
            tap.ok(reply is not None and reply.payload == b"OK\0" and
                   reply.req_id == want, "(it is after a new signal)", reply)
        dom0.close()
        g.close()
        other.close()
    finally:
        clean, why = daemon.stop()
        tap.ok(clean, "third daemon exits cleanly", why)


def test_transaction_memory(tap):
    """A guest's open transactions are bounded by its memory quota too:
    past it a request in a transaction gets ENOSPC (the transaction then
    cannot commit), and the guest is still read, so that it can end its
    transactions and go on."""
    daemon = simguest.SimDaemon(["-Q", "memory=16384"])
    try:
        dom0 = daemon.toolstack()
        g = daemon.new_guest(dom0, 34)
        tx = int(g.call(XS_TRANSACTION_START, b"\0")[:-1])
        got = []
        for i in range(100):     # 50 KB of values: far past 16 KiB
            try:
                reply = g.request(XS_WRITE, b"data/t%d\0" % i + b"t" * 500,
                                  tx)
            except TimeoutError:
                got.append("no reply")
                break
            got.append(reply.payload)
            if reply.payload != b"OK\0":
                break
        tap.ok(got[-1] == b"ENOSPC\0" and len(got) > 1,
               "memory (-Q memory=16384): a transaction holding more gets "
               "ENOSPC", "%d requests, last %r" % (len(got), got[-1]))
        try:
            end = g.call(XS_TRANSACTION_END, b"T\0", tx)
        except TimeoutError:
            end = b"no reply"
        tap.ok(end.startswith(b"E:"), "and cannot commit", end)
        try:
            after = g.call(XS_WRITE, b"data/after\0v")
        except TimeoutError:
            after = b"no reply"
        tap.ok(after == b"OK\0", "the guest goes on once it has ended it",
               after)
        tap.ok(dom0.call(XS_READ, b"/local/domain/34/data/t0\0") ==
               b"E:ENOENT", "nothing of the transaction was applied")
        dom0.close()
        g.close()
    finally:
        clean, why = daemon.stop()
        tap.ok(clean, "fifth daemon exits cleanly", why)


def test_outstanding(tap):
    daemon = simguest.SimDaemon(["-Q", "outstanding=4"])
    try:
        dom0 = daemon.toolstack()
        g = daemon.new_guest(dom0, 33)
        dom0.call(XS_WRITE, b"/local/domain/33/data/big\0" + b"b" * 900)
        dom0.call(XS_SET_PERMS, b"/local/domain/33/data/big\0n33\0")
        # Requests whose replies fill the reply ring, never taken: the
        # daemon queues 4 replies, then stops reading; what it had read
        # ahead is bounded, so the request ring ends up full.
        sent = 0
        stalled_since = time.monotonic()
        while sent < 20000 and time.monotonic() - stalled_since < 1.0:
            request = g.pack(XS_READ, b"data/big\0", (2000 + sent) & 0xffff)
            if g.ring_room() < len(request):
                time.sleep(0.01)
                continue
            g.ring_write(request)
            sent += 1
            stalled_since = time.monotonic()
        unread = (g.get("req_prod") - g.get("req_cons")) & 0xffffffff
        tap.ok(sent < 20000 and unread > 0,
               "outstanding (-Q outstanding=4): the daemon stops reading a "
               "guest that does not take its replies",
               "%d requests sent, %d bytes unread" % (sent, unread))
        got = []
        try:
            for _ in range(sent):
                got.append(g.read_reply(timeout=5.0))
        except TimeoutError:
            pass
        tap.ok([r.req_id for r in got] ==
               [(2000 + i) & 0xffff for i in range(sent)] and
               all(r.payload == b"b" * 900 for r in got),
               "taking the replies lets every request through, in order",
               "%d of %d replies" % (len(got), sent))

        # Small replies: the daemon reads many requests at once, answers 4,
        # and the replies fit the ring, so Linux's xenbus would not signal
        # when it takes them.  The rest must be answered anyway.
        dom0.call(XS_WRITE, b"/local/domain/33/data/small\0s")
        batch = b"".join(g.pack(XS_READ, b"data/small\0", 3000 + i)
                         for i in range(25))
        g.send_raw(batch)
        got = []
        try:
            for _ in range(25):
                got.append(g.read_reply(timeout=5.0))
        except TimeoutError:
            pass
        tap.ok(len(got) == 25 and all(r.payload == b"s" for r in got),
               "25 pipelined requests with small replies all answered",
               "%d of 25 replies" % len(got))
        dom0.close()
        g.close()
    finally:
        clean, why = daemon.stop()
        tap.ok(clean, "fourth daemon exits cleanly", why)


def main(tap, daemon):
    dom0 = daemon.toolstack()
    test_simple_quotas(tap, daemon, dom0)
    test_transaction_nodes(tap)
    test_memory(tap)
    test_transaction_memory(tap)
    test_outstanding(tap)


if __name__ == "__main__":
    sys.exit(simguest.run_sim_tests(main, ARGS))
