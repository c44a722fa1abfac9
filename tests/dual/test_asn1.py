"""DER reader: header and length rules, INTEGER/OID/BIT STRING/BOOLEAN/NULL, UTCTime and GeneralizedTime."""

from dualtest import raises
from handoverkey.errors import DecodeError
from handoverkey.send import asn1

H = bytes.fromhex


def _hdr(b):
    return asn1.read_header(b, 0, len(b))


def test_header_short_and_long_form():
    assert _hdr(H("0400")) == (0x04, 2, 2)
    assert _hdr(H("04027f7f")) == (0x04, 2, 4)
    b = H("0481") + bytes([0x80]) + bytes(0x80)
    assert _hdr(b) == (0x04, 3, 3 + 0x80)
    b = H("04820100") + bytes(256)
    assert _hdr(b) == (0x04, 4, 4 + 256)


def test_header_value_end_bounded_by_end_not_buffer():
    b = H("0402aabb0000")
    # The TLV fits in the buffer but not in [0, 3): refused.
    raises(DecodeError, asn1.read_header, b, 0, 3)
    assert asn1.read_header(b, 0, 4) == (0x04, 2, 4)


def test_header_rejects_non_der_lengths():
    raises(DecodeError, _hdr, H("04817f") + bytes(0x7F))  # long form for a short length
    raises(DecodeError, _hdr, H("0482007f") + bytes(0x7F))  # leading zero length octet
    raises(DecodeError, _hdr, H("04820080") + bytes(0x80))
    raises(DecodeError, _hdr, H("3080") + H("0000"))  # indefinite length
    raises(DecodeError, _hdr, H("0485") + bytes(5))  # more than 4 length octets
    raises(DecodeError, _hdr, H("0480"))


def test_header_truncations():
    for b in (b"", H("04"), H("0401"), H("0402aa"), H("0482"), H("048201"), H("04820100")):
        raises(DecodeError, _hdr, b)


def test_header_bounds_checked_first():
    b = H("0400")
    raises(DecodeError, asn1.read_header, b, 0, 3)  # end beyond the buffer
    raises(DecodeError, asn1.read_header, b, -1, 2)
    raises(DecodeError, asn1.read_header, b, 2, 2)


def test_multi_byte_tag_refused():
    raises(DecodeError, _hdr, H("1f8101") + H("00"))
    raises(DecodeError, _hdr, H("bf2000"))


def test_header_at_offset_in_memoryview():
    mv = memoryview(H("ffff300304010000ff"))
    assert asn1.read_header(mv, 2, 7) == (0x30, 4, 7)
    assert asn1.expect(mv, 2, 7, asn1.SEQUENCE) == (4, 7)
    raises(DecodeError, asn1.expect, mv, 2, 7, asn1.SET)


def test_items_and_peek():
    b = H("300802010104010005000000")
    voff, vend = asn1.expect(b, 0, len(b) - 2, asn1.SEQUENCE)
    got = [t for t, _a, _b in asn1.items(b, voff, vend)]
    assert got == [0x02, 0x04, 0x05]
    assert asn1.peek_tag(b, vend, vend) == -1
    assert asn1.peek_tag(b, voff, vend) == 0x02
    assert asn1.skip(b, 0, len(b)) == 10
    # A child running past its parent's end is refused even if the buffer has the bytes.
    raises(DecodeError, list, asn1.items(H("020201"), 0, 3))


def test_integer_values():
    assert asn1.read_integer(H("020100"), 0, 3) == (0, 3)
    assert asn1.read_integer(H("02017f"), 0, 3) == (127, 3)
    assert asn1.read_integer(H("02020080"), 0, 4) == (128, 4)
    assert asn1.read_integer(H("02030100ff"), 0, 5) == (0x100FF, 5)
    big = H("0211") + H("00") + b"\xff" * 16
    assert asn1.read_integer(big, 0, len(big))[0] == (1 << 128) - 1


def test_integer_rejects():
    raises(DecodeError, asn1.read_integer, H("0200"), 0, 2)  # empty
    raises(DecodeError, asn1.read_integer, H("020180"), 0, 3)  # negative
    raises(DecodeError, asn1.read_integer, H("0202ff7f"), 0, 4)  # negative
    raises(DecodeError, asn1.read_integer, H("0202007f"), 0, 4)  # non-minimal
    raises(DecodeError, asn1.read_integer, H("02020000"), 0, 4)  # non-minimal zero
    raises(DecodeError, asn1.read_integer, H("0203010000"), 0, 5, 2)  # over max_octets
    raises(DecodeError, asn1.read_integer, H("0401aa"), 0, 3)  # wrong tag


def test_oid():
    assert asn1.read_oid(H("0603551d13"), 0, 5) == (H("551d13"), 5)
    sha256rsa = H("06092a864886f70d01010b")
    assert asn1.read_oid(sha256rsa, 0, len(sha256rsa))[0] == H("2a864886f70d01010b")
    raises(DecodeError, asn1.read_oid, H("0600"), 0, 2)
    raises(DecodeError, asn1.read_oid, H("06028001"), 0, 4)  # leading 0x80 in a subidentifier
    raises(DecodeError, asn1.read_oid, H("0603558001"), 0, 5)
    raises(DecodeError, asn1.read_oid, H("06025586"), 0, 4)  # last subidentifier unfinished
    raises(DecodeError, asn1.read_oid, H("060255ff"), 0, 4)


