"""ND option walker and the option codecs: known bytes, round trips, malformed input."""

from dualtest import raises
from handoverkey.errors import DecodeError, EncodeError
from handoverkey.wire import ndopt, ndopt_extra

ADDR = bytes.fromhex("20010db8000200000000000000001234")
MAC = bytes.fromhex("020000000001")


def _enc(fn, *args):
    buf = bytearray(2100)
    end = fn(buf, 0, *args)
    return bytes(buf[:end])


def _truncations_fail(get, opt):
    # A decoder given a buffer that ends before the option does raises DecodeError, never
    # IndexError; so does one given the wrong type or a Length that disagrees.
    for n in range(len(opt)):
        raises(DecodeError, get, opt[:n], 0, len(opt))
    raises(DecodeError, get, opt, 0, len(opt) - 8)
    raises(DecodeError, get, opt, 0, len(opt) + 8)
    raises(DecodeError, get, opt, -1, len(opt))
    other = bytearray(opt)
    other[0] = 99
    raises(DecodeError, get, other, 0, len(opt))


def _length_byte_fuzz(get, opt):
    # Every Length value: a value or DecodeError, never another exception.
    for L in range(256):
        b = bytearray(opt)
        b[1] = L
        try:
            get(b, 0, L * 8)
        except DecodeError:
            pass


def _encoder_leaves_small_buffer_alone(fn, args, size):
    buf = bytearray(b"\xee" * (size - 1))
    raises(EncodeError, fn, buf, 0, *args)
    assert bytes(buf) == b"\xee" * (size - 1)
    raises(EncodeError, fn, bytearray(size + 4), 5, *args)
    raises(EncodeError, fn, bytearray(size), -1, *args)


# -- walk --


def test_walk_lists_options_in_order():
    msg = bytes.fromhex("0e01a1a2a3a4a5a6") + bytes.fromhex("0d02") + bytes(14) + bytes.fromhex("1301") + bytes(6)
    assert ndopt.walk(msg, 0, len(msg)) == [(14, 0, 8), (13, 8, 16), (19, 24, 8)]
    assert ndopt.walk(msg, 8, 24) == [(13, 8, 16)]
    assert ndopt.walk(msg, 8, 8) == []


def test_walk_stops_after_first_rsa_signature():
    sig = bytes([12, 3]) + bytes(22)
    junk_after = bytes([14, 0, 1, 2]) + bytes([99, 200])  # length 0, then an overrun
    msg = bytes.fromhex("0e01a1a2a3a4a5a6") + sig + sig + junk_after
    assert ndopt.walk(msg, 0, len(msg)) == [(14, 0, 8), (12, 8, 24)]


def test_walk_rejects_zero_length_overrun_and_stray_octet():
    raises(DecodeError, ndopt.walk, bytes([14, 0]) + bytes(6), 0, 8)
    raises(DecodeError, ndopt.walk, bytes.fromhex("0e01a1a2a3a4a5a6") + bytes([19, 0]), 0, 10)
    raises(DecodeError, ndopt.walk, bytes([14, 2]) + bytes(6), 0, 8)
    raises(DecodeError, ndopt.walk, bytes.fromhex("0e01a1a2a3a4a5a6") + b"\x13", 0, 9)
    # The end bound counts, not the buffer length.
    raises(DecodeError, ndopt.walk, bytes.fromhex("0e01a1a2a3a4a5a6"), 0, 7)


def test_walk_bounds():
    raises(DecodeError, ndopt.walk, bytes(8), 0, 9)
    raises(DecodeError, ndopt.walk, bytes(8), -1, 8)
    raises(DecodeError, ndopt.walk, bytes(8), 5, 4)


def test_walk_option_cap():
    one = bytes.fromhex("1301000000000000")
    msg = one * ndopt.MAX_OPTIONS
    assert len(ndopt.walk(msg, 0, len(msg))) == ndopt.MAX_OPTIONS
    msg += one
    raises(DecodeError, ndopt.walk, msg, 0, len(msg))
    raises(DecodeError, ndopt.walk, one * 3, 0, 24, 2)
    assert len(ndopt.walk(one * 3, 0, 24, 3)) == 3


