"""Certification path validation over the committed test PKI (tests/fixtures/pki/README.txt)."""

from dualtest import raises, read_fixture
from handoverkey.crypto.rsakey import RsaPublicKey
from handoverkey.errors import DecodeError, VerifyError
from handoverkey.send import certpath, x509

H = bytes.fromhex
WALL = 1811808000  # 2027-06-01T00:00:00Z, hostsim.pki.WALL_S
NOT_BEFORE = 1767225600
NOT_AFTER = 2082758400
PAR_PREFIX = H("20010db8000100000000000000000000")  # in 2001:db8:1::/48
NAR_PREFIX = H("20010db8000200000000000000000000")  # 2001:db8:2::/64

_cache = {}


def pki(name):
    b = _cache.get(name)
    if b is None:
        b = read_fixture("pki/" + name + ".der")
        _cache[name] = b
    return b


def path(*names):
    return [pki(n) for n in names]


def reason(anchors, certs, wall=WALL, prefix=None, min_bits=1024):
    e = raises(VerifyError, certpath.validate_path, anchors, certs, wall, prefix, min_bits)
    return e.reason


def anchors():
    return [pki("anchor")]


def key_of(name):
    return RsaPublicKey.from_spki(bytes(x509.parse(pki(name)).spki))


# ---------------------------------------------------------------- accepted paths


def test_valid_path_with_intermediate():
    k = certpath.validate_path(anchors(), path("intermediate", "router_par"), WALL, PAR_PREFIX)
    assert k == key_of("router_par")
    assert k.key_hash() == key_of("router_par").key_hash()


def test_valid_path_without_intermediate():
    k = certpath.validate_path(anchors(), path("router_nar"), WALL, NAR_PREFIX)
    assert k == key_of("router_nar")
    assert k != key_of("router_par")


def test_prefix_optional():
    assert certpath.validate_path(anchors(), path("router_nar"), WALL) == key_of("router_nar")


def test_any_64_inside_the_48():
    p = H("20010db80001ffff0000000000000000")
    assert certpath.validate_path(anchors(), path("intermediate", "router_par"), WALL, p) == key_of("router_par")
    # Only the /64 of the address counts: its interface identifier is ignored.
    p = H("20010db80001ffffdeadbeefdeadbeef")
    assert certpath.validate_path(anchors(), path("intermediate", "router_par"), WALL, p) == key_of("router_par")


def test_sha1_signed_router():
    assert certpath.validate_path(anchors(), path("router_sha1"), WALL, NAR_PREFIX) == key_of("router_sha1")


def test_validity_boundaries_inclusive():
    certs = path("intermediate", "router_par")
    assert certpath.validate_path(anchors(), certs, NOT_BEFORE, PAR_PREFIX)
    assert certpath.validate_path(anchors(), certs, NOT_AFTER, PAR_PREFIX)


def test_anchor_as_name_and_key_pair():
    a = x509.parse(pki("anchor"))
    pair = (bytes(a.subject), bytes(a.spki))
    assert certpath.validate_path([pair], path("intermediate", "router_par"), WALL, PAR_PREFIX)
    # A bare (name, key) anchor sets no RFC 3779 limit, so the too-wide intermediate now passes...
    assert certpath.validate_path([pair], path("intermediate_wide", "router_par"), WALL, PAR_PREFIX)
    # ...but the intermediate's own range still binds the router below it.
    assert reason([pair], path("intermediate", "router_outside")) == "rfc3779"


def test_trust_anchor_objects():
    ta = certpath.trust_anchor(pki("anchor"))
    assert ta.name == bytes(x509.parse(pki("anchor")).subject)
    assert certpath.trust_anchor(ta) is ta
    assert certpath.validate_path([ta], path("router_nar"), WALL, NAR_PREFIX)
    raises(DecodeError, certpath.trust_anchor, pki("anchor")[:-1])
    raises(DecodeError, certpath.trust_anchor, (b"x",))


def test_parsed_certificates_accepted():
    certs = [x509.parse(pki("intermediate")), x509.parse(pki("router_par"))]
    assert certpath.validate_path(anchors(), certs, WALL, PAR_PREFIX) == key_of("router_par")


def test_inherit_and_missing_extension_take_the_issuers_set():
    for name in ("router_inherit", "router_no3779"):
        r = certpath.check_path(anchors(), path("intermediate", name), WALL, H("20010db800ff00000000000000000000"))
        assert r.resources == [(H("20010db8000000000000000000000000"), H("20010db800ffffffffffffffffffffff"))]
        assert reason(anchors(), path("intermediate", name), prefix=H("20010db8010000000000000000000000")) == "prefix"


