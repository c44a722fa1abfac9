"""Neighbor Discovery option walker and the codecs of the options the engines exchange: 11-17, 19, 27, 28.

Codecs no engine uses on its path (options 1, 2 and 20, the IP Address option's decoder,
option_size, wall_from_timestamp) are in ndopt_extra.py, for tools and tests."""

from .._compat import const
from ..errors import DecodeError, EncodeError

OPT_SLLA = const(1)  # Source Link-layer Address (RFC 4861)
OPT_TLLA = const(2)  # Target Link-layer Address (RFC 4861)
OPT_CGA = const(11)
OPT_RSA_SIG = const(12)
OPT_TIMESTAMP = const(13)
OPT_NONCE = const(14)
OPT_TRUST_ANCHOR = const(15)
OPT_CERTIFICATE = const(16)
OPT_IP_ADDR = const(17)  # IP Address/Prefix (RFC 5568 §6.4.1)
OPT_LLA = const(19)  # FMIPv6 Link-layer Address (RFC 5568 §6.4.3)
OPT_NAACK = const(20)
OPT_HK_REQUEST = const(27)
OPT_HK_REPLY = const(28)

# IP Address/Prefix option codes (RFC 5568 §6.4.1).
IPA_OLD_COA = const(1)
IPA_NEW_COA = const(2)
IPA_NAR_ADDR = const(3)
IPA_NAR_PREFIX = const(4)

# Link-layer Address option codes (RFC 5568 §6.4.3).
LLA_WILDCARD = const(0)
LLA_NEW_AP = const(1)
LLA_MN = const(2)
LLA_NAR = const(3)
LLA_SOURCE = const(4)
LLA_AP_ON_CURRENT_IF = const(5)
LLA_NO_PREFIX_INFO = const(6)
LLA_NO_FAST_HANDOVER = const(7)

NAME_DER = const(1)  # Trust Anchor name types (RFC 3971 §6.4.3)
NAME_FQDN = const(2)
CERT_X509 = const(1)  # Certificate option cert type (RFC 3971 §6.4.4)

#: Cap on the options walk() accepts before the RSA Signature option. A CPA with a
#: certificate and trust anchors, or a PrRtAdv with several AP tuples, stays well below it;
#: a message with more is treated as hostile and dropped.
MAX_OPTIONS = const(32)

_MAX_OPT = const(2040)  # Length is one octet of 8-octet units
_KEY_HASH = const(16)


def put_u32(buf, p, v):
    """Store a value already known to fit in 32 bits; callers check ranges and room.

    The same as cursor.put_u32, kept here (and used by mh.py) so that the engines' images need
    not carry cursor.py's Reader and Writer, which no engine uses."""
    hi = v >> 16
    buf[p] = hi >> 8
    buf[p + 1] = hi & 0xFF
    buf[p + 2] = (v >> 8) & 0xFF
    buf[p + 3] = v & 0xFF


def walk(buf, off, end, max_options=MAX_OPTIONS):
    """List (type, off, length in octets) of the options in buf[off:end], up to and including
    the first RSA Signature option; whatever follows it is ignored (RFC 3971 §5.2.2).

    A zero Length, an option running past end, or more than max_options options is a
    DecodeError, and the caller drops the whole message (RFC 4861 §4.6)."""
    if off < 0 or end > len(buf) or off > end:
        raise DecodeError("options range")
    out = []
    while off < end:
        if end - off < 2:
            raise DecodeError("option truncated")
        t = buf[off]
        n = buf[off + 1] << 3
        if n == 0:
            raise DecodeError("option length 0")
        if n > end - off:
            raise DecodeError("option overrun")
        if len(out) >= max_options:
            raise DecodeError("too many options")
        out.append((t, off, n))
        off += n
        if t == OPT_RSA_SIG:
            break
    return out


def check_uint(v, hi, what):
    """EncodeError unless v is an int in 0..hi: every field is range-checked before packing.
    Shared by the wire codecs (mh.py and icmp.py import it from here)."""
    if type(v) is not int or v < 0 or v > hi:
        raise EncodeError(what + " out of range")


