"""CPython only: Router.handle's fast path for an RtSolPr that provisions a handover key.

Loaded through router_fast.py on CPython and never on MicroPython (not part of a board image),
so it slices and joins freely. It exists because a provisioning on CPython is three RSA
operations done by OpenSSL plus a few hundred small Python calls in the general path
(codecs written for MicroPython, which must not slice): this path does the same work in a
few dozen.

What it takes: an RtSolPr without extension headers whose options are only Source LLA, FMIPv6
LLA (defined codes), one CGA option, one Timestamp, one Nonce, one Handover Key Request, then
the RSA Signature; a router whose PrRtAdv for it has a neighbour entry (code 0). Everything
else returns None before any state changes and the general path (Router._on_icmp) handles it
from the start.

The order is the general path's, split so that nothing changes before a verdict:
  1. parsing, the checksum and every check that needs no RSA operation (source, CGA, Key
     Hash, signature length, Timestamp, replay window, HKE key rules) — any failure returns
     None: the general path then gives the verdict (its first failing check) itself;
  2. flood control (Router._admit), which the general path also runs before any RSA work;
  3. the signature check (RSA). A failure here is answered as the general path answers it
     ("signature", a signed PrRtAdv without a key), since every earlier check passed;
  4. the replay memory records the message (ReplayGuard._record, with step 1's verdict),
     then Router's own AT negotiation and _provision, then the PrRtAdv: the part fixed by
     the neighbour (Router._prrtadv_head) is built once per neighbour and kept with its sum;
     the Timestamp, copied Nonce, Handover Key Reply and RSA Signature are appended, and the
     signed-data and message checksums are sums of whole pieces read as integers
     (2^16 = 1 mod 0xFFFF).
tests/host/test_router_fast_rtsolpr.py feeds both paths the same frames and requires the same
frames, events and state.
"""

import hashlib
import hmac

from . import algorithms, crypto
from .crypto.rsakey import RsaPublicKey
from .errors import CryptoError, DecodeError, EncodeError, VerifyError
from .send import cga
from .send.signature import CGA_MSG_TYPE_TAG
from .wire import ndopt

_from_bytes = int.from_bytes
_compare = hmac.compare_digest
_sha1 = hashlib.sha1
_NINE_ZEROS = bytes(9)  # Hash2 reads the subnet prefix and collision count as zeros
_MSG = 40  # the RtSolPr's offset: no extension headers on this path
_OPTS = 48  # its first option, after the 8-octet FMIPv6 header
_MAX_OPTIONS = ndopt.MAX_OPTIONS
_E65537 = b"\x02\x03\x01\x00\x01"  # DER INTEGER 65537, the end of every usual RSA SPKI
_TS_HEAD = b"\x0d\x02\x00\x00\x00\x00\x00\x00"  # Timestamp option: type, length 2, reserved
_NEW_AP = ndopt.LLA_NEW_AP
_LAST_LLA_CODE = ndopt.LLA_NO_FAST_HANDOVER

# len(SPKI DER) -> (the octets before the modulus, modulus length) of the canonical encoding
# with e = 65537 for 1024/2048/3072/4096-bit keys; filled on first use.
_SPKI_LAYOUTS = {}


def _spki_layouts():
    for k in (128, 256, 384, 512):
        der = RsaPublicKey((1 << (8 * k - 1)) | 1, 65537).spki()
        _SPKI_LAYOUTS[len(der)] = (der[: len(der) - k - len(_E65537)], k)


def _usual_key(der):
    """RsaPublicKey of a DER SPKI in the usual layout (bytes), else None."""
    if not _SPKI_LAYOUTS:
        _spki_layouts()
    lay = _SPKI_LAYOUTS.get(len(der))
    if lay is None:
        return None
    head, k = lay
    h = len(head)
    # The top octet of the modulus must have its high bit set: then the modulus has 8k bits
    # and the zero octet before it (ending `head`) is the one strict DER requires.
    if der[h] & 0x80 and der.startswith(head) and der.endswith(_E65537):
        key = RsaPublicKey(_from_bytes(der[h : h + k], "big"), 65537)
        key._spki = der
        return key
    return None


