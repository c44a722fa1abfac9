"""The MicroPython half of `python -m hostsim footprint`: scripted router and mobile node runs.

Compiled to .mpy and run from an image directory by hostsim/cmd_footprint.py:

    micropython -X heapsize=N -m footprint MODE ROLE DATA_DIR [MODULES_FILE]

MODE run     the scripted run of ROLE; prints "OK" and exits 0 only if every step did what it
             should (a MemoryError or any wrong outcome exits non-zero): this is what the
             heap-size bisection runs
MODE trace   the same, then prints the handoverkey modules in sys.modules (the role's image)
MODE stats   imports the modules named in MODULES_FILE (one a line: a long command-line
             argument crashes the unix port) and reports the heap in use after that import,
             then the run, with the heap use of one provisioning and one FBU check (router)
             or of each step (mobile); prints one JSON object

The router run: the PAR's engine (2048-bit key) with its key table filled to capacity by
KeyTable.put, then a CPS (-> CPA), two RtSolPrs from 2048-bit mobile nodes (-> PrRtAdv with a
key; the full table evicts), an FBU with the A flag (-> accepted, two FBacks) built with the
key the router provisioned, and an FBU check without the A flag.

The mobile run: the mobile node engine (2048-bit CGA and HKE keys) replays a handover recorded
on CPython: attach (-> CPS), the PAR's CPAs (-> path validated, RtSolPr), its PrRtAdv (-> key
decrypted and stored), move (-> FBU), its FBack (-> accepted). crypto.random_bytes is replaced
by the same deterministic stream the recording used, so the node's CPS identifier and RtSolPr
nonce are the recorded ones; every frame it sends is compared with the recording.
"""

import gc

gc.collect()
_BASE = gc.mem_alloc()  # the interpreter and this script, before anything of ours is imported

import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import micropython  # noqa: E402


class _DetRandom:
    """The deterministic stand-in for crypto.random_bytes (hostsim/cmd_footprint.py has its twin)."""

    def __init__(self):
        self.i = 0

    def __call__(self, n):
        out = bytearray(n)
        for k in range(n):
            self.i += 1
            out[k] = (self.i * 151 + 7) & 0xFF
        return bytes(out)


def _read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def _fail(msg):
    print("FAIL", msg)
    sys.exit(1)


def _kinds(out):
    return [e[0] for e in out[1]]


def _heads():
    """Objects on the GC heap, counted from micropython.mem_info(1)'s block map (every block that
    is neither free '.' nor a tail '='); the host reads the dump between the markers."""
    print("<<HEAP")
    micropython.mem_info(1)
    print("HEAP>>")


def _fbu(key, at, pcoa, ncoa, par, seq, flags):
    from handoverkey import algorithms
    from handoverkey.wire import ipv6, mh

    alen = algorithms.auth_len(at)
    buf = bytearray(160)
    off = ipv6.encode_header(buf, 0, 0, ipv6.NH_DEST_OPTS, 64, pcoa, par)
    off = ipv6.encode_dest_opts_hao(buf, off, mh.IPPROTO_MH, pcoa)
    mh_off = off
    end, auth_off = mh.encode_fbu(buf, off, seq, flags, 30, alen, ncoa)
    parts = mh.badf_mac_parts(buf, mh_off, auth_off, ncoa, par)
    mh.set_authenticator(buf, auth_off, alen, algorithms.mac(at, key, *parts))
    ipv6.finish(buf, 0, end)
    return bytes(buf[:end])


