"""CPython only: Router.handle's fast paths, and the one for an FBU in the layout every mobile node sends.

Loaded by Router on CPython and never on MicroPython, so it is not part of a board image and
may slice freely (CPython copies a few dozen octets faster than it runs a bytecode loop).
handle_fast checks FBUs itself (written out: it is the path timed per packet) and sends RtSolPrs
to router_fast_rtsolpr.py.

The frame must be `bytes` and carry exactly: an IPv6 header whose Next Header is Destination
Options; the Destination Options header ipv6.encode_dest_opts_hao writes (PadN(2), Home
Address), followed by the Mobility Header; an FBU whose options are an optional PadN(0) +
Alternate Care-of Address, at most one Pad1 or PadN, then BADF last. On that input every check
is the general path's, in the same order, with the same outcome (events and frames): the
general path (ipv6.decode_packet, verify_upper, mh.decode_mh, Router._on_mh) accepts exactly
these frames and decides the same, and both end in Router._fbu_verified. Anything else, and
any frame the general path would drop before the key lookup (not for this router, bad
checksum, malformed), returns None and is handled by the general path from the start.

The MAC is HMAC (RFC 2104) from inner and outer hash states that have absorbed the padded key,
kept with the key table slot (KeyTable.attach, cleared when the key changes), so a check copies
those states instead of hashing the key blocks again; it is compared with hmac.compare_digest
(constant time, like the general path's XOR loop).
"""

import hashlib
import hmac
import struct

from . import algorithms
from .router import FBU_LIFETIME_MAX_S as _LIFETIME_MAX
from .wire.mh import FBU_A as _FBU_A
from .router_fast_rtsolpr import rtsolpr_fast

# Each AT's hash (interpretations §1). An AT missing here takes the general path.
_HASH = {algorithms.AT_HMAC_SHA1: hashlib.sha1, algorithms.AT_HMAC_SHA256: hashlib.sha256}
_BLOCK = 64  # SHA-1 and SHA-256 block size
_IPAD = b"\x36" * _BLOCK
_OPAD = b"\x5c" * _BLOCK

_compare = hmac.compare_digest
_from_bytes = int.from_bytes
_ZERO2 = b"\x00\x00"
_MH = 64  # the Mobility Header's offset: IPv6 header (40) + Destination Options with the HAO (24)
_OPTS = _MH + 12  # its first option, after the FBU message data
_MIN = _MH + 16  # the shortest MH this path looks at; anything shorter takes the general path
# The Destination Options header exactly as ipv6.encode_dest_opts_hao writes it: Next Header
# 135 (MH), Hdr Ext Len 2, PadN with 2 zero octets, then the Home Address option (16 octets).
# A frame with anything else there takes the general path.
_DOPT_HAO = b"\x87\x02\x01\x02\x00\x00\xc9\x10"
# For the checksum below: Next Header 135 in, those four words of the header out.
_CSUM_FIX = 135 - (0x8702 + 0x0102 + 0x0000 + 0xC910)
_ACOA = b"\x01\x00\x03\x10"  # PadN(0) then the Alternate Care-of Address option (16 octets)
_SPI0 = b"\x00\x00\x00\x00"  # the BADF SPI of a SEND handover key
# One C call for the fixed fields an FBU check reads (bytes indexing is not specialised by
# CPython 3.11, so each frame[i] or slice costs a generic subscript): Version/Traffic Class
# (octet 0), Payload Length (4), Destination Address (24), the Destination Options header up to
# the Home Address (40), the Home Address, i.e. the PCoA (48), then the Mobility Header's
# Payload Proto (64), Header Len (65) and MH Type (66), and the FBU's Sequence # (70), flags (72)
# and Lifetime (74). The frame is at least _MIN octets here.
_FIELDS = struct.Struct(">B3xH18x16s8s16sBBB3xHBxH").unpack_from
# Home Addresses whose first octet is 01..fd are unicast routable (RFC 6275 §9.3.1): one chained
# comparison. The rest (::/8, fe00::/8 with link-local, multicast) take the general path,
# which drops those ipv6.receive refuses.
_HAO_LOW = b"\x01"
_HAO_HIGH = b"\xfe"


def _keyed(hash_ctor, key):
    """(inner, outer) hash objects that have absorbed the padded key: HMAC (RFC 2104) up to
    the message, to be copied for each MAC."""
    if len(key) > _BLOCK:
        key = hash_ctor(key).digest()
    k = key + bytes(_BLOCK - len(key))
    inner = hash_ctor(bytes(a ^ b for a, b in zip(k, _IPAD)))
    outer = hash_ctor(bytes(a ^ b for a, b in zip(k, _OPAD)))
    return inner, outer


