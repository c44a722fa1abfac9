"""Pure HMAC-SHA1 / HMAC-SHA256 (RFC 2104) over hashlib, and a constant-time byte compare."""

import hashlib

from .._compat import const

_BLOCK = const(64)  # SHA-1 and SHA-256 both use 64-octet blocks
# The ipad / opad bytes repeated over one block, as integers: XOR-ing the padded key with them
# as one big integer is a single C-level operation on MicroPython instead of a 64-step loop.
_IPAD = 0x36363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636
_OPAD = 0x5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C5C


def _hmac(ctor, key, parts):
    if len(key) > _BLOCK:
        key = ctor(key).digest()
    # The key, right-padded with zeros to one block, read as a big-endian integer.
    k = int.from_bytes(key, "big") << (8 * (_BLOCK - len(key)))
    # MicroPython hash objects have no copy() and digest() finalises them, so every MAC
    # builds its own inner and outer objects.
    inner = ctor((k ^ _IPAD).to_bytes(_BLOCK, "big"))
    for p in parts:
        inner.update(p)
    outer = ctor((k ^ _OPAD).to_bytes(_BLOCK, "big"))
    outer.update(inner.digest())
    return outer.digest()


def hmac_sha1(key, *parts):
    """HMAC-SHA1 of the concatenated parts (20 octets)."""
    return _hmac(hashlib.sha1, key, parts)


def hmac_sha256(key, *parts):
    """HMAC-SHA256 of the concatenated parts (32 octets)."""
    return _hmac(hashlib.sha256, key, parts)


def ct_equal(a, b):
    """True when a and b hold the same octets; the time taken depends only on the lengths."""
    n = len(a)
    if n != len(b):
        return False
    acc = 0
    for i in range(n):
        acc |= a[i] ^ b[i]
    return acc == 0