def router_run(d, stats):
    from handoverkey.config import build_engine

    meta = json.loads(_read(d + "/router_meta.json", "r"))
    wall = meta["wall_s"]
    now = 1000
    r = build_engine("router", json.loads(_read(d + "/router.json", "r")))
    gc.collect()
    t = r.table
    key = bytes(range(32))
    addr = bytearray(meta["fill_prefix"])  # 2001:db8:1:ffff::/64, one address per entry
    # Keys handed out long ago (expiring in 600 s of a 43200 s lifetime), so that the router's
    # flood control lets newcomers displace the least recently used one.
    for i in range(t.capacity):
        addr[14] = i >> 8
        addr[15] = i & 0xFF
        t.put(addr, b"\x00\x00\x00\x00", 1, key, now + 600000, now)
    key = addr = None
    if len(t) != t.capacity:
        _fail("key table not full")
    out = r.handle(_read(d + "/r0.bin"), now, wall)
    if "cpa-sent" not in _kinds(out):
        _fail("CPS: %r" % (_kinds(out),))
    out = None
    for i in (1, 2):
        f = _read(d + "/r%d.bin" % i)
        gc.collect()
        before = gc.mem_alloc()
        if stats is not None and i == 2:
            gc.disable()
        out = r.handle(f, now, wall)
        if stats is not None and i == 2:
            stats["provisioning_alloc_bytes"] = gc.mem_alloc() - before
            gc.enable()
        if "key-provisioned" not in _kinds(out) or len(out[0]) != 1:
            _fail("RtSolPr %d: %r" % (i, _kinds(out)))
        out = f = None
    if len(t) != t.capacity:
        _fail("key table not full after provisioning")
    pcoa = bytes.fromhex(meta["mn1"])
    ncoa = bytes.fromhex(meta["ncoa"])
    slot = t.lookup(pcoa, now)
    if slot < 0:
        _fail("no key for the first mobile node")
    hk = bytes(t.key(slot))
    at = t.at(slot)
    f = _fbu(hk, at, pcoa, ncoa, r.address, 1, 0xC0)  # A | H, as the mobile node sends it
    out = r.handle(f, now + 10, wall)
    if _kinds(out) != ["fbu-accepted"] or len(out[0]) != 2:
        _fail("FBU with A: %r" % (_kinds(out),))
    out = None
    f = _fbu(hk, at, pcoa, ncoa, r.address, 2, 0x40)  # H only: the check and nothing else
    if stats is not None:
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        _heads()
    out = r.handle(f, now + 20, wall)
    if stats is not None:
        after = gc.mem_alloc()  # a small int: reading it allocates nothing
        _heads()
        gc.enable()
        stats["fbu_check_alloc_bytes"] = after - before
    if _kinds(out) != ["fbu-accepted"] or out[0]:
        _fail("FBU check: %r" % (_kinds(out),))
    if stats is not None:
        stats["keytable_entry_bytes"] = t.bytes_per_entry()
        stats["keytable_bytes"] = t.table_bytes()
        stats["keytable_capacity"] = t.capacity
    return r


def mobile_run(d, stats):
    from handoverkey import crypto
    from handoverkey.config import build_engine

    steps = json.loads(_read(d + "/mobile_steps.json", "r"))
    wall0 = steps["wall_s"]
    m = build_engine("mobile", json.loads(_read(d + "/mobile.json", "r")))
    crypto.backend_name()
    crypto.random_bytes = _DetRandom()
    gc.collect()
    for i, s in enumerate(steps["steps"]):
        now = s["now_ms"]
        wall = wall0 + now // 1000
        if s["op"] == "call":
            out = getattr(m, s["method"])(now, wall, *s["args"])
        else:
            out = m.handle(_read(d + "/m%d.bin" % s["frame"]), now, wall)
        got = [hashlib.sha1(f).digest().hex() for f in out[0]]
        if got != s["sends"]:
            _fail("step %d (%s): sent frames differ from the recording" % (i, s["op"]))
        for k in s["events"]:
            if k not in _kinds(out):
                _fail("step %d: no %s event in %r" % (i, k, _kinds(out)))
        out = None
        if stats is not None:
            gc.collect()
            stats["after_step_%d" % i] = gc.mem_alloc() - _BASE
    return m


def main(argv):
    mode, role, d = argv[1], argv[2], argv[3]
    stats = None
    if mode == "stats":
        stats = {}
        for name in _read(argv[4], "r").split():
            __import__(name)
        from handoverkey import crypto

        crypto.backend_name()  # picks (and imports) the backend, as the first operation would
        gc.collect()
        stats["heap_after_import_bytes"] = gc.mem_alloc() - _BASE
    engine = router_run(d, stats) if role == "router" else mobile_run(d, stats)
    if mode == "trace":
        print("MODULES " + ",".join(sorted([n for n in sys.modules if n == "handoverkey" or n.startswith("handoverkey.")])))
    if stats is not None:
        gc.collect()
        stats["heap_after_run_bytes"] = gc.mem_alloc() - _BASE
        stats["script_base_bytes"] = _BASE
        print("STATS " + json.dumps(stats))
    engine = None
    print("OK")


main(sys.argv)
