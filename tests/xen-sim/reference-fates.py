#!/usr/bin/env python3
"""The attackers' fates of test-attacks.py, ours beside Xen 4.17's C
xenstored, each guest over a real ring page: ours on the sim platform, C's
under ../shared/baselines' fakexen shim (it maps SOCKET.d/ring-N; an event
is the local port written into the FIFO SOCKET.d/evtchn).  A tool, not a
test: it needs the baselines (BASELINES=DIR, or ../shared/baselines beside
the tree) and Debian's xen-utils-4.17.  Default quotas on both sides.

Usage: tests/xen-sim/reference-fates.py   (prints a markdown table)
"""

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import simguest  # noqa: E402
import xsd  # noqa: E402
from xsd import (XS_READ, XS_WRITE, XS_WATCH, XS_TRANSACTION_START,  # noqa: E402
                 XS_INTRODUCE, XS_IS_DOMAIN_INTRODUCED)


class _Dir:
    def __init__(self, path):
        self.path = path


class RefGuest(simguest.Guest):
    """A guest of the C daemon under fakexen: same ring code, other
    event channel (no signals back: poll the indices)."""

    def __init__(self, state, domid, port):
        self.state = state
        self.local = None
        super().__init__(_Dir(state), domid, port, create=False)

    def notify(self):
        if self.local is None:
            with open(os.path.join(self.state, "ports")) as f:
                for line in f:
                    m = re.match(r"bind (\d+) dom (\d+) remote (\d+)", line)
                    if m and (int(m.group(2)), int(m.group(3))) == \
                            (self.domid, self.port):
                        self.local = int(m.group(1))
        fd = os.open(os.path.join(self.state, "evtchn"), os.O_WRONLY)
        try:
            os.write(fd, struct.pack("<I", self.local))
        finally:
            os.close(fd)

    def wait_signal(self, deadline):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
        return True


def first_refusal(replies, ok):
    """Index of the first reply that is not ok, with it."""
    for i, r in enumerate(replies):
        if not ok(r):
            return "%d OK, then %s" % (i, r.decode(errors="replace"))
    return "all %d OK" % len(replies)


def probes(new_guest, dom0):
    """Each attack's fate, as text."""
    out = {}
    g = new_guest(5)
    out["129+ watches"] = first_refusal(
        [g.call(XS_WATCH, b"data/x%d\0w\0" % i) for i in range(131)],
        lambda r: r == b"OK\0")
    g = new_guest(6)
    out["11+ transactions"] = first_refusal(
        [g.call(XS_TRANSACTION_START, b"\0") for _ in range(12)],
        lambda r: r[:-1].isdigit())
    g = new_guest(7)
    out["flood of 1984-byte nodes, 32 a directory"] = first_refusal(
        [g.call(XS_WRITE, b"data/f%d/n%d\0" % (i // 32, i % 32) +
                b"x" * 1984) for i in range(1000)],
        lambda r: r == b"OK\0")
    out["a 2048-byte value"] = g.call(
        XS_WRITE, b"data/f0/n0\0" + b"x" * 2048).decode()
    g = new_guest(11)
    path, depth = b"data", 0
    while depth < 1100:
        r = g.call(XS_WRITE, path + b"/d\0v")
        if r != b"OK\0":
            break
        path += b"/d"
        depth += 1
    out["deepest tree"] = "depth %d, then %s" % (depth, r.decode())
    g = new_guest(8)
    g.send_raw(g.pack(XS_WRITE, b"", 9, length=4097))
    time.sleep(0.5)
    out["a 4097-byte header"] = "error field %d, introduced %s" % (
        g.get("error"),
        dom0.call(XS_IS_DOMAIN_INTRODUCED, b"8\0")[:1].decode())
    g = new_guest(9)
    g.set("req_prod", g.get("req_cons") + 5000)
    g.notify()
    time.sleep(0.5)
    out["req_prod 5000 ahead"] = "error field %d, introduced %s" % (
        g.get("error"),
        dom0.call(XS_IS_DOMAIN_INTRODUCED, b"9\0")[:1].decode())
    out["another guest afterwards"] = new_guest(10).call(
        XS_READ, b"domid\0").decode()
    return out


def ours():
    daemon = simguest.SimDaemon()
    try:
        dom0 = daemon.toolstack()
        return probes(lambda d: daemon.new_guest(dom0, d, libxl_order=True),
                      dom0)
    finally:
        daemon.stop()


def theirs(baselines):
    tmp = tempfile.mkdtemp(prefix="ref-fates.")
    sock = os.path.join(tmp, "c.sock")
    env = dict(os.environ, FAKEXEN_DOMAINS="0-30")
    subprocess.run([os.path.join(baselines, "start-cxenstored.sh"), sock],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    try:
        dom0 = xsd.Client(sock)

        def new_guest(domid):
            simguest.setup_home(dom0, domid)
            dom0.call(XS_INTRODUCE, b"%d\0%d\0%d\0" % (domid, 0, 7))
            return RefGuest(sock + ".d", domid, 7)
        return probes(new_guest, dom0)
    finally:
        subprocess.run([os.path.join(baselines, "stop-xenstored.sh"), sock],
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    baselines = os.environ.get("BASELINES") or os.path.join(
        HERE, "..", "..", "..", "shared", "baselines")
    if not os.path.exists(os.path.join(baselines, "start-cxenstored.sh")):
        sys.exit("reference-fates: no baselines at %s (set BASELINES)"
                 % baselines)
    a, b = ours(), theirs(baselines)
    print("| attack | ours | Xen 4.17 C xenstored |\n|---|---|---|")
    for k in a:
        print("| %s | %s | %s |" % (k, a[k], b[k]))


if __name__ == "__main__":
    main()
