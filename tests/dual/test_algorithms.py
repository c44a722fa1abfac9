"""The AT registry: sizes, strength, negotiation for every AT, and known-answer MACs on every crypto backend."""

from dualtest import raises

from handoverkey import algorithms as alg
from handoverkey import crypto
from handoverkey.errors import EncodeError

# RFC 2202 §3 test case 2 (HMAC-SHA-1) and RFC 4231 §4.3 test case 2 (HMAC-SHA-256).
JEFE = b"Jefe"
WHAT = b"what do ya want for nothing?"
RFC2202_TC2_SHA1 = bytes.fromhex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
RFC4231_TC2_SHA256 = bytes.fromhex("5bdcc146bf60754e6a042426089575c7" "5a003f089d2739839dec58b964ec3843")


def test_registry_sizes():
    assert alg.key_len(0) == 20 and alg.auth_len(0) == 12
    assert alg.key_len(1) == 32 and alg.auth_len(1) == 16
    assert alg.AT_HMAC_SHA1 == 0 and alg.AT_HMAC_SHA256 == 1
    assert alg.registered() == (0, 1)
    assert alg.name(0) == "HMAC-SHA1" and alg.name(1) == "HMAC-SHA256"


def test_strength_order():
    assert alg.strength(1) > alg.strength(0)


def test_unassigned_ats_are_unsupported_and_have_no_sizes():
    for at in range(2, 16):
        assert not alg.is_supported(at)
        assert not alg.is_supported(at, (at,))  # listing it does not make it computable
        raises(EncodeError, alg.key_len, at)
        raises(EncodeError, alg.auth_len, at)
        raises(EncodeError, alg.strength, at)
        raises(EncodeError, alg.mac, at, b"k", b"x")
        raises(EncodeError, alg.authenticator, at, b"k", b"x")
    for junk in (-1, 16, 255, None, "0", b"\x00", True):
        assert not alg.is_supported(junk)


def test_is_supported_with_a_supported_set():
    assert alg.is_supported(0) and alg.is_supported(1)
    assert alg.is_supported(0, {0}) and not alg.is_supported(1, {0})
    assert alg.is_supported(1, [1]) and not alg.is_supported(0, (1,))
    assert not alg.is_supported(0, ())


def _expected(requested, supported):
    # The table of interpretations §1 written out: with AT 0 < AT 1 in strength.
    if requested == 0:
        return 0 if 0 in supported else 1
    if requested == 1:
        return 1 if 1 in supported else None
    return None  # unassigned: no strength known, nothing provably as strong


def test_negotiation_table_all_requested_ats():
    table = {
        (0,): [0] + [None] * 15,
        (1,): [1, 1] + [None] * 14,
        (0, 1): [0, 1] + [None] * 14,
    }
    for sup, want in table.items():
        for req in range(16):
            for container in (set(sup), list(sup), tuple(reversed(sup))):
                got = alg.negotiate(req, container)
                assert got == want[req], (req, sup, got)
                assert got == _expected(req, sup)


def test_negotiation_never_bids_down():
    for sup in ({0}, {1}, {0, 1}, None):
        for req in (0, 1):
            got = alg.negotiate(req, sup)
            assert got is None or alg.strength(got) >= alg.strength(req)


def test_negotiation_ignores_unregistered_entries_and_junk():
    assert alg.negotiate(0, {1, 7}) == 1
    assert alg.negotiate(1, {0, 7}) is None
    assert alg.negotiate(7, {0, 1, 7}) is None
    assert alg.negotiate(0, ()) is None
    assert alg.negotiate(0, None) == 0 and alg.negotiate(1, None) == 1
    for junk in (-1, 16, None, "1"):
        assert alg.negotiate(junk, {0, 1}) is None


def _backends():
    names = ["pure"]
    try:
        import cryptography  # noqa: F401

        names.append("host")
    except ImportError:
        pass
    return names


def _each_backend(fn):
    before = crypto.backend_name()
    try:
        for name in _backends():
            crypto.use_backend(name)
            fn(name)
    finally:
        crypto.use_backend(before)


