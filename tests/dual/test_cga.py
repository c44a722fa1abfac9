"""CGA parameters, generation and verification (RFC 3972, RFC 4581) on both interpreters."""

import hashlib

import handoverkey.send.cga_gen as cga_gen_module
from dualtest import raises, read_fixture
from handoverkey.errors import DecodeError, EncodeError, VerifyError
from handoverkey.send.cga import (
    address_sec,
    cga_hash1,
    cga_hash2,
    cga_verify,
    der_tlv,
    parse_params,
)
from handoverkey.send.cga_gen import cga_collision_retry, cga_generate

# RFC 3972 Appendix A, transcribed from the RFC text.
APP_A_KEY = bytes.fromhex(
    "305c300d06092a864886f70d0101010500034b003048024100c2c2f137305454f10bd9cea36844b530"
    "e9211a4b262b16467cb7dfba1f595c0194f275be5a4d386f2c3c2382508773c7867f9b3b9e63a09c7b"
    "c48f7a54ebefaf0203010001"
)
APP_A_MOD_START = bytes.fromhex("89a8a8b2e858d8b8f2633f44d2d4ce9a")
APP_A_HASH2_START = bytes.fromhex("436b9a70dbfddbf1926e6e6629c0")
APP_A_MOD_FINAL = bytes.fromhex("89a8a8b2e858d8b8f2633f44d2d4ce9b")
APP_A_HASH2_FINAL = bytes.fromhex("000001ca680b83888d0912dffcce")
APP_A_HASH1 = bytes.fromhex("fd4a5bf6ffb4ca6c")
APP_A_PREFIX = bytes.fromhex("fe80000000000000")
# fe80::3c4a:5bf6:ffb4:ca6c
APP_A_ADDR = bytes.fromhex("fe800000000000003c4a5bf6ffb4ca6c")
APP_A_PARAMS = APP_A_MOD_FINAL + APP_A_PREFIX + b"\x00" + APP_A_KEY

# Sec 2 vector, found offline by a brute-force search for 32 zero bits of Hash2 with the
# App. A key. Hash2 = 0000000051e0778b956783b1379e. The five modifiers before it do not
# qualify (checked in the test), and the search from ...5cff must carry into ...5d00.
SEC2_MOD_FINAL = bytes.fromhex("00112233445566778899aabc71d85d04")
SEC2_HASH2 = bytes.fromhex("0000000051e0778b956783b1379e")
SEC2_PREFIX = bytes.fromhex("20010db800010002")

# An experimental (0xFFFD, RFC 4581) extension chosen so that, with the App. A key, the
# modifiers ff..fe and ff..ff fail Sec 1 and 00..00 passes: the search must wrap at 2^128.
WRAP_EXT = bytes.fromhex("fffd000400002977")

# Bound for searches from a random modifier: Sec 1 needs 65536 tries on average, and needing
# more than 32 times that has probability e^-32. A broken counter fails instead of hanging.
MAX_TRIES = 1 << 21


def _flip(data, bit):
    b = bytearray(data)
    b[bit >> 3] ^= 0x80 >> (bit & 7)
    return bytes(b)


def _reason(fn, *args):
    """The VerifyError reason, "decode" for DecodeError; any other outcome fails the test."""
    try:
        fn(*args)
    except VerifyError as e:
        return e.reason
    except DecodeError:
        return "decode"
    return None


def _sha1(*parts):
    h = hashlib.sha1()
    for p in parts:
        h.update(p)
    return h.digest()


def test_fixture_is_the_appendix_a_parameters():
    raw = read_fixture("cga/rfc3972_app_a.params")
    assert len(raw) == 119
    assert raw == APP_A_PARAMS


def test_appendix_a_hash_values():
    start = parse_params(APP_A_MOD_START + APP_A_PREFIX + b"\x00" + APP_A_KEY)
    assert cga_hash2(start) == APP_A_HASH2_START
    final = parse_params(APP_A_PARAMS)
    assert cga_hash2(final) == APP_A_HASH2_FINAL
    assert cga_hash1(final) == APP_A_HASH1
    # Independent recomputation, so a wrong helper cannot agree with itself.
    assert _sha1(APP_A_MOD_FINAL, bytes(9), APP_A_KEY)[:14] == APP_A_HASH2_FINAL
    assert _sha1(APP_A_PARAMS)[:8] == APP_A_HASH1


