"""IPv6 header, Destination Options with the Home Address option, and upper-layer checksums."""

from .._compat import IS_MICROPYTHON, const
from ..errors import DecodeError, EncodeError

HEADER_LEN = const(40)
NH_HOP_BY_HOP = const(0)
NH_ROUTING = const(43)
NH_FRAGMENT = const(44)
NH_ICMPV6 = const(58)
NH_NONE = const(59)
NH_DEST_OPTS = const(60)
NH_MH = const(135)
OPT_PAD1 = const(0)
OPT_PADN = const(1)
OPT_HOME_ADDRESS = const(201)
HAO_HEADER_LEN = const(24)

_ICMP_CKSUM = const(2)
_MH_CKSUM = const(4)


def _check_addr(a, what):
    if len(a) != 16:
        raise EncodeError(what + " length")


def _room(buf, off, n):
    if type(off) is not int or off < 0 or len(buf) - off < n:
        raise EncodeError("buffer too small")


# Addresses the engines send to or accept (RFC 4291 §2.7.1), written out: no import-time work.
UNSPECIFIED = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
ALL_NODES = b"\xff\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
ALL_ROUTERS = b"\xff\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
SOLICITED_PREFIX = b"\xff\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\xff"  # ff02::1:ff00:0/104


def solicited_node(addr):
    """The solicited-node multicast address of addr (its low 24 bits under ff02::1:ff00:0/104)."""
    return SOLICITED_PREFIX + bytes(addr[13:16])


def is_unicast_routable(a):
    """False for ::/8 (unspecified, loopback and the like), link-local fe80::/10 and multicast
    ff00::/8: what RFC 6275 §9.3.1 refuses as a home address, and interpretations §5 as the
    PCoA (the RtSolPr source) that names a handover key."""
    h = a[0]
    return not (h == 0 or h == 0xFF or (h == 0xFE and a[1] & 0xC0 == 0x80))


def is_solicited_for(dst, addr):
    """True when dst is the solicited-node multicast address of addr."""
    return dst[:13] == SOLICITED_PREFIX and dst[13:] == addr[13:]


def encode_header(buf, off, payload_len, next_header, hop_limit, src, dst):
    """Write a 40-octet IPv6 header (traffic class and flow label 0); return off + 40."""
    if type(payload_len) is not int or payload_len < 0 or payload_len > 0xFFFF:
        raise EncodeError("payload length")
    if type(next_header) is not int or next_header < 0 or next_header > 0xFF:
        raise EncodeError("next header")
    if type(hop_limit) is not int or hop_limit < 0 or hop_limit > 0xFF:
        raise EncodeError("hop limit")
    _check_addr(src, "source")
    _check_addr(dst, "destination")
    _room(buf, off, HEADER_LEN)
    buf[off] = 0x60
    buf[off + 1] = 0
    buf[off + 2] = 0
    buf[off + 3] = 0
    buf[off + 4] = payload_len >> 8
    buf[off + 5] = payload_len & 0xFF
    buf[off + 6] = next_header
    buf[off + 7] = hop_limit
    buf[off + 8 : off + 24] = src
    buf[off + 24 : off + 40] = dst
    return off + HEADER_LEN


def encode_dest_opts_hao(buf, off, next_header, home_address):
    """Write the smallest Destination Options header carrying a Home Address option.

    PadN(4) first puts the option at 8n+6 (RFC 6275 §6.3); return off + 24."""
    if type(next_header) is not int or next_header < 0 or next_header > 0xFF:
        raise EncodeError("next header")
    _check_addr(home_address, "home address")
    _room(buf, off, HAO_HEADER_LEN)
    buf[off] = next_header
    buf[off + 1] = 2  # Hdr Ext Len: 8-octet units beyond the first 8
    buf[off + 2] = OPT_PADN
    buf[off + 3] = 2
    buf[off + 4] = 0
    buf[off + 5] = 0
    buf[off + 6] = OPT_HOME_ADDRESS
    buf[off + 7] = 16
    buf[off + 8 : off + 24] = home_address
    return off + HAO_HEADER_LEN


class Ipv6Packet:
    """A decoded IPv6 packet: addresses are memoryviews into the frame, the rest offsets.

    next_header is the upper-layer protocol found after any Hop-by-Hop and Destination
    Options headers; the upper-layer data is buf[payload_off:payload_end]. home_address is
    None without a Home Address option; hao_off and dest_opts_off are -1 when absent."""

    __slots__ = (
        "ip_off",
        "src",
        "dst",
        "hop_limit",
        "next_header",
        "payload_off",
        "payload_end",
        "home_address",
        "hao_off",
        "dest_opts_off",
    )

    def pseudo_src(self):
        """Source address of the upper-layer pseudo-header: the Home Address option value
        when the upper layer is a Mobility Header (RFC 6275 §6.1.1), else the IPv6 source."""
        if self.next_header == NH_MH and self.home_address is not None:
            return self.home_address
        return self.src