def test_known_answer_macs_full_and_truncated():
    def check(name):
        assert alg.mac(0, JEFE, WHAT) == RFC2202_TC2_SHA1
        assert alg.mac(1, JEFE, WHAT) == RFC4231_TC2_SHA256
        assert alg.authenticator(0, JEFE, WHAT) == RFC2202_TC2_SHA1[:12]
        assert alg.authenticator(1, JEFE, WHAT) == RFC4231_TC2_SHA256[:16]
        assert len(alg.authenticator(0, JEFE, WHAT)) == alg.auth_len(0)
        assert len(alg.authenticator(1, JEFE, WHAT)) == alg.auth_len(1)

    _each_backend(check)


def test_mac_concatenates_parts_of_any_buffer_type():
    def check(name):
        parts = (b"what do ", bytearray(b"ya want "), memoryview(b"__for nothing?")[2:])
        assert alg.mac(0, JEFE, *parts) == RFC2202_TC2_SHA1
        assert alg.authenticator(1, memoryview(JEFE), *parts) == RFC4231_TC2_SHA256[:16]
        assert alg.mac(1, JEFE, b"", WHAT, b"") == RFC4231_TC2_SHA256

    _each_backend(check)


def test_mac_follows_a_backend_switch():
    # The registry must not pin the backend it saw first: after use_backend the MAC is
    # computed by the backend now active (checked through a spy on the module attribute).
    before = crypto.backend_name()
    calls = []
    real = crypto.hmac_sha256

    def spy(key, *parts):
        calls.append(1)
        return real(key, *parts)

    try:
        alg.mac(1, JEFE, WHAT)
        crypto.hmac_sha256 = spy
        assert alg.mac(1, JEFE, WHAT) == RFC4231_TC2_SHA256
        assert calls == [1]
    finally:
        crypto.use_backend(before)


def test_authenticator_matches():
    def check(name):
        good = RFC4231_TC2_SHA256[:16]
        assert alg.authenticator_matches(1, JEFE, good, WHAT)
        assert alg.authenticator_matches(1, JEFE, memoryview(bytearray(good)), WHAT)
        for i in (0, 7, 15):
            bad = bytearray(good)
            bad[i] ^= 0x80
            assert not alg.authenticator_matches(1, JEFE, bad, WHAT)
        assert not alg.authenticator_matches(1, JEFE, good[:15], WHAT)
        assert not alg.authenticator_matches(1, JEFE, RFC4231_TC2_SHA256, WHAT)
        assert not alg.authenticator_matches(1, b"Jeff", good, WHAT)
        assert alg.authenticator_matches(0, JEFE, RFC2202_TC2_SHA1[:12], WHAT)
        assert not alg.authenticator_matches(0, JEFE, RFC4231_TC2_SHA256[:12], WHAT)
        raises(EncodeError, alg.authenticator_matches, 2, JEFE, good, WHAT)

    _each_backend(check)


def test_an_added_row_takes_part_in_negotiation():
    # Adding an AT is one registry row. A hypothetical AT 9, stronger than both, shows that
    # the fallback picks the weakest AT that is at least as strong, not the strongest.
    saved = alg._REGISTRY
    try:
        alg._REGISTRY = saved + ((9, "HMAC-TEST", 32, 16, 30, "hmac_sha256"),)
        alg._rows = None
        assert alg.is_supported(9) and alg.key_len(9) == 32
        assert alg.negotiate(0, {1, 9}) == 1
        assert alg.negotiate(0, [9, 1]) == 1
        assert alg.negotiate(0, {9}) == 9
        assert alg.negotiate(1, {0, 9}) == 9
        assert alg.negotiate(9, {0, 1}) is None
        assert alg.authenticator(9, JEFE, WHAT) == alg.authenticator(1, JEFE, WHAT)
    finally:
        alg._REGISTRY = saved
        alg._rows = None
    assert not alg.is_supported(9)
