"""Bounded Reader / Writer: values, bounds checked before access, position kept on failure."""

from dualtest import raises
from handoverkey.errors import DecodeError, EncodeError
from handoverkey.wire.cursor import Reader, Writer, put_u32

_DATA = bytes.fromhex("01 0203 04050607 08090a0b0c0d0e0f ff".replace(" ", ""))


def test_reader_values_in_order():
    r = Reader(_DATA)
    assert r.u8() == 1
    assert r.u16() == 0x0203
    assert r.u32() == 0x04050607
    assert r.u64() == 0x08090A0B0C0D0E0F
    assert r.pos == 15
    assert r.remaining() == 1
    assert r.u8() == 0xFF
    assert r.remaining() == 0


def test_reader_large_values():
    r = Reader(b"\xff" * 8 + b"\x80\x00\x00\x00")
    assert r.u64() == 0xFFFFFFFFFFFFFFFF
    assert r.u32() == 0x80000000


def test_reader_respects_off_and_end():
    r = Reader(_DATA, 3, 7)
    assert r.pos == 3 and r.end == 7
    assert r.u32() == 0x04050607
    raises(DecodeError, r.u8)
    assert r.pos == 7


def test_failed_reads_leave_pos_unchanged():
    for n in range(8):
        for name in ("u16", "u32", "u64"):
            need = {"u16": 2, "u32": 4, "u64": 8}[name]
            if n >= need:
                continue
            r = Reader(bytes(n))
            raises(DecodeError, getattr(r, name))
            assert r.pos == 0
    r = Reader(b"\x01\x02\x03", 1)
    raises(DecodeError, r.view, 3)
    assert r.pos == 1
    raises(DecodeError, r.skip, 3)
    assert r.pos == 1
    raises(DecodeError, r.view, -1)
    raises(DecodeError, r.skip, -1)
    assert r.pos == 1
    r.skip(2)
    assert r.pos == 3
    raises(DecodeError, r.u8)
    assert r.pos == 3


def test_view_is_a_window_not_a_copy():
    buf = bytearray(b"abcdef")
    r = Reader(buf, 1)
    v = r.view(3)
    assert isinstance(v, memoryview)
    assert bytes(v) == b"bcd"
    buf[2] = ord("X")
    assert bytes(v) == b"bXd"
    assert r.pos == 4
    assert len(r.view(0)) == 0
    assert bytes(r.view(2)) == b"ef"


def test_reader_over_memoryview():
    r = Reader(memoryview(_DATA)[1:5])
    assert r.u16() == 0x0203
    assert bytes(r.view(2)) == b"\x04\x05"


def test_reader_bad_bounds():
    raises(DecodeError, Reader, b"abc", 4)
    raises(DecodeError, Reader, b"abc", -1)
    raises(DecodeError, Reader, b"abc", 0, 4)
    raises(DecodeError, Reader, b"abc", 2, 1)
    assert Reader(b"abc", 3).remaining() == 0


def test_writer_values():
    buf = bytearray(16)
    w = Writer(buf)
    w.u8(1)
    w.u16(0x0203)
    w.u32(0x04050607)
    w.u64(0x08090A0B0C0D0E0F)
    w.u8(0xFF)
    assert w.pos == 16
    assert bytes(buf) == _DATA


def test_writer_put_and_zeros():
    buf = bytearray(b"\xaa" * 12)
    w = Writer(buf, 1, 11)
    w.put(b"xy")
    w.put(bytearray(b"z"))
    w.put(memoryview(b"0123")[1:3])
    w.zeros(3)
    assert w.pos == 9
    assert w.remaining() == 2
    assert bytes(buf) == b"\xaaxyz12\x00\x00\x00\xaa\xaa\xaa"


def test_writer_range_checks():
    w = Writer(bytearray(16))
    for fn, bad in (
        (w.u8, (-1, 256, None, True)),
        (w.u16, (-1, 0x10000, None)),
        (w.u32, (-1, 0x100000000, None)),
        (w.u64, (-1, 1 << 64, None)),
    ):
        for v in bad:
            raises(EncodeError, fn, v)
    raises(EncodeError, w.zeros, -1)
    assert w.pos == 0
    w.u64((1 << 64) - 1)
    w.u32(0xFFFFFFFF)
    w.u16(0xFFFF)
    w.u8(0)
    w.u8(255)
    assert w.pos == 16


def test_writer_overrun_is_encode_error_and_writes_nothing():
    buf = bytearray(b"\xee" * 6)
    w = Writer(buf, 0, 5)
    w.u16(0x1122)
    raises(EncodeError, w.u32, 0)
    raises(EncodeError, w.u64, 0)
    raises(EncodeError, w.put, b"abcd")
    raises(EncodeError, w.zeros, 4)
    assert w.pos == 2
    assert bytes(buf) == b"\x11\x22\xee\xee\xee\xee"
    w.put(b"abc")
    raises(EncodeError, w.u8, 1)
    assert bytes(buf) == b"\x11\x22abc\xee"


def test_writer_bad_bounds():
    raises(EncodeError, Writer, bytearray(3), 4)
    raises(EncodeError, Writer, bytearray(3), -1)
    raises(EncodeError, Writer, bytearray(3), 0, 4)


def test_writer_reader_round_trip():
    buf = bytearray(40)
    w = Writer(buf, 3)
    vals = (0, 1, 0x7F, 0x80, 0xFF)
    for v in vals:
        w.u8(v)
    for v in (0, 0x8000, 0xFFFF):
        w.u16(v)
    for v in (0x3FFFFFFF, 0x40000000, 0xFFFFFFFF):
        w.u32(v)
    w.u64(0x0123456789ABCDEF)
    r = Reader(buf, 3, w.pos)
    assert [r.u8() for _ in vals] == list(vals)
    assert [r.u16() for _ in range(3)] == [0, 0x8000, 0xFFFF]
    assert [r.u32() for _ in range(3)] == [0x3FFFFFFF, 0x40000000, 0xFFFFFFFF]
    assert r.u64() == 0x0123456789ABCDEF
    assert r.remaining() == 0


def test_put_u32():
    buf = bytearray(6)
    put_u32(buf, 1, 0xDEADBEEF)
    assert bytes(buf) == b"\x00\xde\xad\xbe\xef\x00"
