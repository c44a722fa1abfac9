"""X.509 parser: committed PKI fixtures, hand-built certificates and RFC 3779 IPv6 blocks."""

from dualtest import raises, read_fixture
from handoverkey.crypto.rsakey import RsaPublicKey
from handoverkey.errors import DecodeError
from handoverkey.send import x509

H = bytes.fromhex
NOT_BEFORE = 1767225600  # 2026-01-01T00:00:00Z
NOT_AFTER = 2082758400  # 2036-01-01T00:00:00Z


def pki(name):
    return read_fixture("pki/" + name + ".der")


def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    if n < 0x100:
        return bytes([tag, 0x81, n]) + content
    return bytes([tag, 0x82, n >> 8, n & 0xFF]) + content


def seq(*parts):
    return tlv(0x30, b"".join(parts))


def oid(hexs):
    return tlv(0x06, H(hexs))


def addr(hexs, unused=0):
    return tlv(0x03, bytes([unused]) + H(hexs))


def v6(*items):
    return seq(tlv(0x04, H("0002")), seq(*items))


def blocks(*fams):
    der = seq(*fams)
    return x509.ip_addr_blocks(der, 0, len(der))


ALG_SHA256 = seq(oid("2a864886f70d01010b"), H("0500"))
NAME_A = seq(tlv(0x31, seq(oid("550403"), tlv(0x0C, b"a"))))
NAME_B = seq(tlv(0x31, seq(oid("550403"), tlv(0x0C, b"b"))))
VALIDITY = seq(tlv(0x17, b"260101000000Z"), tlv(0x18, b"20360101000000Z"))


def ext(oid_hex, value, critical=None):
    crit = b"" if critical is None else tlv(0x01, b"\xff" if critical else b"\x00")
    return seq(oid(oid_hex), crit, tlv(0x04, value))


def cert(
    exts=None, version=b"default", alg=ALG_SHA256, outer_alg=None, spki=None, uid=b"", tail=b"", sig=b"\x00" + bytes(8),
    serial=H("020101"),
):
    """A hand-built certificate (unsigned: the signature value is filler) for parser tests."""
    if spki is None:
        spki = RsaPublicKey.from_spki(read_fixture("keys/rfc3972_app_a.spki")).spki()
    if version == b"default":
        version = tlv(0xA0, H("020102")) if exts is not None else b""
    ext_part = b"" if exts is None else tlv(0xA3, seq(*exts))
    tbs = seq(version, serial, alg, NAME_A, VALIDITY, NAME_B, spki, uid, ext_part, tail)
    return seq(tbs, outer_alg if outer_alg is not None else alg, tlv(0x03, sig))


def parse(b):
    return x509.parse(b)


# ---------------------------------------------------------------- fixtures


def test_router_par_fields():
    der = pki("router_par")
    c = parse(der)
    inter = parse(pki("intermediate"))
    assert c.version == 3
    assert c.sig_hash == "sha256"
    assert c.sig_oid == x509.OID_SHA256_WITH_RSA
    assert c.der == der
    assert bytes(c.issuer) == bytes(inter.subject)
    assert bytes(c.subject) != bytes(c.issuer)
    assert not c.self_issued()
    assert c.not_before == NOT_BEFORE and c.not_after == NOT_AFTER
    assert not c.ca and c.path_len is None
    assert c.key_usage == x509.KU_DIGITAL_SIGNATURE
    assert c.eku == [x509.OID_KP_SEND_ROUTER]
    assert c.ip6 == [(H("20010db8000100000000000000000000"), H("20010db80001ffffffffffffffffffff"))]
    assert not c.unhandled_critical
    assert c.key_oid == x509.OID_RSA_ENCRYPTION
    assert len(c.signature) == 256 and c.sig_unused == 0


def test_tbs_is_the_inner_sequence():
    der = pki("router_par")
    c = parse(der)
    # Outer header is 30 82 xx xx, so the TBS TLV starts at 4 and ends where signatureAlgorithm starts.
    assert c.tbs == der[4 : 4 + len(c.tbs)]
    assert der[4] == 0x30
    assert der[4 + len(c.tbs) : 4 + len(c.tbs) + 15] == ALG_SHA256


