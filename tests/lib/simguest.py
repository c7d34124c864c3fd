"""Simulated guests for tests: domains of the daemon's sim platform.

The sim platform (io-xen/SIM.md) keeps each guest's ring page in the file
DIR/ring-<domid> and carries event-channel signals as datagrams; DIR/control
creates, shuts down, crashes, resumes and destroys domains.  A Guest here
maps its page and speaks xenstore over it as a guest kernel would, signalling
the daemon only when Linux's xenbus would (after a write only if the daemon
had consumed everything, after a read only if the reply queue was full):
a daemon that needs more signals hangs these guests as it would hang Linux.

Ring indices are read and written as single aligned 32-bit accesses through
ctypes (struct.pack_into may store byte by byte, which the other side could
see half done).  Between the data and the index that publishes it, the
order is the program order of two separate C calls; that is enough on x86
(TSO), which is what these tests run on.
"""

import ctypes
import mmap
import os
import socket
import struct
import subprocess
import tempfile
import time

import xsd

PAGE_SIZE = 4096
RING_SIZE = xsd.XENSTORE_RING_SIZE  # noqa: F821 - from xs_wire.h
# struct xenstore_domain_interface: req[RING], rsp[RING], then u32 fields.
_FIELDS = ("req_cons", "req_prod", "rsp_cons", "rsp_prod",
           "server_features", "connection", "error")
_FIELD_OFFSET = {name: 2 * RING_SIZE + 4 * i for i, name in enumerate(_FIELDS)}
EVENT_FMT = "=II"   # struct sim_event: domid, port (host order)


class ControlError(Exception):
    """The sim's control socket answered ERR."""


