"""`hostsim inspect FILE.pcap [--json]`: decode every frame of a capture and check what can be checked.

For each frame: the message (RtSolPr, PrRtAdv, CPS, CPA, FBU, FBack, and the ND messages RS, RA,
NS, NA and Redirect that SEND also protects), its options, the ICMPv6 or Mobility Header checksum
(with the Home Address as pseudo-source, RFC 6275 §6.1.1), and where SEND options are present
whether the CGA verifies (for the source; for a DAD NS, the target, RFC 3971 §5.1.1) and whether
the RSA Signature verifies with the key of the CGA option (signed data per RFC 3971 §5.2 and
interpretations §3).

Inspection accepts RSA keys down to 512 bits so that captures from old implementations (sendd and
others used 1024-bit keys, test setups smaller ones) still get a verdict; a key under the
1024-bit floor the protocol code enforces is always called out in the output.

Exit status: 0 when the file was read (whatever the frames hold), 2 when it could not be read.
"""

import datetime
import ipaddress
import json
import sys

from handoverkey import crypto
from handoverkey.crypto.rsakey import RsaPublicKey
from handoverkey.errors import CryptoError, DecodeError, VerifyError
from handoverkey.send import cga, signature
from handoverkey.wire import icmp, ipv6, mh, ndopt, ndopt_extra

#: Smallest key inspection verifies with (RsaPublicKey refuses anything smaller anyway).
INSPECT_MIN_BITS = 512
#: The protocol's floor (interpretations §7, RFC 3971 §5.1.3): keys below it are flagged.
PROTOCOL_MIN_BITS = 1024

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV6 = 229

_MAGIC_US = 0xA1B2C3D4
_MAGIC_NS = 0xA1B23C4D
_PCAPNG = 0x0A0D0D0A
_ETH_IPV6 = 0x86DD
_ETH_VLAN = (0x8100, 0x88A8, 0x9100)

ND_RS = 133
ND_RA = 134
ND_NS = 135
ND_NA = 136
ND_REDIRECT = 137

# Octets from the ICMPv6 Type field to the first option (RFC 4861 §4.1-4.5, RFC 3971 §6.4, RFC 5568 §6.1).
_FIXED = {
    ND_RS: 8,
    ND_RA: 16,
    ND_NS: 24,
    ND_NA: 24,
    ND_REDIRECT: 40,
    icmp.ICMP_CPS: 8,
    icmp.ICMP_CPA: 12,
    icmp.ICMP_FMIPV6: 8,
}

_ND_NAMES = {ND_RS: "RS", ND_RA: "RA", ND_NS: "NS", ND_NA: "NA", ND_REDIRECT: "Redirect"}

_ICMP_NAMES = {
    1: "Destination Unreachable",
    2: "Packet Too Big",
    3: "Time Exceeded",
    4: "Parameter Problem",
    128: "Echo Request",
    129: "Echo Reply",
    130: "MLD Query",
    131: "MLD Report",
    132: "MLD Done",
    143: "MLDv2 Report",
    150: "Experimental Mobility (RFC 4068 FMIPv6)",
}

OPTION_NAMES = {
    1: "Source Link-layer Address",
    2: "Target Link-layer Address",
    3: "Prefix Information",
    4: "Redirected Header",
    5: "MTU",
    11: "CGA",
    12: "RSA Signature",
    13: "Timestamp",
    14: "Nonce",
    15: "Trust Anchor",
    16: "Certificate",
    17: "IP Address/Prefix",
    18: "New Router Prefix Information",
    19: "Link-layer Address",
    20: "NAACK",
    24: "Route Information",
    25: "RDNSS",
    27: "Handover Key Request",
    28: "Handover Key Reply",
    31: "DNSSL",
}

MH_OPTION_NAMES = {0: "Pad1", 1: "PadN", 3: "Alternate Care-of Address", 7: "Mobility Header Link-layer Address", 21: "BADF"}