def test_router_key_matches_fixture_key():
    from keyfixtures import load_public

    assert RsaPublicKey.from_spki(bytes(parse(pki("router_par")).spki)) == load_public("rsa2048_b")
    assert RsaPublicKey.from_spki(bytes(parse(pki("router_nar")).spki)) == load_public("rsa2048_c")
    assert RsaPublicKey.from_spki(bytes(parse(pki("anchor")).spki)) == load_public("rsa2048_a")


def test_anchor_and_intermediate():
    a = parse(pki("anchor"))
    assert a.ca and a.path_len is None and a.self_issued()
    assert a.key_usage & x509.KU_KEY_CERT_SIGN and not a.key_usage & x509.KU_DIGITAL_SIGNATURE
    assert a.ip6 == [(H("20010db8000000000000000000000000"), H("20010db8ffffffffffffffffffffffff"))]
    i = parse(pki("intermediate"))
    assert i.ca and i.path_len == 0
    assert bytes(i.issuer) == bytes(a.subject)
    assert i.ip6 == [(H("20010db8000000000000000000000000"), H("20010db800ffffffffffffffffffffff"))]


def test_fixture_variants():
    assert parse(pki("router_sha1")).sig_hash == "sha1"
    assert parse(pki("router_inherit")).ip6 is x509.INHERIT
    assert parse(pki("router_no3779")).ip6 is None
    assert parse(pki("router_range")).ip6 == [
        (H("20010db8000100000000000000000000"), H("20010db800020000ffffffffffffffff"))
    ]
    assert parse(pki("router_critical")).unhandled_critical
    assert parse(pki("router_no_eku")).eku is None
    assert parse(pki("router_any_eku")).eku == [x509.OID_ANY_EXT_KEY_USAGE]
    assert parse(pki("router_wrong_eku")).eku == [H("2b06010505070301")]
    assert parse(pki("router_ec")).key_oid != x509.OID_RSA_ENCRYPTION
    assert not parse(pki("intermediate_not_ca")).ca
    assert parse(pki("router_expired")).not_after == 1609459200


def test_parse_inside_a_larger_buffer():
    der = pki("router_nar")
    buf = b"\x10\x20\x30" + der + bytes(5)  # like a Certificate option: header before, padding after
    c = x509.parse(buf, 3, 3 + len(der))
    assert c.der == der
    assert bytes(c.subject) == bytes(parse(der).subject)
    raises(DecodeError, x509.parse, buf, 3, len(buf))
    raises(DecodeError, x509.parse, buf, 3, len(buf) + 1)


def test_every_truncation_is_decode_error():
    der = pki("router_par")
    for cut in range(len(der)):
        raises(DecodeError, x509.parse, der[:cut])


def test_trailing_bytes_refused():
    raises(DecodeError, x509.parse, pki("router_par") + b"\x00")


def test_byte_flips_only_decode_error_or_value():
    der = pki("router_range")
    for i in range(0, len(der), 3):
        b = bytearray(der)
        b[i] ^= 0x5A
        try:
            x509.parse(bytes(b))
        except DecodeError:
            pass


# ---------------------------------------------------------------- hand-built certificates


def test_minimal_v1_and_v3():
    c = parse(cert())
    assert c.version == 1 and c.eku is None and c.ip6 is None and not c.ca
    assert bytes(c.issuer) == NAME_A and bytes(c.subject) == NAME_B
    assert c.not_before == NOT_BEFORE and c.not_after == NOT_AFTER
    c = parse(cert([ext("551d0e", tlv(0x04, b"k"))]))
    assert c.version == 3


