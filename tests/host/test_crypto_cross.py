"""Both crypto backends against each other and against `cryptography` as an independent oracle."""

import os
import subprocess
import sys

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from handoverkey import crypto
from handoverkey.crypto import host, keygen, pkcs1, pure
from handoverkey.crypto.rsakey import RsaPrivateKey, RsaPublicKey
from handoverkey.errors import CryptoError
from keyfixtures import load_private, private_der, spki_der

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = ("rsa1024_a", "rsa2048_a")
MSG = b"cross-check message for RSASSA-PKCS1-v1_5"
HASHES = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}
PAD = padding.PKCS1v15()


def _oracle_private(name):
    return serialization.load_der_private_key(private_der(name), password=None)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("hash", ("sha1", "sha256"))
def test_pure_signs_cryptography_verifies(name, hash):
    priv = load_private(name)
    sig = pure.rsa_sign(priv, MSG, hash)
    oracle = _oracle_private(name).public_key()
    oracle.verify(sig, MSG, PAD, HASHES[hash])
    with pytest.raises(InvalidSignature):
        oracle.verify(sig, MSG + b"!", PAD, HASHES[hash])
    # Deterministic scheme: both backends produce the very same octets.
    assert host.rsa_sign(priv, MSG, hash) == sig


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("hash", ("sha1", "sha256"))
def test_cryptography_signs_pure_verifies(name, hash):
    priv = load_private(name)
    sig = _oracle_private(name).sign(MSG, PAD, HASHES[hash])
    assert pure.rsa_verify(priv.public, MSG, sig, hash) is True
    assert host.rsa_verify(priv.public, MSG, sig, hash) is True
    bad = bytearray(sig)
    bad[-1] ^= 1
    assert pure.rsa_verify(priv.public, MSG, bytes(bad), hash) is False
    assert host.rsa_verify(priv.public, MSG, bytes(bad), hash) is False


@pytest.mark.parametrize("name", NAMES)
def test_pure_encrypts_cryptography_decrypts(name):
    priv = load_private(name)
    m = os.urandom(32)
    c = pure.rsa_encrypt(priv.public, m)
    assert _oracle_private(name).decrypt(c, PAD) == m
    assert host.rsa_decrypt_implicit(priv, c, 32) == m


@pytest.mark.parametrize("name", NAMES)
def test_cryptography_encrypts_pure_decrypts(name):
    priv = load_private(name)
    m = os.urandom(20)
    c = _oracle_private(name).public_key().encrypt(m, PAD)
    assert pure.rsa_decrypt_implicit(priv, c, 20) == m
    assert host.rsa_decrypt_implicit(priv, c, 20) == m
    c2 = host.rsa_encrypt(priv.public, m)
    assert _oracle_private(name).decrypt(c2, PAD) == m


@pytest.mark.parametrize("name", NAMES)
def test_backends_agree_on_implicit_rejection(name):
    priv = load_private(name)
    c = bytearray(pure.rsa_encrypt(priv.public, b"\x11" * 32))
    c[3] ^= 0x20
    c = bytes(c)
    for n in (16, 20, 32):
        a = pure.rsa_decrypt_implicit(priv, c, n)
        b = host.rsa_decrypt_implicit(priv, c, n)
        assert a == b and len(a) == n
        assert a == pkcs1.synthetic_message(priv, c, n)
    # A fresh key object (no cached state) gives the same value.
    fresh = RsaPrivateKey.from_pkcs8(private_der(name))
    assert host.rsa_decrypt_implicit(fresh, c, 32) == pure.rsa_decrypt_implicit(priv, c, 32)


@pytest.mark.parametrize("bits", (1024, 2048))
def test_pure_keygen_keys_are_valid_in_cryptography(bits):
    priv = pure.generate_rsa(bits)
    assert priv.bits == bits
    oracle = serialization.load_der_private_key(priv.pkcs8(), password=None)
    assert isinstance(oracle, rsa.RSAPrivateKey) and oracle.key_size == bits
    # The same numbers through RSAPrivateNumbers runs OpenSSL's key check.
    nums = oracle.private_numbers()
    assert (nums.p * nums.q, nums.d) == (priv.n, priv.d)
    rsa.RSAPrivateNumbers(
        nums.p, nums.q, nums.d, nums.dmp1, nums.dmq1, nums.iqmp, nums.public_numbers
    ).private_key()
    sig = oracle.sign(MSG, PAD, hashes.SHA1())
    assert pure.rsa_verify(priv.public, MSG, sig) is True


def test_host_keygen_converts_and_caches():
    priv = host.generate_rsa(1024)
    assert priv.bits == 1024 and priv._hkey is not None
    assert pure.rsa_verify(priv.public, MSG, host.rsa_sign(priv, MSG)) is True


@pytest.mark.parametrize("name", NAMES)
def test_der_matches_cryptography(name):
    oracle = _oracle_private(name)
    priv = load_private(name)
    assert priv.pkcs8() == oracle.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert priv.pkcs1() == oracle.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert priv.public.spki() == oracle.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_app_a_spki_loads_in_cryptography():
    der = spki_der("rfc3972_app_a")
    oracle = serialization.load_der_public_key(der)
    pub = RsaPublicKey.from_spki(der)
    assert (oracle.public_numbers().n, oracle.public_numbers().e) == (pub.n, pub.e)