def test_appendix_a_generation_from_the_starting_modifier():
    addr, params = cga_generate(APP_A_KEY, APP_A_PREFIX, 1, APP_A_MOD_START)
    assert addr == APP_A_ADDR
    assert params == APP_A_PARAMS
    assert isinstance(addr, bytes) and isinstance(params, bytes)


def test_appendix_a_verifies():
    p = cga_verify(APP_A_ADDR, APP_A_PARAMS)
    assert p.modifier == APP_A_MOD_FINAL
    assert p.prefix == APP_A_PREFIX
    assert p.collision_count == 0
    assert p.key == APP_A_KEY
    assert len(p.extensions) == 0
    assert p.extension_fields() == []
    assert p.key_off == 25 and p.key_end == 119 and p.end == 119
    assert address_sec(APP_A_ADDR) == 1


def test_verify_inside_a_larger_buffer():
    frame = bytearray(b"\xaa" * 7 + APP_A_PARAMS + b"\xbb" * 5)
    p = cga_verify(memoryview(APP_A_ADDR), frame, 7, 7 + 119)
    assert p.off == 7 and p.key_off == 32 and p.key_end == 126 and p.end == 126
    assert bytes(p.key) == APP_A_KEY
    assert bytes(p.raw) == APP_A_PARAMS
    # The views alias the caller's buffer: no copy was made.
    frame[7] ^= 1
    assert p.modifier[0] == APP_A_MOD_FINAL[0] ^ 1


def test_every_params_bit_flip_is_rejected():
    for bit in range(len(APP_A_PARAMS) * 8):
        bad = _flip(APP_A_PARAMS, bit)
        r = _reason(cga_verify, APP_A_ADDR, bad)
        byte = bit >> 3
        if 16 <= byte < 24:
            assert r == "prefix", (bit, r)
        elif byte == 24:
            assert r == ("collision-count" if bad[24] > 2 else "hash1"), (bit, r)
        else:
            assert r in ("hash1", "decode"), (bit, r)


def test_every_address_bit_flip():
    for bit in range(128):
        bad = _flip(APP_A_ADDR, bit)
        r = _reason(cga_verify, bad, APP_A_PARAMS)
        if bit < 64:
            assert r == "prefix", (bit, r)
        elif bit in (70, 71):
            # u and g bits are ignored by RFC 3972 §5 step 4.
            assert r is None, (bit, r)
        elif bit == 66:
            # Sec 1 -> 0: Sec 0 has no Hash2 condition, so this address is a valid CGA too.
            assert r is None and address_sec(bad) == 0, (bit, r)
        elif bit in (64, 65):
            # Sec 1 -> 5 or 3: Hash2 has only 23 leading zero bits.
            assert r == "hash2", (bit, r)
        else:
            assert r == "hash1", (bit, r)


def test_all_sec_values_are_checked_against_hash2():
    # Hash2 of App. A begins with 23 zero bits: Sec 0 and 1 pass, Sec 2-7 fail.
    for sec in range(8):
        addr = bytearray(APP_A_ADDR)
        addr[8] = (addr[8] & 0x1F) | (sec << 5)
        r = _reason(cga_verify, bytes(addr), APP_A_PARAMS)
        assert r == (None if sec < 2 else "hash2"), (sec, r)


def test_collision_count_three_or_more_rejected_first():
    for count in (3, 4, 0x80, 255):
        bad = bytearray(APP_A_PARAMS)
        bad[24] = count
        assert raises(VerifyError, cga_verify, APP_A_ADDR, bytes(bad)).reason == "collision-count"
        # Step 1 comes before step 2: a wrong prefix still reports the count.
        bad[16] ^= 1
        assert raises(VerifyError, cga_verify, APP_A_ADDR, bytes(bad)).reason == "collision-count"


def test_truncated_params_at_every_length():
    for n in range(len(APP_A_PARAMS)):
        raises(DecodeError, cga_verify, APP_A_ADDR, APP_A_PARAMS[:n])
        raises(DecodeError, parse_params, APP_A_PARAMS[:n])
    addr, params = cga_generate(APP_A_KEY, APP_A_PREFIX, 0, bytes(16), 0, WRAP_EXT + b"\x00\x01\x00\x00")
    cga_verify(addr, params)
    for n in range(len(params)):
        r = _reason(cga_verify, addr, params[:n])
        # Cutting exactly between two whole fields parses, and then Hash1 no longer matches.
        assert r in ("decode", "hash1"), (n, r)
        if n not in (119, 127):
            assert r == "decode", (n, r)


