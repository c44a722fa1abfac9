"""Hashes, HMAC (RFC 2202 / RFC 4231 vectors), ct_equal and the backend dispatcher, on both interpreters."""

import sys

from dualtest import raises
from handoverkey import crypto
from handoverkey.crypto import mac
from handoverkey.errors import CryptoError

_MPY = sys.implementation.name == "micropython"

# RFC 2202 §3, HMAC-SHA-1 test cases 1-7: (key, data, digest). Case 5's digest-96 is checked
# separately below.
RFC2202_SHA1 = (
    (b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
    (b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    (b"\xaa" * 20, b"\xdd" * 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
    (
        bytes.fromhex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
        b"\xcd" * 50,
        "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
    ),
    (b"\x0c" * 20, b"Test With Truncation", "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key - Hash Key First", "aa4ae5e15272d00e95705637ce8a3b55ed402112"),
    (
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
        "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
    ),
)

# RFC 4231 §4.2-4.8, HMAC-SHA-256 test cases 1-7. Case 5 publishes only 128 bits.
RFC4231_SHA256 = (
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (
        bytes.fromhex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
        b"\xcd" * 50,
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data."
        b" The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
)

# Both implementations are checked on CPython: the active backend and the pure one.
SHA1_IMPLS = (crypto.hmac_sha1, mac.hmac_sha1)
SHA256_IMPLS = (crypto.hmac_sha256, mac.hmac_sha256)


def test_sha_known_answers():
    # FIPS 180 "abc" examples.
    for h in (crypto.sha1, crypto.sha256):
        assert h(b"") == h(bytearray()) == h(memoryview(b"x")[1:])
    assert crypto.sha1(b"abc").hex() == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert crypto.sha256(b"abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert crypto.sha1(memoryview(b"xabcx")[1:4]) == crypto.sha1(b"abc")
    assert crypto.sha256(bytearray(b"abc")) == crypto.sha256(b"abc")


def test_rfc2202_hmac_sha1():
    for f in SHA1_IMPLS:
        for key, data, want in RFC2202_SHA1:
            assert f(key, data).hex() == want, (key, data)
    # Case 5 also publishes the 96-bit truncation used by RFC 6275-style authenticators.
    assert mac.hmac_sha1(b"\x0c" * 20, b"Test With Truncation")[:12].hex() == "4c1a03424b55e07fe7f27be1"


def test_rfc4231_hmac_sha256():
    for f in SHA256_IMPLS:
        for key, data, want in RFC4231_SHA256:
            out = f(key, data)
            assert len(out) == 32
            assert out[: len(want) // 2].hex() == want, (key, data)


def test_hmac_parts_are_concatenated():
    key, data, want = RFC4231_SHA256[6]
    for f in SHA256_IMPLS:
        assert f(key, data[:10], data[10:77], data[77:]).hex() == want
        assert f(key, memoryview(data)[:50], bytearray(data[50:])).hex() == want
        assert f(key, b"", data, b"").hex() == want
    key, data, want = RFC2202_SHA1[6]
    for f in SHA1_IMPLS:
        assert f(key, data[:1], data[1:]).hex() == want
        assert f(memoryview(key), memoryview(data)).hex() == want
    # No parts at all is the HMAC of the empty string, the same as one empty part.
    for f in SHA1_IMPLS + SHA256_IMPLS:
        assert f(b"k") == f(b"k", b"")
    assert mac.hmac_sha256(b"k") != mac.hmac_sha256(b"k", b"\x00")


def test_hmac_key_boundary_lengths():
    # 64 octets is used as is, 65 is hashed first: the two paths must agree between
    # implementations and must differ from each other.
    for n in (0, 1, 63, 64, 65, 200):
        key = bytes(range(n % 256))[:n] if n <= 256 else b"\x01" * n
        assert crypto.hmac_sha256(key, b"m") == mac.hmac_sha256(key, b"m")
        assert crypto.hmac_sha1(key, b"m") == mac.hmac_sha1(key, b"m")
    k64 = b"\x11" * 64
    assert mac.hmac_sha256(k64 + b"\x11", b"m") != mac.hmac_sha256(k64, b"m")
    # A key longer than a block behaves as its digest.
    long_key = b"\x22" * 100
    assert mac.hmac_sha256(long_key, b"m") == mac.hmac_sha256(crypto.sha256(long_key), b"m")
    assert mac.hmac_sha1(long_key, b"m") == mac.hmac_sha1(crypto.sha1(long_key), b"m")


def test_ct_equal():
    for f in (crypto.ct_equal, mac.ct_equal):
        assert f(b"", b"")
        assert f(b"abc", b"abc")
        assert f(bytearray(b"abc"), memoryview(b"xabc")[1:])
        assert not f(b"abc", b"abd")
        assert not f(b"xbc", b"abc")
        assert not f(b"abc", b"ab")
        assert not f(b"ab", b"abc")
        assert not f(b"", b"\x00")
        assert not f(b"\x00" * 32, b"\x00" * 31 + b"\x80")
        for i in range(16):
            a = bytearray(16)
            a[i] = 1
            assert not f(a, bytes(16))


def test_ct_equal_allocates_nothing():
    if not _MPY:
        return
    import micropython

    a = bytes(range(64))
    b = bytearray(a)
    micropython.heap_lock()
    try:
        r1 = mac.ct_equal(a, b)
        b[63] ^= 1
        r2 = mac.ct_equal(a, b)
    finally:
        micropython.heap_unlock()
    assert r1 and not r2


def test_random_bytes():
    a = crypto.random_bytes(32)
    b = crypto.random_bytes(32)
    assert len(a) == 32 and len(b) == 32
    assert a != b
    assert crypto.random_bytes(0) == b""


def test_backend_selection():
    name = crypto.backend_name()
    if _MPY:
        assert name == "pure"
    else:
        assert name == "host"
    raises(CryptoError, crypto.use_backend, "bogus")
    assert crypto.backend_name() == name
    if _MPY:
        # No cryptography package on MicroPython: asking for it is a CryptoError, not an ImportError.
        raises(CryptoError, crypto.use_backend, "host")
        assert crypto.backend_name() == "pure"


def test_use_backend_rebinds_and_stubs_forward():
    from handoverkey.crypto import hmac_sha256 as imported  # may be the stub or a backend function

    before = crypto.backend_name()
    try:
        crypto.use_backend("pure")
        assert crypto.backend_name() == "pure"
        assert crypto.hmac_sha256 is mac.hmac_sha256
        key, data, want = RFC4231_SHA256[0]
        assert imported(key, data).hex() == want
        assert crypto.hmac_sha256(key, data).hex() == want
    finally:
        crypto.use_backend(before)
    assert crypto.backend_name() == before