def test_unconstrained_when_nothing_constrains():
    # Anchor without RFC 3779 + intermediate as (name, key) pair + router without extension.
    i = x509.parse(pki("intermediate"))
    r = certpath.check_path(
        [(bytes(i.subject), bytes(i.spki))], path("router_no3779"), WALL, H("fd000000000000010000000000000000")
    )
    assert r.resources is None
    assert certpath.covers(r.resources, bytes(16), b"\xff" * 16)


def test_range_router():
    certs = path("intermediate", "router_range")
    assert certpath.validate_path(anchors(), certs, WALL, H("20010db8000200000000000000000000"))
    assert certpath.validate_path(anchors(), certs, WALL, H("20010db80001abcd0000000000000000"))
    assert reason(anchors(), certs, prefix=H("20010db8000200010000000000000000")) == "prefix"
    assert reason(anchors(), certs, prefix=H("20010db8000000000000000000000000")) == "prefix"


def test_check_path_result():
    r = certpath.check_path(anchors(), path("intermediate", "router_par"), WALL, PAR_PREFIX)
    assert r.key == key_of("router_par")
    assert r.router.der == pki("router_par")
    assert r.resources == [(H("20010db8000100000000000000000000"), H("20010db80001ffffffffffffffffffff"))]
    assert certpath.covers(r.resources, H("20010db8000100050000000000000000"), H("20010db80001000fffffffffffffffff"))
    assert not certpath.covers(r.resources, H("20010db8000100050000000000000000"), H("20010db80002ffffffffffffffffffff"))


def test_covers_merges_adjacent_ranges():
    a = (H("20010db8000000000000000000000000"), H("20010db80000ffffffffffffffffffff"))
    b = (H("20010db8000100000000000000000000"), H("20010db80001ffffffffffffffffffff"))
    lo, hi = H("20010db80000ff000000000000000000"), H("20010db8000100ff0000000000000000")
    assert certpath.covers([b, a], lo, hi)
    assert not certpath.covers([a], lo, hi)
    # A one-address gap between the two ranges must not be bridged.
    c = (H("20010db8000100000000000000000001"), H("20010db80001ffffffffffffffffffff"))
    assert not certpath.covers([a, c], lo, hi)
    assert certpath.covers(None, lo, hi)
    assert not certpath.covers([], lo, lo)


def test_no_eku_accepted():
    assert certpath.validate_path(anchors(), path("intermediate", "router_no_eku"), WALL, PAR_PREFIX)


def test_rogue_anchor_with_same_name_does_not_block_the_real_one():
    both = [pki("anchor_rogue"), pki("anchor")]
    assert certpath.validate_path(both, path("intermediate", "router_par"), WALL, PAR_PREFIX) == key_of("router_par")
    assert certpath.validate_path([b"junk", pki("anchor")], path("router_nar"), WALL) == key_of("router_nar")


# ---------------------------------------------------------------- each failure reason


def test_wrong_anchor():
    assert reason([pki("anchor_other")], path("intermediate", "router_par")) == "anchor"
    assert reason([], path("router_nar")) == "anchor"
    assert reason(anchors(), []) == "anchor"
    assert reason([b"\x30\x00"], path("router_nar")) == "anchor"


def test_rogue_anchor_same_name_other_key():
    assert reason([pki("anchor_rogue")], path("intermediate", "router_par")) == "signature"
    assert reason([pki("anchor_rogue")], path("router_nar")) == "signature"


def _flip(b, i):
    b = bytearray(b)
    b[i] ^= 0x01
    return bytes(b)


def test_broken_signature():
    par = pki("router_par")
    assert reason(anchors(), [pki("intermediate"), _flip(par, len(par) - 1)]) == "signature"
    assert reason(anchors(), [pki("intermediate"), _flip(par, len(par) - 200)]) == "signature"
    inter = pki("intermediate")
    assert reason(anchors(), [_flip(inter, len(inter) - 7), par]) == "signature"


def test_signature_bit_string_with_unused_bits():
    par = bytearray(pki("router_par"))
    # The last signature bit is 0 here, so "1 unused bit" is still valid DER: the value must be refused anyway.
    assert par[-1] & 1 == 0 and par[-257] == 0
    par[-257] = 1
    assert x509.parse(bytes(par)).sig_unused == 1
    assert reason(anchors(), [pki("intermediate"), bytes(par)]) == "signature"


def test_broken_tbs():
    par = pki("router_par")
    # Flip a bit inside the subject key identifier: still parses, no longer matches the signature.
    i = par.find(H("0603551d0e"))
    assert i > 0
    assert reason(anchors(), [pki("intermediate"), _flip(par, i + 12)]) == "signature"


def test_issuer_chain_must_match():
    assert reason(anchors(), path("intermediate", "router_nar")) == "issuer"
    # Wrong order: the first certificate's issuer is no configured anchor.
    assert reason(anchors(), path("router_par", "intermediate")) == "anchor"