def _begin(buf, off, t, used):
    """Check room for an option of `used` octets before padding, write Type and Length,
    zero the padding; return the padded size."""
    size = (used + 7) & ~7
    if size > _MAX_OPT:
        raise EncodeError("option too long")
    if type(off) is not int or off < 0 or len(buf) - off < size:
        raise EncodeError("buffer too small")
    buf[off] = t
    buf[off + 1] = size >> 3
    for i in range(off + used, off + size):
        buf[i] = 0
    return size


def _copy(buf, p, data):
    buf[p : p + len(data)] = data


def _opt(buf, off, length, t, minlen):
    # Every decoder starts here: the option must lie inside buf, be of type t, and carry
    # the Length the walk reported, so get_* is safe on any (buf, off, length).
    if off < 0 or length < minlen or len(buf) - off < length:
        raise DecodeError("option bounds")
    if buf[off] != t or (buf[off + 1] << 3) != length:
        raise DecodeError("option type/length")
    return memoryview(buf)


# -- option 11: CGA (RFC 3971 §5.1) --


class CgaOption:
    __slots__ = ("pad_len", "params")

    def __init__(self, pad_len, params):
        self.pad_len = pad_len
        self.params = params


def put_cga(buf, off, params):
    """CGA option carrying the CGA Parameters, with the minimal Pad Length."""
    used = 4 + len(params)
    size = _begin(buf, off, OPT_CGA, used)
    buf[off + 2] = size - used
    buf[off + 3] = 0
    _copy(buf, off + 4, params)
    return off + size


def get_cga(buf, off, length):
    mv = _opt(buf, off, length, OPT_CGA, 8)
    pad = buf[off + 2]
    if pad > length - 4:
        raise DecodeError("pad length")
    return CgaOption(pad, mv[off + 4 : off + length - pad])


# -- option 12: RSA Signature (RFC 3971 §5.2) --


class RsaSigOption:
    """`signature` is everything after the Key Hash: the signature is its first k octets,
    k being the signer's modulus length, which the option does not encode."""

    __slots__ = ("key_hash", "signature")

    def __init__(self, key_hash, signature):
        self.key_hash = key_hash
        self.signature = signature


def put_rsa_sig(buf, off, key_hash, signature):
    if len(key_hash) != _KEY_HASH:
        raise EncodeError("key hash length")
    if len(signature) < 1:
        raise EncodeError("empty signature")
    size = _begin(buf, off, OPT_RSA_SIG, 4 + _KEY_HASH + len(signature))
    buf[off + 2] = 0
    buf[off + 3] = 0
    _copy(buf, off + 4, key_hash)
    _copy(buf, off + 4 + _KEY_HASH, signature)
    return off + size


def get_rsa_sig(buf, off, length):
    mv = _opt(buf, off, length, OPT_RSA_SIG, 4 + _KEY_HASH)
    return RsaSigOption(mv[off + 4 : off + 20], mv[off + 20 : off + length])


# -- option 13: Timestamp (RFC 3971 §5.3.1), 48.16 fixed-point seconds since 1970 --


def timestamp_from_wall(wall_s, frac16=0):
    """The 64-bit Timestamp value for integer Unix seconds and a 1/65536 s fraction."""
    check_uint(wall_s, 0xFFFFFFFFFFFF, "seconds")
    check_uint(frac16, 0xFFFF, "fraction")
    return (wall_s << 16) | frac16


def put_timestamp(buf, off, ts):
    check_uint(ts, 0xFFFFFFFFFFFFFFFF, "timestamp")
    _begin(buf, off, OPT_TIMESTAMP, 16)
    for i in range(off + 2, off + 8):
        buf[i] = 0
    put_u32(buf, off + 8, ts >> 32)
    put_u32(buf, off + 12, ts & 0xFFFFFFFF)
    return off + 16


def get_timestamp(buf, off, length):
    """The 64-bit Timestamp value; the option's Length must be 2."""
    _opt(buf, off, length, OPT_TIMESTAMP, 16)
    if length != 16:
        raise DecodeError("timestamp length")
    b = buf
    p = off + 8
    hi = (((b[p] << 8) | b[p + 1]) << 16) | (b[p + 2] << 8) | b[p + 3]
    lo = (((b[p + 4] << 8) | b[p + 5]) << 16) | (b[p + 6] << 8) | b[p + 7]
    return (hi << 32) | lo


