"""RSA key objects and their strict DER codecs: SubjectPublicKeyInfo, PKCS#8 and PKCS#1 RSAPrivateKey."""

import hashlib

from .._compat import IS_MICROPYTHON, const
from ..errors import CryptoError

# Interpretations §7 allows 1024 to 4096 bits in use; 512 is the floor for holding a key at
# all, so that the RFC 3972 Appendix A key still decodes (verification refuses it by default).
MIN_BITS = const(512)
MAX_BITS = const(4096)
# A public exponent above 64 bits buys nothing and would let a peer's key make every
# verification a full-length exponentiation (OpenSSL uses the same cap for large moduli).
_MAX_E_BITS = const(64)
# An INTEGER of a MAX_BITS modulus needs MAX_BITS/8 octets plus one leading zero.
_MAX_INT_OCTETS = const(513)

# AlgorithmIdentifier body: OID 1.2.840.113549.1.1.1 (rsaEncryption) then NULL parameters,
# which RFC 3279 §2.3.1 requires for this OID.
_ALG_RSA = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00"

_SEQ = const(0x30)
_INT = const(0x02)
_BITSTR = const(0x03)
_OCTSTR = const(0x04)


def _bit_len_hex(x):
    """Number of significant bits of a non-negative int (int.bit_length is absent on MicroPython)."""
    if x <= 0:
        return 0
    h = hex(x)
    top = int(h[2], 16)
    bits = 4 * (len(h) - 2)
    while top < 8:
        top <<= 1
        bits -= 1
    return bits


def _bit_len_native(x):
    return x.bit_length() if x > 0 else 0


# CPython has int.bit_length, which spares every key it builds a hex string of the modulus.
bit_len = _bit_len_hex if IS_MICROPYTHON else _bit_len_native


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def inverse(a, m):
    """a^-1 mod m by the extended Euclidean algorithm; CryptoError when gcd(a, m) != 1.

    Written out because pow() with exponent -1 silently returns 0 on MicroPython."""
    r0, r1 = m, a % m
    t0, t1 = 0, 1
    while r1:
        q = r0 // r1
        r0, r1 = r1, r0 - q * r1
        t0, t1 = t1, t0 - q * t1
    if r0 != 1:
        raise CryptoError("not invertible")
    return t0 % m


# ---- DER reading: every function takes (buf, off, end) and raises only CryptoError ----


def _tlv(buf, off, end, tag):
    """Check one DER header at off; return (content_start, content_end)."""
    if end - off < 2:
        raise CryptoError("DER truncated")
    if buf[off] != tag:
        raise CryptoError("DER unexpected tag")
    n = buf[off + 1]
    off += 2
    if n & 0x80:
        cnt = n & 0x7F
        # 0 is the BER indefinite form; more than 2 octets of length is never needed here.
        if cnt == 0 or cnt > 2:
            raise CryptoError("DER length")
        if end - off < cnt:
            raise CryptoError("DER truncated")
        if buf[off] == 0:
            raise CryptoError("DER length")
        n = 0
        for i in range(cnt):
            n = (n << 8) | buf[off + i]
        off += cnt
        if n < 0x80:
            raise CryptoError("DER length")
    if n > end - off:
        raise CryptoError("DER truncated")
    return off, off + n


def _uint(buf, off, end):
    """Read a non-negative, minimally encoded INTEGER; return (value, next_offset)."""
    s, e = _tlv(buf, off, end, _INT)
    if s == e:
        raise CryptoError("empty INTEGER")
    if e - s > _MAX_INT_OCTETS:
        raise CryptoError("INTEGER too large")
    b0 = buf[s]
    if b0 & 0x80:
        raise CryptoError("negative INTEGER")
    if b0 == 0 and e - s > 1 and not buf[s + 1] & 0x80:
        raise CryptoError("non-minimal INTEGER")
    return int.from_bytes(bytes(buf[s:e]), "big"), e


def _expect_end(pos, end):
    if pos != end:
        raise CryptoError("DER trailing bytes")


def _alg_rsa(buf, off, end):
    """Require the rsaEncryption AlgorithmIdentifier with NULL parameters; return next offset."""
    s, e = _tlv(buf, off, end, _SEQ)
    if bytes(buf[s:e]) != _ALG_RSA:
        raise CryptoError("not an rsaEncryption key")
    return e


def _rsa_private_body(buf, off, end):
    """RSAPrivateKey (RFC 8017 A.1.2), two-prime version 0 only, filling [off, end) exactly."""
    s, e = _tlv(buf, off, end, _SEQ)
    _expect_end(e, end)
    ver, pos = _uint(buf, s, e)
    if ver != 0:
        raise CryptoError("bad key version")
    vals = []
    for _ in range(8):
        v, pos = _uint(buf, pos, e)
        vals.append(v)
    _expect_end(pos, e)
    n, pe, d, p, q, dp, dq, qinv = vals
    key = RsaPrivateKey(n, pe, d, p, q)
    if key.dp != dp or key.dq != dq or key.qinv != qinv:
        raise CryptoError("bad CRT values")
    return key


# ---- DER writing ----


def _der_len(n):
    if n < 0x80:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x81, n))
    return bytes((0x82, n >> 8, n & 0xFF))


def _der(tag, body):
    return bytes((tag,)) + _der_len(len(body)) + body