_PRRTADV_CODES = {
    0: "use the [AP-ID, AR-Info] tuple",
    1: "network-initiated handover trigger",
    2: "no new router information",
    3: "information for a subset of the APs",
    4: "unsolicited neighbourhood information",
    5: "use for movement detection, DHCP at the NAR",
}
_IPA_CODES = {1: "Old CoA", 2: "New CoA", 3: "NAR's IP address", 4: "NAR's prefix"}
_LLA_CODES = {
    0: "wildcard",
    1: "New AP",
    2: "MN",
    3: "NAR",
    4: "source of this message",
    5: "AP on the router's current interface",
    6: "no prefix information",
    7: "no fast handover support",
}
_FBACK_STATUS = {
    0: "accepted",
    1: "accepted, use the Alternate CoA",
    128: "reason unspecified",
    129: "administratively prohibited",
    130: "insufficient resources",
    131: "incorrect interface identifier length",
}

_UNSPECIFIED = bytes(16)


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE.pcap", help="capture to decode (pcap; Ethernet, raw IP or raw IPv6)")
    parser.add_argument("--json", action="store_true", help="one JSON object per frame, one per line")


def run(args):
    try:
        linktype, frames = read_capture(args.file)
    except (OSError, ValueError, EOFError) as e:
        print("hostsim inspect: cannot read %s: %s" % (args.file, e), file=sys.stderr)
        return 2
    out = sys.stdout
    for i, (data, wire_len) in enumerate(frames, 1):
        rec = inspect_frame(i, linktype, data, wire_len)
        if args.json:
            out.write(json.dumps(rec, sort_keys=True) + "\n")
        else:
            out.write(format_record(rec))
    if not args.json and not frames:
        out.write("no frames\n")
    return 0


# ---------------------------------------------------------------------------------------------
# capture reading


def read_capture(path):
    """(linktype, [(frame bytes, original length)]) with every record of a classic pcap file.

    hostsim.pcap.read_pcap is made for our own captures: it strips Ethernet and leaves out
    frames that are not IPv6, and it does not keep the original length. Inspection must
    number and report every frame and see truncation, so it reads the records itself. A
    file cut short in the middle of a record keeps that record as a truncated frame."""
    import struct

    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 24:
        raise ValueError("not a pcap file: too short")
    magic_le = struct.unpack_from("<I", raw, 0)[0]
    if magic_le == _PCAPNG:
        raise ValueError("pcapng is not supported; convert with: editcap -F pcap IN OUT")
    for order in ("<", ">"):
        if struct.unpack_from(order + "I", raw, 0)[0] in (_MAGIC_US, _MAGIC_NS):
            break
    else:
        raise ValueError("not a pcap file: magic %08x" % magic_le)
    linktype = struct.unpack_from(order + "I", raw, 20)[0] & 0x0FFFFFFF  # top bits: FCS info
    frames = []
    p = 24
    while p < len(raw):
        if len(raw) - p < 16:
            print("hostsim inspect: %s: %d stray octets at the end ignored" % (path, len(raw) - p), file=sys.stderr)
            break
        _sec, _frac, incl, orig = struct.unpack_from(order + "IIII", raw, p)
        p += 16
        data = raw[p : p + incl]
        if len(data) < incl:
            print("hostsim inspect: %s: last record cut short (%d of %d octets)" % (path, len(data), incl), file=sys.stderr)
        p += incl
        frames.append((data, max(orig, len(data))))
    return linktype, frames


# ---------------------------------------------------------------------------------------------
# per-frame inspection


def _addr(a):
    return str(ipaddress.IPv6Address(bytes(a)))


def _new_record(index, data, wire_len):
    return {
        "frame": index,
        "length": len(data),
        "wire_length": wire_len,
        "truncated": len(data) < wire_len,
        "message": None,
        "checksum_ok": None,
        "cga_ok": None,
        "signature_ok": None,
        "options": [],
        "reason": None,
        "notes": [],
    }


def _fail(rec, text):
    rec["reason"] = text if not rec["reason"] else rec["reason"] + "; " + text


