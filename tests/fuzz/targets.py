"""Fuzz targets: each one a function of one bytes argument, run unchanged on CPython and MicroPython.

A target returns normally for every input the code under test handles as documented, and
raises for anything else: an exception the code was never meant to let out (a crash), or a
Finding (an AssertionError) when a documented invariant is broken. Drivers:

  tests/fuzz/run.py         atheris (libFuzzer) on CPython, coverage-guided
  tests/fuzz/replay_mpy.py  every corpus file through every target, on MicroPython or CPython
  tests/host/test_fuzz_smoke.py  a short run per target in CI (atheris, or a built-in mutator)

Decoder targets (the allowed error is the module's documented one):
  ipv6        ipv6.decode_packet, pseudo_src, verify_upper               DecodeError
  ndopt       ndopt.walk and every get_* on every option, der_tlv_len     DecodeError
  icmp        icmp.decode_icmp, find / find_all                           DecodeError
  mh          mh.decode_mh, badf_mac_parts                                DecodeError
  cga         cga.parse_params, extension_fields, hash1/2, cga_verify     DecodeError (VerifyError from cga_verify)
  x509        x509.parse, TrustAnchor.from_certificate                    DecodeError
  asn1        the asn1 reader walked over any DER, x509.ip_addr_blocks    DecodeError
  spki        RsaPublicKey.from_spki (must be strict: re-encodes to the input)   CryptoError
  pkcs8       RsaPrivateKey.from_pkcs8 (strict: re-encodes to the input)  CryptoError
  pkcs1       EME-PKCS1-v1_5 decoding with implicit rejection, against a plain reference decoder
  config      config.build_engine on JSON (first octet: role)            EncodeError (ConfigError)

Engine targets (input: one control octet, then an IPv6 frame; see fixup()):
  router          the PAR engine after a legitimate provisioning of the mobile node
  mobile_prrtadv  the mobile node waiting for the PrRtAdv that answers its RtSolPr
  mobile_fback    the mobile node waiting for the FBack that answers its FBU
  mobile_cpa      the mobile node discovering the PAR's certification path, holding the first
                  CPA (the intermediate certificate) and waiting for the second (the router's):
                  a CPA that completes the path runs certpath.validate_path
  router_fastpath the router state above, each input handled twice: with the CPython FBU fast
                  path (router_fast.py) and with the general path; frames and events must be
                  equal (a differential target; on MicroPython both runs take the general path)
Invariant: handle() returns (list of frames, list of (kind, dict) events) and raises nothing;
every frame it sends decodes and has a correct checksum; the key table (and the forwarding
table, the MN's state) part of snapshot() is unchanged unless an event says why
(key-provisioned, fbu-accepted, key-stored, fback-accepted, fback-refused). After any input
that changed the engine, it is rolled back to the fixture state, so every input meets the
same engine.

The fixtures are deterministic: crypto.random_bytes is replaced by a counter-based stream
while the fixture is built and during each input, so identifiers, nonces and the handover key
(and so the seed frames tests/fuzz/make_corpus.py saves from it) are the same on every run and
on both interpreters.
"""

import json
import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
for _p in (_HERE + "/../dual", _HERE + "/../../firmware"):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import hashlib  # noqa: E402
from array import array  # noqa: E402

from handoverkey import crypto  # noqa: E402
from handoverkey.config import build_engine  # noqa: E402
from handoverkey.crypto import pkcs1  # noqa: E402
from handoverkey.crypto.rsakey import RsaPrivateKey, RsaPublicKey  # noqa: E402
from handoverkey.errors import CryptoError, DecodeError, EncodeError, VerifyError  # noqa: E402
from handoverkey.send import asn1, cga, certpath, x509  # noqa: E402
from handoverkey.wire import icmp, ipv6, mh, ndopt, ndopt_extra  # noqa: E402


class Finding(AssertionError):
    """A documented invariant does not hold for this input."""


def check(cond, what):
    if not cond:
        raise Finding(what)


# ---------------------------------------------------------------------------------------------
# deterministic randomness for the fixtures


