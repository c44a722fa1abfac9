"""RSA key generation for the pure backend: sieve, Miller-Rabin, FIPS 186-4 B.3.1 checks, from os.urandom."""

import os

from .._compat import const
from ..errors import CryptoError
from .pure import random_below
from .rsakey import MAX_BITS, MIN_BITS, RsaPrivateKey, bit_len, gcd, inverse

_SIEVE_LIMIT = const(2000)
_small_primes = None  # built on the first key generation, not at import


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
        x = pow(random_below(c - 1), d, c)
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
