"""DER codecs of RSA keys: SPKI and PKCS#8 round trips, the RFC 3972 App. A key, malformed input."""

from dualtest import raises
from handoverkey.crypto import rsakey
from handoverkey.crypto.rsakey import RsaPrivateKey, RsaPublicKey, bit_len, inverse
from handoverkey.errors import CryptoError
from keyfixtures import load_private, load_public, private_der, spki_der

APP_A_HEX = (
    "305c300d06092a864886f70d0101010500034b003048024100c2c2f137305454f10bd9cea36844b530e9211a4b"
    "262b16467cb7dfba1f595c0194f275be5a4d386f2c3c2382508773c7867f9b3b9e63a09c7bc48f7a54ebefaf02"
    "03010001"
)
APP_A_N = int(
    "c2c2f137305454f10bd9cea36844b530e9211a4b262b16467cb7dfba1f595c01"
    "94f275be5a4d386f2c3c2382508773c7867f9b3b9e63a09c7bc48f7a54ebefaf",
    16,
)
ALL_PRIVATE = ("rsa1024_a", "rsa1024_b", "rsa1024_c", "rsa2048_a", "rsa2048_b", "rsa2048_c")


def _replace(b, off, new):
    return b[:off] + new + b[off + len(new) :]


def test_helpers_bit_len_and_inverse():
    # Both implementations, whichever this interpreter uses as bit_len.
    for f in (bit_len, rsakey._bit_len_hex):
        assert f(0) == 0
        assert f(1) == 1
        assert f(255) == 8
        assert f(256) == 9
        assert f((1 << 2047) + 5) == 2048
        assert f((1 << 1024) - 1) == 1024
        for b in range(1, 70):
            assert f((1 << b) - 1) == b and f(1 << (b - 1)) == b
    assert inverse(3, 7) == 5
    assert inverse(65537, 1000003) * 65537 % 1000003 == 1
    raises(CryptoError, inverse, 6, 9)
    raises(CryptoError, inverse, 0, 7)


def test_app_a_spki_known_bytes():
    der = spki_der("rfc3972_app_a")
    assert der.hex() == APP_A_HEX
    key = RsaPublicKey.from_spki(der)
    assert key.n == APP_A_N
    assert key.e == 65537
    assert key.bits == 512 and key.size == 64
    assert key.spki() == der
    # Encoding from the numbers alone gives the published bytes.
    assert RsaPublicKey(APP_A_N, 65537).spki() == der
    # SEND Key Hash: SHA-1 over the SPKI, first 16 octets (value in protocol-digest §4.4).
    assert key.key_hash().hex() == "2ccba7cb07398e018b791e06b9f72c6f"
    assert RsaPublicKey(APP_A_N, 65537).key_hash() == key.key_hash()


def test_spki_round_trip_and_equality():
    for name in ALL_PRIVATE:
        priv = load_private(name)
        pub = priv.public
        der = pub.spki()
        again = RsaPublicKey.from_spki(der)
        assert again == pub and not (again != pub)
        assert hash(again) == hash(pub)
        assert again.spki() == der
        assert RsaPublicKey.from_spki(memoryview(der)) == pub
        assert RsaPublicKey.from_spki(bytearray(der)) == pub
        assert len(pub.key_hash()) == 16
        assert pub.size == (128 if name.startswith("rsa1024") else 256)
    a = load_public("rsa1024_a")
    b = load_public("rsa1024_b")
    assert a != b and not (a == b)
    assert a.key_hash() != b.key_hash()
    assert RsaPublicKey(a.n, 3) != a
    assert a != "not a key"


def test_pkcs8_round_trip():
    for name in ALL_PRIVATE:
        der = private_der(name)
        priv = RsaPrivateKey.from_pkcs8(der)
        assert priv.pkcs8() == der
        assert RsaPrivateKey.from_pkcs8(memoryview(der)) == priv
        assert priv.p * priv.q == priv.n
        assert priv.qinv * priv.q % priv.p == 1
        assert priv.dp == priv.d % (priv.p - 1) and priv.dq == priv.d % (priv.q - 1)
        assert priv.public == RsaPublicKey(priv.n, priv.e)
        assert priv.size == priv.public.size
        # A bare PKCS#1 RSAPrivateKey is accepted too, and is exactly what PKCS#8 wraps.
        p1 = priv.pkcs1()
        assert p1 in der and der.endswith(p1)
        assert RsaPrivateKey.from_pkcs8(p1) == priv
    assert load_private("rsa1024_a") != load_private("rsa1024_b")


def test_private_repr_hides_secrets():
    priv = load_private("rsa1024_a")
    text = repr(priv)
    assert "%x" % priv.d not in text and str(priv.d) not in text
    assert priv.public.key_hash().hex() in text