def _public_key(der):
    """RsaPublicKey of a DER SPKI: the usual layout read directly, anything else through the
    strict general decoder (RsaPublicKey.from_spki). CryptoError if it is not a usable key."""
    key = _usual_key(der)
    return key if key is not None else RsaPublicKey.from_spki(der)


def _cga_key(src, params):
    """cga.cga_verify(src, params) then the key in them, as signature.verify does, or None
    where either fails. Parameters that are the usual SPKI with no extension fields are
    checked here (RFC 3972 §5 steps 1-7 as cga_verify takes them); any others by cga_verify."""
    try:
        key = _usual_key(params[25:]) if len(params) > 27 else None
    except CryptoError:
        return None  # the usual layout around an unusable modulus (even, say)
    if key is None:
        try:
            return _public_key(bytes(cga.cga_verify(src, params).key))
        except (DecodeError, VerifyError, CryptoError):
            return None
    # Collision count at most 2; the subnet prefix is the address's.
    if params[24] > 2 or params[16:24] != src[:8]:
        return None
    # Hash1 against the interface identifier, the Sec and u/g bits (mask 0x1c kept) aside.
    h = _sha1(params).digest()
    if (h[0] ^ src[8]) & 0x1C or h[1:8] != src[9:16]:
        return None
    sec = src[8] >> 5
    if sec:
        h = _sha1(params[:16])
        h.update(_NINE_ZEROS)
        h.update(memoryview(params)[25:])
        h = h.digest()
        if h[: 2 * sec] != bytes(2 * sec):
            return None
    return key


