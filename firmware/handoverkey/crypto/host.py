"""CPython backend: RSA signatures, encryption and key generation over `cryptography`, HMAC over the stdlib."""

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import load_der_public_key as _load_der_public
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import CryptoError
from . import pkcs1, pure
from .rsakey import MAX_BITS, RsaPrivateKey

try:
    # The C function that hmac.digest() itself ends in; calling it directly saves a Python
    # frame and an isinstance() on the FBU hot path.
    from _hashlib import hmac_digest as _hmac_digest
except ImportError:  # pragma: no cover - CPython without OpenSSL hashes
    _hmac_digest = hmac.digest

_sha1 = hashlib.sha1
_sha256 = hashlib.sha256
_PAD = padding.PKCS1v15()
_HASHES = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}

ct_equal = hmac.compare_digest
random_bytes = os.urandom


def sha1(data):
    return _sha1(data).digest()


def sha256(data):
    return _sha256(data).digest()


def hmac_sha1(key, *parts):
    if len(parts) == 1:
        return _hmac_digest(key, parts[0], "sha1")
    return _hmac_digest(key, b"".join(parts), "sha1")


def hmac_sha256(key, *parts):
    if len(parts) == 1:
        return _hmac_digest(key, parts[0], "sha256")
    return _hmac_digest(key, b"".join(parts), "sha256")


def _hash(name):
    h = _HASHES.get(name)
    if h is None:
        raise CryptoError("unsupported hash")
    return h


# The cryptography key object is built once and kept on our key in `_hkey`; False marks a key
# that cryptography refuses (e.g. a 512-bit test key), which then takes the pure path.


def _private_obj(priv):
    obj = priv._hkey
    if obj is None:
        try:
            obj = rsa.RSAPrivateNumbers(
                priv.p, priv.q, priv.d, priv.dp, priv.dq, priv.qinv, rsa.RSAPublicNumbers(priv.e, priv.n)
            ).private_key()
        except (ValueError, UnsupportedAlgorithm):
            obj = False
        priv._hkey = obj
    return obj


def _public_obj(pub):
    obj = pub._hkey
    if obj is None:
        try:
            # From the DER when the key came as DER (a strict decode keeps it, or spki() made
            # it): OpenSSL reads it straight into its numbers, a little faster than converting
            # two Python ints, and a router does this for two keys in every provisioning.
            der = pub._spki
            obj = _load_der_public(der) if der is not None else rsa.RSAPublicNumbers(pub.e, pub.n).public_key()
        except (ValueError, UnsupportedAlgorithm):
            obj = False
        pub._hkey = obj
    return obj


def rsa_sign(priv, msg, hash="sha1"):
    h = _hash(hash)
    obj = _private_obj(priv)
    if obj is False:
        return pure.rsa_sign(priv, msg, hash)
    return obj.sign(msg, _PAD, h)


def rsa_verify(pub, msg, sig, hash="sha1", min_bits=1024):
    h = _hash(hash)
    # SEND fixes the signature length at k (D§7.1); checked here rather than left to OpenSSL.
    if pub.bits < min_bits or len(sig) != pub.size:
        return False
    obj = _public_obj(pub)
    if obj is False:
        return pure.rsa_verify(pub, msg, sig, hash, min_bits)
    try:
        obj.verify(sig, msg, _PAD, h)
    except InvalidSignature:
        return False
    return True


def rsa_encrypt(pub, m):
    if len(m) > pub.size - 11:
        raise CryptoError("message too long for the key")
    obj = _public_obj(pub)
    if obj is False:
        return pure.rsa_encrypt(pub, m)
    return obj.encrypt(bytes(m), _PAD)


def rsa_decrypt_implicit(priv, c, expected_len):
    # cryptography offers no raw RSA, and its PKCS#1 v1.5 decryption reports padding errors;
    # both backends share pkcs1's implicit rejection over the blinded CRT operation instead.
    return pkcs1.decrypt_implicit(priv, c, expected_len, pure.private_op)


def generate_rsa(bits, e=65537):
    # cryptography generates only e in {3, 65537} and at least 1024 bits.
    if bits < 1024 or bits > MAX_BITS or bits & 1 or e != 65537:
        return pure.generate_rsa(bits, e)
    obj = rsa.generate_private_key(public_exponent=e, key_size=bits)
    nums = obj.private_numbers()
    priv = RsaPrivateKey(nums.public_numbers.n, nums.public_numbers.e, nums.d, nums.p, nums.q)
    priv._hkey = obj
    return priv