def inspect_frame(index, linktype, data, wire_len=None):
    """One JSON-ready dict for frame `index` (1-based). Never raises for any input bytes."""
    if wire_len is None:
        wire_len = len(data)
    rec = _new_record(index, data, wire_len)
    try:
        _inspect(rec, linktype, bytearray(data))
    except Exception as e:  # the inspector must survive any frame; report, never crash
        rec["message"] = rec["message"] or "error"
        _fail(rec, "inspector-error: %s: %s" % (type(e).__name__, e))
    if rec["truncated"]:
        rec["notes"].append("frame truncated: %d of %d octets captured" % (len(data), wire_len))
    return rec


def _ip_offset(rec, linktype, buf):
    """Offset of the IPv6 header, or None (then rec says why)."""
    if linktype == LINKTYPE_ETHERNET:
        if len(buf) < 14:
            rec["message"] = "truncated" if rec["truncated"] else "malformed"
            _fail(rec, "ethernet header truncated")
            return None
        off = 12
        etype = (buf[12] << 8) | buf[13]
        while etype in _ETH_VLAN and len(buf) >= off + 6:
            off += 4
            etype = (buf[off] << 8) | buf[off + 1]
        rec["link"] = "ethernet"
        rec["ethertype"] = "0x%04x" % etype
        if etype != _ETH_IPV6:
            rec["message"] = "non-IPv6"
            return None
        return off + 2
    if linktype == LINKTYPE_LINUX_SLL:
        if len(buf) < 16:
            rec["message"] = "truncated" if rec["truncated"] else "malformed"
            _fail(rec, "linux cooked header truncated")
            return None
        etype = (buf[14] << 8) | buf[15]
        rec["link"] = "linux-sll"
        rec["ethertype"] = "0x%04x" % etype
        if etype != _ETH_IPV6:
            rec["message"] = "non-IPv6"
            return None
        return 16
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV6):
        rec["link"] = "raw"
        if not buf:
            rec["message"] = "truncated" if rec["truncated"] else "malformed"
            _fail(rec, "empty frame")
            return None
        if buf[0] >> 4 != 6:
            rec["message"] = "non-IPv6"
            rec["ip_version"] = buf[0] >> 4
            return None
        return 0
    rec["message"] = "unsupported-link"
    _fail(rec, "link type %d not supported (Ethernet 1, raw 101, IPv6 229, Linux SLL 113)" % linktype)
    return None


def _inspect(rec, linktype, buf):
    off = _ip_offset(rec, linktype, buf)
    if off is None:
        return
    try:
        pkt = ipv6.decode_packet(buf, off)
    except DecodeError as e:
        rec["message"] = "truncated" if rec["truncated"] else "malformed"
        _fail(rec, "ipv6: " + e.msg)
        return
    rec["src"] = _addr(pkt.src)
    rec["dst"] = _addr(pkt.dst)
    rec["hop_limit"] = pkt.hop_limit
    rec["next_header"] = pkt.next_header
    if pkt.home_address is not None:
        rec["home_address"] = _addr(pkt.home_address)
    if pkt.next_header == ipv6.NH_ICMPV6:
        _inspect_icmp(rec, buf, pkt)
    elif pkt.next_header == ipv6.NH_MH:
        _inspect_mh(rec, buf, pkt)
    else:
        rec["message"] = "IPv6 next header %d" % pkt.next_header


# ---------------------------------------------------------------------------------------------
# ICMPv6


def _u16(b, p):
    return (b[p] << 8) | b[p + 1]


def _u32(b, p):
    return (_u16(b, p) << 16) | _u16(b, p + 2)


