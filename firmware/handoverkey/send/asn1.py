"""A small strict DER reader over (buf, off, end): headers, INTEGER, OID, strings, times, BOOLEAN."""

from handoverkey._compat import const
from handoverkey.errors import DecodeError

# Universal tags as they appear on the wire (constructed bit included where DER requires it).
BOOLEAN = const(0x01)
INTEGER = const(0x02)
BIT_STRING = const(0x03)
OCTET_STRING = const(0x04)
NULL = const(0x05)
OID = const(0x06)
UTC_TIME = const(0x17)
GENERALIZED_TIME = const(0x18)
SEQUENCE = const(0x30)
SET = const(0x31)

# Context-specific tags: explicit (constructed) [n] is 0xA0 | n, implicit primitive [n] is 0x80 | n.
CTX0 = const(0xA0)
CTX3 = const(0xA3)

_MAX_LEN_OCTETS = const(4)  # 4 GB is far beyond anything a SEND frame can carry
_DAY_S = const(86400)


def ctx(n):
    """The tag of an explicit (constructed) context-specific [n], 0 <= n <= 30."""
    return 0xA0 | n


def ctx_prim(n):
    """The tag of an implicit primitive context-specific [n], 0 <= n <= 30."""
    return 0x80 | n


def read_header(buf, off, end):
    """Read one TLV header at off: returns (tag, value_off, value_end), value_end <= end."""
    if off < 0 or end > len(buf) or off + 2 > end:
        raise DecodeError("der: truncated header")
    tag = buf[off]
    # High-tag-number form (low five bits all set) never occurs in X.509; refusing it keeps tags one byte.
    if tag & 0x1F == 0x1F:
        raise DecodeError("der: multi-byte tag")
    first = buf[off + 1]
    p = off + 2
    if first < 0x80:
        n = first
    elif first == 0x80:
        raise DecodeError("der: indefinite length")
    else:
        k = first & 0x7F
        if k > _MAX_LEN_OCTETS or p + k > end:
            raise DecodeError("der: bad length")
        # DER: the shortest form, so no leading zero octet and no long form for short values.
        if buf[p] == 0:
            raise DecodeError("der: non-minimal length")
        n = 0
        for i in range(k):
            n = (n << 8) | buf[p + i]
        if n < 0x80:
            raise DecodeError("der: non-minimal length")
        p += k
    if n > end - p:
        raise DecodeError("der: value overruns")
    return tag, p, p + n


def expect(buf, off, end, tag):
    """Read a TLV that must carry `tag`: returns (value_off, value_end)."""
    t, voff, vend = read_header(buf, off, end)
    if t != tag:
        raise DecodeError("der: unexpected tag")
    return voff, vend


def skip(buf, off, end):
    """The offset just after the TLV at off (also: where a DER object followed by padding ends)."""
    return read_header(buf, off, end)[2]


def peek_tag(buf, off, end):
    """The tag at off, or -1 when off == end (end of the enclosing value)."""
    if off >= end:
        return -1
    return buf[off]


def items(buf, off, end):
    """Yield (tag, value_off, value_end) for each TLV filling [off, end) exactly (SEQUENCE OF / SET OF)."""
    while off < end:
        tag, voff, vend = read_header(buf, off, end)
        yield tag, voff, vend
        off = vend


def int_value(buf, voff, vend):
    """A non-negative minimally encoded INTEGER from its content octets."""
    n = vend - voff
    if n <= 0:
        raise DecodeError("der: empty integer")
    b0 = buf[voff]
    if b0 & 0x80:
        raise DecodeError("der: negative integer")
    if n > 1 and b0 == 0 and not buf[voff + 1] & 0x80:
        raise DecodeError("der: non-minimal integer")
    v = 0
    for i in range(voff, vend):
        v = (v << 8) | buf[i]
    return v


def read_integer(buf, off, end, max_octets=32):
    """Read a non-negative INTEGER of at most max_octets content octets: returns (value, next_off)."""
    voff, vend = expect(buf, off, end, INTEGER)
    if vend - voff > max_octets:
        raise DecodeError("der: integer too long")
    return int_value(buf, voff, vend), vend