def test_host_caches_cryptography_key_objects():
    priv = RsaPrivateKey.from_pkcs8(private_der("rsa1024_b"))
    assert priv._hkey is None and priv.public._hkey is None
    sig = host.rsa_sign(priv, MSG)
    first = priv._hkey
    assert first is not None
    host.rsa_sign(priv, MSG)
    assert priv._hkey is first
    assert host.rsa_verify(priv.public, MSG, sig)
    pub_obj = priv.public._hkey
    assert pub_obj is not None
    host.rsa_encrypt(priv.public, b"x")
    assert priv.public._hkey is pub_obj


def test_host_small_key_and_pure_fallback():
    priv = pure.generate_rsa(512)
    sig = pure.rsa_sign(priv, MSG)
    assert host.rsa_verify(priv.public, MSG, sig) is False
    assert host.rsa_verify(priv.public, MSG, sig, "sha1", 512) is True
    assert host.rsa_sign(priv, MSG) == sig
    # A key that cryptography refused is marked False and served by the pure code.
    priv2 = RsaPrivateKey.from_pkcs8(priv.pkcs8())
    priv2._hkey = False
    priv2.public._hkey = False
    assert host.rsa_sign(priv2, MSG) == sig
    assert host.rsa_verify(priv2.public, MSG, sig, "sha1", 512) is True
    assert host.rsa_verify(priv2.public, MSG, sig[:-1] + b"\x00", "sha1", 512) is False
    c = host.rsa_encrypt(priv2.public, b"m" * 10)
    assert host.rsa_decrypt_implicit(priv2, c, 10) == b"m" * 10


def test_signature_length_is_exactly_k():
    # A signature whose first octet is zero is the same integer with that octet stripped;
    # SEND fixes the length at k, so both backends must refuse the short form. Find one.
    name = "rsa1024_a"
    oracle = _oracle_private(name)
    pub = load_private(name).public
    for i in range(5000):
        m = MSG + i.to_bytes(2, "big")
        sig = oracle.sign(m, PAD, hashes.SHA1())
        if sig[0] == 0:
            break
    else:
        raise AssertionError("no signature with a leading zero octet")
    for backend in (pure, host):
        assert backend.rsa_verify(pub, m, sig) is True
        assert backend.rsa_verify(pub, m, sig[1:]) is False
        assert backend.rsa_verify(pub, m, b"\x00" + sig) is False


def test_keygen_rejects_close_primes(monkeypatch):
    # FIPS 186-4 |p - q| > 2^(nlen/2 - 100): a pair that is too close (or equal) is discarded.
    far = (pure.generate_rsa(1024).p, pure.generate_rsa(1024).q)
    p = far[0]
    q_close = p + 2
    seq = iter((p, p, p, q_close, far[0], far[1]))
    monkeypatch.setattr(keygen, "_gen_prime", lambda bits, e: next(seq))
    priv = pure.generate_rsa(1024)
    assert {priv.p, priv.q} == set(far)


def test_dispatcher_binds_backend_functions():
    crypto.backend_name()
    assert crypto.backend_name() == "host"
    assert crypto.hmac_sha256 is host.hmac_sha256
    assert crypto.hmac_sha1 is host.hmac_sha1
    assert crypto.rsa_verify is host.rsa_verify


def test_import_does_no_work():
    # Importing the package must not pick a backend or import cryptography.
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "import handoverkey.crypto as c\n"
        "assert c._active is None\n"
        "assert 'cryptography' not in sys.modules\n"
        "assert 'handoverkey.crypto.host' not in sys.modules\n"
        "assert c.hmac_sha256(b'k', b'm') == __import__('hmac').digest(b'k', b'm', 'sha256')\n"
        "assert c._active == 'host'\n"
    ) % os.path.join(ROOT, "firmware")
    subprocess.run([sys.executable, "-c", code], check=True)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=700))
def test_from_spki_arbitrary_bytes(data):
    try:
        key = RsaPublicKey.from_spki(data)
    except CryptoError:
        return
    assert key.spki() == data


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=1400))
def test_from_pkcs8_arbitrary_bytes(data):
    try:
        RsaPrivateKey.from_pkcs8(data)
    except CryptoError:
        pass


def _mutations():
    der = private_der("rsa1024_a")
    spki = load_private("rsa1024_a").public.spki()
    return st.tuples(
        st.sampled_from((der, spki, spki_der("rfc3972_app_a"))),
        st.lists(st.tuples(st.integers(0, 1300), st.integers(0, 255)), min_size=1, max_size=4),
        st.integers(0, 1300),
    )


@settings(max_examples=600, deadline=None)
@given(_mutations())
def test_mutated_der_is_rejected_or_canonical(args):
    # Near-valid inputs reach deep into the parser: every outcome is CryptoError or a key
    # whose canonical encoding is the input itself.
    base, edits, cut = args
    b = bytearray(base)
    for pos, val in edits:
        b[pos % len(b)] = val
    b = bytes(b[: max(cut, 1)]) if cut < len(b) else bytes(b)
    try:
        pub = RsaPublicKey.from_spki(b)
        assert pub.spki() == b
    except CryptoError:
        pass
    try:
        priv = RsaPrivateKey.from_pkcs8(b)
        assert b in (priv.pkcs8(), priv.pkcs1())
    except CryptoError:
        pass


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=128, max_size=128), st.integers(1, 117))
def test_implicit_rejection_any_ciphertext_backends_agree(c, n):
    priv = load_private("rsa1024_a")
    a = pure.rsa_decrypt_implicit(priv, c, n)
    assert len(a) == n
    assert host.rsa_decrypt_implicit(priv, c, n) == a
