"""Mobility Header codecs for FBU and FBack with Pad1, PadN, Alternate Care-of Address and BADF options."""

from .._compat import const
from ..errors import DecodeError, EncodeError
from .ndopt import check_uint, put_u32

IPPROTO_MH = const(135)
MH_FBU = const(8)
MH_FBACK = const(9)

MHOPT_PAD1 = const(0)
MHOPT_PADN = const(1)
MHOPT_ALT_COA = const(3)
MHOPT_BADF = const(21)

FBU_A = const(0x80)  # acknowledge (FBack requested)
FBU_H = const(0x40)  # home registration: MUST be set in an FBU (RFC 5568 §6.2.2)
FBU_L = const(0x20)
FBU_K = const(0x10)
FBACK_K = const(0x80)

FBACK_ACCEPTED = const(0)
FBACK_ACCEPTED_USE_ACOA = const(1)
FBACK_UNSPECIFIED = const(128)
FBACK_PROHIBITED = const(129)
FBACK_NO_RESOURCES = const(130)
FBACK_BAD_IID_LEN = const(131)

#: SPI value meaning "authenticator computed with a SEND-based handover key" (RFC 5568 §6.4.5).
SPI_HANDOVER_KEY = const(0)

#: Cap on mobility options (padding included) before the BADF option. A legitimate FBU has
#: at most a handful; anything beyond the cap is dropped rather than walked.
MAX_MH_OPTIONS = const(32)

_NO_PROTO = const(59)
_FIXED = const(12)  # MH header and FBU/FBack message data; options start here
_MAX_MH = const(2048)  # Header Len is one octet of 8-octet units beyond the first 8
_ZERO2 = b"\x00\x00"


def _encode(buf, off, mh_type, b6, b7, b8, b9, lifetime, auth_len, alt_coa, spi):
    """Lay out header, message data, optional Alternate CoA at 8n+6 and BADF last, ending
    on an 8-octet boundary (interpretations §2, digest §5.7). The authenticator is left zero."""
    check_uint(lifetime, 0xFFFF, "lifetime")
    check_uint(auth_len, 251, "authenticator length")  # Option Length = 4 + auth_len fits one octet
    if auth_len < 1:
        raise EncodeError("auth length")
    check_uint(spi, 0xFFFFFFFF, "SPI")
    if alt_coa is not None and len(alt_coa) != 16:
        raise EncodeError("alt CoA length")
    p = _FIXED if alt_coa is None else _FIXED + 20  # PadN(2) then the 18-octet option
    badf_size = 6 + auth_len
    start = p + (8 - (p + badf_size) % 8) % 8
    total = start + badf_size
    if total > _MAX_MH:
        raise EncodeError("MH too long")
    if type(off) is not int or off < 0 or len(buf) - off < total:
        raise EncodeError("buffer too small")
    buf[off] = _NO_PROTO
    buf[off + 1] = (total >> 3) - 1
    buf[off + 2] = mh_type
    buf[off + 3] = 0
    buf[off + 4] = 0  # checksum: ipv6.finish fills it once the authenticator is in
    buf[off + 5] = 0
    buf[off + 6] = b6
    buf[off + 7] = b7
    buf[off + 8] = b8
    buf[off + 9] = b9
    buf[off + 10] = lifetime >> 8
    buf[off + 11] = lifetime & 0xFF
    if alt_coa is not None:
        # PadN with no data octets moves the option from 12 to 14 = 8n+6 (RFC 6275 §6.2.5).
        buf[off + 12] = MHOPT_PADN
        buf[off + 13] = 0
        buf[off + 14] = MHOPT_ALT_COA
        buf[off + 15] = 16
        buf[off + 16 : off + 32] = alt_coa
    gap = start - p
    q = off + p
    if gap == 1:
        buf[q] = MHOPT_PAD1
    elif gap > 1:
        buf[q] = MHOPT_PADN
        buf[q + 1] = gap - 2
        for i in range(q + 2, q + gap):
            buf[i] = 0
    q = off + start
    buf[q] = MHOPT_BADF
    buf[q + 1] = 4 + auth_len  # SPI included: the generic mobility option rule
    put_u32(buf, q + 2, spi)
    for i in range(q + 6, off + total):
        buf[i] = 0
    return off + total, q + 6


def encode_fbu(buf, off, seq, flags, lifetime, auth_len, alt_coa=None, spi=SPI_HANDOVER_KEY):
    """Fast Binding Update (MH type 8). flags is octet 8 (FBU_A | FBU_H | FBU_L | FBU_K);
    lifetime is in seconds (RFC 5568). Return (mh_end, auth_off)."""
    check_uint(seq, 0xFFFF, "seq")
    check_uint(flags, 0xFF, "flags")
    if flags & 0x0F:
        raise EncodeError("FBU flags")
    return _encode(buf, off, MH_FBU, seq >> 8, seq & 0xFF, flags, 0, lifetime, auth_len, alt_coa, spi)


