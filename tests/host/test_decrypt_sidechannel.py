"""Decryption that leaks nothing (interpretations §7, implicit rejection), checked on the host.

tests/dual/test_mobile.py::test_bad_padding_behaves_like_good already shows, on both
interpreters, that three forged HK Replies (block type 1, no separator, a 16-octet message)
give the valid reply's frames, events, state and next deadline, and that the FBU then fails at
the PAR. This file adds what that test does not cover:

- every way EME-PKCS1-v1_5 decoding can fail (first octet, block type 0 and 1, no separator,
  empty and 7-octet PS, a message one octet long or short, an empty message), plus ciphertexts
  that are not k octets or not below n, for AT 0 and AT 1 and for 1024- and 2048-bit HKE keys;
- the same starting state for every case (one MN, rolled back in place between cases), so the
  whole snapshot must match the valid case except the key octets;
- what the node does next: the FBU (byte for byte except the authenticator and checksum), its
  retransmissions and their deadlines, and the final fbu-failed, all the same;
- the internal call sequence of the decryption (private operation, synthetic message, HMACs,
  padding check, with argument lengths) is the same for valid and invalid padding, on both
  crypto backends: there is no early exit to time;
- the decryption result itself: the plaintext for valid padding, the synthetic message
  otherwise, never an exception, for both backends.

The timing benchmark is `python -m hostsim sidechannel` (hostsim/cmd_sidechannel.py); the last
test here only checks that it runs and prints its fields.
"""

import json
import os
import subprocess
import sys

import engines as E
import pytest

from handoverkey import crypto
from handoverkey.crypto import mac, pkcs1, pure
from handoverkey.crypto.rsakey import RsaPrivateKey, RsaPublicKey
from handoverkey.send import certpath
from handoverkey.wire import ndopt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "fuzz"))

from targets import Checkpoint  # noqa: E402


def _ps(n):
    return bytes([b or 1 for b in crypto.random_bytes(n)])


def encoded_blocks(k, mlen):
    """(name, EM) for the valid encoding and every padding failure, each exactly k octets."""
    m = crypto.random_bytes(mlen)
    return (
        ("valid", b"\x00\x02" + _ps(k - 3 - mlen) + b"\x00" + m),
        ("first octet not zero", b"\x01\x02" + _ps(k - 3 - mlen) + b"\x00" + m),
        ("block type 1", b"\x00\x01" + b"\xff" * (k - 3 - mlen) + b"\x00" + m),
        ("block type 0", b"\x00\x00" + _ps(k - 3 - mlen) + b"\x00" + m),
        ("no zero separator", b"\x00\x02" + _ps(k - 2)),
        ("empty PS", b"\x00\x02\x00" + _ps(k - 3)),
        ("PS of 7 octets", b"\x00\x02" + _ps(7) + b"\x00" + _ps(k - 10)),
        ("message one octet long", b"\x00\x02" + _ps(k - 4 - mlen) + b"\x00" + _ps(mlen + 1)),
        ("message one octet short", b"\x00\x02" + _ps(k - 2 - mlen) + b"\x00" + _ps(mlen - 1)),
        ("empty message", b"\x00\x02" + _ps(k - 3) + b"\x00"),
    )


def ciphertexts(pub, mlen):
    """(name, ciphertext, takes the private operation) for every case."""
    out = [(name, E.rsa_raw_encrypt(pub, em), True) for name, em in encoded_blocks(pub.size, mlen)]
    out += [
        ("ciphertext = n", pub.n.to_bytes(pub.size, "big"), False),
        ("ciphertext all ones", b"\xff" * pub.size, False),
        ("ciphertext one octet short", E.rsa_raw_encrypt(pub, encoded_blocks(pub.size, mlen)[0][1])[1:], False),
        ("ciphertext one octet long", b"\x00" + E.rsa_raw_encrypt(pub, encoded_blocks(pub.size, mlen)[0][1]), False),
        ("ciphertext zero", bytes(pub.size), True),
    ]
    return out


