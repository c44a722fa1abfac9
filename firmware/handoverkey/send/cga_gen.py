"""CGA generation (RFC 3972 §4, Sec 0-2) and the collision-count retry: set-up work, kept out of the engines."""

import hashlib
import os

from handoverkey._compat import const
from handoverkey.errors import DecodeError, EncodeError
from handoverkey.send.cga import check_extensions, der_tlv, leading_zero_octets, parse_params

# The CGA Parameters layout of cga.py (RFC 3972 §3).
_MOD_LEN = const(16)
_PREFIX_OFF = const(16)
_COUNT_OFF = const(24)
_KEY_OFF = const(25)
_MAX_COUNT = const(2)
_MAX_GEN_SEC = const(2)
_TAG_SEQUENCE = const(0x30)


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
    _as_encode_error(check_extensions, extensions, 0, len(extensions))
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
            if leading_zero_octets(d, zeros):
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
