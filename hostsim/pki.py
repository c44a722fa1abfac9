"""Test PKI for SEND routers: trust anchor, intermediate CA and router certificates with RFC 3779 IPv6 blocks."""

import argparse
import datetime
import hashlib
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS_DIR = os.path.join(ROOT, "tests", "fixtures", "keys")
PKI_DIR = os.path.join(ROOT, "tests", "fixtures", "pki")

OID_IP_ADDR_BLOCKS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.7")
OID_KP_SEND_ROUTER = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.23")
# A private-arc OID nobody implements: stands for "a critical extension the relying party does not know".
OID_UNKNOWN_CRITICAL = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.1")

UTC = datetime.timezone.utc
VALID_FROM = datetime.datetime(2026, 1, 1, tzinfo=UTC)
VALID_UNTIL = datetime.datetime(2036, 1, 1, tzinfo=UTC)
# The wall clock the fixture tests run at: inside every fixture's validity except the expired one.
WALL_S = int(datetime.datetime(2027, 6, 1, tzinfo=UTC).timestamp())

ANCHOR_NAME = "HandoverKey Test Anchor"
INTERMEDIATE_NAME = "HandoverKey Test Operator CA"
ORG = "handoverkey test PKI"


# ---------------------------------------------------------------- keys


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_der_private_key(f.read(), password=None)


def save_key(key, path):
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with open(path, "wb") as f:
        f.write(der)


def fixture_key(name, bits=2048, generate_into=PKI_DIR, kind="rsa"):
    """Key `name` from tests/fixtures/keys/, else tests/fixtures/pki/, else generated and saved there.

    kind "rsa" makes an RSA key of `bits`; "ec" a P-256 key (for the not-RSA router certificate)."""
    for d in (KEYS_DIR, PKI_DIR):
        path = os.path.join(d, name + ".pk8")
        if os.path.exists(path):
            return load_key(path)
    if kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if generate_into:
        os.makedirs(generate_into, exist_ok=True)
        save_key(key, os.path.join(generate_into, name + ".pk8"))
    return key


# ---------------------------------------------------------------- RFC 3779 DER


def _tlv(tag, content):
    n = len(content)
    if n < 0x80:
        head = bytes([tag, n])
    else:
        ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([tag, 0x80 | len(ln)]) + ln
    return head + content


def _bits(value, nbits, width=128):
    """BIT STRING TLV of the top `nbits` bits of a `width`-bit integer (the other bits cleared)."""
    nbytes = (nbits + 7) // 8
    unused = nbytes * 8 - nbits
    top = value >> (width - nbits) if nbits else 0
    data = (top << unused).to_bytes(nbytes, "big") if nbytes else b""
    return _tlv(0x03, bytes([unused]) + data)


def _trailing(value, bit, width=128):
    n = 0
    while n < width and (value >> n) & 1 == bit:
        n += 1
    return n


def address_or_range(item, width=128):
    """DER IPAddressOrRange for "2001:db8::/48" or (low, high) address strings or ints.

    A range that is exactly a prefix is encoded as a prefix, as RFC 3779 §2.2.3.7 requires."""
    if isinstance(item, str):
        net = ipaddress.ip_network(item, strict=True)
        return _bits(int(net.network_address), net.prefixlen, width)
    lo, hi = (int(ipaddress.ip_address(x)) if isinstance(x, str) else x for x in item)
    if lo > hi:
        raise ValueError("range low > high")
    # Prefix form when lo..hi is one aligned block.
    span = hi - lo + 1
    if span & (span - 1) == 0 and lo % span == 0:
        return _bits(lo, width - (span.bit_length() - 1), width)
    min_bits = width - _trailing(lo, 0, width)
    max_bits = width - _trailing(hi, 1, width)
    return _tlv(0x30, _bits(lo, min_bits, width) + _bits(hi, max_bits, width))


def _sort_key(item, width):
    if isinstance(item, str):
        net = ipaddress.ip_network(item)
        return (int(net.network_address), net.prefixlen)
    lo = item[0]
    return (int(ipaddress.ip_address(lo)) if isinstance(lo, str) else lo, width)


