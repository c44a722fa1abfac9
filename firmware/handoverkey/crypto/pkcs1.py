"""PKCS #1 v1.5 encodings (RFC 8017 §§7.2, 9.2) shared by both backends, with implicit rejection.

Signatures (EMSA-PKCS1-v1_5): verification rebuilds the whole expected encoding
00 01 FF..FF 00 DigestInfo and compares it with the recovered block in constant time. ASN.1
is never parsed out of a recovered block, which is what made Bleichenbacher's 2006 forgery
against low-exponent keys possible.

Encryption (EME-PKCS1-v1_5): decoding scans every octet with arithmetic masks and folds all
checks (00 02 header, a zero separator, at least 8 octets of padding, and a message of
exactly `expected_len` octets) into one flag, with no early exit.

Implicit rejection (draft-irtf-cfrg-rsa-guidance, the construction OpenSSL 3.2 adopted):
instead of reporting a failure, decryption returns a pseudorandom message that only the key
holder can compute, so nothing the caller does next depends on whether the padding was valid.

    k    = modulus length in octets, C = the ciphertext octets as received
    KDK  = HMAC-SHA256(key = SHA-256(I2OSP(d, k)), C)
    PRF(key, label, bits) = first bits/8 octets of
           HMAC-SHA256(key, I2OSP(0, 2) || label || I2OSP(bits, 2))
        || HMAC-SHA256(key, I2OSP(1, 2) || label || I2OSP(bits, 2)) || ...
    synthetic message = PRF(KDK, b"message", expected_len * 8)

The draft derives a pseudorandom *length* as well, because a generic decryptor does not know
how long the message should be. Here the length is fixed by the caller (the key length of
the AT), so the synthetic message simply has that length and the length step is left out.
The output is chosen between the real and the synthetic message octet by octet with a mask.
"""

import hashlib
import os

from .._compat import const
from ..errors import CryptoError
from . import mac

# DigestInfo DER prefixes (RFC 8017 §9.2 note 1): everything before the hash value.
_PREFIX_SHA1 = b"\x30\x21\x30\x09\x06\x05\x2b\x0e\x03\x02\x1a\x05\x00\x04\x14"
_PREFIX_SHA256 = b"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20"

_MIN_PS = const(8)  # RFC 8017: at least 8 octets of padding in both encodings
_OVERHEAD = const(11)  # 00 02 | 8 octets of PS | 00


def check_hash(hash):
    """Raise CryptoError unless `hash` names a supported signature hash ("sha1", "sha256")."""
    if hash != "sha1" and hash != "sha256":
        raise CryptoError("unsupported hash")


def emsa_encode(msg, hash, k):
    """EM = 00 01 FF..FF 00 DigestInfo(hash(msg)), exactly k octets."""
    if hash == "sha1":
        t = _PREFIX_SHA1 + hashlib.sha1(msg).digest()
    elif hash == "sha256":
        t = _PREFIX_SHA256 + hashlib.sha256(msg).digest()
    else:
        raise CryptoError("unsupported hash")
    ps = k - len(t) - 3
    if ps < _MIN_PS:
        raise CryptoError("key too short")
    return b"\x00\x01" + b"\xff" * ps + b"\x00" + t


def emsa_verify(em, msg, hash, k):
    """True when the recovered block em is exactly the encoding of msg (compared in constant time)."""
    return mac.ct_equal(em, emsa_encode(msg, hash, k))


def eme_encode(m, k):
    """EM = 00 02 PS 00 M with PS random and nonzero, exactly k octets."""
    mlen = len(m)
    if mlen > k - _OVERHEAD:
        raise CryptoError("message too long")
    ps = bytearray(os.urandom(k - mlen - 3))
    for i in range(len(ps)):
        # Replace zero octets with fresh random ones: PS must not contain the separator.
        while ps[i] == 0:
            ps[i] = os.urandom(1)[0]
    return b"\x00\x02" + bytes(ps) + b"\x00" + bytes(m)


def _ir_key(priv):
    # SHA-256(I2OSP(d, k)), the HMAC key of the KDK; depends only on the key, so kept on it.
    h = priv._ir_key
    if h is None:
        h = hashlib.sha256(priv.d.to_bytes(priv.size, "big")).digest()
        priv._ir_key = h
    return h


def prf(key, label, bits):
    """The draft's PRF: HMAC-SHA256 in counter mode, truncated to bits/8 octets (bits % 8 == 0)."""
    tail = label + bits.to_bytes(2, "big")
    out = bytearray()
    i = 0
    while len(out) * 8 < bits:
        out += mac.hmac_sha256(key, i.to_bytes(2, "big"), tail)
        i += 1
    return bytes(out[: bits >> 3])


def synthetic_message(priv, c, expected_len):
    """The message returned in place of a real one when decoding fails (see module docstring)."""
    kdk = mac.hmac_sha256(_ir_key(priv), c)
    return prf(kdk, b"message", expected_len * 8)


def _padding_bad(em, k, expected_len):
    """1 when em is not 00 02 PS(>= 8 nonzero) 00 M with |M| == expected_len, else 0.

    Every octet is visited and only arithmetic is done on secret values: no branch, no
    early exit, no index that depends on them."""
    # (x - 1) >> 8 is -1 (all ones) exactly when an octet x is 0, and 0 for 1..255.
    bad = em[0] | (em[1] ^ 2)
    found = 0  # 1 once the first zero octet after the header has been seen
    sep = 0  # index of that zero octet
    for i in range(2, k):
        z = ((em[i] - 1) >> 8) & 1
        first = z & (found ^ 1)
        sep |= -first & i
        found |= z
    # For 0 <= x < 2**16, (-x) >> 16 is -1 exactly when x != 0: a nonzero test without a branch.
    bad = ((-bad) >> 16) & 1
    bad |= found ^ 1  # implied by the next line (sep stays 0), kept so each rule stands alone
    bad |= ((sep - 10) >> 16) & 1  # separator before index 10: fewer than 8 octets of PS
    bad |= ((-((k - 1 - sep) ^ expected_len)) >> 16) & 1
    return bad


def decrypt_implicit(priv, c, expected_len, private_op):
    """RSAES-PKCS1-v1_5 decryption that always returns expected_len octets.

    private_op(priv, x) -> x^d mod n is the backend's raw RSA. Whether c has k octets and
    whether c < n are public facts about the ciphertext, so branching on them leaks nothing;
    everything after the private operation is branch-free."""
    k = priv.size
    if expected_len < 1 or expected_len > k - _OVERHEAD:
        raise CryptoError("expected_len too long")
    syn = synthetic_message(priv, c, expected_len)
    em = None
    if len(c) == k:
        ci = int.from_bytes(c, "big")
        if ci < priv.n:
            em = private_op(priv, ci).to_bytes(k, "big")
    if em is None:
        em = bytes(k)  # 00 00 ...: fails the header check
    mask = (-_padding_bad(em, k, expected_len)) & 0xFF
    out = bytearray(expected_len)
    off = k - expected_len
    for i in range(expected_len):
        r = em[off + i]
        out[i] = r ^ ((r ^ syn[i]) & mask)
    return bytes(out)