def rtsolpr_fast(router, frame, now_ms, wall_s):
    """(frames, events) as Router.handle would return them, or None for the general path.
    The caller has checked: `frame` is bytes of at least 48 octets, Next Header 58, an
    FMIPv6 message with Subtype RtSolPr."""
    n = len(frame)
    if frame[0] >> 4 != 6 or frame[7] != 255 or frame[41] != 0:
        return None
    plen = (frame[4] << 8) | frame[5]
    end = _MSG + plen
    # ND messages are whole 8-octet units; anything else is left to the general path.
    if end > n or plen & 7 or plen < 16:
        return None
    dst = frame[24:40]
    src = frame[8:24]
    h = frame[8]  # ipv6.is_unicast_routable(src), inline: not ::/8, multicast or link-local
    if (dst != router.link_local and not router._for_me(dst)) or h == 0 or h == 0xFF or (h == 0xFE and frame[9] & 0xC0 == 0x80):
        return None
    # -- options, as ndopt.walk reads them: up to the first RSA Signature --
    p = _OPTS
    count = 0
    sig = cga_o = ts_o = nonce_o = req_o = -1
    asked = None
    while p < end:
        if end - p < 2:
            return None
        t = frame[p]
        ln = frame[p + 1] << 3
        if ln == 0 or ln > end - p:
            return None
        count += 1
        if count > _MAX_OPTIONS:
            return None
        if t == 12:
            sig = p
            sig_len = ln
            break
        if t == 19:
            code = frame[p + 2]
            if code > _LAST_LLA_CODE:
                return None
            if code == _NEW_AP and asked is None:
                asked = frame[p + 3 : p + ln]
        elif t == 11:
            if cga_o >= 0:
                return None
            cga_o = p
            cga_len = ln
        elif t == 13:
            if ts_o >= 0 or ln != 16:
                return None
            ts_o = p
        elif t == 14:
            if nonce_o >= 0:
                return None
            nonce_o = p
            nonce_len = ln
        elif t == 27:
            if req_o >= 0:
                return None
            req_o = p
            req_len = ln
        elif t != 1:
            return None
        p += ln
    if sig < 0 or cga_o < 0 or ts_o < 0 or nonce_o < 0 or req_o < 0 or sig_len < 20:
        return None
    # ICMPv6 checksum: source, destination and message words plus length and Next Header.
    # Octets 8..sig and sig..end are summed apart (sums of even-length pieces add, as
    # 2^16 = 1 mod 0xFFFF): the first part is also the signed data's, below.
    # Each sum is reduced once, so the arithmetic after it is on small ints.
    signed_sum = _from_bytes(frame[8:sig], "big") % 0xFFFF
    if (signed_sum + _from_bytes(frame[sig:end], "big") + plen + 58) % 0xFFFF:
        return None

    # -- the PrRtAdv's neighbour (Router._neighbor_for) --
    if asked is None:
        return None
    neighbor = None
    index = 0
    for nb in router.neighbors:
        if asked[: len(nb.ap_lla)] == nb.ap_lla:
            neighbor = nb
            break
        index += 1
    if neighbor is None:
        return None

    # -- every check that needs no RSA operation (signature.verify, Router._check_rtsolpr,
    #    Router._hke_key), each failure left to the general path --
    pad = frame[cga_o + 2]
    if pad > cga_len - 4:
        return None
    key = _cga_key(src, frame[cga_o + 4 : cga_o + cga_len - pad])
    if key is None:
        return None
    key_hash = key.key_hash()
    k = key.size
    if not _compare(key_hash, frame[sig + 4 : sig + 20]) or sig_len - 20 < k:
        return None
    ts = _from_bytes(frame[ts_o + 8 : ts_o + 16], "big")
    nonce = frame[nonce_o + 2 : nonce_o + nonce_len]
    replay = router.replay
    try:
        judged = replay._judge(src, ts, nonce, now_ms, wall_s)
    except VerifyError:
        return None
    pad = frame[req_o + 2]
    if pad > req_len - 4:
        return None
    at_asked = frame[req_o + 3] >> 4
    try:
        hke = _public_key(frame[req_o + 4 : req_o + req_len - pad])
    except CryptoError:
        return None
    if hke.bits != key.bits or hke.e != key.e or hke == key:
        return None
    # The PrRtAdv must fit the transmit buffer with this Nonce and a Handover Key Reply for k
    # octets (Router._prrtadv_room); where it would not, the general path answers.
    kept = router._prrtadv_heads.get(index)
    if kept is None:
        kept = _head(router, index, neighbor)
    if (_MSG + 8 + len(kept[2]) + 16 + nonce_len + ((6 + k + 7) & ~7) + ((20 + router.key.size + 7) & ~7)
            > len(router._tx)):
        return None

    # -- flood control, then the one RSA check --
    frames = []
    events = []
    if not router._admit(src, now_ms):
        events.append(("rate-limited", {"source": src}))
        return frames, events
    ident = (frame[46] << 8) | frame[47]
    # Signed data (RFC 3971 §5.2, interpretations §3): the checksum of the message cut before
    # the RSA Signature option, with the cut length in the pseudo-header.
    cut = sig - _MSG
    s = (signed_sum - ((frame[42] << 8) | frame[43]) + cut + 58) % 0xFFFF
    c = 0xFFFF - s if s else 0
    data = b"".join((CGA_MSG_TYPE_TAG, src, dst, frame[40:42], bytes((c >> 8, c & 0xFF)), frame[44:sig]))
    if not crypto.rsa_verify(key, data, frame[sig + 20 : sig + 20 + k], "sha1", router.min_bits):
        events.append(("rtsolpr-rejected", {"source": src, "reason": "signature"}))
        frames.append(router._prrtadv(neighbor, None, ident, src, nonce, None, wall_s))
        return frames, events

    # -- accepted: as Router._on_rtsolpr goes on from here --
    replay._record(src, ts, now_ms, wall_s, judged)
    reply = None
    # algorithms.negotiate depends only on the request and the router's fixed ATs: kept per request.
    chosen = router._negotiated
    at = chosen.get(at_asked, -1)
    if at == -1:
        at = chosen[at_asked] = algorithms.negotiate(at_asked, router.ats)
    if at is None:
        events.append(("rtsolpr-no-key", {"source": src, "reason": "at", "requested_at": at_asked}))
    else:
        reply = router._provision(src, key_hash, at, hke, now_ms, events)
    frames.append(_prrtadv(router, kept, ident, src, frame[nonce_o : nonce_o + nonce_len], reply, wall_s))
    return frames, events