def encode_fback(buf, off, status, flags, seq, lifetime, auth_len, alt_coa=None, spi=SPI_HANDOVER_KEY):
    """Fast Binding Acknowledgment (MH type 9). flags is octet 7 (FBACK_K); lifetime granted,
    in seconds. Return (mh_end, auth_off)."""
    check_uint(status, 0xFF, "status")
    check_uint(flags, 0xFF, "flags")
    if flags & 0x7F:
        raise EncodeError("FBack flags")
    check_uint(seq, 0xFFFF, "seq")
    return _encode(buf, off, MH_FBACK, status, flags, seq >> 8, seq & 0xFF, lifetime, auth_len, alt_coa, spi)


def set_authenticator(buf, auth_off, auth_len, mac):
    """Copy the first auth_len octets of a full MAC into the BADF option."""
    if len(mac) < auth_len or auth_off < 0 or len(buf) - auth_off < auth_len:
        raise EncodeError("auth does not fit")
    for i in range(auth_len):
        buf[auth_off + i] = mac[i]


class MobilityMessage:
    """A decoded FBU or FBack. Fields not in the message type are -1 (status for an FBU).

    BADF is always the last option, so the authenticator is the rest of the MH after the SPI:
    auth_off and auth_len locate it. badf_len_field is the raw Option Length, which the
    caller compares with 4 + authlen(AT) or authlen(AT) (interpretations §2)."""

    __slots__ = (
        "off",
        "end",
        "payload_proto",
        "mh_type",
        "checksum",
        "seq",
        "flags",
        "lifetime",
        "status",
        "alt_coa",
        "badf_off",
        "badf_spi",
        "badf_len_field",
        "auth_off",
        "auth_len",
    )


def decode_mh(buf, off, end):
    """Decode the FBU or FBack at buf[off:end] (end = the IPv6 payload end).

    DecodeError when: Header Len does not give exactly end - off octets; Payload Proto is not
    59, IPPROTO_NONE (RFC 6275 §9.2: otherwise the message MUST be discarded); the MH type is not
    8 or 9; an option overruns; an Alternate CoA option is not 16 octets or appears twice;
    more than MAX_MH_OPTIONS options come before BADF; the BADF option is missing; or BADF is
    not last (its Option Length is neither the rest of the MH nor the rest minus the SPI)."""
    if off < 0 or end > len(buf) or end - off < 8:
        raise DecodeError("short MH")
    b = buf
    if ((b[off + 1] + 1) << 3) != end - off:
        raise DecodeError("MH length mismatch")
    if b[off] != _NO_PROTO:
        raise DecodeError("MH payload proto")
    t = b[off + 2]
    if t != MH_FBU and t != MH_FBACK:
        raise DecodeError("MH type")
    if end - off < _FIXED:
        raise DecodeError("short MH")
    m = MobilityMessage()
    m.off = off
    m.end = end
    m.payload_proto = b[off]
    m.mh_type = t
    m.checksum = (b[off + 4] << 8) | b[off + 5]
    m.lifetime = (b[off + 10] << 8) | b[off + 11]
    if t == MH_FBU:
        m.seq = (b[off + 6] << 8) | b[off + 7]
        m.flags = b[off + 8]
        m.status = -1
    else:
        m.status = b[off + 6]
        m.flags = b[off + 7]
        m.seq = (b[off + 8] << 8) | b[off + 9]
    alt = -1
    count = 0
    p = off + _FIXED
    while p < end:
        o = b[p]
        if o == MHOPT_PAD1:
            p += 1
        else:
            if end - p < 2:
                raise DecodeError("MH option truncated")
            n = b[p + 1]
            if o == MHOPT_BADF:
                rest = end - p - 2
                # Length = SPI + authenticator (sent) or authenticator alone (RFC text);
                # either way BADF reaches the end of the MH, so it is last.
                if rest < 5 or (n != rest and n + 4 != rest):
                    raise DecodeError("BADF not last")
                m.badf_off = p
                m.badf_len_field = n
                m.badf_spi = (((b[p + 2] << 8) | b[p + 3]) << 16) | (b[p + 4] << 8) | b[p + 5]
                m.auth_off = p + 6
                m.auth_len = end - p - 6
                m.alt_coa = None if alt < 0 else memoryview(buf)[alt : alt + 16]
                return m
            if end - p - 2 < n:
                raise DecodeError("MH option overrun")
            if o == MHOPT_ALT_COA:
                if n != 16 or alt >= 0:
                    raise DecodeError("alt CoA option")
                alt = p + 2
            p += 2 + n
        count += 1
        if count > MAX_MH_OPTIONS:
            raise DecodeError("too many MH options")
    raise DecodeError("no BADF option")


def badf_mac_parts(buf, mh_off, auth_off, coa, par):
    """The BADF MAC input as pieces to feed an HMAC, without copying the frame:
    CoA | PAR | the MH from Payload Proto through the BADF SPI with the checksum as zero
    (interpretations §2)."""
    if mh_off < 0 or auth_off - mh_off < _FIXED or auth_off > len(buf):
        raise DecodeError("MAC range")
    if len(coa) != 16 or len(par) != 16:
        raise DecodeError("MAC addresses")
    mv = memoryview(buf)
    return [coa, par, mv[mh_off : mh_off + 4], _ZERO2, mv[mh_off + 6 : auth_off]]
