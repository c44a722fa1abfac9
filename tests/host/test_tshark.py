"""Wireshark as an independent oracle: every message the wire layer encodes dissects as intended.

Each message type is encoded into a full IPv6 packet with its checksum, written to a pcap,
and dissected with `tshark -T pdml`. The test checks checksum status, message fields and
every option's key fields. Known tshark 4.0 slips are tolerated narrowly:

* options 27/28: after a Pad Length of 2 or more, tshark re-reads part of the padding as
  "Unknown Data" (an expert error) — allowed only inside that option's padding;
* option 28: the Key Lifetime field is labelled "Padding" (its value is still checked);
* the Mobility Header: tshark 4.0 does not validate the MH checksum at all (no
  mip6.csum.status field). The test recomputes it from tshark's own parse (its HAO, its
  destination, the MH bytes it delimits) with a textbook checksum, so the HAO-as-pseudo-
  source rule is still checked against the dissector's view of the packet;
* BADF: tshark shows Option Length - 6 authenticator octets (it subtracts Type and Length
  twice) — allowed as a prefix of the real authenticator;
* FBU/FBack Lifetime: tshark labels the raw value in 4-second units (RFC 3775); only the raw
  value is checked.
"""

import datetime
import hashlib
import hmac
import ipaddress
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from handoverkey.wire import icmp, ipv6, mh, ndopt
from hostsim.pcap import LINKTYPE_ETHERNET, LINKTYPE_RAW, write_pcap

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed (apt-get install tshark)")

MN = bytes.fromhex("20010db8000100000000000000001234")  # PCoA, the MN's care-of CGA
NCOA = bytes.fromhex("20010db8000200000000000000001234")
PAR = bytes.fromhex("20010db8000100000000000000000001")
AR_LL = bytes.fromhex("fe800000000000000000000000000001")
MN_LL = bytes.fromhex("fe80000000000000000000fffe001234")
MAC_MN = bytes.fromhex("020000001234")
MAC_AP = bytes.fromhex("020000000a09")
MAC_NAR = bytes.fromhex("020000000b01")
NAR_PREFIX = bytes.fromhex("20010db8000200000000000000000000")
NONCE = bytes.fromhex("a1a2a3a4a5a6")
TS_WALL = 1700000000
TS_FRAC = 0x8000
HK_KEY = bytes(range(20))


def _spki(bits):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, der


def _cert_and_name():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key, _ = _spki(1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "handoverkey test anchor")])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER), name.public_bytes()


def _cga_params(spki, prefix):
    return bytes(range(16)) + prefix[:8] + b"\x00" + spki


def _icmp_packet(src, dst, build):
    buf = bytearray(3000)
    end = build(buf, ipv6.HEADER_LEN)
    ipv6.encode_header(buf, 0, 0, ipv6.NH_ICMPV6, 255, src, dst)
    ipv6.finish(buf, 0, end)
    return bytes(buf[:end])


def _mh_packet(src, dst, hao, encode, key, hash_name, coa, par):
    buf = bytearray(400)
    p = ipv6.encode_header(buf, 0, 0, ipv6.NH_DEST_OPTS, 64, src, dst)
    p = ipv6.encode_dest_opts_hao(buf, p, mh.IPPROTO_MH, hao)
    end, auth_off = encode(buf, p)
    auth_len = end - auth_off
    mac = hmac.new(key, b"".join(bytes(x) for x in mh.badf_mac_parts(buf, p, auth_off, coa, par)), hash_name)
    mh.set_authenticator(buf, auth_off, auth_len, mac.digest())
    ipv6.finish(buf, 0, end)
    return bytes(buf[:end])


