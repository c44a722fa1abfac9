"""The CPython FBU fast path (router_fast.py) decides exactly as the general path does.

Two routers in the same state, one with the fast path and one without (Router._fast =
None), get the same frames; their outputs and their state must stay equal. The frames are the
mobile node's FBUs in every layout (predictive / reactive, each AT, with and without the A
flag), the rejections (no key, bad MAC, stale sequence, wrong SPI, a BADF length for another
AT) and many single-octet mutations of them, checksum repaired or not.
"""

import random

from handoverkey import algorithms
from handoverkey.config import build_engine
from handoverkey.wire import ipv6, mh

from hostsim import benchdata, world

NOW = 5000
PCOA = world.addr("2001:db8:1::a1")
OTHER = world.addr("2001:db8:1::a2")
NCOA = world.addr("2001:db8:2::c0a")
KEYS = {0: bytes(range(1, 21)), 1: bytes(range(40, 72))}


def _pair():
    cfg = world.router_config("PAR", world.Plan())
    routers = []
    for fast in (True, False):
        r = build_engine("router", cfg)
        if not fast:
            r._fast = None
        routers.append(r)
    assert routers[0]._fast is not None
    return routers


def _put(routers, addr, at, key):
    for r in routers:
        r.table.put(addr, b"\x01\x02\x03\x04", at, key, NOW + 100000, NOW)


def _same(routers, frame, now=NOW):
    a = routers[0].handle(frame, now, world.FIXED_WALL_S)
    b = routers[1].handle(frame, now, world.FIXED_WALL_S)
    assert a == b, (a, b)
    assert routers[0].snapshot() == routers[1].snapshot()
    return a


def _fbu(at, seq, ack=False, predictive=True, key=None, pcoa=PCOA, par=None, lifetime=30):
    par = par if par is not None else world.addr(world.PAR_ADDRESS)
    return benchdata.fbu(KEYS[at] if key is None else key, at, pcoa, NCOA, par, seq, ack, predictive, lifetime)


def test_every_layout_accepted_alike():
    routers = _pair()
    seq = 0
    for at in (0, 1):
        _put(routers, PCOA, at, KEYS[at])
        for predictive in (True, False):
            for ack in (False, True):
                seq += 1
                frames, events = _same(routers, _fbu(at, seq, ack, predictive))
                assert events[0][0] == "fbu-accepted"
                assert len(frames) == (0 if not ack else 2 if predictive else 1)


def test_rejections_alike():
    routers = _pair()
    _put(routers, PCOA, 1, KEYS[1])
    assert _same(routers, _fbu(1, 7))[1][0][0] == "fbu-accepted"
    assert _same(routers, _fbu(1, 7))[1][0][1]["reason"] == "sequence"
    assert _same(routers, _fbu(1, 6))[1][0][1]["reason"] == "sequence"
    assert _same(routers, _fbu(1, 8, key=bytes(32)))[1][0][1]["reason"] == "mac"
    assert _same(routers, _fbu(0, 9, key=KEYS[1][:20]))[1][0][1]["reason"] == "badf"
    assert _same(routers, _fbu(1, 10, pcoa=OTHER))[1][0][1]["reason"] == "no-key"
    # Lifetime 0 ends the handover: forwarding and the key go (RFC 5269 §3.6).
    assert [e[0] for e in _same(routers, _fbu(1, 11, lifetime=0))[1]] == ["fbu-accepted", "forwarding-ended",
                                                                          "key-discarded"]
    assert _same(routers, _fbu(1, 12))[1][0][1]["reason"] == "no-key"
    _put(routers, PCOA, 1, KEYS[1])
    assert _same(routers, _fbu(1, 12, lifetime=4000))[1][0][1]["lifetime"] == 300
    # SPI other than 0, checksum repaired.
    f = bytearray(_fbu(1, 13))
    pkt = ipv6.decode_packet(f)
    m = mh.decode_mh(f, pkt.payload_off, pkt.payload_end)
    f[m.badf_off + 5] = 1
    ipv6.finish(f, 0, len(f))
    assert _same(routers, bytes(f))[1][0][1]["reason"] == "badf"
    # Payload Proto other than 59, and Home Addresses that are not unicast routable: dropped
    # before any key is looked at, on both paths.
    f = bytearray(_fbu(1, 13))
    f[64] = 6
    ipv6.finish(f, 0, len(f))
    assert _same(routers, bytes(f))[1] == [("dropped", {"reason": "decode"})]
    for home in ("fe80000000000000000000000000abcd", "ff020000000000000000000000000001", "00000000000000000000000000000001"):
        assert _same(routers, _fbu(1, 13, pcoa=bytes.fromhex(home)))[1] == [("dropped", {"reason": "hao"})]
    # Not bytes, and an expired key.
    assert _same(routers, bytearray(_fbu(1, 14)))[1][0][0] == "fbu-accepted"
    # Forwarding timed out before this FBU and no poll() ran: it ends now, with the key.
    events = _same(routers, _fbu(1, 15), now=NOW + 200000)[1]
    assert [e[0] for e in events] == ["forwarding-ended", "key-discarded", "fbu-rejected"]
    assert events[-1][1]["reason"] == "no-key"


def test_mutations_alike():
    rnd = random.Random(5269)
    routers = _pair()
    for at in (0, 1):
        _put(routers, PCOA, at, KEYS[at])
        seq = 100
        for predictive in (True, False):
            for ack in (False, True):
                base = _fbu(at, seq, ack, predictive)
                for i in range(len(base)):
                    for _ in range(3):
                        seq += 1
                        f = bytearray(_fbu(at, seq, ack, predictive))
                        f[i] = rnd.randrange(256)
                        _same(routers, bytes(f))
                        if rnd.random() < 0.5:
                            try:
                                ipv6.finish(f, 0, len(f))
                            except Exception:
                                continue
                            _same(routers, bytes(f))
                # Truncated and padded frames.
                seq += 1
                f = _fbu(at, seq, ack, predictive)
                _same(routers, f[:-8])
                _same(routers, f + b"\x00" * 8)


def test_attachment_follows_the_key():
    routers = _pair()
    _put(routers, PCOA, 1, KEYS[1])
    assert _same(routers, _fbu(1, 1))[1][0][0] == "fbu-accepted"
    # A new key for the same address: the cached HMAC state must not survive it.
    other = bytes(range(100, 132))
    _put(routers, PCOA, 1, other)
    assert _same(routers, _fbu(1, 2))[1][0][1]["reason"] == "mac"
    assert _same(routers, _fbu(1, 3, key=other))[1][0][0] == "fbu-accepted"
    _put(routers, PCOA, 0, KEYS[0])
    assert _same(routers, _fbu(0, 4))[1][0][0] == "fbu-accepted"
    assert algorithms.auth_len(0) == 12