def handle_fast(router, frame, now_ms, wall_s):
    """(frames, events) as Router.handle would return them, or None for the general path.
    The FBU path is written out here rather than called: it is the one timed per packet."""
    if type(frame) is not bytes:
        return None
    n = len(frame)
    if n < _MIN or frame[6] != 60:
        if n >= _OPTS and frame[6] == 58 and frame[40] == 154 and frame[44] == 2:
            return rtsolpr_fast(router, frame, now_ms, wall_s)  # FMIPv6, Subtype RtSolPr
        return None
    vtc, plen, dst, dopt, pcoa, proto, mh_len, mh_type, seq, flags, lifetime = _FIELDS(frame)
    if dopt != _DOPT_HAO or mh_type != 8 or vtc >> 4 != 6 or proto != 59 or not _HAO_LOW <= pcoa < _HAO_HIGH:
        return None
    end = 40 + plen
    mlen = plen - 24
    if end > n or mlen < 16 or (mh_len + 1) << 3 != mlen:
        return None
    if dst != router.address and dst != router.link_local:
        return None
    # Upper-layer checksum, the Home Address as the pseudo-header source (RFC 6275 §6.1.1):
    # Destination, Home Address and MH words plus length and Next Header, modulo 0xFFFF. As
    # 2^16 = 1 modulo 0xFFFF, octets 24..end read as one integer sum to the same as their
    # 16-bit words, so the Destination Options words in between (40..48, fixed) are taken back
    # out with _CSUM_FIX. The MH length is a multiple of 8: no odd octet, and the 32-bit
    # length adds as itself.
    if (_from_bytes(frame[24:end], "big") + mlen + _CSUM_FIX) % 0xFFFF:
        return None
    # Options: [PadN(0) Alternate CoA] [Pad1 | PadN] BADF, as mh.decode_mh walks them.
    if frame[76:80] == _ACOA and mlen >= 32:
        ncoa = frame[80:96]
        p = 96
    else:
        ncoa = frame[8:24]
        p = _OPTS
    if p >= end:
        return None
    o = frame[p]
    if o == 0:
        p += 1
    elif o == 1:
        if end - p < 2 or end - p - 2 < frame[p + 1]:
            return None
        p += 2 + frame[p + 1]
    if end - p < 2 or frame[p] != 21:
        return None
    blen = frame[p + 1]
    rest = end - p - 2
    if rest < 5 or (blen != rest and blen + 4 != rest):
        return None
    auth = p + 6
    fwd = router.forwarding.get(pcoa)
    if fwd is not None and now_ms >= fwd[1]:
        return None  # forwarding timed out and not yet polled: the general path ends it first
    table = router.table
    slot = table.find(pcoa, now_ms)  # no LRU change until the MAC verifies, as in Router._on_mh
    if slot < 0:
        return [], [("fbu-rejected", {"pcoa": pcoa, "reason": "no-key"})]
    mac = table.attachment(slot)
    if mac is None:
        at = table.at(slot)
        ctor = _HASH.get(at)
        if ctor is None:
            return None
        alen = algorithms.auth_len(at)
        inner, outer = _keyed(ctor, bytes(table.key(slot)))
        # The last item: whether the authenticator is the whole digest (no truncating slice).
        mac = (at, alen, inner, outer, alen == inner.digest_size)
        table.attach(slot, mac)
    at, alen, inner, outer, whole = mac
    # SPI 0 marks a SEND handover key. The general path's Length check (alen + 4 or alen) is
    # implied here: the option fills the MH (Length = rest or rest - 4, checked above), so once
    # alen octets follow the SPI, Length is alen + 4 or alen.
    if end - auth != alen or frame[p + 2 : auth] != _SPI0:
        return [], [("fbu-rejected", {"pcoa": pcoa, "reason": "badf"})]
    i = inner.copy()
    i.update(b"".join((ncoa, dst, frame[_MH : _MH + 4], _ZERO2, frame[_MH + 6 : auth])))
    o = outer.copy()
    o.update(i.digest())
    if not _compare(o.digest() if whole else o.digest()[:alen], frame[auth:end]):
        return [], [("fbu-rejected", {"pcoa": pcoa, "reason": "mac"})]
    if fwd is not None and not flags & _FBU_A and 0 < lifetime <= _LIFETIME_MAX:
        # Router._fbu_verified for the usual case, written out: a node that already has
        # forwarding renews it, and wants no FBack. Same checks, same order, same outcome.
        d = (seq - fwd[2]) & 0xFFFF
        if d == 0 or d >= 0x8000:
            return [], [("fbu-rejected", {"pcoa": pcoa, "reason": "sequence"})]
        fwd[0] = ncoa
        fwd[1] = now_ms + lifetime * 1000
        fwd[2] = seq
        if slot != table._ends[2]:  # KeyTable.pin's own early test, without the call
            table.pin(slot)
        return [], [("fbu-accepted", {"pcoa": pcoa, "ncoa": ncoa, "seq": seq, "lifetime": lifetime})]
    frames = []
    events = []
    router._fbu_verified(pcoa, ncoa, seq, flags, lifetime, at, slot, frame[8:24], dst, now_ms, frames, events)
    return frames, events