@pytest.fixture(scope="module")
def scenario():
    """(frames, expectations): one expectation dict per frame."""
    _, cga_spki = _spki(1024)
    _, hke_1024 = _spki(1024)
    _, hke_2048 = _spki(2048)
    cert, anchor_name = _cert_and_name()
    sig = bytes((i * 37 + 11) & 0xFF for i in range(128))
    key_hash = hashlib.sha1(cga_spki).digest()[:16]
    ts = ndopt.timestamp_from_wall(TS_WALL, TS_FRAC)
    frames, expect = [], []

    def rtsolpr(hke, at):
        def build(buf, p):
            p = icmp.encode_rtsolpr(buf, p, 0x4242)
            p = ndopt.put_lla(buf, p, ndopt.LLA_SOURCE, MAC_MN)
            p = ndopt.put_lla(buf, p, ndopt.LLA_NEW_AP, MAC_AP)
            p = ndopt.put_cga(buf, p, _cga_params(cga_spki, MN))
            p = ndopt.put_timestamp(buf, p, ts)
            p = ndopt.put_nonce(buf, p, NONCE)
            p = ndopt.put_hk_request(buf, p, at, hke)
            return ndopt.put_rsa_sig(buf, p, key_hash, sig)

        return build

    for hke, at in ((hke_1024, 1), (hke_2048, 0)):
        frames.append(_icmp_packet(MN, AR_LL, rtsolpr(hke, at)))
        expect.append(
            {
                "kind": "icmp",
                "type": 154,
                "code": 0,
                "subtype": 2,
                "identifier": 0x4242,
                "options": [19, 19, 11, 13, 14, 27, 12],
                "hke": hke,
                "at": at,
            }
        )

    def prrtadv(code):
        def build(buf, p):
            p = icmp.encode_prrtadv(buf, p, code, 0x4242)
            p = ndopt.put_lla(buf, p, ndopt.LLA_SOURCE, MAC_NAR)
            p = ndopt.put_lla(buf, p, ndopt.LLA_NEW_AP, MAC_AP)
            p = ndopt.put_lla(buf, p, ndopt.LLA_NAR, MAC_NAR)
            p = ndopt.put_ip_addr(buf, p, ndopt.IPA_NAR_ADDR, 128, PAR)
            p = ndopt.put_ip_addr(buf, p, ndopt.IPA_NAR_PREFIX, 64, NAR_PREFIX)
            p = ndopt.put_cga(buf, p, _cga_params(cga_spki, AR_LL))
            p = ndopt.put_timestamp(buf, p, ts)
            p = ndopt.put_nonce(buf, p, NONCE)
            p = ndopt.put_hk_reply(buf, p, 1, 43200, sig)
            return ndopt.put_rsa_sig(buf, p, key_hash, sig)

        return build

    for code in range(6):
        frames.append(_icmp_packet(AR_LL, MN, prrtadv(code)))
        expect.append(
            {
                "kind": "icmp",
                "type": 154,
                "code": code,
                "subtype": 3,
                "identifier": 0x4242,
                "options": [19, 19, 19, 17, 17, 11, 13, 14, 28, 12],
            }
        )

    def cps(buf, p):
        p = icmp.encode_cps(buf, p, 0x5151, icmp.CPS_ALL_COMPONENTS)
        return ndopt.put_trust_anchor(buf, p, ndopt.NAME_DER, anchor_name)

    frames.append(_icmp_packet(MN_LL, bytes.fromhex("ff020000000000000000000000000002"), cps))
    expect.append({"kind": "icmp", "type": 148, "code": 0, "identifier": 0x5151, "component": 65535, "options": [15]})

    def cpa(buf, p):
        p = icmp.encode_cpa(buf, p, 0x5151, 1, 0)
        p = ndopt.put_trust_anchor(buf, p, ndopt.NAME_DER, anchor_name)
        return ndopt.put_certificate(buf, p, ndopt.CERT_X509, cert)

    frames.append(_icmp_packet(AR_LL, MN_LL, cpa))
    expect.append(
        {"kind": "icmp", "type": 149, "code": 0, "identifier": 0x5151, "all": 1, "component": 0, "options": [15, 16]}
    )

    fbu = lambda buf, p: mh.encode_fbu(buf, p, 0x0102, mh.FBU_A | mh.FBU_H, 10, 12, NCOA)  # noqa: E731
    frames.append(_mh_packet(MN, PAR, MN, fbu, HK_KEY, "sha1", NCOA, PAR))
    expect.append({"kind": "mh", "mh_type": 8, "seq": 0x0102, "lifetime": 10, "auth_len": 12, "status": None})

    fbu256 = lambda buf, p: mh.encode_fbu(buf, p, 0x0103, mh.FBU_A | mh.FBU_H, 20, 16, NCOA)  # noqa: E731
    frames.append(_mh_packet(NCOA, PAR, MN, fbu256, bytes(32), "sha256", NCOA, PAR))
    expect.append({"kind": "mh", "mh_type": 8, "seq": 0x0103, "lifetime": 20, "auth_len": 16, "status": None})

    # An FBack carrying a HAO is unusual on the wire (PAR -> NCoA); it is here so the
    # dissector sees every option the encoder can produce on both MH types.
    fback = lambda buf, p: mh.encode_fback(buf, p, 1, mh.FBACK_K, 0x0102, 10, 12, NCOA)  # noqa: E731
    frames.append(_mh_packet(PAR, NCOA, PAR, fback, HK_KEY, "sha1", NCOA, PAR))
    expect.append({"kind": "mh", "mh_type": 9, "seq": 0x0102, "lifetime": 10, "auth_len": 12, "status": 1})

    ctx = {"cga_spki": cga_spki, "key_hash": key_hash, "sig": sig, "ts": ts, "cert": cert, "anchor": anchor_name}
    return frames, expect, ctx


