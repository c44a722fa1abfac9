"""A line-oriented JSON driver for an engine, so a host can run it inside MicroPython over a pipe.

One request per line on stdin, one reply per line on stdout:
  {"op": "init", "role": "router"|"mobile", "config": {...}}   -> {"ok": true}
  {"op": "handle", "frame": HEX, "now_ms": N, "wall_s": N}     -> {"frames": [HEX], "events": [[kind, {...}]]}
  {"op": "poll", "now_ms": N, "wall_s": N}                     -> same shape as handle
  {"op": "call", "method": NAME, "args": [...], "now_ms": N, "wall_s": N} -> same shape
  {"op": "deadline"}                                           -> {"deadline": N or null}
  {"op": "state"}                                              -> {"state": {...}}
  {"op": "quit"}
Bytes inside events and state travel as lower-case hex strings. Errors come back as {"error": "..."}.
"""

import json
import sys


def _plain(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _result(out):
    frames, events = out
    return {"frames": [bytes(f).hex() for f in frames], "events": [[k, _plain(f)] for k, f in events]}


class Agent:
    def __init__(self):
        self.engine = None

    def request(self, req):
        op = req.get("op")
        if op == "init":
            from handoverkey.config import build_engine

            self.engine = build_engine(req["role"], req["config"])
            return {"ok": True}
        if self.engine is None:
            return {"error": "not initialised"}
        if op == "handle":
            frame = bytes.fromhex(req["frame"])
            return _result(self.engine.handle(frame, req["now_ms"], req["wall_s"]))
        if op == "poll":
            return _result(self.engine.poll(req["now_ms"], req["wall_s"]))
        if op == "call":
            method = req["method"]
            if method.startswith("_"):
                return {"error": "no such method"}
            fn = getattr(self.engine, method)
            return _result(fn(req["now_ms"], req["wall_s"], *req.get("args", [])))
        if op == "deadline":
            return {"deadline": self.engine.next_deadline()}
        if op == "state":
            return {"state": _plain(self.engine.snapshot())}
        return {"error": "unknown op"}


def serve(inp=None, out=None):
    inp = inp or sys.stdin
    out = out or sys.stdout
    agent = Agent()
    while True:
        line = inp.readline()
        if not line:
            return
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            if req.get("op") == "quit":
                return
            reply = agent.request(req)
        except Exception as e:  # the host must always get a reply line; it decides what an error means
            reply = {"error": "%s: %s" % (type(e).__name__, e)}
        out.write(json.dumps(reply))
        out.write("\n")
        out.flush()


if __name__ == "__main__":
    serve()
