"""The crypto interface of docs/architecture.md; the backend (`host` or `pure`) is picked on first use.

Each public function below is a stub. The first call of any of them picks the backend and
rebinds this module's names to that backend's own functions, so from then on
`crypto.hmac_sha256(...)` costs exactly one call into the backend. A name imported with
`from handoverkey.crypto import hmac_sha256` keeps the stub, which forwards to the active
backend at the price of one more call; hot paths should use the module attribute.
"""

from ..errors import CryptoError

_active = None


def use_backend(name):
    """Force the backend: "pure" (hashlib + pow, runs anywhere) or "host" (needs `cryptography`)."""
    global _active, sha1, sha256, hmac_sha1, hmac_sha256, ct_equal, random_bytes
    global generate_rsa, rsa_sign, rsa_verify, rsa_encrypt, rsa_decrypt_implicit
    if name == "pure":
        from . import pure as b
    elif name == "host":
        try:
            from . import host as b
        except ImportError:
            raise CryptoError("the host backend needs the cryptography package")
    else:
        raise CryptoError("unknown crypto backend")
    sha1 = b.sha1
    sha256 = b.sha256
    hmac_sha1 = b.hmac_sha1
    hmac_sha256 = b.hmac_sha256
    ct_equal = b.ct_equal
    random_bytes = b.random_bytes
    generate_rsa = b.generate_rsa
    rsa_sign = b.rsa_sign
    rsa_verify = b.rsa_verify
    rsa_encrypt = b.rsa_encrypt
    rsa_decrypt_implicit = b.rsa_decrypt_implicit
    _active = name


def _choose():
    # "host" wherever `cryptography` imports (CPython), otherwise "pure" (MicroPython).
    try:
        use_backend("host")
    except CryptoError:
        use_backend("pure")


def backend_name():
    """The active backend's name, choosing one first if none is active yet."""
    if _active is None:
        _choose()
    return _active


# ---- stubs: each runs at most once through this module's globals, then they are rebound ----


def sha1(data):
    """SHA-1 digest (20 octets) of bytes, bytearray or memoryview."""
    if _active is None:
        _choose()
    return sha1(data)


def sha256(data):
    """SHA-256 digest (32 octets) of bytes, bytearray or memoryview."""
    if _active is None:
        _choose()
    return sha256(data)


def hmac_sha1(key, *parts):
    """HMAC-SHA1 (20 octets) over the concatenation of parts."""
    if _active is None:
        _choose()
    return hmac_sha1(key, *parts)


def hmac_sha256(key, *parts):
    """HMAC-SHA256 (32 octets) over the concatenation of parts."""
    if _active is None:
        _choose()
    return hmac_sha256(key, *parts)


def ct_equal(a, b):
    """Constant-time equality of two byte strings; False when the lengths differ."""
    if _active is None:
        _choose()
    return ct_equal(a, b)


def random_bytes(n):
    """n octets from os.urandom."""
    if _active is None:
        _choose()
    return random_bytes(n)


def generate_rsa(bits, e=65537):
    """A new RsaPrivateKey of exactly `bits` bits."""
    if _active is None:
        _choose()
    return generate_rsa(bits, e)


def rsa_sign(priv, msg, hash="sha1"):
    """RSASSA-PKCS1-v1_5 signature of msg with hash "sha1" or "sha256": exactly k octets."""
    if _active is None:
        _choose()
    return rsa_sign(priv, msg, hash)


def rsa_verify(pub, msg, sig, hash="sha1", min_bits=1024):
    """True only for a valid RSASSA-PKCS1-v1_5 signature of exactly k octets by a key of at
    least min_bits bits; the whole expected encoding is rebuilt and compared."""
    if _active is None:
        _choose()
    return rsa_verify(pub, msg, sig, hash, min_bits)


def rsa_encrypt(pub, m):
    """RSAES-PKCS1-v1_5 ciphertext of m (at most k - 11 octets): exactly k octets."""
    if _active is None:
        _choose()
    return rsa_encrypt(pub, m)


def rsa_decrypt_implicit(priv, c, expected_len):
    """Always expected_len octets: the plaintext, or on any failure a pseudorandom value
    derived from the private key and c (implicit rejection, interpretations §7, pkcs1.py)."""
    if _active is None:
        _choose()
    return rsa_decrypt_implicit(priv, c, expected_len)