def _head(router, index, neighbor):
    """The kept part of the PrRtAdv for a neighbour: (ICMPv6 Type and Code, Subtype and
    Reserved, the options from the LLA to the CGA option, and the sum of that head, Identifier
    and checksum zero, plus the router's link-local address, the source of every PrRtAdv,
    modulo 0xFFFF)."""
    scratch = bytearray(len(router._tx))
    head = bytes(scratch[: router._prrtadv_head(scratch, 0, neighbor, None, 0)])
    kept = (head[:2], head[4:6], head[8:], (_from_bytes(head, "big") + _from_bytes(router.link_local, "big")) % 0xFFFF)
    router._prrtadv_heads[index] = kept
    return kept


def _prrtadv(router, kept, ident, dst, nonce_opt, reply, wall_s):
    """The signed PrRtAdv Router._prrtadv builds, octet for octet, from the kept head."""
    type_code, sub, options, head_sum = kept
    # ndopt.timestamp_from_wall, its range check inline: seconds in the upper 48 bits.
    if type(wall_s) is not int or wall_s < 0 or wall_s > 0xFFFFFFFFFFFF:
        raise EncodeError("seconds out of range")
    parts = [_TS_HEAD, (wall_s << 16).to_bytes(8, "big"), nonce_opt]
    if reply is not None:
        at, lifetime, enc = reply
        if lifetime > 0xFFFF:
            raise EncodeError("key lifetime out of range")
        used = 6 + len(enc)
        size = (used + 7) & ~7
        parts.append(bytes((ndopt.OPT_HK_REPLY, size >> 3, size - used, at << 4, lifetime >> 8, lifetime & 0xFF)))
        parts.append(enc)
        parts.append(bytes(size - used))
    tail = b"".join(parts)
    ident2 = bytes((ident >> 8, ident & 0xFF))
    cut = 8 + len(options) + len(tail)
    # signature.sign: the signed data's checksum (message cut here, checksum field zero)...
    # Sums of even-length pieces add (2^16 = 1 mod 0xFFFF): the addresses, the kept head and
    # the Identifier are summed once and serve both checksums.
    summed = (head_sum + _from_bytes(dst, "big") + ident + _from_bytes(tail, "big") + 58) % 0xFFFF
    s = (summed + cut) % 0xFFFF
    c = 0xFFFF - s if s else 0
    key = router.key
    src = router.link_local
    sig = crypto.rsa_sign(key, b"".join((CGA_MSG_TYPE_TAG, src, dst, type_code, bytes((c >> 8, c & 0xFF)), sub,
                                         ident2, options, tail)))
    key_hash = router._key_hash
    if key_hash is None:
        key_hash = router._key_hash = key.public.key_hash()
    used = 20 + len(sig)
    size = (used + 7) & ~7
    sig_opt = b"".join((bytes((ndopt.OPT_RSA_SIG, size >> 3, 0, 0)), key_hash, sig, bytes(size - used)))
    plen = cut + size
    if _MSG + plen > len(router._tx):
        raise EncodeError("buffer too small")
    # ... then ipv6.finish: the Payload Length and the checksum of the whole message.
    s = (summed + _from_bytes(sig_opt, "big") + plen) % 0xFFFF
    c = 0xFFFF - s if s else 0
    return b"".join((
        b"\x60\x00\x00\x00", bytes((plen >> 8, plen & 0xFF, 58, 255)), src, dst,
        type_code, bytes((c >> 8, c & 0xFF)), sub, ident2, options, tail, sig_opt,
    ))