# -- option 14: Nonce (RFC 3971 §5.3.2) --


def put_nonce(buf, off, nonce):
    """The nonce is at least 6 octets and sized so the option needs no padding."""
    n = len(nonce)
    if n < 6 or (n + 2) & 7:
        raise EncodeError("nonce length")
    size = _begin(buf, off, OPT_NONCE, 2 + n)
    _copy(buf, off + 2, nonce)
    return off + size


def get_nonce(buf, off, length):
    """The nonce as a memoryview (at least 6 octets, since Length >= 1)."""
    mv = _opt(buf, off, length, OPT_NONCE, 8)
    return mv[off + 2 : off + length]


# -- option 15: Trust Anchor (RFC 3971 §6.4.3) --


class TrustAnchorOption:
    __slots__ = ("name_type", "pad_len", "name")

    def __init__(self, name_type, pad_len, name):
        self.name_type = name_type
        self.pad_len = pad_len
        self.name = name


def put_trust_anchor(buf, off, name_type, name):
    check_uint(name_type, 0xFF, "name type")
    used = 4 + len(name)
    size = _begin(buf, off, OPT_TRUST_ANCHOR, used)
    buf[off + 2] = name_type
    buf[off + 3] = size - used
    _copy(buf, off + 4, name)
    return off + size


def get_trust_anchor(buf, off, length):
    mv = _opt(buf, off, length, OPT_TRUST_ANCHOR, 8)
    pad = buf[off + 3]
    if pad > length - 4:
        raise DecodeError("pad length")
    return TrustAnchorOption(buf[off + 2], pad, mv[off + 4 : off + length - pad])


# -- option 16: Certificate (RFC 3971 §6.4.4) --


class CertificateOption:
    """`cert` is exactly the DER TLV; the padding starts where its encoding ends."""

    __slots__ = ("cert_type", "cert")

    def __init__(self, cert_type, cert):
        self.cert_type = cert_type
        self.cert = cert


def der_tlv_len(buf, p, end):
    """Total octets of the DER TLV at buf[p:end] (tag, length, contents), or -1 when it is
    not a single-octet tag with a minimal definite length that fits before end."""
    if p < 0 or end > len(buf) or end - p < 2:
        return -1
    if buf[p] & 0x1F == 0x1F:
        return -1  # high tag numbers never start a certificate
    n = buf[p + 1]
    hl = 2
    if n & 0x80:
        k = n & 0x7F
        # 0x80 is BER's indefinite form; more than 3 length octets exceeds any option.
        if k == 0 or k > 3 or end - p < 2 + k or buf[p + 2] == 0:
            return -1
        n = 0
        for i in range(p + 2, p + 2 + k):
            n = (n << 8) | buf[i]
        if n < 0x80:
            return -1  # DER requires the short form here
        hl = 2 + k
    if n > end - p - hl:
        return -1
    return hl + n


def put_certificate(buf, off, cert_type, cert):
    """Certificate option; cert must be exactly one DER TLV (the receiver finds the
    padding from the DER length)."""
    check_uint(cert_type, 0xFF, "cert type")
    if der_tlv_len(cert, 0, len(cert)) != len(cert):
        raise EncodeError("cert not one DER TLV")
    size = _begin(buf, off, OPT_CERTIFICATE, 4 + len(cert))
    buf[off + 2] = cert_type
    buf[off + 3] = 0
    _copy(buf, off + 4, cert)
    return off + size


def get_certificate(buf, off, length):
    mv = _opt(buf, off, length, OPT_CERTIFICATE, 8)
    n = der_tlv_len(buf, off + 4, off + length)
    if n < 0:
        raise DecodeError("cert DER length")
    return CertificateOption(buf[off + 2], mv[off + 4 : off + 4 + n])


# -- option 17: IP Address/Prefix (RFC 5568 §6.4.1) --


