"""The MicroPython half of `python -m hostsim sidechannel --target micropython`.

    MICROPYPATH=firmware micropython -X heapsize=8M hostsim/upy/sidechannel.py DATA.json

DATA (written by hostsim/cmd_sidechannel.py): the mobile node's config, the PAR's CPA frames,
now/wall, the two PrRtAdv pools and the trial order. The node is built here, takes the CPA,
and then for each trial solicits again (not timed; the nonce comes from the same fixed stream
as on the host, so the pooled PrRtAdvs answer it) and handles one PrRtAdv, timed with
time.ticks_us(). Prints one JSON line: {"valid": [us, ...], "invalid": [us, ...]}.
Not a firmware module.
"""

import gc
import hashlib
import json
import sys
import time

from handoverkey import crypto
from handoverkey.config import build_engine
from handoverkey.wire import ipv6


class Stream:
    def __init__(self):
        self.n = 0

    def reset(self):
        self.n = 0

    def __call__(self, n):
        out = b""
        while len(out) < n:
            self.n += 1
            out += hashlib.sha256(b"sidechannel" + self.n.to_bytes(4, "big")).digest()
        return out[:n]


def main(path):
    with open(path) as f:
        data = json.load(f)
    now = data["now"]
    wall = data["wall"]
    stream = Stream()
    crypto.backend_name()
    crypto.random_bytes = stream
    mn = build_engine("mobile", data["config"])
    frames, _ = mn.attach(now, wall)
    cps = frames[0]
    ident_hi = cps[44]
    ident_lo = cps[45]
    for h in data["cpa"]:
        cpa = bytearray(bytes.fromhex(h))
        cpa[44] = ident_hi  # the CPA answers this CPS (a CPA carries no signature of its own)
        cpa[45] = ident_lo
        ipv6.finish(cpa, 0, len(cpa))
        mn.handle(bytes(cpa), now, wall)
    if mn.router_key is None:
        raise SystemExit("the certification path was not accepted")
    pools = {}
    for c in data["pools"]:
        pools[c] = [bytes.fromhex(h) for h in data["pools"][c]]
    times = {"valid": [], "invalid": []}
    idx = {"valid": 0, "invalid": 0}
    i = 0
    for cls in data["order"]:
        stream.reset()
        mn.attach(now, wall)
        pool = pools[cls]
        frame = pool[idx[cls] % len(pool)]
        idx[cls] += 1
        if i % 16 == 0:
            gc.collect()
        t = time.ticks_us()
        _, events = mn.handle(frame, now, wall)
        dt = time.ticks_diff(time.ticks_us(), t)
        if len(events) != 1 or events[0][0] != "key-stored":
            raise SystemExit("trial %d (%s): %r" % (i, cls, events))
        times[cls].append(dt)
        i += 1
    print(json.dumps(times))


if __name__ == "__main__":
    main(sys.argv[1])