class DetRandom:
    """crypto.random_bytes stand-in: SHA-256 in counter mode over a label and a counter."""

    def __init__(self):
        self.label = b"fixture"
        self.n = 0

    def reset(self, label):
        self.label = label
        self.n = 0

    def __call__(self, n):
        out = b""
        while len(out) < n:
            self.n += 1
            out += hashlib.sha256(self.label + self.n.to_bytes(4, "big")).digest()
        return out[:n]


_det = DetRandom()
_real = {}
STATS = {"inputs": 0, "rsa_verify": 0, "rsa_sign": 0, "rsa_encrypt": 0, "rsa_decrypt_implicit": 0,
         "rollbacks": 0}
_fast_sign = [False]


def _counting(name, fn):
    def wrapper(*args, **kw):
        STATS[name] += 1
        return fn(*args, **kw)

    return wrapper


def _fake_sign(priv, msg, hash="sha1"):
    # The router's own signature over the answer it built: k octets, no private-key operation.
    STATS["rsa_sign"] += 1
    d = hashlib.sha256(bytes(msg)).digest()
    out = d * (priv.size // 32 + 1)
    return out[: priv.size]


def _install():
    if _real:
        return
    crypto.backend_name()  # pick the backend first: its first call would rebind these names
    for name in ("random_bytes", "rsa_verify", "rsa_sign", "rsa_encrypt", "rsa_decrypt_implicit"):
        _real[name] = getattr(crypto, name)
    crypto.random_bytes = _det
    for name in ("rsa_verify", "rsa_sign", "rsa_encrypt", "rsa_decrypt_implicit"):
        setattr(crypto, name, _counting(name, _real[name]))


def _det_encrypt(pub, m):
    """RSAES-PKCS1-v1_5 with its padding drawn from _det: the two runs of a fast-versus-general
    comparison then encrypt (and sign) alike, as the real padding is random."""
    k = pub.size
    ps = bytes(b | 1 for b in _det(k - len(m) - 3))  # nonzero, as PKCS #1 requires
    em = b"\x00\x02" + ps + b"\x00" + bytes(m)
    return pow(int.from_bytes(em, "big"), pub.e, pub.n).to_bytes(k, "big")


def set_fast_sign(on):
    """Replace the engines' RSA signing (only ever of frames they built themselves, never of
    input) by a cheap stand-in, so an input that makes the router answer costs no private-key
    operation. Verification, encryption and decryption stay real."""
    _install()
    _fast_sign[0] = bool(on)
    crypto.rsa_sign = _fake_sign if on else _counting("rsa_sign", _real["rsa_sign"])


# ---------------------------------------------------------------------------------------------
# checkpoint / rollback of an engine's whole state, in place


_ATOMIC = (bytes, str, int, float, bool, tuple, memoryview)
_Module = type(sys)


class Checkpoint:
    """Records the contents of every mutable object reachable from root (instances, lists,
    dicts, bytearrays, arrays) and writes them back in place on rollback(), so memoryviews and
    references held anywhere stay valid. Objects of the `share` classes are left alone (keys,
    trust anchors: immutable in use, with caches worth keeping)."""

    def __init__(self, root, share=()):
        self._share = share
        self._seen = {}
        self._recs = []
        self._visit(root)
        self._seen = None

    def _visit(self, v):
        if v is None or isinstance(v, _ATOMIC):
            return
        i = id(v)
        if i in self._seen:
            return
        self._seen[i] = True
        if self._share and isinstance(v, self._share):
            return
        if isinstance(v, bytearray):
            self._recs.append((0, v, bytes(v)))
        elif isinstance(v, list):
            saved = list(v)
            self._recs.append((1, v, saved))
            for x in saved:
                self._visit(x)
        elif isinstance(v, dict):
            items = [(k, v[k]) for k in v]
            self._recs.append((2, v, items))
            for _, x in items:
                self._visit(x)
        elif isinstance(v, array):
            self._recs.append((3, v, (bytes(v), list(v))))
        elif callable(v) or isinstance(v, _Module):
            return
        else:
            attrs = _attrs(v)
            if attrs is None:
                return  # a C object with no Python-visible state (hash objects and the like)
            self._recs.append((4, v, attrs))
            for _, x in attrs:
                self._visit(x)

    def rollback(self):
        for kind, v, saved in self._recs:
            if kind == 0:
                if bytes(v) != saved:
                    v[:] = saved
            elif kind == 1:
                v[:] = saved
            elif kind == 2:
                v.clear()
                for k, x in saved:
                    v[k] = x
            elif kind == 3:
                raw, items = saved
                if bytes(v) != raw:  # one C-level comparison; the loop only when something changed
                    for j in range(len(items)):
                        if v[j] != items[j]:
                            v[j] = items[j]
            else:
                names = {}
                for n, x in saved:
                    names[n] = True
                    setattr(v, n, x)
                d = getattr(v, "__dict__", None)
                if d is not None:
                    for n in list(d.keys()):
                        if n not in names:
                            delattr(v, n)


def _attrs(v):
    out = []
    d = getattr(v, "__dict__", None)
    if d is not None:
        for n in d:
            out.append((n, d[n]))
    slots = getattr(type(v), "__slots__", None)
    if slots and d is None:
        if isinstance(slots, str):
            slots = (slots,)
        for n in slots:
            try:
                out.append((n, getattr(v, n)))
            except AttributeError:
                pass
    if d is None and not slots:
        return None
    return out


# ---------------------------------------------------------------------------------------------
# decoder targets


def _bounds(view, buf, what):
    # A memoryview a decoder returned: a slice of the input, never longer than it.
    check(len(view) <= len(buf), what + " longer than the input")


def t_ipv6(data):
    try:
        pkt = ipv6.decode_packet(data)
    except DecodeError:
        return
    n = len(data)
    check(ipv6.HEADER_LEN <= pkt.payload_off <= pkt.payload_end <= n, "payload range")
    check(len(pkt.src) == 16 and len(pkt.dst) == 16, "address length")
    check(pkt.home_address is None or len(pkt.home_address) == 16, "home address length")
    check(0 <= pkt.next_header <= 255, "next header")
    check(len(pkt.pseudo_src()) == 16, "pseudo source")
    try:
        r = ipv6.verify_upper(data, pkt)
        check(r is True or r is False, "verify_upper result")
    except DecodeError:
        pass
    # The same packet behind a prefix decodes the same (off handled, nothing read before it).
    if n < 2048:
        buf = b"\xff" * 3 + data
        try:
            p2 = ipv6.decode_packet(buf, 3, len(buf))
        except DecodeError:
            raise Finding("decodes at offset 0 but not at offset 3")
        check(p2.payload_off - 3 == pkt.payload_off and p2.next_header == pkt.next_header, "offset changes result")


_GETTERS = (
    (ndopt.OPT_SLLA, ndopt_extra.get_nd_lla),
    (ndopt.OPT_TLLA, ndopt_extra.get_nd_lla),
    (ndopt.OPT_CGA, ndopt.get_cga),
    (ndopt.OPT_RSA_SIG, ndopt.get_rsa_sig),
    (ndopt.OPT_TIMESTAMP, ndopt.get_timestamp),
    (ndopt.OPT_NONCE, ndopt.get_nonce),
    (ndopt.OPT_TRUST_ANCHOR, ndopt.get_trust_anchor),
    (ndopt.OPT_CERTIFICATE, ndopt.get_certificate),
    (ndopt.OPT_IP_ADDR, ndopt_extra.get_ip_addr),
    (ndopt.OPT_LLA, ndopt.get_lla),
    (ndopt.OPT_NAACK, ndopt_extra.get_naack),
    (ndopt.OPT_HK_REQUEST, ndopt.get_hk_request),
    (ndopt.OPT_HK_REPLY, ndopt.get_hk_reply),
)


def _views(v):
    """The memoryview/bytes fields of a decoded option value."""
    if isinstance(v, (memoryview, bytes)):
        return [v]
    out = []
    for n in ("params", "key_hash", "signature", "name", "cert", "addr", "lla", "ncoa", "spki", "enc_key"):
        x = getattr(v, n, None)
        if x is not None:
            out.append(x)
    return out


def _options(buf, options):
    for t, off, length in options:
        check(off >= 0 and length >= 8 and off + length <= len(buf), "option outside the buffer")
        for gt, getter in _GETTERS:
            try:
                v = getter(buf, off, length)
            except DecodeError:
                continue
            check(gt == t or (gt in (1, 2) and t in (1, 2)), "getter accepted an option of another type")
            for view in _views(v):
                check(len(view) <= length, "option field longer than the option")
        n = ndopt.der_tlv_len(buf, off, off + length)
        check(n == -1 or 2 <= n <= length, "der_tlv_len out of range")


def t_ndopt(data):
    try:
        opts = ndopt.walk(data, 0, len(data))
    except DecodeError:
        return
    check(len(opts) <= ndopt.MAX_OPTIONS, "too many options returned")
    p = 0
    for t, off, length in opts:
        check(off == p, "options not contiguous")
        p = off + length
    _options(data, opts)


def t_icmp(data):
    try:
        m = icmp.decode_icmp(data, 0, len(data))
    except DecodeError:
        return
    check(m.type in (icmp.ICMP_CPS, icmp.ICMP_CPA, icmp.ICMP_FMIPV6), "type")
    check(8 <= m.opts_off <= len(data), "options offset")
    for t in (ndopt.OPT_CGA, ndopt.OPT_NONCE, ndopt.OPT_RSA_SIG, 200):
        o = m.find(t)
        check(o is None or o[0] == t, "find")
        check(len(m.find_all(t)) <= len(m.options), "find_all")
    if m.sig_off >= 0:
        check(m.options[-1][1] == m.sig_off and m.options[-1][0] == ndopt.OPT_RSA_SIG, "sig_off")
    _options(data, m.options)


_A16 = b"\x20\x01\x0d\xb8" + bytes(11) + b"\x01"


def t_mh(data):
    try:
        m = mh.decode_mh(data, 0, len(data))
    except DecodeError:
        return
    check(m.mh_type in (mh.MH_FBU, mh.MH_FBACK), "type")
    check(m.auth_off + m.auth_len == len(data) and m.auth_len >= 1, "authenticator range")
    check(12 <= m.badf_off < m.auth_off, "BADF offset")
    check(m.alt_coa is None or len(m.alt_coa) == 16, "alternate CoA")
    parts = mh.badf_mac_parts(data, m.off, m.auth_off, _A16, _A16)
    total = 0
    for p in parts:
        total += len(p)
    check(total == 32 + m.auth_off - m.off, "MAC input length")


def t_cga(data):
    try:
        p = cga.parse_params(data)
    except DecodeError:
        return
    check(len(p.modifier) == 16 and len(p.prefix) == 8, "fixed fields")
    check(p.key_off == 25 and p.key_off < p.key_end <= p.end == len(data), "key range")
    fields = p.extension_fields()
    total = 0
    for t, v in fields:
        check(0 <= t <= 0xFFFF, "extension type")
        total += 4 + len(v)
    check(total == len(p.extensions), "extensions fill the field")
    check(len(cga.cga_hash1(p)) == 8 and len(cga.cga_hash2(p)) == 14, "hash lengths")
    addr = bytes(p.prefix) + cga.cga_hash1(p)
    try:
        cga.cga_verify(addr, data)
    except VerifyError:
        pass
    try:
        RsaPublicKey.from_spki(bytes(p.key))
    except CryptoError:
        pass


def t_x509(data):
    try:
        c = x509.parse(data)
    except DecodeError:
        return
    check(c.version in (1, 2, 3), "version")
    check(bytes(c.der) == bytes(data), "der")
    check(c.sig_hash in (None, "sha1", "sha256"), "sig hash")
    check(c.ip6 is None or c.ip6 == x509.INHERIT or isinstance(c.ip6, list), "ip6")
    c.self_issued()
    try:
        certpath.TrustAnchor.from_certificate(data)
    except DecodeError:
        pass


def _asn1_walk(buf, off, end, depth):
    p = off
    while p < end:
        tag, voff, vend = asn1.read_header(buf, p, end)
        check(p < voff <= vend <= end, "header range")
        check(asn1.skip(buf, p, end) == vend and asn1.peek_tag(buf, p, end) == tag, "skip / peek")
        try:
            if tag == asn1.INTEGER:
                v, q = asn1.read_integer(buf, p, end, 64)
                check(v >= 0 and q == vend, "integer")
            elif tag == asn1.OID:
                v, q = asn1.read_oid(buf, p, end)
                check(len(v) == vend - voff, "oid")
            elif tag == asn1.BIT_STRING:
                u, d0, d1, q = asn1.read_bit_string(buf, p, end)
                check(0 <= u <= 7 and voff < d0 <= d1 == vend, "bit string")
            elif tag == asn1.OCTET_STRING:
                asn1.read_octet_string(buf, p, end)
            elif tag == asn1.BOOLEAN:
                asn1.read_boolean(buf, p, end)
            elif tag == asn1.NULL:
                asn1.read_null(buf, p, end)
            elif tag == asn1.UTC_TIME or tag == asn1.GENERALIZED_TIME:
                asn1.read_time(buf, p, end)
            elif tag == asn1.SEQUENCE:
                try:
                    x509.ip_addr_blocks(buf, p, vend)
                except DecodeError:
                    pass
        except DecodeError:
            pass
        if tag & 0x20 and depth < 12:
            try:
                _asn1_walk(buf, voff, vend, depth + 1)
            except DecodeError:
                pass
        p = vend


def t_asn1(data):
    try:
        _asn1_walk(memoryview(data), 0, len(data), 0)
    except DecodeError:
        return


def t_spki(data):
    try:
        k = RsaPublicKey.from_spki(data)
    except CryptoError:
        return
    check(RsaPublicKey(k.n, k.e).spki() == bytes(data), "accepted a SubjectPublicKeyInfo that is not strict DER")
    check(len(k.key_hash()) == 16, "key hash")


def t_pkcs8(data):
    try:
        k = RsaPrivateKey.from_pkcs8(data)
    except CryptoError:
        return
    check(k.pkcs8() == bytes(data) or k.pkcs1() == bytes(data), "accepted a private key that is not strict DER")


_K = 128  # the EM length of the pkcs1 target (a 1024-bit key)


class _EmKey:
    """Just what pkcs1.decrypt_implicit reads of a private key, with a modulus above every EM."""

    def __init__(self):
        self.size = _K
        self.n = 1 << (8 * _K)
        self.d = 12345
        self._ir_key = None


_em_key = _EmKey()


def _reference_decode(em, expected_len):
    # RFC 8017 §7.2.2 step 3, written plainly.
    if len(em) != _K or em[0] != 0 or em[1] != 2:
        return None
    i = 2
    while i < _K and em[i] != 0:
        i += 1
    if i == _K or i - 2 < 8:
        return None
    m = em[i + 1:]
    if len(m) != expected_len:
        return None
    return bytes(m)


def t_pkcs1(data):
    """The first octet picks the expected length (1..117); the rest is the EM that the private
    operation "recovered" (here the identity), padded or cut to k octets."""
    if not data:
        return
    want = 1 + data[0] % (_K - 11)
    em = bytes(data[1 : 1 + _K])
    em = em + bytes(_K - len(em))
    got = pkcs1.decrypt_implicit(_em_key, em, want, _identity)
    check(isinstance(got, bytes) and len(got) == want, "implicit rejection output length")
    ref = _reference_decode(em, want)
    if ref is not None:
        check(got == ref, "a valid EM did not give its message")
    else:
        check(got == pkcs1.synthetic_message(_em_key, em, want), "an invalid EM did not give the synthetic message")


def _identity(priv, x):
    return x


def t_config(data):
    if not data:
        return
    role = "router" if data[0] & 1 else "mobile"
    try:
        cfg = json.loads(bytes(data[1:]).decode())
    except Exception:  # noqa: BLE001 - not JSON (or nested past the parser's limit): not the firmware's business
        return
    try:
        build_engine(role, cfg)
    except EncodeError:
        pass


# ---------------------------------------------------------------------------------------------
# engine targets


SAFE_KINDS = ("dropped", "rtsolpr-rejected", "fbu-rejected", "cps-ignored", "cpa-sent", "prrtadv-rejected",
              "prrtadv-no-key", "fback-rejected")


def fixup(data):
    """(frame, control) of an engine input: control = data[0], frame = data[1:].

    control bit 1: set Payload Length to the frame's length first; bit 0: recompute the ICMPv6
    or Mobility Header checksum. Without them nearly every mutation dies at the checksum."""
    c = data[0]
    frame = bytes(data[1:])
    if not c & 3 or len(frame) < 40:
        return frame, c
    b = bytearray(frame)
    if c & 2 and len(b) - 40 <= 0xFFFF:
        n = len(b) - 40
        b[4] = n >> 8
        b[5] = n & 0xFF
    if c & 1:
        try:
            pkt = ipv6.decode_packet(b)
            if pkt.next_header == ipv6.NH_ICMPV6:
                at = pkt.payload_off + 2
            elif pkt.next_header == ipv6.NH_MH:
                at = pkt.payload_off + 4
            else:
                at = -1
            if at >= 0 and at + 2 <= pkt.payload_end:
                v = ipv6.checksum(bytes(pkt.pseudo_src()), bytes(pkt.dst), pkt.next_header, b, pkt.payload_off,
                                  pkt.payload_end - pkt.payload_off, at)
                b[at] = v >> 8
                b[at + 1] = v & 0xFF
        except DecodeError:
            pass
    return bytes(b), c


def _check_output(out):
    check(isinstance(out, tuple) and len(out) == 2, "handle() must return (frames, events)")
    frames, events = out
    check(isinstance(frames, list) and isinstance(events, list), "frames and events are lists")
    for f in frames:
        check(isinstance(f, (bytes, bytearray)), "a frame is bytes")
        try:
            pkt = ipv6.decode_packet(f)
        except DecodeError:
            raise Finding("the engine sent a frame that does not decode")
        check(ipv6.verify_upper(f, pkt), "the engine sent a frame with a bad checksum")
    kinds = []
    for e in events:
        check(isinstance(e, tuple) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], dict),
              "an event is (kind, dict)")
        kinds.append(e[0])
    return kinds