class Waiting:
    """A PAR and an MN whose RtSolPr is out and whose PrRtAdv is held back; the MN can be put
    back into exactly this state (rollback) before each forged PrRtAdv."""

    def __init__(self, bits, at):
        mobile = E.make_mobile(bits=bits, preferred_at=at)
        self.link = E.pair(mobile=mobile)
        self.link.call("MN", "attach")
        self.link.run(hold=("prrtadv",))
        assert len(self.link.held) == 1
        self.prrtadv = self.link.held.pop()
        self.rtsolpr = self.link.frames("MN", "rtsolpr")[-1]
        self.mn = self.link.engine("MN")
        spki = bytes(E.hk_request(self.rtsolpr).spki)
        self.hke_pub = RsaPublicKey.from_spki(spki)
        self.hke = E.Identity(E.mobile_cfg(bits=bits)).hke_for(spki)
        self.router_key = E.RouterIdentity(E.router_cfg()).key
        self.at = E.hk_reply(self.prrtadv).at
        assert self.at == at
        self.lifetime = E.hk_reply(self.prrtadv).lifetime
        self.cp = Checkpoint(self.mn, (RsaPrivateKey, RsaPublicKey, certpath.TrustAnchor))
        self.now = self.link.now_ms
        self.wall = self.link.wall_s

    def forged(self, enc):
        """The genuine PrRtAdv with the HK Reply ciphertext replaced, re-signed by the PAR's key."""
        opt = E.hk_reply_option(self.at, self.lifetime, enc)

        def swap(t, raw):
            return opt if t == ndopt.OPT_HK_REPLY else raw

        return E.resign(self.prrtadv, self.router_key, swap)

    def behaviour(self, prrtadv):
        """Everything the MN shows from this PrRtAdv on: the answer to it, then a handover whose
        FBUs are never answered (retransmissions until fbu-failed). Frames are compared with
        the authenticator and checksum masked; the key is returned separately."""
        self.cp.rollback()
        mn = self.mn
        trace = []
        out = mn.handle(prrtadv, self.now, self.wall)
        trace.append(("prrtadv", _masked(out), mn.next_deadline(), _snap(mn)))
        key = mn.snapshot()["keys"][0][3] if mn.snapshot()["keys"] else None
        t = self.now + 1
        out = mn.move(t, self.wall, "predictive")
        trace.append(("move", _masked(out), mn.next_deadline(), _snap(mn)))
        for _ in range(6):
            d = mn.next_deadline()
            if d is None:
                break
            out = mn.poll(d, self.wall + (d - self.now) // 1000)
            trace.append(("poll", d, _masked(out), mn.next_deadline(), _snap(mn)))
            if "fbu-failed" in [e[0] for e in out[1]]:
                break  # the handover is over; the key's refresh, still armed, comes hours later
        return trace, key


def _masked(out):
    frames, events = out
    masked = []
    for f in frames:
        b = bytearray(f)
        if E.kind(f) in ("fbu", "fback"):
            pkt, m = E.mh_of(f)
            for i in range(m.auth_off, m.auth_off + m.auth_len):
                b[i] = 0
            b[m.off + 4] = b[m.off + 5] = 0
        masked.append(bytes(b))
    return masked, events


def _snap(mn):
    s = mn.snapshot()
    return {"state": s["state"], "router_certified": s["router_certified"],
            "keys": [e[:3] + [len(e[3])] + e[4:] for e in s["keys"]]}


CASES = ((1024, 1), (1024, 0), (2048, 1))


@pytest.fixture(scope="module", params=CASES, ids=["1024-at1", "1024-at0", "2048-at1"])
def waiting(request):
    return Waiting(*request.param)


def test_every_padding_failure_behaves_like_valid_padding(waiting):
    mlen = E.KEY_LEN[waiting.at]
    cases = ciphertexts(waiting.hke_pub, mlen)
    expected, good_key = waiting.behaviour(waiting.forged(cases[0][1]))
    kinds = [e[0] for e in expected[0][1][1]]
    assert kinds == ["key-stored"], kinds
    assert kinds and expected[-1][2][1][-1][0] == "fbu-failed"
    assert len(good_key) == mlen
    keys = {}
    for name, enc, _ in cases[1:]:
        got, key = waiting.behaviour(waiting.forged(enc))
        assert got == expected, name
        assert len(key) == mlen and key != good_key, name
        assert key not in keys.values(), (name, "two failures gave the same key")
        keys[name] = key
    # The same bad ciphertext again: the same (synthetic) key, as implicit rejection promises.
    name, enc, _ = cases[4]
    assert waiting.behaviour(waiting.forged(enc))[1] == keys[name]


def _call_trace(monkeypatch):
    calls = []

    def wrap(mod, name, record):
        orig = getattr(mod, name)

        def f(*args):
            calls.append(record(name, args))
            return orig(*args)

        monkeypatch.setattr(mod, name, f)

    lens = lambda name, args: (name,) + tuple(len(a) if isinstance(a, (bytes, bytearray, memoryview)) else type(a).__name__
                                             for a in args)
    wrap(pure, "private_op", lambda name, args: (name, args[0].size))
    wrap(pkcs1, "synthetic_message", lens)
    wrap(pkcs1, "_padding_bad", lambda name, args: (name, len(args[0]), args[1], args[2]))
    wrap(mac, "hmac_sha256", lens)
    return calls


@pytest.mark.parametrize("backend", ["host", "pure"])
def test_decryption_takes_one_path(waiting, backend, monkeypatch):
    """The calls inside rsa_decrypt_implicit, with their argument lengths, are the same for the
    valid ciphertext and for every padding failure (every case with a k-octet c < n)."""
    saved = crypto.backend_name()
    crypto.use_backend(backend)
    try:
        calls = _call_trace(monkeypatch)
        mlen = E.KEY_LEN[waiting.at]
        traces = {}
        for name, enc, private in ciphertexts(waiting.hke_pub, mlen):
            del calls[:]
            out = crypto.rsa_decrypt_implicit(waiting.hke, enc, mlen)
            assert len(out) == mlen
            traces[name] = (list(calls), private)
        ref = traces["valid"][0]
        assert ("private_op", waiting.hke.size) in ref and ("_padding_bad", waiting.hke.size, waiting.hke.size, mlen) in ref
        for name, (trace, private) in traces.items():
            if private:
                assert trace == ref, name
            else:
                # Not k octets, or not below n: public facts about c; no private operation, the rest
                # (synthetic message, padding check of an all-zero block) as for any other c.
                assert [c[0] for c in trace] == [c[0] for c in ref if c[0] != "private_op"], name
    finally:
        crypto.use_backend(saved)


@pytest.mark.parametrize("backend", ["host", "pure"])
def test_decryption_result(waiting, backend):
    saved = crypto.backend_name()
    crypto.use_backend(backend)
    try:
        mlen = E.KEY_LEN[waiting.at]
        k = waiting.hke_pub.size
        for name, em in encoded_blocks(k, mlen):
            c = E.rsa_raw_encrypt(waiting.hke_pub, em)
            out = crypto.rsa_decrypt_implicit(waiting.hke, c, mlen)
            if name == "valid":
                assert out == em[-mlen:]
            else:
                assert out == pkcs1.synthetic_message(waiting.hke, c, mlen), name
                assert out != em[-mlen:], name
    finally:
        crypto.use_backend(saved)


def test_sidechannel_command_prints_its_fields():
    """The timing benchmark runs (a few trials: the figures mean nothing at this size)."""
    p = subprocess.run([sys.executable, "-m", "hostsim", "sidechannel", "--trials", "60", "--json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout)
    assert r["target"] == "cpython" and r["trials"] == 60
    for cls in ("valid", "invalid"):
        for f in ("n", "median_us", "mean_us", "stdev_us", "p10_us", "p90_us"):
            assert f in r["classes"][cls], (cls, f)
    for f in ("welch_t", "welch_df", "welch_p", "ks_d", "ks_p", "separated"):
        assert f in r["valid_vs_invalid"], f
    assert "separated" in r["valid_vs_valid"] and r["verdict"] in ("no separation beyond noise", "SEPARATED")
    p = subprocess.run([sys.executable, "-m", "hostsim", "sidechannel", "--trials", "30"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0 and "verdict" in p.stdout and "Welch" in p.stdout, p.stdout + p.stderr
