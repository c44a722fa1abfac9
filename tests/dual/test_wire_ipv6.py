"""IPv6 header, Destination Options / Home Address option, and the pseudo-header checksum."""

from dualtest import raises
from handoverkey.errors import DecodeError, EncodeError
from handoverkey.wire import ipv6

PCOA = bytes.fromhex("20010db8000100000000000000001234")
NCOA = bytes.fromhex("20010db8000200000000000000001234")
PAR = bytes.fromhex("20010db8000100000000000000000001")

# Digest §5.9: the final Mobility Header and its Destination Options header.
MH_59 = bytes.fromhex(
    "3b0608004a230001c000000a0100031020010db80002000000000000000012340104000000001510"
    "000000003dc017d142b19aa643b973ac"
)
DOPT_59 = bytes.fromhex("870201020000c91020010db8000100000000000000001234")


def _ref_checksum(src, dst, nh, data):
    # Straight from RFC 8200 §8.1: build the pseudo-header, sum 16-bit words, fold, invert.
    m = bytes(src) + bytes(dst) + len(data).to_bytes(4, "big") + bytes([0, 0, 0, nh]) + bytes(data)
    if len(m) & 1:
        m += b"\x00"
    s = 0
    for i in range(0, len(m), 2):
        s += (m[i] << 8) | m[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def _lcg_bytes(n, seed):
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    return out


def _fbu_frame():
    frame = bytearray(40) + DOPT_59 + MH_59
    ipv6.encode_header(frame, 0, len(DOPT_59) + len(MH_59), ipv6.NH_DEST_OPTS, 64, NCOA, PAR)
    return frame


def test_encode_header_bytes():
    buf = bytearray(42)
    assert ipv6.encode_header(buf, 1, 0x1234, 58, 255, PCOA, PAR) == 41
    assert bytes(buf[1:9]) == bytes.fromhex("6000000012343aff")
    assert bytes(buf[9:25]) == PCOA and bytes(buf[25:41]) == PAR
    assert buf[0] == 0 and buf[41] == 0


def test_encode_header_range_checks():
    buf = bytearray(40)
    raises(EncodeError, ipv6.encode_header, buf, 0, 0x10000, 58, 255, PCOA, PAR)
    raises(EncodeError, ipv6.encode_header, buf, 0, -1, 58, 255, PCOA, PAR)
    raises(EncodeError, ipv6.encode_header, buf, 0, 0, 256, 255, PCOA, PAR)
    raises(EncodeError, ipv6.encode_header, buf, 0, 0, 58, 256, PCOA, PAR)
    raises(EncodeError, ipv6.encode_header, buf, 0, 0, 58, 255, PCOA[:15], PAR)
    raises(EncodeError, ipv6.encode_header, buf, 0, 0, 58, 255, PCOA, PAR + b"\x00")
    raises(EncodeError, ipv6.encode_header, buf, 1, 0, 58, 255, PCOA, PAR)
    raises(EncodeError, ipv6.encode_header, buf, -1, 0, 58, 255, PCOA, PAR)
    assert bytes(buf) == bytes(40)


def test_dest_opts_hao_smallest_encoding():
    buf = bytearray(24)
    assert ipv6.encode_dest_opts_hao(buf, 0, 135, PCOA) == 24
    assert bytes(buf) == DOPT_59
    assert bytes(buf[:8]) == bytes.fromhex("870201020000c910")
    raises(EncodeError, ipv6.encode_dest_opts_hao, bytearray(23), 0, 135, PCOA)
    raises(EncodeError, ipv6.encode_dest_opts_hao, bytearray(24), 0, 300, PCOA)
    raises(EncodeError, ipv6.encode_dest_opts_hao, bytearray(24), 0, 135, PCOA[:8])


def test_mh_checksum_known_answer_uses_home_address():
    # Digest §5.9: pseudo-source = PCoA (the HAO), dst = PAR, 56 octets, next header 135.
    assert ipv6.checksum(PCOA, PAR, 135, MH_59, 0, 56, 4) == 0x4A23
    assert ipv6.checksum_ok(PCOA, PAR, 135, MH_59, 0, 56)
    assert not ipv6.checksum_ok(NCOA, PAR, 135, MH_59, 0, 56)
    zeroed = bytearray(MH_59)
    zeroed[4] = zeroed[5] = 0
    assert ipv6.checksum(PCOA, PAR, 135, zeroed, 0, 56) == 0x4A23


def test_checksum_matches_reference_for_many_lengths_and_offsets():
    data = _lcg_bytes(300, 7)
    for length in (0, 1, 2, 3, 7, 8, 55, 56, 57, 64, 255, 299):
        for off in (0, 1):
            if off + length > len(data):
                continue
            want = _ref_checksum(PCOA, PAR, 58, data[off : off + length])
            assert ipv6.checksum(PCOA, PAR, 58, data, off, length) == want


def test_zero_at_counts_the_field_as_zero_at_odd_and_even_positions():
    data = _lcg_bytes(41, 3)
    for z in (0, 1, 2, 5, 38, 39):
        copy = bytearray(data)
        copy[z] = copy[z + 1] = 0
        want = _ref_checksum(NCOA, PAR, 135, copy)
        assert ipv6.checksum(NCOA, PAR, 135, data, 0, 41, z) == want
    raises(DecodeError, ipv6.checksum, NCOA, PAR, 135, data, 0, 41, 40)
    raises(DecodeError, ipv6.checksum, NCOA, PAR, 135, data, 2, 10, 1)


def test_checksum_written_then_verified_both_sum_helpers_agree():
    for n in (1, 2, 17, 64, 1000):
        data = _lcg_bytes(n + 4, n)
        c = ipv6.checksum(PCOA, PAR, 58, data, 0, n + 4, 2)
        data[2] = c >> 8
        data[3] = c & 0xFF
        assert ipv6.checksum_ok(PCOA, PAR, 58, data, 0, n + 4)
        data[n + 3] ^= 0x01
        assert not ipv6.checksum_ok(PCOA, PAR, 58, data, 0, n + 4)
        for i in (0, 1):
            a = ipv6._sum_loop(data, i, n + 4)
            b = ipv6._sum_bigint(data, i, n + 4)
            assert a % 0xFFFF == b % 0xFFFF


def test_checksum_zero_forms():
    # Data whose sum is congruent to 0 gives checksum 0 (never 0xFFFF), and a stored 0xFFFF
    # is accepted as the other zero.
    data = bytearray(4)
    s = 0
    for w in range(0, 32, 2):
        s += (PCOA[w] << 8) + PCOA[w + 1] if w < 16 else (PAR[w - 16] << 8) + PAR[w - 15]
    s += 4 + 58
    k = (0xFFFF - s % 0xFFFF) % 0xFFFF
    data[0] = k >> 8
    data[1] = k & 0xFF
    assert ipv6.checksum(PCOA, PAR, 58, data, 0, 4, 2) == 0
    assert _ref_checksum(PCOA, PAR, 58, data) == 0
    data[2] = data[3] = 0xFF
    assert ipv6.checksum_ok(PCOA, PAR, 58, data, 0, 4)
    assert ipv6.checksum(bytes(16), bytes(16), 0, b"", 0, 0) == 0xFFFF
    assert not ipv6.checksum_ok(PCOA, PAR, 58, data, 0, 0)


def test_checksum_bounds():
    raises(DecodeError, ipv6.checksum, PCOA, PAR, 58, b"abc", 1, 3)
    raises(DecodeError, ipv6.checksum, PCOA, PAR, 58, b"abc", -1, 2)
    raises(DecodeError, ipv6.checksum, PCOA[:4], PAR, 58, b"abc", 0, 3)
    raises(DecodeError, ipv6.checksum_ok, PCOA, PAR, 58, b"abc", 0, 4)


def test_decode_fbu_packet():
    frame = _fbu_frame()
    pkt = ipv6.decode_packet(frame)
    assert bytes(pkt.src) == NCOA and bytes(pkt.dst) == PAR
    assert isinstance(pkt.src, memoryview)
    assert pkt.hop_limit == 64
    assert pkt.next_header == 135
    assert pkt.dest_opts_off == 40
    assert pkt.payload_off == 64 and pkt.payload_end == 120
    assert bytes(pkt.home_address) == PCOA and pkt.hao_off == 48
    assert bytes(pkt.pseudo_src()) == PCOA
    assert ipv6.verify_upper(frame, pkt)
    frame[100] ^= 0x80
    assert not ipv6.verify_upper(frame, pkt)


def test_decode_ignores_link_padding_and_honours_payload_length():
    frame = _fbu_frame() + b"\x00" * 6
    pkt = ipv6.decode_packet(frame)
    assert pkt.payload_end == 120
    assert ipv6.verify_upper(frame, pkt)
    pkt = ipv6.decode_packet(frame, 0, 121)
    assert pkt.payload_end == 120


def test_decode_truncated_at_every_length():
    frame = _fbu_frame()
    for n in range(len(frame)):
        raises(DecodeError, ipv6.decode_packet, frame, 0, n)
        raises(DecodeError, ipv6.decode_packet, bytes(frame[:n]))


def test_decode_at_offset():
    frame = bytearray(b"\xff" * 14) + _fbu_frame()
    pkt = ipv6.decode_packet(frame, 14)
    assert pkt.ip_off == 14 and pkt.payload_off == 78 and bytes(pkt.home_address) == PCOA
    raises(DecodeError, ipv6.decode_packet, frame, -1)
    raises(DecodeError, ipv6.decode_packet, frame, 14, len(frame) + 1)


def test_decode_rejects_other_versions():
    frame = _fbu_frame()
    frame[0] = 0x45
    raises(DecodeError, ipv6.decode_packet, frame)


def _with_dest_opts(opts, nh=58, upper=b"\x80\x00\x00\x00\x00\x00\x00\x00", first=ipv6.NH_DEST_OPTS):
    # Wrap option bytes (already a multiple of 8 minus 2) into a Destination Options header.
    hdr = bytes([nh, (len(opts) + 2) // 8 - 1]) + opts
    frame = bytearray(40) + hdr + upper
    ipv6.encode_header(frame, 0, len(hdr) + len(upper), first, 255, PCOA, PAR)
    return frame


def test_general_option_walk_finds_hao_anywhere():
    # HAO after four Pad1 instead of one PadN: the general walk, not the fast path.
    opts = b"\x00\x00\x00\x00" + b"\xc9\x10" + PCOA
    pkt = ipv6.decode_packet(_with_dest_opts(opts, nh=135))
    assert bytes(pkt.home_address) == PCOA and pkt.hao_off == 48
    assert pkt.payload_off == 64 and pkt.next_header == 135


def test_dest_opts_without_hao():
    pkt = ipv6.decode_packet(_with_dest_opts(b"\x01\x04\x00\x00\x00\x00"))
    assert pkt.home_address is None and pkt.hao_off == -1 and pkt.dest_opts_off == 40
    assert pkt.next_header == 58 and pkt.payload_off == 48


def test_unknown_skippable_option_is_skipped_and_discard_types_rejected():
    pkt = ipv6.decode_packet(_with_dest_opts(b"\x1e\x04\x00\x00\x00\x00"))
    assert pkt.next_header == 58
    for t in (0x5E, 0x9E, 0xDE):
        raises(DecodeError, ipv6.decode_packet, _with_dest_opts(bytes([t]) + b"\x04\x00\x00\x00\x00"))


def test_bad_home_address_options():
    bad_len = b"\x01\x02\x00\x00\xc9\x0f" + PCOA[:15] + b"\x00"
    raises(DecodeError, ipv6.decode_packet, _with_dest_opts(bad_len))
    two = b"\x01\x02\x00\x00\xc9\x10" + PCOA + b"\x01\x04\x00\x00\x00\x00\xc9\x10" + PCOA
    raises(DecodeError, ipv6.decode_packet, _with_dest_opts(two))


def test_option_overrunning_its_header():
    raises(DecodeError, ipv6.decode_packet, _with_dest_opts(b"\x01\x05\x00\x00\x00\x00"))
    raises(DecodeError, ipv6.decode_packet, _with_dest_opts(b"\x00\x00\x00\x00\x00\x01"))


def test_extension_header_overrunning_payload():
    frame = _with_dest_opts(b"\x01\x04\x00\x00\x00\x00", upper=b"")
    frame[41] = 1  # claims 16 octets, only 8 present
    raises(DecodeError, ipv6.decode_packet, frame)


def test_hop_by_hop_then_dest_opts():
    hbh = b"\x3c\x00\x05\x02\x00\x00\x01\x00"  # Router Alert (skippable), PadN
    rest = DOPT_59 + MH_59
    frame = bytearray(40) + hbh + rest
    ipv6.encode_header(frame, 0, len(hbh) + len(rest), ipv6.NH_HOP_BY_HOP, 64, NCOA, PAR)
    pkt = ipv6.decode_packet(frame)
    assert pkt.next_header == 135 and pkt.dest_opts_off == 48 and pkt.payload_off == 72
    assert bytes(pkt.home_address) == PCOA
    assert ipv6.verify_upper(frame, pkt)


def test_hao_in_hop_by_hop_is_rejected():
    frame = _with_dest_opts(b"\x01\x02\x00\x00\xc9\x10" + PCOA, first=ipv6.NH_HOP_BY_HOP)
    raises(DecodeError, ipv6.decode_packet, frame)


def test_misordered_and_repeated_headers():
    # Dest opts followed by another dest opts, and dest opts followed by hop-by-hop.
    for nxt in (ipv6.NH_DEST_OPTS, ipv6.NH_HOP_BY_HOP):
        raises(DecodeError, ipv6.decode_packet, _with_dest_opts(b"\x01\x04\x00\x00\x00\x00", nh=nxt))


def test_routing_and_fragment_rejected_other_next_headers_reported():
    for nh in (ipv6.NH_ROUTING, ipv6.NH_FRAGMENT):
        frame = bytearray(48)
        ipv6.encode_header(frame, 0, 8, nh, 255, PCOA, PAR)
        raises(DecodeError, ipv6.decode_packet, frame)
        raises(DecodeError, ipv6.decode_packet, _with_dest_opts(b"\x01\x04\x00\x00\x00\x00", nh=nh))
    for nh in (17, 59, 50):
        frame = bytearray(48)
        ipv6.encode_header(frame, 0, 8, nh, 255, PCOA, PAR)
        pkt = ipv6.decode_packet(frame)
        assert pkt.next_header == nh and pkt.payload_off == 40 and pkt.payload_end == 48
        assert pkt.home_address is None and pkt.dest_opts_off == -1
        assert not ipv6.verify_upper(frame, pkt)


def test_finish_icmpv6():
    frame = bytearray(60)
    ipv6.encode_header(frame, 0, 0, 58, 255, PCOA, PAR)
    frame[40:48] = bytes.fromhex("9a00ffff02001234")  # RtSolPr with a dirty checksum field
    frame[48:56] = bytes.fromhex("0e01a1a2a3a4a5a6")
    c = ipv6.finish(frame, 0, 56)
    assert frame[4] == 0 and frame[5] == 16
    assert (frame[42] << 8) | frame[43] == c
    zeroed = bytearray(frame[40:56])
    zeroed[2] = zeroed[3] = 0
    assert c == _ref_checksum(PCOA, PAR, 58, zeroed)
    assert ipv6.verify_upper(frame, ipv6.decode_packet(frame, 0, 56))


def test_finish_mh_uses_home_address_and_without_hao_the_source():
    frame = bytearray(40) + DOPT_59 + MH_59
    frame[68] = frame[69] = 0xAA  # dirty checksum
    ipv6.encode_header(frame, 0, 0, ipv6.NH_DEST_OPTS, 64, NCOA, PAR)
    assert ipv6.finish(frame, 0, len(frame)) == 0x4A23
    assert bytes(frame[64:]) == MH_59
    # From the NAR's link there is no HAO: the IPv6 source is the pseudo-source.
    frame = bytearray(40) + MH_59
    ipv6.encode_header(frame, 0, 0, 135, 64, NCOA, PAR)
    c = ipv6.finish(frame, 0, len(frame))
    zeroed = bytearray(MH_59)
    zeroed[4] = zeroed[5] = 0
    assert c == _ref_checksum(NCOA, PAR, 135, zeroed)


def test_finish_errors():
    frame = bytearray(48)
    ipv6.encode_header(frame, 0, 0, 17, 64, NCOA, PAR)
    raises(EncodeError, ipv6.finish, frame, 0, 48)  # no ICMPv6 / MH
    ipv6.encode_header(frame, 0, 0, 58, 64, NCOA, PAR)
    raises(EncodeError, ipv6.finish, frame, 0, 41)  # no room for the checksum
    raises(EncodeError, ipv6.finish, frame, 0, 39)
    raises(EncodeError, ipv6.finish, frame, 0, 49)
    raises(EncodeError, ipv6.finish, bytearray(40 + 0x10000), 0, 40 + 0x10000)


def test_checksum_allocates_nothing_on_micropython():
    # On MicroPython the index-arithmetic path runs under heap_lock (no allocation), so it can
    # be used from an interrupt-safe or fragmentation-sensitive path. CPython checks the value.
    try:
        import micropython

        lock, unlock = micropython.heap_lock, micropython.heap_unlock
    except (ImportError, AttributeError):
        lock = unlock = None
    out = [0, False]

    def run():
        out[0] = ipv6.checksum(PCOA, PAR, 135, MH_59, 0, 56, 4)
        out[1] = ipv6.checksum_ok(PCOA, PAR, 135, MH_59, 0, 56)

    run()
    if lock is not None:
        lock()
        try:
            run()
        finally:
            unlock()
    assert out[0] == 0x4A23 and out[1]


def test_multicast_constants_and_solicited_node():
    """RFC 4291 §2.7.1: ff02::1, ff02::2 and the solicited-node address ff02::1:ffXX:XXXX."""
    assert ipv6.ALL_NODES == bytes.fromhex("ff020000000000000000000000000001")
    assert ipv6.ALL_ROUTERS == bytes.fromhex("ff020000000000000000000000000002")
    assert ipv6.UNSPECIFIED == bytes(16)
    a = bytes.fromhex("20010db8000000000000000000abcdef")
    s = ipv6.solicited_node(a)
    assert s == bytes.fromhex("ff0200000000000000000001ffabcdef")
    assert ipv6.is_solicited_for(s, a)
    assert not ipv6.is_solicited_for(s, bytes.fromhex("20010db8000000000000000000abcdee"))
    assert not ipv6.is_solicited_for(ipv6.ALL_NODES, a)


def test_unicast_routable_addresses():
    """RFC 6275 §9.3.1 takes only a unicast routable home address: not ::/8 (unspecified,
    loopback), link-local fe80::/10 or multicast; global and unique-local ones are."""
    for a in ("20010db8000100000000000000001234", "fd000000000000000000000000000001", "fec00000000000000000000000000001"):
        assert ipv6.is_unicast_routable(bytes.fromhex(a)), a
    for a in ("00000000000000000000000000000000", "00000000000000000000000000000001",
              "fe800000000000000000000000000001", "febf0000000000000000000000000001",
              "ff020000000000000000000000000001"):
        assert not ipv6.is_unicast_routable(bytes.fromhex(a)), a


def _for_par(dst):
    return dst == PAR


def test_receive_takes_a_home_address_only_before_a_mobility_header():
    """RFC 6275 §9.3.1: with no Binding Cache, a packet with a Home Address option MUST be
    dropped unless the upper layer is a Mobility Header, and when the home address is not
    unicast routable. receive() reports "hao"; the same MH with a routable one is taken."""
    frame = _fbu_frame()
    ipv6.finish(frame, 0, len(frame))
    pkt, why = ipv6.receive(bytes(frame), _for_par)
    assert why is None and bytes(pkt.home_address) == PCOA
    # The Home Address set to link-local, then to a multicast address (checksum repaired).
    for home in ("fe800000000000000000000000001234", "ff020000000000000000000000000001"):
        f = bytearray(frame)
        f[48:64] = bytes.fromhex(home)
        ipv6.finish(f, 0, len(f))
        assert ipv6.receive(bytes(f), _for_par) == (None, "hao"), home
    # The same Destination Options header in front of an ICMPv6 message.
    icmp = b"\x80\x00\x00\x00\x00\x01\x00\x01"
    f = bytearray(40) + bytearray(DOPT_59) + icmp
    f[40] = ipv6.NH_ICMPV6
    ipv6.encode_header(f, 0, 24 + len(icmp), ipv6.NH_DEST_OPTS, 64, NCOA, PAR)
    ipv6.finish(f, 0, len(f))
    assert ipv6.decode_packet(f).next_header == ipv6.NH_ICMPV6
    assert ipv6.receive(bytes(f), _for_par) == (None, "hao")
    # Not addressed here: not looked at.
    assert ipv6.receive(bytes(f), lambda dst: False) == (None, None)
