#!/usr/bin/env python3
"""From Xen 4.17's C xenstored to ours by live update, offline: Debian's
C daemon runs under the baselines' fakexen shim (no hypervisor), serves a
socket client with a watch, dom0's ring and a guest over its ring page;
`xenstore-control live-update OURS` makes it write Xen's migration stream
and exec our binary, which must take everything over in the same
process: nodes and permissions, the socket and its watch, the guest's
ring and event channel, and answer the waiting live-update with OK.

Needs the reference daemons (../shared/baselines, or BASELINES=DIR); it
skips, saying so, without them."""

import mmap
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import xsd  # noqa: E402
from xsd import (XS_READ, XS_WRITE, XS_WATCH, XS_SET_PERMS, XS_MKDIR,  # noqa: E402
                 XS_GET_PERMS, XS_DIRECTORY, XS_INTRODUCE)

CONTROL = "/usr/lib/xen-4.17/bin/xenstore-control"
C_DAEMON = "/usr/lib/xen-4.17/bin/xenstored"
GUEST = 3
RING_SIZE = 1024


def find_baselines():
    candidates = [os.environ.get("BASELINES")]
    for up in (("..", "..", ".."), ("..", "..", "..", "..")):
        candidates.append(os.path.join(HERE, *up, "shared", "baselines"))
    for c in candidates:
        if c and os.path.exists(os.path.join(c, "start-cxenstored.sh")):
            return os.path.abspath(c)
    return None


def ours():
    top = os.environ.get("abs_top_builddir") or os.path.join(HERE, "..", "..")
    return os.environ.get("XENSTORED") or os.path.abspath(
        os.path.join(top, "daemon", "xenstored"))


class ShimGuest:
    """A guest's ring page as the shim keeps it (SOCKET.d/ring-N); its
    event is raised by writing the daemon's local port into the FIFO.
    The shim delivers no signal to the guest: the indices are polled."""

    def __init__(self, statedir, domid, local_port):
        fd = os.open(os.path.join(statedir, "ring-%d" % domid), os.O_RDWR)
        self.mm = mmap.mmap(fd, 4096)
        os.close(fd)
        self.fifo = os.path.join(statedir, "evtchn")
        self.port = local_port
        self.req_id = 1

    def idx(self, off, value=None):
        if value is None:
            return struct.unpack_from("<I", self.mm, off)[0]
        struct.pack_into("<I", self.mm, off, value & 0xffffffff)

    # xenstore_domain_interface: req[1024] rsp[1024] req_cons req_prod
    # rsp_cons rsp_prod
    def call(self, mtype, payload, timeout=10):
        msg = struct.pack("<IIII", mtype, self.req_id, 0, len(payload)) + \
            payload
        self.req_id += 1
        prod = self.idx(2052)
        for i, b in enumerate(msg):
            self.mm[(prod + i) % RING_SIZE] = b
        self.idx(2052, prod + len(msg))
        with open(self.fifo, "wb") as f:
            f.write(struct.pack("<I", self.port))
        deadline = time.monotonic() + timeout
        got = b""
        while time.monotonic() < deadline:
            cons, rprod = self.idx(2056), self.idx(2060)
            while cons != rprod:
                got += bytes([self.mm[RING_SIZE + cons % RING_SIZE]])
                cons += 1
            self.idx(2056, cons)
            if len(got) >= 16:
                n = struct.unpack_from("<I", got, 12)[0]
                if len(got) >= 16 + n:
                    return got[16:16 + n]
            time.sleep(0.01)
        return None


def guest_port(statedir, domid):
    """The daemon's local port for the guest, from the shim's log."""
    port = None
    with open(os.path.join(statedir, "ports")) as f:
        for line in f:
            w = line.split()
            if len(w) >= 4 and w[0] == "bind" and w[2] == "dom" and \
                    int(w[3]) == domid:
                port = int(w[1])
    return port


def dump(c, path=b"/"):
    out = {path: (c.call(XS_READ, path + b"\0"),
                  c.call(XS_GET_PERMS, path + b"\0"))}
    for child in c.call(XS_DIRECTORY, path + b"\0").split(b"\0"):
        if child:
            out.update(dump(c, path.rstrip(b"/") + b"/" + child))
    return out