def ip_addr_blocks(prefixes=(), inherit=False, ipv4=(), ipv4_inherit=False, sort=True):
    """DER IPAddrBlocks (the extension value): IPv4 family first if given, then IPv6.

    prefixes: IPv6 items for address_or_range(); inherit=True writes the IPv6 "inherit" NULL instead.
    Pass prefixes=None and inherit=False to leave the IPv6 family out altogether."""
    fams = b""
    if ipv4 or ipv4_inherit:
        items = sorted(ipv4, key=lambda x: _sort_key(x, 32)) if sort else list(ipv4)
        choice = b"\x05\x00" if ipv4_inherit else _tlv(0x30, b"".join(address_or_range(i, 32) for i in items))
        fams += _tlv(0x30, _tlv(0x04, b"\x00\x01") + choice)
    if inherit:
        fams += _tlv(0x30, _tlv(0x04, b"\x00\x02") + b"\x05\x00")
    elif prefixes is not None:
        items = sorted(prefixes, key=lambda x: _sort_key(x, 128)) if sort else list(prefixes)
        fams += _tlv(0x30, _tlv(0x04, b"\x00\x02") + _tlv(0x30, b"".join(address_or_range(i) for i in items)))
    return _tlv(0x30, fams)


# ---------------------------------------------------------------- certificates


class Ca:
    """An issuer: its key, Name and certificate (cryptography object and DER)."""

    def __init__(self, key, name, cert):
        self.key = key
        self.name = name
        self.cert = cert
        self.der = cert.public_bytes(serialization.Encoding.DER)

    @property
    def name_der(self):
        return self.name.public_bytes()


def make_name(common_name, org=ORG):
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _hash(name):
    if name == "sha1":
        return hashes.SHA1()
    if name == "sha256":
        return hashes.SHA256()
    if name == "sha384":
        return hashes.SHA384()
    raise ValueError("hash " + name)


def _serial(*parts):
    # Deterministic, so re-running main() with the same keys writes the same bytes.
    h = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(h[:15], "big") | 1


def _eku_ext(eku):
    if eku is None:
        return None
    if eku == "router":
        oids = [OID_KP_SEND_ROUTER]
    elif eku == "wrong":
        oids = [ExtendedKeyUsageOID.SERVER_AUTH]
    elif eku == "any":
        oids = [ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]
    else:
        oids = [o if isinstance(o, x509.ObjectIdentifier) else x509.ObjectIdentifier(o) for o in eku]
    return x509.ExtendedKeyUsage(oids)


def _build(
    issuer_name,
    issuer_key,
    subject_name,
    public_key,
    *,
    ca,
    path_len=None,
    prefixes=None,
    ip_blocks=None,
    ip_critical=True,
    eku=None,
    not_before=VALID_FROM,
    not_after=VALID_UNTIL,
    hash="sha256",
    key_usage="default",
    extra_extensions=(),
    serial=None,
    basic_constraints=True,
):
    b = x509.CertificateBuilder()
    b = b.issuer_name(issuer_name).subject_name(subject_name).public_key(public_key)
    b = b.not_valid_before(not_before).not_valid_after(not_after)
    b = b.serial_number(
        serial
        if serial is not None
        else _serial(issuer_name.rfc4514_string(), subject_name.rfc4514_string(), prefixes, not_before, not_after, eku)
    )
    if basic_constraints:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_len if ca else None), critical=True)
    if key_usage == "default":
        key_usage = "ca" if ca else "sign"
    if key_usage:
        sign = key_usage == "sign"
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=sign,
                content_commitment=False,
                key_encipherment=key_usage == "encipher",
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=key_usage == "ca",
                crl_sign=key_usage == "ca",
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    if ip_blocks is None and prefixes is not None:
        ip_blocks = ip_addr_blocks(inherit=True) if prefixes == "inherit" else ip_addr_blocks(prefixes)
    if ip_blocks is not None:
        b = b.add_extension(x509.UnrecognizedExtension(OID_IP_ADDR_BLOCKS, ip_blocks), critical=ip_critical)
    ext = _eku_ext(eku)
    if ext is not None:
        b = b.add_extension(ext, critical=False)
    for e, crit in extra_extensions:
        b = b.add_extension(e, critical=crit)
    if hash == "sha1":
        # cryptography no longer signs certificates with SHA-1; sign with SHA-256 and redo the signature.
        der = b.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        return x509.load_der_x509_certificate(resign(der, issuer_key, "sha1"))
    return b.sign(issuer_key, _hash(hash))