def _ext_header(buf, p, pend, dest, hao):
    """Walk one Hop-by-Hop (dest False) or Destination Options header at p.

    Return (end of header, its Next Header, offset of the home address or the hao given).
    Options whose type says "discard if unknown" (top bits not 00) are a DecodeError: this
    node implements none but Pad1, PadN and, in Destination Options, the Home Address."""
    if pend - p < 2:
        raise DecodeError("ext header truncated")
    e = p + ((buf[p + 1] + 1) << 3)
    if e > pend:
        raise DecodeError("ext header overrun")
    q = p + 2
    while q < e:
        t = buf[q]
        if t == OPT_PAD1:
            q += 1
            continue
        if e - q < 2:
            raise DecodeError("option truncated")
        n = buf[q + 1]
        if e - q - 2 < n:
            raise DecodeError("option overrun")
        if t == OPT_HOME_ADDRESS and dest:
            if n != 16:
                raise DecodeError("HAO length")
            if hao >= 0:
                raise DecodeError("second HAO")
            hao = q + 2
        elif t != OPT_PADN and t & 0xC0:
            raise DecodeError("unknown option, discard")
        q += 2 + n
    return e, buf[p], hao


def decode_packet(buf, off=0, end=None):
    """Decode the IPv6 header at off and walk Hop-by-Hop and Destination Options headers.

    Trailing link padding after Payload Length is ignored; a frame shorter than Payload
    Length says is a DecodeError. Routing and Fragment headers are a DecodeError (this
    node reassembles nothing, and a Routing header would change the pseudo-header). Any
    other Next Header value ends the walk and is reported as `next_header` for the
    caller to accept or ignore. At most one Hop-by-Hop header (first) and one
    Destination Options header are accepted."""
    n = len(buf)
    if end is None:
        end = n
    if off < 0 or end > n or end - off < HEADER_LEN:
        raise DecodeError("short IPv6 header")
    if buf[off] & 0xF0 != 0x60:
        raise DecodeError("not IPv6")
    p = off + HEADER_LEN
    pend = p + ((buf[off + 4] << 8) | buf[off + 5])
    if pend > end:
        raise DecodeError("payload length overrun")
    nh = buf[off + 6]
    hao = -1
    dopt = -1
    if nh == NH_HOP_BY_HOP:
        p, nh, hao = _ext_header(buf, p, pend, False, hao)
    if nh == NH_DEST_OPTS:
        dopt = p
        if (
            pend - p >= HAO_HEADER_LEN
            and buf[p + 1] == 2
            and buf[p + 2] == OPT_PADN
            and buf[p + 3] == 2
            and buf[p + 6] == OPT_HOME_ADDRESS
            and buf[p + 7] == 16
        ):
            # The layout every FBU sender uses (encode_dest_opts_hao): skip the option walk
            # on the router's hot path. The general walk accepts the same header.
            nh = buf[p]
            hao = p + 8
            p += HAO_HEADER_LEN
        else:
            p, nh, hao = _ext_header(buf, p, pend, True, hao)
    if nh == NH_HOP_BY_HOP or nh == NH_DEST_OPTS:
        raise DecodeError("ext header order")
    if nh == NH_ROUTING or nh == NH_FRAGMENT:
        raise DecodeError("routing/fragment header")
    mv = memoryview(buf)
    pkt = Ipv6Packet()
    pkt.ip_off = off
    pkt.src = mv[off + 8 : off + 24]
    pkt.dst = mv[off + 24 : off + 40]
    pkt.hop_limit = buf[off + 7]
    pkt.next_header = nh
    pkt.payload_off = p
    pkt.payload_end = pend
    pkt.dest_opts_off = dopt
    pkt.hao_off = hao
    pkt.home_address = None if hao < 0 else mv[hao : hao + 16]
    return pkt


# The ones' complement sum only matters modulo 0xFFFF (2**16 == 1 there), so each helper
# returns a value congruent to the sum of the 16-bit big-endian words of b[i:end], an odd
# last octet padded with zero. Both run on both interpreters; tests check they agree.


def _sum_loop(b, i, end):
    # Index arithmetic, no allocation: the choice for MicroPython boards. The total stays
    # below 2**30 (a small int on a 32-bit board) for anything up to ~32 KiB.
    acc = 0
    n = end - ((end - i) & 1)
    while i < n:
        acc += (b[i] << 8) | b[i + 1]
        i += 2
    if i < end:
        acc += b[i] << 8
    return acc


def _sum_bigint(b, i, end):
    # One C-level conversion instead of a bytecode loop: about 4x faster on CPython, where
    # the router has to check hundreds of thousands of FBUs a second. Slicing copies at most
    # one frame, which CPython does faster than it walks a memoryview.
    v = int.from_bytes(b[i:end], "big")
    if (end - i) & 1:
        v <<= 8
    return v


def _addr_loop(a):
    return _sum_loop(a, 0, 16)


