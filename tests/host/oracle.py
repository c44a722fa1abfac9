"""An independent checker of handoverkey captures: written from the RFCs with struct, hashlib, hmac and
`cryptography`, sharing no code with firmware/, so agreement with it is evidence, not self-agreement."""

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

SEND_TAG = bytes.fromhex("086fca5e10b200c99c8ce00164277c08")  # RFC 3971 §5.2
AT_TABLE = {0: ("sha1", 20, 12), 1: ("sha256", 32, 16)}  # interpretations §1


def ones_sum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def upper_checksum(src, dst, nh, data):
    pseudo = src + dst + struct.pack("!IxxxB", len(data), nh)
    return (~ones_sum(pseudo + data)) & 0xFFFF


class Packet:
    def __init__(self, frame):
        if len(frame) < 40 or frame[0] >> 4 != 6:
            raise ValueError("not IPv6")
        plen = struct.unpack("!H", frame[4:6])[0]
        self.hop_limit = frame[7]
        self.src, self.dst = frame[8:24], frame[24:40]
        nh, p = frame[6], 40
        self.hao = None
        if nh == 60:
            hlen = (frame[p + 1] + 1) * 8
            q = p + 2
            while q < p + hlen:
                if frame[q] == 0:
                    q += 1
                    continue
                if frame[q] == 201:
                    self.hao = frame[q + 2:q + 18]
                q += 2 + frame[q + 1]
            nh, p = frame[p], p + hlen
        self.nh = nh
        self.upper = frame[p:40 + plen]


def nd_options(msg, start):
    """(type, body) for each option up to and including the first RSA Signature."""
    out, p = [], start
    while p < len(msg):
        t, n = msg[p], msg[p + 1] * 8
        if n == 0 or p + n > len(msg):
            raise ValueError("bad option length")
        out.append((t, p, msg[p:p + n]))
        if t == 12:
            break
        p += n
    return out


def der_len(buf, p):
    """Length of the DER TLV at p."""
    n = buf[p + 1]
    if n < 0x80:
        return 2 + n
    k = n & 0x7F
    return 2 + k + int.from_bytes(buf[p + 2:p + 2 + k], "big")


def cga_ok(address, params):
    """RFC 3972 §5 verification, written out independently."""
    if params[24] > 2 or params[16:24] != address[:8]:
        return False
    h1 = hashlib.sha1(params).digest()[:8]
    iid = bytearray(address[8:])
    if (h1[0] ^ iid[0]) & 0x1C or h1[1:] != bytes(iid[1:]):
        return False
    sec = iid[0] >> 5
    h2 = hashlib.sha1(params[:16] + bytes(9) + params[25:]).digest()[:14]
    return h2[:2 * sec] == bytes(2 * sec)


def cga_key(params):
    spki = params[25:25 + der_len(params, 25)]
    return spki, serialization.load_der_public_key(spki)


def send_signature_ok(pkt):
    """CGA for the source and the RSA Signature over the RFC 3971 signed data; returns (cga, sig, spki)."""
    msg = pkt.upper
    opts = nd_options(msg, 8)  # RtSolPr / PrRtAdv: options follow the 8-octet header
    cga_opt = [o for o in opts if o[0] == 11]
    sig_opt = [o for o in opts if o[0] == 12]
    if not cga_opt or not sig_opt:
        return False, False, None
    body = cga_opt[0][2]
    params = body[4:len(body) - body[2]]
    spki, key = cga_key(params)
    cga = cga_ok(pkt.src, params)
    sig_off = sig_opt[0][1]
    cut = bytearray(msg[:sig_off])
    cut[2:4] = b"\0\0"
    ck = upper_checksum(pkt.src, pkt.dst, 58, bytes(cut))
    signed = SEND_TAG + pkt.src + pkt.dst + msg[:2] + struct.pack("!H", ck) + msg[4:sig_off]
    sig_body = sig_opt[0][2]
    if sig_body[4:20] != hashlib.sha1(spki).digest()[:16]:
        return cga, False, spki
    k = key.key_size // 8
    try:
        key.verify(sig_body[20:20 + k], signed, padding.PKCS1v15(), hashes.SHA1())
        return cga, True, spki
    except Exception:
        return cga, False, spki


def option(pkt, opt_type):
    msg = pkt.upper
    for t, _, body in nd_options(msg, 8):
        if t == opt_type:
            return body
    return None


def badf_ok(pkt, key, at, coa, par):
    """Recompute the BADF authenticator (interpretations §2) with the stdlib hmac."""
    mh = bytearray(pkt.upper)
    name, _, alen = AT_TABLE[at]
    auth_off = len(mh) - alen
    mh[4:6] = b"\0\0"
    mac = hmac.new(key, coa + par + bytes(mh[:auth_off]), name).digest()[:alen]
    return hmac.compare_digest(mac, bytes(pkt.upper[auth_off:]))


def mh_alt_coa(pkt):
    mh, p = pkt.upper, 12
    while p < len(mh):
        if mh[p] == 0:
            p += 1
            continue
        if mh[p] == 3:
            return mh[p + 2:p + 18]
        if mh[p] == 21:
            return None
        p += 2 + mh[p + 1]
    return None