def test_spki_truncations_and_extensions_rejected():
    for der in (spki_der("rfc3972_app_a"), load_public("rsa2048_a").spki()):
        for n in range(len(der)):
            raises(CryptoError, RsaPublicKey.from_spki, der[:n])
        raises(CryptoError, RsaPublicKey.from_spki, der + b"\x00")
        raises(CryptoError, RsaPublicKey.from_spki, der + der)


def test_pkcs8_truncations_and_extensions_rejected():
    for name in ("rsa1024_a", "rsa2048_a"):
        der = private_der(name)
        for n in range(len(der)):
            raises(CryptoError, RsaPrivateKey.from_pkcs8, der[:n])
        raises(CryptoError, RsaPrivateKey.from_pkcs8, der + b"\x00")
    p1 = load_private("rsa1024_a").pkcs1()
    for n in range(0, len(p1), 7):
        raises(CryptoError, RsaPrivateKey.from_pkcs8, p1[:n])


def test_spki_malformed_structure():
    der = bytes.fromhex(APP_A_HEX)
    # Layout: 30 5c | 30 0d 06 09 <OID, 9 octets at 6..14> 05 00 | 03 4b 00 | 30 48
    #         | 02 41 00 <modulus, 64 octets at 25..88> | 02 03 01 00 01
    assert der[15:17] == b"\x05\x00" and der[17:20] == b"\x03\x4b\x00" and der[89:91] == b"\x02\x03"
    bad = (
        _replace(der, 0, b"\x31"),  # SET, not SEQUENCE
        _replace(der, 1, b"\x5d"),  # outer length one too long
        _replace(der, 1, b"\x5b"),  # outer length one too short
        b"\x30\x81\x5c" + der[2:],  # non-minimal long-form length
        b"\x30\x80" + der[2:] + b"\x00\x00",  # BER indefinite length
        _replace(der, 14, b"\x02"),  # OID changed to 1.2.840.113549.1.1.2
        _replace(der, 14, b"\x0a"),  # ... to rsassa-PSS (1.1.10)
        _replace(der, 15, b"\x06"),  # NULL parameters replaced by another tag
        _replace(der, 19, b"\x01"),  # BIT STRING with one unused bit
        _replace(der, 17, b"\x04"),  # OCTET STRING instead of BIT STRING
        _replace(der, 24, b"\x80"),  # modulus made negative
        _replace(der, 90, b"\x04"),  # exponent length runs past its SEQUENCE
        _replace(der, 91, b"\x00\x00\x01"),  # exponent with a non-minimal leading zero
        _replace(der, 91, b"\x01\x00\x00"),  # even exponent 65536
        _replace(der, 91, b"\x80\x00\x01"),  # negative exponent
        _replace(der, 88, b"\xae"),  # even modulus
    )
    for b in bad:
        raises(CryptoError, RsaPublicKey.from_spki, b)
    # Non-minimal INTEGERs of otherwise valid values (lengths fixed up): a leading 00 before
    # an octet below 0x80 in the exponent, or a second leading 00 in the modulus.
    e_long = b"\x30\x5d" + der[2:18] + b"\x4c\x00\x30\x49" + der[22:89] + b"\x02\x04\x00\x01\x00\x01"
    n_long = b"\x30\x5d" + der[2:18] + b"\x4c\x00\x30\x49\x02\x42\x00" + der[24:]
    for b in (e_long, n_long):
        assert len(b) == 95
        raises(CryptoError, RsaPublicKey.from_spki, b)
    # A long-form length with a leading zero octet: 30 81 9f written as 30 82 00 9f.
    d1024 = load_public("rsa1024_a").spki()
    assert d1024[:3] == b"\x30\x81\x9f"
    raises(CryptoError, RsaPublicKey.from_spki, b"\x30\x82\x00\x9f" + d1024[3:])
    # Parameters absent (RFC 3279 requires NULL): remove "05 00" and fix the two enclosing lengths.
    no_null = b"\x30\x5a\x30\x0b" + der[4:15] + der[17:]
    raises(CryptoError, RsaPublicKey.from_spki, no_null)
    # An EC key SPKI (id-ecPublicKey with prime256v1) is refused as non-RSA.
    ec = bytes.fromhex(
        "3059301306072a8648ce3d020106082a8648ce3d03010703420004"
        "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
        "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
    )
    raises(CryptoError, RsaPublicKey.from_spki, ec)
    for junk in (b"", b"\x30", b"\x30\x00", b"\x00\x00", b"\xff" * 10, b"\x30\x82\xff\xff" + b"\x00" * 10):
        raises(CryptoError, RsaPublicKey.from_spki, junk)