def test_generate_sec0_round_trip():
    for _ in range(3):
        addr, params = cga_generate(APP_A_KEY, SEC2_PREFIX, 0)
        p = cga_verify(addr, params)
        assert address_sec(addr) == 0
        assert addr[0:8] == SEC2_PREFIX
        assert addr[8] & 0xE3 == 0
        assert bytes(p.key) == APP_A_KEY
    # Sec 0 skips the search: the given modifier is used unchanged.
    addr, params = cga_generate(APP_A_KEY, APP_A_PREFIX, 0, APP_A_MOD_START)
    assert params[:16] == APP_A_MOD_START
    assert addr[8:] == bytes([_sha1(params)[0] & 0x1C]) + _sha1(params)[1:8]


def test_generate_sec1_round_trip():
    addr, params = cga_generate(APP_A_KEY, SEC2_PREFIX, 1, None, 0, b"", MAX_TRIES)
    p = cga_verify(addr, params)
    assert address_sec(addr) == 1
    assert _sha1(params[:16], bytes(9), APP_A_KEY)[:2] == b"\x00\x00"
    assert p.collision_count == 0
    # Default Sec is 1 (interpretations §8).
    addr2, params2 = cga_generate(APP_A_KEY, SEC2_PREFIX, max_tries=MAX_TRIES)
    assert address_sec(addr2) == 1
    cga_verify(addr2, params2)


def test_generate_sec2_from_a_nearby_modifier():
    final = int.from_bytes(SEC2_MOD_FINAL, "big")
    start = (final - 5).to_bytes(16, "big")
    assert start[15] == 0xFF
    for k in range(5):
        m = (final - 5 + k).to_bytes(16, "big")
        assert _sha1(m, bytes(9), APP_A_KEY)[:4] != bytes(4)
    assert _sha1(SEC2_MOD_FINAL, bytes(9), APP_A_KEY)[:14] == SEC2_HASH2
    addr, params = cga_generate(APP_A_KEY, SEC2_PREFIX, 2, start, 0, b"", 10)
    assert params[:16] == SEC2_MOD_FINAL
    assert params[16:24] == SEC2_PREFIX
    assert address_sec(addr) == 2
    assert cga_hash2(cga_verify(addr, params)) == SEC2_HASH2
    # The same parameters also make a valid Sec 1 and Sec 0 address, never Sec 3.
    for sec, ok in ((0, True), (1, True), (3, False)):
        a = bytearray(addr)
        a[8] = (a[8] & 0x1F) | (sec << 5)
        assert (_reason(cga_verify, bytes(a), params) is None) == ok


class _ZeroSha1:
    """Stands in for hashlib: every digest is zero, so any Sec would be found at once."""

    def __init__(self, data=b""):
        pass

    def update(self, data):
        pass

    def digest(self):
        return bytes(20)


class _ZeroHashlib:
    sha1 = _ZeroSha1


def test_generate_refuses_sec_3_to_7_and_bad_arguments():
    # With a hash that always succeeds, only the explicit refusal can raise here (and a
    # broken check fails fast instead of searching 2^48 modifiers).
    real = cga_gen_module.hashlib
    cga_gen_module.hashlib = _ZeroHashlib
    try:
        assert cga_generate(APP_A_KEY, APP_A_PREFIX, 2, APP_A_MOD_START)[1][:16] == APP_A_MOD_START
        for sec in (3, 4, 5, 6, 7, 8, -1):
            raises(EncodeError, cga_generate, APP_A_KEY, APP_A_PREFIX, sec, APP_A_MOD_START)
    finally:
        cga_gen_module.hashlib = real
    raises(EncodeError, cga_generate, APP_A_KEY, APP_A_PREFIX[:7], 0)
    raises(EncodeError, cga_generate, APP_A_KEY, APP_A_ADDR, 0)
    raises(EncodeError, cga_generate, APP_A_KEY, APP_A_PREFIX, 0, bytes(15))
    raises(EncodeError, cga_generate, APP_A_KEY, APP_A_PREFIX, 0, None, 3)
    raises(EncodeError, cga_generate, APP_A_KEY, APP_A_PREFIX, 0, None, -1)
    raises(EncodeError, cga_generate, APP_A_KEY + b"\x00", APP_A_PREFIX, 0)
    raises(EncodeError, cga_generate, APP_A_KEY[:-1], APP_A_PREFIX, 0)
    raises(EncodeError, cga_generate, b"\x31" + APP_A_KEY[1:], APP_A_PREFIX, 0)
    raises(EncodeError, cga_generate, APP_A_KEY, APP_A_PREFIX, 0, None, 0, b"\xff\xfd\x00")
    raises(EncodeError, cga_generate, APP_A_KEY, APP_A_PREFIX, 0, None, 0, b"\xff\xfd\x00\x02\x00")


