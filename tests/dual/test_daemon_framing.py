"""The daemon's link-layer helpers: Ethernet framing, MAC choice, socket address layouts, small state."""

import os
import socket
import sys

from dualtest import raises
from handoverkey import daemon
from handoverkey.daemon import UsageError
from handoverkey.errors import EncodeError
from handoverkey.wire import icmp, ipv6, ndopt

MN_MAC = bytes.fromhex("020000000c01")
PAR_MAC = bytes.fromhex("02000000a001")
NAR_MAC = bytes.fromhex("02000000b001")
PCOA = bytes.fromhex("20010db8000100000000000000001234")
PAR_LL = bytes.fromhex("fe800000000000000000000000000001")
ALL_ROUTERS = bytes.fromhex("ff020000000000000000000000000002")
SOLICITED = bytes.fromhex("ff0200000000000000000001ff001234")


def _packet(src=PCOA, dst=PAR_LL, payload=b"\x80\x00\x00\x00\x00\x00\x00\x00"):
    buf = bytearray(40 + len(payload))
    ipv6.encode_header(buf, 0, len(payload), 58, 255, src, dst)
    buf[40:] = payload
    return bytes(buf)


def test_multicast_mac_is_33_33_and_the_low_32_bits():
    assert daemon.multicast_mac(ALL_ROUTERS) == bytes.fromhex("333300000002")
    assert daemon.multicast_mac(SOLICITED) == bytes.fromhex("3333ff001234")


def test_eth_frame_layout_and_round_trip():
    pkt = _packet()
    f = daemon.eth_frame(PAR_MAC, MN_MAC, pkt)
    assert len(f) == 14 + len(pkt)
    assert f[0:6] == PAR_MAC and f[6:12] == MN_MAC
    assert f[12] == 0x86 and f[13] == 0xDD
    assert f[14:] == pkt
    dst, src, back = daemon.eth_parse(f)
    assert dst == PAR_MAC and src == MN_MAC and back == pkt


def test_eth_frame_keeps_hop_limit_and_extension_headers_untouched():
    buf = bytearray(200)
    off = ipv6.encode_header(buf, 0, 0, 60, 255, PCOA, PAR_LL)
    off = ipv6.encode_dest_opts_hao(buf, off, 135, PCOA)
    f = daemon.eth_frame(PAR_MAC, MN_MAC, bytes(buf[:off]))
    assert f[14 + 7] == 255 and f[14 + 6] == 60
    assert f[14:] == bytes(buf[:off])


def test_eth_frame_rejects_bad_macs():
    raises(EncodeError, daemon.eth_frame, b"\x01\x02", MN_MAC, _packet())
    raises(EncodeError, daemon.eth_frame, PAR_MAC, bytes(7), _packet())


def test_eth_parse_ignores_other_ethertypes_and_short_or_non_ipv6_frames():
    pkt = _packet()
    f = bytearray(daemon.eth_frame(PAR_MAC, MN_MAC, pkt))
    f[12] = 0x08
    f[13] = 0x00
    assert daemon.eth_parse(bytes(f)) is None
    assert daemon.eth_parse(daemon.eth_frame(PAR_MAC, MN_MAC, pkt)[:50]) is None
    v4ish = bytearray(daemon.eth_frame(PAR_MAC, MN_MAC, pkt))
    v4ish[14] = 0x45
    assert daemon.eth_parse(bytes(v4ish)) is None
    assert daemon.eth_parse(b"") is None


def test_eth_parse_keeps_link_padding_for_the_engine_to_ignore():
    pkt = _packet()
    f = daemon.eth_frame(PAR_MAC, MN_MAC, pkt) + bytes(10)
    _, _, back = daemon.eth_parse(f)
    assert back[: len(pkt)] == pkt
    assert ipv6.decode_packet(back).payload_end == len(pkt)


def test_accept_frame_takes_own_unicast_and_groups_never_own_frames():
    assert daemon.accept_frame(MN_MAC, PAR_MAC, MN_MAC)
    assert daemon.accept_frame(bytes.fromhex("333300000001"), PAR_MAC, MN_MAC)
    assert not daemon.accept_frame(NAR_MAC, PAR_MAC, MN_MAC)  # another host's unicast
    assert not daemon.accept_frame(bytes.fromhex("333300000016"), MN_MAC, MN_MAC)  # our kernel's own MLD


def test_htons_and_sockaddr_ll_layout():
    little = sys.byteorder == "little"
    assert daemon.htons(0x86DD) == (0xDD86 if little else 0x86DD)
    sa = daemon.sockaddr_ll(7)
    assert len(sa) == 20
    assert sa[0:2] == (17).to_bytes(2, sys.byteorder)
    assert sa[2:4] == b"\x86\xdd"  # protocol in network order
    assert sa[4:8] == (7).to_bytes(4, sys.byteorder)
    assert sa[8:10] == (1).to_bytes(2, sys.byteorder)  # ARPHRD_ETHER
    assert sa[10:] == bytes(10)


