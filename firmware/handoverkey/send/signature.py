"""SEND signatures on ND-style ICMPv6 messages (RFC 3971 §5.2): signed data, sign, verify."""

from .. import crypto
from ..crypto.rsakey import RsaPublicKey
from ..errors import CryptoError, DecodeError, VerifyError
from ..wire import ipv6, ndopt
from . import cga

# RFC 3971 §5.2: the CGA Message Type tag that SEND puts in front of the signed data.
CGA_MSG_TYPE_TAG = b"\x08\x6f\xca\x5e\x10\xb2\x00\xc9\x9c\x8c\xe0\x01\x64\x27\x7c\x08"

_NH_ICMPV6 = 58


def signed_parts(src, dst, buf, icmp_off, sig_off):
    """The pieces of the signed data, in order, without copying the message.

    The checksum in them is that of the message cut just before the first RSA Signature
    option, with the pseudo-header length equal to the cut length (interpretations §3):
    the checksum on the wire, which covers the whole message, is not the one signed."""
    if sig_off - icmp_off < 4:
        raise DecodeError("message too short to sign")
    c = ipv6.checksum(src, dst, _NH_ICMPV6, buf, icmp_off, sig_off - icmp_off, icmp_off + 2)
    mv = memoryview(buf)
    return [CGA_MSG_TYPE_TAG, src, dst, mv[icmp_off : icmp_off + 2], bytes((c >> 8, c & 0xFF)), mv[icmp_off + 4 : sig_off]]


def signed_data(src, dst, buf, icmp_off, sig_off):
    return b"".join(bytes(p) for p in signed_parts(src, dst, buf, icmp_off, sig_off))


def sign(priv, buf, ip_off, icmp_off, end):
    """Append an RSA Signature option to the unsigned message at buf[icmp_off:end], signed with
    priv over the signed data, then set the Payload Length and the full checksum.

    The IPv6 header at ip_off must already carry the final addresses. Returns the new end."""
    src = memoryview(buf)[ip_off + 8 : ip_off + 24]
    dst = memoryview(buf)[ip_off + 24 : ip_off + 40]
    sig = crypto.rsa_sign(priv, signed_data(src, dst, buf, icmp_off, end))
    end = ndopt.put_rsa_sig(buf, end, priv.public.key_hash(), sig)
    ipv6.finish(buf, ip_off, end)
    return end


class SendCheck:
    """What a verified SEND message proved: the signer's key and the CGA parameters (or None)."""

    __slots__ = ("key", "key_hash", "params")

    def __init__(self, key, key_hash, params):
        self.key = key
        self.key_hash = key_hash
        self.params = params


def verify(buf, pkt, msg, min_bits=1024, require_cga=True, known_key=None):
    """Check the CGA and RSA Signature options of a decoded message (RFC 3971 §5.1.2, §5.2.2).

    pkt is the ipv6.Ipv6Packet, msg the icmp.IcmpMessage. The CGA option must vouch for the
    IPv6 source; the Key Hash must name the key inside it (a message carrying two different
    keys is dropped); the signature (the first k octets of the field) must verify over the
    signed data. known_key, when given, is a key the caller already trusts (a certified
    router key): the signer must be that key. Returns SendCheck or raises VerifyError."""
    if msg.sig_off < 0:
        raise VerifyError("no-signature")
    sig_opt = ndopt.get_rsa_sig(buf, msg.sig_off, msg.options[-1][2])
    cga_opts = msg.find_all(ndopt.OPT_CGA)
    key = None
    params = None
    if len(cga_opts) > 1:
        raise VerifyError("two-keys")
    if cga_opts:
        _, off, length = cga_opts[0]
        opt = ndopt.get_cga(buf, off, length)
        try:
            params = cga.cga_verify(pkt.src, opt.params)
        except DecodeError:
            raise VerifyError("cga")
        except VerifyError as e:
            raise VerifyError("cga", e.reason)
        try:
            key = RsaPublicKey.from_spki(params.key)
        except CryptoError:
            raise VerifyError("cga-key")
    elif require_cga:
        raise VerifyError("no-cga")
    if known_key is not None:
        if key is not None and key != known_key:
            raise VerifyError("two-keys")
        key = known_key
    if key is None:
        raise VerifyError("no-key")
    kh = key.key_hash()
    if not crypto.ct_equal(kh, sig_opt.key_hash):
        raise VerifyError("key-hash")
    k = key.size
    if len(sig_opt.signature) < k:
        raise VerifyError("signature")
    data = signed_data(pkt.src, pkt.dst, buf, msg.off, msg.sig_off)
    if not crypto.rsa_verify(key, data, sig_opt.signature[:k], "sha1", min_bits):
        raise VerifyError("signature")
    return SendCheck(key, kh, params)