def put_ip_addr(buf, off, code, prefix_len, addr):
    """IP Address/Prefix option (24 octets). For code 4 (NAR's prefix) the bits past
    prefix_len must already be zero, as the RFC requires of senders."""
    check_uint(code, 4, "IPA code")
    if code < IPA_OLD_COA:
        raise EncodeError("IPA code out of range")
    check_uint(prefix_len, 128, "prefix length")
    if len(addr) != 16:
        raise EncodeError("address length")
    if code == IPA_NAR_PREFIX:
        for i in range(16):
            keep = prefix_len - 8 * i
            mask = 0xFF if keep >= 8 else (0 if keep <= 0 else (0xFF00 >> keep) & 0xFF)
            if addr[i] & ~mask & 0xFF:
                raise EncodeError("bits past prefix length")
    _begin(buf, off, OPT_IP_ADDR, 24)
    buf[off + 2] = code
    buf[off + 3] = prefix_len
    for i in range(off + 4, off + 8):
        buf[i] = 0
    _copy(buf, off + 8, addr)
    return off + 24


# -- option 19: Link-layer Address (RFC 5568 §6.4.3) --


class LlaOption:
    """`lla` is everything after the Option-Code, padding included: the link type, not
    the option, says how long the address is."""

    __slots__ = ("code", "lla")

    def __init__(self, code, lla):
        self.code = code
        self.lla = lla


def put_lla(buf, off, code, lla):
    check_uint(code, LLA_NO_FAST_HANDOVER, "LLA option code")
    used = 3 + len(lla)
    size = _begin(buf, off, OPT_LLA, used)
    buf[off + 2] = code
    _copy(buf, off + 3, lla)
    return off + size


def get_lla(buf, off, length):
    mv = _opt(buf, off, length, OPT_LLA, 8)
    code = buf[off + 2]
    if code > LLA_NO_FAST_HANDOVER:
        raise DecodeError("LLA option code")
    return LlaOption(code, mv[off + 3 : off + length])


# -- option 27: Handover Key Request (RFC 5269 §4.1) --


class HkRequestOption:
    __slots__ = ("at", "pad_len", "spki")

    def __init__(self, at, pad_len, spki):
        self.at = at
        self.pad_len = pad_len
        self.spki = spki


def put_hk_request(buf, off, at, spki):
    """Handover Key Request: AT in the high nibble of octet 3, the HKE public key as DER
    SubjectPublicKeyInfo, minimal padding."""
    check_uint(at, 15, "AT")
    if len(spki) < 1:
        raise EncodeError("empty key")
    used = 4 + len(spki)
    size = _begin(buf, off, OPT_HK_REQUEST, used)
    buf[off + 2] = size - used
    buf[off + 3] = at << 4
    _copy(buf, off + 4, spki)
    return off + size


def get_hk_request(buf, off, length):
    """The reserved low nibble of octet 3 is ignored, as receivers must."""
    mv = _opt(buf, off, length, OPT_HK_REQUEST, 8)
    pad = buf[off + 2]
    if pad > length - 4:
        raise DecodeError("pad length")
    return HkRequestOption(buf[off + 3] >> 4, pad, mv[off + 4 : off + length - pad])


# -- option 28: Handover Key Reply (RFC 5269 §4.2) --


class HkReplyOption:
    __slots__ = ("at", "pad_len", "lifetime", "enc_key")

    def __init__(self, at, pad_len, lifetime, enc_key):
        self.at = at
        self.pad_len = pad_len
        self.lifetime = lifetime
        self.enc_key = enc_key


def put_hk_reply(buf, off, at, lifetime, enc_key):
    """Handover Key Reply: AT nibble, 16-bit Key Lifetime in seconds, the RSAES-PKCS1-v1_5
    ciphertext, minimal padding."""
    check_uint(at, 15, "AT")
    check_uint(lifetime, 0xFFFF, "key lifetime")
    if len(enc_key) < 1:
        raise EncodeError("empty key")
    used = 6 + len(enc_key)
    size = _begin(buf, off, OPT_HK_REPLY, used)
    buf[off + 2] = size - used
    buf[off + 3] = at << 4
    buf[off + 4] = lifetime >> 8
    buf[off + 5] = lifetime & 0xFF
    _copy(buf, off + 6, enc_key)
    return off + size


def get_hk_reply(buf, off, length):
    mv = _opt(buf, off, length, OPT_HK_REPLY, 8)
    pad = buf[off + 2]
    if pad > length - 6:
        raise DecodeError("pad length")
    return HkReplyOption(
        buf[off + 3] >> 4, pad, (buf[off + 4] << 8) | buf[off + 5], mv[off + 6 : off + length - pad]
    )