def test_expired_and_not_yet_valid():
    assert reason(anchors(), path("intermediate", "router_expired")) == "expired"
    certs = path("intermediate", "router_par")
    assert reason(anchors(), certs, wall=NOT_BEFORE - 1) == "expired"
    assert reason(anchors(), certs, wall=NOT_AFTER + 1) == "expired"
    assert reason(anchors(), certs, wall=0) == "expired"


def test_prefix_outside_router_range():
    assert reason(anchors(), path("intermediate", "router_par"), prefix=NAR_PREFIX) == "prefix"
    assert reason(anchors(), path("router_nar"), prefix=PAR_PREFIX) == "prefix"
    assert reason(anchors(), path("router_nar"), prefix=H("20010db8000200010000000000000000")) == "prefix"
    assert reason(anchors(), path("router_nar"), prefix=NAR_PREFIX[:8]) == "prefix"  # not an address


def test_child_range_not_nested():
    assert reason(anchors(), path("intermediate", "router_outside")) == "rfc3779"
    assert reason(anchors(), path("intermediate_wide", "router_par")) == "rfc3779"


def test_eku():
    assert reason(anchors(), path("intermediate", "router_wrong_eku")) == "eku"
    # RFC 6494 §7: anyExtendedKeyUsage without a SEND KeyPurposeId is rejected.
    assert reason(anchors(), path("intermediate", "router_any_eku")) == "eku"


def test_non_ca_intermediate():
    assert reason(anchors(), path("intermediate_not_ca", "router_par")) == "not-ca"
    # keyCertSign alone does not make a CA: basicConstraints cA is required (RFC 5280 §6.1.4 (k)).
    assert reason(anchors(), path("intermediate_no_bc", "router_par")) == "not-ca"
    # cA TRUE with a keyUsage lacking keyCertSign may not sign certificates (RFC 5280 §6.1.4 (n)).
    assert reason(anchors(), path("intermediate_no_certsign", "router_par")) == "not-ca"
    # A router certificate cannot act as an issuer either.
    assert reason(anchors(), path("router_nar", "router_par")) == "not-ca"


def test_three_level_path():
    certs = path("intermediate_nolimit", "sub_ca", "router_under_sub")
    assert certpath.validate_path(anchors(), certs, WALL, PAR_PREFIX) == key_of("router_under_sub")


def test_path_len():
    assert reason(anchors(), path("intermediate", "sub_ca", "router_under_sub")) == "path-len"
    # The anchor's own pathLen 1 allows one intermediate CA below it, not two.
    a1 = [pki("anchor_pathlen1")]
    assert certpath.validate_path(a1, path("intermediate", "router_par"), WALL, PAR_PREFIX)
    assert reason(a1, path("intermediate_nolimit", "sub_ca", "router_under_sub")) == "path-len"
    assert reason(anchors(), [pki("intermediate")] * 9) == "path-len"


def test_unknown_critical_extension():
    assert reason(anchors(), path("intermediate", "router_critical")) == "critical-ext"


def test_critical_certificate_policies_of_the_rpki_profile_accepted():
    """RFC 6494 §4 makes SEND certificates follow RFC 6487, whose §4.8.9 has a critical
    certificatePolicies extension in each; RFC 5280 §4.2 asks every relying party to
    recognise it. Under §6.1.1's defaults (any-policy) it decides nothing, so the path holds."""
    key = certpath.validate_path(anchors(), path("intermediate", "router_policies"), WALL, PAR_PREFIX)
    assert key == key_of("router_par")
    assert x509.parse(pki("router_policies")).policies == [bytes.fromhex("2b06010505070e02")]


def test_router_key_not_rsa():
    assert reason(anchors(), path("intermediate", "router_ec")) == "not-rsa"


def test_router_key_usage_without_digital_signature():
    assert reason(anchors(), path("intermediate", "router_no_digsig")) == "key-usage"


def test_router_key_too_small():
    assert reason(anchors(), path("router_nar"), min_bits=4096) == "weak-key"


def test_truncated_certificates_never_raise_anything_else():
    par = pki("router_par")
    inter = pki("intermediate")
    for cut in range(0, len(par), 5):
        assert reason(anchors(), [inter, par[:cut]]) == "decode"
    for cut in range(0, len(inter), 11):
        r = reason(anchors(), [inter[:cut], par])
        assert r == "decode"


def test_mutated_certificates_never_accepted():
    par = pki("router_par")
    inter = pki("intermediate")
    for i in range(0, len(par), 13):
        b = bytearray(par)
        b[i] ^= 0xA5
        try:
            certpath.validate_path(anchors(), [inter, bytes(b)], WALL, PAR_PREFIX)
        except VerifyError:
            continue
        raise AssertionError("mutation at %d accepted" % i)