def test_walk_truncated_message_at_every_length():
    msg = bytes.fromhex("0e01a1a2a3a4a5a6") + bytes.fromhex("0d02") + bytes(14)
    for n in range(1, len(msg)):
        if n in (8, 24):
            continue
        raises(DecodeError, ndopt.walk, msg, 0, n)
    assert len(ndopt.walk(msg, 0, 8)) == 1


def test_option_size():
    assert ndopt_extra.option_size(ndopt.OPT_CGA, 187) == 192
    assert ndopt_extra.option_size(ndopt.OPT_RSA_SIG, 128) == 152
    assert ndopt_extra.option_size(ndopt.OPT_RSA_SIG, 256) == 280
    assert ndopt_extra.option_size(ndopt.OPT_HK_REQUEST, 294) == 304
    assert ndopt_extra.option_size(ndopt.OPT_HK_REPLY, 256) == 264
    assert ndopt_extra.option_size(ndopt.OPT_LLA, 6) == 16
    assert ndopt_extra.option_size(ndopt.OPT_NONCE, 6) == 8
    raises(EncodeError, ndopt_extra.option_size, ndopt.OPT_TIMESTAMP, 8)
    raises(EncodeError, ndopt_extra.option_size, ndopt.OPT_CGA, -1)


# -- options 1 and 2 --


def test_nd_lla():
    opt = _enc(ndopt_extra.put_nd_lla, ndopt.OPT_SLLA, MAC)
    assert opt == bytes.fromhex("0101020000000001")
    assert bytes(ndopt_extra.get_nd_lla(opt, 0, 8)) == MAC
    opt = _enc(ndopt_extra.put_nd_lla, ndopt.OPT_TLLA, b"\x01" * 8)
    assert opt == bytes([2, 2]) + b"\x01" * 8 + bytes(6)
    assert bytes(ndopt_extra.get_nd_lla(opt, 0, 16)) == b"\x01" * 8 + bytes(6)
    raises(EncodeError, _enc, ndopt_extra.put_nd_lla, 3, MAC)
    raises(EncodeError, _enc, ndopt_extra.put_nd_lla, 1, b"")
    _truncations_fail(ndopt_extra.get_nd_lla, opt)
    _encoder_leaves_small_buffer_alone(ndopt_extra.put_nd_lla, (1, MAC), 8)


# -- option 11 --


def test_cga_option_padding_and_round_trip():
    params = bytes(range(187))  # 25 + a 1024-bit SPKI (162)
    opt = _enc(ndopt.put_cga, params)
    assert len(opt) == 192 and opt[:4] == bytes([11, 24, 1, 0]) and opt[-1] == 0
    c = ndopt.get_cga(opt, 0, len(opt))
    assert c.pad_len == 1 and bytes(c.params) == params
    for n in (0, 1, 4, 5, 12):
        opt = _enc(ndopt.put_cga, bytes([7]) * n)
        assert len(opt) % 8 == 0 and len(opt) - 4 - opt[2] == n
        assert bytes(ndopt.get_cga(opt, 0, len(opt)).params) == bytes([7]) * n


def test_cga_bad_pad_length():
    opt = bytearray(_enc(ndopt.put_cga, bytes(20)))
    opt[2] = 4
    assert len(ndopt.get_cga(opt, 0, 24).params) == 16
    opt[2] = 20
    assert len(ndopt.get_cga(opt, 0, 24).params) == 0
    opt[2] = 21
    raises(DecodeError, ndopt.get_cga, opt, 0, 24)
    opt[2] = 255
    raises(DecodeError, ndopt.get_cga, opt, 0, 24)
    _truncations_fail(ndopt.get_cga, bytes(_enc(ndopt.put_cga, bytes(20))))
    _length_byte_fuzz(ndopt.get_cga, opt)


def test_cga_too_long():
    raises(EncodeError, _enc, ndopt.put_cga, bytes(2037))
    assert len(_enc(ndopt.put_cga, bytes(2036))) == 2040


# -- option 12 --


