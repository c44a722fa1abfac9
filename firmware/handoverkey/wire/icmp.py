"""ICMPv6 messages the engines handle: FMIPv6 RtSolPr and PrRtAdv (154/2, 154/3), SEND CPS (148) and CPA (149)."""

from .._compat import const
from ..errors import DecodeError, EncodeError
from . import ndopt
from .ndopt import check_uint

ICMP_CPS = const(148)
ICMP_CPA = const(149)
ICMP_FMIPV6 = const(154)
SUB_RTSOLPR = const(2)
SUB_PRRTADV = const(3)

# PrRtAdv codes (RFC 5568 §6.1.2).
PRRTADV_TUPLE = const(0)
PRRTADV_NET_INITIATED = const(1)
PRRTADV_NO_NEW_ROUTER = const(2)
PRRTADV_PARTIAL = const(3)
PRRTADV_UNSOLICITED_INFO = const(4)
PRRTADV_DHCP = const(5)

#: CPS Component value asking for the whole certification path (RFC 3971 §6.4.1).
CPS_ALL_COMPONENTS = const(65535)

_FMIP_HDR = const(8)
_CPS_HDR = const(8)
_CPA_HDR = const(12)


def _start(buf, off, n, icmp_type, code):
    # Writes Type, Code and a zero Checksum once the room is known to exist.
    if type(off) is not int or off < 0 or len(buf) - off < n:
        raise EncodeError("buffer too small")
    buf[off] = icmp_type
    buf[off + 1] = code
    buf[off + 2] = 0
    buf[off + 3] = 0


def _put16(buf, p, v):
    buf[p] = v >> 8
    buf[p + 1] = v & 0xFF


def _fmip(buf, off, subtype, code, identifier):
    check_uint(identifier, 0xFFFF, "identifier")
    _start(buf, off, _FMIP_HDR, ICMP_FMIPV6, code)
    buf[off + 4] = subtype
    buf[off + 5] = 0
    _put16(buf, off + 6, identifier)
    return off + _FMIP_HDR


def encode_rtsolpr(buf, off, identifier):
    """RtSolPr fixed part (Code 0, checksum 0); return the offset where options start."""
    return _fmip(buf, off, SUB_RTSOLPR, 0, identifier)


def encode_prrtadv(buf, off, code, identifier):
    """PrRtAdv fixed part with Code 0-5 (identifier 0 when unsolicited); return options offset."""
    check_uint(code, PRRTADV_DHCP, "PrRtAdv code")
    return _fmip(buf, off, SUB_PRRTADV, code, identifier)


def encode_cps(buf, off, identifier, component=CPS_ALL_COMPONENTS):
    """Certification Path Solicitation fixed part; return options offset."""
    check_uint(identifier, 0xFFFF, "identifier")
    check_uint(component, 0xFFFF, "component")
    _start(buf, off, _CPS_HDR, ICMP_CPS, 0)
    _put16(buf, off + 4, identifier)
    _put16(buf, off + 6, component)
    return off + _CPS_HDR


def encode_cpa(buf, off, identifier, all_components, component):
    """Certification Path Advertisement fixed part; return options offset."""
    check_uint(identifier, 0xFFFF, "identifier")
    check_uint(all_components, 0xFFFF, "all components")
    check_uint(component, 0xFFFF, "component")
    _start(buf, off, _CPA_HDR, ICMP_CPA, 0)
    _put16(buf, off + 4, identifier)
    _put16(buf, off + 6, all_components)
    _put16(buf, off + 8, component)
    buf[off + 10] = 0
    buf[off + 11] = 0
    return off + _CPA_HDR


class IcmpMessage:
    """A decoded message. subtype is -1 outside type 154; identifier, component and
    all_components are -1 where the type has no such field. options is the ndopt.walk list;
    sig_off is the offset of the first RSA Signature option, or -1."""

    __slots__ = (
        "off",
        "end",
        "type",
        "code",
        "checksum",
        "subtype",
        "identifier",
        "component",
        "all_components",
        "opts_off",
        "options",
        "sig_off",
    )

    def find(self, opt_type):
        """The first (type, off, length) of opt_type, or None."""
        for o in self.options:
            if o[0] == opt_type:
                return o
        return None

    def find_all(self, opt_type):
        """Every (type, off, length) of opt_type, in wire order."""
        return [o for o in self.options if o[0] == opt_type]


def decode_icmp(buf, off, end):
    """Decode RtSolPr, PrRtAdv, CPS or CPA at buf[off:end] and walk its options.

    Any other type or subtype, a Code other than the ones defined (0; 0-5 for PrRtAdv),
    a short header or malformed options raise DecodeError. The checksum is reported, not
    checked: ipv6.verify_upper does that with the addresses."""
    if off < 0 or end > len(buf) or end - off < 8:
        raise DecodeError("short ICMPv6")
    t = buf[off]
    code = buf[off + 1]
    m = IcmpMessage()
    m.off = off
    m.end = end
    m.type = t
    m.code = code
    m.checksum = (buf[off + 2] << 8) | buf[off + 3]
    m.subtype = -1
    m.component = -1
    m.all_components = -1
    if t == ICMP_FMIPV6:
        sub = buf[off + 4]
        if sub == SUB_RTSOLPR:
            if code != 0:
                raise DecodeError("RtSolPr code")
        elif sub == SUB_PRRTADV:
            if code > PRRTADV_DHCP:
                raise DecodeError("PrRtAdv code")
        else:
            raise DecodeError("FMIPv6 subtype")
        m.subtype = sub
        m.identifier = (buf[off + 6] << 8) | buf[off + 7]
        p = off + _FMIP_HDR
    elif t == ICMP_CPS:
        if code != 0:
            raise DecodeError("CPS code")
        m.identifier = (buf[off + 4] << 8) | buf[off + 5]
        m.component = (buf[off + 6] << 8) | buf[off + 7]
        p = off + _CPS_HDR
    elif t == ICMP_CPA:
        if code != 0:
            raise DecodeError("CPA code")
        if end - off < _CPA_HDR:
            raise DecodeError("short CPA")
        m.identifier = (buf[off + 4] << 8) | buf[off + 5]
        m.all_components = (buf[off + 6] << 8) | buf[off + 7]
        m.component = (buf[off + 8] << 8) | buf[off + 9]
        p = off + _CPA_HDR
    else:
        raise DecodeError("ICMPv6 type")
    m.opts_off = p
    opts = ndopt.walk(buf, p, end)
    m.options = opts
    m.sig_off = -1
    if opts and opts[-1][0] == ndopt.OPT_RSA_SIG:
        m.sig_off = opts[-1][1]
    return m