def _message_name(t, sub):
    if t in _ND_NAMES:
        return _ND_NAMES[t]
    if t == icmp.ICMP_CPS:
        return "CPS"
    if t == icmp.ICMP_CPA:
        return "CPA"
    if t == icmp.ICMP_FMIPV6:
        if sub == icmp.SUB_RTSOLPR:
            return "RtSolPr"
        if sub == icmp.SUB_PRRTADV:
            return "PrRtAdv"
        return "FMIPv6 subtype %d" % sub if sub >= 0 else "FMIPv6 (no subtype)"
    return "ICMPv6 %d (%s)" % (t, _ICMP_NAMES.get(t, "unknown"))


def _fixed_fields(t, buf, p, code):
    """Fields of the fixed part after Type, Code and Checksum (p = ICMPv6 offset)."""
    f = {}
    if t == ND_RA:
        f["cur_hop_limit"] = buf[p + 4]
        f["flags"] = "".join(n for n, m in (("M", 0x80), ("O", 0x40), ("H", 0x20)) if buf[p + 5] & m)
        f["router_lifetime"] = _u16(buf, p + 6)
        f["reachable_time"] = _u32(buf, p + 8)
        f["retrans_timer"] = _u32(buf, p + 12)
    elif t in (ND_NS, ND_NA):
        if t == ND_NA:
            f["flags"] = "".join(n for n, m in (("R", 0x80), ("S", 0x40), ("O", 0x20)) if buf[p + 4] & m)
        f["target"] = _addr(buf[p + 8 : p + 24])
    elif t == ND_REDIRECT:
        f["target"] = _addr(buf[p + 8 : p + 24])
        f["destination"] = _addr(buf[p + 24 : p + 40])
    elif t == icmp.ICMP_CPS:
        f["identifier"] = _u16(buf, p + 4)
        f["component"] = _u16(buf, p + 6)
    elif t == icmp.ICMP_CPA:
        f["identifier"] = _u16(buf, p + 4)
        f["all_components"] = _u16(buf, p + 6)
        f["component"] = _u16(buf, p + 8)
    elif t == icmp.ICMP_FMIPV6:
        f["subtype"] = buf[p + 4]
        f["identifier"] = _u16(buf, p + 6)
        if buf[p + 4] == icmp.SUB_PRRTADV:
            f["code_meaning"] = _PRRTADV_CODES.get(code, "undefined code")
    return f


def _inspect_icmp(rec, buf, pkt):
    p = pkt.payload_off
    end = pkt.payload_end
    n = end - p
    rec["checksum_ok"] = ipv6.verify_upper(buf, pkt)
    if n < 4:
        rec["message"] = "ICMPv6 (truncated)" if rec["truncated"] else "ICMPv6 (too short)"
        _fail(rec, "icmpv6: %d octets, no room for the header" % n)
        return
    t = buf[p]
    code = buf[p + 1]
    rec["icmp_type"] = t
    rec["code"] = code
    rec["checksum"] = "0x%04x" % _u16(buf, p + 2)
    if not rec["checksum_ok"]:
        _fail(rec, "checksum: bad")
    sub = buf[p + 4] if n > 4 else -1
    rec["message"] = _message_name(t, sub)
    fixed = _FIXED.get(t)
    if fixed is None or (t == icmp.ICMP_FMIPV6 and sub not in (icmp.SUB_RTSOLPR, icmp.SUB_PRRTADV)):
        return  # not an ND-style message: no options to walk
    if n < fixed:
        _fail(rec, "icmpv6: %s needs %d octets, has %d" % (rec["message"], fixed, n))
        return
    rec["fields"] = _fixed_fields(t, buf, p, code)
    if pkt.hop_limit != 255:
        rec["notes"].append("hop limit %d, not 255: receivers drop it (RFC 4861, RFC 3971 §6.4)" % pkt.hop_limit)
    opts_off = p + fixed
    options = _walk(rec, buf, opts_off, end)
    if options is not None:
        rec["options"] = [_option_info(buf, o) for o in options]
    if t in (icmp.ICMP_CPS, icmp.ICMP_CPA, icmp.ICMP_FMIPV6):
        # The firmware decoder is the receiver's view of these four messages.
        try:
            icmp.decode_icmp(buf, p, end)
        except DecodeError as e:
            _fail(rec, "decode: " + e.msg)
    if options is not None:
        _check_send(rec, buf, pkt, t, p, options)