def test_packet_mreq_and_sockaddr_un_layout():
    m = daemon.packet_mreq(3, daemon.PACKET_MR_ALLMULTI)
    assert len(m) == 16
    assert m[0:4] == (3).to_bytes(4, sys.byteorder)
    assert m[4:6] == (2).to_bytes(2, sys.byteorder)
    assert m[6:] == bytes(10)
    un = daemon.sockaddr_un("/run/hk.ctl")
    assert un[2:] == b"/run/hk.ctl\x00"


def test_parse_mac_forms_and_errors():
    assert daemon.parse_mac("02:00:00:00:a0:01") == PAR_MAC
    assert daemon.parse_mac("02-00-00-00-a0-01") == PAR_MAC
    assert daemon.parse_mac("02000000a001") == PAR_MAC
    assert daemon.mac_text(PAR_MAC) == "02:00:00:00:a0:01"
    raises(UsageError, daemon.parse_mac, "02:00:00")
    raises(UsageError, daemon.parse_mac, "zz:00:00:00:00:00")
    raises(UsageError, daemon.parse_mac, 5)


def test_parse_address_text_or_hex():
    assert daemon.parse_address("2001:db8:1::1234") == PCOA
    assert daemon.parse_address(PCOA.hex()) == PCOA
    assert daemon.address_text(PCOA) == "2001:db8:1::1234"
    raises(UsageError, daemon.parse_address, "2001:db8::zz")
    raises(UsageError, daemon.parse_address, "20010db8")
    raises(UsageError, daemon.parse_address, None)


def test_prefix_match_whole_and_partial_octets():
    p = daemon.parse_address("2001:db8:2::")
    assert daemon.prefix_match(daemon.parse_address("2001:db8:2::99"), p, 64)
    assert not daemon.prefix_match(PCOA, p, 64)
    assert daemon.prefix_match(PCOA, p, 0)
    assert daemon.prefix_match(daemon.parse_address("2001:db8:3::"), p, 46)  # ...02 vs ...03 differ in bit 48
    assert not daemon.prefix_match(daemon.parse_address("2001:db8:3::"), p, 48)


def _prrtadv(nar=NAR_MAC, code=ndopt.LLA_NAR):
    buf = bytearray(300)
    off = ipv6.encode_header(buf, 0, 0, 58, 255, PAR_LL, PCOA)
    off = icmp.encode_prrtadv(buf, off, icmp.PRRTADV_TUPLE, 7)
    off = ndopt.put_lla(buf, off, ndopt.LLA_NEW_AP, bytes.fromhex("02000000b0ff"))
    off = ndopt.put_lla(buf, off, code, nar)
    ipv6.finish(buf, 0, off)
    return bytes(buf[:off])


def test_nar_lla_from_a_prrtadv():
    assert daemon.nar_lla(_prrtadv()) == NAR_MAC
    assert daemon.nar_lla(_prrtadv(code=ndopt.LLA_SOURCE)) is None
    assert daemon.nar_lla(_packet()) is None
    assert daemon.nar_lla(b"\x60" + bytes(20)) is None


def test_format_event_sorts_names_writes_addresses_and_hides_secrets():
    line = daemon.format_event("key-stored", {"router": PAR_LL, "pcoa": PCOA, "at": 1, "reused": False,
                                              "key": b"\x11" * 20, "key_hash": b"\xab" * 16})
    assert line == "key-stored at=1 key_hash=%s pcoa=2001:db8:1::1234 reused=no router=fe80::1" % ("ab" * 16)
    assert "11111111" not in daemon.format_event("keylog", {"line": "HANDOVER_KEY " + "11" * 20})


def test_neighbor_cache_learns_and_evicts_the_oldest():
    c = daemon.NeighborCache(capacity=2)
    a, b, d = PCOA, PAR_LL, ALL_ROUTERS
    c.learn(a, 0, MN_MAC)
    c.learn(b, 1, PAR_MAC)
    c.learn(a, 0, NAR_MAC)  # refresh: a becomes the newest
    c.learn(d, 0, PAR_MAC)  # evicts b
    assert c.get(b) is None
    assert c.get(a) == (0, NAR_MAC)
    assert len(c) == 2
    c.clear()
    assert c.get(a) is None and len(c) == 0


def test_token_bucket_burst_then_rate():
    t = daemon.TokenBucket(2, 3, 0)
    assert [t.take(0) for _ in range(4)] == [True, True, True, False]
    assert not t.take(400)  # 0.8 tokens
    assert t.take(500)
    assert daemon.TokenBucket(0, 1, 0).take(0)  # rate 0: no limit


def test_clock_is_monotonic_from_zero():
    c = daemon.Clock()
    a = c.ms()
    b = c.ms()
    assert 0 <= a <= b