class EngineFixture:
    """PAR and MN from the committed engine fixtures on an in-memory link, driven to four
    states, each kept as a Checkpoint:

    router   the PAR after provisioning the MN (key table: one key) and answering its RtSolPr
    cpa      the MN after its CPS, holding the first of the two CPAs
    prrtadv  the MN that sent that RtSolPr and waits for the PrRtAdv (held back by the link)
    fback    the MN holding the key, after sending a predictive FBU, waiting for the FBack

    seeds: the real frames of the exchange (and a fresh RtSolPr the PAR has not seen yet, and
    the genuine PrRtAdv / FBacks), for the corpora."""

    def __init__(self):
        import engines as E

        _install()
        was_fast = _fast_sign[0]
        set_fast_sign(False)
        _det.reset(b"fixture")
        share = (RsaPrivateKey, RsaPublicKey, certpath.TrustAnchor)
        link = E.pair()
        self.link = link
        self.par = link.engine("PAR")
        self.mn = link.engine("MN")
        link.call("MN", "attach")
        link.run(hold=("cpa",))
        self.cpa = list(link.held)
        check(len(self.cpa) == 2, "fixture: two CPAs held")
        link.held = []
        out = link.deliver("MN", self.cpa[0])
        check(out == ([], []), "fixture: first CPA taken silently")
        self.cp = {"cpa": Checkpoint(self.mn, share)}
        out = link.deliver("MN", self.cpa[1])
        check([e[0] for e in out[1]][:2] == ["path-validated", "rtsolpr-sent"], "fixture: path validated")
        link.run(hold=("prrtadv",))
        check(len(link.held) == 1, "fixture: one PrRtAdv held")
        self.prrtadv = link.held.pop()
        self.rtsolpr = link.frames("MN", "rtsolpr")[-1]
        self.cps = link.frames("MN", "cps")
        self.cp["router"] = Checkpoint(self.par, share)
        self.cp["prrtadv"] = Checkpoint(self.mn, share)
        ident = E.Identity(E.mobile_cfg())
        hke_spki = E.hk_request(self.rtsolpr).spki
        self.fresh_rtsolpr = E.make_rtsolpr(ident, self.par.link_local, bytes(hke_spki), nonce=b"\x5a" * 6,
                                            wall_s=link.wall_s)
        out = link.deliver("MN", self.prrtadv)
        check([e[0] for e in out[1]] == ["key-stored"], "fixture: key stored")
        link.call("MN", "move", "predictive")
        link.run(hold=("fback",))
        self.fbu = link.frames("MN", "fbu")[-1]
        self.fbacks = list(link.held)
        check(len(self.fbacks) >= 1, "fixture: FBack held")
        link.held = []
        self.cp["fback"] = Checkpoint(self.mn, share)
        self.now_ms = link.now_ms
        self.wall_s = link.wall_s
        self.current = {}
        self.before = {}
        for state, engine in (("router", self.par), ("cpa", self.mn), ("prrtadv", self.mn), ("fback", self.mn)):
            self.cp[state].rollback()
            self.before[state] = (engine.snapshot(), engine.next_deadline())
        self.current = {"router": "router", "mobile": "fback"}
        set_fast_sign(was_fast)

    def seeds(self):
        return {
            "router": [self.rtsolpr, self.fresh_rtsolpr, self.fbu] + self.cps,
            "cpa": [self.cpa[1], self.cpa[0]],
            "prrtadv": [self.prrtadv] + self.cpa,
            "fback": list(self.fbacks),
        }

    def enter(self, state):
        role = "router" if state == "router" else "mobile"
        if self.current.get(role) != state:
            self.cp[state].rollback()
            self.current[role] = state
        return self.par if role == "router" else self.mn

    def run(self, state, data):
        """One engine input in `state`; returns the events as "kind" or "kind:reason"."""
        if not data:
            return []
        engine = self.enter(state)
        frame, _ = fixup(data)
        _det.reset(b"input")
        snap0, dl0 = self.before[state]
        out = engine.handle(frame, self.now_ms, self.wall_s)
        kinds = _check_output(out)
        seen = []
        for kind, fields in out[1]:
            reason = fields.get("reason")
            seen.append(kind if reason is None else kind + ":" + str(reason))
        snap1 = engine.snapshot()
        dl1 = engine.next_deadline()
        if state == "router":
            if snap1["keys"] != snap0["keys"]:
                check("key-provisioned" in kinds or "key-discarded" in kinds,
                      "router key table changed without key-provisioned or key-discarded")
            if snap1["forwarding"] != snap0["forwarding"]:
                check("fbu-accepted" in kinds or "forwarding-ended" in kinds,
                      "router forwarding changed without fbu-accepted or forwarding-ended")
        else:
            if snap1["keys"] != snap0["keys"]:
                check("key-stored" in kinds, "mobile key store changed without key-stored")
            if snap1["state"] != snap0["state"] or dl1 != dl0:
                check("key-stored" in kinds or "fback-accepted" in kinds or "fback-refused" in kinds
                      or "path-validated" in kinds, "mobile state or timer changed without an event that says so")
            if snap1["router_certified"] != snap0["router_certified"]:
                check("path-validated" in kinds or "prrtadv-rejected:expired" in seen,
                      "mobile router certification changed without path-validated or an expired path")
        # A CPA changes the node's collection of certificates without an event, and any frame
        # to the router may spend flood-control tokens (the clock never moves here, so spent
        # tokens would never come back and later RtSolPrs would all be rate-limited): always
        # roll those two back.
        dirty = snap1 != snap0 or dl1 != dl0 or state == "cpa" or state == "router"
        for k in kinds:
            if k not in SAFE_KINDS:
                dirty = True
        if dirty:
            STATS["rollbacks"] += 1
            self.cp[state].rollback()
        return seen


    def run_fast_vs_general(self, data):
        """The router's CPython FBU fast path (router_fast.py) against its general path on the
        same input from the same state: the same frames and events, or a Finding. On MicroPython
        there is no fast path and both runs are the general one."""
        if not data:
            return []
        engine = self.enter("router")
        frame, _ = fixup(data)
        real_encrypt = crypto.rsa_encrypt
        crypto.rsa_encrypt = _counting("rsa_encrypt", _det_encrypt)
        try:
            _det.reset(b"input")
            fast = _plain(engine.handle(frame, self.now_ms, self.wall_s))
            # Both runs start from the same state, flood-control tokens included.
            self.cp["router"].rollback()
            saved = engine._fast
            engine._fast = None
            try:
                _det.reset(b"input")
                general = _plain(engine.handle(frame, self.now_ms, self.wall_s))
            finally:
                engine._fast = saved
        finally:
            crypto.rsa_encrypt = real_encrypt
        STATS["rollbacks"] += 1
        self.cp["router"].rollback()
        check(fast == general, "router fast path and general path disagree")
        return [e[0] for e in general[1]]