def _walk(rec, buf, off, end):
    """ND options up to the first RSA Signature (ndopt.walk); None when they do not parse,
    after listing what does parse so the output still shows it."""
    try:
        opts = ndopt.walk(buf, off, end, max_options=255)
    except DecodeError as e:
        _fail(rec, "options: " + e.msg)
        partial = []
        while end - off >= 2 and buf[off + 1] and (buf[off + 1] << 3) <= end - off and len(partial) < 255:
            partial.append((buf[off], off, buf[off + 1] << 3))
            off += buf[off + 1] << 3
        rec["options"] = [_option_info(buf, o) for o in partial]
        return None
    if opts and opts[-1][0] == ndopt.OPT_RSA_SIG:
        after = end - (opts[-1][1] + opts[-1][2])
        if after:
            rec["notes"].append("%d octets after the RSA Signature option ignored (RFC 3971 §5.2.2)" % after)
    return opts


def _hexs(b):
    return bytes(b).hex()


def _lla_text(b):
    return ":".join("%02x" % x for x in bytes(b))


def _ts_iso(seconds):
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def _key_bits(spki):
    try:
        return RsaPublicKey.from_spki(bytes(spki)).bits
    except CryptoError:
        return None


def _option_info(buf, opt):
    t, off, n = opt
    info = {"type": t, "name": OPTION_NAMES.get(t, "unknown"), "length": n}
    try:
        _option_fields(info, buf, t, off, n)
    except (DecodeError, CryptoError) as e:
        info["error"] = e.msg
    return info


def _option_fields(info, buf, t, off, n):
    if t in (ndopt.OPT_SLLA, ndopt.OPT_TLLA):
        lla = ndopt_extra.get_nd_lla(buf, off, n)
        info["lla"] = _lla_text(lla[:6] if n == 8 else lla)
    elif t == 3 and n == 32:
        info["prefix_length"] = buf[off + 2]
        info["flags"] = "".join(c for c, m in (("L", 0x80), ("A", 0x40), ("R", 0x20)) if buf[off + 3] & m)
        info["valid_lifetime"] = _u32(buf, off + 4)
        info["preferred_lifetime"] = _u32(buf, off + 8)
        info["prefix"] = _addr(buf[off + 16 : off + 32])
    elif t == 5 and n == 8:
        info["mtu"] = _u32(buf, off + 4)
    elif t == ndopt.OPT_CGA:
        o = ndopt.get_cga(buf, off, n)
        info["pad_length"] = o.pad_len
        p = cga.parse_params(o.params)
        info["modifier"] = _hexs(p.modifier)
        info["subnet_prefix"] = _hexs(p.prefix)
        info["collision_count"] = p.collision_count
        info["key_bits"] = _key_bits(p.key)
        info["key_hash"] = _key_hash_hex(p.key)
        info["extensions"] = [{"type": et, "length": len(ed)} for et, ed in p.extension_fields()]
    elif t == ndopt.OPT_RSA_SIG:
        o = ndopt.get_rsa_sig(buf, off, n)
        info["key_hash"] = _hexs(o.key_hash)
        info["signature_field_length"] = len(o.signature)
    elif t == ndopt.OPT_TIMESTAMP:
        ts = ndopt.get_timestamp(buf, off, n)
        s, frac = ndopt_extra.wall_from_timestamp(ts)
        info["seconds"] = s
        info["fraction"] = frac
        info["time"] = _ts_iso(s)
    elif t == ndopt.OPT_NONCE:
        info["nonce"] = _hexs(ndopt.get_nonce(buf, off, n))
    elif t == ndopt.OPT_TRUST_ANCHOR:
        o = ndopt.get_trust_anchor(buf, off, n)
        info["name_type"] = o.name_type
        info["name_length"] = len(o.name)
        if o.name_type == ndopt.NAME_FQDN:
            info["anchor_name"] = bytes(o.name).decode("ascii", "replace")
    elif t == ndopt.OPT_CERTIFICATE:
        o = ndopt.get_certificate(buf, off, n)
        info["cert_type"] = o.cert_type
        info["cert_length"] = len(o.cert)
    elif t == ndopt.OPT_IP_ADDR:
        o = ndopt_extra.get_ip_addr(buf, off, n)
        info["code"] = o.code
        info["code_meaning"] = _IPA_CODES.get(o.code)
        info["prefix_length"] = o.prefix_len
        info["address"] = _addr(o.addr)
    elif t == ndopt.OPT_LLA:
        o = ndopt.get_lla(buf, off, n)
        info["code"] = o.code
        info["code_meaning"] = _LLA_CODES.get(o.code)
        info["lla"] = _lla_text(o.lla)
    elif t == ndopt.OPT_NAACK:
        o = ndopt_extra.get_naack(buf, off, n)
        info["status"] = o.status
        if o.ncoa is not None:
            info["ncoa"] = _addr(o.ncoa)
    elif t == ndopt.OPT_HK_REQUEST:
        o = ndopt.get_hk_request(buf, off, n)
        info["at"] = o.at
        info["pad_length"] = o.pad_len
        info["key_length"] = len(o.spki)
        info["key_bits"] = _key_bits(o.spki)
    elif t == ndopt.OPT_HK_REPLY:
        o = ndopt.get_hk_reply(buf, off, n)
        info["at"] = o.at
        info["pad_length"] = o.pad_len
        info["lifetime"] = o.lifetime
        info["encrypted_key_length"] = len(o.enc_key)