def _addr_bigint(a):
    return int.from_bytes(a, "big")


_sum = _sum_loop if IS_MICROPYTHON else _sum_bigint
_addr = _addr_loop if IS_MICROPYTHON else _addr_bigint


def _total(src, dst, next_header, buf, off, length):
    """Pseudo-header plus data, congruent modulo 0xFFFF to their ones' complement sum."""
    if off < 0 or length < 0 or len(buf) - off < length:
        raise DecodeError("checksum range outside buffer")
    if len(src) != 16 or len(dst) != 16:
        raise DecodeError("pseudo-header address length")
    # The 32-bit length is two words, hi + lo, which is congruent to length itself.
    return _addr(src) + _addr(dst) + length + next_header + _sum(buf, off, off + length)


def checksum(src, dst, next_header, buf, off, length, zero_at=-1):
    """RFC 8200 §8.1 upper-layer checksum over buf[off:off+length] with the pseudo-header.

    The two octets at absolute offset zero_at (when >= 0) count as zero, so the checksum of
    a message can be computed or re-computed in place without clearing the field first."""
    s = _total(src, dst, next_header, buf, off, length)
    if zero_at >= 0:
        if zero_at < off or zero_at + 2 > off + length:
            raise DecodeError("checksum field outside range")
        if (zero_at - off) & 1:
            s -= buf[zero_at] + (buf[zero_at + 1] << 8)
        else:
            s -= (buf[zero_at] << 8) + buf[zero_at + 1]
    s %= 0xFFFF
    if s:
        return 0xFFFF - s
    # A positive sum congruent to 0 folds to 0xFFFF, whose complement is 0. Only an all-zero
    # input folds to 0; that needs length 0 and next header 0, so it never happens on the wire.
    if length == 0 and next_header == 0 and not any(src) and not any(dst):
        return 0xFFFF
    return 0


def checksum_ok(src, dst, next_header, buf, off, length):
    """True when the checksum stored inside buf[off:off+length] is valid (either zero form)."""
    if length == 0:
        return False
    return _total(src, dst, next_header, buf, off, length) % 0xFFFF == 0


def _cksum_at(pkt):
    nh = pkt.next_header
    if nh == NH_ICMPV6:
        return pkt.payload_off + _ICMP_CKSUM
    if nh == NH_MH:
        return pkt.payload_off + _MH_CKSUM
    return -1


def verify_upper(buf, pkt):
    """Check the ICMPv6 or Mobility Header checksum of a decoded packet.

    For the Mobility Header the Home Address option replaces the source (RFC 6275 §6.1.1).
    Any other upper layer, or one too short to hold its checksum, gives False."""
    at = _cksum_at(pkt)
    if at < 0 or at + 2 > pkt.payload_end:
        return False
    return checksum_ok(
        pkt.pseudo_src(), pkt.dst, pkt.next_header, buf, pkt.payload_off, pkt.payload_end - pkt.payload_off
    )


def receive(frame, for_me):
    """(packet, None) for a frame addressed to this node (`for_me(dst)`) whose upper-layer
    checksum verifies; else (None, why): "decode", "hao" (a Home Address option where none
    may be) or "checksum", or None when it is simply not addressed here. The one receive path
    of both engines."""
    try:
        pkt = decode_packet(frame)
    except DecodeError:
        return None, "decode"
    if not for_me(pkt.dst):
        return None, None
    hao = pkt.home_address
    if hao is not None and (pkt.next_header != NH_MH or not is_unicast_routable(hao)):
        # RFC 6275 §9.3.1: with no Binding Cache (neither engine keeps one) a Home Address
        # option is processed only before a Mobility Header, and only for a unicast routable
        # home address; anything else MUST be dropped.
        return None, "hao"
    if not verify_upper(frame, pkt):
        return None, "checksum"
    return pkt, None


def finish(buf, ip_off, end):
    """Set the Payload Length of the packet at buf[ip_off:end], then its ICMPv6 (58) or
    Mobility Header (135) checksum; return the checksum written."""
    if type(ip_off) is not int or type(end) is not int or ip_off < 0 or end > len(buf):
        raise EncodeError("packet bounds")
    plen = end - ip_off - HEADER_LEN
    if plen < 0 or plen > 0xFFFF:
        raise EncodeError("payload length")
    buf[ip_off + 4] = plen >> 8
    buf[ip_off + 5] = plen & 0xFF
    try:
        pkt = decode_packet(buf, ip_off, end)
    except DecodeError:
        raise EncodeError("packet undecodable")
    at = _cksum_at(pkt)
    if at < 0:
        raise EncodeError("no ICMPv6 or MH")
    if at + 2 > end:
        raise EncodeError("upper layer too short")
    c = checksum(
        pkt.pseudo_src(), pkt.dst, pkt.next_header, buf, pkt.payload_off, end - pkt.payload_off, at
    )
    buf[at] = c >> 8
    buf[at + 1] = c & 0xFF
    return c
