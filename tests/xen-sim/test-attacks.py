#!/usr/bin/env python3
"""Isolation under attack, small: beside three well-behaved guests doing
what a libxl guest does (a transaction on its home, writes, reads back,
directory listings), one unprivileged guest at a time

  1. floods writes up to its node and node-size quotas, then rewrites,
  2. sends requests and never takes the replies,
  3. registers the most watches it may and writes under them in a loop
     (watch storm), then stops reading,
  4. builds the deepest and the widest tree its quotas allow,
  5. opens the most transactions it may and never closes them,
  6. sends malformed requests, an oversized header, corrupted indices.

Each time: the daemon keeps answering, the others are served correctly
between the attacker's moves, and the attacker meets the fate the C
xenstored gives it (PROTOCOL.md's quota table: ENOSPC for nodes, node size
and transactions, E2BIG for watches, EINVAL for a path past path-max and
for malformed requests; not read while over its outstanding or memory
quota; its ring marked ERROR for an oversized header or corrupted
indices, the domain kept).  reference-fates.py shows the same fates from
Xen 4.17's C daemon over a real ring page, except that C lets one watch
and one transaction more through than its quotas say.  bench/attack-bench
measures the same attacks with 100 guests: latency and the daemon's
memory."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import simguest  # noqa: E402
from xsd import (XS_READ, XS_WRITE, XS_RM, XS_DIRECTORY, XS_WATCH,  # noqa: E402
                 XS_TRANSACTION_START, XS_TRANSACTION_END, XS_ERROR,
                 XS_IS_DOMAIN_INTRODUCED, XS_WATCH_EVENT,
                 XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX,
                 XENSTORE_PAYLOAD_MAX)

NODES, NODE_SIZE, WATCHES, TRANSACTIONS, PATH_MAX = 40, 512, 8, 3, 60
OUTSTANDING, MEMORY = 4, 65536
ARGS = ["-E", str(NODES), "-S", str(NODE_SIZE), "-W", str(WATCHES),
        "-t", str(TRANSACTIONS), "-M", str(PATH_MAX),
        "-Q", "outstanding=%d" % OUTSTANDING, "-Q", "memory=%d" % MEMORY]
GOOD = (10, 11, 12)


def wait_for(cond, limit=10.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


class Workload:
    """The well-behaved guests: each round is what a libxl guest does."""

    def __init__(self, daemon, dom0):
        self.guests = [daemon.new_guest(dom0, d) for d in GOOD]
        self.rounds = 0
        self.failures = []

    def round(self):
        self.rounds += 1
        n = self.rounds
        for g in self.guests:
            try:
                tx = g.call(XS_TRANSACTION_START, b"\0")
                tid = int(tx[:-1])
                g.call(XS_WRITE, b"data/state\0%d" % n, tid)
                g.call(XS_WRITE, b"data/feature-%d\0%d" % (n % 4, n), tid)
                end = g.call(XS_TRANSACTION_END, b"T\0", tid)
                got = g.call(XS_READ, b"data/state\0")
                listing = g.call(XS_DIRECTORY, b"data\0")
                if (end != b"OK\0" or got != b"%d" % n or
                        b"state\0" not in listing):
                    self.failures.append((g.domid, n, end, got, listing))
            except (TimeoutError, ValueError, OSError) as exc:
                self.failures.append((g.domid, n, repr(exc)))
        return not self.failures

    def check(self, tap, what):
        ok = self.round() and not self.failures
        tap.ok(ok, "the other guests are served (%s)" % what,
               self.failures[:3])
        self.failures = []
        return ok

    def close(self):
        for g in self.guests:
            g.close()


def released(watcher, limit=10.0):
    """Read the watcher's events until @releaseDomain fires."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if watcher.read_event() == b"@releaseDomain\0release\0":
                return True
        except TimeoutError:
            return False
    return False


def attack_flood(tap, daemon, dom0, work):
    g = daemon.new_guest(dom0, 20)
    value = b"x" * 400
    refusal, done = None, 0
    for i in range(NODES + 10):
        got = g.call(XS_WRITE, b"data/n%d\0" % i + value)
        if got != b"OK\0":
            refusal = got
            break
        done += 1
        if i % 10 == 0:
            work.round()
    tap.ok(refusal == b"E:ENOSPC" and done == NODES - 1,
           "write flood: ENOSPC at the node quota (-E %d)" % NODES,
           (done, refusal))
    tap.ok(g.call(XS_WRITE, b"data/n0\0" + b"y" * (NODE_SIZE + 1)) ==
           b"E:ENOSPC", "a value past the node size: ENOSPC (-S %d)"
           % NODE_SIZE)
    work.check(tap, "during the write flood")
    for i in range(200):
        g.call(XS_WRITE, b"data/n%d\0" % (i % done) + value)
        if i % 50 == 0:
            work.round()
    work.check(tap, "while it rewrites its nodes at full size")
    tap.ok(g.call(XS_READ, b"data/n1\0") == value,
           "the attacker is still served: errored, not cut off")
    g.close()
    daemon.sim.destroy(20)


