"""ND option codecs no engine uses on its path: options 1, 2 (RFC 4861) and 20 (NAACK), the decoder of
option 17, option_size and wall_from_timestamp; for hostsim (inspect), the fuzzers and the tests.

They share ndopt.py's framing helpers and option constants; keeping them out of ndopt.py keeps
them out of the router and mobile node images."""

from .._compat import const
from ..errors import DecodeError, EncodeError
from .ndopt import (
    IPA_NAR_PREFIX,
    IPA_OLD_COA,
    OPT_CERTIFICATE,
    OPT_CGA,
    OPT_HK_REPLY,
    OPT_HK_REQUEST,
    OPT_IP_ADDR,
    OPT_LLA,
    OPT_NAACK,
    OPT_NONCE,
    OPT_RSA_SIG,
    OPT_SLLA,
    OPT_TLLA,
    OPT_TRUST_ANCHOR,
    _begin,
    _copy,
    _opt,
    check_uint,
)

_KEY_HASH = const(16)


def option_size(opt_type, payload_len):
    """Encoded size in octets of a variable-length option with payload_len octets of data
    (the LLA, CGA Parameters, signature, nonce, name, certificate, SPKI or encrypted key)."""
    f = _fixed(opt_type)
    if f < 0 or type(payload_len) is not int or payload_len < 0:
        raise EncodeError("option size")
    return (f + payload_len + 7) & ~7


def _fixed(t):
    # Octets before the variable part, per option type; -1 for fixed-size options.
    if t == OPT_SLLA or t == OPT_TLLA or t == OPT_NONCE:
        return 2
    if t == OPT_LLA:
        return 3
    if t == OPT_CGA or t == OPT_TRUST_ANCHOR or t == OPT_CERTIFICATE or t == OPT_HK_REQUEST:
        return 4
    if t == OPT_HK_REPLY:
        return 6
    if t == OPT_RSA_SIG:
        return 4 + _KEY_HASH
    return -1



# -- option 13: Timestamp values --


def wall_from_timestamp(ts):
    """(seconds, frac16) of a 64-bit Timestamp value."""
    return ts >> 16, ts & 0xFFFF


# -- options 1 and 2: Source / Target Link-layer Address (RFC 4861 §4.6.1) --


def put_nd_lla(buf, off, opt_type, lla):
    """Source (1) or Target (2) Link-layer Address option, zero-padded to 8 octets."""
    if opt_type != OPT_SLLA and opt_type != OPT_TLLA:
        raise EncodeError("not an ND link-layer address option type")
    if len(lla) < 1:
        raise EncodeError("empty link-layer address")
    size = _begin(buf, off, opt_type, 2 + len(lla))
    _copy(buf, off + 2, lla)
    return off + size


def get_nd_lla(buf, off, length):
    """The link-layer address field of option 1 or 2: everything after Type and Length,
    padding included, since only the link type knows the address length."""
    if off >= 0 and len(buf) > off and buf[off] == OPT_TLLA:
        mv = _opt(buf, off, length, OPT_TLLA, 8)
    else:
        mv = _opt(buf, off, length, OPT_SLLA, 8)
    return mv[off + 2 : off + length]


# -- option 17: IP Address/Prefix (RFC 5568 §6.4.1), decoding --


class IpAddrOption:
    __slots__ = ("code", "prefix_len", "addr")

    def __init__(self, code, prefix_len, addr):
        self.code = code
        self.prefix_len = prefix_len
        self.addr = addr


def get_ip_addr(buf, off, length):
    """Length must be 3; code 1-4 and prefix length 0-128, otherwise DecodeError."""
    mv = _opt(buf, off, length, OPT_IP_ADDR, 24)
    if length != 24:
        raise DecodeError("IP address option length")
    code = buf[off + 2]
    plen = buf[off + 3]
    if code < IPA_OLD_COA or code > IPA_NAR_PREFIX or plen > 128:
        raise DecodeError("IP address option code or prefix length")
    return IpAddrOption(code, plen, mv[off + 8 : off + 24])


# -- option 20: Neighbor Advertisement Acknowledgment (RFC 5568 §6.4.6) --


class NaackOption:
    __slots__ = ("code", "status", "ncoa")

    def __init__(self, code, status, ncoa):
        self.code = code
        self.status = status
        self.ncoa = ncoa


def put_naack(buf, off, status, ncoa=None):
    """NAACK option: Length 1, or 3 with a supplied NCoA after the Reserved field."""
    check_uint(status, 0xFF, "NAACK status")
    if ncoa is not None and len(ncoa) != 16:
        raise EncodeError("NCoA must be 16 octets")
    size = 8 if ncoa is None else 24
    _begin(buf, off, OPT_NAACK, size)
    buf[off + 2] = 0
    buf[off + 3] = status
    for i in range(off + 4, off + 8):
        buf[i] = 0
    if ncoa is not None:
        _copy(buf, off + 8, ncoa)
    return off + size


def get_naack(buf, off, length):
    mv = _opt(buf, off, length, OPT_NAACK, 8)
    if length != 8 and length != 24:
        raise DecodeError("NAACK length")
    if buf[off + 2] != 0:
        raise DecodeError("NAACK option code")
    ncoa = mv[off + 8 : off + 24] if length == 24 else None
    return NaackOption(0, buf[off + 3], ncoa)
