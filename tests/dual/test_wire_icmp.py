"""RtSolPr, PrRtAdv, CPS and CPA: fixed parts, option walk, signature position, malformed input."""

from dualtest import raises
from handoverkey.errors import DecodeError, EncodeError
from handoverkey.wire import icmp, ipv6, ndopt

MN = bytes.fromhex("20010db8000100000000000000001234")
AR = bytes.fromhex("fe800000000000000000000000000001")
MAC = bytes.fromhex("020000000001")


def test_fixed_parts():
    buf = bytearray(b"\xee" * 14)
    assert icmp.encode_rtsolpr(buf, 1, 0x1234) == 9
    assert bytes(buf[1:9]) == bytes.fromhex("9a00000002001234")
    assert buf[0] == 0xEE and buf[9] == 0xEE
    for code in range(6):
        assert icmp.encode_prrtadv(buf, 0, code, 0xBEEF) == 8
        assert bytes(buf[:8]) == bytes([154, code, 0, 0, 3, 0, 0xBE, 0xEF])
    assert icmp.encode_cps(buf, 0, 0x0102) == 8
    assert bytes(buf[:8]) == bytes.fromhex("9400000001 02ffff".replace(" ", ""))
    assert icmp.encode_cps(buf, 0, 7, 3) == 8
    assert bytes(buf[:8]) == bytes.fromhex("9400000000070003")
    assert icmp.encode_cpa(buf, 2, 0x0102, 3, 1) == 14
    assert bytes(buf[2:14]) == bytes.fromhex("950000000102000300010000")


def test_fixed_part_range_checks():
    buf = bytearray(16)
    raises(EncodeError, icmp.encode_rtsolpr, buf, 0, 0x10000)
    raises(EncodeError, icmp.encode_rtsolpr, buf, 0, -1)
    raises(EncodeError, icmp.encode_prrtadv, buf, 0, 6, 1)
    raises(EncodeError, icmp.encode_prrtadv, buf, 0, -1, 1)
    raises(EncodeError, icmp.encode_cps, buf, 0, 1, 0x10000)
    raises(EncodeError, icmp.encode_cpa, buf, 0, 1, 0x10000, 0)
    raises(EncodeError, icmp.encode_cpa, buf, 0, 1, 1, -1)
    raises(EncodeError, icmp.encode_rtsolpr, bytearray(7), 0, 1)
    raises(EncodeError, icmp.encode_cpa, bytearray(11), 0, 1, 1, 0)
    raises(EncodeError, icmp.encode_cps, bytearray(9), 2, 1)
    assert bytes(buf) == bytes(16)


def _rtsolpr(trailing=b""):
    buf = bytearray(800)
    p = icmp.encode_rtsolpr(buf, 40, 0x4242)
    p = ndopt.put_lla(buf, p, ndopt.LLA_SOURCE, MAC)
    p = ndopt.put_lla(buf, p, ndopt.LLA_NEW_AP, b"\x02\x00\x00\x00\x00\x09")
    p = ndopt.put_cga(buf, p, bytes(187))
    p = ndopt.put_timestamp(buf, p, ndopt.timestamp_from_wall(1700000000))
    p = ndopt.put_nonce(buf, p, b"noncex")
    p = ndopt.put_hk_request(buf, p, 1, bytes(162))
    p = ndopt.put_rsa_sig(buf, p, bytes(16), bytes(128))
    buf[p : p + len(trailing)] = trailing
    p += len(trailing)
    ipv6.encode_header(buf, 0, 0, 58, 255, MN, AR)
    ipv6.finish(buf, 0, p)
    return buf, p


def test_decode_rtsolpr_with_options():
    buf, end = _rtsolpr()
    pkt = ipv6.decode_packet(buf, 0, end)
    assert ipv6.verify_upper(buf, pkt)
    m = icmp.decode_icmp(buf, pkt.payload_off, pkt.payload_end)
    assert m.type == 154 and m.subtype == 2 and m.code == 0 and m.identifier == 0x4242
    assert m.checksum == (buf[42] << 8) | buf[43]
    assert m.off == 40 and m.end == end and m.opts_off == 48
    assert [o[0] for o in m.options] == [19, 19, 11, 13, 14, 27, 12]
    assert m.sig_off == m.options[-1][1]
    assert m.find(ndopt.OPT_HK_REQUEST) == m.options[5]
    assert m.find(ndopt.OPT_LLA) == m.options[0]
    assert m.find(ndopt.OPT_HK_REPLY) is None
    assert m.find_all(ndopt.OPT_LLA) == m.options[:2]
    assert m.component == -1 and m.all_components == -1
    t, off, n = m.find(ndopt.OPT_NONCE)
    assert bytes(ndopt.get_nonce(buf, off, n)) == b"noncex"