def _dissect(path):
    out = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-T", "pdml"],
        check=True,
        capture_output=True,
        timeout=120,
    ).stdout
    return ET.fromstring(out).findall("packet")


@pytest.fixture(scope="module", params=[LINKTYPE_RAW, LINKTYPE_ETHERNET], ids=["raw", "ethernet"])
def dissected(request, scenario, tmp_path_factory):
    frames, expect, ctx = scenario
    path = tmp_path_factory.mktemp("tshark") / ("wire-%d.pcap" % request.param)
    write_pcap(path, frames, request.param)
    packets = _dissect(path)
    assert len(packets) == len(frames)
    # pdml positions count from the start of the captured frame, link header included.
    link = 14 if request.param == LINKTYPE_ETHERNET else 0
    frames = [bytes(link) + f for f in frames]
    return frames, expect, ctx, packets


def _all(node, name):
    return [f for f in node.iter("field") if f.get("name") == name]


def _one(node, name):
    found = _all(node, name)
    assert found, "tshark shows no %s" % name
    return found[0]


def _show(node, name):
    return _one(node, name).get("show")


def _int(node, name):
    return int(_show(node, name), 0)


def _value(node, name):
    return bytes.fromhex(_one(node, name).get("value"))


def _proto(pkt, name):
    for p in pkt.iter("proto"):
        if p.get("name") == name:
            return p
    raise AssertionError("no %s layer" % name)


def _children(opt):
    return {c.get("name"): c for c in opt if c.tag == "field"}