def test_rsa_signature_option():
    kh = bytes(range(16))
    sig = bytes([0xA5]) * 128
    opt = _enc(ndopt.put_rsa_sig, kh, sig)
    assert len(opt) == 152 and opt[:4] == bytes([12, 19, 0, 0])
    assert opt[4:20] == kh and opt[20:148] == sig and opt[148:] == bytes(4)
    s = ndopt.get_rsa_sig(opt, 0, 152)
    assert bytes(s.key_hash) == kh
    # The modulus length is not on the wire: the decoder returns the remainder.
    assert bytes(s.signature) == sig + bytes(4)
    assert len(_enc(ndopt.put_rsa_sig, kh, bytes(256))) == 280
    raises(EncodeError, _enc, ndopt.put_rsa_sig, kh[:15], sig)
    raises(EncodeError, _enc, ndopt.put_rsa_sig, kh, b"")
    _truncations_fail(ndopt.get_rsa_sig, opt)
    _length_byte_fuzz(ndopt.get_rsa_sig, opt)
    raises(DecodeError, ndopt.get_rsa_sig, bytes([12, 2]) + bytes(14), 0, 16)


# -- option 13 --


def test_timestamp_option():
    ts = ndopt.timestamp_from_wall(1700000000, 0x8000)
    assert ts == (1700000000 << 16) | 0x8000
    assert ndopt_extra.wall_from_timestamp(ts) == (1700000000, 0x8000)
    opt = _enc(ndopt.put_timestamp, ts)
    assert opt == bytes.fromhex("0d02000000000000") + bytes.fromhex("00006553f1008000")
    assert ndopt.get_timestamp(opt, 0, 16) == ts
    big = 0xFFFFFFFFFFFFFFFF
    assert ndopt.get_timestamp(_enc(ndopt.put_timestamp, big), 0, 16) == big
    assert ndopt.timestamp_from_wall(0xFFFFFFFFFFFF, 0xFFFF) == big
    raises(EncodeError, ndopt.timestamp_from_wall, 1 << 48)
    raises(EncodeError, ndopt.timestamp_from_wall, -1)
    raises(EncodeError, ndopt.timestamp_from_wall, 5, 0x10000)
    raises(EncodeError, _enc, ndopt.put_timestamp, 1 << 64)
    raises(EncodeError, _enc, ndopt.put_timestamp, -1)
    _truncations_fail(ndopt.get_timestamp, opt)
    _encoder_leaves_small_buffer_alone(ndopt.put_timestamp, (ts,), 16)


def test_timestamp_length_must_be_2():
    opt = bytes([13, 3]) + bytes(22)
    raises(DecodeError, ndopt.get_timestamp, opt, 0, 24)
    raises(DecodeError, ndopt.get_timestamp, bytes([13, 1]) + bytes(6), 0, 8)


# -- option 14 --


def test_nonce_option():
    opt = _enc(ndopt.put_nonce, b"abcdef")
    assert opt == b"\x0e\x01abcdef"
    assert bytes(ndopt.get_nonce(opt, 0, 8)) == b"abcdef"
    assert len(_enc(ndopt.put_nonce, bytes(14))) == 16
    for n in (0, 5, 7, 8, 13):
        raises(EncodeError, _enc, ndopt.put_nonce, bytes(n))
    long_opt = _enc(ndopt.put_nonce, bytes(range(22)))
    assert bytes(ndopt.get_nonce(long_opt, 0, 24)) == bytes(range(22))
    _truncations_fail(ndopt.get_nonce, long_opt)


# -- option 15 --


def test_trust_anchor_option():
    name = bytes(range(0x30, 0x44))
    opt = _enc(ndopt.put_trust_anchor, ndopt.NAME_DER, name)
    assert len(opt) == 24 and opt[:4] == bytes([15, 3, 1, 0])
    t = ndopt.get_trust_anchor(opt, 0, 24)
    assert t.name_type == 1 and t.pad_len == 0 and bytes(t.name) == name
    opt = _enc(ndopt.put_trust_anchor, ndopt.NAME_FQDN, b"\x02ta\x07example\x00")
    assert len(opt) == 16
    t = ndopt.get_trust_anchor(opt, 0, len(opt))
    assert t.name_type == 2 and t.pad_len == 0 and bytes(t.name) == b"\x02ta\x07example\x00"
    t = ndopt.get_trust_anchor(_enc(ndopt.put_trust_anchor, 1, b"abc"), 0, 8)
    assert t.pad_len == 1 and bytes(t.name) == b"abc"
    raises(EncodeError, _enc, ndopt.put_trust_anchor, 256, name)
    bad = bytearray(opt)
    bad[3] = 13
    raises(DecodeError, ndopt.get_trust_anchor, bad, 0, 16)
    _truncations_fail(ndopt.get_trust_anchor, opt)
    _length_byte_fuzz(ndopt.get_trust_anchor, bad)