def test_options_after_signature_are_ignored():
    junk = bytes([14, 1]) + b"abcdef" + bytes([99, 0, 1, 2, 3, 4, 5, 6]) + b"\x01"
    buf, end = _rtsolpr(junk)
    m = icmp.decode_icmp(buf, 40, end)
    assert len(m.options) == 7 and m.options[-1][0] == 12
    assert m.find_all(ndopt.OPT_NONCE) == [m.options[4]]


def test_decode_prrtadv_all_codes():
    for code in range(6):
        buf = bytearray(400)
        p = icmp.encode_prrtadv(buf, 0, code, 9)
        p = ndopt.put_ip_addr(buf, p, ndopt.IPA_NAR_ADDR, 128, MN)
        p = ndopt.put_hk_reply(buf, p, 0, 43200, bytes(128))
        m = icmp.decode_icmp(buf, 0, p)
        assert m.subtype == 3 and m.code == code and m.identifier == 9
        assert [o[0] for o in m.options] == [17, 28] and m.sig_off == -1


def test_decode_cps_and_cpa():
    buf = bytearray(100)
    p = icmp.encode_cps(buf, 0, 0x1111)
    p = ndopt.put_trust_anchor(buf, p, 1, b"name")
    m = icmp.decode_icmp(buf, 0, p)
    assert m.type == 148 and m.identifier == 0x1111 and m.component == 65535
    assert m.subtype == -1 and m.all_components == -1
    assert m.opts_off == 8 and m.options == [(15, 8, 8)]
    p = icmp.encode_cpa(buf, 0, 0x2222, 2, 1)
    p = ndopt.put_certificate(buf, p, 1, b"\x30\x03abc")
    m = icmp.decode_icmp(buf, 0, p)
    assert m.type == 149 and m.identifier == 0x2222 and m.all_components == 2 and m.component == 1
    assert m.opts_off == 12 and m.options == [(16, 12, 16)]


def test_unknown_types_subtypes_and_codes():
    buf = bytearray(16)
    icmp.encode_rtsolpr(buf, 0, 1)
    for t in (128, 133, 134, 150, 155, 0, 255):
        buf[0] = t
        raises(DecodeError, icmp.decode_icmp, buf, 0, 8)
    buf[0] = 154
    for sub in (0, 1, 4, 5, 255):
        buf[4] = sub
        raises(DecodeError, icmp.decode_icmp, buf, 0, 8)
    buf[4] = 2
    buf[1] = 1
    raises(DecodeError, icmp.decode_icmp, buf, 0, 8)
    buf[4] = 3
    assert icmp.decode_icmp(buf, 0, 8).code == 1
    buf[1] = 6
    raises(DecodeError, icmp.decode_icmp, buf, 0, 8)
    icmp.encode_cps(buf, 0, 1)
    buf[1] = 1
    raises(DecodeError, icmp.decode_icmp, buf, 0, 8)
    icmp.encode_cpa(buf, 0, 1, 1, 0)
    buf[1] = 1
    raises(DecodeError, icmp.decode_icmp, buf, 0, 12)


def test_short_headers():
    buf = bytearray(16)
    icmp.encode_cpa(buf, 0, 1, 1, 0)
    for n in range(12):
        raises(DecodeError, icmp.decode_icmp, buf, 0, n)
    icmp.encode_rtsolpr(buf, 0, 1)
    for n in range(8):
        raises(DecodeError, icmp.decode_icmp, buf, 0, n)
    raises(DecodeError, icmp.decode_icmp, buf, 0, 17)
    raises(DecodeError, icmp.decode_icmp, buf, -1, 8)


def test_truncation_at_every_length_gives_fewer_options_or_error():
    buf, end = _rtsolpr()
    full = icmp.decode_icmp(buf, 40, end)
    bounds = [o[1] for o in full.options] + [end]
    for cut in range(40, end):
        if cut in bounds:
            m = icmp.decode_icmp(buf, 40, cut)
            assert m.options == [o for o in full.options if o[1] < cut]
        else:
            raises(DecodeError, icmp.decode_icmp, buf, 40, cut)


def test_malformed_option_drops_message():
    buf, end = _rtsolpr()
    m = icmp.decode_icmp(buf, 40, end)
    bad = bytearray(buf)
    bad[m.options[3][1] + 1] = 0
    raises(DecodeError, icmp.decode_icmp, bad, 40, end)
    bad = bytearray(buf)
    bad[m.options[5][1] + 1] = 200
    raises(DecodeError, icmp.decode_icmp, bad, 40, end)