def test_parse_args_forms():
    o = daemon.parse_args(["--role", "router", "--interface", "par-link,bb0", "--config=c.json", "-v"])
    assert o["role"] == "router" and o["interfaces"] == ["par-link", "bb0"] and o["config"] == "c.json"
    assert o["verbose"]
    o = daemon.parse_args(["--role", "mobile", "--interface", "a", "--interface", "b", "--config", "c",
                           "--handover", "reactive", "--control", "/run/x"])
    assert o["interfaces"] == ["a", "b"] and o["handover"] == "reactive" and o["control"] == "/run/x"
    assert daemon.parse_args(["--control", "/run/x", "--send", "status"])["send"] == "status"
    raises(UsageError, daemon.parse_args, ["--role", "switch", "--config", "c"])
    raises(UsageError, daemon.parse_args, ["--role", "router"])
    raises(UsageError, daemon.parse_args, ["--role", "router", "--config"])
    raises(UsageError, daemon.parse_args, ["--frobnicate"])
    raises(UsageError, daemon.parse_args, ["--role", "mobile", "--config", "c", "--handover", "sideways"])
    raises(UsageError, daemon.parse_args, ["--send", "status"])


def test_upper_layer_walks_hop_by_hop_and_destination_options():
    assert daemon.upper_layer(_packet()) == (58, 40)
    buf = bytearray(200)
    off = ipv6.encode_header(buf, 0, 0, 60, 64, PCOA, PAR_LL)
    off = ipv6.encode_dest_opts_hao(buf, off, 135, PCOA)
    fbu = bytes(buf[:off]) + bytes(12)
    assert daemon.upper_layer(fbu) == (135, 64)
    mld = bytearray(_packet(dst=bytes.fromhex("ff020000000000000000000000000016"), payload=bytes(8) + bytes(8)))
    mld[6] = 0  # Hop-by-Hop (router alert) then ICMPv6 143
    mld[40] = 58
    mld[41] = 0
    mld[48] = 143
    assert daemon.upper_layer(bytes(mld)) == (58, 48)
    overrun = bytearray(_packet())
    overrun[6] = 60
    overrun[41] = 200  # claims 1608 octets
    assert daemon.upper_layer(bytes(overrun)) == (-1, 0)


def test_only_solicitations_and_mobility_headers_are_expensive():
    assert daemon.expensive(_packet(payload=bytes([154, 0, 0, 0, 2, 0, 0, 0])))  # RtSolPr
    assert daemon.expensive(_packet(payload=bytes([148, 0, 0, 0, 0, 0, 0, 0])))  # CPS
    assert not daemon.expensive(_packet(payload=bytes([135, 0, 0, 0, 0, 0, 0, 0])))  # NS
    mld = bytearray(_packet(payload=bytes(16)))
    mld[6] = 0
    mld[40] = 58
    mld[48] = 143
    assert not daemon.expensive(bytes(mld))
    buf = bytearray(200)
    off = ipv6.encode_header(buf, 0, 0, 60, 64, PCOA, PAR_LL)
    off = ipv6.encode_dest_opts_hao(buf, off, 135, PCOA)
    assert daemon.expensive(bytes(buf[:off]) + bytes(12))


def _ctl_path():
    return "/tmp/hk-ctl-test-%s" % os.urandom(4).hex()


def _dgram(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(daemon.sockaddr_un(path) if sys.implementation.name == "micropython" else path)
    return s


def test_a_control_socket_path_is_taken_only_from_a_dead_daemon():
    """A socket left by a killed daemon is replaced; a file, or a socket a live daemon still
    listens on, is refused (UsageError) and left as it was."""
    path = _ctl_path()
    try:
        daemon._clear_stale_socket(path)  # nothing there: nothing to do
        with open(path, "w") as f:
            f.write("not a socket")
        raises(UsageError, daemon._clear_stale_socket, path)
        with open(path) as f:
            assert f.read() == "not a socket"
        os.remove(path)
        live = _dgram(path)
        raises(UsageError, daemon._clear_stale_socket, path)
        os.stat(path)  # still there
        live.close()  # now stale: bound by nobody
        daemon._clear_stale_socket(path)
        raises(OSError, os.stat, path)
    finally:
        try:
            os.remove(path)
        except OSError:
            pass


def test_control_client_times_out_on_a_daemon_that_reads_nothing():
    """send_command's timeout covers a daemon whose queue is full (it used to block in sendto)
    as well as one that never replies."""
    path = _ctl_path()
    deaf = _dgram(path)
    try:
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sender.setblocking(False)
        full = False
        for _ in range(1000):  # fill the queue (max_dgram_qlen, 10 by default on Linux)
            try:
                sender.sendto(b"status", daemon.sockaddr_un(path) if sys.implementation.name == "micropython" else path)
            except OSError:
                full = True
                break
        sender.close()
        assert full
        status, text = daemon.send_command(path, "status", timeout_ms=200)
        assert status == daemon.EXIT_FAILURE and "not taking commands" in text
    finally:
        deaf.close()
        os.remove(path)