def _key_hash_hex(spki):
    """SEND Key Hash of a DER SubjectPublicKeyInfo (first 16 octets of its SHA-1), as hex."""
    return crypto.sha1(bytes(spki))[:16].hex()


# ---------------------------------------------------------------------------------------------
# SEND: CGA and RSA Signature


def _check_send(rec, buf, pkt, t, icmp_off, options):
    cga_opts = [o for o in options if o[0] == ndopt.OPT_CGA]
    sig = options[-1] if options and options[-1][0] == ndopt.OPT_RSA_SIG else None
    if not cga_opts and sig is None:
        return
    # Which address the CGA option vouches for (RFC 3971 §5.1.1): the source, except the
    # target of an NS sent from the unspecified address (DAD).
    addr = pkt.src
    if t == ND_NS and bytes(pkt.src) == _UNSPECIFIED:
        addr = buf[icmp_off + 8 : icmp_off + 24]
        rec["notes"].append("DAD NS: the CGA is checked against the target address")
    key = None
    if cga_opts:
        rec["cga_address"] = _addr(addr)
        if len(cga_opts) > 1:
            rec["cga_ok"] = False
            _fail(rec, "cga: %d CGA options" % len(cga_opts))
        else:
            key = _check_cga(rec, buf, addr, cga_opts[0])
    if sig is None:
        return
    _check_signature(rec, buf, pkt, icmp_off, sig, key, bool(cga_opts))
    _firmware_cross_check(rec, buf, pkt, t, icmp_off)


def _check_cga(rec, buf, addr, opt):
    """Set cga_ok; return the RsaPublicKey inside the parameters (or None)."""
    _, off, n = opt
    try:
        o = ndopt.get_cga(buf, off, n)
        params = cga.parse_params(o.params)
    except DecodeError as e:
        rec["cga_ok"] = False
        _fail(rec, "cga: malformed parameters: " + e.msg)
        return None
    rec["cga_sec"] = cga.address_sec(bytes(addr))
    try:
        cga.cga_verify(bytes(addr), o.params)
        rec["cga_ok"] = True
    except VerifyError as e:
        rec["cga_ok"] = False
        _fail(rec, "cga: " + e.reason)
    except DecodeError as e:
        rec["cga_ok"] = False
        _fail(rec, "cga: " + e.msg)
    try:
        key = RsaPublicKey.from_spki(bytes(params.key))
    except CryptoError as e:
        _fail(rec, "cga: public key unusable: " + e.msg)
        return None
    rec["key_bits"] = key.bits
    if key.bits < PROTOCOL_MIN_BITS:
        rec["weak_key"] = True
        rec["notes"].append(
            "RSA key of %d bits, under the %d-bit minimum: verified with the floor lowered for inspection"
            % (key.bits, PROTOCOL_MIN_BITS)
        )
    return key