class Sim:
    """The simulation directory the daemon was started with (--sim DIR)."""

    def __init__(self, path):
        self.path = path

    def control(self, command, timeout=5.0):
        """Reply lines before the final OK; ControlError on ERR."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(os.path.join(self.path, "control"))
            s.sendall(command.encode() + b"\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    raise ControlError("control socket closed: %r" % data)
                data += chunk
                if not data.endswith(b"\n"):
                    continue
                last = data.rstrip(b"\n").split(b"\n")[-1]
                if last == b"OK" or last.startswith(b"ERR"):
                    break
        finally:
            s.close()
        lines = data.decode().rstrip("\n").split("\n")
        if lines[-1] != "OK":
            raise ControlError(lines[-1])
        return lines[:-1]

    def create(self, domid):
        self.control("create %d" % domid)

    def shutdown(self, domid):
        self.control("shutdown %d" % domid)

    def crash(self, domid):
        self.control("crash %d" % domid)

    def resume(self, domid):
        self.control("resume %d" % domid)

    def destroy(self, domid):
        self.control("destroy %d" % domid)

    def domains(self):
        """{domid: state} as the control socket lists them."""
        result = {}
        for line in self.control("list"):
            domid, state = line.split()
            result[int(domid)] = state
        return result

    def dom0_port(self):
        with open(os.path.join(self.path, "xsd_port")) as f:
            return int(f.read())


class Guest:
    """A domain talking xenstore over its ring in the simulation.

    Same reply/event interface as xsd.Client: request(), call(),
    read_event(), no_event(), with events kept in self.events."""

    def __init__(self, sim, domid, port=1, create=True,
                 timeout=xsd.REPLY_TIMEOUT):
        self.sim = sim
        self.domid = domid
        self.port = port
        self.timeout = timeout
        if create:
            sim.create(domid)
        fd = os.open(os.path.join(sim.path, "ring-%d" % domid), os.O_RDWR)
        try:
            self.mm = mmap.mmap(fd, PAGE_SIZE, mmap.MAP_SHARED,
                                mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self._idx = {name: ctypes.c_uint32.from_buffer(self.mm, off)
                     for name, off in _FIELD_OFFSET.items()}
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.self_path = os.path.join(sim.path, "guest-%d" % domid)
        try:
            os.unlink(self.self_path)
        except FileNotFoundError:
            pass
        self.sock.bind(self.self_path)
        self.daemon_path = os.path.join(sim.path, "evtchn")
        self.events = []
        self.next_req_id = 1
        self._in = b""
        self.signals_sent = 0

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.self_path)
        except FileNotFoundError:
            pass
        self._idx = None   # release the buffer exports before closing
        self.mm.close()

    # -- the page ----------------------------------------------------------

    def get(self, field):
        return self._idx[field].value

    def set(self, field, value):
        self._idx[field].value = value & 0xffffffff

    # -- event channel -----------------------------------------------------

    def notify(self):
        self.sock.sendto(struct.pack(EVENT_FMT, self.domid, self.port),
                         self.daemon_path)
        self.signals_sent += 1

    def drain_signals(self):
        """Forget signals received so far (the next look at the ring
        answers them); untaken ones would fill the daemon's buffers."""
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(64)
        except BlockingIOError:
            pass

    def wait_signal(self, deadline):
        """Sleep until the daemon signals; False once `deadline` passed."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            self.sock.recv(64)
        except socket.timeout:
            return False
        self.drain_signals()
        return True

    # -- raw ring bytes ----------------------------------------------------

    def ring_room(self):
        """Bytes the request ring can take now."""
        used = (self.get("req_prod") - self.get("req_cons")) & 0xffffffff
        return RING_SIZE - used if used <= RING_SIZE else 0

    def ring_write(self, data):
        """Put as much of `data` as fits on req[]; returns bytes taken."""
        cons, prod = self.get("req_cons"), self.get("req_prod")
        used = (prod - cons) & 0xffffffff
        if used > RING_SIZE:
            raise IOError("corrupted request ring (%d, %d)" % (cons, prod))
        n = min(len(data), RING_SIZE - used)
        done = 0
        while done < n:
            off = (prod + done) % RING_SIZE
            chunk = min(n - done, RING_SIZE - off)
            self.mm[off:off + chunk] = data[done:done + chunk]
            done += chunk
        if n:
            self.set("req_prod", prod + n)
            # Linux's rule: signal only if the daemon had caught up.
            if self.get("req_cons") == prod:
                self.notify()
        return n

    def ring_read(self, limit):
        """Take up to `limit` bytes off rsp[]."""
        cons, prod = self.get("rsp_cons"), self.get("rsp_prod")
        avail = (prod - cons) & 0xffffffff
        if avail > RING_SIZE:
            raise IOError("corrupted reply ring (%d, %d)" % (cons, prod))
        n = min(limit, avail)
        out = b""
        while len(out) < n:
            off = (cons + len(out)) % RING_SIZE
            chunk = min(n - len(out), RING_SIZE - off)
            out += self.mm[RING_SIZE + off:RING_SIZE + off + chunk]
        if n:
            self.set("rsp_cons", cons + n)
            # Linux's rule (xb_read): with the new consumer index out,
            # look at the producer again and signal if the daemon had
            # filled the ring by then: it may be waiting for room.  A
            # look taken before the read misses a fill during it, and
            # then both sides wait for each other.
            if (self.get("rsp_prod") - cons) & 0xffffffff >= RING_SIZE:
                self.notify()
        return out

    def send_raw(self, data, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while data:
            n = self.ring_write(data)
            data = data[n:]
            if data and not self.wait_signal(deadline):
                raise TimeoutError("request ring stayed full")

    def _recv_exact(self, n, deadline):
        while len(self._in) < n:
            got = self.ring_read(n - len(self._in))
            self._in += got
            if not got and not self.wait_signal(deadline):
                raise TimeoutError("no reply: %d of %d bytes"
                                   % (len(self._in), n))
        out, self._in = self._in[:n], self._in[n:]
        return out

    # -- messages (the xsd.Client interface) ---------------------------------

    pack = staticmethod(xsd.Client.pack)

    def read_message(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        self.drain_signals()
        head = self._recv_exact(xsd.HEADER_LEN, deadline)
        mtype, req_id, tx_id, length = struct.unpack(xsd.HEADER_FMT, head)
        self._in = head + self._in    # whole message or nothing
        msg = self._recv_exact(xsd.HEADER_LEN + length, deadline)
        return xsd.Reply(mtype, req_id, tx_id, msg[xsd.HEADER_LEN:])

    def read_reply(self, timeout=None):
        while True:
            msg = self.read_message(timeout)
            if msg.type != xsd.XS_WATCH_EVENT:  # noqa: F821
                return msg
            self.events.append(msg.payload)

    def read_event(self, timeout=None):
        if self.events:
            return self.events.pop(0)
        msg = self.read_message(timeout)
        if msg.type != xsd.XS_WATCH_EVENT:  # noqa: F821
            raise AssertionError("expected a watch event, got %r" % msg)
        return msg.payload

    def no_event(self, wait=0.2):
        if self.events:
            return False
        try:
            msg = self.read_message(wait)
        except TimeoutError:
            return True
        if msg.type == xsd.XS_WATCH_EVENT:  # noqa: F821
            self.events.append(msg.payload)
        return False

    def request(self, mtype, payload=b"", tx_id=0, req_id=None):
        if req_id is None:
            req_id = self.next_req_id
            self.next_req_id += 1
        self.send_raw(self.pack(mtype, payload, req_id, tx_id))
        return self.read_reply()

    def call(self, mtype, payload=b"", tx_id=0):
        r = self.request(mtype, payload, tx_id)
        if r.type == xsd.XS_ERROR:  # noqa: F821
            return b"E:" + r.payload.rstrip(b"\0")
        return r.payload

    # -- reconnection (xenstore-ring.txt) -----------------------------------

    def reconnect(self, timeout=None):
        """Ask for a reconnection; True once the daemon set CONNECTED."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self.set("connection", xsd.XENSTORE_RECONNECT)  # noqa: F821
        self.notify()
        while self.get("connection") != xsd.XENSTORE_CONNECTED:  # noqa: F821
            if not self.wait_signal(deadline):
                return self.get("connection") == xsd.XENSTORE_CONNECTED  # noqa: F821
        self._in = b""
        return True