def test_oid_key_is_bytes_usable_as_dict_key():
    k, _n = asn1.read_oid(memoryview(H("0603551d25")), 0, 5)
    assert isinstance(k, bytes)
    assert {k: 1}[H("551d25")] == 1


def test_bit_string():
    assert asn1.read_bit_string(H("030100"), 0, 3) == (0, 3, 3, 3)
    assert asn1.read_bit_string(H("030204f0"), 0, 4) == (4, 3, 4, 4)
    assert asn1.read_bit_string(H("03030080ff"), 0, 5) == (0, 3, 5, 5)
    raises(DecodeError, asn1.read_bit_string, H("0300"), 0, 2)  # no unused-bits octet
    raises(DecodeError, asn1.read_bit_string, H("030101"), 0, 3)  # unused bits with no data
    raises(DecodeError, asn1.read_bit_string, H("030208ff"), 0, 4)  # unused > 7
    raises(DecodeError, asn1.read_bit_string, H("030204f8"), 0, 4)  # unused bits not zero


def test_octet_string_boolean_null():
    assert asn1.read_octet_string(H("0402aabb"), 0, 4) == (2, 4)
    assert asn1.read_boolean(H("0101ff"), 0, 3) == (True, 3)
    assert asn1.read_boolean(H("010100"), 0, 3) == (False, 3)
    raises(DecodeError, asn1.read_boolean, H("010101"), 0, 3)  # DER TRUE is 0xFF only
    raises(DecodeError, asn1.read_boolean, H("0102ffff"), 0, 4)
    raises(DecodeError, asn1.read_boolean, H("0100"), 0, 2)
    assert asn1.read_null(H("0500"), 0, 2) == 2
    raises(DecodeError, asn1.read_null, H("050100"), 0, 3)


def test_context_tags():
    assert asn1.ctx(0) == 0xA0 == asn1.CTX0
    assert asn1.ctx(3) == 0xA3 == asn1.CTX3
    assert asn1.ctx_prim(1) == 0x81


def _t(tag, text):
    b = bytes([tag, len(text)]) + bytes(text, "ascii")
    return asn1.read_time(b, 0, len(b))[0]


def _u(text):
    return _t(asn1.UTC_TIME, text)


def _g(text):
    return _t(asn1.GENERALIZED_TIME, text)


def test_utctime_known_values():
    assert _u("700101000000Z") == 0
    assert _u("260101000000Z") == 1767225600
    assert _u("000229120000Z") == 951825600  # 2000 is a leap year
    assert _u("380119031408Z") == 2147483648


def test_utctime_pivot_49_50():
    # RFC 5280 §4.1.2.5.1: YY >= 50 means 19YY, YY < 50 means 20YY.
    assert _u("491231235959Z") == 2524607999
    assert _u("500101000000Z") == -631152000
    assert _u("991231235959Z") == 946684799


def test_generalizedtime_known_values():
    assert _g("19700101000000Z") == 0
    assert _g("20380119031408Z") == 2147483648
    assert _g("20500101000000Z") == 2524608000
    assert _g("99991231235959Z") == 253402300799
    assert _g("20270601000000Z") == 1811808000
    assert _g("00010101000000Z") == -62135596800
    assert _g("24000229000000Z") - _g("24000228000000Z") == 86400


def test_time_rejects():
    for text in (
        "010229000000Z",  # 2001 is not a leap year
        "991301000000Z",
        "990001000000Z",
        "990100000000Z",
        "990431000000Z",
        "990101240000Z",
        "990101006000Z",
        "990101000060Z",  # no leap seconds in DER times
        "9901010000Z",  # seconds are mandatory
        "990101000000",  # Z is mandatory
        "990101000000+0000",
        "99010100000aZ",
        "99-101000000Z",
    ):
        raises(DecodeError, _u, text)
    for text in ("21000229000000Z", "20000101000000.5Z", "200001010000Z", "20000101000000z", "0000010100000Z"):
        raises(DecodeError, _g, text)
    raises(DecodeError, _t, asn1.OCTET_STRING, "700101000000Z")
    # A UTCTime that has the GeneralizedTime length is wrong, and the reverse.
    raises(DecodeError, _u, "19700101000000Z")
    raises(DecodeError, _g, "700101000000Z")


def test_every_truncation_raises_decode_error():
    inner = H("020101" + "0603551d13" + "030400ffff00" + "0101ff" + "170d" + "3730303130313030303030305a")
    blob = bytes([0x30, len(inner)]) + inner
    t, voff, vend = asn1.read_header(blob, 0, len(blob))
    assert vend == len(blob)
    for cut in range(len(blob)):
        raises(DecodeError, asn1.read_header, blob, 0, cut)


def test_random_bytes_only_decode_error():
    # A small LCG keeps the bytes identical on both interpreters.
    x = 12345
    readers = (
        asn1.read_header,
        asn1.read_integer,
        asn1.read_oid,
        asn1.read_bit_string,
        asn1.read_boolean,
        asn1.read_null,
        asn1.read_time,
        asn1.read_octet_string,
    )
    for _ in range(400):
        n = x % 20
        b = bytearray(n)
        for i in range(n):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            b[i] = (x >> 16) & 0xFF
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        for fn in readers:
            try:
                fn(b, 0, n)
            except DecodeError:
                pass