def _der_uint(x):
    # One extra octet when the top bit is set keeps the INTEGER positive.
    n = (bit_len(x) >> 3) + 1
    return _der(_INT, x.to_bytes(n, "big") if x else b"\x00")


class RsaPublicKey:
    """An RSA public key (n, e); equal keys compare and hash equal."""

    def __init__(self, n, e):
        bits = bit_len(n)
        if bits < MIN_BITS or bits > MAX_BITS or not n & 1:
            raise CryptoError("bad RSA modulus")
        if e < 3 or not e & 1 or bit_len(e) > _MAX_E_BITS:
            raise CryptoError("bad RSA exponent")
        self.n = n
        self.e = e
        self.bits = bits
        self.size = (bits + 7) >> 3
        self._spki = None
        self._hkey = None  # a backend's own key object, built on first use and kept

    def spki(self):
        """DER SubjectPublicKeyInfo with the rsaEncryption OID and NULL parameters (cached)."""
        if self._spki is None:
            rpk = _der(_SEQ, _der_uint(self.n) + _der_uint(self.e))
            alg = _der(_SEQ, _ALG_RSA)
            self._spki = _der(_SEQ, alg + _der(_BITSTR, b"\x00" + rpk))
        return self._spki

    @classmethod
    def from_spki(cls, der):
        """Decode strict DER SubjectPublicKeyInfo; CryptoError for anything else."""
        end = len(der)
        s, e = _tlv(der, 0, end, _SEQ)
        _expect_end(e, end)
        pos = _alg_rsa(der, s, e)
        bs, be = _tlv(der, pos, e, _BITSTR)
        _expect_end(be, e)
        if bs == be or der[bs] != 0:
            raise CryptoError("DER BIT STRING has unused bits")
        ks, ke = _tlv(der, bs + 1, be, _SEQ)
        _expect_end(ke, be)
        n, pos = _uint(der, ks, ke)
        pe, pos = _uint(der, pos, ke)
        _expect_end(pos, ke)
        key = cls(n, pe)
        # Strict DER has one encoding per value, so the input is exactly what spki() would build.
        key._spki = bytes(der)
        return key

    def key_hash(self):
        """SEND Key Hash (RFC 3971 §5.2): the first 16 octets of SHA-1 over the SPKI DER."""
        return hashlib.sha1(self.spki()).digest()[:16]

    def __eq__(self, other):
        return isinstance(other, RsaPublicKey) and self.n == other.n and self.e == other.e

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((self.n, self.e))

    def __repr__(self):
        return "RsaPublicKey(%d bits, key hash %s)" % (self.bits, self.key_hash().hex())


class RsaPrivateKey:
    """A two-prime RSA private key; the CRT values are derived and checked once, here."""

    def __init__(self, n, e, d, p, q):
        self.public = RsaPublicKey(n, e)
        if p < 3 or q < 3 or p == q or p * q != n:
            raise CryptoError("bad RSA primes")
        if d < 3 or d >= n or (e * d) % (p - 1) != 1 or (e * d) % (q - 1) != 1:
            raise CryptoError("bad RSA private exponent")
        self.n = n
        self.e = e
        self.d = d
        self.p = p
        self.q = q
        self.dp = d % (p - 1)
        self.dq = d % (q - 1)
        self.qinv = inverse(q, p)
        self.size = self.public.size
        self.bits = self.public.bits
        self._hkey = None  # a backend's own key object, built on first use and kept
        self._ir_key = None  # SHA-256(I2OSP(d, k)) for implicit rejection, see pkcs1.py
        self._blind = None  # the pure backend's blinding pair, see pure.private_op

    def pkcs1(self):
        """DER RSAPrivateKey (RFC 8017 A.1.2), version 0."""
        body = b"\x02\x01\x00"
        for v in (self.n, self.e, self.d, self.p, self.q, self.dp, self.dq, self.qinv):
            body += _der_uint(v)
        return _der(_SEQ, body)

    def pkcs8(self):
        """DER PKCS#8 PrivateKeyInfo (RFC 5208) wrapping the RSAPrivateKey, without attributes."""
        body = b"\x02\x01\x00" + _der(_SEQ, _ALG_RSA) + _der(_OCTSTR, self.pkcs1())
        return _der(_SEQ, body)

    @classmethod
    def from_pkcs8(cls, der):
        """Decode strict DER PKCS#8 PrivateKeyInfo, or a bare PKCS#1 RSAPrivateKey."""
        end = len(der)
        s, e = _tlv(der, 0, end, _SEQ)
        _expect_end(e, end)
        ver, pos = _uint(der, s, e)
        if ver != 0:
            raise CryptoError("bad key version")
        if pos < e and der[pos] == _INT:
            # version, then an INTEGER (the modulus): a bare PKCS#1 RSAPrivateKey.
            return _rsa_private_body(der, 0, end)
        pos = _alg_rsa(der, pos, e)
        os_, oe = _tlv(der, pos, e, _OCTSTR)
        # Nothing may follow the key: PKCS#8 attributes are not supported.
        _expect_end(oe, e)
        return _rsa_private_body(der, os_, oe)

    def __eq__(self, other):
        return (
            isinstance(other, RsaPrivateKey)
            and self.public == other.public
            and self.d == other.d
            and self.p == other.p
            and self.q == other.q
        )

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.public)

    def __repr__(self):
        # Never print the secret values.
        return "RsaPrivateKey(%d bits, key hash %s)" % (self.bits, self.public.key_hash().hex())