def _ref_checksum(src, dst, nh, data):
    m = src + dst + len(data).to_bytes(4, "big") + bytes([0, 0, 0, nh]) + data
    if len(m) % 2:
        m += b"\x00"
    s = sum(int.from_bytes(m[i : i + 2], "big") for i in range(0, len(m), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _check_experts(pkt):
    """Every expert item must be a tolerated 'Unknown Data' inside the padding of an
    option 27 or 28 whose Pad Length is 2 or more."""
    tolerated = 0
    for opt in _all(pkt, "icmpv6.opt"):
        kids = _children(opt)
        for c in opt:
            if c.get("name") != "icmpv6.unknown_data":
                continue
            otype = int(kids["icmpv6.opt.type"].get("show"))
            assert otype in (27, 28), "unexpected Unknown Data in option %d" % otype
            pad = int(kids["icmpv6.opt.hkr.pad_length"].get("show"))
            assert pad >= 2
            opt_end = int(opt.get("pos")) + int(opt.get("size"))
            pos, size = int(c.get("pos")), int(c.get("size"))
            assert opt_end - pad <= pos and pos + size <= opt_end, "Unknown Data outside the padding"
            assert bytes.fromhex(c.get("value")) == bytes(size)
            tolerated += len(_all(c, "_ws.expert"))
    experts = _all(pkt, "_ws.expert")
    assert len(experts) == tolerated, [e.get("showname") for e in experts]


def _check_icmp_option(kind, kids, ctx, exp, frame, opt):
    pos = int(opt.get("pos"))
    size = int(opt.get("size"))
    raw = frame[pos : pos + size]
    # tshark's option boundaries agree with our walk.
    assert raw[0] == kind and raw[1] * 8 == size
    if kind == 19:
        code = int(kids["icmpv6.opt.lla.option_code"].get("show"))
        lla = bytes.fromhex(kids["icmpv6.opt.lla.bytes"].get("value"))
        assert code in (1, 3, 4) and lla[:6] in (MAC_MN, MAC_AP, MAC_NAR) and lla[6:] == bytes(len(lla) - 6)
    elif kind == 11:
        assert int(kids["icmpv6.opt.cga.pad_length"].get("show")) == raw[2]
        cga = _children(kids["icmpv6.opt.cga"])
        assert bytes.fromhex(cga["icmpv6.opt.cga.modifier"].get("value")) == bytes(range(16))
        assert len(_all(kids["icmpv6.opt.cga"], "icmpv6.opt.cga.subject_public_key_info")) == 1
    elif kind == 12:
        assert bytes.fromhex(kids["icmpv6.opt.rsa.key_hash"].get("value")) == ctx["key_hash"]
    elif kind == 13:
        assert bytes.fromhex(kids["icmpv6.opt.timestamp"].get("value")) == ctx["ts"].to_bytes(8, "big")
        assert "22:13:20.500000000" in kids["icmpv6.opt.timestamp"].get("show")
    elif kind == 14:
        assert bytes.fromhex(kids["icmpv6.opt.nonce"].get("value")) == NONCE
    elif kind == 15:
        assert int(kids["icmpv6.opt.name_type"].get("show")) == ndopt.NAME_DER
        assert bytes.fromhex(kids["icmpv6.opt.name_x501"].get("value")) == ctx["anchor"]
        assert int(kids["icmpv6.opt.name_x501"].get("size")) == len(ctx["anchor"])
    elif kind == 16:
        # tshark 4.0 reuses the name_type field for Cert Type.
        assert int(kids["icmpv6.opt.name_type"].get("show")) == ndopt.CERT_X509
        assert int(_show(opt, "x509af.serialNumber"), 16) == 7
        assert ctx["cert"] == raw[4 : 4 + len(ctx["cert"])]
    elif kind == 17:
        code = int(kids["icmpv6.opt.ipa.option_code"].get("show"))
        plen = int(kids["icmpv6.opt.ipa.prefix_len"].get("show"))
        addr = ipaddress.IPv6Address(kids["icmpv6.opt.ipa.ipv6_address"].get("show")).packed
        assert (code, plen, addr) in ((3, 128, PAR), (4, 64, NAR_PREFIX))
    elif kind == 27:
        assert int(kids["icmpv6.opt.hkr.at"].get("show")) == exp["at"]
        assert int(kids["icmpv6.opt.hkr.pad_length"].get("show")) == raw[2]
        assert bytes.fromhex(kids["icmpv6.opt.hkr.encryption_public_key"].get("value")) == exp["hke"]
    elif kind == 28:
        assert int(kids["icmpv6.opt.hkr.at"].get("show")) == 1
        assert int(kids["icmpv6.opt.hkr.pad_length"].get("show")) == 2
        assert int(kids["icmpv6.opt.hkr.lifetime"].get("show")) == 43200  # labelled "Padding" by 4.0
        assert bytes.fromhex(kids["icmpv6.opt.hkr.encrypted_handover_key"].get("value")) == ctx["sig"]
    else:
        raise AssertionError("unexpected option %d" % kind)


def test_every_frame_dissects_with_good_checksums(dissected):
    frames, expect, ctx, packets = dissected
    for frame, exp, pkt in zip(frames, expect, packets):
        _check_experts(pkt)
        assert not [p for p in pkt.iter("proto") if p.get("name") == "_ws.malformed"] or _all(
            pkt, "icmpv6.unknown_data"
        )
        if exp["kind"] == "icmp":
            assert _show(pkt, "icmpv6.checksum.status") == "1"  # Good
        else:
            status = _all(pkt, "mip6.csum.status")
            if status:  # newer Wireshark validates it; 4.0 does not
                assert status[0].get("show") == "1"


def test_icmp_messages_and_options(dissected):
    frames, expect, ctx, packets = dissected
    seen = set()
    for frame, exp, pkt in zip(frames, expect, packets):
        if exp["kind"] != "icmp":
            continue
        icmpv6 = _proto(pkt, "icmpv6")
        assert _int(icmpv6, "icmpv6.type") == exp["type"]
        assert _int(icmpv6, "icmpv6.code") == exp["code"]
        if exp["type"] == 154:
            assert _int(icmpv6, "icmpv6.fmip6.subtype") == exp["subtype"]
            assert _int(icmpv6, "icmpv6.fmip6.identifier") == exp["identifier"]
        else:
            assert _int(icmpv6, "icmpv6.send.identifier") == exp["identifier"]
            if exp["type"] == 148:
                assert _int(icmpv6, "icmpv6.send.component") == exp["component"]
            else:
                assert _int(icmpv6, "icmpv6.send.all_components") == exp["all"]
                assert _int(icmpv6, "icmpv6.send.component") == exp["component"]
        opts = [o for o in icmpv6 if o.get("name") == "icmpv6.opt"]
        kinds = [int(_children(o)["icmpv6.opt.type"].get("show")) for o in opts]
        assert kinds == exp["options"]
        for kind, opt in zip(kinds, opts):
            _check_icmp_option(kind, _children(opt), ctx, exp, frame, opt)
            seen.add(kind)
    assert seen == {11, 12, 13, 14, 15, 16, 17, 19, 27, 28}


def test_mobility_header_messages(dissected):
    frames, expect, ctx, packets = dissected
    n = distinct = 0
    for frame, exp, pkt in zip(frames, expect, packets):
        if exp["kind"] != "mh":
            continue
        n += 1
        hao = ipaddress.IPv6Address(_show(pkt, "ipv6.opt.mipv6.home_address")).packed
        src = ipaddress.IPv6Address(_show(pkt, "ipv6.src")).packed
        dst = ipaddress.IPv6Address(_show(pkt, "ipv6.dst")).packed
        mip = _proto(pkt, "mipv6")
        assert _int(mip, "mip6.proto") == 59
        assert _int(mip, "mip6.mhtype") == exp["mh_type"]
        pre = "mip6.fbu." if exp["mh_type"] == 8 else "mip6.fback."
        assert _int(mip, pre + "seqnr") == exp["seq"]
        assert _int(mip, pre + "lifetime") == exp["lifetime"]  # raw value; tshark labels it x4
        if exp["mh_type"] == 8:
            assert _show(mip, "mip6.fbu.a_flag") == "1" and _show(mip, "mip6.fbu.h_flag") == "1"
            assert _show(mip, "mip6.fbu.k_flag") == "0"
        else:
            assert _int(mip, "mip6.fback.status") == exp["status"]
            assert _show(mip, "mip6.fback.k_flag") == "1"
        assert ipaddress.IPv6Address(_show(mip, "mip6.acoa.acoa")).packed == NCOA
        assert _int(mip, "mip6.badff.spi") == 0
        # The MH bytes as tshark delimits them; the authenticator is the MH tail.
        pos, size = int(mip.get("pos")), int(mip.get("size"))
        mh_bytes = frame[pos : pos + size]
        assert size % 8 == 0 and pos + size == len(frame)
        auth = mh_bytes[-exp["auth_len"] :]
        shown = _value(mip, "mip6.badff.auth")
        len_field = 4 + exp["auth_len"]
        assert shown == auth or shown == auth[: len_field - 6]
        # Checksum: tshark's HAO as pseudo-source, recomputed independently of our code.
        zeroed = mh_bytes[:4] + b"\x00\x00" + mh_bytes[6:]
        csum = int(_show(mip, "mip6.csum"), 16)
        assert csum == _ref_checksum(hao, dst, 135, zeroed)
        if src != hao:
            distinct += 1
            assert csum != _ref_checksum(src, dst, 135, zeroed)
    assert n == 3 and distinct >= 1