_ALG_IDS = {
    "sha1": bytes.fromhex("300d06092a864886f70d0101050500"),
    "sha256": bytes.fromhex("300d06092a864886f70d01010b0500"),
}


def _der_split(der, off):
    """(tag, value_off, value_end) of the DER TLV at off (host side, trusted input)."""
    tag = der[off]
    n = der[off + 1]
    p = off + 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(der[p : p + k], "big")
        p += k
    return tag, p, p + n


def sign_tbs(tbs, issuer_key, hash="sha256"):
    """Certificate DER from a TBSCertificate DER (already naming the right algorithm) signed by issuer_key."""
    sig = issuer_key.sign(bytes(tbs), padding.PKCS1v15(), _hash(hash))
    return _tlv(0x30, bytes(tbs) + _ALG_IDS[hash] + _tlv(0x03, b"\x00" + sig))


def tbs_of(cert_der):
    """The TBSCertificate TLV of a certificate DER."""
    _t, voff, _e = _der_split(cert_der, 0)
    _t, _v, tend = _der_split(cert_der, voff)
    return cert_der[voff:tend]


def resign(cert_der, issuer_key, hash="sha1"):
    """The same certificate re-signed with `hash`, both AlgorithmIdentifiers switched to it."""
    tbs = tbs_of(cert_der)
    for old in _ALG_IDS.values():
        i = tbs.find(old)
        if i >= 0:
            tbs = tbs[:i] + _ALG_IDS[hash] + tbs[i + len(old) :]
            break
    else:
        raise ValueError("no RSA AlgorithmIdentifier in the TBSCertificate")
    return sign_tbs(tbs, issuer_key, hash)


def make_trust_anchor(key, name=ANCHOR_NAME, prefixes=("2001:db8::/32",), path_len=None, **kw):
    """Self-signed CA (the trust anchor). prefixes: RFC 3779 IPv6 items, "inherit", or None for no extension."""
    n = make_name(name) if isinstance(name, str) else name
    cert = _build(n, key, n, key.public_key(), ca=True, path_len=path_len, prefixes=prefixes, **kw)
    return Ca(key, n, cert)


def make_ca(issuer, key, name=INTERMEDIATE_NAME, prefixes=("2001:db8::/40",), path_len=None, ca=True, **kw):
    """An intermediate CA certificate issued by `issuer` (a Ca). ca=False makes a non-CA impostor."""
    n = make_name(name) if isinstance(name, str) else name
    cert = _build(issuer.name, issuer.key, n, key.public_key(), ca=ca, path_len=path_len, prefixes=prefixes, **kw)
    return Ca(key, n, cert)


def make_router_cert(ca, router_key, prefixes, name="router.example", eku="router", **kw):
    """DER router certificate issued by `ca`.

    prefixes: IPv6 items ("2001:db8:1::/48" or (low, high)), "inherit", or None (no RFC 3779 extension).
    eku: "router" (id-kp-sendRouter), None (no EKU), "wrong" (serverAuth), "any" or a list of OIDs.
    Other keywords: not_before, not_after, hash, ip_blocks (raw DER override), ip_critical,
    key_usage ("sign"/"ca"/"encipher"/None), extra_extensions [(ext, critical)], serial."""
    n = make_name(name) if isinstance(name, str) else name
    pub = router_key.public_key() if hasattr(router_key, "public_key") else router_key
    cert = _build(ca.name, ca.key, n, pub, ca=False, prefixes=prefixes, eku=eku, **kw)
    return cert.public_bytes(serialization.Encoding.DER)


# ---------------------------------------------------------------- the committed fixture set