def attack_never_reads(tap, daemon, dom0, work):
    g = daemon.new_guest(dom0, 21)
    dom0.call(XS_WRITE, b"/local/domain/21/data/big\0" + b"b" * 300)
    dom0.call(XS_WRITE, b"/local/domain/21/data/small\0s")
    sent, idle_since = 0, time.monotonic()
    while sent < 5000 and time.monotonic() - idle_since < 0.5:
        req = g.pack(XS_READ, b"data/big\0", 100 + sent)
        if g.ring_room() < len(req):
            time.sleep(0.01)
            continue
        g.ring_write(req)
        sent += 1
        idle_since = time.monotonic()
    unread = (g.get("req_prod") - g.get("req_cons")) & 0xffffffff
    tap.ok(sent < 5000 and unread > 0, "never reading replies: held (not "
           "read past %d outstanding replies)" % OUTSTANDING,
           "%d sent, %d bytes unread" % (sent, unread))
    work.check(tap, "while it is held")
    got = []
    try:
        for _ in range(sent):
            got.append(g.read_reply(timeout=5.0))
    except TimeoutError:
        pass
    tap.ok([r.req_id for r in got] == [(100 + i) & 0xffff
                                        for i in range(sent)],
           "once it takes its replies, every request is answered in order",
           "%d of %d" % (len(got), sent))
    g.close()
    daemon.sim.destroy(21)


def attack_watch_storm(tap, daemon, dom0, work):
    g = daemon.new_guest(dom0, 22)
    paths = [b"data", b"data/a", b"data/a/b", b"/", b"/local",
             b"/local/domain", b"/local/domain/10", b"data/a/b/c"]
    got = [g.call(XS_WATCH, p + b"\0w%d\0" % i) for i, p in
           enumerate(paths + [b"data/extra"])]
    tap.ok(got[:WATCHES] == [b"OK\0"] * WATCHES and
           got[WATCHES] == b"E:E2BIG",
           "watch storm: E2BIG past the watch quota (-W %d)" % WATCHES, got)
    # Each watch fires once when set, whatever the permissions (as C).
    g.events = []
    writes = 0
    for i in range(300):
        if g.call(XS_WRITE, b"data/a/b/c\0%d" % i) == b"OK\0":
            writes += 1
        if i % 60 == 0:
            work.round()
    work.check(tap, "during the watch storm")
    foreign = [e for e in g.events if e.startswith(b"/local/domain/1")]
    tap.ok(writes == 300 and not foreign, "the storm's writes answered, and "
           "the attacker got no event of the others' nodes (permissions)",
           (writes, foreign[:3]))
    g.events = []
    # Now it stops reading: events and replies pile up until its memory
    # or outstanding quota holds it.
    sent, idle_since = 0, time.monotonic()
    while sent < 20000 and time.monotonic() - idle_since < 0.5:
        req = g.pack(XS_WRITE, b"data/a/b/c\0%d" % sent, 200 + sent)
        if g.ring_room() < len(req):
            time.sleep(0.01)
            continue
        g.ring_write(req)
        sent += 1
        idle_since = time.monotonic()
    unread = (g.get("req_prod") - g.get("req_cons")) & 0xffffffff
    tap.ok(sent < 20000 and unread > 0, "a storm it does not read: held",
           "%d sent, %d bytes unread" % (sent, unread))
    work.check(tap, "while the storm's events pile up")
    replies = 0
    try:
        while replies < sent:
            msg = g.read_message(timeout=5.0)
            if msg.type != XS_WATCH_EVENT:
                replies += 1
    except TimeoutError:
        pass
    tap.ok(replies == sent, "reading again, it gets every reply",
           "%d of %d" % (replies, sent))
    g.close()
    daemon.sim.destroy(22)


