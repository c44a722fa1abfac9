"""MicroPython backend: hashlib, os.urandom, RSA with pow() and CRT, own inverse; key generation in keygen.py."""

import hashlib
import os

from .._compat import const
from ..errors import CryptoError
from . import pkcs1
from .mac import ct_equal, hmac_sha1, hmac_sha256  # noqa: F401  (part of the backend surface)
from .rsakey import bit_len, inverse

_BLIND_USES = const(32)  # private operations per random blinding pair (OpenSSL: 32 too)


def sha1(data):
    return hashlib.sha1(data).digest()


def sha256(data):
    return hashlib.sha256(data).digest()


def random_bytes(n):
    return os.urandom(n)


def random_below(n, low=2):
    """A random integer in [low, n - 1]; 64 extra random bits make the modulo bias negligible."""
    nbytes = ((bit_len(n) + 7) >> 3) + 8
    return low + int.from_bytes(os.urandom(nbytes), "big") % (n - low)


def _blinding(priv):
    """A fresh blinding pair [r^e mod n, r^-1 mod n, uses left] for a random r."""
    n = priv.n
    for _ in range(4):
        r = random_below(n)
        try:
            return [pow(r, priv.e, n), inverse(r, n), _BLIND_USES]
        except CryptoError:
            # r shares a factor with n; only a broken random source gets here.
            continue
    raise CryptoError("no blinding factor")


def private_op(priv, x):
    """x^d mod n for 0 <= x < n: blinded, through the CRT, and checked with the public exponent.

    Blinding (as OpenSSL's BN_BLINDING): the exponentiations work on x * r^e and the result is
    multiplied by r^-1, so their timing is unrelated to x. A fresh r costs a modular inverse,
    which in bytecode is a large part of a 1024-bit CRT; so the pair is kept with the key and
    squared after each use ((r^2)^e and (r^2)^-1 are again a pair), and a new random pair
    replaces it every _BLIND_USES uses."""
    n = priv.n
    e = priv.e
    b = getattr(priv, "_blind", None)
    if b is None or b[2] <= 0:
        b = _blinding(priv)
        priv._blind = b
    a = b[0]
    ai = b[1]
    # Advance the pair before it is used, so no pair ever blinds two inputs.
    b[0] = a * a % n
    b[1] = ai * ai % n
    b[2] -= 1
    xb = x * a % n
    m1 = pow(xb, priv.dp, priv.p)
    m2 = pow(xb, priv.dq, priv.q)
    h = priv.qinv * (m1 - m2) % priv.p
    y = (m2 + h * priv.q) * ai % n
    # A fault in one CRT half would let anyone who sees y factor n (Boneh-DeMillo-Lipton);
    # the public-exponent check costs one short exponentiation.
    if pow(y, e, n) != x:
        raise CryptoError("RSA private operation fault")
    return y


def rsa_sign(priv, msg, hash="sha1"):
    k = priv.size
    em = pkcs1.emsa_encode(msg, hash, k)
    return private_op(priv, int.from_bytes(em, "big")).to_bytes(k, "big")


def rsa_verify(pub, msg, sig, hash="sha1", min_bits=1024):
    pkcs1.check_hash(hash)
    k = pub.size
    if pub.bits < min_bits or len(sig) != k:
        return False
    s = int.from_bytes(sig, "big")
    if s >= pub.n:
        return False
    return pkcs1.emsa_verify(pow(s, pub.e, pub.n).to_bytes(k, "big"), msg, hash, k)


def rsa_encrypt(pub, m):
    k = pub.size
    em = pkcs1.eme_encode(m, k)
    return pow(int.from_bytes(em, "big"), pub.e, pub.n).to_bytes(k, "big")


def rsa_decrypt_implicit(priv, c, expected_len):
    return pkcs1.decrypt_implicit(priv, c, expected_len, private_op)


def generate_rsa(bits, e=65537):
    """A new two-prime key of exactly `bits` bits from os.urandom (keygen.generate_rsa).

    Key generation is loaded on first use: a router never makes keys, and a mobile node only
    when its configured HKE keys run out."""
    from .keygen import generate_rsa as generate

    return generate(bits, e)
