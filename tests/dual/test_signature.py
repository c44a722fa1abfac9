"""SEND signatures (RFC 3971 §5.2) on an RtSolPr: signed data, the checksum rule, the key rules."""

from dualtest import raises
from keyfixtures import load_private

from handoverkey.errors import VerifyError
from handoverkey.send import cga_gen, signature
from handoverkey.wire import icmp, ipv6, ndopt

PREFIX = b"\x20\x01\x0d\xb8\x00\x01\x00\x00"
ROUTER = b"\xfe\x80" + bytes(13) + b"\x01"
WALL_S = 1811808000

_keys = {}


def key(name):
    if name not in _keys:
        _keys[name] = load_private(name)
    return _keys[name]


def identity(name, modifier=1):
    """(address, CGA params) of a Sec 0 CGA of the named key: one hash, fast on both interpreters."""
    return cga_gen.cga_generate(key(name).public.spki(), PREFIX, sec=0, modifier=modifier.to_bytes(16, "big"))


def unsigned(src, params, extra_cga=None):
    """(buf, icmp_off, end): an RtSolPr up to, not including, its RSA Signature option."""
    buf = bytearray(1500)
    off = ipv6.encode_header(buf, 0, 0, 58, 255, src, ROUTER)
    icmp_off = off
    off = icmp.encode_rtsolpr(buf, off, 0x1234)
    off = ndopt.put_cga(buf, off, params)
    if extra_cga is not None:
        off = ndopt.put_cga(buf, off, extra_cga)
    off = ndopt.put_timestamp(buf, off, ndopt.timestamp_from_wall(WALL_S))
    off = ndopt.put_nonce(buf, off, b"\x01\x02\x03\x04\x05\x06")
    return buf, icmp_off, off


def signed(name="rsa1024_a", signer=None, **kw):
    src, params = identity(name)
    buf, icmp_off, off = unsigned(src, params, **kw)
    end = signature.sign(key(signer or name), buf, 0, icmp_off, off)
    return bytearray(buf[:end]), icmp_off, off


def check(frame):
    pkt = ipv6.decode_packet(frame)
    msg = icmp.decode_icmp(frame, pkt.payload_off, pkt.payload_end)
    return signature.verify(frame, pkt, msg), pkt, msg


def reason(frame):
    return raises(VerifyError, check, frame).reason


def test_sign_then_verify_names_the_cga_key():
    frame, _, _ = signed()
    res, pkt, msg = check(frame)
    assert res.key == key("rsa1024_a").public
    assert res.key_hash == key("rsa1024_a").public.key_hash()
    assert bytes(res.params.key) == key("rsa1024_a").public.spki()
    assert ipv6.verify_upper(frame, pkt)
    # The signature option is last and its signature is exactly k octets of the 1024-bit key.
    sig = ndopt.get_rsa_sig(frame, msg.sig_off, msg.options[-1][2])
    assert len(bytes(sig.signature).rstrip(b"\x00")) <= 128 <= len(sig.signature)


def test_signed_checksum_is_that_of_the_message_cut_before_the_signature():
    """Interpretations §3: the checksum inside the signed data covers the message without the
    RSA Signature option; the checksum on the wire covers all of it, so they differ."""
    frame, icmp_off, sig_off = signed()
    pkt = ipv6.decode_packet(frame)
    data = signature.signed_data(pkt.src, pkt.dst, frame, icmp_off, sig_off)
    assert data[:16] == signature.CGA_MSG_TYPE_TAG
    assert data[16:32] == bytes(pkt.src) and data[32:48] == bytes(pkt.dst)
    assert data[48:50] == bytes(frame[icmp_off:icmp_off + 2])
    cut = ipv6.checksum(pkt.src, pkt.dst, 58, frame, icmp_off, sig_off - icmp_off, icmp_off + 2)
    assert data[50:52] == bytes([cut >> 8, cut & 0xFF])
    assert data[50:52] != bytes(frame[icmp_off + 2:icmp_off + 4])
    assert data[52:] == bytes(frame[icmp_off + 4:sig_off])


def test_options_after_the_signature_are_ignored():
    frame, _, _ = signed()
    longer = bytearray(len(frame) + 8)
    longer[: len(frame)] = frame
    ndopt.put_nonce(longer, len(frame), b"\xaa" * 6)
    ipv6.finish(longer, 0, len(longer))
    res, _, msg = check(longer)
    assert msg.options[-1][0] == ndopt.OPT_RSA_SIG
    assert res.key == key("rsa1024_a").public


def test_any_changed_signed_octet_fails():
    frame, icmp_off, sig_off = signed()
    # source, destination, identifier, a CGA modifier octet, the last nonce octet
    for pos in (8, 24, icmp_off + 6, icmp_off + 15, sig_off - 1):
        bad = bytearray(frame)
        bad[pos] ^= 0x01
        ipv6.finish(bad, 0, len(bad))
        assert reason(bad) in ("signature", "cga"), pos
    # 4 + 16 + 128 octets pad to 152: the last four are padding, ignored; the one before ends the signature.
    bad = bytearray(frame)
    bad[-1] ^= 0x01
    ipv6.finish(bad, 0, len(bad))
    assert check(bad)[0].key == key("rsa1024_a").public
    bad = bytearray(frame)
    bad[-5] ^= 0x01
    ipv6.finish(bad, 0, len(bad))
    assert reason(bad) == "signature"


def test_key_hash_naming_another_key_is_dropped():
    """RFC 3971 §5.1: a message carrying two different keys (CGA option vs Key Hash) is dropped."""
    frame, _, _ = signed(signer="rsa1024_b")
    assert reason(frame) == "key-hash"


def test_two_cga_options_are_dropped():
    _, other = identity("rsa1024_b")
    frame, _, _ = signed(extra_cga=other)
    assert reason(frame) == "two-keys"


def test_cga_must_vouch_for_the_source():
    frame, _, _ = signed()
    frame[23] ^= 0x01  # the source address's last octet: another interface identifier
    ipv6.finish(frame, 0, len(frame))
    assert reason(frame) == "cga"


def test_unsigned_or_cga_less_messages_are_refused():
    src, params = identity("rsa1024_a")
    buf, icmp_off, off = unsigned(src, params)
    ipv6.finish(buf, 0, off)
    assert reason(bytearray(buf[:off])) == "no-signature"
    buf = bytearray(1500)
    o = ipv6.encode_header(buf, 0, 0, 58, 255, src, ROUTER)
    i = o
    o = icmp.encode_rtsolpr(buf, o, 1)
    end = signature.sign(key("rsa1024_a"), buf, 0, i, o)
    assert reason(bytearray(buf[:end])) == "no-cga"
