"""Cryptographically Generated Addresses (RFC 3972): parameters codec, generation (Sec 0-2), verification (Sec 0-7)."""

import hashlib
import os

from handoverkey._compat import const
from handoverkey.errors import DecodeError, EncodeError, VerifyError

# CGA Parameters layout (RFC 3972 §3): modifier 16, subnet prefix 8, collision count 1, then
# one DER SubjectPublicKeyInfo, then RFC 4581 extension TLVs.
_MOD_LEN = const(16)
_PREFIX_OFF = const(16)
_COUNT_OFF = const(24)
_KEY_OFF = const(25)
_MAX_COUNT = const(2)
_MAX_GEN_SEC = const(2)
_TAG_SEQUENCE = const(0x30)
# More than three length octets would describe a key of 16 MiB; real SPKIs use one or two.
_MAX_LEN_OCTETS = const(3)
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

    Strict DER: a single-octet tag, definite length, minimal length encoding."""
    if off < 0 or end > len(buf) or off + 2 > end:
        raise DecodeError("DER header truncated")
    tag = buf[off]
    if tag & 0x1F == 0x1F:
        # High tag numbers never occur in a SubjectPublicKeyInfo; refusing them keeps the reader small.
        raise DecodeError("DER multi-octet tag")
    first = buf[off + 1]
    pos = off + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0:
            raise DecodeError("DER indefinite length")
        if count > _MAX_LEN_OCTETS:
            raise DecodeError("DER length too long")
        if pos + count > end:
            raise DecodeError("DER length truncated")
        if buf[pos] == 0:
            raise DecodeError("DER length not minimal")
        length = 0
        i = 0
        while i < count:
            length = (length << 8) | buf[pos + i]
            i += 1
        pos += count
        if length < 0x80:
            # DER requires the short form for lengths below 128.
            raise DecodeError("DER length not minimal")
    if length > end - pos:
        raise DecodeError("DER value truncated")
    return tag, pos, pos + length


def _check_extensions(buf, off, end):
    """Raise DecodeError unless buf[off:end] is a whole number of RFC 4581 TLVs."""
    pos = off
    while pos < end:
        if end - pos < _EXT_HDR:
            raise DecodeError("CGA extension header truncated")
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        pos += _EXT_HDR
        if length > end - pos:
            raise DecodeError("CGA extension data truncated")
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
        raise DecodeError("CGA parameters bounds")
    if end - off < _KEY_OFF + 2:
        raise DecodeError("CGA parameters truncated")
    tag, _, key_end = der_tlv(buf, off + _KEY_OFF, end)
    if tag != _TAG_SEQUENCE:
        raise DecodeError("CGA public key is not a DER SEQUENCE")
    _check_extensions(buf, key_end, end)
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


def _leading_zero_octets(digest, n):
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
        if not _leading_zero_octets(cga_hash2(params), 2 * sec):
            raise VerifyError(REASON_HASH2)
    return params


def address_sec(address):
    """The Sec value encoded in the top three bits of a CGA's interface identifier."""
    if len(address) != 16:
        raise DecodeError("address length")
    return address[8] >> 5


def _increment(buf, end):
    """Add one to the big-endian integer buf[0:end], wrapping to zero (RFC 3972 §4 step 3)."""
    i = end - 1
    while i >= 0:
        v = buf[i] + 1
        if v < 256:
            buf[i] = v
            return
        buf[i] = 0
        i -= 1


def _as_encode_error(fn, *args):
    try:
        return fn(*args)
    except DecodeError as e:
        raise EncodeError(e.msg)


def cga_generate(spki, prefix, sec=1, modifier=None, collision_count=0, extensions=b"", max_tries=None):
    """Generate a CGA (RFC 3972 §4); return (address 16 bytes, CGA Parameters bytes).

    spki: DER SubjectPublicKeyInfo. prefix: the 8-octet subnet prefix. sec: 0, 1 or 2
    (3-7 would take about 2^(16*Sec) hashes). modifier: 16 octets to start the search
    from, random when None. extensions: RFC 4581 TLVs, hashed and carried after the key.
    max_tries: a bound on Hash2 computations (None: search until found); EncodeError when
    it runs out, so a device can cap the work and retry later from a new modifier."""
    if not isinstance(sec, int) or sec < 0 or sec > 7:
        raise EncodeError("Sec must be 0..7")
    if sec > _MAX_GEN_SEC:
        raise EncodeError("Sec 3-7 are verify-only: generation costs 2^(16*Sec) hashes")
    if len(prefix) != 8:
        raise EncodeError("prefix must be 8 octets")
    if not isinstance(collision_count, int) or collision_count < 0 or collision_count > _MAX_COUNT:
        raise EncodeError("collision count must be 0, 1 or 2")
    if modifier is None:
        modifier = os.urandom(_MOD_LEN)
    elif len(modifier) != _MOD_LEN:
        raise EncodeError("modifier must be 16 octets")
    klen = len(spki)
    tag, _, kend = _as_encode_error(der_tlv, spki, 0, klen)
    if tag != _TAG_SEQUENCE or kend != klen:
        raise EncodeError("public key must be exactly one DER SEQUENCE")
    _as_encode_error(_check_extensions, extensions, 0, len(extensions))
    if max_tries is not None and (not isinstance(max_tries, int) or max_tries < 1):
        raise EncodeError("max_tries must be a positive int or None")

    # One buffer serves the whole search: while the prefix and count are zero it is exactly
    # the Hash2 input, and the modifier is counted up in place without allocating.
    total = _KEY_OFF + klen + len(extensions)
    buf = bytearray(total)
    buf[0:_MOD_LEN] = modifier
    buf[_KEY_OFF : _KEY_OFF + klen] = spki
    buf[_KEY_OFF + klen : total] = extensions
    if sec:
        zeros = 2 * sec
        sha1 = hashlib.sha1
        tries = 0
        while True:
            d = sha1(buf).digest()
            if _leading_zero_octets(d, zeros):
                break
            tries += 1
            if max_tries is not None and tries >= max_tries:
                raise EncodeError("no modifier found within max_tries")
            _increment(buf, _MOD_LEN)
    buf[_PREFIX_OFF:_COUNT_OFF] = prefix
    buf[_COUNT_OFF] = collision_count
    return _address(buf, sec), bytes(buf)


def _address(params_buf, sec):
    h1 = hashlib.sha1(params_buf).digest()
    addr = bytearray(16)
    addr[0:8] = params_buf[_PREFIX_OFF:_COUNT_OFF]
    addr[8:16] = h1[0:8]
    # RFC 3972 §4 step 6: Sec into the top three bits, u and g bits cleared.
    addr[8] = (h1[0] & 0x1C) | (sec << 5)
    return bytes(addr)


def cga_collision_retry(buf, sec, off=0, end=None):
    """After DAD found the address taken: same modifier, collision count + 1 (RFC 3972 §4 step 8).

    Returns (address, params bytes); EncodeError once the count would pass 2 (three collisions)."""
    if not isinstance(sec, int) or sec < 0 or sec > 7:
        raise EncodeError("Sec must be 0..7")
    params = _as_encode_error(parse_params, buf, off, end)
    count = params.collision_count
    if count >= _MAX_COUNT:
        raise EncodeError("three address collisions: stop and report")
    out = bytearray(params.raw)
    out[_COUNT_OFF] = count + 1
    return _address(out, sec), bytes(out)
