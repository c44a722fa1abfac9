"""MicroPython backend: hashlib, os.urandom, RSA with pow() and CRT, own inverse and key generation."""

import hashlib
import os

from .._compat import const
from ..errors import CryptoError
from . import pkcs1
from .mac import ct_equal, hmac_sha1, hmac_sha256  # noqa: F401  (part of the backend surface)
from .rsakey import MAX_BITS, MIN_BITS, RsaPrivateKey, bit_len, gcd, inverse

_SIEVE_LIMIT = const(2000)
_BLIND_USES = const(32)  # private operations per random blinding pair (OpenSSL: 32 too)
_small_primes = None  # built on the first key generation, not at import


def sha1(data):
    return hashlib.sha1(data).digest()


def sha256(data):
    return hashlib.sha256(data).digest()


def random_bytes(n):
    return os.urandom(n)


def _random_below(n, low=2):
    """A random integer in [low, n - 1]; 64 extra random bits make the modulo bias negligible."""
    nbytes = ((bit_len(n) + 7) >> 3) + 8
    return low + int.from_bytes(os.urandom(nbytes), "big") % (n - low)


def _blinding(priv):
    """A fresh blinding pair [r^e mod n, r^-1 mod n, uses left] for a random r."""
    n = priv.n
    for _ in range(4):
        r = _random_below(n)
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


# ---- key generation ----


def _primes_below(limit):
    flags = bytearray(limit)
    out = []
    for i in range(2, limit):
        if not flags[i]:
            out.append(i)
            for j in range(i * i, limit, i):
                flags[j] = 1
    return out


def _mr_rounds(bits):
    # Miller-Rabin rounds for random (not adversarial) candidates; generous for the
    # sizes used here, and most composites already fail the first round.
    if bits >= 1024:
        return 5
    if bits >= 512:
        return 8
    return 12


def _probable_prime(c, rounds):
    d = c - 1
    s = 0
    while not d & 1:
        d >>= 1
        s += 1
    for _ in range(rounds):
        x = pow(_random_below(c - 1), d, c)
        if x == 1 or x == c - 1:
            continue
        for _ in range(s - 1):
            x = x * x % c
            if x == c - 1:
                break
        else:
            return False
    return True


def _gen_prime(bits, e):
    global _small_primes
    if _small_primes is None:
        _small_primes = _primes_below(_SIEVE_LIMIT)
    nbytes = (bits + 7) >> 3
    rounds = _mr_rounds(bits)
    while True:
        c = int.from_bytes(os.urandom(nbytes), "big") >> (8 * nbytes - bits)
        # The top two bits set make the product of two such primes exactly 2 * bits long.
        c |= (3 << (bits - 2)) | 1
        ok = True
        for sp in _small_primes:
            if c % sp == 0:
                ok = False
                break
        # gcd(e, c - 1) == 1, so that e is invertible modulo lcm(p - 1, q - 1).
        if ok and gcd(e, c - 1) == 1 and _probable_prime(c, rounds):
            return c


def generate_rsa(bits, e=65537):
    """A new two-prime key of exactly `bits` bits (even, MIN_BITS..MAX_BITS) from os.urandom."""
    if bits & 1 or bits < MIN_BITS or bits > MAX_BITS:
        raise CryptoError("unsupported RSA key size")
    if e < 3 or not e & 1 or bit_len(e) > 64:
        raise CryptoError("unsupported RSA public exponent")
    half = bits >> 1
    while True:
        p = _gen_prime(half, e)
        q = _gen_prime(half, e)
        # FIPS 186-4 B.3.1: |p - q| > 2^(nlen/2 - 100), which also rules out p == q.
        if (abs(p - q) >> (half - 100)) == 0:
            continue
        if p < q:
            p, q = q, p
        pm, qm = p - 1, q - 1
        lam = pm * qm // gcd(pm, qm)
        d = inverse(e, lam)
        # FIPS 186-4 B.3.1: d > 2^(nlen/2); a small d would be open to Wiener-style attacks.
        if d >> half:
            return RsaPrivateKey(p * q, e, d, p, q)