def main():
    tap = xsd.Tap()
    baselines = find_baselines()
    if not baselines:
        tap.skip("C xenstored live-updates into ours",
                 "no reference daemons (../shared/baselines; BASELINES=DIR)")
        return tap.done()
    if not (os.access(C_DAEMON, os.X_OK) and os.access(CONTROL, os.X_OK)):
        tap.skip("C xenstored live-updates into ours", "no xen-utils-4.17")
        return tap.done()
    work = tempfile.mkdtemp(prefix="xsd-takeover.")
    sock = os.path.join(work, "c.sock")
    statedir = sock + ".d"
    env = dict(os.environ, FAKEXEN_DOMAINS="0,%d" % GUEST)
    env.pop("XENSTORED_RUNDIR", None)
    try:
        pid = int(subprocess.run(
            [os.path.join(baselines, "start-cxenstored.sh"), sock], env=env,
            stdout=subprocess.PIPE, check=True, timeout=60).stdout.split()[-1])
        c = xsd.Client(sock)
        c.call(XS_MKDIR, b"/takeover\0")
        for i in range(20):
            c.call(XS_WRITE, b"/takeover/n%d\0v%d" % (i, i))
        c.call(XS_WRITE, b"/takeover/bin\0a\0b")
        r = c.call(XS_INTRODUCE, b"%d\0%d\0%d\0" % (GUEST, 1234, 5))
        tap.ok(r == b"OK\0", "the C daemon introduces a guest", repr(r))
        c.call(XS_MKDIR, b"/local/domain/%d\0" % GUEST)
        c.call(XS_SET_PERMS, b"/local/domain/%d\0n%d\0r0\0" % (GUEST, GUEST))
        c.call(XS_SET_PERMS, b"/takeover/n1\0n0\0r%d\0" % GUEST)
        guest = ShimGuest(statedir, GUEST, guest_port(statedir, GUEST))
        r = guest.call(XS_WRITE, b"data\0from the guest")
        tap.ok(r == b"OK\0", "the guest writes over its ring, to C", repr(r))
        watcher = xsd.Client(sock)
        watcher.call(XS_WATCH, b"/takeover\0tok\0")
        tap.ok(watcher.read_event() == b"/takeover\0tok\0", "a watch, in C")
        before = dump(c)

        out = subprocess.run([CONTROL, "live-update", ours()],
                             env=dict(env, XENSTORED_PATH=sock),
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=60)
        tap.ok(out.returncode == 0, "xenstore-control live-update from C "
               "into ours: OK", out.stdout.decode(errors="replace"))
        exe = os.readlink("/proc/%d/exe" % pid) if os.path.exists(
            "/proc/%d" % pid) else None
        tap.ok(exe == ours(), "the same process now runs our binary", exe)
        after = dump(c)
        tap.ok(after == before, "every node and permission C had",
               "%d nodes before, %d after; differing: %r" % (
                   len(before), len(after),
                   sorted(set(before.items()) ^ set(after.items()))[:6]))
        c.call(XS_WRITE, b"/takeover/after\0x")
        ev = watcher.read_event()
        tap.ok(ev == b"/takeover/after\0tok\0",
               "C's watch fires in ours", repr(ev))
        r = guest.call(XS_READ, b"data\0")
        tap.ok(r == b"from the guest",
               "the guest's ring and event channel, served by ours", repr(r))
        r = guest.call(XS_WRITE, b"data/again\0y")
        tap.ok(r == b"OK\0" and c.call(
            XS_READ, b"/local/domain/%d/data/again\0" % GUEST) == b"y",
            "the guest writes to ours", repr(r))
        c.call(XS_WRITE, b"/takeover/n2\0z")
        r = guest.call(XS_WRITE, b"/takeover/n1\0no")
        tap.ok(r is not None and r.startswith(b"EACCES"),
               "C's permissions hold in ours (the guest may only read n1)",
               repr(r))
        tap.ok(xsd.Client(sock).call(XS_READ, b"/takeover/n3\0") == b"v3",
               "new connections are served")
        r = c.call(xsd.XS_CONTROL, b"help\0")
        tap.ok(b"live-update" in r, "and ours can live-update again")
    finally:
        subprocess.run([os.path.join(baselines, "stop-xenstored.sh"), sock],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
