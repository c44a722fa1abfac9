"""Write the seed corpora of tests/fuzz/corpus/<target>/ from real frames (CPython, run once).

    .venv/bin/python tests/fuzz/make_corpus.py [--clean]

Sources, every frame captured on the simulated links (w.net.capture):
  - the demo world (hostsim.world.World(Plan(...))): attach, CPS/CPA, RtSolPr/PrRtAdv, FBU/FBack,
    for 1024- and 2048-bit keys, AT 0 and 1, predictive and reactive;
  - every attack scenario of hostsim.attacks (forged, replayed, truncated, overlong frames);
  - the engine fuzz fixture itself (tests/fuzz/targets.py), whose frames match the fixture's
    nonces and keys, so mutations of them reach the checks behind the nonce and the MAC;
  - the committed fixtures: certificates, keys, CGA parameters, engine configs, pcaps.
Each frame goes to every corpus that decodes a part of it (IPv6 frame, ICMPv6 message, its
options, Mobility Header, CGA Parameters, certificate, SPKI). Engine corpora get frames with
a control octet 0x01 in front (targets.fixup: recompute the checksum after mutation), one frame
per distinct shape (message type, option types, length), so the committed corpus stays small.
File names are the SHA-1 of the content (libFuzzer's convention); existing files are kept.
"""

import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for p in (HERE, os.path.join(ROOT, "tests", "dual"), os.path.join(ROOT, "firmware"), ROOT):
    if p not in sys.path:
        sys.path.insert(0, p)

from handoverkey.errors import DecodeError  # noqa: E402
from handoverkey.send import cga, x509  # noqa: E402
from handoverkey.wire import icmp, ipv6, mh, ndopt  # noqa: E402

CORPUS = os.environ.get("FUZZ_CORPUS") or os.path.join(HERE, "corpus")
FIX = os.path.join(ROOT, "tests", "fixtures")
PLANS = ((1024, 0, "predictive"), (1024, 1, "reactive"), (2048, 1, "predictive"), (2048, 0, "reactive"))


class Corpora:
    def __init__(self):
        self.files = {}  # target -> {sha1: bytes}
        self.shapes = {}  # target -> set of shapes already taken

    def add(self, target, data, shape=None):
        data = bytes(data)
        if not data:
            return
        if shape is not None:
            seen = self.shapes.setdefault(target, set())
            if shape in seen:
                return
            seen.add(shape)
        self.files.setdefault(target, {})[hashlib.sha1(data).hexdigest()] = data

    def write(self, clean=False):
        total = 0
        for target in sorted(self.files):
            d = os.path.join(CORPUS, target)
            os.makedirs(d, exist_ok=True)
            if clean:
                for n in os.listdir(d):
                    os.remove(os.path.join(d, n))
            for name, data in sorted(self.files[target].items()):
                with open(os.path.join(d, name), "wb") as f:
                    f.write(data)
            size = sum(len(v) for v in self.files[target].values())
            total += size
            print("%-15s %4d files %8d octets" % (target, len(self.files[target]), size))
        print("total %d octets" % total)