def fixture_set():
    """{file name: DER} of the committed fixtures (see tests/fixtures/pki/README.txt)."""
    anchor_key = fixture_key("rsa2048_a")
    inter_key = fixture_key("intermediate_key")
    par_key = fixture_key("rsa2048_b")
    nar_key = fixture_key("rsa2048_c")
    anchor = make_trust_anchor(anchor_key)
    inter = make_ca(anchor, inter_key, path_len=0)
    out = {"anchor.der": anchor.der, "intermediate.der": inter.der}
    out["router_par.der"] = make_router_cert(inter, par_key, ["2001:db8:1::/48"], name="par.example")
    out["router_nar.der"] = make_router_cert(anchor, nar_key, ["2001:db8:2::/64"], name="nar.example")
    out["router_outside.der"] = make_router_cert(inter, par_key, ["2001:db9:1::/64"], name="outside.example")
    out["router_wrong_eku.der"] = make_router_cert(
        inter, par_key, ["2001:db8:1::/48"], name="wrong-eku.example", eku="wrong"
    )
    out["router_any_eku.der"] = make_router_cert(inter, par_key, ["2001:db8:1::/48"], name="any-eku.example", eku="any")
    out["router_no_eku.der"] = make_router_cert(inter, par_key, ["2001:db8:1::/48"], name="no-eku.example", eku=None)
    out["router_expired.der"] = make_router_cert(
        inter,
        par_key,
        ["2001:db8:1::/48"],
        name="expired.example",
        not_before=datetime.datetime(2020, 1, 1, tzinfo=UTC),
        not_after=datetime.datetime(2021, 1, 1, tzinfo=UTC),
    )
    out["router_sha1.der"] = make_router_cert(anchor, nar_key, ["2001:db8:2::/64"], name="sha1.example", hash="sha1")
    out["router_inherit.der"] = make_router_cert(inter, par_key, "inherit", name="inherit.example")
    out["router_no3779.der"] = make_router_cert(inter, par_key, None, name="no3779.example")
    out["router_range.der"] = make_router_cert(
        inter, par_key, [("2001:db8:1::", "2001:db8:2:0:ffff:ffff:ffff:ffff")], name="range.example"
    )
    out["router_ec.der"] = make_router_cert(
        inter, fixture_key("router_ec_key", kind="ec"), ["2001:db8:1::/48"], name="ec.example"
    )
    out["router_no_digsig.der"] = make_router_cert(
        inter, par_key, ["2001:db8:1::/48"], name="no-digsig.example", key_usage="encipher"
    )
    out["router_critical.der"] = make_router_cert(
        inter,
        par_key,
        ["2001:db8:1::/48"],
        name="critical.example",
        extra_extensions=[(x509.UnrecognizedExtension(OID_UNKNOWN_CRITICAL, b"\x05\x00"), True)],
    )
    # The RPKI profile SEND certificates follow (RFC 6494 §4 -> RFC 6487 §4.8.9): a critical
    # certificatePolicies extension with the one policy id-cp-ipAddr-asNumber.
    rpki_policy = x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("1.3.6.1.5.5.7.14.2"), None)])
    out["router_policies.der"] = make_router_cert(
        inter, par_key, ["2001:db8:1::/48"], name="policies.example", extra_extensions=[(rpki_policy, True)]
    )
    # Same subject name and key as the intermediate, so router_par.der chains to them byte-wise.
    out["intermediate_not_ca.der"] = make_ca(anchor, inter_key, ca=False, key_usage="sign").der
    out["intermediate_no_bc.der"] = make_ca(anchor, inter_key, basic_constraints=False).der
    out["intermediate_no_certsign.der"] = make_ca(anchor, inter_key, path_len=0, key_usage="sign").der
    out["intermediate_nolimit.der"] = make_ca(anchor, inter_key).der
    out["anchor_pathlen1.der"] = make_trust_anchor(anchor_key, path_len=1).der
    out["intermediate_wide.der"] = make_ca(anchor, inter_key, prefixes=["2001:db8::/31"], path_len=0).der
    sub = make_ca(inter, nar_key, name="HandoverKey Test Sub CA", prefixes=["2001:db8:1::/48"])
    out["sub_ca.der"] = sub.der
    out["router_under_sub.der"] = make_router_cert(sub, par_key, ["2001:db8:1::/64"], name="sub.example")
    # Same name as the anchor, another key: signatures below the real anchor must not verify with it.
    out["anchor_rogue.der"] = make_trust_anchor(nar_key).der
    out["anchor_other.der"] = make_trust_anchor(par_key, name="Some Other Anchor").der
    out["anchor_unconstrained.der"] = make_trust_anchor(anchor_key, prefixes=None).der
    return out