def test_public_key_value_checks():
    raises(CryptoError, RsaPublicKey, APP_A_N, 1)
    raises(CryptoError, RsaPublicKey, APP_A_N, 2)
    raises(CryptoError, RsaPublicKey, APP_A_N, 65536)
    raises(CryptoError, RsaPublicKey, APP_A_N, (1 << 64) + 1)  # exponent above 64 bits
    raises(CryptoError, RsaPublicKey, APP_A_N + 1, 65537)  # even modulus
    raises(CryptoError, RsaPublicKey, APP_A_N >> 8, 65537)  # 504 bits: below the 512 floor
    raises(CryptoError, RsaPublicKey, (1 << 4096) + 1, 65537)  # 4097 bits: above 4096
    assert RsaPublicKey((1 << 4095) + 1, 65537).size == 512


def _pkcs1_with(priv, **over):
    # Rebuild an RSAPrivateKey from possibly altered numbers, with the same DER writer.
    from handoverkey.crypto import rsakey

    names = ("n", "e", "d", "p", "q", "dp", "dq", "qinv")
    body = b"\x02\x01\x00"
    for nm in names:
        body += rsakey._der_uint(over.get(nm, getattr(priv, nm)))
    return rsakey._der(0x30, body)


def test_private_key_consistency_checks():
    priv = load_private("rsa1024_a")
    assert RsaPrivateKey.from_pkcs8(_pkcs1_with(priv)) == priv
    for over in (
        {"dp": priv.dp + 1},
        {"dq": priv.dq ^ 2},
        {"qinv": priv.qinv + 1},
        {"d": priv.d + 2},
        {"p": priv.p + 2},
        {"q": priv.p},
        {"e": 3},
        {"n": priv.n + 2},
    ):
        raises(CryptoError, RsaPrivateKey.from_pkcs8, _pkcs1_with(priv, **over))
    raises(CryptoError, RsaPrivateKey, priv.n, priv.e, priv.d, priv.q, priv.q)
    raises(CryptoError, RsaPrivateKey, priv.n, priv.e, priv.d, 1, priv.n)
    raises(CryptoError, RsaPrivateKey, priv.n, priv.e, priv.d + 1, priv.p, priv.q)
    # Swapping p and q is still a valid key (with different CRT values).
    swapped = RsaPrivateKey(priv.n, priv.e, priv.d, priv.q, priv.p)
    assert swapped.qinv * swapped.q % swapped.p == 1


def test_pkcs8_malformed_structure():
    der = private_der("rsa1024_a")
    # Layout: 30 82 LL LL | 02 01 00 | 30 0d <rsaEncryption, NULL> | 04 82 LL LL <RSAPrivateKey>
    assert der[4:7] == b"\x02\x01\x00" and der[7:9] == b"\x30\x0d" and der[22] == 0x04
    assert der[30:33] == b"\x02\x01\x00"
    bad = (
        _replace(der, 6, b"\x01"),  # PKCS#8 version 1 (OneAsymmetricKey) is not supported
        _replace(der, 19, b"\x02"),  # another OID
        _replace(der, 22, b"\x03"),  # BIT STRING instead of OCTET STRING
        _replace(der, 32, b"\x01"),  # RSAPrivateKey version 1 (multi-prime)
        _replace(der, 0, b"\x31"),
    )
    for b in bad:
        raises(CryptoError, RsaPrivateKey.from_pkcs8, b)
    # Attributes after the key ([0] IMPLICIT SET) are refused: grow the outer length by 2.
    n = (der[2] << 8) | der[3]
    with_attr = der[:2] + bytes(((n + 2) >> 8, (n + 2) & 0xFF)) + der[4:] + b"\xa0\x00"
    raises(CryptoError, RsaPrivateKey.from_pkcs8, with_attr)
    # A public key is not a private key, and vice versa.
    raises(CryptoError, RsaPrivateKey.from_pkcs8, load_public("rsa1024_a").spki())
    raises(CryptoError, RsaPublicKey.from_spki, der)


def test_every_single_byte_flip_is_rejected_or_consistent():
    # Flip each byte of the App. A SPKI: the result must be CryptoError or a key whose
    # re-encoding is exactly the mutated input (no lenient parse).
    der = bytes.fromhex(APP_A_HEX)
    for i in range(len(der)):
        for x in (0x01, 0x80, 0xFF):
            b = _replace(der, i, bytes((der[i] ^ x,)))
            try:
                key = RsaPublicKey.from_spki(b)
            except CryptoError:
                continue
            assert RsaPublicKey(key.n, key.e).spki() == b