def _shape(frame):
    """What distinguishes frames for the engines: next header, message type/subtype/code, option
    types in order, length (bucketed)."""
    try:
        pkt = ipv6.decode_packet(frame)
    except DecodeError:
        return ("raw", len(frame) // 64)
    nh = pkt.next_header
    head = bytes(frame[pkt.payload_off : pkt.payload_off + 5]) if nh == 58 else b""
    opts = ()
    if nh == 58:
        try:
            m = icmp.decode_icmp(frame, pkt.payload_off, pkt.payload_end)
            opts = tuple(o[0] for o in m.options)
        except DecodeError:
            opts = ("bad",)
    elif nh == 135:
        head = bytes(frame[pkt.payload_off + 2 : pkt.payload_off + 3])
    return (nh, head[:2] + head[4:5], opts, pkt.hop_limit == 255, len(frame) // 32, pkt.dest_opts_off >= 0)


def _der_parts(c, der):
    """A certificate and the DER pieces inside it: SPKI, names, extensions."""
    c.add("x509", der)
    c.add("asn1", der)
    try:
        cert = x509.parse(der)
    except DecodeError:
        return
    c.add("spki", bytes(cert.spki))
    c.add("asn1", bytes(cert.spki))
    c.add("asn1", bytes(cert.issuer))


def add_frame(c, frame, engines=True):
    frame = bytes(frame)
    c.add("ipv6", frame, _shape(frame))
    try:
        pkt = ipv6.decode_packet(frame)
    except DecodeError:
        pkt = None
    if engines:
        shape = _shape(frame)
        for t in ("router", "mobile_prrtadv", "mobile_fback", "mobile_cpa"):
            c.add(t, b"\x01" + frame, shape)
        if pkt is not None and pkt.next_header == mh.IPPROTO_MH:
            c.add("router_fastpath", b"\x01" + frame)
        elif pkt is not None and pkt.next_header == 58 and frame[pkt.payload_off : pkt.payload_off + 1] == b"\x9a":
            # FMIPv6 messages: the RtSolPrs are the fast path's other input.
            c.add("router_fastpath", b"\x01" + frame, ("fast",) + tuple(shape))
    if pkt is None:
        return
    body = frame[pkt.payload_off : pkt.payload_end]
    if pkt.next_header == 58:
        try:
            m = icmp.decode_icmp(frame, pkt.payload_off, pkt.payload_end)
        except DecodeError:
            c.add("icmp", body, ("bad", len(body) // 64))
            return
        c.add("icmp", body, _shape(frame))
        c.add("ndopt", frame[m.opts_off : pkt.payload_end], tuple(o[0] for o in m.options))
        for t, off, length in m.options:
            try:
                if t == ndopt.OPT_CGA:
                    params = bytes(ndopt.get_cga(frame, off, length).params)
                    c.add("cga", params, (len(params) // 8, params[24:25]))
                    p = cga.parse_params(params)
                    c.add("spki", bytes(p.key))
                    c.add("asn1", bytes(p.key))
                elif t == ndopt.OPT_HK_REQUEST:
                    spki = bytes(ndopt.get_hk_request(frame, off, length).spki)
                    c.add("spki", spki)
                elif t == ndopt.OPT_CERTIFICATE:
                    _der_parts(c, bytes(ndopt.get_certificate(frame, off, length).cert))
                elif t == ndopt.OPT_TRUST_ANCHOR:
                    c.add("asn1", bytes(ndopt.get_trust_anchor(frame, off, length).name))
            except DecodeError:
                pass
    elif pkt.next_header == mh.IPPROTO_MH:
        c.add("mh", body)


def world_frames():
    from hostsim.world import Plan, World

    out = []
    for bits, at, mode in PLANS:
        with World(Plan(key_bits=bits, at=at, mode=mode)) as w:
            w.attach()
            w.handover()
            w.net.call("MN", "binding_complete")
            w.net.run(max_ms=1000)
            out += [f for _, _, f in w.net.capture]
    return out


def attack_frames():
    from hostsim import attacks

    out = []
    for name, fn, _ in attacks.ATTACKS:
        plan = {}
        if name == "fbu-expired-key":
            plan["hk_lifetime"] = attacks.EXPIRY_LIFETIME_S
        if name == "flood-distinct-cgas":
            plan["table_capacity"] = attacks.FLOOD_CAPACITY
        sc = attacks.Scene("cpython", **plan)
        try:
            fn(sc)
        except Exception as e:  # a scenario that cannot run still leaves its frames
            print("attack %s: %s" % (name, e))
        finally:
            out += [f for _, _, f in sc.net.capture]
            sc.close()
    return out


def pcap_frames():
    from hostsim.pcap import read_pcap

    out = []
    d = os.path.join(FIX, "captures")
    for n in sorted(os.listdir(d)):
        if n.endswith(".pcap"):
            try:
                out += [bytes(f) for f in read_pcap(os.path.join(d, n))[1]]
            except Exception as e:  # noqa: BLE001
                print("pcap %s: %s" % (n, e))
    return out


def _pem_free_files(d, ext):
    for n in sorted(os.listdir(d)):
        if n.endswith(ext):
            with open(os.path.join(d, n), "rb") as f:
                yield n, f.read()


def em_blocks():
    """EME-PKCS1-v1_5 blocks for the pkcs1 target (first octet: expected length selector)."""
    k = 128
    out = []
    ps = bytes(range(1, 256))[: k]
    for mlen in (16, 20, 32):
        sel = bytes([(mlen - 1) % (k - 11)])
        good = b"\x00\x02" + ps[: k - 3 - mlen] + b"\x00" + b"\x42" * mlen
        out.append(sel + good)
        out.append(sel + b"\x01" + good[1:])  # first octet
        out.append(sel + b"\x00\x01" + good[2:])  # block type
        out.append(sel + b"\x00\x02" + ps[: k - 2])  # no separator
        short = b"\x00\x02" + ps[:7] + b"\x00" + b"\x42" * (k - 10)
        out.append(sel + short)  # PS of 7 octets
        out.append(sel + b"\x00\x02" + ps[: k - 4 - mlen] + b"\x00" + b"\x42" * (mlen + 1))  # length
    return out


def main(argv):
    import targets as T

    c = Corpora()
    frames = []
    fx = T.fixture()
    seeds = fx.seeds()
    # The fixture's own frames go to their engine corpora whatever their shape.
    for state, target in (("router", "router"), ("cpa", "mobile_cpa"), ("prrtadv", "mobile_prrtadv"),
                          ("fback", "mobile_fback")):
        for f in seeds[state]:
            c.add(target, b"\x01" + f)
            c.add(target, b"\x00" + f)
    for f in (fx.fbu, fx.rtsolpr, fx.fresh_rtsolpr):
        c.add("router_fastpath", b"\x01" + f)
        c.add("router_fastpath", b"\x00" + f)
    frames += [fx.rtsolpr, fx.fresh_rtsolpr, fx.prrtadv, fx.fbu] + fx.fbacks + fx.cps + fx.cpa
    frames += world_frames()
    frames += attack_frames()
    for f in frames:
        add_frame(c, f)
    for f in pcap_frames():
        add_frame(c, f, engines=False)
    for n, der in _pem_free_files(os.path.join(FIX, "pki"), ".der"):
        _der_parts(c, der)
    from handoverkey.crypto.rsakey import RsaPrivateKey
    from handoverkey.errors import CryptoError

    for d, ext in ((os.path.join(FIX, "pki"), ".pk8"), (os.path.join(FIX, "keys"), ".pk8")):
        for n, der in _pem_free_files(d, ext):
            c.add("pkcs8", der)
            c.add("asn1", der)
            try:
                k = RsaPrivateKey.from_pkcs8(der)
            except CryptoError:
                continue
            if k.size == 128:
                c.add("pkcs8", k.pkcs1())
            c.add("spki", k.public.spki())
    for n, der in _pem_free_files(os.path.join(FIX, "keys"), ".spki"):
        c.add("spki", der)
    for n, params in _pem_free_files(os.path.join(FIX, "cga"), ".params"):
        c.add("cga", params)
    for block in em_blocks():
        c.add("pkcs1", block)
    for n, text in _pem_free_files(os.path.join(FIX, "engine"), ".json"):
        if n.startswith("router"):
            c.add("config", b"\x01" + text)
        elif n.startswith("mobile"):
            c.add("config", b"\x00" + text)
    small = {"link_local": "fe80" + "00" * 14, "address": "20010db8" + "00" * 12}
    c.add("config", b"\x01" + json.dumps(small).encode())
    c.write(clean="--clean" in argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
