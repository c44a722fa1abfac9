"""The CPython RtSolPr fast path (router_fast_rtsolpr.py) decides exactly as the general path does.

Two routers built from the same config, one with the fast paths and one without (Router._fast =
None), get the same frames; their frames, events and whole state (keys, forwarding, replay
memory, flood-control buckets) must stay equal. The handover key and its encryption are made
deterministic for the comparison (the only random inputs of a provisioning); the PrRtAdv's
signature is deterministic anyway (PKCS#1 v1.5). Frames: legitimate RtSolPrs in every variant
the fast path takes (1024/2048-bit, each AT, reuse), the ones it hands to the general path
(wildcard or unknown AP, unsupported AT, unusual option layouts), every rejection of
tests/dual/test_router.py, rate limiting, and single-octet mutations, checksum repaired or not.
"""

import hashlib
import os
import random

import engines as E
import pytest
from test_replay import _state as replay_state
from test_router import _invalid_variants

from handoverkey import crypto, router_fast
from handoverkey.wire import ipv6, ndopt

AP = bytes.fromhex("02000000b0ff")  # the PAR fixture's neighbouring access point
_det = {"i": 0}


def _random_bytes(n):
    _det["i"] += 1
    return hashlib.sha256(b"key %d" % _det["i"]).digest()[:n]