def _plain(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return sorted([(k, _plain(v[k])) for k in v])
    return v


_fixture = [None]


def fixture():
    if _fixture[0] is None:
        _fixture[0] = EngineFixture()
    return _fixture[0]


def t_router(data):
    fixture().run("router", data)


def t_mobile_prrtadv(data):
    fixture().run("prrtadv", data)


def t_mobile_fback(data):
    fixture().run("fback", data)


def t_mobile_cpa(data):
    fixture().run("cpa", data)


def t_router_fastpath(data):
    fixture().run_fast_vs_general(data)


TARGETS = {
    "ipv6": t_ipv6,
    "ndopt": t_ndopt,
    "icmp": t_icmp,
    "mh": t_mh,
    "cga": t_cga,
    "x509": t_x509,
    "asn1": t_asn1,
    "spki": t_spki,
    "pkcs8": t_pkcs8,
    "pkcs1": t_pkcs1,
    "config": t_config,
    "router": t_router,
    "mobile_prrtadv": t_mobile_prrtadv,
    "mobile_fback": t_mobile_fback,
    "mobile_cpa": t_mobile_cpa,
    "router_fastpath": t_router_fastpath,
}

# In a fixed order (MicroPython dicts do not keep insertion order).
NAMES = ("ipv6", "ndopt", "icmp", "mh", "cga", "x509", "asn1", "spki", "pkcs8", "pkcs1", "config",
         "router", "mobile_prrtadv", "mobile_fback", "mobile_cpa", "router_fastpath")
ENGINE_TARGETS = ("router", "mobile_prrtadv", "mobile_fback", "mobile_cpa", "router_fastpath")
_STATE = {"router": "router", "mobile_prrtadv": "prrtadv", "mobile_fback": "fback", "mobile_cpa": "cpa"}


def run_one(name, data):
    """Run target `name` on data, counting the input."""
    STATS["inputs"] += 1
    TARGETS[name](data)


def outcome(name, data):
    """A short deterministic description of what a target did with data (for comparing
    interpreters): "ok", "finding:<what>", "crash:<ExceptionType>", or the event kinds."""
    try:
        if name in ENGINE_TARGETS:
            if name == "router_fastpath":
                kinds = fixture().run_fast_vs_general(data)
            else:
                kinds = fixture().run(_STATE[name], data)
            return "events:" + ",".join(kinds)
        TARGETS[name](data)
        return "ok"
    except Finding as e:
        return "finding:" + str(e)
    except Exception as e:  # noqa: BLE001 - every other exception is what the fuzzing looks for
        return "crash:" + type(e).__name__ + ":" + str(e)
