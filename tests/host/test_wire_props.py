"""Hypothesis: every wire codec round-trips, and every decoder maps any bytes to a value or DecodeError."""

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from handoverkey.errors import DecodeError, EncodeError
from handoverkey.wire import cursor, icmp, ipv6, mh, ndopt, ndopt_extra

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

addr = st.binary(min_size=16, max_size=16)
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 0xFFFFFFFFFFFFFFFF)
junk = st.binary(max_size=600)


def _ref_checksum(src, dst, nh, data):
    m = bytes(src) + bytes(dst) + len(data).to_bytes(4, "big") + bytes([0, 0, 0, nh]) + bytes(data)
    if len(m) % 2:
        m += b"\x00"
    s = sum(int.from_bytes(m[i : i + 2], "big") for i in range(0, len(m), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _value_or_decode_error(fn, *args):
    try:
        return fn(*args)
    except DecodeError:
        return None


# -- cursor --

_FIELDS = st.lists(
    st.one_of(
        st.tuples(st.just("u8"), u8),
        st.tuples(st.just("u16"), u16),
        st.tuples(st.just("u32"), u32),
        st.tuples(st.just("u64"), u64),
        st.tuples(st.just("put"), st.binary(max_size=20)),
    ),
    max_size=20,
)


@SETTINGS
@given(_FIELDS, st.integers(0, 5))
def test_cursor_round_trip(fields, off):
    buf = bytearray(off + 400)
    w = cursor.Writer(buf, off)
    for kind, v in fields:
        getattr(w, kind)(v)
    r = cursor.Reader(buf, off, w.pos)
    for kind, v in fields:
        if kind == "put":
            assert bytes(r.view(len(v))) == v
        else:
            assert getattr(r, kind)() == v
    assert r.remaining() == 0


@SETTINGS
@given(junk, st.lists(st.sampled_from(["u8", "u16", "u32", "u64", "view", "skip"]), max_size=30), st.integers(0, 9))
def test_reader_any_bytes(data, ops, n):
    r = cursor.Reader(data)
    for op in ops:
        before = r.pos
        try:
            if op in ("view", "skip"):
                getattr(r, op)(n)
            else:
                getattr(r, op)()
        except DecodeError:
            assert r.pos == before
        assert r.pos <= len(data)


# -- ipv6 --

_UPPER_NH = st.integers(0, 255).filter(lambda x: x not in (0, 43, 44, 60))


@SETTINGS
@given(addr, addr, _UPPER_NH, u8, st.binary(max_size=300), st.binary(max_size=20))
def test_ipv6_header_round_trip(src, dst, nh, hop, payload, pad):
    frame = bytearray(40) + payload + pad
    ipv6.encode_header(frame, 0, len(payload), nh, hop, src, dst)
    pkt = ipv6.decode_packet(frame)
    assert bytes(pkt.src) == src and bytes(pkt.dst) == dst and pkt.hop_limit == hop
    assert pkt.next_header == nh and pkt.payload_off == 40 and pkt.payload_end == 40 + len(payload)
    assert pkt.home_address is None


@SETTINGS
@given(addr, addr, addr, st.binary(min_size=6, max_size=300))
def test_hao_round_trip_and_mh_checksum(src, dst, hoa, body):
    frame = bytearray(64) + body
    ipv6.encode_header(frame, 0, 24 + len(body), ipv6.NH_DEST_OPTS, 64, src, dst)
    ipv6.encode_dest_opts_hao(frame, 40, ipv6.NH_MH, hoa)
    ipv6.finish(frame, 0, len(frame))
    pkt = ipv6.decode_packet(frame)
    assert bytes(pkt.home_address) == hoa and pkt.next_header == 135 and pkt.payload_off == 64
    assert ipv6.verify_upper(frame, pkt)
    zeroed = bytearray(frame[64:])
    zeroed[4:6] = b"\x00\x00"
    assert (frame[68] << 8 | frame[69]) == _ref_checksum(hoa, dst, 135, zeroed)


@SETTINGS
@given(addr, addr, u8, st.binary(max_size=400), st.integers(0, 3), st.data())
def test_checksum_matches_reference(src, dst, nh, data, off, draw):
    assume(off <= len(data))
    length = len(data) - off
    zero_at = -1
    if length >= 2 and draw.draw(st.booleans()):
        zero_at = draw.draw(st.integers(off, off + length - 2))
    copy = bytearray(data[off:])
    if zero_at >= 0:
        copy[zero_at - off] = copy[zero_at - off + 1] = 0
    c = ipv6.checksum(src, dst, nh, data, off, length, zero_at)
    assert c == _ref_checksum(src, dst, nh, copy)
    assert ipv6._sum_loop(data, off, len(data)) % 0xFFFF == ipv6._sum_bigint(data, off, len(data)) % 0xFFFF


@SETTINGS
@given(junk)
def test_decode_packet_any_bytes(data):
    pkt = _value_or_decode_error(ipv6.decode_packet, data)
    if pkt is not None:
        assert 40 <= pkt.payload_off <= pkt.payload_end <= len(data)
        assert pkt.next_header not in (0, 43, 44, 60)
        ipv6.verify_upper(data, pkt)


# -- ND options --

def _round(put, get, *args):
    buf = bytearray(2100)
    end = put(buf, 3, *args)
    assert (end - 3) % 8 == 0 and buf[4] * 8 == end - 3
    assert ndopt.walk(buf, 3, end) == [(buf[3], 3, end - 3)]
    return get(buf, 3, end - 3), end - 3


@SETTINGS
@given(st.sampled_from([1, 2]), st.binary(min_size=1, max_size=100))
def test_nd_lla_round_trip(t, lla):
    v, n = _round(ndopt_extra.put_nd_lla, ndopt_extra.get_nd_lla, t, lla)
    assert bytes(v[: len(lla)]) == lla and bytes(v[len(lla) :]) == bytes(n - 2 - len(lla))


@SETTINGS
@given(st.binary(max_size=1500))
def test_cga_round_trip(params):
    v, n = _round(ndopt.put_cga, ndopt.get_cga, params)
    assert bytes(v.params) == params and v.pad_len < 8


@SETTINGS
@given(st.binary(min_size=16, max_size=16), st.binary(min_size=1, max_size=600))
def test_rsa_sig_round_trip(kh, sig):
    v, n = _round(ndopt.put_rsa_sig, ndopt.get_rsa_sig, kh, sig)
    assert bytes(v.key_hash) == kh and bytes(v.signature[: len(sig)]) == sig and len(v.signature) - len(sig) < 8


@SETTINGS
@given(u64)
def test_timestamp_round_trip(ts):
    v, n = _round(ndopt.put_timestamp, ndopt.get_timestamp, ts)
    assert v == ts and n == 16
    sec, frac = ndopt_extra.wall_from_timestamp(ts)
    assert ndopt.timestamp_from_wall(sec, frac) == ts


@SETTINGS
@given(st.integers(0, 20).map(lambda k: 6 + 8 * k).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_nonce_round_trip(nonce):
    v, n = _round(ndopt.put_nonce, ndopt.get_nonce, nonce)
    assert bytes(v) == nonce


@SETTINGS
@given(u8, st.binary(max_size=300))
def test_trust_anchor_round_trip(nt, name):
    v, n = _round(ndopt.put_trust_anchor, ndopt.get_trust_anchor, nt, name)
    assert v.name_type == nt and bytes(v.name) == name


def _der(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    if n < 0x100:
        return bytes([tag, 0x81, n]) + content
    return bytes([tag, 0x82, n >> 8, n & 0xFF]) + content


@SETTINGS
@given(u8, st.binary(max_size=1200))
def test_certificate_round_trip(ct, content):
    cert = _der(0x30, content)
    v, n = _round(ndopt.put_certificate, ndopt.get_certificate, ct, cert)
    assert v.cert_type == ct and bytes(v.cert) == cert


@SETTINGS
@given(st.integers(1, 4), st.integers(0, 128), addr)
def test_ip_addr_round_trip(code, plen, a):
    if code == 4:
        bits = int.from_bytes(a, "big") >> (128 - plen) << (128 - plen) if plen else 0
        a = bits.to_bytes(16, "big")
    v, n = _round(ndopt.put_ip_addr, ndopt_extra.get_ip_addr, code, plen, a)
    assert (v.code, v.prefix_len, bytes(v.addr)) == (code, plen, a)


@SETTINGS
@given(st.integers(0, 7), st.binary(max_size=60))
def test_lla_round_trip(code, lla):
    v, n = _round(ndopt.put_lla, ndopt.get_lla, code, lla)
    assert v.code == code and bytes(v.lla[: len(lla)]) == lla


@SETTINGS
@given(u8, st.one_of(st.none(), addr))
def test_naack_round_trip(status, ncoa):
    v, n = _round(ndopt_extra.put_naack, ndopt_extra.get_naack, status, ncoa)
    assert v.status == status and (v.ncoa is None if ncoa is None else bytes(v.ncoa) == ncoa)


@SETTINGS
@given(st.integers(0, 15), st.binary(min_size=1, max_size=600))
def test_hk_request_round_trip(at, spki):
    v, n = _round(ndopt.put_hk_request, ndopt.get_hk_request, at, spki)
    assert v.at == at and bytes(v.spki) == spki and n == 4 + len(spki) + v.pad_len


@SETTINGS
@given(st.integers(0, 15), u16, st.binary(min_size=1, max_size=600))
def test_hk_reply_round_trip(at, life, key):
    v, n = _round(ndopt.put_hk_reply, ndopt.get_hk_reply, at, life, key)
    assert v.at == at and v.lifetime == life and bytes(v.enc_key) == key and n == 6 + len(key) + v.pad_len


_GETTERS = [
    ndopt_extra.get_nd_lla,
    ndopt.get_cga,
    ndopt.get_rsa_sig,
    ndopt.get_timestamp,
    ndopt.get_nonce,
    ndopt.get_trust_anchor,
    ndopt.get_certificate,
    ndopt_extra.get_ip_addr,
    ndopt.get_lla,
    ndopt_extra.get_naack,
    ndopt.get_hk_request,
    ndopt.get_hk_reply,
]
_TYPES = [1, 2, 11, 12, 13, 14, 15, 16, 17, 19, 20, 27, 28]


@SETTINGS
@given(st.sampled_from(_GETTERS), st.sampled_from(_TYPES), st.binary(max_size=300), st.integers(-2, 40), st.integers(-8, 400))
def test_every_get_any_bytes(get, t, body, off, length):
    # Arbitrary bytes, often with a plausible Type in front, and arbitrary (off, length).
    data = bytes([t]) + body
    _value_or_decode_error(get, data, off, length)
    if len(data) >= 2:
        _value_or_decode_error(get, data, 0, data[1] * 8)


@SETTINGS
@given(junk, st.integers(1, 40))
def test_walk_any_bytes(data, cap):
    opts = _value_or_decode_error(ndopt.walk, data, 0, len(data), cap)
    if opts is not None:
        assert len(opts) <= cap
        pos = 0
        for i, (t, off, n) in enumerate(opts):
            assert off == pos and n >= 8 and off + n <= len(data)
            assert t != 12 or i == len(opts) - 1
            pos += n
        for t, off, n in opts:
            for get in _GETTERS:
                _value_or_decode_error(get, data, off, n)


@SETTINGS
@given(junk, st.integers(0, 600), st.integers(0, 600))
def test_der_tlv_len_never_raises(data, p, end):
    n = ndopt.der_tlv_len(data, p, min(end, len(data)))
    assert n == -1 or (n >= 2 and p + n <= len(data))


# -- ICMPv6 --

_OPTION_BUILDERS = st.sampled_from(
    [
        lambda b, p: ndopt.put_lla(b, p, 4, b"\x02\x00\x00\x00\x00\x01"),
        lambda b, p: ndopt.put_nonce(b, p, b"abcdef"),
        lambda b, p: ndopt.put_timestamp(b, p, 12345),
        lambda b, p: ndopt.put_hk_request(b, p, 1, bytes(40)),
        lambda b, p: ndopt.put_hk_reply(b, p, 0, 100, bytes(64)),
        lambda b, p: ndopt.put_ip_addr(b, p, 3, 128, bytes(16)),
        lambda b, p: ndopt.put_trust_anchor(b, p, 1, b"\x30\x00"),
        lambda b, p: ndopt.put_certificate(b, p, 1, b"\x30\x01\x00"),
        lambda b, p: ndopt.put_cga(b, p, bytes(30)),
        lambda b, p: ndopt.put_rsa_sig(b, p, bytes(16), bytes(32)),
    ]
)


@SETTINGS
@given(
    st.sampled_from(["rtsolpr", "prrtadv", "cps", "cpa"]),
    u16,
    u16,
    u16,
    st.integers(0, 5),
    st.lists(_OPTION_BUILDERS, max_size=10),
)
def test_icmp_round_trip(kind, ident, a, b, code, builders):
    buf = bytearray(3000)
    if kind == "rtsolpr":
        p = icmp.encode_rtsolpr(buf, 0, ident)
    elif kind == "prrtadv":
        p = icmp.encode_prrtadv(buf, 0, code, ident)
    elif kind == "cps":
        p = icmp.encode_cps(buf, 0, ident, a)
    else:
        p = icmp.encode_cpa(buf, 0, ident, a, b)
    starts = []
    for build in builders:
        q = p
        p = build(buf, p)
        starts.append((buf[q], q))
    m = icmp.decode_icmp(buf, 0, p)
    assert m.identifier == ident and m.end == p
    want = []
    for t, off in starts:
        want.append(t)
        if t == 12:
            break
    assert [o[0] for o in m.options] == want
    assert m.sig_off == (starts[len(want) - 1][1] if want and want[-1] == 12 else -1)
    if kind == "prrtadv":
        assert m.code == code and m.subtype == 3
    if kind == "cps":
        assert m.component == a
    if kind == "cpa":
        assert (m.all_components, m.component) == (a, b)


@SETTINGS
@given(junk)
def test_decode_icmp_any_bytes(data):
    m = _value_or_decode_error(icmp.decode_icmp, data, 0, len(data))
    if m is not None:
        assert m.type in (148, 149, 154)


@SETTINGS
@given(st.sampled_from([148, 149, 154]), st.sampled_from([0, 1, 2, 3, 5]), st.binary(max_size=200))
def test_decode_icmp_plausible_headers(t, sub, rest):
    data = bytes([t, 0, 0, 0, sub, 0, 0, 0]) + rest
    _value_or_decode_error(icmp.decode_icmp, data, 0, len(data))


# -- Mobility Header --


@SETTINGS
@given(
    st.booleans(),
    u16,
    st.sampled_from([0, 0x80, 0xC0, 0xF0, 0x10]),
    u8,
    u16,
    st.integers(1, 251),
    st.one_of(st.none(), addr),
    u32,
)
def test_mh_round_trip(is_fbu, seq, flags, status, life, auth_len, alt, spi):
    buf = bytearray(400)
    if is_fbu:
        end, auth = mh.encode_fbu(buf, 5, seq, flags, life, auth_len, alt, spi)
    else:
        end, auth = mh.encode_fback(buf, 5, status, flags & 0x80, seq, life, auth_len, alt, spi)
    assert (end - 5) % 8 == 0 and end - auth == auth_len
    m = mh.decode_mh(buf, 5, end)
    assert m.seq == seq and m.lifetime == life and m.badf_spi == spi
    assert m.auth_off == auth and m.auth_len == auth_len and m.badf_len_field == 4 + auth_len
    assert (m.alt_coa is None) == (alt is None) and (alt is None or bytes(m.alt_coa) == alt)
    if is_fbu:
        assert m.mh_type == 8 and m.flags == flags and m.status == -1
    else:
        assert m.mh_type == 9 and m.flags == flags & 0x80 and m.status == status
    parts = mh.badf_mac_parts(buf, 5, auth, bytes(16), bytes(16))
    joined = b"".join(bytes(x) for x in parts)
    assert joined == bytes(32) + bytes(buf[5:9]) + b"\x00\x00" + bytes(buf[11:auth])


@SETTINGS
@given(junk)
def test_decode_mh_any_bytes(data):
    m = _value_or_decode_error(mh.decode_mh, data, 0, len(data))
    if m is not None:
        assert m.auth_off + m.auth_len == len(data) and m.auth_len >= 1


@SETTINGS
@given(st.sampled_from([8, 9]), st.binary(max_size=120))
def test_decode_mh_plausible_headers(t, rest):
    # Header Len consistent with the size, so the option walk itself gets exercised.
    n = 8 + (len(rest) // 8) * 8
    data = bytearray(n)
    data[0] = 59
    data[1] = n // 8 - 1
    data[2] = t
    data[6:n] = rest[: n - 6]
    _value_or_decode_error(mh.decode_mh, data, 0, n)


# -- mutations of valid frames: the most productive input for the decoders --


def _valid_frames():
    frames = []
    buf = bytearray(600)
    p = icmp.encode_rtsolpr(buf, 40, 1)
    p = ndopt.put_lla(buf, p, 4, b"\x02\x00\x00\x00\x00\x01")
    p = ndopt.put_cga(buf, p, bytes(40))
    p = ndopt.put_timestamp(buf, p, 99)
    p = ndopt.put_nonce(buf, p, b"abcdef")
    p = ndopt.put_hk_request(buf, p, 1, bytes(50))
    p = ndopt.put_rsa_sig(buf, p, bytes(16), bytes(64))
    ipv6.encode_header(buf, 0, 0, 58, 255, bytes(16), bytes(16))
    ipv6.finish(buf, 0, p)
    frames.append(bytes(buf[:p]))
    buf = bytearray(200)
    p = ipv6.encode_header(buf, 0, 0, 60, 64, bytes(16), bytes(16))
    p = ipv6.encode_dest_opts_hao(buf, p, 135, bytes(16))
    end, _ = mh.encode_fbu(buf, p, 1, 0xC0, 10, 12, bytes(16))
    ipv6.finish(buf, 0, end)
    frames.append(bytes(buf[:end]))
    return frames


_VALID = _valid_frames()


@SETTINGS
@given(st.sampled_from(_VALID), st.lists(st.tuples(st.integers(0, 2000), u8), min_size=1, max_size=6), st.integers(0, 2000))
def test_mutated_frames_decode_or_raise_decode_error(frame, edits, cut):
    data = bytearray(frame)
    for pos, val in edits:
        data[pos % len(data)] = val
    data = data[: max(1, cut % (len(data) + 1))] if cut % 3 == 0 else data
    pkt = _value_or_decode_error(ipv6.decode_packet, data)
    if pkt is None:
        return
    ipv6.verify_upper(data, pkt)
    if pkt.next_header == 58:
        m = _value_or_decode_error(icmp.decode_icmp, data, pkt.payload_off, pkt.payload_end)
        if m is not None:
            for t, off, n in m.options:
                for get in _GETTERS:
                    _value_or_decode_error(get, data, off, n)
    elif pkt.next_header == 135:
        m = _value_or_decode_error(mh.decode_mh, data, pkt.payload_off, pkt.payload_end)
        if m is not None:
            mh.badf_mac_parts(data, m.off, m.auth_off, pkt.src, pkt.dst)


def test_encoders_raise_encode_error_not_struct_errors():
    buf = bytearray(10)
    for fn, args in (
        (ndopt.put_timestamp, (1 << 64,)),
        (ndopt.put_hk_reply, (0, 1 << 16, b"x")),
        (mh.encode_fbu, (1, 0xC0, 10, 12)),
        (icmp.encode_cpa, (1, 1, 1)),
        (ipv6.encode_header, (0, 58, 255, bytes(16), bytes(16))),
    ):
        try:
            fn(buf, 0, *args)
        except EncodeError:
            continue
        raise AssertionError("%s accepted %r" % (fn.__name__, args))