class SimDaemon(xsd.Daemon):
    """Our daemon with --sim DIR and a socket, plus any extra options.

    Unlike xsd.Daemon there is no external mode: the reference daemons do
    not speak the sim platform."""

    def __init__(self, extra_args=()):
        self.proc = None
        self.external = False
        self.tmpdir = tempfile.mkdtemp(prefix="xsd-sim.")
        self.socket_path = os.path.join(self.tmpdir, "socket")
        self.sim = Sim(os.path.join(self.tmpdir, "sim"))
        binary = os.environ.get("XENSTORED")
        if not binary:
            top = os.environ.get("abs_top_builddir") or os.path.join(
                os.path.dirname(os.path.abspath(__file__)), "..", "..")
            binary = os.path.join(top, "daemon", "xenstored")
        env = dict(os.environ, XENSTORED_PATH=self.socket_path)
        self.args = [binary, "-N", "--pid-file",
                     os.path.join(self.tmpdir, "pid"),
                     "--sim", self.sim.path] + list(extra_args)
        try:
            self.proc = subprocess.Popen(self.args, env=env,
                                         stdin=subprocess.DEVNULL)
            if "--no-socket" in self.args:
                self._wait_sim_ready()
            else:
                self._wait_ready()
        except BaseException:
            import shutil
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise

    def _wait_sim_ready(self):
        """Without a socket: ready once the control socket answers."""
        deadline = time.monotonic() + xsd.STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited during start-up with %s"
                                   % self.proc.returncode)
            try:
                self.sim.control("list")
                return
            except (OSError, ControlError):
                time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError("sim control socket did not answer within %gs"
                           % xsd.STARTUP_TIMEOUT)

    def toolstack(self):
        """A privileged socket client (dom0's toolstack)."""
        return xsd.Client(self.socket_path)

    def introduce(self, client, guest, gfn=0):
        """INTRODUCE the guest as the toolstack does; the reply payload."""
        return client.call(xsd.XS_INTRODUCE,  # noqa: F821
                           b"%d\0%d\0%d\0" % (guest.domid, gfn, guest.port))

    def new_guest(self, client, domid, port=1, home=True, libxl_order=False):
        """Create, map and introduce a domain; the Guest.

        With `home`, lay out /local/domain/N as libxl does: the directory
        readable by the guest and owned by dom0, its domid and name, and
        data/ owned by the guest.  libxl does that before INTRODUCE
        (`libxl_order`); by default it is done just after, so that tests
        of other things do not depend on that order working."""
        guest = Guest(self.sim, domid, port)
        try:
            if home and libxl_order:
                setup_home(client, domid)
            reply = self.introduce(client, guest)
            if reply != b"OK\0":
                raise AssertionError("INTRODUCE %d: %r" % (domid, reply))
            if home and not libxl_order:
                setup_home(client, domid)
        except BaseException:
            guest.close()
            raise
        return guest


def setup_home(client, domid):
    """/local/domain/N as libxl leaves it for a new guest."""
    home = b"/local/domain/%d" % domid
    steps = [
        (xsd.XS_MKDIR, home + b"\0"),  # noqa: F821
        (xsd.XS_SET_PERMS, home + b"\0n0\0r%d\0" % domid),  # noqa: F821
        (xsd.XS_WRITE, home + b"/domid\0%d" % domid),  # noqa: F821
        (xsd.XS_WRITE, home + b"/name\0guest%d" % domid),  # noqa: F821
        (xsd.XS_MKDIR, home + b"/data\0"),  # noqa: F821
        (xsd.XS_SET_PERMS, home + b"/data\0n%d\0" % domid),  # noqa: F821
    ]
    for mtype, payload in steps:
        reply = client.call(mtype, payload)
        if reply != b"OK\0":
            raise AssertionError("setting up %r: %r" % (home, reply))


def run_sim_tests(main, extra_args=()):
    """Run main(tap, daemon) with a sim daemon up, like xsd.run_tests."""
    import signal
    import traceback
    tap = xsd.Tap()
    if os.environ.get("XS_TEST_SOCKET"):
        tap.skip("simulated guests", "XS_TEST_SOCKET names a daemon "
                 "without our sim platform")
        return tap.done()
    signal.signal(signal.SIGALRM,
                  lambda *a: (tap.bail("overall time limit hit"), None))
    signal.alarm(int(os.environ.get("XS_TEST_TIME_LIMIT", "300")))
    try:
        daemon = SimDaemon(extra_args)
    except Exception as exc:  # noqa: BLE001 - any start-up failure is fatal
        tap.bail("cannot start daemon: %s" % exc)
    try:
        main(tap, daemon)
    except Exception:  # noqa: BLE001 - report, then still stop the daemon
        tap.ok(False, "test script ran to the end", traceback.format_exc())
    finally:
        clean, why = daemon.stop()
        tap.ok(clean, "daemon exits cleanly on SIGTERM", why)
        signal.alarm(0)
    return tap.done()
