"""Helpers for Python test scripts that talk to a xenstored over its socket.

The test-script contract is in HACKING.md: a test starts its own daemon on a
fresh socket (or uses $XS_TEST_SOCKET, starting nothing), prints TAP, and
fails if the daemon does not exit cleanly on SIGTERM.

Protocol constants are read from xs_wire.h at run time so that none of them
is retyped here.
"""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

XS_WIRE_H = os.environ.get("XS_WIRE_H", "/usr/include/xen/io/xs_wire.h")

# Bounds that turn a hang into a failure rather than a stuck test run.
STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 10.0
REPLY_TIMEOUT = 5.0


def _strip_c_comments(text):
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def _parse_enum(text, name, known=None):
    """Members of `enum NAME { ... }`, with C's implicit numbering; their
    initializers may name members of @known."""
    body = re.search(r"enum\s+%s\s*\{(.*?)\}" % name, text, re.S).group(1)
    body = "\n".join(l for l in body.splitlines()
                     if not l.strip().startswith("#"))
    values = {}
    nextval = 0
    for item in body.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" in item:
            key, expr = (s.strip() for s in item.split("=", 1))
            # Expressions in the header only use integers and earlier members.
            nextval = eval(expr, {"__builtins__": {}},
                           dict(known or {}, **values))
        else:
            key = item
        values[key] = nextval
        nextval += 1
    return values


def _parse_wire_header(path):
    text = _strip_c_comments(open(path).read())
    types = _parse_enum(text, "xsd_sockmsg_type")
    types["XS_DEBUG"] = types["XS_CONTROL"]
    errors = re.findall(r"XSD_ERROR\((\w+)\)", text.split("xsd_errors[]", 1)[1])
    defines = {}
    for key, val in re.findall(r"#define\s+(XENSTORE_\w+)\s+(\d+)\b", text):
        defines[key] = int(val)
    header_fmt = "<" + "I" * len(
        re.findall(r"uint32_t\s+\w+;",
                   re.search(r"struct\s+xsd_sockmsg\s*\{(.*?)\}", text,
                             re.S).group(1)))
    return types, errors, defines, header_fmt


TYPES, ERRORS, DEFINES, HEADER_FMT = _parse_wire_header(XS_WIRE_H)

# What Xen 4.21 and 4.22 added, from daemon/wire.h when the installed
# header is older (as the daemon itself gets them).
DAEMON_WIRE_H = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "..", "..", "daemon", "wire.h")


def _add_newer_protocol(path):
    text = _strip_c_comments(open(path).read())
    if "XS_GET_FEATURE" not in TYPES:
        TYPES.update(_parse_enum(text, "xsd_sockmsg_type_4_21", TYPES))
        TYPES["XS_TYPE_COUNT"] = TYPES["XS_SET_QUOTA"] + 1
    for key, val in re.findall(r"#define\s+(XENSTORE_\w+)\s+(\d+)\b", text):
        DEFINES.setdefault(key, int(val))


_add_newer_protocol(DAEMON_WIRE_H)
globals().update(TYPES)
globals().update(DEFINES)
HEADER_LEN = struct.calcsize(HEADER_FMT)
TYPE_NAMES = {v: k for k, v in TYPES.items() if k != "XS_DEBUG"}


def type_name(t):
    return TYPE_NAMES.get(t, str(t))


# ---------------------------------------------------------------- TAP

class Tap:
    """Minimal TAP producer; the plan is printed at the end (done())."""

    def __init__(self):
        self.count = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.count += 1
        status = "ok" if cond else "not ok"
        print("%s %d - %s" % (status, self.count, name), flush=True)
        if not cond:
            self.failed += 1
            if diag:
                self.diag(diag)
        return cond

    def skip(self, name, why):
        self.count += 1
        print("ok %d - %s # SKIP %s" % (self.count, name, why), flush=True)

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            print("# " + line, flush=True)

    def bail(self, why):
        print("Bail out! " + why, flush=True)
        sys.exit(1)

    def done(self):
        print("1..%d" % self.count, flush=True)
        return 1 if self.failed else 0


# ---------------------------------------------------------------- daemon

