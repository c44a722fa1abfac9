"""Mobility Header: FBU / FBack layout, the digest §5.9 BADF example, decoding and malformed input."""

import hashlib

from dualtest import raises
from handoverkey.errors import DecodeError, EncodeError
from handoverkey.wire import ipv6, mh

PCOA = bytes.fromhex("20010db8000100000000000000001234")
NCOA = bytes.fromhex("20010db8000200000000000000001234")
PAR = bytes.fromhex("20010db8000100000000000000000001")
KEY = bytes(range(20))

MH_59 = bytes.fromhex(
    "3b0608004a230001c000000a0100031020010db80002000000000000000012340104000000001510"
    "000000003dc017d142b19aa643b973ac"
)
DOPT_59 = bytes.fromhex("870201020000c91020010db8000100000000000000001234")


def _hmac(hfn, key, parts):
    # RFC 2104 written out here, since the crypto package is somebody else's work in progress.
    if len(key) > 64:
        key = hfn(key).digest()
    k = bytes(key) + bytes(64 - len(key))
    inner = hfn(bytes([b ^ 0x36 for b in k]))
    for p in parts:
        inner.update(p)
    outer = hfn(bytes([b ^ 0x5C for b in k]))
    outer.update(inner.digest())
    return outer.digest()


def test_inline_hmac_matches_rfc_2202_and_4231():
    assert _hmac(hashlib.sha1, b"\x0b" * 20, [b"Hi There"]) == bytes.fromhex(
        "b617318655057264e28bc0b6fb378c8ef146be00"
    )
    assert _hmac(hashlib.sha256, b"\x0b" * 20, [b"Hi ", b"There"]) == bytes.fromhex(
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    )


def _fbu_packet(alt=True, auth_len=12, key=KEY, hfn=hashlib.sha1):
    buf = bytearray(200)
    p = ipv6.encode_header(buf, 0, 0, ipv6.NH_DEST_OPTS, 64, NCOA, PAR)
    p = ipv6.encode_dest_opts_hao(buf, p, mh.IPPROTO_MH, PCOA)
    mh_off = p
    end, auth = mh.encode_fbu(buf, p, 1, mh.FBU_A | mh.FBU_H, 10, auth_len, alt_coa=NCOA if alt else None)
    mac = _hmac(hfn, key, mh.badf_mac_parts(buf, mh_off, auth, NCOA, PAR))
    mh.set_authenticator(buf, auth, auth_len, mac)
    ipv6.finish(buf, 0, end)
    return buf, mh_off, end, auth


def test_digest_5_9_worked_example():
    buf, mh_off, end, auth = _fbu_packet()
    assert bytes(buf[40:64]) == DOPT_59
    assert bytes(buf[mh_off:end]) == MH_59
    assert (buf[mh_off + 4] << 8) | buf[mh_off + 5] == 0x4A23
    assert bytes(buf[auth : auth + 12]) == bytes.fromhex("3dc017d142b19aa643b973ac")
    assert auth - mh_off == 44 and end - mh_off == 56


def test_decode_digest_example_and_verify_mac_without_copies():
    frame = bytearray(40) + DOPT_59 + MH_59
    ipv6.encode_header(frame, 0, 80, ipv6.NH_DEST_OPTS, 64, NCOA, PAR)
    pkt = ipv6.decode_packet(frame)
    assert ipv6.verify_upper(frame, pkt)
    m = mh.decode_mh(frame, pkt.payload_off, pkt.payload_end)
    assert m.mh_type == mh.MH_FBU and m.payload_proto == 59
    assert m.seq == 1 and m.flags == 0xC0 and m.lifetime == 10 and m.status == -1
    assert m.checksum == 0x4A23
    assert bytes(m.alt_coa) == NCOA and isinstance(m.alt_coa, memoryview)
    assert m.badf_off == 64 + 38 and m.badf_spi == 0 and m.badf_len_field == 16
    assert m.auth_off == 64 + 44 and m.auth_len == 12
    parts = mh.badf_mac_parts(frame, pkt.payload_off, m.auth_off, m.alt_coa, pkt.dst)
    mac = _hmac(hashlib.sha1, KEY, parts)
    assert mac[:12] == bytes(frame[m.auth_off : m.auth_off + m.auth_len])
    # The pieces are windows on the frame with the checksum replaced by zeros.
    joined = b"".join([bytes(p) for p in parts])
    assert joined == NCOA + PAR + MH_59[:4] + b"\x00\x00" + MH_59[6:44]
    frame[64 + 20] ^= 1
    assert bytes(parts[4])[14] == MH_59[20] ^ 1