def _check_signature(rec, buf, pkt, icmp_off, sig, key, had_cga):
    _, sig_off, n = sig
    try:
        o = ndopt.get_rsa_sig(buf, sig_off, n)
    except DecodeError as e:
        rec["signature_ok"] = False
        _fail(rec, "signature: " + e.msg)
        return
    if key is None:
        if not had_cga:
            rec["notes"].append("RSA Signature without a CGA option: the signer's key (a certificate's?) is not in the message")
            return  # signature_ok stays null: nothing to verify it with
        rec["signature_ok"] = False
        _fail(rec, "signature: no usable key in the CGA option")
        return
    if not crypto.ct_equal(key.key_hash(), o.key_hash):
        rec["signature_ok"] = False
        _fail(rec, "signature: key hash does not name the CGA key")
        return
    k = key.size
    if len(o.signature) < k:
        rec["signature_ok"] = False
        _fail(rec, "signature: field of %d octets is shorter than the %d-octet modulus" % (len(o.signature), k))
        return
    data = signature.signed_data(pkt.src, pkt.dst, buf, icmp_off, sig_off)
    ok = crypto.rsa_verify(key, data, bytes(o.signature[:k]), "sha1", INSPECT_MIN_BITS)
    rec["signature_ok"] = bool(ok)
    if not ok:
        _fail(rec, "signature: does not verify")
    elif any(o.signature[k:]):
        rec["notes"].append("non-zero padding after the signature")


def _firmware_cross_check(rec, buf, pkt, t, icmp_off):
    # For the messages the engines receive, also run the firmware's own check and record
    # its verdict, so a disagreement with the step-by-step one above shows up here.
    if t not in (icmp.ICMP_FMIPV6, icmp.ICMP_CPS, icmp.ICMP_CPA):
        return
    try:
        msg = icmp.decode_icmp(buf, icmp_off, pkt.payload_end)
        signature.verify(buf, pkt, msg, min_bits=INSPECT_MIN_BITS)
        rec["send_verify"] = "ok"
    except VerifyError as e:
        rec["send_verify"] = e.reason
    except (DecodeError, CryptoError) as e:
        rec["send_verify"] = "error: " + e.msg


# ---------------------------------------------------------------------------------------------
# Mobility Header


def _inspect_mh(rec, buf, pkt):
    p = pkt.payload_off
    end = pkt.payload_end
    rec["checksum_ok"] = ipv6.verify_upper(buf, pkt)
    if end - p < 6:
        rec["message"] = "MH (too short)"
        _fail(rec, "mh: %d octets" % (end - p))
        return
    mh_type = buf[p + 2]
    rec["mh_type"] = mh_type
    rec["checksum"] = "0x%04x" % _u16(buf, p + 4)
    if not rec["checksum_ok"]:
        _fail(rec, "checksum: bad")
    rec["message"] = {mh.MH_FBU: "FBU", mh.MH_FBACK: "FBack"}.get(mh_type, "MH type %d" % mh_type)
    if mh_type not in (mh.MH_FBU, mh.MH_FBACK):
        return
    if end - p < 12:
        _fail(rec, "mh: %s of %d octets" % (rec["message"], end - p))
        return
    f = {"payload_proto": buf[p], "lifetime": _u16(buf, p + 10)}
    if mh_type == mh.MH_FBU:
        f["sequence"] = _u16(buf, p + 6)
        f["flags"] = "".join(c for c, m in (("A", 0x80), ("H", 0x40), ("L", 0x20), ("K", 0x10)) if buf[p + 8] & m)
    else:
        f["status"] = buf[p + 6]
        f["status_meaning"] = _FBACK_STATUS.get(buf[p + 6], "unassigned")
        f["flags"] = "K" if buf[p + 7] & 0x80 else ""
        f["sequence"] = _u16(buf, p + 8)
    rec["fields"] = f
    rec["options"] = _mh_options(rec, buf, p + 12, end)
    try:
        m = mh.decode_mh(buf, p, end)
    except DecodeError as e:
        _fail(rec, "decode: " + e.msg)
        return
    if m.alt_coa is not None:
        f["alternate_coa"] = _addr(m.alt_coa)
    if mh_type == mh.MH_FBU and pkt.home_address is None:
        rec["notes"].append("FBU without a Home Address option (RFC 5568 §6.2.2 requires HAO = PCoA)")


