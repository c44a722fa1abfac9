"""One-line descriptions of frames for the demo's message sequence (decoded with the firmware codecs)."""

import ipaddress

from handoverkey.errors import DecodeError
from handoverkey.wire import icmp, ipv6, mh, ndopt

OPTION_NAMES = {
    1: "SLLA", 2: "TLLA", 11: "CGA", 12: "RSA-Sig", 13: "Timestamp", 14: "Nonce", 15: "TrustAnchor",
    16: "Certificate", 17: "IPAddr", 19: "LLA", 20: "NAACK", 27: "HK-Request", 28: "HK-Reply",
}


def short(a):
    return ipaddress.IPv6Address(bytes(a)).compressed


def describe(frame):
    """(src, dst, text) for a frame; text names the message and its notable fields."""
    try:
        pkt = ipv6.decode_packet(frame)
    except DecodeError as e:
        return "?", "?", "undecodable (%s)" % e
    src, dst = short(pkt.src), short(pkt.dst)
    try:
        if pkt.next_header == 58:
            m = icmp.decode_icmp(frame, pkt.payload_off, pkt.payload_end)
            opts = ",".join(OPTION_NAMES.get(t, str(t)) for t, _, _ in m.options)
            if m.type == icmp.ICMP_CPS:
                return src, dst, "CPS id=%d [%s]" % (m.identifier, opts)
            if m.type == icmp.ICMP_CPA:
                return src, dst, "CPA id=%d component %d of %d [%s]" % (
                    m.identifier, m.component, m.all_components, opts)
            if m.subtype == icmp.SUB_RTSOLPR:
                return src, dst, "RtSolPr [%s]" % opts
            text = "PrRtAdv code %d [%s]" % (m.code, opts)
            hk = m.find(ndopt.OPT_HK_REPLY)
            if hk:
                r = ndopt.get_hk_reply(frame, hk[1], hk[2])
                text += " AT=%d lifetime=%ds" % (r.at, r.lifetime)
            return src, dst, text
        if pkt.next_header == mh.IPPROTO_MH:
            m = mh.decode_mh(frame, pkt.payload_off, pkt.payload_end)
            name = "FBU" if m.mh_type == mh.MH_FBU else "FBack status %d" % m.status
            extra = " HAO=%s" % short(pkt.home_address) if pkt.home_address is not None else ""
            if m.alt_coa is not None:
                extra += " ACoA=%s" % short(m.alt_coa)
            return src, dst, "%s seq=%d%s BADF(%d-octet MAC)" % (name, m.seq, extra, m.auth_len)
    except DecodeError as e:
        return src, dst, "malformed (%s)" % e
    return src, dst, "next header %d" % pkt.next_header