def test_version_rules():
    raises(DecodeError, parse, cert([ext("551d0e", tlv(0x04, b"k"))], version=b""))  # extensions in v1
    raises(DecodeError, parse, cert(version=tlv(0xA0, H("020100"))))  # explicit DEFAULT v1
    raises(DecodeError, parse, cert(version=tlv(0xA0, H("020103"))))
    assert parse(cert(version=tlv(0xA0, H("020101")))).version == 2


def test_signature_algorithms():
    sha384 = seq(oid("2a864886f70d01010c"), H("0500"))
    assert parse(cert(alg=sha384)).sig_hash is None
    no_params = seq(oid("2a864886f70d010105"))
    assert parse(cert(alg=no_params)).sig_hash == "sha1"
    odd_params = seq(oid("2a864886f70d010105"), H("0400"))
    assert parse(cert(alg=odd_params)).sig_hash is None
    sha1 = seq(oid("2a864886f70d010105"), H("0500"))
    # The outer signatureAlgorithm must repeat the inner one (RFC 5280 §4.1.1.2).
    raises(DecodeError, parse, cert(alg=sha1, outer_alg=ALG_SHA256))


def test_extension_rules():
    ski = ext("551d0e", tlv(0x04, b"k"))
    raises(DecodeError, parse, cert([ski, ski]))  # duplicate
    raises(DecodeError, parse, cert([ext("551d0e", tlv(0x04, b"k"), critical=False)]))  # DEFAULT FALSE coded
    raises(DecodeError, parse, cert([ext("551d0e", tlv(0x04, b"k")) + b"\x00"]))
    raises(DecodeError, parse, cert([]))  # SEQUENCE SIZE (1..MAX)
    assert not parse(cert([ski])).unhandled_critical
    assert not parse(cert([ext("551d0e", tlv(0x04, b"k"), critical=True)])).unhandled_critical
    assert not parse(cert([ext("2a0304", b"whatever")])).unhandled_critical  # unknown, not critical
    assert parse(cert([ext("2a0304", b"whatever", critical=True)])).unhandled_critical
    # Name constraints and policy constraints are not processed, so critical ones must stop the path.
    assert parse(cert([ext("551d1e", seq(), critical=True)])).unhandled_critical
    assert parse(cert([ext("551d24", seq(), critical=True)])).unhandled_critical


def test_certificate_policies():
    """RFC 5280 §4.2.1.4: SEQUENCE SIZE (1..MAX) OF PolicyInformation (an OID, then optional
    qualifiers); understood even when critical; an OID appears once."""
    p1 = seq(oid("2b06010505070e02"))
    p2 = seq(oid("2a0304"), seq(seq(oid("2b06010505070201"), tlv(0x16, b"https://cps.example"))))
    c = parse(cert([ext("551d20", seq(p1, p2), critical=True)]))
    assert not c.unhandled_critical
    assert c.policies == [H("2b06010505070e02"), H("2a0304")]
    assert parse(cert([ext("551d0e", tlv(0x04, b"k"))])).policies is None
    for bad in (seq(), seq(p1, p1), seq(seq(tlv(0x04, b"x"))), seq(seq(oid("2a0304"), tlv(0x04, b"q"))),
                seq(seq(oid("2a0304"), seq(), seq())), p1 + b"\x00"):
        raises(DecodeError, parse, cert([ext("551d20", bad, critical=True)]))


def test_basic_constraints():
    c = parse(cert([ext("551d13", seq(H("0101ff"), H("020103")), critical=True)]))
    assert c.ca and c.path_len == 3 and c.has_basic_constraints
    c = parse(cert([ext("551d13", seq())]))
    assert not c.ca and c.path_len is None and c.has_basic_constraints
    raises(DecodeError, parse, cert([ext("551d13", seq(H("010100")))]))  # DEFAULT FALSE coded
    raises(DecodeError, parse, cert([ext("551d13", seq(H("0101ff"), H("020180")))]))  # negative
    raises(DecodeError, parse, cert([ext("551d13", seq(H("0101ff")) + b"\x00")]))
    raises(DecodeError, parse, cert([ext("551d13", seq(H("020101"), H("0101ff")))]))  # wrong order


