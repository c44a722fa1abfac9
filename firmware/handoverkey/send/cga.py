"""Cryptographically Generated Addresses (RFC 3972): parameters codec and verification (Sec 0-7).

Generation (RFC 3972 §4) is in cga_gen.py: addresses are made at set-up, so the engines' images
do not carry the modifier search."""

import hashlib

from handoverkey._compat import const
from handoverkey.errors import DecodeError, VerifyError
from handoverkey.wire.ndopt import der_tlv_len

# CGA Parameters layout (RFC 3972 §3): modifier 16, subnet prefix 8, collision count 1, then
# one DER SubjectPublicKeyInfo, then RFC 4581 extension TLVs.
_MOD_LEN = const(16)
_PREFIX_OFF = const(16)
_COUNT_OFF = const(24)
_KEY_OFF = const(25)
_MAX_COUNT = const(2)
_TAG_SEQUENCE = const(0x30)
_EXT_HDR = const(4)

# Hash2 replaces the prefix and the collision count with zeros (RFC 3972 §3).
_NINE_ZEROS = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00"

# Stable VerifyError reasons, in the order RFC 3972 §5 checks them.
REASON_COUNT = "collision-count"
REASON_PREFIX = "prefix"
REASON_HASH1 = "hash1"
REASON_HASH2 = "hash2"


def der_tlv(buf, off, end):
    """Read one DER TLV header at off; return (tag, value_off, value_end) with value_end <= end.

    Strict DER, as ndopt.der_tlv_len reads it: a single-octet tag, definite length, minimal
    length encoding in at most three octets (more would describe a key of 16 MiB)."""
    n = der_tlv_len(buf, off, end)
    if n < 0:
        raise DecodeError("bad DER header")
    first = buf[off + 1]
    return buf[off], off + 2 + (first & 0x7F if first & 0x80 else 0), off + n


def check_extensions(buf, off, end):
    """Raise DecodeError unless buf[off:end] is a whole number of RFC 4581 TLVs."""
    pos = off
    while pos < end:
        if end - pos < _EXT_HDR:
            raise DecodeError("CGA extension truncated")
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        pos += _EXT_HDR
        if length > end - pos:
            raise DecodeError("CGA extension truncated")
        pos += length


class CgaParams:
    """A decoded CGA Parameters structure; byte fields are memoryviews into the caller's buffer."""

    __slots__ = (
        "raw",
        "modifier",
        "prefix",
        "collision_count",
        "key",
        "extensions",
        "off",
        "key_off",
        "key_end",
        "end",
    )

    def __init__(self, buf, off, key_end, end):
        mv = memoryview(buf)
        self.off = off
        self.key_off = off + _KEY_OFF
        self.key_end = key_end
        self.end = end
        self.raw = mv[off:end]
        self.modifier = mv[off : off + _MOD_LEN]
        self.prefix = mv[off + _PREFIX_OFF : off + _COUNT_OFF]
        self.collision_count = buf[off + _COUNT_OFF]
        self.key = mv[off + _KEY_OFF : key_end]
        self.extensions = mv[key_end:end]

    def extension_fields(self):
        """List of (type, data memoryview) for each RFC 4581 extension field, in wire order."""
        out = []
        ext = self.extensions
        pos = 0
        n = len(ext)
        # parse_params already proved the TLVs fill the field exactly.
        while pos < n:
            etype = (ext[pos] << 8) | ext[pos + 1]
            length = (ext[pos + 2] << 8) | ext[pos + 3]
            out.append((etype, ext[pos + _EXT_HDR : pos + _EXT_HDR + length]))
            pos += _EXT_HDR + length
        return out


def parse_params(buf, off=0, end=None):
    """Decode CGA Parameters in buf[off:end]; return CgaParams or raise DecodeError."""
    if end is None:
        end = len(buf)
    if off < 0 or end > len(buf) or off > end:
        raise DecodeError("CGA params bounds")
    if end - off < _KEY_OFF + 2:
        raise DecodeError("CGA params truncated")
    tag, _, key_end = der_tlv(buf, off + _KEY_OFF, end)
    if tag != _TAG_SEQUENCE:
        raise DecodeError("CGA key not a SEQUENCE")
    check_extensions(buf, key_end, end)
    return CgaParams(buf, off, key_end, end)


def cga_hash1(params):
    """The 8-octet Hash1 of parsed CGA parameters: SHA-1 over the whole structure (RFC 3972 §3)."""
    return hashlib.sha1(params.raw).digest()[:8]


def cga_hash2(params):
    """The 14-octet Hash2 of parsed CGA parameters: prefix and collision count read as zeros."""
    h = hashlib.sha1(params.modifier)
    h.update(_NINE_ZEROS)
    # Key and extensions are contiguous, so one update covers both.
    h.update(params.raw[_KEY_OFF:])
    return h.digest()[:14]


def leading_zero_octets(digest, n):
    i = 0
    while i < n:
        if digest[i]:
            return False
        i += 1
    return True


def cga_verify(address, buf, off=0, end=None):
    """Verify that address is the CGA of the parameters in buf[off:end] (RFC 3972 §5).

    Returns the CgaParams. Raises DecodeError for malformed parameters, VerifyError(reason)
    at the first failing step, reason one of "collision-count", "prefix", "hash1", "hash2"."""
    if len(address) != 16:
        raise DecodeError("address length")
    params = parse_params(buf, off, end)
    # Step 1.
    if params.collision_count > _MAX_COUNT:
        raise VerifyError(REASON_COUNT)
    # Step 2.
    prefix = params.prefix
    i = 0
    while i < 8:
        if prefix[i] != address[i]:
            raise VerifyError(REASON_PREFIX)
        i += 1
    # Steps 3-4: the Sec bits and u/g bits (mask 0xe3 of the first IID octet) are ignored.
    h1 = hashlib.sha1(params.raw).digest()
    if (h1[0] ^ address[8]) & 0x1C:
        raise VerifyError(REASON_HASH1)
    i = 1
    while i < 8:
        if h1[i] != address[8 + i]:
            raise VerifyError(REASON_HASH1)
        i += 1
    # Steps 5-7: every Sec 0-7 is checked, including those RFC 4982 leaves unassigned.
    sec = address[8] >> 5
    if sec:
        if not leading_zero_octets(cga_hash2(params), 2 * sec):
            raise VerifyError(REASON_HASH2)
    return params


def address_sec(address):
    """The Sec value encoded in the top three bits of a CGA's interface identifier."""
    if len(address) != 16:
        raise DecodeError("address length")
    return address[8] >> 5