def test_layout_at_1_and_all_authenticator_lengths():
    # AT 1: 22-octet BADF at 8n+2; every length ends the MH on an 8-octet boundary.
    for alt in (False, True):
        for auth_len in range(1, 41):
            buf = bytearray(200)
            end, auth = mh.encode_fbu(buf, 8, 0xFFFF, 0xF0, 0xFFFF, auth_len, NCOA if alt else None, 0xA1B2C3D4)
            n = end - 8
            badf = auth - 6
            assert n % 8 == 0 and buf[9] == n // 8 - 1
            assert buf[badf] == 21 and buf[badf + 1] == 4 + auth_len
            assert bytes(buf[badf + 2 : badf + 6]) == bytes.fromhex("a1b2c3d4")
            assert bytes(buf[auth:end]) == bytes(auth_len)
            if auth_len == 12:
                assert (badf - 8) % 8 == 6
            if auth_len == 16:
                assert (badf - 8) % 8 == 2
            if alt:
                assert bytes(buf[20:24]) == bytes([1, 0, 3, 16]) and bytes(buf[24:40]) == NCOA
            m = mh.decode_mh(buf, 8, end)
            assert m.seq == 0xFFFF and m.flags == 0xF0 and m.lifetime == 0xFFFF
            assert m.badf_spi == 0xA1B2C3D4 and m.auth_off == auth and m.auth_len == auth_len
            assert (m.alt_coa is not None) == alt


def test_at1_offsets():
    buf = bytearray(100)
    end, auth = mh.encode_fbu(buf, 0, 1, 0xC0, 10, 16, NCOA)
    assert (end, auth) == (56, 40)
    assert bytes(buf[32:34]) == bytes([1, 0])  # PadN(2) before the BADF at 34
    end, auth = mh.encode_fbu(buf, 0, 1, 0xC0, 10, 16)
    assert (end, auth) == (40, 24)
    assert bytes(buf[12:18]) == bytes([1, 4, 0, 0, 0, 0])
    end, auth = mh.encode_fbu(buf, 0, 1, 0xC0, 10, 12)
    assert (end, auth) == (32, 20)
    assert bytes(buf[12:14]) == bytes([1, 0])


def test_pad1_used_for_a_one_octet_gap():
    buf = bytearray(100)
    end, auth = mh.encode_fbu(buf, 0, 1, 0, 10, 5)  # 12 + 1 + 11 = 24
    assert (end, auth) == (24, 19) and buf[12] == 0 and buf[13] == 21
    assert mh.decode_mh(buf, 0, end).auth_len == 5


def test_fback_round_trip():
    buf = bytearray(100)
    end, auth = mh.encode_fback(buf, 4, mh.FBACK_ACCEPTED_USE_ACOA, mh.FBACK_K, 0x1234, 300, 16, NCOA)
    assert bytes(buf[4:16]) == bytes.fromhex("3b0609000000" + "0180" + "1234" + "012c")
    m = mh.decode_mh(buf, 4, end)
    assert m.mh_type == 9 and m.status == 1 and m.flags == 0x80 and m.seq == 0x1234
    assert m.lifetime == 300 and bytes(m.alt_coa) == NCOA and m.auth_len == 16
    end, auth = mh.encode_fback(buf, 0, 128, 0, 7, 0, 12)
    m = mh.decode_mh(buf, 0, end)
    assert m.status == 128 and m.flags == 0 and m.seq == 7 and m.alt_coa is None