def _mh_options(rec, buf, p, end):
    out = []
    while p < end:
        t = buf[p]
        if t == mh.MHOPT_PAD1:
            out.append({"type": 0, "name": "Pad1", "length": 1})
            p += 1
            continue
        if end - p < 2:
            _fail(rec, "mh options: truncated option header")
            break
        n = buf[p + 1]
        info = {"type": t, "name": MH_OPTION_NAMES.get(t, "unknown"), "length": n + 2}
        if t == mh.MHOPT_BADF:
            # BADF is last: its authenticator is the rest of the header (interpretations §2).
            rest = end - p - 2
            info["length_field"] = n
            if rest >= 4:
                info["spi"] = _u32(buf, p + 2)
                info["authenticator"] = _hexs(buf[p + 6 : end])
                info["authenticator_length"] = end - p - 6
            out.append(info)
            if n != rest and n + 4 != rest:
                _fail(rec, "mh options: BADF length %d does not reach the end of the header" % n)
            break
        if end - p - 2 < n:
            _fail(rec, "mh options: option %d overruns the header" % t)
            out.append(info)
            break
        if t == mh.MHOPT_ALT_COA and n == 16:
            info["address"] = _addr(buf[p + 2 : p + 18])
        out.append(info)
        p += 2 + n
        if len(out) > 255:
            _fail(rec, "mh options: too many")
            break
    return out


# ---------------------------------------------------------------------------------------------
# text output


def _verdict(v):
    return "-" if v is None else ("ok" if v else "FAIL")


def format_record(rec):
    head = "#%d %s" % (rec["frame"], rec["message"])
    if "code" in rec and rec.get("icmp_type") == icmp.ICMP_FMIPV6:
        head += " code %d" % rec["code"]
    if "src" in rec:
        head += "  %s -> %s hlim %d" % (rec["src"], rec["dst"], rec["hop_limit"])
    elif "ethertype" in rec:
        head += "  ethertype %s" % rec["ethertype"]
    lines = [head]
    checks = "   checksum %s" % _verdict(rec["checksum_ok"])
    if "checksum" in rec:
        checks += " (%s)" % rec["checksum"]
    checks += "  cga %s  signature %s" % (_verdict(rec["cga_ok"]), _verdict(rec["signature_ok"]))
    if rec.get("key_bits"):
        checks += "  key %d bits" % rec["key_bits"]
    lines.append(checks)
    if rec.get("home_address"):
        lines.append("   home address %s" % rec["home_address"])
    for k, v in sorted(rec.get("fields", {}).items()):
        lines.append("   %s: %s" % (k, v))
    for o in rec["options"]:
        extra = ", ".join("%s=%s" % (k, v) for k, v in sorted(o.items()) if k not in ("type", "name", "length"))
        lines.append("   option %d %s (%d octets)%s" % (o["type"], o["name"], o["length"], ": " + extra if extra else ""))
    for n in rec["notes"]:
        lines.append("   note: " + n)
    if rec["reason"]:
        lines.append("   reason: " + rec["reason"])
    return "\n".join(lines) + "\n"