def test_extensions_enter_both_hashes():
    ext = b"\xff\xfe\x00\x03abc" + b"\xff\xff\x00\x00"
    addr, params = cga_generate(APP_A_KEY, SEC2_PREFIX, 1, None, 0, ext, MAX_TRIES)
    assert params[25 + len(APP_A_KEY) :] == ext
    p = cga_verify(addr, params)
    assert p.extensions == ext
    assert [(t, bytes(d)) for t, d in p.extension_fields()] == [(0xFFFE, b"abc"), (0xFFFF, b"")]
    # Hash2 covers the extensions: recompute it with and without them.
    with_ext = _sha1(params[:16], bytes(9), APP_A_KEY, ext)[:14]
    assert cga_hash2(p) == with_ext
    assert with_ext[:2] == b"\x00\x00"
    assert _sha1(params[:16], bytes(9), APP_A_KEY)[:14] != with_ext
    # Hash1 covers them too: the address IID is SHA-1 over the params with the extensions.
    assert addr[9:16] == _sha1(params)[1:8]
    assert cga_hash1(p) == _sha1(params)[:8]
    # Dropping or changing an extension breaks the address.
    assert _reason(cga_verify, addr, params[: 25 + len(APP_A_KEY)]) == "hash1"
    assert _reason(cga_verify, addr, params[:-5] + b"b" + params[-4:]) == "hash1"


def test_extensions_change_hash2_of_appendix_a():
    # With an extension appended, the App. A modifier no longer yields 16 zero bits of
    # Hash2; the search moves on to another modifier.
    addr, params = cga_generate(APP_A_KEY, APP_A_PREFIX, 1, APP_A_MOD_START, 0, WRAP_EXT, MAX_TRIES)
    assert params[:16] != APP_A_MOD_FINAL
    assert _sha1(APP_A_MOD_FINAL, bytes(9), APP_A_KEY, WRAP_EXT)[:2] != b"\x00\x00"
    cga_verify(addr, params)


def test_modifier_counts_as_a_128_bit_integer_and_wraps():
    # max_tries keeps a broken counter from searching forever.
    start = b"\xff" * 15 + b"\xfe"
    addr, params = cga_generate(APP_A_KEY, APP_A_PREFIX, 1, start, 0, WRAP_EXT, 10)
    assert params[:16] == bytes(16)
    cga_verify(addr, params)
    # From ...ceff a carry must reach the upper octets; the first Sec 1 modifier is 59355
    # steps on (a counter that forgot the carry would come back to ...ce9b instead).
    start = bytes.fromhex("89a8a8b2e858d8b8f2633f44d2d4ceff")
    addr, params = cga_generate(APP_A_KEY, APP_A_PREFIX, 1, start, 0, b"", 100000)
    assert params[:16] == bytes.fromhex("89a8a8b2e858d8b8f2633f44d2d5b6da")


def test_max_tries_bounds_the_search():
    # App. A needs two Hash2 computations from its starting modifier.
    raises(EncodeError, cga_generate, APP_A_KEY, APP_A_PREFIX, 1, APP_A_MOD_START, 0, b"", 1)
    addr, params = cga_generate(APP_A_KEY, APP_A_PREFIX, 1, APP_A_MOD_START, 0, b"", 2)
    assert addr == APP_A_ADDR and params == APP_A_PARAMS
    for bad in (0, -1, 1.5):
        raises(EncodeError, cga_generate, APP_A_KEY, APP_A_PREFIX, 1, APP_A_MOD_START, 0, b"", bad)