def test_encoder_range_checks():
    buf = bytearray(100)
    bad_fbu = (
        (0x10000, 0xC0, 10, 12, None, 0),
        (-1, 0xC0, 10, 12, None, 0),
        (1, 0x100, 10, 12, None, 0),
        (1, 0x08, 10, 12, None, 0),
        (1, 0xC0, 0x10000, 12, None, 0),
        (1, 0xC0, 10, 0, None, 0),
        (1, 0xC0, 10, 252, None, 0),
        (1, 0xC0, 10, 12, NCOA[:15], 0),
        (1, 0xC0, 10, 12, None, 1 << 32),
        (1, 0xC0, 10, 12, None, -1),
    )
    for args in bad_fbu:
        raises(EncodeError, mh.encode_fbu, buf, 0, *args)
    raises(EncodeError, mh.encode_fback, buf, 0, 256, 0, 1, 1, 12)
    raises(EncodeError, mh.encode_fback, buf, 0, 0, 0x40, 1, 1, 12)
    raises(EncodeError, mh.encode_fback, buf, 0, 0, 0, 0x10000, 1, 12)
    assert bytes(buf) == bytes(100)
    raises(EncodeError, mh.encode_fbu, bytearray(55), 0, 1, 0xC0, 10, 12, NCOA)
    raises(EncodeError, mh.encode_fbu, bytearray(56), 1, 1, 0xC0, 10, 12, NCOA)
    assert mh.encode_fbu(bytearray(56), 0, 1, 0xC0, 10, 12, NCOA) == (56, 44)
    assert mh.encode_fbu(bytearray(300), 0, 1, 0xC0, 10, 251, NCOA)[0] % 8 == 0


def test_decode_rejects_header_len_mismatch_and_truncation():
    buf = bytearray(MH_59) + bytes(8)
    for n in range(len(MH_59) + 8):
        if n != 56:
            raises(DecodeError, mh.decode_mh, buf, 0, n)
    assert mh.decode_mh(buf, 0, 56).seq == 1
    raises(DecodeError, mh.decode_mh, buf, -1, 56)
    raises(DecodeError, mh.decode_mh, MH_59, 0, 57)


def test_decode_rejects_other_mh_types():
    for t in (0, 5, 6, 10, 14, 15, 255):
        buf = bytearray(MH_59)
        buf[2] = t
        raises(DecodeError, mh.decode_mh, buf, 0, 56)


def test_decode_rejects_payload_proto_other_than_59():
    """RFC 6275 §9.2: Payload Proto MUST be IPPROTO_NONE (59), otherwise the message MUST be
    discarded."""
    assert mh.decode_mh(MH_59, 0, 56).payload_proto == 59
    for p in (0, 6, 17, 58, 60, 135, 255):
        buf = bytearray(MH_59)
        buf[0] = p
        raises(DecodeError, mh.decode_mh, buf, 0, 56)


def test_badf_literal_length_reading_is_accepted():
    buf = bytearray(MH_59)
    buf[39] = 12  # Option Length = authenticator only (the RFC 5568 text)
    m = mh.decode_mh(buf, 0, 56)
    assert m.badf_len_field == 12 and m.auth_off == 44 and m.auth_len == 12


def test_badf_other_lengths_rejected():
    for L in (0, 4, 11, 13, 15, 17, 18, 255):
        buf = bytearray(MH_59)
        buf[39] = L
        raises(DecodeError, mh.decode_mh, buf, 0, 56)


def test_badf_not_last():
    # BADF (Length 16) at 14, then a PadN(8) closing the MH: the BADF does not reach the end.
    buf = bytearray(40)
    buf[0:12] = bytes.fromhex("3b04080000000001c000000a")
    buf[12:14] = bytes([1, 0])
    buf[14:16] = bytes([21, 16])
    buf[32:40] = bytes([1, 6, 0, 0, 0, 0, 0, 0])
    raises(DecodeError, mh.decode_mh, buf, 0, 40)


