"""SEND signatures checked both ways against `cryptography`: ours verify there, and what
`cryptography` signs over independently built signed data verifies here, on both backends."""

import hashlib
import struct

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

import oracle
from handoverkey import crypto
from handoverkey.crypto.rsakey import RsaPrivateKey
from handoverkey.errors import VerifyError
from handoverkey.send import cga_gen, signature
from handoverkey.wire import icmp, ipv6, ndopt

ROOT_KEYS = "tests/fixtures/keys/"
PREFIX = bytes.fromhex("20010db800010000")
ROUTER = bytes.fromhex("fe800000000000000000000000000001")


def load(name):
    with open(ROOT_KEYS + name + ".pk8", "rb") as f:
        der = f.read()
    return RsaPrivateKey.from_pkcs8(der), serialization.load_der_private_key(der, None)


def unsigned(ours, modifier=7):
    src, params = cga_gen.cga_generate(ours.public.spki(), PREFIX, sec=0, modifier=modifier.to_bytes(16, "big"))
    buf = bytearray(2000)
    off = ipv6.encode_header(buf, 0, 0, 58, 255, src, ROUTER)
    icmp_off = off
    off = icmp.encode_rtsolpr(buf, off, 0xBEEF)
    off = ndopt.put_cga(buf, off, params)
    off = ndopt.put_timestamp(buf, off, ndopt.timestamp_from_wall(1811808000))
    off = ndopt.put_nonce(buf, off, bytes(range(6)))
    off = ndopt.put_hk_request(buf, off, 1, ours.public.spki())
    return buf, icmp_off, off


@pytest.fixture(params=["host", "pure"])
def backend(request):
    crypto.use_backend(request.param)
    yield request.param
    crypto.use_backend("host")


@pytest.mark.parametrize("name", ["rsa1024_a", "rsa2048_d"])
def test_ours_verify_in_cryptography(backend, name):
    ours, _ = load(name)
    buf, icmp_off, off = unsigned(ours)
    end = signature.sign(ours, buf, 0, icmp_off, off)
    pkt = oracle.Packet(bytes(buf[:end]))
    cga_ok, sig_ok, spki = oracle.send_signature_ok(pkt)
    assert cga_ok and sig_ok and spki == ours.public.spki()
    assert oracle.upper_checksum(pkt.src, pkt.dst, 58, pkt.upper) == 0


@pytest.mark.parametrize("name", ["rsa1024_a", "rsa2048_d"])
def test_cryptography_signatures_verify_here(backend, name):
    ours, theirs = load(name)
    buf, icmp_off, off = unsigned(ours)
    # The signed data built by hand from RFC 3971 §5.2 and interpretations §3, not by signature.py.
    msg = bytearray(buf[icmp_off:off])
    src, dst = bytes(buf[8:24]), bytes(buf[24:40])
    msg[2:4] = b"\0\0"
    ck = oracle.upper_checksum(src, dst, 58, bytes(msg))
    data = oracle.SEND_TAG + src + dst + bytes(msg[:2]) + struct.pack("!H", ck) + bytes(msg[4:])
    sig = theirs.sign(data, padding.PKCS1v15(), hashes.SHA1())
    kh = hashlib.sha1(ours.public.spki()).digest()[:16]
    end = ndopt.put_rsa_sig(buf, off, kh, sig)
    ipv6.finish(buf, 0, end)
    frame = bytes(buf[:end])
    pkt = ipv6.decode_packet(frame)
    m = icmp.decode_icmp(frame, pkt.payload_off, pkt.payload_end)
    assert signature.verify(frame, pkt, m).key == ours.public
    # And a signature over the wire checksum (the misreading of RFC 3971) is refused.
    wrong = oracle.SEND_TAG + src + dst + bytes(msg[:2]) + frame[icmp_off + 2:icmp_off + 4] + bytes(msg[4:])
    sig2 = theirs.sign(wrong, padding.PKCS1v15(), hashes.SHA1())
    buf2 = bytearray(buf)
    end2 = ndopt.put_rsa_sig(buf2, off, kh, sig2)
    ipv6.finish(buf2, 0, end2)
    frame2 = bytes(buf2[:end2])
    pkt2 = ipv6.decode_packet(frame2)
    m2 = icmp.decode_icmp(frame2, pkt2.payload_off, pkt2.payload_end)
    with pytest.raises(VerifyError) as e:
        signature.verify(frame2, pkt2, m2)
    assert e.value.reason == "signature"
