"""RSA through the active backend (host on CPython, pure on MicroPython): PKCS #1 v1.5 signatures,
encryption, constant-time decoding with implicit rejection, and key generation."""

import hashlib

from dualtest import raises
from handoverkey import crypto
from handoverkey.crypto import mac, pkcs1, pure
from handoverkey.crypto.rsakey import RsaPrivateKey, bit_len
from handoverkey.errors import CryptoError
from keyfixtures import load_private, load_public, private_der

MSG = b"SEND signed data: CGA tag || addresses || ICMPv6 header || options"
SHA1_PREFIX = bytes.fromhex("3021300906052b0e03021a05000414")
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def _i2osp(x, k):
    return x.to_bytes(k, "big")


def _raw_public(pub, em):
    # Textbook RSA with the public key: lets a test build ciphertexts / signatures for any
    # block it likes, independently of the code under test.
    return _i2osp(pow(int.from_bytes(em, "big"), pub.e, pub.n), pub.size)


def _expected_emsa(msg, hash, k):
    if hash == "sha1":
        t = SHA1_PREFIX + hashlib.sha1(msg).digest()
    else:
        t = SHA256_PREFIX + hashlib.sha256(msg).digest()
    return b"\x00\x01" + b"\xff" * (k - 3 - len(t)) + b"\x00" + t


def _expected_synthetic(priv, c, n):
    # The construction documented in pkcs1.py, written out independently.
    kdk = mac.hmac_sha256(hashlib.sha256(_i2osp(priv.d, priv.size)).digest(), c)
    bits = n * 8
    out = b""
    i = 0
    while len(out) < n:
        out += mac.hmac_sha256(kdk, _i2osp(i, 2) + b"message" + _i2osp(bits, 2))
        i += 1
    return out[:n]


def test_sign_produces_the_pkcs1_encoding():
    for name in ("rsa1024_a", "rsa2048_a"):
        priv = load_private(name)
        for hash in ("sha1", "sha256"):
            sig = crypto.rsa_sign(priv, MSG, hash)
            assert len(sig) == priv.size
            # s^e mod n must be exactly the EMSA-PKCS1-v1_5 block built by hand.
            em = _i2osp(pow(int.from_bytes(sig, "big"), priv.e, priv.n), priv.size)
            assert em == _expected_emsa(MSG, hash, priv.size)
            # v1.5 signatures are deterministic.
            assert crypto.rsa_sign(priv, MSG, hash) == sig
    default = crypto.rsa_sign(load_private("rsa1024_a"), MSG)
    assert default == crypto.rsa_sign(load_private("rsa1024_a"), MSG, "sha1")