def test_missing_badf():
    buf = bytearray(MH_59)
    buf[38] = 99  # unknown option type: skipped, and no BADF follows
    raises(DecodeError, mh.decode_mh, buf, 0, 56)
    buf = bytearray(bytes.fromhex("3b01080000000001c000000a01020000"))
    raises(DecodeError, mh.decode_mh, buf, 0, 16)
    raises(DecodeError, mh.decode_mh, bytes.fromhex("3b00080000000001"), 0, 8)


def test_alternate_coa_errors():
    buf = bytearray(MH_59)
    buf[15] = 15
    raises(DecodeError, mh.decode_mh, buf, 0, 56)
    # Two Alternate CoA options, each at 8n+6, then a correctly placed BADF.
    body = (
        bytes.fromhex("3b08080000000001c000000a")
        + bytes([1, 0, 3, 16]) + NCOA
        + bytes([1, 0, 3, 16]) + NCOA
        + bytes([1, 0, 21, 16, 0, 0, 0, 0]) + bytes(12)
    )
    assert len(body) == 72
    raises(DecodeError, mh.decode_mh, body, 0, 72)
    ok = body[:32] + bytes([1, 18]) + bytes(18) + body[52:]
    assert mh.decode_mh(ok, 0, 72).auth_len == 12


def test_option_overrun_and_cap():
    buf = bytearray(MH_59)
    buf[33] = 200  # PadN claims more than is left
    raises(DecodeError, mh.decode_mh, buf, 0, 56)
    buf = bytearray(MH_59)
    buf[32:38] = bytes(6)  # six Pad1 instead of PadN: still fine
    assert mh.decode_mh(buf, 0, 56).auth_len == 12
    many = bytearray(8 + 8 * 9)
    many[0:12] = bytes.fromhex("3b09080000000001c000000a")
    for i in range(12, 62):
        many[i] = 0  # 50 Pad1 before the BADF
    many[62:64] = bytes([21, 16])
    raises(DecodeError, mh.decode_mh, many, 0, 80)
    many[12] = 1
    many[13] = 48  # one PadN instead
    assert mh.decode_mh(many, 0, 80).auth_len == 12


def test_unknown_options_are_skipped():
    buf = bytearray(MH_59)
    buf[32:38] = bytes([7, 4, 2, 0xAA, 0xBB, 0xCC])  # MH-LLA (type 7): not ours, skipped
    m = mh.decode_mh(buf, 0, 56)
    assert m.auth_len == 12 and bytes(m.alt_coa) == NCOA


def test_mac_parts_bounds_and_set_authenticator():
    raises(DecodeError, mh.badf_mac_parts, MH_59, 0, 11, NCOA, PAR)
    raises(DecodeError, mh.badf_mac_parts, MH_59, -1, 44, NCOA, PAR)
    raises(DecodeError, mh.badf_mac_parts, MH_59, 0, 57, NCOA, PAR)
    raises(DecodeError, mh.badf_mac_parts, MH_59, 0, 44, NCOA[:8], PAR)
    buf = bytearray(20)
    mh.set_authenticator(buf, 4, 12, bytes(range(20)))
    assert bytes(buf) == bytes(4) + bytes(range(12)) + bytes(4)
    raises(EncodeError, mh.set_authenticator, buf, 10, 12, bytes(20))
    raises(EncodeError, mh.set_authenticator, buf, 0, 12, bytes(11))


def test_fbu_from_nar_link_and_at1_sha256():
    # No HAO rewrite needed for the key index, but FBUs always carry it; no ACoA here.
    buf, mh_off, end, auth = _fbu_packet(alt=False, auth_len=16, key=bytes(32), hfn=hashlib.sha256)
    pkt = ipv6.decode_packet(buf, 0, end)
    assert ipv6.verify_upper(buf, pkt)
    m = mh.decode_mh(buf, pkt.payload_off, pkt.payload_end)
    assert m.alt_coa is None and m.auth_len == 16 and m.badf_len_field == 20
    coa = pkt.src if m.alt_coa is None else m.alt_coa
    mac = _hmac(hashlib.sha256, bytes(32), mh.badf_mac_parts(buf, m.off, m.auth_off, coa, pkt.dst))
    assert mac[:16] == bytes(buf[m.auth_off : m.auth_off + 16])