def test_key_usage_bits():
    # digitalSignature (bit 0) and keyCertSign (bit 5): 1000 0100, 2 unused bits.
    c = parse(cert([ext("551d0f", H("03020284"), critical=True)]))
    assert c.key_usage == x509.KU_DIGITAL_SIGNATURE | x509.KU_KEY_CERT_SIGN
    # decipherOnly is bit 8, in the second octet.
    c = parse(cert([ext("551d0f", H("0303070080"))]))
    assert c.key_usage == 0x100
    raises(DecodeError, parse, cert([ext("551d0f", H("0304000000ff"))]))
    # DER drops trailing 0 bits of a named bit list (X.690 §11.2.2), and some bit must be set.
    for der in ("03020080", "0303008000", "030100", "03020108"):
        raises(DecodeError, parse, cert([ext("551d0f", H(der))]))
    assert parse(cert([ext("551d0f", H("03020780"))])).key_usage == x509.KU_DIGITAL_SIGNATURE


def test_eku_list():
    c = parse(cert([ext("551d25", seq(oid("2b06010505070301"), oid("2b06010505070317")))]))
    assert c.eku == [H("2b06010505070301"), x509.OID_KP_SEND_ROUTER]
    raises(DecodeError, parse, cert([ext("551d25", seq())]))
    raises(DecodeError, parse, cert([ext("551d25", seq(tlv(0x04, b"x")))]))


def test_unique_ids_and_tail():
    uid = H("810200ff")
    ski = ext("551d0e", tlv(0x04, b"k"))
    raises(DecodeError, parse, cert(tail=H("0500")))
    raises(DecodeError, parse, cert(uid=uid))  # unique identifiers need v2 or v3
    assert parse(cert(uid=uid, version=tlv(0xA0, H("020101")))).version == 2
    assert parse(cert([ski], uid=uid + H("820100"))).version == 3
    raises(DecodeError, parse, cert([ski], tail=uid))  # after the extensions: out of order
    raises(DecodeError, parse, cert([ski], uid=H("820100") + uid))


def test_name_shape_checked():
    bad = seq(tlv(0x31, b""))  # empty RDN
    tbs_alg = ALG_SHA256
    spki = RsaPublicKey.from_spki(read_fixture("keys/rfc3972_app_a.spki")).spki()
    tbs = seq(H("020101"), tbs_alg, bad, VALIDITY, NAME_B, spki)
    raises(DecodeError, parse, seq(tbs, tbs_alg, tlv(0x03, b"\x00\x01")))


# ---------------------------------------------------------------- RFC 3779


ZERO16 = bytes(16)
ONES16 = b"\xff" * 16


def test_rfc3779_prefixes():
    assert blocks(v6(addr(""))) == [(ZERO16, ONES16)]  # ::/0
    got = blocks(v6(addr("20010db8"), addr("20010db80102", 0)))
    assert got == [
        (H("20010db8000000000000000000000000"), H("20010db8ffffffffffffffffffffffff")),
        (H("20010db8010200000000000000000000"), H("20010db80102ffffffffffffffffffff")),
    ]
    # 2001:db8:8000::/33: 33 bits -> five octets with 7 unused bits.
    assert blocks(v6(addr("20010db880", 7))) == [
        (H("20010db8800000000000000000000000"), H("20010db8ffffffffffffffffffffffff"))
    ]
    full = "20010db8000000000000000000000001"
    assert blocks(v6(addr(full))) == [(H(full), H(full))]


def test_rfc3779_range():
    # min 2001:db8:1:: (48 bits, trailing zero bits dropped) .. max 2001:db8:2:0:ffff:... (trailing ones dropped)
    r = seq(addr("20010db80001"), addr("20010db800020000"))
    assert blocks(v6(r)) == [(H("20010db8000100000000000000000000"), H("20010db800020000ffffffffffffffff"))]
    # The RFC 3779 §2.2.3.9 IPv4 example must decode (and is then dropped).
    v4 = seq(tlv(0x04, H("0001")), seq(seq(addr("8140", 6), addr("80", 4))))
    assert blocks(v4) == []
    raises(DecodeError, blocks, v6(seq(addr("20010db80002"), addr("20010db80001"))))  # min > max
    raises(DecodeError, blocks, v6(seq(addr("20010db80001"))))
    raises(DecodeError, blocks, v6(seq(addr("20010db80001"), addr("20010db80002"), addr("20"))))