def _rsa_encrypt(pub, m):
    out = hashlib.sha512(bytes(m) + pub.spki()).digest()
    return (out * (pub.size // len(out) + 1))[: pub.size]


def _deterministic(monkeypatch):
    # The backend is picked on first use and rebinds these names: pick it before patching.
    crypto.backend_name()
    monkeypatch.setattr(crypto, "random_bytes", _random_bytes)
    monkeypatch.setattr(crypto, "rsa_encrypt", _rsa_encrypt)


@pytest.fixture
def routers(monkeypatch):
    _deterministic(monkeypatch)
    return _pair()


@pytest.fixture
def fast_calls(monkeypatch):
    """How many RtSolPrs the fast path answered itself (returned something other than None)."""
    seen = {"answered": 0}
    real = router_fast.rtsolpr_fast

    def counting(*args):
        out = real(*args)
        if out is not None:
            seen["answered"] += 1
        return out

    monkeypatch.setattr(router_fast, "rtsolpr_fast", counting)
    return seen


def _pair(**over):
    out = []
    for fast in (True, False):
        r = E.make_router(**over)
        if not fast:
            r._fast = None
        out.append(r)
    assert out[0]._fast is not None
    return out


def _state(r):
    buckets = sorted((k, list(b)) for k, b in r._sources._buckets.items())
    return (r.snapshot(), replay_state(r.replay), list(r._rtsolpr_bucket._state), list(r._sec0_bucket._state), buckets)


def _same(pair, frame, now=0):
    outs = []
    for r in pair:
        _det["i"] = 0
        outs.append(r.handle(frame, now, E.wall(now)))
    assert outs[0] == outs[1]
    assert _state(pair[0]) == _state(pair[1])
    return outs[0]


def _kinds(out):
    return [e[0] for e in out[1]]


def _rtsolpr(mn, at=1, now=0, target_ap=AP, hke=None, **kw):
    hke = mn.hke[0] if hke is None else hke
    # crypto.random_bytes is the deterministic stand-in here: the nonce comes from the OS.
    kw.setdefault("nonce", os.urandom(6))
    return E.make_rtsolpr(mn, E.RouterIdentity(E.router_cfg()).link_local, hke.public.spki(), at=at,
                          wall_s=E.wall(now), target_ap=target_ap, **kw)


def test_provisioning_alike_and_taken_by_the_fast_path(routers, fast_calls):
    mn1, mn2, big = E.Identity(E.mobile_cfg()), E.Identity(E.mobile_cfg(second=True)), E.Identity(E.mobile_cfg(2048))
    now = 0
    for mn in (mn1, mn2, big):
        for at in (0, 1):
            now += 1000
            out = _same(routers, _rtsolpr(mn, at, now), now)
            assert _kinds(out) == ["key-provisioned"] and len(out[0]) == 1, (mn.pcoa.hex(), at, out[1])
    # Each one was the fast path's; the same CGA and key again gets the same key back (reused).
    assert fast_calls["answered"] == 6
    now += 1000
    out = _same(routers, _rtsolpr(mn1, 1, now), now)
    assert out[1][0][1]["reused"] is True and fast_calls["answered"] == 7
    # The answer is a PrRtAdv the general codecs read, with the reply and a valid checksum.
    pkt = ipv6.decode_packet(out[0][0])
    assert ipv6.verify_upper(out[0][0], pkt) and E.hk_reply(out[0][0]) is not None


def test_long_nonces_alike_up_to_the_transmit_buffer(routers, fast_calls):
    """Nonces of every length up to where no answer fits (2048-bit keys, the largest replies):
    the fast path answers while its PrRtAdv fits the buffer and leaves the rest to the general
    path, which answers without a key or drops the RtSolPr; both end alike."""
    big = E.Identity(E.mobile_cfg(2048))
    kinds = set()
    now = 0
    for n in range(6, 900, 8):
        now += 1000
        out = _same(routers, _rtsolpr(big, 1, now, nonce=os.urandom(n)), now)
        kinds.add(tuple(_kinds(out)))
        assert all(len(f) <= 1500 for f in out[0])
    assert kinds == {("key-provisioned",), ("rtsolpr-no-key",), ("dropped",)}
    assert 0 < fast_calls["answered"] < 112


def test_what_the_fast_path_leaves_alone_is_decided_alike(routers, fast_calls):
    mn = E.Identity(E.mobile_cfg())
    now = 1000
    # No New AP (wildcard), an AP without a neighbour entry: the general path's.
    for frame in (_rtsolpr(mn, now=now, target_ap=None), _rtsolpr(mn, now=now, target_ap=b"\x02\x00\x00\x00\xb0\x00")):
        _same(routers, frame, now)
    assert fast_calls["answered"] == 0
    # An AT nobody supports is the fast path's: answered without a key.
    out = _same(routers, _rtsolpr(mn, at=9, now=now), now)
    assert _kinds(out) == ["rtsolpr-no-key"] and fast_calls["answered"] == 1
    fast_calls["answered"] = 0
    base = _rtsolpr(mn, now=now + 1000)
    # Unusual layouts: options reordered, repeated, unknown, an LLA code past the defined ones,
    # a longer nonce, link padding after the payload, anything after the signature.

    def edit(fn):
        return E.resign(base, mn.cga_key, fn)

    variants = [
        edit(lambda t, raw: raw * 2 if t == ndopt.OPT_CGA else raw),
        edit(lambda t, raw: raw * 2 if t == ndopt.OPT_TIMESTAMP else raw),
        edit(lambda t, raw: raw + bytes((250, 1)) + bytes(6) if t == ndopt.OPT_NONCE else raw),
        edit(lambda t, raw: raw + bytes((ndopt.OPT_LLA, 1, 9)) + bytes(5) if t == ndopt.OPT_LLA else raw),
        edit(lambda t, raw: bytes((ndopt.OPT_NONCE, 2)) + bytes(range(14)) if t == ndopt.OPT_NONCE else raw),
        edit(lambda t, raw: b"" if t == ndopt.OPT_HK_REQUEST else raw),
        base + bytes(8),
    ]
    tail = bytearray(base + bytes((250, 1)) + bytes(6))
    tail[4:6] = (len(tail) - 40).to_bytes(2, "big")
    ipv6.finish(tail, 0, len(tail))
    variants.append(bytes(tail))
    for i, frame in enumerate(variants):
        now += 1000
        _same(routers, frame, now)
    # The last two are the usual layout as far as the RtSolPr goes: the fast path's.
    assert fast_calls["answered"] <= 2


def test_rejections_alike(monkeypatch):
    _deterministic(monkeypatch)
    # Room in the per-source budget for every attempt below (flood control has its own test).
    routers = _pair(source_rate=100, source_burst=100)
    mn = E.Identity(E.mobile_cfg())
    par = E.RouterIdentity(E.router_cfg())
    now = 0
    reasons = []
    for name, frame, reason in _invalid_variants(mn, par, now):
        out = _same(routers, frame, now)
        reasons.append(out[1][0][1].get("reason"))
    assert "signature" in reasons and "hke-params" in reasons and "timestamp" in reasons
    # Those were all made without a New AP option; the same failures with one (the fast path's layout).
    big = E.Identity(E.mobile_cfg(2048)).hke[0]
    mn2 = E.Identity(E.mobile_cfg(second=True))
    for frame in (_rtsolpr(mn, now=now, hke=big), _rtsolpr(mn, now=now, hke=mn.cga_key),
                  _rtsolpr(mn, now=now, signer_key=mn2.cga_key), _rtsolpr(mn, now=now - 400000),
                  _rtsolpr(mn, now=now, params=mn2.params, signer_key=mn2.cga_key)):
        out = _same(routers, frame, now)
        assert _kinds(out) == ["rtsolpr-rejected"]
    bad_sig = bytearray(_rtsolpr(mn, now=now))
    bad_sig[-10] ^= 1
    ipv6.finish(bad_sig, 0, len(bad_sig))
    out = _same(routers, bytes(bad_sig), now)
    assert out[1] == [("rtsolpr-rejected", {"source": mn.pcoa, "reason": "signature"})] and len(out[0]) == 1
    # A replay of an accepted RtSolPr.
    ok = _rtsolpr(mn, now=now)
    assert _kinds(_same(routers, ok, now)) == ["key-provisioned"]
    assert _same(routers, ok, now + 10)[1][0][1]["reason"] == "replay"


def test_flood_control_alike(monkeypatch):
    _deterministic(monkeypatch)
    pair = _pair(rtsolpr_rate=1, rtsolpr_burst=2)
    mn = E.Identity(E.mobile_cfg())
    kinds = [_kinds(_same(pair, _rtsolpr(mn, now=0), 0)) for _ in range(4)]
    assert kinds[2] == ["rate-limited"] and kinds[3] == ["rate-limited"]
    # A bad signature spends a token too, on both paths, before the RSA check.
    pair = _pair(rtsolpr_rate=1, rtsolpr_burst=1)
    bad = bytearray(_rtsolpr(mn, now=0))
    bad[-10] ^= 1
    ipv6.finish(bad, 0, len(bad))
    assert _kinds(_same(pair, bytes(bad), 0)) == ["rtsolpr-rejected"]
    assert _kinds(_same(pair, _rtsolpr(mn, now=0), 0)) == ["rate-limited"]


def test_mutations_alike(routers):
    rnd = random.Random(5269)
    mn = E.Identity(E.mobile_cfg())
    now = 1000
    accepted = 0
    for bits in (1024, 2048):
        who = mn if bits == 1024 else E.Identity(E.mobile_cfg(2048))
        base = _rtsolpr(who, now=now)
        positions = list(range(len(base)))
        if bits == 2048:
            positions = rnd.sample(positions, 150)
        for i in positions:
            f = bytearray(_rtsolpr(who, now=now))
            f[i] = (f[i] + rnd.randrange(1, 256)) & 0xFF
            out = _same(routers, bytes(f), now)
            accepted += "key-provisioned" in _kinds(out)
            if rnd.random() < 0.5:
                try:
                    ipv6.finish(f, 0, len(f))
                except Exception:
                    continue
                out = _same(routers, bytes(f), now)
                accepted += "key-provisioned" in _kinds(out)
            now += 1
        _same(routers, base[:-8], now)
        _same(routers, base + b"\x00" * 8, now)
    # Some mutations leave a valid message (the Identifier, the AP's last octet, a reserved
    # field, a padding octet...); the comparison covered accepted frames as well as refusals.
    assert accepted > 0


def test_every_bit_of_the_interface_identifier_alike(monkeypatch):
    # The CGA checks read the interface identifier bit by bit (Sec, u/g, Hash1): flip each bit
    # of the source's interface identifier, checksum repaired, for both mobile identities.
    _deterministic(monkeypatch)
    routers = _pair(rtsolpr_rate=1000, rtsolpr_burst=1000)
    for cfg in (E.mobile_cfg(), E.mobile_cfg(second=True)):
        mn = E.Identity(cfg)
        for bit in range(64):
            f = bytearray(_rtsolpr(mn, now=0))
            f[16 + bit // 8] ^= 0x80 >> (bit % 8)
            ipv6.finish(f, 0, len(f))
            out = _same(routers, bytes(f), 0)
            assert out[1][0][1]["reason"] in ("cga", "signature"), out[1]


def test_unusable_keys_in_the_usual_layout_alike(routers):
    # A CGA key or HKE key laid out as usual but with an even modulus: no key, on both paths
    # (found by tests/fuzz router_fastpath: the fast path raised instead).
    mn = E.Identity(E.mobile_cfg())
    for kind in (ndopt.OPT_CGA, ndopt.OPT_HK_REQUEST):
        f = bytearray(_rtsolpr(mn, now=0))
        pkt, msg = E.icmp_of(bytes(f))
        o = msg.find(kind)
        pad = f[o[1] + 2]
        last = o[1] + o[2] - pad - 6  # the modulus's last octet, before 02 03 01 00 01
        assert bytes(f[last + 1 : last + 6]) == b"\x02\x03\x01\x00\x01"
        f[last] &= 0xFE
        ipv6.finish(f, 0, len(f))
        out = _same(routers, bytes(f), 0)
        assert _kinds(out) == ["rtsolpr-rejected"], out[1]
