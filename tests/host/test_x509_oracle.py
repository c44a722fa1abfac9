"""Our DER/X.509/path code against `cryptography`, `ipaddress` and `datetime` as oracles (CPython only)."""

import datetime
import ipaddress
import os

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from handoverkey.errors import DecodeError, VerifyError
from handoverkey.send import asn1, certpath, x509
from hostsim import pki

UTC = datetime.timezone.utc
FIXTURES = pki.PKI_DIR
CERT_FILES = sorted(f for f in os.listdir(FIXTURES) if f.endswith(".der"))
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def oid_content(dotted):
    """DER content octets of a dotted OID (independent of the firmware's reader)."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for i, v in enumerate([arcs[0] * 40 + arcs[1]] + arcs[2:]):
        chunk = [v & 0x7F]
        v >>= 7
        while v:
            chunk.append(0x80 | (v & 0x7F))
            v >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def expected_ranges(items):
    out = []
    for it in items:
        if isinstance(it, str):
            n = ipaddress.ip_network(it)
            lo, hi = int(n.network_address), int(n.broadcast_address)
        else:
            lo, hi = (int(ipaddress.ip_address(x)) for x in it)
        out.append((lo.to_bytes(16, "big"), hi.to_bytes(16, "big")))
    return sorted(out)


def compare_with_cryptography(der):
    ours = x509.parse(der)
    ref = cx509.load_der_x509_certificate(der)
    assert bytes(ours.subject) == ref.subject.public_bytes()
    assert bytes(ours.issuer) == ref.issuer.public_bytes()
    assert ours.not_before == int(ref.not_valid_before_utc.timestamp())
    assert ours.not_after == int(ref.not_valid_after_utc.timestamp())
    spki = ref.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert bytes(ours.spki) == spki
    assert bytes(ours.tbs) == ref.tbs_certificate_bytes
    assert bytes(ours.signature) == ref.signature
    assert ours.sig_oid == oid_content(ref.signature_algorithm_oid.dotted_string)
    assert ours.sig_hash == {"sha1": "sha1", "sha256": "sha256"}.get(ref.signature_hash_algorithm.name)
    assert ours.version == 3
    try:
        eku = ref.extensions.get_extension_for_class(cx509.ExtendedKeyUsage).value
        assert ours.eku == [oid_content(o.dotted_string) for o in eku]
    except cx509.ExtensionNotFound:
        assert ours.eku is None
    try:
        bc = ref.extensions.get_extension_for_class(cx509.BasicConstraints).value
        assert ours.ca == bc.ca and ours.path_len == bc.path_length
    except cx509.ExtensionNotFound:
        assert not ours.ca and ours.path_len is None
    try:
        ku = ref.extensions.get_extension_for_class(cx509.KeyUsage).value
        assert bool(ours.key_usage & x509.KU_DIGITAL_SIGNATURE) == ku.digital_signature
        assert bool(ours.key_usage & x509.KU_KEY_CERT_SIGN) == ku.key_cert_sign
        assert bool(ours.key_usage & 0x40) == ku.crl_sign
    except cx509.ExtensionNotFound:
        assert ours.key_usage is None
    return ours, ref


# ---------------------------------------------------------------- fixtures


@pytest.mark.parametrize("name", CERT_FILES)
def test_fixture_agrees_with_cryptography(name):
    compare_with_cryptography(read(name))


def test_fixture_set_reproducible():
    # Deterministic serials and PKCS#1 v1.5 signatures: main() must rewrite the committed bytes.
    made = pki.fixture_set()
    assert sorted(made) == CERT_FILES
    for name, der in made.items():
        assert der == read(name), name


def test_wall_clock_constant():
    assert pki.WALL_S == 1811808000
    assert "WALL_S = 1811808000" in open(os.path.join(FIXTURES, "README.txt")).read()


def test_pki_encoder_matches_rfc3779_examples():
    # RFC 3779 §2.2.3.6 and §2.2.3.9 (IPv4 examples).
    assert pki.address_or_range("10.32.0.0/12", 32) == bytes.fromhex("0303040a20")
    assert pki.address_or_range("10.64.0.0/16", 32) == bytes.fromhex("0303000a40")
    assert pki.address_or_range(("129.64.0.0", "143.255.255.255"), 32) == bytes.fromhex("300903030681400302" + "0480")
    assert pki.address_or_range(("128.0.0.0", "143.255.255.255"), 32) == bytes.fromhex("030204" + "80")


# ---------------------------------------------------------------- generated certificates

_KEYS = {}


def key(name):
    if name not in _KEYS:
        _KEYS[name] = pki.load_key(os.path.join(pki.KEYS_DIR, name + ".pk8"))
    return _KEYS[name]


def anchor_ca():
    if "anchor" not in _KEYS:
        _KEYS["anchor"] = pki.make_trust_anchor(key("rsa2048_a"), prefixes=None)
    return _KEYS["anchor"]


v6_nets = st.builds(
    lambda addr, plen: str(ipaddress.IPv6Network((addr, plen), strict=False)),
    st.integers(0, 2**128 - 1),
    st.integers(0, 128),
)
v6_ranges = st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 2**128 - 1)).map(
    lambda t: (str(ipaddress.IPv6Address(min(t))), str(ipaddress.IPv6Address(max(t))))
)
times = st.datetimes(
    min_value=datetime.datetime(1950, 1, 1), max_value=datetime.datetime(9999, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
eku_lists = st.one_of(
    st.none(),
    st.just("router"),
    st.lists(st.sampled_from(["1.3.6.1.5.5.7.3.23", "1.3.6.1.5.5.7.3.1", "2.5.29.37.0", "1.2.3.4.5.6789"]),
             min_size=1, max_size=4, unique=True),
)


@SLOW
@given(
    prefixes=st.lists(st.one_of(v6_nets, v6_ranges), max_size=6),
    t1=times,
    t2=times,
    eku=eku_lists,
    hash_name=st.sampled_from(["sha256", "sha1"]),
)
def test_random_router_certs_agree(prefixes, t1, t2, eku, hash_name):
    nb, na = min(t1, t2), max(t1, t2)
    der = pki.make_router_cert(
        anchor_ca(), key("rsa1024_b"), prefixes, eku=eku, not_before=nb, not_after=na, hash=hash_name
    )
    ours, _ref = compare_with_cryptography(der)
    assert ours.ip6 == expected_ranges(prefixes)
    assert ours.not_before == int(nb.timestamp())


@SLOW
@given(ca=st.booleans(), path_len=st.one_of(st.none(), st.integers(0, 300)), ipv4=st.booleans())
def test_random_ca_certs_agree(ca, path_len, ipv4):
    blocks = pki.ip_addr_blocks(["2001:db8::/32"], ipv4=["10.0.0.0/8", ("192.0.2.1", "192.0.2.77")] if ipv4 else ())
    issued = pki.make_ca(anchor_ca(), key("rsa1024_c"), ca=ca, path_len=path_len if ca else None, ip_blocks=blocks)
    ours, _ = compare_with_cryptography(issued.der)
    assert ours.ip6 == expected_ranges(["2001:db8::/32"])


# ---------------------------------------------------------------- time conversion


@given(st.datetimes(min_value=datetime.datetime(1950, 1, 1), max_value=datetime.datetime(2049, 12, 31, 23, 59, 59)))
def test_utctime_matches_datetime(d):
    text = d.strftime("%y%m%d%H%M%SZ").encode()
    b = bytes([asn1.UTC_TIME, len(text)]) + text
    assert asn1.read_time(b, 0, len(b))[0] == int(d.replace(microsecond=0, tzinfo=UTC).timestamp())


@given(st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31, 23, 59, 59)))
def test_generalizedtime_matches_datetime(d):
    text = ("%04d" % d.year).encode() + d.strftime("%m%d%H%M%SZ").encode()
    b = bytes([asn1.GENERALIZED_TIME, len(text)]) + text
    assert asn1.read_time(b, 0, len(b))[0] == int(d.replace(microsecond=0, tzinfo=UTC).timestamp())


# ---------------------------------------------------------------- robustness


READERS = (
    asn1.read_header,
    asn1.read_integer,
    asn1.read_oid,
    asn1.read_bit_string,
    asn1.read_boolean,
    asn1.read_null,
    asn1.read_time,
    asn1.read_octet_string,
)


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_der_readers_value_or_decode_error(b):
    for fn in READERS:
        try:
            fn(b, 0, len(b))
        except DecodeError:
            pass
    try:
        list(asn1.items(b, 0, len(b)))
    except DecodeError:
        pass
    try:
        x509.ip_addr_blocks(b, 0, len(b))
    except DecodeError:
        pass


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_cert_parser_arbitrary_bytes(b):
    try:
        x509.parse(b)
    except DecodeError:
        pass


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_cert_parser_arbitrary_bytes_in_a_sequence(b):
    # Behind a valid outer header the parser gets further before it can stop.
    der = pki._tlv(0x30, pki._tlv(0x30, b))
    try:
        x509.parse(der)
    except DecodeError:
        pass


def _mutate(der, data):
    b = bytearray(der)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        i = data.draw(st.integers(0, len(b) - 1))
        if kind == "flip":
            b[i] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set":
            b[i] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            b[i:i] = bytes([data.draw(st.integers(0, 255))])
        elif len(b) > 1:
            del b[i]
    return bytes(b)


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(CERT_FILES), data=st.data())
def test_mutated_fixtures_parse_or_decode_error(name, data):
    der = _mutate(read(name), data)
    try:
        x509.parse(der)
    except DecodeError:
        pass


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_paths_never_accepted(data):
    inter, par = read("intermediate.der"), read("router_par.der")
    which = data.draw(st.integers(0, 1))
    certs = [inter, par]
    certs[which] = _mutate(certs[which], data)
    assume(certs[which] != (inter, par)[which])
    with pytest.raises(VerifyError):
        certpath.validate_path([read("anchor.der")], certs, pki.WALL_S, bytes.fromhex("20010db8000100000000000000000000"))


# ---------------------------------------------------------------- path validation against a model


def _covered(inner, outer):
    """Model: every address of `inner` items lies in the union of `outer` items (ipaddress arithmetic)."""
    spans = sorted((int(lo.hex(), 16), int(hi.hex(), 16)) for lo, hi in expected_ranges(outer))
    merged = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    for lo, hi in ((int(a.hex(), 16), int(b.hex(), 16)) for a, b in expected_ranges(inner)):
        if not any(m[0] <= lo and hi <= m[1] for m in merged):
            return False
    return True


_ANCHORS = {}


def constrained_anchor(nets):
    k = tuple(nets)
    if k not in _ANCHORS:
        _ANCHORS[k] = pki.make_trust_anchor(key("rsa2048_a"), prefixes=list(nets))
    return _ANCHORS[k]


small_nets = st.builds(
    lambda hi16, plen: str(ipaddress.IPv6Network(((0x20010DB8 << 96) | (hi16 << 80), plen), strict=False)),
    st.integers(0, 0xFFFF),
    st.integers(32, 64),
)


@SLOW
@given(
    anchor_nets=st.lists(small_nets, min_size=1, max_size=3),
    inter_nets=st.one_of(st.none(), st.just("inherit"), st.lists(small_nets, max_size=3)),
    router_nets=st.one_of(st.none(), st.just("inherit"), st.lists(small_nets, max_size=3)),
    prefix_hi=st.integers(0, 0xFFFF),
)
def test_rfc3779_nesting_matches_model(anchor_nets, inter_nets, router_nets, prefix_hi):
    anchor = constrained_anchor(anchor_nets)
    inter = pki.make_ca(anchor, key("rsa1024_a"), prefixes=inter_nets)
    router = pki.make_router_cert(inter, key("rsa1024_b"), router_nets)
    prefix = ((0x20010DB8 << 96) | (prefix_hi << 80)).to_bytes(16, "big")

    # Model of RFC 3779 with RFC 3971's "missing or inherit takes the issuer's set".
    eff, ok, why = list(anchor_nets), True, None
    for nets in (inter_nets, router_nets):
        if isinstance(nets, list):
            if not _covered(nets, eff):
                ok, why = False, "rfc3779"
                break
            eff = nets
    if ok:
        p64 = str(ipaddress.IPv6Network((int.from_bytes(prefix, "big"), 64)))
        if not _covered([p64], eff):
            ok, why = False, "prefix"
    event(why or "accepted")
    try:
        got = certpath.validate_path([anchor.der], [inter.der, router], pki.WALL_S, prefix)
    except VerifyError as e:
        assert not ok and e.reason == why, (e.reason, why)
    else:
        assert ok, why
        assert got.n == key("rsa1024_b").public_key().public_numbers().n


# ---------------------------------------------------------------- RFC 5280 pathLen against a model


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    anchor_len=st.one_of(st.none(), st.integers(0, 3)),
    cas=st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 3)), st.booleans()), min_size=0, max_size=4),
)
def test_path_len_matches_model(anchor_len, cas):
    """cas: (pathLen, self_issued) per intermediate CA, top down."""
    anchor = pki.make_trust_anchor(key("rsa2048_a"), name="PL anchor", prefixes=None, path_len=anchor_len)
    issuer, certs = anchor, []
    for i, (plen, self_issued) in enumerate(cas):
        # A self-issued CA repeats its issuer's name (a key rollover certificate, RFC 5280 §3.2).
        name = issuer.name if self_issued and i else "PL CA %d" % i
        ca = pki.make_ca(issuer, key("rsa1024_a" if i % 2 else "rsa1024_c"), name=name, prefixes=None, path_len=plen)
        certs.append(ca.der)
        issuer = ca
    certs.append(pki.make_router_cert(issuer, key("rsa1024_b"), None))

    # Model: RFC 5280 §6.1.4 (l) and (m).
    max_len, ok = anchor_len, True
    for i, (plen, self_issued) in enumerate(cas):
        name_same = self_issued and i
        if not name_same:
            if max_len is not None:
                if max_len <= 0:
                    ok = False
                    break
                max_len -= 1
        if plen is not None and (max_len is None or plen < max_len):
            max_len = plen
    try:
        certpath.validate_path([anchor.der], certs, pki.WALL_S)
    except VerifyError as e:
        assert not ok and e.reason == "path-len", e.reason
    else:
        assert ok