# -- option 16 --


def _der(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    if n < 0x100:
        return bytes([tag, 0x81, n]) + content
    return bytes([tag, 0x82, n >> 8, n & 0xFF]) + content


def test_certificate_option_finds_der_end():
    for n in (3, 0x7F, 0x80, 0xFF, 0x100, 700):
        cert = _der(0x30, bytes([0x5A]) * n)
        opt = _enc(ndopt.put_certificate, ndopt.CERT_X509, cert)
        assert opt[:4] == bytes([16, len(opt) // 8, 1, 0]) and len(opt) % 8 == 0
        c = ndopt.get_certificate(opt, 0, len(opt))
        assert c.cert_type == 1 and bytes(c.cert) == cert
    # Non-zero padding is ignored: the DER says where the certificate ends.
    noisy = bytearray(_enc(ndopt.put_certificate, 1, _der(0x30, b"xyz")))
    noisy[9:] = b"\xff\xff\xff\xff\xff\xff\xff"
    assert bytes(ndopt.get_certificate(noisy, 0, 16).cert) == _der(0x30, b"xyz")


def test_certificate_encoder_requires_one_der_tlv():
    raises(EncodeError, _enc, ndopt.put_certificate, 1, _der(0x30, b"abc") + b"\x00")
    raises(EncodeError, _enc, ndopt.put_certificate, 1, b"\x30")
    raises(EncodeError, _enc, ndopt.put_certificate, 1, b"\x30\x80abc\x00\x00")
    raises(EncodeError, _enc, ndopt.put_certificate, 256, _der(0x30, b"abc"))


def test_certificate_bad_der():
    for body in (
        b"\x30\x80\x00\x00",  # indefinite length
        b"\x30\x81\x05abcde",  # long form for a short length
        b"\x30\x82\x00\x85" + bytes(0x85),  # leading zero length octet
        b"\x30\x84\x00\x00\x00\x05abcde",  # too many length octets
        b"\x30\x0fabc",  # overruns the option
        b"\x1f\x01\x01a",  # high tag number
    ):
        opt = bytearray([16, 0, 1, 0]) + body
        opt += bytes(-len(opt) % 8)
        opt[1] = len(opt) // 8
        raises(DecodeError, ndopt.get_certificate, opt, 0, len(opt))
    good = _enc(ndopt.put_certificate, 1, _der(0x30, bytes(300)))
    _truncations_fail(ndopt.get_certificate, good)
    _length_byte_fuzz(ndopt.get_certificate, good)


def test_der_tlv_len():
    assert ndopt.der_tlv_len(b"\x30\x00", 0, 2) == 2
    assert ndopt.der_tlv_len(b"\x00\x30\x01a\xff", 1, 5) == 3
    assert ndopt.der_tlv_len(b"\x30\x01a", 0, 2) == -1
    assert ndopt.der_tlv_len(b"\x30\x01a", 0, 4) == -1
    assert ndopt.der_tlv_len(b"\x30", 0, 1) == -1


# -- option 17 --


def test_ip_address_option():
    opt = _enc(ndopt.put_ip_addr, ndopt.IPA_NAR_ADDR, 128, ADDR)
    assert opt == bytes([17, 3, 3, 128, 0, 0, 0, 0]) + ADDR
    a = ndopt_extra.get_ip_addr(opt, 0, 24)
    assert a.code == 3 and a.prefix_len == 128 and bytes(a.addr) == ADDR
    prefix = bytes.fromhex("20010db8000200000000000000000000")
    a = ndopt_extra.get_ip_addr(_enc(ndopt.put_ip_addr, ndopt.IPA_NAR_PREFIX, 64, prefix), 0, 24)
    assert a.code == 4 and a.prefix_len == 64 and bytes(a.addr) == prefix
    assert len(_enc(ndopt.put_ip_addr, 4, 63, prefix)) == 24
    _truncations_fail(ndopt_extra.get_ip_addr, opt)
    _length_byte_fuzz(ndopt_extra.get_ip_addr, opt)


def test_ip_address_option_ranges():
    for code in (0, 5, -1):
        raises(EncodeError, _enc, ndopt.put_ip_addr, code, 64, ADDR)
    raises(EncodeError, _enc, ndopt.put_ip_addr, 1, 129, ADDR)
    raises(EncodeError, _enc, ndopt.put_ip_addr, 1, 64, ADDR[:15])
    # For the NAR's prefix the bits past the prefix length must be zero.
    raises(EncodeError, _enc, ndopt.put_ip_addr, 4, 64, ADDR)
    raises(EncodeError, _enc, ndopt.put_ip_addr, 4, 31, bytes.fromhex("20010db9") + bytes(12))
    assert len(_enc(ndopt.put_ip_addr, 4, 32, bytes.fromhex("20010db9") + bytes(12))) == 24
    assert len(_enc(ndopt.put_ip_addr, 4, 0, bytes(16))) == 24
    assert len(_enc(ndopt.put_ip_addr, 2, 64, ADDR)) == 24
    opt = bytearray(_enc(ndopt.put_ip_addr, 1, 64, ADDR))
    for code, plen in ((0, 64), (5, 64), (1, 129), (1, 255)):
        opt[2] = code
        opt[3] = plen
        raises(DecodeError, ndopt_extra.get_ip_addr, opt, 0, 24)
    raises(DecodeError, ndopt_extra.get_ip_addr, bytes([17, 4]) + bytes(30), 0, 32)


# -- option 19 --


def test_lla_option():
    opt = _enc(ndopt.put_lla, ndopt.LLA_SOURCE, MAC)
    assert opt == bytes([19, 2, 4]) + MAC + bytes(7)
    o = ndopt.get_lla(opt, 0, 16)
    assert o.code == 4 and bytes(o.lla[:6]) == MAC and len(o.lla) == 13
    opt = _enc(ndopt.put_lla, ndopt.LLA_WILDCARD, b"")
    assert opt == bytes([19, 1, 0]) + bytes(5)
    opt = _enc(ndopt.put_lla, ndopt.LLA_NEW_AP, b"\x01\x02\x03\x04\x05")
    assert len(opt) == 8 and ndopt.get_lla(opt, 0, 8).code == 1
    for code in range(8):
        assert ndopt.get_lla(_enc(ndopt.put_lla, code, MAC), 0, 16).code == code
    raises(EncodeError, _enc, ndopt.put_lla, 8, MAC)
    bad = bytearray(opt)
    bad[2] = 8
    raises(DecodeError, ndopt.get_lla, bad, 0, 8)
    _truncations_fail(ndopt.get_lla, _enc(ndopt.put_lla, 4, MAC))


# -- option 20 --


def test_naack_option():
    opt = _enc(ndopt_extra.put_naack, 1)
    assert opt == bytes([20, 1, 0, 1, 0, 0, 0, 0])
    n = ndopt_extra.get_naack(opt, 0, 8)
    assert n.code == 0 and n.status == 1 and n.ncoa is None
    opt = _enc(ndopt_extra.put_naack, 2, ADDR)
    assert opt == bytes([20, 3, 0, 2, 0, 0, 0, 0]) + ADDR
    n = ndopt_extra.get_naack(opt, 0, 24)
    assert n.status == 2 and bytes(n.ncoa) == ADDR
    raises(EncodeError, _enc, ndopt_extra.put_naack, 256)
    raises(EncodeError, _enc, ndopt_extra.put_naack, 2, ADDR[:8])
    raises(DecodeError, ndopt_extra.get_naack, bytes([20, 2]) + bytes(14), 0, 16)
    bad = bytearray(opt)
    bad[2] = 1
    raises(DecodeError, ndopt_extra.get_naack, bad, 0, 24)
    _truncations_fail(ndopt_extra.get_naack, opt)


# -- option 27 --


def test_hk_request_option():
    spki = bytes([0x30]) + bytes(161)  # 1024-bit SPKI size
    opt = _enc(ndopt.put_hk_request, 1, spki)
    assert len(opt) == 168 and opt[:4] == bytes([27, 21, 2, 0x10])
    r = ndopt.get_hk_request(opt, 0, 168)
    assert r.at == 1 and r.pad_len == 2 and bytes(r.spki) == spki
    opt = _enc(ndopt.put_hk_request, 15, bytes(294))  # 2048-bit SPKI size
    assert len(opt) == 304 and opt[:4] == bytes([27, 38, 6, 0xF0])
    # The reserved low nibble is ignored on receipt.
    bad = bytearray(opt)
    bad[3] = 0x0F
    assert ndopt.get_hk_request(bad, 0, 304).at == 0
    raises(EncodeError, _enc, ndopt.put_hk_request, 16, spki)
    raises(EncodeError, _enc, ndopt.put_hk_request, -1, spki)
    raises(EncodeError, _enc, ndopt.put_hk_request, 0, b"")
    bad[2] = 255
    assert len(ndopt.get_hk_request(bad, 0, 304).spki) == 45
    bad2 = bytearray(_enc(ndopt.put_hk_request, 0, b"ab"))
    bad2[2] = 4
    assert len(ndopt.get_hk_request(bad2, 0, 8).spki) == 0
    bad2[2] = 5
    raises(DecodeError, ndopt.get_hk_request, bad2, 0, 8)
    _truncations_fail(ndopt.get_hk_request, opt)
    _length_byte_fuzz(ndopt.get_hk_request, opt)


# -- option 28 --


def test_hk_reply_option():
    ct = bytes([0x77]) * 128
    opt = _enc(ndopt.put_hk_reply, 0, 43200, ct)
    assert len(opt) == 136 and opt[:6] == bytes([28, 17, 2, 0x00, 0xA8, 0xC0])
    r = ndopt.get_hk_reply(opt, 0, 136)
    assert r.at == 0 and r.pad_len == 2 and r.lifetime == 43200 and bytes(r.enc_key) == ct
    opt = _enc(ndopt.put_hk_reply, 1, 65535, bytes(256))
    assert len(opt) == 264 and opt[:6] == bytes([28, 33, 2, 0x10, 0xFF, 0xFF])
    raises(EncodeError, _enc, ndopt.put_hk_reply, 16, 1, ct)
    raises(EncodeError, _enc, ndopt.put_hk_reply, 0, 65536, ct)
    raises(EncodeError, _enc, ndopt.put_hk_reply, 0, -1, ct)
    raises(EncodeError, _enc, ndopt.put_hk_reply, 0, 1, b"")
    bad = bytearray(_enc(ndopt.put_hk_reply, 0, 1, b"ab"))
    assert bad[2] == 0
    bad[2] = 2
    assert len(ndopt.get_hk_reply(bad, 0, 8).enc_key) == 0
    bad[2] = 3
    raises(DecodeError, ndopt.get_hk_reply, bad, 0, 8)
    _truncations_fail(ndopt.get_hk_reply, opt)
    _length_byte_fuzz(ndopt.get_hk_reply, opt)


def test_decoders_return_views_not_copies():
    buf = bytearray(_enc(ndopt.put_nonce, b"abcdef"))
    n = ndopt.get_nonce(buf, 0, 8)
    buf[2] = ord("X")
    assert bytes(n) == b"Xbcdef"


def test_options_walked_then_decoded():
    buf = bytearray(400)
    p = ndopt.put_lla(buf, 0, ndopt.LLA_SOURCE, MAC)
    p = ndopt.put_cga(buf, p, bytes(30))
    p = ndopt.put_timestamp(buf, p, 5 << 16)
    p = ndopt.put_nonce(buf, p, b"123456")
    p = ndopt.put_hk_request(buf, p, 1, bytes(40))
    p = ndopt.put_rsa_sig(buf, p, bytes(16), bytes(64))
    ops = ndopt.walk(buf, 0, p)
    assert [o[0] for o in ops] == [19, 11, 13, 14, 27, 12]
    decoders = {
        19: ndopt.get_lla,
        11: ndopt.get_cga,
        13: ndopt.get_timestamp,
        14: ndopt.get_nonce,
        27: ndopt.get_hk_request,
        12: ndopt.get_rsa_sig,
    }
    for t, off, n in ops:
        decoders[t](buf, off, n)
    assert ndopt.get_timestamp(buf, ops[2][1], ops[2][2]) == 5 << 16
