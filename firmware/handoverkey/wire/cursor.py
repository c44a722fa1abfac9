"""Bounded Reader and Writer over a caller-owned buffer: every access is checked before it happens."""

from ..errors import DecodeError, EncodeError


class Reader:
    """Reads big-endian integers and views from buf[off:end].

    Every method checks the bounds first; a read that does not fit raises DecodeError and
    leaves `pos` where it was, so a caller can report or retry from a known position."""

    __slots__ = ("buf", "pos", "end", "_mv")

    def __init__(self, buf, off=0, end=None):
        n = len(buf)
        if end is None:
            end = n
        if off < 0 or end > n or off > end:
            raise DecodeError("reader bounds")
        self.buf = buf
        self.pos = off
        self.end = end
        self._mv = None

    def remaining(self):
        return self.end - self.pos

    def _take(self, n):
        # Returns the start of n octets and advances; nothing is read before the check.
        p = self.pos
        if n < 0 or self.end - p < n:
            raise DecodeError("read past end")
        self.pos = p + n
        return p

    def u8(self):
        p = self._take(1)
        return self.buf[p]

    def u16(self):
        p = self._take(2)
        b = self.buf
        return (b[p] << 8) | b[p + 1]

    def u32(self):
        p = self._take(4)
        b = self.buf
        # Two 16-bit halves keep the intermediate values small on 32-bit boards.
        return (((b[p] << 8) | b[p + 1]) << 16) | (b[p + 2] << 8) | b[p + 3]

    def u64(self):
        p = self._take(8)
        b = self.buf
        hi = (((b[p] << 8) | b[p + 1]) << 16) | (b[p + 2] << 8) | b[p + 3]
        lo = (((b[p + 4] << 8) | b[p + 5]) << 16) | (b[p + 6] << 8) | b[p + 7]
        return (hi << 32) | lo

    def view(self, n):
        """The next n octets as a memoryview into buf (no copy)."""
        p = self._take(n)
        mv = self._mv
        if mv is None:
            mv = self._mv = memoryview(self.buf)
        return mv[p : p + n]

    def skip(self, n):
        self._take(n)


class Writer:
    """Writes big-endian integers and bytes into buf[off:end], range-checking every value.

    A value out of range or a write past `end` raises EncodeError before any octet is written."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf, off=0, end=None):
        n = len(buf)
        if end is None:
            end = n
        if off < 0 or end > n or off > end:
            raise EncodeError("writer bounds")
        self.buf = buf
        self.pos = off
        self.end = end

    def remaining(self):
        return self.end - self.pos

    def _take(self, n):
        p = self.pos
        if self.end - p < n:
            raise EncodeError("write past end")
        self.pos = p + n
        return p

    def u8(self, v):
        if type(v) is not int or v < 0 or v > 0xFF:
            raise EncodeError("u8 out of range")
        p = self._take(1)
        self.buf[p] = v

    def u16(self, v):
        if type(v) is not int or v < 0 or v > 0xFFFF:
            raise EncodeError("u16 out of range")
        p = self._take(2)
        b = self.buf
        b[p] = v >> 8
        b[p + 1] = v & 0xFF

    def u32(self, v):
        if type(v) is not int or v < 0 or v > 0xFFFFFFFF:
            raise EncodeError("u32 out of range")
        p = self._take(4)
        put_u32(self.buf, p, v)

    def u64(self, v):
        if type(v) is not int or v < 0 or v > 0xFFFFFFFFFFFFFFFF:
            raise EncodeError("u64 out of range")
        p = self._take(8)
        put_u32(self.buf, p, v >> 32)
        put_u32(self.buf, p + 4, v & 0xFFFFFFFF)

    def put(self, data):
        """Copy a bytes-like value (bytes, bytearray, memoryview) in."""
        n = len(data)
        p = self._take(n)
        self.buf[p : p + n] = data

    def zeros(self, n):
        if type(n) is not int or n < 0:
            raise EncodeError("zeros count")
        p = self._take(n)
        b = self.buf
        for i in range(p, p + n):
            b[i] = 0


def put_u32(buf, p, v):
    """Store a value already known to fit in 32 bits; callers check ranges and room."""
    hi = v >> 16
    buf[p] = hi >> 8
    buf[p + 1] = hi & 0xFF
    buf[p + 2] = (v >> 8) & 0xFF
    buf[p + 3] = v & 0xFF