class Daemon:
    """Our daemon on a fresh socket, or the socket named by XS_TEST_SOCKET."""

    def __init__(self):
        self.proc = None
        self.tmpdir = None
        external = os.environ.get("XS_TEST_SOCKET")
        self.external = bool(external)
        if external:
            self.socket_path = external
            return
        self.tmpdir = tempfile.mkdtemp(prefix="xsd-test.")
        self.socket_path = os.path.join(self.tmpdir, "socket")
        binary = os.environ.get("XENSTORED")
        if not binary:
            top = os.environ.get("abs_top_builddir") or os.path.join(
                os.path.dirname(os.path.abspath(__file__)), "..", "..")
            binary = os.path.join(top, "daemon", "xenstored")
        env = dict(os.environ, XENSTORED_PATH=self.socket_path)
        try:
            self.proc = subprocess.Popen(
                [binary, "-N", "--pid-file", os.path.join(self.tmpdir, "pid")],
                env=env, stdin=subprocess.DEVNULL)
            self._wait_ready()
        except BaseException:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise

    def _wait_ready(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited during start-up with %s"
                                   % self.proc.returncode)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.socket_path)
                return
            except OSError:
                time.sleep(0.05)
            finally:
                s.close()
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError("daemon did not answer on %s within %gs"
                           % (self.socket_path, STARTUP_TIMEOUT))

    def stop(self):
        """SIGTERM the daemon we started. Returns (clean, description)."""
        if self.proc is None:
            return True, "external daemon, not stopped"
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(SHUTDOWN_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    return False, "daemon ignored SIGTERM for %gs" % SHUTDOWN_TIMEOUT
            rc = self.proc.returncode
            if rc < 0:
                return False, "daemon died of signal %d" % -rc
            if rc != 0:
                return False, "daemon exited with status %d" % rc
            return True, "daemon exited with status 0"
        finally:
            self.proc = None
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def alive(self):
        return self.proc is None or self.proc.poll() is None


def run_tests(main):
    """Run main(tap, daemon) with a daemon up; add the clean-exit test point.

    Returns the exit status for sys.exit()."""
    tap = Tap()
    # A stuck test must end as a failure, whatever it is blocked on.
    signal.signal(signal.SIGALRM, lambda *a: (tap.bail("overall time limit hit"), None))
    signal.alarm(int(os.environ.get("XS_TEST_TIME_LIMIT", "300")))
    try:
        daemon = Daemon()
    except Exception as exc:  # noqa: BLE001 - any start-up failure is fatal
        tap.bail("cannot start daemon: %s" % exc)
    try:
        main(tap, daemon)
    except Exception:  # noqa: BLE001 - report, then still stop the daemon
        import traceback
        tap.ok(False, "test script ran to the end", traceback.format_exc())
    finally:
        if not daemon.external:
            clean, why = daemon.stop()
            tap.ok(clean, "daemon exits cleanly on SIGTERM", why)
        signal.alarm(0)
    return tap.done()


# ---------------------------------------------------------------- client

class Reply:
    def __init__(self, mtype, req_id, tx_id, payload):
        self.type, self.req_id, self.tx_id, self.payload = \
            mtype, req_id, tx_id, payload

    def __repr__(self):
        return "Reply(%s, req_id=%d, tx_id=%d, %r)" % (
            type_name(self.type), self.req_id, self.tx_id, self.payload)

    def __eq__(self, other):
        return (isinstance(other, Reply) and
                (self.type, self.req_id, self.tx_id, self.payload) ==
                (other.type, other.req_id, other.tx_id, other.payload))


class Closed(Exception):
    """The daemon closed the connection."""


class Client:
    """A raw-protocol connection: bytes in, bytes out, nothing interpreted.

    Watch events that arrive while waiting for a reply are kept in
    self.events, in order."""

    def __init__(self, path, timeout=REPLY_TIMEOUT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        # A full listen backlog (EAGAIN) is the daemon being busy, not an
        # error; retry for a bounded time.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.events = []
        self.next_req_id = 1

    def close(self):
        self.sock.close()

    @staticmethod
    def pack(mtype, payload=b"", req_id=0, tx_id=0, length=None):
        if isinstance(payload, str):
            payload = payload.encode()
        if length is None:
            length = len(payload)
        return struct.pack(HEADER_FMT, mtype, req_id, tx_id, length) + payload

    def send_raw(self, data):
        self.sock.sendall(data)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("connection closed after %d of %d bytes"
                             % (len(buf), n))
            buf += chunk
        return buf

    def read_message(self):
        mtype, req_id, tx_id, length = struct.unpack(
            HEADER_FMT, self._recv_exact(HEADER_LEN))
        return Reply(mtype, req_id, tx_id, self._recv_exact(length))

    def read_reply(self):
        """Next message that is not a watch event."""
        while True:
            msg = self.read_message()
            if msg.type != XS_WATCH_EVENT:  # noqa: F821 - from the header
                return msg
            self.events.append(msg.payload)

    def read_event(self):
        """Next watch event payload (one already received, or wait for it)."""
        if self.events:
            return self.events.pop(0)
        msg = self.read_message()
        if msg.type != XS_WATCH_EVENT:  # noqa: F821
            raise AssertionError("expected a watch event, got %r" % msg)
        return msg.payload

    def no_event(self, wait=0.2):
        """True if no watch event is queued or arrives within `wait` s.

        A positive answer is only as good as the wait; tests use it after a
        round trip on the same connection, which already orders events."""
        if self.events:
            return False
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(1, socket.MSG_PEEK)
            return data == b""
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(REPLY_TIMEOUT)

    def request(self, mtype, payload=b"", tx_id=0, req_id=None):
        """Send one message and return its reply (events are kept aside)."""
        if req_id is None:
            req_id = self.next_req_id
            self.next_req_id += 1
        self.send_raw(self.pack(mtype, payload, req_id, tx_id))
        return self.read_reply()

    def call(self, mtype, payload=b"", tx_id=0):
        """Payload of a reply, as bytes; an XS_ERROR reply gives b"E:NAME"."""
        r = self.request(mtype, payload, tx_id)
        if r.type == XS_ERROR:  # noqa: F821
            return b"E:" + r.payload.rstrip(b"\0")
        return r.payload

    def is_closed(self, wait=REPLY_TIMEOUT):
        """True if the daemon has closed this connection (EOF or reset)."""
        self.sock.settimeout(wait)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(REPLY_TIMEOUT)