def test_sign_verify_and_tampering():
    for name in ("rsa1024_a", "rsa2048_a"):
        priv = load_private(name)
        pub = priv.public
        k = pub.size
        for hash in ("sha1", "sha256"):
            sig = crypto.rsa_sign(priv, MSG, hash)
            assert crypto.rsa_verify(pub, MSG, sig, hash) is True
            assert crypto.rsa_verify(pub, memoryview(MSG), memoryview(sig), hash) is True
            assert crypto.rsa_verify(pub, MSG, memoryview(b"\x00" + sig)[1:], hash) is True
            other = "sha256" if hash == "sha1" else "sha1"
            assert crypto.rsa_verify(pub, MSG, sig, other) is False
            for pos in (0, 1, k // 2, k - 1):
                bad = bytearray(sig)
                bad[pos] ^= 0x01
                assert crypto.rsa_verify(pub, MSG, bytes(bad), hash) is False
            for pos in (0, len(MSG) - 1):
                m = bytearray(MSG)
                m[pos] ^= 0x80
                assert crypto.rsa_verify(pub, bytes(m), sig, hash) is False
            assert crypto.rsa_verify(pub, MSG + b"\x00", sig, hash) is False
    sig = crypto.rsa_sign(load_private("rsa1024_a"), MSG)
    assert crypto.rsa_verify(load_public("rsa1024_b"), MSG, sig) is False


def test_verify_rejects_bad_lengths_and_ranges():
    # Both the active backend and the pure one (the same on MicroPython).
    for b in (crypto, pure):
        _check_bad_lengths_and_ranges(b)


def _check_bad_lengths_and_ranges(b):
    priv = load_private("rsa1024_a")
    pub = priv.public
    sig = crypto.rsa_sign(priv, MSG)
    assert b.rsa_verify(pub, MSG, sig) is True
    assert b.rsa_verify(pub, MSG, sig[1:]) is False
    assert b.rsa_verify(pub, MSG, sig + b"\x00") is False
    assert b.rsa_verify(pub, MSG, b"\x00" + sig) is False
    assert b.rsa_verify(pub, MSG, b"") is False
    # s >= n: a valid signature plus n has the same residue but must be refused. Signatures
    # are deterministic, so a message whose s + n still fits in k octets is found by counting
    # (rsa1024_c has n < 0.67 * 2^1024, so about half of all messages qualify).
    priv_c = load_private("rsa1024_c")
    for i in range(40):
        m = MSG + bytes((i,))
        s = int.from_bytes(crypto.rsa_sign(priv_c, m), "big")
        if s + priv_c.n < (1 << (8 * priv_c.size)):
            break
    else:
        raise AssertionError("no message with s + n < 2^(8k)")
    assert b.rsa_verify(priv_c.public, m, _i2osp(s, priv_c.size)) is True
    assert b.rsa_verify(priv_c.public, m, _i2osp(s + priv_c.n, priv_c.size)) is False
    assert b.rsa_verify(pub, MSG, _i2osp(pub.n, pub.size)) is False
    assert b.rsa_verify(pub, MSG, b"\xff" * pub.size) is False
    assert b.rsa_verify(pub, MSG, bytes(pub.size)) is False
    # A key under min_bits is refused even for a valid signature.
    assert b.rsa_verify(pub, MSG, sig, "sha1", 2048) is False
    assert b.rsa_verify(pub, MSG, sig, "sha1", 1024) is True
    raises(CryptoError, b.rsa_verify, pub, MSG, sig, "md5")
    raises(CryptoError, b.rsa_sign, priv, MSG, "sha512")


def test_verify_compares_the_whole_encoding():
    # Blocks that a lenient ASN.1-parsing verifier could accept, signed with the real private
    # key (raw), must all be refused: only the exact encoding is valid.
    priv = load_private("rsa1024_a")
    pub = priv.public
    k = pub.size
    h = hashlib.sha1(MSG).digest()
    t = SHA1_PREFIX + h
    good = _expected_emsa(MSG, "sha1", k)
    variants = (
        # DigestInfo followed by garbage, with PS shortened to make room (Bleichenbacher 2006).
        b"\x00\x01" + b"\xff" * 8 + b"\x00" + t + b"\x00" * (k - 11 - len(t)),
        # Parameters absent instead of NULL.
        b"\x00\x01"
        + b"\xff" * (k - 3 - len(t) + 2)
        + b"\x00"
        + bytes.fromhex("301f300706052b0e03021a0414")
        + h,
        # One PS octet not 0xFF.
        good[:5] + b"\xfe" + good[6:],
        # Block type 2 instead of 1.
        b"\x00\x02" + good[2:],
        # Leading octet nonzero.
        b"\x01" + good[1:],
    )
    assert pkcs1.emsa_verify(good, MSG, "sha1", k)
    for em in variants:
        assert len(em) == k
        assert not pkcs1.emsa_verify(em, MSG, "sha1", k)
        sig = _i2osp(pow(int.from_bytes(em, "big"), priv.d, priv.n), k)
        assert crypto.rsa_verify(pub, MSG, sig) is False
    sig = _i2osp(pow(int.from_bytes(good, "big"), priv.d, priv.n), k)
    assert crypto.rsa_verify(pub, MSG, sig) is True


def test_app_a_key_is_below_the_default_floor():
    pub = load_public("rfc3972_app_a")
    assert pub.bits == 512
    # Without its private key no valid signature exists; with the default floor even the
    # size check fails first, and lowering the floor still gives False for junk.
    assert crypto.rsa_verify(pub, MSG, b"\x01" * 64) is False
    assert crypto.rsa_verify(pub, MSG, b"\x01" * 64, "sha1", 512) is False


def test_encrypt_decrypt_round_trip():
    for name in ("rsa1024_a", "rsa2048_a"):
        priv = load_private(name)
        pub = priv.public
        for mlen in (20, 32, pub.size - 11):
            m = bytes((i * 7 + mlen) & 0xFF for i in range(mlen))
            c = crypto.rsa_encrypt(pub, m)
            assert len(c) == pub.size
            assert crypto.rsa_decrypt_implicit(priv, c, mlen) == m
            assert crypto.rsa_decrypt_implicit(priv, memoryview(c), mlen) == m
            # Random padding: the same message never encrypts the same way twice.
            assert crypto.rsa_encrypt(pub, m) != c
        raises(CryptoError, crypto.rsa_encrypt, pub, bytes(pub.size - 10))


def test_encryption_padding_is_well_formed():
    priv = load_private("rsa1024_a")
    k = priv.size
    for _ in range(4):
        c = crypto.rsa_encrypt(priv.public, b"\xab" * 20)
        em = _i2osp(pow(int.from_bytes(c, "big"), priv.d, priv.n), k)
        assert em[:2] == b"\x00\x02"
        assert em[k - 21] == 0 and em[k - 20 :] == b"\xab" * 20
        assert 0 not in em[2 : k - 21]


def test_eme_padding_has_no_zero_octets():
    # PS is drawn from os.urandom with zeros replaced; ~100 octets x 40 blocks would contain
    # a zero with near certainty if they were not.
    k = 128
    seen = set()
    for _ in range(40):
        em = pkcs1.eme_encode(b"\x00" * 20, k)
        assert len(em) == k and em[:2] == b"\x00\x02" and em[k - 21 :] == bytes(21)
        assert 0 not in em[2 : k - 21]
        seen.add(em)
    assert len(seen) == 40
    raises(CryptoError, pkcs1.eme_encode, bytes(k - 10), k)
    assert len(pkcs1.eme_encode(bytes(k - 11), k)) == k


def test_private_operation_fault_is_detected():
    # A CRT half computed with a wrong exponent (a fault) must never release its result.
    priv = RsaPrivateKey.from_pkcs8(private_der("rsa1024_a"))
    assert pure.rsa_sign(priv, MSG) == crypto.rsa_sign(load_private("rsa1024_a"), MSG)
    priv.dp += 2
    raises(CryptoError, pure.rsa_sign, priv, MSG)
    raises(CryptoError, pure.private_op, priv, 12345)


def test_decrypt_tampered_ciphertext_is_implicitly_rejected():
    for name in ("rsa1024_a", "rsa2048_a"):
        priv = load_private(name)
        m = b"\x42" * 32
        c = crypto.rsa_encrypt(priv.public, m)
        outs = []
        for pos in (0, priv.size // 2, priv.size - 1):
            bad = bytearray(c)
            bad[pos] ^= 0x04
            bad = bytes(bad)
            if int.from_bytes(bad, "big") >= priv.n:
                continue
            out = crypto.rsa_decrypt_implicit(priv, bad, 32)
            assert len(out) == 32
            assert out != m
            assert crypto.rsa_decrypt_implicit(priv, bad, 32) == out  # deterministic
            assert out == _expected_synthetic(priv, bad, 32)
            outs.append(out)
        assert len(outs) >= 2 and outs[0] != outs[1]
        # The same invalid ciphertext under another key of the same size gives another value.
        bad = bytearray(c)
        bad[priv.size // 2] ^= 0x04
        other = load_private(name[:-1] + "b")
        assert crypto.rsa_decrypt_implicit(other, bytes(bad), 32) != crypto.rsa_decrypt_implicit(priv, bytes(bad), 32)


def test_decrypt_wrong_expected_length_is_implicitly_rejected():
    priv = load_private("rsa1024_a")
    m = bytes(range(1, 21))
    c = crypto.rsa_encrypt(priv.public, m)
    for n in (19, 21, 32):
        out = crypto.rsa_decrypt_implicit(priv, c, n)
        assert len(out) == n
        assert out == _expected_synthetic(priv, c, n)
        assert m[:n] not in out and out != m[-n:]
        assert crypto.rsa_decrypt_implicit(priv, c, n) == out
    assert crypto.rsa_decrypt_implicit(priv, c, 20) == m
    raises(CryptoError, crypto.rsa_decrypt_implicit, priv, c, 0)
    raises(CryptoError, crypto.rsa_decrypt_implicit, priv, c, priv.size - 10)


def test_decrypt_bad_lengths_and_ranges():
    priv = load_private("rsa1024_a")
    k = priv.size
    c = crypto.rsa_encrypt(priv.public, b"\x01" * 20)
    for bad in (c[1:], c + b"\x00", b"", _i2osp(priv.n, k), b"\xff" * k):
        out = crypto.rsa_decrypt_implicit(priv, bad, 20)
        assert len(out) == 20
        assert out == _expected_synthetic(priv, bad, 20)
        assert out != b"\x01" * 20


def test_decrypt_padding_rules():
    # Hand-built EME blocks encrypted with the raw public key: each rule of RFC 8017 §7.2.2
    # plus the length rule must decide between the message and the synthetic value.
    priv = load_private("rsa1024_a")
    pub = priv.public
    k = pub.size
    m = b"\x5a" * 20

    def block(head, ps_len, sep=b"\x00", msg=m, ps_byte=b"\x33"):
        em = head + ps_byte * ps_len + sep + msg
        return em + b"\x33" * (k - len(em)) if len(em) < k else em

    ps_full = k - 3 - 20
    cases = (
        (block(b"\x00\x02", ps_full), True),
        (block(b"\x00\x02", ps_full - 12, msg=b"\x11" * 12 + m), False),  # message 32 long
        (block(b"\x01\x02", ps_full), False),  # first octet not 00
        (block(b"\x00\x01", ps_full), False),  # block type 1
        (block(b"\x00\x03", ps_full), False),  # block type 3
        (b"\x00\x02" + b"\x33" * (k - 2), False),  # no separator
        (b"\x00\x02" + b"\x33" * (k - 3) + b"\x00", False),  # separator last: empty message
        (b"\x00\x02" + b"\x00" + b"\x33" * (k - 3), False),  # separator first: no PS
    )
    for em, valid in cases:
        assert len(em) == k
        c = _raw_public(pub, em)
        out = crypto.rsa_decrypt_implicit(priv, c, 20)
        if valid:
            assert out == m
        else:
            assert out == _expected_synthetic(priv, c, 20), em
            assert out != em[k - 20 :]
    # PS of exactly 8 is the minimum that is valid; the message then fills the rest.
    mlen = k - 11
    long_m = bytes((i + 1) & 0xFF or 1 for i in range(mlen))
    em = b"\x00\x02" + b"\x44" * 8 + b"\x00" + long_m
    assert crypto.rsa_decrypt_implicit(priv, _raw_public(pub, em), mlen) == long_m
    # The first zero after the header is the separator: a later zero belongs to M.
    m0 = b"\x00" + b"\x01" * 19
    c = _raw_public(pub, block(b"\x00\x02", ps_full, msg=m0))
    assert crypto.rsa_decrypt_implicit(priv, c, 20) == m0
    assert crypto.rsa_decrypt_implicit(priv, c, 19) == _expected_synthetic(priv, c, 19)


def test_padding_check_flags_each_rule():
    # Each rule alone, on the decoder itself: through the public API a short PS is always
    # caught by the length rule as well, since expected_len <= k - 11.
    k = 64
    ok = b"\x00\x02" + b"\x33" * 8 + b"\x00" + b"\x55" * 53
    assert len(ok) == k
    assert pkcs1._padding_bad(ok, k, 53) == 0
    assert pkcs1._padding_bad(ok, k, 52) == 1
    assert pkcs1._padding_bad(ok, k, 54) == 1
    ps7 = b"\x00\x02" + b"\x33" * 7 + b"\x00" + b"\x55" * 54
    assert pkcs1._padding_bad(ps7, k, 54) == 1
    ps9 = b"\x00\x02" + b"\x33" * 9 + b"\x00" + b"\x55" * 52
    assert pkcs1._padding_bad(ps9, k, 52) == 0
    assert pkcs1._padding_bad(b"\x00\x02" + b"\x33" * 62, k, 53) == 1
    for i, v in ((0, 1), (0, 0x80), (1, 0x01), (1, 0x03), (1, 0x82)):
        bad = bytearray(ok)
        bad[i] = v
        assert pkcs1._padding_bad(bytes(bad), k, 53) == 1
    # A zero inside PS moves the separator: PS too short and M too long.
    early = bytearray(ok)
    early[5] = 0
    assert pkcs1._padding_bad(bytes(early), k, 53) == 1
    assert pkcs1._padding_bad(bytes(early), k, 58) == 1


def test_generate_small_key():
    # 512 bits keeps MicroPython's run short; host falls back to the pure generator for it.
    priv = crypto.generate_rsa(512)
    assert isinstance(priv, RsaPrivateKey)
    assert priv.bits == 512 and bit_len(priv.n) == 512 and priv.size == 64
    assert priv.e == 65537
    assert priv.p != priv.q and priv.p * priv.q == priv.n
    assert bit_len(priv.p) == 256 and bit_len(priv.q) == 256
    assert RsaPrivateKey.from_pkcs8(priv.pkcs8()) == priv
    sig = crypto.rsa_sign(priv, MSG)
    assert crypto.rsa_verify(priv.public, MSG, sig) is False  # below the default floor
    assert crypto.rsa_verify(priv.public, MSG, sig, "sha1", 512) is True
    c = crypto.rsa_encrypt(priv.public, b"k" * 16)
    assert crypto.rsa_decrypt_implicit(priv, c, 16) == b"k" * 16
    assert crypto.generate_rsa(512).n != priv.n
    raises(CryptoError, crypto.generate_rsa, 511)
    raises(CryptoError, crypto.generate_rsa, 256)
    raises(CryptoError, crypto.generate_rsa, 8192)
    raises(CryptoError, crypto.generate_rsa, 512, 4)


def test_generate_1024_bit_key():
    priv = crypto.generate_rsa(1024)
    assert priv.bits == 1024 and priv.size == 128
    assert bit_len(priv.p) == 512 and bit_len(priv.q) == 512
    # The two primes are far apart (FIPS 186-4: |p - q| > 2^(512 - 100)).
    assert abs(priv.p - priv.q) >> 412
    sig = crypto.rsa_sign(priv, MSG, "sha256")
    assert crypto.rsa_verify(priv.public, MSG, sig, "sha256") is True
    c = crypto.rsa_encrypt(priv.public, b"\x07" * 32)
    assert crypto.rsa_decrypt_implicit(priv, c, 32) == b"\x07" * 32