README = """Test PKI made by `python -m hostsim.pki` (hostsim/pki.py main()); regenerate only on purpose.

Validity 2026-01-01 .. 2036-01-01 unless noted; tests use WALL_S = {wall} (2027-06-01T00:00:00Z).
Keys: the anchor is rsa2048_a and the routers rsa2048_b (PAR) / rsa2048_c (NAR) from
tests/fixtures/keys/; intermediate_key.pk8 and router_ec_key.pk8 live here.

anchor.der               self-signed CA "HandoverKey Test Anchor", 2001:db8::/32 (rsa2048_a)
intermediate.der         CA under anchor, pathLen 0, 2001:db8::/40 (intermediate_key)
router_par.der           intermediate -> router, 2001:db8:1::/48, id-kp-sendRouter (rsa2048_b)
router_nar.der           anchor -> router, 2001:db8:2::/64, id-kp-sendRouter (rsa2048_c)
router_outside.der       intermediate -> router, 2001:db9:1::/64: not inside 2001:db8::/40 (rfc3779)
router_wrong_eku.der     EKU serverAuth only (eku)
router_any_eku.der       EKU anyExtendedKeyUsage only (eku, RFC 6494 §7)
router_no_eku.der        no EKU extension (accepted)
router_expired.der       valid 2020-01-01 .. 2021-01-01 (expired)
router_sha1.der          anchor -> router signed with sha1WithRSAEncryption, 2001:db8:2::/64
router_inherit.der       RFC 3779 IPv6 "inherit" (gets the intermediate's 2001:db8::/40)
router_no3779.der        no RFC 3779 extension (inherits the intermediate's set)
router_range.der         addressRange 2001:db8:1:: .. 2001:db8:2:0:ffff:ffff:ffff:ffff
router_ec.der            intermediate -> router with an EC P-256 key (not-rsa; key router_ec_key.pk8)
router_no_digsig.der     keyUsage keyEncipherment only, no digitalSignature (key-usage)
router_critical.der      an unknown critical extension (critical-ext)
router_policies.der      critical certificatePolicies, id-cp-ipAddr-asNumber (RFC 6487 §4.8.9; accepted)
intermediate_not_ca.der  same name/key as intermediate but not a CA (not-ca with router_par.der)
intermediate_no_bc.der   same name/key as intermediate, keyCertSign but no basicConstraints (not-ca)
intermediate_no_certsign.der  same name/key, cA TRUE but keyUsage without keyCertSign (not-ca)
intermediate_nolimit.der same name/key as intermediate, no pathLen (3-level path with sub_ca)
anchor_pathlen1.der      same name/key as anchor with pathLen 1 (path-len with intermediate_nolimit + sub_ca)
intermediate_wide.der    same name/key as intermediate, 2001:db8::/31 not inside the anchor's /32 (rfc3779)
sub_ca.der               CA under intermediate (whose pathLen is 0), 2001:db8:1::/48 (key rsa2048_c)
router_under_sub.der     sub_ca -> router, 2001:db8:1::/64 (path-len)
anchor_rogue.der         self-signed, same name as anchor, key rsa2048_c (signature)
anchor_other.der         self-signed "Some Other Anchor" (anchor)
anchor_unconstrained.der same name and key as anchor, no RFC 3779 extension
"""


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m hostsim.pki", description="write the test PKI fixtures")
    p.add_argument("--out", default=PKI_DIR)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    files = fixture_set()
    for name in sorted(files):
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(files[name])
    with open(os.path.join(args.out, "README.txt"), "w") as f:
        f.write(README.format(wall=WALL_S))
    print("wrote %d certificates to %s" % (len(files), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