def oid_value(buf, voff, vend):
    """Check OID content octets and return them as bytes: the compact key OIDs are compared by."""
    if vend <= voff:
        raise DecodeError("der: empty oid")
    # Each subidentifier is base-128, minimal (no leading 0x80) and ends with a byte below 0x80.
    start = True
    for i in range(voff, vend):
        b = buf[i]
        if start and b == 0x80:
            raise DecodeError("der: non-minimal oid")
        start = not b & 0x80
    if not start:
        raise DecodeError("der: truncated oid")
    return bytes(buf[voff:vend])


def read_oid(buf, off, end):
    """Read an OBJECT IDENTIFIER: returns (content bytes, next_off)."""
    voff, vend = expect(buf, off, end, OID)
    return oid_value(buf, voff, vend), vend


def read_bit_string(buf, off, end):
    """Read a BIT STRING: returns (unused_bits, data_off, data_end, next_off)."""
    voff, vend = expect(buf, off, end, BIT_STRING)
    if vend <= voff:
        raise DecodeError("der: empty bit string")
    unused = buf[voff]
    if unused > 7 or (unused and vend - voff == 1):
        raise DecodeError("der: bad unused bits")
    # DER: the unused bits of the last octet are zero.
    if unused and buf[vend - 1] & ((1 << unused) - 1):
        raise DecodeError("der: unused bits not zero")
    return unused, voff + 1, vend, vend


def read_octet_string(buf, off, end):
    """Read an OCTET STRING: returns (value_off, value_end); value_end is also the next offset."""
    return expect(buf, off, end, OCTET_STRING)


def read_boolean(buf, off, end):
    """Read a BOOLEAN (DER: one octet, 0x00 or 0xFF): returns (value, next_off)."""
    voff, vend = expect(buf, off, end, BOOLEAN)
    if vend - voff != 1:
        raise DecodeError("der: bad boolean")
    b = buf[voff]
    if b == 0:
        return False, vend
    if b == 0xFF:
        return True, vend
    raise DecodeError("der: bad boolean")


def read_null(buf, off, end):
    """Read a NULL: returns next_off."""
    voff, vend = expect(buf, off, end, NULL)
    if vend != voff:
        raise DecodeError("der: bad null")
    return vend


def is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _days_in_month(y, m):
    if m == 2:
        return 29 if is_leap(y) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (integer arithmetic only)."""
    # Count years from March so the leap day falls at the end of the counted year.
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def unix_seconds(y, mo, d, h, mi, s):
    """Unix seconds of a UTC calendar time; fields are not range-checked here."""
    return days_from_civil(y, mo, d) * _DAY_S + h * 3600 + mi * 60 + s


def _digits(buf, p, n):
    v = 0
    for i in range(p, p + n):
        c = buf[i]
        if c < 0x30 or c > 0x39:
            raise DecodeError("der: bad time digit")
        v = v * 10 + c - 0x30
    return v


def time_value(buf, tag, voff, vend):
    """Unix seconds of UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) content octets.

    These are the only forms RFC 5280 §4.1.2.5 allows: seconds present, Zulu, no fraction."""
    n = vend - voff
    if tag == UTC_TIME:
        if n != 13:
            raise DecodeError("der: bad utctime")
        y = _digits(buf, voff, 2)
        # RFC 5280: YY >= 50 is 19YY, YY < 50 is 20YY.
        y += 1900 if y >= 50 else 2000
        p = voff + 2
    elif tag == GENERALIZED_TIME:
        if n != 15:
            raise DecodeError("der: bad generalizedtime")
        y = _digits(buf, voff, 4)
        p = voff + 4
    else:
        raise DecodeError("der: not a time")
    if buf[vend - 1] != 0x5A:  # "Z"
        raise DecodeError("der: time not in UTC")
    mo = _digits(buf, p, 2)
    d = _digits(buf, p + 2, 2)
    h = _digits(buf, p + 4, 2)
    mi = _digits(buf, p + 6, 2)
    s = _digits(buf, p + 8, 2)
    if mo < 1 or mo > 12 or d < 1 or d > _days_in_month(y, mo) or h > 23 or mi > 59 or s > 59:
        raise DecodeError("der: time field out of range")
    return unix_seconds(y, mo, d, h, mi, s)


def read_time(buf, off, end):
    """Read a UTCTime or GeneralizedTime: returns (unix_seconds, next_off)."""
    tag, voff, vend = read_header(buf, off, end)
    return time_value(buf, tag, voff, vend), vend