def test_rfc3779_sorted_output():
    got = blocks(v6(addr("20010db80002"), addr("20010db80001")))
    assert got[0][0] < got[1][0]


def test_rfc3779_inherit_and_families():
    assert blocks(seq(tlv(0x04, H("0002")), H("0500"))) is x509.INHERIT
    v4only = seq(tlv(0x04, H("0001")), seq(addr("0a", 0)))
    assert blocks(v4only) == []  # the extension grants no IPv6 at all
    assert blocks(v4only, v6(addr("20010db8"))) == [
        (H("20010db8000000000000000000000000"), H("20010db8ffffffffffffffffffffffff"))
    ]
    # IPv4 inherit has no effect on IPv6.
    assert blocks(seq(tlv(0x04, H("0001")), H("0500"))) == []
    # IPv6 with a SAFI (unicast) counts towards the union.
    safi = seq(tlv(0x04, H("000201")), seq(addr("20010db9")))
    assert len(blocks(v6(addr("20010db8")), safi)) == 2


def test_rfc3779_rejects():
    raises(DecodeError, blocks, v6(addr("20010db8"), addr("00" * 17)))  # more than 128 bits
    raises(DecodeError, blocks, seq(tlv(0x04, H("0001")), seq(addr("0a000000ff"))))  # more than 32 bits
    raises(DecodeError, blocks, v6(addr("20")), v6(addr("30")))  # duplicate family
    raises(DecodeError, blocks, seq(tlv(0x04, H("0003")), H("0500")))  # unknown AFI
    raises(DecodeError, blocks, seq(tlv(0x04, H("02")), H("0500")))  # AFI too short
    raises(DecodeError, blocks, seq(tlv(0x04, H("00020101")), H("0500")))  # too long
    raises(DecodeError, blocks, seq(tlv(0x04, H("0002")), H("050100")))  # NULL with content
    raises(DecodeError, blocks, seq(tlv(0x04, H("0002")), H("0101ff")))  # neither choice
    raises(DecodeError, blocks, seq(tlv(0x04, H("0002")), seq(H("0401aa"))))
    raises(DecodeError, blocks, seq(tlv(0x04, H("0002")), seq(), H("0500")))
    raises(DecodeError, blocks, seq(tlv(0x04, H("0002")), H("0500")), seq(tlv(0x04, H("000201")), seq(addr("20"))))
    raises(DecodeError, blocks, H("0500"))
    der = seq(v6(addr("20"))) + b"\x00"
    raises(DecodeError, x509.ip_addr_blocks, der, 0, len(der))


def test_rfc3779_in_a_certificate():
    value = seq(v6(addr("20010db8000a")))
    c = parse(cert([ext("2b06010505070107", value, critical=True)]))
    assert c.ip6 == [(H("20010db8000a00000000000000000000"), H("20010db8000affffffffffffffffffff"))]
    assert not c.unhandled_critical
    raises(DecodeError, parse, cert([ext("2b06010505070107", value + b"\x00", critical=True)]))


def test_serial_number_is_minimal_der():
    """X.690 §8.3.2: an INTEGER has no leading octet that only repeats the sign of the next;
    negative and long (up to 32 octets) serials are taken, as found in the wild."""
    for good in ("020100", "02017f", "02020080", "0201ff", "0202ff7f", "0220" + "7f" * 32):
        parse(cert(serial=H(good)))
    for bad in ("0200", "0203000001", "02020001", "0202ff80", "0221" + "7f" * 33):
        raises(DecodeError, parse, cert(serial=H(bad)))