def attack_deep_wide(tap, daemon, dom0, work):
    g = daemon.new_guest(dom0, 23)
    path, depth, refusal = b"data", 0, None
    while depth < 200:
        got = g.call(XS_WRITE, path + b"/d\0v")
        if got != b"OK\0":
            refusal = got
            break
        path += b"/d"
        depth += 1
    # Relative paths are counted from the home: "data/" plus depth "/d".
    tap.ok(refusal == b"E:EINVAL" and
           len(b"data") + 2 * depth <= PATH_MAX < len(b"data") + 2 * (depth + 1),
           "deepest tree: EINVAL past path-max (-M %d) at depth %d"
           % (PATH_MAX, depth), refusal)
    work.check(tap, "beside the deepest tree")
    g.call(XS_RM, b"data/d\0")
    width, refusal = 0, None
    while width < 100:
        got = g.call(XS_WRITE, b"data/w/child-%03d-%s\0v"
                     % (width, b"n" * 30))
        if got != b"OK\0":
            refusal = got
            break
        width += 1
    tap.ok(refusal == b"E:ENOSPC",
           "widest tree: ENOSPC once the directory passes the node size "
           "(-S %d) or the nodes run out, at %d children" % (NODE_SIZE,
                                                            width), refusal)
    listing = dom0.call(XS_DIRECTORY, b"/local/domain/23/data/w\0")
    tap.ok(listing.count(b"\0") == width, "dom0 lists it whole")
    work.check(tap, "beside the widest tree")
    tap.ok(g.call(XS_RM, b"data/w\0") == b"OK\0" and
           g.call(XS_WRITE, b"data/after\0v") == b"OK\0",
           "removing it gives the quota back")
    g.close()
    daemon.sim.destroy(23)


def attack_transactions(tap, daemon, dom0, work, watcher):
    g = daemon.new_guest(dom0, 24)
    got = [g.call(XS_TRANSACTION_START, b"\0")
           for _ in range(TRANSACTIONS + 1)]
    tap.ok(all(t[:-1].isdigit() for t in got[:TRANSACTIONS]) and
           got[TRANSACTIONS] == b"E:ENOSPC",
           "open transactions: ENOSPC past the quota (-t %d)" % TRANSACTIONS,
           got)
    for t in got[:TRANSACTIONS]:
        tid = int(t[:-1])
        for k in range(5):
            g.call(XS_WRITE, b"data/t%d\0v" % k, tid)
            g.call(XS_READ, b"/local/domain/10/domid\0", tid)
    work.check(tap, "beside transactions that never close")
    tap.ok(dom0.call(XS_WRITE, b"/local/domain/24/data/t0\0dom0") ==
           b"OK\0", "dom0 writes what they touched")
    work.check(tap, "after that")
    daemon.sim.destroy(24)
    tap.ok(released(watcher) and
           wait_for(lambda: dom0.call(XS_IS_DOMAIN_INTRODUCED, b"24\0") ==
                    b"F\0"), "its death takes the transactions with it")
    g.close()


def attack_malformed(tap, daemon, dom0, work, watcher):
    g = daemon.new_guest(dom0, 25)
    answers = [g.request(200, b"x\0").type,
               g.request(XS_WRITE, b"no-nul-at-all").type,
               g.request(XS_READ, b"").type]
    tap.ok(answers == [XS_ERROR] * 3 and
           g.call(XS_READ, b"domid\0") == b"25",
           "malformed requests: errors, and it is still served", answers)
    g.send_raw(g.pack(XS_WRITE, b"", 9, length=XENSTORE_PAYLOAD_MAX + 1))
    tap.ok(wait_for(lambda: g.get("error") == XENSTORE_ERROR_PROTO),
           "an oversized header: its ring is marked ERROR (PROTO)",
           "error=%d" % g.get("error"))
    work.check(tap, "after the oversized header")
    tap.ok(dom0.call(XS_IS_DOMAIN_INTRODUCED, b"25\0") == b"T\0",
           "its domain is kept")
    g.close()

    g = daemon.new_guest(dom0, 26)
    g.set("req_prod", g.get("req_cons") + 5000)
    g.notify()
    tap.ok(wait_for(lambda: g.get("error") == XENSTORE_ERROR_RINGIDX),
           "corrupted indices: its ring is marked ERROR (RINGIDX)",
           "error=%d" % g.get("error"))
    work.check(tap, "after the corrupted ring")
    g.close()
    for domid in (25, 26):
        daemon.sim.destroy(domid)
        tap.ok(released(watcher), "domain %d dies as usual" % domid)


def main(tap, daemon):
    dom0 = daemon.toolstack()
    watcher = daemon.toolstack()
    watcher.call(XS_WATCH, b"@releaseDomain\0release\0")
    watcher.call(XS_WATCH, b"@introduceDomain\0intro\0")
    watcher.read_event()
    watcher.read_event()
    work = Workload(daemon, dom0)
    work.check(tap, "quiet")
    attack_flood(tap, daemon, dom0, work)
    attack_never_reads(tap, daemon, dom0, work)
    attack_watch_storm(tap, daemon, dom0, work)
    attack_deep_wide(tap, daemon, dom0, work)
    attack_transactions(tap, daemon, dom0, work, watcher)
    attack_malformed(tap, daemon, dom0, work, watcher)
    work.check(tap, "after every attack")
    with open("/proc/%d/status" % daemon.proc.pid) as f:
        peak = [line for line in f if line.startswith("VmHWM")]
    tap.diag("daemon peak RSS: %s" % (peak[0].strip() if peak else "?"))
    work.close()


if __name__ == "__main__":
    sys.exit(simguest.run_sim_tests(main, ARGS))