def test_collision_retry_counts_up_to_two():
    addr1, p1 = cga_collision_retry(APP_A_PARAMS, 1)
    assert p1[24] == 1 and p1[:24] == APP_A_PARAMS[:24] and p1[25:] == APP_A_PARAMS[25:]
    assert addr1 != APP_A_ADDR and address_sec(addr1) == 1
    cga_verify(addr1, p1)
    addr2, p2 = cga_collision_retry(p1, 1)
    assert p2[24] == 2
    cga_verify(addr2, p2)
    raises(EncodeError, cga_collision_retry, p2, 1)
    raises(EncodeError, cga_collision_retry, APP_A_PARAMS, 8)
    raises(EncodeError, cga_collision_retry, APP_A_PARAMS[:100], 1)
    # Same result as generating again with the kept modifier and the next count.
    assert cga_generate(APP_A_KEY, APP_A_PREFIX, 1, APP_A_MOD_FINAL, 1) == (addr1, p1)


def test_der_length_reader_is_strict():
    assert der_tlv(b"\x30\x00", 0, 2) == (0x30, 2, 2)
    assert der_tlv(b"\x30\x01\x05", 0, 3) == (0x30, 2, 3)
    long_ok = b"\x30\x81\x80" + bytes(128)
    assert der_tlv(long_ok, 0, len(long_ok)) == (0x30, 3, 131)
    two = b"\x30\x82\x01\x00" + bytes(256)
    assert der_tlv(two, 0, len(two)) == (0x30, 4, 260)
    bad = (
        b"",
        b"\x30",
        b"\x30\x80\x00\x00",  # indefinite length
        b"\x30\x81\x05" + bytes(5),  # long form for a short length
        b"\x30\x82\x00\x80" + bytes(128),  # leading zero length octet
        b"\x30\x84\x00\x00\x00\x01\x00",  # more length octets than allowed
        b"\x30\xff" + bytes(8),
        b"\x30\x82\x01",  # length octets cut
        b"\x30\x05\x00",  # value longer than the buffer
        b"\x3f\x00",  # high tag number form
    )
    for b in bad:
        raises(DecodeError, der_tlv, b, 0, len(b))
    # The end bound is honoured even when the buffer goes on.
    raises(DecodeError, der_tlv, b"\x30\x03\x00\x00\x00", 0, 4)
    raises(DecodeError, der_tlv, b"\x30\x00", 0, 3)


def test_parse_rejects_malformed_key_and_extensions():
    head = APP_A_PARAMS[:25]
    raises(DecodeError, parse_params, head + b"\x31" + APP_A_KEY[1:])
    raises(DecodeError, parse_params, head + b"\x30\x80" + APP_A_KEY[2:] + b"\x00\x00")
    for tail in (b"\x00", b"\x00\x00", b"\x00\x00\x00", b"\x00\x00\x00\x01", b"\xff\xfd\x00\x05abcd"):
        raises(DecodeError, parse_params, APP_A_PARAMS + tail)
    p = parse_params(APP_A_PARAMS + b"\x00\x07\x00\x00" + b"\x00\x08\x00\x01z")
    assert [(t, bytes(d)) for t, d in p.extension_fields()] == [(7, b""), (8, b"z")]
    raises(DecodeError, parse_params, APP_A_PARAMS, 0, 200)
    raises(DecodeError, parse_params, APP_A_PARAMS, 5, 4)
    raises(DecodeError, parse_params, APP_A_PARAMS, -1, 119)
    raises(DecodeError, cga_verify, APP_A_ADDR[:15], APP_A_PARAMS)
    raises(DecodeError, address_sec, b"")


def test_parser_on_pseudorandom_bytes_returns_or_raises_decode_error():
    seed = b"cga-junk"
    parsed = 0
    for i in range(400):
        seed = _sha1(seed)
        n = seed[0] % 60
        blob = (_sha1(seed, b"a") + _sha1(seed, b"b") + _sha1(seed, b"c"))[:n]
        # Give half of them a plausible DER header so the extension walker is reached too.
        if i & 1 and n > 27:
            b = bytearray(blob)
            b[25] = 0x30
            b[26] = seed[1] % (n - 26)
            blob = bytes(b)
        try:
            parse_params(blob)
            parsed += 1
        except DecodeError:
            pass
        r = _reason(cga_verify, APP_A_ADDR, blob)
        assert r is not None
    assert parsed > 0
